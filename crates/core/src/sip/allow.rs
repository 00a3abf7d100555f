//! Who may send requests: a list of address blocks (CIDR), checked against the source address
//! of each message. No I/O.
//!
//! An entry is `ADDR/LEN` (`192.0.2.0/24`, `2001:db8::/32`) or a bare address, which is a
//! single host (`/32` for IPv4, `/128` for IPv6). An IPv4-mapped IPv6 source
//! (`::ffff:192.0.2.7`, what a dual-stack socket reports for an IPv4 peer) is compared as the
//! IPv4 address it carries, and an IPv4-mapped entry (`::ffff:192.0.2.0/120`) as the IPv4 block
//! it describes, so either spelling matches either kind of socket.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// What an allowlist entry looks like, for messages.
const EXPECTED: &str =
    "expected an address or ADDR/LEN, e.g. 192.0.2.0/24, 2001:db8::/32 or 10.1.2.3";

/// Why an address and prefix length are not a block ([`Cidr::new`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The prefix is longer than the address.
    #[error("prefix length {prefix} is longer than {max}")]
    PrefixTooLong {
        /// The prefix length given.
        prefix: u8,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set after the prefix.
    #[error("{addr}/{prefix} has host bits set after the prefix: write {network}/{network_prefix} for the block, or {addr} alone for the one address")]
    HostBits {
        /// The address given.
        addr: IpAddr,
        /// The prefix length given.
        prefix: u8,
        /// The block's network address.
        network: IpAddr,
        /// The block's prefix length (IPv4-mapped blocks are written as IPv4).
        network_prefix: u8,
    },
}

/// Why an allowlist entry does not parse (`"ADDR/LEN".parse::<Cidr>()`). Each message starts
/// with the entry, escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrParseError {
    /// The address part is not an IP address.
    #[error("\"{0}\": not an IP address; {EXPECTED}")]
    NotAnAddress(String),
    /// The prefix length is not a number.
    #[error("\"{0}\": the prefix length must be a number; {EXPECTED}")]
    PrefixNotANumber(String),
    /// The prefix length is out of range.
    #[error("\"{0}\": the prefix length must be from 0 to 32 (IPv4) or 128 (IPv6)")]
    PrefixRange(String),
    /// The address and prefix are no block.
    #[error("\"{entry}\": {error}")]
    Block {
        /// The entry, escaped.
        entry: String,
        /// Why.
        error: CidrError,
    },
}

/// Most entries an [`Allowlist`] holds; each message is compared with every entry.
pub const MAX_ALLOW_ENTRIES: usize = 256;

/// An address block: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block of `addr` with `prefix` leading bits. Fails when the prefix is longer than
    /// the address (32 for IPv4, 128 for IPv6) or when `addr` has bits set after the prefix
    /// (`192.0.2.1/24` is more likely a typing error than a wish to allow 256 addresses).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix, max });
        }
        let cidr = Cidr { addr, prefix }.canonical();
        if cidr.network() != cidr.addr {
            return Err(CidrError::HostBits {
                addr,
                prefix,
                network: cidr.network(),
                network_prefix: cidr.prefix,
            });
        }
        Ok(cidr)
    }

    /// One address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }.canonical()
    }

    /// The first address of the block.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address is compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(ip) & mask == u32::from(net) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(ip) & mask == u128::from(net) & mask
            }
            _ => false,
        }
    }

    /// An IPv4-mapped IPv6 block that lies within `::ffff:0:0/96` becomes the IPv4 block.
    fn canonical(self) -> Cidr {
        match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }

    /// The address with every bit after the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let shown = crate::escape::excerpt(text.as_bytes());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrParseError::NotAnAddress(shown.clone()))?;
        match prefix {
            None => Ok(Cidr::host(addr)),
            Some(p) => {
                // Digits only: `u8::from_str` would accept a leading `+`.
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrParseError::PrefixNotANumber(shown));
                }
                let prefix: u8 = p
                    .parse()
                    .map_err(|_| CidrParseError::PrefixRange(shown.clone()))?;
                Cidr::new(addr, prefix).map_err(|error| CidrParseError::Block {
                    entry: shown,
                    error,
                })
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The sources allowed to send requests. Empty (the default) allows every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Cidr>,
}

impl Allowlist {
    /// A list of the given blocks (duplicates are kept; order does not matter).
    pub fn new(entries: impl IntoIterator<Item = Cidr>) -> Allowlist {
        Allowlist {
            entries: entries.into_iter().collect(),
        }
    }

    /// True when no entry is configured: every source is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured blocks.
    pub fn entries(&self) -> &[Cidr] {
        &self.entries
    }

    /// Whether a message from `ip` may be acted upon.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.entries.is_empty() || self.entries.iter().any(|c| c.contains(ip))
    }
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("any source");
        }
        for (i, c) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Single hosts as bare addresses, as they are usually written.
            match (c.addr, c.prefix) {
                (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128) => write!(f, "{}", c.addr)?,
                _ => write!(f, "{c}")?,
            }
        }
        Ok(())
    }
}

/// What is done with a request from a source outside the [`Allowlist`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusedAction {
    /// Answer `403 Forbidden` (the default): the sender learns it is not allowed.
    #[default]
    Answer,
    /// Send nothing: the sender cannot tell a refusal from a lost packet.
    Drop,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ipv4_blocks_and_hosts() {
        let net = cidr("192.0.2.0/24");
        assert!(net.contains(ip("192.0.2.0")));
        assert!(net.contains(ip("192.0.2.255")));
        assert!(!net.contains(ip("192.0.3.0")));
        assert!(!net.contains(ip("192.0.1.255")));
        let host = cidr("10.1.2.3");
        assert_eq!(host.prefix(), 32);
        assert!(host.contains(ip("10.1.2.3")));
        assert!(!host.contains(ip("10.1.2.4")));
        let all = cidr("0.0.0.0/0");
        assert!(all.contains(ip("203.0.113.9")));
        assert!(
            !all.contains(ip("2001:db8::1")),
            "an IPv4 block never holds IPv6"
        );
        let odd = cidr("172.16.0.0/12");
        assert!(odd.contains(ip("172.31.255.255")));
        assert!(!odd.contains(ip("172.32.0.0")));
        assert!(cidr("198.51.100.6/31").contains(ip("198.51.100.7")));
    }

    #[test]
    fn ipv6_blocks_and_hosts() {
        let net = cidr("2001:db8::/32");
        assert!(net.contains(ip("2001:db8::1")));
        assert!(net.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!net.contains(ip("2001:db9::")));
        assert!(!net.contains(ip("192.0.2.1")));
        let host = cidr("::1");
        assert_eq!(host.prefix(), 128);
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
        assert!(cidr("::/0").contains(ip("fe80::1")));
        assert!(cidr("2001:db8:0:1::/65").contains(ip("2001:db8:0:1:7fff::1")));
        assert!(!cidr("2001:db8:0:1::/65").contains(ip("2001:db8:0:1:8000::1")));
    }

    #[test]
    fn ipv4_mapped_sources_and_entries() {
        // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
        assert!(cidr("192.0.2.0/24").contains(ip("::ffff:192.0.2.77")));
        assert!(cidr("10.1.2.3").contains(ip("::ffff:10.1.2.3")));
        assert!(!cidr("10.1.2.3").contains(ip("::ffff:10.1.2.4")));
        // A mapped entry is the IPv4 block it names.
        let mapped = cidr("::ffff:192.0.2.0/120");
        assert_eq!(mapped, cidr("192.0.2.0/24"));
        assert!(mapped.contains(ip("192.0.2.9")));
        assert_eq!(cidr("::ffff:10.1.2.3"), cidr("10.1.2.3"));
        // Mapped sources are IPv4: the IPv6 blocks do not hold them.
        assert!(!cidr("2001:db8::/32").contains(ip("::ffff:192.0.2.1")));
    }

    #[test]
    fn rejected_entries_say_why() {
        for (text, needle) in [
            ("192.0.2.0/33", "longer than 32"),
            ("2001:db8::/129", "longer than 128"),
            ("192.0.2.1/24", "host bits"),
            ("2001:db8::1/32", "host bits"),
            ("192.0.2.0/", "must be a number"),
            ("192.0.2.0/+8", "must be a number"),
            ("192.0.2.0/024x", "must be a number"),
            ("192.0.2.0/999", "from 0 to 32"),
            ("pbx.example.com", "not an IP address"),
            ("192.0.2.0/24/8", "must be a number"),
            ("", "not an IP address"),
            ("[::1]", "not an IP address"),
        ] {
            let e = text.parse::<Cidr>().unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let e = "192.0.2.1/24".parse::<Cidr>().unwrap_err().to_string();
        assert!(e.contains("write 192.0.2.0/24 for the block"), "{e}");
        assert_eq!(cidr(" 192.0.2.0/24 ").to_string(), "192.0.2.0/24");
    }

    #[test]
    fn empty_list_allows_everyone_otherwise_any_entry_decides() {
        let open = Allowlist::default();
        assert!(open.is_empty());
        assert!(open.permits(ip("203.0.113.1")));
        assert_eq!(open.to_string(), "any source");
        let list = Allowlist::new(
            ["192.0.2.0/24", "2001:db8::/32", "10.1.2.3"]
                .iter()
                .map(|s| cidr(s)),
        );
        assert!(list.permits(ip("192.0.2.200")));
        assert!(list.permits(ip("2001:db8:1::5")));
        assert!(list.permits(ip("10.1.2.3")));
        assert!(list.permits(ip("::ffff:10.1.2.3")));
        assert!(!list.permits(ip("10.1.2.4")));
        assert!(!list.permits(ip("127.0.0.1")));
        assert!(!list.permits(ip("::1")));
        assert_eq!(list.to_string(), "192.0.2.0/24, 2001:db8::/32, 10.1.2.3");
    }
}

//! A minimal SIP client for sending one out-of-dialog NOTIFY (the `notify` command).
//!
//! Sans-IO like the rest: [`NotifyClient`] builds the request and judges received bytes; the
//! caller owns the socket and the clock. Over UDP the request is retransmitted per RFC 3261
//! §17.1.2.2 Timer E (T1 = 500 ms doubling up to T2 = 4 s) until a final response arrives or
//! Timer F (64·T1 = 32 s) fires.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Duration;

use crate::resync::Transport;
use crate::sip::headers::{self, Name};
use crate::sip::Limits;

/// RFC 3261 T1.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2.
pub const T2: Duration = Duration::from_secs(4);

/// Why a NOTIFY cannot be built: the target is not a SIP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Not `sip:` or `sips:`, or it holds white space or control characters.
    #[error("\"{0}\" is not a SIP URI (sip:user@host[:port])")]
    Scheme(String),
    /// The URI does not parse: the URI and the reason.
    #[error("\"{uri}\" is not a SIP URI: {reason}")]
    Syntax {
        /// The URI given.
        uri: String,
        /// What the parser said.
        reason: String,
    },
}

/// The final outcome of a NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalResponse {
    /// Status code.
    pub code: u16,
    /// The status line, e.g. `SIP/2.0 200 OK`.
    pub status_line: String,
}

/// One NOTIFY transaction.
#[derive(Debug, Clone)]
pub struct NotifyClient {
    request: Vec<u8>,
    call_id: String,
    branch: String,
}

fn random_token(state: &RandomState, salt: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:016x}", state.hash_one((nanos, std::process::id(), salt)))
}

/// `uri` in `rsip`'s model. `rsip` 0.4 reads no IPv6 reference (`[2001:db8::1]`) and would
/// write an IPv6 address without its brackets, so such a host is modelled as a domain that
/// holds the bracketed reference, which it writes as given.
fn model_uri(uri: &str) -> Result<rsip::Uri, UriError> {
    let bad = |e: &dyn std::fmt::Display| UriError::Syntax {
        uri: uri.to_owned(),
        reason: e.to_string(),
    };
    let Some(open) = uri.find('[') else {
        return rsip::Uri::try_from(uri).map_err(|e| bad(&e));
    };
    let close = uri[open..]
        .find(']')
        .map(|c| open + c)
        .ok_or_else(|| bad(&"unclosed IPv6 reference"))?;
    let v6: std::net::Ipv6Addr = uri[open + 1..close].parse().map_err(|e| bad(&e))?;
    let placeholder = format!("{}ipv6.invalid{}", &uri[..open], &uri[close + 1..]);
    let mut model = rsip::Uri::try_from(placeholder.as_str()).map_err(|e| bad(&e))?;
    model.host_with_port.host = rsip::Host::Domain(format!("[{v6}]").into());
    Ok(model)
}

impl NotifyClient {
    /// Builds a NOTIFY with `Event: {event}` from `local` for `to_uri`. Fails when `to_uri`
    /// is not a SIP URI.
    ///
    /// The request is modelled with `rsip` (a typed Request-URI, Via, CSeq, From and To) and
    /// serialised from that model: the bytes sent are what `rsip` wrote.
    pub fn new(
        transport: Transport,
        local: SocketAddr,
        event: &str,
        to_uri: &str,
    ) -> Result<NotifyClient, UriError> {
        use rsip::headers::{self as h, UntypedHeader as _};
        use rsip::param::{OtherParam, Param};
        let scheme_ok = ["sip:", "sips:"].iter().any(|p| {
            to_uri.len() > p.len()
                && to_uri.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        });
        if !scheme_ok || to_uri.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(UriError::Scheme(to_uri.to_owned()));
        }
        let uri = model_uri(to_uri)?;
        let state = RandomState::new();
        let branch = format!("z9hG4bK{}", random_token(&state, 1));
        let call_id = random_token(&state, 2);
        let tag = &random_token(&state, 3)[..10];
        let local_host = match local {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let local_uri = model_uri(&format!("sip:sip-resync@{local_host}"))?;
        let sent_by = rsip::Uri {
            host_with_port: local_uri.host_with_port.clone(),
            ..Default::default()
        };
        let via = h::typed::Via {
            version: rsip::Version::V2,
            transport: match transport {
                Transport::Udp => rsip::Transport::Udp,
                Transport::Tcp => rsip::Transport::Tcp,
                Transport::Tls => rsip::Transport::Tls,
                Transport::Ws => rsip::Transport::Ws,
                Transport::Wss => rsip::Transport::Wss,
            },
            uri: sent_by,
            params: vec![
                Param::Branch(rsip::param::Branch::new(&branch)),
                Param::Other(OtherParam::new("rport"), None),
            ],
        };
        let from = h::typed::From {
            display_name: None,
            uri: local_uri,
            params: vec![Param::Tag(rsip::param::Tag::new(tag))],
        };
        let to = h::typed::To {
            display_name: None,
            uri: uri.clone(),
            params: vec![],
        };
        let mut headers = rsip::Headers::default();
        headers.push(rsip::Header::Via(via.into()));
        headers.push(rsip::Header::MaxForwards(h::MaxForwards::new("70")));
        headers.push(rsip::Header::From(from.into()));
        headers.push(rsip::Header::To(to.into()));
        headers.push(rsip::Header::CallId(h::CallId::new(&call_id)));
        headers.push(rsip::Header::CSeq(
            h::typed::CSeq {
                seq: 1,
                method: rsip::Method::Notify,
            }
            .into(),
        ));
        headers.push(rsip::Header::Event(h::Event::new(event)));
        headers.push(rsip::Header::SubscriptionState(h::SubscriptionState::new(
            "terminated",
        )));
        headers.push(rsip::Header::UserAgent(h::UserAgent::new(format!(
            "sip-resync/{}",
            env!("CARGO_PKG_VERSION")
        ))));
        headers.push(rsip::Header::ContentLength(h::ContentLength::new("0")));
        let request = rsip::Request {
            method: rsip::Method::Notify,
            uri,
            version: rsip::Version::V2,
            headers,
            body: vec![],
        };
        Ok(NotifyClient {
            request: request.to_string().into_bytes(),
            call_id,
            branch,
        })
    }

    /// The request bytes (sent again unchanged for each retransmission).
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The interval before retransmission number `n` (0-based) over UDP: T1, 2·T1, … capped
    /// at T2. After a provisional response the interval is T2 (RFC 3261 §17.1.2.2).
    pub fn retransmit_interval(n: u32, provisional_seen: bool) -> Duration {
        if provisional_seen {
            return T2;
        }
        T1.saturating_mul(1u32 << n.min(4)).min(T2)
    }

    /// Judges received bytes: `Some(Ok(final))` for a final response to this request,
    /// `Some(Err(code))` for a provisional one, `None` for anything else (ignored).
    pub fn on_response(&self, bytes: &[u8]) -> Option<Result<FinalResponse, u16>> {
        let limits = Limits::default();
        let head_end = crate::sip::message::split_head(bytes).map_or(bytes.len(), |(h, _)| h);
        let head = &bytes[..head_end];
        let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let status_line = std::str::from_utf8(&head[..line_end])
            .ok()?
            .trim_end()
            .to_owned();
        let mut parts = status_line.splitn(3, ' ');
        if !parts.next()?.eq_ignore_ascii_case("SIP/2.0") {
            return None;
        }
        let code: u16 = parts.next()?.parse().ok()?;
        if !(100..700).contains(&code) {
            return None;
        }
        let section =
            headers::parse_header_section(&head[(line_end + 1).min(head.len())..], &limits);
        let call_id_ok = section
            .fields
            .iter()
            .any(|h| h.name == Name::CallId && h.value == self.call_id);
        let branch_ok = section
            .fields
            .iter()
            .find(|h| h.name == Name::Via)
            .and_then(|h| {
                headers::param(&h.value, "branch")
                    .flatten()
                    .map(|b| b == self.branch)
            })
            .unwrap_or(false);
        if !call_id_ok || !branch_ok {
            return None;
        }
        Some(if code < 200 {
            Err(code)
        } else {
            Ok(FinalResponse { code, status_line })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Endpoint, EndpointConfig};
    use std::time::Instant;

    #[test]
    fn timer_e_doubles_to_t2() {
        let v: Vec<u64> = (0..6)
            .map(|n| NotifyClient::retransmit_interval(n, false).as_millis() as u64)
            .collect();
        assert_eq!(v, [500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(NotifyClient::retransmit_interval(0, true), T2);
    }

    #[test]
    fn round_trip_through_the_endpoint() {
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let c = NotifyClient::new(
            Transport::Udp,
            local,
            "check-sync;reboot=true",
            "sip:1001@127.0.0.1:5060",
        )
        .unwrap();
        let text = String::from_utf8(c.request().to_vec()).unwrap();
        assert!(
            text.starts_with("NOTIFY sip:1001@127.0.0.1:5060 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nCSeq: 1 NOTIFY\r\n"), "{text}");
        assert!(text.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{text}");
        let mut ep = Endpoint::new(EndpointConfig::default());
        let h = ep.handle(Instant::now(), local, Transport::Udp, c.request());
        let reply = h.reply.clone().unwrap();
        assert_eq!(
            h.resync.as_ref().map(|r| r.reboot),
            Some(Some(true)),
            "{h:?} {}",
            String::from_utf8_lossy(&reply)
        );
        let r = c.on_response(&reply).unwrap().unwrap();
        assert_eq!(r.code, 200);
        assert_eq!(r.status_line, "SIP/2.0 200 OK");
        // A response to another transaction is ignored.
        let other = NotifyClient::new(Transport::Udp, local, "check-sync", "sip:a@b").unwrap();
        assert!(NotifyClient::new(Transport::Udp, local, "check-sync", "not a uri").is_err());
        let v6 = NotifyClient::new(
            Transport::Udp,
            "[::1]:40000".parse().unwrap(),
            "check-sync",
            "sip:1001@[::1]:5060",
        )
        .unwrap();
        let text = String::from_utf8(v6.request().to_vec()).unwrap();
        assert!(
            text.starts_with("NOTIFY sip:1001@[::1]:5060 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nVia: SIP/2.0/UDP [::1]:40000;branch=z9hG4bK"),
            "{text}"
        );
        assert!(
            text.contains("\r\nFrom: <sip:sip-resync@[::1]:40000>;tag="),
            "{text}"
        );
        assert_eq!(other.on_response(&reply), None);
    }
}

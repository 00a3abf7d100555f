//! Configuration: our own TOML format and vendor files used as they are.
//!
//! Every dialect feeds one effective [`Settings`] model, defined here with the reader
//! ([`from_bytes`]) that tells the dialects apart (no file is read here: the agent's
//! `config::load` reads the file and the files it names); each dialect's reader has its own
//! file. A file is recognised by its content first, its name second: a first line holding
//! the Panasonic (or PCC) magic text makes it a Panasonic `.cfg` file; a first line
//! `#!version:` a Yealink file; an XML root `<polycomConfig>`, `<PHONE_CONFIG>`, `<PHONE>` or
//! `<APPLICATION>` Polycom, `<flat-profile>` Cisco, `<gs_provision>` Grandstream; a file
//! starting with `<?xml`, `<settings` or `<phone-settings` is Snom XML; then a file named `*.cfg` is
//! rejected for lacking the magic line, as a Panasonic unit would; anything else is read as
//! our TOML format. Unknown keys of our TOML are reported as [`Warning`]s,
//! never fatal; settings of a vendor file that sip-resync does not use are kept in
//! [`Settings::unused`] and listed by `check`. Errors name the file, the line and the key.

mod auth;
pub(crate) mod cisco;
mod encoding;
mod error;
mod grandstream;
mod overlay;
pub(crate) mod panasonic;
mod polycom;
mod provisioning;
pub use panasonic::PANASONIC_CA_KEYS;
mod dialects;
pub(crate) mod snom;
pub use snom::{Link, MAX_SETTING_FILES};
mod text;
mod tls;
mod toml;
pub(crate) mod vendor;
mod vendor_keys;
pub(crate) mod yealink;
pub use vendor::{VendorEntry, VendorFile};

pub use overlay::{overlay, ParsedFile, Provisioned};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::resync::Transport;
use crate::schedule::ScheduleSettings;
use crate::sip::EventMatcher;

pub use crate::sip::{
    Algorithm, Allowlist, AuthConfig, Cidr, Credential, EventMatch, GuessBudget, Limit, RateLimits,
    RefusedAction,
};
pub use error::{read_hint, ConfigError, ParseError, ValueError, Warning};
pub use provisioning::{
    mac_bytes, normalise_mac, FileFormat, FileOrigin, FileSpec, ProvisioningSettings, RebootPolicy,
    TlsMaterial, DEFAULT_BUSY_MAX_WAIT, DEFAULT_RUN_BUDGET, DEFAULT_RUN_BUDGET_REFILL,
};
pub use tls::{TlsSettings, DEFAULT_HANDSHAKE_TIMEOUT};

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A listening address: `udp:ADDR:PORT`, `tcp:ADDR:PORT` or `tls:ADDR:PORT` (IPv6 as
/// `tcp:[::1]:5060`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// Transport.
    pub transport: Transport,
    /// Address and port.
    pub addr: SocketAddr,
}

impl FromStr for ListenAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, addr) = s
            .split_once(':')
            .ok_or_else(|| ValueError::ListenForm(s.to_owned()))?;
        let transport = match t.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => return Err(ValueError::ListenTransport(s.to_owned())),
        };
        let addr = addr.parse().map_err(|_| ValueError::ListenAddr {
            text: s.to_owned(),
            addr: addr.to_owned(),
        })?;
        Ok(ListenAddr { transport, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which dialect a configuration was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// Our TOML format.
    Toml,
    /// A Panasonic standard format file.
    Panasonic,
    /// A Snom XML settings file.
    Snom,
    /// A Snom text settings file (`name: value` lines).
    SnomText,
    /// A Panasonic XML configuration file (`<PANASipPhoneConfig>`).
    PanasonicXml,
    /// A Yealink `.cfg` file (`#!version:1.0.0.1`).
    Yealink,
    /// A Polycom XML file (`<polycomConfig>`, `<PHONE_CONFIG>`, a master file).
    Polycom,
    /// A Cisco SPA/MPP XML profile (`<flat-profile>`).
    Cisco,
    /// A Grandstream XML provisioning file (`<gs_provision>`).
    Grandstream,
}

impl Dialect {
    /// The vendor family: a Snom text file is read as Snom, a Panasonic XML file as
    /// Panasonic.
    pub fn family(self) -> Dialect {
        match self {
            Dialect::SnomText => Dialect::Snom,
            Dialect::PanasonicXml => Dialect::Panasonic,
            other => other,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Toml => "sip-resync TOML",
            Dialect::Panasonic => "Panasonic standard format (.cfg)",
            Dialect::Snom => "Snom XML settings",
            Dialect::SnomText => "Snom text settings",
            Dialect::PanasonicXml => "Panasonic XML configuration",
            Dialect::Yealink => "Yealink .cfg",
            Dialect::Polycom => "Polycom XML",
            Dialect::Cisco => "Cisco SPA/MPP XML profile",
            Dialect::Grandstream => "Grandstream XML provisioning",
        })
    }
}

/// The SIP listener's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SipSettings {
    /// Where to listen.
    pub listen: Vec<ListenAddr>,
    /// Accepted Event texts (Panasonic `CFG_RESYNC_FROM_SIP`).
    pub events: Vec<String>,
    /// How events are compared.
    pub event_match: EventMatch,
    /// TCP bounds.
    pub tcp: TcpOptions,
    /// UDP workers per UDP listening address, each with its own socket and endpoint state;
    /// 1 (the default) binds the port alone, so no other process can share it; 0 means one
    /// per core (the sockets then share the port with `SO_REUSEPORT`).
    pub udp_workers: usize,
    /// Most completed UDP transactions remembered (each for 32 s).
    pub max_transactions: usize,
    /// Sources allowed to send requests; empty allows every source.
    pub allow: Allowlist,
    /// What a request from a source outside `allow` gets.
    pub refused: RefusedAction,
    /// Request and trigger rate limits.
    pub limits: RateLimits,
    /// The digest challenge of NOTIFY and the lines' credentials.
    pub auth: AuthConfig,
    /// The TLS listener's certificate, key and client CA (`[sip.tls]`); `None` when not set.
    pub tls: Option<TlsSettings>,
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: vec![
                "udp:0.0.0.0:5060".parse().expect("valid"),
                "tcp:0.0.0.0:5060".parse().expect("valid"),
            ],
            events: vec!["check-sync".into()],
            event_match: EventMatch::CaseInsensitive,
            tcp: TcpOptions::default(),
            udp_workers: 1,
            max_transactions: 4096,
            allow: Allowlist::default(),
            refused: RefusedAction::default(),
            limits: RateLimits::default(),
            auth: AuthConfig::default(),
            tls: None,
        }
    }
}

impl SipSettings {
    /// The event matcher these settings describe.
    pub fn matcher(&self) -> EventMatcher {
        EventMatcher::new(&self.events, self.event_match)
    }

    /// The endpoint settings these SIP settings describe: accepted events, allowlist, rate
    /// limits and transaction bound; everything else keeps its default.
    pub fn endpoint_config(&self) -> crate::sip::EndpointConfig {
        crate::sip::EndpointConfig {
            events: self.matcher(),
            max_transactions: self.max_transactions,
            allow: self.allow.clone(),
            refused: self.refused,
            rate_limits: self.limits,
            auth: self.auth.clone(),
            ..crate::sip::EndpointConfig::default()
        }
    }
}

/// Bounds on TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// Most connections open at once; further ones are accepted and closed at once.
    pub max_connections: usize,
    /// A connection with nothing buffered is closed after this long without data.
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte arrived, or the
    /// connection is closed.
    pub message_deadline: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_connections: 256,
            idle_timeout: Duration::from_secs(120),
            message_deadline: Duration::from_secs(10),
        }
    }
}

/// The effective settings, whatever dialect they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Dialect of the source file.
    pub dialect: Dialect,
    /// SIP listener settings.
    pub sip: SipSettings,
    /// Timed polling settings.
    pub schedule: ScheduleSettings,
    /// IANA time zone for wall-clock schedules; `None` means the system's.
    pub time_zone: Option<String>,
    /// What to fetch and how.
    pub provisioning: ProvisioningSettings,
    /// The settings of a vendor file (name, value) in file order, first occurrence only;
    /// empty for TOML. Fetched files overlay these key by key.
    pub vendor_entries: Vec<(String, String)>,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
    /// Settings of a vendor file that sip-resync does not use, kept for the report.
    pub unused: Vec<String>,
    /// Where each vendor setting was found (name, 1-based line), to locate later findings.
    pub lines: Vec<(String, usize)>,
    /// The file the settings came from.
    pub path: PathBuf,
}

impl Settings {
    fn new(dialect: Dialect, path: &Path) -> Settings {
        Settings {
            dialect,
            sip: SipSettings::default(),
            schedule: ScheduleSettings::Off,
            time_zone: None,
            provisioning: ProvisioningSettings {
                base_dir: base_dir_of(path),
                ..ProvisioningSettings::default()
            },
            vendor_entries: Vec::new(),
            warnings: Vec::new(),
            unused: Vec::new(),
            lines: Vec::new(),
            path: path.to_owned(),
        }
    }

    /// The line a vendor setting was read from.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, l)| *l)
    }

    /// The configured time zone, or the system's.
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, ConfigError> {
        match &self.time_zone {
            Some(name) => zone_named(name).map_err(|e| ConfigError::Invalid {
                path: self.path.clone(),
                line: None,
                key: Some("schedule.time_zone".into()),
                message: e.to_string(),
            }),
            None => Ok(jiff::tz::TimeZone::system()),
        }
    }
}

/// The directory of a configuration file, against which its relative paths are resolved.
fn base_dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Looks up an IANA time zone by name.
pub fn zone_named(name: &str) -> Result<jiff::tz::TimeZone, ValueError> {
    jiff::tz::TimeZone::get(name)
        .map_err(|_| ValueError::TimeZone(crate::escape::excerpt(name.as_bytes())))
}

/// The highest line number an error or warning of [`from_bytes`] can name for `bytes`: the
/// Panasonic reader ends lines at CR LF, LF or CR, the others at LF (the text after the last
/// LF is a line too). For the property tests and the fuzz checks.
#[cfg(any(test, fuzzing))]
pub(crate) fn line_count(bytes: &[u8]) -> usize {
    if panasonic::has_magic(bytes) {
        panasonic::line_count(bytes)
    } else {
        bytes.iter().filter(|&&b| b == b'\n').count() + 1
    }
}

/// Interprets configuration bytes; `path` names the source in messages and, by its
/// extension, tells a Panasonic file that lacks its magic line from a TOML file.
///
/// The content decides first: the Panasonic (or PCC) magic line, a Panasonic XML root
/// (`<PANASipPhoneConfig>`), a Snom XML root (`<settings>`, `<phone-settings>`,
/// `<setting-files>`), Snom's text format (`name: value` lines); an XML document with any
/// other root is refused naming its root; then a `.cfg` name without the magic line gets the
/// Panasonic reader's error; anything else is our TOML.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let is_cfg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cfg"));
    let mut settings = if panasonic::is_xml(bytes) {
        let file = panasonic::parse_xml(bytes, path)?;
        let mut s = panasonic::from_panasonic(&file)?;
        s.dialect = Dialect::PanasonicXml;
        s
    } else if panasonic::has_magic(bytes) {
        // The content first, the extension second: FusionPBX names Snom XML for the PA1 `.cfg`.
        panasonic::from_panasonic(&panasonic::parse(bytes, path)?)?
    } else if let Some(dialect) = dialects::sniff(bytes) {
        dialects::settings(&dialects::parse(dialect, bytes, path)?)?
    } else if snom::looks_like(bytes) || snom::looks_like_text(bytes) {
        let dialect = if snom::looks_like(bytes) {
            Dialect::Snom
        } else {
            Dialect::SnomText
        };
        match snom::parse_document(bytes, path)? {
            snom::Document::Settings(entries, repeated) => {
                let mut settings = snom::from_snom(&entries, path, dialect)?;
                settings.warnings.splice(0..0, repeated);
                settings
            }
            snom::Document::Files(links, warnings) => {
                snom::from_setting_files(&links, warnings, path)
            }
        }
    } else if let Some(root) = text::xml_root(bytes) {
        let tag = format!("<{root}");
        let at = bytes
            .windows(tag.len())
            .position(|w| w == tag.as_bytes())
            .unwrap_or(0);
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(1 + bytes[..at].iter().filter(|&&b| b == b'\n').count()),
            key: None,
            message: format!(
                "an XML document with the root <{}> is not a configuration sip-resync reads (Snom <settings>, <phone-settings> or <setting-files>; Panasonic <PANASipPhoneConfig>; Polycom <polycomConfig>, <PHONE_CONFIG>, <PHONE> or <APPLICATION>; Cisco <flat-profile>; Grandstream <gs_provision>)",
                crate::escape::excerpt(root.as_bytes())
            ),
        });
    } else if is_cfg {
        // A `.cfg` file without the magic line: the Panasonic reader says what is missing.
        panasonic::from_panasonic(&panasonic::parse(bytes, path)?)?
    } else {
        return toml::from_toml(bytes, path);
    };
    let suggestions = vendor_keys::suggest(&settings);
    settings.warnings.extend(suggestions);
    // In file order, as an administrator reads them.
    settings.warnings.sort_by_key(|w| w.line);
    Ok(settings)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod vendor_proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let a: ListenAddr = "udp:127.0.0.1:5060".parse().unwrap();
        assert_eq!(a.transport, Transport::Udp);
        let b: ListenAddr = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(b.to_string(), "tcp:[::1]:5070");
        assert!("sctp:1.2.3.4:5".parse::<ListenAddr>().is_err());
        assert!("udp:localhost".parse::<ListenAddr>().is_err());
    }
}

//! Configuration: our own TOML format and vendor files used as they are.
//!
//! Every dialect feeds one effective [`Settings`] model. A file is recognised by its content:
//! a first line holding the Panasonic magic text makes it a Panasonic `.cfg` file (a file
//! named `*.cfg` without it is rejected, as a Panasonic unit would); anything else is read as
//! our TOML format. Unknown keys are reported as [`Warning`]s, never fatal; errors name the
//! file, the line and the key.

pub mod panasonic;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::resync::Transport;
use crate::sip::{EventMatch, EventMatcher};
use crate::transport::TcpOptions;

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A listening address: `udp:ADDR:PORT` or `tcp:ADDR:PORT` (IPv6 as `tcp:[::1]:5060`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// Transport.
    pub transport: Transport,
    /// Address and port.
    pub addr: SocketAddr,
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("\"{s}\": expected udp:ADDR:PORT or tcp:ADDR:PORT"))?;
        let transport = match t.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => return Err(format!("\"{s}\": transport must be udp or tcp")),
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("\"{s}\": \"{addr}\" is not ADDR:PORT (IPv6 as [::1]:5060)"))?;
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

/// A non-fatal finding: an unknown key, an ignored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// File it concerns.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Key it concerns, when any.
    pub key: Option<String>,
    /// What was found.
    pub message: String,
}

impl Warning {
    pub(crate) fn at(path: &Path, line: usize, key: Option<&str>, message: String) -> Warning {
        Warning {
            path: path.to_owned(),
            line: Some(line),
            key: key.map(str::to_owned),
            message,
        }
    }
}

fn location(
    f: &mut fmt::Formatter<'_>,
    path: &Path,
    line: Option<usize>,
    key: Option<&str>,
) -> fmt::Result {
    write!(f, "{}", path.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    if let Some(key) = key {
        write!(f, ": {key}")?;
    }
    Ok(())
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        location(f, &self.path, self.line, self.key.as_deref())?;
        write!(f, ": {}", self.message)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source} (check the path and that this user may read it)", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {MAX_CONFIG_BYTES} bytes; is this the right file?", path.display())]
    TooLarge {
        /// File.
        path: PathBuf,
    },
    /// The content is invalid.
    #[error("{}: {message}", Located(path, *line, key.as_deref()))]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Key, when known.
        key: Option<String>,
        /// What is wrong and what is expected.
        message: String,
    },
}

struct Located<'a>(&'a Path, Option<usize>, Option<&'a str>);
impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        location(f, self.0, self.1, self.2)
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
    /// Most completed UDP transactions remembered (each for 32 s).
    pub max_transactions: usize,
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
            max_transactions: 4096,
        }
    }
}

impl SipSettings {
    /// The event matcher these settings describe.
    pub fn matcher(&self) -> EventMatcher {
        EventMatcher::new(&self.events, self.event_match)
    }
}

/// The effective settings, whatever dialect they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Dialect of the source file.
    pub dialect: Dialect,
    /// SIP listener settings.
    pub sip: SipSettings,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
}

/// Reads and interprets a configuration file of any supported dialect.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    from_bytes(&bytes, path)
}

/// Interprets configuration bytes; `path` names the source in messages and, by its
/// extension, tells a Panasonic file that lacks its magic line from a TOML file.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let is_cfg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cfg"));
    if panasonic::has_magic(bytes) || is_cfg {
        from_panasonic(&panasonic::parse(bytes, path)?)
    } else {
        from_toml(bytes, path)
    }
}

fn from_panasonic(file: &panasonic::PanasonicFile) -> Result<Settings, ConfigError> {
    let mut settings = Settings {
        dialect: Dialect::Panasonic,
        sip: SipSettings::default(),
        warnings: file.warnings.clone(),
    };
    if let Some(e) = file.get("CFG_RESYNC_FROM_SIP") {
        let text = e.value.trim();
        if text.is_empty() {
            settings.warnings.push(Warning::at(
                &file.path,
                e.line,
                Some(&e.name),
                "empty: the default \"check-sync\" is used".into(),
            ));
        } else {
            settings.sip.events = vec![text.to_owned()];
        }
    }
    Ok(settings)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlFile {
    sip: TomlSip,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlSip {
    listen: Vec<ListenAddr>,
    events: Vec<String>,
    event_match: EventMatch,
    max_transactions: usize,
    tcp: TomlTcp,
}

impl Default for TomlSip {
    fn default() -> Self {
        let d = SipSettings::default();
        TomlSip {
            listen: d.listen,
            events: d.events,
            event_match: d.event_match,
            max_transactions: d.max_transactions,
            tcp: TomlTcp::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlTcp {
    max_connections: usize,
    idle_timeout_secs: u64,
    message_deadline_secs: u64,
}

impl Default for TomlTcp {
    fn default() -> Self {
        let d = TcpOptions::default();
        TomlTcp {
            max_connections: d.max_connections,
            idle_timeout_secs: d.idle_timeout.as_secs(),
            message_deadline_secs: d.message_deadline.as_secs(),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn from_toml(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let invalid = |line, key: Option<String>, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        key,
        message,
    };
    let text =
        std::str::from_utf8(bytes).map_err(|_| invalid(None, None, "not UTF-8 text".into()))?;
    let mut unknown = Vec::new();
    let de = toml::Deserializer::new(text);
    let file: TomlFile =
        serde_ignored::deserialize(de, |p| unknown.push(p.to_string())).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            invalid(line, None, e.message().trim().to_owned())
        })?;
    let mut warnings: Vec<Warning> = unknown
        .into_iter()
        .map(|key| Warning {
            path: path.to_owned(),
            line: text
                .find(key.rsplit('.').next().unwrap_or(&key))
                .map(|o| line_of(text, o)),
            message: "unknown key, ignored".into(),
            key: Some(key),
        })
        .collect();
    let sip = file.sip;
    let check = |ok: bool, key: &str, message: &str| -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            let line = text
                .find(key.rsplit('.').next().unwrap_or(key))
                .map(|o| line_of(text, o));
            Err(invalid(line, Some(key.into()), message.into()))
        }
    };
    check(
        sip.events.iter().any(|e| !e.trim().is_empty()),
        "sip.events",
        "at least one event text is needed, e.g. [\"check-sync\"]",
    )?;
    check(
        sip.tcp.max_connections > 0,
        "sip.tcp.max_connections",
        "must be at least 1",
    )?;
    check(
        sip.tcp.idle_timeout_secs > 0,
        "sip.tcp.idle_timeout_secs",
        "must be at least 1",
    )?;
    check(
        sip.tcp.message_deadline_secs > 0,
        "sip.tcp.message_deadline_secs",
        "must be at least 1",
    )?;
    check(
        sip.max_transactions > 0,
        "sip.max_transactions",
        "must be at least 1",
    )?;
    if sip.listen.is_empty() {
        warnings.push(Warning {
            path: path.to_owned(),
            line: None,
            key: Some("sip.listen".into()),
            message: "empty: nothing to listen on unless --listen is given".into(),
        });
    }
    Ok(Settings {
        dialect: Dialect::Toml,
        sip: SipSettings {
            listen: sip.listen,
            events: sip.events,
            event_match: sip.event_match,
            max_transactions: sip.max_transactions,
            tcp: TcpOptions {
                max_connections: sip.tcp.max_connections,
                idle_timeout: std::time::Duration::from_secs(sip.tcp.idle_timeout_secs),
                message_deadline: std::time::Duration::from_secs(sip.tcp.message_deadline_secs),
            },
        },
        warnings,
    })
}

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

    #[test]
    fn toml_with_unknown_key_and_defaults() {
        let s = from_bytes(
            b"[sip]\nlisten = [\"udp:127.0.0.1:5062\"]\nevents = [\"resync\"]\nevent_match = \"strict\"\ncolour = \"blue\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.sip.events, vec!["resync"]);
        assert_eq!(s.sip.event_match, EventMatch::Strict);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(
            s.warnings[0].to_string(),
            "a.toml:5: sip.colour: unknown key, ignored"
        );
        assert_eq!(s.sip.tcp, TcpOptions::default());
    }

    #[test]
    fn toml_errors_are_located() {
        let e = from_bytes(b"[sip]\nevents = []\n", Path::new("a.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.toml:2: sip.events: at least one event text is needed, e.g. [\"check-sync\"]"
        );
        let e = from_bytes(
            b"[sip]\n\nlisten = [\"udp:nowhere\"]\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3: "), "{e}");
    }

    #[test]
    fn panasonic_sets_the_event() {
        let s = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_RESYNC_FROM_SIP=\"resync\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        assert_eq!(s.dialect, Dialect::Panasonic);
        assert_eq!(s.sip.events, vec!["resync"]);
        assert!(from_bytes(b"CFG_RESYNC_FROM_SIP=\"resync\"\r\n", Path::new("kx.cfg")).is_err());
    }
}

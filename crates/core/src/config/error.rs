//! How configuration problems are reported: [`ConfigError`] and [`Warning`], both naming the
//! file, the line and the key, [`ParseError`] for a fetched file that is not valid, and
//! [`ValueError`] for one value read on its own; and [`Found`], a setting with the place it
//! was read from.

use std::fmt;
use std::path::{Path, PathBuf};

use super::MAX_CONFIG_BYTES;

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
    /// A warning at `line` of `path`, about `key` when given.
    pub fn at(path: &Path, line: usize, key: Option<&str>, message: String) -> Warning {
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
    #[error("cannot read {}: {source} ({})", path.display(), read_hint(path, source))]
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

/// Why a fetched file is not valid for its format (see
/// [`ParsedFile::parse`](super::ParsedFile::parse)). Unlike [`ConfigError`] it holds no OS
/// error, so a run's outcome can carry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
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

impl From<ConfigError> for ParseError {
    fn from(e: ConfigError) -> ParseError {
        match e {
            ConfigError::Invalid {
                path,
                line,
                key,
                message,
            } => ParseError::Invalid {
                path,
                line,
                key,
                message,
            },
            // Parsing bytes reads no file and has no size limit; should one come, its text
            // is kept.
            ConfigError::Read { ref path, .. } | ConfigError::TooLarge { ref path } => {
                let path = path.clone();
                let text = e.to_string();
                let prefix = format!("{}: ", path.display());
                ParseError::Invalid {
                    message: text.strip_prefix(&prefix).unwrap_or(&text).to_owned(),
                    path,
                    line: None,
                    key: None,
                }
            }
        }
    }
}

/// Why one value read on its own is not usable. Messages say what is expected; the caller
/// adds where the value was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// An on/off switch (Snom `challenge_checksync`) with another value.
    #[error("must be on or off")]
    OnOff,
    /// Not a MAC address (the text, escaped).
    #[error("\"{0}\" is not a MAC address (expected 12 hex digits, e.g. 0080F0A1B2C3 or 00:80:F0:A1:B2:C3)")]
    Mac(String),
    /// Not an IANA time zone name (the name, escaped).
    #[error("unknown time zone \"{0}\" (expected an IANA name such as Europe/Berlin)")]
    TimeZone(String),
    /// A listen address without `transport:`.
    #[error("\"{0}\": expected udp:, tcp: or tls:ADDR:PORT")]
    ListenForm(String),
    /// A listen address with an unknown transport.
    #[error("\"{0}\": transport must be udp, tcp or tls")]
    ListenTransport(String),
    /// A listen address whose address part is not `ADDR:PORT`.
    #[error("\"{text}\": \"{addr}\" is not ADDR:PORT (IPv6 as [::1]:5060)")]
    ListenAddr {
        /// The whole value.
        text: String,
        /// The part after the transport.
        addr: String,
    },
}

/// What to check when a file cannot be read, by the kind of error.
pub fn read_hint(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if path.is_relative() => {
            let cwd = std::env::current_dir()
                .map(|d| format!(" ({})", d.display()))
                .unwrap_or_default();
            format!("check the path: a relative path is taken from the current directory{cwd}")
        }
        std::io::ErrorKind::NotFound => "check the path".into(),
        std::io::ErrorKind::PermissionDenied => {
            "this user may not read it: check the permissions of the file and of the directories above it".into()
        }
        _ if path.is_dir() => "this is a directory: name the configuration file in it".into(),
        _ => "check the path and that this user may read it".into(),
    }
}

struct Located<'a>(&'a Path, Option<usize>, Option<&'a str>);
impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        location(f, self.0, self.1, self.2)
    }
}

/// The error for a file that is not UTF-8, naming the line of the first bad byte.
pub(super) fn not_utf8(path: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> ConfigError {
    let at = e.valid_up_to();
    ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1),
        key: None,
        message: format!("not UTF-8 text (first bad byte at offset {at})"),
    }
}

/// One setting found by a lookup: its value and where it was read, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found<'a> {
    pub(super) value: &'a str,
    pub(super) path: &'a Path,
    pub(super) line: Option<usize>,
}

/// Looks a setting up by name.
pub(super) type Lookup<'l, 'a> = dyn Fn(&str) -> Option<Found<'a>> + 'l;

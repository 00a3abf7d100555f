//! What the Yealink, Polycom, Cisco and Grandstream readers share: the flat list of settings a
//! file comes to ([`VendorFile`]), the checked reading of values (a value the phone would
//! refuse is a warning, and the phone's default is used) and the settings the agent takes from
//! them ([`Read`]).
//!
//! Each dialect's own rules are in its file: `yealink.rs`, `polycom.rs`, `cisco.rs`,
//! `grandstream.rs`; `dialects.rs` tells them apart and lays fetched files over the local
//! settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{Found, Lookup};
use super::{ConfigError, Dialect, FileSpec, RebootPolicy, Warning};
use crate::digest::Credential;
use crate::schedule::{LocalTime, ScheduleSettings};

/// Most settings read from one file.
pub(super) const MAX_ENTRIES: usize = 20_000;

/// One setting of a vendor file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorEntry {
    /// The setting's name as the dialect writes it (`static.auto_provision.power_on`,
    /// `prov.polling.period`, `Resync_At__HHmm_`, `P193`).
    pub name: String,
    /// Its value, trimmed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A parsed Yealink, Polycom, Cisco or Grandstream file: its settings in file order, each
/// name once (the last occurrence, as the phones apply settings in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorFile {
    /// The dialect.
    pub dialect: Dialect,
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// The settings.
    pub entries: Vec<VendorEntry>,
    /// Findings of the parser (repeated settings, ignored lines).
    pub warnings: Vec<Warning>,
}

impl VendorFile {
    pub(super) fn new(dialect: Dialect, path: &Path) -> VendorFile {
        VendorFile {
            dialect,
            path: path.to_owned(),
            entries: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The setting `name`.
    pub fn get(&self, name: &str) -> Option<&VendorEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Adds a setting; a repeated name keeps its last value, with a warning naming both lines
    /// when `warn_repeat` says the name matters.
    pub(super) fn push(
        &mut self,
        name: String,
        value: String,
        line: usize,
        warn_repeat: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        if let Some(earlier) = self.entries.iter_mut().find(|e| e.name == name) {
            if warn_repeat(&name) {
                self.warnings.push(Warning::at(
                    &self.path,
                    line,
                    Some(&name),
                    format!(
                        "repeated; this value replaces the one on line {}, as the phone applies \
                         settings in order",
                        earlier.line
                    ),
                ));
            }
            earlier.value = value;
            earlier.line = line;
            return Ok(());
        }
        if self.entries.len() == MAX_ENTRIES {
            return Err(ConfigError::Invalid {
                path: self.path.clone(),
                line: Some(line),
                key: None,
                message: format!("more than {MAX_ENTRIES} settings"),
            });
        }
        self.entries.push(VendorEntry { name, value, line });
        Ok(())
    }

    pub(super) fn found(&self, key: &str) -> Option<Found<'_>> {
        self.get(key).map(|e| Found {
            value: &e.value,
            path: &self.path,
            line: Some(e.line),
        })
    }
}

/// The settings sip-resync takes from a file of one of these dialects. `None` (or empty)
/// where the file does not set them, so that a fetched file changes only what it sets.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// The timed polls, when any schedule key is set.
    pub schedule: Option<ScheduleSettings>,
    /// Accepted Event texts.
    pub events: Option<Vec<String>>,
    /// What a check-sync does after the fetch.
    pub reboot_policy: Option<RebootPolicy>,
    /// Whether NOTIFY is challenged.
    pub challenge: Option<bool>,
    /// Line credentials.
    pub credentials: Vec<Credential>,
    /// Files to fetch.
    pub files: Vec<FileSpec>,
    /// Fetch at start-up.
    pub fetch_at_startup: Option<bool>,
    /// Random delay before a start-up run.
    pub random_delay: Option<Duration>,
    /// Values not usable, with what is used instead.
    pub warnings: Vec<Warning>,
}

/// Reads values through a lookup, checking each one: a value the phone would not take is a
/// warning naming the file, the line and the key, and the phone's default is used. An empty
/// value counts as not set (templates write `key =` for "keep the phone's value").
pub(super) struct Values<'l, 'a> {
    get: &'l Lookup<'l, 'a>,
    pub(super) warnings: Vec<Warning>,
}

impl<'l, 'a> Values<'l, 'a> {
    pub(super) fn new(get: &'l Lookup<'l, 'a>) -> Self {
        Values {
            get,
            warnings: Vec::new(),
        }
    }

    /// The setting, when set to a non-empty value.
    pub(super) fn found(&self, key: &str) -> Option<Found<'a>> {
        (self.get)(key).filter(|f| !f.value.trim().is_empty())
    }

    /// The setting as written, an empty value included.
    pub(super) fn raw(&self, key: &str) -> Option<Found<'a>> {
        (self.get)(key)
    }

    /// The first of `keys` that is set.
    pub(super) fn first(&self, keys: &[&str]) -> Option<(String, Found<'a>)> {
        keys.iter()
            .find_map(|k| self.found(k).map(|f| ((*k).to_owned(), f)))
    }

    /// The trimmed text of a setting.
    pub(super) fn text(&self, key: &str) -> Option<&'a str> {
        self.found(key).map(|f| f.value.trim())
    }

    /// Whether any of `keys` is set.
    pub(super) fn any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.found(k).is_some())
    }

    pub(super) fn warn(&mut self, f: &Found<'_>, key: &str, message: String) {
        self.warnings.push(Warning {
            path: f.path.to_owned(),
            line: f.line,
            key: Some(key.to_owned()),
            message,
        });
    }

    /// A switch: `1`/`0`, and `yes`/`no`, `on`/`off`, `true`/`false` in any case.
    pub(super) fn flag(&mut self, key: &str, default: bool) -> bool {
        let Some(f) = self.found(key) else {
            return default;
        };
        match f.value.trim().to_ascii_lowercase().as_str() {
            "1" | "yes" | "on" | "true" => true,
            "0" | "no" | "off" | "false" => false,
            _ => {
                let shown = if default { "1 (on)" } else { "0 (off)" };
                self.warn(
                    &f,
                    key,
                    format!(
                        "\"{}\" is not 0 or 1 (or Yes/No); the phone's default {shown} is used",
                        crate::escape::excerpt(f.value.as_bytes())
                    ),
                );
                default
            }
        }
    }

    /// A whole number in `min..=max`.
    pub(super) fn number(&mut self, key: &str, min: u64, max: u64, default: u64) -> u64 {
        let Some(f) = self.found(key) else {
            return default;
        };
        match f.value.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.warn(
                    &f,
                    key,
                    format!(
                        "\"{}\" is not a whole number from {min} to {max}; the phone's default \
                         {default} is used",
                        crate::escape::excerpt(f.value.as_bytes())
                    ),
                );
                default
            }
        }
    }

    /// A time of day, `HH:MM`.
    pub(super) fn time(&mut self, key: &str, default: Option<LocalTime>) -> Option<LocalTime> {
        let f = self.found(key)?;
        match f.value.trim().parse::<LocalTime>() {
            Ok(t) => Some(t),
            Err(e) => {
                let instead = match default {
                    Some(d) => format!("the phone's default {d} is used"),
                    None => "the setting is ignored".to_owned(),
                };
                self.warn(
                    &f,
                    key,
                    format!(
                        "\"{}\": {e} (expected HH:MM, 00:00 to 23:59); {instead}",
                        crate::escape::excerpt(f.value.as_bytes())
                    ),
                );
                default
            }
        }
    }
}

/// Inserts `user:password@` (percent-encoded) after the scheme of `url`.
pub(super) fn with_credentials(url: &str, user: Option<&str>, password: Option<&str>) -> String {
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return url.to_owned();
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    match password.filter(|p| !p.is_empty()) {
        Some(p) => format!("{scheme}://{}:{}@{rest}", enc(user), enc(p)),
        None => format!("{scheme}://{}@{rest}", enc(user)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_encoded_into_urls() {
        assert_eq!(
            with_credentials("https://h/p", Some("a b"), Some("p@ss")),
            "https://a%20b:p%40ss@h/p"
        );
        assert_eq!(
            with_credentials("https://h/p", None, Some("x")),
            "https://h/p"
        );
    }
}

//! What the Yealink, Polycom, Cisco and Grandstream readers share: the flat list of settings a
//! file comes to ([`VendorFile`]), the checked reading of values (a value the phone would
//! refuse is a warning, and the phone's default is used), the settings the agent takes from
//! them ([`Read`]), content sniffing, and the overlay of fetched files of these dialects.
//!
//! Each dialect's own rules are in its file: `yealink.rs`, `polycom.rs`, `cisco.rs`,
//! `grandstream.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{Found, Lookup};
use super::{
    auth, cisco, grandstream, polycom, yealink, ConfigError, Dialect, FileSpec, RebootPolicy,
    Settings, Warning,
};
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

    fn found(&self, key: &str) -> Option<Found<'_>> {
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

/// The dialect a file's content shows, if it is one of these four: the Yealink version line,
/// or the root element of the XML (`<polycomConfig>`, `<PHONE_CONFIG>`, a master file's
/// `<APPLICATION>`, `<flat-profile>`, `<gs_provision>`).
pub(crate) fn sniff(bytes: &[u8]) -> Option<Dialect> {
    if yealink::looks_like(bytes) {
        return Some(Dialect::Yealink);
    }
    match root_name(bytes)?.as_str() {
        name if polycom::ROOTS.contains(&name) => Some(Dialect::Polycom),
        "flat-profile" => Some(Dialect::Cisco),
        "gs_provision" => Some(Dialect::Grandstream),
        _ => None,
    }
}

/// The name of an XML document's root element, read from its first 4 KiB: after a BOM, the
/// XML declaration, comments, processing instructions and a DOCTYPE.
pub(crate) fn root_name(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
    let mut rest = head.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->")?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!") {
            rest = r.split_once('>')?.1.trim_start();
        } else {
            break;
        }
    }
    let name = rest.strip_prefix('<')?;
    let end = name
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(name.len());
    let name = &name[..end];
    let name = name.rsplit(':').next().unwrap_or(name);
    (!name.is_empty()).then(|| name.to_owned())
}

/// Parses a file of one of these dialects.
pub(crate) fn parse(
    dialect: Dialect,
    bytes: &[u8],
    path: &Path,
) -> Result<VendorFile, ConfigError> {
    match dialect {
        Dialect::Yealink => yealink::parse(bytes, path),
        Dialect::Polycom => polycom::parse(bytes, path),
        Dialect::Cisco => cisco::parse(bytes, path),
        _ => grandstream::parse(bytes, path),
    }
}

/// Parses a fetched file of one of these formats.
pub(super) fn parse_format(
    format: super::FileFormat,
    bytes: &[u8],
    path: &Path,
) -> Result<super::ParsedFile, ConfigError> {
    let dialect = format.vendor_dialect().unwrap_or(Dialect::Grandstream);
    parse(dialect, bytes, path).map(super::ParsedFile::Vendor)
}

/// What the agent takes from the settings `get` finds, for `dialect`.
pub(super) fn read(dialect: Dialect, get: &Lookup<'_, '_>) -> Read {
    let mut v = Values::new(get);
    let mut read = match dialect {
        Dialect::Yealink => yealink::read(&mut v),
        Dialect::Polycom => polycom::read(&mut v),
        Dialect::Cisco => cisco::read(&mut v),
        _ => grandstream::read(&mut v),
    };
    read.warnings.splice(0..0, v.warnings);
    read
}

/// Whether sip-resync uses the setting `name` of a `dialect` file.
fn is_used(dialect: Dialect, name: &str) -> bool {
    match dialect {
        Dialect::Yealink => yealink::is_used(name),
        Dialect::Polycom => polycom::is_used(name),
        Dialect::Cisco => cisco::is_used(name),
        _ => grandstream::is_used(name),
    }
}

/// The effective settings of a local file of one of these dialects: what it sets, and the
/// phone's defaults for the rest.
pub(super) fn settings(file: &VendorFile) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(file.dialect, &file.path);
    settings.lines = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.line))
        .collect();
    settings.vendor_entries = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    settings.unused = file
        .entries
        .iter()
        .filter(|e| !is_used(file.dialect, &e.name))
        .map(|e| e.name.clone())
        .collect();
    settings.warnings = file.warnings.clone();
    let read = read(file.dialect, &|k| file.found(k));
    settings.warnings.extend(read.warnings);
    let defaults = defaults(file.dialect);
    settings.schedule = read.schedule.unwrap_or(defaults.schedule);
    settings.sip.events = read.events.unwrap_or(defaults.events);
    settings.provisioning.reboot_policy = read.reboot_policy.unwrap_or(defaults.reboot_policy);
    settings.sip.auth.challenge = read.challenge.unwrap_or(defaults.challenge);
    settings.sip.auth.credentials = read.credentials;
    settings.provisioning.files = read.files;
    settings.provisioning.fetch_at_startup =
        read.fetch_at_startup.unwrap_or(defaults.fetch_at_startup);
    settings.provisioning.random_delay = read.random_delay.unwrap_or(defaults.random_delay);
    if settings.sip.auth.challenge && settings.sip.auth.credentials.is_empty() {
        settings.warnings.push(Warning {
            path: file.path.clone(),
            line: None,
            key: None,
            message: format!(
                "NOTIFY is challenged ({}) but the file gives no line credentials ({}): every \
                 NOTIFY is answered 401 until provisioned files bring them",
                defaults.challenge_why, defaults.credential_keys
            ),
        });
    }
    Ok(settings)
}

/// The phone's behaviour for what a file leaves out.
struct Defaults {
    schedule: ScheduleSettings,
    events: Vec<String>,
    reboot_policy: RebootPolicy,
    challenge: bool,
    challenge_why: &'static str,
    credential_keys: &'static str,
    fetch_at_startup: bool,
    random_delay: Duration,
}

fn defaults(dialect: Dialect) -> Defaults {
    let events = |e: &[&str]| e.iter().map(|s| (*s).to_owned()).collect();
    match dialect {
        Dialect::Yealink => Defaults {
            schedule: ScheduleSettings::Yealink(Default::default()),
            events: events(&["check-sync"]),
            // sip.notify_reboot_enable defaults to 1: every check-sync reboots.
            reboot_policy: RebootPolicy::Always,
            challenge: false,
            challenge_why: "",
            credential_keys: "account.N.auth_name, account.N.password",
            fetch_at_startup: true,
            random_delay: Duration::ZERO,
        },
        Dialect::Polycom => Defaults {
            schedule: ScheduleSettings::Polycom(polycom::default_polling()),
            events: events(&["check-sync"]),
            reboot_policy: RebootPolicy::IfChanged,
            challenge: false,
            challenge_why: "",
            credential_keys: "reg.N.auth.userId, reg.N.auth.password",
            fetch_at_startup: true,
            random_delay: Duration::ZERO,
        },
        Dialect::Cisco => Defaults {
            schedule: ScheduleSettings::Cisco(cisco::default_resync()),
            events: events(cisco::EVENTS),
            reboot_policy: RebootPolicy::IfRequested,
            challenge: false,
            challenge_why: "",
            credential_keys: "User_ID_n_, Password_n_",
            fetch_at_startup: true,
            // Resync_Random_Delay 2: up to 40 s.
            random_delay: Duration::from_secs(40),
        },
        _ => Defaults {
            schedule: ScheduleSettings::Grandstream(grandstream::default_upgrade()),
            events: events(grandstream::EVENTS),
            reboot_policy: RebootPolicy::IfRequested,
            challenge: true,
            challenge_why: "Grandstream phones challenge NOTIFY with 401 by default",
            credential_keys: "P35/P36/P34 and the other accounts' P-values",
            fetch_at_startup: true,
            random_delay: Duration::ZERO,
        },
    }
}

/// Lays the fetched files of these dialects over `effective`: key by key, a later file wins
/// over an earlier one and over a local file of the same dialect. What a fetched file sets
/// (schedule, events, reboot policy, challenge, credentials) replaces the local setting;
/// what it leaves out stays.
pub(super) fn overlay(
    effective: &mut Settings,
    local: &Settings,
    fetched: &[&VendorFile],
    warnings: &mut Vec<Warning>,
) {
    for dialect in [
        Dialect::Yealink,
        Dialect::Polycom,
        Dialect::Cisco,
        Dialect::Grandstream,
    ] {
        // The last file first: it wins.
        let files: Vec<&VendorFile> = fetched
            .iter()
            .rev()
            .copied()
            .filter(|f| f.dialect == dialect)
            .collect();
        if files.is_empty() {
            continue;
        }
        let local_path = local.path.as_path();
        let get = |k: &str| -> Option<Found<'_>> {
            files.iter().find_map(|f| f.found(k)).or_else(|| {
                if local.dialect != dialect {
                    return None;
                }
                local
                    .vendor_entries
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| Found {
                        value: v,
                        path: local_path,
                        line: local.line_of(k),
                    })
            })
        };
        let read = read(dialect, &get);
        warnings.extend(read.warnings);
        if let Some(s) = read.schedule {
            effective.schedule = s;
        }
        if let Some(e) = read.events {
            effective.sip.events = e;
        }
        if let Some(p) = read.reboot_policy {
            effective.provisioning.reboot_policy = p;
        }
        if let Some(c) = read.challenge {
            effective.sip.auth.challenge = c;
        }
        if !read.credentials.is_empty() {
            effective.sip.auth.credentials =
                auth::merge(&effective.sip.auth.credentials, read.credentials);
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
    fn root_names_are_found_after_declarations_and_comments() {
        let doc = b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- generated -->\n<!DOCTYPE x>\n<flat-profile>\n";
        assert_eq!(root_name(doc).as_deref(), Some("flat-profile"));
        assert_eq!(sniff(doc), Some(Dialect::Cisco));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><gs_provision version=\"1\">"),
            Some(Dialect::Grandstream)
        );
        assert_eq!(sniff(b"<polycomConfig/>"), Some(Dialect::Polycom));
        assert_eq!(sniff(b"<settings/>"), None);
        assert_eq!(sniff(b"\n#!version:1.0.0.1\n"), Some(Dialect::Yealink));
    }

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

#[cfg(test)]
mod overlay_tests {
    use std::path::Path;

    use crate::config::{from_bytes, overlay, FileFormat, ParsedFile, Provisioned, RebootPolicy};
    use crate::schedule::ScheduleSettings;

    /// A fetched Yealink MAC file over the local common file: what it sets wins, what it
    /// leaves out stays; over TOML, only what it sets changes.
    #[test]
    fn fetched_vendor_files_overlay_key_by_key() {
        let local = from_bytes(
            b"#!version:1.0.0.1\nstatic.auto_provision.repeat.enable = 1\nstatic.auto_provision.repeat.minutes = 60\nsip.notify_reboot_enable = 0\n",
            Path::new("y000000000066.cfg"),
        )
        .unwrap();
        let mac = ParsedFile::parse(
            FileFormat::Auto,
            "001565abcdef.cfg",
            b"#!version:1.0.0.1\nstatic.auto_provision.repeat.minutes = 120\naccount.1.auth_name = a\naccount.1.password = p\n",
        )
        .unwrap();
        assert!(matches!(mac, ParsedFile::Vendor(_)));
        let files = [Provisioned {
            name: "001565abcdef.cfg",
            file: &mac,
        }];
        let (eff, warnings) = overlay(&local, &files);
        assert!(warnings.is_empty(), "{warnings:?}");
        let ScheduleSettings::Yealink(y) = &eff.schedule else {
            panic!("{:?}", eff.schedule)
        };
        assert_eq!((y.repeat_enable, y.repeat_minutes), (true, 120));
        assert_eq!(eff.provisioning.reboot_policy, RebootPolicy::IfRequested);
        assert_eq!(eff.sip.auth.credentials[0].auth_id, "a");
        let toml = from_bytes(b"", Path::new("a.toml")).unwrap();
        let (eff, _) = overlay(&toml, &files);
        assert_eq!(
            eff.provisioning.reboot_policy,
            toml.provisioning.reboot_policy
        );
        assert!(matches!(eff.schedule, ScheduleSettings::Yealink(_)));
        // A bad value in a fetched file is a warning naming the file and line.
        let bad = ParsedFile::parse(
            FileFormat::Auto,
            "cfg.xml",
            b"<flat-profile>\n<Resync_Periodic>often</Resync_Periodic>\n</flat-profile>",
        )
        .unwrap();
        let (_, warnings) = overlay(
            &toml,
            &[Provisioned {
                name: "cfg.xml",
                file: &bad,
            }],
        );
        assert!(
            warnings[0]
                .to_string()
                .starts_with("cfg.xml:2: Resync_Periodic: \"often\""),
            "{warnings:?}"
        );
    }
}

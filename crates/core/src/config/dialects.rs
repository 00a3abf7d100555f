//! The Yealink, Polycom, Cisco and Grandstream dialects told apart by their content, read into
//! effective settings with the phone's defaults, and fetched files of these dialects laid over
//! the local settings key by key.

use std::path::Path;
use std::time::Duration;

use super::error::{Found, Lookup};
use super::vendor::{Read, Values, VendorFile};
use super::{
    auth, cisco, grandstream, polycom, yealink, ConfigError, Dialect, RebootPolicy, Settings,
    Warning,
};
use crate::schedule::ScheduleSettings;

/// The dialect a file's content shows, if it is one of these four: the Yealink version line,
/// or the root element of the XML (`<polycomConfig>`, `<PHONE_CONFIG>`, a master file's
/// `<APPLICATION>`, `<flat-profile>`, `<gs_provision>`), or Polycom parameters set as attributes
/// under another root (`<phone1>`).
pub(crate) fn sniff(bytes: &[u8]) -> Option<Dialect> {
    if yealink::looks_like(bytes) {
        return Some(Dialect::Yealink);
    }
    match root_name(bytes)?.as_str() {
        name if polycom::ROOTS.contains(&name) => Some(Dialect::Polycom),
        "flat-profile" => Some(Dialect::Cisco),
        "gs_provision" => Some(Dialect::Grandstream),
        _ if polycom::sets_parameters(bytes) => Some(Dialect::Polycom),
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

impl super::FileFormat {
    /// The format of a fetched file, recognised by its content first and its name second,
    /// as [`from_bytes`](super::from_bytes) recognises a configuration file: the Panasonic
    /// (or PCC) magic first line makes Panasonic, a Snom XML root makes Snom, whatever the
    /// name; other content gets the format its name suggests ([`FileFormat::guess`]).
    pub fn detect(name: &str, bytes: &[u8]) -> super::FileFormat {
        use super::FileFormat;
        // The readers' own recognition, in `from_bytes`'s order: this lives with the dispatch,
        // so the provisioning settings do not depend on the readers.
        if super::panasonic::is_xml(bytes) || super::panasonic::has_magic(bytes) {
            FileFormat::Panasonic
        } else if let Some(dialect) = sniff(bytes) {
            FileFormat::of_dialect(dialect)
        } else if super::snom::looks_like(bytes) || super::snom::looks_like_text(bytes) {
            FileFormat::Snom
        } else {
            FileFormat::guess(name)
        }
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
        // Polycom parameters under any root: the phone reads every element's attributes.
        assert_eq!(
            sniff(b"<phone1001>\n  <reg reg.1.auth.userId=\"1001\"/>\n</phone1001>"),
            Some(Dialect::Polycom)
        );
        assert_eq!(sniff(b"<phone1><x reg=\"1\" a.b=\"2\"/></phone1>"), None);
        assert_eq!(sniff(b"\n#!version:1.0.0.1\n"), Some(Dialect::Yealink));
    }
}

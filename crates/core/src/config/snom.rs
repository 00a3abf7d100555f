//! Snom settings: the XML format (`<settings><phone-settings>…</phone-settings></settings>`,
//! a bare `<phone-settings>`, and the `<setting-files>` list of further files), the older
//! text format (`name: value` lines), and the settings sip-resync takes from them (the
//! provisioning URL `setting_server`, the polling schedule, the lines' credentials,
//! `challenge_checksync`).
//!
//! Each XML setting is an element under `<phone-settings>` whose text is the value, as in
//! Snom's provisioning format; the `perm` attribute (`""`, `"R"`, `"RW"`) is accepted and
//! ignored, and `idx` names the line (`<user_name idx="1">` is read as `user_name[1]`). A
//! text file has one `name: value` per line, the name optionally followed by a permission
//! flag (`!` writable, `&` read-only, `$`), and `#` or `<` starting a comment line (Snom's
//! "Configuring snom phones for Mass Deployment" FAQ, 2004: "Setting files are ASCII-based
//! files containing lines … Comments start with a # or a < character"). Every setting
//! sip-resync does not use is kept and reported as not used. A value the phone would not
//! take (an unknown polling mode, a time of "2:00 AM", an empty number) is a warning, and the
//! phone's default is used, as for a Panasonic file.

use std::path::Path;

use super::error::{Found, Lookup};
use super::provisioning::{FileOrigin, FileSpec};
use super::{auth, ConfigError, Dialect, Settings, Warning};
use crate::schedule::{LocalTime, ScheduleSettings, SnomMode, SnomPolling};

/// Largest number of settings read from one file.
pub(super) const MAX_SETTINGS: usize = 10_000;

/// Most files one `<setting-files>` list names; the rest are ignored with a warning.
pub const MAX_SETTING_FILES: usize = 16;

/// One `<name>value</name>` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Element name.
    pub name: String,
    /// Text content, trimmed.
    pub value: String,
    /// 1-based line of the element.
    pub line: usize,
}

/// A file named by a list of files to fetch next (Snom's `<setting-files>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URL as written, placeholders included; relative to the listing file's URL when
    /// it has no scheme.
    pub url: String,
    /// 1-based line where it is named.
    pub line: usize,
}

/// A Snom document: settings, or a list of settings files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Document {
    /// `<settings>`, `<phone-settings>` or the text format: the settings in document order,
    /// with the warnings reading them gave.
    Settings(Vec<Entry>, Vec<Warning>),
    /// `<setting-files>`: the files the phone fetches next, in order.
    Files(Vec<Link>, Vec<Warning>),
}

use super::text::xml_root;

/// Does this look like a Snom XML settings file (a `<settings>`, `<phone-settings>` or
/// `<setting-files>` root)?
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    matches!(
        xml_root(bytes).as_deref(),
        Some("settings" | "phone-settings" | "setting-files")
    )
}

/// The name part of a text-format line (`name`, `name!`, `name&` or `name$`, then `:`), if
/// the line is a setting.
fn text_setting(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    // Generators indent the lines inside `<html><pre>` (Elastix's 3xx template).
    let name = name.trim();
    let name = name
        .strip_suffix(['!', '&', '$'])
        .unwrap_or(name)
        .trim_end();
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some((name, value.trim()))
}

/// Is this a line the text format skips: empty, or a `#` or `<` comment?
fn text_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('<')
}

/// Does this look like a Snom text settings file: its first line that is not empty and not a
/// comment is `name: value`?
pub(crate) fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    text.lines()
        .find(|l| !text_comment(l))
        .is_some_and(|l| text_setting(l).is_some())
}

/// Parses the settings of a Snom document, in document order; when a name repeats, the last
/// value wins, as the phone applies settings in document order. A `<setting-files>` list
/// has no settings.
#[cfg(any(test, fuzzing))]
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Entry>, ConfigError> {
    parse_with_warnings(bytes, path).map(|(entries, _)| entries)
}

/// [`parse`], with the warnings: each repeated setting, naming both lines.
#[cfg(any(test, fuzzing))]
pub(crate) fn parse_with_warnings(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<Entry>, Vec<Warning>), ConfigError> {
    match parse_document(bytes, path)? {
        Document::Settings(entries, warnings) => Ok((entries, warnings)),
        Document::Files(_, warnings) => Ok((Vec::new(), warnings)),
    }
}

/// Adds a setting in document order: a repeated name takes the new value and line, with a
/// warning naming both lines.
fn push_entry(
    out: &mut Vec<Entry>,
    warnings: &mut Vec<Warning>,
    path: &Path,
    entry: Entry,
) -> Result<(), ConfigError> {
    // The phone applies settings in document order: a repeated one ends with its last value
    // (an Elastix m9 file sets settings_refresh_timer to 0, then to 86400).
    if let Some(earlier) = out.iter_mut().find(|e| e.name == entry.name) {
        warnings.push(Warning::at(
            path,
            entry.line,
            Some(&entry.name),
            format!(
                "repeated; this value replaces the one on line {}, as the phone applies settings in document order",
                earlier.line
            ),
        ));
        earlier.value = entry.value;
        earlier.line = entry.line;
        return Ok(());
    }
    if out.len() == MAX_SETTINGS {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(entry.line),
            key: None,
            message: format!("more than {MAX_SETTINGS} settings"),
        });
    }
    out.push(entry);
    Ok(())
}

/// Parses a Snom document: XML (in the encoding its declaration names) or the text format.
pub(crate) fn parse_document(bytes: &[u8], path: &Path) -> Result<Document, ConfigError> {
    if !looks_like(bytes) && looks_like_text(bytes) {
        return parse_text(bytes, path);
    }
    let invalid =
        |line: Option<usize>, key: Option<String>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            key,
            message,
        };
    let text = super::encoding::decode_xml(bytes, path)?;
    let doc = super::encoding::xml_document(&text, path, 0)?;
    let root = doc.root_element();
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    let mut warnings = Vec::new();
    // Snom's documented layouts: `<settings><phone-settings>…</phone-settings></settings>`,
    // a bare `<phone-settings>` root, which the phones read too (Snom's XML provisioning
    // documentation shows both), and the `<setting-files>` list of further files.
    let sections: Vec<roxmltree::Node> = match root.tag_name().name() {
        "settings" => root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "phone-settings")
            .collect(),
        "phone-settings" => vec![root],
        "setting-files" => {
            let mut links = Vec::new();
            for el in root
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "file")
            {
                let line = line_of(el);
                match el.attribute("url").map(str::trim) {
                    Some(url) if !url.is_empty() => {
                        if links.len() == MAX_SETTING_FILES {
                            warnings.push(Warning::at(
                                path,
                                line,
                                None,
                                format!("more than {MAX_SETTING_FILES} files listed: this one and the rest are not fetched"),
                            ));
                            break;
                        }
                        links.push(Link {
                            url: url.to_owned(),
                            line,
                        });
                    }
                    _ => warnings.push(Warning::at(
                        path,
                        line,
                        None,
                        "<file> without a url attribute: ignored".into(),
                    )),
                }
            }
            return Ok(Document::Files(links, warnings));
        }
        other => {
            return Err(invalid(
                Some(line_of(root)),
                None,
                format!("the root element must be <settings>, <phone-settings> or <setting-files>, not <{other}>"),
            ))
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    for section in sections {
        for el in section.children().filter(|n| n.is_element()) {
            let name = el.tag_name().name();
            let name = match el.attribute("idx") {
                Some(idx) => format!("{name}[{idx}]"),
                None => name.to_owned(),
            };
            let value = el.text().unwrap_or_default().trim().to_owned();
            let line = line_of(el);
            push_entry(&mut out, &mut warnings, path, Entry { value, line, name })?;
        }
    }
    Ok(Document::Settings(out, warnings))
}

/// Parses the text format: `name: value` lines, `#` and `<` comment lines.
fn parse_text(bytes: &[u8], path: &Path) -> Result<Document, ConfigError> {
    let text = std::str::from_utf8(bytes)
        .map(std::borrow::Cow::Borrowed)
        // The text format predates UTF-8 on the phones: a file that is not UTF-8 is read as
        // ISO-8859-1, every byte one character.
        .unwrap_or_else(|_| {
            std::borrow::Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
        });
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if text_comment(line) {
            continue;
        }
        match text_setting(line) {
            Some((name, value)) => push_entry(
                &mut out,
                &mut warnings,
                path,
                Entry {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    line: line_no,
                },
            )?,
            None => warnings.push(Warning::at(
                path,
                line_no,
                None,
                format!(
                    "not a \"name: value\" setting of Snom's text format, ignored: \"{}\"",
                    crate::escape::excerpt(line.as_bytes())
                ),
            )),
        }
    }
    Ok(Document::Settings(out, warnings))
}

/// Snom keys sip-resync interprets.
pub(super) const SNOM_KEYS: &[&str] = &[
    "prov_polling_enabled",
    "prov_polling_mode",
    "prov_polling_period",
    "prov_polling_time",
    "prov_polling_time_rand_end",
    "settings_refresh_timer",
];

/// Snom settings the phone acts on that sip-resync does not carry out, each with what
/// happens instead: `check` warns about them with their line.
pub(super) const SNOM_ACTED_ON: &[(&str, &str)] = &[
    ("update_policy", "the phone's choice to ask before applying or to never apply settings; sip-resync applies every valid set"),
    ("firmware_status", "the phone's firmware update list; firmware is the embedding application's"),
    ("firmware", "a firmware URL; firmware is the embedding application's"),
    ("firmware_interval", "the phone's firmware check interval; firmware is the embedding application's"),
    ("dhcp_66_setting_server", "DHCP option 66 choosing the settings server; sip-resync uses setting_server as written"),
];

/// Keys of a Snom file that the reader uses, for "did you mean".
pub(super) const SNOM_KNOWN: &[&str] = &[
    "prov_polling_enabled",
    "prov_polling_mode",
    "prov_polling_period",
    "prov_polling_time",
    "prov_polling_time_rand_end",
    "settings_refresh_timer",
    "setting_server",
    "challenge_checksync",
];

/// `setting_server` as a URL template: Snom's `{mac}` is the MAC in upper case, as Snom
/// phones write it (`000413xxxxxx`, "The phone automatically replaces the MAC address with its
/// own mac address before using the URL": Snom's mass deployment FAQ), so it becomes our
/// `{MAC}`; `{model}` becomes `{MODEL}`.
fn snom_url(value: &str) -> String {
    value
        .replace("{mac}", "{MAC}")
        .replace("{model}", "{MODEL}")
}

/// The files a `setting_server` URL names: the URL itself, or, for a directory (a URL
/// ending in `/`, as Wazo's provd writes its root `http://HOST:8667/`), the model's file and
/// then the phone's own in it, `snom{MODEL}.htm` and `snom{MODEL}-{MAC}.htm`: the names
/// Snom phones ask a directory for (Wazo's Snom plugin serves exactly these two and finds
/// the phone's MAC in the second, `_PATH_REGEX` `snom\w+-([\dA-F]{12})\.htm`). The phone's
/// file comes second, so its settings win.
fn setting_server_files(url: &str) -> Vec<String> {
    if url.ends_with('/') {
        vec![
            format!("{url}snom{{MODEL}}.htm"),
            format!("{url}snom{{MODEL}}-{{MAC}}.htm"),
        ]
    } else {
        vec![url.to_owned()]
    }
}

/// The settings of a `<setting-files>` list given as the configuration: no settings, and
/// the listed files as the provisioning files, in order (a URL without a scheme is relative
/// to the list's directory, as a `file://` path).
pub(super) fn from_setting_files(links: &[Link], warnings: Vec<Warning>, path: &Path) -> Settings {
    let mut settings = Settings::new(Dialect::Snom, path);
    settings.warnings = warnings;
    for link in links {
        let mut url = snom_url(&link.url);
        if !url.contains("://") {
            url = format!("file://{url}");
        }
        match crate::naming::check_url_template(&url) {
            Ok(()) => settings.provisioning.files.push(FileSpec {
                name: None,
                url,
                format: None,
                origin: Some(FileOrigin {
                    key: "setting-files".into(),
                    line: Some(link.line),
                }),
            }),
            Err(m) => settings.warnings.push(Warning::at(
                path,
                link.line,
                None,
                format!("{m}; this file is not fetched"),
            )),
        }
    }
    settings
}

pub(super) fn from_snom(
    entries: &[Entry],
    path: &Path,
    dialect: Dialect,
) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(dialect, path);
    settings.lines = entries.iter().map(|e| (e.name.clone(), e.line)).collect();
    settings.vendor_entries = entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    settings.unused = entries
        .iter()
        .filter(|e| {
            !SNOM_KEYS.contains(&e.name.as_str())
                && !auth::is_snom_auth_key(&e.name)
                && e.name != "setting_server"
        })
        .map(|e| e.name.clone())
        .collect();
    let get = |k: &str| entries.iter().find(|e| e.name == k);
    settings.sip.auth.credentials = auth::snom_credentials(|k| get(k).map(|e| e.value.as_str()));
    if let Some(e) = get("challenge_checksync") {
        match auth::snom_challenge(&e.value) {
            Ok(on) => settings.sip.auth.challenge = on,
            Err(m) => settings.warnings.push(Warning::at(
                path,
                e.line,
                Some(&e.name),
                format!("{m}; the phone's default, off, is used"),
            )),
        }
    }
    if let Some(e) = get("setting_server").filter(|e| !e.value.is_empty()) {
        let url = snom_url(&e.value);
        match crate::naming::check_url_template(&url) {
            Ok(()) => {
                for url in setting_server_files(&url) {
                    settings.provisioning.files.push(FileSpec {
                        name: None,
                        url,
                        format: None,
                        origin: Some(FileOrigin {
                            key: e.name.clone(),
                            line: Some(e.line),
                        }),
                    });
                }
            }
            Err(m) => settings.warnings.push(Warning::at(
                path,
                e.line,
                Some(&e.name),
                format!("{m}; nothing is fetched from it"),
            )),
        }
    }
    for (key, what) in SNOM_ACTED_ON {
        if let Some(e) = get(key).filter(|e| super::text::acts(&e.value)) {
            settings.warnings.push(Warning::at(
                path,
                e.line,
                Some(&e.name),
                format!("not carried out by sip-resync: {what}"),
            ));
        }
    }
    let (schedule, warnings) = snom_schedule(&|k| Found::in_snom(entries, path, k));
    settings.warnings.extend(warnings);
    if let Some(schedule) = schedule {
        settings.schedule = schedule;
    }
    Ok(settings)
}

impl<'a> Found<'a> {
    pub(super) fn in_snom(entries: &'a [Entry], path: &'a Path, key: &str) -> Option<Found<'a>> {
        entries.iter().find(|e| e.name == key).map(|e| Found {
            value: &e.value,
            path,
            line: Some(e.line),
        })
    }

    /// A warning at this setting: the value is not used and `default` is.
    fn defaulted(&self, key: &str, problem: &str, default: &str) -> Warning {
        Warning {
            path: self.path.to_owned(),
            line: self.line,
            key: Some(key.to_owned()),
            message: format!(
                "\"{}\" {problem}; the phone's default, {default}, is used",
                crate::escape::excerpt(self.value.as_bytes())
            ),
        }
    }
}

/// The Snom polling schedule the settings `get` finds describe; `None` when it finds no
/// polling setting at all. A value the phone would not take is a warning, and the phone's
/// default is used in its place.
pub(super) fn snom_schedule(get: &Lookup<'_, '_>) -> (Option<ScheduleSettings>, Vec<Warning>) {
    if !SNOM_KEYS.iter().any(|k| get(k).is_some()) {
        return (None, Vec::new());
    }
    let mut warnings = Vec::new();
    let mut number = |k: &str, default: u64| -> u64 {
        match get(k) {
            None => default,
            Some(e) => match e.value.trim().parse() {
                Ok(n) => n,
                Err(_) => {
                    warnings.push(e.defaulted(
                        k,
                        "is not a whole number of seconds",
                        &default.to_string(),
                    ));
                    default
                }
            },
        }
    };
    let period_secs = number("prov_polling_period", 86_400);
    let settings_refresh_timer_secs = number("settings_refresh_timer", 0);
    let mut time = |k: &str| -> Option<LocalTime> {
        let e = get(k)?;
        if e.value.trim().is_empty() {
            return None;
        }
        match e.value.trim().parse() {
            Ok(t) => Some(t),
            Err(_) => {
                warnings.push(e.defaulted(k, "is not a time HH:MM (00:00 to 23:59)", "none"));
                None
            }
        }
    };
    let time_at = time("prov_polling_time");
    let time_rand_end = time("prov_polling_time_rand_end");
    let enabled = match get("prov_polling_enabled") {
        None => false,
        Some(e) => match e.value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => {
                warnings.push(e.defaulted("prov_polling_enabled", "is not on or off", "off"));
                false
            }
        },
    };
    let mode = match get("prov_polling_mode") {
        None => SnomMode::Rel,
        Some(e) => e.value.trim().parse().unwrap_or_else(|_| {
            warnings.push(e.defaulted("prov_polling_mode", "is not rel, abs or random", "rel"));
            SnomMode::Rel
        }),
    };
    (
        Some(ScheduleSettings::Snom(SnomPolling {
            enabled,
            mode,
            period_secs,
            time: time_at,
            time_rand_end,
            settings_refresh_timer_secs,
        })),
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;

    #[test]
    fn reads_phone_settings_with_perm_and_idx() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<settings>
  <phone-settings e="2">
    <prov_polling_enabled perm="RW">on</prov_polling_enabled>
    <prov_polling_mode perm="">abs</prov_polling_mode>
    <user_name idx="1" perm="">1001</user_name>
    <prov_polling_mode perm="">rel</prov_polling_mode>
  </phone-settings>
</settings>"#;
        let e = parse(xml, Path::new("snom.xml")).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].name.as_str(), e[0].value.as_str(), e[0].line),
            ("prov_polling_enabled", "on", 4)
        );
        // The phone applies settings in document order: the last occurrence wins (issue 24;
        // the first one won before), in the place of the first.
        assert_eq!((e[1].value.as_str(), e[1].line), ("rel", 7));
        assert_eq!(e[2].name, "user_name[1]");
        assert!(looks_like(xml));
    }

    /// An Elastix m9 file sets `settings_refresh_timer` to 0 and later to 86400: the phone
    /// polls daily, and `check` warns naming both lines (issue 24, point 7).
    #[test]
    fn a_repeated_setting_ends_with_its_last_value_and_a_warning_naming_both_lines() {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings>\n<settings_refresh_timer perm=\"\">0</settings_refresh_timer>\n<language perm=\"\">English</language>\n<settings_refresh_timer perm=\"\">86400</settings_refresh_timer>\n</phone-settings>\n</settings>\n";
        let s = from_bytes(xml, Path::new("m9.xml")).unwrap();
        assert_ne!(s.schedule, ScheduleSettings::Off, "polls daily");
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w[0].starts_with(
                "m9.xml:6: settings_refresh_timer: repeated; this value replaces the one on line 4"
            ),
            "{w:?}"
        );
        assert_eq!(s.line_of("settings_refresh_timer"), Some(6));
    }

    #[test]
    fn errors_are_located() {
        let e = parse(
            b"<settings>\n<phone-settings>\n<a>1</b>\n</settings>",
            Path::new("s.xml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("s.xml:3: not well-formed XML"),
            "{e}"
        );
        let e = parse(
            b"<settings>\n<phone-settings>\n<a>\xff</a>",
            Path::new("s.xml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s.xml:3: not UTF-8 text (first bad byte at offset 31)"),
            "{e}"
        );
        let e = parse(b"<config/>", Path::new("s.xml")).unwrap_err();
        assert!(
            e.to_string()
                .contains("root element must be <settings>, <phone-settings> or <setting-files>"),
            "{e}"
        );
    }

    /// Snom's bare `<phone-settings>` root is read like `<settings><phone-settings>`, and a
    /// Snom XML file named `.cfg` (FusionPBX's PA1 template) is read as Snom XML: the content
    /// decides before the extension (issue 24).
    #[test]
    fn a_phone_settings_root_and_a_snom_file_named_cfg_are_snom() {
        let bare = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<phone-settings>\n<prov_polling_enabled perm=\"\">on</prov_polling_enabled>\n<prov_polling_mode perm=\"\">rel</prov_polling_mode>\n<prov_polling_period perm=\"\">3600</prov_polling_period>\n</phone-settings>\n";
        let entries = parse(bare, Path::new("snom.xml")).unwrap();
        assert_eq!(entries[0].name, "prov_polling_enabled");
        assert_eq!(entries[0].line, 3);
        for name in ["snom.xml", "snompa1.cfg"] {
            let s = from_bytes(bare, Path::new(name)).unwrap();
            assert_eq!(s.dialect, Dialect::Snom, "{name}");
            assert_ne!(s.schedule, crate::schedule::ScheduleSettings::Off, "{name}");
        }
        // A `.cfg` file that is neither still gets the Panasonic reader's message.
        let e = from_bytes(b"KEY=1\n", Path::new("x.cfg")).unwrap_err();
        assert!(e.to_string().contains("the first line must contain"), "{e}");
    }

    #[test]
    fn snom_polling_keys() {
        let s = from_bytes(
            b"<settings>\n<phone-settings>\n<prov_polling_enabled perm=\"\">on</prov_polling_enabled>\n<prov_polling_mode perm=\"\">abs</prov_polling_mode>\n<prov_polling_time perm=\"\">09:00</prov_polling_time>\n<language perm=\"\">English</language>\n</phone-settings>\n</settings>\n",
            Path::new("snom.xml"),
        )
        .unwrap();
        assert_eq!(s.dialect, Dialect::Snom);
        let ScheduleSettings::Snom(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.enabled);
        assert_eq!(p.mode, SnomMode::Abs);
        assert_eq!(p.time, Some("09:00".parse().unwrap()));
        assert_eq!(s.unused, vec!["language"]);
        // A value the phone would not take is a warning with the phone's default, as for a
        // Panasonic file: template generators leave exactly these when a variable is unset.
        let s = from_bytes(
            b"<settings>\n<phone-settings>\n<prov_polling_time>2:00 AM</prov_polling_time>\n<prov_polling_mode></prov_polling_mode>\n<prov_polling_period></prov_polling_period>\n<prov_polling_enabled>yes please</prov_polling_enabled>\n</phone-settings>\n</settings>",
            Path::new("snom.xml"),
        )
        .unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "snom.xml:3: prov_polling_time: \"2:00 AM\" is not a time HH:MM (00:00 to 23:59); the phone's default, none, is used",
                "snom.xml:4: prov_polling_mode: \"\" is not rel, abs or random; the phone's default, rel, is used",
                "snom.xml:5: prov_polling_period: \"\" is not a whole number of seconds; the phone's default, 86400, is used",
                "snom.xml:6: prov_polling_enabled: \"yes please\" is not on or off; the phone's default, off, is used",
            ]
        );
        let ScheduleSettings::Snom(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(!p.enabled);
        assert_eq!(
            (p.mode, p.period_secs, p.time),
            (SnomMode::Rel, 86_400, None)
        );
    }

    /// FusionPBX's Snom templates name the settings server in `setting_server`: it is the
    /// file the phone fetches, at start-up, on check-sync and on schedule (issue 24, point 1).
    /// Snom's `{mac}` is the MAC in upper case.
    #[test]
    fn setting_server_is_the_provisioning_file() {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<settings>\n<phone-settings e=\"2\">\n<setting_server perm=\"RW\">https://pbx.example.com/app/provision/index.php?mac={mac}</setting_server>\n</phone-settings>\n</settings>\n";
        let s = from_bytes(xml, Path::new("snom.xml")).unwrap();
        let files = &s.provisioning.files;
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].url,
            "https://pbx.example.com/app/provision/index.php?mac={MAC}"
        );
        assert_eq!(files[0].format, None, "recognised by content when fetched");
        assert_eq!(
            files[0].origin.as_ref().unwrap().to_string(),
            "setting_server, line 4"
        );
        assert!(s.unused.is_empty(), "{:?}", s.unused);
        // A value that is no URL is a warning; nothing is fetched.
        let xml = b"<settings><phone-settings>\n<setting_server>pbx.example.com/snom</setting_server>\n</phone-settings></settings>";
        let s = from_bytes(xml, Path::new("snom.xml")).unwrap();
        assert!(s.provisioning.files.is_empty());
        assert!(
            s.warnings[0]
                .to_string()
                .starts_with("snom.xml:2: setting_server: "),
            "{:?}",
            s.warnings
        );
    }

    /// Wazo's Gigaset/older Snom templates declare ISO-8859-1: the file is transcoded, not
    /// refused as "not UTF-8" (issue 24, point 10).
    #[test]
    fn a_declared_latin1_encoding_is_transcoded() {
        let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<settings>\n<phone-settings>\n<user_realname idx=\"1\" perm=\"\">J\xfcrgen M\xfcller</user_realname>\n<prov_polling_enabled perm=\"\">on</prov_polling_enabled>\n</phone-settings>\n</settings>\n";
        let (entries, _) = parse_with_warnings(xml, Path::new("snom.xml")).unwrap();
        assert_eq!(entries[0].value, "Jürgen Müller");
        assert_eq!(entries[1].line, 5);
    }

    /// Snom's text format (`name: value`, flags `!`, `&`, `$`, `#` and `<` comments) is read
    /// as Snom settings (issue 24, point 12).
    #[test]
    fn the_text_format_is_read() {
        let text = b"<html>\n<pre>\n# settings of snom360-000413230DE4\nsetting_server$: http://10.0.0.1/snom/{mac}.htm\nprov_polling_enabled!: on\nprov_polling_mode&: rel\nprov_polling_period: 3600\nuser_name1: 1001\nuser_pass1: pw\nnot a setting\n</pre>\n</html>\n";
        assert!(looks_like_text(text));
        assert!(!looks_like(text));
        let s = from_bytes(text, Path::new("snom360.htm")).unwrap();
        assert_eq!(s.dialect, Dialect::SnomText);
        assert_eq!(
            s.provisioning.files[0].url,
            "http://10.0.0.1/snom/{MAC}.htm"
        );
        let ScheduleSettings::Snom(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.enabled);
        assert_eq!((p.mode, p.period_secs), (SnomMode::Rel, 3600));
        assert_eq!(s.sip.auth.credentials[0].auth_id, "1001");
        assert_eq!(
            s.warnings[0].to_string(),
            "snom360.htm:10: not a \"name: value\" setting of Snom's text format, ignored: \"not a setting\""
        );
        // TOML is not mistaken for it.
        assert!(!looks_like_text(
            b"[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n"
        ));
        assert!(!looks_like_text(b"# comment\nkey = \"a:b\"\n"));
    }

    /// A `<setting-files>` document lists the files the phone fetches next, within a bound.
    #[test]
    fn setting_files_lists_further_files() {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n<setting-files>\n");
        for i in 0..20 {
            xml.push_str(&format!("<file url=\"http://h/f{i}.xml\"/>\n"));
        }
        xml.push_str("</setting-files>\n");
        let Document::Files(links, warnings) =
            parse_document(xml.as_bytes(), Path::new("l.xml")).unwrap()
        else {
            panic!("not a list")
        };
        assert_eq!(links.len(), MAX_SETTING_FILES);
        assert_eq!(
            (links[0].url.as_str(), links[0].line),
            ("http://h/f0.xml", 3)
        );
        assert!(
            warnings[0]
                .to_string()
                .starts_with("l.xml:19: more than 16 files listed"),
            "{warnings:?}"
        );
    }
}

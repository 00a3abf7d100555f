//! Snom XML settings (`<settings><phone-settings>…</phone-settings></settings>`): the XML
//! reader, and the settings sip-resync takes from it (the polling schedule, the lines'
//! credentials, `challenge_checksync`).
//!
//! Each setting is an element under `<phone-settings>` whose text is the value, as in Snom's
//! provisioning format; the `perm` attribute (`""`, `"R"`, `"RW"`) is accepted and ignored,
//! as is `idx` on indexed settings. Every element sip-resync does not use is kept and
//! reported as not used.

use std::path::Path;

use super::error::{not_utf8, Found, Lookup};
use super::{auth, ConfigError, Dialect, Settings, Warning};
use crate::schedule::{LocalTime, ScheduleSettings, SnomMode, SnomPolling};

/// Largest number of settings read from one file.
pub(super) const MAX_SETTINGS: usize = 10_000;

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

/// Does this look like a Snom XML settings file?
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with("<?xml") || t.starts_with("<settings") || t.starts_with("<phone-settings")
}

/// Parses the `<phone-settings>` of a Snom settings document, in document order; when a name
/// repeats, the last value wins, as the phone applies settings in document order.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Entry>, ConfigError> {
    parse_with_warnings(bytes, path).map(|(entries, _)| entries)
}

/// [`parse`], with a warning for each repeated setting naming both lines.
pub(crate) fn parse_with_warnings(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<Entry>, Vec<Warning>), ConfigError> {
    let invalid =
        |line: Option<usize>, key: Option<String>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            key,
            message,
        };
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, &e))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        invalid(
            Some(pos.row as usize),
            None,
            format!("not well-formed XML: {e}"),
        )
    })?;
    let root = doc.root_element();
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    // Snom's documented layouts: `<settings><phone-settings>…</phone-settings></settings>`,
    // and a bare `<phone-settings>` root, which the phones read too (Snom's XML provisioning
    // documentation shows both).
    let sections: Vec<roxmltree::Node> = match root.tag_name().name() {
        "settings" => root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "phone-settings")
            .collect(),
        "phone-settings" => vec![root],
        other => {
            return Err(invalid(
                Some(line_of(root)),
                None,
                format!("the root element must be <settings> or <phone-settings>, not <{other}>"),
            ))
        }
    };
    let mut out: Vec<Entry> = Vec::new();
    let mut warnings = Vec::new();
    for section in sections {
        for el in section.children().filter(|n| n.is_element()) {
            if out.len() == MAX_SETTINGS {
                return Err(invalid(
                    Some(line_of(el)),
                    None,
                    format!("more than {MAX_SETTINGS} settings"),
                ));
            }
            let name = el.tag_name().name();
            let name = match el.attribute("idx") {
                Some(idx) => format!("{name}[{idx}]"),
                None => name.to_owned(),
            };
            let value = el.text().unwrap_or_default().trim().to_owned();
            let line = line_of(el);
            // The phone applies settings in document order: a repeated one ends with its last
            // value (an Elastix m9 file sets settings_refresh_timer to 0, then to 86400).
            if let Some(earlier) = out.iter_mut().find(|e| e.name == name) {
                warnings.push(Warning::at(
                    path,
                    line,
                    Some(&name),
                    format!(
                        "repeated; this value replaces the one on line {}, as the phone applies settings in document order",
                        earlier.line
                    ),
                ));
                earlier.value = value;
                earlier.line = line;
                continue;
            }
            out.push(Entry { value, line, name });
        }
    }
    Ok((out, warnings))
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

pub(super) fn from_snom(entries: &[Entry], path: &Path) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(Dialect::Snom, path);
    settings.lines = entries.iter().map(|e| (e.name.clone(), e.line)).collect();
    settings.vendor_entries = entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    settings.unused = entries
        .iter()
        .filter(|e| !SNOM_KEYS.contains(&e.name.as_str()) && !auth::is_snom_auth_key(&e.name))
        .map(|e| e.name.clone())
        .collect();
    let get = |k: &str| entries.iter().find(|e| e.name == k);
    let invalid = |e: &Entry, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(e.line),
        key: Some(e.name.clone()),
        message,
    };
    settings.sip.auth.credentials = auth::snom_credentials(|k| get(k).map(|e| e.value.as_str()));
    if let Some(e) = get("challenge_checksync") {
        settings.sip.auth.challenge =
            auth::snom_challenge(&e.value).map_err(|m| invalid(e, m.to_string()))?;
    }
    if let Some(schedule) = snom_schedule(&|k| Found::in_snom(entries, path, k))? {
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
}

/// The Snom polling schedule the settings `get` finds describe; `None` when it finds no
/// polling setting at all.
pub(super) fn snom_schedule(get: &Lookup<'_, '_>) -> Result<Option<ScheduleSettings>, ConfigError> {
    if !SNOM_KEYS.iter().any(|k| get(k).is_some()) {
        return Ok(None);
    }
    let number = |k: &str, default: u64| -> Result<u64, ConfigError> {
        match get(k) {
            None => Ok(default),
            Some(e) if e.value.is_empty() => Ok(default),
            Some(e) => e
                .value
                .parse()
                .map_err(|_| e.invalid(k, "must be a whole number of seconds".into())),
        }
    };
    let time = |k: &str| -> Result<Option<LocalTime>, ConfigError> {
        match get(k) {
            None => Ok(None),
            Some(e) if e.value.is_empty() => Ok(None),
            Some(e) => e
                .value
                .parse()
                .map(Some)
                .map_err(|err| e.invalid(k, format!("{err} (expected HH:MM, 00:00 to 23:59)"))),
        }
    };
    let enabled = match get("prov_polling_enabled") {
        None => false,
        Some(e) => match e.value.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" | "" => false,
            _ => return Err(e.invalid("prov_polling_enabled", "must be on or off".into())),
        },
    };
    let mode = match get("prov_polling_mode") {
        None => SnomMode::Rel,
        Some(e) => e
            .value
            .parse()
            .map_err(|_| e.invalid("prov_polling_mode", "must be rel, abs or random".into()))?,
    };
    Ok(Some(ScheduleSettings::Snom(SnomPolling {
        enabled,
        mode,
        period_secs: number("prov_polling_period", 86_400)?,
        time: time("prov_polling_time")?,
        time_rand_end: time("prov_polling_time_rand_end")?,
        settings_refresh_timer_secs: number("settings_refresh_timer", 0)?,
    })))
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
                .contains("root element must be <settings> or <phone-settings>"),
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
        let e = from_bytes(
            b"<settings>\n<phone-settings>\n<prov_polling_time>25:00</prov_polling_time>\n</phone-settings>\n</settings>",
            Path::new("snom.xml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("snom.xml:3: prov_polling_time: "),
            "{e}"
        );
    }
}

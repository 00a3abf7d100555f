//! Panasonic "SIP Phone Standard Format File" (`.cfg`): the byte parser, and the settings
//! sip-resync takes from a parsed file (the accepted event, the polling schedule, the files to
//! fetch, the lines' credentials).
//!
//! The rules, from Panasonic's provisioning manual:
//! * the first line must contain `# Panasonic SIP Phone Standard Format File #` (KX-TGP500 and
//!   KX-TGP550 files: `# PCC Standard Format File #`), otherwise the whole file is discarded;
//! * each setting is `NAME="value"` with no spaces around `=`;
//! * `#` starts a comment line; empty lines are ignored;
//! * lines end in CR LF (a bare LF, or a bare CR as old Mac editors write, is accepted here
//!   too);
//! * a line longer than 537 bytes, its line end included as the manuals count it, is ignored
//!   (with a warning);
//! * when a name appears twice, the first occurrence wins;
//! * a value that spans lines (an unclosed quote) is an error that rejects the file, as
//!   the manuals say; any other line the unit cannot read (no `=`, a bad name, a value not
//!   in straight double quotes) is ignored with a warning, and the rest is used.
//!
//! The XML format of the KX-UTG and KX-UT670 units (`<PANASipPhoneConfig>`, Panasonic
//! KX-UTG200/300 administrator guide, section 2.4.1, and KX-UT670 guide, section 2.4.4.1) is
//! read too: every element without child elements is a setting named by its tag (the groups
//! around them, `<Initial>`, `<CfgFiles>`, `<Device>`…, only group), its text the value;
//! `perm` is accepted and ignored; "if the same parameter is specified in a same
//! configuration file more than once, the last setting is effective" (KX-UTG guide, p. 44).
//! The KX-UT670's files start with the magic comment line, then the XML.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{Found, Lookup};
use super::{auth, ConfigError, Dialect, FileFormat, FileSpec, Settings, Warning};
use crate::escape::excerpt;
use crate::schedule::{PanasonicPolling, ScheduleSettings};

/// The text the first line must contain.
pub(super) const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #";

/// The first line of KX-TGP500/KX-TGP550 files (FusionPBX's and Wazo's templates for them).
pub(super) const PCC_MAGIC: &str = "# PCC Standard Format File #";

/// Longest line Panasonic units accept, in bytes, its line end (CR LF) included: "the
/// maximum length of a line is 537 bytes including CR LF" (Panasonic administrator guides,
/// KX-UTG200/300 p. 44; shared research, vendors.md).
pub(super) const MAX_LINE_BYTES: usize = 537;

/// The lines of a file with the length of each one's line end: CR LF, LF or a bare CR end a
/// line; the last line may have none.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, end) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], 2),
            Some(i) => (&rest[..i], 1),
            None => (rest, 0),
        };
        rest = &rest[line.len() + end..];
        Some((line, end))
    })
}

/// One `NAME="value"` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Setting name.
    pub name: String,
    /// Value, without the quotes.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A parsed Panasonic file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanasonicFile {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// Settings in file order; a name appears at most once (the first occurrence).
    pub entries: Vec<Entry>,
    /// Ignored lines and repeated names.
    pub warnings: Vec<Warning>,
}

impl PanasonicFile {
    /// The value of setting `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// How many lines `bytes` has as this reader numbers them (at least one): the highest line
/// number an entry, warning or error of the file can name.
#[cfg(any(test, fuzzing))]
pub(crate) fn line_count(bytes: &[u8]) -> usize {
    lines(bytes).count().max(1)
}

/// Does `bytes` start with a Panasonic magic line?
pub(super) fn has_magic(bytes: &[u8]) -> bool {
    let first = lines(bytes).next().map_or(&[][..], |(l, _)| l);
    let first = String::from_utf8_lossy(first);
    first.contains(MAGIC) || first.contains(PCC_MAGIC)
}

/// Is this a Panasonic XML configuration: a `<PANASipPhoneConfig>` root, after the magic
/// comment line where there is one (KX-UT670)?
pub(super) fn is_xml(bytes: &[u8]) -> bool {
    xml_body(bytes).is_some()
}

/// The XML of a Panasonic XML file (after the magic line, if any), and the number of lines
/// before it.
fn xml_body(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let (body, skipped) = if has_magic(bytes) {
        let (first, end) = lines(bytes).next()?;
        (&bytes[first.len() + end..], 1)
    } else {
        (bytes, 0)
    };
    let root = super::text::xml_root(body)?;
    root.eq_ignore_ascii_case("PANASipPhoneConfig")
        .then_some((body, skipped))
}

/// Parses a Panasonic XML configuration file into the settings of a standard format file.
pub(crate) fn parse_xml(bytes: &[u8], path: &Path) -> Result<PanasonicFile, ConfigError> {
    let invalid = |line: Option<usize>, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        key: None,
        message,
    };
    let Some((body, skipped)) = xml_body(bytes) else {
        return Err(invalid(
            Some(1),
            "the root element must be <PANASipPhoneConfig>".into(),
        ));
    };
    let text = super::encoding::decode_xml(body, path)?;
    let doc = super::encoding::xml_document(&text, path, skipped)?;
    let line_of =
        |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize + skipped;
    let mut file = PanasonicFile {
        path: path.to_owned(),
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    // Two layouts exist: a setting per leaf element, its tag the name and its text the
    // value (`<CFG_CYCLIC perm="R">Y</CFG_CYCLIC>`, the KX-UTG guide), with a line's settings
    // grouped under `<Line idx="n">` without the `_n` suffix; and a setting per attribute,
    // its name upper case (`<CyclicEnable CFG_CYCLIC="Y"/>`, FusionPBX's KX-UT1xx XML).
    let mut found: Vec<Entry> = Vec::new();
    for el in doc.root_element().descendants().filter(|n| n.is_element()) {
        let line = line_of(el);
        let attributes: Vec<Entry> = el
            .attributes()
            .filter(|a| is_setting_name(a.name()))
            .map(|a| Entry {
                name: a.name().to_owned(),
                value: a.value().trim().to_owned(),
                line,
            })
            .collect();
        let leaf = !el.children().any(|c| c.is_element());
        if !attributes.is_empty() {
            found.extend(attributes);
        } else if leaf && el != doc.root_element() && is_setting_name(el.tag_name().name()) {
            let tag = el.tag_name().name();
            let name = match line_group(el) {
                Some(n) if !tag.ends_with(&format!("_{n}")) => format!("{tag}_{n}"),
                _ => tag.to_owned(),
            };
            found.push(Entry {
                name,
                value: el.text().unwrap_or_default().trim().to_owned(),
                line,
            });
        }
    }
    for entry in found {
        if file.entries.len() == super::snom::MAX_SETTINGS {
            return Err(invalid(
                Some(entry.line),
                format!("more than {} settings", super::snom::MAX_SETTINGS),
            ));
        }
        if let Some(earlier) = file.entries.iter_mut().find(|e| e.name == entry.name) {
            file.warnings.push(Warning::at(
                path,
                entry.line,
                Some(&entry.name),
                format!(
                    "repeated; this value replaces the one on line {}, as the last setting is effective in a Panasonic XML file",
                    earlier.line
                ),
            ));
            earlier.value = entry.value;
            earlier.line = entry.line;
            continue;
        }
        file.entries.push(entry);
    }
    Ok(file)
}

/// A Panasonic setting name: upper-case letters, digits and `_`, with a letter and at least
/// two characters (`ID` of `<Line ID="1">` is an attribute of the group, not a setting).
fn is_setting_name(name: &str) -> bool {
    name.len() > 2
        && name.bytes().any(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The line number of the `<Line idx="n">` (or `ID="n"`) group around an element, if any.
fn line_group(el: roxmltree::Node) -> Option<u32> {
    el.ancestors()
        .find(|a| a.is_element() && a.tag_name().name().eq_ignore_ascii_case("Line"))
        .and_then(|a| a.attribute("idx").or_else(|| a.attribute("ID")))
        .and_then(|n| n.trim().parse().ok())
}

/// Parses a Panasonic configuration file.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<PanasonicFile, ConfigError> {
    if !has_magic(bytes) {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(1),
            key: None,
            message: format!(
                "the first line must contain \"{MAGIC}\"; the whole file is discarded"
            ),
        });
    }
    let mut file = PanasonicFile {
        path: path.to_owned(),
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    // Line of each name's first occurrence. Looking names up in `entries` instead made a
    // file of n distinct names cost n²/2 comparisons: seconds for a few hundred KiB.
    let mut first_lines: HashMap<String, usize> = HashMap::new();
    for (i, (line, end)) in lines(bytes).enumerate().skip(1) {
        let line_no = i + 1;
        // Counted as the manuals count it: with its CR LF (a shorter line end counts as CR LF
        // would, so the same file is read alike whatever its line ends).
        if line.len() + end.max(2) > MAX_LINE_BYTES {
            file.warnings.push(Warning::at(
                path,
                line_no,
                None,
                format!(
                    "line is {} bytes with its CR LF, longer than {MAX_LINE_BYTES}: ignored",
                    line.len() + 2
                ),
            ));
            continue;
        }
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        let invalid = |key: Option<String>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(line_no),
            key,
            message,
        };
        // A line the unit cannot read is ignored, and the rest of the file is used (SARK's
        // KX-HDV template opens values with a typographic quote, and the phones it
        // provisions work); only a value spanning lines rejects the file, as the manuals
        // say ("It will cause an error on the configuration file, resulting in invalid
        // provisioning", KX-HDV100 administrator guide p. 49).
        let mut ignored = |key: Option<&str>, message: String| {
            file.warnings.push(Warning::at(
                path,
                line_no,
                key,
                format!("{message}; the line is ignored"),
            ));
        };
        let Ok(text) = std::str::from_utf8(line) else {
            ignored(None, "line is not UTF-8".into());
            continue;
        };
        let Some((name, value)) = text.split_once('=') else {
            ignored(
                None,
                format!("expected NAME=\"value\", found \"{}\"", excerpt(line)),
            );
            continue;
        };
        let name_ok =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            ignored(
                None,
                format!(
                    "\"{}\" is not a setting name (no spaces around '=')",
                    excerpt(name.as_bytes())
                ),
            );
            continue;
        }
        let value = match value.strip_prefix('"') {
            Some(rest) => match rest.find('"') {
                Some(end) if rest[end + 1..].trim().is_empty() => &rest[..end],
                Some(_) => {
                    ignored(Some(name), "text after the closing quote".into());
                    continue;
                }
                None => {
                    return Err(invalid(
                        Some(name.into()),
                        "value has no closing quote (a value may not span lines)".into(),
                    ));
                }
            },
            None => {
                ignored(Some(name), "value must be in double quotes".into());
                continue;
            }
        };
        if let Some(&first_line) = first_lines.get(name) {
            file.warnings.push(Warning::at(
                path,
                line_no,
                Some(name),
                format!("repeated; the value on line {first_line} is kept"),
            ));
            continue;
        }
        first_lines.insert(name.to_owned(), line_no);
        file.entries.push(Entry {
            name: name.to_owned(),
            value: value.to_owned(),
            line: line_no,
        });
    }
    Ok(file)
}

/// Panasonic keys sip-resync interprets.
pub(super) const PANASONIC_KEYS: &[&str] = &[
    "CFG_RESYNC_FROM_SIP",
    "CFG_CYCLIC",
    "CFG_CYCLIC_INTVL",
    "CFG_RTRY_INTVL",
    "CFG_RESYNC_TIME",
    "CFG_MASTER_FILE_PATH",
    "CFG_PRODUCT_FILE_PATH",
    "CFG_STANDARD_FILE_PATH",
    "CFG_ROOT_CERTIFICATE_PATH",
    "CFG_ROOT_CERTIFICATE_PATH1",
    "CFG_ROOT_CERTIFICATE_PATH2",
    "CFG_ROOT_CERTIFICATE_PATH3",
    // The KX-UTG's key of OpenSSL-encrypted files, read by `crypt`.
    "CFG_FILE_KEY",
];

/// Panasonic settings the phone acts on that sip-resync does not carry out, each with what
/// happens instead: `check` warns about them with their line.
pub(super) const PANASONIC_ACTED_ON: &[(&str, &str)] = &[
    ("FIRM_UPGRADE_ENABLE", "firmware upgrades are the embedding application's"),
    ("FIRM_FILE_PATH", "firmware upgrades are the embedding application's"),
    ("FIRM_VERSION", "firmware upgrades are the embedding application's"),
    ("CFG_FILE_KEY1", "encrypted .e1c/.e2c/.e3c files: Panasonic's algorithm is not published, so such files are stored as fetched, not read"),
    ("CFG_FILE_KEY2", "encrypted .e1c/.e2c/.e3c files: Panasonic's algorithm is not published, so such files are stored as fetched, not read"),
    ("CFG_FILE_KEY3", "encrypted .e1c/.e2c/.e3c files: Panasonic's algorithm is not published, so such files are stored as fetched, not read"),
    ("CFG_CLIENT_CERT_PATH", "the client certificate for HTTPS provisioning: set [provisioning] client_certificate and client_key"),
    ("CFG_PKEY_PATH", "the client key for HTTPS provisioning: set [provisioning] client_certificate and client_key"),
    ("OPTION66_ENABLE", "DHCP option 66 choosing the provisioning server; sip-resync fetches the CFG_*_FILE_PATH URLs as written"),
    ("SIPPNP_PROV_ENABLE", "SIP plug and play at boot; sip-resync fetches the CFG_*_FILE_PATH URLs as written"),
];

/// Panasonic keys that set the polling schedule.
pub(super) const PANASONIC_SCHEDULE_KEYS: &[&str] = &[
    "CFG_CYCLIC",
    "CFG_CYCLIC_INTVL",
    "CFG_RTRY_INTVL",
    "CFG_RESYNC_TIME",
];

/// Panasonic file-path keys, in fetch order, with the local name of each file.
const PANASONIC_FILES: &[(&str, &str)] = &[
    ("CFG_MASTER_FILE_PATH", "master.cfg"),
    ("CFG_PRODUCT_FILE_PATH", "product.cfg"),
    ("CFG_STANDARD_FILE_PATH", "standard.cfg"),
];

/// Polling defaults used when a Panasonic file leaves a key out: no cyclic polling, a week
/// as the cyclic interval, 30 minutes between retries, no daily time.
pub(crate) const PANASONIC_DEFAULTS: (bool, u32, u32) = (false, 10_080, 30);

pub(super) fn from_panasonic(file: &PanasonicFile) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(Dialect::Panasonic, &file.path);
    settings.warnings = file.warnings.clone();
    settings.lines = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.line))
        .collect();
    settings.unused = file
        .entries
        .iter()
        .filter(|e| {
            !PANASONIC_KEYS.contains(&e.name.as_str()) && !auth::is_panasonic_line_key(&e.name)
        })
        .map(|e| e.name.clone())
        .collect();
    settings.vendor_entries = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    for (key, name) in PANASONIC_FILES {
        let Some(e) = file.get(key) else { continue };
        let url = e.value.trim();
        if url.is_empty() {
            continue;
        }
        // A URL the unit cannot use makes that one download fail, not the file: a warning,
        // and the other files are still fetched (the KX-UTG guide's own example writes
        // `http:/prov.com/Config{MODEL}.cfg`, p. 44).
        if let Err(m) = crate::naming::check_url_template(url) {
            settings.warnings.push(Warning::at(
                &file.path,
                e.line,
                Some(&e.name),
                format!("{m}; this file is not fetched"),
            ));
            continue;
        }
        settings.provisioning.files.push(FileSpec {
            name: Some((*name).to_owned()),
            url: url.to_owned(),
            format: Some(FileFormat::Panasonic),
            origin: Some(super::provisioning::FileOrigin {
                key: e.name.clone(),
                line: Some(e.line),
            }),
        });
    }
    for (key, what) in PANASONIC_ACTED_ON {
        if let Some(e) = file.get(key).filter(|e| super::text::acts(&e.value)) {
            settings.warnings.push(Warning::at(
                &file.path,
                e.line,
                Some(&e.name),
                format!("not carried out by sip-resync: {what}"),
            ));
        }
    }
    let (ca_files, warnings) = panasonic_ca_files(file, &settings.provisioning.base_dir);
    settings.provisioning.ca_files = ca_files;
    settings.warnings.extend(warnings);
    settings.sip.auth.credentials =
        auth::panasonic_credentials(|k| file.get(k).map(|e| e.value.as_str()));
    let (schedule, warnings) = panasonic_schedule(&|k| Found::in_panasonic(file, k));
    settings.schedule = schedule;
    settings.warnings.extend(warnings);
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

impl<'a> Found<'a> {
    pub(super) fn in_panasonic(file: &'a PanasonicFile, key: &str) -> Option<Found<'a>> {
        file.get(key).map(|e| Found {
            value: &e.value,
            path: &file.path,
            line: Some(e.line),
        })
    }
}

/// The Panasonic polling schedule the settings `get` finds describe (defaults for the keys
/// it does not find). A value the unit would not take is a warning, and its default is used,
/// as the unit keeps its default for a setting it cannot read.
pub(super) fn panasonic_schedule(get: &Lookup<'_, '_>) -> (ScheduleSettings, Vec<Warning>) {
    let (mut cyclic, mut cyclic_interval_min, mut retry_interval_min) = PANASONIC_DEFAULTS;
    let mut warnings = Vec::new();
    let mut defaulted = |e: &Found<'_>, key: &str, problem: &str, default: String| {
        warnings.push(Warning {
            path: e.path.to_owned(),
            line: e.line,
            key: Some(key.to_owned()),
            message: format!(
                "\"{}\" {problem}; the unit's default, {default}, is used",
                excerpt(e.value.as_bytes())
            ),
        })
    };
    if let Some(e) = get("CFG_CYCLIC") {
        match e.value.trim() {
            v if v.eq_ignore_ascii_case("Y") => cyclic = true,
            v if v.eq_ignore_ascii_case("N") => cyclic = false,
            _ => defaulted(&e, "CFG_CYCLIC", "is not \"Y\" or \"N\"", "N".into()),
        }
    }
    for (key, slot) in [
        ("CFG_CYCLIC_INTVL", &mut cyclic_interval_min),
        ("CFG_RTRY_INTVL", &mut retry_interval_min),
    ] {
        if let Some(e) = get(key) {
            match e.value.trim().parse() {
                Ok(n) => *slot = n,
                Err(_) => defaulted(
                    &e,
                    key,
                    "is not a whole number of minutes",
                    slot.to_string(),
                ),
            }
        }
    }
    (
        ScheduleSettings::Panasonic(PanasonicPolling {
            cyclic,
            cyclic_interval_min,
            retry_interval_min,
            resync_time: get("CFG_RESYNC_TIME").map(|e| e.value.to_owned()),
        }),
        warnings,
    )
}

/// Panasonic settings naming extra trusted CAs (`CFG_ROOT_CERTIFICATE_PATH`, the one root
/// certificate of the KX-UT and KX-TGP files FusionPBX writes, and `CFG_ROOT_CERTIFICATE_PATH1` to `3`).
pub const PANASONIC_CA_KEYS: [&str; 4] = [
    "CFG_ROOT_CERTIFICATE_PATH",
    "CFG_ROOT_CERTIFICATE_PATH1",
    "CFG_ROOT_CERTIFICATE_PATH2",
    "CFG_ROOT_CERTIFICATE_PATH3",
];

/// The CA files a Panasonic file names in `CFG_ROOT_CERTIFICATE_PATH1` to `3`: a local path
/// (or `file://` URL) relative to the file's directory is taken (the agent reads and checks
/// it when it loads the configuration); a URL of another scheme is not fetched, with a
/// warning.
fn panasonic_ca_files(file: &PanasonicFile, base_dir: &Path) -> (Vec<PathBuf>, Vec<Warning>) {
    let (mut files, mut warnings) = (Vec::new(), Vec::new());
    for key in PANASONIC_CA_KEYS {
        let Some(e) = file.get(key) else { continue };
        let value = e.value.trim();
        let path = match value.split_once("://") {
            _ if value.is_empty() => continue,
            Some((scheme, path)) if scheme.eq_ignore_ascii_case("file") => path,
            Some(_) => {
                warnings.push(Warning::at(
                    &file.path,
                    e.line,
                    Some(key),
                    "a URL: sip-resync does not download certificates, so this one is ignored; \
                     give the path of a local PEM file instead"
                        .into(),
                ));
                continue;
            }
            None => value,
        };
        files.push(base_dir.join(path));
    }
    (files, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;

    fn p(s: &str) -> Result<PanasonicFile, ConfigError> {
        parse(s.as_bytes(), Path::new("kx.cfg"))
    }

    #[test]
    fn reads_settings_first_wins_comments_and_crlf() {
        let f = p("# Panasonic SIP Phone Standard Format File # DO NOT CHANGE THIS LINE!\r\n\r\n# comment\r\nCFG_RESYNC_FROM_SIP=\"resync\"\r\nCFG_CYCLIC=\"Y\"\nCFG_RESYNC_FROM_SIP=\"other\"\r\n")
            .unwrap();
        assert_eq!(f.get("CFG_RESYNC_FROM_SIP").unwrap().value, "resync");
        assert_eq!(f.get("CFG_RESYNC_FROM_SIP").unwrap().line, 4);
        assert_eq!(f.get("CFG_CYCLIC").unwrap().value, "Y");
        assert_eq!(f.warnings.len(), 1);
        assert!(
            f.warnings[0].to_string().contains("kx.cfg:6"),
            "{}",
            f.warnings[0]
        );
    }

    #[test]
    fn many_distinct_names_parse_in_linear_time() {
        // About 1 MiB, the largest file `load` reads: 87,000 names. Looked up linearly
        // this took 15.5 s in a release build; with the index, 55 ms, and well under a second
        // even unoptimised. The bound is loose so that a loaded machine does not fail it.
        let mut text = format!("{MAGIC}\r\n");
        for i in 0..87_000 {
            text.push_str(&format!("K{i:07}=\"\"\n"));
        }
        let started = std::time::Instant::now();
        let f = p(&text).unwrap();
        assert_eq!(f.entries.len(), 87_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn magic_line_is_mandatory() {
        let e = p("CFG_CYCLIC=\"Y\"\r\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("kx.cfg:1") && text.contains(MAGIC), "{text}");
    }

    #[test]
    fn long_lines_ignored_and_errors_located() {
        let long = format!("{MAGIC}\r\nX=\"{}\"\r\nY=\"1\"\r\n", "a".repeat(600));
        let f = p(&long).unwrap();
        assert!(f.get("X").is_none());
        assert_eq!(f.get("Y").unwrap().value, "1");
        assert_eq!(f.warnings.len(), 1);
        let e = p(&format!(
            "{MAGIC}\r\nA=\"1\"\r\nCFG_X=\"multi\r\nline\"\r\n"
        ))
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("kx.cfg:3") && text.contains("CFG_X"),
            "{text}"
        );
        // Any other unreadable line is ignored with a warning; the rest is read.
        let f = p(&format!(
            "{MAGIC}\r\nCFG_X = \"1\"\r\nSIP_RGSTR_PORT_1=\u{201c}5060\"\r\nY=\"2\"\r\n"
        ))
        .unwrap();
        assert_eq!(f.get("Y").unwrap().value, "2");
        let w: Vec<String> = f.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "kx.cfg:2: \"CFG_X \" is not a setting name (no spaces around '='); the line is ignored",
                "kx.cfg:3: SIP_RGSTR_PORT_1: value must be in double quotes; the line is ignored"
            ]
        );
    }

    /// A line of 537 bytes with its CR LF is read, one of 538 ignored: the manuals count the
    /// line end ("537 bytes including CR LF"). Issue 24 found the limit counted without it.
    #[test]
    fn the_line_limit_counts_the_cr_lf() {
        let line = |len: usize| format!("X=\"{}\"", "a".repeat(len - 4));
        let at_limit = format!("{MAGIC}\r\n{}\r\n", line(535));
        assert_eq!(at_limit.lines().nth(1).unwrap().len() + 2, 537);
        assert!(p(&at_limit).unwrap().get("X").is_some());
        let over = format!("{MAGIC}\r\n{}\r\n", line(536));
        let f = p(&over).unwrap();
        assert!(f.get("X").is_none());
        assert!(
            f.warnings[0]
                .to_string()
                .contains("538 bytes with its CR LF"),
            "{:?}",
            f.warnings
        );
        // The same line ended by a bare LF is counted alike.
        let lf = format!("{MAGIC}\n{}\n", line(536));
        assert!(p(&lf).unwrap().get("X").is_none());
    }

    /// A file saved with CR line ends (old Mac editors) is read line by line, not as one line
    /// that ends up empty (issue 24).
    #[test]
    fn cr_only_line_ends_are_line_ends() {
        let f = p(&format!(
            "{MAGIC}\rCFG_CYCLIC=\"Y\"\r# comment\rCFG_CYCLIC_INTVL=\"30\"\r"
        ))
        .unwrap();
        assert_eq!(f.get("CFG_CYCLIC").unwrap().value, "Y");
        assert_eq!(f.get("CFG_CYCLIC_INTVL").unwrap().line, 4);
        let mixed = p(&format!("{MAGIC}\r\nA=\"1\"\rB=\"2\"\nC=\"3\"")).unwrap();
        let got: Vec<_> = mixed
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.line))
            .collect();
        assert_eq!(got, [("A", 2), ("B", 3), ("C", 4)]);
    }

    /// KX-TGP500/550 files begin `# PCC Standard Format File # DO NOT CHANGE THIS LINE!`
    /// (FusionPBX's and Wazo's templates for these models); they were refused (issue 24).
    #[test]
    fn the_pcc_magic_line_is_a_panasonic_file() {
        let text = "# PCC Standard Format File # DO NOT CHANGE THIS LINE!\r\nCFG_RESYNC_FROM_SIP=\"check-sync\"\r\n";
        assert!(has_magic(text.as_bytes()));
        let s = from_bytes(text.as_bytes(), Path::new("kx-tgp550.cfg")).unwrap();
        assert_eq!(s.sip.events, ["check-sync"]);
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

    #[test]
    fn panasonic_polling_keys() {
        let s = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC=\"Y\"\r\nCFG_CYCLIC_INTVL=\"60\"\r\nCFG_RESYNC_TIME=\"02:00\"\r\nSIP_RGSTR_ADDR_1=\"pbx\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        let ScheduleSettings::Panasonic(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.cyclic);
        assert_eq!(p.cyclic_interval_min, 60);
        assert_eq!(p.retry_interval_min, PANASONIC_DEFAULTS.2);
        assert_eq!(p.resync_time.as_deref(), Some("02:00"));
        assert_eq!(s.unused, vec!["SIP_RGSTR_ADDR_1"]);
        assert_eq!(s.line_of("CFG_RESYNC_TIME"), Some(4));
        // A value the unit would not take is a warning; its default stands (issue 24).
        let s = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC=\"maybe\"\r\nCFG_CYCLIC_INTVL=\"\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "kx.cfg:2: CFG_CYCLIC: \"maybe\" is not \"Y\" or \"N\"; the unit's default, N, is used",
                "kx.cfg:3: CFG_CYCLIC_INTVL: \"\" is not a whole number of minutes; the unit's default, 10080, is used"
            ]
        );
    }

    /// The KX-UTG XML format (administrator guide, section 2.4.1): settings are the leaf
    /// elements under the groups, the last occurrence wins; the KX-UT670 puts the magic line
    /// first (issue 24, point 12).
    #[test]
    fn panasonic_xml_is_read() {
        let xml = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<PANASIPPhoneConfig>\n<Initial>\n<CfgFiles>\n<CFG_STANDARD_FILE_PATH>http://prov.example.com/Config{MAC}.cfg</CFG_STANDARD_FILE_PATH>\n</CfgFiles>\n</Initial>\n<Device>\n<Prov>\n<CFG_CYCLIC perm=\"R\">Y</CFG_CYCLIC>\n<CFG_CYCLIC_INTVL>60</CFG_CYCLIC_INTVL>\n<CFG_CYCLIC_INTVL>120</CFG_CYCLIC_INTVL>\n</Prov>\n</Device>\n</PANASIPPhoneConfig>\n";
        let s = crate::config::from_bytes(xml, Path::new("utg.xml")).unwrap();
        assert_eq!(s.dialect, Dialect::PanasonicXml);
        assert_eq!(
            s.provisioning.files[0].url,
            "http://prov.example.com/Config{MAC}.cfg"
        );
        assert_eq!(
            s.provisioning.files[0].origin.as_ref().unwrap().to_string(),
            "CFG_STANDARD_FILE_PATH, line 5"
        );
        let ScheduleSettings::Panasonic(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.cyclic);
        assert_eq!(p.cyclic_interval_min, 120);
        assert!(
            s.warnings[0].to_string().starts_with(
                "utg.xml:12: CFG_CYCLIC_INTVL: repeated; this value replaces the one on line 11"
            ),
            "{:?}",
            s.warnings
        );
        let mut ut670 = b"# Panasonic SIP Phone Standard Format File #\r\n".to_vec();
        ut670.extend_from_slice(xml);
        let s = crate::config::from_bytes(&ut670, Path::new("ut670.cfg")).unwrap();
        assert_eq!(s.dialect, Dialect::PanasonicXml);
        assert_eq!(s.line_of("CFG_CYCLIC"), Some(11));
    }

    /// A URL the unit cannot use fails that one download, not the file: the KX-UTG
    /// administrator guide's own example (p. 44) writes `http:/prov.com/Config{MODEL}.cfg`.
    #[test]
    fn an_unusable_file_url_is_a_warning_and_the_others_are_fetched() {
        let s = crate::config::from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_PRODUCT_FILE_PATH=\"http:/prov.com/Config{MODEL}.cfg\"\r\nCFG_MASTER_FILE_PATH=\"http://prov.com/ConfigCom.cfg\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        let urls: Vec<&str> = s
            .provisioning
            .files
            .iter()
            .map(|f| f.url.as_str())
            .collect();
        assert_eq!(urls, ["http://prov.com/ConfigCom.cfg"]);
        let w = s.warnings[0].to_string();
        assert!(
            w.starts_with("kx.cfg:2: CFG_PRODUCT_FILE_PATH: ")
                && w.ends_with("; this file is not fetched"),
            "{w}"
        );
    }
}

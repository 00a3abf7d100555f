//! Panasonic "SIP Phone Standard Format File" (`.cfg`) reader.
//!
//! The rules, from Panasonic's provisioning manual:
//! * the first line must contain `# Panasonic SIP Phone Standard Format File #`, otherwise
//!   the whole file is discarded;
//! * each setting is `NAME="value"` with no spaces around `=`;
//! * `#` starts a comment line; empty lines are ignored;
//! * lines end in CR LF (a bare LF is accepted here too);
//! * a line longer than 537 bytes is ignored (with a warning);
//! * when a name appears twice, the first occurrence wins;
//! * a value that spans lines (an unclosed quote) is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{ConfigError, Warning};
use crate::sip::escape::excerpt;

/// The text the first line must contain.
pub(super) const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #";

/// Longest line Panasonic units accept, in bytes (line end excluded).
pub(super) const MAX_LINE_BYTES: usize = 537;

/// One `NAME="value"` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Setting name.
    pub name: String,
    /// Value, without the quotes.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A parsed Panasonic file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PanasonicFile {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// Settings in file order; a name appears at most once (the first occurrence).
    pub entries: Vec<Entry>,
    /// Ignored lines and repeated names.
    pub warnings: Vec<Warning>,
}

impl PanasonicFile {
    /// The value of setting `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Does `bytes` start with the Panasonic magic line?
pub(super) fn has_magic(bytes: &[u8]) -> bool {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(first).contains(MAGIC)
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
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate().skip(1) {
        let line_no = i + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.len() > MAX_LINE_BYTES {
            file.warnings.push(Warning::at(
                path,
                line_no,
                None,
                format!(
                    "line is {} bytes, longer than {MAX_LINE_BYTES}: ignored",
                    line.len()
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
        let text =
            std::str::from_utf8(line).map_err(|_| invalid(None, "line is not UTF-8".into()))?;
        let Some((name, value)) = text.split_once('=') else {
            return Err(invalid(
                None,
                format!("expected NAME=\"value\", found \"{}\"", excerpt(line)),
            ));
        };
        let name_ok =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(invalid(
                None,
                format!(
                    "\"{}\" is not a setting name (no spaces around '=')",
                    excerpt(name.as_bytes())
                ),
            ));
        }
        let value = match value.strip_prefix('"') {
            Some(rest) => match rest.find('"') {
                Some(end) if rest[end + 1..].trim().is_empty() => &rest[..end],
                Some(_) => {
                    return Err(invalid(
                        Some(name.into()),
                        "text after the closing quote".into(),
                    ));
                }
                None => {
                    return Err(invalid(
                        Some(name.into()),
                        "value has no closing quote (a value may not span lines)".into(),
                    ));
                }
            },
            None => {
                return Err(invalid(
                    Some(name.into()),
                    "value must be in double quotes".into(),
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = p(&format!("{MAGIC}\r\nCFG_X = \"1\"\r\n")).unwrap_err();
        assert!(e.to_string().contains("kx.cfg:2"), "{e}");
    }
}

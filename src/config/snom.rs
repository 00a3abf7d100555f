//! Snom XML settings (`<settings><phone-settings>…</phone-settings></settings>`).
//!
//! Each setting is an element under `<phone-settings>` whose text is the value, as in Snom's
//! provisioning format; the `perm` attribute (`""`, `"R"`, `"RW"`) is accepted and ignored,
//! as is `idx` on indexed settings. Only the polling settings are interpreted here; every
//! other element is kept and reported as not used.

use std::path::Path;

use super::ConfigError;

/// Largest number of settings read from one file.
pub(super) const MAX_SETTINGS: usize = 10_000;

/// One `<name>value</name>` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
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
    t.starts_with("<?xml") || t.starts_with("<settings")
}

/// Parses the `<phone-settings>` of a Snom settings document, in document order; when a name
/// repeats (without `idx`), the first wins, as for Panasonic files.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Entry>, ConfigError> {
    let invalid =
        |line: Option<usize>, key: Option<String>, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            key,
            message,
        };
    let text = std::str::from_utf8(bytes).map_err(|e| super::not_utf8(path, bytes, &e))?;
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
    if root.tag_name().name() != "settings" {
        return Err(invalid(
            Some(line_of(root)),
            None,
            format!(
                "the root element must be <settings>, not <{}>",
                root.tag_name().name()
            ),
        ));
    }
    let mut out: Vec<Entry> = Vec::new();
    for section in root.children().filter(|n| n.is_element()) {
        if section.tag_name().name() != "phone-settings" {
            continue;
        }
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
            if out.iter().any(|e| e.name == name) {
                continue;
            }
            out.push(Entry {
                value: el.text().unwrap_or_default().trim().to_owned(),
                line: line_of(el),
                name,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(e[1].value, "abs", "the first occurrence wins");
        assert_eq!(e[2].name, "user_name[1]");
        assert!(looks_like(xml));
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
            e.to_string().contains("root element must be <settings>"),
            "{e}"
        );
    }
}

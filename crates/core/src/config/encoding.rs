//! Text encodings of vendor XML files: the encoding an XML declaration names is decoded, so
//! a Snom file that declares `encoding="ISO-8859-1"` (as the Gigaset and older Snom
//! templates of Wazo's provd plugins do) is read as the phone reads it.
//!
//! Read: UTF-8 (with or without a byte order mark, and when no encoding is declared),
//! US-ASCII, ISO-8859-1, ISO-8859-15 and windows-1252. Any other declared encoding is refused
//! with a message naming it.

use std::borrow::Cow;
use std::path::Path;

use super::error::not_utf8;
use super::ConfigError;

/// The encoding named in an XML declaration (`<?xml version="1.0" encoding="…"?>`) at the
/// start of `bytes`, if any.
pub(super) fn declared(bytes: &[u8]) -> Option<&str> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = bytes[start..].strip_prefix(b"<?xml")?;
    let end = rest.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&rest[..end]).ok()?;
    let at = decl.find("encoding")?;
    let value = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let value = value.trim_start();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &value[1..];
    value.find(quote).map(|end| &value[..end])
}

/// The text of an XML file, decoded from the encoding its declaration names; a UTF-8 byte
/// order mark is removed.
pub(super) fn decode_xml<'a>(bytes: &'a [u8], path: &Path) -> Result<Cow<'a, str>, ConfigError> {
    let label = declared(bytes).map(str::to_ascii_lowercase);
    let table: Option<&[char; 32]> = match label.as_deref() {
        None | Some("utf-8" | "utf8") => None,
        Some("us-ascii" | "ascii" | "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1") => {
            Some(&LATIN1_HIGH_CONTROLS)
        }
        Some("windows-1252" | "cp1252") => Some(&WINDOWS_1252),
        Some("iso-8859-15" | "iso8859-15" | "latin-9" | "latin9") => {
            return Ok(Cow::Owned(bytes.iter().map(|&b| latin9(b)).collect()))
        }
        Some(other) => {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line: Some(1),
                key: None,
                message: format!(
                    "the XML declaration names the encoding \"{}\", which sip-resync does not read (it reads UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15 and windows-1252)",
                    crate::escape::excerpt(other.as_bytes())
                ),
            })
        }
    };
    match table {
        None => {
            let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, &e))?;
            Ok(Cow::Borrowed(text.strip_prefix('\u{feff}').unwrap_or(text)))
        }
        Some(high) => Ok(Cow::Owned(
            bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9f => high[usize::from(b - 0x80)],
                    _ => char::from(b),
                })
                .collect(),
        )),
    }
}

/// Parses decoded XML text; a syntax error names the file and the line (`lines_before`
/// counts lines that came before `text` in the file, such as a KX-UT670's magic line).
pub(super) fn xml_document<'t>(
    text: &'t str,
    path: &Path,
    lines_before: usize,
) -> Result<roxmltree::Document<'t>, ConfigError> {
    roxmltree::Document::parse(text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(e.pos().row as usize + lines_before),
        key: None,
        message: format!("not well-formed XML: {e}"),
    })
}

/// ISO-8859-1 maps 0x80 to 0x9F to the C1 controls.
const LATIN1_HIGH_CONTROLS: [char; 32] = {
    let mut t = ['\0'; 32];
    let mut i = 0;
    while i < 32 {
        t[i] = match char::from_u32(0x80 + i as u32) {
            Some(c) => c,
            None => '\u{fffd}',
        };
        i += 1;
    }
    t
};

/// windows-1252 0x80 to 0x9F (the WHATWG Encoding Standard's index; the five unassigned
/// bytes map to their C1 controls, as the standard does).
const WINDOWS_1252: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// ISO-8859-15: ISO-8859-1 with eight positions replaced (the euro sign among them).
fn latin9(b: u8) -> char {
    match b {
        0xa4 => '\u{20ac}',
        0xa6 => '\u{160}',
        0xa8 => '\u{161}',
        0xb4 => '\u{17d}',
        0xb8 => '\u{17e}',
        0xbc => '\u{152}',
        0xbd => '\u{153}',
        0xbe => '\u{178}',
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_encoding_is_found() {
        assert_eq!(
            declared(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<settings/>"),
            Some("ISO-8859-1")
        );
        assert_eq!(
            declared(b"\xef\xbb\xbf <?xml version='1.0' encoding = 'utf-8' ?><a/>"),
            Some("utf-8")
        );
        assert_eq!(declared(b"<?xml version=\"1.0\"?><a/>"), None);
        assert_eq!(declared(b"<settings/>"), None);
    }

    #[test]
    fn latin_encodings_are_decoded() {
        let path = Path::new("s.xml");
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>M\xfcller \xa4</a>";
        assert!(decode_xml(latin1, path).unwrap().contains("Müller ¤"));
        let latin9 = b"<?xml version=\"1.0\" encoding=\"iso-8859-15\"?><a>\xa4</a>";
        assert!(decode_xml(latin9, path).unwrap().contains("<a>€</a>"));
        let cp1252 = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?><a>\x80\x96</a>";
        assert!(decode_xml(cp1252, path).unwrap().contains("<a>€–</a>"));
        let bom = b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\xc3\xa9</a>";
        assert!(decode_xml(bom, path).unwrap().starts_with("<?xml"));
        // Declared UTF-8 (or nothing) must be UTF-8.
        let e = decode_xml(b"<a>\xe9</a>", path).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        let e = decode_xml(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>", path).unwrap_err();
        assert!(
            e.to_string()
                .contains("names the encoding \"utf-16\", which sip-resync does not read"),
            "{e}"
        );
    }
}

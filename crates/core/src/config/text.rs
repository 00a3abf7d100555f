//! Small helpers the vendor readers share: the root element of an XML document, and whether
//! a setting's value makes the phone act. Kept apart so that no reader depends on another.

/// The name of the root element of an XML document (after the declaration, comments and a
/// document type), if `bytes` starts like XML.
pub(super) fn xml_root(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let mut rest = head;
    loop {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        rest = &rest[start..];
        if !rest.starts_with(b"<") {
            return None;
        }
        let skip_to = |rest: &[u8], end: &[u8]| -> Option<usize> {
            rest.windows(end.len())
                .position(|w| w == end)
                .map(|i| i + end.len())
        };
        if rest.starts_with(b"<?") {
            rest = &rest[skip_to(rest, b"?>")?..];
        } else if rest.starts_with(b"<!--") {
            rest = &rest[skip_to(rest, b"-->")?..];
        } else if rest.starts_with(b"<!") {
            rest = &rest[skip_to(rest, b">")?..];
        } else {
            let name: Vec<u8> = rest[1..]
                .iter()
                .copied()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
                .collect();
            let starts_a_name = name
                .first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
            return starts_a_name.then(|| String::from_utf8_lossy(&name).into_owned());
        }
    }
}

/// Whether a setting's value makes the phone act: not empty, and not one of the values
/// that mean "off" or "as usual" (`N`, `off`, `0`, Snom's `auto_update`).
pub(super) fn acts(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty()
        || ["n", "no", "off", "0", "false", "auto_update"]
            .iter()
            .any(|x| v.eq_ignore_ascii_case(x)))
}

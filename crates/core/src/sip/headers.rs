//! Header-section normalisation (RFC 3261 §7.3).
//!
//! Real senders and RFC 3261 allow more than one header per line, a long name and
//! `Name: value` spacing, and all of it must be accepted:
//!
//! * compact names (§7.3.3 and the RFCs that added more: `o` Event and `u` Allow-Events from
//!   RFC 6665, `r` Refer-To from RFC 3515, …),
//! * any letter case in a header name (§7.3.1: names are case-insensitive),
//! * whitespace between the name and the colon (§7.3.1 `HCOLON = *( SP / HTAB ) ":" SWS`),
//! * folded values: a line that starts with SP or HTAB continues the previous one (§7.3.1).
//!
//! [`parse_header_section`] turns the raw section into [`HeaderField`]s with canonical names
//! and unfolded, trimmed values, enforcing the [`Limits`]. A field borrows the received bytes;
//! only a folded value (or one that is not UTF-8) is copied, so a message already in long
//! form is read without being rewritten.

use std::borrow::Cow;

use super::limits::Limits;
use crate::escape::excerpt;

/// A header name: the ones this crate acts on are recognised; other well-known names carry
/// their canonical spelling; anything else is [`Name::Unknown`] (its spelling as sent is
/// [`HeaderField::wire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Name {
    /// `Via` / `v`
    Via,
    /// `From` / `f`
    From,
    /// `To` / `t`
    To,
    /// `Call-ID` / `i`
    CallId,
    /// `CSeq`
    CSeq,
    /// `Content-Length` / `l`
    ContentLength,
    /// `Event` / `o`
    Event,
    /// `Require`
    Require,
    /// `Authorization`
    Authorization,
    /// Another header RFC 3261 or its extensions define, by its canonical spelling.
    Other(&'static str),
    /// A header this crate does not know.
    Unknown,
}

/// Compact forms (RFC 3261 §7.3.3, RFC 6665 §8.2.1, RFC 3515, RFC 3892, RFC 3841, RFC 4028,
/// RFC 4474) and the long names they stand for.
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Long names recognised whatever case they arrive in, with their canonical spelling; the
/// ones every request carries first, as they are looked up in order.
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Content-Length",
    "Event",
    "Max-Forwards",
    "Subscription-State",
    "Contact",
    "User-Agent",
    "Content-Type",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-Info",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Date",
    "Error-Info",
    "Expires",
    "In-Reply-To",
    "MIME-Version",
    "Min-Expires",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Record-Route",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Supported",
    "Timestamp",
    "Unsupported",
    "Warning",
    "WWW-Authenticate",
];

impl Name {
    /// Maps a received name (long or compact, any case) to its canonical [`Name`].
    pub(crate) fn from_wire(raw: &str) -> Name {
        let long: &'static str = if raw.len() == 1 {
            let c = raw.as_bytes()[0].to_ascii_lowercase();
            match COMPACT.iter().find(|(k, _)| *k == c) {
                Some((_, long)) => long,
                None => return Name::Unknown,
            }
        } else {
            match CANONICAL.iter().find(|n| n.eq_ignore_ascii_case(raw)) {
                Some(n) => n,
                None => return Name::Unknown,
            }
        };
        match long {
            "Via" => Name::Via,
            "From" => Name::From,
            "To" => Name::To,
            "Call-ID" => Name::CallId,
            "CSeq" => Name::CSeq,
            "Content-Length" => Name::ContentLength,
            "Event" => Name::Event,
            "Require" => Name::Require,
            "Authorization" => Name::Authorization,
            other => Name::Other(other),
        }
    }

    /// The canonical spelling; `None` for [`Name::Unknown`].
    #[cfg(test)]
    pub(crate) fn canonical(self) -> Option<&'static str> {
        Some(match self {
            Name::Via => "Via",
            Name::From => "From",
            Name::To => "To",
            Name::CallId => "Call-ID",
            Name::CSeq => "CSeq",
            Name::ContentLength => "Content-Length",
            Name::Event => "Event",
            Name::Require => "Require",
            Name::Authorization => "Authorization",
            Name::Other(s) => s,
            Name::Unknown => return None,
        })
    }
}

/// Header fields of one message: inline for the usual count, so that reading a message does
/// not allocate.
pub(crate) type Fields<'a> = smallvec::SmallVec<[HeaderField<'a>; INLINE_FIELDS]>;

/// Header fields kept inline before [`Fields`] spills to the heap (a NOTIFY from a PBX has
/// about ten).
pub(crate) const INLINE_FIELDS: usize = 24;

/// One header field after normalisation, borrowing the received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderField<'a> {
    /// Canonical name.
    pub name: Name,
    /// The name as sent.
    pub wire: &'a str,
    /// Value with folding undone (each fold becomes one SP) and surrounding whitespace
    /// removed. Borrowed from the message unless it was folded or not UTF-8.
    pub value: Cow<'a, str>,
}

impl HeaderField<'_> {
    /// The canonical name, or the name as sent for an unknown header.
    #[cfg(test)]
    pub(crate) fn name_str(&self) -> &str {
        self.name.canonical().unwrap_or(self.wire)
    }
}

/// Why a header section could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HeaderError {
    /// More header fields than [`Limits::max_headers`].
    #[error("more than {0} header fields")]
    TooMany(usize),
    /// A line, or a header after unfolding, longer than [`Limits::max_line_bytes`].
    #[error("a header line is longer than {0} bytes")]
    LineTooLong(usize),
    /// A line that is neither `name: value` nor a continuation.
    #[error("malformed header line \"{0}\"")]
    Malformed(String),
    /// A continuation line before any header.
    #[error("continuation line before the first header")]
    LeadingContinuation,
    /// A header value that is not UTF-8.
    #[error("header {0} is not UTF-8")]
    NotUtf8(String),
}

/// Is `b` a `token` character (RFC 3261 §25.1)?
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// `token` characters (RFC 3261 §25.1), by byte value.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    t
};

/// Splits `bytes` into lines ending in CRLF (a bare LF is tolerated, as most stacks do).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// `s` without leading and trailing SP and HTAB.
pub(crate) fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A normalised header section: the fields that could be read, and the first defect met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderSection<'a> {
    /// Fields in the order received, canonical names, unfolded and trimmed values.
    pub fields: Fields<'a>,
    /// The first problem found. Lines that could not be read are skipped, so that a request
    /// with a broken header can still be answered with 400 when the fields a response needs
    /// are intact.
    pub defect: Option<HeaderError>,
}

/// Text of a value: borrowed when it is UTF-8, else with every invalid byte replaced (and
/// `bad` set).
fn text<'a>(bytes: &'a [u8], bad: &mut bool) -> Cow<'a, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            *bad = true;
            Cow::Owned(lossy_same_length(bytes))
        }
    }
}

/// Normalises a header section (the bytes between the start line and the empty line, without
/// either). Each returned field has a canonical name and an unfolded, trimmed value that
/// borrows `section` unless it was folded. One pass over the bytes; nothing is allocated for
/// up to [`INLINE_FIELDS`] fields that are not folded.
pub(crate) fn parse_header_section<'a>(section: &'a [u8], limits: &Limits) -> HeaderSection<'a> {
    let mut out = HeaderSection::default();
    let defect = |out: &mut HeaderSection, e: HeaderError| {
        out.defect.get_or_insert(e);
    };
    // A value that is not UTF-8 is reported after every line-level defect, for the first
    // field (in order) that has one.
    let mut not_utf8: Option<HeaderError> = None;
    // Whether the last field's value has invalid UTF-8 so far.
    let mut last_bad = false;
    // The section is validated as UTF-8 once; each value is then a slice of it.
    let whole = std::str::from_utf8(section).ok();
    let as_text = |bytes: &'a [u8], bad: &mut bool| -> Cow<'a, str> {
        let offset = bytes.as_ptr() as usize - section.as_ptr() as usize;
        match whole.and_then(|w| w.get(offset..offset + bytes.len())) {
            Some(t) => Cow::Borrowed(t),
            None => text(bytes, bad),
        }
    };
    for line in lines(section) {
        if line.is_empty() {
            continue;
        }
        if line.len() > limits.max_line_bytes {
            defect(&mut out, HeaderError::LineTooLong(limits.max_line_bytes));
            continue;
        }
        // A CR may only end a line (RFC 3261 §7.3.1). One inside a value would be copied
        // into the response, where a peer that ends lines at CR reads the rest as a header
        // of its own.
        if line.contains(&b'\r') {
            defect(&mut out, HeaderError::Malformed(excerpt(line)));
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            let Some(last) = out.fields.last_mut() else {
                defect(&mut out, HeaderError::LeadingContinuation);
                continue;
            };
            let more = trim_ws(line);
            if last.value.len() + more.len() + 1 > limits.max_line_bytes {
                defect(&mut out, HeaderError::LineTooLong(limits.max_line_bytes));
                continue;
            }
            if !more.is_empty() {
                let mut bad = false;
                let more = as_text(more, &mut bad);
                let value = last.value.to_mut();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(&more);
                if bad && !last_bad {
                    last_bad = true;
                    not_utf8.get_or_insert(HeaderError::NotUtf8(excerpt(last.wire.as_bytes())));
                }
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            defect(&mut out, HeaderError::Malformed(excerpt(line)));
            continue;
        };
        let name = trim_ws(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            defect(&mut out, HeaderError::Malformed(excerpt(line)));
            continue;
        }
        if out.fields.len() == limits.max_headers {
            defect(&mut out, HeaderError::TooMany(limits.max_headers));
            break;
        }
        // The name is all token characters, hence ASCII.
        let mut bad = false;
        let wire = match as_text(name, &mut bad) {
            Cow::Borrowed(w) => w,
            Cow::Owned(_) => "",
        };
        let value = as_text(trim_ws(&line[colon + 1..]), &mut bad);
        last_bad = bad;
        if bad {
            not_utf8.get_or_insert(HeaderError::NotUtf8(excerpt(name)));
        }
        out.fields.push(HeaderField {
            name: Name::from_wire(wire),
            wire,
            value,
        });
    }
    if let Some(e) = not_utf8 {
        defect(&mut out, e);
    }
    out
}

/// `bytes` as text with every byte of an invalid UTF-8 sequence replaced by `?`. Unlike
/// U+FFFD (three bytes for as little as one), this never makes the value longer, so the 400
/// response that copies it is no larger than the request.
fn lossy_same_length(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('?');
        }
    }
    out
}

/// Splits a header value into its comma-separated values (RFC 3261 §7.3.1), ignoring commas
/// inside quoted strings and `<…>`.
pub(crate) fn split_values(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let s = rest?;
        let end = find_unquoted(s, b',');
        match end {
            Some(i) => {
                rest = Some(&s[i + 1..]);
                Some(s[..i].trim())
            }
            None => {
                rest = None;
                Some(s.trim())
            }
        }
    })
    .filter(|v| !v.is_empty())
}

/// Index of the first `needle` that is outside a quoted string and outside `<…>`.
pub(crate) fn find_unquoted(s: &str, needle: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut quoted, mut angle, mut i) = (false, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            match b {
                b'\\' => i += 1,
                b'"' => quoted = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => quoted = true,
                b'<' => angle = true,
                b'>' => angle = false,
                _ if b == needle && !angle => return Some(i),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Header parameters (`;name=value`) of a name-addr / Via / Event value: everything after the
/// first unquoted `;` outside `<…>`. Names are returned as sent; quoted values are unquoted.
pub(crate) fn params(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut rest = find_unquoted(value, b';').map(|i| &value[i + 1..]);
    std::iter::from_fn(move || loop {
        let s = rest?;
        let (item, next) = match find_unquoted(s, b';') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        rest = next;
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        return Some(match item.split_once('=') {
            Some((n, v)) => {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (n.trim(), Some(v))
            }
            None => (item, None),
        });
    })
}

/// The value of parameter `name` (ASCII case-insensitive), if present.
pub(crate) fn param<'a>(value: &'a str, name: &str) -> Option<Option<&'a str>> {
    params(value)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<(String, String)> {
        let section = parse_header_section(s.as_bytes(), &Limits::default());
        assert_eq!(section.defect, None);
        section
            .fields
            .into_iter()
            .map(|h| (h.name_str().to_owned(), h.value.into_owned()))
            .collect()
    }

    #[test]
    fn compact_names_case_and_space_before_colon() {
        let h =
            parse("o: check-sync\r\nv :SIP/2.0/UDP a\r\ncall-id\t: x\r\nL: 0\r\nX-Foo: bar\r\n");
        assert_eq!(
            h,
            vec![
                ("Event".into(), "check-sync".into()),
                ("Via".into(), "SIP/2.0/UDP a".into()),
                ("Call-ID".into(), "x".into()),
                ("Content-Length".into(), "0".into()),
                ("X-Foo".into(), "bar".into()),
            ]
        );
    }

    #[test]
    fn folded_lines_are_joined() {
        let h = parse("Event: check-sync\r\n   ;reboot=true\r\nTo: <sip:a@b>\r\n\t;tag=1\r\n");
        assert_eq!(h[0].1, "check-sync ;reboot=true");
        assert_eq!(h[1].1, "<sip:a@b> ;tag=1");
    }

    #[test]
    fn a_line_with_a_bare_cr_is_malformed_and_skipped() {
        for section in [
            &b"Call-ID: a\rContent-Type: x\r\nCSeq: 1 NOTIFY\r\n"[..],
            b"CSeq:\r \nCall-ID: a\r\n",
            b"Call-ID: a\r\n \rb\r\n",
        ] {
            let s = parse_header_section(section, &Limits::default());
            assert!(
                matches!(s.defect, Some(HeaderError::Malformed(_))),
                "{section:?}"
            );
            assert!(
                s.fields.iter().all(|h| !h.value.contains('\r')),
                "{section:?}: {:?}",
                s.fields
            );
            assert_eq!(s.fields.len(), 1, "{section:?}: the other line is kept");
        }
        // A CR right before the LF, or at the very end, is the line end.
        let s = parse_header_section(b"Call-ID: a\r\nCSeq: 1 NOTIFY\r", &Limits::default());
        assert_eq!(s.defect, None);
        assert_eq!(s.fields[1].value, "1 NOTIFY");
    }

    #[test]
    fn a_value_that_is_not_utf8_keeps_its_length() {
        let s = parse_header_section(b"Via: a\xff\xff\xc3b\xc3\xa9\r\n", &Limits::default());
        assert!(matches!(s.defect, Some(HeaderError::NotUtf8(_))));
        assert_eq!(s.fields[0].value, "a???b\u{e9}");
    }

    #[test]
    fn unknown_compact_letter_is_kept() {
        let h = parse("z: 1\r\n");
        assert_eq!(h[0].0, "z");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_headers: 2,
            ..Limits::default()
        };
        let s = parse_header_section(b"a: 1\r\nb: 2\r\nc: 3\r\n", &limits);
        assert_eq!(s.defect, Some(HeaderError::TooMany(2)));
        assert_eq!(s.fields.len(), 2);
        let long = format!("X: {}\r\nCall-ID: 1\r\n", "a".repeat(10_000));
        let s = parse_header_section(long.as_bytes(), &Limits::default());
        assert!(matches!(s.defect, Some(HeaderError::LineTooLong(_))));
        assert_eq!(
            s.fields.len(),
            1,
            "the good line after the long one is kept"
        );
        let s = parse_header_section(b"no colon here\r\n", &Limits::default());
        assert!(matches!(s.defect, Some(HeaderError::Malformed(_))));
        let s = parse_header_section(b" x\r\n", &Limits::default());
        assert_eq!(s.defect, Some(HeaderError::LeadingContinuation));
    }

    #[test]
    fn params_and_values() {
        let v = "\"A;b\" <sip:x;lr>;tag=12 ; reboot = true;flag;q=\"x y\"";
        let p: Vec<_> = params(v).collect();
        assert_eq!(
            p,
            vec![
                ("tag", Some("12")),
                ("reboot", Some("true")),
                ("flag", None),
                ("q", Some("x y"))
            ]
        );
        assert_eq!(param(v, "TAG"), Some(Some("12")));
        let vals: Vec<_> = split_values("SIP/2.0/UDP a;x=\"1,2\", SIP/2.0/TCP b").collect();
        assert_eq!(vals, vec!["SIP/2.0/UDP a;x=\"1,2\"", "SIP/2.0/TCP b"]);
    }
}

//! The parameters of a `Digest` value: `Digest name=value, name="quoted", ...`, as both the
//! SIP server (an `Authorization` header) and the HTTP client (a `WWW-Authenticate` header)
//! read them, and the quoting of a value written into one.

/// Most parameters read from one `Authorization` or `WWW-Authenticate` value.
const MAX_PARAMS: usize = 16;

/// The fields of a `Digest` credentials value (RFC 3261 §25.1 `digest-response`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DigestFields {
    pub(super) username: Option<String>,
    pub(super) realm: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) uri: Option<String>,
    pub(super) response: Option<String>,
    pub(super) algorithm: Option<String>,
    pub(super) cnonce: Option<String>,
    pub(super) qop: Option<String>,
    pub(super) nc: Option<String>,
    pub(super) opaque: Option<String>,
}

impl DigestFields {
    /// Parses `Digest name=value, name="quoted", ...`; `None` when it is not a well-formed
    /// Digest value or repeats a field.
    pub(super) fn parse(value: &str) -> Option<DigestFields> {
        let value = value.trim_start();
        let scheme_end = value.find(|c: char| c.is_ascii_whitespace())?;
        if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut rest = value[scheme_end..].trim_start();
        let mut fields = DigestFields::default();
        let mut count = 0;
        while !rest.is_empty() {
            count += 1;
            if count > MAX_PARAMS {
                return None;
            }
            let eq = rest.find('=')?;
            let name = rest[..eq].trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return None;
            }
            rest = rest[eq + 1..].trim_start();
            let val;
            if let Some(quoted) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        '\\' => out.push(chars.next()?.1),
                        c => out.push(c),
                    }
                }
                rest = &quoted[end? + 1..];
                val = out;
            } else {
                let end = rest
                    .find(|c: char| c == ',' || c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                val = rest[..end].to_owned();
                rest = &rest[end..];
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return None;
            }
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => &mut fields.username,
                "realm" => &mut fields.realm,
                "nonce" => &mut fields.nonce,
                "uri" => &mut fields.uri,
                "response" => &mut fields.response,
                "algorithm" => &mut fields.algorithm,
                "cnonce" => &mut fields.cnonce,
                "qop" => &mut fields.qop,
                "nc" => &mut fields.nc,
                "opaque" => &mut fields.opaque,
                _ => continue,
            };
            if slot.replace(val).is_some() {
                return None;
            }
        }
        Some(fields)
    }
}

/// The inside of a quoted-string: `"` and `\` escaped (RFC 9110 §5.6.4).
pub(super) fn quoted(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['"', '\\']) {
        let mut out = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_reads_quoted_escapes_and_refuses_repeats() {
        let f = DigestFields::parse(
            "digest username=\"a\\\"b\" ,realm=\"r\",nonce=\"n\", uri=\"sip:x\",response=\"0\",nc=00000001,qop=auth,cnonce=\"c\",opaque=\"o\"",
        )
        .unwrap();
        assert_eq!(f.username.as_deref(), Some("a\"b"));
        assert_eq!(f.qop.as_deref(), Some("auth"));
        assert!(DigestFields::parse("Digest realm=\"a\", realm=\"b\"").is_none());
        assert!(DigestFields::parse("Digest realm=\"unterminated").is_none());
        let many = format!("Digest {}", vec!["x=1"; 40].join(","));
        assert!(DigestFields::parse(&many).is_none());
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes_only() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a\"b\\c"), "a\\\"b\\\\c");
    }
}

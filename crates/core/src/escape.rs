//! Short, escaped excerpts of peer bytes for errors and log lines.
//!
//! Raw bytes from the network never reach a log line or an error message unbounded or
//! unescaped: [`excerpt`] keeps at most a few dozen characters and escapes everything that is
//! not printable ASCII.

use std::fmt::Write;

/// Longest excerpt, in input bytes, that [`excerpt`] renders.
pub const EXCERPT_BYTES: usize = 40;

/// Renders at most [`EXCERPT_BYTES`] bytes of `bytes` as printable ASCII, escaping the rest
/// (`\r`, `\n`, `\t`, `\\`, `\"`, `\xNN`), with `…` appended when the input was longer.
pub fn excerpt(bytes: &[u8]) -> String {
    excerpt_of(bytes, EXCERPT_BYTES)
}

/// [`excerpt`] with another bound: at most `max` bytes of `bytes` (a URL a server sent, say,
/// where 40 bytes would cut what an administrator needs to see).
pub fn excerpt_of(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut out = String::with_capacity(shown.len() + 8);
    for &b in shown {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > shown.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_truncates() {
        assert_eq!(excerpt(b"ab\r\n\x00\""), "ab\\r\\n\\x00\\\"");
        let long = vec![b'a'; 100];
        let e = excerpt(&long);
        assert_eq!(e.chars().filter(|c| *c == 'a').count(), EXCERPT_BYTES);
        assert_eq!(
            excerpt_of(&long, 60).chars().filter(|c| *c == 'a').count(),
            60
        );
        assert!(e.ends_with('…'));
    }
}

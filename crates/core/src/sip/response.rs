//! Building responses (RFC 3261 §8.2.6.2 and §18.2.1, RFC 3581 §4).
//!
//! A response copies every Via in order, From, To (adding a To-tag when there is none),
//! Call-ID and CSeq, and carries `Content-Length: 0`. The top Via gets `received` when the
//! sent-by host is not the address the request came from, and a filled-in `rport` when the
//! sender asked for one. The response itself always goes back to the source address and port;
//! no address is ever taken from the message.

use std::net::{IpAddr, SocketAddr};

use super::headers::{self, Name};
use super::message::Request;

/// Status codes this endpoint sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(super) enum Status {
    /// 200 OK
    Ok,
    /// 400 Bad Request (with a reason naming what is wrong)
    BadRequest(&'static str),
    /// 401 Unauthorized (a digest challenge)
    Unauthorized,
    /// 403 Forbidden
    Forbidden,
    /// 405 Method Not Allowed
    MethodNotAllowed,
    /// 416 Unsupported URI Scheme
    UnsupportedUriScheme,
    /// 420 Bad Extension
    BadExtension,
    /// 481 Call/Transaction Does Not Exist
    CallDoesNotExist,
    /// 489 Bad Event
    BadEvent,
    /// 501 Not Implemented
    NotImplemented,
    /// 505 Version Not Supported
    VersionNotSupported,
}

impl Status {
    /// The numeric code.
    pub(super) fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest(_) => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::MethodNotAllowed => 405,
            Status::UnsupportedUriScheme => 416,
            Status::BadExtension => 420,
            Status::CallDoesNotExist => 481,
            Status::BadEvent => 489,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase.
    pub(super) fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest(r) => r,
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UnsupportedUriScheme => "Unsupported URI Scheme",
            Status::BadExtension => "Bad Extension",
            Status::CallDoesNotExist => "Call/Transaction Does Not Exist",
            Status::BadEvent => "Bad Event",
            Status::NotImplemented => "Not Implemented",
            Status::VersionNotSupported => "Version Not Supported",
        }
    }
}

/// The methods an `Allow` header lists.
pub(super) const ALLOW: &str = "NOTIFY, OPTIONS";

/// The response to `req` with `status` and `extra` headers (name, value), as new bytes.
#[cfg(test)]
pub(super) fn build(
    req: &Request,
    status: Status,
    own_tag: &str,
    source: SocketAddr,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::new();
    write(
        req,
        status,
        own_tag,
        source,
        extra.iter().copied(),
        &mut out,
    );
    out
}

/// Writes the response to `req` with `status` and `extra` headers (name, value) into `out`
/// (cleared first); its To gets `;tag=` and `own_tag` when the request's has no tag. Nothing else is allocated: a caller that keeps `out` builds every reply
/// in the same buffer.
pub(super) fn write<'e>(
    req: &Request,
    status: Status,
    own_tag: &str,
    source: SocketAddr,
    extra: impl IntoIterator<Item = (&'e str, &'e str)>,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(b"SIP/2.0 ");
    push_u32(out, u32::from(status.code()));
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut first_via = true;
    for via in req.values(Name::Via) {
        if first_via {
            first_via = false;
            let (top, rest) = match headers::find_unquoted(via, b',') {
                Some(i) => (&via[..i], &via[i..]),
                None => (via, ""),
            };
            out.extend_from_slice(b"Via: ");
            write_top_via(
                out,
                top.trim_end(),
                req.top_via.as_ref().map(|t| &*t.sent_by),
                source,
            );
            out.extend_from_slice(rest.as_bytes());
            out.extend_from_slice(b"\r\n");
        } else {
            push_line(out, "Via", via);
        }
    }
    push_line(out, "From", req.from());
    let to = req.to();
    out.extend_from_slice(b"To: ");
    out.extend_from_slice(to.as_bytes());
    if req.to_tag().is_none() {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(own_tag.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    push_line(out, "Call-ID", req.call_id());
    push_line(out, "CSeq", req.cseq_raw());
    for (name, value) in extra {
        push_line(out, name, value);
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

fn push_line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits of `n`, without going through a formatter.
fn push_u32(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The top Via value with RFC 3261 §18.2.1 `received` and RFC 3581 §4 `rport` filled in.
/// `sent_by` is the top Via's sent-by as the front end already parsed it.
fn write_top_via(out: &mut Vec<u8>, via: &str, sent_by: Option<&str>, source: SocketAddr) {
    use std::io::Write as _;
    // One pass over the parameters.
    let (mut rport, mut has_received) = (None, false);
    for (name, value) in headers::params(via) {
        if name.eq_ignore_ascii_case("rport") {
            rport.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("received") {
            has_received = true;
        }
    }
    let differs = match sent_by.map(|s| host_of(s).parse::<IpAddr>()) {
        Some(Ok(ip)) => ip != source.ip(),
        _ => true,
    };
    // Replace a bare `rport` with `rport=PORT`.
    match (rport, find_bare_param(via, "rport")) {
        (Some(None), Some(pos)) => {
            let at = pos + "rport".len();
            out.extend_from_slice(&via.as_bytes()[..at]);
            out.push(b'=');
            push_u32(out, u32::from(source.port()));
            out.extend_from_slice(&via.as_bytes()[at..]);
        }
        _ => out.extend_from_slice(via.as_bytes()),
    }
    if !has_received && (differs || rport.is_some()) {
        out.extend_from_slice(b";received=");
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}", source.ip());
    }
}

/// Host part of `host[:port]`, IPv6 references without brackets.
fn host_of(sent_by: &str) -> &str {
    if let Some(rest) = sent_by.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    sent_by.rsplit_once(':').map_or(sent_by, |(h, _)| h)
}

/// Byte offset of a value-less parameter `;name` (followed by `;`, `,`, whitespace or end),
/// `name` compared ASCII case-insensitively.
fn find_bare_param(value: &str, name: &str) -> Option<usize> {
    let bytes = value.as_bytes();
    let n = name.len();
    (0..bytes.len().saturating_sub(n - 1)).find(|&at| {
        bytes[at..at + n].eq_ignore_ascii_case(name.as_bytes())
            && value[..at].trim_end().ends_with(';')
            && matches!(bytes.get(at + n), None | Some(b';' | b',' | b' ' | b'\t'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::limits::Limits;
    use crate::sip::message::{parse, Framing};

    fn req(vias: &str) -> Request<'static> {
        let raw = format!(
            "NOTIFY sip:a@b SIP/2.0\r\n{vias}From: <sip:p@x>;tag=9\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 5 NOTIFY\r\n\r\n"
        );
        parse(raw.leak().as_bytes(), Framing::Datagram, &Limits::default()).unwrap()
    }

    #[test]
    fn copies_fields_adds_tag_received_and_rport() {
        let r = req("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\nv: SIP/2.0/UDP proxy;branch=z9hG4bK0\r\n");
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let out = String::from_utf8(build(
            &r,
            Status::BadEvent,
            "abc",
            src,
            &[("Allow-Events", "check-sync")],
        ))
        .unwrap();
        assert_eq!(
            out,
            "SIP/2.0 489 Bad Event\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=40000;received=127.0.0.1\r\n\
Via: SIP/2.0/UDP proxy;branch=z9hG4bK0\r\n\
From: <sip:p@x>;tag=9\r\n\
To: <sip:a@b>;tag=abc\r\n\
Call-ID: c1\r\n\
CSeq: 5 NOTIFY\r\n\
Allow-Events: check-sync\r\n\
Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn no_received_when_sent_by_matches_source() {
        let r = req(
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n",
        );
        let out = String::from_utf8(build(
            &r,
            Status::Ok,
            "t",
            "127.0.0.1:5070".parse().unwrap(),
            &[],
        ))
        .unwrap();
        assert!(out.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"), "{out}");
        assert!(out.starts_with("SIP/2.0 200 OK\r\n"));
    }

    #[test]
    fn existing_to_tag_is_kept() {
        let raw = "NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1\r\nFrom: <sip:p@x>;tag=9\r\nTo: <sip:a@b>;tag=old\r\nCall-ID: c1\r\nCSeq: 5 NOTIFY\r\n\r\n";
        let r = parse(raw.as_bytes(), Framing::Datagram, &Limits::default()).unwrap();
        let out = String::from_utf8(build(
            &r,
            Status::CallDoesNotExist,
            "new",
            "[::1]:5060".parse().unwrap(),
            &[],
        ))
        .unwrap();
        assert!(out.contains("To: <sip:a@b>;tag=old\r\n"));
        assert!(!out.contains("received"), "{out}");
    }
}

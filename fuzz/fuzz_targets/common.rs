//! Checks shared by the SIP targets.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use sip_resync::sip::Limits;

/// One `now` for the whole run, so every input is handled at the same instant and a run
/// depends on the input alone.
pub fn now() -> Instant {
    static NOW: OnceLock<Instant> = OnceLock::new();
    *NOW.get_or_init(Instant::now)
}

/// The peer every input comes from.
pub fn source() -> SocketAddr {
    "192.0.2.7:5062".parse().unwrap()
}

/// Limits small enough that inputs of a few KiB reach every bound (header count, line
/// length, header section, message size).
pub fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 2048,
        max_header_bytes: 1024,
        max_headers: 16,
        max_line_bytes: 256,
        max_event_params: 4,
    }
}

/// A reply is at most 1 KiB longer than the message it answers, and is one well-formed
/// response: `SIP/2.0 ` first, `Content-Length: 0` and the empty line last, every line
/// ended by CRLF with no other CR or LF anywhere.
pub fn check_reply(input: &[u8], reply: &[u8]) {
    assert!(
        reply.len() <= input.len() + 1024,
        "reply of {} bytes to a message of {} bytes",
        reply.len(),
        input.len()
    );
    assert!(
        reply.starts_with(b"SIP/2.0 "),
        "reply {:?}",
        String::from_utf8_lossy(reply)
    );
    assert!(
        reply.ends_with(b"\r\nContent-Length: 0\r\n\r\n"),
        "reply {:?}",
        String::from_utf8_lossy(reply)
    );
    // Without the closing CRLF CRLF, every line but the last ends in CR (then LF), and no
    // line is empty or holds another CR.
    let head = &reply[..reply.len() - 4];
    let mut lines = head.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = match lines.peek() {
            Some(_) => line
                .strip_suffix(b"\r")
                .unwrap_or_else(|| panic!("a bare LF in {:?}", String::from_utf8_lossy(reply))),
            None => line,
        };
        assert!(
            !line.is_empty() && !line.contains(&b'\r'),
            "an empty line or a bare CR inside the header section of {:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

//! Inputs that failed the assertions of the fuzz targets (`fuzz/`), kept in `fixtures/fuzz/`
//! (see its README for where each came from) and checked here with the same assertions the
//! targets make, so that they stay fixed without a fuzzer.
//!
//! A file's name starts with the target that found it: `datagram-*` (one UDP datagram),
//! `tcp_framer-*` (the tcp_framer input layout: a control byte, cut offsets, the stream),
//! `panasonic-*` or `snom-*` (a configuration file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sip_resync::config::{self, panasonic, snom, ConfigError};
use sip_resync::sip::{Disposition, Endpoint, EndpointConfig, Limits, StreamFramer, StreamItem};
use sip_resync::Transport;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz")
}

fn src() -> SocketAddr {
    "192.0.2.7:5062".parse().unwrap()
}

/// The limits the fuzz targets also run with, small enough to reach every bound.
fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 2048,
        max_header_bytes: 1024,
        max_headers: 16,
        max_line_bytes: 256,
        max_event_params: 4,
    }
}

/// A reply is at most 1 KiB longer than the message and is one well-formed response: every
/// line ends in CRLF and holds no other CR or LF.
fn check_reply(input: &[u8], reply: &[u8]) {
    let text = String::from_utf8_lossy(reply);
    assert!(
        reply.len() <= input.len() + 1024,
        "reply of {} bytes to {} bytes",
        reply.len(),
        input.len()
    );
    assert!(reply.starts_with(b"SIP/2.0 "), "{text:?}");
    assert!(
        reply.ends_with(b"\r\nContent-Length: 0\r\n\r\n"),
        "{text:?}"
    );
    let head = &reply[..reply.len() - 4];
    let lines: Vec<&[u8]> = head.split(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let line = if i + 1 < lines.len() {
            line.strip_suffix(b"\r")
                .unwrap_or_else(|| panic!("bare LF in {text:?}"))
        } else {
            line
        };
        assert!(
            !line.is_empty() && !line.contains(&b'\r'),
            "empty line or bare CR in {text:?}"
        );
    }
}

/// The `datagram` target: handled twice over UDP (the second is a retransmission).
fn check_datagram(input: &[u8]) -> Option<Vec<u8>> {
    let mut first_reply = None;
    for limits in [Limits::default(), small_limits()] {
        let mut e = Endpoint::new(EndpointConfig {
            limits,
            ..EndpointConfig::default()
        });
        let now = Instant::now();
        let first = e.handle(now, src(), Transport::Udp, input);
        if let Some(reply) = &first.reply {
            check_reply(input, reply);
        }
        let again = e.handle(now, src(), Transport::Udp, input);
        assert_eq!(first.reply, again.reply);
        assert!(again.resync.is_none());
        first_reply.get_or_insert(first.reply.map(|r| r.to_vec()));
    }
    first_reply.flatten()
}

/// The `tcp_framer` target's input layout, framed and handled as the TCP listener does.
fn check_tcp_framer(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let limits = if head & 0x80 != 0 {
        small_limits()
    } else {
        Limits::default()
    };
    let ncuts = usize::from(head & 0x0f).min(rest.len() / 2);
    let (cut_bytes, stream) = rest.split_at(2 * ncuts);
    if stream.is_empty() {
        return;
    }
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % stream.len())
        .chain([stream.len()])
        .collect();
    cuts.sort_unstable();
    let mut e = Endpoint::new(EndpointConfig {
        limits,
        ..EndpointConfig::default()
    });
    let mut framer = StreamFramer::new(limits);
    let mut at = 0;
    for end in cuts {
        while at < end {
            let n = framer.capacity_left().min(end - at);
            assert!(n > 0, "buffer full without an item");
            framer.push(&stream[at..at + n]).unwrap();
            at += n;
            loop {
                match framer.next_item() {
                    Ok(None) => break,
                    Ok(Some(StreamItem::Ping)) => {}
                    Ok(Some(StreamItem::Message(msg))) => {
                        let h = e.handle(Instant::now(), src(), Transport::Tcp, &msg);
                        if let Some(reply) = &h.reply {
                            check_reply(&msg, reply);
                        }
                        if h.close {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        }
    }
}

/// A configuration error names a line of the file.
fn check_config_error(e: &ConfigError, bytes: &[u8]) {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    match e {
        ConfigError::Invalid {
            line: Some(line), ..
        } => assert!((1..=lines).contains(line), "{e}"),
        other => panic!("no line: {other}"),
    }
}

fn check_panasonic(bytes: &[u8]) {
    let path = Path::new("fuzz.cfg");
    if let Err(e) = panasonic::parse(bytes, path) {
        check_config_error(&e, bytes);
    }
    if let Err(e) = config::from_bytes(bytes, path) {
        check_config_error(&e, bytes);
    }
}

fn check_snom(bytes: &[u8]) {
    let path = Path::new("fuzz.xml");
    if let Err(e) = snom::parse(bytes, path) {
        check_config_error(&e, bytes);
    }
    if snom::looks_like(bytes) {
        if let Err(e) = config::from_bytes(bytes, path) {
            check_config_error(&e, bytes);
        }
    }
}

#[test]
fn every_fuzz_fixture_passes_its_target_checks() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        match name.split('-').next().unwrap() {
            "datagram" => {
                check_datagram(&bytes);
                check_tcp_framer(&[&[0x00][..], &bytes].concat());
            }
            "tcp_framer" => check_tcp_framer(&bytes),
            "panasonic" => check_panasonic(&bytes),
            "snom" => check_snom(&bytes),
            other => panic!("{name}: unknown target {other}"),
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} fixtures found");
}

#[test]
fn multi_byte_text_in_the_sip_version_is_dropped_not_a_panic() {
    // Used to panic slicing the version at byte 4, inside a character, which ended the UDP
    // listener's task: one datagram stopped all UDP service.
    let mut e = Endpoint::new(EndpointConfig::default());
    let h = e.handle(
        Instant::now(),
        src(),
        Transport::Udp,
        &fixture("datagram-version-char-boundary.sip"),
    );
    assert!(h.reply.is_none());
    assert!(matches!(h.disposition, Disposition::Dropped { .. }));
    assert_eq!(e.counters().dropped_garbage, 1);
    check_tcp_framer(&fixture("tcp_framer-version-char-boundary.bin"));
}

#[test]
fn a_bare_cr_in_a_header_is_not_copied_into_the_response() {
    // `CSeq:\r ` used to be copied as `CSeq: \r`; now the line is malformed and skipped,
    // and without a CSeq there is nothing to answer.
    let mut e = Endpoint::new(EndpointConfig::default());
    let h = e.handle(
        Instant::now(),
        src(),
        Transport::Udp,
        &fixture("datagram-bare-cr-in-header.sip"),
    );
    assert!(h.reply.is_none(), "{:?}", h.reply);
    assert_eq!(e.counters().dropped_unanswerable, 1);
    // With the other fields intact the request is answered 400, without the bad line.
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nSubject: x\rContent-Type: y\r\n\r\n";
    let reply = check_datagram(msg).expect("answered");
    assert!(reply.starts_with(b"SIP/2.0 400 Malformed Header\r\n"));
}

#[test]
fn a_value_that_is_not_utf8_does_not_grow_in_the_response() {
    // Each invalid byte used to become U+FFFD, three bytes, in the 400 that copies the Via:
    // 1,500 bytes of 0xFF made a reply of over 4,500 bytes.
    let input = fixture("datagram-not-utf8-expands.sip");
    let reply = check_datagram(&input).expect("answered");
    assert!(reply.starts_with(b"SIP/2.0 400 Header Not UTF-8\r\n"));
    assert!(reply.len() <= input.len() + 100, "{} bytes", reply.len());
}

#[test]
fn many_require_tags_do_not_grow_the_420() {
    // `Unsupported` used to join the tags with ", ": 3,000 one-letter tags in a 6,140-byte
    // request made a 9,204-byte reply.
    let input = fixture("datagram-require-expands.sip");
    let reply = check_datagram(&input).expect("answered");
    let text = String::from_utf8(reply).unwrap();
    assert!(text.starts_with("SIP/2.0 420 Bad Extension\r\n"));
    assert!(text.contains("\r\nUnsupported: a,a,a,"), "{text}");
    assert!(text.len() <= input.len() + 100, "{} bytes", text.len());
}

#[test]
fn a_snom_file_that_is_not_utf8_names_the_line() {
    let e = snom::parse(&fixture("snom-not-utf8.xml"), Path::new("fuzz.xml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fuzz.xml:6: not UTF-8 text (first bad byte at offset 244)"
    );
}

//! Inputs that failed the assertions of the fuzz targets (`fuzz/`), kept in `fixtures/fuzz/`
//! (see its README for where each came from) and run through the targets' own checks, so
//! that they stay fixed without a fuzzer; then each fix's own assertions.
//!
//! A file's name starts with the target that found it: `datagram-*` (one UDP datagram),
//! `tcp_framer-*` (the tcp_framer input layout: a control byte, cut offsets, the stream),
//! `panasonic-*` or `snom-*` (a configuration file).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use super::{datagram_with, parse_snom, small_limits, source};
use crate::resync::Transport;
use crate::sip::{Disposition, Endpoint, EndpointConfig, Limits};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fuzz")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `datagram` checks with both sets of limits; the reply under the default ones.
fn checked_reply(input: &[u8]) -> Option<Bytes> {
    let first = datagram_with(Limits::default(), input);
    datagram_with(small_limits(), input);
    first.reply
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
                super::datagram(&bytes);
                super::datagram_small(&bytes);
                super::embedded(&bytes);
                // The same message as a one-message stream, default limits, no cuts.
                super::tcp_framer(&[&[0x00][..], &bytes].concat());
            }
            "datagram_small" => super::datagram_small(&bytes),
            "embedded" => super::embedded(&bytes),
            "tcp_framer" => super::tcp_framer(&bytes),
            "panasonic" => super::panasonic(&bytes),
            "snom" => super::snom(&bytes),
            other => panic!("{name}: unknown target {other}"),
        }
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} fixtures found");
}

#[test]
fn the_contract_notify_is_claimed_and_answered_alike() {
    // The embedded comparison of the `datagram` check is not vacuous: the contract's NOTIFY
    // is ours, and accepted, under both sets of limits.
    let notify = include_bytes!("../../../../fixtures/sip/check-sync.sip");
    for limits in [Limits::default(), small_limits()] {
        let first = datagram_with(limits, notify);
        assert_eq!(first.disposition, Disposition::Resync);
        assert!(first.resync.is_some());
    }
}

#[test]
fn multi_byte_text_in_the_sip_version_is_dropped_not_a_panic() {
    // Used to panic slicing the version at byte 4, inside a character, which ended the UDP
    // listener's task: one datagram stopped all UDP service.
    let mut e = Endpoint::new(EndpointConfig::default());
    let h = e.handle(
        Instant::now(),
        source(),
        Transport::Udp,
        &fixture("datagram-version-char-boundary.sip"),
    );
    assert!(h.reply.is_none());
    assert!(matches!(h.disposition, Disposition::Dropped { .. }));
    assert_eq!(e.counters().dropped_garbage, 1);
    super::tcp_framer(&fixture("tcp_framer-version-char-boundary.bin"));
}

#[test]
fn a_bare_cr_in_a_header_is_not_copied_into_the_response() {
    // `CSeq:\r ` used to be copied as `CSeq: \r`; now the line is malformed and skipped,
    // and without a CSeq there is nothing to answer.
    let mut e = Endpoint::new(EndpointConfig::default());
    let h = e.handle(
        Instant::now(),
        source(),
        Transport::Udp,
        &fixture("datagram-bare-cr-in-header.sip"),
    );
    assert!(h.reply.is_none(), "{:?}", h.reply);
    assert_eq!(e.counters().dropped_unanswerable, 1);
    // With the other fields intact the request is answered 400, without the bad line.
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nSubject: x\rContent-Type: y\r\n\r\n";
    let reply = checked_reply(msg).expect("answered");
    assert!(reply.starts_with(b"SIP/2.0 400 Malformed Header\r\n"));
}

#[test]
fn a_value_that_is_not_utf8_does_not_grow_in_the_response() {
    // Each invalid byte used to become U+FFFD, three bytes, in the 400 that copies the Via:
    // 1,500 bytes of 0xFF made a reply of over 4,500 bytes.
    let input = fixture("datagram-not-utf8-expands.sip");
    let reply = checked_reply(&input).expect("answered");
    assert!(reply.starts_with(b"SIP/2.0 400 Header Not UTF-8\r\n"));
    assert!(reply.len() <= input.len() + 100, "{} bytes", reply.len());
}

#[test]
fn many_require_tags_do_not_grow_the_420() {
    // `Unsupported` used to join the tags with ", ": 3,000 one-letter tags in a 6,140-byte
    // request made a 9,204-byte reply.
    let input = fixture("datagram-require-expands.sip");
    let reply = checked_reply(&input).expect("answered");
    let text = String::from_utf8(reply.to_vec()).unwrap();
    assert!(text.starts_with("SIP/2.0 420 Bad Extension\r\n"));
    assert!(text.contains("\r\nUnsupported: a,a,a,"), "{text}");
    assert!(text.len() <= input.len() + 100, "{} bytes", text.len());
}

#[test]
fn a_snom_file_that_is_not_utf8_names_the_line() {
    let e = parse_snom(&fixture("snom-not-utf8.xml"), Path::new("fuzz.xml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "fuzz.xml:6: not UTF-8 text (first bad byte at offset 244)"
    );
}

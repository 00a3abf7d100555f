//! The RFC 4475 torture messages, sent over real UDP to a real listener on 127.0.0.1.
//!
//! The messages are in `fixtures/rfc4475/` byte-exact (source: RFC 4475 Appendix A.1; see
//! `fixtures/rfc4475/INDEX.md`). Each expectation below is what the RFC asks of a UAS that
//! implements only NOTIFY and OPTIONS: 405 for a method it knows but does not implement,
//! 501 for one it does not know, 400 for malformed requests that can still be answered,
//! nothing for responses and for requests that lack the fields a response needs.
//!
//! Answers always go to the address and port the datagram came from, never to a host named
//! in the message (these name 192.0.2.x and example.com), so everything stays on loopback.

mod support;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

use support::server::{TestServer, TestServerOptions};

/// (file, expected status code or None for "dropped", why)
const EXPECTED: &[(&str, Option<u16>, &str)] = &[
    // §3.1.1 valid messages
    (
        "valid/wsinv.dat",
        Some(405),
        "well formed INVITE; method not implemented",
    ),
    ("valid/intmeth.dat", Some(501), "unknown method"),
    ("valid/esc01.dat", Some(405), "INVITE"),
    ("valid/escnull.dat", Some(405), "REGISTER"),
    (
        "valid/esc02.dat",
        Some(501),
        "RE%47IST%45R is an unknown method",
    ),
    (
        "valid/lwsdisp.dat",
        Some(200),
        "OPTIONS, display name without LWS",
    ),
    ("valid/longreq.dat", Some(405), "long INVITE"),
    (
        "valid/dblreq.dat",
        Some(405),
        "REGISTER; trailing INVITE octets discarded",
    ),
    ("valid/semiuri.dat", Some(200), "OPTIONS, ; in user part"),
    (
        "valid/transports.dat",
        Some(200),
        "OPTIONS, many Via transports",
    ),
    ("valid/mpart01.dat", Some(405), "MESSAGE"),
    ("valid/unreason.dat", None, "a response"),
    ("valid/noreason.dat", None, "a response"),
    // §3.2 / §3.3 / §3.4
    (
        "valid/badbranch.dat",
        Some(200),
        "bare z9hG4bK: RFC 2543 matching",
    ),
    ("valid/unkscm.dat", Some(416), "unknown Request-URI scheme"),
    (
        "valid/novelsc.dat",
        Some(416),
        "soap.beep is never acceptable here",
    ),
    ("valid/unksm2.dat", Some(405), "REGISTER"),
    (
        "valid/bext01.dat",
        Some(420),
        "Require with unknown option tags",
    ),
    ("valid/invut.dat", Some(405), "INVITE"),
    (
        "valid/regaut01.dat",
        Some(405),
        "a UA that is not a registrar answers 405",
    ),
    ("valid/bcast.dat", None, "a response"),
    (
        "valid/zeromf.dat",
        Some(200),
        "a UAS processes Max-Forwards: 0 normally",
    ),
    ("valid/cparam01.dat", Some(405), "REGISTER"),
    ("valid/cparam02.dat", Some(405), "REGISTER"),
    ("valid/regescrt.dat", Some(405), "REGISTER"),
    ("valid/sdp01.dat", Some(405), "INVITE"),
    ("valid/inv2543.dat", Some(405), "RFC 2543 INVITE"),
    // §3.1.2 invalid messages
    (
        "invalid/badinv01.dat",
        Some(400),
        "empty Via / Contact separators",
    ),
    (
        "invalid/clerr.dat",
        Some(400),
        "Content-Length larger than the datagram",
    ),
    ("invalid/ncl.dat", Some(400), "negative Content-Length"),
    ("invalid/scalar02.dat", Some(400), "CSeq above 2^32-1"),
    ("invalid/scalarlg.dat", None, "a response"),
    ("invalid/quotbal.dat", Some(400), "unbalanced quote in To"),
    ("invalid/ltgtruri.dat", Some(400), "Request-URI in <>"),
    ("invalid/lwsruri.dat", Some(400), "LWS in Request-URI"),
    (
        "invalid/lwsstart.dat",
        Some(400),
        "two SPs in the request line",
    ),
    (
        "invalid/trws.dat",
        Some(400),
        "trailing SP in the request line",
    ),
    (
        "invalid/escruri.dat",
        Some(405),
        "INVITE; the escaped header is ignored",
    ),
    ("invalid/baddate.dat", Some(405), "INVITE; Date is ignored"),
    (
        "invalid/regbadct.dat",
        Some(405),
        "REGISTER; the Contact does not matter here",
    ),
    ("invalid/badaspec.dat", Some(400), "spaces inside <> in To"),
    (
        "invalid/baddn.dat",
        Some(400),
        "unquoted display name with a comma",
    ),
    ("invalid/badvers.dat", Some(505), "SIP/7.0"),
    ("invalid/mismatch01.dat", Some(400), "CSeq method differs"),
    ("invalid/mismatch02.dat", Some(501), "unknown method"),
    ("invalid/bigcode.dat", None, "a response"),
    (
        "invalid/insuf.dat",
        None,
        "no Call-ID, From, To: no response can be built",
    ),
    (
        "invalid/multi01.dat",
        Some(400),
        "duplicate single-value headers",
    ),
    ("invalid/mcl01.dat", Some(400), "conflicting Content-Length"),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rfc4475")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Sends one datagram and returns every response status code received within `wait`.
fn exchange(server: &TestServer, bytes: &[u8], wait: Duration) -> Vec<(u16, String)> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(bytes, server.udp_addr()).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("unparseable response: {text}"));
        out.push((code, text));
        // After the first response, wait only briefly for an unexpected second one.
        sock.set_read_timeout(Some(Duration::from_millis(40)))
            .unwrap();
    }
    out
}

#[test]
fn every_torture_message_gets_the_expected_answer() {
    assert_eq!(EXPECTED.len(), 49, "all 49 RFC 4475 messages are covered");
    let server = TestServer::start(TestServerOptions::default());
    let mut failures = Vec::new();
    let (mut answered, mut dropped) = (0, 0);
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for (file, expected, why) in EXPECTED {
        let wait = if expected.is_some() {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(300)
        };
        let got = exchange(&server, &fixture(file), wait);
        let first = got.first().map(|(c, _)| *c);
        if first != *expected || got.len() > 1 {
            failures.push(format!(
                "{file}: expected {expected:?} ({why}), got {:?}",
                got
            ));
        }
        match first {
            Some(c) => {
                answered += 1;
                *codes.entry(c).or_default() += 1;
            }
            None => dropped += 1,
        }
    }
    println!("RFC 4475: {answered} answered, {dropped} dropped; codes: {codes:?}");
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert_eq!(
        server.signal_count(),
        0,
        "no torture message is a check-sync NOTIFY"
    );
    // The listener survived all of it.
    let options = fixture("valid/zeromf.dat");
    assert_eq!(
        exchange(&server, &options, Duration::from_secs(2))
            .first()
            .map(|r| r.0),
        Some(200)
    );
}

#[test]
fn dblreq_trailing_invite_is_never_processed() {
    let server = TestServer::start(TestServerOptions::default());
    let got = exchange(
        &server,
        &fixture("valid/dblreq.dat"),
        Duration::from_secs(2),
    );
    assert_eq!(got.len(), 1, "one response, for the REGISTER only: {got:?}");
    assert!(got[0].1.contains("CSeq: 8 REGISTER"), "{}", got[0].1);
    assert_eq!(server.counters().received, 1);
}

#[test]
fn responses_copy_the_mandatory_fields() {
    let server = TestServer::start(TestServerOptions::default());
    let got = exchange(&server, &fixture("valid/wsinv.dat"), Duration::from_secs(2));
    let text = &got[0].1;
    // wsinv folds and respaces everything; the response carries the unfolded values.
    assert!(
        text.starts_with("SIP/2.0 405 Method Not Allowed\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nAllow: NOTIFY, OPTIONS\r\n"), "{text}");
    assert!(
        text.contains("\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nCSeq: 0009 INVITE\r\n"), "{text}");
    let to = text.lines().find(|l| l.starts_with("To: ")).unwrap();
    assert!(
        to.contains("1918181833n") && to.matches("tag").count() == 1,
        "the existing To-tag is kept: {to}"
    );
    let vias = text.lines().filter(|l| l.starts_with("Via: ")).count();
    assert_eq!(vias, 2, "every Via header is copied, in order: {text}");
    assert!(
        text.contains("z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111"),
        "{text}"
    );
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
}

/// A header section over 32 KiB (in fields of under 8 KiB, fewer than 128) is answered with the
/// reason phrase docs/sip.md gives for it, in both of its tables.
#[test]
fn an_oversized_header_section_gets_the_documented_reason_phrase() {
    const PHRASE: &str = "Header Section Too Large";
    let server = TestServer::start(TestServerOptions::default());
    let filler: String = (0..5)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(7000)))
        .collect();
    let request = format!(
        "OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-big\r\n\
         From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:agent@127.0.0.1>\r\n\
         Call-ID: big-header@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n{filler}\
         Content-Length: 0\r\n\r\n"
    );
    assert!(request.len() > 32 * 1024 && request.len() < 64 * 1024);
    let got = exchange(&server, request.as_bytes(), Duration::from_secs(2));
    let text = &got.first().expect("an answer").1;
    assert!(
        text.starts_with(&format!("SIP/2.0 400 {PHRASE}\r\n")),
        "{text}"
    );
    let docs =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/sip.md"))
            .unwrap();
    assert!(docs.contains(&format!("| `{PHRASE}` |")), "reason table");
    assert!(
        docs.contains(&format!("| `400 {PHRASE}` (UDP)")),
        "limits table"
    );
}

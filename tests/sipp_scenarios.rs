//! The SIPp scenarios in `fixtures/sipp/` run against the real listener (UDP and TCP on
//! 127.0.0.1), one test per scenario and transport. SIPp checks the responses; these tests
//! check the resync signals the listener emitted. See `fixtures/sipp/README.md`.
//!
//! SIPp is required: when it is missing the tests panic and say how to install it
//! (`scripts/test.sh` installs the Debian package `sip-tester`).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use sip_resync::config::RateLimits;
use support::server::{Signal, TestServer, TestServerOptions};
use support::sipp::{self, SippRun, SippTransport};

/// How long to wait for the expected signals to show up.
const SIGNAL_WAIT: Duration = Duration::from_secs(2);
/// When no (further) signal is expected: time for a stray one to show up anyway.
const SETTLE: Duration = Duration::from_millis(100);

fn start() -> TestServer {
    TestServer::start(TestServerOptions::default())
}

/// A server whose trigger limits are off, for runs that send more accepted NOTIFYs from one
/// source than the default 10 per minute.
fn start_without_trigger_limits() -> TestServer {
    TestServer::start(TestServerOptions {
        rate_limits: RateLimits {
            triggers_per_minute_per_source: 0,
            triggers_per_minute: 0,
            ..RateLimits::default()
        },
        ..TestServerOptions::default()
    })
}

fn addr(server: &TestServer, transport: SippTransport) -> SocketAddr {
    match transport {
        SippTransport::Udp => server.udp_addr(),
        SippTransport::Tcp => server.tcp_addr(),
    }
}

/// Runs the scenario (must succeed), then expects exactly `expected` check-sync signals,
/// all from `transport`. Returns them.
#[track_caller]
fn expect_signals(
    scenario: &str,
    transport: SippTransport,
    calls: u32,
    expected: usize,
) -> Vec<Signal> {
    let server = if calls > 10 {
        start_without_trigger_limits()
    } else {
        start()
    };
    let run = sipp::run_scenario(scenario, addr(&server, transport), transport, calls);
    run.assert_success();
    let signals = server.wait_for_signals(expected, SIGNAL_WAIT);
    assert_eq!(
        server.signal_count(),
        expected,
        "signals: {signals:#?}\n{}",
        run.report()
    );
    check_signals(&signals, transport, &run);
    signals
}

/// Like [`expect_signals`] with one call and one signal, for scenarios that send the same
/// request twice: waits a little more so that a second (wrong) signal would be seen.
#[track_caller]
fn expect_single_signal_despite_repeat(scenario: &str, transport: SippTransport) -> Signal {
    let server = start();
    let run = sipp::run_scenario(scenario, addr(&server, transport), transport, 1);
    run.assert_success();
    server.wait_for_signals(1, SIGNAL_WAIT);
    std::thread::sleep(SETTLE);
    let signals = server.signals();
    assert_eq!(
        signals.len(),
        1,
        "the repeated NOTIFY must not signal again: {signals:#?}\n{}",
        run.report()
    );
    check_signals(&signals, transport, &run);
    signals.into_iter().next().unwrap()
}

#[track_caller]
fn check_signals(signals: &[Signal], transport: SippTransport, run: &SippRun) {
    for s in signals {
        assert!(
            s.event.eq_ignore_ascii_case("check-sync"),
            "unexpected event in {s:?}\n{}",
            run.report()
        );
        assert_eq!(
            s.transport,
            transport.as_str(),
            "signal from the wrong transport: {s:?}"
        );
    }
}

/// Runs the scenario (must succeed) and expects no signal at all.
#[track_caller]
fn expect_no_signal(scenario: &str, transport: SippTransport) -> SippRun {
    let server = start();
    let run = sipp::run_scenario(scenario, addr(&server, transport), transport, 1);
    run.assert_success();
    std::thread::sleep(SETTLE);
    assert_eq!(
        server.signal_count(),
        0,
        "no resync expected: {:#?}\n{}",
        server.signals(),
        run.report()
    );
    run
}

// ---------------------------------------------------------------------------------------------
// Accepted check-sync NOTIFYs: 200 and one signal each.

#[test]
fn notify_ok_udp() {
    expect_signals("notify_ok.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_ok_tcp() {
    expect_signals("notify_ok.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_ok_20_calls_udp() {
    // Each SIPp call has its own Call-ID, From-tag and branch: 20 distinct requests.
    expect_signals("notify_ok.xml", SippTransport::Udp, 20, 20);
}

#[test]
fn notify_ok_20_calls_tcp() {
    // All 20 calls share SIPp's single TCP connection.
    expect_signals("notify_ok.xml", SippTransport::Tcp, 20, 20);
}

#[test]
fn notify_ok_20_calls_over_the_trigger_limit_udp() {
    // With the default limits (10 triggers per minute per source) every call still gets its
    // 200, and the ten over the limit produce no signal of their own.
    let server = start();
    let started = std::time::Instant::now();
    let run = sipp::run_scenario("notify_ok.xml", server.udp_addr(), SippTransport::Udp, 20);
    let elapsed = started.elapsed();
    run.assert_success();
    server.wait_for_signals(10, SIGNAL_WAIT);
    std::thread::sleep(SETTLE);
    // One more trigger for every 6 s the 20 calls took (only on a very slow machine).
    let allowed = 10 + (elapsed.as_secs_f64() / 6.0).floor() as usize;
    let signals = server.signal_count();
    assert!(
        (10..=allowed).contains(&signals),
        "{signals} signals in {elapsed:?}: {}",
        run.report()
    );
    let c = server.counters();
    assert_eq!(c.resync_requests as usize, signals);
    assert_eq!(c.resync_requests + c.rate_limited_triggers, 20);
}

#[test]
fn notify_compact_udp() {
    expect_signals("notify_compact.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_compact_tcp() {
    expect_signals("notify_compact.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_compact_all_udp() {
    expect_signals("notify_compact_all.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_compact_all_tcp() {
    expect_signals("notify_compact_all.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_uppercase_udp() {
    expect_signals("notify_uppercase.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_uppercase_tcp() {
    expect_signals("notify_uppercase.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_reboot_udp() {
    let signals = expect_signals("notify_reboot.xml", SippTransport::Udp, 1, 1);
    assert_eq!(signals[0].reboot, Some(true), "{signals:?}");
}

#[test]
fn notify_reboot_tcp() {
    let signals = expect_signals("notify_reboot.xml", SippTransport::Tcp, 1, 1);
    assert_eq!(signals[0].reboot, Some(true), "{signals:?}");
}

#[test]
fn notify_body_udp() {
    // Two NOTIFYs (CSeq 1 with a body, CSeq 2 without): two signals.
    expect_signals("notify_body.xml", SippTransport::Udp, 1, 2);
}

#[test]
fn notify_body_tcp() {
    expect_signals("notify_body.xml", SippTransport::Tcp, 1, 2);
}

#[test]
fn notify_minimal_udp() {
    expect_signals("notify_minimal.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_minimal_tcp() {
    expect_signals("notify_minimal.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_two_vias_udp() {
    expect_signals("notify_two_vias.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_two_vias_tcp() {
    expect_signals("notify_two_vias.xml", SippTransport::Tcp, 1, 1);
}

#[test]
fn notify_nat_udp() {
    expect_signals("notify_nat.xml", SippTransport::Udp, 1, 1);
}

#[test]
fn notify_nat_tcp() {
    expect_signals("notify_nat.xml", SippTransport::Tcp, 1, 1);
}

// ---------------------------------------------------------------------------------------------
// Repeated NOTIFYs. Over UDP a repeat within 32 s (same branch, or same Call-ID/From-tag/CSeq
// with a new branch) is answered again and signalled once. Over TCP there are no
// retransmissions: a non-INVITE server transaction ends with its final response on a reliable
// transport (RFC 3261 §17.2.2, Timer J = 0), so the repeat is a new request: answered 200 and
// signalled again.

#[test]
fn notify_retransmit_udp() {
    expect_single_signal_despite_repeat("notify_retransmit.xml", SippTransport::Udp);
}

#[test]
fn notify_retransmit_tcp() {
    expect_signals("notify_retransmit.xml", SippTransport::Tcp, 1, 2);
}

#[test]
fn notify_duplicate_new_branch_udp() {
    expect_single_signal_despite_repeat("notify_duplicate_new_branch.xml", SippTransport::Udp);
}

#[test]
fn notify_duplicate_new_branch_tcp() {
    expect_signals("notify_duplicate_new_branch.xml", SippTransport::Tcp, 1, 2);
}

// ---------------------------------------------------------------------------------------------
// Refused NOTIFYs: error response, no signal.

#[test]
fn notify_bad_event_udp() {
    expect_no_signal("notify_bad_event.xml", SippTransport::Udp);
}

#[test]
fn notify_bad_event_tcp() {
    expect_no_signal("notify_bad_event.xml", SippTransport::Tcp);
}

#[test]
fn notify_no_event_udp() {
    expect_no_signal("notify_no_event.xml", SippTransport::Udp);
}

#[test]
fn notify_no_event_tcp() {
    expect_no_signal("notify_no_event.xml", SippTransport::Tcp);
}

#[test]
fn notify_in_dialog_udp() {
    expect_no_signal("notify_in_dialog.xml", SippTransport::Udp);
}

#[test]
fn notify_in_dialog_tcp() {
    expect_no_signal("notify_in_dialog.xml", SippTransport::Tcp);
}

// ---------------------------------------------------------------------------------------------
// A sender outside the allowlist: 403, no signal.

/// Runs `notify_forbidden.xml` against a listener that allows only 192.0.2.0/24, so SIPp on
/// 127.0.0.1 is refused.
#[track_caller]
fn expect_forbidden(transport: SippTransport) {
    let server = TestServer::start(TestServerOptions {
        allow: vec!["192.0.2.0/24".into()],
        ..TestServerOptions::default()
    });
    let run = sipp::run_scenario(
        "notify_forbidden.xml",
        addr(&server, transport),
        transport,
        1,
    );
    run.assert_success();
    std::thread::sleep(SETTLE);
    assert_eq!(server.signal_count(), 0, "{}", run.report());
    assert_eq!(server.counters().refused_source, 1, "{}", run.report());
}

#[test]
fn notify_forbidden_udp() {
    expect_forbidden(SippTransport::Udp);
}

#[test]
fn notify_forbidden_tcp() {
    expect_forbidden(SippTransport::Tcp);
}

// ---------------------------------------------------------------------------------------------
// Other methods.

#[test]
fn options_udp() {
    expect_no_signal("options.xml", SippTransport::Udp);
}

#[test]
fn options_tcp() {
    expect_no_signal("options.xml", SippTransport::Tcp);
}

#[test]
fn ack_udp() {
    expect_no_signal("ack.xml", SippTransport::Udp).assert_no_stray_messages();
}

#[test]
fn ack_tcp() {
    expect_no_signal("ack.xml", SippTransport::Tcp).assert_no_stray_messages();
}

#[test]
fn method_not_allowed_udp() {
    expect_no_signal("method_not_allowed.xml", SippTransport::Udp);
}

#[test]
fn method_not_allowed_tcp() {
    expect_no_signal("method_not_allowed.xml", SippTransport::Tcp);
}

#[test]
fn method_not_allowed_invite_udp() {
    expect_no_signal("method_not_allowed_invite.xml", SippTransport::Udp)
        .assert_no_stray_messages();
}

#[test]
fn method_not_allowed_invite_tcp() {
    expect_no_signal("method_not_allowed_invite.xml", SippTransport::Tcp)
        .assert_no_stray_messages();
}

#[test]
fn method_unknown_udp() {
    expect_no_signal("method_unknown.xml", SippTransport::Udp);
}

#[test]
fn method_unknown_tcp() {
    expect_no_signal("method_unknown.xml", SippTransport::Tcp);
}

// ---------------------------------------------------------------------------------------------
// Broken requests.

#[test]
fn bad_version_udp() {
    expect_no_signal("bad_version.xml", SippTransport::Udp);
}

#[test]
fn bad_version_tcp() {
    expect_no_signal("bad_version.xml", SippTransport::Tcp);
}

#[test]
fn malformed_udp() {
    expect_no_signal("malformed.xml", SippTransport::Udp);
}

#[test]
fn malformed_tcp() {
    expect_no_signal("malformed.xml", SippTransport::Tcp);
}

#[test]
fn malformed_cseq_udp() {
    expect_no_signal("malformed_cseq.xml", SippTransport::Udp);
}

#[test]
fn malformed_cseq_tcp() {
    expect_no_signal("malformed_cseq.xml", SippTransport::Tcp);
}

#[test]
fn garbage_udp() {
    expect_no_signal("garbage.xml", SippTransport::Udp).assert_no_stray_messages();
}

#[test]
fn garbage_tcp() {
    expect_no_signal("garbage.xml", SippTransport::Tcp).assert_no_stray_messages();
}

#[test]
fn garbage_binary_udp() {
    expect_no_signal("garbage_binary.xml", SippTransport::Udp).assert_no_stray_messages();
}

#[test]
fn garbage_binary_tcp() {
    expect_no_signal("garbage_binary.xml", SippTransport::Tcp).assert_no_stray_messages();
}

// ---------------------------------------------------------------------------------------------
// The harness itself.

#[test]
fn sipp_is_installed() {
    let sipp = sipp::sipp_binary();
    assert!(sipp.is_file(), "{}", sipp.display());
}

#[test]
fn every_fixture_has_a_test() {
    // Keeps this file and fixtures/sipp/ in step: a new scenario needs tests here.
    let tested = [
        "ack.xml",
        "bad_version.xml",
        "garbage.xml",
        "garbage_binary.xml",
        "malformed.xml",
        "malformed_cseq.xml",
        "method_not_allowed.xml",
        "method_not_allowed_invite.xml",
        "method_unknown.xml",
        // The digest scenarios run in tests/auth.rs, against the daemon.
        "notify_auth.xml",
        "notify_auth_replay.xml",
        "notify_auth_wrong.xml",
        "notify_bad_event.xml",
        "notify_body.xml",
        "notify_compact.xml",
        "notify_compact_all.xml",
        "notify_duplicate_new_branch.xml",
        "notify_forbidden.xml",
        "notify_in_dialog.xml",
        "notify_minimal.xml",
        "notify_nat.xml",
        "notify_no_event.xml",
        "notify_ok.xml",
        "notify_reboot.xml",
        "notify_retransmit.xml",
        "notify_two_vias.xml",
        "notify_uppercase.xml",
        "options.xml",
    ];
    let mut found: Vec<String> = std::fs::read_dir(sipp::fixture("fixtures/sipp"))
        .expect("fixtures/sipp")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".xml"))
        .collect();
    found.sort();
    assert_eq!(
        found, tested,
        "fixtures/sipp/*.xml and the tests in this file differ"
    );
}

#[test]
fn a_silent_target_fails_the_scenario() {
    // Nothing answers on this port: the scenario must fail (recv timeout), not pass or hang.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let run = sipp::run_scenario(
        "options.xml",
        socket.local_addr().unwrap(),
        SippTransport::Udp,
        1,
    );
    run.assert_failure();
    assert!(
        run.elapsed < Duration::from_secs(15),
        "took {:?}",
        run.elapsed
    );
    let _ = std::fs::remove_dir_all(&run.work_dir);
}

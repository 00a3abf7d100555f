//! Trust and hostile input over real sockets on loopback: the source allowlist (403 or
//! silence), per-source and global rate limits for requests and triggers, IPv6, and the
//! daemon's log of it all.
//!
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so a client socket bound to
//! 127.0.0.2, 127.0.0.3, … is a different source for the listener on 127.0.0.1.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sip_resync::config::{RateLimits, RefusedAction};
use support::daemon::Daemon;
use support::read_answers;
use support::server::{TestServer, TestServerOptions};

/// When nothing is expected: time for a stray answer or signal to show up anyway.
const SETTLE: Duration = Duration::from_millis(200);

fn notify(tag: &str) -> Vec<u8> {
    format!(
        "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{tag}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f-{tag}\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: trust-{tag}\r\nCSeq: 1 NOTIFY\r\nEvent: check-sync\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn options(tag: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{tag}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f-{tag}\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: trust-{tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A UDP client on `ip` (a loopback address), port 0.
fn client(ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind((ip.parse::<IpAddr>().unwrap(), 0)).expect("bind a loopback client");
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock
}

/// Sends `msg` and returns the status line of the answer, or `None` after `wait`.
fn exchange(sock: &UdpSocket, to: SocketAddr, msg: &[u8], wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(msg, to).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Some(text.lines().next().unwrap_or_default().to_owned())
}

fn allowing(allow: &[&str], refused: RefusedAction) -> TestServer {
    TestServer::start(TestServerOptions {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        refused,
        ..TestServerOptions::default()
    })
}

// ---------------------------------------------------------------------------------------------
// The allowlist.

#[test]
fn an_allowlisted_source_triggers_over_udp_and_tcp() {
    let server = allowing(&["127.0.0.2", "192.0.2.0/24"], RefusedAction::Answer);
    let pbx = client("127.0.0.2");
    let wait = Duration::from_secs(2);
    assert_eq!(
        exchange(&pbx, server.udp_addr(), &notify("a1"), wait).as_deref(),
        Some("SIP/2.0 200 OK")
    );
    let mut s = bind_connect("127.0.0.2".parse().unwrap(), server.tcp_addr());
    s.write_all(&notify("a2")).unwrap();
    assert!(read_answers(&mut s, 1).starts_with("SIP/2.0 200 OK"));
    let signals = server.wait_for_signals(2, Duration::from_secs(2));
    assert_eq!(signals.len(), 2, "{signals:?}");
    assert!(server
        .requests()
        .iter()
        .all(|r| r.source.ip() == "127.0.0.2".parse::<IpAddr>().unwrap()));
    assert_eq!(server.counters().refused_source, 0);
}

/// A TCP connection to `to` from address `ip` (any port): the standard library cannot bind
/// before connecting, tokio's `TcpSocket` can.
fn bind_connect(ip: IpAddr, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = match ip {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .unwrap();
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
        let stream = socket.connect(to).await.unwrap();
        let std = stream.into_std().unwrap();
        std.set_nonblocking(false).unwrap();
        std
    })
}

#[test]
fn a_refused_source_gets_403_and_no_signal() {
    let server = allowing(&["127.0.0.2"], RefusedAction::Answer);
    let stranger = client("127.0.0.1");
    let wait = Duration::from_secs(2);
    assert_eq!(
        exchange(&stranger, server.udp_addr(), &notify("r1"), wait).as_deref(),
        Some("SIP/2.0 403 Forbidden")
    );
    // OPTIONS too: a refused source learns nothing about this endpoint.
    assert_eq!(
        exchange(&stranger, server.udp_addr(), &options("r2"), wait).as_deref(),
        Some("SIP/2.0 403 Forbidden")
    );
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    s.write_all(&notify("r3")).unwrap();
    let got = read_answers(&mut s, 1);
    assert!(got.starts_with("SIP/2.0 403 Forbidden\r\n"), "{got}");
    assert!(
        got.contains("Call-ID: trust-r3\r\n"),
        "a proper response: {got}"
    );
    // The connection stays usable (for more 403s).
    s.write_all(&notify("r4")).unwrap();
    assert!(read_answers(&mut s, 1).starts_with("SIP/2.0 403"));
    std::thread::sleep(SETTLE);
    assert_eq!(server.signal_count(), 0);
    let c = server.counters();
    assert_eq!(c.refused_source, 4);
    assert_eq!(c.resync_requests, 0);
    // The allowed source still triggers.
    let pbx = client("127.0.0.2");
    assert_eq!(
        exchange(&pbx, server.udp_addr(), &notify("r5"), wait).as_deref(),
        Some("SIP/2.0 200 OK")
    );
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(2)).len(), 1);
}

#[test]
fn drop_mode_is_silent_and_counted() {
    let server = allowing(&["192.0.2.0/24"], RefusedAction::Drop);
    let stranger = client("127.0.0.1");
    for i in 0..3 {
        let answer = exchange(
            &stranger,
            server.udp_addr(),
            &notify(&format!("d{i}")),
            Duration::from_millis(300),
        );
        assert_eq!(answer, None, "no answer at all");
    }
    assert_eq!(server.counters().refused_source, 3);
    // Over TCP the connection is closed before anything is read.
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    let _ = s.write_all(&notify("d-tcp"));
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
    let end = Instant::now() + Duration::from_secs(2);
    while server.counters().refused_source < 4 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let c = server.counters();
    assert_eq!(c.refused_source, 4);
    assert_eq!(c.responses, 0);
    assert_eq!(server.signal_count(), 0);
}

#[test]
fn ipv6_allowlist_on_the_loopback() {
    for (allow, expect, signals) in [
        ("::1", "SIP/2.0 200 OK", 1),
        ("::1/128", "SIP/2.0 200 OK", 1),
        ("2001:db8::/32", "SIP/2.0 403 Forbidden", 0),
        ("127.0.0.1", "SIP/2.0 403 Forbidden", 0),
    ] {
        let server = TestServer::start(TestServerOptions {
            allow: vec![allow.into()],
            bind: "::1".parse().unwrap(),
            ..TestServerOptions::default()
        });
        let sock = client("::1");
        let answer = exchange(
            &sock,
            server.udp_addr(),
            &notify("v6-udp"),
            Duration::from_secs(2),
        );
        assert_eq!(
            answer.as_deref(),
            Some(expect),
            "allow = [{allow}] over UDP"
        );
        let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
        s.write_all(&notify("v6-tcp")).unwrap();
        let got = read_answers(&mut s, 1);
        assert!(got.starts_with(expect), "allow = [{allow}] over TCP: {got}");
        server.wait_for_signals(2 * signals, Duration::from_secs(2));
        std::thread::sleep(SETTLE);
        assert_eq!(server.signal_count(), 2 * signals, "allow = [{allow}]");
        assert!(server.requests().iter().all(|r| r.source.is_ipv6()));
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limits.

#[test]
fn a_per_source_udp_flood_is_cut_to_its_budget() {
    // The defaults: 50 requests/s per source (burst 100), 10 triggers/min per source.
    let server = TestServer::start(TestServerOptions::default());
    let flood = client("127.0.0.1");
    const N: usize = 1000;
    let started = Instant::now();
    for i in 0..N {
        flood
            .send_to(&notify(&format!("f{i}")), server.udp_addr())
            .unwrap();
        if i % 50 == 49 {
            // Let the listener keep up, so the kernel's buffers do not do the dropping: on a
            // loaded machine the listener may not run for a while. Fifty datagrams fit in
            // the socket's buffer many times over.
            let sent = i as u64 + 1;
            let end = Instant::now() + Duration::from_secs(2);
            while server.counters().received < sent && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let sent_in = started.elapsed();
    let end = Instant::now() + Duration::from_secs(5);
    while (server.counters().received as usize) < N && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let processed_in = started.elapsed();
    // Count the answers that came back.
    flood
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut answers = 0;
    while flood.recv_from(&mut buf).is_ok() {
        answers += 1;
    }
    std::thread::sleep(SETTLE);
    let c = server.counters();
    // Everything was processed within this time, so no budget refilled for longer.
    let elapsed = started.elapsed();
    // The burst, plus 50/s for as long as the flood took to be processed.
    let budget = 100 + (50.0 * processed_in.as_secs_f64()).ceil() as u64 + 1;
    // Ten triggers per minute: the ten of the burst, plus one for every 6 s the processing
    // took (a loaded machine may take that long).
    let triggers = 10 + (elapsed.as_secs_f64() / 6.0).floor() as u64;
    println!(
        "UDP flood: {N} NOTIFYs in {sent_in:?}: received {}, answered {}, {answers} answers read, rate_limited_requests {}, resync_requests {}, rate_limited_triggers {}",
        c.received, c.responses, c.rate_limited_requests, c.resync_requests, c.rate_limited_triggers
    );
    // The kernel may drop some of the flood before the listener reads it; what arrives is
    // still many times the budget.
    assert!(c.received >= 500, "{} of {N} arrived", c.received);
    assert_eq!(c.received, c.responses + c.rate_limited_requests);
    assert!(
        c.responses <= budget,
        "{} answered, budget {budget}",
        c.responses
    );
    assert!(c.responses >= 100, "at least the burst is answered");
    assert_eq!(answers as u64, c.responses);
    // Every answered NOTIFY got its 200; ten of them (more only on a slow machine) became
    // signals.
    assert!(
        (10..=triggers).contains(&c.resync_requests),
        "{} triggers in {elapsed:?}, at most {triggers} expected",
        c.resync_requests
    );
    assert_eq!(c.rate_limited_triggers, c.responses - c.resync_requests);
    assert_eq!(server.signal_count() as u64, c.resync_requests);
    // Another source is not affected.
    let other = client("127.0.0.3");
    assert_eq!(
        exchange(
            &other,
            server.udp_addr(),
            &notify("other"),
            Duration::from_secs(2)
        )
        .as_deref(),
        Some("SIP/2.0 200 OK")
    );
    assert_eq!(
        server.wait_for_signals(11, Duration::from_secs(2)).len(),
        11
    );
}

#[test]
fn a_tcp_flood_is_cut_without_closing_the_connection() {
    let server = TestServer::start(TestServerOptions {
        rate_limits: RateLimits {
            requests_per_second_per_source: 5,
            requests_burst_per_source: 10,
            ..RateLimits::default()
        },
        ..TestServerOptions::default()
    });
    let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend_from_slice(&options(&format!("t{i}")));
    }
    let started = Instant::now();
    s.write_all(&burst).unwrap();
    let got = read_answers(&mut s, 10);
    let end = Instant::now() + Duration::from_secs(3);
    while server.counters().received < 200 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let c = server.counters();
    // What 5/s adds while the 200 are processed (a fraction of a second, unless the machine is
    // loaded).
    let refilled = (5.0 * started.elapsed().as_secs_f64()).ceil() as u64;
    assert_eq!(c.received, 200);
    assert!(
        (10..=11 + refilled).contains(&c.responses),
        "burst of 10 (and what 5/s adds meanwhile, {refilled}): {}",
        c.responses
    );
    assert_eq!(c.rate_limited_requests, 200 - c.responses);
    assert!(got.starts_with("SIP/2.0 200 OK"), "{got}");
    // The connection is still open and served once the budget has refilled.
    std::thread::sleep(Duration::from_millis(400));
    s.write_all(&options("after")).unwrap();
    let after = read_answers(&mut s, 1);
    assert!(after.contains("Call-ID: trust-after"), "{after}");
}

#[test]
fn the_global_limits_hold_across_sources() {
    let server = TestServer::start(TestServerOptions {
        rate_limits: RateLimits {
            requests_per_second: 20,
            triggers_per_minute: 5,
            ..RateLimits::default()
        },
        ..TestServerOptions::default()
    });
    // Ten sources, one NOTIFY each: all within the request budget (20), five triggers.
    let started = Instant::now();
    for i in 0..10 {
        let sock = client(&format!("127.0.0.{}", 10 + i));
        let answer = exchange(
            &sock,
            server.udp_addr(),
            &notify(&format!("g{i}")),
            Duration::from_secs(2),
        );
        assert_eq!(answer.as_deref(), Some("SIP/2.0 200 OK"), "source {i}");
    }
    std::thread::sleep(SETTLE);
    let c = server.counters();
    // Five a minute: one more for every 12 s the ten exchanges took (a loaded machine).
    let triggers = 5 + (started.elapsed().as_secs_f64() / 12.0).floor() as u64;
    assert!(
        (5..=triggers).contains(&c.resync_requests),
        "{} triggers, at most {triggers}",
        c.resync_requests
    );
    assert_eq!(c.resync_requests + c.rate_limited_triggers, 10);
    assert_eq!(server.signal_count() as u64, c.resync_requests);
    // Ten more sources, five OPTIONS each, all at once: only what is left of the 20/s gets
    // through, whoever sends it.
    let socks: Vec<UdpSocket> = (0..10)
        .map(|i| client(&format!("127.0.1.{}", 10 + i)))
        .collect();
    let flood_started = Instant::now();
    for (i, sock) in socks.iter().enumerate() {
        for k in 0..5 {
            sock.send_to(&options(&format!("h{i}-{k}")), server.udp_addr())
                .unwrap();
        }
    }
    // The time the listener took to take in the flood, over which the budget refills.
    let end = Instant::now() + Duration::from_secs(3);
    while server.counters().received < 60 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    let processing = flood_started.elapsed();
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    for sock in &socks {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while sock.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
    }
    let c = server.counters();
    println!(
        "global limit: {answered} of 50 OPTIONS from 10 sources answered; rate_limited_requests {}",
        c.rate_limited_requests
    );
    assert_eq!(c.received, 60);
    assert_eq!(c.responses, 10 + answered);
    assert_eq!(c.rate_limited_requests, 50 - answered);
    // At most the global burst of 20, plus 20/s for as long as the processing took.
    let most = 20 + (20.0 * processing.as_secs_f64()).ceil() as u64;
    assert!(
        (1..=most).contains(&answered),
        "at most the global burst of 20 (and what 20/s adds, {most} in all): {answered}"
    );
}

// ---------------------------------------------------------------------------------------------
// The daemon: configuration, log lines and the summary on the way out.

#[test]
fn the_daemon_refuses_logs_once_and_reports_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trust.toml");
    std::fs::write(
        &config,
        "[sip]\nlisten = []\nallow = [\"192.0.2.1\", \"2001:db8::/32\"]\n\n[sip.limits]\nrequests_per_second_per_source = 2\nrequests_burst_per_source = 3\n",
    )
    .unwrap();
    let mut d = Daemon::start(config.to_str().unwrap());
    assert_eq!(
        d.count(
            "accepting requests only from 192.0.2.1, 2001:db8::/32; other sources are answered 403 Forbidden",
            1,
            Duration::from_secs(2)
        ),
        1
    );
    // Ten NOTIFYs at once from outside the list: the per-source burst of 3 is answered 403,
    // the rest is dropped unread.
    let sock = client("127.0.0.1");
    for i in 0..10 {
        sock.send_to(&notify(&format!("dm{i}")), d.udp_addr())
            .unwrap();
    }
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut answers = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        answers.push(text.lines().next().unwrap_or_default().to_owned());
    }
    assert_eq!(answers, vec!["SIP/2.0 403 Forbidden"; 3]);
    let (status, log) = d.terminate_with_log();
    assert!(status.success());
    let refused: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("not in [sip] allow"))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "logged once, not per packet: {refused:#?}"
    );
    let limited: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("request rate limit"))
        .collect();
    assert_eq!(
        limited.len(),
        0,
        "the source was logged a moment ago: {limited:#?}"
    );
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped") && l.contains("received="))
        .unwrap_or_else(|| panic!("no summary in {log:#?}"));
    for field in [
        "received=10",
        "refused_source=3",
        "rate_limited_requests=7",
        "rate_limited_triggers=0",
        "resync_requests=0",
    ] {
        assert!(stopped.contains(field), "{field} in {stopped}");
    }
    assert!(!log.iter().any(|l| l.contains("resync requested")));
}

#[test]
fn check_shows_the_trust_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trust.toml");
    std::fs::write(
        &config,
        "[sip]\nallow = [\"192.0.2.0/24\", \"::ffff:10.1.2.3\"]\nrefused = \"drop\"\n\n[sip.limits]\ntriggers_per_minute = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(support::daemon::BIN)
        .arg("check")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  sip.allow           192.0.2.0/24, 10.1.2.3\n"),
        "{text}"
    );
    assert!(text.contains("  sip.refused         drop\n"), "{text}");
    assert!(
        text.contains("  sip.limits          requests 50/s (burst 100) per source, 2000/s in all; triggers 10/min per source, unlimited in all; 4096 sources remembered\n"),
        "{text}"
    );
    std::fs::write(&config, "[sip]\nallow = [\"10.0.0.1/8\"]\n").unwrap();
    let out = std::process::Command::new(support::daemon::BIN)
        .arg("check")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":2: sip.allow: \"10.0.0.1/8\": 10.0.0.1/8 has host bits set after the prefix: write 10.0.0.0/8 for the block, or 10.0.0.1 alone for the one address"),
        "{err}"
    );
}

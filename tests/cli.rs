//! The `sip-resync` binary as a user runs it: `run` on a real configuration, `notify` against
//! it over UDP and TCP, exit codes, and shutdown on SIGTERM.

mod support;

use std::process::Command;
use std::time::Duration;

use support::daemon::{Daemon, BIN};

fn notify(target: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("notify")
        .arg(target)
        .args(args)
        .output()
        .expect("run sip-resync notify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn notify_triggers_the_daemon_over_udp_and_tcp() {
    let mut d = Daemon::start("fixtures/demo.toml");
    assert_eq!(
        notify(&d.udp, &[]),
        (0, "SIP/2.0 200 OK".into(), String::new())
    );
    let (code, line, _) = notify(&d.tcp, &["--event", "check-sync;reboot=true"]);
    assert_eq!((code, line.as_str()), (0, "SIP/2.0 200 OK"));
    assert_eq!(d.count("resync requested", 2, Duration::from_secs(3)), 2);
    let (code, line, _) = notify(&d.udp, &["--event", "presence"]);
    assert_eq!((code, line.as_str()), (1, "SIP/2.0 489 Bad Event"));
    assert_eq!(
        d.count("resync requested", 3, Duration::from_millis(200)),
        2,
        "the refused NOTIFY requested nothing"
    );
    assert!(d.terminate().success(), "SIGTERM is a clean shutdown");
}

#[test]
fn panasonic_cfg_sets_the_accepted_event() {
    let mut d = Daemon::start("fixtures/panasonic/resync-event.cfg");
    let (code, line, _) = notify(&d.udp, &["--event", "resync"]);
    assert_eq!((code, line.as_str()), (0, "SIP/2.0 200 OK"));
    let (code, line, _) = notify(&d.udp, &["--event", "check-sync"]);
    assert_eq!((code, line.as_str()), (1, "SIP/2.0 489 Bad Event"));
    assert_eq!(d.count("resync requested", 1, Duration::from_secs(3)), 1);
    assert!(d.terminate().success());
}

#[test]
fn notify_without_a_listener_times_out_with_exit_3() {
    // A bound socket that never answers: the NOTIFY is retransmitted until the deadline.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("udp:{}", silent.local_addr().unwrap());
    let (code, line, err) = notify(&target, &["--timeout", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(line.is_empty());
    assert!(err.contains("no final response"), "{err}");
    let mut buf = [0u8; 2048];
    silent.set_nonblocking(true).unwrap();
    let mut received = 0;
    while silent.recv(&mut buf).is_ok() {
        received += 1;
    }
    assert!(
        received >= 2,
        "Timer E retransmitted within 1 s (got {received} copies)"
    );
}

#[test]
fn bad_configuration_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("phone.cfg");
    std::fs::write(&cfg, "CFG_RESYNC_FROM_SIP=\"resync\"\r\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("phone.cfg:1") && err.contains("Panasonic SIP Phone Standard Format File"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["run", "--config", "/nonexistent/sip-resync.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/sip-resync.toml")
    );
}

#[test]
fn port_in_use_is_explained() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = format!("udp:{}", taken.local_addr().unwrap());
    let config = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(BIN)
        .args(["run", "--config", &config, "--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another process already uses this port"),
        "{err}"
    );
}

//! One port, one agent: a second `sip-resync run` on a port in use exits 4 with the documented
//! message, and no other process can join the default agent's UDP port with `SO_REUSEPORT`
//! to take a share of the PBX's NOTIFYs (docs/sip.md, "UDP workers").

mod support;

use std::os::fd::AsRawFd;
use std::process::Command;

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
use support::daemon::{Daemon, BIN};

/// The UDP address of a running daemon, as `127.0.0.1:PORT`.
fn udp_of(d: &Daemon) -> String {
    d.udp.trim_start_matches("udp:").to_owned()
}

/// `sip-resync run` on `listen` with `extra` TOML: its exit code and standard error.
fn second_agent(listen: &str, extra: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("second.toml");
    std::fs::write(&config, extra).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--listen", listen, "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_in_use(code: Option<i32>, err: &str, listen: &str) {
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains(&format!("error: cannot listen on {listen}: "))
            && err.contains("Address already in use")
            && err.contains("another process holds this port"),
        "{err}"
    );
}

#[test]
fn a_second_agent_on_the_port_of_a_running_one_exits_4() {
    let first = Daemon::start("fixtures/demo.toml");
    let listen = first.udp.clone();
    let (code, err) = second_agent(&listen, "");
    assert_in_use(code, &err, &listen);
}

#[test]
fn with_several_workers_a_second_agent_still_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("workers.toml");
    std::fs::write(&config, "[sip]\nudp_workers = 2\n").unwrap();
    let first = Daemon::start(config.to_str().unwrap());
    let listen = first.udp.clone();
    // The second binds the port alone first: the first agent's group makes that fail.
    let (code, err) = second_agent(&listen, "[sip]\nudp_workers = 2\n");
    assert_in_use(code, &err, &listen);
}

#[test]
fn no_process_joins_the_default_agents_port_with_so_reuseport() {
    let first = Daemon::start("fixtures/demo.toml");
    let addr: std::net::SocketAddr = udp_of(&first).parse().unwrap();
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    socket::setsockopt(&fd, sockopt::ReusePort, &true).unwrap();
    let joined = socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr));
    assert_eq!(
        joined,
        Err(nix::errno::Errno::EADDRINUSE),
        "a socket with SO_REUSEPORT must not join the agent's port"
    );
}

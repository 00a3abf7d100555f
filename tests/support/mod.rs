#![allow(dead_code)]
pub mod daemon;
pub mod http;
pub mod kamailio;
pub mod pki;
pub mod server;
pub mod sipp;
pub mod state;
pub mod transfer;

/// An out-of-dialog NOTIFY datagram from 127.0.0.1:5999 with `Event: {event}`; `tag` makes
/// its Call-ID, branch and From tag unique.
pub fn notify_datagram(tag: &str, event: &str) -> Vec<u8> {
    format!(
        "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{tag}\r\n\
         From: <sip:pbx@127.0.0.1>;tag={tag}\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: {tag}\r\n\
         CSeq: 1 NOTIFY\r\n\
         Event: {event}\r\n\
         Subscription-State: terminated\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Reads from a TCP stream until `n` SIP status lines have arrived; panics after 3 s or when
/// the peer closes first.
pub fn read_answers(stream: &mut std::net::TcpStream, n: usize) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 ").count() < n {
        let k = stream.read(&mut buf).expect("an answer in time");
        assert!(k > 0, "connection closed early; got {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
    got
}

/// Runs the built `sip-resync` binary with `args` from the repository root, to completion:
/// its exit code (-1 when killed by a signal), standard output and standard error.
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(daemon::BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run sip-resync");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `agent.toml` in `dir` for the daemon: no SIP listener of its own (`--listen` gives
/// one), the provisioning files at `urls` in order, then `extra` lines of `[provisioning]`.
/// Returns its path.
pub fn write_agent_config(dir: &std::path::Path, urls: &[String], extra: &str) -> String {
    let files: Vec<String> = urls
        .iter()
        .map(|u| format!("{{ url = \"{u}\" }}"))
        .collect();
    let text = format!(
        "[sip]\nlisten = []\n[provisioning]\nfiles = [{}]\n{extra}",
        files.join(", ")
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Builds the example with the profile of this test (a no-op when it is current; `cargo
/// test --test examples` does not build examples by itself) and returns its path.
pub fn build_example(name: &str) -> std::path::PathBuf {
    // This test runs from TARGET/PROFILE/deps/.
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("TARGET/PROFILE/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("TARGET");
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--example", name, "--target-dir"])
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
    }
    let status = cargo.status().expect("run cargo build --example");
    assert!(status.success(), "cargo build --example {name} failed");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

//! The examples, run as a person would run them: `host_stack` on a real UDP socket on
//! 127.0.0.1, sent a real NOTIFY, its retransmission, an OPTIONS, an INVITE and a voicemail
//! NOTIFY; `standalone` on the demo configuration, sent a NOTIFY by `sip-resync notify`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process whose standard output is read line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the example");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line that contains `needle`, waiting up to `wait`.
    fn line_with(&mut self, needle: &str, wait: Duration) -> String {
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {wait:?}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to exit by itself; returns its status and every line.
    fn finish(mut self, wait: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let end = Instant::now() + wait;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "the example did not stop within {wait:?}; got:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends when standard output closes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listening_addr(line: &str) -> SocketAddr {
    line.rsplit("udp:")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no udp address in {line:?}"))
}

fn request(method: &str, to_uri: &str, from: SocketAddr, extra: &str) -> Vec<u8> {
    format!(
        "{method} {to_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-1;rport\r\nFrom: <sip:pbx@{from}>;tag=77\r\nTo: <{to_uri}>\r\nCall-ID: {method}-example@{from}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn host_stack_answers_our_notify_and_leaves_everything_else_to_the_host() {
    let bin = support::build_example("host_stack");
    let mut host =
        Running::start(Command::new(bin).args(["0", "--exit-after", "5", "--timeout", "60"]));
    let addr = listening_addr(&host.line_with("listening on", Duration::from_secs(10)));
    let pbx = UdpSocket::bind("127.0.0.1:0").unwrap();
    pbx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = pbx.local_addr().unwrap();
    let uri = format!("sip:1001@{addr}");
    let mut buf = [0u8; 4096];
    let mut exchange = |bytes: &[u8]| -> Vec<u8> {
        pbx.send_to(bytes, addr).unwrap();
        let (n, from) = pbx.recv_from(&mut buf).expect("an answer");
        assert_eq!(from, addr);
        buf[..n].to_vec()
    };

    // 1. A check-sync NOTIFY, out of dialog: sip-resync's.
    let notify = request("NOTIFY", &uri, me, "Event: check-sync;reboot=true\r\n");
    let first = exchange(&notify);
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.contains("CSeq: 1 NOTIFY\r\n"), "{text}");
    // 2. Its retransmission: still sip-resync's, the same bytes, no second resync.
    assert_eq!(exchange(&notify), first);
    // 3. OPTIONS: the host answers it itself.
    let options = String::from_utf8(exchange(&request("OPTIONS", &uri, me, ""))).unwrap();
    assert!(options.starts_with("SIP/2.0 200 OK\r\n"), "{options}");
    assert!(options.contains("Server: host_stack example"), "{options}");
    assert!(
        !options.contains("Allow-Events"),
        "not sip-resync's answer: {options}"
    );
    // 4. An INVITE and 5. a voicemail NOTIFY: the host's (this host does not answer them).
    pbx.send_to(&request("INVITE", &uri, me, ""), addr).unwrap();
    pbx.send_to(
        &request("NOTIFY", &uri, me, "Event: message-summary\r\n"),
        addr,
    )
    .unwrap();

    let (status, lines) = host.finish(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let expected = [
        format!("host_stack: listening on udp:{addr}"),
        format!("sip-resync: NOTIFY from {me} answered SIP/2.0 200 OK; resync requested: event check-sync, reboot Some(true)"),
        format!("sip-resync: NOTIFY from {me} answered SIP/2.0 200 OK; no resync"),
        format!("host: OPTIONS from {me} answered SIP/2.0 200 OK by the host"),
        format!("host: INVITE from {me} handled by the host (not a resync NOTIFY)"),
        format!("host: NOTIFY from {me} handled by the host (not a resync NOTIFY)"),
        "host_stack: done: 5 message(s), 2 for sip-resync, 1 resync request(s)".to_owned(),
    ];
    assert_eq!(lines, expected);
}

#[test]
fn standalone_prints_the_startup_outcome_and_the_one_a_notify_starts() {
    let bin = support::build_example("standalone");
    let state = tempfile::tempdir().unwrap();
    let config = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    let mut agent = Running::start(Command::new(bin).args([
        config.as_str(),
        "--listen",
        "udp:127.0.0.1:0",
        "--state-dir",
        state.path().to_str().unwrap(),
        "--exit-after-outcomes",
        "2",
    ]));
    let addr = listening_addr(&agent.line_with("listening on", Duration::from_secs(10)));
    // Subscribed before the agent ran: the start-up run is never missed.
    let startup = agent.line_with("outcome:", Duration::from_secs(20));
    assert!(
        startup.starts_with("outcome: run 1 (startup): updated master.cfg, 0080F0A1B2C3.cfg"),
        "{startup}"
    );
    let notify = Command::new(env!("CARGO_BIN_EXE_sip-resync"))
        .args(["notify", &format!("udp:{addr}"), "--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&notify.stdout).trim(),
        "SIP/2.0 200 OK"
    );
    let second = agent.line_with("outcome:", Duration::from_secs(20));
    assert!(
        second.starts_with("outcome: run 2 (notify check-sync from udp:127.0.0.1:")
            && second.ends_with("unchanged [reboot requested: no]"),
        "{second}"
    );
    let (status, lines) = agent.finish(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("standalone: stopped: 1 message(s), 1 resync request(s)"),
        "{lines:?}"
    );
}

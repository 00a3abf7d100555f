//! The softphone example on rsipstack (`examples/rsipstack_phone.rs`) against a real Kamailio
//! on loopback (`fixtures/kamailio/registrar.cfg`): Kamailio is the line's registrar (REGISTER
//! with digest) and sends check-sync to the line's address of record through its location
//! table; a real HTTP server serves the provisioning file. Over UDP and over TCP, each
//! without and with the phone's digest challenge, which Kamailio answers with `uac_auth()`
//! (a new branch, the same CSeq):
//!
//! * every check-sync gets 200 at Kamailio (its final reply, relayed back to the test that
//!   asked Kamailio to send it) and exactly one fetch;
//! * a retransmission (the same request forwarded again, statelessly, with the same branch)
//!   is answered by rsipstack's transaction layer and fetches nothing;
//! * during a call (an INVITE the phone answers, until the BYE) a check-sync is answered 200
//!   but fetched only when the call ends.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::http::HttpServer;
use support::kamailio::{stop_process_group, Kamailio};

/// The line's password at the registrar.
const LINE_PASSWORD: &str = "linepass";
/// The password the phone's challenge expects, which Kamailio's failure route answers with.
const NOTIFY_PASSWORD: &str = "secret";
const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";
/// How long to watch for a fetch that must not happen.
const SETTLE: Duration = Duration::from_millis(1500);
const WAIT: Duration = Duration::from_secs(10);

/// A port free on 127.0.0.1 for both UDP and TCP at the moment of asking.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The example as a child process in a process group of its own, stopped when dropped.
struct Phone {
    child: Child,
    /// Where its standard error (the agent's log) goes.
    log: PathBuf,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// NOTIFY transactions it has answered and ended (`answered NOTIFY`).
    notifies_answered: usize,
}

impl Phone {
    fn start(registrar: &str, config: &Path, state: &Path) -> Phone {
        let log = state.with_extension("log");
        let mut child = Command::new(support::build_example("rsipstack_phone"))
            .process_group(0)
            .args([
                "--registrar",
                registrar,
                "--user",
                "1001",
                "--password",
                LINE_PASSWORD,
            ])
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state)
            .env("RUST_LOG", "sip_resync=debug,rsipstack=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run the example");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Phone {
            child,
            log,
            lines,
            seen: Vec::new(),
            notifies_answered: 0,
        }
    }

    /// The next line containing `needle`, within `wait`; `None` if none came.
    fn line_with(&mut self, needle: &str, wait: Duration) -> Option<String> {
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            self.notifies_answered += usize::from(line == "answered NOTIFY");
            self.seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    /// Waits until the phone has answered and ended `n` NOTIFY transactions in all.
    fn wait_notifies_answered(&mut self, n: usize) {
        let end = Instant::now() + WAIT;
        while self.notifies_answered < n {
            let left = end.saturating_duration_since(Instant::now());
            if self.line_with("answered NOTIFY", left).is_none() {
                panic!(
                    "the phone ended {} NOTIFY transactions, not {n}:\n{}",
                    self.notifies_answered,
                    self.output()
                );
            }
        }
    }

    /// What it printed and logged so far.
    fn output(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("stdout:\n{}\nlog:\n{log}", self.seen.join("\n"))
    }

    fn expect(&mut self, needle: &str) -> String {
        self.line_with(needle, WAIT).unwrap_or_else(|| {
            panic!(
                "the phone printed no {needle:?} within {WAIT:?}; it printed:\n{}",
                self.seen.join("\n")
            )
        })
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        stop_process_group(&mut self.child);
    }
}

/// The PBX side of the test: asks Kamailio, over UDP, to send requests to the line.
struct Pbx {
    socket: UdpSocket,
    kamailio: SocketAddr,
}

impl Pbx {
    fn new(kamailio: SocketAddr) -> Pbx {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        Pbx { socket, kamailio }
    }

    /// A request for line 1001 with branch, Call-ID and From-tag made of `tag`.
    fn request(&self, method: &str, tag: &str, to_tag: Option<&str>, extra: &str) -> Vec<u8> {
        let me = self.socket.local_addr().unwrap();
        let k = self.kamailio;
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let cseq = if method == "ACK" || method == "BYE" {
            2
        } else {
            1
        };
        // ACK and BYE belong to the INVITE's dialog: its Call-ID and From-tag.
        let dialog = tag.split('/').next().unwrap();
        format!(
            "{method} sip:1001@{k} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{}\r\n\
             From: <sip:pbx@{me}>;tag={dialog}\r\nTo: <sip:1001@{k}>{to_tag}\r\n\
             Call-ID: {dialog}@pbx\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            tag.replace('/', "-")
        )
        .into_bytes()
    }

    /// Sends `request` and returns the final response Kamailio relays back (provisional
    /// ones skipped); `None` after `WAIT`.
    fn send(&self, request: &[u8]) -> Option<String> {
        self.socket.send_to(request, self.kamailio).unwrap();
        let end = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).unwrap();
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 1") {
                return Some(text);
            }
        }
    }
}

fn status(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn to_tag(response: &str) -> String {
    response
        .lines()
        .find(|l| l.starts_with("To:") || l.starts_with("t:"))
        .and_then(|l| l.split(";tag=").nth(1))
        .map(|t| t.split(';').next().unwrap().trim().to_owned())
        .expect("a To-tag in the response")
}

/// Kamailio, the HTTP server and the phone registered over `transport` (`udp` or `tcp`).
struct Setup {
    _dir: tempfile::TempDir,
    http: HttpServer,
    kamailio: Kamailio,
    phone: Phone,
    pbx: Pbx,
}

fn setup(transport: &str, challenge: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let http = HttpServer::start();
    http.put("master.cfg", format!("{MAGIC}X=\"1\"\r\n"));
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = std::fs::read_to_string(support::sipp::fixture("fixtures/kamailio/registrar.cfg"))
        .unwrap()
        .replace("@LISTEN@", &listen.to_string())
        .replace("@PASSWORD@", LINE_PASSWORD)
        .replace("@AUTH_PASSWORD@", NOTIFY_PASSWORD);
    let kamailio = Kamailio::start(dir.path(), &config);
    let auth = if challenge {
        format!(
            "[sip.auth]\nchallenge = true\n[[sip.auth.credentials]]\nuser = \"1001\"\n\
             auth_id = \"1001\"\npassword = \"{NOTIFY_PASSWORD}\"\n"
        )
    } else {
        String::new()
    };
    // Every check-sync its own run: no budget to wait for.
    let phone_config = dir.path().join("phone.toml");
    std::fs::write(
        &phone_config,
        format!(
            "{auth}[provisioning]\nfiles = [{{ url = \"{}\" }}]\nfetch_at_startup = false\n\
             run_budget_refill_secs = 0\n",
            http.url("master.cfg")
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut phone = Phone::start(&format!("{transport}:{listen}"), &phone_config, &state);
    let line = phone.expect("registered");
    println!("{transport}, challenge {challenge}: {line}");
    Setup {
        _dir: dir,
        http,
        kamailio,
        phone,
        pbx: Pbx::new(listen),
    }
}

impl Setup {
    /// The final reply to `request`, or a panic showing both logs.
    fn send(&mut self, request: &[u8]) -> String {
        match self.pbx.send(request) {
            Some(reply) => reply,
            None => panic!(
                "no final reply from Kamailio within {WAIT:?}\nKamailio:\n{}\nphone {}",
                self.kamailio.log_text(),
                self.phone.output()
            ),
        }
    }

    fn check_sync(&mut self, tag: &str, extra: &str) -> String {
        let request = self.pbx.request(
            "NOTIFY",
            tag,
            None,
            &format!("Event: check-sync\r\nSubscription-State: terminated\r\n{extra}"),
        );
        self.send(&request)
    }
}

fn check_syncs_fetch_once_each(transport: &str, challenge: bool) {
    let mut s = setup(transport, challenge);
    for i in 1..=3 {
        let reply = s.check_sync(&format!("cs{i}"), "");
        let log = s.kamailio.log_text();
        assert_eq!(
            status(&reply),
            "SIP/2.0 200 OK",
            "check-sync {i}:\n{reply}\n{log}"
        );
        let run = s.phone.expect(&format!("provisioning: run {i} "));
        assert_eq!(
            s.http.get_count("master.cfg"),
            i,
            "one fetch per check-sync"
        );
        println!(
            "{transport}, challenge {challenge}: Kamailio got {}; {run}",
            status(&reply)
        );
    }
    let log = s.kamailio.log_text();
    let challenged = log.matches("NOTIFY final reply 401").count();
    let accepted = log.matches("NOTIFY final reply 200").count();
    println!(
        "{transport}, challenge {challenge}: Kamailio logged {challenged} x 401, {accepted} x 200"
    );
    assert_eq!(accepted, 3, "{log}");
    // With the challenge, each check-sync was challenged once and its uac_auth() retry (same
    // CSeq, new branch) accepted on its own merits.
    assert_eq!(challenged, if challenge { 3 } else { 0 }, "{log}");

    // A retransmission: Kamailio forwards the same trigger twice statelessly, with the same
    // branch; rsipstack answers the second from its table of ended transactions, nothing is
    // fetched again. The copy is sent once the phone has ended the transaction (rsipstack
    // 0.7 keeps the response for retransmissions from then on; a copy arriving between the
    // response and the end of its transaction is not answered, as a UDP sender's first
    // retransmission, 500 ms later, never does).
    let first = s.check_sync("rt", "X-Stateless: yes\r\n");
    s.phone
        .wait_notifies_answered(if challenge { 7 } else { 4 });
    let again = s.check_sync("rt", "X-Stateless: yes\r\n");
    println!(
        "{transport}, challenge {challenge}: retransmitted check-sync: {} then {}",
        status(&first),
        status(&again)
    );
    if challenge {
        // Stateless forwarding answers no challenge: both get the 401, nothing is fetched.
        assert_eq!(status(&first), "SIP/2.0 401 Unauthorized", "{first}");
        assert_eq!(status(&again), "SIP/2.0 401 Unauthorized", "{again}");
        assert!(s.phone.line_with("provisioning: run", SETTLE).is_none());
        assert_eq!(s.http.get_count("master.cfg"), 3);
    } else {
        assert_eq!(status(&first), "SIP/2.0 200 OK", "{first}");
        assert_eq!(status(&again), "SIP/2.0 200 OK", "{again}");
        s.phone.expect("provisioning: run 4 ");
        assert!(
            s.phone.line_with("provisioning: run", SETTLE).is_none(),
            "a second run for the retransmission"
        );
        assert_eq!(s.http.get_count("master.cfg"), 4, "one fetch for both");
    }
}

#[test]
fn udp_check_syncs_through_the_location_table() {
    check_syncs_fetch_once_each("udp", false);
}

#[test]
fn tcp_check_syncs_through_the_location_table() {
    check_syncs_fetch_once_each("tcp", false);
}

#[test]
fn udp_check_syncs_challenged_and_answered_by_uac_auth() {
    check_syncs_fetch_once_each("udp", true);
}

#[test]
fn tcp_check_syncs_challenged_and_answered_by_uac_auth() {
    check_syncs_fetch_once_each("tcp", true);
}

#[test]
fn a_check_sync_during_a_call_is_fetched_when_the_call_ends() {
    let mut s = setup("udp", false);
    let invite = s.pbx.request("INVITE", "call", None, "");
    let answered = s.send(&invite);
    assert_eq!(status(&answered), "SIP/2.0 200 OK", "{answered}");
    s.phone.expect("call answered");
    let tag = to_tag(&answered);
    s.pbx
        .socket
        .send_to(
            &s.pbx.request("ACK", "call/ack", Some(&tag), ""),
            s.pbx.kamailio,
        )
        .unwrap();
    // During the call: answered at once, not fetched.
    let reply = s.check_sync("during", "");
    assert_eq!(status(&reply), "SIP/2.0 200 OK", "{reply}");
    assert!(s.phone.line_with("provisioning: run", SETTLE).is_none());
    assert_eq!(
        s.http.get_count("master.cfg"),
        0,
        "nothing fetched during the call"
    );
    let bye = s.pbx.request("BYE", "call/bye", Some(&tag), "");
    let bye = s.send(&bye);
    assert_eq!(status(&bye), "SIP/2.0 200 OK", "{bye}");
    s.phone.expect("call ended");
    let run = s.phone.expect("provisioning: run 1 ");
    println!("after the call: {run}");
    assert_eq!(s.http.get_count("master.cfg"), 1);
}

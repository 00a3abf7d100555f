//! The digest challenge of NOTIFY over real sockets: SIPp's own `[authentication]` against
//! the daemon fetching from a real HTTP server (one fetch per authenticated NOTIFY, none for
//! wrong, replayed or refused ones), and SHA-256 (RFC 8760), which SIPp 3.6 does not compute,
//! from a client written here against the in-process listener.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use sip_resync::sip::digest::{authorization, parse_challenge, Algorithm};
use sip_resync::sip::{AuthConfig, Credential};
use support::daemon::Daemon;
use support::http::HttpServer;
use support::read_answers;
use support::server::{TestServer, TestServerOptions};
use support::sipp::{run_scenario_with, SippTransport};

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";
/// Lines that report the end of a run.
const OUTCOME: &str = "sip_resync::engine: run ";
/// When nothing is expected: time for a stray fetch to show up anyway.
const SETTLE: Duration = Duration::from_millis(700);

fn write_config(dir: &Path, server: &HttpServer, sip: &str) -> String {
    let text = format!(
        "[sip]\nlisten = []\n{sip}\n[provisioning]\nfiles = [{{ url = \"{}\" }}]\nfetch_at_startup = false\n",
        server.url("master.cfg")
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// MD5 offered first: SIPp 3.6 answers the first challenge and computes MD5 only.
const CHALLENGE: &str = "[sip.auth]\nchallenge = true\nalgorithms = [\"MD5\", \"SHA-256\"]\n\
[[sip.auth.credentials]]\nuser = \"1001\"\nauth_id = \"1001\"\npassword = \"secret\"\n";

/// The Authorization value SIPp sent, from its `-trace_msg` log.
fn sent_authorization(message_log: &str) -> String {
    message_log
        .lines()
        .find_map(|l| l.strip_prefix("Authorization: "))
        .expect("SIPp sent an Authorization header")
        .trim_end_matches('\r')
        .to_owned()
}

#[test]
fn sipp_digest_exchange_fetches_once_and_wrong_or_replayed_credentials_fetch_nothing() {
    let server = HttpServer::start();
    server.put("master.cfg", format!("{MAGIC}X=\"1\"\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, CHALLENGE);
    let mut daemon = Daemon::start(&config);
    let udp = daemon.udp_addr();
    let creds = ["-au", "1001", "-ap", "secret", "-s", "1001"];

    // 401, then SIPp's [authentication] answer: 200 and exactly one fetch.
    let run = run_scenario_with("notify_auth.xml", udp, SippTransport::Udp, 1, &creds);
    run.assert_success();
    assert_eq!(daemon.count(OUTCOME, 1, Duration::from_secs(10)), 1);
    assert_eq!(
        server.get_count("master.cfg"),
        1,
        "one fetch per authenticated NOTIFY"
    );
    let captured = sent_authorization(&run.message_log);
    assert!(captured.contains("nc=00000001") && captured.contains("algorithm=MD5"));

    // The accepted Authorization replayed in a new transaction: 401 stale=true, no fetch.
    let inject = dir.path().join("replay.csv");
    std::fs::write(&inject, format!("SEQUENTIAL\n{captured};\n")).unwrap();
    let inject = inject.to_str().unwrap();
    run_scenario_with(
        "notify_auth_replay.xml",
        udp,
        SippTransport::Udp,
        1,
        &["-inf", inject, "-s", "1001"],
    )
    .assert_success();

    // A wrong password: 401 twice, no fetch.
    let wrong = ["-au", "1001", "-ap", "not-the-password", "-s", "1001"];
    run_scenario_with("notify_auth_wrong.xml", udp, SippTransport::Udp, 1, &wrong).assert_success();
    // An unknown authentication ID: the same.
    let unknown = ["-au", "intruder", "-ap", "secret", "-s", "1001"];
    run_scenario_with(
        "notify_auth_wrong.xml",
        udp,
        SippTransport::Udp,
        1,
        &unknown,
    )
    .assert_success();
    std::thread::sleep(SETTLE);
    assert_eq!(
        server.get_count("master.cfg"),
        1,
        "refused credentials fetch nothing"
    );

    // Over TCP the exchange is the same, and so is the replay.
    let tcp = daemon.tcp_addr();
    let run = run_scenario_with("notify_auth.xml", tcp, SippTransport::Tcp, 1, &creds);
    run.assert_success();
    assert_eq!(daemon.count(OUTCOME, 2, Duration::from_secs(10)), 2);
    assert_eq!(server.get_count("master.cfg"), 2);
    let captured = sent_authorization(&run.message_log);
    std::fs::write(
        dir.path().join("replay.csv"),
        format!("SEQUENTIAL\n{captured};\n"),
    )
    .unwrap();
    run_scenario_with(
        "notify_auth_replay.xml",
        tcp,
        SippTransport::Tcp,
        1,
        &["-inf", inject, "-s", "1001"],
    )
    .assert_success();
    std::thread::sleep(SETTLE);
    assert_eq!(server.get_count("master.cfg"), 2);

    let (status, log) = daemon.terminate_with_log();
    assert!(status.success());
    assert_eq!(log.iter().filter(|l| l.contains(OUTCOME)).count(), 2);
    // Refused credentials are logged (once per source per interval), the normal first 401 not.
    let refusals: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("its credentials were refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert!(refusals[0].contains("wrong response digest"));
}

#[test]
fn sipp_refused_source_gets_403_and_nothing_is_fetched() {
    let server = HttpServer::start();
    server.put("master.cfg", format!("{MAGIC}X=\"1\"\r\n"));
    let dir = tempfile::tempdir().unwrap();
    // SIPp sends from 127.0.0.1, outside this allowlist; the challenge is on as well, and
    // the 403 comes first.
    let config = write_config(
        dir.path(),
        &server,
        &format!("allow = [\"127.0.0.2\"]\n{CHALLENGE}"),
    );
    let mut daemon = Daemon::start(&config);
    let creds = ["-au", "1001", "-ap", "secret", "-s", "1001"];
    for (transport, target) in [
        (SippTransport::Udp, daemon.udp_addr()),
        (SippTransport::Tcp, daemon.tcp_addr()),
    ] {
        run_scenario_with("notify_forbidden.xml", target, transport, 1, &creds).assert_success();
    }
    std::thread::sleep(SETTLE);
    assert_eq!(
        server.total_gets(),
        0,
        "a refused source never reaches the engine"
    );
    assert_eq!(daemon.count(OUTCOME, 1, Duration::from_millis(10)), 0);
    assert!(daemon.terminate().success());
}

// ---------------------------------------------------------------------------------------------
// SHA-256 from a client written here (SIPp 3.6 computes MD5 only).

fn sha_first_server() -> TestServer {
    TestServer::start(TestServerOptions {
        auth: AuthConfig {
            challenge: true,
            credentials: vec![Credential {
                user: Some("1001".into()),
                auth_id: "auth-1001".into(),
                password: "s3cret".into(),
            }],
            ..AuthConfig::default()
        },
        ..TestServerOptions::default()
    })
}

const URI: &str = "sip:1001@127.0.0.1";

fn notify(tag: &str, cseq: u32, authorization: Option<&str>) -> Vec<u8> {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "NOTIFY {URI} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{tag}-{cseq}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f-{tag}\r\nTo: <{URI}>\r\nCall-ID: auth-{tag}\r\nCSeq: {cseq} NOTIFY\r\nEvent: check-sync\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn challenges(reply: &str) -> Vec<(String, String, Algorithm)> {
    reply
        .lines()
        .filter_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .map(|v| parse_challenge(v).expect("a well-formed challenge"))
        .collect()
}

fn answer(nonce: &str, alg: Algorithm, nc: u32) -> String {
    authorization(
        alg,
        "auth-1001",
        "s3cret",
        "sip-resync",
        nonce,
        "NOTIFY",
        URI,
        nc,
        "cafe01",
    )
}

fn udp_exchange(sock: &UdpSocket, to: SocketAddr, msg: &[u8]) -> String {
    sock.send_to(msg, to).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn sha256_is_offered_first_and_verifies_over_udp() {
    let server = sha_first_server();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let first = udp_exchange(&sock, server.udp_addr(), &notify("a", 1, None));
    assert!(first.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{first}");
    let offered = challenges(&first);
    let algs: Vec<Algorithm> = offered.iter().map(|c| c.2).collect();
    assert_eq!(algs, [Algorithm::Sha256, Algorithm::Md5], "RFC 8760 order");
    assert!(first.contains("qop=\"auth\""));
    assert_eq!(server.signal_count(), 0);

    let nonce = &offered[0].1;
    let auth = answer(nonce, Algorithm::Sha256, 1);
    let second = udp_exchange(&sock, server.udp_addr(), &notify("a", 2, Some(&auth)));
    assert!(second.starts_with("SIP/2.0 200 OK\r\n"), "{second}");
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(3)).len(), 1);

    // The same Authorization in a new transaction: a replay.
    let third = udp_exchange(&sock, server.udp_addr(), &notify("b", 3, Some(&auth)));
    assert!(third.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{third}");
    assert!(third.contains("stale=true"));
    // The next nonce count on the same nonce is the client's right (RFC 7616 §3.4).
    let next = answer(nonce, Algorithm::Sha256, 2);
    let fourth = udp_exchange(&sock, server.udp_addr(), &notify("c", 4, Some(&next)));
    assert!(fourth.starts_with("SIP/2.0 200 OK\r\n"), "{fourth}");
    // A wrong password over SHA-256.
    let forged = authorization(
        Algorithm::Sha256,
        "auth-1001",
        "guess",
        "sip-resync",
        nonce,
        "NOTIFY",
        URI,
        3,
        "cafe01",
    );
    let fifth = udp_exchange(&sock, server.udp_addr(), &notify("d", 5, Some(&forged)));
    assert!(fifth.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{fifth}");
    assert!(!fifth.contains("stale=true"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.signal_count(), 2);
    let c = server.counters();
    assert_eq!(
        (
            c.auth_challenges,
            c.auth_failures,
            c.auth_stale,
            c.resync_requests
        ),
        (3, 1, 1, 2)
    );
}

#[test]
fn sha256_verifies_over_tcp() {
    let server = sha_first_server();
    let mut stream = TcpStream::connect(server.tcp_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(&notify("t", 1, None)).unwrap();
    let first = read_answers(&mut stream, 1);
    assert!(first.starts_with("SIP/2.0 401 "), "{first}");
    let nonce = challenges(&first)[0].1.clone();
    stream
        .write_all(&notify("t", 2, Some(&answer(&nonce, Algorithm::Sha256, 1))))
        .unwrap();
    let second = read_answers(&mut stream, 1);
    assert!(second.starts_with("SIP/2.0 200 OK\r\n"), "{second}");
    let signals = server.wait_for_signals(1, Duration::from_secs(3));
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].transport, "tcp");
}

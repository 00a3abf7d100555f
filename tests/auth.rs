//! The digest challenge of NOTIFY over real sockets, on the default `[sip.auth]` settings
//! (MD5 offered first, then SHA-256): SIPp's own `[authentication]`, sipsak and Kamailio's
//! `uac` module against the daemon fetching from a real HTTP server (one fetch per authenticated NOTIFY, none for
//! wrong, replayed or refused ones), and SHA-256 (RFC 8760), which none of the three
//! computes, from a client written here against the in-process listener.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::Duration;

use sip_resync::config::Algorithm;
use sip_resync::config::{AuthConfig, Credential};
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

/// The challenge turned on with nothing else set: the default algorithms offer MD5 first, and
/// SIPp 3.6 and sipsak 0.9.8, which read only the first challenge and compute MD5 only,
/// authenticate.
const CHALLENGE: &str = "[sip.auth]\nchallenge = true\n\
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

/// An in-process listener challenging with `algorithms` (the default when `None`).
fn challenging_server(algorithms: Option<Vec<Algorithm>>) -> TestServer {
    let mut options = challenging_server_options();
    if let Some(algorithms) = algorithms {
        options.auth.algorithms = algorithms;
    }
    TestServer::start(options)
}

/// The options of [`challenging_server`] on the default algorithms.
fn challenging_server_options() -> TestServerOptions {
    TestServerOptions {
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
    }
}

/// SHA-256 offered first, as an administrator whose senders all compute it would configure.
fn sha_first_server() -> TestServer {
    challenging_server(Some(vec![Algorithm::Sha256, Algorithm::Md5]))
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

/// [`notify`] on branch `branch`: a new branch with the same Call-ID, From-tag and CSeq is how
/// a proxy's `uac_auth()` resends a challenged request with credentials.
fn notify_on_branch(tag: &str, cseq: u32, branch: &str, authorization: Option<&str>) -> Vec<u8> {
    let text = String::from_utf8(notify(tag, cseq, authorization)).unwrap();
    text.replace(
        &format!("branch=z9hG4bK-{tag}-{cseq}"),
        &format!("branch=z9hG4bK-{branch}"),
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

/// The `realm`, `nonce` and `algorithm` of a `WWW-Authenticate: Digest …` value, read here
/// independently of the library's own parser.
fn parse_challenge(value: &str) -> Option<(String, String, Algorithm)> {
    let rest = value.strip_prefix("Digest ")?;
    let param = |name: &str| {
        rest.split(',').map(str::trim).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
        })
    };
    let algorithm = match param("algorithm").as_deref() {
        None | Some("MD5") => Algorithm::Md5,
        Some("SHA-256") => Algorithm::Sha256,
        Some(_) => return None,
    };
    Some((param("realm")?, param("nonce")?, algorithm))
}

/// RFC 7616 §3.4.1 `response` with `qop=auth`, computed here independently of the library.
fn digest_hex(alg: Algorithm, text: &str) -> String {
    use sha2::Digest;
    let bytes: Vec<u8> = match alg {
        Algorithm::Md5 => md5::Md5::digest(text.as_bytes()).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(text.as_bytes()).to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn answer(nonce: &str, alg: Algorithm, nc: u32) -> String {
    answer_with(nonce, alg, nc, "s3cret")
}

fn answer_with(nonce: &str, alg: Algorithm, nc: u32, password: &str) -> String {
    let (user, realm, cnonce) = ("auth-1001", "sip-resync", "cafe01");
    let nc = format!("{nc:08x}");
    let ha1 = digest_hex(alg, &format!("{user}:{realm}:{password}"));
    let ha2 = digest_hex(alg, &format!("NOTIFY:{URI}"));
    let response = digest_hex(alg, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    let name = match alg {
        Algorithm::Md5 => "MD5",
        Algorithm::Sha256 => "SHA-256",
    };
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{URI}\", \
         response=\"{response}\", algorithm={name}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
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
    let forged = answer_with(nonce, Algorithm::Sha256, 3, "guess");
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

/// The credentialed retry with the same CSeq (Kamailio's `uac_auth()` does not increment it),
/// over UDP, where the duplicate rule would otherwise answer it with the stored 401, and over
/// TCP: 200 and one resync each; the retry's retransmission gets the stored 200 only.
#[test]
fn a_credentialed_retry_with_the_same_cseq_gets_200_over_udp_and_tcp() {
    let server = challenging_server(None);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let first = udp_exchange(&sock, server.udp_addr(), &notify("u", 1, None));
    assert!(first.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{first}");
    let (_, nonce, alg) = challenges(&first)[0].clone();
    let retry = notify_on_branch("u", 1, "retry", Some(&answer(&nonce, alg, 1)));
    let second = udp_exchange(&sock, server.udp_addr(), &retry);
    assert!(second.starts_with("SIP/2.0 200 OK\r\n"), "{second}");
    let again = udp_exchange(&sock, server.udp_addr(), &retry);
    assert!(again.starts_with("SIP/2.0 200 OK\r\n"), "{again}");
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(3)).len(), 1);

    let mut stream = TcpStream::connect(server.tcp_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(&notify("t", 1, None)).unwrap();
    let first = read_answers(&mut stream, 1);
    assert!(first.starts_with("SIP/2.0 401 "), "{first}");
    let (_, nonce, alg) = challenges(&first)[0].clone();
    let retry = notify_on_branch("t", 1, "retry", Some(&answer(&nonce, alg, 1)));
    stream.write_all(&retry).unwrap();
    let second = read_answers(&mut stream, 1);
    assert!(second.starts_with("SIP/2.0 200 OK\r\n"), "{second}");
    assert_eq!(server.wait_for_signals(2, Duration::from_secs(3)).len(), 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.signal_count(), 2, "one resync per check-sync");
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

#[test]
fn the_default_offers_md5_first_and_still_accepts_sha256() {
    let server = challenging_server(None);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let first = udp_exchange(&sock, server.udp_addr(), &notify("m", 1, None));
    assert!(first.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{first}");
    let offered = challenges(&first);
    let algs: Vec<Algorithm> = offered.iter().map(|c| c.2).collect();
    assert_eq!(
        algs,
        [Algorithm::Md5, Algorithm::Sha256],
        "MD5 first by default"
    );
    // A client that knows only SHA-256 answers the second challenge.
    let nonce = &offered[1].1;
    let auth = answer(nonce, Algorithm::Sha256, 1);
    let second = udp_exchange(&sock, server.udp_addr(), &notify("m", 2, Some(&auth)));
    assert!(second.starts_with("SIP/2.0 200 OK\r\n"), "{second}");
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(3)).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// sipsak 0.9.8 (Debian package sipsak), a second real sender.

/// The `sipsak` executable: `$SIPSAK_BIN`, else `sipsak` on `PATH`. Panics (never skips) when
/// there is none: `scripts/test.sh` installs it.
fn sipsak_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SIPSAK_BIN") {
        return p.into();
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("sipsak"))
                .find(|p| p.is_file())
        })
        .expect("sipsak is not installed (Debian package sipsak; scripts/test.sh installs it)")
}

/// Sends `message` with sipsak (`-f`), answering a challenge with `auth_id`/`password`;
/// returns its exit status and what it printed. sipsak prepends its own Via.
fn sipsak(
    dir: &Path,
    target: SocketAddr,
    transport: &str,
    auth_id: &str,
    password: &str,
) -> (bool, String) {
    let uri = format!("sip:1001@{target}");
    let message = format!(
        "NOTIFY {uri} SIP/2.0\r\nFrom: <sip:pbx@127.0.0.1>;tag=sipsak-{transport}\r\nTo: <{uri}>\r\nCall-ID: sipsak-{transport}-{auth_id}@127.0.0.1\r\nCSeq: 1 NOTIFY\r\nEvent: check-sync\r\nContent-Length: 0\r\n\r\n"
    );
    let file = dir.join(format!("notify-{transport}.txt"));
    std::fs::write(&file, message).unwrap();
    let mut child = std::process::Command::new(sipsak_binary())
        .args(["-vv", "--transport", transport, "-f"])
        .arg(&file)
        .args(["-s", &uri, "-u", auth_id, "-a", password])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sipsak");
    // sipsak gives up by itself (its T1-based timeouts); this bounds a hang anyway.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "sipsak did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn sipsak_authenticates_against_the_default_challenge_over_udp_and_tcp() {
    let server = HttpServer::start();
    server.put("master.cfg", format!("{MAGIC}X=\"1\"\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, CHALLENGE);
    let mut daemon = Daemon::start(&config);
    let mut runs = 0;
    for (transport, target) in [("udp", daemon.udp_addr()), ("tcp", daemon.tcp_addr())] {
        let (ok, out) = sipsak(dir.path(), target, transport, "1001", "secret");
        assert!(ok, "sipsak over {transport} failed:\n{out}");
        assert!(out.contains("SIP/2.0 200 OK"), "{out}");
        assert!(
            out.contains("authorizing"),
            "sipsak answered a challenge:\n{out}"
        );
        runs += 1;
        assert_eq!(daemon.count(OUTCOME, runs, Duration::from_secs(10)), runs);
        assert_eq!(server.get_count("master.cfg"), runs);
    }
    // A wrong password: sipsak fails, nothing is fetched.
    let (ok, out) = sipsak(dir.path(), daemon.udp_addr(), "udp", "1001", "guess");
    assert!(!ok, "a wrong password must not pass:\n{out}");
    assert!(out.contains("401 Unauthorized"), "{out}");
    std::thread::sleep(SETTLE);
    assert_eq!(server.get_count("master.cfg"), runs);
    let (status, log) = daemon.terminate_with_log();
    assert!(status.success());
    assert!(
        log.iter().any(|l| l.contains("MD5 then SHA-256")),
        "the start-up line names the default order"
    );
}

// ---------------------------------------------------------------------------------------------
// Kamailio 5.6 (Debian package kamailio): a PBX sending NOTIFY from its uac module.

/// Runs `fixtures/kamailio/notify_auth.cfg` until it logs the final answer to its NOTIFY to
/// `target`: a 2xx, or the answer to its authenticated retry (the uac event route sees the
/// first 401 too). Returns that status code and Kamailio's log.
fn kamailio_notify(dir: &Path, target: SocketAddr, password: &str) -> (Option<u16>, String) {
    let binary = ["/usr/sbin/kamailio", "/usr/bin/kamailio"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .expect("kamailio is not installed (Debian package kamailio; scripts/test.sh installs it)");
    // Debian's module directory, /usr/lib/<multiarch triplet>/kamailio/modules/.
    let modules = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("kamailio/modules"))
        .find(|d| d.join("tm.so").is_file())
        .expect("kamailio's modules (tm.so) under /usr/lib/*/kamailio/modules");
    let listen = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = std::fs::read_to_string(support::sipp::fixture("fixtures/kamailio/notify_auth.cfg"))
        .unwrap()
        .replace("@MPATH@", &format!("{}/", modules.display()))
        .replace("@LISTEN@", &listen.to_string())
        .replace("@TARGET@", &target.to_string())
        .replace("@AUTH_ID@", "1001")
        .replace("@PASSWORD@", password);
    let config = dir.join("kamailio.cfg");
    std::fs::write(&config, text).unwrap();
    let run_dir = dir.join("kamailio-run");
    std::fs::create_dir_all(&run_dir).unwrap();
    // Kamailio forks its workers: it runs in a process group of its own, which is stopped as
    // a whole below, so that no worker outlives the test.
    let mut child = std::process::Command::new(binary)
        .process_group(0)
        .args(["-DD", "-E", "-f"])
        .arg(&config)
        .arg("-Y")
        .arg(&run_dir)
        .arg("-w")
        .arg(&run_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kamailio");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let mut answers = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !answers.iter().any(|c| (200..300).contains(c)) && answers.len() < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        log.push_str(&line);
        log.push('\n');
        answers.extend(
            line.split("check-sync NOTIFY answered ")
                .nth(1)
                .and_then(|c| c.trim().parse::<u16>().ok()),
        );
    }
    stop_process_group(&mut child);
    (answers.last().copied(), log)
}

/// Stops the process group led by `child` (SIGTERM, then SIGKILL after 5 s) and reaps it.
fn stop_process_group(child: &mut std::process::Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = std::process::Command::new("kill")
            .args([sig, "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is left of the group, the leader included.
    signal("-KILL");
    let _ = child.wait();
}

#[test]
fn kamailio_uac_authenticates_against_the_default_challenge() {
    let server = HttpServer::start();
    server.put("master.cfg", format!("{MAGIC}X=\"1\"\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &server, CHALLENGE);
    let mut daemon = Daemon::start(&config);
    let (code, log) = kamailio_notify(dir.path(), daemon.udp_addr(), "secret");
    assert_eq!(
        code,
        Some(200),
        "Kamailio's NOTIFY was not accepted:\n{log}"
    );
    assert!(!log.contains("unsupported algorithm"), "{log}");
    assert_eq!(daemon.count(OUTCOME, 1, Duration::from_secs(10)), 1);
    assert_eq!(server.get_count("master.cfg"), 1);
    // A wrong password: Kamailio answers the challenge once, gets 401 again, nothing is fetched.
    let (code, log) = kamailio_notify(dir.path(), daemon.udp_addr(), "guess");
    assert_eq!(code, Some(401), "{log}");
    std::thread::sleep(SETTLE);
    assert_eq!(server.get_count("master.cfg"), 1);
    assert!(daemon.terminate().success());
}

// ---------------------------------------------------------------------------------------------
// The brake on guessing and the one nonce key of the process, over real sockets.

/// Sends `msg` and waits up to `wait` for an answer.
fn udp_try(sock: &UdpSocket, to: SocketAddr, msg: &[u8], wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(msg, to).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn a_guesser_on_eight_ports_is_held_back_while_a_pbx_at_another_address_authenticates() {
    let mut options = challenging_server_options();
    // The default budget, with a first hold-off long enough that no guess gets through
    // again while the test runs, however slow the machine.
    options.auth.guesses.first_hold = Duration::from_secs(60);
    let server = TestServer::start(TestServerOptions {
        udp_workers: 4,
        ..options
    });
    let to = server.udp_addr();
    let ports: Vec<UdpSocket> = (0..8)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let first = udp_try(&ports[0], to, &notify("g", 1, None), Duration::from_secs(3)).unwrap();
    let nonce = challenges(&first)[0].1.clone();
    let free = AuthConfig::default().guesses.failures_per_source as usize;
    // Wrong answers from eight source ports, spread over the workers by the kernel: the
    // address's budget is one for all of them.
    let (mut answered, mut unanswered) = (0, 0);
    for i in 0..40u32 {
        let sock = &ports[i as usize % ports.len()];
        let guess = answer_with(&nonce, Algorithm::Md5, 1, &format!("guess{i}"));
        let tag = format!("g{i}");
        match udp_try(
            sock,
            to,
            &notify(&tag, 1, Some(&guess)),
            Duration::from_millis(150),
        ) {
            Some(reply) => {
                assert!(reply.starts_with("SIP/2.0 401 "), "{reply}");
                assert!(!reply.contains("stale=true"), "{reply}");
                answered += 1;
            }
            None => unanswered += 1,
        }
    }
    // The budget, and the failure that starts the hold-off.
    assert_eq!(answered, free + 1, "{unanswered} not answered");
    // Even the right password is not checked from that address now.
    let right = answer_with(&nonce, Algorithm::Md5, 1, "s3cret");
    let held = udp_try(
        &ports[0],
        to,
        &notify("g-right", 1, Some(&right)),
        Duration::from_millis(300),
    );
    assert_eq!(held, None);
    // The PBX at another loopback address authenticates meanwhile.
    let pbx = UdpSocket::bind("127.0.0.2:0").unwrap();
    let first = udp_try(&pbx, to, &notify("p", 1, None), Duration::from_secs(3)).unwrap();
    let nonce = challenges(&first)[0].1.clone();
    let auth = answer_with(&nonce, Algorithm::Md5, 1, "s3cret");
    let ok = udp_try(
        &pbx,
        to,
        &notify("p", 2, Some(&auth)),
        Duration::from_secs(3),
    )
    .unwrap();
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert_eq!(server.wait_for_signals(1, Duration::from_secs(3)).len(), 1);
    let c = server.counters();
    assert_eq!(c.auth_failures, answered as u64);
    assert_eq!(c.auth_throttled, unanswered as u64 + 1, "{c:?}");
}

#[test]
fn a_nonce_issued_over_udp_verifies_over_tcp_and_on_every_worker() {
    let server = TestServer::start(TestServerOptions {
        udp_workers: 4,
        ..challenging_server_options()
    });
    let to = server.udp_addr();
    let issuer = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Over TCP.
    let first = udp_try(&issuer, to, &notify("u", 1, None), Duration::from_secs(3)).unwrap();
    let nonce = challenges(&first)[0].1.clone();
    let mut stream = TcpStream::connect(server.tcp_addr()).unwrap();
    let auth = answer_with(&nonce, Algorithm::Md5, 1, "s3cret");
    stream.write_all(&notify("u", 2, Some(&auth))).unwrap();
    let reply = read_answers(&mut stream, 1);
    assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    // From other source ports, which the kernel hashes to other workers: each answer of a
    // nonce issued through the first socket verifies.
    for i in 0..12u32 {
        let first = udp_try(
            &issuer,
            to,
            &notify(&format!("w{i}"), 1, None),
            Duration::from_secs(3),
        )
        .unwrap();
        let nonce = challenges(&first)[0].1.clone();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let auth = answer_with(&nonce, Algorithm::Md5, 1, "s3cret");
        let tag = format!("w{i}");
        let reply = udp_try(
            &other,
            to,
            &notify(&tag, 2, Some(&auth)),
            Duration::from_secs(3),
        )
        .unwrap();
        assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{i}: {reply}");
    }
    let c = server.counters();
    assert_eq!((c.auth_stale, c.auth_failures), (0, 0), "{c:?}");
}

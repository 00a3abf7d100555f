//! SIP over TLS, on real sockets on 127.0.0.1, with certificates made for each test
//! (`support::pki`): a check-sync NOTIFY over TLS answered 200 and fetched once, mutual TLS
//! refusing peers without a certificate of the configured CA, certificate files that cannot
//! be used named at start, and certificates reloaded by `AgentHandle::update_settings` and by
//! SIGHUP while UDP and TCP go on.
//!
//! Two TLS clients drive it: a Rust client (tokio-rustls) and `openssl s_client`, the tool an
//! administrator has at hand (SIPp as Debian packages it has no TLS). `scripts/test.sh`
//! installs openssl when it is missing; these tests fail, never skip, without it.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sip_resync::config::{self, Settings};
use sip_resync::{Agent, AgentOptions, Embedded, Transport, Verdict};
use support::daemon::Daemon;
use support::http::HttpServer;
use support::pki::{client_config, Ca, Issued};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// How long any one exchange may take before the test fails.
const WAIT: Duration = Duration::from_secs(5);

/// Lines that report the end of a provisioning run.
const OUTCOME: &str = "sip_resync::engine: run ";

/// An out-of-dialog check-sync NOTIFY as a PBX sends it over TLS.
fn notify(tag: &str) -> Vec<u8> {
    String::from_utf8(support::notify_datagram(tag, "check-sync"))
        .unwrap()
        .replace("SIP/2.0/UDP 127.0.0.1:5999", "SIP/2.0/TLS 127.0.0.1:5061")
        .into_bytes()
}

/// The first line of a response.
fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The Rust client

/// A TLS connection to `addr` that verifies the server's certificate for 127.0.0.1 against
/// `ca`.
async fn connect(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<&Issued>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connect = TlsConnector::from(client_config(ca, identity)).connect(name, tcp);
    tokio::time::timeout(WAIT, connect)
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}

/// Sends `message` and reads one response (its header section; they carry no body).
async fn exchange(tls: &mut TlsStream<TcpStream>, message: &[u8]) -> std::io::Result<String> {
    tls.write_all(message).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + WAIT;
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout_at(end, tls.read(&mut buf))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// Connects, sends one NOTIFY, returns the response or the first error.
async fn notify_once(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<&Issued>,
    tag: &str,
) -> std::io::Result<String> {
    let mut tls = connect(addr, ca, identity).await?;
    exchange(&mut tls, &notify(tag)).await
}

// ---------------------------------------------------------------------------------------------
// openssl s_client

/// The openssl command: `$OPENSSL`, else `openssl` on the PATH, else /usr/bin/openssl.
fn openssl() -> String {
    if let Ok(path) = std::env::var("OPENSSL") {
        return path;
    }
    let on_path = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return "openssl".into();
    }
    assert!(
        Path::new("/usr/bin/openssl").exists(),
        "openssl is not installed: these tests drive openssl s_client (scripts/test.sh installs the Debian package)"
    );
    "/usr/bin/openssl".into()
}

/// What `openssl s_client` printed: standard output (the server's bytes) and standard error.
#[derive(Debug)]
struct SClient {
    stdout: String,
    stderr: String,
}

/// Runs `openssl s_client` against `addr`, trusting `ca` for 127.0.0.1 and showing `identity`
/// when given, writes `message`, and waits for a whole response or for s_client to end;
/// then stops it.
fn s_client(addr: SocketAddr, ca: &Path, identity: Option<&Issued>, message: &[u8]) -> SClient {
    let mut cmd = Command::new(openssl());
    cmd.args(["s_client", "-quiet", "-nocommands", "-verify_return_error"])
        .args(["-connect", &addr.to_string(), "-verify_ip", "127.0.0.1"])
        .arg("-CAfile")
        .arg(ca);
    if let Some(id) = identity {
        cmd.arg("-cert").arg(&id.cert).arg("-key").arg(&id.key);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    // A refused handshake may end s_client before it reads its input.
    let _ = stdin.write_all(message);
    let _ = stdin.flush();
    let reader = |mut from: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        rx
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let end = Instant::now() + WAIT;
    let mut out = Vec::new();
    loop {
        match stdout.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if out.windows(4).any(|w| w == b"\r\n\r\n") || Instant::now() > end {
            break;
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let mut err = Vec::new();
    while let Ok(bytes) = stderr.recv_timeout(Duration::from_millis(200)) {
        err.extend_from_slice(&bytes);
    }
    SClient {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations

/// Writes `agent.toml` into `dir`: `[sip.tls]` with `server`'s files, `client_ca` when given,
/// and the files of `http`, when given, fetched on check-sync only.
fn write_config(
    dir: &Path,
    server: &Issued,
    client_ca: Option<&Path>,
    http: Option<&HttpServer>,
) -> PathBuf {
    let mut text = format!(
        "[sip]\nlisten = []\n[sip.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        server.cert.display(),
        server.key.display()
    );
    if let Some(ca) = client_ca {
        text.push_str(&format!("client_ca = \"{}\"\n", ca.display()));
    }
    if let Some(http) = http {
        text.push_str(&format!(
            "[provisioning]\nfiles = [{{ url = \"{}\" }}]\nfetch_at_startup = false\n",
            http.url("master.cfg")
        ));
    }
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A daemon listening on UDP, TCP and TLS on free loopback ports, with its state in the
/// configuration's directory.
fn daemon(config: &Path) -> Daemon {
    let state = config.with_file_name("state");
    Daemon::start_listening(
        config.to_str().unwrap(),
        &["--state-dir", state.to_str().unwrap()],
        &["udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"],
    )
}

/// Where a started agent listens over `transport`.
fn listening(agent: &Agent, transport: Transport) -> SocketAddr {
    let addrs = agent.local_addrs();
    addrs.into_iter().find(|(t, _)| *t == transport).unwrap().1
}

/// A check-sync NOTIFY over UDP is answered 200.
fn udp_answers(addr: SocketAddr, tag: &str) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    socket
        .send_to(&support::notify_datagram(tag, "check-sync"), addr)
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("an answer over UDP");
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK\r\n"));
}

/// Sends a check-sync NOTIFY on an open TCP connection and expects 200.
fn tcp_answers(stream: &mut StdTcpStream, tag: &str) {
    let msg = String::from_utf8(support::notify_datagram(tag, "check-sync"))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    stream.write_all(msg.as_bytes()).unwrap();
    let got = support::read_answers(stream, 1);
    assert!(got.starts_with("SIP/2.0 200 OK\r\n"), "{got}");
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn an_embedding_host_gets_the_same_verdicts_over_tls_as_over_tcp() {
    let settings = config::from_bytes(b"", Path::new("phone.toml")).unwrap();
    let pbx: SocketAddr = "192.0.2.1:40123".parse().unwrap();
    let now = Instant::now();
    // The To-tag is keyed per endpoint: compare the replies without it.
    let untagged = |v: Verdict| match v {
        Verdict::Ours {
            reply,
            resync,
            disposition,
            ..
        } => {
            let reply = reply.map(|r| {
                let text = String::from_utf8(r.to_vec()).unwrap();
                let to = text.find("\r\nTo: ").unwrap();
                let at = to + text[to..].find(";tag=").unwrap() + 5;
                format!("{}{}", &text[..at], &text[at + 16..])
            });
            Some((reply, resync.map(|r| (r.event, r.reboot)), disposition))
        }
        Verdict::NotOurs => None,
    };
    let via = "Via: SIP/2.0/TLS pbx.example.com:5061;branch=z9hG4bKt1;rport";
    let check_sync = format!(
        "NOTIFY sips:1001@192.0.2.10 SIP/2.0\r\n{via}\r\nFrom: <sips:pbx@example.com>;tag=f1\r\n\
         To: <sips:1001@192.0.2.10>\r\nCall-ID: t1\r\nCSeq: 7 NOTIFY\r\n\
         Event: check-sync;reboot=true\r\nContent-Length: 0\r\n\r\n"
    );
    let messages = [
        check_sync.clone(),
        // No Content-Length: mandatory on a stream (RFC 3261 §18.3).
        check_sync.replace("Content-Length: 0\r\n", ""),
        check_sync.replace("check-sync;reboot=true", "message-summary"),
        check_sync.replace(
            "To: <sips:1001@192.0.2.10>",
            "To: <sips:1001@192.0.2.10>;tag=dlg",
        ),
        check_sync.replace("NOTIFY", "OPTIONS"),
        "\u{16}\u{3}\u{1} not SIP".to_owned(),
    ];
    let mut tcp = Embedded::new(&settings.sip);
    let mut tls = Embedded::new(&settings.sip);
    let verdicts: Vec<_> = messages
        .iter()
        .map(|m| {
            let over_tls = untagged(tls.handle(now, pbx, Transport::Tls, m.as_bytes()));
            let over_tcp = untagged(tcp.handle(now, pbx, Transport::Tcp, m.as_bytes()));
            assert_eq!(over_tls, over_tcp, "{m}");
            over_tls
        })
        .collect();
    let (reply, resync, _) = verdicts[0].clone().expect("check-sync is ours");
    let reply = reply.expect("answered");
    assert!(reply.starts_with("SIP/2.0 200 OK\r\n"), "{reply}");
    // RFC 3261 §18.2.1 and RFC 3581: the TLS Via is answered with received and rport.
    assert!(
        reply.contains(&format!("\r\n{via}=40123;received=192.0.2.1\r\n")),
        "{reply}"
    );
    assert_eq!(resync, Some(("check-sync".to_owned(), Some(true))));
    let (reply, resync, _) = verdicts[1].clone().expect("ours, malformed");
    assert!(reply.unwrap().starts_with("SIP/2.0 400 "));
    assert_eq!(resync, None);
    assert!(verdicts[2..].iter().all(Option::is_none), "{verdicts:?}");
    assert_eq!(tls.counters().resync_requests, 1);
    assert_eq!(tls.counters(), tcp.counters());
}

#[test]
fn a_tls_listener_needs_certificate_and_key_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let at = |text: &str| {
        let path = dir.path().join("phone.toml");
        // Read as `config::load` reads a file: the bytes, then the files they name.
        config::from_bytes(text.as_bytes(), &path)
            .and_then(|mut s| config::read_files(&mut s).map(|()| s))
            .map(|s| s.sip.tls)
    };
    let e = at("[sip]\nlisten = [\"tls:0.0.0.0:5061\"]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: sip.listen: tls:0.0.0.0:5061 needs a certificate: set sip.tls.certificate and sip.tls.private_key (PEM files)",
            dir.path().join("phone.toml").display()
        )
    );
    let e = at("[sip.tls]\ncertificate = \"phone.crt\"\n").unwrap_err();
    assert!(
        e.to_string().ends_with(": sip.tls.private_key: missing: sip.tls.certificate needs the PEM file of its private key"),
        "{e}"
    );
    let e =
        at("[sip.tls]\ncertificate = \"phone.crt\"\nprivate_key = \"phone.key\"\n").unwrap_err();
    let missing = dir.path().join("phone.crt");
    assert!(
        e.to_string().contains(&format!(
            "sip.tls.certificate: cannot read {}: ",
            missing.display()
        )),
        "{e}"
    );
    // Relative to the configuration's directory, as written.
    let ca = Ca::new(dir.path(), "cfg");
    let server = ca.server("phone");
    let tls = at("[sip]\nlisten = [\"tls:0.0.0.0:5061\"]\n[sip.tls]\ncertificate = \"phone.crt\"\nprivate_key = \"phone.key\"\nclient_ca = \"cfg-ca.crt\"\nhandshake_timeout_secs = 4\n")
        .unwrap()
        .expect("configured");
    assert_eq!(
        (&tls.certificate, &tls.private_key, tls.client_ca.as_ref()),
        (&server.cert, &server.key, Some(&ca.cert))
    );
    assert_eq!(tls.handshake_timeout, Duration::from_secs(4));
    assert_eq!(at("").unwrap(), None);
}

#[tokio::test]
async fn a_check_sync_over_tls_is_answered_200_and_fetched_once() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "phone");
    let http = HttpServer::start();
    http.put(
        "master.cfg",
        "# Panasonic SIP Phone Standard Format File #\r\nX=\"1\"\r\n",
    );
    let config = write_config(dir.path(), &ca.server("phone"), None, Some(&http));
    let mut d = daemon(&config);
    let tls = d.tls_addr();

    // The Rust client.
    let reply = notify_once(tls, &ca.cert, None, "rust-1").await.unwrap();
    assert_eq!(status_line(&reply), "SIP/2.0 200 OK", "{reply}");
    assert!(reply.contains("\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-rust-1\r\n"));
    assert_eq!(d.count(OUTCOME, 1, WAIT), 1, "one run");
    assert_eq!(http.get_count("master.cfg"), 1, "exactly one fetch");
    assert!(d
        .log
        .iter()
        .any(|l| l.contains("run 1 (notify check-sync from tls:127.0.0.1:")));

    // openssl s_client, verifying the daemon's certificate for 127.0.0.1.
    let out = s_client(tls, &ca.cert, None, &notify("openssl-1"));
    assert_eq!(status_line(&out.stdout), "SIP/2.0 200 OK", "{out:?}");
    assert_eq!(d.count(OUTCOME, 2, WAIT), 2, "one more run");
    assert_eq!(http.get_count("master.cfg"), 2, "one more fetch");

    // A client that trusts another CA refuses the daemon's certificate, and sends nothing.
    let other = Ca::new(dir.path(), "other");
    let e = notify_once(tls, &other.cert, None, "rust-2")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http.get_count("master.cfg"), 2);
    assert!(d.terminate().success());
}

#[tokio::test]
async fn mutual_tls_refuses_peers_without_a_certificate_of_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "pbx");
    let stranger_ca = Ca::new(dir.path(), "stranger");
    let http = HttpServer::start();
    http.put(
        "master.cfg",
        "# Panasonic SIP Phone Standard Format File #\r\nX=\"1\"\r\n",
    );
    let config = write_config(dir.path(), &ca.server("phone"), Some(&ca.cert), Some(&http));
    let mut d = daemon(&config);
    let tls = d.tls_addr();
    let pbx = ca.client("pbx");
    let stranger = stranger_ca.client("stranger");

    // No certificate: the handshake fails, no SIP byte is read.
    let e = notify_once(tls, &ca.cert, None, "none").await.unwrap_err();
    assert_eq!(e.to_string(), "received fatal alert: CertificateRequired");
    let out = s_client(tls, &ca.cert, None, &notify("openssl-none"));
    assert!(!out.stdout.contains("SIP/2.0"), "{out:?}");
    assert!(out.stderr.contains("alert certificate required"), "{out:?}");
    // A certificate another CA signed.
    let e = notify_once(tls, &ca.cert, Some(&stranger), "stranger")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "received fatal alert: UnknownCA");
    let out = s_client(tls, &ca.cert, Some(&stranger), &notify("openssl-stranger"));
    assert!(!out.stdout.contains("SIP/2.0"), "{out:?}");
    assert!(out.stderr.contains("alert unknown ca"), "{out:?}");
    assert!(
        d.count("TLS handshake failed", 1, WAIT) >= 1,
        "the first failure from a source is logged"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http.get_count("master.cfg"), 0, "nothing fetched");

    // The PBX's certificate: answered, fetched once, with either client.
    let reply = notify_once(tls, &ca.cert, Some(&pbx), "pbx-1")
        .await
        .unwrap();
    assert_eq!(status_line(&reply), "SIP/2.0 200 OK", "{reply}");
    assert_eq!(d.count(OUTCOME, 1, WAIT), 1);
    let out = s_client(tls, &ca.cert, Some(&pbx), &notify("openssl-pbx"));
    assert_eq!(status_line(&out.stdout), "SIP/2.0 200 OK", "{out:?}");
    assert_eq!(d.count(OUTCOME, 2, WAIT), 2);
    assert_eq!(http.get_count("master.cfg"), 2);
    let (status, log) = d.terminate_with_log();
    assert!(status.success());
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped") && l.contains("resync_requests="))
        .unwrap();
    assert!(stopped.contains("resync_requests=2"), "{stopped}");
}

#[test]
fn certificate_files_that_cannot_be_used_stop_the_start_naming_file_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "start");
    let good = ca.server("good");
    let other = ca.server("other");
    let start = |server: &Issued, client_ca: Option<&Path>| {
        let config = write_config(dir.path(), server, client_ca, None);
        let mut child = Command::new(support::daemon::BIN)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "tls:127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let end = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > end {
                let _ = child.kill();
                panic!("sip-resync started with {server:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code(), err)
    };
    let expired = ca.expired_server("expired");
    let (code, err) = start(&expired, None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "error: sip.tls.certificate {}: the certificate expired at 2020-01-01T00:00:00Z: renew it",
            expired.cert.display()
        )),
        "{err}"
    );
    let mismatched = Issued {
        key: other.key.clone(),
        ..good.clone()
    };
    let (code, err) = start(&mismatched, None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "error: sip.tls.private_key {}: not the key of the certificate in {}",
            other.key.display(),
            good.cert.display()
        )),
        "{err}"
    );
    let (code, err) = start(&good, Some(&good.key));
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "error: sip.tls.client_ca {}: no certificate in it",
            good.key.display()
        )),
        "{err}"
    );
    // Without [sip.tls], --listen tls: is refused too.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "[sip]\nlisten = []\n").unwrap();
    let out = Command::new(support::daemon::BIN)
        .arg("run")
        .arg("--config")
        .arg(&bare)
        .args(["--listen", "tls:127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("a tls: listening address needs sip.tls.certificate and sip.tls.private_key"));
}

/// New connections to `tls` get a certificate `current` signed: a client trusting `current`
/// is answered, one trusting only `previous` refuses the certificate.
async fn serves_a_certificate_of(tls: SocketAddr, current: &Ca, previous: &Ca) {
    let reply = notify_once(tls, &current.cert, None, "current")
        .await
        .unwrap();
    assert!(reply.starts_with("SIP/2.0 200 OK"), "{reply}");
    let e = notify_once(tls, &previous.cert, None, "previous")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
}

/// Writes `from`'s certificate and key over the files of `to`, as an administrator renewing
/// them in place does.
fn install(from: &Issued, to: &Issued) {
    std::fs::copy(&from.cert, &to.cert).unwrap();
    std::fs::copy(&from.key, &to.key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_settings_reloads_the_certificates_without_dropping_udp_tcp_or_open_tls() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new(dir.path(), "old");
    let new_ca = Ca::new(dir.path(), "new");
    let live = old_ca.server("live");
    let settings = |text: String| -> Settings {
        config::from_bytes(text.as_bytes(), &dir.path().join("agent.toml")).unwrap()
    };
    let text = "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\", \"tls:127.0.0.1:0\"]\n\
         [sip.tls]\ncertificate = \"live.crt\"\nprivate_key = \"live.key\"\n"
        .to_owned();
    let agent = Agent::start(AgentOptions::new(settings(text.clone())))
        .await
        .unwrap();
    let addr = |t: Transport| listening(&agent, t);
    let (udp, tcp, tls) = (
        addr(Transport::Udp),
        addr(Transport::Tcp),
        addr(Transport::Tls),
    );
    let handle = agent.handle();
    let running = tokio::spawn(agent.run(std::future::pending()));

    let mut open_tls = connect(tls, &old_ca.cert, None).await.unwrap();
    assert!(exchange(&mut open_tls, &notify("open-1"))
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));
    let mut open_tcp = tokio::task::spawn_blocking(move || {
        let mut s = StdTcpStream::connect(tcp).unwrap();
        tcp_answers(&mut s, "tcp-1");
        s
    })
    .await
    .unwrap();

    // The same paths, renewed in place by another CA: read again by update_settings.
    install(&new_ca.server("renewed"), &live);
    handle.update_settings(settings(text.clone())).unwrap();
    serves_a_certificate_of(tls, &new_ca, &old_ca).await;
    // What was open goes on.
    assert!(exchange(&mut open_tls, &notify("open-2"))
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));
    let open_tcp = tokio::task::spawn_blocking(move || {
        tcp_answers(&mut open_tcp, "tcp-2");
        udp_answers(udp, "udp-1");
        open_tcp
    })
    .await
    .unwrap();

    // An expired certificate is refused with its file and reason; the last good one stays.
    install(&new_ca.expired_server("expired"), &live);
    let e = handle.update_settings(settings(text.clone())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "sip.tls.certificate {}: the certificate expired at 2020-01-01T00:00:00Z: renew it",
            live.cert.display()
        )
    );
    assert!(notify_once(tls, &new_ca.cert, None, "new-2")
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));
    assert!(exchange(&mut open_tls, &notify("open-3"))
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));
    tokio::task::spawn_blocking(move || {
        let mut open_tcp = open_tcp;
        tcp_answers(&mut open_tcp, "tcp-3");
        udp_answers(udp, "udp-2");
    })
    .await
    .unwrap();
    handle.shutdown();
    let counters = running.await.unwrap();
    assert_eq!(counters.resync_requests, 10);
}

#[tokio::test]
async fn sighup_reloads_the_certificates_and_keeps_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new(dir.path(), "old");
    let new_ca = Ca::new(dir.path(), "new");
    let live = old_ca.server("live");
    let config = write_config(dir.path(), &live, None, None);
    let mut d = daemon(&config);
    let tls = d.tls_addr();
    let mut open_tcp = StdTcpStream::connect(d.tcp_addr()).unwrap();
    tcp_answers(&mut open_tcp, "tcp-1");
    let mut open_tls = connect(tls, &old_ca.cert, None).await.unwrap();
    assert!(exchange(&mut open_tls, &notify("open-1"))
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));

    install(&new_ca.server("renewed"), &live);
    d.hangup();
    assert_eq!(d.count("SIGHUP: reloaded", 1, WAIT), 1, "{:?}", d.log);
    serves_a_certificate_of(tls, &new_ca, &old_ca).await;
    tcp_answers(&mut open_tcp, "tcp-2");
    udp_answers(d.udp_addr(), "udp-1");
    assert!(exchange(&mut open_tls, &notify("open-2"))
        .await
        .unwrap()
        .starts_with("SIP/2.0 200 OK"));

    // An expired certificate: refused with its file and reason, the settings in force stay.
    install(&new_ca.expired_server("expired"), &live);
    d.hangup();
    assert_eq!(d.count("SIGHUP: ", 2, WAIT), 2);
    let refused = d
        .log
        .iter()
        .filter(|l| l.contains("SIGHUP: "))
        .nth(1)
        .unwrap()
        .clone();
    assert!(
        refused.contains(&format!(
            "sip.tls.certificate {}: the certificate expired at 2020-01-01T00:00:00Z: renew it",
            live.cert.display()
        )) && refused.contains("the settings in force stay"),
        "{refused}"
    );
    let out = s_client(tls, &new_ca.cert, None, &notify("openssl-new"));
    assert_eq!(status_line(&out.stdout), "SIP/2.0 200 OK", "{out:?}");
    tcp_answers(&mut open_tcp, "tcp-3");
    udp_answers(d.udp_addr(), "udp-2");
    assert!(d.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_get_the_tcp_bounds_and_a_handshake_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "bounds");
    let server = ca.server("phone");
    let text = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tls:127.0.0.1:0\"]\n\
         [sip.tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        server.cert.display(),
        server.key.display()
    );
    let mut settings = config::from_bytes(text.as_bytes(), Path::new("agent.toml")).unwrap();
    settings.sip.tcp = config::TcpOptions {
        max_connections: 2,
        idle_timeout: Duration::from_millis(600),
        message_deadline: Duration::from_millis(300),
    };
    settings.sip.tls.as_mut().unwrap().handshake_timeout = Duration::from_millis(300);
    let agent = Agent::start(AgentOptions::new(settings)).await.unwrap();
    let find = |t: Transport| listening(&agent, t);
    let (udp, tls) = (find(Transport::Udp), find(Transport::Tls));
    let handle = agent.handle();
    let running = tokio::spawn(agent.run(std::future::pending()));

    /// Waits for the server to close `stream`; returns how long that took.
    async fn closed_after<S: tokio::io::AsyncRead + Unpin>(mut stream: S) -> Duration {
        let started = tokio::time::Instant::now();
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
                Ok(Ok(_)) => {}
                Err(_) => panic!("not closed within {WAIT:?}"),
            }
        }
    }

    // The handshake deadline: a peer that connects and says nothing.
    let silent = TcpStream::connect(tls).await.unwrap();
    assert!(closed_after(silent).await < Duration::from_secs(2));
    // The message deadline and the idle timeout, after the handshake.
    let mut slow = connect(tls, &ca.cert, None).await.unwrap();
    slow.write_all(&notify("slow")[..40]).await.unwrap();
    assert!(closed_after(slow).await < Duration::from_secs(2));
    let idle = connect(tls, &ca.cert, None).await.unwrap();
    assert!(closed_after(idle).await < Duration::from_secs(2));
    // Framing: a stream whose Content-Length cannot be read is closed unanswered.
    let mut bad = connect(tls, &ca.cert, None).await.unwrap();
    let msg = String::from_utf8(notify("bad-length"))
        .unwrap()
        .replace("Content-Length: 0", "Content-Length: -999");
    bad.write_all(msg.as_bytes()).await.unwrap();
    assert!(closed_after(bad).await < Duration::from_secs(2));
    let stream_errors = handle.status().counters.stream_errors;
    assert_eq!(
        stream_errors, 3,
        "the handshake, the message deadline, the framing"
    );

    // The connection cap: two connections served, a third accepted and closed.
    let mut held = Vec::new();
    for i in 0..2 {
        let mut c = connect(tls, &ca.cert, None).await.unwrap();
        let reply = exchange(&mut c, &notify(&format!("held-{i}")))
            .await
            .unwrap();
        assert!(reply.starts_with("SIP/2.0 200 OK"));
        held.push(c);
    }
    assert!(notify_once(tls, &ca.cert, None, "third").await.is_err());
    tokio::task::spawn_blocking(move || udp_answers(udp, "udp-cap"))
        .await
        .unwrap();
    drop(held);
    handle.shutdown();
    running.await.unwrap();
}

//! Provisioning over authenticated HTTPS, end to end: the `sip-resync` daemon fetches from real
//! HTTPS servers on loopback (rustls through tokio-rustls, certificates made by a throw-away
//! CA at test time) and from a Digest-protected HTTP server. A server trusted only through
//! `ca_files` (and refused without it), Panasonic's `CFG_ROOT_CERTIFICATE_PATH1`, Digest with
//! MD5 and SHA-256 as the server prefers, a wrong password, a client certificate required,
//! an expired server certificate; after each failure the last good set stays applied. Runs
//! are started by the daemon's start-up run or a check-sync NOTIFY, never by a clock.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::daemon::Daemon;
use support::http::{Fault, HttpServer, TlsFiles};
use support::pki::Ca;

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

/// Lines that report the end of a run.
const OUTCOME: &str = "sip_resync::engine: run ";

fn panasonic(tag: &str) -> String {
    format!("{MAGIC}X=\"{tag}\"\r\n")
}

use support::write_agent_config as write_config;

/// Starts the daemon on `config` with `state` as its state directory, runs its start-up run
/// and returns it with that run's outcome line.
fn start_up(config: &str, state: &Path) -> (Daemon, String) {
    let mut daemon = Daemon::start_with(config, &["--state-dir", state.to_str().unwrap()]);
    let line = nth_outcome(&mut daemon, 1);
    (daemon, line)
}

/// The `n`-th outcome line (from 1), waiting up to 20 s for it.
fn nth_outcome(daemon: &mut Daemon, n: usize) -> String {
    let seen = daemon.count(OUTCOME, n, Duration::from_secs(20));
    assert!(seen >= n, "no outcome {n}; log:\n{}", daemon.log.join("\n"));
    let line = daemon
        .log
        .iter()
        .filter(|l| l.contains(OUTCOME))
        .nth(n - 1)
        .unwrap()
        .clone();
    // Shown with --nocapture: what an administrator reads.
    eprintln!("{}", line.split(OUTCOME).nth(1).unwrap_or(&line));
    line
}

/// The applied copy of `name`, if a set is applied.
fn applied(state: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(state.join("current").join(name)).ok()
}

/// A check-sync NOTIFY over UDP; returns the daemon's answer.
fn check_sync(daemon: &Daemon, tag: &str) -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    socket
        .send_to(
            &support::notify_datagram(tag, "check-sync"),
            daemon.udp_addr(),
        )
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf).expect("an answer to the NOTIFY");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn assert_has(line: &str, parts: &[&str]) {
    for p in parts {
        assert!(line.contains(p), "{p:?} missing from: {line}");
    }
}

/// The certificate authority of a test, with a server certificate it signed.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "prov");
        Pki { dir, ca }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An HTTPS server with a valid certificate from this CA.
    fn server(&self, client_ca: Option<PathBuf>) -> HttpServer {
        let cert = self.ca.server("https-server");
        HttpServer::start_tls(&TlsFiles {
            cert: cert.cert,
            key: cert.key,
            client_ca,
        })
    }
}

#[test]
fn an_https_server_is_trusted_through_ca_files_only_and_the_last_good_set_stays() {
    let pki = Pki::new();
    let server = pki.server(None);
    server.put("a.cfg", panasonic("v1"));
    let state = tempfile::tempdir().unwrap();

    // The system's roots alone do not know the private CA: refused, nothing applied.
    let config = write_config(pki.path(), &[server.url("a.cfg")], "");
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            "invalid peer certificate: UnknownIssuer",
            "provisioning.ca_files",
        ],
    );
    assert_eq!(applied(state.path(), "a.cfg"), None);
    assert!(daemon.terminate().success());
    assert_eq!(
        server.total_gets(),
        0,
        "no request over an untrusted connection"
    );

    // With the CA in ca_files (a path relative to the configuration file): applied.
    let config = write_config(
        pki.path(),
        &[server.url("a.cfg")],
        "ca_files = [\"prov-ca.crt\"]\n",
    );
    let (daemon, line) = start_up(&config, state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());

    // The server moves to a certificate of another CA: refused with the files trusted named,
    // and v1 stays applied.
    let other = Ca::new(pki.path(), "other");
    let cert = other.server("other-server");
    let moved = HttpServer::start_tls(&TlsFiles {
        cert: cert.cert,
        key: cert.key,
        client_ca: None,
    });
    moved.put("a.cfg", panasonic("v2"));
    let config = write_config(
        pki.path(),
        &[moved.url("a.cfg")],
        "ca_files = [\"prov-ca.crt\"]\n",
    );
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            "UnknownIssuer",
            "provisioning.ca_files: ",
            "prov-ca.crt",
        ],
    );
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());
}

#[test]
fn panasonic_cfg_root_certificate_path_names_a_trusted_ca() {
    let pki = Pki::new();
    let server = pki.server(None);
    server.put("standard.cfg", panasonic("from-https"));
    let local = pki.path().join("local.cfg");
    std::fs::write(
        &local,
        format!(
            "{MAGIC}CFG_STANDARD_FILE_PATH=\"{}\"\r\nCFG_ROOT_CERTIFICATE_PATH1=\"prov-ca.crt\"\r\n\
             CFG_ROOT_CERTIFICATE_PATH2=\"https://ca.example/root.pem\"\r\n",
            server.url("standard.cfg")
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let (daemon, line) = start_up(local.to_str().unwrap(), state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert_eq!(
        applied(state.path(), "standard.cfg"),
        Some(panasonic("from-https"))
    );
    assert!(
        daemon
            .log
            .iter()
            .any(|l| l.contains("CFG_ROOT_CERTIFICATE_PATH2")
                && l.contains("does not download certificates")),
        "{}",
        daemon.log.join("\n")
    );
    assert!(daemon.terminate().success());
}

#[test]
fn digest_protected_files_follow_the_servers_algorithm_and_a_wrong_password_keeps_the_set() {
    let server = HttpServer::start();
    let digest = |pass: &str, algorithms: &[&str]| Fault::RequireDigestAuth {
        user: "phone".into(),
        pass: pass.into(),
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
    };
    server.put("md5.cfg", panasonic("md5-v1"));
    server.put("sha.cfg", panasonic("sha-v1"));
    server.set_fault("md5.cfg", digest("s3cret-pw", &["MD5"]));
    // Preferred first: SHA-256, then MD5 for older clients.
    server.set_fault("sha.cfg", digest("s3cret-pw", &["SHA-256", "MD5"]));
    let with_credentials = |u: String| u.replace("http://", "http://phone:s3cret-pw@");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &[
            with_credentials(server.url("md5.cfg")),
            with_credentials(server.url("sha.cfg")),
        ],
        "",
    );
    let state = tempfile::tempdir().unwrap();
    let (mut daemon, line) = start_up(&config, state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert_eq!(applied(state.path(), "md5.cfg"), Some(panasonic("md5-v1")));
    assert_eq!(applied(state.path(), "sha.cfg"), Some(panasonic("sha-v1")));
    let seen = server.requests();
    let summary: Vec<(String, u16, String)> = seen
        .iter()
        .map(|s| {
            let auth = s.header("authorization").unwrap_or("-");
            let scheme_and_alg = match auth.split_once(' ') {
                Some(("Digest", rest)) => format!(
                    "Digest {}",
                    rest.split(", ")
                        .find(|p| p.starts_with("algorithm="))
                        .unwrap_or("")
                ),
                Some((scheme, _)) => scheme.to_owned(),
                None => auth.to_owned(),
            };
            (s.path.clone(), s.status, scheme_and_alg)
        })
        .collect();
    let row = |p: &str, st: u16, a: &str| (p.to_owned(), st, a.to_owned());
    assert_eq!(
        summary,
        [
            // Basic goes first, as the URL's credentials always did; the Digest challenge
            // is answered once.
            row("/md5.cfg", 401, "Basic"),
            row("/md5.cfg", 200, "Digest algorithm=MD5"),
            // This server wants Digest: no Basic credentials up front any more, and the
            // server's first choice, SHA-256, is taken.
            row("/sha.cfg", 401, "-"),
            row("/sha.cfg", 200, "Digest algorithm=SHA-256"),
        ]
    );

    // The password changes on the server: the answer to the challenge is refused, the run
    // fails naming the URL without its credentials, and the applied set stays.
    server.put("md5.cfg", panasonic("md5-v2"));
    server.set_fault("md5.cfg", digest("new-pw", &["MD5"]));
    assert!(check_sync(&daemon, "pw-changed").starts_with("SIP/2.0 200 "));
    let line = nth_outcome(&mut daemon, 2);
    assert_has(
        &line,
        &[
            "failed on md5.cfg",
            &format!(
                "{}: HTTP 401: wrong user or password",
                server.url("md5.cfg")
            ),
            "Digest",
        ],
    );
    assert_eq!(applied(state.path(), "md5.cfg"), Some(panasonic("md5-v1")));
    let (_, log) = daemon.terminate_with_log();
    assert!(
        !log.iter()
            .any(|l| l.contains("s3cret") || l.contains("new-pw")),
        "credentials logged"
    );
}

#[test]
fn a_client_certificate_is_presented_when_configured_and_its_absence_is_named() {
    let pki = Pki::new();
    let clients = Ca::new(pki.path(), "clients");
    let server = pki.server(Some(clients.cert.clone()));
    server.put("a.cfg", panasonic("v1"));
    let phone = clients.client("phone");
    let state = tempfile::tempdir().unwrap();
    let trust = "ca_files = [\"prov-ca.crt\"]\n";

    let config = write_config(
        pki.path(),
        &[server.url("a.cfg")],
        &format!(
            "{trust}client_certificate = \"{}\"\nclient_key = \"{}\"\n",
            phone.cert.display(),
            phone.key.display()
        ),
    );
    let (daemon, line) = start_up(&config, state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());

    // Without the certificate: refused, the settings to set named, v1 kept.
    server.put("a.cfg", panasonic("v2"));
    let config = write_config(pki.path(), &[server.url("a.cfg")], trust);
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            "asks for a client certificate",
            "provisioning.client_certificate",
        ],
    );
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());

    // A certificate another CA signed: refused, the file named.
    let stranger = Ca::new(pki.path(), "stranger").client("stranger");
    let config = write_config(
        pki.path(),
        &[server.url("a.cfg")],
        &format!("{trust}client_certificate = \"stranger.crt\"\nclient_key = \"stranger.key\"\n"),
    );
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            "refused the client certificate",
            &stranger.cert.display().to_string(),
        ],
    );
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());
    // The server saw the two refused handshakes, and no request on them.
    let failures = server.tls_failures(2, Duration::from_secs(5));
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(
        server.get_count("a.cfg"),
        1,
        "only the certified client was served"
    );
}

#[test]
fn an_expired_server_certificate_fails_the_run_and_the_last_good_set_stays() {
    let pki = Pki::new();
    let good = pki.server(None);
    good.put("a.cfg", panasonic("v1"));
    let expired = pki.ca.expired_server("expired-server");
    let stale = HttpServer::start_tls(&TlsFiles {
        cert: expired.cert,
        key: expired.key,
        client_ca: None,
    });
    stale.put("a.cfg", panasonic("v2"));
    let state = tempfile::tempdir().unwrap();
    let trust = "ca_files = [\"prov-ca.crt\"]\n";

    let config = write_config(pki.path(), &[good.url("a.cfg")], trust);
    let (daemon, line) = start_up(&config, state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert!(daemon.terminate().success());

    let config = write_config(pki.path(), &[stale.url("a.cfg")], trust);
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            &stale.url("a.cfg"),
            "certificate expired",
            "check this host's clock",
        ],
    );
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
    assert!(daemon.terminate().success());
    assert_eq!(stale.total_gets(), 0);
}

#[test]
fn a_missing_or_unusable_tls_file_is_an_error_naming_the_key_and_the_file() {
    let pki = Pki::new();
    let dir = pki.path();
    let phone = pki.ca.client("phone");
    let _other = pki.ca.client("other");
    std::fs::write(dir.join("notes.txt"), "not a certificate\n").unwrap();
    let read = |text: &str| {
        let path = dir.join("agent.toml");
        std::fs::write(&path, format!("[provisioning]\n{text}")).unwrap();
        sip_resync::config::load(&path)
    };
    let ok = read("ca_files = [\"prov-ca.crt\"]\nclient_certificate = \"phone.crt\"\nclient_key = \"phone.key\"\n").unwrap();
    assert_eq!(ok.provisioning.ca_files, [dir.join("prov-ca.crt")]);
    assert_eq!(ok.provisioning.client_key, Some(phone.key.clone()));
    for (text, parts) in [
        (
            "ca_files = [\"missing.pem\"]\n",
            &["provisioning.ca_files", "missing.pem", "cannot read"][..],
        ),
        (
            "ca_files = [\"notes.txt\"]\n",
            &["provisioning.ca_files", "notes.txt", "no certificate in it"],
        ),
        (
            "client_certificate = \"phone.crt\"\n",
            &[
                "provisioning.client_key",
                "is needed with client_certificate",
            ],
        ),
        (
            "client_certificate = \"phone.crt\"\nclient_key = \"phone.crt\"\n",
            &[
                "provisioning.client_key",
                "phone.crt",
                "no private key in it",
            ],
        ),
        (
            "client_certificate = \"phone.crt\"\nclient_key = \"other.key\"\n",
            &[
                "provisioning.client_key",
                "other.key",
                "not the key of the certificate in",
            ],
        ),
    ] {
        let e = read(text).unwrap_err().to_string();
        assert_has(&e, parts);
    }
    let cfg = |line: &str| {
        let path = dir.join("local.cfg");
        std::fs::write(&path, format!("{MAGIC}{line}\r\n")).unwrap();
        sip_resync::config::load(&path)
    };
    let s = cfg("CFG_ROOT_CERTIFICATE_PATH3=\"file://prov-ca.crt\"").unwrap();
    assert_eq!(s.provisioning.ca_files, [dir.join("prov-ca.crt")]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let s = cfg("CFG_ROOT_CERTIFICATE_PATH1=\"tftp://10.0.0.1/ca.pem\"").unwrap();
    assert!(s.provisioning.ca_files.is_empty());
    assert_has(
        &s.warnings[0].to_string(),
        &["local.cfg:2: CFG_ROOT_CERTIFICATE_PATH1", "ignored"],
    );
    let e = cfg("CFG_ROOT_CERTIFICATE_PATH2=\"missing.pem\"")
        .unwrap_err()
        .to_string();
    assert_has(
        &e,
        &["local.cfg:2: CFG_ROOT_CERTIFICATE_PATH2", "missing.pem"],
    );
}

/// A redirect from https to plain http is never followed: the run fails naming both URLs
/// (credentials masked), the plain server gets no request, and the last good set stays.
#[test]
fn a_redirect_from_https_to_http_fails_the_run_and_the_plain_server_gets_nothing() {
    let pki = Pki::new();
    let secure = pki.server(None);
    let plain = HttpServer::start();
    secure.put("a.cfg", panasonic("v1"));
    plain.put("a.cfg", panasonic("rewritten"));
    let state = tempfile::tempdir().unwrap();
    let url = secure
        .url("a.cfg")
        .replace("https://", "https://phone:s3cret-pw@");
    let config = write_config(pki.path(), &[url], "ca_files = [\"prov-ca.crt\"]\n");
    let (daemon, line) = start_up(&config, state.path());
    assert_has(&line, &["run 1 (startup): updated"]);
    assert!(daemon.terminate().success());

    secure.set_fault(
        "a.cfg",
        Fault::Redirect {
            to: plain.url("a.cfg"),
            status: 302,
        },
    );
    let (daemon, line) = start_up(&config, state.path());
    assert_has(
        &line,
        &[
            "failed on a.cfg",
            &format!(
                "redirected from https://{}/a.cfg to {}",
                secure.addr(),
                plain.url("a.cfg")
            ),
            "never fetched over plain http",
        ],
    );
    let (_, log) = daemon.terminate_with_log();
    assert!(
        !log.iter().any(|l| l.contains("s3cret-pw")),
        "{}",
        log.join("\n")
    );
    assert_eq!(plain.total_gets(), 0, "nothing is asked over plain http");
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
}

/// A redirect to another origin (here the same host, another port) is followed and logged
/// with its target, and the request there carries neither the credentials nor the
/// validators, which belong to the file's own origin.
#[test]
fn a_redirect_to_another_origin_is_logged_and_gets_no_credentials_or_validators() {
    let pki = Pki::new();
    let home = pki.server(None);
    let other = pki.server(None);
    home.put("a.cfg", "unused");
    home.set_fault(
        "a.cfg",
        Fault::Redirect {
            to: other.url("moved.cfg"),
            status: 301,
        },
    );
    other.put("moved.cfg", panasonic("v1"));
    let state = tempfile::tempdir().unwrap();
    let url = home
        .url("a.cfg")
        .replace("https://", "https://phone:s3cret-pw@");
    let config = write_config(pki.path(), &[url], "ca_files = [\"prov-ca.crt\"]\n");
    for run in 1..=2 {
        let (daemon, line) = start_up(&config, state.path());
        assert_has(&line, &["run 1 (startup): "]);
        assert!(!line.contains("failed"), "{line}");
        let (_, log) = daemon.terminate_with_log();
        let redirect = log
            .iter()
            .find(|l| l.contains("following a redirect"))
            .unwrap_or_else(|| panic!("no redirect logged:\n{}", log.join("\n")));
        assert_has(
            redirect,
            &[
                "to another origin",
                &other.url("moved.cfg"),
                &format!("https://{}/a.cfg", home.addr()),
            ],
        );
        assert!(!log.iter().any(|l| l.contains("s3cret-pw")));
        let at_home = home.requests();
        let at_other = other.requests();
        assert_eq!((at_home.len(), at_other.len()), (run, run));
        let (h, o) = (&at_home[run - 1], &at_other[run - 1]);
        assert!(h.header("authorization").is_some(), "{h:?}");
        assert_eq!(o.header("authorization"), None, "{o:?}");
        assert_eq!(o.header("if-none-match"), None, "{o:?}");
        assert_eq!(o.header("if-modified-since"), None, "{o:?}");
        if run == 2 {
            // The validators stored from the answer go to the file's own origin only.
            assert!(h.header("if-none-match").is_some(), "{h:?}");
        }
    }
    assert_eq!(applied(state.path(), "a.cfg"), Some(panasonic("v1")));
}

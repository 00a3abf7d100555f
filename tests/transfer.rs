//! The provisioning engine over the transfer protocols desk phones use (issue 24, point 5),
//! against real servers the tests start on 127.0.0.1: TFTP with tftpd-hpa (block size and
//! size negotiation, a server ignoring options, a size over the bound refused before the
//! transfer, a missing file), FTP with vsftpd (anonymous, a user and password, the size
//! bound) and FTPS with explicit TLS against vsftpd and a test CA. Every failure keeps the
//! last good set, and no error shows a password. Also: a Panasonic file and our TOML that
//! name `tftp://` files are read (issue 24, point 3).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use sip_resync::config;
use sip_resync::engine::{Cause, ClockValidity, Engine, EngineConfig, EngineHandle, Outcome};
use sip_resync::engine::{FetchError, RunError, RunResult};
use support::pki::Ca;
use support::state::CURRENT;
use support::transfer::{FtpOptions, FtpServer, TftpServer};
use tokio::sync::broadcast;

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

/// A valid Panasonic file of exactly `size` bytes: the magic line, a setting, then comment
/// lines (each shorter than the 537-byte line limit) filling it up.
fn panasonic_of_size(tag: &str, size: usize) -> Vec<u8> {
    let mut text = format!("{MAGIC}CFG_RESYNC_FROM_SIP=\"{tag}\"\r\n");
    while text.len() < size {
        let room = size - text.len();
        let line = if room > 200 {
            format!("# {}\r\n", "x".repeat(196))
        } else if room >= 4 {
            format!("#{}\r\n", "y".repeat(room - 3))
        } else {
            "#\r\n".to_owned()
        };
        text.push_str(&line);
    }
    if text.len() > size {
        // Less than 4 bytes were left: shorten the last filler line.
        let over = text.len() - size;
        let cut = text.len() - 2 - over;
        text.replace_range(cut..cut + over, "");
    }
    assert_eq!(text.len(), size);
    text.into_bytes()
}

struct Agent {
    handle: EngineHandle,
    outcomes: broadcast::Receiver<Outcome>,
    state: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// An engine on `files` (URLs) and `extra` lines of `[provisioning]`; runs on trigger.
    fn start(urls: &[String], extra: &str) -> Agent {
        let files: Vec<String> = urls
            .iter()
            .map(|u| format!("{{ url = \"{u}\" }}"))
            .collect();
        let timeout = if extra.contains("timeout_secs") {
            ""
        } else {
            "timeout_secs = 10\n"
        };
        let text = format!(
            "[sip]\nlisten = []\n[provisioning]\nfetch_at_startup = false\n{timeout}\
             connect_timeout_secs = 2\nrun_budget_refill_secs = 0\nfiles = [{}]\n{extra}",
            files.join(", ")
        );
        let settings = config::from_bytes(text.as_bytes(), Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("test config: {e}\n{text}"));
        let state = tempfile::tempdir().unwrap();
        let (handle, task) = Engine::start(EngineConfig {
            settings,
            state_dir: state.path().to_owned(),
            time_zone: jiff::tz::TimeZone::UTC,
            clock: ClockValidity::Valid,
        })
        .expect("engine starts");
        let outcomes = handle.subscribe();
        Agent {
            handle,
            outcomes,
            state,
            task,
        }
    }

    async fn run(&mut self) -> Outcome {
        self.handle.trigger(Cause::Manual {
            reason: "test".into(),
        });
        tokio::time::timeout(Duration::from_secs(30), self.outcomes.recv())
            .await
            .expect("an outcome within 30 s")
            .expect("outcome channel open")
    }

    fn applied(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.state.path().join(CURRENT).join(name)).unwrap()
    }

    async fn stop(self) {
        self.handle.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn updated(o: &Outcome) -> Vec<String> {
    match &o.result {
        RunResult::Updated { files, .. } => files.iter().map(|f| f.name.clone()).collect(),
        other => panic!("expected an update, got {other:?} ({o})"),
    }
}

/// The error of a failed run, with its text.
fn failure(o: &Outcome) -> (&RunError, String) {
    match &o.result {
        RunResult::Failed { error, .. } => (error, error.to_string()),
        other => panic!("expected a failure, got {other:?} ({o})"),
    }
}

fn fetch_error(o: &Outcome) -> &FetchError {
    match failure(o).0 {
        RunError::Fetch { error, .. } => error,
        other => panic!("expected a fetch error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_negotiates_the_block_size_and_an_unchanged_file_is_unchanged() {
    let server = TftpServer::start();
    // Three and a half blocks of 1428 bytes, and exactly three (an empty last block ends it).
    let master = panasonic_of_size("master", 1428 * 3 + 714);
    let product = panasonic_of_size("product", 1428 * 3);
    server.put("master.cfg", &master);
    server.put("product.cfg", &product);
    let urls = [server.url("master.cfg"), server.url("product.cfg")];
    let mut agent = Agent::start(&urls, "");

    let started = Instant::now();
    let first = agent.run().await;
    let took = started.elapsed();
    assert_eq!(updated(&first), ["master.cfg", "product.cfg"], "{first}");
    assert_eq!(agent.applied("master.cfg"), master);
    assert_eq!(agent.applied("product.cfg"), product);
    eprintln!(
        "tftpd-hpa: {} bytes in two files (blksize 1428) fetched, validated and applied in {took:?}",
        master.len() + product.len()
    );

    // TFTP has no conditional request: both files are transferred again, and found
    // unchanged by their digests.
    let second = agent.run().await;
    assert_eq!(second.result, RunResult::Unchanged, "{second}");

    // A changed file is applied; the other one stays as it was.
    let master2 = panasonic_of_size("master2", 2000);
    server.put("master.cfg", &master2);
    let third = agent.run().await;
    assert_eq!(updated(&third), ["master.cfg"], "{third}");
    assert_eq!(agent.applied("master.cfg"), master2);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_from_a_server_that_ignores_options_uses_512_byte_blocks() {
    let server = TftpServer::start_with(&["--refuse", "blksize", "--refuse", "tsize"]);
    let file = panasonic_of_size("plain", 512 * 4);
    server.put("a.cfg", &file);
    let mut agent = Agent::start(&[server.url("a.cfg")], "");
    let first = agent.run().await;
    assert_eq!(updated(&first), ["a.cfg"], "{first}");
    assert_eq!(agent.applied("a.cfg"), file);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_failures_name_the_url_and_keep_the_last_good_set() {
    let server = TftpServer::start();
    let good = panasonic_of_size("good", 3000);
    server.put("a.cfg", &good);
    let mut agent = Agent::start(&[server.url("a.cfg")], "max_file_size = 4000\n");
    assert_eq!(updated(&agent.run().await), ["a.cfg"]);

    // Over the bound: the server's tsize says so, and the transfer never starts.
    server.put("a.cfg", panasonic_of_size("big", 5000));
    let big = agent.run().await;
    assert_eq!(
        fetch_error(&big),
        &FetchError::AnnouncedTooLarge {
            size: 5000,
            limit: 4000
        }
    );
    assert_eq!(
        failure(&big).1,
        format!(
            "{}: the server announces 5000 bytes, more than the limit of 4000 bytes \
             (provisioning.max_file_size); not transferred",
            server.url("a.cfg")
        )
    );
    assert_eq!(agent.applied("a.cfg"), good, "the last good set stays");
    agent.stop().await;

    // A file that is not there: the server's ERROR 1, with the URL.
    let mut agent = Agent::start(&[server.url("missing.cfg")], "");
    let missing = agent.run().await;
    let (_, text) = failure(&missing);
    assert_eq!(
        text,
        format!(
            "{}: TFTP error 1 (file not found): \"File not found\" (check the URL and \
             {{MAC}}/{{MODEL}}, and the TFTP server's directory)",
            server.url("missing.cfg")
        )
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_without_a_server_times_out_within_the_fetch_timeout() {
    // A UDP port nobody answers on (bound here, never read).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut agent = Agent::start(
        &[format!("tftp://127.0.0.1:{port}/a.cfg")],
        "timeout_secs = 3\n",
    );
    let started = Instant::now();
    let o = agent.run().await;
    assert_eq!(
        fetch_error(&o),
        &FetchError::Timeout(Duration::from_secs(3))
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_anonymous_fetches_and_keeps_the_last_good_set_on_failure() {
    let server = FtpServer::start(FtpOptions::default());
    let file = panasonic_of_size("ftp", 100_000);
    server.put("a.cfg", &file);
    let mut agent = Agent::start(
        &[server.url("ftp", None, "a.cfg")],
        "max_file_size = 200000\n",
    );
    let started = Instant::now();
    let first = agent.run().await;
    let took = started.elapsed();
    assert_eq!(updated(&first), ["a.cfg"], "{first}");
    assert_eq!(agent.applied("a.cfg"), file);
    eprintln!(
        "vsftpd (anonymous FTP): {} bytes fetched, validated and applied in {took:?}",
        file.len()
    );
    assert_eq!(agent.run().await.result, RunResult::Unchanged);

    // Larger than the bound: SIZE says so before RETR.
    server.put("a.cfg", panasonic_of_size("big", 300_000));
    let big = agent.run().await;
    assert_eq!(
        fetch_error(&big),
        &FetchError::AnnouncedTooLarge {
            size: 300_000,
            limit: 200_000
        }
    );
    // A file that is gone.
    server.remove("a.cfg");
    let gone = agent.run().await;
    let (_, text) = failure(&gone);
    assert!(
        text.starts_with(&format!(
            "{}: FTP 550 to ",
            server.url("ftp", None, "a.cfg")
        )),
        "{text}"
    );
    assert!(text.contains("(check the URL and {MAC}/{MODEL})"), "{text}");
    assert_eq!(agent.applied("a.cfg"), file, "the last good set stays");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_with_a_user_and_password_and_the_password_never_shown() {
    let server = FtpServer::start(FtpOptions {
        user: Some(("prov".into(), "s3cret:pw".into())),
        tls: None,
    });
    let file = panasonic_of_size("user", 5000);
    server.put("a.cfg", &file);
    // The ':' of the password is percent-encoded in the URL.
    let mut agent = Agent::start(&[server.url("ftp", Some("prov:s3cret%3Apw"), "a.cfg")], "");
    let first = agent.run().await;
    assert_eq!(updated(&first), ["a.cfg"], "{first}");
    assert_eq!(agent.applied("a.cfg"), file);
    agent.stop().await;

    let mut agent = Agent::start(&[server.url("ftp", Some("prov:wrong-s3cret"), "a.cfg")], "");
    let refused = agent.run().await;
    let (_, text) = failure(&refused);
    assert_eq!(
        text,
        format!(
            "{}: FTP 530 to USER/PASS: \"Login incorrect.\" (check the user:pass@ in the \
             file's URL; without one, the login is anonymous)",
            server.url("ftp", None, "a.cfg")
        )
    );
    let everything = format!("{refused} {refused:?}");
    assert!(!everything.contains("s3cret"), "{everything}");
    agent.stop().await;

    // Without credentials, the login is anonymous, which this server refuses.
    let mut agent = Agent::start(&[server.url("ftp", None, "a.cfg")], "");
    let anonymous = agent.run().await;
    assert!(
        matches!(fetch_error(&anonymous), FetchError::Ftp { code: 530, .. }),
        "{anonymous}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_explicit_tls_with_the_test_ca_and_a_clear_error_without_it() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new(pki.path(), "ftps");
    let cert = ca.server("vsftpd");
    let server = FtpServer::start(FtpOptions {
        user: Some(("prov".into(), "tls-pw".into())),
        tls: Some((cert.cert.clone(), cert.key.clone())),
    });
    let file = panasonic_of_size("tls", 50_000);
    server.put("a.cfg", &file);
    let url = server.url("ftps", Some("prov:tls-pw"), "a.cfg");
    let mut agent = Agent::start(
        std::slice::from_ref(&url),
        &format!("ca_files = [\"{}\"]\n", ca.cert.display()),
    );
    let started = Instant::now();
    let first = agent.run().await;
    let took = started.elapsed();
    assert_eq!(updated(&first), ["a.cfg"], "{first}");
    assert_eq!(agent.applied("a.cfg"), file);
    eprintln!(
        "vsftpd (FTPS, AUTH TLS, PROT P): {} bytes fetched, validated and applied in {took:?}",
        file.len()
    );
    agent.stop().await;

    // The same server without the CA: the certificate is refused, and the error says what to
    // configure.
    let mut agent = Agent::start(std::slice::from_ref(&url), "");
    let untrusted = agent.run().await;
    let (_, text) = failure(&untrusted);
    assert!(
        text.contains("TLS: the server's certificate is not signed by a trusted CA")
            && text.contains("provisioning.ca_files"),
        "{text}"
    );
    assert!(!text.contains("tls-pw"), "{text}");
    agent.stop().await;

    // Plain FTP to a server that requires TLS: refused by the server, named.
    let mut agent = Agent::start(&[server.url("ftp", Some("prov:tls-pw"), "a.cfg")], "");
    let plain = agent.run().await;
    assert!(
        matches!(fetch_error(&plain), FetchError::Ftp { code: 530, .. }),
        "{plain}"
    );
    agent.stop().await;
}

/// Issue 24, point 3: FusionPBX's KX-UT670 and KX-TGP templates name the standard file with
/// a `tftp://` URL; the Panasonic file is read, and so is our TOML with tftp and ftp files.
#[test]
fn a_panasonic_file_and_our_toml_may_name_tftp_and_ftp_files() {
    let s = config::from_bytes(
        format!(
            "{MAGIC}CFG_STANDARD_FILE_PATH=\"tftp://10.0.0.1/Config{{MAC}}.cfg\"\r\n\
             CFG_PRODUCT_FILE_PATH=\"ftps://prov:pw@10.0.0.1/{{MODEL}}.cfg\"\r\n"
        )
        .as_bytes(),
        Path::new("kx-ut670.cfg"),
    )
    .unwrap();
    let urls: Vec<&str> = s
        .provisioning
        .files
        .iter()
        .map(|f| f.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "ftps://prov:pw@10.0.0.1/{MODEL}.cfg",
            "tftp://10.0.0.1/Config{MAC}.cfg"
        ]
    );
    let t = config::from_bytes(
        b"[provisioning]\nfiles = [{ url = \"tftp://10.0.0.1/a.cfg\" }, { url = \"ftp://h/b.cfg\" }]\n",
        Path::new("agent.toml"),
    )
    .unwrap();
    assert_eq!(t.provisioning.files.len(), 2);
    let e = config::from_bytes(
        b"[provisioning]\nfiles = [{ url = \"gopher://h/a.cfg\" }]\n",
        Path::new("agent.toml"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("must start with http://, https://, tftp://, ftp://, ftps:// or file://"),
        "{e}"
    );
}

//! The provisioning engine against a real HTTP server on loopback serving real files:
//! first fetch, 304, a changed file, every failure keeping the last good set, retries at the
//! schedule's instant, settings re-armed by fetched files, credentials, redirects, the reboot
//! policy and the post-update command.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sip_resync::config;
use sip_resync::engine::{
    Cause, ClockValidity, Engine, EngineConfig, EngineHandle, Outcome, RunResult,
};
use support::http::{Fault, HttpServer};
use support::state::{sha256_hex, CURRENT, MANIFEST};
use tokio::sync::broadcast;

const MAGIC: &str = "# Panasonic SIP Phone Standard Format File #\r\n";

fn panasonic(body: &str) -> String {
    format!("{MAGIC}{body}")
}

struct Agent {
    handle: EngineHandle,
    outcomes: broadcast::Receiver<Outcome>,
    state: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// Starts an engine on the TOML `config` (a `[provisioning]` table without state_dir),
    /// with start-up fetching off unless the config turns it on.
    fn start(config_text: &str) -> Agent {
        let state = tempfile::tempdir().unwrap();
        Agent::start_in(config_text, state)
    }

    fn start_in(config_text: &str, state: tempfile::TempDir) -> Agent {
        let settings = config::from_bytes(config_text.as_bytes(), Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("test config: {e}\n{config_text}"));
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

    async fn run(&mut self, cause: Cause) -> Outcome {
        self.handle.trigger(cause);
        self.next().await
    }

    async fn next(&mut self) -> Outcome {
        tokio::time::timeout(Duration::from_secs(20), self.outcomes.recv())
            .await
            .expect("an outcome within 20 s")
            .expect("outcome channel open")
    }

    fn applied(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.state.path().join(CURRENT).join(name)).unwrap()
    }

    async fn stop(self) -> tempfile::TempDir {
        self.handle.shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        self.state
    }
}

fn manual() -> Cause {
    Cause::Manual {
        reason: "test".into(),
    }
}

fn files_toml(server: &HttpServer, names: &[&str]) -> String {
    let list: Vec<String> = names
        .iter()
        .map(|n| format!("{{ url = \"{}\" }}", server.url(n)))
        .collect();
    format!("files = [{}]\n", list.join(", "))
}

fn base_config(server: &HttpServer, names: &[&str], extra: &str) -> String {
    format!(
        "[sip]\nlisten = []\n[provisioning]\nfetch_at_startup = false\ntimeout_secs = 2\nconnect_timeout_secs = 2\n{}{extra}",
        files_toml(server, names)
    )
}

fn updated_names(o: &Outcome) -> Vec<String> {
    match &o.result {
        RunResult::Updated { files, .. } => files.iter().map(|f| f.name.clone()).collect(),
        other => panic!("expected an update, got {other:?} ({o})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_fetch_then_304_then_only_the_changed_file() {
    let server = HttpServer::start();
    server.put("master.cfg", panasonic("CFG_CYCLIC=\"N\"\r\n"));
    server.put("product.cfg", panasonic("A=\"1\"\r\n"));
    server.put("standard.cfg", panasonic("B=\"1\"\r\n"));
    let names = ["master.cfg", "product.cfg", "standard.cfg"];
    let mut agent = Agent::start(&base_config(&server, &names, ""));

    let first = agent.run(manual()).await;
    assert_eq!(updated_names(&first), names);
    assert!(
        matches!(&first.result, RunResult::Updated { files, .. } if files.iter().all(|f| f.old_digest.is_none()))
    );
    for seen in server.requests() {
        assert_eq!(seen.status, 200);
        assert_eq!(
            seen.header("if-none-match"),
            None,
            "first fetch is unconditional"
        );
    }

    server.clear_log();
    let second = agent.run(manual()).await;
    assert_eq!(second.result, RunResult::Unchanged, "{second}");
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.status, 304, "{s:?}");
        assert_eq!(s.header("if-none-match"), server.etag(&s.path).as_deref());
        assert!(s.header("if-modified-since").is_some());
    }

    let old = sha256_hex(&agent.applied("product.cfg"));
    let new_product = panasonic("A=\"2\"\r\n");
    server.put("product.cfg", new_product.clone());
    let third = agent.run(manual()).await;
    let RunResult::Updated { files, .. } = &third.result else {
        panic!("{third}")
    };
    assert_eq!(files.len(), 1, "{third}");
    assert_eq!(files[0].name, "product.cfg");
    assert_eq!(files[0].old_digest.as_deref(), Some(old.as_str()));
    assert_eq!(
        files[0].new_digest.as_deref(),
        Some(sha256_hex(new_product.as_bytes()).as_str())
    );
    assert_eq!(agent.applied("product.cfg"), new_product.as_bytes());
    assert_eq!(third.run, 3);
    agent.stop().await;
}

/// A server answering nothing on a port that was just free.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/gone.cfg")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_the_last_good_set_and_retry_at_the_schedules_instant() {
    let server = HttpServer::start();
    let good_a = panasonic("A=\"good\"\r\n");
    let good_b = panasonic("B=\"good\"\r\n");
    server.put("a.cfg", good_a.clone());
    server.put("b.cfg", good_b.clone());
    // Panasonic cyclic every 60 min, CFG_RTRY_INTVL 7 min. A dozen runs back to back: the
    // run budget is unlimited here (it is tested on the defaults in tests/provisioning.rs).
    let extra = "max_file_size = 1000\nrun_budget_refill_secs = 0\n[schedule.panasonic]\ncfg_cyclic = true\ncfg_cyclic_intvl = 60\ncfg_rtry_intvl = 7\n";
    let mut agent = Agent::start(&base_config(&server, &["a.cfg", "b.cfg"], extra));
    let first = agent.run(manual()).await;
    assert_eq!(updated_names(&first), ["a.cfg", "b.cfg"]);

    let new_a = panasonic("A=\"new\"\r\n");
    // Each fault is on b.cfg, while a.cfg has a new version: nothing may be applied.
    type Inject<'a> = Box<dyn Fn() + 'a>;
    let faults: Vec<(&str, Inject, &str)> = vec![
        (
            "500",
            Box::new(|| server.set_fault("b.cfg", Fault::Status(500))),
            "HTTP 500",
        ),
        (
            "slow",
            Box::new(|| server.set_fault("b.cfg", Fault::Delay(Duration::from_secs(4)))),
            "timed out",
        ),
        (
            "truncated",
            Box::new(|| server.set_fault("b.cfg", Fault::Truncate { send: 10 })),
            "incomplete body",
        ),
        (
            "oversize",
            Box::new(|| {
                server.set_fault("b.cfg", Fault::None);
                server.put("b.cfg", panasonic(&"X=\"0123456789\"\r\n".repeat(100)));
            }),
            "larger than the limit of 1000 bytes",
        ),
        (
            "bad magic",
            Box::new(|| server.put("b.cfg", "B=\"no magic line\"\r\n")),
            "must contain \"# Panasonic SIP Phone Standard Format File #\"",
        ),
    ];
    server.put("a.cfg", new_a.clone());
    for (what, inject, expected) in &faults {
        inject();
        let o = agent.run(manual()).await;
        let RunResult::Failed {
            file,
            error,
            next_retry,
        } = &o.result
        else {
            panic!("{what}: expected a failure, got {o}")
        };
        assert_eq!(file.as_deref(), Some("b.cfg"), "{what}: {o}");
        assert!(error.to_string().contains(expected), "{what}: {error}");
        assert!(!o.reboot_requested);
        assert_eq!(
            agent.applied("a.cfg"),
            good_a.as_bytes(),
            "{what}: old set kept"
        );
        assert_eq!(
            agent.applied("b.cfg"),
            good_b.as_bytes(),
            "{what}: old set kept"
        );
        let wait =
            next_retry.expect("a retry is scheduled").as_second() - o.finished_at.as_second();
        assert!(
            (7 * 60 - 2..=7 * 60 + 1).contains(&wait),
            "{what}: retry {wait} s after the failure, expected CFG_RTRY_INTVL = 420 s"
        );
        assert_eq!(o.next_poll, *next_retry);
    }

    // Server down.
    let down_cfg = format!(
        "[sip]\nlisten = []\n[provisioning]\nfetch_at_startup = false\nconnect_timeout_secs = 1\nfiles = [{{ url = \"{}\" }}]\n[schedule.panasonic]\ncfg_rtry_intvl = 3\n",
        closed_port_url()
    );
    let mut down = Agent::start(&down_cfg);
    let o = down.run(manual()).await;
    let RunResult::Failed {
        error, next_retry, ..
    } = &o.result
    else {
        panic!("{o}")
    };
    assert!(error.to_string().contains("cannot connect"), "{error}");
    let wait = next_retry.unwrap().as_second() - o.finished_at.as_second();
    assert!((178..=181).contains(&wait), "retry after {wait} s");
    assert!(!down.state.path().join(CURRENT).exists(), "nothing applied");
    down.stop().await;

    // 503 with Retry-After: the retry is not earlier than the server asked.
    server.set_fault(
        "b.cfg",
        Fault::ServiceUnavailable {
            retry_after: "3600".into(),
        },
    );
    let o = agent.run(manual()).await;
    let RunResult::Failed {
        next_retry, error, ..
    } = &o.result
    else {
        panic!("{o}")
    };
    assert!(error.to_string().contains("Retry-After 3600s"), "{error}");
    let wait = next_retry.unwrap().as_second() - o.finished_at.as_second();
    assert!((3598..=3601).contains(&wait), "retry after {wait} s");

    // Healed: the whole new set lands at once.
    server.set_fault("b.cfg", Fault::None);
    let new_b = panasonic("B=\"new\"\r\n");
    server.put("b.cfg", new_b.clone());
    let o = agent.run(manual()).await;
    assert_eq!(updated_names(&o), ["a.cfg", "b.cfg"]);
    assert_eq!(agent.applied("a.cfg"), new_a.as_bytes());
    assert_eq!(agent.applied("b.cfg"), new_b.as_bytes());
    // After a success the regular cyclic poll is next again, an hour away.
    let wait = o.next_poll.unwrap().as_second() - o.finished_at.as_second();
    assert!(wait > 50 * 60, "next poll in {wait} s");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_set_and_sends_its_validators() {
    let server = HttpServer::start();
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    let cfg = base_config(&server, &["a.cfg"], "");
    let mut agent = Agent::start(&cfg);
    agent.run(manual()).await;
    let state = agent.stop().await;
    server.clear_log();
    let mut again = Agent::start_in(&cfg, state);
    let o = again.run(manual()).await;
    assert_eq!(o.result, RunResult::Unchanged);
    let seen = server.requests();
    assert_eq!(seen[0].status, 304);
    assert_eq!(
        seen[0].header("if-none-match"),
        server.etag("a.cfg").as_deref()
    );
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_settings_rearm_the_event_and_schedule_standard_over_product_over_master() {
    let server = HttpServer::start();
    server.put(
        "master.cfg",
        panasonic("CFG_RESYNC_FROM_SIP=\"from-master\"\r\nCFG_CYCLIC=\"Y\"\r\nCFG_CYCLIC_INTVL=\"30\"\r\n"),
    );
    server.put(
        "product.cfg",
        panasonic("CFG_RESYNC_FROM_SIP=\"from-product\"\r\n"),
    );
    server.put(
        "standard.cfg",
        panasonic("CFG_RESYNC_FROM_SIP=\"from-standard\"\r\n"),
    );
    let mut agent = Agent::start(&base_config(
        &server,
        &["master.cfg", "product.cfg", "standard.cfg"],
        "",
    ));
    let mut settings = agent.handle.settings();
    assert_eq!(settings.borrow().sip.events, ["check-sync"]);
    let o = agent.run(manual()).await;
    assert!(
        matches!(
            o.result,
            RunResult::Updated {
                settings_changed: true,
                ..
            }
        ),
        "{o}"
    );
    assert!(settings.has_changed().unwrap());
    {
        let s = settings.borrow_and_update();
        assert_eq!(s.sip.events, ["from-standard"]);
        assert!(matches!(
            &s.schedule,
            sip_resync::schedule::ScheduleSettings::Panasonic(p) if p.cyclic && p.cyclic_interval_min == 30
        ));
    }
    // The schedule is re-armed at once: the next poll is 30 min away.
    let wait = o.next_poll.unwrap().as_second() - o.finished_at.as_second();
    assert!((29 * 60..=30 * 60).contains(&wait), "next poll in {wait} s");

    // The standard file drops its event: product's wins now.
    server.put("standard.cfg", panasonic("X=\"1\"\r\n"));
    let o = agent.run(manual()).await;
    assert!(
        matches!(
            o.result,
            RunResult::Updated {
                settings_changed: true,
                ..
            }
        ),
        "{o}"
    );
    assert_eq!(settings.borrow_and_update().sip.events, ["from-product"]);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_authenticate_and_never_appear_in_outcomes() {
    let server = HttpServer::start();
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    server.set_fault(
        "a.cfg",
        Fault::RequireBasicAuth {
            user: "phone".into(),
            pass: "s3cret-pw".into(),
        },
    );
    let url = server
        .url("a.cfg")
        .replace("http://", "http://phone:s3cret-pw@");
    let cfg = format!(
        "[sip]\nlisten = []\n[provisioning]\nfetch_at_startup = false\nfiles = [{{ url = \"{url}\" }}]\n"
    );
    let mut agent = Agent::start(&cfg);
    let o = agent.run(manual()).await;
    assert_eq!(updated_names(&o), ["a.cfg"]);
    let seen = server.requests();
    assert_eq!(
        seen[0].header("authorization"),
        Some("Basic cGhvbmU6czNjcmV0LXB3"),
        "RFC 7617 Basic credentials of phone:s3cret-pw"
    );
    let manifest =
        std::fs::read_to_string(agent.state.path().join(CURRENT).join(MANIFEST)).unwrap();
    assert!(!manifest.contains("s3cret"), "{manifest}");
    agent.stop().await;

    let wrong = cfg.replace("s3cret-pw", "wrong-pw");
    let mut agent = Agent::start(&wrong);
    let o = agent.run(manual()).await;
    let text = format!("{o} {o:?}");
    assert!(
        text.contains("HTTP 401") && text.contains("check the user:pass@"),
        "{text}"
    );
    assert!(!text.contains("wrong-pw"), "{text}");
    agent.stop().await;
}

/// A redirect to `file://` (or any scheme but http and https) is named, not followed and not
/// counted as too many redirects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_file_is_refused_and_named() {
    let server = HttpServer::start();
    server.put("a.cfg", "unused");
    server.set_fault(
        "a.cfg",
        Fault::Redirect {
            to: "file:///etc/passwd".into(),
            status: 302,
        },
    );
    let mut agent = Agent::start(&base_config(
        &server,
        &["a.cfg"],
        "max_redirects = 3
",
    ));
    let o = agent.run(manual()).await;
    let text = o.to_string();
    assert!(matches!(o.result, RunResult::Failed { .. }), "{text}");
    assert!(
        text.contains(
            "redirected to file:///etc/passwd: only http and https redirects are followed"
        ),
        "{text}"
    );
    assert!(!text.contains("too many redirects"), "{text}");
    assert_eq!(server.get_count("a.cfg"), 1);
    agent.stop().await;
}

/// A 304 is an answer to validators: to a request that carried none, it fails the run, even
/// with a copy stored, and the copy stays applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_to_a_request_without_validators_fails_the_run() {
    let server = HttpServer::start();
    server.set_etags(false);
    server.set_last_modified(false);
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    let mut agent = Agent::start(&base_config(&server, &["a.cfg"], ""));
    assert_eq!(updated_names(&agent.run(manual()).await), ["a.cfg"]);

    server.set_fault("a.cfg", Fault::NotModified);
    server.clear_log();
    let o = agent.run(manual()).await;
    let text = o.to_string();
    assert!(matches!(o.result, RunResult::Failed { .. }), "{text}");
    assert!(
        text.contains(
            "HTTP 304 Not Modified to a request that carried no If-None-Match or If-Modified-Since"
        ),
        "{text}"
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("if-none-match"), None);
    assert_eq!(seen[0].header("if-modified-since"), None);
    assert_eq!(agent.applied("a.cfg"), panasonic("A=\"1\"\r\n").as_bytes());
    agent.stop().await;
}

/// `Content-Encoding: gzip` is decoded, within max_file_size after decoding; another coding
/// fails the run naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_body_is_decoded_within_the_limit_and_other_codings_are_named() {
    let server = HttpServer::start();
    let body = panasonic(&"A=\"1\"\r\n".repeat(200));
    server.put("a.cfg", body.clone());
    server.set_fault("a.cfg", Fault::Gzip);
    let mut agent = Agent::start(&base_config(&server, &["a.cfg"], ""));
    assert_eq!(updated_names(&agent.run(manual()).await), ["a.cfg"]);
    assert_eq!(agent.applied("a.cfg"), body.as_bytes());
    assert_eq!(
        server.requests()[0].header("accept-encoding"),
        Some("gzip"),
        "the client says what it decodes"
    );
    agent.stop().await;

    // Small when encoded, over the limit when decoded.
    let limit = body.len() - 1;
    let mut agent = Agent::start(&base_config(
        &server,
        &["a.cfg"],
        &format!("max_file_size = {limit}\n"),
    ));
    let o = agent.run(manual()).await;
    assert!(
        o.to_string()
            .contains(&format!("larger than the limit of {limit} bytes")),
        "{o}"
    );
    agent.stop().await;

    server.set_fault("a.cfg", Fault::Encoded("br".into()));
    let mut agent = Agent::start(&base_config(&server, &["a.cfg"], ""));
    let o = agent.run(manual()).await;
    assert!(
        o.to_string()
            .contains("encoded with Content-Encoding: br, which is not decoded (only gzip is)"),
        "{o}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_and_bounded() {
    let server = HttpServer::start();
    server.put("real.cfg", panasonic("A=\"1\"\r\n"));
    server.put("moved.cfg", "unused");
    server.set_fault(
        "moved.cfg",
        Fault::Redirect {
            to: server.url("real.cfg"),
            status: 302,
        },
    );
    server.put("loop.cfg", "unused");
    server.set_fault(
        "loop.cfg",
        Fault::Redirect {
            to: server.url("loop.cfg"),
            status: 302,
        },
    );
    let mut agent = Agent::start(&base_config(&server, &["moved.cfg"], "max_redirects = 3\n"));
    let o = agent.run(manual()).await;
    assert_eq!(updated_names(&o), ["moved.cfg"]);
    assert_eq!(
        agent.applied("moved.cfg"),
        panasonic("A=\"1\"\r\n").as_bytes()
    );
    agent.stop().await;

    let mut agent = Agent::start(&base_config(&server, &["loop.cfg"], "max_redirects = 3\n"));
    server.clear_log();
    let o = agent.run(manual()).await;
    assert!(o.to_string().contains("too many redirects"), "{o}");
    assert_eq!(
        server.get_count("loop.cfg"),
        4,
        "the first request and 3 redirects"
    );
    agent.stop().await;
}

fn notify_cause(reboot: Option<bool>) -> Cause {
    Cause::Notify {
        source: "127.0.0.1:5060".parse().unwrap(),
        transport: sip_resync::Transport::Udp,
        event: "check-sync".into(),
        reboot,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reboot_requested_follows_the_notify_and_the_policy() {
    let server = HttpServer::start();
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    let mut agent = Agent::start(&base_config(
        &server,
        &["a.cfg"],
        // Four runs back to back: not what the run budget is for (tested on the defaults
        // in tests/provisioning.rs), so it is unlimited here.
        "reboot_policy = \"if-changed\"\nrun_budget_refill_secs = 0\n",
    ));
    let o = agent.run(notify_cause(None)).await;
    assert!(o.reboot_requested, "changed, no wish: if-changed reboots");
    let o = agent.run(notify_cause(None)).await;
    assert!(!o.reboot_requested, "unchanged: no reboot");
    let o = agent.run(notify_cause(Some(true))).await;
    assert!(o.reboot_requested, "reboot=true asks even when unchanged");
    server.put("a.cfg", panasonic("A=\"2\"\r\n"));
    let o = agent.run(notify_cause(Some(false))).await;
    assert!(!o.reboot_requested, "reboot=false wins over the policy");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_post_update_command_gets_the_outcome_in_its_environment() {
    let server = HttpServer::start();
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    let out_dir = tempfile::tempdir().unwrap();
    let out: PathBuf = out_dir.path().join("env.txt");
    let extra = format!(
        "post_update_command = [\"/bin/sh\", \"-c\", \"env | grep ^SIP_RESYNC_ | sort > {}\"]\n",
        out.display()
    );
    let mut agent = Agent::start(&base_config(&server, &["a.cfg"], &extra));
    let o = agent.run(notify_cause(Some(true))).await;
    assert_eq!(updated_names(&o), ["a.cfg"]);
    // The command runs after the outcome is sent; give it a moment.
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("SIP_RESYNC_SETTINGS_CHANGED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let dir = agent.state.path().join(CURRENT);
    let expected = format!(
        "SIP_RESYNC_CAUSE=notify\nSIP_RESYNC_DIR={}\nSIP_RESYNC_FILES=a.cfg\nSIP_RESYNC_OUTCOME=updated\nSIP_RESYNC_REBOOT=true\nSIP_RESYNC_RUN=1\nSIP_RESYNC_SETTINGS_CHANGED=false\n",
        dir.display()
    );
    assert_eq!(text, expected);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_during_a_run_coalesce_into_one_follow_up() {
    let server = HttpServer::start();
    server.put("a.cfg", panasonic("A=\"1\"\r\n"));
    server.set_fault("a.cfg", Fault::Delay(Duration::from_millis(300)));
    let mut agent = Agent::start(&base_config(&server, &["a.cfg"], ""));
    agent.handle.trigger(manual());
    // Let the first run start, then fire 1000 triggers while it is in flight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..1000 {
        agent.handle.trigger(notify_cause(None));
    }
    let first = agent.next().await;
    let second = agent.next().await;
    assert_eq!((first.coalesced, second.coalesced), (1, 1000));
    assert!(
        tokio::time::timeout(Duration::from_millis(800), agent.outcomes.recv())
            .await
            .is_err(),
        "no third run"
    );
    assert_eq!(server.get_count("a.cfg"), 2);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_urls_are_read_and_capped_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.cfg"), panasonic("A=\"1\"\r\n")).unwrap();
    std::fs::write(dir.path().join("big.txt"), vec![b'x'; 5000]).unwrap();
    let cfg = format!(
        "[sip]\nlisten = []\n[provisioning]\nfetch_at_startup = false\nmax_file_size = 4096\nfiles = [{{ url = \"file://{}/a.cfg\" }}]\n",
        dir.path().display()
    );
    let mut agent = Agent::start(&cfg);
    let o = agent.run(manual()).await;
    assert_eq!(updated_names(&o), ["a.cfg"]);
    let o = agent.run(manual()).await;
    assert_eq!(o.result, RunResult::Unchanged, "same digest: unchanged");
    agent.stop().await;

    let big = cfg.replace("a.cfg", "big.txt");
    let mut agent = Agent::start(&big);
    let o = agent.run(manual()).await;
    assert!(
        o.to_string()
            .contains("larger than the limit of 4096 bytes"),
        "{o}"
    );
    agent.stop().await;
}

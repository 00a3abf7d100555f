//! The engine fetching an encrypted Cisco profile, made by the real `openssl enc`, from a real
//! HTTP server on loopback: the profile rule's `--key` decrypts it in memory, the applied set
//! holds the decrypted file, and its settings re-arm the schedule; a wrong key fails the run,
//! names the file and keeps the last good set.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sip_resync::config;
use sip_resync::engine::{Cause, ClockValidity, Engine, EngineConfig, RunResult};
use support::http::HttpServer;
use support::state::CURRENT;

fn openssl_enc(pass: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["enc", "-e", "-aes-256-cbc", "-k", pass, "-md", "md5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/test.sh installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_cisco_profile_is_applied_decrypted() {
    let server = HttpServer::start();
    let profile =
        b"<flat-profile>\n<Resync_Periodic ua=\"na\">7200</Resync_Periodic>\n</flat-profile>\n";
    server.put("spa.cfg", openssl_enc("SecretPhrase1234", profile));
    let local = format!(
        "<flat-profile>\n<Resync_On_Reset>No</Resync_On_Reset>\n<Resync_Random_Delay>0</Resync_Random_Delay>\n<Profile_Rule>[--key $SA]{}</Profile_Rule>\n<GPP_SA>SecretPhrase1234</GPP_SA>\n</flat-profile>\n",
        server.url("spa.cfg")
    );
    let settings = config::from_bytes(local.as_bytes(), Path::new("local.xml")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, task) = Engine::start(EngineConfig {
        settings,
        state_dir: state.path().to_owned(),
        time_zone: jiff::tz::TimeZone::UTC,
        clock: ClockValidity::Valid,
    })
    .expect("engine starts");
    let mut outcomes = handle.subscribe();
    let run = || {
        handle.trigger(Cause::Manual {
            reason: "test".into(),
        });
    };
    run();
    let first = tokio::time::timeout(Duration::from_secs(20), outcomes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first.result, RunResult::Updated { .. }), "{first}");
    let applied = std::fs::read(state.path().join(CURRENT).join("spa.cfg")).unwrap();
    assert_eq!(applied, profile, "the applied set holds the decrypted file");
    let rendered = format!("{first} {first:?}");
    assert!(!rendered.contains("SecretPhrase1234"), "{rendered}");

    // A profile the key does not open fails the run naming the file; the set is kept.
    server.put("spa.cfg", openssl_enc("another key", profile));
    run();
    let second = tokio::time::timeout(Duration::from_secs(20), outcomes.recv())
        .await
        .unwrap()
        .unwrap();
    let text = second.to_string();
    assert!(
        matches!(second.result, RunResult::Failed { .. }),
        "{second}"
    );
    assert!(
        text.contains("invalid cisco file: spa.cfg: encrypted (OpenSSL enc) and none of the 1 configured key(s)"),
        "{text}"
    );
    assert!(!text.contains("SecretPhrase1234"), "{text}");
    assert_eq!(
        std::fs::read(state.path().join(CURRENT).join("spa.cfg")).unwrap(),
        profile
    );
    handle.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

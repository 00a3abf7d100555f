//! The `sip-resync` binary as a user runs it: `run` on a real configuration, `notify` against
//! it over UDP and TCP, exit codes, and shutdown on SIGTERM.

mod support;

use std::process::Command;
use std::time::Duration;

use support::daemon::{Daemon, BIN};
use support::run_cli;

fn notify(target: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("notify")
        .arg(target)
        .args(args)
        .output()
        .expect("run sip-resync notify");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn notify_triggers_the_daemon_over_udp_and_tcp() {
    let mut d = Daemon::start("fixtures/demo.toml");
    assert_eq!(
        notify(&d.udp, &[]),
        (0, "SIP/2.0 200 OK".into(), String::new())
    );
    let (code, line, _) = notify(&d.tcp, &["--event", "check-sync;reboot=true"]);
    assert_eq!((code, line.as_str()), (0, "SIP/2.0 200 OK"));
    assert_eq!(d.count("resync requested", 2, Duration::from_secs(3)), 2);
    let (code, line, _) = notify(&d.udp, &["--event", "presence"]);
    assert_eq!((code, line.as_str()), (1, "SIP/2.0 489 Bad Event"));
    assert_eq!(
        d.count("resync requested", 3, Duration::from_millis(200)),
        2,
        "the refused NOTIFY requested nothing"
    );
    assert!(d.terminate().success(), "SIGTERM is a clean shutdown");
}

#[test]
fn panasonic_cfg_sets_the_accepted_event() {
    let mut d = Daemon::start("fixtures/panasonic/resync-event.cfg");
    let (code, line, _) = notify(&d.udp, &["--event", "resync"]);
    assert_eq!((code, line.as_str()), (0, "SIP/2.0 200 OK"));
    let (code, line, _) = notify(&d.udp, &["--event", "check-sync"]);
    assert_eq!((code, line.as_str()), (1, "SIP/2.0 489 Bad Event"));
    assert_eq!(d.count("resync requested", 1, Duration::from_secs(3)), 1);
    assert!(d.terminate().success());
}

#[test]
fn notify_without_a_listener_times_out_with_exit_3() {
    // A bound socket that never answers: the NOTIFY is retransmitted until the deadline.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("udp:{}", silent.local_addr().unwrap());
    let (code, line, err) = notify(&target, &["--timeout", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(line.is_empty());
    assert!(err.contains("no final response"), "{err}");
    let mut buf = [0u8; 2048];
    silent.set_nonblocking(true).unwrap();
    let mut received = 0;
    while silent.recv(&mut buf).is_ok() {
        received += 1;
    }
    assert!(
        received >= 2,
        "Timer E retransmitted within 1 s (got {received} copies)"
    );
}

#[test]
fn bad_configuration_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("phone.cfg");
    std::fs::write(&cfg, "CFG_RESYNC_FROM_SIP=\"resync\"\r\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("phone.cfg:1") && err.contains("Panasonic SIP Phone Standard Format File"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["run", "--config", "/nonexistent/sip-resync.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: cannot read /nonexistent/sip-resync.toml: ")
            && err.contains("(check the path)"),
        "{err}"
    );
    // A relative path: the message says where it was looked for.
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let cwd = dir.path().canonicalize().unwrap();
    assert!(
        err.contains("cannot read missing.toml: ")
            && err.contains(&format!(
                "a relative path is taken from the current directory ({})",
                cwd.display()
            )),
        "{err}"
    );
    // A directory instead of a file.
    let out = Command::new(BIN)
        .args(["run", "--config", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("this is a directory: name the configuration file in it"),
        "{err}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_naming_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("phone.toml");
    std::fs::write(
        &cfg,
        "# a phone\n[sip]\nlisten = [\"udp:127.0.0.1:0\"]\nevents = \"check-sync\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:4: sip.events: invalid type: string \"check-sync\", expected a sequence",
            cfg.display()
        )),
        "{err}"
    );
}

#[test]
fn an_unknown_key_is_a_warning_naming_line_key_and_the_valid_keys() {
    // Unknown keys are warnings (docs/configuration.md): `check` exits 0 and says which key
    // was probably meant.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("phone.toml");
    std::fs::write(
        &cfg,
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\nevent-match = \"strict\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "warning: {}:3: sip.event-match: unknown key, ignored; did you mean sip.event_match? (the keys of [sip] are listen, events, event_match, max_transactions, allow, refused, tcp, limits",
        cfg.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
}

/// `run --config CFG --listen udp:127.0.0.1:0 EXTRA…` until it exits: the exit code and stderr.
fn run_until_exit(cfg: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .args(["--listen", "udp:127.0.0.1:0"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_typo_in_the_allowlist_refuses_to_start() {
    // Either typo would otherwise leave the allowlist empty: every source accepted.
    let dir = tempfile::tempdir().unwrap();
    for (file, located) in [
        (
            "[sip]\nallow = [\"192.0.2.O/24\"]\n",
            ":2: sip.allow: \"192.0.2.O/24\": not an IP address",
        ),
        (
            "[sip]\nalow = [\"192.0.2.0/24\"]\n",
            ":2: sip.alow: unknown key, taken for a misspelt sip.allow: not starting",
        ),
        (
            "[SIP]\nallow = [\"192.0.2.0/24\"]\n",
            ":2: SIP.allow: unknown key, taken for a misspelt sip.allow",
        ),
    ] {
        let cfg = dir.path().join("phone.toml");
        std::fs::write(&cfg, file).unwrap();
        let (code, stderr) = run_until_exit(&cfg, &[]);
        assert_eq!(code, Some(2), "{file}: {stderr}");
        let expected = format!("error: {}{located}", cfg.display());
        assert!(stderr.starts_with(&expected), "{file}: {stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
        let check = Command::new(BIN).arg("check").arg(&cfg).output().unwrap();
        assert_eq!(check.status.code(), Some(2), "check refuses it too");
    }
}

#[test]
fn a_state_directory_that_is_a_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, "").unwrap();
    let cfg = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    for state in [file.clone(), file.join("below")] {
        let (code, stderr) = run_until_exit(
            std::path::Path::new(&cfg),
            &["--state-dir", state.to_str().unwrap()],
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: cannot create the state directory {}: ",
                state.display()
            )) && stderr.contains(
                "(it, or a directory above it, is a file: remove or rename the file, or choose another --state-dir or provisioning.state_dir)"
            ),
            "{stderr}"
        );
    }
}

#[test]
fn a_state_directory_this_user_may_not_write_says_what_to_do() {
    // Root writes anywhere a mode allows none; the hint's text is also tested through the
    // error type (crates/agent/src/agent.rs).
    if is_root() {
        eprintln!("skipped: running as root, a read-only directory is writable");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
    let cfg = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    let (code, stderr) = run_until_exit(
        std::path::Path::new(&cfg),
        &["--state-dir", state.to_str().unwrap()],
    );
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot write in the state directory {}: Permission denied",
            state.display()
        )) && stderr.contains("may not write there: chown ")
            && stderr.contains("or choose another --state-dir"),
        "{stderr}"
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn pid_file_names_this_agent_and_is_removed_at_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("agent.pid");
    let state = dir.path().join("state");
    let mut d = Daemon::start_with(
        "fixtures/demo.toml",
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
        ],
    );
    // Written after binding, and logged: once the line is there, so is the file.
    assert_eq!(d.count("written to", 1, Duration::from_secs(3)), 1);
    let text = std::fs::read_to_string(&pid_file).expect("the PID file exists while it runs");
    assert_eq!(text, format!("{}\n", d.child.id()));
    // The documented use: a SIGHUP to that PID reloads this agent.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -HUP \"$(cat {})\"", pid_file.display()))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(d.count("SIGHUP: reloaded", 1, Duration::from_secs(5)), 1);
    assert!(d.terminate().success());
    assert!(!pid_file.exists(), "removed at a clean exit");
}

#[test]
fn the_json_log_has_no_none_strings() {
    // The demo has no timed polls: `next_poll` is absent, not the string "None".
    let state = tempfile::tempdir().unwrap();
    let mut d = json_daemon(&state);
    assert_eq!(
        d.count("provisioning engine started", 1, Duration::from_secs(5)),
        1
    );
    let (status, lines) = d.terminate_with_log();
    assert!(status.success());
    let started = lines
        .iter()
        .find(|l| l.contains("provisioning engine started"))
        .expect("the start line");
    let value: serde_json::Value = serde_json::from_str(started).expect("one JSON object");
    let fields = &value["fields"];
    assert_eq!(fields["files"], 2, "{started}");
    assert!(
        fields.get("next_poll").is_none_or(|v| v.is_null()),
        "an absent value is null or left out: {started}"
    );
    for line in &lines {
        assert!(!line.contains("\"None\""), "{line}");
        if line.starts_with('{') {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
        }
    }
}

#[test]
fn port_in_use_is_explained() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = format!("udp:{}", taken.local_addr().unwrap());
    let config = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "run",
            "--config",
            &config,
            "--listen",
            &listen,
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("error: cannot listen on {listen}: "))
            && err.contains(
                "(another process holds this port: a PBX, a softphone or another sip-resync? \
                 Stop it, or choose another port with --listen udp:ADDR:PORT or [sip] listen)"
            ),
        "{err}"
    );
}

/// The daemon on the demo configuration, logging JSON.
fn json_daemon(state: &tempfile::TempDir) -> Daemon {
    Daemon::start_with(
        "fixtures/demo.toml",
        &[
            "--state-dir",
            state.path().to_str().unwrap(),
            "--log-format",
            "json",
        ],
    )
}

#[test]
fn json_logs_are_one_object_per_line_outcomes_included() {
    let state = tempfile::tempdir().unwrap();
    let mut d = json_daemon(&state);
    assert_eq!(
        d.count("\"outcome\":\"updated\"", 1, Duration::from_secs(10)),
        1,
        "the start-up run's outcome"
    );
    assert_eq!(notify(&d.udp, &[]).0, 0);
    assert_eq!(
        d.count("\"outcome\":\"unchanged\"", 1, Duration::from_secs(10)),
        1,
        "the NOTIFY's run"
    );
    let (status, log) = d.terminate_with_log();
    assert!(status.success());
    for line in &log {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\":\""),
            "not one JSON object: {line}"
        );
    }
    let has = |needle: &str| log.iter().any(|l| l.contains(needle));
    assert!(has("\"message\":\"listening on udp:127.0.0.1:"), "{log:#?}");
    assert!(has("\"message\":\"run 1 (startup): updated"), "{log:#?}");
    assert!(
        has("\"message\":\"run 2 (notify check-sync from udp:127.0.0.1:"),
        "{log:#?}"
    );
    assert!(has("\"message\":\"stopped\""), "{log:#?}");
}

#[test]
fn help_explains_subcommands_options_and_exit_codes() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for needle in [
        "run ",
        "notify ",
        "schedule ",
        "check ",
        "--log-format",
        "Exit codes:",
        "  0  success",
        "  1  notify: a final response other than 2xx",
        "  2  usage or configuration error",
        "  3  notify: no final response within --timeout",
        "  4  network",
        "Examples:",
    ] {
        assert!(
            top.contains(needle),
            "sip-resync --help lacks {needle:?}:\n{top}"
        );
    }
    let run = help(&["run", "--help"]);
    for needle in [
        "--config <FILE>",
        "--listen",
        "--state-dir",
        "--mac",
        "--model",
        "Examples:",
    ] {
        assert!(run.contains(needle), "run --help lacks {needle:?}:\n{run}");
    }
    let notify = help(&["help", "notify"]);
    assert!(notify.contains("Exit codes: 0 a 2xx response"), "{notify}");
}

/// `check --config FILE` is `check FILE`, as every other subcommand takes `--config`
/// (issue 24); giving both, or neither, is a usage error (exit 2).
#[test]
fn check_takes_the_file_with_config_too() {
    let file = format!("{}/fixtures/demo.toml", env!("CARGO_MANIFEST_DIR"));
    let positional = run_cli(&["check", &file]);
    let option = run_cli(&["check", "--config", &file]);
    assert_eq!(positional.0, 0, "{}", positional.2);
    assert_eq!(option, positional);
    assert_eq!(run_cli(&["check"]).0, 2);
    assert_eq!(run_cli(&["check", &file, "--config", &file]).0, 2);
}

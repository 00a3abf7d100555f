//! The post-update command: a program run after each update, with the outcome in its
//! environment.
//!
//! | variable | value |
//! | --- | --- |
//! | `SIP_RESYNC_OUTCOME` | `updated` |
//! | `SIP_RESYNC_RUN` | run number |
//! | `SIP_RESYNC_CAUSE` | `startup`, `schedule`, `retry`, `notify` or `manual` |
//! | `SIP_RESYNC_FILES` | names of the changed files, space-separated |
//! | `SIP_RESYNC_DIR` | directory of the applied files (`STATE_DIR/current`) |
//! | `SIP_RESYNC_REBOOT` | `true` or `false` (`reboot_requested`) |
//! | `SIP_RESYNC_SETTINGS_CHANGED` | `true` when the agent's own settings changed |
//!
//! The program runs without a shell, with standard input closed; its output goes to the
//! log (a bounded excerpt). It is killed when it outlives its timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sip_resync_core::engine::{Outcome, RunResult};

/// Longest output of the command that is logged, in bytes.
const MAX_LOGGED_OUTPUT: usize = 4096;

/// The environment passed to the command for `outcome`.
pub(super) fn environment(outcome: &Outcome, dir: &Path) -> Vec<(&'static str, String)> {
    let (files, settings_changed) = match &outcome.result {
        RunResult::Updated {
            files,
            settings_changed,
        } => (
            files
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            *settings_changed,
        ),
        _ => (String::new(), false),
    };
    vec![
        ("SIP_RESYNC_OUTCOME", outcome.result.kind().to_owned()),
        ("SIP_RESYNC_RUN", outcome.run.to_string()),
        ("SIP_RESYNC_CAUSE", outcome.cause.kind().to_owned()),
        ("SIP_RESYNC_FILES", files),
        ("SIP_RESYNC_DIR", dir.display().to_string()),
        ("SIP_RESYNC_REBOOT", outcome.reboot_requested.to_string()),
        ("SIP_RESYNC_SETTINGS_CHANGED", settings_changed.to_string()),
    ]
}

fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_LOGGED_OUTPUT)];
    String::from_utf8_lossy(cut).trim_end().to_owned()
}

/// Runs `command` for `outcome`; logs how it ended. Never fails the run.
pub(super) async fn run(command: &[String], timeout: Duration, outcome: &Outcome, dir: &Path) {
    let Some((program, args)) = command.split_first() else {
        return;
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(environment(outcome, dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(program = %program, error = %e, "post-update command could not start (check provisioning.post_update_command)");
            return;
        }
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) if out.status.success() => {
            tracing::info!(program = %program, stdout = %excerpt(&out.stdout), "post-update command succeeded");
        }
        Ok(Ok(out)) => {
            tracing::warn!(program = %program, status = %out.status, stderr = %excerpt(&out.stderr), "post-update command failed");
        }
        Ok(Err(e)) => {
            tracing::error!(program = %program, error = %e, "post-update command could not be waited for");
        }
        Err(_) => {
            // Dropping the future dropped the child, which kill_on_drop kills.
            tracing::warn!(program = %program, timeout_secs = timeout.as_secs(), "post-update command killed after its timeout (provisioning.post_update_timeout_secs)");
        }
    }
}

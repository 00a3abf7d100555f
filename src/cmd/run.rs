//! `sip-resync run`: the agent, until SIGINT or SIGTERM; SIGHUP reloads the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use sip_resync::config::{self, ListenAddr};
use sip_resync::{Agent, AgentError, AgentOptions};

use crate::exit;

pub(crate) async fn run(
    config_path: PathBuf,
    listen: Vec<ListenAddr>,
    state_dir: Option<PathBuf>,
    mac: Option<String>,
    model: Option<String>,
    pid_file: Option<PathBuf>,
) -> ExitCode {
    let mut options = match AgentOptions::load(&config_path) {
        Ok(o) => o.listen(listen),
        Err(e) => return agent_error(e),
    };
    if let Some(dir) = state_dir {
        options = options.state_dir(dir);
    }
    if let Some(mac) = mac {
        options = options.mac(mac);
    }
    if let Some(model) = model {
        options = options.model(model);
    }
    // Installed before the agent starts, so that a SIGHUP, SIGINT or SIGTERM never meets the
    // default action (which ends the process: for SIGTERM, without a clean shutdown).
    let hangups = hangups();
    let shutdown = shutdown_signal();
    match Agent::start(options).await {
        Ok(agent) => {
            // Written once every address is bound: a script that waits for the file can
            // signal the agent at once.
            if let Some(file) = &pid_file {
                if let Err(e) = write_pid_file(file) {
                    eprintln!(
                        "error: cannot write the PID file {}: {e} (choose a writable --pid-file)",
                        file.display()
                    );
                    return ExitCode::from(exit::CONFIG);
                }
                tracing::info!(
                    target: "sip_resync",
                    "process {} written to {}",
                    std::process::id(),
                    file.display()
                );
            }
            let reload = tokio::spawn(reload_on_hangup(hangups, config_path, agent.handle()));
            agent.run(shutdown).await;
            reload.abort();
            if let Some(file) = &pid_file {
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::warn!("cannot remove the PID file {}: {e}", file.display());
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => agent_error(e),
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// The stream of SIGHUPs, where there are signals.
pub(crate) fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// On each SIGHUP: reads the configuration file again and hands it to the agent, which also
/// reads the TLS certificate files again. A file that cannot be used is refused with its
/// error, and the settings in force stay.
pub(crate) async fn reload_on_hangup(
    hangups: Hangups,
    path: PathBuf,
    handle: sip_resync::AgentHandle,
) {
    #[cfg(unix)]
    if let Some(mut hangups) = hangups {
        while hangups.recv().await.is_some() {
            // Reading the files (the configuration, the certificates) blocks: not on the
            // runtime's threads, which serve TCP and TLS.
            let (file, handle) = (path.clone(), handle.clone());
            let reloaded = tokio::task::spawn_blocking(move || {
                config::load(&file)
                    .map_err(AgentError::from)
                    .and_then(|settings| handle.update_settings(settings))
            })
            .await
            .expect("the reload does not panic");
            match reloaded {
                // Under the agent's target, as its other lines (docs/tls.md shows them).
                Ok(()) => {
                    tracing::info!(target: "sip_resync", "SIGHUP: reloaded {}", path.display())
                }
                Err(e) => {
                    tracing::error!(target: "sip_resync", "SIGHUP: {e}; the settings in force stay")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, path, handle);
}

/// Writes this process's ID and a newline to `file`, through a temporary file renamed over it,
/// so that a reader never sees a partial number.
fn write_pid_file(file: &std::path::Path) -> std::io::Result<()> {
    let name = file
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    let temp = file.with_file_name(temp_name);
    std::fs::write(&temp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&temp, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Prints why the agent cannot run; a socket that cannot be bound exits 4, anything else 2.
pub(crate) fn agent_error(e: AgentError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        AgentError::Bind(_) => ExitCode::from(exit::NETWORK),
        _ => ExitCode::from(exit::CONFIG),
    }
}

/// Installs the SIGINT and SIGTERM handlers now (call it before the agent starts, so that an
/// early signal shuts the agent down instead of meeting the default action, which ends the
/// process without the clean shutdown), and returns the wait for either of them.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let wait = {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    };
    #[cfg(not(unix))]
    let wait = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    async move {
        wait.await;
        tracing::info!(target: "sip_resync", "shutting down");
    }
}

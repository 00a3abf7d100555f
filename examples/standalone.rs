//! The standalone agent in an application of its own: its listeners, its engine, and one
//! line per provisioning outcome.
//!
//! ```text
//! cargo run --example standalone                                  # fixtures/demo.toml
//! cargo run --example standalone -- phone.toml --listen udp:127.0.0.1:0 --exit-after-outcomes 2
//! cargo run -- notify udp:127.0.0.1:5060                          # from another terminal
//! ```
//!
//! The agent's log goes to standard error (`RUST_LOG` sets the level); standard output gets
//! one line per bound address and one per outcome:
//!
//! ```text
//! standalone: listening on udp:127.0.0.1:5060
//! outcome: run 1 (startup): updated master.cfg, 0080F0A1B2C3.cfg [reboot requested: no]
//! ```
//!
//! It stops on Ctrl-C, or after `--exit-after-outcomes N` outcomes, and prints the counters.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;
use sip_resync::config::ListenAddr;
use sip_resync::{Agent, AgentOptions};

#[derive(Parser, Debug)]
#[command(
    name = "standalone",
    about = "Runs a sip-resync agent and prints each provisioning outcome"
)]
struct Args {
    /// Configuration file (TOML, Panasonic .cfg or Snom XML).
    #[arg(default_value = "fixtures/demo.toml")]
    config: PathBuf,
    /// Where to listen, replacing the file's [sip] listen: udp:ADDR:PORT or tcp:ADDR:PORT.
    #[arg(long, value_name = "TRANSPORT:ADDR:PORT")]
    listen: Vec<ListenAddr>,
    /// Directory for applied files and state, replacing provisioning.state_dir.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Stop after this many outcomes.
    #[arg(long, value_name = "N")]
    exit_after_outcomes: Option<u64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let mut options = match AgentOptions::load(&args.config) {
        Ok(o) => o.listen(args.listen),
        Err(e) => {
            eprintln!("standalone: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(dir) = args.state_dir {
        options = options.state_dir(dir);
    }
    let agent = match Agent::start(options).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("standalone: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    for (transport, addr) in agent.local_addrs() {
        println!("standalone: listening on {transport}:{addr}");
    }

    // Subscribe before `run`, so that the start-up run's outcome is seen too.
    let handle = agent.handle();
    let mut outcomes = handle.subscribe();
    let limit = args.exit_after_outcomes;
    let printer = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut seen = 0u64;
            loop {
                let outcome = match outcomes.recv().await {
                    Ok(o) => o,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        println!("outcome: {n} outcome(s) missed (this reader was too slow)");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let reboot = if outcome.reboot_requested {
                    "yes"
                } else {
                    "no"
                };
                println!("outcome: {outcome} [reboot requested: {reboot}]");
                seen += 1;
                if limit.is_some_and(|n| seen >= n) {
                    handle.shutdown();
                }
            }
        })
    };

    let counters = agent
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    let _ = printer.await;
    println!(
        "standalone: stopped: {} message(s), {} resync request(s)",
        counters.received, counters.resync_requests
    );
    std::process::ExitCode::SUCCESS
}

//! The `sip-resync` command: a thin layer over the agent crate (`sip-resync`).
//!
//! This crate parses the arguments (clap), sets up logging (tracing-subscriber, text or JSON)
//! and the tokio runtime, and calls one module per subcommand (`cmd/`): `run`, `notify`,
//! `check`, `schedule`, `fleet`. It also owns the fleet preview's SVG plot (`fleet_svg.rs`,
//! plotters), so that no library pulls in plotting or argument parsing. It holds no logic an
//! application embedding the library would need: every decision is the core's, every I/O path
//! the agent's. Exit codes are documented in docs/cli.md.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sip_resync::config::{self, ListenAddr};

mod cmd;
mod fleet_svg;

use cmd::fleet::FleetArgs;

/// Exit codes, documented in docs/cli.md.
pub(crate) mod exit {
    /// A final non-2xx response (notify).
    pub const NON_2XX: u8 = 1;
    /// Usage or configuration error.
    pub const CONFIG: u8 = 2;
    /// No final response in time (notify).
    pub const TIMEOUT: u8 = 3;
    /// A socket could not be bound or reached.
    pub const NETWORK: u8 = 4;
}

/// Examples and exit codes, shown after the options of `sip-resync --help`.
const AFTER_HELP: &str = "\
Examples:
  sip-resync check fixtures/demo.toml
      Validate a configuration and print the effective settings.
  sip-resync run --config fixtures/demo.toml --state-dir /var/lib/sip-resync
      Run the agent: answer the PBX's NOTIFYs and keep the provisioning files current.
  sip-resync run --config phone.cfg --listen udp:0.0.0.0:5062 --listen tcp:0.0.0.0:5062
      Run on another port; a Panasonic .cfg file is read as it is.
  sip-resync notify udp:127.0.0.1:5060 --event 'check-sync;reboot=true'
      Send one NOTIFY, as a PBX would, and print the final response.
  sip-resync schedule --config phone.cfg --count 5
      Print the next five timed polls.
  sip-resync fleet --config phone.cfg --phones 10000 --from 2026-03-10T00:00 --svg load.svg
      Preview the provisioning server's load from 10,000 such phones over 48 hours.
  sip-resync --log-format json run --config fixtures/demo.toml
      One JSON object per log line, for a log collector.

Exit codes:
  0  success: notify got a 2xx; run stopped on SIGINT/SIGTERM; check found the file usable
  1  notify: a final response other than 2xx (its status line is printed)
  2  usage or configuration error: a bad option, an unreadable or invalid file
     (the message names the file, line and key), a state directory that cannot be created
  3  notify: no final response within --timeout
  4  network: run cannot bind a listening address (in use, privileged port, not this
     machine's); notify cannot send or connect

Logging goes to standard error; RUST_LOG sets the level (RUST_LOG=debug).
Documentation: docs/cli.md, docs/configuration.md.";

const RUN_AFTER_HELP: &str = "\
Examples:
  sip-resync run --config fixtures/demo.toml
  sip-resync run --config /etc/sip-resync.toml --state-dir /var/lib/sip-resync --mac 0080F0A1B2C3
  sip-resync run --config phone.cfg --listen udp:127.0.0.1:0    (port 0: any free port)

Stops on SIGINT (Ctrl-C) or SIGTERM and exits 0. SIGHUP reads the configuration file again:
event texts, allowlist, limits, schedule, and the [sip.tls] certificate files for the TLS
connections accepted from then on; a file that cannot be used is logged and refused, and the
settings in force stay. Exits 2 when the configuration, the TLS certificate files or the
state directory cannot be used, 4 when a listening address cannot be bound (stop whatever
holds the port, or choose another with --listen).";

const FLEET_AFTER_HELP: &str = "\
Examples:
  sip-resync fleet --config fixtures/schedule/panasonic-resync-time-0200.cfg --phones 10000 \\
      --from 2026-03-10T00:00 --tz Europe/Berlin
  sip-resync fleet --config a.cfg --config b.xml --phones 10000 --svg load.svg --json
  sip-resync fleet --config phone.toml --phones 10000 --notify-at 2026-03-10T10:00

Documentation: docs/fleet.md.";

const NOTIFY_AFTER_HELP: &str = "\
Examples:
  sip-resync notify udp:127.0.0.1:5060
  sip-resync notify tcp:192.0.2.10:5060 --to sip:1001@192.0.2.10 --event 'check-sync;reboot=true'
  sip-resync notify udp:[::1]:5060 --timeout 2

Exit codes: 0 a 2xx response, 1 another final response, 2 a malformed TARGET,
3 no final response within --timeout, 4 a network error.";

#[derive(Parser)]
#[command(
    name = "sip-resync",
    version,
    about = "Keeps a SIP phone's provisioning current: answers check-sync NOTIFYs from the PBX",
    long_about = "Keeps a SIP phone's provisioning current.\n\n\
`run` listens for out-of-dialog SIP NOTIFY requests (Event: check-sync, or the text the \
configuration accepts) over UDP, TCP and TLS, answers them per RFC 3261, and fetches, checks and \
applies the provisioning files; timed polls (Snom, Panasonic) trigger it too. `notify` sends \
such a NOTIFY, for testing a deployment. `check` validates a configuration file, `schedule` \
shows when it polls.\n\n\
`sip-resync help SUBCOMMAND` describes each subcommand and its options.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Log line format on standard error: `text` (human-readable) or `json` (one JSON
    /// object per line, with timestamp, level, fields and target). Before or after the
    /// subcommand.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: answer the PBX's check-sync NOTIFYs and keep the provisioning files
    /// current, until SIGINT or SIGTERM.
    ///
    /// Listens over UDP and TCP, answers each request per RFC 3261, and turns each accepted
    /// NOTIFY into a provisioning run: the configured files are fetched (HTTP, HTTPS or
    /// file://), checked and applied together to STATE_DIR/current/. Timed polls of the
    /// configuration trigger runs too. Everything is logged on standard error.
    #[command(after_help = RUN_AFTER_HELP)]
    Run {
        /// Configuration file: sip-resync TOML, or a Panasonic .cfg file used as it is
        /// (its CFG_RESYNC_FROM_SIP sets the accepted event), or Snom XML settings.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where to listen, replacing the file's [sip] listen: udp:ADDR:PORT, tcp:ADDR:PORT
        /// or tls:ADDR:PORT (with [sip.tls] in the file); repeat for several (IPv6 as
        /// udp:[::1]:5060). Port 0 picks a free port (logged in the "listening on" line).
        #[arg(long, value_name = "TRANSPORT:ADDR:PORT")]
        listen: Vec<ListenAddr>,
        /// Directory for the applied files and persisted state (created when missing);
        /// overrides provisioning.state_dir. Applied files are read from DIR/current/.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// MAC address replacing {MAC} in file URLs (0080F0A1B2C3 or 00:80:F0:A1:B2:C3);
        /// overrides provisioning.mac and seeds the random schedule draws.
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
        /// Model name replacing {MODEL} in file URLs; overrides provisioning.model.
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        /// Write the agent's process ID to FILE once it listens (for `kill -HUP "$(cat
        /// FILE)"`); the file is removed when the agent stops on SIGINT or SIGTERM.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
    },
    /// Send one out-of-dialog NOTIFY and print the final response's status line.
    ///
    /// For testing a deployment: point it at sip-resync (or a phone) as the PBX would.
    /// Over UDP the request is retransmitted per RFC 3261 Timer E until a final response
    /// arrives. Exits 0 on a 2xx response, 1 on another final response, 3 when none came in
    /// time, 4 on a network error.
    #[command(after_help = NOTIFY_AFTER_HELP)]
    Notify {
        /// Where to send it: udp:HOST:PORT or tcp:HOST:PORT (IPv6 as udp:[::1]:5060).
        #[arg(value_name = "TARGET")]
        target: String,
        /// Event header value, parameters included (check-sync;reboot=true).
        #[arg(long, default_value = "check-sync")]
        event: String,
        /// Request-URI and To (default sip:HOST:PORT of the target).
        #[arg(long, value_name = "SIP-URI")]
        to: Option<String>,
        /// Seconds to wait for a final response (RFC 3261 Timer F is 32).
        #[arg(long, default_value_t = 32)]
        timeout: u64,
    },
    /// Print the next scheduled polls of a configuration, one per line.
    ///
    /// Each line is the RFC 3339 instant with its UTC offset in the chosen zone, a space, and
    /// the rule that produced it. The same --seed always gives the same output. Exits 2 when
    /// the file or an option is invalid.
    Schedule {
        /// Configuration file of any dialect (TOML, Panasonic .cfg, Snom XML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// When the agent starts with a valid clock: RFC 3339 (2026-03-08T09:00:00-05:00) or
        /// YYYY-MM-DDTHH:MM in the zone. Default: now.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// How many polls to print.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Seed of the random draws (an agent derives it from its MAC address).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// IANA time zone, e.g. Europe/Berlin. Default: the configuration's, else the system's.
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// When the polling settings last changed (same forms as --from). Default: --from.
        #[arg(long, value_name = "TIME")]
        changed_at: Option<String>,
    },
    /// Preview what a fleet of phones asks of the provisioning server: fetches per second,
    /// minute and hour.
    ///
    /// Simulates PHONES agents per configuration, MAC addresses counting up from --mac-base
    /// (each MAC seeds the phone's random draws, as in `run`). They start at --from, follow
    /// the configuration's schedule and run admission, and receive a check-sync NOTIFY at each
    /// --notify-at. Prints, per configuration, the total fetches, the peak second and minute,
    /// the busy hour's 99th percentile per second and a table of the hours. The same options
    /// always give the same output. Exits 2 when a file or an option is invalid.
    #[command(after_help = FLEET_AFTER_HELP)]
    Fleet(FleetArgs),
    /// Validate a configuration file of any dialect and print the effective settings.
    ///
    /// Exits 0 when the file is usable (warnings, such as unknown keys, are printed), 2 with
    /// located errors otherwise.
    Check {
        /// The file to check (or give it with --config, as to every other subcommand).
        #[arg(
            value_name = "FILE",
            required_unless_present = "config",
            conflicts_with = "config"
        )]
        file: Option<PathBuf>,
        /// The file to check, as `run`, `schedule` and `fleet` take it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Logging on standard error. `RUST_LOG` holds `target=level` directives separated by commas
/// (`debug`, `sip_resync=debug,warn`): tracing-subscriber's `Targets` filter, which needs no
/// regular-expression engine in the binary; unset or unreadable, the level is `info`.
fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // Colours only on a terminal: a log file or journal gets plain text.
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Run {
            config,
            listen,
            state_dir,
            mac,
            model,
            pid_file,
        } => runtime.block_on(cmd::run::run(
            config, listen, state_dir, mac, model, pid_file,
        )),
        Command::Notify {
            target,
            event,
            to,
            timeout,
        } => runtime.block_on(cmd::notify::notify(&target, &event, to, timeout)),
        Command::Schedule {
            config,
            from,
            count,
            seed,
            tz,
            changed_at,
        } => cmd::schedule::schedule(&config, from, count, seed, tz, changed_at),
        Command::Fleet(args) => cmd::fleet::fleet(args),
        Command::Check { file, config } => {
            let file = file.or(config).expect("clap requires FILE or --config");
            cmd::check::check(&file)
        }
    }
}

/// Parses RFC 3339, or a civil `YYYY-MM-DDTHH:MM[:SS]` in `tz` (a time in a gap is shifted
/// forward, a time in a fold takes the first occurrence).
pub(crate) fn parse_instant(s: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil: jiff::civil::DateTime = s.parse().map_err(|_| {
        format!("\"{s}\" is neither RFC 3339 (2026-03-08T09:00:00-05:00) nor YYYY-MM-DDTHH:MM")
    })?;
    civil
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| format!("\"{s}\": {e}"))
}

pub(crate) fn load_or_report(path: &std::path::Path) -> Result<config::Settings, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::CONFIG)
    })
}

/// A schedule warning located in its file when the key is known there.
pub(crate) fn located(
    settings: &config::Settings,
    w: &sip_resync::schedule::ScheduleWarning,
) -> String {
    match settings.line_of(w.key()) {
        Some(line) => format!("{}:{line}: {w}", settings.path.display()),
        None => format!("{}: {w}", settings.path.display()),
    }
}

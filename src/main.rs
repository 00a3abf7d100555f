//! The `sip-resync` command: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use sip_resync::config::{self, ListenAddr};
use sip_resync::config::{RateLimits, RefusedAction};
use sip_resync::{Agent, AgentError, AgentOptions, Transport};

/// Exit codes, documented in docs/cli.md.
mod exit {
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
        /// The file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
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
        } => runtime.block_on(run(config, listen, state_dir, mac, model)),
        Command::Notify {
            target,
            event,
            to,
            timeout,
        } => runtime.block_on(notify(&target, &event, to, timeout)),
        Command::Schedule {
            config,
            from,
            count,
            seed,
            tz,
            changed_at,
        } => schedule(&config, from, count, seed, tz, changed_at),
        Command::Fleet(args) => fleet(args),
        Command::Check { file } => check(&file),
    }
}

/// Parses RFC 3339, or a civil `YYYY-MM-DDTHH:MM[:SS]` in `tz` (a time in a gap is shifted
/// forward, a time in a fold takes the first occurrence).
fn parse_instant(s: &str, tz: &jiff::tz::TimeZone) -> Result<jiff::Timestamp, String> {
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

fn load_or_report(path: &std::path::Path) -> Result<config::Settings, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(exit::CONFIG)
    })
}

/// A schedule warning located in its file when the key is known there.
fn located(settings: &config::Settings, w: &sip_resync::schedule::Warning) -> String {
    match settings.line_of(w.key()) {
        Some(line) => format!("{}:{line}: {w}", settings.path.display()),
        None => format!("{}: {w}", settings.path.display()),
    }
}

fn schedule(
    path: &std::path::Path,
    from: Option<String>,
    count: usize,
    seed: u64,
    tz: Option<String>,
    changed_at: Option<String>,
) -> ExitCode {
    use sip_resync::schedule::{PersistedState, Schedule};
    let settings = match load_or_report(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let zone = match tz {
        Some(name) => config::zone_named(&name).map_err(|m| format!("--tz: {m}")),
        None => settings.zone().map_err(|e| e.to_string()),
    };
    let times = zone.and_then(|zone| {
        let from = match &from {
            Some(s) => parse_instant(s, &zone).map_err(|m| format!("--from: {m}"))?,
            None => jiff::Timestamp::now(),
        };
        let changed = match &changed_at {
            Some(s) => parse_instant(s, &zone).map_err(|m| format!("--changed-at: {m}"))?,
            None => from,
        };
        Ok((zone, from, changed))
    });
    let (zone, from, changed) = match times {
        Ok(t) => t,
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    for w in &settings.warnings {
        eprintln!("warning: {w}");
    }
    let state = PersistedState {
        changed_at: Some(changed),
        last_success: None,
    };
    let (mut plan, warnings) = Schedule::new(&settings.schedule, zone.clone(), state, seed, from);
    for w in &warnings {
        eprintln!("warning: {}", located(&settings, w));
    }
    let mut printed = 0;
    for poll in plan.polls(from, true).take(count) {
        println!("{}", poll.to_line(&zone));
        printed += 1;
    }
    if printed == 0 {
        eprintln!("no polls: {}", plan.describe());
    }
    ExitCode::SUCCESS
}

/// The options of `fleet`.
#[derive(Debug, clap::Args)]
struct FleetArgs {
    /// Configuration file of any dialect; repeat to compare several (one series each).
    #[arg(long = "config", value_name = "FILE", required = true)]
    configs: Vec<PathBuf>,
    /// Phones per configuration (1 to 100000).
    #[arg(long, value_name = "N")]
    phones: u32,
    /// When the phones start: RFC 3339 or YYYY-MM-DDTHH:MM in the zone. Default: the
    /// start of the current hour.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Length of the window, in hours (1 to 744).
    #[arg(long, default_value_t = 48, value_name = "H")]
    hours: u32,
    /// IANA time zone of every configuration and of --from. Default: each
    /// configuration's, else the system's.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Send a check-sync NOTIFY to every phone at this instant (same forms as --from);
    /// repeat for several.
    #[arg(long, value_name = "TIME")]
    notify_at: Vec<String>,
    /// Write a plot of fetches per minute, one line per configuration, to this SVG file.
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Print the figures as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// MAC address of the first phone; the others count up from it.
    #[arg(long, value_name = "MAC", default_value = "02:00:00:00:00:00")]
    mac_base: String,
    /// No start-up fetch, whatever fetch_at_startup says: the schedule alone.
    #[arg(long)]
    no_startup_fetch: bool,
    /// When the phones' clock becomes valid (same forms as --from); wall-clock polls
    /// wait for it. Default: --from.
    #[arg(long, value_name = "TIME")]
    clock_valid_at: Option<String>,
}

fn fleet(args: FleetArgs) -> ExitCode {
    use sip_resync::fleet::{self, FleetConfig, FleetOptions};
    let fail = |m: String| {
        eprintln!("error: {m}");
        ExitCode::from(exit::CONFIG)
    };
    if args.configs.len() > fleet::MAX_CONFIGS {
        return fail(format!(
            "--config: at most {} configurations",
            fleet::MAX_CONFIGS
        ));
    }
    let forced = match args.tz.as_deref().map(config::zone_named).transpose() {
        Ok(z) => z,
        Err(m) => return fail(format!("--tz: {m}")),
    };
    let mut configs = Vec::with_capacity(args.configs.len());
    for path in &args.configs {
        let settings = match load_or_report(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let zone = match &forced {
            Some(z) => z.clone(),
            None => match settings.zone() {
                Ok(z) => z,
                Err(e) => return fail(e.to_string()),
            },
        };
        for w in &settings.warnings {
            eprintln!("warning: {w}");
        }
        configs.push(FleetConfig {
            label: path.display().to_string(),
            settings,
            zone,
        });
    }
    let zone = configs[0].zone.clone();
    let instant = |flag: &str, s: &str| parse_instant(s, &zone).map_err(|m| format!("{flag}: {m}"));
    let from = match &args.from {
        Some(s) => match instant("--from", s) {
            Ok(t) => t,
            Err(m) => return fail(m),
        },
        None => {
            let now = jiff::Timestamp::now().to_zoned(zone.clone());
            match now.start_of_day().and_then(|d| {
                d.checked_add(jiff::SignedDuration::from_hours(i64::from(now.hour())))
            }) {
                Ok(z) => z.timestamp(),
                Err(e) => return fail(format!("--from: {e}")),
            }
        }
    };
    let mut options = FleetOptions::new(args.phones, from, args.hours);
    for s in &args.notify_at {
        match instant("--notify-at", s) {
            Ok(t) => options.notify_at.push(t),
            Err(m) => return fail(m),
        }
    }
    if let Some(s) = &args.clock_valid_at {
        match instant("--clock-valid-at", s) {
            Ok(t) => options.clock_valid_at = Some(t),
            Err(m) => return fail(m),
        }
    }
    match config::normalise_mac(&args.mac_base)
        .ok()
        .as_deref()
        .and_then(config::mac_bytes)
    {
        Some(mac) => options.mac_base = mac,
        None => {
            return fail(format!(
            "--mac-base: \"{}\" is not a MAC address (expected 12 hex digits, e.g. 0080F0000000)",
            args.mac_base.escape_debug()
        ))
        }
    }
    options.startup_fetch = !args.no_startup_fetch;
    let preview = match fleet::preview(&options, &configs) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    for (series, config) in preview.series.iter().zip(&configs) {
        for w in &series.warnings {
            eprintln!("warning: {}", located(&config.settings, w));
        }
    }
    if let Some(path) = &args.svg {
        let written = preview
            .svg()
            .map_err(|e| e.to_string())
            .and_then(|svg| write_whole(path, svg.as_bytes()));
        if let Err(m) = written {
            return fail(format!("--svg {}: {m}", path.display()));
        }
    }
    if args.json {
        print!("{}", preview.json());
    } else {
        print!("{}", preview.text());
    }
    ExitCode::SUCCESS
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so that the
/// file is either the old one or the complete new one.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })
}

/// The rate limits in one line, for `check`.
fn describe_limits(l: &RateLimits) -> String {
    let rate = |n: u32, unit: &str| {
        if n == 0 {
            "unlimited".to_owned()
        } else {
            format!("{n}/{unit}")
        }
    };
    let mut per_source = rate(l.requests_per_second_per_source, "s");
    if l.requests_per_second_per_source > 0 {
        per_source.push_str(&format!(" (burst {})", l.requests_burst_per_source));
    }
    format!(
        "requests {per_source} per source, {} in all; triggers {} per source, {} in all; {} sources remembered",
        rate(l.requests_per_second, "s"),
        rate(l.triggers_per_minute_per_source, "min"),
        rate(l.triggers_per_minute, "min"),
        l.max_sources
    )
}

fn describe_auth(a: &sip_resync::config::AuthConfig) -> String {
    let lines = a.credentials.len();
    if !a.challenge {
        return format!("off (NOTIFY is not challenged; {lines} credential(s) known)");
    }
    let algs: Vec<&str> = a.algorithms.iter().map(|x| x.name()).collect();
    format!(
        "challenge NOTIFY: realm \"{}\", {}, qop=auth, nonces valid {} s, {lines} credential(s)",
        a.realm,
        algs.join(" then "),
        a.nonce_lifetime.as_secs()
    )
}

/// The `[sip.tls]` files as resolved, and whom the TLS listener admits. The files' content is
/// checked when `run` starts.
fn describe_tls(t: &sip_resync::config::TlsSettings) -> String {
    let peers = match &t.client_ca {
        Some(ca) => format!("client certificates signed by {}", ca.display()),
        None => "no client certificate asked for".into(),
    };
    format!(
        "certificate {}, key {}; {peers}; handshake within {} s",
        t.certificate.display(),
        t.private_key.display(),
        t.handshake_timeout.as_secs()
    )
}

fn check(path: &std::path::Path) -> ExitCode {
    use sip_resync::schedule::{PersistedState, Schedule};
    let settings = match load_or_report(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let zone = match settings.zone() {
        Ok(z) => z,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let (plan, schedule_warnings) = Schedule::new(
        &settings.schedule,
        zone.clone(),
        PersistedState::default(),
        0,
        jiff::Timestamp::now(),
    );
    let listen: Vec<String> = settings.sip.listen.iter().map(|l| l.to_string()).collect();
    println!("{}: valid {}", path.display(), settings.dialect);
    println!("  sip.listen          {}", listen.join(", "));
    println!("  sip.events          {}", settings.sip.events.join(", "));
    let mode = match settings.sip.event_match {
        sip_resync::config::EventMatch::CaseInsensitive => "case-insensitive",
        sip_resync::config::EventMatch::Strict => "strict",
    };
    println!("  sip.event_match     {mode}");
    println!("  sip.allow           {}", settings.sip.allow);
    let refused = match settings.sip.refused {
        RefusedAction::Answer => "answer (403 Forbidden)",
        RefusedAction::Drop => "drop",
    };
    println!("  sip.refused         {refused}");
    println!(
        "  sip.auth            {}",
        describe_auth(&settings.sip.auth)
    );
    if let Some(tls) = &settings.sip.tls {
        println!("  sip.tls             {}", describe_tls(tls));
    }
    println!(
        "  sip.limits          {}",
        describe_limits(&settings.sip.limits)
    );
    println!(
        "  schedule.time_zone  {}",
        zone.iana_name()
            .unwrap_or("(system zone without an IANA name)")
    );
    println!("  schedule            {}", plan.describe());
    for w in &settings.warnings {
        println!("warning: {w}");
    }
    for w in &schedule_warnings {
        println!("warning: {}", located(&settings, w));
    }
    if !settings.unused.is_empty() {
        let shown: Vec<&str> = settings
            .unused
            .iter()
            .take(20)
            .map(String::as_str)
            .collect();
        let more = settings.unused.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        println!(
            "note: {} setting(s) not used by sip-resync, kept for the phone: {}{more}",
            settings.unused.len(),
            shown.join(", ")
        );
    }
    ExitCode::SUCCESS
}

async fn run(
    config_path: PathBuf,
    listen: Vec<ListenAddr>,
    state_dir: Option<PathBuf>,
    mac: Option<String>,
    model: Option<String>,
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
    // Installed before the agent starts, so that a SIGHUP never meets the default action
    // (which ends the process).
    let hangups = hangups();
    match Agent::start(options).await {
        Ok(agent) => {
            let reload = tokio::spawn(reload_on_hangup(hangups, config_path, agent.handle()));
            agent.run(shutdown_signal()).await;
            reload.abort();
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
fn hangups() -> Hangups {
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
async fn reload_on_hangup(hangups: Hangups, path: PathBuf, handle: sip_resync::AgentHandle) {
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
                Ok(()) => tracing::info!("SIGHUP: reloaded {}", path.display()),
                Err(e) => tracing::error!("SIGHUP: {e}; the settings in force stay"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, path, handle);
}

/// Prints why the agent cannot run; a socket that cannot be bound exits 4, anything else 2.
fn agent_error(e: AgentError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        AgentError::Bind(_) => ExitCode::from(exit::NETWORK),
        _ => ExitCode::from(exit::CONFIG),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}

async fn notify(target: &str, event: &str, to: Option<String>, timeout: u64) -> ExitCode {
    let Some((transport, hostport)) = target.split_once(':') else {
        eprintln!("error: target \"{target}\" must be udp:HOST:PORT or tcp:HOST:PORT");
        return ExitCode::from(exit::CONFIG);
    };
    let transport = match transport.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => {
            eprintln!("error: target \"{target}\": transport must be udp or tcp");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let addr = match tokio::net::lookup_host(hostport)
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            eprintln!(
                "error: target \"{target}\": cannot resolve \"{hostport}\" (expected HOST:PORT)"
            );
            return ExitCode::from(exit::CONFIG);
        }
    };
    let to = to.unwrap_or_else(|| format!("sip:{hostport}"));
    match sip_resync::send_notify(
        transport,
        addr,
        event,
        &to,
        Duration::from_secs(timeout.max(1)),
    )
    .await
    {
        Ok(fin) => {
            println!("{}", fin.status_line);
            if (200..300).contains(&fin.code) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::NON_2XX)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                sip_resync::NotifyError::Timeout { .. } => ExitCode::from(exit::TIMEOUT),
                _ => ExitCode::from(exit::NETWORK),
            }
        }
    }
}

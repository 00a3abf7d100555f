//! `sip-resync fleet`: what a fleet of phones asks of the provisioning server.

use std::path::PathBuf;
use std::process::ExitCode;

use sip_resync::config;

use crate::{exit, fleet_svg, load_or_report, located, parse_instant};

/// The options of `fleet`.
#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
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

pub(crate) fn fleet(args: FleetArgs) -> ExitCode {
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
        let written = fleet_svg::plot(&preview)
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
pub(crate) fn write_whole(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
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

//! Fleet preview: what N phones with one configuration ask of the provisioning server.
//!
//! Each simulated phone is the agent with its own MAC address (consecutive from a base), which
//! seeds its schedule draws and random delays as [`seed_from_mac`](crate::schedule::seed_from_mac)
//! does for a real phone. It starts at `from` (arming its schedule and, with
//! `fetch_at_startup`, triggering the start-up run; "the day after the setting changed" is
//! the day after `from`), waits for a valid clock before wall-clock polls, and receives any
//! check-sync NOTIFYs at the given instants. Its polls come from [`crate::schedule`], its run
//! admission from the engine's, so the preview shows what the agent does. Every run takes no
//! time and succeeds (no retries), and counts as one fetch at the instant it starts.
//!
//! Sans-IO: [`preview`] reads no clock and no file; the caller loads the configurations.
//! [`Preview::text`] and [`Preview::json`] render the result. The command is
//! `sip-resync fleet` (docs/fleet.md), which also draws the SVG plot.
//!
//! ```
//! use sip_resync_core::config;
//! use sip_resync_core::fleet::{self, FleetConfig, FleetOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The caller reads the file (the agent's `sip_resync::config::load` does); the core reads
//! // bytes.
//! let path = std::path::Path::new("fixtures/schedule/panasonic-resync-time-0200.cfg");
//! let bytes = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path))?;
//! let settings = config::from_bytes(&bytes, path)?;
//! let zone = config::zone_named("Europe/Berlin")?;
//! let from = "2026-03-10T00:00:00+01:00".parse()?;
//! let preview = fleet::preview(
//!     &FleetOptions::new(10_000, from, 48),
//!     &[FleetConfig { label: "resync-time".into(), settings, zone }],
//! )?;
//! // The start-up run at 00:00, then 02:00 on both nights: each time in one second.
//! let series = &preview.series[0];
//! assert_eq!(series.total, 30_000);
//! assert_eq!(series.peak_second.fetches, 10_000);
//! assert!(preview.text().contains("peak second    10000 at 2026-03-10T00:00:00+01:00"));
//! # Ok(())
//! # }
//! ```

mod figures;
mod phone;
mod render;
mod sim;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::config::Settings;
use crate::schedule::ScheduleWarning;

/// Most phones in one preview.
pub const MAX_PHONES: u32 = 100_000;
/// Longest window, in hours (31 days).
pub const MAX_HOURS: u32 = 744;
/// Most configurations in one preview.
pub const MAX_CONFIGS: usize = 8;
/// Most NOTIFY instants.
pub const MAX_NOTIFIES: usize = 16;
/// Most runs one preview simulates (about a minute of CPU time); a larger request is refused
/// rather than left running. Phones that share a timeline count once.
pub const MAX_SIMULATED_RUNS: u64 = 400_000_000;
/// The MAC address of the first phone unless one is given: a locally administered address,
/// which no manufactured phone carries.
pub const DEFAULT_MAC_BASE: [u8; 6] = [0x02, 0, 0, 0, 0, 0];

/// One configuration to preview, as a fleet of identical phones.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Its name in reports and the plot's legend (usually the file name).
    pub label: String,
    /// The phones' settings.
    pub settings: Settings,
    /// The zone of its wall-clock times and of the report's times.
    pub zone: TimeZone,
}

/// The fleet and the window.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Phones per configuration, 1 to [`MAX_PHONES`].
    pub phones: u32,
    /// When the phones start; whole seconds (sub-second parts are dropped).
    pub from: Timestamp,
    /// Length of the window, 1 to [`MAX_HOURS`] hours.
    pub hours: u32,
    /// The first phone's MAC address; the others count up from it.
    pub mac_base: [u8; 6],
    /// Instants at which every phone receives a check-sync NOTIFY, within the window.
    pub notify_at: Vec<Timestamp>,
    /// `false`: no start-up run, whatever `fetch_at_startup` says (to see the schedule
    /// alone, as for phones that started earlier).
    pub startup_fetch: bool,
    /// When the phones' wall clock becomes valid; `None`: at `from`.
    pub clock_valid_at: Option<Timestamp>,
}

impl FleetOptions {
    /// `phones` phones from `from` for `hours` hours, with the default MAC base, start-up
    /// runs as configured, no NOTIFY, and a valid clock from the start.
    pub fn new(phones: u32, from: Timestamp, hours: u32) -> FleetOptions {
        FleetOptions {
            phones,
            from,
            hours,
            mac_base: DEFAULT_MAC_BASE,
            notify_at: Vec::new(),
            startup_fetch: true,
            clock_valid_at: None,
        }
    }
}

/// Why a preview cannot be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The largest count in one second or one minute, and when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peak {
    /// Start of the first second (or minute) with that count.
    pub at: Timestamp,
    /// Fetches in it.
    pub fetches: u32,
}

/// The hour (counted from `from`) with the most fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyHour {
    /// Its start.
    pub start: Timestamp,
    /// Fetches in it.
    pub fetches: u64,
    /// 99th percentile (nearest rank) of its 3600 per-second counts.
    pub p99_per_second: u32,
}

/// One hour of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRow {
    /// Its start (`from` plus whole hours).
    pub start: Timestamp,
    /// Fetches in it.
    pub fetches: u64,
    /// Most fetches in one of its seconds.
    pub peak_second: u32,
    /// Most fetches in one of its minutes.
    pub peak_minute: u32,
}

/// The figures of one configuration.
#[derive(Debug, Clone)]
pub struct Series {
    /// [`FleetConfig::label`].
    pub label: String,
    /// The zone its times are shown in.
    pub zone: TimeZone,
    /// The schedule in words.
    pub schedule: String,
    /// Settings the schedule ignored or adjusted.
    pub warnings: Vec<ScheduleWarning>,
    /// Whether the phones fetch at start-up.
    pub startup_fetch: bool,
    /// `random_delay` in whole seconds.
    pub random_delay_secs: u64,
    /// `run_budget`: runs NOTIFYs may start at once.
    pub run_budget: u32,
    /// `run_budget_refill` in whole seconds.
    pub run_budget_refill_secs: u64,
    /// Fetches in the window.
    pub total: u64,
    /// The busiest second.
    pub peak_second: Peak,
    /// The busiest minute (counted from `from`).
    pub peak_minute: Peak,
    /// The busiest hour.
    pub busy_hour: BusyHour,
    /// Every hour of the window.
    pub hours: Vec<HourRow>,
    /// Fetches in each minute of the window.
    pub per_minute: Vec<u32>,
}

/// A computed preview.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Phones per configuration.
    pub phones: u32,
    /// Start of the window.
    pub from: Timestamp,
    /// Length of the window, in hours.
    pub hours: u32,
    /// The first phone's MAC address.
    pub mac_base: [u8; 6],
    /// The NOTIFY instants.
    pub notify_at: Vec<Timestamp>,
    /// When the clock became valid.
    pub clock_valid_at: Timestamp,
    /// One per configuration, in order.
    pub series: Vec<Series>,
}

/// Simulates `options.phones` phones of each configuration.
pub fn preview(options: &FleetOptions, configs: &[FleetConfig]) -> Result<Preview, FleetError> {
    let invalid = |m: String| Err(FleetError::Invalid(m));
    if options.phones == 0 || options.phones > MAX_PHONES {
        return invalid(format!(
            "phones: {} is not in 1-{MAX_PHONES}",
            options.phones
        ));
    }
    if options.hours == 0 || options.hours > MAX_HOURS {
        return invalid(format!("hours: {} is not in 1-{MAX_HOURS}", options.hours));
    }
    if configs.is_empty() || configs.len() > MAX_CONFIGS {
        return invalid(format!(
            "{} configurations given; 1-{MAX_CONFIGS} are accepted",
            configs.len()
        ));
    }
    if options.notify_at.len() > MAX_NOTIFIES {
        return invalid(format!("more than {MAX_NOTIFIES} NOTIFY instants"));
    }
    let from = Timestamp::from_second(options.from.as_second())
        .map_err(|e| FleetError::Invalid(format!("from: {e}")))?;
    let secs = i64::from(options.hours) * 3600;
    let end = from
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .map_err(|e| FleetError::Invalid(format!("from plus hours: {e}")))?;
    let mut notify_at = options.notify_at.clone();
    notify_at.sort_unstable();
    if let Some(at) = notify_at.iter().find(|&&at| at < from || at >= end) {
        return invalid(format!(
            "NOTIFY at {at} is outside the window {from} to {end}"
        ));
    }
    let clock_valid_at = options.clock_valid_at.unwrap_or(from).max(from);
    let mut series = Vec::with_capacity(configs.len());
    let mut budget = MAX_SIMULATED_RUNS;
    for config in configs {
        let prov = &config.settings.provisioning;
        let startup_fetch = options.startup_fetch && prov.fetch_at_startup;
        let setup = sim::Setup {
            schedule: &config.settings.schedule,
            prov,
            zone: &config.zone,
            from,
            end,
            startup_fetch,
            clock_valid_at,
            notify_at: &notify_at,
        };
        let mut per_second = vec![0u32; secs as usize];
        if !sim::fleet(
            &setup,
            options.phones,
            options.mac_base,
            &mut budget,
            &mut per_second,
        ) {
            return invalid(format!(
                "{}: the preview would simulate more than {MAX_SIMULATED_RUNS} runs; \
                 preview fewer phones or hours",
                config.label
            ));
        }
        let (schedule, warnings) = setup.describe();
        let f = figures::figures(from, &per_second);
        series.push(Series {
            label: config.label.clone(),
            zone: config.zone.clone(),
            schedule,
            warnings,
            startup_fetch,
            random_delay_secs: prov.random_delay.as_secs(),
            run_budget: prov.run_budget,
            run_budget_refill_secs: prov.run_budget_refill.as_secs(),
            total: f.total,
            peak_second: f.peak_second,
            peak_minute: f.peak_minute,
            busy_hour: f.busy_hour,
            hours: f.hours,
            per_minute: f.per_minute,
        });
    }
    Ok(Preview {
        phones: options.phones,
        from,
        hours: options.hours,
        mac_base: options.mac_base,
        notify_at,
        clock_valid_at,
        series,
    })
}

impl Preview {
    /// The report for people: per configuration, the totals, peaks, busy hour and a table
    /// of the hours with fetches.
    pub fn text(&self) -> String {
        render::text(self)
    }

    /// The same figures as one JSON object, plus the fetches of every minute.
    pub fn json(&self) -> String {
        render::json(self)
    }
}

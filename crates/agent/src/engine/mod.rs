//! The provisioning engine: one task shared by every trigger.
//!
//! ```text
//!  start-up ─┐                          ┌──────────── one run at a time ──────────────┐
//!  schedule ─┤                          │                                             │
//!  retry ────┼─► inbox ─► Planner ──────► fetch each file ─► validate+parse ─► apply set ─► outcome
//!  NOTIFY ───┤  (merges)  (coalesce,      (conditional GET,   (magic line,     (atomic     (broadcast,
//!  manual ───┘            admit, spread,   size cap,           XML; parsed     switch)     hook)
//!                         schedule, retry) timeouts)           once)
//! ```
//!
//! Who decides is sans-IO and takes `now`: the `Planner` (pending triggers, run admission
//! by `RunBudget`, spread delay, the schedule and its retries, clock validity) and the
//! settings overlay (a pure function of the local settings and the applied files, parsed once
//! when they were fetched). The task around them (`driver.rs`) is the only code that reads a
//! clock; it owns the HTTP client and the file system, sleeps until
//! `Planner::poll_timeout` or a trigger, and performs the runs the planner starts.
//!
//! Files are applied as a set (`set.rs`): the last known good set stays in place until a
//! complete, valid new set replaces it.

mod driver;
mod fetch;
mod ftp;
mod hook;
mod http_auth;
mod set;
mod store;
mod tftp;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::{broadcast, watch, Notify};

use crate::config::{self, ConfigError, ParseError, ParsedFile, Settings};
use crate::settings::SettingsOwner;
use sip_resync_core::sync::lock;

pub use driver::Engine;
pub use fetch::ClientError;
pub use sip_resync_core::engine::{Cause, Causes, ClockValidity, FileChange, Outcome, RunResult};
pub use sip_resync_core::engine::{FetchError, HttpAuthError, RunError};

/// Outcomes kept for a slow subscriber before it starts missing some.
pub const OUTCOME_BUFFER: usize = 64;

/// What the engine is built from.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The local configuration (fetched files overlay it).
    pub settings: Settings,
    /// Where applied sets and persisted state are kept.
    pub state_dir: std::path::PathBuf,
    /// The time zone of wall-clock schedules.
    pub time_zone: TimeZone,
    /// How clock validity is judged.
    pub clock: ClockValidity,
}

/// Why the engine cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A configured file cannot be resolved.
    #[error("{0}")]
    Source(#[from] sip_resync_core::engine::SourceError),
    /// The state directory cannot be used.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// The HTTP client cannot be set up.
    #[error("{0}")]
    Client(#[from] ClientError),
}

#[derive(Debug, Default)]
struct Inbox {
    /// Triggers that draw from the run budget (NOTIFY, manual).
    budgeted: Option<Causes>,
    /// Triggers that do not (start-up, schedule, retry given by the application).
    exempt: Option<Causes>,
    clock_valid: Option<bool>,
    busy: Option<bool>,
    shutdown: bool,
}

/// Validates a fetched file for its format, returning it parsed (see `ParsedFile::parse`).
pub(crate) fn validate(
    format: config::FileFormat,
    name: &str,
    bytes: &[u8],
) -> Result<ParsedFile, ParseError> {
    ParsedFile::parse(format, name, bytes)
}

#[derive(Debug)]
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Notify,
    /// True while a run waits to start or is in flight: a NOTIFY or manual trigger then joins
    /// it (or its follow-up) through the inbox, which the task reads before it starts the run
    /// and after it finishes, so the trigger need not wake the task. Cleared by the task before
    /// it sleeps with nothing pending, and the inbox checked once more after that.
    run_pending: AtomicBool,
    /// `None` once the engine task has ended: subscribers then see the channel close.
    outcomes: Mutex<Option<broadcast::Sender<Outcome>>>,
    /// The outcome of the last run that finished.
    last_outcome: Mutex<Option<Outcome>>,
    /// The one owner of the settings in effect (shared with the agent, when there is one).
    settings: Arc<SettingsOwner>,
    stop: watch::Sender<bool>,
    status: Mutex<EngineStatus>,
}

/// A snapshot of the engine's plan, for status displays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStatus {
    /// The next timed poll or retry, if one is planned.
    pub next_poll: Option<Timestamp>,
    /// The schedule in words, e.g. `panasonic-cyclic every 60min`.
    pub schedule: String,
    /// Runs finished or started so far.
    pub runs: u64,
}

/// A handle on a running engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl sip_resync_core::ResyncSink for EngineHandle {
    /// Triggers a run caused by the NOTIFY ([`Cause::from_request`]).
    fn resync(&self, request: crate::ResyncRequest) {
        self.trigger(Cause::from_request(&request));
    }
}

impl EngineHandle {
    /// Asks for a run. Never blocks. A trigger in a quiet spell starts its run at once;
    /// triggers that arrive while a run is in flight or waiting coalesce into one follow-up
    /// run. NOTIFY and manual triggers draw from the run budget (`provisioning.run_budget`);
    /// see `docs/engine.md`.
    pub fn trigger(&self, cause: Cause) {
        let budgeted = cause.draws_budget();
        let first = {
            let mut inbox = lock(&self.shared.inbox);
            let slot = if cause.draws_budget() {
                &mut inbox.budgeted
            } else {
                &mut inbox.exempt
            };
            match slot {
                Some(c) => {
                    c.merge(&cause);
                    false
                }
                None => {
                    *slot = Some(Causes::new(cause));
                    true
                }
            }
        };
        // Only the trigger that filled an empty slot wakes the task: the ones merged into it
        // are taken with it, so a burst of NOTIFYs costs one wake-up, not one each. And none
        // at all while a run is pending or in flight: the task reads the inbox before it
        // starts that run and after it finishes (the task clears `run_pending` before it looks
        // at the inbox again under its lock, so a trigger that saw the flag set is found).
        if first && !(budgeted && self.shared.run_pending.load(Ordering::SeqCst)) {
            self.shared.wake.notify_one();
        }
    }

    /// Outcomes of the runs that finish from now on. The channel closes when the engine
    /// task ends; a receiver taken after that is closed at once.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        match lock(&self.shared.outcomes).as_ref() {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Declares the wall clock valid (after NTP) or not; daily schedules wait for it.
    pub fn set_clock_valid(&self, valid: bool) {
        lock(&self.shared.inbox).clock_valid = Some(valid);
        self.shared.wake.notify_one();
    }

    /// Declares the phone busy in a call (`true`) or idle again (`false`). While it is busy,
    /// runs that come due wait, and the reboots their outcomes may ask for with them, until
    /// it is idle or for at most `provisioning.busy_max_wait_secs`; a run under way goes on.
    pub fn set_busy(&self, busy: bool) {
        lock(&self.shared.inbox).busy = Some(busy);
        self.shared.wake.notify_one();
    }

    /// The settings in effect (local configuration overlaid by the applied files); changes
    /// whenever an applied file or [`EngineHandle::update_settings`] changes them.
    pub fn settings(&self) -> watch::Receiver<Arc<Settings>> {
        self.shared.settings.subscribe()
    }

    /// The outcome of the last run that finished, if any.
    pub(crate) fn last_outcome(&self) -> Option<Outcome> {
        lock(&self.shared.last_outcome).clone()
    }

    /// Replaces the local configuration the applied files are overlaid on, as a fetched file
    /// changes the agent's settings. The settings in effect are recomputed and published
    /// through [`EngineHandle::settings`] before this returns; the engine task re-arms the
    /// schedule when it (or the time zone) changed. The applied files still win over the
    /// local configuration where they set something.
    ///
    /// The `[provisioning]` settings (files, state directory, limits) are read at start only:
    /// a change to them is logged and takes effect when the engine is started again. Fails,
    /// changing nothing, when the settings name an unknown time zone.
    pub fn update_settings(&self, settings: Settings) -> Result<(), ConfigError> {
        let zone = settings.zone()?;
        self.shared.settings.set_local(settings, zone);
        Ok(())
    }

    /// The next timed poll, the schedule in words and the number of runs, as of the engine
    /// task's last wake-up.
    pub fn status(&self) -> EngineStatus {
        lock(&self.shared.status).clone()
    }

    /// Stops the engine after (or by cancelling) the run in flight. An apply already under
    /// way completes; it is atomic either way.
    pub fn shutdown(&self) {
        lock(&self.shared.inbox).shutdown = true;
        self.shared.stop.send_replace(true);
        self.shared.wake.notify_one();
    }
}

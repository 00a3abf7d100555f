//! The provisioning engine: one task shared by every trigger.
//!
//! ```text
//!  start-up ─┐
//!  schedule ─┤                 ┌──────────── one run at a time ───────────────┐
//!  retry ────┼─► inbox ─► Gate ─► fetch each file ─► validate ─► apply set ─► outcome ─► subscribers
//!  NOTIFY ───┤  (merges)  (coalesce,  (conditional GET,  (magic line,  (atomic     (broadcast,
//!  manual ───┘            spread,      size cap,          XML)          switch)     hook)
//!                         spacing)     timeouts)
//! ```
//!
//! The pieces that decide are sans-IO and take `now`: [`gate::Gate`] (coalescing, spread
//! delay, minimum interval), the schedule ([`crate::schedule::Schedule`]), the settings
//! overlay ([`crate::config::overlay`]) and the reboot policy. The task around them
//! ([`Engine::start`]) owns the clock, the HTTP client and the file system; it sleeps in
//! steps of at most [`MAX_SLEEP`], so a wall-clock step never shifts an absolute poll.
//!
//! Files are applied as a set ([`set`]): the last known good set stays in place until a
//! complete, valid new set replaces it.

pub mod fetch;
pub mod gate;
pub mod hook;
pub mod outcome;
pub mod set;
pub mod source;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand_core::{RngCore, SeedableRng};
use tokio::sync::{broadcast, watch, Notify};
use tracing::Instrument;

use crate::config::{self, FileFormat, Provisioned, ProvisioningSettings, Settings};
use crate::schedule::{PersistedState, Schedule, SNOM_RETRY_INITIAL_SECS, SNOM_RETRY_MAX_SECS};

use fetch::{Conditional, FetchLimits, Fetched, Fetcher};
pub use outcome::{Cause, Causes, FileChange, Outcome, RunResult};
use set::{AppliedSet, FileRecord};
use source::Source;
use store::{State, StoreError};

/// Longest single sleep of the engine task: wall-clock polls are re-checked at least this
/// often.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Outcomes kept for a slow subscriber before it starts missing some.
pub const OUTCOME_BUFFER: usize = 64;

/// The earliest instant a system clock is believed to be set (2025-01-01T00:00:00Z).
const SANE_CLOCK_SECONDS: i64 = 1_735_689_600;

/// Whether the wall clock may be used for daily schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockValidity {
    /// Valid once the system clock reads 2025 or later (the daemon's default).
    FromSystem,
    /// Valid from the start.
    Valid,
    /// Not valid until [`EngineHandle::set_clock_valid`] says so (after NTP).
    NotYet,
}

/// What the engine is built from.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The local configuration (fetched files overlay it).
    pub settings: Settings,
    /// Where applied sets and persisted state are kept.
    pub state_dir: PathBuf,
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
    Source(#[from] source::SourceError),
    /// The state directory cannot be used.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The HTTP client cannot be set up.
    #[error("{0}")]
    Client(String),
}

/// Validates a fetched file for its format.
pub fn validate(format: FileFormat, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = Path::new(name);
    match format {
        FileFormat::Panasonic => config::panasonic::parse(bytes, path)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        FileFormat::Snom => config::snom::parse(bytes, path)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        FileFormat::Raw => Ok(()),
    }
}

#[derive(Debug, Default)]
struct Inbox {
    causes: Option<Causes>,
    clock_valid: Option<bool>,
    /// New local settings and their time zone, from [`EngineHandle::update_settings`].
    settings: Option<(Settings, TimeZone)>,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    inbox: Mutex<Inbox>,
    wake: Notify,
    outcomes: broadcast::Sender<Outcome>,
    settings: watch::Sender<Arc<Settings>>,
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

impl EngineHandle {
    /// Asks for a run. Never blocks; triggers that arrive while a run is in flight or
    /// waiting coalesce into one follow-up run.
    pub fn trigger(&self, cause: Cause) {
        {
            let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
            match &mut inbox.causes {
                Some(c) => c.merge(&cause),
                None => inbox.causes = Some(Causes::new(cause)),
            }
        }
        self.shared.wake.notify_one();
    }

    /// Outcomes of the runs that finish from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        self.shared.outcomes.subscribe()
    }

    /// Declares the wall clock valid (after NTP) or not; daily schedules wait for it.
    pub fn set_clock_valid(&self, valid: bool) {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clock_valid = Some(valid);
        self.shared.wake.notify_one();
    }

    /// The settings in effect (local configuration overlaid by the applied files); changes
    /// whenever an applied file or [`EngineHandle::update_settings`] changes them.
    pub fn settings(&self) -> watch::Receiver<Arc<Settings>> {
        self.shared.settings.subscribe()
    }

    /// Replaces the local configuration the applied files are overlaid on, as a fetched file
    /// changes the agent's settings: the engine recomputes the settings in effect, re-arms
    /// the schedule when it (or the time zone) changed, and publishes the result through
    /// [`EngineHandle::settings`]. The applied files still win over the local configuration
    /// where they set something.
    ///
    /// The `[provisioning]` settings (files, state directory, limits) are read at start only:
    /// a change to them is logged and takes effect when the engine is started again. Fails,
    /// changing nothing, when the settings name an unknown time zone.
    pub fn update_settings(&self, settings: Settings) -> Result<(), config::ConfigError> {
        let zone = settings.zone()?;
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settings = Some((settings, zone));
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The next timed poll, the schedule in words and the number of runs, as of the engine
    /// task's last wake-up.
    pub fn status(&self) -> EngineStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the engine after (or by cancelling) the run in flight. An apply already under
    /// way completes; it is atomic either way.
    pub fn shutdown(&self) {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shutdown = true;
        self.shared.stop.send_replace(true);
        self.shared.wake.notify_one();
    }
}

/// The next timed run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Due {
    at: Timestamp,
    label: String,
    retry: bool,
}

/// A failed run, before it becomes an outcome.
struct Failure {
    file: Option<String>,
    error: String,
    retry_after: Option<Duration>,
}

enum Applied {
    Updated {
        files: Vec<FileChange>,
        settings_changed: bool,
    },
    Unchanged,
}

/// The engine task's state.
pub struct Engine {
    shared: Arc<Shared>,
    local: Settings,
    effective: Arc<Settings>,
    prov: ProvisioningSettings,
    sources: Vec<Source>,
    state_dir: PathBuf,
    fetcher: Fetcher,
    current: Option<AppliedSet>,
    state: State,
    seed: u64,
    schedule: Schedule,
    tz: TimeZone,
    clock: ClockValidity,
    clock_declared: Option<bool>,
    gate: gate::Gate,
    next_due: Option<Due>,
    fallback_failures: u32,
    fallback_retry: Option<Due>,
    not_before: Option<Timestamp>,
    runs: u64,
    spread_draws: u64,
    mono_base: (Instant, Timestamp),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state_dir", &self.state_dir)
            .field("runs", &self.runs)
            .finish_non_exhaustive()
    }
}

/// A seed for agents without a MAC address: the clock and the process id, mixed; persisted in
/// `state.toml` so that the draws survive restarts.
fn fresh_seed() -> u64 {
    let now = Timestamp::now();
    let mut x = (now.as_nanosecond() as u64) ^ u64::from(std::process::id()).rotate_left(32);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Engine {
    /// Prepares the state directory, loads the last good set and the persisted state, and
    /// spawns the engine task on the current tokio runtime (call it from within one).
    ///
    /// Blocking file-system work (applying a set, saving the state) runs on tokio's blocking
    /// pool; the task itself never blocks the runtime.
    pub fn start(
        config: EngineConfig,
    ) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
        let (handle, _, task) = Engine::start_subscribed(config)?;
        Ok((handle, task))
    }

    /// [`Engine::start`], with a subscription to the outcomes taken before the task runs, so
    /// that not even the start-up run's outcome can be missed.
    pub(crate) fn start_subscribed(
        config: EngineConfig,
    ) -> Result<
        (
            EngineHandle,
            broadcast::Receiver<Outcome>,
            tokio::task::JoinHandle<()>,
        ),
        EngineError,
    > {
        let engine = Engine::prepare(config)?;
        let handle = EngineHandle {
            shared: engine.shared.clone(),
        };
        let outcomes = handle.subscribe();
        let task = tokio::spawn(engine.run());
        Ok((handle, outcomes, task))
    }

    fn prepare(config: EngineConfig) -> Result<Engine, EngineError> {
        let prov = config.settings.provisioning.clone();
        let sources = source::resolve_all(
            &prov.files,
            prov.mac.as_deref(),
            prov.model.as_deref(),
            &prov.base_dir,
        )?;
        let state_dir = config.state_dir;
        std::fs::create_dir_all(&state_dir).map_err(|source| StoreError::Io {
            what: "cannot create the state directory",
            path: state_dir.clone(),
            source,
        })?;
        let removed = set::remove_unused_sets(&state_dir)?;
        if removed > 0 {
            tracing::info!(removed, "removed leftovers of an interrupted apply");
        }
        let mut state = State::load(&state_dir)?;
        let (current, mismatched) = set::load_current(&state_dir, prov.max_file_size)?;
        for name in mismatched {
            tracing::warn!(file = %name, "applied file differs from its manifest (changed outside sip-resync); it will be fetched in full");
        }
        let fetcher = Fetcher::new(FetchLimits {
            connect_timeout: prov.connect_timeout,
            timeout: prov.timeout,
            max_bytes: prov.max_file_size,
            max_redirects: prov.max_redirects,
            max_retry_after: prov.max_retry_after,
        })
        .map_err(EngineError::Client)?;
        let now = Timestamp::now();
        let seed = match prov
            .mac
            .as_deref()
            .and_then(config::provisioning::mac_bytes)
        {
            Some(mac) => crate::schedule::seed_from_mac(mac),
            None => *state.seed.get_or_insert_with(fresh_seed),
        };
        if state.settings_changed_at.is_none() {
            state.settings_changed_at = Some(now);
        }
        state.save(&state_dir)?;
        let (effective, warnings) = overlay(&config.settings, &sources, current.as_ref());
        for w in warnings {
            tracing::warn!("{w}");
        }
        let persisted = PersistedState {
            changed_at: state.settings_changed_at,
            last_success: state.last_success,
        };
        let (schedule, warnings) = Schedule::new(
            &effective.schedule,
            config.time_zone.clone(),
            persisted,
            seed,
            now,
        );
        for w in warnings {
            tracing::warn!("schedule: {w}");
        }
        let (outcomes, _) = broadcast::channel(OUTCOME_BUFFER);
        let effective = Arc::new(effective);
        let (settings_tx, _) = watch::channel(effective.clone());
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Notify::new(),
            outcomes,
            settings: settings_tx,
            stop: watch::channel(false).0,
            status: Mutex::new(EngineStatus::default()),
        });
        Ok(Engine {
            shared,
            local: config.settings,
            effective,
            gate: gate::Gate::new(prov.min_interval),
            prov,
            sources,
            state_dir,
            fetcher,
            current,
            state,
            seed,
            schedule,
            tz: config.time_zone,
            clock: config.clock,
            clock_declared: None,
            next_due: None,
            fallback_failures: 0,
            fallback_retry: None,
            not_before: None,
            runs: 0,
            spread_draws: 0,
            mono_base: (Instant::now(), now),
        })
    }

    fn clock_valid(&self) -> bool {
        match (self.clock_declared, self.clock) {
            (Some(v), _) => v,
            (None, ClockValidity::Valid) => true,
            (None, ClockValidity::NotYet) => false,
            (None, ClockValidity::FromSystem) => Timestamp::now().as_second() >= SANE_CLOCK_SECONDS,
        }
    }

    /// `now` on the schedule's timeline: the wall clock for wall-clock rules, start-up
    /// plus monotonic time for relative ones (so a clock step does not move them).
    fn sched_now(&self) -> Timestamp {
        if self.schedule.needs_wall_clock() {
            Timestamp::now()
        } else {
            let elapsed =
                SignedDuration::try_from(self.mono_base.0.elapsed()).unwrap_or(SignedDuration::MAX);
            self.mono_base
                .1
                .checked_add(elapsed)
                .unwrap_or(Timestamp::MAX)
        }
    }

    fn spread_delay(&mut self, cause: &Cause) -> Duration {
        let max_ms = u64::try_from(self.prov.random_delay.as_millis()).unwrap_or(u64::MAX);
        if !cause.is_spread() || max_ms == 0 {
            return Duration::ZERO;
        }
        self.spread_draws += 1;
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ self.spread_draws.rotate_left(17));
        Duration::from_millis(rng.next_u64() % (max_ms + 1))
    }

    fn plan_next(&mut self) {
        let now = self.sched_now();
        let valid = self.clock_valid();
        let mut due = self.schedule.next_after(now, valid).map(|p| Due {
            at: p.at,
            label: p.rule.to_string(),
            retry: p.rule.is_retry(),
        });
        if let Some(fb) = &self.fallback_retry {
            let sooner = match &due {
                None => true,
                Some(d) => fb.at < d.at,
            };
            if sooner {
                due = Some(fb.clone());
            }
        }
        if let (Some(d), Some(nb)) = (due.as_mut(), self.not_before) {
            if d.at < nb {
                d.at = nb;
            }
        }
        self.next_due = due;
    }

    async fn run(mut self) {
        if self.prov.fetch_at_startup {
            let delay = self.spread_delay(&Cause::Startup);
            self.gate.trigger(Instant::now(), Cause::Startup, delay);
        }
        let mut last_valid = self.clock_valid();
        self.plan_next();
        tracing::info!(
            files = self.sources.len(),
            state_dir = %self.state_dir.display(),
            schedule = %self.schedule.describe(),
            next_poll = ?self.next_due.as_ref().map(|d| d.at.to_zoned(self.tz.clone()).to_string()),
            "provisioning engine started"
        );
        loop {
            let (causes, shutdown, settings) = {
                let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(v) = inbox.clock_valid.take() {
                    self.clock_declared = Some(v);
                }
                (inbox.causes.take(), inbox.shutdown, inbox.settings.take())
            };
            if shutdown {
                break;
            }
            if let Some((settings, zone)) = settings {
                self.replace_local(settings, zone).await;
            }
            let mono = Instant::now();
            if let Some(causes) = causes {
                let delay = self.spread_delay(&causes.first);
                self.gate.trigger_all(mono, causes, delay);
            }
            let valid = self.clock_valid();
            if valid != last_valid {
                last_valid = valid;
                tracing::info!(clock_valid = valid, "wall clock validity changed");
                self.plan_next();
            }
            if let Some(due) = self.next_due.clone() {
                let now = self.sched_now();
                if due.at <= now {
                    let cause = if due.retry {
                        Cause::Retry { rule: due.label }
                    } else {
                        Cause::Schedule { rule: due.label }
                    };
                    self.gate.trigger(mono, cause, Duration::ZERO);
                    self.fallback_retry = None;
                    let after = due.at;
                    self.next_due = self.schedule.next_after(after, valid).map(|p| Due {
                        at: p.at,
                        label: p.rule.to_string(),
                        retry: p.rule.is_retry(),
                    });
                }
            }
            if let Some(causes) = self.gate.start(mono) {
                let stop = self.shared.stop.subscribe();
                let stopped = tokio::select! {
                    _ = self.execute(causes) => false,
                    _ = wait_for_shutdown(stop) => true,
                };
                self.gate.finish();
                if stopped {
                    tracing::info!(
                        "run cancelled by shutdown; the applied set is complete either way"
                    );
                    break;
                }
                continue;
            }
            self.publish_status();
            let mut wake = MAX_SLEEP;
            if let Some(at) = self.gate.due() {
                wake = wake.min(at.saturating_duration_since(mono));
            }
            if let Some(due) = &self.next_due {
                let left = due.at.duration_since(self.sched_now());
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                wake = wake.min(left);
            }
            let _ = tokio::time::timeout(wake, self.shared.wake.notified()).await;
        }
        tracing::info!(runs = self.runs, "provisioning engine stopped");
    }

    async fn execute(&mut self, causes: Causes) {
        self.runs += 1;
        let run = self.runs;
        let span = tracing::info_span!(
            "provisioning_run",
            run,
            cause = %causes.first,
            coalesced = causes.count,
            outcome = tracing::field::Empty,
        );
        let started_at = Timestamp::now();
        let result = self.fetch_and_apply().instrument(span.clone()).await;
        let finished_at = Timestamp::now();
        let policy = self.prov.reboot_policy;
        let (result, reboot_requested) = match result {
            Ok(applied) => {
                self.schedule.record_success(self.sched_now());
                self.fallback_failures = 0;
                self.fallback_retry = None;
                self.not_before = None;
                self.state.last_success = Some(finished_at);
                self.save_state().await;
                self.plan_next();
                match applied {
                    Applied::Updated {
                        files,
                        settings_changed,
                    } => (
                        RunResult::Updated {
                            files,
                            settings_changed,
                        },
                        policy.decide(causes.reboot_wish, true),
                    ),
                    Applied::Unchanged => (
                        RunResult::Unchanged,
                        policy.decide(causes.reboot_wish, false),
                    ),
                }
            }
            Err(failure) => {
                let next_retry = self.schedule_retry(&failure);
                (
                    RunResult::Failed {
                        file: failure.file,
                        error: failure.error,
                        next_retry,
                    },
                    false,
                )
            }
        };
        let outcome = Outcome {
            run,
            cause: causes.first,
            coalesced: causes.count,
            started_at,
            finished_at,
            result,
            reboot_requested,
            next_poll: self.next_due.as_ref().map(|d| d.at),
        };
        span.record("outcome", outcome.result.kind());
        span.in_scope(|| match &outcome.result {
            RunResult::Failed { .. } => {
                tracing::warn!(outcome = outcome.result.kind(), "{outcome}")
            }
            _ => tracing::info!(outcome = outcome.result.kind(), "{outcome}"),
        });
        let _ = self.shared.outcomes.send(outcome.clone());
        if matches!(outcome.result, RunResult::Updated { .. })
            && !self.prov.post_update_command.is_empty()
        {
            hook::run(
                &self.prov.post_update_command,
                self.prov.post_update_timeout,
                &outcome,
                &self.state_dir.join(set::CURRENT),
            )
            .instrument(span)
            .await;
        }
    }

    /// Arms the retry after a failure and returns its instant.
    fn schedule_retry(&mut self, failure: &Failure) -> Option<Timestamp> {
        let failed_at = self.sched_now();
        let valid = self.clock_valid();
        let poll = self.schedule.retry_after_failure(failed_at, valid);
        self.fallback_retry = None;
        if poll.is_none() {
            // No schedule of its own (polling off, or waiting for the clock): back off as
            // Snom does, 5 min doubling to 1 h, so a failure is never dropped.
            self.fallback_failures = self.fallback_failures.saturating_add(1);
            let doublings = self.fallback_failures.saturating_sub(1).min(16);
            let secs = (SNOM_RETRY_INITIAL_SECS << doublings).min(SNOM_RETRY_MAX_SECS);
            self.fallback_retry = failed_at
                .checked_add(SignedDuration::from_secs(secs as i64))
                .ok()
                .map(|at| Due {
                    at,
                    label: format!("retry {}min", secs / 60),
                    retry: true,
                });
        }
        self.not_before = failure.retry_after.and_then(|d| {
            failed_at
                .checked_add(SignedDuration::try_from(d).ok()?)
                .ok()
        });
        self.plan_next();
        self.next_due.as_ref().map(|d| d.at)
    }

    async fn save_state(&mut self) {
        let state = self.state.clone();
        let dir = self.state_dir.clone();
        let saved = tokio::task::spawn_blocking(move || state.save(&dir)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("cannot persist the state: {e}"),
            Err(e) => tracing::error!("cannot persist the state: {e}"),
        }
    }

    async fn fetch_and_apply(&mut self) -> Result<Applied, Failure> {
        let mut fetched: Vec<(String, Vec<u8>, FileRecord)> =
            Vec::with_capacity(self.sources.len());
        for src in &self.sources {
            let stored = self.current.as_ref().and_then(|set| {
                Some((
                    set.manifest.files.get(&src.name)?,
                    set.contents.get(&src.name)?,
                ))
            });
            let location = src.location.to_string();
            let cond = match stored {
                Some((record, _)) if record.source == location => Conditional {
                    etag: record.etag.clone(),
                    last_modified: record.last_modified.clone(),
                },
                _ => Conditional::default(),
            };
            let fail = |error: String, retry_after| Failure {
                file: Some(src.name.clone()),
                error,
                retry_after,
            };
            let got = self
                .fetcher
                .fetch(&src.location, &cond)
                .instrument(tracing::debug_span!("fetch", file = %src.name, url = %location))
                .await;
            match got {
                Ok(Fetched::NotModified) => match stored {
                    Some((record, bytes)) if record.source == location => {
                        tracing::debug!(file = %src.name, "304 not modified");
                        fetched.push((src.name.clone(), bytes.clone(), record.clone()));
                    }
                    _ => {
                        return Err(fail(
                            "the server answered 304 Not Modified to an unconditional request"
                                .into(),
                            None,
                        ))
                    }
                },
                Ok(Fetched::Body {
                    bytes,
                    etag,
                    last_modified,
                }) => {
                    validate(src.format, &src.name, &bytes).map_err(|e| {
                        fail(format!("invalid {} file: {e}", src.format.as_str()), None)
                    })?;
                    let record = FileRecord {
                        digest: set::digest(&bytes),
                        size: bytes.len() as u64,
                        source: location,
                        etag,
                        last_modified,
                    };
                    tracing::debug!(file = %src.name, size = record.size, digest = %record.digest, "fetched");
                    fetched.push((src.name.clone(), bytes, record));
                }
                Err(e) => return Err(fail(format!("{location}: {e}"), e.retry_after())),
            }
        }
        let old: BTreeMap<String, FileRecord> = self
            .current
            .as_ref()
            .map(|s| s.manifest.files.clone())
            .unwrap_or_default();
        let mut changes: Vec<FileChange> = fetched
            .iter()
            .filter(|(name, _, rec)| old.get(name).map(|o| &o.digest) != Some(&rec.digest))
            .map(|(name, _, rec)| FileChange {
                name: name.clone(),
                old_digest: old.get(name).map(|o| o.digest.clone()),
                new_digest: Some(rec.digest.clone()),
            })
            .collect();
        changes.extend(
            old.iter()
                .filter(|(name, _)| !fetched.iter().any(|(n, _, _)| n == *name))
                .map(|(name, rec)| FileChange {
                    name: name.clone(),
                    old_digest: Some(rec.digest.clone()),
                    new_digest: None,
                }),
        );
        let dir = self.state_dir.clone();
        if changes.is_empty() {
            let records: BTreeMap<String, FileRecord> = fetched
                .iter()
                .map(|(n, _, r)| (n.clone(), r.clone()))
                .collect();
            if let Some(current) = self.current.as_mut() {
                if current.manifest.files != records {
                    current.manifest.files = records;
                    let manifest = current.manifest.clone();
                    let written =
                        tokio::task::spawn_blocking(move || set::update_manifest(&dir, &manifest))
                            .await;
                    if let Ok(Err(e)) = written {
                        tracing::warn!("cannot record the new validators: {e}");
                    }
                }
            }
            return Ok(Applied::Unchanged);
        }
        let now = Timestamp::now();
        let applied = tokio::task::spawn_blocking(move || set::apply(&dir, fetched, now))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let applied = applied.map_err(|error| Failure {
            file: None,
            error: format!("cannot apply the new set (the previous set stays): {error}"),
            retry_after: None,
        })?;
        self.current = Some(applied);
        let settings_changed = self.rearm("a provisioned file", false).await;
        Ok(Applied::Updated {
            files: changes,
            settings_changed,
        })
    }

    /// Takes new local settings from [`EngineHandle::update_settings`]: the applied files are
    /// overlaid on them again, as after a run that changed them.
    async fn replace_local(&mut self, mut settings: Settings, zone: TimeZone) {
        if settings.provisioning != self.local.provisioning {
            tracing::warn!("the [provisioning] settings changed; they take effect when the agent is started again");
            settings.provisioning = self.local.provisioning.clone();
        }
        let zone_changed = zone != self.tz;
        self.local = settings;
        self.tz = zone;
        if self.rearm("the local configuration", zone_changed).await {
            self.plan_next();
        }
    }

    /// What [`EngineHandle::status`] reports.
    fn publish_status(&self) {
        let status = EngineStatus {
            next_poll: self.next_due.as_ref().map(|d| d.at),
            schedule: self.schedule.describe(),
            runs: self.runs,
        };
        *self.shared.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    /// Recomputes the effective settings from the local configuration and the applied set;
    /// re-arms the schedule when it (or, with `zone_changed`, its time zone) changed, and
    /// publishes the settings when anything changed. `by` names the change in log lines.
    /// Returns whether the agent's own settings (event, schedule) changed.
    async fn rearm(&mut self, by: &str, zone_changed: bool) -> bool {
        let (effective, warnings) = overlay(&self.local, &self.sources, self.current.as_ref());
        for w in warnings {
            tracing::warn!("{w}");
        }
        let schedule_changed = zone_changed || effective.schedule != self.effective.schedule;
        let events_changed = effective.sip.events != self.effective.sip.events
            || effective.sip.event_match != self.effective.sip.event_match;
        if !schedule_changed && effective == *self.effective {
            return false;
        }
        if schedule_changed {
            let now = self.sched_now();
            self.state.settings_changed_at = Some(Timestamp::now());
            self.save_state().await;
            let persisted = PersistedState {
                changed_at: self.state.settings_changed_at,
                last_success: self.state.last_success,
            };
            let (schedule, warnings) = Schedule::new(
                &effective.schedule,
                self.tz.clone(),
                persisted,
                self.seed,
                now,
            );
            for w in warnings {
                tracing::warn!("schedule: {w}");
            }
            self.schedule = schedule;
            self.mono_base = (Instant::now(), Timestamp::now());
            tracing::info!(schedule = %self.schedule.describe(), "schedule re-armed by {by}");
        }
        if events_changed {
            tracing::info!(events = ?effective.sip.events, "accepted NOTIFY events changed by {by}");
        }
        let effective = Arc::new(effective);
        self.effective = effective.clone();
        self.shared.settings.send_replace(effective);
        schedule_changed || events_changed
    }
}

async fn wait_for_shutdown(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn overlay(
    local: &Settings,
    sources: &[Source],
    current: Option<&AppliedSet>,
) -> (Settings, Vec<config::Warning>) {
    let Some(set) = current else {
        return (local.clone(), Vec::new());
    };
    let provisioned: Vec<Provisioned<'_>> = sources
        .iter()
        .filter_map(|s| {
            Some(Provisioned {
                name: &s.name,
                format: s.format,
                bytes: set.contents.get(&s.name)?,
            })
        })
        .collect();
    config::overlay(local, &provisioned)
}

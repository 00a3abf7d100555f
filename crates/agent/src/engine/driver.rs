//! The engine's tokio task: the thin driver around the [`Planner`].
//!
//! The only code of the engine that reads a clock ([`read_now`]). It takes the triggers from
//! the inbox, hands them to the planner, sleeps until the planner's `poll_timeout` or the
//! next trigger, and performs the run the planner starts: fetch, validate (parsing each file
//! once), apply, publish the settings in effect, report the outcome.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::{broadcast, watch, Notify};
use tracing::Instrument;

use super::fetch::{Conditional, Fetched, Fetcher};
use super::set::{self, AppliedSet, FileRecord};
use super::store::{State, StoreError};
use super::{
    hook, lock, validate, EngineConfig, EngineError, EngineHandle, EngineStatus, Inbox, Shared,
    OUTCOME_BUFFER,
};
use crate::config::{self, ParsedFile, ProvisioningSettings, Settings};
use crate::settings::{ParsedSet, SettingsOwner};
use sip_resync_core::engine::{
    resolve_all, resolve_links, Source, MAX_LINKED_FILES, MAX_LINK_DEPTH,
};
use sip_resync_core::engine::{Cause, FileChange, Outcome, RunError, RunResult};
use sip_resync_core::engine::{Finished, Now, Planner, PlannerOptions, Run, RunBudget};
use sip_resync_core::schedule::{PersistedState, ScheduleSettings};

/// The target of the engine's log lines and spans, whichever file they come from.
const LOG_TARGET: &str = "sip_resync::engine";

/// Both clocks, read once: the engine's only clock reads happen here.
fn read_now() -> Now {
    Now {
        mono: Instant::now(),
        wall: Timestamp::now(),
    }
}

/// A seed for agents without a MAC address: the clock and the process id, mixed; persisted in
/// `state.toml` so that the draws survive restarts.
fn fresh_seed(now: Timestamp) -> u64 {
    let mut x = (now.as_nanosecond() as u64) ^ u64::from(std::process::id()).rotate_left(32);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A failed run, before it becomes an outcome.
struct Failure {
    file: Option<String>,
    error: RunError,
}

enum Applied {
    Updated {
        files: Vec<FileChange>,
        settings_changed: bool,
    },
    Unchanged,
}

/// The engine task's state; see [`Engine::start`].
pub struct Engine {
    shared: Arc<Shared>,
    /// The settings in effect, as the owner publishes them: a change re-arms the schedule.
    settings: watch::Receiver<Arc<Settings>>,
    /// The wait ended on a change of `settings` (which `changed` marks as seen).
    settings_changed: bool,
    prov: ProvisioningSettings,
    sources: Vec<Source>,
    state_dir: PathBuf,
    fetcher: Fetcher,
    current: Option<AppliedSet>,
    state: State,
    planner: Planner,
    /// The schedule settings and zone the planner was last armed with.
    armed: (ScheduleSettings, TimeZone),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state_dir", &self.state_dir)
            .field("runs", &self.planner.runs())
            .finish_non_exhaustive()
    }
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
        let (handle, _, task) = Engine::start_subscribed(config, None)?;
        Ok((handle, task))
    }

    /// [`Engine::start`] with the settings owner the agent shares with its listeners.
    pub(crate) fn start_with_owner(
        config: EngineConfig,
        owner: Arc<SettingsOwner>,
    ) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
        let (handle, _, task) = Engine::start_subscribed(config, Some(owner))?;
        Ok((handle, task))
    }

    /// [`Engine::start`], with a subscription to the outcomes taken before the task runs, so
    /// that not even the start-up run's outcome can be missed.
    pub(crate) fn start_subscribed(
        config: EngineConfig,
        owner: Option<Arc<SettingsOwner>>,
    ) -> Result<
        (
            EngineHandle,
            broadcast::Receiver<Outcome>,
            tokio::task::JoinHandle<()>,
        ),
        EngineError,
    > {
        let engine = Engine::prepare(config, owner, read_now())?;
        let handle = EngineHandle {
            shared: engine.shared.clone(),
        };
        let outcomes = handle.subscribe();
        let task = tokio::spawn(engine.run());
        Ok((handle, outcomes, task))
    }

    /// With `owner`, the settings owner the agent shares with its listeners; else one of the
    /// engine's own.
    fn prepare(
        config: EngineConfig,
        owner: Option<Arc<SettingsOwner>>,
        now: Now,
    ) -> Result<Engine, EngineError> {
        let prov = config.settings.provisioning.clone();
        let sources = resolve_all(
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
            tracing::info!(target: LOG_TARGET, removed, "removed leftovers of an interrupted apply");
        }
        let mut state = State::load(&state_dir)?;
        let (current, mismatched) = set::load_current(&state_dir, prov.max_file_size)?;
        for name in mismatched {
            tracing::warn!(target: LOG_TARGET, file = %name, "applied file differs from its manifest (changed outside sip-resync); it will be fetched in full");
        }
        let fetcher = Fetcher::for_settings(&prov)?;
        let seed = match prov.mac.as_deref().and_then(config::mac_bytes) {
            Some(mac) => sip_resync_core::schedule::seed_from_mac(mac),
            None => *state.seed.get_or_insert_with(|| fresh_seed(now.wall)),
        };
        if state.settings_changed_at.is_none() {
            state.settings_changed_at = Some(now.wall);
        }
        state.save(&state_dir)?;
        // The applied set is parsed once here; from then on only fetched files are parsed,
        // once each, by their validation.
        let applied = parse_applied(&prov, &sources, current.as_ref());
        let owner = owner.unwrap_or_else(|| {
            SettingsOwner::new(config.settings.clone(), config.time_zone.clone())
        });
        owner.set_applied(applied, "the applied set");
        let settings = owner.subscribe();
        let effective = settings.borrow().clone();
        let persisted = PersistedState {
            changed_at: state.settings_changed_at,
            last_success: state.last_success,
        };
        let (planner, warnings) = Planner::new(
            now,
            &effective.schedule,
            config.time_zone.clone(),
            persisted,
            PlannerOptions {
                run_budget: RunBudget::new(prov.run_budget, prov.run_budget_refill),
                random_delay: prov.random_delay,
                seed,
                clock: config.clock,
                busy_max_wait: prov.busy_max_wait,
            },
        );
        for w in warnings {
            tracing::warn!(target: LOG_TARGET, "schedule: {w}");
        }
        let (outcomes, _) = broadcast::channel(OUTCOME_BUFFER);
        let armed = (effective.schedule.clone(), config.time_zone.clone());
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Notify::new(),
            run_pending: AtomicBool::new(false),
            outcomes: Mutex::new(Some(outcomes)),
            last_outcome: Mutex::new(None),
            settings: owner,
            stop: watch::channel(false).0,
            status: Mutex::new(EngineStatus::default()),
        });
        Ok(Engine {
            shared,
            settings,
            settings_changed: false,
            prov,
            sources,
            state_dir,
            fetcher,
            current,
            state,
            planner,
            armed,
        })
    }

    async fn run(mut self) {
        if self.prov.fetch_at_startup {
            self.planner.trigger(read_now(), Cause::Startup);
        }
        tracing::info!(
            target: LOG_TARGET,
            files = self.sources.len(),
            state_dir = %self.state_dir.display(),
            schedule = %self.planner.describe(),
            // Left out when there is none (an absent `Option` field is not recorded), rather
            // than the text `None`, which the JSON log would write as a string.
            next_poll = self.planner.next_poll().map(|at| at.to_zoned(self.armed.1.clone()).to_string()),
            "provisioning engine started"
        );
        loop {
            let inbox = std::mem::take(&mut *lock(&self.shared.inbox));
            if inbox.shutdown {
                break;
            }
            let now = read_now();
            if std::mem::take(&mut self.settings_changed)
                || self.settings.has_changed().unwrap_or(false)
            {
                self.rearm_if_changed(now, "the local configuration").await;
            }
            let was_valid = self.planner.clock_valid();
            if let Some(valid) = inbox.clock_valid {
                self.planner.set_clock_valid(now, valid);
            }
            if let Some(busy) = inbox.busy.filter(|b| *b != self.planner.busy()) {
                self.planner.set_busy(now, busy);
                tracing::info!(
                    target: LOG_TARGET,
                    busy,
                    "{}",
                    if busy { "the phone is busy: runs wait until it is idle" } else { "the phone is idle" }
                );
            }
            for causes in [inbox.exempt, inbox.budgeted].into_iter().flatten() {
                self.planner.trigger_all(now, causes);
            }
            let run = self.planner.handle_timeout(now);
            if self.planner.clock_valid() != was_valid {
                tracing::info!(
                    target: LOG_TARGET,
                    clock_valid = self.planner.clock_valid(),
                    "wall clock validity changed"
                );
            }
            if let Some(run) = run {
                // Triggers during the run join its follow-up through the inbox, read when the
                // run is over: no wake-up needed.
                self.shared.run_pending.store(true, Ordering::SeqCst);
                let stop = self.shared.stop.subscribe();
                let stopped = tokio::select! {
                    _ = self.execute(run, now) => false,
                    _ = wait_for_shutdown(stop) => true,
                };
                if stopped {
                    tracing::info!(
                        target: LOG_TARGET,
                        "run cancelled by shutdown; the applied set is complete either way"
                    );
                    break;
                }
                continue;
            }
            self.publish_status();
            // A pending run (waiting for the run budget or its spread delay) takes later
            // triggers with it when it starts; with nothing pending, triggers must wake the
            // task. The flag is cleared before the inbox is looked at again, under its lock:
            // a trigger that saw the flag set is then found here.
            let pending = self.planner.pending().is_some();
            self.shared.run_pending.store(pending, Ordering::SeqCst);
            if !pending && lock(&self.shared.inbox).budgeted.is_some() {
                continue;
            }
            let wake = self.planner.poll_timeout();
            let notified = self.shared.wake.notified();
            let deadline = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = deadline => {}
                r = self.settings.changed() => self.settings_changed = r.is_ok(),
            }
        }
        // Subscribers see the channel close once they have read every outcome.
        lock(&self.shared.outcomes).take();
        tracing::info!(target: LOG_TARGET, runs = self.planner.runs(), "provisioning engine stopped");
    }

    async fn execute(&mut self, run: Run, started: Now) {
        let Run { number, causes } = run;
        let span = tracing::info_span!(
            target: LOG_TARGET,
            "provisioning_run",
            run = number,
            cause = %causes.first,
            coalesced = causes.count,
            outcome = tracing::field::Empty,
        );
        let result = self.fetch_and_apply(started).instrument(span.clone()).await;
        let finished = read_now();
        let policy = self.prov.reboot_policy;
        let (result, reboot_requested) = match result {
            Ok(applied) => {
                self.planner.run_finished(finished, Finished::Success);
                self.state.last_success = Some(finished.wall);
                self.save_state().await;
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
                let next_retry = self.planner.run_finished(
                    finished,
                    Finished::Failure {
                        retry_after: failure.error.retry_after(),
                    },
                );
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
            run: number,
            cause: causes.first,
            coalesced: causes.count,
            started_at: started.wall,
            finished_at: finished.wall,
            result,
            reboot_requested,
            next_poll: self.planner.next_poll(),
        };
        span.record("outcome", outcome.result.kind());
        span.in_scope(|| match &outcome.result {
            RunResult::Failed { .. } => {
                tracing::warn!(target: LOG_TARGET, outcome = outcome.result.kind(), "{outcome}")
            }
            _ => tracing::info!(target: LOG_TARGET, outcome = outcome.result.kind(), "{outcome}"),
        });
        *lock(&self.shared.last_outcome) = Some(outcome.clone());
        if let Some(tx) = lock(&self.shared.outcomes).as_ref() {
            let _ = tx.send(outcome.clone());
        }
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

    async fn save_state(&mut self) {
        let state = self.state.clone();
        let dir = self.state_dir.clone();
        let saved = tokio::task::spawn_blocking(move || state.save(&dir)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(target: LOG_TARGET, "cannot persist the state: {e}"),
            Err(e) => tracing::error!(target: LOG_TARGET, "cannot persist the state: {e}"),
        }
    }

    async fn fetch_and_apply(&mut self, started: Now) -> Result<Applied, Failure> {
        let mut fetched: Vec<(String, Vec<u8>, FileRecord)> =
            Vec::with_capacity(self.sources.len());
        let mut parsed: ParsedSet = Vec::with_capacity(self.sources.len());
        // The configured files, and the files fetched lists name (Snom's `<setting-files>`),
        // each right after its list, as the phone fetches them.
        let mut work: Vec<(Source, usize)> = self.sources.iter().map(|s| (s.clone(), 0)).collect();
        let mut taken: Vec<String> = self.sources.iter().map(|s| s.name.clone()).collect();
        let mut linked = 0;
        let mut next = 0;
        while next < work.len() {
            let (src, depth) = work[next].clone();
            next += 1;
            let src = &src;
            let listed = parsed.len();
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
            let fail = |error| Failure {
                file: Some(src.name.clone()),
                error,
            };
            let got = self
                .fetcher
                .fetch(&src.location, &cond, started.wall)
                .instrument(tracing::debug_span!(target: LOG_TARGET, "fetch", file = %src.name, url = %location))
                .await;
            match got {
                Ok(Fetched::NotModified) => match stored {
                    Some((record, bytes)) if record.source == location => {
                        tracing::debug!(target: LOG_TARGET, file = %src.name, "304 not modified");
                        // The applied copy was parsed when it was fetched (or loaded).
                        let known = self.shared.settings.applied(&src.name);
                        let file = match known {
                            Some(p) => Some(p),
                            None => validate(src.format, &src.name, bytes).ok().map(Arc::new),
                        };
                        if let Some(file) = file {
                            parsed.push((src.name.clone(), file));
                        }
                        fetched.push((src.name.clone(), bytes.clone(), record.clone()));
                    }
                    _ => return Err(fail(RunError::UnexpectedNotModified)),
                },
                Ok(Fetched::Body {
                    bytes,
                    etag,
                    last_modified,
                }) => {
                    // Encrypted or gzipped profiles: decrypted in memory, the applied set
                    // holds the decrypted file.
                    let bytes = sip_resync_core::crypt::decrypt_for_run(
                        &self.shared.settings.current(),
                        &src.name,
                        src.format,
                        bytes,
                    )
                    .map_err(|(format, error)| fail(RunError::Invalid { format, error }))?;
                    let file = validate(src.format, &src.name, &bytes).map_err(|error| {
                        fail(RunError::Invalid {
                            format: src.format.for_content(&src.name, &bytes),
                            error,
                        })
                    })?;
                    let record = FileRecord {
                        digest: set::digest(&bytes),
                        size: bytes.len() as u64,
                        source: location,
                        etag,
                        last_modified,
                    };
                    tracing::debug!(target: LOG_TARGET, file = %src.name, size = record.size, digest = %record.digest, "fetched");
                    parsed.push((src.name.clone(), Arc::new(file)));
                    fetched.push((src.name.clone(), bytes, record));
                }
                Err(error) => {
                    return Err(fail(RunError::Fetch {
                        url: location,
                        error,
                    }))
                }
            }
            if let Some((_, file)) = parsed.get(listed) {
                let found = self.follow_links(src, depth, file, &mut taken, &mut linked);
                work.splice(next..next, found.into_iter().map(|s| (s, depth + 1)));
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
                        tracing::warn!(target: LOG_TARGET, "cannot record the new validators: {e}");
                    }
                }
            }
            return Ok(Applied::Unchanged);
        }
        let applied_at = started.wall;
        let applied = tokio::task::spawn_blocking(move || set::apply(&dir, fetched, applied_at))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let applied = applied.map_err(|error| Failure {
            file: None,
            error: RunError::Apply(error),
        })?;
        self.current = Some(applied);
        let before = self.shared.settings.current();
        self.shared
            .settings
            .set_applied(parsed, "a provisioned file");
        let after = self.shared.settings.current();
        let schedule_changed = self
            .rearm_if_changed(read_now(), "a provisioned file")
            .await;
        let events_changed = after.sip.events != before.sip.events
            || after.sip.event_match != before.sip.event_match;
        Ok(Applied::Updated {
            files: changes,
            settings_changed: schedule_changed || events_changed,
        })
    }

    /// The files a fetched list names, resolved, within [`MAX_LINKED_FILES`] a run and
    /// [`MAX_LINK_DEPTH`]; what is not followed is logged.
    fn follow_links(
        &self,
        list: &Source,
        depth: usize,
        file: &ParsedFile,
        taken: &mut Vec<String>,
        linked: &mut usize,
    ) -> Vec<Source> {
        follow_links(&self.prov, list, depth, file, taken, linked)
    }

    /// Re-arms the planner's schedule when the schedule in effect or the time zone differs
    /// from what it was armed with, recording the change time (Snom's multi-day random
    /// polling starts the day after it). Returns whether it did.
    async fn rearm_if_changed(&mut self, now: Now, by: &str) -> bool {
        let schedule = self.settings.borrow_and_update().schedule.clone();
        let zone = self.shared.settings.zone();
        if (&schedule, &zone) == (&self.armed.0, &self.armed.1) {
            return false;
        }
        self.state.settings_changed_at = Some(now.wall);
        self.save_state().await;
        let persisted = PersistedState {
            changed_at: self.state.settings_changed_at,
            last_success: self.state.last_success,
        };
        let warnings = self.planner.rearm(now, &schedule, zone.clone(), persisted);
        for w in warnings {
            tracing::warn!(target: LOG_TARGET, "schedule: {w}");
        }
        self.armed = (schedule, zone);
        tracing::info!(target: LOG_TARGET, schedule = %self.planner.describe(), "schedule re-armed by {by}");
        self.publish_status();
        true
    }

    /// What [`EngineHandle::status`] reports.
    fn publish_status(&self) {
        let status = EngineStatus {
            next_poll: self.planner.next_poll(),
            schedule: self.planner.describe(),
            runs: self.planner.runs(),
        };
        *lock(&self.shared.status) = status;
    }
}

/// The files a fetched list names, resolved, within [`MAX_LINKED_FILES`] a run (`linked`
/// counts them) and [`MAX_LINK_DEPTH`]; what is not followed is logged.
fn follow_links(
    prov: &ProvisioningSettings,
    list: &Source,
    depth: usize,
    file: &ParsedFile,
    taken: &mut Vec<String>,
    linked: &mut usize,
) -> Vec<Source> {
    let ParsedFile::Links(links) = file else {
        return Vec::new();
    };
    if depth >= MAX_LINK_DEPTH {
        tracing::warn!(target: LOG_TARGET, file = %list.name, "a list of files {MAX_LINK_DEPTH} lists deep: not followed");
        return Vec::new();
    }
    let room = MAX_LINKED_FILES - *linked;
    if links.len() > room {
        tracing::warn!(target: LOG_TARGET, file = %list.name, "lists {} files; {room} more are fetched this run (at most {MAX_LINKED_FILES} listed files a run)", links.len());
    }
    let (found, problems) = resolve_links(
        list,
        &links[..links.len().min(room)],
        prov.mac.as_deref(),
        prov.model.as_deref(),
        taken,
    );
    for p in problems {
        tracing::warn!(target: LOG_TARGET, file = %list.name, "listed file not fetched: {}", sip_resync_core::escape::excerpt_of(p.as_bytes(), 512));
    }
    *linked += found.len();
    found
}

/// Parses the files of the applied set loaded at start, in configured order, each list
/// followed by the files it names. A file that no longer parses (changed by hand) carries no
/// settings, with a warning.
fn parse_applied(
    prov: &ProvisioningSettings,
    sources: &[Source],
    current: Option<&AppliedSet>,
) -> ParsedSet {
    let Some(set) = current else {
        return Vec::new();
    };
    let mut work: Vec<(Source, usize)> = sources.iter().map(|s| (s.clone(), 0)).collect();
    let mut taken: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
    let mut linked = 0;
    let mut next = 0;
    let mut out: ParsedSet = Vec::new();
    while next < work.len() {
        let (s, depth) = work[next].clone();
        next += 1;
        let Some(bytes) = set.contents.get(&s.name) else {
            continue;
        };
        match validate(s.format, &s.name, bytes) {
            Ok(file) => {
                let found = follow_links(prov, &s, depth, &file, &mut taken, &mut linked);
                work.splice(next..next, found.into_iter().map(|f| (f, depth + 1)));
                out.push((s.name.clone(), Arc::new(file)));
            }
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, file = %s.name, "the applied copy is not valid ({e}); the agent does not use its settings");
            }
        }
    }
    out
}

async fn wait_for_shutdown(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

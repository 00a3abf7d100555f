//! When runs start: the sans-IO planner every trigger goes through.
//!
//! One struct holds the whole decision: pending triggers and their coalescing (one run in
//! flight, one pending), the random spread delay, run admission ([`RunBudget`]), the
//! schedule with its retry policy (the Snom back-off when there is no schedule of its own),
//! a server's `Retry-After`, and the validity of the wall clock. It reads no clock, sleeps
//! nowhere and owns no task; it is driven the way quinn-proto is:
//!
//! ```text
//!   trigger(now, cause) ──┐
//!   set_clock_valid(..) ──┤
//!   set_busy(now, ..)   ──┤          ┌─────────┐  handle_timeout(now) ─► Some(Run): fetch now
//!   rearm(now, settings) ─┼────────► │ Planner │  poll_timeout()      ─► when to call again
//!   run_finished(now, ..) ┘          └─────────┘  next_poll()         ─► status, outcomes
//! ```
//!
//! The engine's task (`driver.rs`) reads the clocks, sleeps until [`Planner::poll_timeout`]
//! or a trigger, calls [`Planner::handle_timeout`] and performs the run it returns.

use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand_core::{RngCore, SeedableRng};

use super::admission::RunBudget;
use super::outcome::{Cause, Causes};
use super::ClockValidity;
use crate::schedule::{
    PersistedState, RetryPolicy, Schedule, ScheduleSettings, ScheduleWarning,
    SNOM_RETRY_INITIAL_SECS, SNOM_RETRY_MAX_SECS,
};

/// Longest wait between two looks at the wall clock while a schedule depends on it, so a
/// wall-clock step never shifts an absolute poll by more than this.
pub(super) const MAX_SLEEP: Duration = Duration::from_secs(30);

/// The earliest instant a system clock is believed to be set (2025-01-01T00:00:00Z).
const SANE_CLOCK_SECONDS: i64 = 1_735_689_600;

/// One moment on both clocks: the monotonic one (admission, spread, relative schedules) and
/// the wall clock (daily schedules, clock validity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub mono: Instant,
    /// Wall-clock time.
    pub wall: Timestamp,
}

/// A run the planner has started: perform it, then call [`Planner::run_finished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Run number from 1.
    pub number: u64,
    /// The triggers it answers.
    pub causes: Causes,
}

/// How a run ended, as far as planning goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Every file was fetched and the set applied (or found unchanged).
    Success,
    /// The run failed; the server may have asked for a wait.
    Failure {
        /// A `Retry-After` to honour: the retry is not earlier.
        retry_after: Option<Duration>,
    },
}

/// What the planner is built with, besides the schedule.
#[derive(Debug, Clone)]
pub struct PlannerOptions {
    /// Run admission of runs caused by NOTIFYs and the application.
    pub run_budget: RunBudget,
    /// Largest random delay before a start-up- or NOTIFY-caused run.
    pub random_delay: Duration,
    /// Seed of the schedule's and the spread delay's random draws.
    pub seed: u64,
    /// How the wall clock's validity is judged.
    pub clock: ClockValidity,
    /// Longest a run waits while the phone is busy ([`Planner::set_busy`]); zero: it never
    /// waits.
    pub busy_max_wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    causes: Causes,
    /// Not before this instant (the spread delay of the trigger that opened it).
    not_before: Instant,
    /// Whether a trigger that does not draw from the budget joined it.
    exempt: bool,
    /// When the run was first due but held back because the phone was busy: the bound on
    /// the wait counts from here.
    held_since: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Due {
    at: Timestamp,
    label: String,
    retry: bool,
}

/// The planner; see the module documentation.
#[derive(Debug, Clone)]
pub struct Planner {
    run_budget: RunBudget,
    random_delay: Duration,
    seed: u64,
    spread_draws: u64,
    running: bool,
    pending: Option<Pending>,
    runs: u64,
    schedule: Schedule,
    clock: ClockValidity,
    clock_declared: Option<bool>,
    valid: bool,
    /// Where the schedule's timeline was anchored: relative rules run on this wall instant
    /// plus monotonic time, so a wall-clock step does not move them.
    base: Now,
    last_now: Now,
    next_due: Option<Due>,
    fallback_failures: u32,
    fallback_retry: Option<Due>,
    not_before: Option<Timestamp>,
    busy: bool,
    busy_max_wait: Duration,
}

impl Planner {
    /// A planner at `now` for the schedule `settings` (in zone `tz`, with the persisted
    /// state); returns the warnings about ignored or adjusted schedule settings.
    pub fn new(
        now: Now,
        settings: &ScheduleSettings,
        tz: TimeZone,
        persisted: PersistedState,
        options: PlannerOptions,
    ) -> (Planner, Vec<ScheduleWarning>) {
        let (schedule, warnings) = Schedule::new(settings, tz, persisted, options.seed, now.wall);
        let mut planner = Planner {
            run_budget: options.run_budget,
            random_delay: options.random_delay,
            seed: options.seed,
            spread_draws: 0,
            running: false,
            pending: None,
            runs: 0,
            schedule,
            clock: options.clock,
            clock_declared: None,
            valid: false,
            base: now,
            last_now: now,
            next_due: None,
            fallback_failures: 0,
            fallback_retry: None,
            not_before: None,
            busy: false,
            busy_max_wait: options.busy_max_wait,
        };
        planner.valid = planner.clock_valid_at(now.wall);
        planner.plan_next(now);
        (planner, warnings)
    }

    /// Re-arms the schedule for new settings (or a new zone) at `now`: relative rules count
    /// from `now`. A pending retry and a server's `Retry-After` stay.
    pub fn rearm(
        &mut self,
        now: Now,
        settings: &ScheduleSettings,
        tz: TimeZone,
        persisted: PersistedState,
    ) -> Vec<ScheduleWarning> {
        let (schedule, warnings) = Schedule::new(settings, tz, persisted, self.seed, now.wall);
        self.schedule = schedule;
        self.base = now;
        self.last_now = now;
        self.plan_next(now);
        warnings
    }

    /// Records a trigger at `now`. It joins the pending run, or opens one (after the spread
    /// delay, for start-up and NOTIFY triggers); the run starts at the next
    /// [`Planner::handle_timeout`] that admits it.
    pub fn trigger(&mut self, now: Now, cause: Cause) {
        self.trigger_all(now, Causes::new(cause));
    }

    /// Records triggers merged elsewhere (all of one kind: drawing from the budget or not,
    /// as their first says).
    pub fn trigger_all(&mut self, now: Now, causes: Causes) {
        self.last_now = now;
        let exempt = !causes.first.draws_budget();
        match &mut self.pending {
            Some(p) => {
                p.exempt |= exempt;
                p.causes.absorb(causes);
            }
            None => {
                let delay = self.spread_delay(&causes.first);
                self.pending = Some(Pending {
                    causes,
                    not_before: now.mono + delay,
                    exempt,
                    held_since: None,
                });
            }
        }
    }

    /// Declares the wall clock valid or not (after NTP), overriding the configured rule.
    pub fn set_clock_valid(&mut self, now: Now, valid: bool) {
        self.clock_declared = Some(valid);
        self.last_now = now;
        self.check_clock(now);
    }

    /// Declares the phone busy in a call, or idle again. While it is busy, a run that comes
    /// due (a NOTIFY, the schedule, a retry, the application) waits, and so does the reboot
    /// its outcome may ask for, until the phone is idle or until it has waited
    /// `busy_max_wait`, counted from when it first came due; then it starts all the same. A
    /// run already under way goes on. Triggers meanwhile coalesce into the waiting run as
    /// usual.
    pub fn set_busy(&mut self, now: Now, busy: bool) {
        self.last_now = now;
        self.busy = busy;
    }

    /// Whether the host said the phone is busy.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// When [`Planner::handle_timeout`] next has work: a pending run becoming due (spread
    /// delay, budget), a timed poll or retry, or a look at a wall clock the schedule depends
    /// on. `None` when only a trigger can bring work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut sooner = |t: Instant| at = Some(at.map_or(t, |a| a.min(t)));
        if let (false, Some(p)) = (self.running, &self.pending) {
            let mut start = p.not_before;
            if !p.exempt {
                if let Some(token) = self.run_budget.next_token_at() {
                    start = start.max(token);
                }
            }
            if let (true, Some(held)) = (self.busy, p.held_since) {
                start = start.max(held + self.busy_max_wait);
            }
            sooner(start);
        }
        if let Some(due) = &self.next_due {
            let left = due.at.duration_since(self.sched_now(self.last_now));
            let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
            sooner(self.last_now.mono + left);
        }
        let waiting_for_clock =
            self.clock == ClockValidity::FromSystem && self.clock_declared.is_none() && !self.valid;
        if self.schedule.needs_wall_clock() || waiting_for_clock {
            sooner(self.last_now.mono + MAX_SLEEP);
        }
        at
    }

    /// Processes everything due at `now`: a change of clock validity, a timed poll or retry
    /// coming due (it joins the pending run), and the start of the pending run when no run
    /// is in flight, its spread delay has passed and it is admitted. Returns the run to
    /// perform now, if any.
    pub fn handle_timeout(&mut self, now: Now) -> Option<Run> {
        self.last_now = now;
        self.check_clock(now);
        if let Some(due) = self.next_due.clone() {
            if due.at <= self.sched_now(now) {
                let cause = if due.retry {
                    Cause::Retry { rule: due.label }
                } else {
                    Cause::Schedule { rule: due.label }
                };
                self.trigger(now, cause);
                self.fallback_retry = None;
                let valid = self.valid;
                self.next_due = self.schedule.next_after(due.at, valid).map(|p| Due {
                    at: p.at,
                    label: p.rule.to_string(),
                    retry: p.rule.is_retry(),
                });
            }
        }
        if self.running {
            return None;
        }
        let busy_max_wait = self.busy_max_wait;
        let p = self.pending.as_mut()?;
        if now.mono < p.not_before {
            return None;
        }
        if self.busy && !busy_max_wait.is_zero() {
            let held = *p.held_since.get_or_insert(now.mono);
            if now.mono < held + busy_max_wait {
                return None;
            }
        }
        if !p.exempt && !self.run_budget.try_take(now.mono) {
            return None;
        }
        let p = self.pending.take()?;
        self.running = true;
        self.runs += 1;
        Some(Run {
            number: self.runs,
            causes: p.causes,
        })
    }

    /// Records the end of the run in flight at `now`: a success resets the retry state; a
    /// failure arms the retry (the schedule's rule, or the Snom back-off of 5 min doubling to
    /// 1 h when there is no schedule of its own), never earlier than a `Retry-After`. Returns
    /// the next timed poll or retry.
    pub fn run_finished(&mut self, now: Now, finished: Finished) -> Option<Timestamp> {
        self.running = false;
        self.last_now = now;
        self.check_clock(now);
        let at = self.sched_now(now);
        match finished {
            Finished::Success => {
                self.schedule.record_success(at);
                self.fallback_failures = 0;
                self.fallback_retry = None;
                self.not_before = None;
            }
            Finished::Failure { retry_after } => {
                let poll = self.schedule.retry_after_failure(at, self.valid);
                self.fallback_retry = None;
                if poll.is_none() {
                    self.fallback_failures = self.fallback_failures.saturating_add(1);
                    let backoff = RetryPolicy::Backoff {
                        initial_secs: SNOM_RETRY_INITIAL_SECS,
                        max_secs: SNOM_RETRY_MAX_SECS,
                    };
                    self.fallback_retry = backoff
                        .delay_secs(self.fallback_failures)
                        .and_then(|secs| {
                            let retry = at.checked_add(SignedDuration::from_secs(secs as i64));
                            Some((secs, retry.ok()?))
                        })
                        .map(|(secs, at)| Due {
                            at,
                            label: format!("retry {}min", secs / 60),
                            retry: true,
                        });
                }
                self.not_before = retry_after
                    .and_then(|d| at.checked_add(SignedDuration::try_from(d).ok()?).ok());
            }
        }
        self.plan_next(now);
        self.next_poll()
    }

    /// The next timed poll or retry.
    pub fn next_poll(&self) -> Option<Timestamp> {
        self.next_due.as_ref().map(|d| d.at)
    }

    /// The schedule in words.
    pub fn describe(&self) -> String {
        self.schedule.describe()
    }

    /// Runs started so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The triggers waiting for the next run.
    pub fn pending(&self) -> Option<&Causes> {
        self.pending.as_ref().map(|p| &p.causes)
    }

    /// Whether the wall clock was valid at the last call.
    pub fn clock_valid(&self) -> bool {
        self.valid
    }

    fn clock_valid_at(&self, wall: Timestamp) -> bool {
        match (self.clock_declared, self.clock) {
            (Some(v), _) => v,
            (None, ClockValidity::Valid) => true,
            (None, ClockValidity::NotYet) => false,
            (None, ClockValidity::FromSystem) => wall.as_second() >= SANE_CLOCK_SECONDS,
        }
    }

    fn check_clock(&mut self, now: Now) {
        let valid = self.clock_valid_at(now.wall);
        if valid != self.valid {
            self.valid = valid;
            self.plan_next(now);
        }
    }

    /// `now` on the schedule's timeline: the wall clock for wall-clock rules, the anchor plus
    /// monotonic time for relative ones.
    fn sched_now(&self, now: Now) -> Timestamp {
        if self.schedule.needs_wall_clock() {
            return now.wall;
        }
        let elapsed = now.mono.saturating_duration_since(self.base.mono);
        SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|e| self.base.wall.checked_add(e).ok())
            .unwrap_or(Timestamp::MAX)
    }

    fn spread_delay(&mut self, cause: &Cause) -> Duration {
        let max_ms = u64::try_from(self.random_delay.as_millis()).unwrap_or(u64::MAX);
        if !cause.is_spread() || max_ms == 0 {
            return Duration::ZERO;
        }
        self.spread_draws += 1;
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ self.spread_draws.rotate_left(17));
        Duration::from_millis(rng.next_u64() % (max_ms.saturating_add(1)).max(1))
    }

    fn plan_next(&mut self, now: Now) {
        let at = self.sched_now(now);
        let mut due = self.schedule.next_after(at, self.valid).map(|p| Due {
            at: p.at,
            label: p.rule.to_string(),
            retry: p.rule.is_retry(),
        });
        if let Some(fb) = &self.fallback_retry {
            if due.as_ref().is_none_or(|d| fb.at < d.at) {
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
}

#[cfg(test)]
mod tests;

//! When a simulated phone's triggered run starts: the agent's run admission and random delay.
//!
//! This adapter is the only place in the fleet preview that decides admission. It drives the
//! engine's own planner ([`crate::engine::Planner`]: one pending run, the spread delay of the
//! trigger that opened it, the run budget that NOTIFY-caused runs draw from) with no schedule
//! of its own (the simulation asks the schedule itself), so the random delay of start-up and
//! NOTIFY triggers is drawn exactly as the engine draws it. When the engine's admission
//! changes, this file follows it and nothing else in `fleet` does.
//!
//! A simulated run takes no time and always succeeds: it starts and finishes at the same
//! instant.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::config::ProvisioningSettings;
use crate::engine::{Cause, ClockValidity, Finished, Now, Planner, PlannerOptions, RunBudget};
use crate::resync::Transport;
use crate::schedule::{PersistedState, ScheduleSettings};

/// What asks a simulated phone for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// The phone started (when `fetch_at_startup`).
    Startup,
    /// A timed poll of the schedule came due.
    Poll,
    /// A check-sync NOTIFY arrived.
    Notify,
}

/// One phone's admission state.
#[derive(Debug)]
pub(super) struct PhonePlan {
    planner: Planner,
    /// The planner's monotonic clock: `origin` stands for `from`.
    origin: Instant,
    from: Timestamp,
}

impl PhonePlan {
    /// A phone whose draws come from `seed`, simulated from `from`; `origin` is any instant
    /// standing for `from` on the planner's monotonic clock.
    pub(super) fn new(
        prov: &ProvisioningSettings,
        seed: u64,
        from: Timestamp,
        origin: Instant,
    ) -> PhonePlan {
        let (planner, _) = Planner::new(
            Now {
                mono: origin,
                wall: from,
            },
            &ScheduleSettings::Off,
            TimeZone::UTC,
            PersistedState::default(),
            PlannerOptions {
                run_budget: RunBudget::new(prov.run_budget, prov.run_budget_refill),
                random_delay: prov.random_delay,
                seed,
                clock: ClockValidity::Valid,
                busy_max_wait: prov.busy_max_wait,
            },
        );
        PhonePlan {
            planner,
            origin,
            from,
        }
    }

    /// Records a trigger at `now` (not before `from`).
    pub(super) fn trigger(&mut self, now: Timestamp, trigger: Trigger) {
        let cause = match trigger {
            Trigger::Startup => Cause::Startup,
            Trigger::Poll => Cause::Schedule {
                rule: String::new(),
            },
            Trigger::Notify => Cause::Notify {
                source: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060)),
                transport: Transport::Udp,
                event: String::new(),
                reboot: None,
            },
        };
        let now = self.now(now);
        self.planner.trigger(now, cause);
    }

    /// When the pending run may start; `None` when none is pending.
    pub(super) fn due(&self) -> Option<Timestamp> {
        self.planner.pending()?;
        let due = self.planner.poll_timeout()?;
        let since = SignedDuration::try_from(due.duration_since(self.origin)).ok()?;
        self.from.checked_add(since).ok()
    }

    /// Starts (and, the run taking no time, finishes) the pending run if it is due at `now`.
    pub(super) fn start(&mut self, now: Timestamp) -> bool {
        let now = self.now(now);
        let started = self.planner.handle_timeout(now).is_some();
        if started {
            self.planner.run_finished(now, Finished::Success);
        }
        started
    }

    fn now(&self, at: Timestamp) -> Now {
        let since = Duration::try_from(at.duration_since(self.from)).unwrap_or(Duration::ZERO);
        Now {
            mono: self.origin + since,
            wall: at,
        }
    }
}

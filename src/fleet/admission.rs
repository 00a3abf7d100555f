//! When a simulated phone's triggered run starts: the agent's run admission and random delay.
//!
//! This adapter is the only place in the fleet preview that decides admission. Today it drives
//! the engine's own coalescing gate ([`crate::engine::gate::Gate`]: one pending run, the
//! spread delay of the trigger that opened it, `min_interval` between starts) and draws the
//! random delay of start-up and NOTIFY triggers as the engine does. When the engine's
//! admission changes, this file follows it and nothing else in `fleet` does.
//!
//! A simulated run takes no time and always succeeds: it starts and finishes at the same
//! instant.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use rand_core::{RngCore, SeedableRng};

use crate::config::ProvisioningSettings;
use crate::engine::gate::Gate;
use crate::engine::Cause;
use crate::resync::Transport;

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
pub(super) struct Admission {
    gate: Gate,
    /// The gate counts in [`Instant`]s: `origin` stands for `from`.
    origin: Instant,
    from: Timestamp,
    seed: u64,
    max_delay_ms: u64,
    draws: u64,
}

impl Admission {
    /// A phone whose draws come from `seed`, simulated from `from`; `origin` is any instant
    /// standing for `from` on the gate's clock.
    pub(super) fn new(
        prov: &ProvisioningSettings,
        seed: u64,
        from: Timestamp,
        origin: Instant,
    ) -> Admission {
        Admission {
            gate: Gate::new(prov.min_interval),
            origin,
            from,
            seed,
            max_delay_ms: u64::try_from(prov.random_delay.as_millis()).unwrap_or(u64::MAX),
            draws: 0,
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
        let delay = self.spread_delay(&cause);
        let now = self.instant(now);
        self.gate.trigger(now, cause, delay);
    }

    /// When the pending run may start; `None` when none is pending.
    pub(super) fn due(&self) -> Option<Timestamp> {
        let due = self.gate.due()?;
        let since = SignedDuration::try_from(due.duration_since(self.origin)).ok()?;
        self.from.checked_add(since).ok()
    }

    /// Starts (and, the run taking no time, finishes) the pending run if it is due at `now`.
    pub(super) fn start(&mut self, now: Timestamp) -> bool {
        let now = self.instant(now);
        let started = self.gate.start(now).is_some();
        if started {
            self.gate.finish();
        }
        started
    }

    fn instant(&self, at: Timestamp) -> Instant {
        let since = Duration::try_from(at.duration_since(self.from)).unwrap_or(Duration::ZERO);
        self.origin + since
    }

    /// The engine's spread delay (`Engine::spread_delay` in src/engine/mod.rs): for start-up
    /// and NOTIFY triggers, uniform in 0..=`random_delay` milliseconds from a ChaCha8 stream
    /// seeded by the phone's seed and the number of such draws so far.
    fn spread_delay(&mut self, cause: &Cause) -> Duration {
        if !cause.is_spread() || self.max_delay_ms == 0 {
            return Duration::ZERO;
        }
        self.draws += 1;
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ self.draws.rotate_left(17));
        Duration::from_millis(rng.next_u64() % (self.max_delay_ms + 1))
    }
}

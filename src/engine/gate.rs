//! When a run may start: coalescing, the random spread delay and the minimum interval.
//!
//! Sans-IO: the caller passes the monotonic `now`. At most one run is in flight; every
//! trigger that arrives while one runs, or while one waits to start, joins a single pending
//! run. A pending run starts at the later of its spread instant (the trigger time plus the
//! random delay drawn for the first trigger) and `min_interval` after the previous start.

use std::time::{Duration, Instant};

use super::outcome::{Cause, Causes};

/// A run waiting to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The merged triggers.
    pub causes: Causes,
    /// Not before this instant (the random spread delay).
    pub not_before: Instant,
}

/// The coalescing gate.
#[derive(Debug, Clone)]
pub struct Gate {
    min_interval: Duration,
    running: bool,
    last_start: Option<Instant>,
    pending: Option<Pending>,
}

impl Gate {
    /// A gate that lets runs start at least `min_interval` apart.
    pub fn new(min_interval: Duration) -> Gate {
        Gate {
            min_interval,
            running: false,
            last_start: None,
            pending: None,
        }
    }

    /// Records a trigger at `now`; `delay` is the spread delay drawn for it, used only when
    /// it opens a new pending run.
    pub fn trigger(&mut self, now: Instant, cause: Cause, delay: Duration) {
        match &mut self.pending {
            Some(p) => p.causes.merge(&cause),
            None => {
                self.pending = Some(Pending {
                    causes: Causes::new(cause),
                    not_before: now + delay,
                })
            }
        }
    }

    /// Records a group of triggers merged elsewhere; `delay` as for [`Gate::trigger`].
    pub fn trigger_all(&mut self, now: Instant, causes: Causes, delay: Duration) {
        match &mut self.pending {
            Some(p) => p.causes.absorb(causes),
            None => {
                self.pending = Some(Pending {
                    causes,
                    not_before: now + delay,
                })
            }
        }
    }

    /// Whether a run is in flight.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The pending run, if any.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// When the pending run may start; `None` while a run is in flight or none is pending.
    pub fn due(&self) -> Option<Instant> {
        if self.running {
            return None;
        }
        let pending = self.pending.as_ref()?;
        let spaced = self
            .last_start
            .map(|t| t + self.min_interval)
            .unwrap_or(pending.not_before);
        Some(pending.not_before.max(spaced))
    }

    /// Starts the pending run if it is due at `now`.
    pub fn start(&mut self, now: Instant) -> Option<Causes> {
        if self.due()? > now {
            return None;
        }
        self.running = true;
        self.last_start = Some(now);
        self.pending.take().map(|p| p.causes)
    }

    /// Marks the run in flight as finished.
    pub fn finish(&mut self) {
        self.running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(reboot: Option<bool>) -> Cause {
        Cause::Notify {
            source: "127.0.0.1:5060".parse().unwrap(),
            transport: crate::Transport::Udp,
            event: "check-sync".into(),
            reboot,
        }
    }

    #[test]
    fn a_burst_gives_one_run_and_one_follow_up() {
        let t0 = Instant::now();
        let mut gate = Gate::new(Duration::from_secs(5));
        gate.trigger(t0, notify(None), Duration::ZERO);
        let first = gate.start(t0).unwrap();
        assert_eq!(first.count, 1);
        // 1000 NOTIFYs arrive while the first run is in flight, then after it finished.
        for i in 0..1000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 100);
            gate.trigger(now, notify(None), Duration::ZERO);
            assert_eq!(
                gate.start(now),
                None,
                "nothing starts while a run is in flight"
            );
            if i == 10 {
                gate.finish();
            }
        }
        // The follow-up waits for the minimum interval, then carries all 1000.
        assert_eq!(gate.due(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(gate.start(t0 + Duration::from_secs(4)), None);
        let second = gate.start(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(second.count, 1000);
        gate.finish();
        assert_eq!(gate.due(), None);
        assert_eq!(gate.start(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn the_spread_delay_of_the_first_trigger_holds() {
        let t0 = Instant::now();
        let mut gate = Gate::new(Duration::ZERO);
        gate.trigger(t0, Cause::Startup, Duration::from_secs(30));
        gate.trigger(t0, notify(Some(true)), Duration::ZERO);
        assert_eq!(gate.due(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(gate.start(t0 + Duration::from_secs(29)), None);
        let run = gate.start(t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(run.first, Cause::Startup);
        assert_eq!(run.count, 2);
        assert_eq!(run.reboot_wish, Some(true));
    }

    #[test]
    fn reboot_wishes_merge_towards_a_reboot() {
        let mut c = Causes::new(notify(Some(false)));
        assert_eq!(c.reboot_wish, Some(false));
        c.merge(&Cause::Startup);
        assert_eq!(c.reboot_wish, Some(false));
        c.merge(&notify(Some(true)));
        assert_eq!(c.reboot_wish, Some(true));
        c.merge(&notify(Some(false)));
        assert_eq!(c.reboot_wish, Some(true));
        assert_eq!(c.count, 4);
    }
}

//! Run admission: a small budget of runs, refilled one per interval.
//!
//! Sans-IO and free of tokio: the caller passes the monotonic `now`. A run that draws from
//! the budget (one caused by a NOTIFY or by the application) starts at once while a token is
//! left; when none is, it waits for the next one. The budget starts full, so a check-sync in a
//! quiet spell is fetched at once, while a flood costs at most `capacity` runs plus one per
//! `refill`.

use std::time::{Duration, Instant};

use crate::config::{DEFAULT_RUN_BUDGET, DEFAULT_RUN_BUDGET_REFILL};

/// A budget of `capacity` runs, one of which comes back every `refill`.
///
/// A refill of zero admits every run (the one-run-in-flight rule of the planner still holds).
///
/// With 3 runs and 20 s: three runs at once, the fourth 20 s after the first
/// (`a_full_budget_admits_its_capacity_then_one_per_refill`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunBudget {
    capacity: u32,
    refill: Duration,
    tokens: u32,
    /// Start of the refill period in progress; `None` while the budget is full.
    since: Option<Instant>,
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget::new(DEFAULT_RUN_BUDGET, DEFAULT_RUN_BUDGET_REFILL)
    }
}

impl RunBudget {
    /// A full budget of `capacity` runs (at least 1), one back every `refill`.
    pub fn new(capacity: u32, refill: Duration) -> RunBudget {
        let capacity = capacity.max(1);
        RunBudget {
            capacity,
            refill,
            tokens: capacity,
            since: None,
        }
    }

    /// Runs that may start at `now` without waiting.
    #[cfg(test)]
    pub fn available(&self, now: Instant) -> u32 {
        if self.refill.is_zero() {
            return self.capacity;
        }
        let mut copy = self.clone();
        copy.catch_up(now);
        copy.tokens
    }

    /// Takes a run from the budget at `now`; `false` (taking nothing) when it is empty.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.refill.is_zero() {
            return true;
        }
        self.catch_up(now);
        if self.tokens == 0 {
            return false;
        }
        if self.tokens == self.capacity {
            self.since = Some(now);
        }
        self.tokens -= 1;
        true
    }

    /// When the next run may be taken, if the budget is empty; `None` when one may be taken
    /// now (as of the last [`RunBudget::try_take`]).
    pub fn next_token_at(&self) -> Option<Instant> {
        if self.refill.is_zero() || self.tokens > 0 {
            return None;
        }
        self.since.map(|s| s + self.refill)
    }

    fn catch_up(&mut self, now: Instant) {
        let Some(since) = self.since else { return };
        let elapsed = now.saturating_duration_since(since);
        let periods = elapsed.as_nanos() / self.refill.as_nanos();
        let missing = self.capacity - self.tokens;
        if periods >= u128::from(missing) {
            self.tokens = self.capacity;
            self.since = None;
        } else {
            // periods < missing <= u32::MAX
            let periods = periods as u32;
            self.tokens += periods;
            self.since = Some(since + self.refill * periods);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_budget_admits_its_capacity_then_one_per_refill() {
        let t0 = Instant::now();
        let mut a = RunBudget::new(3, 20 * S);
        assert_eq!(a.available(t0), 3);
        for _ in 0..3 {
            assert!(a.try_take(t0));
        }
        assert!(!a.try_take(t0 + 19 * S));
        assert_eq!(a.next_token_at(), Some(t0 + 20 * S));
        assert!(a.try_take(t0 + 20 * S));
        assert!(!a.try_take(t0 + 39 * S));
        assert!(a.try_take(t0 + 40 * S));
        // Left alone, it fills up again, and no further.
        assert_eq!(a.available(t0 + 1000 * S), 3);
        for _ in 0..3 {
            assert!(a.try_take(t0 + 1000 * S));
        }
        assert!(!a.try_take(t0 + 1000 * S));
    }

    #[test]
    fn refills_count_from_the_first_draw_of_a_full_budget() {
        let t0 = Instant::now();
        let mut a = RunBudget::new(3, 20 * S);
        assert!(a.try_take(t0)); // 2 left; refill period starts at t0
        assert!(a.try_take(t0 + 15 * S)); // 1 left
        assert_eq!(a.available(t0 + 20 * S), 2);
        assert_eq!(a.available(t0 + 40 * S), 3);
        assert!(a.try_take(t0 + 25 * S)); // 1 left, period started at 20
        assert!(a.try_take(t0 + 25 * S)); // 0 left
        assert_eq!(a.next_token_at(), Some(t0 + 40 * S));
    }

    #[test]
    fn a_zero_refill_admits_everything() {
        let t0 = Instant::now();
        let mut a = RunBudget::new(1, Duration::ZERO);
        for i in 0..1000 {
            assert!(a.try_take(t0 + i * S / 1000));
        }
        assert_eq!(a.next_token_at(), None);
    }
}

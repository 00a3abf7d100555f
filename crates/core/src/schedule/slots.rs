//! The instants of each rule shape: pure functions of the rule, the zone, the seed and `now`.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand_chacha::ChaCha8Rng;

use super::calendar::{self, Day};
use super::draw;
use super::LocalTime;

fn secs(n: u64) -> Option<SignedDuration> {
    i64::try_from(n).ok().map(SignedDuration::from_secs)
}

/// First instant `armed + k * every_secs` (k >= 1) strictly after `now`.
pub(super) fn every_after(armed: Timestamp, every_secs: u64, now: Timestamp) -> Option<Timestamp> {
    let every = i64::try_from(every_secs.max(1)).ok()?;
    let elapsed = now.duration_since(armed);
    // Whole seconds, rounded towards the past, so `now` exactly on a slot moves to the next.
    let mut whole = elapsed.as_secs();
    if elapsed.subsec_nanos() < 0 {
        whole -= 1;
    }
    let k = if whole < 0 { 1 } else { whole / every + 1 };
    armed
        .checked_add(SignedDuration::from_secs(k.checked_mul(every)?))
        .ok()
}

/// First daily instant of local time `at` strictly after `now`.
pub(super) fn daily_after(tz: &TimeZone, at: LocalTime, now: Timestamp) -> Option<Timestamp> {
    let today = calendar::local_day(tz, now);
    // Yesterday's slot can only be later than `now` in a zone whose gap crosses midnight.
    (today - 1..=today + 2)
        .filter_map(|day| calendar::instant(tz, day, at))
        .find(|&ts| ts > now)
}

/// The first day of a days-window rule: the local calendar day after the setting changed.
pub(super) fn first_window_day(tz: &TimeZone, changed_at: Timestamp) -> Day {
    calendar::local_day(tz, changed_at) + 1
}

/// The drawn instant of the window dated `day`; the same for the same seed and day, however
/// often and in whatever order it is asked for.
pub(super) fn window_poll(
    tz: &TimeZone,
    seed: u64,
    day: Day,
    start: LocalTime,
    end: LocalTime,
) -> Option<Timestamp> {
    let window = calendar::window(tz, day, start, end)?;
    let mut rng = draw::rng(seed, draw::DOMAIN_WINDOWS, day as u64);
    let offset = draw::uniform_inclusive(&mut rng, window.width_secs());
    window.start.checked_add(secs(offset)?).ok()
}

/// First window poll, on days `first_day + k * every_days`, strictly after `now`.
pub(super) fn days_window_after(
    tz: &TimeZone,
    seed: u64,
    first_day: Day,
    every_days: u32,
    start: LocalTime,
    end: LocalTime,
    now: Timestamp,
) -> Option<Timestamp> {
    let every = i64::from(every_days.max(1));
    // A window dated yesterday may still be open (it can run past midnight).
    let from = calendar::local_day(tz, now) - 1;
    let k0 = if from <= first_day {
        0
    } else {
        (from - first_day) / every
    };
    // Windows are disjoint and ordered, so the answer is at most a few slots ahead.
    for k in k0..k0.saturating_add(8) {
        let day = first_day.checked_add(k.checked_mul(every)?)?;
        if let Some(ts) = window_poll(tz, seed, day, start, end) {
            if ts > now {
                return Some(ts);
            }
        }
    }
    None
}

/// Chained random intervals: poll `i` comes `max(1, draw_i)` seconds after poll `i - 1`,
/// poll 0 being the arming instant (not itself a poll), `draw_i` uniform in `0..=max_secs`.
///
/// The chain is walked forward from a cursor and rebuilt from the start when asked about an
/// earlier instant, so answers depend only on the seed, the arming instant and `now`.
#[derive(Clone, Debug)]
pub(super) struct Chain {
    seed: u64,
    armed: Timestamp,
    max_secs: u64,
    rng: ChaCha8Rng,
    /// Index of `next`.
    index: u64,
    /// Poll `index - 1` (the arming instant while `index` <= 1).
    prev: Timestamp,
    /// Poll `index` (the arming instant while `index` is 0).
    next: Timestamp,
}

impl Chain {
    pub(super) fn new(seed: u64, armed: Timestamp, max_secs: u64) -> Chain {
        Chain {
            seed,
            armed,
            max_secs: max_secs.max(1),
            rng: draw::rng(seed, draw::DOMAIN_INTERVALS, 0),
            index: 0,
            prev: armed,
            next: armed,
        }
    }

    fn step(&mut self) -> Option<()> {
        let gap = draw::uniform_inclusive(&mut self.rng, self.max_secs).max(1);
        let next = self.next.checked_add(secs(gap)?).ok()?;
        self.prev = self.next;
        self.next = next;
        self.index += 1;
        Some(())
    }

    /// First poll of the chain strictly after `now`.
    pub(super) fn after(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.index > 1 && now < self.prev {
            *self = Chain::new(self.seed, self.armed, self.max_secs);
        }
        while self.index == 0 || self.next <= now {
            self.step()?;
        }
        Some(self.next)
    }
}

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

/// The phase of a MAC-derived slot in a period of `len` days or weeks: `0..len`.
fn phase(seed: u64, len: u32) -> i64 {
    let mut rng = draw::rng(seed, draw::DOMAIN_PHASE, u64::from(len));
    draw::uniform_inclusive(&mut rng, u64::from(len.max(1)) - 1) as i64
}

/// First window poll of a [`Rule::MacDaysWindow`](super::Rule::MacDaysWindow) strictly after
/// `now`: the days `d` with `(d + phase) % every_days == 0`, the phase drawn from the seed.
pub(super) fn mac_days_after(
    tz: &TimeZone,
    seed: u64,
    every_days: u32,
    start: LocalTime,
    end: LocalTime,
    now: Timestamp,
) -> Option<Timestamp> {
    let every = i64::from(every_days.max(1));
    let phase = phase(seed, every_days.max(1));
    // A window dated yesterday may still be open (it can run past midnight).
    let from = calendar::local_day(tz, now) - 1;
    let first = from + (every - (from + phase).rem_euclid(every)) % every;
    for k in 0..8i64 {
        let day = first.checked_add(k.checked_mul(every)?)?;
        if let Some(ts) = window_poll(tz, seed, day, start, end) {
            if ts > now {
                return Some(ts);
            }
        }
    }
    None
}

/// Day of the week of a day number: 0 is Sunday (1970-01-01 was a Thursday).
pub(super) fn weekday(day: Day) -> u32 {
    (day + 4).rem_euclid(7) as u32
}

/// First window poll of a [`Rule::Weekly`](super::Rule::Weekly) strictly after `now`.
pub(super) fn weekly_after(
    tz: &TimeZone,
    seed: u64,
    days: u8,
    every_weeks: u8,
    start: LocalTime,
    end: LocalTime,
    now: Timestamp,
) -> Option<Timestamp> {
    let listed: Vec<u32> = (0..7).filter(|d| days & (1 << d) != 0).collect();
    if listed.is_empty() {
        return None;
    }
    let from = calendar::local_day(tz, now) - 1;
    if every_weeks == 0 {
        for day in from..from + 16 {
            if listed.contains(&weekday(day)) {
                if let Some(ts) = window_poll(tz, seed, day, start, end) {
                    if ts > now {
                        return Some(ts);
                    }
                }
            }
        }
        return None;
    }
    // Weeks start on Sunday; week w holds days 7w - 4 ..= 7w + 2.
    let every = i64::from(every_weeks);
    let phase = phase(seed, u32::from(every_weeks));
    let week_of = |day: Day| (day + 4).div_euclid(7);
    let w0 = week_of(from);
    let first = w0 + (every - (w0 + phase).rem_euclid(every)) % every;
    for k in 0..4i64 {
        let week = first.checked_add(k.checked_mul(every)?)?;
        let mut rng = draw::rng(seed, draw::DOMAIN_WEEKDAY, week as u64);
        let pick = listed[draw::uniform_inclusive(&mut rng, listed.len() as u64 - 1) as usize];
        let day = week * 7 - 4 + i64::from(pick);
        if let Some(ts) = window_poll(tz, seed, day, start, end) {
            if ts > now {
                return Some(ts);
            }
        }
    }
    None
}

/// First poll of a [`Rule::PhasedEvery`](super::Rule::PhasedEvery) strictly after `now`: the
/// first comes a drawn `1..=every_secs` seconds after `armed`, then one every `every_secs`.
pub(super) fn phased_every_after(
    armed: Timestamp,
    seed: u64,
    every_secs: u64,
    now: Timestamp,
) -> Option<Timestamp> {
    let every = every_secs.max(1);
    let mut rng = draw::rng(seed, draw::DOMAIN_INTERVALS, 1);
    let offset = draw::uniform_inclusive(&mut rng, every - 1) + 1;
    let first = armed.checked_add(secs(offset)?).ok()?;
    if first > now {
        return Some(first);
    }
    every_after(first, every, now)
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
    /// Fixed part and random extra of each interval (Cisco steps); `None`: `0..=max_secs`.
    steps: Option<super::rule::Steps>,
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
            steps: None,
            rng: draw::rng(seed, draw::DOMAIN_INTERVALS, 0),
            index: 0,
            prev: armed,
            next: armed,
        }
    }

    /// Chained intervals of a step list: interval `i` is step `i` (the last one repeating)
    /// plus a draw of its random extra.
    pub(super) fn with_steps(seed: u64, armed: Timestamp, steps: super::rule::Steps) -> Chain {
        Chain {
            steps: Some(steps),
            ..Chain::new(seed, armed, 1)
        }
    }

    fn step(&mut self) -> Option<()> {
        let gap = match self.steps {
            None => draw::uniform_inclusive(&mut self.rng, self.max_secs),
            Some(steps) => {
                let (fixed, extra) = steps.get(self.index);
                let extra = if extra > 0 {
                    draw::uniform_inclusive(&mut self.rng, u64::from(extra))
                } else {
                    0
                };
                u64::from(fixed) + extra
            }
        }
        .max(1);
        let next = self.next.checked_add(secs(gap)?).ok()?;
        self.prev = self.next;
        self.next = next;
        self.index += 1;
        Some(())
    }

    /// First poll of the chain strictly after `now`.
    pub(super) fn after(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.index > 1 && now < self.prev {
            *self = Chain {
                steps: self.steps,
                ..Chain::new(self.seed, self.armed, self.max_secs)
            };
        }
        while self.index == 0 || self.next <= now {
            self.step()?;
        }
        Some(self.next)
    }
}

//! Wall-clock arithmetic: local calendar days and local times in a time zone.
//!
//! A local time that does not exist on a day (spring-forward gap) is shifted forward by the
//! length of the gap, and one that occurs twice (fall-back fold) resolves to its first
//! occurrence. That is RFC 5545's rule and jiff's "compatible" disambiguation.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::LocalTime;

const SECS_PER_DAY: i64 = 86_400;
const EPOCH: Date = Date::constant(1970, 1, 1);

/// A local calendar day, counted from 1970-01-01 (negative before it).
pub(super) type Day = i64;

/// The day number of a civil date.
pub(super) fn day_of(date: Date) -> Day {
    date.duration_since(EPOCH)
        .as_secs()
        .div_euclid(SECS_PER_DAY)
}

/// The civil date of a day number, if it is within jiff's range.
pub(super) fn date_of(day: Day) -> Option<Date> {
    let secs = day.checked_mul(SECS_PER_DAY)?;
    EPOCH.checked_add(SignedDuration::from_secs(secs)).ok()
}

/// The local calendar day that `ts` falls on in `tz`.
pub(super) fn local_day(tz: &TimeZone, ts: Timestamp) -> Day {
    day_of(tz.to_datetime(ts).date())
}

/// The instant of local time `time` on local day `day`: shifted forward through a gap, the
/// first occurrence in a fold.
pub(super) fn instant(tz: &TimeZone, day: Day, time: LocalTime) -> Option<Timestamp> {
    let date = date_of(day)?;
    tz.to_timestamp(date.to_datetime(time.to_civil())).ok()
}

/// The span of instants a random window dated `day` may poll in, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Window {
    /// First allowed instant.
    pub start: Timestamp,
    /// Last allowed instant (equal to `start` for a zero-length window).
    pub end: Timestamp,
}

impl Window {
    /// Whole seconds from `start` to `end`.
    pub(super) fn width_secs(&self) -> u64 {
        self.end.duration_since(self.start).as_secs().max(0) as u64
    }
}

/// The window `start..=end` (local times) dated `day`.
///
/// An `end` before `start` means the window runs past midnight into the next day. Both ends
/// are resolved like single times (gap: shifted forward, fold: first occurrence). Two
/// adjustments keep every window a real, ordered span of instants:
/// - a window never reaches the start of the same window on the next day (it ends one second
///   before it), so windows of consecutive days never overlap;
/// - if the resolved end falls before the resolved start (only possible when the start lies
///   in a gap and the end shortly after it), the window shrinks to its resolved start.
pub(super) fn window(tz: &TimeZone, day: Day, start: LocalTime, end: LocalTime) -> Option<Window> {
    let start_at = instant(tz, day, start)?;
    let end_day = if end < start {
        day.checked_add(1)?
    } else {
        day
    };
    let mut end_at = instant(tz, end_day, end)?;
    if let Some(next_start) = day
        .checked_add(1)
        .and_then(|next| instant(tz, next, start))
        .and_then(|next| next.checked_sub(SignedDuration::from_secs(1)).ok())
    {
        end_at = end_at.min(next_start);
    }
    Some(Window {
        start: start_at,
        end: end_at.max(start_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }

    #[test]
    fn day_numbers_round_trip() {
        for d in [
            date(1970, 1, 1),
            date(1969, 12, 31),
            date(2026, 3, 8),
            date(2026, 12, 31),
        ] {
            assert_eq!(date_of(day_of(d)), Some(d));
        }
        assert_eq!(day_of(date(1970, 1, 2)), 1);
        assert_eq!(day_of(date(1969, 12, 31)), -1);
    }

    #[test]
    fn window_past_midnight_ends_next_day() {
        let tz = TimeZone::UTC;
        let day = day_of(date(2026, 5, 1));
        let w = window(&tz, day, t("23:50"), t("00:10")).unwrap();
        assert_eq!(w.start.to_string(), "2026-05-01T23:50:00Z");
        assert_eq!(w.end.to_string(), "2026-05-02T00:10:00Z");
        assert_eq!(w.width_secs(), 1200);
    }

    #[test]
    fn zero_length_and_almost_full_day_windows() {
        let tz = TimeZone::UTC;
        let day = day_of(date(2026, 5, 1));
        let w = window(&tz, day, t("09:00"), t("09:00")).unwrap();
        assert_eq!(w.start, w.end);
        let w = window(&tz, day, t("09:00"), t("08:59")).unwrap();
        assert_eq!(w.width_secs(), 86_400 - 60);
    }
}

//! Property tests: random polls inside their window or period, polls strictly increasing,
//! daily polls once per local day, retries never a tight loop.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::calendar;
use super::tests::zone;
use super::*;

fn zone_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("UTC"), Just("America/New_York"), Just("Europe/Berlin")]
}

fn local_time() -> impl Strategy<Value = LocalTime> {
    (0u8..24, 0u8..60).prop_map(|(h, m)| LocalTime::new(h, m).unwrap())
}

/// An instant from 2020 to 2029, at whole seconds.
fn instant() -> impl Strategy<Value = Timestamp> {
    (1_577_836_800i64..1_893_456_000).prop_map(|s| Timestamp::from_second(s).unwrap())
}

fn snom(mode: SnomMode, period_secs: u64, time: LocalTime, end: LocalTime) -> ScheduleSettings {
    ScheduleSettings::Snom(SnomPolling {
        enabled: true,
        mode,
        period_secs,
        time: Some(time),
        time_rand_end: Some(end),
        settings_refresh_timer_secs: 0,
    })
}

fn panasonic(cyclic_min: u32, retry_min: u32, resync: Option<LocalTime>) -> ScheduleSettings {
    ScheduleSettings::Panasonic(PanasonicPolling {
        cyclic: true,
        cyclic_interval_min: cyclic_min,
        retry_interval_min: retry_min,
        resync_time: resync.map(|t| t.to_string()),
    })
}

fn schedule(settings: &ScheduleSettings, tz: &TimeZone, seed: u64, at: Timestamp) -> Schedule {
    let state = PersistedState {
        changed_at: Some(at),
        last_success: None,
    };
    let (schedule, warnings) = Schedule::new(settings, tz.clone(), state, seed, at);
    assert!(warnings.is_empty(), "{warnings:?}");
    schedule
}

/// Every mode, with arbitrary parameters.
fn any_settings() -> impl Strategy<Value = ScheduleSettings> {
    prop_oneof![
        (1u64..200_000).prop_map(|p| snom(
            SnomMode::Rel,
            p,
            LocalTime::MIDNIGHT,
            LocalTime::MIDNIGHT
        )),
        local_time().prop_map(|t| snom(SnomMode::Abs, 0, t, t)),
        (1u64..86_400).prop_map(|p| snom(
            SnomMode::Random,
            p,
            LocalTime::MIDNIGHT,
            LocalTime::MIDNIGHT
        )),
        (1u64..=10, local_time(), local_time()).prop_map(|(d, s, e)| snom(
            SnomMode::Random,
            d * 86_400,
            s,
            e
        )),
        (1u32..=40_320, 1u32..=1440).prop_map(|(c, r)| panasonic(c, r, None)),
        (1u32..=1440, local_time()).prop_map(|(r, t)| panasonic(60, r, Some(t))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_intervals_stay_within_the_period_and_increase(
        seed in any::<u64>(),
        period in prop_oneof![1u64..5, 1u64..86_400],
        armed in instant(),
    ) {
        let tz = TimeZone::UTC;
        let mut s = schedule(&snom(SnomMode::Random, period, LocalTime::MIDNIGHT, LocalTime::MIDNIGHT), &tz, seed, armed);
        let mut prev = armed;
        for poll in s.polls(armed, false).take(300) {
            let gap = poll.at.duration_since(prev).as_secs();
            prop_assert!(gap >= 1 && gap as u64 <= period.max(1), "gap {} period {}", gap, period);
            prev = poll.at;
        }
    }

    #[test]
    fn random_day_windows_hold_their_polls(
        seed in any::<u64>(),
        name in zone_name(),
        every_days in 1u64..=10,
        start in local_time(),
        end in local_time(),
        changed_at in instant(),
    ) {
        let tz = zone(name);
        let mut s = schedule(&snom(SnomMode::Random, every_days * 86_400, start, end), &tz, seed, changed_at);
        let first = calendar::local_day(&tz, changed_at) + 1;
        let n = every_days as i64;
        let mut prev: Option<(Timestamp, i64)> = None;
        for poll in s.polls(changed_at, true).take(40) {
            let day = calendar::local_day(&tz, poll.at);
            let slot = [day, day - 1].into_iter().find(|&d| {
                d >= first
                    && (d - first) % n == 0
                    && calendar::window(&tz, d, start, end)
                        .is_some_and(|w| w.start <= poll.at && poll.at <= w.end)
            });
            prop_assert!(slot.is_some(), "{} outside every window", poll.to_line(&tz));
            let slot = slot.unwrap();
            match prev {
                None => prop_assert_eq!(slot, first),
                Some((at, prev_slot)) => {
                    prop_assert!(poll.at > at);
                    prop_assert_eq!(slot, prev_slot + n, "a slot was skipped or repeated");
                }
            }
            prev = Some((poll.at, slot));
        }
    }

    #[test]
    fn daily_polls_run_once_per_local_day(
        name in zone_name(),
        at in local_time(),
        from in instant(),
        panasonic_rule in any::<bool>(),
    ) {
        check_daily(&zone(name), at, from, panasonic_rule, 60)?;
    }

    #[test]
    fn relative_polls_are_exact_multiples_from_arming(
        every in 1u64..1_000_000,
        armed in instant(),
        offset in -1_000_000i64..100_000_000,
        nanos in 0i32..1_000_000_000,
    ) {
        let tz = TimeZone::UTC;
        let mut s = schedule(&snom(SnomMode::Rel, every, LocalTime::MIDNIGHT, LocalTime::MIDNIGHT), &tz, 0, armed);
        let now = armed + SignedDuration::new(offset, nanos);
        let poll = s.next_after(now, false).unwrap();
        let since = poll.at.duration_since(armed).as_secs();
        prop_assert!(poll.at > now);
        prop_assert!(since > 0 && (since as u64).is_multiple_of(every));
        prop_assert!(since as u64 == every || poll.at.duration_since(now).as_secs() as u64 <= every);
    }

    #[test]
    fn next_after_is_the_first_poll_strictly_after_now(
        settings in any_settings(),
        name in zone_name(),
        seed in any::<u64>(),
        armed in instant(),
        ahead in 0i64..(20 * 86_400),
    ) {
        let tz = zone(name);
        let now = armed + SignedDuration::from_secs(ahead);
        let mut direct = schedule(&settings, &tz, seed, armed);
        let poll = direct.next_after(now, true).unwrap();
        prop_assert!(poll.at > now);
        prop_assert_eq!(direct.next_after(now, true), Some(poll));
        // Walking the polls from the arming instant meets the same poll first after `now`.
        let mut walked = schedule(&settings, &tz, seed, armed);
        let mut cursor = armed;
        let mut found = None;
        for _ in 0..100_000 {
            let p = walked.next_after(cursor, true).unwrap();
            prop_assert!(p.at > cursor);
            if p.at > now {
                found = Some(p);
                break;
            }
            cursor = p.at;
        }
        // Far-apart steps may jump over `now` only to land on the same next poll.
        if let Some(found) = found {
            prop_assert_eq!(found, poll);
        }
    }

    #[test]
    fn retries_never_loop_tightly_and_never_stop(
        settings in any_settings(),
        name in zone_name(),
        seed in any::<u64>(),
        armed in instant(),
        failures in proptest::collection::vec(0i64..7200, 1..20),
    ) {
        let tz = zone(name);
        let mut s = schedule(&settings, &tz, seed, armed);
        let snom = matches!(settings, ScheduleSettings::Snom(_));
        let mut failed_at = armed;
        for extra in failures {
            let regular = s.clone().regular_poll_after(failed_at);
            let retry = s.retry_after_failure(failed_at, true);
            prop_assert!(retry.is_some(), "retries stopped");
            let retry = retry.unwrap();
            let wait = retry.at.duration_since(failed_at);
            prop_assert!(retry.at > failed_at);
            let floor = regular
                .map(|r| r.at.duration_since(failed_at))
                .unwrap_or(SignedDuration::MAX)
                .min(SignedDuration::from_secs(60));
            prop_assert!(wait >= floor, "retry after {:?}, floor {:?}", wait, floor);
            if snom {
                prop_assert!(wait <= SignedDuration::from_secs(SNOM_RETRY_MAX_SECS as i64));
            }
            failed_at = retry.at + SignedDuration::from_secs(extra);
        }
    }
}

/// Daily polls of `at` from `from`: one per local day, none skipped, each at `at` on its
/// day, shifted forward through a gap, at the first occurrence in a fold.
fn check_daily(
    tz: &TimeZone,
    at: LocalTime,
    from: Timestamp,
    panasonic_rule: bool,
    count: usize,
) -> Result<(), TestCaseError> {
    let settings = if panasonic_rule {
        panasonic(60, 5, Some(at))
    } else {
        snom(SnomMode::Abs, 0, at, at)
    };
    let mut s = schedule(&settings, tz, 1, from);
    let mut prev: Option<(Timestamp, i64)> = None;
    for poll in s.polls(from, true).take(count) {
        let date = tz.to_datetime(poll.at).date();
        let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(at.to_civil()));
        let want = if matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
            ambiguous.later().unwrap()
        } else {
            ambiguous.earlier().unwrap()
        };
        prop_assert_eq!(poll.at, want, "{}", poll.to_line(tz));
        let day = calendar::day_of(date);
        if let Some((prev_at, prev_day)) = prev {
            prop_assert!(poll.at > prev_at);
            prop_assert_eq!(day, prev_day + 1, "a day was skipped or polled twice");
        }
        prev = Some((poll.at, day));
    }
    Ok(())
}

/// Every 10 minutes of the day, a whole year, in both DST zones: every gap and fold of 2026
/// is met by every daily time it can affect.
#[test]
fn daily_polls_over_a_year_follow_the_gap_and_fold_rules() {
    for name in ["America/New_York", "Europe/Berlin"] {
        let tz = zone(name);
        let from = tz
            .to_timestamp(jiff::civil::date(2025, 12, 31).at(12, 0, 0, 0))
            .unwrap();
        for minutes in (0..24 * 60).step_by(10) {
            let at = LocalTime::new((minutes / 60) as u8, (minutes % 60) as u8).unwrap();
            check_daily(&tz, at, from, minutes % 20 == 0, 366).unwrap();
        }
    }
}

impl Schedule {
    /// The next regular poll, ignoring any pending retry (for the properties above).
    fn regular_poll_after(mut self, now: Timestamp) -> Option<Poll> {
        self.record_success(now);
        self.next_after(now, true)
    }
}

//! Days of Yealink, Polycom, Cisco and Grandstream schedules run on the virtual clock: every
//! instant comes from [`Schedule`], nothing sleeps.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::tests::{local, t};
use super::*;

const SEED: u64 = 0x0015_65ab_cdef;

fn plan(settings: ScheduleSettings, armed: Timestamp) -> (Schedule, Vec<ScheduleWarning>) {
    Schedule::new(
        &settings,
        TimeZone::UTC,
        PersistedState::default(),
        SEED,
        armed,
    )
}

fn polls(settings: ScheduleSettings, from: &str, days: i64) -> Vec<Poll> {
    let tz = TimeZone::UTC;
    let from = local(&tz, from);
    let end = from + SignedDuration::from_hours(24 * days);
    let (mut s, _) = plan(settings, from);
    s.polls(from, true).take_while(|p| p.at < end).collect()
}

fn civil(p: &Poll) -> jiff::civil::DateTime {
    TimeZone::UTC.to_datetime(p.at)
}

fn minutes_of_day(p: &Poll) -> i32 {
    let c = civil(p);
    i32::from(c.hour()) * 60 + i32::from(c.minute())
}

fn yealink() -> YealinkProvisioning {
    YealinkProvisioning::default()
}

#[test]
fn yealink_weekly_every_listed_day_in_the_window() {
    let y = YealinkProvisioning {
        weekly_enable: true,
        weekly_days: 0b10_1010, // 135: Monday, Wednesday, Friday
        weekly_begin: t("02:00"),
        weekly_end: t("03:00"),
        ..yealink()
    };
    // 2026-05-03 is a Sunday.
    let got = polls(ScheduleSettings::Yealink(y), "2026-05-03T00:00", 28);
    assert_eq!(got.len(), 12);
    for p in &got {
        let wd = civil(p).weekday().to_sunday_zero_offset();
        assert!([1, 3, 5].contains(&wd), "{p:?}");
        assert!((120..=180).contains(&minutes_of_day(p)), "{p:?}");
    }
}

/// `weekly_upgrade_interval` N: one listed day, drawn from the MAC address, in one week of
/// every N (the reading chosen in docs/schedule.md).
#[test]
fn yealink_weekly_interval_one_drawn_day_every_n_weeks() {
    let y = YealinkProvisioning {
        weekly_enable: true,
        weekly_days: 0b10_1010,
        weekly_interval_weeks: 2,
        weekly_begin: t("02:00"),
        weekly_end: t("03:00"),
        ..yealink()
    };
    let got = polls(ScheduleSettings::Yealink(y), "2026-05-03T00:00", 7 * 12);
    assert_eq!(got.len(), 6, "{got:?}");
    let weeks: Vec<i64> = got
        .iter()
        .map(|p| {
            let days = p.at.as_second().div_euclid(86_400);
            (days + 4).div_euclid(7)
        })
        .collect();
    for pair in weeks.windows(2) {
        assert_eq!(pair[1] - pair[0], 2, "{weeks:?}");
    }
}

/// Flexible: a MAC-derived day in every `interval` days, the same whatever the restarts, and a
/// window that runs into the next day when the end is before the start.
#[test]
fn yealink_flexible_mac_day_stable_across_restarts_and_a_window_past_midnight() {
    let y = YealinkProvisioning {
        flexible_enable: true,
        flexible_interval_days: 30,
        flexible_begin: t("23:00"),
        flexible_end: Some(t("01:00")),
        ..yealink()
    };
    let settings = ScheduleSettings::Yealink(y.clone());
    let got = polls(settings.clone(), "2026-01-01T00:00", 120);
    assert_eq!(got.len(), 4);
    for p in &got {
        let m = minutes_of_day(p);
        assert!(m >= 23 * 60 || m <= 60, "{p:?}");
    }
    let day = |p: &Poll| (p.at.as_second() - 3_600).div_euclid(86_400);
    for pair in got.windows(2) {
        assert_eq!(day(&pair[1]) - day(&pair[0]), 30);
    }
    // Restarted ten days later: the same day within the period.
    let later = polls(settings.clone(), "2026-01-11T12:00", 120);
    let settings_for_seed = settings;
    assert!(later
        .iter()
        .all(|p| (day(p) - day(&got[0])).rem_euclid(30) == 0));
    // Another MAC, another day.
    let tz = TimeZone::UTC;
    let from = local(&tz, "2026-01-01T00:00");
    let days: std::collections::BTreeSet<i64> = (0..20u64)
        .filter_map(|seed| {
            let (mut s, _) = Schedule::new(
                &settings_for_seed,
                tz.clone(),
                PersistedState::default(),
                seed_from_mac([0, 0x15, 0x65, 0, 0, seed as u8]),
                from,
            );
            s.next_after(from, true).map(|p| day(&p))
        })
        .collect();
    assert!(days.len() > 5, "{days:?}");
}

/// Repeat and weekly combine: the earlier poll of the two comes first.
#[test]
fn yealink_modes_combine() {
    let y = YealinkProvisioning {
        repeat_enable: true,
        repeat_minutes: 360,
        weekly_enable: true,
        weekly_begin: t("02:00"),
        weekly_end: t("02:00"),
        ..yealink()
    };
    let got = polls(ScheduleSettings::Yealink(y), "2026-05-03T00:00", 1);
    let labels: Vec<String> = got
        .iter()
        .map(|p| TimeZone::UTC.to_datetime(p.at).time().to_string() + " " + &p.rule.to_string())
        .collect();
    assert_eq!(
        labels,
        [
            "02:00:00 yealink-weekly Sun,Mon,Tue,Wed,Thu,Fri,Sat 02:00",
            "06:00:00 yealink-repeat every 360min",
            "12:00:00 yealink-repeat every 360min",
            "18:00:00 yealink-repeat every 360min",
        ]
    );
    let (_, w) = plan(
        ScheduleSettings::Yealink(YealinkProvisioning {
            weekly_enable: true,
            inactivity_minutes: 10,
            ..yealink()
        }),
        Timestamp::UNIX_EPOCH,
    );
    assert!(
        w[0].to_string().contains("inactivity_time_expire=\"10\""),
        "{w:?}"
    );
}

fn polycom(
    mode: PolycomMode,
    period: u64,
    time: Option<&str>,
    end: Option<&str>,
) -> ScheduleSettings {
    ScheduleSettings::Polycom(PolycomPolling {
        enabled: true,
        mode,
        period_secs: period,
        time: time.map(t),
        time_random_end: end.map(t),
    })
}

#[test]
fn polycom_rel_counts_from_start_up_and_abs_rounds_the_period_up_to_days() {
    // Every 2 h from 00:17: eleven polls before the same time the next day.
    let got = polls(
        polycom(PolycomMode::Rel, 7200, None, None),
        "2026-05-03T00:17",
        1,
    );
    assert_eq!(got.len(), 11);
    assert_eq!(civil(&got[0]).to_string(), "2026-05-03T02:17:00");
    // 86401 s is two days.
    let got = polls(
        polycom(PolycomMode::Abs, 86_401, Some("02:00"), None),
        "2026-05-03T00:00",
        10,
    );
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|p| minutes_of_day(p) == 120));
    assert_eq!(got[1].at.duration_since(got[0].at).as_hours(), 48);
}

/// Random below a day: the first poll at a random time within a period of start-up, then
/// every period (UC Software 5.8.1).
#[test]
fn polycom_random_below_a_day() {
    let tz = TimeZone::UTC;
    let from = local(&tz, "2026-05-03T00:00");
    let got = polls(
        polycom(PolycomMode::Random, 3600, None, None),
        "2026-05-03T00:00",
        1,
    );
    let first = got[0].at.duration_since(from).as_secs();
    assert!((1..=3600).contains(&first), "{first}");
    for pair in got.windows(2) {
        assert_eq!(pair[1].at.duration_since(pair[0].at).as_secs(), 3600);
    }
    assert_eq!(
        got[0].rule.to_string(),
        "polycom-random every 3600s from a random start"
    );
}

/// Random with a period of exactly one day and a window: every day in the window (the reading
/// the templates expect); without a window, as below a day.
#[test]
fn polycom_random_one_day_with_a_window_polls_nightly_in_it() {
    let got = polls(
        polycom(PolycomMode::Random, 86_400, Some("01:00"), Some("05:00")),
        "2026-05-03T12:00",
        10,
    );
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|p| (60..=300).contains(&minutes_of_day(p))));
    let got = polls(
        polycom(PolycomMode::Random, 86_400, None, None),
        "2026-05-03T12:00",
        3,
    );
    assert!(matches!(
        got[0].rule,
        RuleLabel::Regular {
            source: Source::PolycomRandom,
            ..
        }
    ));
    // Over a day without times: a MAC-derived day, any time of it.
    let got = polls(
        polycom(PolycomMode::Random, 3 * 86_400, None, None),
        "2026-05-03T00:00",
        30,
    );
    assert_eq!(got.len(), 10);
    let (_, warnings) = plan(
        polycom(PolycomMode::Abs, 0, None, None),
        Timestamp::UNIX_EPOCH,
    );
    assert!(warnings[0].to_string().contains("period of 0 s"));
}

fn cisco(
    periodic: &[(u32, u32)],
    at: Option<&str>,
    delay: u32,
    retry: &[(u32, u32)],
) -> ScheduleSettings {
    ScheduleSettings::Cisco(CiscoResync {
        periodic: Steps::new(periodic),
        resync_at: at.map(t),
        at_random_delay_secs: delay,
        error_retry: Steps::new(retry),
    })
}

/// `Resync_At` with `Resync_At_Random_Delay` 3600: daily between 02:00 and 03:00, and
/// `Resync_Periodic` ignored with a warning.
#[test]
fn cisco_resync_at_window_overrides_periodic() {
    let s = cisco(&[(3600, 0)], Some("02:00"), 3600, &[(3600, 0)]);
    let got = polls(s.clone(), "2026-05-03T00:00", 7);
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|p| (120..=180).contains(&minutes_of_day(p))));
    let (_, w) = plan(s, Timestamp::UNIX_EPOCH);
    assert!(
        w[0].to_string().starts_with("Resync_Periodic: ignored"),
        "{w:?}"
    );
    // The random delay in minutes is (s + 30) / 60: 600 s is 10 min, 89 s is 1 min.
    for (delay, end) in [(600, "02:10"), (89, "02:01"), (0, "02:00")] {
        let ScheduleSettings::Cisco(c) = cisco(&[], Some("02:00"), delay, &[]) else {
            unreachable!()
        };
        assert_eq!(c.at_window().unwrap().1, t(end), "{delay}");
    }
}

/// `Resync_Periodic` 1800,3600+600: the first interval 1800 s, then 3600 s plus up to 600 s,
/// the last element repeating.
#[test]
fn cisco_periodic_list_last_element_repeats_with_its_random_extra() {
    let got = polls(
        cisco(&[(1800, 0), (3600, 600)], None, 0, &[]),
        "2026-05-03T00:00",
        1,
    );
    let tz = TimeZone::UTC;
    assert_eq!(
        got[0]
            .at
            .duration_since(local(&tz, "2026-05-03T00:00"))
            .as_secs(),
        1800
    );
    let gaps: Vec<i64> = got
        .windows(2)
        .map(|p| p[1].at.duration_since(p[0].at).as_secs())
        .collect();
    assert!(gaps.iter().all(|g| (3600..=4200).contains(g)), "{gaps:?}");
    assert!(gaps.iter().any(|g| *g != gaps[0]), "{gaps:?}");
    assert_eq!(
        got[0].rule.to_string(),
        "cisco-periodic every 1800s,3600s+0-600s"
    );
}

/// `Resync_Error_Retry_Delay` 1800,3600,7200,14400: failure n retries after element n, the
/// last repeating; 0 leaves the next regular resync as the retry.
#[test]
fn cisco_error_retry_list() {
    let tz = TimeZone::UTC;
    let from = local(&tz, "2026-05-03T00:00");
    let (mut s, _) = plan(
        cisco(
            &[(86_400, 0)],
            None,
            0,
            &[(1800, 0), (3600, 0), (7200, 0), (14_400, 0)],
        ),
        from,
    );
    let mut at = from;
    let mut delays = Vec::new();
    for _ in 0..6 {
        let retry = s.retry_after_failure(at, true).unwrap();
        delays.push(retry.at.duration_since(at).as_secs());
        at = retry.at;
    }
    assert_eq!(delays, [1800, 3600, 7200, 14_400, 14_400, 14_400]);
    s.record_success(at);
    assert_eq!(
        s.retry_after_failure(at + SignedDuration::from_secs(1), true)
            .unwrap()
            .rule
            .to_string(),
        "cisco-retry 30min"
    );
    let (mut none, _) = plan(cisco(&[(3600, 0)], None, 0, &[]), from);
    let retry = none.retry_after_failure(from, true).unwrap();
    assert!(!retry.rule.is_retry());
}

fn grandstream(
    mode: GrandstreamMode,
    start: u8,
    end: u8,
    randomized: bool,
    days: u8,
) -> ScheduleSettings {
    ScheduleSettings::Grandstream(GrandstreamUpgrade {
        mode,
        interval_min: 90,
        start_hour: start,
        end_hour: end,
        randomized,
        days,
    })
}

#[test]
fn grandstream_modes() {
    let got = polls(
        grandstream(GrandstreamMode::Interval, 1, 22, false, 2),
        "2026-05-03T00:00",
        1,
    );
    assert_eq!(got.len(), 15, "every 90 min, the 24:00 one excluded");
    let got = polls(
        grandstream(GrandstreamMode::Daily, 2, 3, true, 2),
        "2026-05-03T00:00",
        5,
    );
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|p| (120..=180).contains(&minutes_of_day(p))));
    let got = polls(
        grandstream(GrandstreamMode::Daily, 2, 3, false, 2),
        "2026-05-03T00:00",
        3,
    );
    assert!(got.iter().all(|p| minutes_of_day(p) == 120));
    // A window from 23 h to 1 h runs past midnight (the reading chosen).
    let got = polls(
        grandstream(GrandstreamMode::Daily, 23, 1, true, 2),
        "2026-05-03T00:00",
        5,
    );
    assert!(got
        .iter()
        .all(|p| minutes_of_day(p) >= 23 * 60 || minutes_of_day(p) <= 60));
    // Weekly on Monday and Thursday at 01:00.
    let got = polls(
        grandstream(GrandstreamMode::Weekly, 1, 22, false, 0b1_0010),
        "2026-05-03T00:00",
        14,
    );
    let days: Vec<i8> = got
        .iter()
        .map(|p| civil(p).weekday().to_sunday_zero_offset())
        .collect();
    assert_eq!(days, [1, 4, 1, 4]);
    assert!(got.iter().all(|p| minutes_of_day(p) == 60));
    assert!(polls(
        grandstream(GrandstreamMode::Off, 1, 22, false, 2),
        "2026-05-03T00:00",
        5
    )
    .is_empty());
}

/// Every new rule waits for a valid wall clock, except the relative ones.
#[test]
fn wall_clock_rules_wait_for_the_clock() {
    let from = Timestamp::UNIX_EPOCH;
    let (mut s, _) = plan(cisco(&[], Some("02:00"), 0, &[]), from);
    assert_eq!(s.next_after(from, false), None);
    let (mut s, _) = plan(cisco(&[(60, 0)], None, 0, &[]), from);
    assert!(s.next_after(from, false).is_some());
}

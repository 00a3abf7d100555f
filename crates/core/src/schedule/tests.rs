//! Behaviour tests: one per vendor example, the DST days of 2026, retries and restarts.
//!
//! Zones come from the system's IANA database; where it is missing, from the POSIX rule that
//! gives the same transitions in 2026, so the tests do not depend on the machine.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;

pub(super) fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|_| {
        let posix = match name {
            "America/New_York" => "EST5EDT,M3.2.0,M11.1.0",
            "Europe/Berlin" => "CET-1CEST,M3.5.0,M10.5.0/3",
            "UTC" => "UTC0",
            other => panic!("no fallback rule for {other}"),
        };
        TimeZone::posix(posix).unwrap()
    })
}

/// The instant of a local date-time (`2026-03-08T01:30`), earlier occurrence in a fold.
pub(super) fn local(tz: &TimeZone, civil: &str) -> Timestamp {
    let dt: DateTime = civil.parse().unwrap();
    tz.to_timestamp(dt).unwrap()
}

pub(super) fn t(s: &str) -> LocalTime {
    s.parse().unwrap()
}

fn snom(
    mode: SnomMode,
    period_secs: u64,
    time: Option<&str>,
    end: Option<&str>,
) -> ScheduleSettings {
    ScheduleSettings::Snom(SnomPolling {
        enabled: true,
        mode,
        period_secs,
        time: time.map(t),
        time_rand_end: end.map(t),
        settings_refresh_timer_secs: 0,
    })
}

fn panasonic(
    cyclic: bool,
    cyclic_min: u32,
    retry_min: u32,
    resync: Option<&str>,
) -> ScheduleSettings {
    ScheduleSettings::Panasonic(PanasonicPolling {
        cyclic,
        cyclic_interval_min: cyclic_min,
        retry_interval_min: retry_min,
        resync_time: resync.map(str::to_owned),
    })
}

const SEED: u64 = 0x0004_1324_abcd;

fn build(
    settings: &ScheduleSettings,
    tz: &TimeZone,
    state: PersistedState,
    armed: Timestamp,
) -> Schedule {
    let (schedule, warnings) = Schedule::new(settings, tz.clone(), state, SEED, armed);
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    schedule
}

fn changed(at: Timestamp) -> PersistedState {
    PersistedState {
        changed_at: Some(at),
        last_success: None,
    }
}

fn lines(schedule: &mut Schedule, from: Timestamp, n: usize) -> Vec<String> {
    let tz = schedule.time_zone().clone();
    schedule
        .polls(from, true)
        .take(n)
        .map(|p| p.to_line(&tz))
        .collect()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

// ---- Snom ---------------------------------------------------------------------------------

#[test]
fn snom_rel_every_20_s() {
    let tz = zone("UTC");
    let armed = local(&tz, "2026-05-01T12:00");
    let mut s = build(
        &snom(SnomMode::Rel, 20, None, None),
        &tz,
        PersistedState::default(),
        armed,
    );
    assert!(!s.needs_wall_clock());
    assert_eq!(
        lines(&mut s, armed, 4),
        [
            "2026-05-01T12:00:20+00:00 snom-rel every 20s",
            "2026-05-01T12:00:40+00:00 snom-rel every 20s",
            "2026-05-01T12:01:00+00:00 snom-rel every 20s",
            "2026-05-01T12:01:20+00:00 snom-rel every 20s",
        ]
    );
    // Strictly after: a poll instant itself moves on to the next one.
    assert_eq!(
        s.next_after(armed + secs(20), true).unwrap().at,
        armed + secs(40)
    );
    assert_eq!(
        s.next_after(armed + secs(39), true).unwrap().at,
        armed + secs(40)
    );
    // Relative polls do not wait for the wall clock.
    assert_eq!(s.next_after(armed, false).unwrap().at, armed + secs(20));
    // Before arming: the first poll.
    assert_eq!(
        s.next_after(armed - secs(100), false).unwrap().at,
        armed + secs(20)
    );
}

#[test]
fn snom_abs_daily_at_0900() {
    let tz = zone("Europe/Berlin");
    let armed = local(&tz, "2026-05-01T08:00");
    let mut s = build(
        &snom(SnomMode::Abs, 0, Some("09:00"), None),
        &tz,
        PersistedState::default(),
        armed,
    );
    assert!(s.needs_wall_clock());
    assert_eq!(
        lines(&mut s, armed, 3),
        [
            "2026-05-01T09:00:00+02:00 snom-abs daily 09:00",
            "2026-05-02T09:00:00+02:00 snom-abs daily 09:00",
            "2026-05-03T09:00:00+02:00 snom-abs daily 09:00",
        ]
    );
    let nine = local(&tz, "2026-05-01T09:00");
    assert_eq!(
        s.next_after(nine, true).unwrap().at,
        local(&tz, "2026-05-02T09:00")
    );
}

#[test]
fn snom_random_daily_window_0900_0910_starts_the_next_day() {
    let tz = zone("Europe/Berlin");
    // Changed before that day's window: the first poll is still the next day.
    let changed_at = local(&tz, "2026-05-01T08:00");
    let mut s = build(
        &snom(SnomMode::Random, 86_400, Some("09:00"), Some("09:10")),
        &tz,
        changed(changed_at),
        changed_at,
    );
    assert!(s.needs_wall_clock());
    let polls: Vec<Poll> = s.polls(changed_at, true).take(10).collect();
    for (i, poll) in polls.iter().enumerate() {
        let day = format!("2026-05-{:02}", 2 + i);
        let lo = local(&tz, &format!("{day}T09:00"));
        let hi = local(&tz, &format!("{day}T09:10"));
        assert!(
            lo <= poll.at && poll.at <= hi,
            "poll {i} at {} outside {day} 09:00-09:10",
            poll.at
        );
        assert_eq!(
            poll.rule.to_string(),
            "snom-random-days every 1d 09:00-09:10"
        );
    }
    // Not all at the same minute past nine.
    let offsets: Vec<i64> = polls
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.at.duration_since(local(&tz, &format!("2026-05-{:02}T09:00", 2 + i)))
                .as_secs()
        })
        .collect();
    assert!(offsets.windows(2).any(|w| w[0] != w[1]), "{offsets:?}");
}

#[test]
fn snom_random_every_3_days_window_0900_0910() {
    let tz = zone("Europe/Berlin");
    let changed_at = local(&tz, "2026-05-01T15:00");
    let mut s = build(
        &snom(SnomMode::Random, 259_200, Some("09:00"), Some("09:10")),
        &tz,
        changed(changed_at),
        changed_at,
    );
    let polls: Vec<Poll> = s.polls(changed_at, true).take(5).collect();
    for (poll, day) in polls
        .iter()
        .zip(["05-02", "05-05", "05-08", "05-11", "05-14"])
    {
        let lo = local(&tz, &format!("2026-{day}T09:00"));
        let hi = local(&tz, &format!("2026-{day}T09:10"));
        assert!(
            lo <= poll.at && poll.at <= hi,
            "{} not within 2026-{day} 09:00-09:10",
            poll.at
        );
        assert_eq!(
            poll.rule.to_string(),
            "snom-random-days every 3d 09:00-09:10"
        );
    }
}

#[test]
fn snom_random_intervals_between_0_and_3600_s() {
    let tz = zone("UTC");
    let armed = local(&tz, "2026-05-01T00:00");
    let settings = snom(SnomMode::Random, 3600, Some("09:00"), Some("09:10"));
    let mut s = build(&settings, &tz, PersistedState::default(), armed);
    assert!(!s.needs_wall_clock());
    let polls: Vec<Poll> = s.polls(armed, false).take(500).collect();
    let mut prev = armed;
    let mut gaps = Vec::new();
    for poll in &polls {
        let gap = poll.at.duration_since(prev).as_secs();
        assert!((1..=3600).contains(&gap), "gap {gap}");
        assert_eq!(poll.rule.to_string(), "snom-random every 0-3600s");
        gaps.push(gap);
        prev = poll.at;
    }
    // Polling Time and Random End are ignored: polls at every hour of the day.
    let mean = gaps.iter().sum::<i64>() / gaps.len() as i64;
    assert!((1500..=2100).contains(&mean), "mean gap {mean}");
    // Same seed, same polls; asking again with the same `now` gives the same poll.
    let mut again = build(&settings, &tz, PersistedState::default(), armed);
    let first: Vec<Poll> = again.polls(armed, false).take(500).collect();
    assert_eq!(first, polls);
    let now = polls[100].at - secs(1);
    assert_eq!(s.next_after(now, false), Some(polls[100]));
    assert_eq!(s.next_after(now, false), Some(polls[100]));
    // Going back in time rebuilds the chain from the arming instant.
    assert_eq!(s.next_after(armed, false), Some(polls[0]));
    // Another seed, other polls.
    let (mut other, _) = Schedule::new(
        &settings,
        tz.clone(),
        PersistedState::default(),
        SEED + 1,
        armed,
    );
    assert_ne!(other.next_after(armed, false), Some(polls[0]));
}

#[test]
fn snom_settings_refresh_timer_applies_only_while_prov_polling_is_off() {
    let tz = zone("UTC");
    let armed = local(&tz, "2026-05-01T00:00");
    let mut settings = SnomPolling {
        enabled: false,
        mode: SnomMode::Abs,
        period_secs: 0,
        time: Some(t("09:00")),
        time_rand_end: None,
        settings_refresh_timer_secs: 3600,
    };
    let mut s = build(
        &ScheduleSettings::Snom(settings.clone()),
        &tz,
        PersistedState::default(),
        armed,
    );
    assert_eq!(
        lines(&mut s, armed, 1),
        ["2026-05-01T01:00:00+00:00 snom-settings-refresh every 3600s"]
    );
    settings.settings_refresh_timer_secs = 0;
    let mut s = build(
        &ScheduleSettings::Snom(settings.clone()),
        &tz,
        PersistedState::default(),
        armed,
    );
    assert_eq!(s.next_after(armed, true), None);
    assert_eq!(s.retry_after_failure(armed, true), None);
    assert!(s.describe().contains("no timed polls"));
    settings.enabled = true;
    settings.settings_refresh_timer_secs = 60;
    let mut s = build(
        &ScheduleSettings::Snom(settings),
        &tz,
        PersistedState::default(),
        armed,
    );
    assert_eq!(
        s.next_after(armed, true).unwrap().rule.to_string(),
        "snom-abs daily 09:00"
    );
}

#[test]
fn snom_settings_that_cannot_run_warn() {
    let tz = zone("UTC");
    let armed = local(&tz, "2026-05-01T00:00");
    for (settings, key) in [
        (snom(SnomMode::Rel, 0, None, None), "prov_polling_period"),
        (snom(SnomMode::Random, 0, None, None), "prov_polling_period"),
        (snom(SnomMode::Abs, 20, None, None), "prov_polling_time"),
        (
            snom(SnomMode::Random, 86_400, None, Some("09:10")),
            "prov_polling_time",
        ),
    ] {
        let (mut s, warnings) = Schedule::new(
            &settings,
            tz.clone(),
            PersistedState::default(),
            SEED,
            armed,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key(), key);
        assert_eq!(s.next_after(armed, true), None);
    }
    // 1.5 days rounds down to every day, with a warning; a missing end is a zero-length window.
    let (mut s, warnings) = Schedule::new(
        &snom(SnomMode::Random, 129_600, Some("09:00"), None),
        tz.clone(),
        changed(armed),
        SEED,
        armed,
    );
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].to_string(),
        "prov_polling_period=\"129600\": not a whole number of days; rounded down to every 1 day(s)"
    );
    assert_eq!(
        lines(&mut s, armed, 2),
        [
            "2026-05-02T09:00:00+00:00 snom-random-days every 1d 09:00-09:00",
            "2026-05-03T09:00:00+00:00 snom-random-days every 1d 09:00-09:00",
        ]
    );
}

#[test]
fn snom_retry_backs_off_and_never_passes_the_next_regular_poll() {
    let tz = zone("Europe/Berlin");
    let armed = local(&tz, "2026-05-01T08:00");
    let mut s = build(
        &snom(SnomMode::Abs, 0, Some("09:00"), None),
        &tz,
        PersistedState::default(),
        armed,
    );
    let mut failed = local(&tz, "2026-05-01T09:00");
    let mut delays = Vec::new();
    for _ in 0..7 {
        let retry = s.retry_after_failure(failed, true).unwrap();
        assert!(retry.rule.is_retry());
        // Remembered: next_after returns it until it is due, and asking again is stable.
        assert_eq!(s.next_after(failed, true), Some(retry));
        assert_eq!(s.retry_after_failure(failed, true), Some(retry));
        delays.push(retry.at.duration_since(failed).as_secs() / 60);
        failed = retry.at;
    }
    assert_eq!(delays, [5, 10, 20, 40, 60, 60, 60]);
    assert_eq!(s.consecutive_failures(), 7);
    // Never past the next regular poll: a failure at 08:57 next day retries at 09:00.
    let failed = local(&tz, "2026-05-02T08:57");
    let poll = s.retry_after_failure(failed, true).unwrap();
    assert_eq!(poll.at, local(&tz, "2026-05-02T09:00"));
    assert_eq!(poll.rule.to_string(), "snom-abs daily 09:00");
    // A success starts the backoff over.
    s.record_success(poll.at + secs(3));
    assert_eq!(s.consecutive_failures(), 0);
    assert_eq!(s.persisted().last_success, Some(poll.at + secs(3)));
    let poll = s.retry_after_failure(poll.at + secs(5), true).unwrap();
    assert_eq!(
        poll.to_line(&tz),
        "2026-05-02T09:05:05+02:00 snom-retry 5min"
    );
    // Waiting for the clock: no retry either.
    assert_eq!(s.retry_after_failure(poll.at, false), None);
}

#[test]
fn snom_rel_retry_is_the_next_regular_poll_when_sooner() {
    let tz = zone("UTC");
    let armed = local(&tz, "2026-05-01T00:00");
    let mut s = build(
        &snom(SnomMode::Rel, 20, None, None),
        &tz,
        PersistedState::default(),
        armed,
    );
    let poll = s.retry_after_failure(armed + secs(20), false).unwrap();
    assert_eq!(poll.at, armed + secs(40));
    assert!(!poll.rule.is_retry());
    // A long relative period: the backoff comes first.
    let mut s = build(
        &snom(SnomMode::Rel, 86_400, None, None),
        &tz,
        PersistedState::default(),
        armed,
    );
    let poll = s.retry_after_failure(armed + secs(10), false).unwrap();
    assert_eq!(
        poll.to_line(&tz),
        "2026-05-01T00:05:10+00:00 snom-retry 5min"
    );
}

// ---- Panasonic ----------------------------------------------------------------------------

#[test]
fn panasonic_resync_time_0200_powered_on_at_1200_polls_next_day_and_every_day_after() {
    let tz = zone("Europe/Berlin");
    let powered_on = local(&tz, "2026-06-10T12:00");
    let mut s = build(
        &panasonic(false, 10_080, 30, Some("02:00")),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    assert!(s.needs_wall_clock());
    assert_eq!(
        lines(&mut s, powered_on, 3),
        [
            "2026-06-11T02:00:00+02:00 panasonic-resync-time daily 02:00",
            "2026-06-12T02:00:00+02:00 panasonic-resync-time daily 02:00",
            "2026-06-13T02:00:00+02:00 panasonic-resync-time daily 02:00",
        ]
    );
}

#[test]
fn panasonic_resync_time_disables_cyclic_and_retry() {
    let tz = zone("Europe/Berlin");
    let powered_on = local(&tz, "2026-06-10T12:00");
    let mut s = build(
        &panasonic(true, 60, 5, Some("02:00")),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    assert_eq!(
        s.rule(),
        Some((
            Source::PanasonicResyncTime,
            Rule::DailyAt { at: t("02:00") }
        ))
    );
    assert_eq!(s.retry_policy(), Some(RetryPolicy::NextRegular));
    // No cyclic poll an hour after start-up.
    assert_eq!(
        s.next_after(powered_on, true).unwrap().at,
        local(&tz, "2026-06-11T02:00")
    );
    // A failure is retried at the next daily time, not CFG_RTRY_INTVL later.
    let failed = local(&tz, "2026-06-11T02:00:30");
    let poll = s.retry_after_failure(failed, true).unwrap();
    assert_eq!(
        poll.to_line(&tz),
        "2026-06-12T02:00:00+02:00 panasonic-resync-time daily 02:00"
    );
    assert!(s
        .describe()
        .contains("CFG_CYCLIC, CFG_CYCLIC_INTVL and CFG_RTRY_INTVL are disabled"));
    // Without a valid clock nothing is due.
    assert_eq!(s.next_after(powered_on, false), None);
    // The empty string is "not set": cyclic applies, without a warning.
    let mut s = build(
        &panasonic(true, 60, 5, Some("")),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    assert_eq!(
        s.next_after(powered_on, false).unwrap().rule.to_string(),
        "panasonic-cyclic every 60min"
    );
}

#[test]
fn panasonic_invalid_resync_time_falls_back_to_cyclic_with_warning() {
    let tz = zone("Europe/Berlin");
    let powered_on = local(&tz, "2026-06-10T12:00");
    for bad in ["25:00", "9am"] {
        let (mut s, warnings) = Schedule::new(
            &panasonic(true, 60, 5, Some(bad)),
            tz.clone(),
            PersistedState::default(),
            SEED,
            powered_on,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let text = warnings[0].to_string();
        assert!(
            text.starts_with(&format!("CFG_RESYNC_TIME=\"{bad}\": ")),
            "{text}"
        );
        assert!(text.contains("the cyclic settings apply"), "{text}");
        assert!(!s.needs_wall_clock());
        assert_eq!(
            lines(&mut s, powered_on, 2),
            [
                "2026-06-10T13:00:00+02:00 panasonic-cyclic every 60min",
                "2026-06-10T14:00:00+02:00 panasonic-cyclic every 60min",
            ]
        );
    }
    // A hostile value is escaped and cut short in the warning.
    let hostile = format!("\r\n{}\u{1b}[31m", "x".repeat(100));
    let (_, warnings) = Schedule::new(
        &panasonic(true, 60, 5, Some(&hostile)),
        tz.clone(),
        PersistedState::default(),
        SEED,
        powered_on,
    );
    let text = warnings[0].to_string();
    assert!(text.starts_with("CFG_RESYNC_TIME=\"\\r\\nxxx"), "{text}");
    assert!(text.contains("…\""), "{text}");
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text}");
}

#[test]
fn panasonic_cyclic_from_start_up_and_retry_interval() {
    let tz = zone("UTC");
    let powered_on = local(&tz, "2026-06-10T12:00");
    let mut s = build(
        &panasonic(true, 60, 5, None),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    let failed = local(&tz, "2026-06-10T13:00");
    let retry = s.retry_after_failure(failed, false).unwrap();
    assert_eq!(
        retry.to_line(&tz),
        "2026-06-10T13:05:00+00:00 panasonic-retry 5min"
    );
    assert_eq!(s.next_after(failed, false), Some(retry));
    // After the retry the cyclic polls carry on from start-up.
    assert_eq!(
        s.next_after(retry.at, false).unwrap().at,
        local(&tz, "2026-06-10T14:00")
    );
    // Retries repeat on every failure.
    let again = s.retry_after_failure(retry.at, false).unwrap();
    assert_eq!(again.at, local(&tz, "2026-06-10T13:10"));

    // The retry replaces cyclic polls before it ("instead of the cyclic one").
    let mut s = build(
        &panasonic(true, 60, 90, None),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    let retry = s.retry_after_failure(failed, false).unwrap();
    assert_eq!(retry.at, local(&tz, "2026-06-10T14:30"));
    assert_eq!(
        s.next_after(local(&tz, "2026-06-10T13:59"), false),
        Some(retry)
    );
    assert_eq!(
        s.next_after(retry.at, false).unwrap().at,
        local(&tz, "2026-06-10T15:00")
    );
}

#[test]
fn panasonic_cyclic_off_still_retries_a_failed_download() {
    let tz = zone("UTC");
    let powered_on = local(&tz, "2026-06-10T12:00");
    let mut s = build(
        &panasonic(false, 60, 30, None),
        &tz,
        PersistedState::default(),
        powered_on,
    );
    assert_eq!(s.next_after(powered_on, true), None);
    let retry = s.retry_after_failure(powered_on + secs(5), true).unwrap();
    assert_eq!(
        retry.to_line(&tz),
        "2026-06-10T12:30:05+00:00 panasonic-retry 30min"
    );
    s.record_success(retry.at);
    assert_eq!(s.next_after(retry.at, true), None);
}

#[test]
fn panasonic_out_of_range_intervals_warn() {
    let tz = zone("UTC");
    let on = local(&tz, "2026-06-10T12:00");
    let (mut s, warnings) = Schedule::new(
        &panasonic(true, 0, 0, None),
        tz.clone(),
        PersistedState::default(),
        SEED,
        on,
    );
    let keys: Vec<&str> = warnings.iter().map(ScheduleWarning::key).collect();
    assert_eq!(keys, ["CFG_CYCLIC_INTVL", "CFG_RTRY_INTVL"]);
    assert_eq!(s.next_after(on, true), None);
    assert_eq!(s.retry_after_failure(on, true), None);
    let (mut s, warnings) = Schedule::new(
        &panasonic(true, 50_000, 0, None),
        tz.clone(),
        PersistedState::default(),
        SEED,
        on,
    );
    assert_eq!(warnings.len(), 2);
    assert_eq!(
        s.next_after(on, true).unwrap().rule.to_string(),
        "panasonic-cyclic every 40320min"
    );
    // CFG_RTRY_INTVL 0: the next cyclic poll is the retry.
    assert_eq!(
        s.retry_after_failure(on, true).unwrap().at,
        on + secs(40_320 * 60)
    );
}

// ---- Rules across modes -------------------------------------------------------------------

#[test]
fn window_past_midnight_2350_0010() {
    let tz = zone("Europe/Berlin");
    let changed_at = local(&tz, "2026-05-01T23:55");
    let mut s = build(
        &snom(SnomMode::Random, 86_400, Some("23:50"), Some("00:10")),
        &tz,
        changed(changed_at),
        changed_at,
    );
    let polls: Vec<Poll> = s.polls(changed_at, true).take(60).collect();
    let mut after_midnight = 0;
    for (i, poll) in polls.iter().enumerate() {
        let day = jiff::civil::date(2026, 5, 2) + jiff::Span::new().days(i as i64);
        let lo = tz.to_timestamp(day.at(23, 50, 0, 0)).unwrap();
        let hi = tz
            .to_timestamp(day.tomorrow().unwrap().at(0, 10, 0, 0))
            .unwrap();
        assert!(
            lo <= poll.at && poll.at <= hi,
            "poll {i} at {}",
            poll.to_line(&tz)
        );
        if tz.to_datetime(poll.at).date() != day {
            after_midnight += 1;
        }
    }
    assert!(
        after_midnight > 0 && after_midnight < 60,
        "{after_midnight}"
    );
    assert_eq!(
        polls[0].rule.to_string(),
        "snom-random-days every 1d 23:50-00:10"
    );
}

#[test]
fn clock_not_valid_then_valid_gives_next_slot_without_missed_ones() {
    let tz = zone("Europe/Berlin");
    let armed = local(&tz, "2026-05-01T06:00");
    let mut s = build(
        &snom(SnomMode::Abs, 0, Some("09:00"), None),
        &tz,
        PersistedState::default(),
        armed,
    );
    for hours in [0, 3, 5, 30, 75] {
        assert_eq!(s.next_after(armed + secs(hours * 3600), false), None);
    }
    // Valid from 2026-05-04 12:00: the next slot is the 5th; the 1st to the 4th are not fired.
    let valid = local(&tz, "2026-05-04T12:00");
    assert_eq!(
        s.next_after(valid, true).unwrap().to_line(&tz),
        "2026-05-05T09:00:00+02:00 snom-abs daily 09:00"
    );

    // Random days: the anchor is the persisted change, the slot the next one after `valid`.
    let changed_at = local(&tz, "2026-05-01T06:00");
    let mut s = build(
        &snom(SnomMode::Random, 86_400, Some("09:00"), Some("09:10")),
        &tz,
        changed(changed_at),
        changed_at,
    );
    assert_eq!(s.next_after(valid, false), None);
    let poll = s.next_after(valid, true).unwrap();
    assert_eq!(
        tz.to_datetime(poll.at).date(),
        jiff::civil::date(2026, 5, 5)
    );
}

#[test]
fn restart_with_persisted_changed_at_keeps_the_same_days() {
    let tz = zone("Europe/Berlin");
    let settings = snom(SnomMode::Random, 259_200, Some("09:00"), Some("09:10"));
    let changed_at = local(&tz, "2026-05-01T10:00");
    let mut before = build(&settings, &tz, changed(changed_at), changed_at);
    let expected: Vec<Poll> = before.polls(changed_at, true).take(6).collect();

    // Restart on 2026-05-06 with the persisted state: same days, same instants.
    let restart = local(&tz, "2026-05-06T07:00");
    let mut after = build(&settings, &tz, changed(changed_at), restart);
    let got: Vec<Poll> = after.polls(restart, true).take(4).collect();
    assert_eq!(got, expected[2..]);
    assert_eq!(
        tz.to_datetime(got[0].at).date(),
        jiff::civil::date(2026, 5, 8)
    );

    // Restarting inside a window after its poll ran does not poll twice.
    let inside = expected[2].at + secs(1);
    let mut again = build(&settings, &tz, changed(changed_at), inside);
    assert_eq!(again.next_after(inside, true), Some(expected[3]));

    // Without a persisted change the schedule records one and reports it for persisting.
    let mut fresh = build(&settings, &tz, PersistedState::default(), restart);
    assert_eq!(fresh.persisted().changed_at, None);
    let poll = fresh.next_after(restart, true).unwrap();
    assert_eq!(fresh.persisted().changed_at, Some(restart));
    assert_eq!(
        tz.to_datetime(poll.at).date(),
        jiff::civil::date(2026, 5, 7)
    );
}

#[test]
fn next_after_is_stable_in_every_mode() {
    let tz = zone("America/New_York");
    let armed = local(&tz, "2026-03-01T10:00");
    let all = [
        snom(SnomMode::Rel, 20, None, None),
        snom(SnomMode::Abs, 0, Some("02:30"), None),
        snom(SnomMode::Random, 3600, None, None),
        snom(SnomMode::Random, 86_400, Some("01:30"), Some("02:30")),
        snom(SnomMode::Random, 259_200, Some("23:50"), Some("00:10")),
        panasonic(true, 60, 5, None),
        panasonic(true, 60, 5, Some("02:00")),
    ];
    for settings in &all {
        let mut s = build(settings, &tz, changed(armed), armed);
        let mut now = armed;
        for _ in 0..50 {
            let a = s.next_after(now, true).unwrap();
            let b = s.next_after(now, true).unwrap();
            assert_eq!(a, b);
            assert!(a.at > now);
            now = a.at - secs(1);
            assert_eq!(s.next_after(now, true), Some(a));
            now = a.at;
        }
    }
}

#[test]
fn describe_names_the_effective_rule() {
    let tz = zone("Europe/Berlin");
    let armed = local(&tz, "2026-05-01T10:00");
    let cases = [
        (
            snom(SnomMode::Rel, 20, None, None),
            "every 20 s, counted from start-up",
        ),
        (
            snom(SnomMode::Abs, 0, Some("09:00"), None),
            "every day at 09:00",
        ),
        (
            snom(SnomMode::Random, 3600, None, None),
            "drawn from 0-3600 s",
        ),
        (
            snom(SnomMode::Random, 259_200, Some("09:00"), Some("09:10")),
            "every 3 day(s) starting 2026-05-02",
        ),
        (panasonic(true, 60, 5, None), "every 60 min"),
        (panasonic(true, 60, 5, None), "retry in 5 min"),
        (
            snom(SnomMode::Abs, 0, Some("09:00"), None),
            "doubling up to 60 min",
        ),
    ];
    for (settings, want) in cases {
        let s = build(&settings, &tz, changed(armed), armed);
        let text = s.describe();
        assert!(text.contains(want), "{text:?} lacks {want:?}");
    }
    let s = build(
        &ScheduleSettings::Off,
        &tz,
        PersistedState::default(),
        armed,
    );
    assert_eq!(s.describe(), "no timed polls");
}

// ---- DST, America/New_York and Europe/Berlin, 2026 ----------------------------------------

fn daily_lines(settings: &ScheduleSettings, tz: &TimeZone, from: &str, n: usize) -> Vec<String> {
    let from = local(tz, from);
    let mut s = build(settings, tz, changed(from), from);
    lines(&mut s, from, n)
}

#[test]
fn dst_new_york_gap_daily_0230_runs_at_0330() {
    let tz = zone("America/New_York");
    assert_eq!(
        daily_lines(
            &snom(SnomMode::Abs, 0, Some("02:30"), None),
            &tz,
            "2026-03-07T12:00",
            3
        ),
        [
            "2026-03-08T03:30:00-04:00 snom-abs daily 02:30",
            "2026-03-09T02:30:00-04:00 snom-abs daily 02:30",
            "2026-03-10T02:30:00-04:00 snom-abs daily 02:30",
        ]
    );
}

#[test]
fn dst_new_york_gap_daily_0200_runs_at_0300() {
    let tz = zone("America/New_York");
    assert_eq!(
        daily_lines(
            &snom(SnomMode::Abs, 0, Some("02:00"), None),
            &tz,
            "2026-03-07T12:00",
            2
        ),
        [
            "2026-03-08T03:00:00-04:00 snom-abs daily 02:00",
            "2026-03-09T02:00:00-04:00 snom-abs daily 02:00",
        ]
    );
}

#[test]
fn dst_new_york_fold_runs_once_at_the_first_occurrence() {
    let tz = zone("America/New_York");
    assert_eq!(
        daily_lines(
            &snom(SnomMode::Abs, 0, Some("01:30"), None),
            &tz,
            "2026-10-31T12:00",
            3
        ),
        [
            "2026-11-01T01:30:00-04:00 snom-abs daily 01:30",
            "2026-11-02T01:30:00-05:00 snom-abs daily 01:30",
            "2026-11-03T01:30:00-05:00 snom-abs daily 01:30",
        ]
    );
    // Asked between the two occurrences: no second poll that day.
    let between = local(&tz, "2026-11-01T01:45");
    let mut s = build(
        &snom(SnomMode::Abs, 0, Some("01:30"), None),
        &tz,
        PersistedState::default(),
        between,
    );
    assert_eq!(
        s.next_after(between + secs(3600), true)
            .unwrap()
            .to_line(&tz),
        "2026-11-02T01:30:00-05:00 snom-abs daily 01:30"
    );
}

#[test]
fn dst_berlin_gap_daily_0230_runs_at_0330_and_0200_at_0300() {
    let tz = zone("Europe/Berlin");
    assert_eq!(
        daily_lines(
            &snom(SnomMode::Abs, 0, Some("02:30"), None),
            &tz,
            "2026-03-28T12:00",
            2
        ),
        [
            "2026-03-29T03:30:00+02:00 snom-abs daily 02:30",
            "2026-03-30T02:30:00+02:00 snom-abs daily 02:30",
        ]
    );
    assert_eq!(
        daily_lines(
            &panasonic(false, 60, 5, Some("02:00")),
            &tz,
            "2026-03-28T12:00",
            2
        ),
        [
            "2026-03-29T03:00:00+02:00 panasonic-resync-time daily 02:00",
            "2026-03-30T02:00:00+02:00 panasonic-resync-time daily 02:00",
        ]
    );
}

#[test]
fn dst_berlin_fold_runs_once_at_the_first_occurrence() {
    let tz = zone("Europe/Berlin");
    assert_eq!(
        daily_lines(
            &panasonic(false, 60, 5, Some("02:30")),
            &tz,
            "2026-10-24T12:00",
            3
        ),
        [
            "2026-10-25T02:30:00+02:00 panasonic-resync-time daily 02:30",
            "2026-10-26T02:30:00+01:00 panasonic-resync-time daily 02:30",
            "2026-10-27T02:30:00+01:00 panasonic-resync-time daily 02:30",
        ]
    );
}

/// Polls of a daily window on `day` for many seeds, each checked against `lo..=hi`.
fn window_polls_within(tz: &TimeZone, start: &str, end: &str, day: &str, lo: &str, hi: &str) {
    let settings = snom(SnomMode::Random, 86_400, Some(start), Some(end));
    let day_before: jiff::civil::Date = day.parse().unwrap();
    let changed_at = tz
        .to_timestamp(day_before.yesterday().unwrap().at(12, 0, 0, 0))
        .unwrap();
    let (lo, hi): (Timestamp, Timestamp) = (lo.parse().unwrap(), hi.parse().unwrap());
    let mut seen_lo = i64::MAX;
    let mut seen_hi = i64::MIN;
    for seed in 0..300 {
        let (mut s, _) =
            Schedule::new(&settings, tz.clone(), changed(changed_at), seed, changed_at);
        let poll = s.next_after(changed_at, true).unwrap();
        assert!(
            lo <= poll.at && poll.at <= hi,
            "seed {seed}: {} not in {lo}..={hi}",
            poll.to_line(tz)
        );
        seen_lo = seen_lo.min(poll.at.as_second());
        seen_hi = seen_hi.max(poll.at.as_second());
    }
    // The draws spread over the window.
    let width = hi.as_second() - lo.as_second();
    if width > 0 {
        assert!(
            seen_hi - seen_lo > width / 2,
            "draws bunched: {seen_lo}..{seen_hi}"
        );
    }
}

#[test]
fn dst_random_windows_crossing_the_gap_stay_valid() {
    let ny = zone("America/New_York");
    // 01:30 EST to 02:30 (shifted to 03:30 EDT): one real hour.
    window_polls_within(
        &ny,
        "01:30",
        "02:30",
        "2026-03-08",
        "2026-03-08T06:30:00Z",
        "2026-03-08T07:30:00Z",
    );
    // Entirely inside the gap: shifted forward by the gap, 03:10-03:50 EDT.
    window_polls_within(
        &ny,
        "02:10",
        "02:50",
        "2026-03-08",
        "2026-03-08T07:10:00Z",
        "2026-03-08T07:50:00Z",
    );
    // Start in the gap (03:30 EDT once shifted), end after it (03:10): shrinks to the start.
    window_polls_within(
        &ny,
        "02:30",
        "03:10",
        "2026-03-08",
        "2026-03-08T07:30:00Z",
        "2026-03-08T07:30:00Z",
    );
    // Through midnight into a gap day, and a fold window that keeps to the first occurrence.
    window_polls_within(
        &ny,
        "23:30",
        "02:30",
        "2026-03-07",
        "2026-03-08T04:30:00Z",
        "2026-03-08T07:30:00Z",
    );
    window_polls_within(
        &ny,
        "01:00",
        "01:59",
        "2026-11-01",
        "2026-11-01T05:00:00Z",
        "2026-11-01T05:59:00Z",
    );

    let berlin = zone("Europe/Berlin");
    window_polls_within(
        &berlin,
        "01:30",
        "02:30",
        "2026-03-29",
        "2026-03-29T00:30:00Z",
        "2026-03-29T01:30:00Z",
    );
    window_polls_within(
        &berlin,
        "02:00",
        "03:00",
        "2026-03-29",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:00:00Z",
    );
    window_polls_within(
        &berlin,
        "02:00",
        "03:30",
        "2026-10-25",
        "2026-10-25T00:00:00Z",
        "2026-10-25T02:30:00Z",
    );
}

#[test]
fn poll_line_has_the_zone_offset() {
    let tz = zone("America/New_York");
    let poll = Poll {
        at: "2026-03-08T07:00:00Z".parse().unwrap(),
        rule: RuleLabel::Regular {
            source: Source::SnomAbs,
            rule: Rule::DailyAt { at: t("02:00") },
        },
    };
    assert_eq!(
        poll.to_line(&tz),
        "2026-03-08T03:00:00-04:00 snom-abs daily 02:00"
    );
}

// ---- A year of polls in every mode ----------------------------------------------------------

/// Computes a year of polls per mode and prints the count and the time taken (run with
/// `--nocapture` to see it). Wall time is reported, never asserted.
#[test]
fn a_year_of_polls_in_every_mode() {
    let tz = zone("Europe/Berlin");
    let start = local(&tz, "2026-01-01T00:00");
    let end = local(&tz, "2027-01-01T00:00");
    let modes = [
        ("snom-rel every 20s", snom(SnomMode::Rel, 20, None, None)),
        (
            "snom-abs daily 09:00",
            snom(SnomMode::Abs, 0, Some("09:00"), None),
        ),
        (
            "snom-random every 0-3600s",
            snom(SnomMode::Random, 3600, None, None),
        ),
        (
            "snom-random-days every 1d",
            snom(SnomMode::Random, 86_400, Some("09:00"), Some("09:10")),
        ),
        (
            "snom-random-days every 3d",
            snom(SnomMode::Random, 259_200, Some("23:50"), Some("00:10")),
        ),
        ("panasonic-cyclic every 60min", panasonic(true, 60, 5, None)),
        (
            "panasonic-resync-time daily 02:00",
            panasonic(true, 60, 5, Some("02:00")),
        ),
    ];
    for (name, settings) in modes {
        let mut s = build(&settings, &tz, changed(start), start);
        let clock = std::time::Instant::now();
        let mut count = 0u64;
        let mut last = start;
        for poll in s.polls(start, true) {
            if poll.at >= end {
                break;
            }
            assert!(poll.at > last);
            last = poll.at;
            count += 1;
        }
        let took = clock.elapsed();
        println!("year of polls: {name:<36} {count:>8} polls in {took:?}");
        assert!(count > 0);
    }
}

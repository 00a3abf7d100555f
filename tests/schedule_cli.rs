//! `sip-resync schedule` and `sip-resync check` as a script would use them, on the seed
//! examples of the Snom and Panasonic documentation (configurations in fixtures/schedule/).

mod support;

use support::run_cli as run;

fn schedule(file: &str, from: &str, tz: &str, count: &str, seed: &str) -> Vec<String> {
    let config = format!("fixtures/schedule/{file}");
    let (code, out, err) = run(&[
        "schedule", "--config", &config, "--from", from, "--tz", tz, "--count", count, "--seed",
        seed,
    ]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_owned).collect()
}

#[test]
fn snom_relative_every_20_s() {
    assert_eq!(
        schedule(
            "snom-rel-20s.xml",
            "2026-11-21T12:00",
            "Europe/Berlin",
            "3",
            "0"
        ),
        [
            "2026-11-21T12:00:20+01:00 snom-rel every 20s",
            "2026-11-21T12:00:40+01:00 snom-rel every 20s",
            "2026-11-21T12:01:00+01:00 snom-rel every 20s",
        ]
    );
}

#[test]
fn snom_absolute_daily_at_0900() {
    assert_eq!(
        schedule(
            "snom-abs-0900.xml",
            "2026-11-21T12:00",
            "Europe/Berlin",
            "2",
            "0"
        ),
        [
            "2026-11-22T09:00:00+01:00 snom-abs daily 09:00",
            "2026-11-23T09:00:00+01:00 snom-abs daily 09:00",
        ]
    );
}

fn inside_window(line: &str, day: &str) {
    let (instant, rule) = line.split_once(' ').unwrap();
    assert!(instant.starts_with(day), "{line}");
    let hm = &instant[11..16];
    assert!(("09:00"..="09:10").contains(&hm), "{line}");
    assert!(rule.starts_with("snom-random-days"), "{line}");
}

#[test]
fn snom_random_daily_window_starts_the_next_day() {
    let lines = schedule(
        "snom-random-daily-0900-0910.xml",
        "2026-11-21T08:00",
        "Europe/Berlin",
        "3",
        "7",
    );
    // Changed at 08:00 on the 21st: the first poll is on the 22nd even though 09:00-09:10 is
    // still ahead on the 21st.
    for (line, day) in lines.iter().zip(["2026-11-22", "2026-11-23", "2026-11-24"]) {
        inside_window(line, day);
    }
}

#[test]
fn snom_random_every_3_days_in_window() {
    let lines = schedule(
        "snom-random-3days-0900-0910.xml",
        "2026-11-21T12:00",
        "Europe/Berlin",
        "3",
        "7",
    );
    for (line, day) in lines.iter().zip(["2026-11-22", "2026-11-25", "2026-11-28"]) {
        inside_window(line, day);
    }
}

#[test]
fn snom_random_intervals_within_3600_s_and_seeded() {
    let a = schedule(
        "snom-random-3600s.xml",
        "2026-11-21T12:00",
        "UTC",
        "50",
        "42",
    );
    let b = schedule(
        "snom-random-3600s.xml",
        "2026-11-21T12:00",
        "UTC",
        "50",
        "42",
    );
    let c = schedule(
        "snom-random-3600s.xml",
        "2026-11-21T12:00",
        "UTC",
        "50",
        "43",
    );
    assert_eq!(a, b, "the same seed gives the same output");
    assert_ne!(a, c, "another seed gives other draws");
    let mut prev: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
    for line in &a {
        let t: jiff::Timestamp = line.split(' ').next().unwrap().parse().unwrap();
        let gap = t.as_second() - prev.as_second();
        assert!(
            (1..=3600).contains(&gap),
            "{line}: {gap} s after the previous poll"
        );
        prev = t;
    }
}

#[test]
fn panasonic_resync_time_0200_from_power_on_at_1200() {
    assert_eq!(
        schedule(
            "panasonic-resync-time-0200.cfg",
            "2026-11-21T12:00",
            "Europe/Berlin",
            "3",
            "0"
        ),
        [
            "2026-11-22T02:00:00+01:00 panasonic-resync-time daily 02:00",
            "2026-11-23T02:00:00+01:00 panasonic-resync-time daily 02:00",
            "2026-11-24T02:00:00+01:00 panasonic-resync-time daily 02:00",
        ],
        "CFG_RESYNC_TIME disables CFG_CYCLIC (every 60 min in the same file)"
    );
}

#[test]
fn panasonic_invalid_resync_time_falls_back_to_cyclic_with_a_located_warning() {
    let (code, out, err) = run(&[
        "schedule",
        "--config",
        "fixtures/schedule/panasonic-invalid-resync-time.cfg",
        "--from",
        "2026-11-21T12:00",
        "--tz",
        "Europe/Berlin",
        "--count",
        "2",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "2026-11-21T13:00:00+01:00 panasonic-cyclic every 60min",
            "2026-11-21T14:00:00+01:00 panasonic-cyclic every 60min",
        ]
    );
    assert!(
        err.contains("panasonic-invalid-resync-time.cfg:7: CFG_RESYNC_TIME=\"25:00\""),
        "{err}"
    );
}

#[test]
fn daylight_saving_gap_and_fold_new_york() {
    // 2026-03-08: 02:00-03:00 does not exist; 02:30 runs at 03:30 EDT.
    let gap = schedule(
        "snom-abs-0230.xml",
        "2026-03-07T12:00",
        "America/New_York",
        "2",
        "0",
    );
    assert_eq!(
        gap,
        [
            "2026-03-08T03:30:00-04:00 snom-abs daily 02:30",
            "2026-03-09T02:30:00-04:00 snom-abs daily 02:30"
        ]
    );
    // 2026-11-01: 01:00-02:00 occurs twice; 01:30 runs once, at the first (EDT) occurrence.
    let fold = schedule(
        "snom-abs-0130.xml",
        "2026-10-31T12:00",
        "America/New_York",
        "2",
        "0",
    );
    assert_eq!(
        fold,
        [
            "2026-11-01T01:30:00-04:00 snom-abs daily 01:30",
            "2026-11-02T01:30:00-05:00 snom-abs daily 01:30"
        ]
    );
}

#[test]
fn daylight_saving_gap_and_fold_berlin() {
    // 2026-03-29: 02:00-03:00 does not exist; 02:30 runs at 03:30 CEST.
    let gap = schedule(
        "snom-abs-0230.xml",
        "2026-03-28T12:00",
        "Europe/Berlin",
        "2",
        "0",
    );
    assert_eq!(
        gap,
        [
            "2026-03-29T03:30:00+02:00 snom-abs daily 02:30",
            "2026-03-30T02:30:00+02:00 snom-abs daily 02:30"
        ]
    );
    // 2026-10-25: 02:00-03:00 occurs twice; 02:30 runs once, at the first (CEST) occurrence.
    let fold = schedule(
        "snom-abs-0230.xml",
        "2026-10-24T12:00",
        "Europe/Berlin",
        "2",
        "0",
    );
    assert_eq!(
        fold,
        [
            "2026-10-25T02:30:00+02:00 snom-abs daily 02:30",
            "2026-10-26T02:30:00+01:00 snom-abs daily 02:30"
        ]
    );
}

#[test]
fn check_rejects_a_panasonic_file_without_its_magic_line() {
    let (code, out, err) = run(&["check", "fixtures/schedule/panasonic-no-magic.cfg"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("panasonic-no-magic.cfg:1: the first line must contain \"# Panasonic SIP Phone Standard Format File #\""),
        "{err}"
    );
}

#[test]
fn check_prints_the_effective_settings() {
    let (code, out, err) = run(&["check", "fixtures/schedule/panasonic-resync-time-0200.cfg"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid Panasonic standard format"), "{out}");
    assert!(out.contains("every day at 02:00"), "{out}");
    let (code, out, _) = run(&["check", "fixtures/demo.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("sip.events          check-sync"), "{out}");
}

#[test]
fn bad_arguments_are_explained() {
    let (code, _, err) = run(&[
        "schedule",
        "--config",
        "fixtures/demo.toml",
        "--from",
        "tomorrow",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--from: \"tomorrow\" is neither RFC 3339"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "schedule",
        "--config",
        "fixtures/demo.toml",
        "--tz",
        "Mars/Olympus",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown time zone"), "{err}");
}

//! `sip-resync check`, `schedule` and `fleet` on Yealink, Polycom, Cisco and Grandstream
//! files: the research's examples (fixtures/schedule/) and the corpus (fixtures/real/).

mod support;

use support::run_cli as run;

fn schedule(config: &str, count: &str) -> (Vec<String>, String) {
    let (code, out, err) = run(&[
        "schedule",
        "--config",
        config,
        "--from",
        "2026-05-04T00:00",
        "--tz",
        "UTC",
        "--count",
        count,
        "--seed",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    (out.lines().map(str::to_owned).collect(), err)
}

#[test]
fn yealink_weekly_window_every_day() {
    let (polls, err) = schedule("fixtures/schedule/yealink-weekly-0200-0300.cfg", "3");
    assert_eq!(polls.len(), 3);
    for (i, p) in polls.iter().enumerate() {
        assert!(p.starts_with(&format!("2026-05-0{}T02:", 4 + i)), "{p}");
        assert!(
            p.ends_with("yealink-weekly Sun,Mon,Tue,Wed,Thu,Fri,Sat 02:00-03:00"),
            "{p}"
        );
    }
    assert!(
        err.contains(
            "yealink-weekly-0200-0300.cfg:10: static.auto_provision.inactivity_time_expire=\"10\""
        ),
        "{err}"
    );
}

#[test]
fn polycom_abs_daily_at_0200() {
    let (polls, _) = schedule("fixtures/schedule/polycom-abs-0200.cfg", "2");
    assert_eq!(
        polls,
        [
            "2026-05-04T02:00:00+00:00 polycom-abs every 1d at 02:00",
            "2026-05-05T02:00:00+00:00 polycom-abs every 1d at 02:00",
        ]
    );
}

#[test]
fn cisco_resync_at_with_an_hour_of_random_delay() {
    let (polls, err) = schedule(
        "fixtures/schedule/cisco-resync-at-0200-random-3600.xml",
        "2",
    );
    for p in &polls {
        assert!(p.contains("T02:") || p.contains("T03:00:00"), "{p}");
        assert!(p.ends_with("cisco-resync-at every 1d 02:00-03:00"), "{p}");
    }
    assert!(err.is_empty(), "{err}");
}

#[test]
fn grandstream_daily_randomised_between_2_and_3() {
    let (polls, err) = schedule("fixtures/schedule/grandstream-daily-02-03-random.xml", "2");
    for p in &polls {
        assert!(p.ends_with("grandstream-daily every 1d 02:00-03:00"), "{p}");
    }
    assert!(err.contains("NOTIFY is challenged"), "{err}");
}

/// `check` accepts every corpus file and names its dialect.
#[test]
fn check_reads_every_corpus_file() {
    for (file, dialect) in [
        ("yealink/fusionpbx-t46s-y000000000066.cfg", "Yealink .cfg"),
        ("yealink/fusionpbx-t46s-0015651a2b3c.cfg", "Yealink .cfg"),
        ("polycom/fusionpbx-5x-0004f2a1b2c3.cfg", "Polycom XML"),
        (
            "cisco/fusionpbx-8851-0c1a2b3c4d5e.xml",
            "Cisco SPA/MPP XML profile",
        ),
        (
            "grandstream/fspbx-ht80x-cfg000b82a1b2c3.xml",
            "Grandstream XML provisioning",
        ),
    ] {
        let path = format!("fixtures/real/{file}");
        let (code, out, err) = run(&["check", "--config", &path]);
        assert_eq!(code, 0, "{path}: {err}");
        assert!(
            out.starts_with(&format!("{path}: valid {dialect}")),
            "{out}"
        );
    }
}

/// `fleet` over the corpus: every dialect's schedule drives the simulated phones.
#[test]
fn fleet_runs_every_dialect() {
    let (code, out, err) = run(&[
        "fleet",
        "--config",
        "fixtures/real/polycom/fusionpbx-5x-0004f2a1b2c3.cfg",
        "--config",
        "fixtures/real/grandstream/fspbx-ht80x-cfg000b82a1b2c3.xml",
        "--config",
        "fixtures/schedule/cisco-resync-at-0200-random-3600.xml",
        "--config",
        "fixtures/schedule/yealink-weekly-0200-0300.cfg",
        "--phones",
        "50",
        "--hours",
        "48",
        "--from",
        "2026-05-04T00:00",
        "--tz",
        "UTC",
        "--no-startup-fetch",
    ]);
    assert_eq!(code, 0, "{err}");
    let totals: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("total fetches"))
        .collect();
    // Two nights of one fetch per phone each.
    assert_eq!(totals.len(), 4, "{out}");
    for t in totals {
        assert!(t.trim_end().ends_with("100"), "{t}\n{out}");
    }
}

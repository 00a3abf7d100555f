//! `sip-resync fleet` as an administrator runs it: the built binary on configuration files,
//! its text, JSON and SVG checked.
//!
//! Every test runs 10,000 phones (the size the issue asks about) unless it says otherwise.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::run_cli as run;

const N: u64 = 10_000;
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "sip-resync {args:?} failed: {err}");
    out
}

fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&ok(&args)).expect("fleet --json prints one JSON object")
}

/// The hour row starting at `start` (local, `2026-03-11T02:00:00+01:00`).
fn hour<'a>(series: &'a Value, start: &str) -> &'a Value {
    series["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["start"] == start)
        .unwrap_or_else(|| panic!("no hour {start}"))
}

fn minutes(series: &Value) -> Vec<u64> {
    series["per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

const RESYNC_0200: &str = "fixtures/schedule/panasonic-resync-time-0200.cfg";
const WINDOW_0200_0300: &str = "fixtures/fleet/snom-random-window-0200-0300.xml";
const DELAY_600: &str = "fixtures/fleet/random-delay-600.toml";
const FROM: &str = "2026-03-10T00:00";
const TZ: &str = "Europe/Berlin";

#[test]
fn panasonic_resync_time_fetches_in_one_second_at_0200() {
    let doc = json(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--tz",
        TZ,
    ]);
    let s = &doc["series"][0];
    // Start-up at 00:00, then 02:00 on both days, every phone in the same second.
    assert_eq!(s["total_fetches"], 3 * N);
    for start in [
        "2026-03-10T00:00:00+01:00",
        "2026-03-10T02:00:00+01:00",
        "2026-03-11T02:00:00+01:00",
    ] {
        let h = hour(s, start);
        assert_eq!(h["fetches"], N, "{start}");
        assert_eq!(h["peak_second"], N, "{start}: all in one second");
    }
    assert_eq!(s["peak_second"]["fetches"], N);
    let nonzero = s["hours"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["fetches"] != 0)
        .count();
    assert_eq!(nonzero, 3);

    // Without the start-up run, the peak second is 02:00:00 itself, as the text says.
    let text = ok(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--no-startup-fetch",
    ]);
    assert!(
        text.contains("  peak second    10000 at 2026-03-10T02:00:00+01:00\n"),
        "{text}"
    );
    assert!(text.contains("  total fetches  20000\n"), "{text}");
    assert!(
        text.contains(
            "  admission      no start-up fetch, random delay 0 s, run budget 3 per 20 s\n"
        ),
        "{text}"
    );
}

/// Upper bound of any minute of a 02:00-03:00 window for 10,000 phones, and the lower bound
/// of every minute; docs/fleet.md derives both from the binomial tail (probability below
/// 1e-9 that any of the 60 minutes crosses either).
const WINDOW_MINUTE_MAX: u64 = 258;
const WINDOW_MINUTE_MIN: u64 = 89;

#[test]
fn snom_random_window_spreads_the_fleet_over_the_hour() {
    let doc = json(&[
        "fleet",
        "--config",
        WINDOW_0200_0300,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--tz",
        TZ,
    ]);
    let s = &doc["series"][0];
    let per_minute = minutes(s);
    assert_eq!(per_minute.len(), 48 * 60);
    // Start-up at 00:00 on the 10th; the first window is the day after (the 11th), 24 h on.
    assert_eq!(per_minute[0], N);
    let window = &per_minute[(24 + 2) * 60..(24 + 3) * 60];
    let in_window: u64 = window.iter().sum();
    // The window's end, 03:00:00, is included: a few phones may land in that second.
    let at_end = per_minute[(24 + 3) * 60];
    assert_eq!(in_window + at_end, N);
    assert!(at_end < 20, "{at_end} phones at 03:00:00");
    for (m, &n) in window.iter().enumerate() {
        assert!(
            (WINDOW_MINUTE_MIN..=WINDOW_MINUTE_MAX).contains(&n),
            "02:{m:02}: {n} fetches, outside {WINDOW_MINUTE_MIN}-{WINDOW_MINUTE_MAX}"
        );
    }
    // Nothing else: the start-up run and the one window.
    assert_eq!(s["total_fetches"], 2 * N);
    let h = hour(s, "2026-03-11T02:00:00+01:00");
    assert!(h["peak_minute"].as_u64().unwrap() <= WINDOW_MINUTE_MAX);
}

/// Bounds of each of 10 minutes for 10,000 phones drawing uniformly over 600 s (docs/fleet.md).
const DELAY_MINUTE_MAX: u64 = 1196;
const DELAY_MINUTE_MIN: u64 = 815;

#[test]
fn notify_with_a_random_delay_of_600_s_spreads_over_ten_minutes() {
    let doc = json(&[
        "fleet",
        "--config",
        DELAY_600,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--hours",
        "24",
        "--notify-at",
        "2026-03-10T10:00",
    ]);
    assert_eq!(doc["notify_at"][0], "2026-03-10T10:00:00+01:00");
    let s = &doc["series"][0];
    assert_eq!(s["random_delay_secs"], 600);
    let per_minute = minutes(s);
    // Start-up (first draw) and NOTIFY (second draw) are each spread over 00:00-00:10 and
    // 10:00-10:10; the end, 600.000 s, is a possible draw.
    for start in [0, 10 * 60] {
        let spread = &per_minute[start..start + 10];
        let after = per_minute[start + 10];
        assert_eq!(spread.iter().sum::<u64>() + after, N);
        assert!(after <= 2, "{after} fetches exactly 600 s after");
        for (m, &n) in spread.iter().enumerate() {
            assert!(
                (DELAY_MINUTE_MIN..=DELAY_MINUTE_MAX).contains(&n),
                "minute {m} after {start}: {n}"
            );
        }
    }
    assert_eq!(s["total_fetches"], 2 * N);
    // The two draws differ: the NOTIFY burst is not the start-up burst replayed.
    assert_ne!(per_minute[..10], per_minute[600..610]);
    // Without a random delay the NOTIFY burst is one second.
    let doc = json(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--notify-at",
        "2026-03-10T10:00",
    ]);
    let h = hour(&doc["series"][0], "2026-03-10T10:00:00+01:00");
    assert_eq!(h["peak_second"], N);
}

#[test]
fn a_notify_is_admitted_as_the_agent_admits_it() {
    // A NOTIFY 10 s after start-up is fetched at once: the start-up run took nothing from the
    // run budget.
    let doc = json(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "10",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--hours",
        "1",
        "--notify-at",
        "2026-03-10T00:00:10",
    ]);
    let s = &doc["series"][0];
    assert_eq!(s["total_fetches"], 20);
    let per_minute = minutes(s);
    assert_eq!(per_minute[0], 20, "both runs in the first minute");
    assert_eq!(s["peak_second"]["at"], "2026-03-10T00:00:00+01:00");
}

#[test]
fn the_same_mac_base_gives_the_same_output() {
    let dir = tempfile::tempdir().unwrap();
    let svg = |name: &str| dir.path().join(name);
    let args = |mac: &'static str, out: &Path| -> Vec<String> {
        [
            "fleet",
            "--config",
            WINDOW_0200_0300,
            "--config",
            DELAY_600,
            "--phones",
            "2000",
            "--from",
            FROM,
            "--tz",
            TZ,
            "--notify-at",
            "2026-03-10T10:00",
            "--mac-base",
            mac,
            "--svg",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let run_with = |mac: &'static str, out: &Path| -> (String, Vec<u8>) {
        let a = args(mac, out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        (ok(&a), std::fs::read(out).unwrap())
    };
    let first = run_with("00:04:13:00:00:00", &svg("a.svg"));
    let again = run_with("000413000000", &svg("b.svg"));
    assert_eq!(first, again);
    // Another base draws other instants: the output can tell fleets apart.
    let other = run_with("00:04:13:10:00:00", &svg("c.svg"));
    assert_ne!(first.0, other.0);
    assert!(
        first.0.contains("(MACs 000413000000 to 0004130007CF)"),
        "{}",
        first.0
    );
}

#[test]
fn the_svg_plots_fetches_per_minute_with_axes_and_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plot.svg");
    let out_s = out.display().to_string();
    ok(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--config",
        WINDOW_0200_0300,
        "--phones",
        "10000",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--no-startup-fetch",
        "--svg",
        &out_s,
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<String> = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    for wanted in [
        "fetches per minute",
        "local time (Europe/Berlin)",
        RESYNC_0200,
        WINDOW_0200_0300,
        "03-10 00:00",
        "03-11 06:00",
        "10000 phones per configuration, fetches per minute",
    ] {
        assert!(
            texts.iter().any(|t| t == wanted),
            "no text {wanted:?} in {texts:?}"
        );
    }
    // One line of 2880 points (one per minute of 48 h) per configuration.
    let lines: Vec<Vec<(f64, f64)>> = root
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .map(|n| {
            n.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .filter(|points: &Vec<(f64, f64)>| points.len() > 2)
        .collect();
    assert_eq!(lines.len(), 2);
    let y = |line: &[(f64, f64)], minute: usize| line[minute].1;
    for line in &lines {
        assert_eq!(line.len(), 48 * 60);
        assert!(line.windows(2).all(|w| w[0].0 <= w[1].0), "x increases");
    }
    // SVG y grows downwards: Panasonic's 02:00 minute (10,000) is the highest point of all,
    // the window's busiest minute (at most 258) far lower, a quiet minute on the axis.
    let (pana, snom) = (&lines[0], &lines[1]);
    let baseline = y(pana, 60);
    let top = y(pana, 120);
    assert!(top < baseline);
    assert_eq!(y(pana, 24 * 60 + 120), top);
    let snom_top = (26 * 60..27 * 60)
        .map(|m| y(snom, m))
        .fold(f64::MAX, f64::min);
    assert!(
        snom_top > top && snom_top < baseline,
        "{snom_top} vs {top}..{baseline}"
    );
    assert!(baseline - snom_top < (baseline - top) / 30.0);
}

#[test]
fn daily_polls_wait_for_a_valid_clock_and_missed_slots_are_not_fired() {
    let doc = json(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "100",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--clock-valid-at",
        "2026-03-10T03:00",
    ]);
    assert_eq!(doc["clock_valid_at"], "2026-03-10T03:00:00+01:00");
    let s = &doc["series"][0];
    // The start-up run needs no clock; the first night's 02:00 passed before the clock was
    // valid and is not fired; the second night's is.
    assert_eq!(s["total_fetches"], 200);
    assert_eq!(hour(s, "2026-03-10T00:00:00+01:00")["fetches"], 100);
    assert_eq!(hour(s, "2026-03-10T02:00:00+01:00")["fetches"], 0);
    assert_eq!(hour(s, "2026-03-11T02:00:00+01:00")["fetches"], 100);
    let text = ok(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "100",
        "--from",
        FROM,
        "--tz",
        TZ,
        "--clock-valid-at",
        "2026-03-10T03:00",
    ]);
    assert!(
        text.contains("clock valid from 2026-03-10T03:00:00+01:00\n"),
        "{text}"
    );
}

#[test]
fn by_default_the_fleet_starts_at_the_start_of_the_current_hour() {
    let doc = json(&[
        "fleet",
        "--config",
        RESYNC_0200,
        "--phones",
        "10",
        "--tz",
        TZ,
    ]);
    let from = doc["from"].as_str().unwrap();
    // 2026-03-10T14:00:00+01:00: on the hour, and 48 hours with one row each.
    assert_eq!(&from[13..19], ":00:00", "{from}");
    assert_eq!(doc["hours"], 48);
    assert_eq!(doc["series"][0]["hours"].as_array().unwrap().len(), 48);
    assert_eq!(doc["mac_first"], "020000000000");
    assert_eq!(doc["series"][0]["startup_fetch"], true);
    assert_eq!(doc["series"][0]["run_budget"], 3);
    assert_eq!(doc["series"][0]["run_budget_refill_secs"], 20);
}

#[test]
fn invalid_options_exit_2_with_a_message() {
    for (args, wanted) in [
        (vec!["--phones", "0"], "phones: 0 is not in 1-100000"),
        (
            vec!["--phones", "10", "--hours", "745"],
            "hours: 745 is not in 1-744",
        ),
        (
            vec!["--phones", "10", "--mac-base", "zz"],
            "--mac-base: \"zz\" is not a MAC address",
        ),
        (
            vec!["--phones", "10", "--notify-at", "2026-03-13T00:00"],
            "is outside the window",
        ),
        (
            vec!["--phones", "10", "--tz", "Mars/Olympus"],
            "--tz: unknown time zone",
        ),
    ] {
        let mut all = vec!["fleet", "--config", RESYNC_0200, "--from", FROM];
        all.extend(args);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{all:?}: {out}{err}");
        assert!(err.contains(wanted), "{all:?}: {err}");
    }
    // Too much to simulate: every phone replayed (a random start-up delay), a run every
    // 30 s, 100,000 phones for 31 days. Refused after the first phone.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("rel-20s-delay.toml");
    std::fs::write(
        &big,
        "[schedule.snom]\nprov_polling_enabled = true\nprov_polling_mode = \"rel\"\n\
         prov_polling_period = 20\n[provisioning]\nrandom_delay_secs = 1\n",
    )
    .unwrap();
    let big = big.display().to_string();
    let (code, _, err) = run(&[
        "fleet", "--config", &big, "--phones", "100000", "--hours", "744", "--from", FROM,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("would simulate more than 400000000 runs; preview fewer phones or hours"),
        "{err}"
    );
    let (code, _, err) = run(&["fleet", "--config", "fixtures/no-such.cfg", "--phones", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such.cfg"), "{err}");
}

/// The commands in docs/fleet.md, run again: each checked-in SVG and each text output shown
/// there is what the command produces today.
#[test]
fn docs_fleet_md_shows_what_the_commands_produce() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/fleet.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let lines: Vec<&str> = doc.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = lines[i].strip_prefix("$ sip-resync ") else {
            i += 1;
            continue;
        };
        // A long command continues on the next lines after a trailing backslash.
        let mut command = first.to_owned();
        while let Some(head) = command.strip_suffix('\\') {
            i += 1;
            command = format!("{head} {}", lines[i].trim());
        }
        let mut args: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        // The checked-in plot is compared with a fresh one written elsewhere.
        let mut svg: Option<(PathBuf, PathBuf)> = None;
        if let Some(k) = args.iter().position(|a| a == "--svg") {
            let fresh = dir.path().join(format!("{checked}.svg"));
            svg = Some((Path::new(ROOT).join(&args[k + 1]), fresh.clone()));
            args[k + 1] = fresh.display().to_string();
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&a);
        // The output shown follows the command, up to the closing fence.
        let shown: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("```") && !l.starts_with("$ "))
            .copied()
            .collect();
        if !shown.is_empty() {
            let shown = shown.join("\n") + "\n";
            assert_eq!(
                out, shown,
                "docs/fleet.md: output of `sip-resync {command}`"
            );
        }
        if let Some((kept, fresh)) = svg {
            let kept_svg = std::fs::read_to_string(&kept)
                .unwrap_or_else(|e| panic!("{}: {e}", kept.display()));
            let fresh_svg = std::fs::read_to_string(&fresh).unwrap();
            assert!(
                kept_svg == fresh_svg,
                "{} is not what `sip-resync {command}` draws today",
                kept.display()
            );
        }
        checked += 1;
        i += 1 + shown.len();
    }
    assert!(
        checked >= 7,
        "only {checked} commands found in docs/fleet.md"
    );
}

//! 10,000 phones over 48 hours in each seed mode, through [`sip_resync::fleet::preview`].
//!
//! Each measurement is one whole preview: arming every phone's schedule, replaying its
//! timeline and admission, and computing the figures, for the fixture configurations of
//! fixtures/schedule/ (start-up at 2026-03-10 00:00 Europe/Berlin, start-up fetch on, the
//! defaults otherwise). Before measuring, each case asserts (also in release builds) that the
//! preview counted the fetches the mode gives, so it measures the path it names.
//!
//! | bench | fetches in 48 h (10,000 phones) | timelines replayed |
//! | --- | --- | --- |
//! | `snom_rel_20s` | 86,400,000 (a run every 20 s) | one, shared |
//! | `snom_abs_0230` | 30,000 | one, shared |
//! | `snom_random_3600s` | about 960,000 | 10,000 |
//! | `snom_random_daily_0900_0910` | 20,000 | 10,000 |
//! | `snom_random_3days_0900_0910` | 20,000 | 10,000 |
//! | `panasonic_cyclic_60min` | 480,000 | one, shared |
//! | `panasonic_resync_time_0200` | 30,000 | one, shared |
//! | `snom_rel_20s_delay_1s_1000_phones` | 8,640,000 (1,000 phones) | 1,000 |
//!
//! Timelines without random draws are the same for every phone, so the preview replays one
//! and counts it N times; the last case adds a 1-s random start-up delay so that each phone
//! is replayed, which measures the cost per simulated run.
//!
//! After Criterion's figures, the CPU time of one preview of each case (the thread's own,
//! from /proc/thread-self/schedstat, so other load on the machine does not count) is
//! printed with the CPU time per fetch.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sip_resync::config;
use sip_resync::fleet::{self, FleetConfig, FleetOptions};

const PHONES: u32 = 10_000;

struct Case {
    name: &'static str,
    file: &'static str,
    phones: u32,
    random_delay: Duration,
    /// Inclusive range of the fetches the preview must count.
    fetches: (u64, u64),
    /// Whether every phone lives the same timeline (replayed once).
    shared: bool,
}

const N: u64 = PHONES as u64;

const CASES: &[Case] = &[
    Case {
        name: "snom_rel_20s",
        file: "snom-rel-20s.xml",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (8640 * N, 8640 * N),
        shared: true,
    },
    Case {
        name: "snom_abs_0230",
        file: "snom-abs-0230.xml",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (3 * N, 3 * N),
        shared: true,
    },
    // Start-up, then chained intervals drawn from 1-3600 s (mean 1800.5 s), a run at least
    // 30 s after the previous one: about 172800/1800.5 = 96 polls per phone; 94 to 98 with
    // the start-up run leaves room for the draws.
    Case {
        name: "snom_random_3600s",
        file: "snom-random-3600s.xml",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (94 * N, 98 * N),
        shared: false,
    },
    Case {
        name: "snom_random_daily_0900_0910",
        file: "snom-random-daily-0900-0910.xml",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (2 * N, 2 * N),
        shared: false,
    },
    Case {
        name: "snom_random_3days_0900_0910",
        file: "snom-random-3days-0900-0910.xml",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (2 * N, 2 * N),
        shared: false,
    },
    Case {
        name: "panasonic_cyclic_60min",
        file: "panasonic-cyclic-60min.cfg",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (48 * N, 48 * N),
        shared: true,
    },
    Case {
        name: "panasonic_resync_time_0200",
        file: "panasonic-resync-time-0200.cfg",
        phones: PHONES,
        random_delay: Duration::ZERO,
        fetches: (3 * N, 3 * N),
        shared: true,
    },
    Case {
        name: "snom_rel_20s_delay_1s_1000_phones",
        file: "snom-rel-20s.xml",
        phones: 1000,
        random_delay: Duration::from_secs(1),
        fetches: (8640 * 1000, 8640 * 1000),
        shared: false,
    },
];

fn load(case: &Case) -> (FleetOptions, Vec<FleetConfig>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/schedule")
        .join(case.file);
    let mut settings = config::load(&path).expect("fixture loads");
    settings.provisioning.random_delay = case.random_delay;
    let zone = config::zone_named("Europe/Berlin").expect("zone");
    let from = "2026-03-10T00:00:00+01:00".parse().expect("instant");
    let options = FleetOptions::new(case.phones, from, 48);
    let configs = vec![FleetConfig {
        label: case.file.to_owned(),
        settings,
        zone,
    }];
    (options, configs)
}

fn total(options: &FleetOptions, configs: &[FleetConfig]) -> u64 {
    fleet::preview(options, configs).expect("preview").series[0].total
}

/// CPU time of this thread so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fleet_10000x48h");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.warm_up_time(Duration::from_millis(500));
    let mut cpu = Vec::new();
    let timing = std::env::args().any(|a| a == "--bench");
    for case in CASES {
        let (options, configs) = load(case);
        let fetches = total(&options, &configs);
        assert!(
            (case.fetches.0..=case.fetches.1).contains(&fetches),
            "{}: {fetches} fetches, expected {:?}",
            case.name,
            case.fetches
        );
        group.bench_function(case.name, |b| {
            b.iter(|| black_box(total(black_box(&options), &configs)))
        });
        // Under `cargo test` (no --bench) each case is only checked, not timed.
        if !timing {
            continue;
        }
        // At least half a second of CPU time, so the scheduler's accounting (updated at
        // each tick) is precise to about 1 %.
        let before = thread_cpu_ns();
        let mut runs = 0u64;
        while runs < 3 || thread_cpu_ns() - before < 500_000_000 {
            black_box(total(&options, &configs));
            runs += 1;
        }
        let per_preview = (thread_cpu_ns() - before) / runs;
        cpu.push((case, per_preview, fetches, runs));
    }
    group.finish();
    if !timing {
        return;
    }
    println!("\nCPU time of one preview (this thread's own, mean over the runs):");
    for (case, ns, fetches, runs) in cpu {
        // Per simulated run only where every phone is replayed.
        let per_run = if case.shared {
            "timeline shared".to_owned()
        } else {
            format!("{:.1} ns per simulated run", ns as f64 / fetches as f64)
        };
        println!(
            "  {:<36} {:>10.3} ms  {fetches:>9} fetches  {per_run}  ({runs} runs)",
            case.name,
            ns as f64 / 1e6,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

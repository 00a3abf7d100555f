//! A year of timed polls in each vendor mode, through [`Schedule::polls`].
//!
//! Each measurement arms a schedule (`Schedule::new`, which resolves the settings) and walks
//! every poll from 2026-01-01 00:00 to 2027-01-01 00:00 in Europe/Berlin, so both DST changes
//! of 2026 are crossed. Criterion's throughput is in polls per second; the time per iteration
//! is the cost of a whole year.
//!
//! | bench | settings | polls in the year |
//! | --- | --- | --- |
//! | `snom_rel_1h` | `prov_polling_mode=rel`, period 3600 s | 8760 |
//! | `snom_abs_0230` | `abs`, daily at 02:30 (a time the spring-forward day lacks) | 365 |
//! | `snom_random_1h` | `random`, period 3600 s: chained random intervals 1-3600 s | about 17,500 |
//! | `snom_random_days_3d` | `random`, period 3 days, window 09:00-09:10 | about 122 |
//! | `panasonic_cyclic_60min` | `CFG_CYCLIC=Y`, `CFG_CYCLIC_INTVL=60` | 8760 |
//! | `panasonic_resync_time_0200` | `CFG_RESYNC_TIME=02:00` | 365 |

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use sip_resync::schedule::{
    PanasonicPolling, PersistedState, Schedule, ScheduleSettings, SnomMode, SnomPolling,
};

const SEED: u64 = 0x0080_f0a1_b2c3;

fn zone() -> TimeZone {
    TimeZone::get("Europe/Berlin")
        .unwrap_or_else(|_| TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap())
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
        time: time.map(|t| t.parse().unwrap()),
        time_rand_end: end.map(|t| t.parse().unwrap()),
        settings_refresh_timer_secs: 0,
    })
}

fn panasonic(cyclic: bool, cyclic_min: u32, resync: Option<&str>) -> ScheduleSettings {
    ScheduleSettings::Panasonic(PanasonicPolling {
        cyclic,
        cyclic_interval_min: cyclic_min,
        retry_interval_min: 5,
        resync_time: resync.map(str::to_owned),
    })
}

/// Every poll in [from, until): arms the schedule and walks it.
fn year(settings: &ScheduleSettings, tz: &TimeZone, from: Timestamp, until: Timestamp) -> usize {
    let state = PersistedState {
        changed_at: Some(from),
        last_success: None,
    };
    let (mut schedule, warnings) = Schedule::new(settings, tz.clone(), state, SEED, from);
    assert!(
        warnings.is_empty(),
        "the schedule armed with warnings: {warnings:?}"
    );
    schedule
        .polls(from, true)
        .take_while(|p| p.at < until)
        .count()
}

fn schedules(c: &mut Criterion) {
    let tz = zone();
    let from = tz
        .to_timestamp("2026-01-01T00:00".parse().unwrap())
        .unwrap();
    let until = tz
        .to_timestamp("2027-01-01T00:00".parse().unwrap())
        .unwrap();
    let cases = [
        ("snom_rel_1h", snom(SnomMode::Rel, 3600, None, None)),
        (
            "snom_abs_0230",
            snom(SnomMode::Abs, 86_400, Some("02:30"), None),
        ),
        ("snom_random_1h", snom(SnomMode::Random, 3600, None, None)),
        (
            "snom_random_days_3d",
            snom(SnomMode::Random, 3 * 86_400, Some("09:00"), Some("09:10")),
        ),
        ("panasonic_cyclic_60min", panasonic(true, 60, None)),
        (
            "panasonic_resync_time_0200",
            panasonic(false, 60, Some("02:00")),
        ),
    ];
    let mut group = c.benchmark_group("schedule_year");
    for (name, settings) in &cases {
        let polls = year(settings, &tz, from, until);
        assert!(polls > 100, "{name}: only {polls} polls in a year");
        group.throughput(Throughput::Elements(polls as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                // Every iteration walks the whole year it claims to.
                let n = year(black_box(settings), &tz, from, until);
                assert_eq!(n, polls, "{name}");
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, schedules);
criterion_main!(benches);

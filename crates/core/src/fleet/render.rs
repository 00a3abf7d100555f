//! The text and JSON reports.

use std::fmt::Write;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::sim::mac_at;
use super::{Peak, Preview, Series};

/// `2026-03-10T02:00:00+01:00`.
pub(super) fn instant(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `2026-03-10 02:00 +01:00`.
fn hour(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %:z")
        .to_string()
}

pub(super) fn mac(mac: [u8; 6]) -> String {
    mac.iter().fold(String::with_capacity(12), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

fn header_zone(p: &Preview) -> TimeZone {
    p.series.first().map_or(TimeZone::UTC, |s| s.zone.clone())
}

fn admission(s: &Series) -> String {
    format!(
        "{}, random delay {} s, run budget {} per {} s",
        if s.startup_fetch {
            "start-up fetch"
        } else {
            "no start-up fetch"
        },
        s.random_delay_secs,
        s.run_budget,
        s.run_budget_refill_secs
    )
}

pub(super) fn text(p: &Preview) -> String {
    let zone = header_zone(p);
    let mut out = String::new();
    let last = mac_at(p.mac_base, p.phones - 1);
    let _ = writeln!(
        out,
        "fleet: {} phones per configuration (MACs {} to {}), from {} for {} h",
        p.phones,
        mac(p.mac_base),
        mac(last),
        instant(p.from, &zone),
        p.hours
    );
    if p.clock_valid_at > p.from {
        let _ = writeln!(out, "clock valid from {}", instant(p.clock_valid_at, &zone));
    }
    for at in &p.notify_at {
        let _ = writeln!(
            out,
            "check-sync NOTIFY to every phone at {}",
            instant(*at, &zone)
        );
    }
    for s in &p.series {
        let z = &s.zone;
        let _ = writeln!(out, "{}:", s.label);
        let _ = writeln!(out, "  schedule       {}", s.schedule);
        let _ = writeln!(out, "  admission      {}", admission(s));
        let _ = writeln!(out, "  total fetches  {}", s.total);
        let peak = |p: &Peak| format!("{} at {}", p.fetches, instant(p.at, z));
        let _ = writeln!(out, "  peak second    {}", peak(&s.peak_second));
        let _ = writeln!(out, "  peak minute    {}", peak(&s.peak_minute));
        let _ = writeln!(
            out,
            "  busy hour      {} from {}, p99 {} per second",
            s.busy_hour.fetches,
            instant(s.busy_hour.start, z),
            s.busy_hour.p99_per_second
        );
        let _ = writeln!(
            out,
            "  hour                      fetches   peak/s  peak/min"
        );
        let mut quiet = 0;
        for row in &s.hours {
            if row.fetches == 0 {
                quiet += 1;
                continue;
            }
            let _ = writeln!(
                out,
                "  {}  {:>9}  {:>7}  {:>8}",
                hour(row.start, z),
                row.fetches,
                row.peak_second,
                row.peak_minute
            );
        }
        if quiet > 0 {
            let _ = writeln!(
                out,
                "  ({quiet} hour{} without fetches not shown)",
                if quiet == 1 { "" } else { "s" }
            );
        }
    }
    out
}

fn peak_json(p: &Peak, zone: &TimeZone) -> Value {
    json!({ "at": instant(p.at, zone), "fetches": p.fetches })
}

pub(super) fn json(p: &Preview) -> String {
    let zone = header_zone(p);
    let series: Vec<Value> = p
        .series
        .iter()
        .map(|s| {
            let z = &s.zone;
            json!({
                "label": s.label,
                "time_zone": z.iana_name(),
                "schedule": s.schedule,
                "warnings": s.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "startup_fetch": s.startup_fetch,
                "random_delay_secs": s.random_delay_secs,
                "run_budget": s.run_budget,
                "run_budget_refill_secs": s.run_budget_refill_secs,
                "total_fetches": s.total,
                "peak_second": peak_json(&s.peak_second, z),
                "peak_minute": peak_json(&s.peak_minute, z),
                "busy_hour": {
                    "start": instant(s.busy_hour.start, z),
                    "fetches": s.busy_hour.fetches,
                    "p99_per_second": s.busy_hour.p99_per_second,
                },
                "hours": s.hours.iter().map(|h| json!({
                    "start": instant(h.start, z),
                    "fetches": h.fetches,
                    "peak_second": h.peak_second,
                    "peak_minute": h.peak_minute,
                })).collect::<Vec<_>>(),
                "per_minute": s.per_minute,
            })
        })
        .collect();
    let doc = json!({
        "phones": p.phones,
        "mac_first": mac(p.mac_base),
        "mac_last": mac(mac_at(p.mac_base, p.phones - 1)),
        "from": instant(p.from, &zone),
        "hours": p.hours,
        "clock_valid_at": instant(p.clock_valid_at, &zone),
        "notify_at": p.notify_at.iter().map(|at| instant(*at, &zone)).collect::<Vec<_>>(),
        "series": series,
    });
    let mut text = doc.to_string();
    text.push('\n');
    text
}

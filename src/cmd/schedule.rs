//! `sip-resync schedule`: the next timed polls of a configuration, one per line.

use std::process::ExitCode;

use sip_resync::config;

use crate::{exit, load_or_report, located, parse_instant};

pub(crate) fn schedule(
    path: &std::path::Path,
    from: Option<String>,
    count: usize,
    seed: u64,
    tz: Option<String>,
    changed_at: Option<String>,
) -> ExitCode {
    use sip_resync::schedule::{PersistedState, Schedule};
    let settings = match load_or_report(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let zone = match tz {
        Some(name) => config::zone_named(&name).map_err(|m| format!("--tz: {m}")),
        None => settings.zone().map_err(|e| e.to_string()),
    };
    let times = zone.and_then(|zone| {
        let from = match &from {
            Some(s) => parse_instant(s, &zone).map_err(|m| format!("--from: {m}"))?,
            None => jiff::Timestamp::now(),
        };
        let changed = match &changed_at {
            Some(s) => parse_instant(s, &zone).map_err(|m| format!("--changed-at: {m}"))?,
            None => from,
        };
        Ok((zone, from, changed))
    });
    let (zone, from, changed) = match times {
        Ok(t) => t,
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    for w in &settings.warnings {
        eprintln!("warning: {w}");
    }
    let state = PersistedState {
        changed_at: Some(changed),
        last_success: None,
    };
    let (mut plan, warnings) = Schedule::new(&settings.schedule, zone.clone(), state, seed, from);
    for w in &warnings {
        eprintln!("warning: {}", located(&settings, w));
    }
    let mut printed = 0;
    for poll in plan.polls(from, true).take(count) {
        println!("{}", poll.to_line(&zone));
        printed += 1;
    }
    if printed == 0 {
        eprintln!("no polls: {}", plan.describe());
    }
    ExitCode::SUCCESS
}

//! `sip-resync check`: validates a configuration and prints the effective settings.

use std::process::ExitCode;

use sip_resync::config::{RateLimits, RefusedAction};

use crate::{exit, load_or_report, located};

/// The rate limits in one line, for `check`.
pub(crate) fn describe_limits(l: &RateLimits) -> String {
    let rate = |n: u32, unit: &str| {
        if n == 0 {
            "unlimited".to_owned()
        } else {
            format!("{n}/{unit}")
        }
    };
    let mut per_source = rate(l.requests_per_second_per_source, "s");
    if l.requests_per_second_per_source > 0 {
        per_source.push_str(&format!(" (burst {})", l.requests_burst_per_source));
    }
    format!(
        "requests {per_source} per source, {} in all; triggers {} per source, {} in all; {} sources remembered",
        rate(l.requests_per_second, "s"),
        rate(l.triggers_per_minute_per_source, "min"),
        rate(l.triggers_per_minute, "min"),
        l.max_sources
    )
}

pub(crate) fn describe_auth(a: &sip_resync::config::AuthConfig) -> String {
    let lines = a.credentials.len();
    if !a.challenge {
        return format!("off (NOTIFY is not challenged; {lines} credential(s) known)");
    }
    let algs: Vec<&str> = a.algorithms.iter().map(|x| x.name()).collect();
    let g = &a.guesses;
    let brake = if g.failures_per_source == 0 && g.failures_per_user == 0 {
        "no brake on guessing".to_owned()
    } else {
        format!(
            "failed answers held back after {} per address and {} per user, for {} s doubling up to {} s",
            g.failures_per_source,
            g.failures_per_user,
            g.first_hold.as_secs(),
            g.max_hold.as_secs()
        )
    };
    format!(
        "challenge NOTIFY: realm \"{}\", {}, qop=auth, nonces valid {} s, {lines} credential(s); {brake}",
        a.realm,
        algs.join(" then "),
        a.nonce_lifetime.as_secs()
    )
}

/// The `[sip.tls]` files as resolved, and whom the TLS listener admits. The files' content is
/// checked when `run` starts.
pub(crate) fn describe_tls(t: &sip_resync::config::TlsSettings) -> String {
    let peers = match &t.client_ca {
        Some(ca) => format!("client certificates signed by {}", ca.display()),
        None => "no client certificate asked for".into(),
    };
    format!(
        "certificate {}, key {}; {peers}; handshake within {} s",
        t.certificate.display(),
        t.private_key.display(),
        t.handshake_timeout.as_secs()
    )
}

pub(crate) fn check(path: &std::path::Path) -> ExitCode {
    use sip_resync::schedule::{PersistedState, Schedule};
    let settings = match load_or_report(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let zone = match settings.zone() {
        Ok(z) => z,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let (plan, schedule_warnings) = Schedule::new(
        &settings.schedule,
        zone.clone(),
        PersistedState::default(),
        0,
        jiff::Timestamp::now(),
    );
    let listen: Vec<String> = settings.sip.listen.iter().map(|l| l.to_string()).collect();
    println!("{}: valid {}", path.display(), settings.dialect);
    println!("  sip.listen          {}", listen.join(", "));
    println!("  sip.events          {}", settings.sip.events.join(", "));
    let mode = match settings.sip.event_match {
        sip_resync::config::EventMatch::CaseInsensitive => "case-insensitive",
        sip_resync::config::EventMatch::Strict => "strict",
    };
    println!("  sip.event_match     {mode}");
    println!("  sip.allow           {}", settings.sip.allow);
    let refused = match settings.sip.refused {
        RefusedAction::Answer => "answer (403 Forbidden)",
        RefusedAction::Drop => "drop",
    };
    println!("  sip.refused         {refused}");
    println!(
        "  sip.auth            {}",
        describe_auth(&settings.sip.auth)
    );
    if let Some(tls) = &settings.sip.tls {
        println!("  sip.tls             {}", describe_tls(tls));
    }
    println!(
        "  sip.limits          {}",
        describe_limits(&settings.sip.limits)
    );
    println!(
        "  schedule.time_zone  {}",
        zone.iana_name()
            .unwrap_or("(system zone without an IANA name)")
    );
    println!("  schedule            {}", plan.describe());
    // The files the phone fetches, each with the setting that names it; credentials masked.
    let files = &settings.provisioning.files;
    if files.is_empty() {
        println!("  provisioning.files  none: nothing is fetched");
    }
    for (i, f) in files.iter().enumerate() {
        let label = if i == 0 { "provisioning.files" } else { "" };
        let origin = f
            .origin
            .as_ref()
            .map(|o| format!(" (from {o})"))
            .unwrap_or_default();
        println!(
            "  {label:<18}  {}{origin}",
            sip_resync::config::redact(&f.url)
        );
    }
    for w in &settings.warnings {
        println!("warning: {w}");
    }
    for w in &schedule_warnings {
        println!("warning: {}", located(&settings, w));
    }
    if !settings.unused.is_empty() {
        let shown: Vec<&str> = settings
            .unused
            .iter()
            .take(20)
            .map(String::as_str)
            .collect();
        let more = settings.unused.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        println!(
            "note: {} setting(s) not used by sip-resync, kept for the phone: {}{more}",
            settings.unused.len(),
            shown.join(", ")
        );
    }
    ExitCode::SUCCESS
}

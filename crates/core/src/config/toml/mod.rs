//! Our TOML format: the structs a file is deserialised into, their checks, and the warning
//! text for unknown keys.

mod locate;
pub(super) mod probe;

use std::path::Path;

use serde::Deserialize;

use super::error::not_utf8;
use super::panasonic::PANASONIC_DEFAULTS;
use super::{
    auth, base_dir_of, provisioning, tls, zone_named, ConfigError, Dialect, ListenAddr, Settings,
    SipSettings, TcpOptions, Warning,
};
use crate::schedule::{LocalTime, PanasonicPolling, ScheduleSettings, SnomMode, SnomPolling};
use crate::sip::{Allowlist, Cidr, EventMatch, RateLimits, RefusedAction};
use locate::{entry_line, key_at, key_line, line_of};

/// Most UDP workers `[sip] udp_workers` may ask for.
const MAX_UDP_WORKERS: usize = 64;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlFile {
    sip: TomlSip,
    schedule: TomlSchedule,
    provisioning: provisioning::TomlProvisioning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlSchedule {
    time_zone: Option<String>,
    snom: Option<TomlSnom>,
    panasonic: Option<TomlPanasonic>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlSnom {
    prov_polling_enabled: bool,
    prov_polling_mode: SnomMode,
    prov_polling_period: u64,
    prov_polling_time: Option<LocalTime>,
    prov_polling_time_rand_end: Option<LocalTime>,
    settings_refresh_timer: u64,
}

impl Default for TomlSnom {
    fn default() -> Self {
        TomlSnom {
            prov_polling_enabled: false,
            prov_polling_mode: SnomMode::Rel,
            prov_polling_period: 86_400,
            prov_polling_time: None,
            prov_polling_time_rand_end: None,
            settings_refresh_timer: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlPanasonic {
    cfg_cyclic: bool,
    cfg_cyclic_intvl: u32,
    cfg_rtry_intvl: u32,
    cfg_resync_time: Option<String>,
}

impl Default for TomlPanasonic {
    fn default() -> Self {
        let (cfg_cyclic, cfg_cyclic_intvl, cfg_rtry_intvl) = PANASONIC_DEFAULTS;
        TomlPanasonic {
            cfg_cyclic,
            cfg_cyclic_intvl,
            cfg_rtry_intvl,
            cfg_resync_time: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlSip {
    listen: Vec<ListenAddr>,
    events: Vec<String>,
    event_match: EventMatch,
    max_transactions: usize,
    allow: Vec<String>,
    refused: RefusedAction,
    tcp: TomlTcp,
    limits: TomlLimits,
    auth: auth::TomlAuth,
    udp_workers: usize,
    tls: tls::TomlTls,
}

impl Default for TomlSip {
    fn default() -> Self {
        let d = SipSettings::default();
        TomlSip {
            listen: d.listen,
            events: d.events,
            event_match: d.event_match,
            max_transactions: d.max_transactions,
            allow: Vec::new(),
            refused: d.refused,
            tcp: TomlTcp::default(),
            tls: tls::TomlTls::default(),
            udp_workers: d.udp_workers,
            limits: TomlLimits::default(),
            auth: auth::TomlAuth::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlLimits {
    requests_per_second_per_source: u32,
    requests_burst_per_source: u32,
    requests_per_second: u32,
    triggers_per_minute_per_source: u32,
    triggers_per_minute: u32,
    max_sources: usize,
}

impl Default for TomlLimits {
    fn default() -> Self {
        let d = RateLimits::default();
        TomlLimits {
            requests_per_second_per_source: d.requests_per_second_per_source,
            requests_burst_per_source: d.requests_burst_per_source,
            requests_per_second: d.requests_per_second,
            triggers_per_minute_per_source: d.triggers_per_minute_per_source,
            triggers_per_minute: d.triggers_per_minute,
            max_sources: d.max_sources,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlTcp {
    max_connections: usize,
    idle_timeout_secs: u64,
    message_deadline_secs: u64,
}

impl Default for TomlTcp {
    fn default() -> Self {
        let d = TcpOptions::default();
        TomlTcp {
            max_connections: d.max_connections,
            idle_timeout_secs: d.idle_timeout.as_secs(),
            message_deadline_secs: d.message_deadline.as_secs(),
        }
    }
}

/// The warning text for an unknown key: the keys its table accepts, and the closest of them
/// when the key looks like a typing error of one (`allwo`, `event-match`).
fn unknown_key_message(dotted: &str) -> String {
    let parts: Vec<&str> = dotted.split('.').collect();
    let (leaf, table) = parts.split_last().expect("split yields one part at least");
    let Some(keys) = probe::keys_of::<TomlFile>(table) else {
        return "unknown key, ignored (see docs/configuration.md for the keys)".into();
    };
    let prefix = if table.is_empty() {
        String::new()
    } else {
        format!("{}.", table.join("."))
    };
    let guess = keys
        .iter()
        .map(|k| {
            (
                probe::distance(&leaf.to_ascii_lowercase().replace('-', "_"), k),
                k,
            )
        })
        .filter(|(d, k)| *d <= if k.len() <= 4 { 1 } else { 2 })
        .min();
    let what = if table.is_empty() {
        "the top-level tables are".to_owned()
    } else {
        format!("the keys of [{}] are", table.join("."))
    };
    let mut message = "unknown key, ignored".to_owned();
    if let Some((_, k)) = guess {
        message.push_str(&format!("; did you mean {prefix}{k}?"));
    }
    message.push_str(&format!(
        " ({what} {}; see docs/configuration.md)",
        keys.join(", ")
    ));
    message
}

/// Whether a key name is `allow` or a likely typing error of it (`alow`, `Allow`, `allowed`).
fn looks_like_allow(name: &str) -> bool {
    probe::distance(&name.to_ascii_lowercase().replace('-', "_"), "allow") <= 2
}

/// The dotted name of an allowlist that the unknown key `dotted` hides: the key itself when
/// its name looks like `allow` (`sip.alow`, a top-level `allow`), or such a key inside it when
/// it is an unknown table (`[SIP]` holding `allow`). `None` when it hides none.
fn hidden_allowlist(text: &str, dotted: &str) -> Option<String> {
    fn search(value: &::toml::Value, dotted: &str) -> Option<String> {
        let ::toml::Value::Table(table) = value else {
            return None;
        };
        table.iter().find_map(|(k, v)| {
            let name = format!("{dotted}.{k}");
            if looks_like_allow(k) {
                Some(name)
            } else {
                search(v, &name)
            }
        })
    }
    let leaf = dotted.rsplit('.').next().unwrap_or(dotted);
    if looks_like_allow(leaf) {
        return Some(dotted.to_owned());
    }
    // The text parsed before, so this only fails on a path that is not a plain table key.
    let mut value = ::toml::Value::Table(::toml::from_str(text).ok()?);
    for part in dotted.split('.') {
        value = match value {
            ::toml::Value::Table(mut t) => t.remove(part)?,
            _ => return None,
        };
    }
    search(&value, dotted)
}

pub(super) fn from_toml(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let invalid = |line, key: Option<String>, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        key,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, &e))?;
    let mut unknown = Vec::new();
    let de = ::toml::Deserializer::new(text);
    let file: TomlFile = serde_ignored::deserialize(de, |p| {
        // An optional table shows up as a `?` step in the path: not part of the key.
        let key: Vec<String> = p
            .to_string()
            .split('.')
            .filter(|s| *s != "?")
            .map(str::to_owned)
            .collect();
        unknown.push(key.join("."));
    })
    .map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let key = e.span().and_then(|s| key_at(text, s.start));
        invalid(line, key, e.message().trim().to_owned())
    })?;
    // An allowlist under a misspelt key is not read, and an empty list lets every source in:
    // that typo stops the file instead of being a warning.
    if let Some(found) = unknown.iter().find_map(|key| hidden_allowlist(text, key)) {
        return Err(invalid(
            text.find(found.rsplit('.').next().unwrap_or(&found))
                .map(|o| line_of(text, o)),
            Some(found),
            "unknown key, taken for a misspelt sip.allow: not starting, since ignoring it would \
             accept requests from every source (write the list as allow = [...] in [sip]; see \
             docs/configuration.md)"
                .into(),
        ));
    }
    let mut warnings: Vec<Warning> = unknown
        .into_iter()
        .map(|key| Warning {
            path: path.to_owned(),
            line: text
                .find(key.rsplit('.').next().unwrap_or(&key))
                .map(|o| line_of(text, o)),
            message: unknown_key_message(&key),
            key: Some(key),
        })
        .collect();
    let sip = file.sip;
    let (schedule, schedule_warnings) = ScheduleSettings::from_parts(
        file.schedule.snom.map(|s| SnomPolling {
            enabled: s.prov_polling_enabled,
            mode: s.prov_polling_mode,
            period_secs: s.prov_polling_period,
            time: s.prov_polling_time,
            time_rand_end: s.prov_polling_time_rand_end,
            settings_refresh_timer_secs: s.settings_refresh_timer,
        }),
        file.schedule.panasonic.map(|p| PanasonicPolling {
            cyclic: p.cfg_cyclic,
            cyclic_interval_min: p.cfg_cyclic_intvl,
            retry_interval_min: p.cfg_rtry_intvl,
            resync_time: p.cfg_resync_time,
        }),
    );
    warnings.extend(schedule_warnings.into_iter().map(|w| Warning {
        path: path.to_owned(),
        line: text.find("[schedule.snom]").map(|o| line_of(text, o)),
        key: Some(w.key().to_owned()),
        message: w.detail().to_owned(),
    }));
    let check = |ok: bool, key: &str, message: &str| -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(invalid(
                key_line(text, key),
                Some(key.into()),
                message.into(),
            ))
        }
    };
    check(
        sip.events.iter().any(|e| !e.trim().is_empty()),
        "sip.events",
        "at least one event text is needed, e.g. [\"check-sync\"]",
    )?;
    check(
        sip.udp_workers <= MAX_UDP_WORKERS,
        "sip.udp_workers",
        &format!("must be from 0 (one per core) to {MAX_UDP_WORKERS}"),
    )?;
    check(
        (1..=65_536).contains(&sip.tcp.max_connections),
        "sip.tcp.max_connections",
        "must be from 1 to 65536",
    )?;
    check(
        (1..=86_400).contains(&sip.tcp.idle_timeout_secs),
        "sip.tcp.idle_timeout_secs",
        "must be from 1 to 86400 seconds",
    )?;
    check(
        (1..=3_600).contains(&sip.tcp.message_deadline_secs),
        "sip.tcp.message_deadline_secs",
        "must be from 1 to 3600 seconds",
    )?;
    check(
        (1..=1_000_000).contains(&sip.max_transactions),
        "sip.max_transactions",
        "must be from 1 to 1000000",
    )?;
    check(
        sip.allow.len() <= crate::sip::MAX_ALLOW_ENTRIES,
        "sip.allow",
        "at most 256 entries; use wider blocks (CIDR) to cover more addresses",
    )?;
    let mut allow = Vec::with_capacity(sip.allow.len());
    for entry in &sip.allow {
        let cidr: Cidr = entry.parse().map_err(|e: crate::sip::CidrParseError| {
            invalid(
                entry_line(text, "sip.allow", entry.trim()),
                Some("sip.allow".into()),
                e.to_string(),
            )
        })?;
        allow.push(cidr);
    }
    let l = &sip.limits;
    for (value, key, max) in [
        (
            l.requests_per_second_per_source,
            "sip.limits.requests_per_second_per_source",
            1_000_000,
        ),
        (
            l.requests_per_second,
            "sip.limits.requests_per_second",
            1_000_000,
        ),
        (
            l.triggers_per_minute_per_source,
            "sip.limits.triggers_per_minute_per_source",
            100_000,
        ),
        (
            l.triggers_per_minute,
            "sip.limits.triggers_per_minute",
            100_000,
        ),
    ] {
        check(
            value <= max,
            key,
            &format!("must be from 0 (unlimited) to {max}"),
        )?;
    }
    check(
        (1..=1_000_000).contains(&l.requests_burst_per_source),
        "sip.limits.requests_burst_per_source",
        "must be from 1 to 1000000",
    )?;
    check(
        (1..=1_000_000).contains(&l.max_sources),
        "sip.limits.max_sources",
        "must be from 1 to 1000000",
    )?;
    if allow.is_empty() && sip.refused == RefusedAction::Drop {
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, "sip.refused"),
            key: Some("sip.refused".into()),
            message: "has no effect while sip.allow is empty (every source is allowed)".into(),
        });
    }
    let auth = sip
        .auth
        .into_config()
        .map_err(|(key, message)| invalid(key_line(text, key), Some(key.into()), message))?;
    if auth.challenge && auth.credentials.is_empty() {
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, "sip.auth.challenge"),
            key: Some("sip.auth.challenge".into()),
            message: "is on but no credentials are configured: every NOTIFY is answered 401 until [[sip.auth.credentials]] are added or provisioned files bring SIP_AUTHID_n / SIP_PASS_n".into(),
        });
    }
    if let Some(zone) = &file.schedule.time_zone {
        if let Err(e) = zone_named(zone) {
            check(false, "schedule.time_zone", &e.to_string())?;
        }
    }
    if file.provisioning.uses_min_interval() {
        let key = "provisioning.min_interval_secs";
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, key),
            key: Some(key.into()),
            message: "retired; read as run_budget = 1 and run_budget_refill_secs = this value, \
                      which is what it meant (a check-sync then waits for the interval after \
                      the previous run); remove it to get the defaults, a check-sync in a \
                      quiet spell fetched at once (see docs/configuration.md)"
                .into(),
        });
    }
    let provisioning = file
        .provisioning
        .into_settings(&base_dir_of(path))
        .map_err(|(key, message)| invalid(key_line(text, key), Some(key.into()), message))?;
    let tls = sip
        .tls
        .into_settings(&base_dir_of(path), &sip.listen)
        .map_err(|(key, message)| invalid(key_line(text, key), Some(key.into()), message))?;
    if sip.listen.is_empty() {
        warnings.push(Warning {
            path: path.to_owned(),
            line: None,
            key: Some("sip.listen".into()),
            message: "empty: nothing to listen on unless --listen is given".into(),
        });
    }
    Ok(Settings {
        dialect: Dialect::Toml,
        schedule,
        time_zone: file.schedule.time_zone,
        provisioning,
        vendor_entries: Vec::new(),
        unused: Vec::new(),
        lines: Vec::new(),
        path: path.to_owned(),
        sip: SipSettings {
            listen: sip.listen,
            events: sip.events,
            event_match: sip.event_match,
            max_transactions: sip.max_transactions,
            allow: Allowlist::new(allow),
            refused: sip.refused,
            auth,
            limits: RateLimits {
                requests_per_second_per_source: l.requests_per_second_per_source,
                requests_burst_per_source: l.requests_burst_per_source,
                requests_per_second: l.requests_per_second,
                triggers_per_minute_per_source: l.triggers_per_minute_per_source,
                triggers_per_minute: l.triggers_per_minute,
                max_sources: l.max_sources,
            },
            tcp: TcpOptions {
                max_connections: sip.tcp.max_connections,
                idle_timeout: std::time::Duration::from_secs(sip.tcp.idle_timeout_secs),
                message_deadline: std::time::Duration::from_secs(sip.tcp.message_deadline_secs),
            },
            udp_workers: sip.udp_workers,
            tls,
        },
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;

    #[test]
    fn toml_with_unknown_key_and_defaults() {
        let s = from_bytes(
            b"[sip]\nlisten = [\"udp:127.0.0.1:5062\"]\nevents = [\"resync\"]\nevent_match = \"strict\"\ncolour = \"blue\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.sip.events, vec!["resync"]);
        assert_eq!(s.sip.event_match, EventMatch::Strict);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(
            s.warnings[0].to_string(),
            "a.toml:5: sip.colour: unknown key, ignored (the keys of [sip] are listen, events, \
             event_match, max_transactions, allow, refused, tcp, limits, auth, udp_workers, tls; \
             see docs/configuration.md)"
        );
        assert_eq!(s.sip.tcp, TcpOptions::default());
    }

    #[test]
    fn unknown_keys_name_the_valid_ones_and_the_likely_one() {
        let s = from_bytes(
            b"colour = 1\n[sip]\nlisen = [\"udp:0.0.0.0:5060\"]\nevent-match = \"strict\"\n[schedule.snom]\nprov_poling_enabled = true\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w[0],
            "a.toml:1: colour: unknown key, ignored (the top-level tables are sip, schedule, provisioning; see docs/configuration.md)"
        );
        assert!(
            w[1].starts_with("a.toml:3: sip.lisen: unknown key, ignored; did you mean sip.listen? (the keys of [sip] are listen, events,"),
            "{}",
            w[1]
        );
        assert!(
            w[2].starts_with(
                "a.toml:4: sip.event-match: unknown key, ignored; did you mean sip.event_match?"
            ),
            "{}",
            w[2]
        );
        assert!(
            w[3].starts_with("a.toml:6: schedule.snom.prov_poling_enabled: unknown key, ignored; did you mean schedule.snom.prov_polling_enabled? (the keys of [schedule.snom] are prov_polling_enabled, "),
            "{}",
            w[3]
        );
        let s = from_bytes(b"[provisioning]\nmack = \"x\"\n", Path::new("a.toml")).unwrap();
        assert!(
            s.warnings[0].to_string().contains(
                "did you mean provisioning.mac? (the keys of [provisioning] are files, mac, "
            ),
            "{}",
            s.warnings[0]
        );
    }

    #[test]
    fn a_misspelt_allowlist_is_an_error_not_a_warning() {
        // Ignored, any of these would leave the allowlist empty: every source accepted.
        for (file, located) in [
            ("[sip]\nalow = [\"192.0.2.0/24\"]\n", "a.toml:2: sip.alow: "),
            (
                "[sip]\nAllow = [\"192.0.2.0/24\"]\n",
                "a.toml:2: sip.Allow: ",
            ),
            (
                "[sip]\nallowed = [\"192.0.2.0/24\"]\n",
                "a.toml:2: sip.allowed: ",
            ),
            ("allow = [\"192.0.2.0/24\"]\n[sip]\n", "a.toml:1: allow: "),
            (
                "[SIP]\nallow = [\"192.0.2.0/24\"]\n",
                "a.toml:2: SIP.allow: ",
            ),
            (
                "[sip.limits]\nallow = [\"192.0.2.0/24\"]\n",
                "a.toml:2: sip.limits.allow: ",
            ),
        ] {
            let e = from_bytes(file.as_bytes(), Path::new("a.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(located) && e.contains("misspelt sip.allow"),
                "{file}: {e}"
            );
        }
        // Other unknown keys and tables stay warnings.
        let s = from_bytes(b"[sip]\ncolour = 1\n[extra]\nx = 1\n", Path::new("a.toml")).unwrap();
        assert_eq!(s.warnings.len(), 2);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let e = from_bytes(
            b"# x\n[sip]\nevents = \"check-sync\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3: sip.events: "), "{e}");
        let e = from_bytes(
            b"[sip.tcp]\nmax_connections = \"many\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: sip.tcp.max_connections: "),
            "{e}"
        );
        let e = from_bytes(b"[sip]\nevent_match = \"loose\"\n", Path::new("a.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("a.toml:2: sip.event_match: "),
            "{e}"
        );
    }

    #[test]
    fn toml_errors_are_located() {
        let e = from_bytes(b"[sip]\nevents = []\n", Path::new("a.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.toml:2: sip.events: at least one event text is needed, e.g. [\"check-sync\"]"
        );
        let e = from_bytes(
            b"[sip]\n\nlisten = [\"udp:nowhere\"]\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3: "), "{e}");
    }

    #[test]
    fn toml_trust_and_limits() {
        let s = from_bytes(
            b"[sip]\nallow = [\n  \"192.0.2.0/24\",\n  \"2001:db8::/32\",\n  \"10.1.2.3\",\n]\nrefused = \"drop\"\n\n[sip.limits]\nrequests_per_second_per_source = 5\nrequests_burst_per_source = 7\nrequests_per_second = 0\ntriggers_per_minute_per_source = 2\ntriggers_per_minute = 3\nmax_sources = 16\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(
            s.sip.allow.to_string(),
            "192.0.2.0/24, 2001:db8::/32, 10.1.2.3"
        );
        assert!(s.sip.allow.permits("::ffff:10.1.2.3".parse().unwrap()));
        assert_eq!(s.sip.refused, RefusedAction::Drop);
        assert_eq!(
            s.sip.limits,
            RateLimits {
                requests_per_second_per_source: 5,
                requests_burst_per_source: 7,
                requests_per_second: 0,
                triggers_per_minute_per_source: 2,
                triggers_per_minute: 3,
                max_sources: 16,
            }
        );
        // Defaults: everyone allowed, refusals answered, the default limits.
        let d = from_bytes(b"", Path::new("a.toml")).unwrap();
        assert!(d.sip.allow.is_empty());
        assert_eq!(d.sip.refused, RefusedAction::Answer);
        assert_eq!(d.sip.limits, RateLimits::default());
    }

    #[test]
    fn toml_trust_and_limit_errors_are_located() {
        let err = |text: &str| {
            from_bytes(text.as_bytes(), Path::new("a.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[sip]\nallow = [\n  \"192.0.2.0/24\",\n  \"192.0.2.1/24\",\n]\n");
        assert!(
            e.starts_with("a.toml:4: sip.allow: \"192.0.2.1/24\": 192.0.2.1/24 has host bits set"),
            "{e}"
        );
        let e = err("[sip]\nallow = [\"pbx.example.com\"]\n");
        assert!(
            e.starts_with("a.toml:2: sip.allow: \"pbx.example.com\": not an IP address"),
            "{e}"
        );
        let e = err("[sip]\nallow = [\"::1/129\"]\n");
        assert!(e.starts_with("a.toml:2: sip.allow: "), "{e}");
        let e = err("[sip]\nrefused = \"ignore\"\n");
        assert!(e.starts_with("a.toml:2: "), "{e}");
        let e = err("[sip.limits]\nrequests_burst_per_source = 0\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.requests_burst_per_source: must be from 1 to 1000000"
        );
        let e = err("[sip.limits]\n\ntriggers_per_minute = 100001\n");
        assert_eq!(
            e,
            "a.toml:3: sip.limits.triggers_per_minute: must be from 0 (unlimited) to 100000"
        );
        let e = err("[sip.limits]\nrequests_per_second_per_source = 2000000\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.requests_per_second_per_source: must be from 0 (unlimited) to 1000000"
        );
        let e = err("[sip.limits]\nmax_sources = 0\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.max_sources: must be from 1 to 1000000"
        );
        let e = err("[sip.limits]\nrequests_per_second = -1\n");
        assert!(e.starts_with("a.toml:2: "), "{e}");
        let many: Vec<String> = (0..257)
            .map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256))
            .collect();
        let e = err(&format!("[sip]\nallow = [{}]\n", many.join(", ")));
        assert!(
            e.starts_with("a.toml:2: sip.allow: at most 256 entries"),
            "{e}"
        );
        // Drop without a list: allowed, with a warning.
        let s = from_bytes(b"[sip]\nrefused = \"drop\"\n", Path::new("a.toml")).unwrap();
        assert_eq!(
            s.warnings[0].to_string(),
            "a.toml:2: sip.refused: has no effect while sip.allow is empty (every source is allowed)"
        );
        let s = from_bytes(b"[sip.limits]\nbursty = 1\n", Path::new("a.toml")).unwrap();
        assert!(
            s.warnings[0]
                .to_string()
                .starts_with("a.toml:2: sip.limits.bursty: unknown key, ignored (the keys of [sip.limits] are requests_per_second_per_source, "),
            "{}",
            s.warnings[0]
        );
    }

    #[test]
    fn toml_schedule() {
        let s = from_bytes(
            b"[schedule]\ntime_zone = \"Europe/Berlin\"\n[schedule.snom]\nprov_polling_enabled = true\nprov_polling_mode = \"random\"\nprov_polling_period = 259200\nprov_polling_time = \"09:00\"\nprov_polling_time_rand_end = \"09:10\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(matches!(&s.schedule, ScheduleSettings::Snom(p) if p.period_secs == 259_200));
        let e = from_bytes(
            b"[schedule]\ntime_zone = \"Mars/Olympus\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: schedule.time_zone: unknown time zone"),
            "{e}"
        );
        let e = from_bytes(
            b"[schedule.snom]\nprov_polling_time = \"9am\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:2"), "{e}");
    }
}

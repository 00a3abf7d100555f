//! Yealink `.cfg` files (`y0000000000xx.cfg`, `<mac>.cfg`): the line reader, and the settings
//! sip-resync takes from them.
//!
//! The format, from Yealink's templates and administrator guides (shared research,
//! dialects.md §1.1):
//! * the first line is `#!version:1.0.0.1` ("can not be edited or deleted, and must be placed
//!   in the first line"); blank lines before it, as generated templates leave, are tolerated;
//! * each setting is `key = value`, spaces around `=` optional; `#` starts a comment line;
//! * an empty value (`key =`) leaves the phone's value as it is, so it reads as not set;
//!   `%NULL%` sets the value empty, and reads the same;
//! * a repeated key ends with its last value.
//!
//! Read: `static.auto_provision.power_on`, `repeat.*`, `weekly.*`, `weekly_upgrade_interval`,
//! `inactivity_time_expire`, `flexible.*` (the schedule), `server.url` / `username` /
//! `password` (the MAC-oriented file), `aes_key_16.*` / `aes_key.*` (decryption),
//! `sip.notify_reboot_enable` (check-sync) and `account.N.auth_name` / `password` /
//! `user_name` (credentials). Keys are read with or without the `static.` prefix.

use std::path::Path;

use super::error::not_utf8;
use super::vendor::{with_credentials, Read, Values, VendorFile};
use super::FileOrigin;
use super::{auth::MAX_LINES, ConfigError, Dialect, FileSpec, RebootPolicy};
use crate::digest::Credential;
use crate::schedule::{ScheduleSettings, YealinkProvisioning};

/// The value that stands for an empty one.
const NULL_VALUE: &str = "%NULL%";

/// The text the first line starts with.
pub(super) const VERSION_LINE: &str = "#!version:";

/// Does this look like a Yealink file: its first non-blank line is the version line?
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    let text = String::from_utf8_lossy(head);
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(VERSION_LINE)
}

/// Parses a Yealink configuration file.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<VendorFile, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, &e))?;
    let mut file = VendorFile::new(Dialect::Yealink, path);
    let mut seen_version = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        if !seen_version {
            if !line.starts_with(VERSION_LINE) {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    line: Some(line_no),
                    key: None,
                    message: "a Yealink file must begin with \"#!version:1.0.0.1\"".into(),
                });
            }
            seen_version = true;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            file.warnings.push(super::Warning::at(
                path,
                line_no,
                None,
                format!(
                    "\"{}\" is not key = value; the line is ignored, as the phone ignores it",
                    crate::escape::excerpt(line.as_bytes())
                ),
            ));
            continue;
        };
        let key = key.trim();
        let key_ok = !key.is_empty()
            && key.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'[' | b']')
            });
        if !key_ok {
            file.warnings.push(super::Warning::at(
                path,
                line_no,
                None,
                format!(
                    "\"{}\" is not a setting name; the line is ignored",
                    crate::escape::excerpt(key.as_bytes())
                ),
            ));
            continue;
        }
        // `%NULL%` sets the value empty (Yealink's auto provisioning guide), as Wazo's
        // templates write every unused account setting.
        let value = match value.trim() {
            v if v.eq_ignore_ascii_case(NULL_VALUE) => "",
            v => v,
        };
        file.push(key.to_owned(), value.to_owned(), line_no, is_used)?;
    }
    if !seen_version {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(1),
            key: None,
            message: "a Yealink file must begin with \"#!version:1.0.0.1\"".into(),
        });
    }
    Ok(file)
}

/// The auto provisioning keys, without `static.`.
const AUTOP_KEYS: &[&str] = &[
    "auto_provision.power_on",
    "auto_provision.repeat.enable",
    "auto_provision.repeat.minutes",
    "auto_provision.weekly.enable",
    "auto_provision.weekly.dayofweek",
    "auto_provision.weekly.begin_time",
    "auto_provision.weekly.end_time",
    "auto_provision.weekly_upgrade_interval",
    "auto_provision.inactivity_time_expire",
    "auto_provision.flexible.enable",
    "auto_provision.flexible.interval",
    "auto_provision.flexible.begin_time",
    "auto_provision.flexible.end_time",
    "auto_provision.server.url",
    "auto_provision.server.username",
    "auto_provision.server.password",
    "auto_provision.aes_key_16.com",
    "auto_provision.aes_key_16.mac",
    "auto_provision.aes_key.com",
    "auto_provision.aes_key.mac",
];

/// Keys that set the schedule (without `static.`).
const SCHEDULE_KEYS: &[&str] = &[
    "auto_provision.repeat.enable",
    "auto_provision.repeat.minutes",
    "auto_provision.weekly.enable",
    "auto_provision.weekly.dayofweek",
    "auto_provision.weekly.begin_time",
    "auto_provision.weekly.end_time",
    "auto_provision.weekly_upgrade_interval",
    "auto_provision.inactivity_time_expire",
    "auto_provision.flexible.enable",
    "auto_provision.flexible.interval",
    "auto_provision.flexible.begin_time",
    "auto_provision.flexible.end_time",
];

/// Whether sip-resync reads the key.
pub(super) fn is_used(name: &str) -> bool {
    let bare = name.strip_prefix("static.").unwrap_or(name);
    if AUTOP_KEYS.contains(&bare) || bare == "sip.notify_reboot_enable" {
        return true;
    }
    // account.N.auth_name / password / user_name
    let mut parts = bare.splitn(3, '.');
    matches!(
        (
            parts.next(),
            parts.next().and_then(|n| n.parse::<usize>().ok()),
            parts.next()
        ),
        (
            Some("account"),
            Some(1..=MAX_LINES),
            Some("auth_name" | "password" | "user_name")
        )
    )
}

/// The key as written in the file: with `static.` when that form is set, else bare.
fn key_of(v: &Values<'_, '_>, bare: &str) -> String {
    let prefixed = format!("static.{bare}");
    if v.found(&prefixed).is_some() {
        prefixed
    } else {
        bare.to_owned()
    }
}

/// `weekly.dayofweek`: digits 0 (Sunday) to 6, as a mask.
fn day_mask(text: &str) -> Option<u8> {
    let mut mask = 0u8;
    for c in text.chars() {
        let d = c.to_digit(10).filter(|d| *d <= 6)?;
        mask |= 1 << d;
    }
    (mask != 0).then_some(mask)
}

pub(super) fn read(v: &mut Values<'_, '_>) -> Read {
    let mut read = Read::default();
    let d = YealinkProvisioning::default();
    let k = |v: &Values<'_, '_>, bare: &str| key_of(v, bare);
    if SCHEDULE_KEYS
        .iter()
        .any(|bare| v.found(&k(v, bare)).is_some())
    {
        let key = k(v, "auto_provision.repeat.enable");
        let repeat_enable = v.flag(&key, d.repeat_enable);
        let key = k(v, "auto_provision.repeat.minutes");
        let repeat_minutes = v.number(&key, 1, 43_200, u64::from(d.repeat_minutes)) as u32;
        let key = k(v, "auto_provision.weekly.enable");
        let weekly_enable = v.flag(&key, d.weekly_enable);
        let key = k(v, "auto_provision.weekly.dayofweek");
        let weekly_days = match v.found(&key) {
            None => d.weekly_days,
            Some(f) => match day_mask(f.value.trim()) {
                Some(m) => m,
                None => {
                    v.warn(
                        &f,
                        &key,
                        format!(
                            "\"{}\" is not a list of day digits 0 (Sunday) to 6; the phone's \
                             default 0123456 is used",
                            crate::escape::excerpt(f.value.as_bytes())
                        ),
                    );
                    d.weekly_days
                }
            },
        };
        let key = k(v, "auto_provision.weekly_upgrade_interval");
        let weekly_interval_weeks = v.number(&key, 0, 12, 0) as u8;
        let key = k(v, "auto_provision.weekly.begin_time");
        let weekly_begin = v.time(&key, Some(d.weekly_begin)).unwrap_or(d.weekly_begin);
        let key = k(v, "auto_provision.weekly.end_time");
        let weekly_end = v.time(&key, Some(d.weekly_end)).unwrap_or(d.weekly_end);
        let key = k(v, "auto_provision.inactivity_time_expire");
        let inactivity_minutes = v.number(&key, 0, 120, 0) as u32;
        let key = k(v, "auto_provision.flexible.enable");
        let flexible_enable = v.flag(&key, d.flexible_enable);
        let key = k(v, "auto_provision.flexible.interval");
        let flexible_interval_days =
            v.number(&key, 1, 1000, u64::from(d.flexible_interval_days)) as u32;
        let key = k(v, "auto_provision.flexible.begin_time");
        let flexible_begin = v
            .time(&key, Some(d.flexible_begin))
            .unwrap_or(d.flexible_begin);
        let key = k(v, "auto_provision.flexible.end_time");
        let flexible_end = v.time(&key, None);
        read.schedule = Some(ScheduleSettings::Yealink(YealinkProvisioning {
            repeat_enable,
            repeat_minutes,
            weekly_enable,
            weekly_days,
            weekly_interval_weeks,
            weekly_begin,
            weekly_end,
            inactivity_minutes,
            flexible_enable,
            flexible_interval_days,
            flexible_begin,
            flexible_end,
        }));
    }
    let key = k(v, "auto_provision.power_on");
    if v.found(&key).is_some() {
        read.fetch_at_startup = Some(v.flag(&key, true));
    }
    let key = k(v, "sip.notify_reboot_enable");
    if v.found(&key).is_some() {
        // 0: reboot only when the Event says reboot=true; 1 (default): reboot after every
        // check-sync; 2: ignore the NOTIFY.
        match v.number(&key, 0, 2, 1) {
            0 => read.reboot_policy = Some(RebootPolicy::IfRequested),
            2 => read.events = Some(Vec::new()),
            _ => read.reboot_policy = Some(RebootPolicy::Always),
        }
    }
    read.credentials = (1..=MAX_LINES)
        .filter_map(|n| {
            let auth_id = v.text(&format!("account.{n}.auth_name"));
            let user = v.text(&format!("account.{n}.user_name"));
            let password = v.text(&format!("account.{n}.password"))?;
            Some(Credential {
                user: user.map(str::to_owned),
                auth_id: auth_id.or(user)?.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect();
    let key = k(v, "auto_provision.server.url");
    if let Some(f) = v.found(&key) {
        let base = f.value.trim().trim_end_matches('/');
        let user = v.text(&k(v, "auto_provision.server.username"));
        let password = v.text(&k(v, "auto_provision.server.password"));
        let url = with_credentials(&format!("{base}/{{mac}}.cfg"), user, password);
        match crate::naming::check_url_template(&url) {
            Ok(()) => read.files.push(FileSpec {
                name: None,
                url,
                format: None,
                origin: Some(FileOrigin {
                    key: key.clone(),
                    line: f.line,
                }),
            }),
            Err(e) => v.warn(
                &f,
                &key,
                format!("{e}; the MAC-oriented file is not fetched"),
            ),
        }
    }
    read
}

/// The common and MAC-oriented AES keys (`aes_key_16.*`, else `aes_key.*`), for
/// decryption; never logged.
pub(crate) fn aes_keys(get: impl Fn(&str) -> Option<String>) -> (Option<String>, Option<String>) {
    let pick = |which: &str| {
        [
            "static.auto_provision.aes_key_16.",
            "auto_provision.aes_key_16.",
            "static.auto_provision.aes_key.",
            "auto_provision.aes_key.",
        ]
        .iter()
        .find_map(|p| get(&format!("{p}{which}")).filter(|k| !k.trim().is_empty()))
    };
    let com = pick("com");
    let mac = pick("mac").or_else(|| com.clone());
    (com, mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;
    use crate::schedule::Schedule;

    const FILE: &str = "\n#!version:1.0.0.1\n## comment\nstatic.auto_provision.power_on = 1\nstatic.auto_provision.weekly.enable = 1\nstatic.auto_provision.weekly.dayofweek = 135\nstatic.auto_provision.weekly.begin_time = 02:00\nstatic.auto_provision.weekly.end_time = 03:00\nstatic.auto_provision.repeat.enable =\nstatic.auto_provision.server.url = https://prov.example/yealink\nstatic.auto_provision.server.username = u\nstatic.auto_provision.server.password = p w\nsip.notify_reboot_enable = 0\naccount.1.auth_name = a1001\naccount.1.user_name = 1001\naccount.1.password = s3cret\nlang.gui = English\n";

    #[test]
    fn reads_the_schedule_urls_credentials_and_check_sync_rule() {
        let s = from_bytes(FILE.as_bytes(), Path::new("y000000000066.cfg")).unwrap();
        assert_eq!(s.dialect, Dialect::Yealink);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let ScheduleSettings::Yealink(y) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(y.weekly_enable && !y.repeat_enable);
        assert_eq!(y.weekly_days, 0b10_1010);
        assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
        assert_eq!(s.sip.events, ["check-sync"]);
        assert_eq!(s.provisioning.files.len(), 1);
        assert_eq!(
            s.provisioning.files[0].url,
            "https://u:p%20w@prov.example/yealink/{mac}.cfg"
        );
        let origin = s.provisioning.files[0].origin.as_ref().unwrap();
        assert_eq!(
            (origin.key.as_str(), origin.line),
            ("static.auto_provision.server.url", Some(10))
        );
        let c = &s.sip.auth.credentials[0];
        assert_eq!(
            (c.user.as_deref(), c.auth_id.as_str(), c.password.as_str()),
            (Some("1001"), "a1001", "s3cret")
        );
        assert_eq!(s.unused, ["lang.gui"]);
        let (plan, _) = Schedule::new(
            &s.schedule,
            jiff::tz::TimeZone::UTC,
            Default::default(),
            1,
            "2026-05-04T00:00:00Z".parse().unwrap(),
        );
        assert!(plan.rule().is_some());
    }

    #[test]
    fn defaults_and_bad_values() {
        let s = from_bytes(
            b"#!version:1.0.0.1\nstatic.auto_provision.repeat.enable = maybe\nstatic.auto_provision.repeat.minutes = 0\nsip.notify_reboot_enable = 7\n",
            Path::new("y.cfg"),
        )
        .unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w[0].starts_with(
                "y.cfg:2: static.auto_provision.repeat.enable: \"maybe\" is not 0 or 1"
            ),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("y.cfg:3: static.auto_provision.repeat.minutes:"),
            "{w:?}"
        );
        assert!(w[2].contains("default 1 is used"), "{w:?}");
        // notify_reboot_enable 1, the default: every check-sync reboots.
        assert_eq!(s.provisioning.reboot_policy, RebootPolicy::Always);
        // %NULL% is an empty value: no credential from it.
        let null = from_bytes(
            b"#!version:1.0.0.1\naccount.2.user_name = %NULL%\naccount.2.password = %NULL%\n",
            Path::new("y.cfg"),
        )
        .unwrap();
        assert!(null.sip.auth.credentials.is_empty());
        assert!(null.warnings.is_empty(), "{:?}", null.warnings);
        let ignore = from_bytes(
            b"#!version:1.0.0.1\nsip.notify_reboot_enable = 2\n",
            Path::new("y.cfg"),
        )
        .unwrap();
        assert!(ignore.sip.events.is_empty());
        let e = from_bytes(b"static.a = 1\n#!version:1.0.0.1\n", Path::new("y.txt"));
        assert!(e.is_err() || e.unwrap().dialect != Dialect::Yealink);
        let e = parse(b"static.a = 1\n", Path::new("y.cfg")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("y.cfg:1: a Yealink file must begin"),
            "{e}"
        );
    }
}

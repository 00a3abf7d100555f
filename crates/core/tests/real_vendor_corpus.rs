//! The Yealink, Polycom, Cisco and Grandstream files of `fixtures/real/` (written here to
//! reproduce what FusionPBX and FS PBX generate; sources in fixtures/real/SOURCES.md), each
//! read as the phone would: the files it names, its schedule, its check-sync rule, its
//! credentials and its warnings.

use std::path::Path;

use jiff::tz::TimeZone;
use sip_resync_core::config::{from_bytes, Dialect, RebootPolicy, Settings};
use sip_resync_core::engine::resolve_all;
use sip_resync_core::schedule::{PersistedState, Schedule};

fn read(name: &str, bytes: &[u8]) -> Settings {
    from_bytes(bytes, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The first `n` polls from 2026-05-04T00:00Z, one per line.
fn polls(s: &Settings, n: usize) -> Vec<String> {
    let from = "2026-05-04T00:00:00Z".parse().unwrap();
    let (mut plan, _) = Schedule::new(
        &s.schedule,
        TimeZone::UTC,
        PersistedState::default(),
        0x0015_651a_2b3c,
        from,
    );
    plan.polls(from, true)
        .take(n)
        .map(|p| p.to_line(&TimeZone::UTC))
        .collect()
}

fn urls(s: &Settings, mac: &str) -> Vec<(String, String)> {
    resolve_all(&s.provisioning.files, Some(mac), None, Path::new("."))
        .unwrap()
        .into_iter()
        .map(|src| (src.name, src.location.to_string()))
        .collect()
}

fn creds(s: &Settings) -> Vec<(Option<&str>, &str, &str)> {
    s.sip
        .auth
        .credentials
        .iter()
        .map(|c| (c.user.as_deref(), c.auth_id.as_str(), c.password.as_str()))
        .collect()
}

#[test]
fn fusionpbx_yealink_t46s_common_file() {
    let s = read(
        "fusionpbx-t46s-y000000000066.cfg",
        include_bytes!("../../../fixtures/real/yealink/fusionpbx-t46s-y000000000066.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Yealink);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // The MAC-oriented file under the server URL, with the HTTP credentials taken out of it.
    assert_eq!(
        urls(&s, "0015651A2B3C"),
        [(
            "0015651a2b3c.cfg".to_owned(),
            "https://pbx.example.com/app/provision/0015651a2b3c.cfg".to_owned()
        )]
    );
    assert_eq!(
        s.provisioning.files[0].url,
        "https://provuser:provpass@pbx.example.com/app/provision/{mac}.cfg"
    );
    let origin = s.provisioning.files[0].origin.as_ref().unwrap();
    assert_eq!(
        (origin.key.as_str(), origin.line),
        ("static.auto_provision.server.url", Some(26))
    );
    // Every auto provisioning key is written empty: the phone keeps its own values, so no
    // timed poll is known; a check-sync reboots (notify_reboot_enable's default, 1).
    assert!(polls(&s, 3).is_empty());
    assert_eq!(s.sip.events, ["check-sync"]);
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::Always);
    assert!(s.provisioning.fetch_at_startup);
    assert!(creds(&s).is_empty());
    // The three user_password lines are three users, not a repeat worth a warning.
    assert!(s
        .unused
        .contains(&"static.security.user_password".to_owned()));
}

#[test]
fn fusionpbx_yealink_t46s_mac_file() {
    let s = read(
        "fusionpbx-t46s-0015651a2b3c.cfg",
        include_bytes!("../../../fixtures/real/yealink/fusionpbx-t46s-0015651a2b3c.cfg"),
    );
    // The generated file starts with an empty line before the version line.
    assert_eq!(s.dialect, Dialect::Yealink);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.line_of("account.1.password"), Some(20));
    assert!(s.provisioning.files.is_empty());
}

#[test]
fn fusionpbx_polycom_5x_mac_file() {
    let s = read(
        "fusionpbx-5x-0004f2a1b2c3.cfg",
        include_bytes!("../../../fixtures/real/polycom/fusionpbx-5x-0004f2a1b2c3.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // random, 86400 s, 01:00 to 05:00: nightly in the window.
    let p = polls(&s, 3);
    assert_eq!(p.len(), 3);
    for (day, line) in p.iter().enumerate() {
        assert!(
            line.starts_with(&format!("2026-05-0{}T0", 4 + day)),
            "{line}"
        );
        let hour: u32 = line[11..13].parse().unwrap();
        assert!((1..=5).contains(&hour), "{line}");
        assert!(
            line.ends_with("polycom-random-days every 1d 01:00-05:00"),
            "{line}"
        );
    }
    // alwaysReboot=1: every check-sync reboots; the empty request validation challenges
    // nothing.
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::Always);
    assert!(!s.sip.auth.challenge);
    assert_eq!(s.sip.events, ["check-sync"]);
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    // No CONFIG_FILES in a configuration file: nothing to fetch from it.
    assert!(s.provisioning.files.is_empty());
}

#[test]
fn fusionpbx_cisco_8851_profile() {
    let s = read(
        "fusionpbx-8851-0c1a2b3c4d5e.xml",
        include_bytes!("../../../fixtures/real/cisco/fusionpbx-8851-0c1a2b3c4d5e.xml"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // [--uid --pwd] become HTTP credentials; $MA the MAC in lower case; the URL ends in `/`,
    // so the file is named after its rule.
    assert_eq!(
        urls(&s, "0C1A2B3C4D5E"),
        [(
            "profile_rule.xml".to_owned(),
            "http://pbx.example.com/app/provision/?mac=0c1a2b3c4d5e".to_owned()
        )]
    );
    assert_eq!(
        s.provisioning.files[0].url,
        "http://provuser:provpass@pbx.example.com/app/provision/?mac={mac}"
    );
    assert_eq!(
        s.provisioning.files[0].origin.as_ref().unwrap().line,
        Some(32)
    );
    // Resync_Periodic 0 and no Resync_At: no timed resync; Resync_On_Reset Yes with
    // Resync_Random_Delay 1 (20 s).
    assert!(polls(&s, 3).is_empty());
    assert!(s.provisioning.fetch_at_startup);
    assert_eq!(s.provisioning.random_delay.as_secs(), 20);
    assert_eq!(s.sip.events, ["resync", "check-sync"]);
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert!(s.unused.contains(&"Forced_Resync_Delay".to_owned()));
}

#[test]
fn fspbx_grandstream_ht80x_file() {
    let s = read(
        "fspbx-ht80x-cfg000b82a1b2c3.xml",
        include_bytes!("../../../fixtures/real/grandstream/fspbx-ht80x-cfg000b82a1b2c3.xml"),
    );
    assert_eq!(s.dialect, Dialect::Grandstream);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        urls(&s, "000B82A1B2C3"),
        [(
            "cfg000b82a1b2c3.xml".to_owned(),
            "https://pbx.example.com/app/provision/cfg000b82a1b2c3.xml".to_owned()
        )]
    );
    // P22296=2 (every day) at P285=1, not randomised (no P8458).
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-04T01:00:00+00:00 grandstream-daily every 1d at 01:00",
            "2026-05-05T01:00:00+00:00 grandstream-daily every 1d at 01:00",
        ]
    );
    // NOTIFY is challenged, with the account's credentials.
    assert!(s.sip.auth.challenge);
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.sip.events, ["resync", "check-sync"]);
}

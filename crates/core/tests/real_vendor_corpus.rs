//! The Yealink, Polycom, Cisco and Grandstream files of `fixtures/real/` (written here to
//! reproduce what FusionPBX, FS PBX, Wazo, SARK and Asterisk generate; sources in
//! fixtures/real/SOURCES.md), each
//! read as the phone would: the files it names, its schedule, its check-sync rule, its
//! credentials and its warnings.

use std::path::Path;

use jiff::tz::TimeZone;
use sip_resync_core::config::{from_bytes, Dialect, RebootPolicy, Settings};
use sip_resync_core::crypt::{decrypt_fetched, DecryptError};
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
    urls_for(s, mac, None)
}

/// The files' names and URLs for a phone of this MAC and model (`$PSN`, `{MODEL}`).
fn urls_for(s: &Settings, mac: &str, model: Option<&str>) -> Vec<(String, String)> {
    resolve_all(&s.provisioning.files, Some(mac), model, Path::new("."))
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

/// Runs the real `openssl` with `args`, `input` on its standard input; its standard output.
fn openssl_enc(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/test.sh installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}");
    out.stdout
}

fn warnings(s: &Settings) -> Vec<String> {
    s.warnings.iter().map(|w| w.to_string()).collect()
}

fn file_urls(s: &Settings) -> Vec<&str> {
    s.provisioning
        .files
        .iter()
        .map(|f| f.url.as_str())
        .collect()
}

#[test]
fn sark_yealink_common_file() {
    let s = read(
        "sark-yealink-y000000000053.cfg",
        include_bytes!("../../../fixtures/real/yealink/sark-yealink-y000000000053.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Yealink);
    // `ldap.password= ` and `ldap.version = ` are written empty; the admin and user
    // passwords are two values of one setting sip-resync does not read: no warning.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // The keys without `static.` (firmware before V81), read the same.
    assert_eq!(
        urls(&s, "0015651A2B3C"),
        [(
            "0015651a2b3c.cfg".to_owned(),
            "http://192.0.2.10/provisioning/0015651a2b3c.cfg".to_owned()
        )]
    );
    let origin = s.provisioning.files[0].origin.as_ref().unwrap();
    assert_eq!(
        (origin.key.as_str(), origin.line),
        ("auto_provision.server.url", Some(16))
    );
    // repeat.enable 1, minutes 1440: a day after start-up, then every day.
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-05T00:00:00+00:00 yealink-repeat every 1440min",
            "2026-05-06T00:00:00+00:00 yealink-repeat every 1440min",
        ]
    );
    assert!(s.provisioning.fetch_at_startup);
    // No notify_reboot_enable: the default 1, every check-sync reboots.
    assert_eq!(s.sip.events, ["check-sync"]);
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::Always);
    assert!(creds(&s).is_empty());
}

#[test]
fn sark_yealink_mac_file() {
    let s = read(
        "sark-yealink-0015651a2b3c.cfg",
        include_bytes!("../../../fixtures/real/yealink/sark-yealink-0015651a2b3c.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Yealink);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // `password = Xq9!f2Lm  ` and `user_name =  1001`: the blanks around a value are not
    // part of it.
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.line_of("account.1.password"), Some(31));
    assert_eq!(file_urls(&s), ["http://192.0.2.10/provisioning/{mac}.cfg"]);
    assert_eq!(
        polls(&s, 1),
        ["2026-05-05T00:00:00+00:00 yealink-repeat every 1440min"]
    );
}

#[test]
fn wazo_yealink_t54w_mac_file() {
    let s = read(
        "wazo-t54w-0015651a2b3c.cfg",
        include_bytes!("../../../fixtures/real/yealink/wazo-t54w-0015651a2b3c.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Yealink);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // sip.notify_reboot_enable = 0: the phone reboots only when the NOTIFY's Event says
    // reboot=true (Yealink administrator guide, "notify_reboot_enable").
    assert_eq!(s.line_of("sip.notify_reboot_enable"), Some(19));
    assert_eq!(s.sip.events, ["check-sync"]);
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
    // Line 2 is written `%NULL%` throughout: an empty value, no credential (before the
    // reader knew `%NULL%`, it gave a line 2 whose user and password were "%NULL%").
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    // No server URL and no auto provisioning schedule: the phone keeps its own; Wazo
    // serves it by DHCP. pnp_enable and custom.protect are not read.
    assert!(s.provisioning.files.is_empty());
    assert!(polls(&s, 3).is_empty());
    for key in [
        "static.auto_provision.pnp_enable",
        "static.auto_provision.custom.protect",
    ] {
        assert!(s.unused.contains(&key.to_owned()), "{key}");
    }
}

#[test]
fn wazo_yealink_v81_model_file() {
    let s = read(
        "wazo-t41s-y000000000068.cfg",
        include_bytes!("../../../fixtures/real/yealink/wazo-t41s-y000000000068.cfg"),
    );
    // The model's common file names only its firmware: nothing sip-resync reads.
    assert_eq!(s.dialect, Dialect::Yealink);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.unused, ["firmware.url"]);
    assert!(s.provisioning.files.is_empty());
    assert!(polls(&s, 3).is_empty());
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::Always);
}

#[test]
fn fusionpbx_yealink_t46s_weekly_variant() {
    let s = read(
        "fusionpbx-t46s-y000000000066-weekly.cfg",
        include_bytes!("../../../fixtures/real/yealink/fusionpbx-t46s-y000000000066-weekly.cfg"),
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // dayofweek 12345 (0 is Sunday): Monday to Friday, once in the 01:00-03:00 window.
    // 2026-05-04 is a Monday.
    let p = polls(&s, 6);
    let days: Vec<&str> = p.iter().map(|l| &l[..10]).collect();
    assert_eq!(
        days,
        [
            "2026-05-04",
            "2026-05-05",
            "2026-05-06",
            "2026-05-07",
            "2026-05-08",
            "2026-05-11"
        ]
    );
    for line in &p {
        let hour: u32 = line[11..13].parse().unwrap();
        assert!((1..3).contains(&hour), "{line}");
        assert!(
            line.ends_with("yealink-weekly Mon,Tue,Wed,Thu,Fri 01:00-03:00"),
            "{line}"
        );
    }
    assert!(s.provisioning.fetch_at_startup);
}

#[test]
fn fusionpbx_yealink_t46s_flexible_variant() {
    let s = read(
        "fusionpbx-t46s-y000000000066-flexible.cfg",
        include_bytes!("../../../fixtures/real/yealink/fusionpbx-t46s-y000000000066-flexible.cfg"),
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // flexible every 7 days in 02:00-04:00, the day within the interval derived from the
    // MAC; power_on 0: no fetch at start-up.
    let p = polls(&s, 3);
    assert_eq!(p.len(), 3);
    for (line, day) in p.iter().zip(["2026-05-06", "2026-05-13", "2026-05-20"]) {
        assert!(line.starts_with(day), "{line}");
        let hour: u32 = line[11..13].parse().unwrap();
        assert!((2..4).contains(&hour), "{line}");
        assert!(
            line.ends_with("yealink-flexible every 7d 02:00-04:00"),
            "{line}"
        );
    }
    assert!(!s.provisioning.fetch_at_startup);
}

#[test]
fn sark_polycom_ip330_master_file() {
    let s = read(
        "sark-ip330-0004f2a1b2c3.cfg",
        include_bytes!("../../../fixtures/real/polycom/sark-ip330-0004f2a1b2c3.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Four files beside the master file; the first listed has precedence, so it is fetched
    // last (the last fetched wins in sip-resync's overlay).
    assert_eq!(
        file_urls(&s),
        [
            "file://sip.cfg",
            "file://phone1.cfg",
            "file://polycom-locals.cfg",
            "file://0004f2a1b2c3-phone.cfg"
        ]
    );
    let names: Vec<String> = urls(&s, "0004F2A1B2C3")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "sip.cfg",
            "phone1.cfg",
            "polycom-locals.cfg",
            "0004f2a1b2c3-phone.cfg"
        ]
    );
    assert_eq!(
        s.provisioning.files[0].origin.as_ref().unwrap().line,
        Some(3)
    );
    // A master file sets no polling: the phone's default, off.
    assert!(polls(&s, 3).is_empty());
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfChanged);
    for key in ["APP_FILE_PATH", "MISC_FILES", "CONTACTS_DIRECTORY"] {
        assert!(s.unused.contains(&key.to_owned()), "{key}");
    }
}

#[test]
fn sark_polycom_ip330_phone_file() {
    // The root is `<phone1001>` (SARK writes `<phone$ext>`): the phone reads the attributes
    // whatever the root, as Polycom's own `<phone1>` and `<sip>` files show. The reader
    // refused it ("the root element must be <polycomConfig>…") before it looked for
    // Polycom parameters.
    let s = read(
        "sark-ip330-0004f2a1b2c3-phone.cfg",
        include_bytes!("../../../fixtures/real/polycom/sark-ip330-0004f2a1b2c3-phone.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // reg.1.address is the bare extension: the user is 1001.
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.line_of("reg.1.auth.password"), Some(5));
    assert!(s.provisioning.files.is_empty());
    assert_eq!(s.sip.events, ["check-sync"]);
    // No alwaysReboot: a check-sync reboots only when the files changed.
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfChanged);
}

#[test]
fn sark_polycom_master_file_with_unknown_macro() {
    let s = read(
        "sark-polycom-0004f2a1b2c3.cfg",
        include_bytes!("../../../fixtures/real/polycom/sark-polycom-0004f2a1b2c3.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    // `[MACADDRESS]` is no macro the phone fills: neither file is fetched, and each is
    // named on the line of CONFIG_FILES.
    assert!(s.provisioning.files.is_empty());
    let w = warnings(&s);
    assert_eq!(w.len(), 2, "{w:?}");
    for (w, name) in w.iter().zip([
        "[MACADDRESS]-polycom-locals.cfg",
        "[MACADDRESS]-polycom-phone1.cfg",
    ]) {
        assert_eq!(
            w,
            &format!(
                "sark-polycom-0004f2a1b2c3.cfg:3: CONFIG_FILES: \"{name}\" uses a macro \
                 sip-resync cannot fill ([PHONE_MAC_ADDRESS], [PHONE_MAC] and [PHONE_MODEL] are supported); the \
                 file is not fetched"
            )
        );
    }
}

#[test]
fn asterisk_phoneprov_polycom_master_file() {
    let s = read(
        "asterisk-phoneprov-0004f2a1b2c3.cfg",
        include_bytes!("../../../fixtures/real/polycom/asterisk-phoneprov-0004f2a1b2c3.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // No custom.cfg (the `${IF(${STAT(e|…)})}` is empty); a file in a directory, with no
    // extension, then sip.cfg.
    assert_eq!(
        file_urls(&s),
        ["file://sip.cfg", "file://config/0004f2a1b2c3"]
    );
    let names: Vec<String> = urls(&s, "0004F2A1B2C3")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["sip.cfg", "0004f2a1b2c3"]);
}

#[test]
fn asterisk_phoneprov_polycom_config_file() {
    // Served as `config/<mac>`, no extension; `<phone1>` root, one line from
    // polycom_line.xml.
    let s = read(
        "asterisk-phoneprov-config-0004f2a1b2c3",
        include_bytes!("../../../fixtures/real/polycom/asterisk-phoneprov-config-0004f2a1b2c3"),
    );
    assert_eq!(s.dialect, Dialect::Polycom);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.line_of("reg.1.auth.userId"), Some(3));
    assert!(polls(&s, 3).is_empty());
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfChanged);
    assert!(!s.sip.auth.challenge);
}

#[test]
fn fusionpbx_cisco_spa112_profile() {
    let s = read(
        "fusionpbx-spa112-0c1a2b3c4d5e.xml",
        include_bytes!("../../../fixtures/real/cisco/fusionpbx-spa112-0c1a2b3c4d5e.xml"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // The `{else}` branch: no HTTP credentials.
    assert_eq!(
        urls(&s, "0C1A2B3C4D5E"),
        [(
            "profile_rule.xml".to_owned(),
            "http://pbx.example.com/app/provision/?mac=0c1a2b3c4d5e".to_owned()
        )]
    );
    assert_eq!(
        s.provisioning.files[0].origin.as_ref().unwrap().line,
        Some(15)
    );
    // Resync_Periodic 0: no timed resync; Resync_Random_Delay 2 (40 s) at start-up.
    assert!(polls(&s, 3).is_empty());
    assert_eq!(s.provisioning.random_delay.as_secs(), 40);
    assert_eq!(s.sip.events, ["resync", "check-sync"]);
    // Line 2's user and password are rendered empty: no credential. Use_Auth_ID No: the
    // user ID authenticates.
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
}

#[test]
fn fusionpbx_cisco_spa112_encrypted_variant() {
    let s = read(
        "fusionpbx-spa112-0c1a2b3c4d5e-encrypted.xml",
        include_bytes!("../../../fixtures/real/cisco/fusionpbx-spa112-0c1a2b3c4d5e-encrypted.xml"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    // Profile_Rule_B without a scheme is fetched over TFTP ("the default protocol is
    // TFTP", Cisco SPA provisioning guide), $PSN the model; Profile_Rule_C, the factory
    // default `/spa$PSN.cfg`, names no server: the phone would ask DHCP option 66's.
    assert_eq!(
        urls_for(&s, "0C1A2B3C4D5E", Some("SPA112")),
        [
            (
                "profile_rule.xml".to_owned(),
                "http://pbx.example.com/app/provision/?mac=0c1a2b3c4d5e".to_owned()
            ),
            (
                "spaSPA112.cfg".to_owned(),
                "tftp://192.0.2.10/spaSPA112.cfg".to_owned()
            )
        ]
    );
    assert_eq!(
        warnings(&s),
        [
            "fusionpbx-spa112-0c1a2b3c4d5e-encrypted.xml:19: Profile_Rule_C: no server: the \
          phone would use the TFTP server of DHCP option 66, which sip-resync cannot know; \
          the file is not fetched"
        ]
    );
    // [--key $A]: the profile's passphrase is GPP_A, not part of the URL. The profile the
    // rule fetches, encrypted by the real `openssl enc` as the SPA guide shows, decrypts
    // with it; the plain variant names no key and refuses it.
    assert!(!s.provisioning.files[0].url.contains("Tr0ub4dor"));
    let plain: &[u8] =
        include_bytes!("../../../fixtures/real/cisco/fusionpbx-spa112-0c1a2b3c4d5e.xml");
    let sealed = openssl_enc(
        &[
            "enc",
            "-e",
            "-aes-256-cbc",
            "-md",
            "md5",
            "-pass",
            "pass:Tr0ub4dor",
        ],
        plain,
    );
    assert!(sealed.starts_with(b"Salted__"));
    let opened = decrypt_fetched(&s, "profile_rule.xml", &sealed, 1 << 20).unwrap();
    assert_eq!(&*opened, plain);
    let unkeyed = read(
        "fusionpbx-spa112-0c1a2b3c4d5e.xml",
        include_bytes!("../../../fixtures/real/cisco/fusionpbx-spa112-0c1a2b3c4d5e.xml"),
    );
    assert_eq!(
        decrypt_fetched(&unkeyed, "profile_rule.xml", &sealed, 1 << 20),
        Err(DecryptError::NoKey)
    );
    // Resync_At 0230 with Resync_At_Random_Delay 900: daily between 02:30 and 02:45.
    let p = polls(&s, 3);
    for (line, day) in p.iter().zip(["2026-05-04", "2026-05-05", "2026-05-06"]) {
        assert!(line.starts_with(&format!("{day}T02:")), "{line}");
        let minute: u32 = line[14..16].parse().unwrap();
        assert!((30..45).contains(&minute), "{line}");
        assert!(
            line.ends_with("cisco-resync-at every 1d 02:30-02:45"),
            "{line}"
        );
    }
    // The retry list: 30 min, 1 h, 2 h, then every 4 h.
    let sip_resync_core::schedule::ScheduleSettings::Cisco(c) = &s.schedule else {
        panic!("{:?}", s.schedule)
    };
    assert_eq!(
        c.error_retry.unwrap().to_string(),
        "1800s,3600s,7200s,14400s"
    );
}

#[test]
fn wazo_cisco_spa_model_file() {
    let s = read(
        "wazo-spa504G.cfg",
        include_bytes!("../../../fixtures/real/cisco/wazo-spa504G.cfg"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Profile_Rule_B then _C, in the order the phone runs them: the shared file, then the
    // MAC's ($MA in lower case).
    assert_eq!(
        urls(&s, "0C1A2B3C4D5E"),
        [
            (
                "spa-phone.xml".to_owned(),
                "http://192.0.2.10:8667/spa-phone.xml".to_owned()
            ),
            (
                "0c1a2b3c4d5e.xml".to_owned(),
                "http://192.0.2.10:8667/0c1a2b3c4d5e.xml".to_owned()
            )
        ]
    );
    // No Resync_* setting: the phone's default Resync_Periodic, 3600 s.
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-04T01:00:00+00:00 cisco-periodic every 3600s",
            "2026-05-04T02:00:00+00:00 cisco-periodic every 3600s",
        ]
    );
    assert!(creds(&s).is_empty());
}

#[test]
fn wazo_cisco_spa112_mac_file() {
    let s = read(
        "wazo-spa112-0c1a2b3c4d5e.xml",
        include_bytes!("../../../fixtures/real/cisco/wazo-spa112-0c1a2b3c4d5e.xml"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    // The nested <router-configuration> of the SPA100/200 is one unused element.
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(s.unused.contains(&"router-configuration".to_owned()));
    // Use_Auth_ID not set (No): Auth_ID_1_ is not used, the user ID authenticates.
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert!(s.provisioning.files.is_empty());
    assert_eq!(s.sip.events, ["resync", "check-sync"]);
    assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
}

#[test]
fn sark_cisco_spa_profile() {
    let s = read(
        "sark-spa-0c1a2b3c4d5e.xml",
        include_bytes!("../../../fixtures/real/cisco/sark-spa-0c1a2b3c4d5e.xml"),
    );
    assert_eq!(s.dialect, Dialect::Cisco);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Every value is written ` value\n`: the blanks around it are not part of it.
    assert_eq!(creds(&s), [(Some("1001"), "1001", "Xq9!f2Lm")]);
    assert_eq!(s.line_of("Resync_Periodic"), Some(16));
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-04T01:00:00+00:00 cisco-periodic every 3600s",
            "2026-05-04T02:00:00+00:00 cisco-periodic every 3600s",
        ]
    );
    // No Profile_Rule: the factory default /spa$PSN.cfg, over DHCP option 66's TFTP
    // server, which sip-resync cannot know: nothing to fetch.
    assert!(s.provisioning.files.is_empty());
}

#[test]
fn wazo_grandstream_gxp2170_file() {
    let s = read(
        "wazo-gxp2170-cfg000b82a1b2c3.xml",
        include_bytes!("../../../fixtures/real/grandstream/wazo-gxp2170-cfg000b82a1b2c3.xml"),
    );
    assert_eq!(s.dialect, Dialect::Grandstream);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // The older firmware's P194 = 2 (every day), randomised (P8458) between 23:00 (P285)
    // and 01:00 (P8459): a window across midnight.
    let p = polls(&s, 3);
    assert_eq!(p.len(), 3);
    for line in &p {
        let hour: u32 = line[11..13].parse().unwrap();
        assert!(hour == 23 || hour == 0, "{line}");
        assert!(
            line.ends_with("grandstream-daily every 1d 23:00-01:00"),
            "{line}"
        );
    }
    // Two accounts: P35/P36/P34 and P404/P405/P406; NOTIFY is challenged with them.
    assert_eq!(
        creds(&s),
        [
            (Some("1001"), "1001", "Xq9!f2Lm"),
            (Some("1002"), "1002", "Vb7#k3Qz")
        ]
    );
    assert!(s.sip.auth.challenge);
    // No P237: the config server comes from DHCP, nothing named to fetch.
    assert!(s.provisioning.files.is_empty());
}

#[test]
fn fspbx_grandstream_ht80x_interval_variant() {
    let s = read(
        "fspbx-ht80x-cfg000b82a1b2c3-interval.xml",
        include_bytes!(
            "../../../fixtures/real/grandstream/fspbx-ht80x-cfg000b82a1b2c3-interval.xml"
        ),
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // P22296 = 1: every P193 minutes from start-up; P285 does not apply (no P8458).
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-05T00:00:00+00:00 grandstream-interval every 1440min",
            "2026-05-06T00:00:00+00:00 grandstream-interval every 1440min",
        ]
    );
    assert_eq!(
        urls(&s, "000B82A1B2C3")[0].1,
        "https://pbx.example.com/app/provision/cfg000b82a1b2c3.xml"
    );
}

#[test]
fn fspbx_grandstream_ht80x_weekly_variant() {
    let s = read(
        "fspbx-ht80x-cfg000b82a1b2c3-weekly.xml",
        include_bytes!("../../../fixtures/real/grandstream/fspbx-ht80x-cfg000b82a1b2c3-weekly.xml"),
    );
    // The newer key wins; the older one, left from an older template, is named.
    assert_eq!(
        warnings(&s),
        [
            "fspbx-ht80x-cfg000b82a1b2c3-weekly.xml:64: P194: differs from P22296 (line 61); \
          P22296, the current firmware's key, is used"
        ]
    );
    // P22296 = 3: weekly on P286 = 5 (Friday) at P285 = 3.
    assert_eq!(
        polls(&s, 2),
        [
            "2026-05-08T03:00:00+00:00 grandstream-weekly Fri 03:00",
            "2026-05-15T03:00:00+00:00 grandstream-weekly Fri 03:00",
        ]
    );
    // P212 = 0: the configuration file over TFTP.
    assert_eq!(
        urls(&s, "000B82A1B2C3"),
        [(
            "cfg000b82a1b2c3.xml".to_owned(),
            "tftp://pbx.example.com/app/provision/cfg000b82a1b2c3.xml".to_owned()
        )]
    );
}

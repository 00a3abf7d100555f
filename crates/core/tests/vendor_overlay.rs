//! Fetched Yealink and Cisco files laid over a local configuration key by key.

use std::path::Path;

use sip_resync_core::config::{
    from_bytes, overlay, FileFormat, ParsedFile, Provisioned, RebootPolicy,
};
use sip_resync_core::schedule::ScheduleSettings;

/// A fetched Yealink MAC file over the local common file: what it sets wins, what it
/// leaves out stays; over TOML, only what it sets changes.
#[test]
fn fetched_vendor_files_overlay_key_by_key() {
    let local = from_bytes(
        b"#!version:1.0.0.1\nstatic.auto_provision.repeat.enable = 1\nstatic.auto_provision.repeat.minutes = 60\nsip.notify_reboot_enable = 0\n",
        Path::new("y000000000066.cfg"),
    )
    .unwrap();
    let mac = ParsedFile::parse(
        FileFormat::Auto,
        "001565abcdef.cfg",
        b"#!version:1.0.0.1\nstatic.auto_provision.repeat.minutes = 120\naccount.1.auth_name = a\naccount.1.password = p\n",
    )
    .unwrap();
    assert!(matches!(mac, ParsedFile::Vendor(_)));
    let files = [Provisioned {
        name: "001565abcdef.cfg",
        file: &mac,
    }];
    let (eff, warnings) = overlay(&local, &files);
    assert!(warnings.is_empty(), "{warnings:?}");
    let ScheduleSettings::Yealink(y) = &eff.schedule else {
        panic!("{:?}", eff.schedule)
    };
    assert_eq!((y.repeat_enable, y.repeat_minutes), (true, 120));
    assert_eq!(eff.provisioning.reboot_policy, RebootPolicy::IfRequested);
    assert_eq!(eff.sip.auth.credentials[0].auth_id, "a");
    let toml = from_bytes(b"", Path::new("a.toml")).unwrap();
    let (eff, _) = overlay(&toml, &files);
    assert_eq!(
        eff.provisioning.reboot_policy,
        toml.provisioning.reboot_policy
    );
    assert!(matches!(eff.schedule, ScheduleSettings::Yealink(_)));
    // A bad value in a fetched file is a warning naming the file and line.
    let bad = ParsedFile::parse(
        FileFormat::Auto,
        "cfg.xml",
        b"<flat-profile>\n<Resync_Periodic>often</Resync_Periodic>\n</flat-profile>",
    )
    .unwrap();
    let (_, warnings) = overlay(
        &toml,
        &[Provisioned {
            name: "cfg.xml",
            file: &bad,
        }],
    );
    assert!(
        warnings[0]
            .to_string()
            .starts_with("cfg.xml:2: Resync_Periodic: \"often\""),
        "{warnings:?}"
    );
}

//! The corpus of fixtures/real/: configuration files as public PBX projects generate them
//! (FusionPBX, Wazo's provd plugins, FreePBX's provisioner, SARK, Elastix, Gemeinschaft,
//! Millicall; fixtures/real/SOURCES.md names the template and commit behind each file), each
//! read as the phone reads it: the files it fetches (URLs after `{MAC}`/`{mac}` substitution,
//! with the setting and line that name them), the schedule, the accepted event, the
//! credentials of the NOTIFY challenge and the warnings.
//!
//! Every file is one row of [`CASES`]; a failure names the file.
//!
//! Vendor facts used below: Panasonic standard format rules (magic line, first value wins, 537
//! bytes per line with CR LF): KX-UT670 administrator guide p. 117 and KX-HDV100 p. 49;
//! `CFG_RESYNC_TIME` disables the cyclic settings: KX-UT136 guide p. 42; the XML format's
//! "last setting is effective": KX-UTG200/300 guide p. 44; Snom's `settings_refresh_timer` and
//! `prov_polling_*`: Snom wiki "Provisioning Polling for desk phones"; Snom's `{mac}` is the
//! MAC in upper case: Snom's "Configuring snom phones for Mass Deployment" FAQ.

mod support;

use std::path::Path;

use sip_resync::config::{self, Dialect};
use sip_resync::schedule::{PersistedState, Schedule};

/// The MAC the Panasonic files are read for (Panasonic's OUI 00:80:F0).
const PANASONIC_MAC: &str = "0080F0A1B2C3";
/// The MAC the Snom files are read for (Snom's OUI 00:04:13).
const SNOM_MAC: &str = "000413A1B2C3";

/// One file of the corpus and the reading the phone makes of it.
struct Case {
    file: &'static str,
    dialect: Dialect,
    /// (URL as written, URL fetched after substitution, "KEY, line N" that named it); `None`
    /// where a part is not asserted.
    files: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
    /// [`Schedule::describe`] in UTC.
    schedule: &'static str,
    events: &'static [&'static str],
    /// The auth IDs of the credentials, in line order.
    auth_ids: &'static [&'static str],
    challenge: bool,
    /// (line, key, message) of every warning, in file order; `None` when not asserted.
    warnings: Option<&'static [(usize, &'static str, &'static str)]>,
}

const PANASONIC_OFF: &str = "Panasonic: no timed polls (CFG_CYCLIC off, CFG_RESYNC_TIME not set); after a failure retry in 30 min instead, again after every failure";
const SNOM_OFF: &str = "Snom: no timed polls (prov polling off and settings_refresh_timer 0)";
const NO_POLLS: &str = "no timed polls";

const FIRMWARE: &str =
    "not carried out by sip-resync: firmware upgrades are the embedding application's";
const OPTION66: &str = "not carried out by sip-resync: DHCP option 66 choosing the provisioning server; sip-resync fetches the CFG_*_FILE_PATH URLs as written";
const SNOM_FIRMWARE_STATUS: &str = "not carried out by sip-resync: the phone's firmware update list; firmware is the embedding application's";

const CASES: &[Case] = &[
    // ---------------------------------------------------------------- Panasonic
    Case {
        file: "fusionpbx-kx-ut133-model.cfg",
        dialect: Dialect::Panasonic,
        // The standard file path names a directory; the local name is the dialect's own.
        files: &[(
            "https://pbx.example.com/app/provision",
            Some("https://pbx.example.com/app/provision"),
            Some("CFG_STANDARD_FILE_PATH, line 3"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        file: "fusionpbx-kx-ut133.xml",
        dialect: Dialect::PanasonicXml,
        // Each setting is an attribute named by its key: `<CyclicEnable CFG_CYCLIC="Y"/>`.
        files: &[(
            "https://pbx.example.com/app/provision",
            Some("https://pbx.example.com/app/provision"),
            Some("CFG_STANDARD_FILE_PATH, line 78"),
        )],
        schedule: "Panasonic cyclic resync: every 1440 min, counted from start-up; after a failure retry in 30 min instead, again after every failure",
        events: &["reboot"],
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: None,
    },
    Case {
        file: "fusionpbx-kx-ut670.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "tftp://pbx.example.com/{mac}.cfg",
            Some("tftp://pbx.example.com/0080f0a1b2c3.cfg"),
            Some("CFG_STANDARD_FILE_PATH, line 25"),
        )],
        // CFG_RESYNC_TIME="" is "not set": the cyclic settings (off) decide.
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        // Accounts 2 to 6 are unset in FusionPBX: empty SIP_AUTHID_n/SIP_PASS_n, no line.
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (18, "FIRM_UPGRADE_ENABLE", FIRMWARE),
            (23, "OPTION66_ENABLE", OPTION66),
        ]),
    },
    Case {
        file: "fusionpbx-kx-tgp550.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "tftp://pbx.example.com/{mac}.cfg",
            Some("tftp://pbx.example.com/0080f0a1b2c3.cfg"),
            Some("CFG_MASTER_FILE_PATH, line 34"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (19, "FIRM_UPGRADE_ENABLE", FIRMWARE),
            (25, "FIRM_FILE_PATH", FIRMWARE),
            (28, "OPTION66_ENABLE", OPTION66),
        ]),
    },
    Case {
        file: "fusionpbx-kx-tgp500b04.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "tftp://pbx.example.com/{mac}.cfg",
            Some("tftp://pbx.example.com/0080f0a1b2c3.cfg"),
            Some("CFG_MASTER_FILE_PATH, line 15"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        // The bootstrap file leaves every SIP value empty.
        auth_ids: &[],
        challenge: false,
        warnings: Some(&[
            (3, "FIRM_UPGRADE_ENABLE", FIRMWARE),
            (9, "FIRM_FILE_PATH", FIRMWARE),
            (12, "OPTION66_ENABLE", OPTION66),
        ]),
    },
    Case {
        // The KX-TGP500/550 PCC magic line, CR LF line ends, lower-case {mac}.
        file: "fusionpbx-kx-tgp550-https.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "https://pbx.example.com/app/provision/{mac}.cfg",
            Some("https://pbx.example.com/app/provision/0080f0a1b2c3.cfg"),
            Some("CFG_MASTER_FILE_PATH, line 34"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (19, "FIRM_UPGRADE_ENABLE", FIRMWARE),
            (25, "FIRM_FILE_PATH", FIRMWARE),
            (28, "OPTION66_ENABLE", OPTION66),
        ]),
    },
    Case {
        file: "fusionpbx-kx-utg300.xml",
        dialect: Dialect::PanasonicXml,
        // USR_PROV_SVR_URL is left unasserted (see docs/corpus.md).
        files: &[],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        // `<Line idx="n">` groups hold SIP_AUTHID and SIP_PASS of line n.
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: None,
    },
    Case {
        file: "wazo-kx-ut136.cfg",
        dialect: Dialect::Panasonic,
        // Wazo's device file names no further file; the phone got here by DHCP.
        files: &[],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: Some(&[
            (32, "FIRM_UPGRADE_ENABLE", FIRMWARE),
            (33, "FIRM_VERSION", FIRMWARE),
            (35, "FIRM_FILE_PATH", FIRMWARE),
        ]),
    },
    Case {
        file: "sark-kx-ut.cfg",
        dialect: Dialect::Panasonic,
        // SARK writes the lower-case {mac}, in a query.
        files: &[(
            "http://192.0.2.10/provisioning?mac={mac}",
            Some("http://192.0.2.10/provisioning?mac=0080f0a1b2c3"),
            Some("CFG_STANDARD_FILE_PATH, line 11"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[(7, "OPTION66_ENABLE", OPTION66)]),
    },
    Case {
        // The same file with CR-only line ends: read line by line, the same lines.
        file: "sark-kx-ut-cr.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "http://192.0.2.10/provisioning?mac={mac}",
            Some("http://192.0.2.10/provisioning?mac=0080f0a1b2c3"),
            Some("CFG_STANDARD_FILE_PATH, line 11"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[(7, "OPTION66_ENABLE", OPTION66)]),
    },
    Case {
        // CFG_CYCLC: the phone ignores the misspelt key and does not poll.
        file: "sark-kx-ut-misspelt.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "http://192.0.2.10/provisioning?mac={mac}",
            Some("http://192.0.2.10/provisioning?mac=0080f0a1b2c3"),
            Some("CFG_STANDARD_FILE_PATH, line 13"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (7, "OPTION66_ENABLE", OPTION66),
            (11, "CFG_CYCLC", "is not a setting sip-resync reads; did you mean CFG_CYCLIC? As written, the phone ignores it and sip-resync does too"),
        ]),
    },
    Case {
        // Line 33 is 537 bytes with its CR LF (read), line 34 is 538 (ignored): "537 bytes
        // including CR LF", KX-UT670 guide p. 117.
        file: "sark-kx-ut-dialplan.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "http://192.0.2.10/provisioning?mac={mac}",
            Some("http://192.0.2.10/provisioning?mac=0080f0a1b2c3"),
            Some("CFG_STANDARD_FILE_PATH, line 11"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (7, "OPTION66_ENABLE", OPTION66),
            (34, "", "line is 538 bytes with its CR LF, longer than 537: ignored"),
        ]),
    },
    Case {
        // SARK's KX-HDV template opens seven values with a typographic quote (U+201C).
        file: "sark-kx-hdv.cfg",
        dialect: Dialect::Panasonic,
        files: &[(
            "http://192.0.2.10/provisioning?mac={mac}",
            Some("http://192.0.2.10/provisioning?mac=0080f0a1b2c3"),
            Some("CFG_STANDARD_FILE_PATH, line 11"),
        )],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: None,
    },
    Case {
        // Millicall's ConfigCommon.cfg: fetched master first, then the standard file
        // (Panasonic's fetch order); a daily time, which disables the cyclic settings
        // (KX-UT136 guide p. 42); CFG_RESYNC_FROM_SIP="Y" makes "Y" the awaited event text.
        file: "millicall-kx-hdv-common.cfg",
        dialect: Dialect::Panasonic,
        files: &[
            (
                "http://192.0.2.10:8000/provisioning/Panasonic/ConfigCommon.cfg",
                Some("http://192.0.2.10:8000/provisioning/Panasonic/ConfigCommon.cfg"),
                Some("CFG_MASTER_FILE_PATH, line 8"),
            ),
            (
                "http://192.0.2.10:8000/provisioning/Panasonic/Config{MAC}.cfg",
                Some("http://192.0.2.10:8000/provisioning/Panasonic/Config0080F0A1B2C3.cfg"),
                Some("CFG_STANDARD_FILE_PATH, line 7"),
            ),
        ],
        schedule: "Panasonic CFG_RESYNC_TIME: every day at 02:00 (UTC); CFG_CYCLIC, CFG_CYCLIC_INTVL and CFG_RTRY_INTVL are disabled; waits for a valid wall clock, missed slots are not fired; after a failure the next regular poll is the retry",
        events: &["Y"],
        auth_ids: &[],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        file: "millicall-kx-hdv130.cfg",
        dialect: Dialect::Panasonic,
        files: &[
            (
                "http://192.0.2.10:8000/provisioning/Panasonic/ConfigCommon.cfg",
                Some("http://192.0.2.10:8000/provisioning/Panasonic/ConfigCommon.cfg"),
                Some("CFG_MASTER_FILE_PATH, line 6"),
            ),
            (
                "http://192.0.2.10:8000/provisioning/Panasonic/Config{MAC}.cfg",
                Some("http://192.0.2.10:8000/provisioning/Panasonic/Config0080F0A1B2C3.cfg"),
                Some("CFG_STANDARD_FILE_PATH, line 5"),
            ),
        ],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        file: "millicall-kx-hdv-extension.cfg",
        dialect: Dialect::Panasonic,
        files: &[],
        schedule: PANASONIC_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[]),
    },
    // ---------------------------------------------------------------- Snom
    Case {
        // FusionPBX renders its own {$mac} (lower case) into setting_server; the default
        // settings_refresh_timer 0 leaves timed polling off.
        file: "fusionpbx-snom-d735.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 24"),
        )],
        schedule: SNOM_OFF,
        events: &["check-sync"],
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: Some(&[(
            23,
            "firmware",
            "not carried out by sip-resync: a firmware URL; firmware is the embedding application's",
        )]),
    },
    Case {
        file: "fusionpbx-snom-d735-misspelt.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 24"),
        )],
        // prov_poling_enabled is not prov_polling_enabled: polling stays off, as on the phone.
        schedule: SNOM_OFF,
        events: &["check-sync"],
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: Some(&[(26, "prov_poling_enabled", "is not a setting sip-resync reads; did you mean prov_polling_enabled? As written, the phone ignores it and sip-resync does too")]),
    },
    Case {
        // snom_provision_timer_seconds = 3600 becomes settings_refresh_timer: with prov
        // polling off the phone re-reads its settings every hour (Snom wiki, Provisioning
        // Polling page).
        file: "fusionpbx-snom-d385.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 24"),
        )],
        schedule: "Snom settings_refresh_timer (prov polling off): every 3600 s, counted from start-up; after a failure retry in 5 min, doubling up to 60 min, never later than the next regular poll, until a poll succeeds",
        events: &["check-sync"],
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        // The default setting present but empty: `<settings_refresh_timer></...>`.
        file: "fusionpbx-snom-d385-empty-timer.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 24"),
        )],
        schedule: SNOM_OFF,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[(
            25,
            "settings_refresh_timer",
            "\"\" is not a whole number of seconds; the phone's default, 0, is used",
        )]),
    },
    Case {
        // Declared ISO-8859-1, "Jürgen Müller" in Latin-1 bytes; prov polling on with an
        // empty mode (the phone's default, rel) and a 12-hour time (ignored): relative
        // polling every prov_polling_period.
        file: "fusionpbx-snom-d385-latin1.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 24"),
        )],
        schedule: "Snom relative polling: every 86400 s, counted from start-up; after a failure retry in 5 min, doubling up to 60 min, never later than the next regular poll, until a poll succeeds",
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (27, "prov_polling_mode", "\"\" is not rel, abs or random; the phone's default, rel, is used"),
            (29, "prov_polling_time", "\"2:00 AM\" is not a time HH:MM (00:00 to 23:59); the phone's default, none, is used"),
        ]),
    },
    Case {
        // Literal {mac} in setting_server: Snom's {mac} is the MAC in upper case.
        file: "fusionpbx-snom-7xx.xml",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/{MAC}.xml",
            Some("https://pbx.example.com/app/provision/000413A1B2C3.xml"),
            Some("setting_server, line 6"),
        )],
        schedule: NO_POLLS,
        events: &["check-sync"],
        // Users 2 to 5 unset: empty user_name/user_pass, no credential.
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[(11, "firmware_status", SNOM_FIRMWARE_STATUS)]),
    },
    Case {
        file: "fusionpbx-snom-3xx.xml",
        dialect: Dialect::Snom,
        files: &[(
            "http://pbx.example.com/app/provision/{MAC}.xml",
            Some("http://pbx.example.com/app/provision/000413A1B2C3.xml"),
            Some("setting_server, line 6"),
        )],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[(11, "firmware_status", SNOM_FIRMWARE_STATUS)]),
    },
    Case {
        // Snom XML named `.cfg` and without an XML declaration: the content decides.
        file: "fusionpbx-snom-pa1.cfg",
        dialect: Dialect::Snom,
        files: &[(
            "https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3",
            Some("https://pbx.example.com/app/provision/index.php?mac=000413a1b2c3"),
            Some("setting_server, line 7"),
        )],
        schedule: SNOM_OFF,
        events: &["check-sync"],
        // user_pname is empty: the auth ID is user_name.
        auth_ids: &["1090"],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        // Wazo's per-device `<setting-files>` list (named .htm): the phone fetches the file
        // it lists.
        file: "wazo-snomD735-000413A1B2C3.htm",
        dialect: Dialect::Snom,
        files: &[(
            "http://192.0.2.10:8667/000413A1B2C3.xml",
            Some("http://192.0.2.10:8667/000413A1B2C3.xml"),
            Some("setting-files, line 5"),
        )],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: None,
    },
    Case {
        file: "wazo-snomD735.htm",
        dialect: Dialect::Snom,
        files: &[
            ("http://192.0.2.10:8667/snom-general.xml", Some("http://192.0.2.10:8667/snom-general.xml"), Some("setting-files, line 3")),
            ("http://192.0.2.10:8667/snomD735.xml", Some("http://192.0.2.10:8667/snomD735.xml"), Some("setting-files, line 4")),
            ("http://192.0.2.10:8667/gui_lang.xml", Some("http://192.0.2.10:8667/gui_lang.xml"), Some("setting-files, line 5")),
            ("http://192.0.2.10:8667/web_lang.xml", Some("http://192.0.2.10:8667/web_lang.xml"), Some("setting-files, line 6")),
        ],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: None,
    },
    Case {
        // Wazo's device settings: setting_server is the server's root URL ("/"), which has no
        // file name to store the fetched file under (see `wazo_setting_server_root_...`).
        file: "wazo-snom-000413A1B2C3.xml",
        dialect: Dialect::Snom,
        // A directory: the model's file, then the phone's own (see `setting_server_files`).
        files: &[
            ("http://192.0.2.10:8667/snom{MODEL}.htm", Some("http://192.0.2.10:8667/snomD735.htm"), Some("setting_server, line 7")),
            ("http://192.0.2.10:8667/snom{MODEL}-{MAC}.htm", Some("http://192.0.2.10:8667/snomD735-000413A1B2C3.htm"), Some("setting_server, line 7")),
        ],
        schedule: NO_POLLS,
        events: &["check-sync"],
        // Line 2 is line 1's failover identity, with the same account.
        auth_ids: &["gk3bq9z1", "gk3bq9z1"],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        // Elastix's m9 template sets settings_refresh_timer to 0, then to 86400: the phone
        // applies settings in document order and polls daily. Its setting_server is a bare
        // TFTP server URL.
        file: "elastix-snom-m9.xml",
        dialect: Dialect::Snom,
        files: &[("tftp://192.0.2.10", None, Some("setting_server, line 8"))],
        schedule: "Snom settings_refresh_timer (prov polling off): every 86400 s, counted from start-up; after a failure retry in 5 min, doubling up to 60 min, never later than the next regular poll, until a poll succeeds",
        events: &["check-sync"],
        // Lines 3 to 9 are inactive with empty names and passwords.
        auth_ids: &["1001", "1002"],
        challenge: false,
        warnings: Some(&[(
            22,
            "settings_refresh_timer",
            "repeated; this value replaces the one on line 15, as the phone applies settings in document order",
        )]),
    },
    Case {
        // Snom's text format inside `<html><pre>`, each line indented.
        file: "elastix-snom-3xx.htm",
        dialect: Dialect::SnomText,
        files: &[],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        // Gemeinschaft's text format for firmware before 7.1.8: `name&: value` (read-only)
        // and `name$: value` (writable); no setting_server (DHCP names the server).
        file: "gemeinschaft-snom360-fw6.htm",
        dialect: Dialect::SnomText,
        files: &[],
        schedule: "Snom settings_refresh_timer (prov polling off): every 7523 s, counted from start-up; after a failure retry in 5 min, doubling up to 60 min, never later than the next regular poll, until a poll succeeds",
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[]),
    },
    Case {
        // SARK's text format: `;` starts no comment on a Snom (only `#` and `<` do, Snom's
        // mass deployment FAQ), so those lines are not settings.
        file: "sark-snom.txt",
        dialect: Dialect::SnomText,
        files: &[(
            "http://192.0.2.10/provisioning?mac={MAC}",
            Some("http://192.0.2.10/provisioning?mac=000413A1B2C3"),
            Some("setting_server, line 1"),
        )],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (4, "", "not a \"name: value\" setting of Snom's text format, ignored: \";set TLS initially off\""),
            (9, "", "not a \"name: value\" setting of Snom's text format, ignored: \";set an http UID & password\""),
        ]),
    },
    Case {
        // Provisioner's snom$model.htm: a `<setting-files>` list of TFTP URLs.
        file: "provisioner-snom320.htm",
        dialect: Dialect::Snom,
        files: &[
            ("tftp://192.0.2.10/general.xml", Some("tftp://192.0.2.10/general.xml"), Some("setting-files, line 3")),
            ("tftp://192.0.2.10/general_custom.xml", Some("tftp://192.0.2.10/general_custom.xml"), Some("setting-files, line 4")),
        ],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &[],
        challenge: false,
        warnings: None,
    },
    Case {
        // Provisioner's snom-$mac.htm writes user_idle_text twice for the line: the second,
        // empty, value is the one the phone keeps.
        file: "provisioner-snom-000413a1b2c3.htm",
        dialect: Dialect::Snom,
        files: &[],
        schedule: NO_POLLS,
        events: &["check-sync"],
        auth_ids: &["1001"],
        challenge: false,
        warnings: Some(&[
            (17, "user_idle_text[1]", "repeated; this value replaces the one on line 13, as the phone applies settings in document order"),
            (27, "firmware_status", SNOM_FIRMWARE_STATUS),
        ]),
    },
];

fn path_of(file: &str) -> String {
    format!("fixtures/real/{file}")
}

fn mac_for(dialect: Dialect) -> &'static str {
    if dialect.family() == Dialect::Panasonic {
        PANASONIC_MAC
    } else {
        SNOM_MAC
    }
}

/// The expected text of a warning, without the file's path.
fn warning_text(line: usize, key: &str, message: &str) -> String {
    if key.is_empty() {
        format!("{line}: {message}")
    } else {
        format!("{line}: {key}: {message}")
    }
}

/// How the reading of `case` differs from what the phone does; empty when it does not.
fn differences(case: &Case) -> Vec<String> {
    let path = path_of(case.file);
    let settings = match config::load(Path::new(&path)) {
        Ok(s) => s,
        Err(e) => return vec![format!("refused: {e}")],
    };
    let mut out = Vec::new();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            out.push(format!("{what}:\n      got  {got}\n      want {want}"));
        }
    };
    expect(
        "dialect",
        format!("{:?}", settings.dialect),
        format!("{:?}", case.dialect),
    );
    let files = &settings.provisioning.files;
    expect(
        "files",
        format!(
            "{:?}",
            files.iter().map(|f| f.url.as_str()).collect::<Vec<_>>()
        ),
        format!("{:?}", case.files.iter().map(|f| f.0).collect::<Vec<_>>()),
    );
    for (spec, (_, _, origin)) in files.iter().zip(case.files) {
        if let Some(origin) = origin {
            expect(
                "origin",
                spec.origin
                    .as_ref()
                    .map(|o| o.to_string())
                    .unwrap_or_default(),
                (*origin).to_owned(),
            );
        }
    }
    if case.files.iter().all(|f| f.1.is_some()) {
        let resolved = sip_resync_core::engine::resolve_all(
            files,
            Some(mac_for(case.dialect)),
            // Snom names a directory's files by the model (`snom{MODEL}.htm`).
            (case.dialect.family() == Dialect::Snom).then_some("D735"),
            &settings.provisioning.base_dir,
        )
        .map(|sources| {
            sources
                .iter()
                .map(|s| s.location.to_string())
                .collect::<Vec<_>>()
        })
        .map_err(|e| e.to_string());
        expect(
            "fetched URLs",
            format!("{resolved:?}"),
            format!(
                "{:?}",
                Ok::<_, String>(case.files.iter().map(|f| f.1.unwrap()).collect::<Vec<_>>())
            ),
        );
    }
    let (plan, schedule_warnings) = Schedule::new(
        &settings.schedule,
        jiff::tz::TimeZone::UTC,
        PersistedState::default(),
        0,
        jiff::Timestamp::UNIX_EPOCH,
    );
    expect("schedule", plan.describe(), case.schedule.to_owned());
    expect(
        "schedule warnings",
        format!(
            "{:?}",
            schedule_warnings
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        ),
        "[]".into(),
    );
    expect(
        "events",
        format!("{:?}", settings.sip.events),
        format!("{:?}", case.events),
    );
    let auth = &settings.sip.auth;
    expect(
        "credentials",
        format!(
            "{:?}",
            auth.credentials
                .iter()
                .map(|c| c.auth_id.as_str())
                .collect::<Vec<_>>()
        ),
        format!("{:?}", case.auth_ids),
    );
    expect(
        "challenge_checksync",
        auth.challenge.to_string(),
        case.challenge.to_string(),
    );
    if let Some(warnings) = case.warnings {
        let prefix = format!("{path}:");
        let got: Vec<String> = settings
            .warnings
            .iter()
            .map(|w| {
                let text = w.to_string();
                text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
            })
            .collect();
        let want: Vec<String> = warnings
            .iter()
            .map(|(line, key, message)| warning_text(*line, key, message))
            .collect();
        expect("warnings", format!("{got:#?}"), format!("{want:#?}"));
    }
    out
}

/// Runs `check --config` on the case's file: exit 0, the dialect, every file with the setting
/// and line that named it, every warning with its line.
fn check_differences(case: &Case) -> Vec<String> {
    let path = path_of(case.file);
    let (code, out, err) = support::run_cli(&["check", "--config", &path]);
    if code != 0 {
        return vec![format!("check exited {code}: {err}{out}")];
    }
    let mut problems = Vec::new();
    let first = format!("{path}: valid {}", case.dialect);
    if !out.starts_with(&first) {
        problems.push(format!("check does not start with {first:?}"));
    }
    for (url, _, origin) in case.files {
        let shown = match origin {
            Some(origin) => format!("{} (from {origin})", config::redact(url)),
            None => config::redact(url),
        };
        if !out.lines().any(|l| l.trim_start().ends_with(&shown)) {
            problems.push(format!("check does not list {shown:?}"));
        }
    }
    for (line, key, message) in case.warnings.unwrap_or_default() {
        let shown = format!("warning: {path}:{}", warning_text(*line, key, message));
        if !out.lines().any(|l| l == shown) {
            problems.push(format!("check does not print {shown:?}"));
        }
    }
    if !problems.is_empty() {
        problems.push(format!("check printed:\n{out}"));
    }
    problems
}

/// Asserts every case `select` picks, naming each file that fails and how.
fn assert_cases(select: impl Fn(&Case) -> bool, run: fn(&Case) -> Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in CASES.iter().filter(|c| select(c)) {
        checked += 1;
        let problems = run(case);
        if !problems.is_empty() {
            failures.push(format!("{}:\n  {}", case.file, problems.join("\n  ")));
        }
    }
    assert!(checked > 0, "no case selected");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_corpus_reads_as_the_phone_does() {
    assert_cases(|_| true, differences);
}

#[test]
fn check_lists_the_files_of_every_corpus_file() {
    assert_cases(|_| true, check_differences);
}

/// Every file in fixtures/real/ is a row of the table and is named in SOURCES.md, and every
/// row is a file: the corpus cannot grow or shrink unnoticed.
#[test]
fn every_corpus_file_has_a_row_and_a_source() {
    let sources = std::fs::read_to_string("fixtures/real/SOURCES.md").unwrap();
    let mut names: Vec<String> = std::fs::read_dir("fixtures/real")
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n != "SOURCES.md")
        .collect();
    names.sort();
    let mut rows: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    rows.sort();
    assert_eq!(names, rows);
    for name in &names {
        assert!(
            sources.contains(&format!("`{name}`")),
            "{name} is not named in fixtures/real/SOURCES.md"
        );
    }
    assert!(names.len() >= 25, "{} files", names.len());
    // The other vendors' files, one directory each (read by the core's
    // tests/real_vendor_corpus.rs), are named in SOURCES.md too.
    for vendor in ["cisco", "grandstream", "polycom", "yealink"] {
        for e in std::fs::read_dir(format!("fixtures/real/{vendor}")).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(
                sources.contains(&name),
                "{vendor}/{name} is not named in fixtures/real/SOURCES.md"
            );
        }
    }
}

/// The Elastix m9 file's repeated `settings_refresh_timer` ends with its last value, with a
/// warning naming both lines, whether or not its `tftp://` setting_server is fetched yet.
#[test]
fn elastix_m9_polls_daily_as_its_last_timer_says() {
    let path = path_of("elastix-snom-m9.xml");
    let settings = config::load(Path::new(&path)).unwrap();
    let (plan, _) = Schedule::new(
        &settings.schedule,
        jiff::tz::TimeZone::UTC,
        PersistedState::default(),
        0,
        jiff::Timestamp::UNIX_EPOCH,
    );
    assert!(
        plan.describe().starts_with(
            "Snom settings_refresh_timer (prov polling off): every 86400 s, counted from start-up"
        ),
        "{}",
        plan.describe()
    );
    let warnings: Vec<String> = settings.warnings.iter().map(|w| w.to_string()).collect();
    let repeated = format!(
        "{path}:22: settings_refresh_timer: repeated; this value replaces the one on line 15, as the phone applies settings in document order"
    );
    assert!(warnings.contains(&repeated), "{warnings:#?}");
    assert_eq!(settings.line_of("settings_refresh_timer"), Some(22));
    let ids: Vec<&str> = settings
        .sip
        .auth
        .credentials
        .iter()
        .map(|c| c.auth_id.as_str())
        .collect();
    assert_eq!(ids, ["1001", "1002"]);
}

/// Wazo writes `setting_server` as the provisioning server's root, `http://HOST:8667/`, and
/// serves `snom<MODEL>-<MAC>.htm` there (wazo_snom common.py `_PATH_REGEX`), so a Snom phone
/// given a directory URL asks for its own file in it. That is inferred from Wazo's request
/// matching, not from a Snom manual in the research notes. sip-resync finds no file name.
#[test]
fn wazo_setting_server_root_is_fetched() {
    let path = path_of("wazo-snom-000413A1B2C3.xml");
    let settings = config::load(Path::new(&path)).unwrap();
    let sources = sip_resync_core::engine::resolve_all(
        &settings.provisioning.files,
        Some(SNOM_MAC),
        Some("D735"),
        &settings.provisioning.base_dir,
    )
    .expect("a directory setting_server resolves");
    let urls: Vec<String> = sources.iter().map(|s| s.location.to_string()).collect();
    assert_eq!(
        urls,
        [
            "http://192.0.2.10:8667/snomD735.htm",
            "http://192.0.2.10:8667/snomD735-000413A1B2C3.htm"
        ]
    );
}

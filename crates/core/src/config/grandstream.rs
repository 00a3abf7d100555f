//! Grandstream XML provisioning files (`<gs_provision><config><Pnnn>value</Pnnn>…`): the
//! reader, and the settings sip-resync takes from them.
//!
//! Read: P22296 (or, on older firmware, P194) automatic upgrade mode, P193 (minutes), P285
//! (start hour), P8458 (randomise), P8459 (end hour), P286 (day(s) of the week, `/`-joined on
//! some models) for the schedule; P212 (protocol), P237 (server and path), P234 (file name
//! prefix), P1360 / P1361 (the config server's HTTP user and password) for the file
//! `cfg<mac>.xml`; P1359 (the XML file's password, for decryption); P35 / P36 / P34 and
//! accounts 2 to 4 (P404 / P405 / P406, P504.., P604..) for credentials. NOTIFY is challenged
//! (the phones' default: "Disable SIP NOTIFY Authentication" is No), and `resync` (provision,
//! no reboot) and `check-sync` (with `reboot=true` to reboot) are accepted.

use std::path::Path;

use super::vendor::{with_credentials, Read, Values, VendorFile};
use super::FileOrigin;
use super::{ConfigError, Dialect, FileSpec};
use crate::digest::Credential;
use crate::schedule::{GrandstreamMode, GrandstreamUpgrade, ScheduleSettings};

/// Event texts accepted.
pub(super) const EVENTS: &[&str] = &["resync", "check-sync"];

/// Account P-values: (user ID, authenticate ID, password).
const ACCOUNTS: &[(&str, &str, &str)] = &[
    ("P35", "P36", "P34"),
    ("P404", "P405", "P406"),
    ("P504", "P505", "P506"),
    ("P604", "P605", "P606"),
];

const KEYS: &[&str] = &[
    "P22296", "P194", "P193", "P285", "P8458", "P8459", "P286", "P212", "P237", "P234", "P1359",
    "P1360", "P1361",
];

const SCHEDULE_KEYS: &[&str] = &["P22296", "P194", "P193", "P285", "P8458", "P8459", "P286"];

/// Parses a `<gs_provision>` document.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<VendorFile, ConfigError> {
    // The encoding its XML declaration names (ISO-8859-1 and the like are decoded).
    let text = super::encoding::decode_xml(bytes, path)?;
    let doc = super::encoding::xml_document(&text, path, 0)?;
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    let root = doc.root_element();
    if root.tag_name().name() != "gs_provision" {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(line_of(root)),
            key: None,
            message: format!(
                "the root element must be <gs_provision>, not <{}>",
                root.tag_name().name()
            ),
        });
    }
    let mut file = VendorFile::new(Dialect::Grandstream, path);
    for config in root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "config")
    {
        for el in config.children().filter(|n| n.is_element()) {
            let value: String = el
                .children()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            // Newer firmware also writes `<item name="...">value</item>`.
            let name = match (el.tag_name().name(), el.attribute("name")) {
                ("item", Some(n)) => n.to_owned(),
                (n, _) => n.to_owned(),
            };
            file.push(name, value.trim().to_owned(), line_of(el), is_used)?;
        }
    }
    Ok(file)
}

pub(super) fn is_used(name: &str) -> bool {
    KEYS.contains(&name)
        || ACCOUNTS
            .iter()
            .any(|(a, b, c)| [*a, *b, *c].contains(&name))
}

/// Grandstream's defaults: no automatic check; 10080 minutes; 1 to 22 h; Monday.
pub(super) fn default_upgrade() -> GrandstreamUpgrade {
    GrandstreamUpgrade {
        mode: GrandstreamMode::Off,
        interval_min: 10_080,
        start_hour: 1,
        end_hour: 22,
        randomized: false,
        days: 1 << 1,
    }
}

pub(super) fn read(v: &mut Values<'_, '_>) -> Read {
    let mut read = Read::default();
    if v.any(SCHEDULE_KEYS) {
        let d = default_upgrade();
        let mode_key = if v.found("P22296").is_some() {
            "P22296"
        } else {
            "P194"
        };
        if let (Some(new), Some(old)) = (v.found("P22296"), v.found("P194")) {
            if new.value.trim() != old.value.trim() {
                v.warn(
                    &old,
                    "P194",
                    format!(
                        "differs from P22296 (line {}); P22296, the current firmware's key, is used",
                        new.line.unwrap_or(0)
                    ),
                );
            }
        }
        let mode = match v.number(mode_key, 0, 3, 0) {
            1 => GrandstreamMode::Interval,
            2 => GrandstreamMode::Daily,
            3 => GrandstreamMode::Weekly,
            _ => GrandstreamMode::Off,
        };
        let interval_min = v.number("P193", 30, 5_256_000, d.interval_min);
        let start_hour = v.number("P285", 0, 23, u64::from(d.start_hour)) as u8;
        let end_hour = v.number("P8459", 0, 23, u64::from(d.end_hour)) as u8;
        let randomized = v.flag("P8458", d.randomized);
        let days = match v.found("P286") {
            None => d.days,
            Some(f) => {
                let mask = f.value.split(['/', ',']).try_fold(0u8, |m, day| {
                    day.trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|d| *d <= 6)
                        .map(|d| m | (1 << d))
                });
                match mask {
                    Some(m) if m != 0 => m,
                    _ => {
                        v.warn(
                            &f,
                            "P286",
                            format!(
                                "\"{}\" is not a day 0 (Sunday) to 6 (or days joined by /); the \
                                 phone's default 1 (Monday) is used",
                                crate::escape::excerpt(f.value.as_bytes())
                            ),
                        );
                        d.days
                    }
                }
            }
        };
        read.schedule = Some(ScheduleSettings::Grandstream(GrandstreamUpgrade {
            mode,
            interval_min,
            start_hour,
            end_hour,
            randomized,
            days,
        }));
    }
    read.credentials = ACCOUNTS
        .iter()
        .filter_map(|(user, auth, password)| {
            let user = v.text(user);
            let password = v.text(password)?;
            Some(Credential {
                user: user.map(str::to_owned),
                auth_id: v.text(auth).or(user)?.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect();
    if let Some(f) = v.found("P237") {
        let server = f.value.trim().trim_end_matches('/');
        // P212, "Config Upgrade Via": 0 TFTP, 1 HTTP, 2 HTTPS, 3 FTP, 4 FTPS.
        let scheme = match v.text("P212") {
            Some("0") => Some("tftp"),
            Some("1") => Some("http"),
            Some("2") | None => Some("https"),
            Some("3") => Some("ftp"),
            Some("4") => Some("ftps"),
            _ => None,
        };
        let prefix = v.text("P234").unwrap_or("");
        let base = if server.contains("://") {
            Some(server.to_owned())
        } else {
            scheme.map(|s| format!("{s}://{server}"))
        };
        match base {
            Some(base) => {
                let url = with_credentials(
                    &format!("{base}/{prefix}cfg{{mac}}.xml"),
                    v.text("P1360"),
                    v.text("P1361"),
                );
                match crate::naming::check_url_template(&url) {
                    Ok(()) => read.files.push(FileSpec {
                        name: None,
                        url,
                        format: None,
                        origin: Some(FileOrigin {
                            key: "P237".into(),
                            line: f.line,
                        }),
                    }),
                    Err(e) => v.warn(&f, "P237", format!("{e}; the file is not fetched")),
                }
            }
            None => {
                let p212 = v.found("P212").unwrap_or(f);
                v.warn(
                    &p212,
                    "P212",
                    "not 0 (TFTP), 1 (HTTP), 2 (HTTPS), 3 (FTP) or 4 (FTPS); \
                     the configuration file is not fetched"
                        .into(),
                );
            }
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_bytes, RebootPolicy};

    #[test]
    fn reads_the_daily_window_the_file_and_the_credentials() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8" ?>
<gs_provision version="1">
  <config version="1">
    <P22296>2</P22296>
    <P285>2</P285>
    <P8458>1</P8458>
    <P8459>3</P8459>
    <P212>2</P212>
    <P237>pbx.example/app/provision</P237>
    <P1360>u</P1360>
    <P1361>p</P1361>
    <P35>1001</P35>
    <P36>a1001</P36>
    <P34>pw</P34>
    <P3>Desk</P3>
  </config>
</gs_provision>"#;
        let s = from_bytes(xml, Path::new("cfg000b82000001.xml")).unwrap();
        assert_eq!(s.dialect, Dialect::Grandstream);
        let ScheduleSettings::Grandstream(g) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert_eq!(
            (g.mode, g.start_hour, g.end_hour, g.randomized),
            (GrandstreamMode::Daily, 2, 3, true)
        );
        assert_eq!(
            s.provisioning.files[0].url,
            "https://u:p@pbx.example/app/provision/cfg{mac}.xml"
        );
        assert!(s.sip.auth.challenge);
        assert_eq!(s.sip.events, EVENTS);
        assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
        assert_eq!(s.sip.auth.credentials[0].auth_id, "a1001");
        assert_eq!(s.unused, ["P3"]);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn older_firmware_keys_and_bad_values() {
        let xml = b"<gs_provision><config>\n<P194>3</P194>\n<P286>1/3/5</P286>\n<P285>25</P285>\n<P212>0</P212>\n<P237>tftp.example</P237>\n</config></gs_provision>";
        let s = from_bytes(xml, Path::new("gs.xml")).unwrap();
        let ScheduleSettings::Grandstream(g) = &s.schedule else {
            panic!()
        };
        assert_eq!(
            (g.mode, g.days, g.start_hour),
            (GrandstreamMode::Weekly, 0b10_1010, 1)
        );
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w.iter().any(|w| w.starts_with("gs.xml:4: P285: \"25\"")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w.contains("NOTIFY is challenged")),
            "{w:?}"
        );
        // P212 0 is TFTP.
        let urls: Vec<&str> = s
            .provisioning
            .files
            .iter()
            .map(|f| f.url.as_str())
            .collect();
        assert_eq!(urls, ["tftp://tftp.example/cfg{mac}.xml"]);
    }

    /// Every vendor XML reader honours the declared encoding, as the Snom and Panasonic ones
    /// do: a display name in ISO-8859-1 is read, not refused as "not UTF-8".
    #[test]
    fn a_declared_latin1_encoding_is_decoded() {
        let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<gs_provision><config>\n<P3>J\xfcrgen</P3>\n<P194>1</P194>\n</config></gs_provision>";
        let s = from_bytes(xml, Path::new("gs.xml")).unwrap();
        assert_eq!(s.dialect, crate::config::Dialect::Grandstream);
        assert_eq!(s.line_of("P194"), Some(4));
    }
}

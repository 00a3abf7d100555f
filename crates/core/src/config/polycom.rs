//! Polycom (Poly UC Software) XML files: configuration files (`<polycomConfig>`, the older
//! `<PHONE_CONFIG>`, FusionPBX's `<PHONE>`), where every attribute of every element is one
//! setting (`prov.polling.period="86400"`), and master files (`000000000000.cfg`,
//! `<MAC>.cfg`: `<APPLICATION APP_FILE_PATH=".." CONFIG_FILES=".."/>`).
//!
//! Read: `prov.polling.*` (the schedule), `voIpProt.SIP.specialEvent.checkSync.alwaysReboot`
//! (1: reboot after every check-sync; 0: only when files changed),
//! `voIpProt.SIP.requestValidation.N.request` / `.method` (a `digest` or `both` validation of
//! NOTIFY challenges it), `reg.N.auth.userId` / `reg.N.auth.password` / `reg.N.address`
//! (credentials), `CONFIG_FILES` (the files to fetch, relative to `device.prov.serverName`
//! with `device.prov.serverType`, `device.prov.user` and `device.prov.password` when the file
//! sets them, else to the master file's directory). `APP_FILE_PATH` names the firmware image,
//! which sip-resync does not fetch.
//!
//! Polycom gives the first file of `CONFIG_FILES` precedence over the later ones; the files
//! are fetched in reverse order so that, in sip-resync's "a later file wins" overlay, the
//! first listed still wins.

use std::path::Path;

use super::vendor::{with_credentials, Read, Values, VendorFile};
use super::FileOrigin;
use super::{auth::MAX_LINES, ConfigError, Dialect, FileSpec, RebootPolicy};
use crate::digest::Credential;
use crate::schedule::{PolycomMode, PolycomPolling, ScheduleSettings};

/// Root elements of Polycom files.
pub(super) const ROOTS: &[&str] = &["polycomConfig", "PHONE_CONFIG", "PHONE", "APPLICATION"];

/// Parameter groups of Polycom configuration files, as attribute names begin.
const PARAMETER_PREFIXES: &[&str] = &[
    "reg.",
    "voIpProt.",
    "prov.",
    "device.",
    "tcpIpApp.",
    "call.",
    "up.",
    "feature.",
    "msg.",
    "dialplan.",
    "divert.",
    "sec.",
    "lineKey.",
    "attendant.",
    "nat.",
];

/// Does the start of this XML set Polycom parameters (`reg.1.address="…"`)? The phone reads
/// the attributes of every element whatever the element names: Polycom's own sample files
/// use roots such as `<phone1>` and `<sip>`, and generated files `<phone1001>` or
/// `<userinfo>`.
pub(crate) fn sets_parameters(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    head.split(|c: char| c.is_whitespace() || c == '<')
        .filter_map(|t| t.split_once('='))
        .any(|(name, value)| {
            value.starts_with('"')
                && PARAMETER_PREFIXES
                    .iter()
                    .any(|p| name.len() > p.len() && name.starts_with(p))
        })
}

/// Parses a Polycom XML file into its attributes, in document order.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<VendorFile, ConfigError> {
    // The encoding its XML declaration names (ISO-8859-1 and the like are decoded).
    let text = super::encoding::decode_xml(bytes, path)?;
    let doc = super::encoding::xml_document(&text, path, 0)?;
    let root = doc.root_element();
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    if !ROOTS.contains(&root.tag_name().name()) && !sets_parameters(bytes) {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: Some(line_of(root)),
            key: None,
            message: format!(
                "the root element must be <polycomConfig>, <PHONE_CONFIG> or a master file's \
                 <APPLICATION> (or the file must set Polycom parameters such as reg.1.address), \
                 not <{}>",
                root.tag_name().name()
            ),
        });
    }
    let mut file = VendorFile::new(Dialect::Polycom, path);
    for el in root.descendants().filter(|n| n.is_element()) {
        let line = line_of(el);
        for attr in el.attributes() {
            file.push(
                attr.name().to_owned(),
                attr.value().trim().to_owned(),
                line,
                is_used,
            )?;
        }
    }
    Ok(file)
}

const KEYS: &[&str] = &[
    "prov.polling.enabled",
    "prov.polling.mode",
    "prov.polling.period",
    "prov.polling.time",
    "prov.polling.timeRandomEnd",
    "voIpProt.SIP.specialEvent.checkSync.alwaysReboot",
    "CONFIG_FILES",
    "device.prov.serverName",
    "device.prov.serverType",
    "device.prov.user",
    "device.prov.password",
];

const SCHEDULE_KEYS: &[&str] = &[
    "prov.polling.enabled",
    "prov.polling.mode",
    "prov.polling.period",
    "prov.polling.time",
    "prov.polling.timeRandomEnd",
];

/// Most request validation entries read.
const MAX_VALIDATIONS: usize = 16;

pub(super) fn is_used(name: &str) -> bool {
    if KEYS.contains(&name) {
        return true;
    }
    let numbered = |prefix: &str, suffixes: &[&str], max: usize| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(n, rest)| {
                n.parse::<usize>().is_ok_and(|n| (1..=max).contains(&n)) && suffixes.contains(&rest)
            })
    };
    numbered(
        "reg.",
        &["auth.userId", "auth.password", "address"],
        MAX_LINES,
    ) || numbered(
        "voIpProt.SIP.requestValidation.",
        &["request", "method"],
        MAX_VALIDATIONS,
    )
}

/// Polycom's defaults: polling off, `abs`, a day.
pub(super) fn default_polling() -> PolycomPolling {
    PolycomPolling {
        enabled: false,
        mode: PolycomMode::Abs,
        period_secs: 86_400,
        time: None,
        time_random_end: None,
    }
}

pub(super) fn read(v: &mut Values<'_, '_>) -> Read {
    let mut read = Read::default();
    if v.any(SCHEDULE_KEYS) {
        let d = default_polling();
        let enabled = v.flag("prov.polling.enabled", d.enabled);
        let mode = match v.found("prov.polling.mode") {
            None => d.mode,
            Some(f) => match f.value.trim().to_ascii_lowercase().as_str() {
                "abs" => PolycomMode::Abs,
                "rel" => PolycomMode::Rel,
                "random" => PolycomMode::Random,
                _ => {
                    v.warn(
                        &f,
                        "prov.polling.mode",
                        format!(
                            "\"{}\" is not abs, rel or random; the default abs is used",
                            crate::escape::excerpt(f.value.as_bytes())
                        ),
                    );
                    d.mode
                }
            },
        };
        let period_secs = v.number(
            "prov.polling.period",
            3_600,
            crate::schedule::MAX_PERIOD_SECS,
            d.period_secs,
        );
        let time = v.time("prov.polling.time", None);
        let time_random_end = v.time("prov.polling.timeRandomEnd", None);
        read.schedule = Some(ScheduleSettings::Polycom(PolycomPolling {
            enabled,
            mode,
            period_secs,
            time,
            time_random_end,
        }));
    }
    let key = "voIpProt.SIP.specialEvent.checkSync.alwaysReboot";
    if v.found(key).is_some() {
        read.reboot_policy = Some(if v.flag(key, false) {
            RebootPolicy::Always
        } else {
            RebootPolicy::IfChanged
        });
    }
    for n in 1..=MAX_VALIDATIONS {
        let request = v.text(&format!("voIpProt.SIP.requestValidation.{n}.request"));
        let method_key = format!("voIpProt.SIP.requestValidation.{n}.method");
        let Some(method) = v.found(&method_key) else {
            continue;
        };
        if !request.is_some_and(|r| r.eq_ignore_ascii_case("NOTIFY")) {
            continue;
        }
        match method.value.trim().to_ascii_lowercase().as_str() {
            "digest" | "both" | "all" => read.challenge = Some(true),
            "source" => v.warn(
                &method,
                &method_key,
                "source validation (requests only from the registration servers) is not \
                 applied; list the servers in sip.allow of a TOML configuration instead"
                    .into(),
            ),
            _ => read.challenge = Some(false),
        }
    }
    read.credentials = (1..=MAX_LINES)
        .filter_map(|n| {
            let auth_id = v.text(&format!("reg.{n}.auth.userId"))?;
            let password = v.text(&format!("reg.{n}.auth.password"))?;
            let user = v
                .text(&format!("reg.{n}.address"))
                .map(|a| a.trim_start_matches("sip:"))
                .map(|a| a.split('@').next().unwrap_or(a).to_owned());
            Some(Credential {
                user,
                auth_id: auth_id.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect();
    if let Some(f) = v.found("CONFIG_FILES") {
        let base = server_base(v);
        let mut files = Vec::new();
        for name in f.value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            // `[PHONE_MAC_ADDRESS]` as Polycom's UC Software guides and sipXecs write it,
            // `[PHONE_MAC]` as other generators do: the MAC in lower case, as Polycom names
            // its files (`0004f2a1b2c3.cfg`).
            let name = name
                .replace("[PHONE_MAC_ADDRESS]", "{mac}")
                .replace("[PHONE_MAC]", "{mac}")
                .replace("[PHONE_MODEL]", "{MODEL}");
            if name.contains('[') {
                v.warn(
                    &f,
                    "CONFIG_FILES",
                    format!(
                        "\"{}\" uses a macro sip-resync cannot fill ([PHONE_MAC_ADDRESS], \
                         [PHONE_MAC] and [PHONE_MODEL] are supported); the file is not fetched",
                        crate::escape::excerpt(name.as_bytes())
                    ),
                );
                continue;
            }
            let url = if name.contains("://") {
                name
            } else {
                format!("{base}{}", name.trim_start_matches('/'))
            };
            match crate::naming::check_url_template(&url) {
                Ok(()) => files.push(FileSpec {
                    name: None,
                    url,
                    format: None,
                    origin: Some(FileOrigin {
                        key: "CONFIG_FILES".into(),
                        line: f.line,
                    }),
                }),
                Err(e) => v.warn(&f, "CONFIG_FILES", format!("{e}; the file is not fetched")),
            }
        }
        // The first listed has precedence: fetched last.
        files.reverse();
        read.files = files;
    }
    read
}

/// The URL prefix of `CONFIG_FILES` entries: `device.prov.serverName` (which may carry its
/// own scheme and credentials) with the scheme of `device.prov.serverType` (`FTP`, `TFTP`,
/// `HTTP`, `HTTPS`, `FTPS`, or 0 to 2 for the first three; HTTP when not set) and the
/// credentials of `device.prov.user` / `password`; `file://` (the master file's directory)
/// without a server.
fn server_base(v: &mut Values<'_, '_>) -> String {
    let Some(server) = v.text("device.prov.serverName") else {
        return "file://".into();
    };
    let server = server.trim_end_matches('/');
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        let scheme = match v.found("device.prov.serverType") {
            None => "http",
            Some(f) => match f.value.trim().to_ascii_lowercase().as_str() {
                "http" | "2" => "http",
                "https" => "https",
                "ftp" | "0" => "ftp",
                "tftp" | "1" => "tftp",
                "ftps" => "ftps",
                _ => {
                    v.warn(
                        &f,
                        "device.prov.serverType",
                        format!(
                            "\"{}\" is not FTP, TFTP, HTTP, HTTPS or FTPS; HTTP is used",
                            crate::escape::excerpt(f.value.as_bytes())
                        ),
                    );
                    "http"
                }
            },
        };
        format!("{scheme}://{server}")
    };
    let url = with_credentials(
        &with_scheme,
        v.text("device.prov.user"),
        v.text("device.prov.password"),
    );
    format!("{url}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;

    #[test]
    fn a_master_file_lists_its_config_files_first_listed_fetched_last() {
        let master = b"<?xml version=\"1.0\" standalone=\"yes\"?>\n<APPLICATION\n APP_FILE_PATH=\"sip.ld\"\n CONFIG_FILES=\"[PHONE_MAC]-phone.cfg, sip.cfg, [PHONE_MAC_ADDRESS]-site.cfg\"\n MISC_FILES=\"\"/>\n";
        let s = from_bytes(master, Path::new("000000000000.cfg")).unwrap();
        assert_eq!(s.dialect, Dialect::Polycom);
        let urls: Vec<&str> = s
            .provisioning
            .files
            .iter()
            .map(|f| f.url.as_str())
            .collect();
        assert_eq!(
            urls,
            [
                "file://{mac}-site.cfg",
                "file://sip.cfg",
                "file://{mac}-phone.cfg"
            ]
        );
        assert_eq!(
            s.provisioning.files[0].origin.as_ref().unwrap().line,
            Some(2)
        );
        assert_eq!(s.unused, ["APP_FILE_PATH", "MISC_FILES"]);
        assert_eq!(s.schedule, ScheduleSettings::Polycom(default_polling()));
    }

    #[test]
    fn polling_check_sync_validation_and_credentials() {
        let xml = br#"<polycomConfig>
  <prov prov.polling.enabled="1" prov.polling.mode="random" prov.polling.period="86400"
        prov.polling.time="01:00" prov.polling.timeRandomEnd="05:00"/>
  <voIpProt voIpProt.SIP.specialEvent.checkSync.alwaysReboot="0"
        voIpProt.SIP.requestValidation.1.request="NOTIFY" voIpProt.SIP.requestValidation.1.method="digest"/>
  <reg reg.1.address="1001@pbx.example" reg.1.auth.userId="a1001" reg.1.auth.password="pw"/>
</polycomConfig>"#;
        let s = from_bytes(xml, Path::new("site.cfg")).unwrap();
        let ScheduleSettings::Polycom(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert_eq!(
            (p.enabled, p.mode, p.period_secs),
            (true, PolycomMode::Random, 86_400)
        );
        assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfChanged);
        assert!(s.sip.auth.challenge);
        let c = &s.sip.auth.credentials[0];
        assert_eq!(
            (c.user.as_deref(), c.auth_id.as_str()),
            (Some("1001"), "a1001")
        );
        let bad = from_bytes(
            b"<polycomConfig>\n<prov prov.polling.period=\"60\" prov.polling.mode=\"often\"/>\n</polycomConfig>",
            Path::new("bad.cfg"),
        )
        .unwrap();
        let w: Vec<String> = bad.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w[0].starts_with("bad.cfg:2: prov.polling.mode: \"often\""),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("bad.cfg:2: prov.polling.period: \"60\""),
            "{w:?}"
        );
    }

    #[test]
    fn server_name_type_and_credentials_make_the_base() {
        let xml = br#"<PHONE><DEVICE_SETTINGS device.prov.serverName="pbx.example/app/provision/" device.prov.serverType="HTTPS" device.prov.user="u" device.prov.password="p"/><APPLICATION CONFIG_FILES="a.cfg"/></PHONE>"#;
        let s = from_bytes(xml, Path::new("x.cfg")).unwrap();
        assert_eq!(
            s.provisioning.files[0].url,
            "https://u:p@pbx.example/app/provision/a.cfg"
        );
    }
}

//! Cisco SPA and MPP XML profiles (`<flat-profile>`): the reader, and the settings sip-resync
//! takes from them.
//!
//! Each setting is an element under `<flat-profile>` (also inside a `<device>` root) whose
//! text is the value; the `ua` attribute is accepted and ignored. Element names are the web
//! page's names with spaces, brackets and parentheses written as `_`: "Resync At (HHmm)" is
//! `<Resync_At__HHmm_>`, "User ID 1" is `<User_ID_1_>`. A name written with brackets or
//! parentheses (`User_ID[1]`, `Resync_At_(HHmm)`) is read under the same `_` name, and
//! `Resync_At` is also read as `Resync_At (HHmm)`.
//!
//! Read: `Resync_On_Reset`, `Resync_Random_Delay` (start-up run and its random delay, in
//! units of 20 s), `Resync_Periodic`, `Resync_At (HHmm)`, `Resync_At_Random_Delay`,
//! `Resync_Error_Retry_Delay` (the schedule), `Resync_From_SIP` (NOTIFY `resync` accepted),
//! `Profile_Rule`, `Profile_Rule_B` to `_D` with `GPP_A` to `GPP_P` and `GPP_SA` to `GPP_SD`
//! (the files, their macros and `--key`), `User_ID_n_`, `Password_n_`, `Auth_ID_n_`,
//! `Use_Auth_ID_n_` (credentials).

use std::path::Path;
use std::time::Duration;

use super::vendor::{with_credentials, Read, Values, VendorFile};
use super::FileOrigin;
use super::{auth::MAX_LINES, ConfigError, Dialect, FileSpec};
use crate::digest::Credential;
use crate::schedule::{CiscoResync, LocalTime, ScheduleSettings, Steps, MAX_STEPS};

/// Event texts accepted while `Resync_From_SIP` is Yes: `resync`, Cisco's event, and
/// `check-sync`, which Asterisk's `cisco-check-cfg` and FusionPBX send to Cisco phones.
pub(super) const EVENTS: &[&str] = &["resync", "check-sync"];

/// The profile rules, in the order the phone runs them.
pub(super) const PROFILE_RULES: &[&str] = &[
    "Profile_Rule",
    "Profile_Rule_B",
    "Profile_Rule_C",
    "Profile_Rule_D",
];

const RESYNC_AT: &[&str] = &["Resync_At__HHmm_", "Resync_At_HHmm_", "Resync_At"];

/// The name a setting is read under: spaces, brackets and parentheses become `_`.
fn canonical(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, ' ' | '(' | ')' | '[' | ']') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Parses a Cisco `<flat-profile>` document.
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<VendorFile, ConfigError> {
    // The encoding its XML declaration names (ISO-8859-1 and the like are decoded).
    let text = super::encoding::decode_xml(bytes, path)?;
    let doc = super::encoding::xml_document(&text, path, 0)?;
    let line_of = |node: roxmltree::Node| doc.text_pos_at(node.range().start).row as usize;
    let root = doc.root_element();
    let profile = match root.tag_name().name() {
        "flat-profile" => Some(root),
        "device" => root
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "flat-profile"),
        _ => None,
    }
    .ok_or_else(|| ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(line_of(root)),
        key: None,
        message: format!(
            "the root element must be <flat-profile>, not <{}>",
            root.tag_name().name()
        ),
    })?;
    let mut file = VendorFile::new(Dialect::Cisco, path);
    for el in profile.children().filter(|n| n.is_element()) {
        let value: String = el
            .children()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        file.push(
            canonical(el.tag_name().name()),
            value.trim().to_owned(),
            line_of(el),
            is_used,
        )?;
    }
    Ok(file)
}

const KEYS: &[&str] = &[
    "Resync_On_Reset",
    "Resync_Random_Delay",
    "Resync_Periodic",
    "Resync_At__HHmm_",
    "Resync_At_HHmm_",
    "Resync_At",
    "Resync_At_Random_Delay",
    "Resync_Error_Retry_Delay",
    "Resync_From_SIP",
];

pub(super) fn is_used(name: &str) -> bool {
    if KEYS.contains(&name) || PROFILE_RULES.contains(&name) {
        return true;
    }
    if let Some(g) = name.strip_prefix("GPP_") {
        return (g.len() == 1 && matches!(g.as_bytes()[0], b'A'..=b'P'))
            || matches!(g, "SA" | "SB" | "SC" | "SD");
    }
    ["User_ID_", "Password_", "Auth_ID_", "Use_Auth_ID_"]
        .iter()
        .any(|p| {
            name.strip_prefix(p)
                .and_then(|n| n.strip_suffix('_'))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| (1..=MAX_LINES).contains(&n))
        })
}

/// Cisco's defaults: `Resync_Periodic` 3600, no `Resync_At`, `Resync_At_Random_Delay` 600,
/// `Resync_Error_Retry_Delay` 3600.
pub(super) fn default_resync() -> CiscoResync {
    CiscoResync {
        periodic: Steps::new(&[(3600, 0)]),
        resync_at: None,
        at_random_delay_secs: 600,
        error_retry: Steps::new(&[(3600, 0)]),
    }
}

/// A Cisco delay list: `3600`, `1800,3600,7200`, `3600+600`; `None` for 0 (off).
fn steps(text: &str, min: u32) -> Result<Option<Steps>, String> {
    let mut items = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (base, extra) = part.split_once('+').unwrap_or((part, "0"));
        let n = |s: &str| s.trim().parse::<u32>().map_err(|_| ());
        let (Ok(base), Ok(extra)) = (n(base), n(extra)) else {
            return Err(
                "is not a delay list (seconds, comma-separated, each optionally +N)".into(),
            );
        };
        items.push((base, extra));
    }
    if items.len() > MAX_STEPS {
        return Err(format!("has more than {MAX_STEPS} elements"));
    }
    if items.iter().all(|&(b, e)| b == 0 && e == 0) {
        return Ok(None);
    }
    Ok(Steps::new(
        &items
            .iter()
            .map(|&(b, e)| (b.max(min), e))
            .collect::<Vec<_>>(),
    ))
}

/// `Resync_At (HHmm)`: four digits, 0000 to 2400 (2400 is midnight).
fn hhmm(text: &str) -> Option<LocalTime> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = (text[..2].parse::<u8>().ok()?, text[2..].parse::<u8>().ok()?);
    match (h, m) {
        (24, 0) => Some(LocalTime::MIDNIGHT),
        _ => LocalTime::new(h, m).ok(),
    }
}

pub(super) fn read(v: &mut Values<'_, '_>) -> Read {
    let mut read = Read::default();
    if v.found("Resync_On_Reset").is_some() {
        read.fetch_at_startup = Some(v.flag("Resync_On_Reset", true));
    }
    if v.found("Resync_Random_Delay").is_some() {
        let units = v.number("Resync_Random_Delay", 0, 4_320, 2);
        read.random_delay = Some(Duration::from_secs(units * 20));
    }
    if v.found("Resync_From_SIP").is_some() {
        read.events = Some(if v.flag("Resync_From_SIP", true) {
            EVENTS.iter().map(|e| (*e).to_owned()).collect()
        } else {
            Vec::new()
        });
    }
    let schedule_keys = [
        "Resync_Periodic",
        "Resync_At_Random_Delay",
        "Resync_Error_Retry_Delay",
    ];
    if schedule_keys
        .iter()
        .chain(RESYNC_AT)
        .any(|k| v.raw(k).is_some())
    {
        let d = default_resync();
        let list = |v: &mut Values<'_, '_>, key: &str, min: u32, default: Option<Steps>| {
            match v.raw(key) {
                None => default,
                // Written empty: no delay, as 0.
                Some(f) if f.value.trim().is_empty() => None,
                Some(f) => match steps(f.value.trim(), min) {
                    Ok(s) => s,
                    Err(m) => {
                        let shown = default.map_or("0".to_owned(), |s| s.to_string());
                        v.warn(
                            &f,
                            key,
                            format!(
                                "\"{}\" {m}; the phone's default {shown} is used",
                                crate::escape::excerpt(f.value.as_bytes())
                            ),
                        );
                        default
                    }
                },
            }
        };
        let periodic = list(v, "Resync_Periodic", 1, d.periodic);
        // A retry sooner than a minute would loop; 0 means no retry of its own.
        let error_retry = list(v, "Resync_Error_Retry_Delay", 60, d.error_retry);
        let resync_at = match v.first(RESYNC_AT) {
            None => None,
            Some((key, f)) => match hhmm(f.value.trim()) {
                Some(t) => Some(t),
                None => {
                    v.warn(
                        &f,
                        &key,
                        format!(
                            "\"{}\" is not HHmm from 0000 to 2400; ignored, as the phone \
                             ignores it (Resync_Periodic applies)",
                            crate::escape::excerpt(f.value.as_bytes())
                        ),
                    );
                    None
                }
            },
        };
        // The phone's default period is no reason to warn that Resync_At overrides it.
        let periodic = if resync_at.is_some() && v.raw("Resync_Periodic").is_none() {
            None
        } else {
            periodic
        };
        let at_random_delay_secs = v.number(
            "Resync_At_Random_Delay",
            0,
            65_535,
            u64::from(d.at_random_delay_secs),
        ) as u32;
        read.schedule = Some(ScheduleSettings::Cisco(CiscoResync {
            periodic,
            resync_at,
            at_random_delay_secs,
            error_retry,
        }));
    }
    read.credentials = (1..=MAX_LINES)
        .filter_map(|n| {
            let user = v.text(&format!("User_ID_{n}_"));
            let password = v.text(&format!("Password_{n}_"))?;
            let use_auth = v
                .text(&format!("Use_Auth_ID_{n}_"))
                .is_some_and(|u| u.eq_ignore_ascii_case("yes"));
            let auth = v.text(&format!("Auth_ID_{n}_")).filter(|_| use_auth);
            Some(Credential {
                user: user.map(str::to_owned),
                auth_id: auth.or(user)?.to_owned(),
                password: password.to_owned(),
            })
        })
        .collect();
    for key in PROFILE_RULES {
        let Some(f) = v.found(key) else { continue };
        let gpp = |name: &str| v.text(&format!("GPP_{name}")).unwrap_or("").to_owned();
        match profile_rule(f.value, &gpp) {
            Ok(rule) => {
                if rule.alternatives > 1 {
                    v.warn(
                        &f,
                        key,
                        format!(
                            "{} alternatives: their conditions are not evaluated, the last \
                             (unconditional) one is used",
                            rule.alternatives
                        ),
                    );
                }
                // A URL ending in `/` (`…/provision/?mac=$MA`) names no file: the key does.
                let path = rule.url.split(['?', '#']).next().unwrap_or("");
                let name = path
                    .ends_with('/')
                    .then(|| format!("{}.xml", key.to_ascii_lowercase()));
                read.files.push(FileSpec {
                    name,
                    url: rule.url,
                    format: None,
                    origin: Some(FileOrigin {
                        key: (*key).to_owned(),
                        line: f.line,
                    }),
                });
            }
            Err(m) => v.warn(&f, key, format!("{m}; the file is not fetched")),
        }
    }
    read
}

/// One profile rule, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileRule {
    /// The URL template, macros replaced by `{mac}`, `{MAC}`, `{MODEL}` or their values,
    /// `--uid`/`--pwd` as `user:password@`.
    pub url: String,
    /// The `--key` passphrase, macros expanded; never logged.
    pub key: Option<String>,
    /// How many `|` alternatives the rule had.
    pub alternatives: usize,
}

/// Splits `text` at `sep` outside brackets, parentheses and double quotes.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '(' if !quoted => depth += 1,
            ']' | ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// Reads a `Profile_Rule`: `[ (condition)? ] [ (assignments)! ] [ [options] ] URL`, `|`
/// between alternatives (the last one is used: conditions are not evaluated). `gpp` gives
/// `GPP_<name>` for the macros `$A` to `$P` and `$SA` to `$SD`.
pub(crate) fn profile_rule(
    text: &str,
    gpp: &dyn Fn(&str) -> String,
) -> Result<ProfileRule, String> {
    let alternatives = split_top(text, '|');
    let mut rest = alternatives.last().map_or("", |a| a.trim());
    // Conditions `( … )?` and assignments `( … )!`.
    while rest.starts_with('(') {
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .ok_or("an unclosed parenthesis")?;
        rest = rest[end + 1..].trim_start_matches(['?', '!']).trim_start();
    }
    let (mut key, mut uid, mut pwd) = (None, None, None);
    if let Some(r) = rest.strip_prefix('[') {
        let end = r.find(']').ok_or("an unclosed [options] bracket")?;
        let options = &r[..end];
        rest = r[end + 1..].trim();
        let mut words = tokens(options).into_iter();
        while let Some(word) = words.next() {
            let slot = match word.as_str() {
                "--key" => &mut key,
                "--uid" => &mut uid,
                "--pwd" => &mut pwd,
                other => {
                    return Err(format!(
                        "the option {} is not supported (--key, --uid and --pwd are)",
                        crate::escape::excerpt(other.as_bytes())
                    ))
                }
            };
            let value = words
                .next()
                .ok_or_else(|| format!("{word} needs a value"))?;
            *slot = Some(expand(&value, gpp, true)?);
        }
    }
    if rest.is_empty() {
        return Err("no URL".into());
    }
    let lower = rest.to_ascii_lowercase();
    if rest.starts_with('/') {
        return Err(
            "no server: the phone would use the TFTP server of DHCP option 66, which \
                    sip-resync cannot know"
                .into(),
        );
    }
    // A rule names `tftp://`, `http://` or `https://`; without a scheme, the server and path
    // are fetched over TFTP ("the default protocol is TFTP", Cisco SPA provisioning guide).
    let rest = if lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("tftp://")
    {
        rest.to_owned()
    } else if lower.contains("://") {
        return Err("only tftp://, http:// and https:// profiles are fetched".into());
    } else {
        format!("tftp://{rest}")
    };
    let rest = rest.as_str();
    let url = expand(rest, gpp, false)?;
    let url = with_credentials(&url, uid.as_deref(), pwd.as_deref());
    Ok(ProfileRule {
        url,
        key,
        alternatives: alternatives.len(),
    })
}

/// Words of an options list; a double-quoted word may hold spaces.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            out.push(chars.by_ref().take_while(|&c| c != '"').collect());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    out
}

/// Macros of the device the URL names, which sip-resync fills at fetch time.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("MAU", "{MAC}"),
    ("MA", "{mac}"),
    ("PSN", "{MODEL}"),
    ("PN", "{MODEL}"),
];

/// Macros sip-resync cannot fill.
const UNSUPPORTED: &[&str] = &[
    "MAC", "SN", "CCERT", "IP", "EXTIP", "SWVER", "HWVER", "PRVST", "UPGST", "UPGERR", "PRVTMR",
    "UPGTMR", "REGTMR1", "REGTMR2", "UPGCOND", "SCHEME", "SERV", "SERVIP", "PORT", "PATH", "ERR",
];

/// Expands Cisco macros: `$$`, `$MA` / `$MAU` / `$PSN` / `$PN` (placeholders), `$A` to `$P`
/// (the GPP values), `$SA` to `$SD` (only in a `--key`). An unknown `$NAME` is left as it
/// is, as on the phone.
fn expand(text: &str, gpp: &dyn Fn(&str) -> String, in_key: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        if rest.starts_with('(') {
            return Err("the $(NAME:p:q) substring macros are not supported".into());
        }
        let run_len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        let run = &rest[..run_len];
        let mut names: Vec<&str> = PLACEHOLDERS
            .iter()
            .map(|(n, _)| *n)
            .chain(UNSUPPORTED.iter().copied())
            .chain(["SA", "SB", "SC", "SD"])
            .collect();
        let letters = [
            "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P",
        ];
        names.extend(letters);
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let Some(name) = names.into_iter().find(|n| run.starts_with(n)) else {
            out.push('$');
            continue;
        };
        rest = &rest[name.len()..];
        if let Some((_, p)) = PLACEHOLDERS.iter().find(|(n, _)| *n == name) {
            out.push_str(p);
        } else if UNSUPPORTED.contains(&name) {
            return Err(format!("the macro ${name} is not supported"));
        } else if name.len() == 2 && !in_key {
            return Err(format!(
                "${name} (GPP_{name}) may only be used as a --key argument"
            ));
        } else {
            out.push_str(&gpp(name));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The `--key` passphrases of the profile rules `get` finds, for decryption; never logged.
pub(crate) fn profile_keys(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let gpp = |name: &str| get(&format!("GPP_{name}")).unwrap_or_default();
    PROFILE_RULES
        .iter()
        .filter_map(|k| get(k))
        .filter_map(|text| profile_rule(&text, &gpp).ok()?.key)
        .filter(|k| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_bytes, RebootPolicy};

    #[test]
    fn profile_rules_macros_options_and_alternatives() {
        let gpp = |n: &str| match n {
            "D" => "prov".to_owned(),
            "SA" => "Secret 1".to_owned(),
            _ => String::new(),
        };
        let r = profile_rule("[--key $SA]https://p.example/$D/cisco$MA.cfg", &gpp).unwrap();
        assert_eq!(r.url, "https://p.example/prov/cisco{mac}.cfg");
        assert_eq!(r.key.as_deref(), Some("Secret 1"));
        let r = profile_rule(
            "[--key \"my secret\" --uid u --pwd p]http://h:8080/$MAU/$PSN.xml",
            &gpp,
        )
        .unwrap();
        assert_eq!(r.url, "http://u:p@h:8080/{MAC}/{MODEL}.xml");
        assert_eq!(r.key.as_deref(), Some("my secret"));
        let r = profile_rule(
            "( $SWVER ne \"7.5\" )? http://a/x.cfg | ( User_ID_1_ = \"uid$B\" ; )! http://b/$UNKNOWN$$.cfg",
            &gpp,
        )
        .unwrap();
        assert_eq!(
            (r.url.as_str(), r.alternatives),
            ("http://b/$UNKNOWN$.cfg", 2)
        );
        // TFTP, named or by default (no scheme).
        for (rule, url) in [
            ("tftp://h/a.cfg", "tftp://h/a.cfg"),
            (
                "prov.example/spa$PSN.cfg",
                "tftp://prov.example/spa{MODEL}.cfg",
            ),
        ] {
            assert_eq!(profile_rule(rule, &gpp).unwrap().url, url, "{rule}");
        }
        for bad in [
            "/spa$PSN.cfg",
            "ftp://h/a.cfg",
            "http://h/$MAC.cfg",
            "http://h/$SA.cfg",
            "[--post a]http://h/a",
            "http://h/$(MA:1:4)",
        ] {
            assert!(profile_rule(bad, &gpp).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_an_mpp_profile() {
        let xml = br#"<flat-profile>
  <Resync_On_Reset ua="na">Yes</Resync_On_Reset>
  <Resync_Random_Delay ua="na">3</Resync_Random_Delay>
  <Resync_At__HHmm_ ua="na">0200</Resync_At__HHmm_>
  <Resync_At_Random_Delay ua="na">3600</Resync_At_Random_Delay>
  <Resync_Error_Retry_Delay ua="na">1800,3600,7200,14400</Resync_Error_Retry_Delay>
  <Profile_Rule ua="na">[--key $SA]https://prov.example.com/cisco/$MA.cfg</Profile_Rule>
  <GPP_SA ua="na">k</GPP_SA>
  <User_ID_1_ ua="na">1001</User_ID_1_>
  <Password_1_ ua="na">pw</Password_1_>
  <Station_Name ua="na">desk</Station_Name>
</flat-profile>"#;
        let s = from_bytes(xml, Path::new("cfg.xml")).unwrap();
        assert_eq!(s.dialect, Dialect::Cisco);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.sip.events, EVENTS);
        assert_eq!(s.provisioning.reboot_policy, RebootPolicy::IfRequested);
        assert_eq!(s.provisioning.random_delay, Duration::from_secs(60));
        let ScheduleSettings::Cisco(c) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert_eq!(
            c.at_window().map(|(a, b)| (a.to_string(), b.to_string())),
            Some(("02:00".into(), "03:00".into()))
        );
        assert_eq!(
            c.error_retry.unwrap().to_string(),
            "1800s,3600s,7200s,14400s"
        );
        assert_eq!(
            s.provisioning.files[0].url,
            "https://prov.example.com/cisco/{mac}.cfg"
        );
        assert_eq!(s.unused, ["Station_Name"]);
        assert_eq!(s.sip.auth.credentials[0].auth_id, "1001");
        let keys = profile_keys(|k| {
            s.vendor_entries
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(keys, ["k"]);
    }

    #[test]
    fn legacy_names_and_bad_values() {
        let xml = b"<flat-profile>\n<Resync_At_HHmm_>2500</Resync_At_HHmm_>\n<Resync_Periodic>7200+600</Resync_Periodic>\n<Resync_From_SIP>No</Resync_From_SIP>\n<Resync_Error_Retry_Delay>soon</Resync_Error_Retry_Delay>\n</flat-profile>";
        let s = from_bytes(xml, Path::new("spa.xml")).unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            w.iter()
                .any(|w| w.starts_with("spa.xml:5: Resync_Error_Retry_Delay: \"soon\"")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.starts_with("spa.xml:2: Resync_At_HHmm_: \"2500\"")),
            "{w:?}"
        );
        assert!(s.sip.events.is_empty());
        let ScheduleSettings::Cisco(c) = &s.schedule else {
            panic!()
        };
        assert_eq!(c.periodic.unwrap().to_string(), "7200s+0-600s");
        assert_eq!(c.resync_at, None);
        assert_eq!(canonical("Resync_At_(HHmm)"), "Resync_At__HHmm_");
        assert_eq!(canonical("User_ID[1]"), "User_ID_1_");
    }
}

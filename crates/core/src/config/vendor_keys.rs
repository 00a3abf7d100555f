//! "Did you mean" for vendor files: a setting of a Panasonic or Snom file that sip-resync
//! does not use, but that is one or two letters away from one it does use (`CFG_CYCLC`,
//! `prov_poling_enabled`), is most likely a misspelling that leaves polling off; the phone
//! ignores it as silently. `check` and `run` warn with the line and the key it resembles.

use super::{Dialect, Settings, Warning};

/// The keys of a vendor family that sip-resync reads, for suggestions.
fn known(dialect: Dialect) -> &'static [&'static str] {
    match dialect.family() {
        Dialect::Panasonic => super::panasonic::PANASONIC_KEYS,
        Dialect::Snom => super::snom::SNOM_KNOWN,
        _ => &[],
    }
}

/// A warning for each unused setting of `settings` that resembles a key sip-resync reads.
pub(super) fn suggest(settings: &Settings) -> Vec<Warning> {
    let keys = known(settings.dialect);
    settings
        .unused
        .iter()
        .filter_map(|name| {
            let folded = if settings.dialect.family() == Dialect::Panasonic {
                name.to_ascii_uppercase()
            } else {
                name.to_ascii_lowercase()
            };
            // A numbered sibling of a known key (`CFG_FILE_KEY2` beside `CFG_FILE_KEY`,
            // `CFG_ROOT_CERTIFICATE_PATH` beside `…PATH1`) is a setting of its own.
            let stem = |k: &str| k.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
            if keys.iter().any(|k| stem(k) == stem(&folded)) {
                return None;
            }
            let (d, key) = keys
                .iter()
                .map(|k| (super::toml::probe::distance(&folded, k), *k))
                .filter(|(d, k)| *d <= if k.len() <= 6 { 1 } else { 2 })
                .min()?;
            // A key that differs only in case is the same key to us, but not to the phone.
            let why = if d == 0 {
                "differs in case from"
            } else {
                "is not a setting sip-resync reads; did you mean"
            };
            Some(Warning {
                path: settings.path.clone(),
                line: settings.line_of(name),
                key: Some(name.clone()),
                message: format!(
                    "{why} {key}? As written, the phone ignores it and sip-resync does too"
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::from_bytes;

    #[test]
    fn misspelt_vendor_keys_get_did_you_mean_with_the_line() {
        let pana = b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLC=\"Y\"\r\nCFG_CYCLIC_INTVL=\"60\"\r\nSIP_RGSTR_ADDR_1=\"pbx\"\r\n";
        let s = from_bytes(pana, Path::new("p.cfg")).unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            ["p.cfg:2: CFG_CYCLC: is not a setting sip-resync reads; did you mean CFG_CYCLIC? As written, the phone ignores it and sip-resync does too"]
        );
        let snom = b"<settings><phone-settings>\n<prov_poling_enabled>on</prov_poling_enabled>\n<language>English</language>\n</phone-settings></settings>";
        let s = from_bytes(snom, Path::new("s.xml")).unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            ["s.xml:2: prov_poling_enabled: is not a setting sip-resync reads; did you mean prov_polling_enabled? As written, the phone ignores it and sip-resync does too"]
        );
    }
}

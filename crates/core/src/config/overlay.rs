//! The settings in effect: the applied files, parsed once when they were fetched, overlaid on
//! the local configuration. A pure function: no I/O, no parsing.

use std::path::Path;

use super::error::Found;
use super::panasonic::{panasonic_schedule, PANASONIC_SCHEDULE_KEYS};
use super::snom::{snom_schedule, SNOM_KEYS};
use super::{auth, panasonic, snom, Dialect, FileFormat, ParseError, Settings, Warning};

/// A fetched file, parsed by the validation that accepted it; the overlay reads this, never
/// the bytes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedFile {
    /// A Panasonic standard format file.
    Panasonic(panasonic::PanasonicFile),
    /// The settings of a Snom XML or text file, in document order.
    Snom(Vec<snom::Entry>),
    /// A list of further files to fetch (Snom's `<setting-files>`), in order.
    Links(Vec<snom::Link>),
    /// Stored as it is; carries no settings.
    Raw,
    /// A Yealink, Polycom, Cisco or Grandstream file (see `config::vendor`).
    Vendor(super::vendor::VendorFile),
}

impl ParsedFile {
    /// Validates a fetched file for its format and returns it parsed: `panasonic` needs the
    /// magic first line and no value spanning lines, `snom` well-formed `<settings>` XML;
    /// `raw` accepts anything. `name` names the file in messages.
    pub fn parse(format: FileFormat, name: &str, bytes: &[u8]) -> Result<Self, ParseError> {
        let path = Path::new(name);
        match format {
            FileFormat::Panasonic if panasonic::is_xml(bytes) => panasonic::parse_xml(bytes, path)
                .map(ParsedFile::Panasonic)
                .map_err(ParseError::from),
            FileFormat::Panasonic => panasonic::parse(bytes, path)
                .map(ParsedFile::Panasonic)
                .map_err(ParseError::from),
            FileFormat::Snom => match snom::parse_document(bytes, path)? {
                snom::Document::Settings(entries, _) => Ok(ParsedFile::Snom(entries)),
                snom::Document::Files(links, _) => Ok(ParsedFile::Links(links)),
            },
            FileFormat::Raw => Ok(ParsedFile::Raw),
            FileFormat::Auto => Self::parse(FileFormat::detect(name, bytes), name, bytes),
            FileFormat::Yealink
            | FileFormat::Polycom
            | FileFormat::Cisco
            | FileFormat::Grandstream => {
                super::dialects::parse_format(format, bytes, path).map_err(ParseError::from)
            }
        }
    }
}

/// One applied file, as [`overlay`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct Provisioned<'a> {
    /// Local name, for messages.
    pub name: &'a str,
    /// The file, parsed.
    pub file: &'a ParsedFile,
}

/// The settings in effect once the applied files are laid over the local configuration.
///
/// `fetched` is in configured order; a later file wins on a clash, so Panasonic's master,
/// product, standard order gives standard over product over master. Settings the agent
/// itself uses are taken from the files: `CFG_RESYNC_FROM_SIP` (the accepted event), the
/// polling keys of either vendor, digest credentials and Snom's `challenge_checksync`. Key by
/// key, fetched values win over a local vendor file of the same vendor; over a TOML
/// configuration, a fetched file that sets any polling key replaces the schedule as a whole,
/// with that vendor's defaults for the keys it leaves out. A value the phone would not take
/// is a warning naming its file, line and key, and the phone's default stands in for it.
pub fn overlay(local: &Settings, fetched: &[Provisioned<'_>]) -> (Settings, Vec<Warning>) {
    let mut effective = local.clone();
    let mut warnings = Vec::new();
    // The usable files of each vendor, in order of precedence: the last file first.
    let mut pana: Vec<&panasonic::PanasonicFile> = Vec::new();
    let mut snoms: Vec<(&Path, &[snom::Entry])> = Vec::new();
    for f in fetched.iter().rev() {
        let path = Path::new(f.name);
        match f.file {
            // Each file's own unusable values are reported once, here; the lookups below
            // pass over them to the next file down, as the phone keeps the value it had.
            ParsedFile::Panasonic(p) => {
                warnings.extend(panasonic_schedule(&|k| Found::in_panasonic(p, k)).1);
                pana.push(p);
            }
            ParsedFile::Snom(entries) => {
                warnings.extend(snom_schedule(&|k| Found::in_snom(entries, path, k)).1);
                snoms.push((path, entries));
            }
            ParsedFile::Links(_) | ParsedFile::Raw | ParsedFile::Vendor(_) => {}
        }
    }
    // The local vendor file, below the fetched ones.
    let local_path = local.path.as_path();
    let local_entry = |dialect: Dialect, k: &str| -> Option<Found<'_>> {
        if local.dialect.family() != dialect {
            return None;
        }
        local
            .vendor_entries
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| Found {
                value: v,
                path: local_path,
                line: local.line_of(k),
            })
    };
    // A value counts only when the phone would take it: the schedule readers, asked about
    // this one key alone, find nothing to warn about.
    let pana_ok =
        |k: &str, f: &Found<'_>| panasonic_schedule(&|q| (q == k).then_some(*f)).1.is_empty();
    let snom_ok = |k: &str, f: &Found<'_>| snom_schedule(&|q| (q == k).then_some(*f)).1.is_empty();
    let fetched_pana = |k: &str| {
        pana.iter()
            .filter_map(|p| Found::in_panasonic(p, k))
            .find(|f| pana_ok(k, f))
    };
    let fetched_snom = |k: &str| {
        snoms
            .iter()
            .filter_map(|(path, e)| Found::in_snom(e, path, k))
            .find(|f| snom_ok(k, f))
    };

    if snoms
        .iter()
        .any(|(_, entries)| entries.iter().any(|e| SNOM_KEYS.contains(&e.name.as_str())))
    {
        let get = |k: &str| {
            fetched_snom(k).or_else(|| local_entry(Dialect::Snom, k).filter(|f| snom_ok(k, f)))
        };
        // Every value reached here is usable: the warnings were given above.
        if let (Some(s), _) = snom_schedule(&get) {
            effective.schedule = s;
        }
    }
    let fetched_schedule = pana.iter().any(|p| {
        p.entries
            .iter()
            .any(|e| PANASONIC_SCHEDULE_KEYS.contains(&e.name.as_str()))
    });
    if fetched_schedule {
        let get = |k: &str| {
            fetched_pana(k).or_else(|| local_entry(Dialect::Panasonic, k).filter(|f| pana_ok(k, f)))
        };
        effective.schedule = panasonic_schedule(&get).0;
    }
    if let Some(event) = pana.iter().find_map(|p| {
        p.get("CFG_RESYNC_FROM_SIP")
            .filter(|e| !e.value.trim().is_empty())
    }) {
        effective.sip.events = vec![event.value.trim().to_owned()];
    }
    let fetched_credentials = auth::panasonic_credentials(|k| fetched_pana(k).map(|f| f.value))
        .into_iter()
        .chain(auth::snom_credentials(|k| fetched_snom(k).map(|f| f.value)))
        .collect::<Vec<_>>();
    if !fetched_credentials.is_empty() {
        effective.sip.auth.credentials =
            auth::merge(&local.sip.auth.credentials, fetched_credentials);
    }
    if let Some(f) = fetched_snom("challenge_checksync") {
        match auth::snom_challenge(f.value) {
            Ok(on) => effective.sip.auth.challenge = on,
            Err(m) => warnings.push(Warning {
                path: f.path.to_owned(),
                line: f.line,
                key: Some("challenge_checksync".into()),
                message: format!("{m}; the setting in effect is kept"),
            }),
        }
    }
    let vendor_files: Vec<&super::vendor::VendorFile> = fetched
        .iter()
        .filter_map(|f| match f.file {
            ParsedFile::Vendor(v) => Some(v),
            _ => None,
        })
        .collect();
    super::dialects::overlay(&mut effective, local, &vendor_files, &mut warnings);
    (effective, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_bytes;
    use crate::schedule::ScheduleSettings;

    fn parsed(format: FileFormat, name: &str, bytes: &[u8]) -> ParsedFile {
        ParsedFile::parse(format, name, bytes).unwrap()
    }

    #[test]
    fn provisioned_credentials_and_challenge_overlay_the_local_ones() {
        let local = from_bytes(
            b"[sip.auth]\nchallenge = false\n[[sip.auth.credentials]]\nauth_id = \"a1001\"\npassword = \"old\"\n[[sip.auth.credentials]]\nauth_id = \"a1002\"\npassword = \"kept\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let pana = parsed(
            FileFormat::Panasonic,
            "master.cfg",
            b"# Panasonic SIP Phone Standard Format File #\r\nSIP_AUTHID_1=\"a1001\"\r\nSIP_PASS_1=\"new\"\r\n",
        );
        let snom = parsed(
            FileFormat::Snom,
            "snom.xml",
            b"<settings><phone-settings><challenge_checksync>on</challenge_checksync></phone-settings></settings>",
        );
        let (eff, warnings) = overlay(
            &local,
            &[
                Provisioned {
                    name: "master.cfg",
                    file: &pana,
                },
                Provisioned {
                    name: "snom.xml",
                    file: &snom,
                },
            ],
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(eff.sip.auth.challenge);
        let pw: Vec<(&str, &str)> = eff
            .sip
            .auth
            .credentials
            .iter()
            .map(|c| (c.auth_id.as_str(), c.password.as_str()))
            .collect();
        assert_eq!(pw, [("a1001", "new"), ("a1002", "kept")]);
    }

    #[test]
    fn later_files_win_key_by_key_over_earlier_ones_and_the_local_vendor_file() {
        let local = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC=\"Y\"\r\nCFG_CYCLIC_INTVL=\"15\"\r\nCFG_RTRY_INTVL=\"7\"\r\n",
            Path::new("local.cfg"),
        )
        .unwrap();
        let magic = "# Panasonic SIP Phone Standard Format File #\r\n";
        let master = parsed(
            FileFormat::Panasonic,
            "master.cfg",
            format!("{magic}CFG_CYCLIC_INTVL=\"60\"\r\nCFG_RESYNC_FROM_SIP=\"master-sync\"\r\n")
                .as_bytes(),
        );
        let standard = parsed(
            FileFormat::Panasonic,
            "standard.cfg",
            format!("{magic}CFG_CYCLIC_INTVL=\"90\"\r\nCFG_RESYNC_FROM_SIP=\"std-sync\"\r\n")
                .as_bytes(),
        );
        let bad = parsed(
            FileFormat::Panasonic,
            "product.cfg",
            format!("{magic}\r\nCFG_CYCLIC=\"maybe\"\r\nCFG_RESYNC_FROM_SIP=\"bad\"\r\n")
                .as_bytes(),
        );
        let files = [
            Provisioned {
                name: "master.cfg",
                file: &master,
            },
            Provisioned {
                name: "product.cfg",
                file: &bad,
            },
            Provisioned {
                name: "standard.cfg",
                file: &standard,
            },
        ];
        let (eff, warnings) = overlay(&local, &files);
        assert_eq!(eff.sip.events, ["std-sync"]);
        let ScheduleSettings::Panasonic(p) = &eff.schedule else {
            panic!("{:?}", eff.schedule)
        };
        // standard's interval, the local file's CFG_CYCLIC and CFG_RTRY_INTVL.
        assert_eq!(
            (p.cyclic, p.cyclic_interval_min, p.retry_interval_min),
            (true, 90, 7)
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = warnings[0].to_string();
        assert!(
            w.contains("product.cfg:3") && w.contains("CFG_CYCLIC"),
            "{w}"
        );
        // Without files, the local settings as they are.
        assert_eq!(overlay(&local, &[]).0, local);
    }
}

//! Provisioning settings: which files to fetch, how, and what to do after an update.
//!
//! In our TOML these are the `[provisioning]` table; in a Panasonic `.cfg` file the file list
//! comes from `CFG_MASTER_FILE_PATH`, `CFG_PRODUCT_FILE_PATH` and `CFG_STANDARD_FILE_PATH`
//! (fetched in that order, so that on a clash standard wins over product over master) and
//! every other provisioning setting keeps its default, except the extra trusted CAs that
//! `CFG_ROOT_CERTIFICATE_PATH1` to `3` name when they name local files.
//!
//! The TLS material (`ca_files`, `client_certificate`, `client_key`) is named here and read
//! nowhere in this crate: the agent reads and checks it once, when it loads the configuration
//! (`sip_resync::config::load`), with errors that name the key and the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::naming::{check_file_name, check_url_template};

/// How a fetched file is validated and whether its settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FileFormat {
    /// Panasonic standard format: the magic first line is required, and `CFG_*` polling
    /// and event settings in it re-arm the agent.
    Panasonic,
    /// Snom XML settings: must be well-formed `<settings>`; `prov_polling_*` settings in it
    /// re-arm the agent.
    Snom,
    /// Any content, stored as it is.
    Raw,
    /// Yealink `.cfg` (`#!version:` first line).
    Yealink,
    /// Polycom XML (`<polycomConfig>`, `<PHONE_CONFIG>`, a master file's `<APPLICATION>`).
    Polycom,
    /// Cisco SPA/MPP XML profile (`<flat-profile>`).
    Cisco,
    /// Grandstream XML (`<gs_provision>`).
    Grandstream,
    /// Recognised by its content, then by its name (the default): see
    /// [`FileFormat::detect`].
    Auto,
}

impl FileFormat {
    /// The format a file name suggests: `.cfg` is Panasonic, `.xml` is Snom, anything else
    /// is raw.
    pub fn guess(name: &str) -> FileFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".cfg") {
            FileFormat::Panasonic
        } else if lower.ends_with(".xml") {
            FileFormat::Snom
        } else {
            FileFormat::Raw
        }
    }

    /// This format, or for [`FileFormat::Auto`] the one [`FileFormat::detect`] finds.
    pub fn for_content(self, name: &str, bytes: &[u8]) -> FileFormat {
        match self {
            FileFormat::Auto => FileFormat::detect(name, bytes),
            format => format,
        }
    }

    /// The name used in configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Panasonic => "panasonic",
            FileFormat::Snom => "snom",
            FileFormat::Raw => "raw",
            FileFormat::Auto => "auto",
            FileFormat::Yealink => "yealink",
            FileFormat::Polycom => "polycom",
            FileFormat::Cisco => "cisco",
            FileFormat::Grandstream => "grandstream",
        }
    }

    /// The format of a vendor dialect's files.
    pub(super) fn of_dialect(dialect: super::Dialect) -> FileFormat {
        match dialect {
            super::Dialect::Yealink => FileFormat::Yealink,
            super::Dialect::Polycom => FileFormat::Polycom,
            super::Dialect::Cisco => FileFormat::Cisco,
            super::Dialect::Grandstream => FileFormat::Grandstream,
            super::Dialect::Panasonic => FileFormat::Panasonic,
            _ => FileFormat::Snom,
        }
    }

    /// The dialect of this format's files, for the four read by `config::vendor`.
    pub(super) fn vendor_dialect(self) -> Option<super::Dialect> {
        match self {
            FileFormat::Yealink => Some(super::Dialect::Yealink),
            FileFormat::Polycom => Some(super::Dialect::Polycom),
            FileFormat::Cisco => Some(super::Dialect::Cisco),
            FileFormat::Grandstream => Some(super::Dialect::Grandstream),
            _ => None,
        }
    }
}

/// One configured provisioning file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Name of the applied copy in the state directory; `None` means the last path segment
    /// of the URL once `{MAC}` and `{MODEL}` are replaced.
    pub name: Option<String>,
    /// URL template: `http://`, `https://` (optionally with `user:pass@`) or `file://`; `{MAC}`
    /// and `{MODEL}` are replaced before each fetch.
    pub url: String,
    /// How the file is validated; `None` means recognised by its content, then its name
    /// ([`FileFormat::Auto`]).
    pub format: Option<FileFormat>,
    /// The setting that named the file, for reports; `None` when not known.
    pub origin: Option<FileOrigin>,
}

/// Where a provisioning file's URL was configured: the key and the line of the local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOrigin {
    /// The key: `CFG_STANDARD_FILE_PATH`, `setting_server`, `provisioning.files[0].url`, ...
    pub key: String,
    /// 1-based line of the configuration file, when the dialect has lines.
    pub line: Option<usize>,
}

impl std::fmt::Display for FileOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// Whether an outcome asks the embedding application to reboot (`reboot_requested`).
///
/// A NOTIFY's explicit `reboot=true` or `reboot=false` decides, unless the policy is
/// `never`; without one, the policy decides. A failed run never asks for a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RebootPolicy {
    /// Never ask for a reboot, whatever the NOTIFY says.
    Never,
    /// Only when a NOTIFY carried `reboot=true` (the default).
    #[default]
    IfRequested,
    /// After every successful run, unless a NOTIFY said `reboot=false` (Yealink's default).
    Always,
    /// When the run changed files, unless a NOTIFY said otherwise (Polycom `alwaysReboot=0`).
    IfChanged,
}

impl RebootPolicy {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            RebootPolicy::Never => "never",
            RebootPolicy::IfRequested => "if-requested",
            RebootPolicy::Always => "always",
            RebootPolicy::IfChanged => "if-changed",
        }
    }

    /// Decides `reboot_requested` for a run that succeeded (`changed`: files were updated),
    /// given the NOTIFY's explicit wish if any.
    pub fn decide(self, wish: Option<bool>, changed: bool) -> bool {
        match (self, wish) {
            (RebootPolicy::Never, _) => false,
            (_, Some(wish)) => wish,
            (RebootPolicy::IfRequested, None) => false,
            (RebootPolicy::Always, None) => true,
            (RebootPolicy::IfChanged, None) => changed,
        }
    }
}

/// Largest accepted `max_file_size`, in bytes (64 MiB).
pub(super) const MAX_FILE_SIZE_LIMIT: u64 = 64 * 1024 * 1024;
/// Most configured files.
pub(super) const MAX_FILES: usize = 16;
/// Most files in `ca_files`.
pub(super) const MAX_CA_FILES: usize = 16;

/// Provisioning settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningSettings {
    /// Files fetched by every run, in order; on a clash of settings a later file wins.
    pub files: Vec<FileSpec>,
    /// MAC address replacing `{MAC}`: 12 upper-case hex digits.
    pub mac: Option<String>,
    /// Model name replacing `{MODEL}`.
    pub model: Option<String>,
    /// Where applied files and persisted state live; relative paths are resolved against
    /// the configuration file's directory. `--state-dir` overrides it.
    pub state_dir: Option<PathBuf>,
    /// Directory relative `file://` URLs and `state_dir` are resolved against.
    pub base_dir: PathBuf,
    /// Run once at start-up.
    pub fetch_at_startup: bool,
    /// Largest random delay before a start-up- or NOTIFY-triggered run (0: none).
    pub random_delay: Duration,
    /// Runs a burst of NOTIFY or manual triggers may start at once (at least 1).
    pub run_budget: u32,
    /// One run of the budget comes back per this interval; zero admits every run.
    pub run_budget_refill: Duration,
    /// TCP (and TLS) connect timeout per file.
    pub connect_timeout: Duration,
    /// Total time allowed per file, body included.
    pub timeout: Duration,
    /// Largest file accepted, in bytes; enforced while the body streams.
    pub max_file_size: u64,
    /// Most redirects followed per file.
    pub max_redirects: usize,
    /// Largest `Retry-After` honoured; longer values are cut to it.
    pub max_retry_after: Duration,
    /// Longest a run (and the reboot it may ask for) waits while the host says the phone is
    /// busy in a call; then it proceeds anyway. Zero: runs never wait.
    pub busy_max_wait: Duration,
    /// When outcomes ask for a reboot.
    pub reboot_policy: RebootPolicy,
    /// Command (program and arguments, no shell) run after each update.
    pub post_update_command: Vec<String>,
    /// Time the post-update command may take before it is killed.
    pub post_update_timeout: Duration,
    /// Extra trusted CA certificates (PEM files), trusted for `https://` files besides the
    /// system's roots; resolved against the configuration file's directory.
    pub ca_files: Vec<PathBuf>,
    /// The client certificate (PEM chain, leaf first) presented to servers that ask for one;
    /// given with `client_key`.
    pub client_certificate: Option<PathBuf>,
    /// The private key of `client_certificate` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
    /// The content of `ca_files` and of the client certificate and key, once the agent has
    /// read and checked them (`sip_resync::config::load`); empty until then. Nothing in
    /// this crate reads a file.
    pub tls: TlsMaterial,
}

/// The TLS material of the `[provisioning]` settings as read from its files: extra trust
/// anchors (DER) and the client identity (PEM: certificates, then the key). Its `Debug` shows
/// no key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// Whether the files were read (an empty material of settings that name no file is read
    /// too).
    pub read: bool,
    /// Extra trusted CA certificates (DER), trusted besides the system's roots.
    pub roots: Vec<Vec<u8>>,
    /// The client certificate chain and its key, as PEM (certificates, then the key).
    pub identity: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("read", &self.read)
            .field("roots", &self.roots.len())
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for ProvisioningSettings {
    fn default() -> Self {
        ProvisioningSettings {
            files: Vec::new(),
            mac: None,
            model: None,
            state_dir: None,
            base_dir: PathBuf::from("."),
            fetch_at_startup: true,
            random_delay: Duration::ZERO,
            run_budget: DEFAULT_RUN_BUDGET,
            run_budget_refill: DEFAULT_RUN_BUDGET_REFILL,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_file_size: 1024 * 1024,
            max_redirects: 5,
            max_retry_after: Duration::from_secs(86_400),
            busy_max_wait: DEFAULT_BUSY_MAX_WAIT,
            reboot_policy: RebootPolicy::IfRequested,
            post_update_command: Vec::new(),
            post_update_timeout: Duration::from_secs(60),
            ca_files: Vec::new(),
            client_certificate: None,
            client_key: None,
            tls: TlsMaterial::default(),
        }
    }
}

/// Normalises a MAC address written as `0080F0A1B2C3`, `00:80:f0:a1:b2:c3` or
/// `00-80-F0-A1-B2-C3` to 12 upper-case hex digits.
pub fn normalise_mac(text: &str) -> Result<String, super::ValueError> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(digits.to_ascii_uppercase())
    } else {
        Err(super::ValueError::Mac(crate::escape::excerpt(
            text.as_bytes(),
        )))
    }
}

/// The six bytes of a normalised MAC address.
pub fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    if mac.len() != 12 {
        return None;
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(mac.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Default run budget: three runs, so an administrator's three check-syncs in a row are each
/// fetched at once.
pub const DEFAULT_RUN_BUDGET: u32 = 3;
/// Default refill of the run budget: one run every 20 s, so a 10 s flood gives at most the
/// three runs of a full budget and one follow-up after it.
pub const DEFAULT_RUN_BUDGET_REFILL: Duration = Duration::from_secs(20);

/// How long a run waits while the phone is busy in a call, by default: Yealink's bound (the
/// phone looks at the call state every 30 s for up to 2 h), the shorter of the two vendors'
/// (Cisco's `Forced_Resync_Delay` defaults to 14400 s).
pub const DEFAULT_BUSY_MAX_WAIT: Duration = Duration::from_secs(7_200);

/// `[provisioning]` as written in TOML.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub(super) struct TomlProvisioning {
    files: Vec<TomlFileSpec>,
    mac: Option<String>,
    model: Option<String>,
    state_dir: Option<PathBuf>,
    fetch_at_startup: bool,
    random_delay_secs: u64,
    run_budget: Option<u32>,
    run_budget_refill_secs: Option<u64>,
    /// Retired: read as `run_budget = 1`, `run_budget_refill_secs = N` (what it meant).
    min_interval_secs: Option<u64>,
    connect_timeout_secs: u64,
    timeout_secs: u64,
    max_file_size: u64,
    max_redirects: usize,
    max_retry_after_secs: u64,
    busy_max_wait_secs: u64,
    reboot_policy: RebootPolicy,
    post_update_command: Vec<String>,
    post_update_timeout_secs: u64,
    ca_files: Vec<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFileSpec {
    url: String,
    name: Option<String>,
    format: Option<FileFormat>,
}

impl Default for TomlProvisioning {
    fn default() -> Self {
        let d = ProvisioningSettings::default();
        TomlProvisioning {
            files: Vec::new(),
            mac: None,
            model: None,
            state_dir: None,
            fetch_at_startup: d.fetch_at_startup,
            random_delay_secs: d.random_delay.as_secs(),
            run_budget: None,
            run_budget_refill_secs: None,
            min_interval_secs: None,
            connect_timeout_secs: d.connect_timeout.as_secs(),
            timeout_secs: d.timeout.as_secs(),
            max_file_size: d.max_file_size,
            max_redirects: d.max_redirects,
            max_retry_after_secs: d.max_retry_after.as_secs(),
            busy_max_wait_secs: d.busy_max_wait.as_secs(),
            reboot_policy: d.reboot_policy,
            post_update_command: Vec::new(),
            post_update_timeout_secs: d.post_update_timeout.as_secs(),
            ca_files: Vec::new(),
            client_certificate: None,
            client_key: None,
        }
    }
}

/// A range check failing: the dotted key and what is expected.
pub(super) type Problem = (&'static str, String);

impl TomlProvisioning {
    /// Whether the retired `min_interval_secs` was given (its value is read as a budget of
    /// one run refilled every that many seconds; the reader warns).
    pub(super) fn uses_min_interval(&self) -> bool {
        self.min_interval_secs.is_some()
    }

    /// Checks ranges and builds the settings; `base_dir` is the configuration's directory.
    pub(super) fn into_settings(self, base_dir: &Path) -> Result<ProvisioningSettings, Problem> {
        let range = |ok: bool, key: &'static str, what: &str| -> Result<(), Problem> {
            if ok {
                Ok(())
            } else {
                Err((key, what.to_owned()))
            }
        };
        range(
            self.files.len() <= MAX_FILES,
            "provisioning.files",
            &format!("at most {MAX_FILES} files"),
        )?;
        for f in &self.files {
            check_url_template(&f.url).map_err(|e| ("provisioning.files", e.to_string()))?;
            if let Some(name) = &f.name {
                check_file_name(name).map_err(|e| ("provisioning.files", e.to_string()))?;
            }
        }
        range(
            self.random_delay_secs <= 86_400,
            "provisioning.random_delay_secs",
            "must be from 0 to 86400 seconds",
        )?;
        let (run_budget, run_budget_refill_secs) = match (
            self.min_interval_secs,
            self.run_budget,
            self.run_budget_refill_secs,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err((
                    "provisioning.min_interval_secs",
                    "was replaced by run_budget and run_budget_refill_secs; give only those".into(),
                ))
            }
            (Some(secs), None, None) => (1, secs),
            (None, budget, refill) => (
                budget.unwrap_or(DEFAULT_RUN_BUDGET),
                refill.unwrap_or(DEFAULT_RUN_BUDGET_REFILL.as_secs()),
            ),
        };
        range(
            (1..=100).contains(&run_budget),
            "provisioning.run_budget",
            "must be from 1 to 100 runs",
        )?;
        range(
            run_budget_refill_secs <= 86_400,
            if self.min_interval_secs.is_some() {
                "provisioning.min_interval_secs"
            } else {
                "provisioning.run_budget_refill_secs"
            },
            "must be from 0 to 86400 seconds",
        )?;
        range(
            (1..=600).contains(&self.connect_timeout_secs),
            "provisioning.connect_timeout_secs",
            "must be from 1 to 600 seconds",
        )?;
        range(
            (1..=3_600).contains(&self.timeout_secs),
            "provisioning.timeout_secs",
            "must be from 1 to 3600 seconds",
        )?;
        range(
            (1..=MAX_FILE_SIZE_LIMIT).contains(&self.max_file_size),
            "provisioning.max_file_size",
            &format!("must be from 1 to {MAX_FILE_SIZE_LIMIT} bytes"),
        )?;
        range(
            self.max_redirects <= 20,
            "provisioning.max_redirects",
            "must be from 0 to 20",
        )?;
        range(
            self.max_retry_after_secs <= 7 * 86_400,
            "provisioning.max_retry_after_secs",
            "must be from 0 to 604800 seconds",
        )?;
        range(
            self.busy_max_wait_secs <= 86_400,
            "provisioning.busy_max_wait_secs",
            "must be from 0 to 86400 seconds",
        )?;
        range(
            (1..=3_600).contains(&self.post_update_timeout_secs),
            "provisioning.post_update_timeout_secs",
            "must be from 1 to 3600 seconds",
        )?;
        range(
            !matches!(self.post_update_command.first(), Some(p) if p.trim().is_empty()),
            "provisioning.post_update_command",
            "the first element must name a program, e.g. [\"/usr/local/bin/apply-config\"]",
        )?;
        let mac = match &self.mac {
            Some(m) => Some(normalise_mac(m).map_err(|e| ("provisioning.mac", e.to_string()))?),
            None => None,
        };
        range(
            self.ca_files.len() <= MAX_CA_FILES,
            "provisioning.ca_files",
            &format!("at most {MAX_CA_FILES} files"),
        )?;
        match (&self.client_certificate, &self.client_key) {
            (Some(_), None) => {
                return Err((
                    "provisioning.client_key",
                    "is needed with client_certificate: the certificate's private key (PEM)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "provisioning.client_certificate",
                    "is needed with client_key: the certificate the key belongs to (PEM)".into(),
                ))
            }
            _ => {}
        }
        let settings = ProvisioningSettings {
            files: self
                .files
                .into_iter()
                .enumerate()
                .map(|(i, f)| FileSpec {
                    name: f.name,
                    url: f.url,
                    format: f.format,
                    origin: Some(FileOrigin {
                        key: format!("provisioning.files[{i}].url"),
                        line: None,
                    }),
                })
                .collect(),
            mac,
            model: self.model,
            state_dir: self.state_dir.map(|d| base_dir.join(d)),
            base_dir: base_dir.to_owned(),
            fetch_at_startup: self.fetch_at_startup,
            random_delay: Duration::from_secs(self.random_delay_secs),
            run_budget,
            run_budget_refill: Duration::from_secs(run_budget_refill_secs),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            timeout: Duration::from_secs(self.timeout_secs),
            max_file_size: self.max_file_size,
            max_redirects: self.max_redirects,
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            busy_max_wait: Duration::from_secs(self.busy_max_wait_secs),
            reboot_policy: self.reboot_policy,
            post_update_command: self.post_update_command,
            post_update_timeout: Duration::from_secs(self.post_update_timeout_secs),
            ca_files: self.ca_files.iter().map(|p| base_dir.join(p)).collect(),
            client_certificate: self.client_certificate.map(|p| base_dir.join(p)),
            client_key: self.client_key.map(|p| base_dir.join(p)),
            tls: TlsMaterial::default(),
        };
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalised() {
        assert_eq!(normalise_mac("00:80:f0:a1:b2:c3").unwrap(), "0080F0A1B2C3");
        assert_eq!(normalise_mac("00-80-F0-A1-B2-C3").unwrap(), "0080F0A1B2C3");
        assert!(normalise_mac("0080F0A1B2").is_err());
        assert!(normalise_mac("0080F0A1B2CG").is_err());
        assert_eq!(
            mac_bytes("0080F0A1B2C3"),
            Some([0x00, 0x80, 0xF0, 0xA1, 0xB2, 0xC3])
        );
    }

    #[test]
    fn reboot_policy_table() {
        use RebootPolicy::*;
        // (policy, wish, changed) -> reboot
        let cases = [
            (Never, Some(true), true, false),
            (Never, None, true, false),
            (IfRequested, None, true, false),
            (IfRequested, Some(true), false, true),
            (IfRequested, Some(false), true, false),
            (Always, None, false, true),
            (Always, Some(false), true, false),
            (IfChanged, None, true, true),
            (IfChanged, None, false, false),
            (IfChanged, Some(true), false, true),
            (IfChanged, Some(false), true, false),
        ];
        for (policy, wish, changed, want) in cases {
            assert_eq!(
                policy.decide(wish, changed),
                want,
                "{policy:?} {wish:?} {changed}"
            );
        }
    }

    #[test]
    fn run_admission_defaults_and_the_retired_min_interval() {
        let read = |text: &str| crate::config::from_bytes(text.as_bytes(), Path::new("a.toml"));
        let d = read("").unwrap();
        assert_eq!(
            (d.provisioning.run_budget, d.provisioning.run_budget_refill),
            (3, Duration::from_secs(20))
        );
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let s = read("[provisioning]\nrun_budget = 5\nrun_budget_refill_secs = 0\n").unwrap();
        assert_eq!(
            (s.provisioning.run_budget, s.provisioning.run_budget_refill),
            (5, Duration::ZERO)
        );
        // The old key keeps its meaning, with a warning on its line.
        let old = read("[provisioning]\nmin_interval_secs = 30\n").unwrap();
        assert_eq!(
            (
                old.provisioning.run_budget,
                old.provisioning.run_budget_refill
            ),
            (1, Duration::from_secs(30))
        );
        let w = old.warnings[0].to_string();
        assert!(w.contains("a.toml:2") && w.contains("retired"), "{w}");
        // Together with a new key it is an error, and so is a budget of 0.
        for bad in [
            "[provisioning]\nmin_interval_secs = 30\nrun_budget = 2\n",
            "[provisioning]\nmin_interval_secs = 30\nrun_budget_refill_secs = 2\n",
            "[provisioning]\nrun_budget = 0\n",
            "[provisioning]\nrun_budget_refill_secs = 86401\n",
        ] {
            let e = read(bad).unwrap_err().to_string();
            assert!(e.contains("provisioning."), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_are_guessed_from_names() {
        assert_eq!(FileFormat::guess("0080F0A1B2C3.CFG"), FileFormat::Panasonic);
        assert_eq!(FileFormat::guess("snom.xml"), FileFormat::Snom);
        assert_eq!(FileFormat::guess("phone.conf"), FileFormat::Raw);
    }
}

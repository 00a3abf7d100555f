//! Configuration: our own TOML format and vendor files used as they are.
//!
//! Every dialect feeds one effective [`Settings`] model. A file is recognised by its content:
//! a first line holding the Panasonic magic text makes it a Panasonic `.cfg` file (a file
//! named `*.cfg` without it is rejected, as a Panasonic unit would); anything else is read as
//! our TOML format; a file starting with `<?xml` or `<settings` is Snom XML. Unknown keys of
//! our TOML are reported as [`Warning`]s, never fatal; settings of a vendor file that
//! sip-resync does not use are kept in [`Settings::unused`] and listed by `check`. Errors name
//! the file, the line and the key.

mod auth;
mod overlay;
pub(crate) mod panasonic;
mod provisioning;
pub(crate) mod snom;

pub(crate) use overlay::{overlay, ParsedFile, Provisioned};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::resync::Transport;
use crate::schedule::{LocalTime, PanasonicPolling, ScheduleSettings, SnomMode, SnomPolling};
use crate::sip::EventMatcher;

pub use crate::sip::{
    Algorithm, Allowlist, AuthConfig, Cidr, Credential, EventMatch, Limit, RateLimits,
    RefusedAction,
};
pub use provisioning::{
    mac_bytes, normalise_mac, FileFormat, FileSpec, ProvisioningSettings, RebootPolicy,
};

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Most UDP workers `[sip] udp_workers` may ask for.
const MAX_UDP_WORKERS: usize = 64;

/// A listening address: `udp:ADDR:PORT` or `tcp:ADDR:PORT` (IPv6 as `tcp:[::1]:5060`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    /// Transport.
    pub transport: Transport,
    /// Address and port.
    pub addr: SocketAddr,
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("\"{s}\": expected udp:ADDR:PORT or tcp:ADDR:PORT"))?;
        let transport = match t.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            _ => return Err(format!("\"{s}\": transport must be udp or tcp")),
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("\"{s}\": \"{addr}\" is not ADDR:PORT (IPv6 as [::1]:5060)"))?;
        Ok(ListenAddr { transport, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A non-fatal finding: an unknown key, an ignored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// File it concerns.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Key it concerns, when any.
    pub key: Option<String>,
    /// What was found.
    pub message: String,
}

impl Warning {
    pub(crate) fn at(path: &Path, line: usize, key: Option<&str>, message: String) -> Warning {
        Warning {
            path: path.to_owned(),
            line: Some(line),
            key: key.map(str::to_owned),
            message,
        }
    }
}

fn location(
    f: &mut fmt::Formatter<'_>,
    path: &Path,
    line: Option<usize>,
    key: Option<&str>,
) -> fmt::Result {
    write!(f, "{}", path.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    if let Some(key) = key {
        write!(f, ": {key}")?;
    }
    Ok(())
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        location(f, &self.path, self.line, self.key.as_deref())?;
        write!(f, ": {}", self.message)
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source} ({})", path.display(), read_hint(path, source))]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {MAX_CONFIG_BYTES} bytes; is this the right file?", path.display())]
    TooLarge {
        /// File.
        path: PathBuf,
    },
    /// The content is invalid.
    #[error("{}: {message}", Located(path, *line, key.as_deref()))]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Key, when known.
        key: Option<String>,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// What to check when a file cannot be read, by the kind of error.
fn read_hint(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound if path.is_relative() => {
            let cwd = std::env::current_dir()
                .map(|d| format!(" ({})", d.display()))
                .unwrap_or_default();
            format!("check the path: a relative path is taken from the current directory{cwd}")
        }
        std::io::ErrorKind::NotFound => "check the path".into(),
        std::io::ErrorKind::PermissionDenied => {
            "this user may not read it: check the permissions of the file and of the directories above it".into()
        }
        _ if path.is_dir() => "this is a directory: name the configuration file in it".into(),
        _ => "check the path and that this user may read it".into(),
    }
}

struct Located<'a>(&'a Path, Option<usize>, Option<&'a str>);
impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        location(f, self.0, self.1, self.2)
    }
}

/// Which dialect a configuration was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// Our TOML format.
    Toml,
    /// A Panasonic standard format file.
    Panasonic,
    /// A Snom XML settings file.
    Snom,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Toml => "sip-resync TOML",
            Dialect::Panasonic => "Panasonic standard format (.cfg)",
            Dialect::Snom => "Snom XML settings",
        })
    }
}

/// The SIP listener's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SipSettings {
    /// Where to listen.
    pub listen: Vec<ListenAddr>,
    /// Accepted Event texts (Panasonic `CFG_RESYNC_FROM_SIP`).
    pub events: Vec<String>,
    /// How events are compared.
    pub event_match: EventMatch,
    /// TCP bounds.
    pub tcp: TcpOptions,
    /// UDP workers per UDP listening address, each with its own socket and endpoint state;
    /// 0 (the default) means one per core.
    pub udp_workers: usize,
    /// Most completed UDP transactions remembered (each for 32 s).
    pub max_transactions: usize,
    /// Sources allowed to send requests; empty allows every source.
    pub allow: Allowlist,
    /// What a request from a source outside `allow` gets.
    pub refused: RefusedAction,
    /// Request and trigger rate limits.
    pub limits: RateLimits,
    /// The digest challenge of NOTIFY and the lines' credentials.
    pub auth: AuthConfig,
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: vec![
                "udp:0.0.0.0:5060".parse().expect("valid"),
                "tcp:0.0.0.0:5060".parse().expect("valid"),
            ],
            events: vec!["check-sync".into()],
            event_match: EventMatch::CaseInsensitive,
            tcp: TcpOptions::default(),
            udp_workers: 0,
            max_transactions: 4096,
            allow: Allowlist::default(),
            refused: RefusedAction::default(),
            limits: RateLimits::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl SipSettings {
    /// The event matcher these settings describe.
    pub fn matcher(&self) -> EventMatcher {
        EventMatcher::new(&self.events, self.event_match)
    }

    /// The endpoint settings these SIP settings describe: accepted events, allowlist, rate
    /// limits and transaction bound; everything else keeps its default.
    pub fn endpoint_config(&self) -> crate::sip::EndpointConfig {
        crate::sip::EndpointConfig {
            events: self.matcher(),
            max_transactions: self.max_transactions,
            allow: self.allow.clone(),
            refused: self.refused,
            rate_limits: self.limits,
            auth: self.auth.clone(),
            ..crate::sip::EndpointConfig::default()
        }
    }
}

/// Bounds on TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// Most connections open at once; further ones are accepted and closed at once.
    pub max_connections: usize,
    /// A connection with nothing buffered is closed after this long without data.
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte arrived, or the
    /// connection is closed.
    pub message_deadline: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_connections: 256,
            idle_timeout: Duration::from_secs(120),
            message_deadline: Duration::from_secs(10),
        }
    }
}

/// The effective settings, whatever dialect they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Dialect of the source file.
    pub dialect: Dialect,
    /// SIP listener settings.
    pub sip: SipSettings,
    /// Timed polling settings.
    pub schedule: ScheduleSettings,
    /// IANA time zone for wall-clock schedules; `None` means the system's.
    pub time_zone: Option<String>,
    /// What to fetch and how.
    pub provisioning: ProvisioningSettings,
    /// The settings of a vendor file (name, value) in file order, first occurrence only;
    /// empty for TOML. Fetched files overlay these key by key.
    pub vendor_entries: Vec<(String, String)>,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
    /// Settings of a vendor file that sip-resync does not use, kept for the report.
    pub unused: Vec<String>,
    /// Where each vendor setting was found (name, 1-based line), to locate later findings.
    pub lines: Vec<(String, usize)>,
    /// The file the settings came from.
    pub path: PathBuf,
}

impl Settings {
    fn new(dialect: Dialect, path: &Path) -> Settings {
        Settings {
            dialect,
            sip: SipSettings::default(),
            schedule: ScheduleSettings::Off,
            time_zone: None,
            provisioning: ProvisioningSettings {
                base_dir: base_dir_of(path),
                ..ProvisioningSettings::default()
            },
            vendor_entries: Vec::new(),
            warnings: Vec::new(),
            unused: Vec::new(),
            lines: Vec::new(),
            path: path.to_owned(),
        }
    }

    /// The line a vendor setting was read from.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, l)| *l)
    }

    /// The configured time zone, or the system's.
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, ConfigError> {
        match &self.time_zone {
            Some(name) => zone_named(name).map_err(|message| ConfigError::Invalid {
                path: self.path.clone(),
                line: None,
                key: Some("schedule.time_zone".into()),
                message,
            }),
            None => Ok(jiff::tz::TimeZone::system()),
        }
    }
}

/// The directory of a configuration file, against which its relative paths are resolved.
fn base_dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Looks up an IANA time zone by name.
pub fn zone_named(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|_| {
        format!(
            "unknown time zone \"{}\" (expected an IANA name such as Europe/Berlin)",
            crate::sip::escape::excerpt(name.as_bytes())
        )
    })
}

/// Reads and interprets a configuration file of any supported dialect.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    from_bytes(&bytes, path)
}

/// Interprets configuration bytes; `path` names the source in messages and, by its
/// extension, tells a Panasonic file that lacks its magic line from a TOML file.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let is_cfg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cfg"));
    if panasonic::has_magic(bytes) || is_cfg {
        from_panasonic(&panasonic::parse(bytes, path)?)
    } else if snom::looks_like(bytes) {
        from_snom(&snom::parse(bytes, path)?, path)
    } else {
        from_toml(bytes, path)
    }
}

/// Panasonic keys sip-resync interprets.
const PANASONIC_KEYS: &[&str] = &[
    "CFG_RESYNC_FROM_SIP",
    "CFG_CYCLIC",
    "CFG_CYCLIC_INTVL",
    "CFG_RTRY_INTVL",
    "CFG_RESYNC_TIME",
    "CFG_MASTER_FILE_PATH",
    "CFG_PRODUCT_FILE_PATH",
    "CFG_STANDARD_FILE_PATH",
];

/// Panasonic keys that set the polling schedule.
const PANASONIC_SCHEDULE_KEYS: &[&str] = &[
    "CFG_CYCLIC",
    "CFG_CYCLIC_INTVL",
    "CFG_RTRY_INTVL",
    "CFG_RESYNC_TIME",
];

/// Panasonic file-path keys, in fetch order, with the local name of each file.
const PANASONIC_FILES: &[(&str, &str)] = &[
    ("CFG_MASTER_FILE_PATH", "master.cfg"),
    ("CFG_PRODUCT_FILE_PATH", "product.cfg"),
    ("CFG_STANDARD_FILE_PATH", "standard.cfg"),
];

/// Polling defaults used when a Panasonic file leaves a key out: no cyclic polling, a week
/// as the cyclic interval, 30 minutes between retries, no daily time.
pub const PANASONIC_DEFAULTS: (bool, u32, u32) = (false, 10_080, 30);

fn from_panasonic(file: &panasonic::PanasonicFile) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(Dialect::Panasonic, &file.path);
    settings.warnings = file.warnings.clone();
    settings.lines = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.line))
        .collect();
    settings.unused = file
        .entries
        .iter()
        .filter(|e| {
            !PANASONIC_KEYS.contains(&e.name.as_str()) && !auth::is_panasonic_line_key(&e.name)
        })
        .map(|e| e.name.clone())
        .collect();
    settings.vendor_entries = file
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    let invalid = |e: &panasonic::Entry, message: String| ConfigError::Invalid {
        path: file.path.clone(),
        line: Some(e.line),
        key: Some(e.name.clone()),
        message,
    };
    for (key, name) in PANASONIC_FILES {
        let Some(e) = file.get(key) else { continue };
        let url = e.value.trim();
        if url.is_empty() {
            continue;
        }
        crate::naming::check_url_template(url).map_err(|m| invalid(e, m))?;
        settings.provisioning.files.push(FileSpec {
            name: Some((*name).to_owned()),
            url: url.to_owned(),
            format: Some(FileFormat::Panasonic),
        });
    }
    settings.sip.auth.credentials =
        auth::panasonic_credentials(|k| file.get(k).map(|e| e.value.as_str()));
    settings.schedule = panasonic_schedule(&|k| Found::in_panasonic(file, k))?;
    if let Some(e) = file.get("CFG_RESYNC_FROM_SIP") {
        let text = e.value.trim();
        if text.is_empty() {
            settings.warnings.push(Warning::at(
                &file.path,
                e.line,
                Some(&e.name),
                "empty: the default \"check-sync\" is used".into(),
            ));
        } else {
            settings.sip.events = vec![text.to_owned()];
        }
    }
    Ok(settings)
}

/// Snom keys sip-resync interprets.
const SNOM_KEYS: &[&str] = &[
    "prov_polling_enabled",
    "prov_polling_mode",
    "prov_polling_period",
    "prov_polling_time",
    "prov_polling_time_rand_end",
    "settings_refresh_timer",
];

fn from_snom(entries: &[snom::Entry], path: &Path) -> Result<Settings, ConfigError> {
    let mut settings = Settings::new(Dialect::Snom, path);
    settings.lines = entries.iter().map(|e| (e.name.clone(), e.line)).collect();
    settings.vendor_entries = entries
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    settings.unused = entries
        .iter()
        .filter(|e| !SNOM_KEYS.contains(&e.name.as_str()) && !auth::is_snom_auth_key(&e.name))
        .map(|e| e.name.clone())
        .collect();
    let get = |k: &str| entries.iter().find(|e| e.name == k);
    let invalid = |e: &snom::Entry, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(e.line),
        key: Some(e.name.clone()),
        message,
    };
    settings.sip.auth.credentials = auth::snom_credentials(|k| get(k).map(|e| e.value.as_str()));
    if let Some(e) = get("challenge_checksync") {
        settings.sip.auth.challenge = auth::snom_challenge(&e.value).map_err(|m| invalid(e, m))?;
    }
    if let Some(schedule) = snom_schedule(&|k| Found::in_snom(entries, path, k))? {
        settings.schedule = schedule;
    }
    Ok(settings)
}

/// One setting found by a lookup: its value and where it was read, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    value: &'a str,
    path: &'a Path,
    line: Option<usize>,
}

impl<'a> Found<'a> {
    fn in_panasonic(file: &'a panasonic::PanasonicFile, key: &str) -> Option<Found<'a>> {
        file.get(key).map(|e| Found {
            value: &e.value,
            path: &file.path,
            line: Some(e.line),
        })
    }

    fn in_snom(entries: &'a [snom::Entry], path: &'a Path, key: &str) -> Option<Found<'a>> {
        entries.iter().find(|e| e.name == key).map(|e| Found {
            value: &e.value,
            path,
            line: Some(e.line),
        })
    }

    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line: self.line,
            key: Some(key.to_owned()),
            message,
        }
    }
}

/// Looks a setting up by name.
pub(crate) type Lookup<'l, 'a> = dyn Fn(&str) -> Option<Found<'a>> + 'l;

/// The Panasonic polling schedule the settings `get` finds describe (defaults for the keys
/// it does not find).
fn panasonic_schedule(get: &Lookup<'_, '_>) -> Result<ScheduleSettings, ConfigError> {
    let (mut cyclic, mut cyclic_interval_min, mut retry_interval_min) = PANASONIC_DEFAULTS;
    if let Some(e) = get("CFG_CYCLIC") {
        cyclic = match e.value.trim() {
            v if v.eq_ignore_ascii_case("Y") => true,
            v if v.eq_ignore_ascii_case("N") => false,
            _ => return Err(e.invalid("CFG_CYCLIC", "must be \"Y\" or \"N\"".into())),
        };
    }
    for (key, slot) in [
        ("CFG_CYCLIC_INTVL", &mut cyclic_interval_min),
        ("CFG_RTRY_INTVL", &mut retry_interval_min),
    ] {
        if let Some(e) = get(key) {
            *slot = e
                .value
                .trim()
                .parse()
                .map_err(|_| e.invalid(key, "must be a whole number of minutes".into()))?;
        }
    }
    Ok(ScheduleSettings::Panasonic(PanasonicPolling {
        cyclic,
        cyclic_interval_min,
        retry_interval_min,
        resync_time: get("CFG_RESYNC_TIME").map(|e| e.value.to_owned()),
    }))
}

/// The Snom polling schedule the settings `get` finds describe; `None` when it finds no
/// polling setting at all.
fn snom_schedule(get: &Lookup<'_, '_>) -> Result<Option<ScheduleSettings>, ConfigError> {
    if !SNOM_KEYS.iter().any(|k| get(k).is_some()) {
        return Ok(None);
    }
    let number = |k: &str, default: u64| -> Result<u64, ConfigError> {
        match get(k) {
            None => Ok(default),
            Some(e) if e.value.is_empty() => Ok(default),
            Some(e) => e
                .value
                .parse()
                .map_err(|_| e.invalid(k, "must be a whole number of seconds".into())),
        }
    };
    let time = |k: &str| -> Result<Option<LocalTime>, ConfigError> {
        match get(k) {
            None => Ok(None),
            Some(e) if e.value.is_empty() => Ok(None),
            Some(e) => e
                .value
                .parse()
                .map(Some)
                .map_err(|err| e.invalid(k, format!("{err} (expected HH:MM, 00:00 to 23:59)"))),
        }
    };
    let enabled = match get("prov_polling_enabled") {
        None => false,
        Some(e) => match e.value.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" | "" => false,
            _ => return Err(e.invalid("prov_polling_enabled", "must be on or off".into())),
        },
    };
    let mode = match get("prov_polling_mode") {
        None => SnomMode::Rel,
        Some(e) => e
            .value
            .parse()
            .map_err(|_| e.invalid("prov_polling_mode", "must be rel, abs or random".into()))?,
    };
    Ok(Some(ScheduleSettings::Snom(SnomPolling {
        enabled,
        mode,
        period_secs: number("prov_polling_period", 86_400)?,
        time: time("prov_polling_time")?,
        time_rand_end: time("prov_polling_time_rand_end")?,
        settings_refresh_timer_secs: number("settings_refresh_timer", 0)?,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlFile {
    sip: TomlSip,
    schedule: TomlSchedule,
    provisioning: provisioning::TomlProvisioning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TomlSchedule {
    time_zone: Option<String>,
    snom: Option<TomlSnom>,
    panasonic: Option<TomlPanasonic>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlSnom {
    prov_polling_enabled: bool,
    prov_polling_mode: SnomMode,
    prov_polling_period: u64,
    prov_polling_time: Option<LocalTime>,
    prov_polling_time_rand_end: Option<LocalTime>,
    settings_refresh_timer: u64,
}

impl Default for TomlSnom {
    fn default() -> Self {
        TomlSnom {
            prov_polling_enabled: false,
            prov_polling_mode: SnomMode::Rel,
            prov_polling_period: 86_400,
            prov_polling_time: None,
            prov_polling_time_rand_end: None,
            settings_refresh_timer: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlPanasonic {
    cfg_cyclic: bool,
    cfg_cyclic_intvl: u32,
    cfg_rtry_intvl: u32,
    cfg_resync_time: Option<String>,
}

impl Default for TomlPanasonic {
    fn default() -> Self {
        let (cfg_cyclic, cfg_cyclic_intvl, cfg_rtry_intvl) = PANASONIC_DEFAULTS;
        TomlPanasonic {
            cfg_cyclic,
            cfg_cyclic_intvl,
            cfg_rtry_intvl,
            cfg_resync_time: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlSip {
    listen: Vec<ListenAddr>,
    events: Vec<String>,
    event_match: EventMatch,
    max_transactions: usize,
    allow: Vec<String>,
    refused: RefusedAction,
    tcp: TomlTcp,
    limits: TomlLimits,
    auth: auth::TomlAuth,
    udp_workers: usize,
}

impl Default for TomlSip {
    fn default() -> Self {
        let d = SipSettings::default();
        TomlSip {
            listen: d.listen,
            events: d.events,
            event_match: d.event_match,
            max_transactions: d.max_transactions,
            allow: Vec::new(),
            refused: d.refused,
            tcp: TomlTcp::default(),
            udp_workers: d.udp_workers,
            limits: TomlLimits::default(),
            auth: auth::TomlAuth::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlLimits {
    requests_per_second_per_source: u32,
    requests_burst_per_source: u32,
    requests_per_second: u32,
    triggers_per_minute_per_source: u32,
    triggers_per_minute: u32,
    max_sources: usize,
}

impl Default for TomlLimits {
    fn default() -> Self {
        let d = RateLimits::default();
        TomlLimits {
            requests_per_second_per_source: d.requests_per_second_per_source,
            requests_burst_per_source: d.requests_burst_per_source,
            requests_per_second: d.requests_per_second,
            triggers_per_minute_per_source: d.triggers_per_minute_per_source,
            triggers_per_minute: d.triggers_per_minute,
            max_sources: d.max_sources,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct TomlTcp {
    max_connections: usize,
    idle_timeout_secs: u64,
    message_deadline_secs: u64,
}

impl Default for TomlTcp {
    fn default() -> Self {
        let d = TcpOptions::default();
        TomlTcp {
            max_connections: d.max_connections,
            idle_timeout_secs: d.idle_timeout.as_secs(),
            message_deadline_secs: d.message_deadline.as_secs(),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted TOML key (`sip.tcp.max_connections`) is assigned: a line that
/// starts with its last part followed by `=`, inside the table of the other parts when that
/// table has a header. Comments never match.
fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, leaf) = match dotted.rsplit_once('.') {
        Some((t, l)) => (t, l),
        None => ("", dotted),
    };
    let mut current = String::new();
    let mut fallback = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            continue;
        }
        let Some(rest) = line.strip_prefix(leaf) else {
            continue;
        };
        if !rest.trim_start().starts_with('=') {
            continue;
        }
        if current == table {
            return Some(i + 1);
        }
        fallback.get_or_insert(i + 1);
    }
    fallback
}

/// The dotted key assigned on the line of `offset` (`sip.events` for an error in the value of
/// `events = …` under `[sip]`); `None` when the line assigns no key (a continuation line of an
/// array or inline table).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..offset].split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with(['[', '{', '#']) || key.contains(['{', ',', ' ']) {
        return None;
    }
    let table = text[..line_start].lines().rev().find_map(|line| {
        let header = line.trim().strip_prefix('[')?;
        Some(
            header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
        )
    });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_owned(),
    })
}

/// The warning text for an unknown key: the keys its table accepts, and the closest of them
/// when the key looks like a typing error of one (`allwo`, `event-match`).
fn unknown_key_message(dotted: &str) -> String {
    let parts: Vec<&str> = dotted.split('.').collect();
    let (leaf, table) = parts.split_last().expect("split yields one part at least");
    let Some(keys) = probe::keys_of::<TomlFile>(table) else {
        return "unknown key, ignored (see docs/configuration.md for the keys)".into();
    };
    let prefix = if table.is_empty() {
        String::new()
    } else {
        format!("{}.", table.join("."))
    };
    let guess = keys
        .iter()
        .map(|k| {
            (
                probe::distance(&leaf.to_ascii_lowercase().replace('-', "_"), k),
                k,
            )
        })
        .filter(|(d, k)| *d <= if k.len() <= 4 { 1 } else { 2 })
        .min();
    let what = if table.is_empty() {
        "the top-level tables are".to_owned()
    } else {
        format!("the keys of [{}] are", table.join("."))
    };
    let mut message = "unknown key, ignored".to_owned();
    if let Some((_, k)) = guess {
        message.push_str(&format!("; did you mean {prefix}{k}?"));
    }
    message.push_str(&format!(
        " ({what} {}; see docs/configuration.md)",
        keys.join(", ")
    ));
    message
}

/// The line of one entry of an array key: the first line from the key's own line on that
/// contains the entry's text; the key's line when the text is written differently (escaped).
fn entry_line(text: &str, dotted: &str, entry: &str) -> Option<usize> {
    let start = key_line(text, dotted)?;
    let found = text
        .lines()
        .enumerate()
        .skip(start - 1)
        .find(|(_, line)| !entry.is_empty() && line.contains(entry))
        .map(|(i, _)| i + 1);
    Some(found.unwrap_or(start))
}

/// The error for a file that is not UTF-8, naming the line of the first bad byte.
pub(crate) fn not_utf8(path: &Path, bytes: &[u8], e: &std::str::Utf8Error) -> ConfigError {
    let at = e.valid_up_to();
    ConfigError::Invalid {
        path: path.to_owned(),
        line: Some(bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1),
        key: None,
        message: format!("not UTF-8 text (first bad byte at offset {at})"),
    }
}

fn from_toml(bytes: &[u8], path: &Path) -> Result<Settings, ConfigError> {
    let invalid = |line, key: Option<String>, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        line,
        key,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(path, bytes, &e))?;
    let mut unknown = Vec::new();
    let de = toml::Deserializer::new(text);
    let file: TomlFile = serde_ignored::deserialize(de, |p| {
        // An optional table shows up as a `?` step in the path: not part of the key.
        let key: Vec<String> = p
            .to_string()
            .split('.')
            .filter(|s| *s != "?")
            .map(str::to_owned)
            .collect();
        unknown.push(key.join("."));
    })
    .map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let key = e.span().and_then(|s| key_at(text, s.start));
        invalid(line, key, e.message().trim().to_owned())
    })?;
    let mut warnings: Vec<Warning> = unknown
        .into_iter()
        .map(|key| Warning {
            path: path.to_owned(),
            line: text
                .find(key.rsplit('.').next().unwrap_or(&key))
                .map(|o| line_of(text, o)),
            message: unknown_key_message(&key),
            key: Some(key),
        })
        .collect();
    let sip = file.sip;
    let (schedule, schedule_warnings) = ScheduleSettings::from_parts(
        file.schedule.snom.map(|s| SnomPolling {
            enabled: s.prov_polling_enabled,
            mode: s.prov_polling_mode,
            period_secs: s.prov_polling_period,
            time: s.prov_polling_time,
            time_rand_end: s.prov_polling_time_rand_end,
            settings_refresh_timer_secs: s.settings_refresh_timer,
        }),
        file.schedule.panasonic.map(|p| PanasonicPolling {
            cyclic: p.cfg_cyclic,
            cyclic_interval_min: p.cfg_cyclic_intvl,
            retry_interval_min: p.cfg_rtry_intvl,
            resync_time: p.cfg_resync_time,
        }),
    );
    warnings.extend(schedule_warnings.into_iter().map(|w| Warning {
        path: path.to_owned(),
        line: text.find("[schedule.snom]").map(|o| line_of(text, o)),
        key: Some(w.key().to_owned()),
        message: w.detail().to_owned(),
    }));
    let check = |ok: bool, key: &str, message: &str| -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(invalid(
                key_line(text, key),
                Some(key.into()),
                message.into(),
            ))
        }
    };
    check(
        sip.events.iter().any(|e| !e.trim().is_empty()),
        "sip.events",
        "at least one event text is needed, e.g. [\"check-sync\"]",
    )?;
    check(
        sip.udp_workers <= MAX_UDP_WORKERS,
        "sip.udp_workers",
        &format!("must be from 0 (one per core) to {MAX_UDP_WORKERS}"),
    )?;
    check(
        (1..=65_536).contains(&sip.tcp.max_connections),
        "sip.tcp.max_connections",
        "must be from 1 to 65536",
    )?;
    check(
        (1..=86_400).contains(&sip.tcp.idle_timeout_secs),
        "sip.tcp.idle_timeout_secs",
        "must be from 1 to 86400 seconds",
    )?;
    check(
        (1..=3_600).contains(&sip.tcp.message_deadline_secs),
        "sip.tcp.message_deadline_secs",
        "must be from 1 to 3600 seconds",
    )?;
    check(
        (1..=1_000_000).contains(&sip.max_transactions),
        "sip.max_transactions",
        "must be from 1 to 1000000",
    )?;
    check(
        sip.allow.len() <= crate::sip::MAX_ALLOW_ENTRIES,
        "sip.allow",
        "at most 256 entries; use wider blocks (CIDR) to cover more addresses",
    )?;
    let mut allow = Vec::with_capacity(sip.allow.len());
    for entry in &sip.allow {
        let cidr: Cidr = entry.parse().map_err(|message| {
            invalid(
                entry_line(text, "sip.allow", entry.trim()),
                Some("sip.allow".into()),
                message,
            )
        })?;
        allow.push(cidr);
    }
    let l = &sip.limits;
    for (value, key, max) in [
        (
            l.requests_per_second_per_source,
            "sip.limits.requests_per_second_per_source",
            1_000_000,
        ),
        (
            l.requests_per_second,
            "sip.limits.requests_per_second",
            1_000_000,
        ),
        (
            l.triggers_per_minute_per_source,
            "sip.limits.triggers_per_minute_per_source",
            100_000,
        ),
        (
            l.triggers_per_minute,
            "sip.limits.triggers_per_minute",
            100_000,
        ),
    ] {
        check(
            value <= max,
            key,
            &format!("must be from 0 (unlimited) to {max}"),
        )?;
    }
    check(
        (1..=1_000_000).contains(&l.requests_burst_per_source),
        "sip.limits.requests_burst_per_source",
        "must be from 1 to 1000000",
    )?;
    check(
        (1..=1_000_000).contains(&l.max_sources),
        "sip.limits.max_sources",
        "must be from 1 to 1000000",
    )?;
    if allow.is_empty() && sip.refused == RefusedAction::Drop {
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, "sip.refused"),
            key: Some("sip.refused".into()),
            message: "has no effect while sip.allow is empty (every source is allowed)".into(),
        });
    }
    let auth = sip
        .auth
        .into_config()
        .map_err(|(key, message)| invalid(key_line(text, key), Some(key.into()), message))?;
    if auth.challenge && auth.credentials.is_empty() {
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, "sip.auth.challenge"),
            key: Some("sip.auth.challenge".into()),
            message: "is on but no credentials are configured: every NOTIFY is answered 401 until [[sip.auth.credentials]] are added or provisioned files bring SIP_AUTHID_n / SIP_PASS_n".into(),
        });
    }
    if let Some(zone) = &file.schedule.time_zone {
        if let Err(message) = zone_named(zone) {
            check(false, "schedule.time_zone", &message)?;
        }
    }
    if file.provisioning.uses_min_interval() {
        let key = "provisioning.min_interval_secs";
        warnings.push(Warning {
            path: path.to_owned(),
            line: key_line(text, key),
            key: Some(key.into()),
            message: "retired; read as run_budget = 1 and run_budget_refill_secs = this value, \
                      which is what it meant (a check-sync then waits for the interval after \
                      the previous run); remove it to get the defaults, a check-sync in a \
                      quiet spell fetched at once (see docs/configuration.md)"
                .into(),
        });
    }
    let provisioning = file
        .provisioning
        .into_settings(&base_dir_of(path))
        .map_err(|(key, message)| invalid(key_line(text, key), Some(key.into()), message))?;
    if sip.listen.is_empty() {
        warnings.push(Warning {
            path: path.to_owned(),
            line: None,
            key: Some("sip.listen".into()),
            message: "empty: nothing to listen on unless --listen is given".into(),
        });
    }
    Ok(Settings {
        dialect: Dialect::Toml,
        schedule,
        time_zone: file.schedule.time_zone,
        provisioning,
        vendor_entries: Vec::new(),
        unused: Vec::new(),
        lines: Vec::new(),
        path: path.to_owned(),
        sip: SipSettings {
            listen: sip.listen,
            events: sip.events,
            event_match: sip.event_match,
            max_transactions: sip.max_transactions,
            allow: Allowlist::new(allow),
            refused: sip.refused,
            auth,
            limits: RateLimits {
                requests_per_second_per_source: l.requests_per_second_per_source,
                requests_burst_per_source: l.requests_burst_per_source,
                requests_per_second: l.requests_per_second,
                triggers_per_minute_per_source: l.triggers_per_minute_per_source,
                triggers_per_minute: l.triggers_per_minute,
                max_sources: l.max_sources,
            },
            tcp: TcpOptions {
                max_connections: sip.tcp.max_connections,
                idle_timeout: std::time::Duration::from_secs(sip.tcp.idle_timeout_secs),
                message_deadline: std::time::Duration::from_secs(sip.tcp.message_deadline_secs),
            },
            udp_workers: sip.udp_workers,
        },
        warnings,
    })
}

/// The keys a table of our TOML format accepts, read from the model the file is deserialised
/// into, so that the list never falls behind the model.
mod probe {
    use std::cell::Cell;

    use serde::de::{self, value, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
    use serde::Deserialize;

    type Found = Cell<Option<&'static [&'static str]>>;

    /// The field names of the table at `path` (`["sip", "limits"]`) of the model `T`; `None`
    /// when `path` does not lead to a table.
    pub(super) fn keys_of<'de, T: Deserialize<'de>>(
        path: &[&str],
    ) -> Option<&'static [&'static str]> {
        let found = Cell::new(None);
        let _ = T::deserialize(Probe {
            path,
            found: &found,
        });
        found.get()
    }

    /// A deserializer that walks down `path` and, at its end, records the fields of the
    /// struct asked for there; it produces no value.
    struct Probe<'a> {
        path: &'a [&'a str],
        found: &'a Found,
    }

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, value::Error> {
            Err(de::Error::custom("not a table"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, value::Error> {
            match self.path.split_first() {
                None => {
                    self.found.set(Some(fields));
                    Err(de::Error::custom("found"))
                }
                Some((key, rest)) => visitor.visit_map(Entry {
                    key: Some(key),
                    value: Some(Probe {
                        path: rest,
                        found: self.found,
                    }),
                }),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, value::Error> {
            visitor.visit_some(self)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, value::Error> {
            visitor.visit_newtype_struct(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    /// A map of one entry: the next key of the path, and the probe for the rest.
    struct Entry<'a> {
        key: Option<&'a str>,
        value: Option<Probe<'a>>,
    }

    impl<'de> MapAccess<'de> for Entry<'_> {
        type Error = value::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, value::Error> {
            match self.key.take() {
                Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
                None => Ok(None),
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, value::Error> {
            match self.value.take() {
                Some(probe) => seed.deserialize(probe),
                None => Err(de::Error::custom("no value")),
            }
        }
    }

    /// Levenshtein distance, for short keys.
    pub(super) fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (diagonal + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diagonal = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let a: ListenAddr = "udp:127.0.0.1:5060".parse().unwrap();
        assert_eq!(a.transport, Transport::Udp);
        let b: ListenAddr = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(b.to_string(), "tcp:[::1]:5070");
        assert!("sctp:1.2.3.4:5".parse::<ListenAddr>().is_err());
        assert!("udp:localhost".parse::<ListenAddr>().is_err());
    }

    #[test]
    fn toml_with_unknown_key_and_defaults() {
        let s = from_bytes(
            b"[sip]\nlisten = [\"udp:127.0.0.1:5062\"]\nevents = [\"resync\"]\nevent_match = \"strict\"\ncolour = \"blue\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.sip.events, vec!["resync"]);
        assert_eq!(s.sip.event_match, EventMatch::Strict);
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(
            s.warnings[0].to_string(),
            "a.toml:5: sip.colour: unknown key, ignored (the keys of [sip] are listen, events, \
             event_match, max_transactions, allow, refused, tcp, limits, auth, udp_workers; see docs/configuration.md)"
        );
        assert_eq!(s.sip.tcp, TcpOptions::default());
    }

    #[test]
    fn unknown_keys_name_the_valid_ones_and_the_likely_one() {
        let s = from_bytes(
            b"colour = 1\n[sip]\nallwo = [\"192.0.2.1\"]\nevent-match = \"strict\"\n[schedule.snom]\nprov_poling_enabled = true\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w[0],
            "a.toml:1: colour: unknown key, ignored (the top-level tables are sip, schedule, provisioning; see docs/configuration.md)"
        );
        assert!(
            w[1].starts_with("a.toml:3: sip.allwo: unknown key, ignored; did you mean sip.allow? (the keys of [sip] are listen, events,"),
            "{}",
            w[1]
        );
        assert!(
            w[2].starts_with(
                "a.toml:4: sip.event-match: unknown key, ignored; did you mean sip.event_match?"
            ),
            "{}",
            w[2]
        );
        assert!(
            w[3].starts_with("a.toml:6: schedule.snom.prov_poling_enabled: unknown key, ignored; did you mean schedule.snom.prov_polling_enabled? (the keys of [schedule.snom] are prov_polling_enabled, "),
            "{}",
            w[3]
        );
        let s = from_bytes(b"[provisioning]\nmack = \"x\"\n", Path::new("a.toml")).unwrap();
        assert!(
            s.warnings[0].to_string().contains(
                "did you mean provisioning.mac? (the keys of [provisioning] are files, mac, "
            ),
            "{}",
            s.warnings[0]
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let e = from_bytes(
            b"# x\n[sip]\nevents = \"check-sync\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3: sip.events: "), "{e}");
        let e = from_bytes(
            b"[sip.tcp]\nmax_connections = \"many\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: sip.tcp.max_connections: "),
            "{e}"
        );
        let e = from_bytes(b"[sip]\nevent_match = \"loose\"\n", Path::new("a.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("a.toml:2: sip.event_match: "),
            "{e}"
        );
    }

    #[test]
    fn toml_errors_are_located() {
        let e = from_bytes(b"[sip]\nevents = []\n", Path::new("a.toml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.toml:2: sip.events: at least one event text is needed, e.g. [\"check-sync\"]"
        );
        let e = from_bytes(
            b"[sip]\n\nlisten = [\"udp:nowhere\"]\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:3: "), "{e}");
    }

    #[test]
    fn toml_trust_and_limits() {
        let s = from_bytes(
            b"[sip]\nallow = [\n  \"192.0.2.0/24\",\n  \"2001:db8::/32\",\n  \"10.1.2.3\",\n]\nrefused = \"drop\"\n\n[sip.limits]\nrequests_per_second_per_source = 5\nrequests_burst_per_source = 7\nrequests_per_second = 0\ntriggers_per_minute_per_source = 2\ntriggers_per_minute = 3\nmax_sources = 16\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(
            s.sip.allow.to_string(),
            "192.0.2.0/24, 2001:db8::/32, 10.1.2.3"
        );
        assert!(s.sip.allow.permits("::ffff:10.1.2.3".parse().unwrap()));
        assert_eq!(s.sip.refused, RefusedAction::Drop);
        assert_eq!(
            s.sip.limits,
            RateLimits {
                requests_per_second_per_source: 5,
                requests_burst_per_source: 7,
                requests_per_second: 0,
                triggers_per_minute_per_source: 2,
                triggers_per_minute: 3,
                max_sources: 16,
            }
        );
        // Defaults: everyone allowed, refusals answered, the default limits.
        let d = from_bytes(b"", Path::new("a.toml")).unwrap();
        assert!(d.sip.allow.is_empty());
        assert_eq!(d.sip.refused, RefusedAction::Answer);
        assert_eq!(d.sip.limits, RateLimits::default());
    }

    #[test]
    fn toml_trust_and_limit_errors_are_located() {
        let err = |text: &str| {
            from_bytes(text.as_bytes(), Path::new("a.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[sip]\nallow = [\n  \"192.0.2.0/24\",\n  \"192.0.2.1/24\",\n]\n");
        assert!(
            e.starts_with("a.toml:4: sip.allow: \"192.0.2.1/24\": 192.0.2.1/24 has host bits set"),
            "{e}"
        );
        let e = err("[sip]\nallow = [\"pbx.example.com\"]\n");
        assert!(
            e.starts_with("a.toml:2: sip.allow: \"pbx.example.com\": not an IP address"),
            "{e}"
        );
        let e = err("[sip]\nallow = [\"::1/129\"]\n");
        assert!(e.starts_with("a.toml:2: sip.allow: "), "{e}");
        let e = err("[sip]\nrefused = \"ignore\"\n");
        assert!(e.starts_with("a.toml:2: "), "{e}");
        let e = err("[sip.limits]\nrequests_burst_per_source = 0\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.requests_burst_per_source: must be from 1 to 1000000"
        );
        let e = err("[sip.limits]\n\ntriggers_per_minute = 100001\n");
        assert_eq!(
            e,
            "a.toml:3: sip.limits.triggers_per_minute: must be from 0 (unlimited) to 100000"
        );
        let e = err("[sip.limits]\nrequests_per_second_per_source = 2000000\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.requests_per_second_per_source: must be from 0 (unlimited) to 1000000"
        );
        let e = err("[sip.limits]\nmax_sources = 0\n");
        assert_eq!(
            e,
            "a.toml:2: sip.limits.max_sources: must be from 1 to 1000000"
        );
        let e = err("[sip.limits]\nrequests_per_second = -1\n");
        assert!(e.starts_with("a.toml:2: "), "{e}");
        let many: Vec<String> = (0..257)
            .map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256))
            .collect();
        let e = err(&format!("[sip]\nallow = [{}]\n", many.join(", ")));
        assert!(
            e.starts_with("a.toml:2: sip.allow: at most 256 entries"),
            "{e}"
        );
        // Drop without a list: allowed, with a warning.
        let s = from_bytes(b"[sip]\nrefused = \"drop\"\n", Path::new("a.toml")).unwrap();
        assert_eq!(
            s.warnings[0].to_string(),
            "a.toml:2: sip.refused: has no effect while sip.allow is empty (every source is allowed)"
        );
        let s = from_bytes(b"[sip.limits]\nbursty = 1\n", Path::new("a.toml")).unwrap();
        assert!(
            s.warnings[0]
                .to_string()
                .starts_with("a.toml:2: sip.limits.bursty: unknown key, ignored (the keys of [sip.limits] are requests_per_second_per_source, "),
            "{}",
            s.warnings[0]
        );
    }

    #[test]
    fn panasonic_sets_the_event() {
        let s = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_RESYNC_FROM_SIP=\"resync\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        assert_eq!(s.dialect, Dialect::Panasonic);
        assert_eq!(s.sip.events, vec!["resync"]);
        assert!(from_bytes(b"CFG_RESYNC_FROM_SIP=\"resync\"\r\n", Path::new("kx.cfg")).is_err());
    }

    #[test]
    fn panasonic_polling_keys() {
        let s = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC=\"Y\"\r\nCFG_CYCLIC_INTVL=\"60\"\r\nCFG_RESYNC_TIME=\"02:00\"\r\nSIP_RGSTR_ADDR_1=\"pbx\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        let ScheduleSettings::Panasonic(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.cyclic);
        assert_eq!(p.cyclic_interval_min, 60);
        assert_eq!(p.retry_interval_min, PANASONIC_DEFAULTS.2);
        assert_eq!(p.resync_time.as_deref(), Some("02:00"));
        assert_eq!(s.unused, vec!["SIP_RGSTR_ADDR_1"]);
        assert_eq!(s.line_of("CFG_RESYNC_TIME"), Some(4));
        let e = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nCFG_CYCLIC=\"maybe\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "kx.cfg:2: CFG_CYCLIC: must be \"Y\" or \"N\""
        );
    }

    #[test]
    fn snom_polling_keys() {
        let s = from_bytes(
            b"<settings>\n<phone-settings>\n<prov_polling_enabled perm=\"\">on</prov_polling_enabled>\n<prov_polling_mode perm=\"\">abs</prov_polling_mode>\n<prov_polling_time perm=\"\">09:00</prov_polling_time>\n<language perm=\"\">English</language>\n</phone-settings>\n</settings>\n",
            Path::new("snom.xml"),
        )
        .unwrap();
        assert_eq!(s.dialect, Dialect::Snom);
        let ScheduleSettings::Snom(p) = &s.schedule else {
            panic!("{:?}", s.schedule)
        };
        assert!(p.enabled);
        assert_eq!(p.mode, SnomMode::Abs);
        assert_eq!(p.time, Some("09:00".parse().unwrap()));
        assert_eq!(s.unused, vec!["language"]);
        let e = from_bytes(
            b"<settings>\n<phone-settings>\n<prov_polling_time>25:00</prov_polling_time>\n</phone-settings>\n</settings>",
            Path::new("snom.xml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("snom.xml:3: prov_polling_time: "),
            "{e}"
        );
    }

    #[test]
    fn toml_schedule() {
        let s = from_bytes(
            b"[schedule]\ntime_zone = \"Europe/Berlin\"\n[schedule.snom]\nprov_polling_enabled = true\nprov_polling_mode = \"random\"\nprov_polling_period = 259200\nprov_polling_time = \"09:00\"\nprov_polling_time_rand_end = \"09:10\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(matches!(&s.schedule, ScheduleSettings::Snom(p) if p.period_secs == 259_200));
        let e = from_bytes(
            b"[schedule]\ntime_zone = \"Mars/Olympus\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: schedule.time_zone: unknown time zone"),
            "{e}"
        );
        let e = from_bytes(
            b"[schedule.snom]\nprov_polling_time = \"9am\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.toml:2"), "{e}");
    }

    #[test]
    fn auth_settings_in_each_dialect() {
        use crate::sip::Algorithm;
        let s = from_bytes(
            b"[sip.auth]\nchallenge = true\nrealm = \"pbx.example\"\nalgorithms = [\"MD5\"]\n[[sip.auth.credentials]]\nuser = \"1001\"\nauth_id = \"a1001\"\npassword = \"pw\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let a = &s.sip.auth;
        assert!(a.challenge);
        assert_eq!(
            (a.realm.as_str(), a.algorithms.as_slice()),
            ("pbx.example", &[Algorithm::Md5][..])
        );
        assert_eq!(a.credentials[0].auth_id, "a1001");
        assert_eq!(s.sip.endpoint_config().auth, *a);
        let e = from_bytes(
            b"[sip.auth]\nalgorithms = [\"SHA-512\"]\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.toml:2: sip.auth.algorithms: unknown algorithm"),
            "{e}"
        );
        let e = from_bytes(b"[sip.auth]\nrealm = \"a\\\"b\"\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("sip.auth.realm"), "{e}");
        let w = from_bytes(b"[sip.auth]\nchallenge = true\n", Path::new("a.toml")).unwrap();
        assert!(w
            .warnings
            .iter()
            .any(|w| w.to_string().contains("no credentials")));

        let p = from_bytes(
            b"# Panasonic SIP Phone Standard Format File #\r\nPHONE_NUMBER_1=\"1001\"\r\nSIP_AUTHID_1=\"a1001\"\r\nSIP_PASS_1=\"pw\"\r\n",
            Path::new("kx.cfg"),
        )
        .unwrap();
        assert_eq!(p.sip.auth.credentials.len(), 1);
        assert!(!p.sip.auth.challenge, "Panasonic has no challenge setting");
        assert!(p.unused.is_empty(), "{:?}", p.unused);

        let n = from_bytes(
            b"<settings><phone-settings><challenge_checksync perm=\"\">on</challenge_checksync><user_name1>1001</user_name1><user_pass1>pw</user_pass1></phone-settings></settings>",
            Path::new("snom.xml"),
        )
        .unwrap();
        assert!(n.sip.auth.challenge);
        assert_eq!(n.sip.auth.credentials[0].auth_id, "1001");
    }
}

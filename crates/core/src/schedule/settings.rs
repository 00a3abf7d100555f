//! The vendors' polling settings, what is persisted, and how settings become one rule.

use std::str::FromStr;

use jiff::Timestamp;

use super::effective::{clamp_period, Effective};
use super::rule::{RetryPolicy, Rule, Source, Vendor};
use super::{LocalTime, ScheduleError, ScheduleWarning};

/// First delay of a Snom retry after a failed poll, in seconds (5 min).
pub const SNOM_RETRY_INITIAL_SECS: u64 = 300;
/// Largest delay of a Snom retry, in seconds (1 h); the next regular poll may come sooner.
pub const SNOM_RETRY_MAX_SECS: u64 = 3600;
/// Largest Panasonic `CFG_CYCLIC_INTVL`, in minutes (28 days).
pub const PANASONIC_CYCLIC_MAX_MIN: u32 = 40_320;
/// Longest period any rule accepts, in seconds (3653 days, about ten years); longer values
/// are reduced to it with a warning.
pub const MAX_PERIOD_SECS: u64 = 3653 * 86_400;

const SECS_PER_DAY: u64 = 86_400;

/// Which vendor's polling settings are in effect. One rule applies at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ScheduleSettings {
    /// No timed polls.
    #[default]
    Off,
    /// Snom provisioning polling.
    Snom(SnomPolling),
    /// Panasonic provisioning settings.
    Panasonic(PanasonicPolling),
    /// Yealink auto provisioning settings.
    Yealink(super::vendors::YealinkProvisioning),
    /// Polycom provisioning polling.
    Polycom(super::vendors::PolycomPolling),
    /// Cisco SPA/MPP resync settings.
    Cisco(super::vendors::CiscoResync),
    /// Grandstream automatic upgrade settings.
    Grandstream(super::vendors::GrandstreamUpgrade),
}

impl ScheduleSettings {
    /// The settings in effect when a configuration may carry both vendors' keys.
    ///
    /// A phone follows one vendor's rules. If both are given, the Panasonic settings win and
    /// a warning says the Snom ones were ignored: Panasonic's keys arrive in the vendor's own
    /// provisioning files, which are the more deliberate source. Neither given means
    /// [`ScheduleSettings::Off`].
    pub fn from_parts(
        snom: Option<SnomPolling>,
        panasonic: Option<PanasonicPolling>,
    ) -> (ScheduleSettings, Vec<ScheduleWarning>) {
        match (snom, panasonic) {
            (None, None) => (ScheduleSettings::Off, Vec::new()),
            (Some(snom), None) => (ScheduleSettings::Snom(snom), Vec::new()),
            (None, Some(panasonic)) => (ScheduleSettings::Panasonic(panasonic), Vec::new()),
            (Some(_), Some(panasonic)) => (
                ScheduleSettings::Panasonic(panasonic),
                vec![ScheduleWarning::about(
                    "prov_polling",
                    "both Snom and Panasonic polling settings are given; \
                     the Panasonic settings apply and the Snom ones are ignored",
                )],
            ),
        }
    }
}

/// Snom's polling mode, `prov_polling_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnomMode {
    /// `rel`: every Period seconds.
    Rel,
    /// `abs`: every day at Polling Time.
    Abs,
    /// `random`: random intervals (Period below a day) or a random time in a daily window
    /// every Period/86400 days.
    Random,
}

impl FromStr for SnomMode {
    type Err = ScheduleError;

    /// `rel`, `abs` or `random`, ASCII case-insensitive.
    fn from_str(s: &str) -> Result<SnomMode, ScheduleError> {
        if s.eq_ignore_ascii_case("rel") {
            Ok(SnomMode::Rel)
        } else if s.eq_ignore_ascii_case("abs") {
            Ok(SnomMode::Abs)
        } else if s.eq_ignore_ascii_case("random") {
            Ok(SnomMode::Random)
        } else {
            Err(ScheduleError::SnomMode)
        }
    }
}

/// Snom provisioning polling settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnomPolling {
    /// `prov_polling_enabled` (Snom's default is off).
    pub enabled: bool,
    /// `prov_polling_mode`.
    pub mode: SnomMode,
    /// `prov_polling_period`, seconds.
    pub period_secs: u64,
    /// `prov_polling_time`, Polling Time.
    #[serde(default)]
    pub time: Option<LocalTime>,
    /// `prov_polling_time_rand_end`, Polling Time Random End.
    #[serde(default)]
    pub time_rand_end: Option<LocalTime>,
    /// `settings_refresh_timer`, seconds, 0 = off; used only while prov polling is off.
    #[serde(default)]
    pub settings_refresh_timer_secs: u64,
}

/// Panasonic provisioning settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PanasonicPolling {
    /// `CFG_CYCLIC` (`Y` = true).
    pub cyclic: bool,
    /// `CFG_CYCLIC_INTVL`, minutes, 1 to 40320.
    pub cyclic_interval_min: u32,
    /// `CFG_RTRY_INTVL`, minutes.
    pub retry_interval_min: u32,
    /// `CFG_RESYNC_TIME` exactly as configured; validated when the schedule is built. `None`
    /// and the empty string both mean "not set".
    #[serde(default)]
    pub resync_time: Option<String>,
}

/// What the schedule needs to survive a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersistedState {
    /// When the polling settings last changed. "The day after the setting changed" is the
    /// local calendar day after this instant, so a restart does not move it. When `None`,
    /// the schedule records the first instant it sees with a valid wall clock; read it back
    /// with [`Schedule::persisted`](super::Schedule::persisted) and store it.
    #[serde(default)]
    pub changed_at: Option<Timestamp>,
    /// When the last poll succeeded, as reported with
    /// [`Schedule::record_success`](super::Schedule::record_success). Kept for the caller's
    /// records and status output: no slot depends on it, because every slot is already a pure
    /// function of the settings, zone, seed, `changed_at` and arming instant.
    #[serde(default)]
    pub last_success: Option<Timestamp>,
}

impl ScheduleSettings {
    /// The one rule these vendor settings come to, with a warning for each setting that is
    /// overridden or ignored.
    pub fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        match self {
            ScheduleSettings::Off => Effective::OFF,
            ScheduleSettings::Snom(snom) => snom.resolve(warnings),
            ScheduleSettings::Panasonic(panasonic) => panasonic.resolve(warnings),
            ScheduleSettings::Yealink(y) => y.resolve(warnings),
            ScheduleSettings::Polycom(p) => p.resolve(warnings),
            ScheduleSettings::Cisco(c) => c.resolve(warnings),
            ScheduleSettings::Grandstream(g) => g.resolve(warnings),
        }
    }
}

impl SnomPolling {
    fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        let regular = self.regular(warnings);
        Effective {
            vendor: Some(Vendor::Snom),
            regular: regular.into_iter().collect(),
            retry: regular.map(|_| RetryPolicy::Backoff {
                initial_secs: SNOM_RETRY_INITIAL_SECS,
                max_secs: SNOM_RETRY_MAX_SECS,
            }),
        }
    }

    fn regular(&self, warnings: &mut Vec<ScheduleWarning>) -> Option<(Source, Rule)> {
        if !self.enabled {
            let secs = clamp_period(
                "settings_refresh_timer",
                self.settings_refresh_timer_secs,
                warnings,
            );
            return (secs > 0).then_some((
                Source::SnomSettingsRefresh,
                Rule::Every { every_secs: secs },
            ));
        }
        let period = clamp_period("prov_polling_period", self.period_secs, warnings);
        match self.mode {
            SnomMode::Rel | SnomMode::Random if period == 0 => {
                warnings.push(ScheduleWarning::new(
                    "prov_polling_period",
                    "0",
                    "a period of 0 s cannot be polled; timed polling is off",
                ));
                None
            }
            SnomMode::Rel => Some((Source::SnomRel, Rule::Every { every_secs: period })),
            SnomMode::Abs => match self.time {
                Some(at) => Some((Source::SnomAbs, Rule::DailyAt { at })),
                None => {
                    warnings.push(ScheduleWarning::about(
                        "prov_polling_time",
                        "missing, but absolute polling needs it; timed polling is off",
                    ));
                    None
                }
            },
            SnomMode::Random if period < SECS_PER_DAY => {
                Some((Source::SnomRandom, Rule::RandomEvery { max_secs: period }))
            }
            SnomMode::Random => {
                let every_days = period / SECS_PER_DAY;
                if !period.is_multiple_of(SECS_PER_DAY) {
                    warnings.push(ScheduleWarning::new(
                        "prov_polling_period",
                        &period.to_string(),
                        format!(
                            "not a whole number of days; rounded down to every {every_days} day(s)"
                        ),
                    ));
                }
                let Some(start) = self.time else {
                    warnings.push(ScheduleWarning::about(
                        "prov_polling_time",
                        "missing, but random polling over days needs it; timed polling is off",
                    ));
                    return None;
                };
                let end = self.time_rand_end.unwrap_or(start);
                Some((
                    Source::SnomRandomDays,
                    Rule::DaysWindow {
                        // MAX_PERIOD_SECS / 86400 fits easily.
                        every_days: every_days as u32,
                        start,
                        end,
                    },
                ))
            }
        }
    }
}

impl PanasonicPolling {
    fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        if let Some(raw) = self.resync_time.as_deref().filter(|raw| !raw.is_empty()) {
            match raw.parse::<LocalTime>() {
                Ok(at) => {
                    return Effective {
                        vendor: Some(Vendor::Panasonic),
                        regular: vec![(Source::PanasonicResyncTime, Rule::DailyAt { at })],
                        retry: Some(RetryPolicy::NextRegular),
                    }
                }
                Err(e) => warnings.push(ScheduleWarning::new(
                    "CFG_RESYNC_TIME",
                    raw,
                    format!("{e}; value ignored, the cyclic settings apply"),
                )),
            }
        }
        let regular = if self.cyclic {
            let minutes = match self.cyclic_interval_min {
                0 => {
                    warnings.push(ScheduleWarning::new(
                        "CFG_CYCLIC_INTVL",
                        "0",
                        "out of range 1-40320; cyclic resync is off",
                    ));
                    None
                }
                m if m > PANASONIC_CYCLIC_MAX_MIN => {
                    warnings.push(ScheduleWarning::new(
                        "CFG_CYCLIC_INTVL",
                        &m.to_string(),
                        format!(
                            "out of range 1-40320; {PANASONIC_CYCLIC_MAX_MIN} minutes are used"
                        ),
                    ));
                    Some(PANASONIC_CYCLIC_MAX_MIN)
                }
                m => Some(m),
            };
            minutes.map(|m| {
                (
                    Source::PanasonicCyclic,
                    Rule::Every {
                        every_secs: u64::from(m) * 60,
                    },
                )
            })
        } else {
            None
        };
        let retry = if self.retry_interval_min == 0 {
            warnings.push(ScheduleWarning::new(
                "CFG_RTRY_INTVL",
                "0",
                "a retry interval of 0 min would retry in a tight loop; \
                 a failed download waits for the next cyclic download",
            ));
            regular.map(|_| RetryPolicy::NextRegular)
        } else {
            let secs = clamp_period(
                "CFG_RTRY_INTVL",
                u64::from(self.retry_interval_min) * 60,
                warnings,
            );
            Some(RetryPolicy::Fixed { after_secs: secs })
        };
        Effective {
            vendor: Some(Vendor::Panasonic),
            regular: regular.into_iter().collect(),
            retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snom_mode_parses_case_insensitively() {
        assert_eq!("rel".parse(), Ok(SnomMode::Rel));
        assert_eq!("ABS".parse(), Ok(SnomMode::Abs));
        assert_eq!("Random".parse(), Ok(SnomMode::Random));
        assert_eq!("relative".parse::<SnomMode>(), Err(ScheduleError::SnomMode));
    }

    #[test]
    fn both_vendors_given_panasonic_wins_with_warning() {
        let snom = SnomPolling {
            enabled: true,
            mode: SnomMode::Rel,
            period_secs: 20,
            time: None,
            time_rand_end: None,
            settings_refresh_timer_secs: 0,
        };
        let panasonic = PanasonicPolling {
            cyclic: true,
            cyclic_interval_min: 60,
            retry_interval_min: 5,
            resync_time: None,
        };
        let (settings, warnings) =
            ScheduleSettings::from_parts(Some(snom), Some(panasonic.clone()));
        assert_eq!(settings, ScheduleSettings::Panasonic(panasonic));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].to_string().contains("Panasonic settings apply"));
    }
}

//! The polling settings of Yealink, Polycom, Cisco and Grandstream phones, and the rules they
//! come to. The readers (`config::yealink` and the others) check every value and fall back to
//! the phone's default with a warning; what arrives here is in range.
//!
//! Where the vendors' documents disagree, the choice made is written on the item and in the
//! schedule design notes (docs/schedule.md), with the alternative.

use super::effective::{clamp_period, Effective};
use super::rule::{RetryPolicy, Rule, Source, Steps, Vendor};
use super::{LocalTime, ScheduleWarning};

const SECS_PER_DAY: u64 = 86_400;

/// Yealink auto provisioning (`static.auto_provision.*`). The enabled modes combine: the next
/// poll is the earliest of theirs ("multi-mode mixed").
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct YealinkProvisioning {
    /// `repeat.enable`.
    pub repeat_enable: bool,
    /// `repeat.minutes`: minutes between polls, counted from start-up.
    pub repeat_minutes: u32,
    /// `weekly.enable`.
    pub weekly_enable: bool,
    /// `weekly.dayofweek` as a mask: bit 0 is Sunday (digit 0), bit 6 Saturday.
    pub weekly_days: u8,
    /// `weekly_upgrade_interval`, 0 to 12 weeks: 0 polls on every listed day of every week;
    /// N polls on one listed day, drawn from the MAC address, in one week of every N.
    pub weekly_interval_weeks: u8,
    /// `weekly.begin_time`.
    pub weekly_begin: LocalTime,
    /// `weekly.end_time`.
    pub weekly_end: LocalTime,
    /// `inactivity_time_expire`, minutes of idleness required inside the window. sip-resync
    /// sees no calls, so it is reported and not applied.
    pub inactivity_minutes: u32,
    /// `flexible.enable`.
    pub flexible_enable: bool,
    /// `flexible.interval`, 1 to 1000 days.
    pub flexible_interval_days: u32,
    /// `flexible.begin_time`.
    pub flexible_begin: LocalTime,
    /// `flexible.end_time`; `None` (blank) polls at the begin time.
    pub flexible_end: Option<LocalTime>,
}

impl Default for YealinkProvisioning {
    /// The phone's defaults: every mode off, `dayofweek` 0123456, weekly window 00:00-00:00,
    /// flexible interval 30 days from 02:00.
    fn default() -> Self {
        YealinkProvisioning {
            repeat_enable: false,
            repeat_minutes: 1440,
            weekly_enable: false,
            weekly_days: 0x7f,
            weekly_interval_weeks: 0,
            weekly_begin: LocalTime::MIDNIGHT,
            weekly_end: LocalTime::MIDNIGHT,
            inactivity_minutes: 0,
            flexible_enable: false,
            flexible_interval_days: 30,
            flexible_begin: LocalTime::new(2, 0).expect("valid"),
            flexible_end: None,
        }
    }
}

impl YealinkProvisioning {
    pub(super) fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        let mut regular = Vec::new();
        if self.repeat_enable {
            if self.repeat_minutes == 0 {
                warnings.push(ScheduleWarning::new(
                    "static.auto_provision.repeat.minutes",
                    "0",
                    "an interval of 0 minutes cannot be polled; repeated provisioning is off",
                ));
            } else {
                let secs = clamp_period(
                    "static.auto_provision.repeat.minutes",
                    u64::from(self.repeat_minutes) * 60,
                    warnings,
                );
                regular.push((Source::YealinkRepeat, Rule::Every { every_secs: secs }));
            }
        }
        if self.weekly_enable {
            if self.weekly_days & 0x7f == 0 {
                warnings.push(ScheduleWarning::about(
                    "static.auto_provision.weekly.dayofweek",
                    "names no day; weekly provisioning is off",
                ));
            } else {
                if self.inactivity_minutes > 0 {
                    warnings.push(ScheduleWarning::new(
                        "static.auto_provision.inactivity_time_expire",
                        &self.inactivity_minutes.to_string(),
                        "sip-resync does not see calls: the poll is not held back until the \
                         phone has been idle this long",
                    ));
                }
                regular.push((
                    Source::YealinkWeekly,
                    Rule::Weekly {
                        days: self.weekly_days & 0x7f,
                        every_weeks: self.weekly_interval_weeks,
                        start: self.weekly_begin,
                        end: self.weekly_end,
                    },
                ));
            }
        }
        if self.flexible_enable {
            regular.push((
                Source::YealinkFlexible,
                Rule::MacDaysWindow {
                    every_days: self.flexible_interval_days.max(1),
                    start: self.flexible_begin,
                    end: self.flexible_end.unwrap_or(self.flexible_begin),
                },
            ));
        }
        Effective {
            vendor: Some(Vendor::Yealink),
            retry: (!regular.is_empty()).then_some(RetryPolicy::NextRegular),
            regular,
        }
    }
}

/// Polycom `prov.polling.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolycomMode {
    /// `abs`: at `prov.polling.time`, every period rounded up to whole days.
    Abs,
    /// `rel`: every period, counted from start-up.
    Rel,
    /// `random`: see [`PolycomPolling`].
    Random,
}

/// Polycom provisioning polling (`prov.polling.*`).
///
/// `random` is read as follows (the three Polycom documents disagree at one day exactly):
/// - a period above one day: one day in every period (rounded up to whole days), the day
///   derived from the MAC address, at a random time between `time` and `timeRandomEnd`
///   (the whole day when neither is set);
/// - a period of exactly one day with `timeRandomEnd` set: every day in that window (the
///   Trio table, and what the public templates that write `random` + 86400 + a window
///   expect);
/// - otherwise (below one day, or one day without a window): the first poll at a random time
///   within one period of start-up, then every period (UC Software 5.8.1).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolycomPolling {
    /// `prov.polling.enabled`.
    pub enabled: bool,
    /// `prov.polling.mode`.
    pub mode: PolycomMode,
    /// `prov.polling.period`, seconds.
    pub period_secs: u64,
    /// `prov.polling.time`.
    pub time: Option<LocalTime>,
    /// `prov.polling.timeRandomEnd`.
    pub time_random_end: Option<LocalTime>,
}

/// The `prov.polling.time` used when it is not set: 03:00 (the value Polycom's parameter
/// tables are remembered to give; not confirmed from a stored source).
pub const POLYCOM_DEFAULT_TIME: LocalTime = match LocalTime::new(3, 0) {
    Ok(t) => t,
    Err(_) => LocalTime::MIDNIGHT,
};

impl PolycomPolling {
    pub(super) fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        let regular = self.regular(warnings);
        Effective {
            vendor: Some(Vendor::Polycom),
            retry: regular.map(|_| RetryPolicy::NextRegular),
            regular: regular.into_iter().collect(),
        }
    }

    fn regular(&self, warnings: &mut Vec<ScheduleWarning>) -> Option<(Source, Rule)> {
        if !self.enabled {
            return None;
        }
        let period = clamp_period("prov.polling.period", self.period_secs, warnings);
        if period == 0 {
            warnings.push(ScheduleWarning::new(
                "prov.polling.period",
                "0",
                "a period of 0 s cannot be polled; timed polling is off",
            ));
            return None;
        }
        // Rounded up to whole days in abs and random mode: 86401 s is 2 days.
        let days = period.div_ceil(SECS_PER_DAY) as u32;
        let time = self.time.unwrap_or(POLYCOM_DEFAULT_TIME);
        match self.mode {
            PolycomMode::Rel => Some((Source::PolycomRel, Rule::Every { every_secs: period })),
            PolycomMode::Abs => Some((
                Source::PolycomAbs,
                Rule::MacDaysWindow {
                    every_days: days,
                    start: time,
                    end: time,
                },
            )),
            PolycomMode::Random if period > SECS_PER_DAY => {
                let (start, end) = match (self.time, self.time_random_end) {
                    (None, None) => (LocalTime::MIDNIGHT, LocalTime::new(23, 59).ok()?),
                    (_, end) => (time, end.unwrap_or(time)),
                };
                Some((
                    Source::PolycomRandomDays,
                    Rule::MacDaysWindow {
                        every_days: days,
                        start,
                        end,
                    },
                ))
            }
            PolycomMode::Random if period == SECS_PER_DAY && self.time_random_end.is_some() => {
                Some((
                    Source::PolycomRandomDays,
                    Rule::MacDaysWindow {
                        every_days: 1,
                        start: time,
                        end: self.time_random_end.unwrap_or(time),
                    },
                ))
            }
            PolycomMode::Random => Some((
                Source::PolycomRandom,
                Rule::PhasedEvery { every_secs: period },
            )),
        }
    }
}

/// Cisco SPA/MPP resync timing (`Resync_Periodic`, `Resync_At (HHmm)`,
/// `Resync_At_Random_Delay`, `Resync_Error_Retry_Delay`). `Resync_On_Reset` and
/// `Resync_Random_Delay` are start-up settings (`provisioning.fetch_at_startup` and
/// `random_delay`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CiscoResync {
    /// `Resync_Periodic` as a list whose last element repeats; `None` for 0 (off).
    pub periodic: Option<Steps>,
    /// `Resync_At (HHmm)`; when set, `Resync_Periodic` is ignored.
    pub resync_at: Option<LocalTime>,
    /// `Resync_At_Random_Delay`, seconds (0 to 65535).
    pub at_random_delay_secs: u32,
    /// `Resync_Error_Retry_Delay`; `None` for 0: no retry of its own (MPP and Sipura
    /// reading; SPA documents read 0 as "at once").
    pub error_retry: Option<Steps>,
}

impl CiscoResync {
    /// The window of `Resync_At` with its random delay: the delay in whole minutes is
    /// `(Resync_At_Random_Delay + 30) / 60`, Cisco's formula (integer division), capped so
    /// that the window stays shorter than a day.
    pub fn at_window(&self) -> Option<(LocalTime, LocalTime)> {
        let at = self.resync_at?;
        let minutes = ((self.at_random_delay_secs + 30) / 60).min(1439);
        let end_min = (u32::from(at.hour()) * 60 + u32::from(at.minute()) + minutes) % 1440;
        let end = LocalTime::new((end_min / 60) as u8, (end_min % 60) as u8).ok()?;
        Some((at, end))
    }

    pub(super) fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        let regular = match (self.at_window(), self.periodic) {
            (Some((start, end)), periodic) => {
                if periodic.is_some() {
                    warnings.push(ScheduleWarning::about(
                        "Resync_Periodic",
                        "ignored while Resync_At (HHmm) is set, as on the phone",
                    ));
                }
                Some((
                    Source::CiscoResyncAt,
                    Rule::MacDaysWindow {
                        every_days: 1,
                        start,
                        end,
                    },
                ))
            }
            (None, Some(steps)) => Some((Source::CiscoPeriodic, Rule::Steps { steps })),
            (None, None) => None,
        };
        let retry = match self.error_retry {
            Some(steps) => Some(RetryPolicy::Steps { steps }),
            None => regular.map(|_| RetryPolicy::NextRegular),
        };
        Effective {
            vendor: Some(Vendor::Cisco),
            regular: regular.into_iter().collect(),
            retry,
        }
    }
}

/// Grandstream automatic upgrade mode (P22296 on current firmware, P194 on older).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrandstreamMode {
    /// 0: no automatic check.
    Off,
    /// 1: every P193 minutes.
    Interval,
    /// 2: every day.
    Daily,
    /// 3: every week, on the P286 day(s).
    Weekly,
}

/// Grandstream automatic upgrade and provisioning check.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GrandstreamUpgrade {
    /// P22296 (or P194).
    pub mode: GrandstreamMode,
    /// P193, minutes between checks in interval mode.
    pub interval_min: u64,
    /// P285, hour of day the daily or weekly check starts (0 to 23).
    pub start_hour: u8,
    /// P8459, hour of day the randomised window ends (0 to 23); before P285 it runs past
    /// midnight.
    pub end_hour: u8,
    /// P8458: a random time between P285 and P8459 instead of P285 itself.
    pub randomized: bool,
    /// P286 as a mask: bit 0 is Sunday.
    pub days: u8,
}

impl GrandstreamUpgrade {
    pub(super) fn resolve(&self, warnings: &mut Vec<ScheduleWarning>) -> Effective {
        let hour = |h: u8| LocalTime::new(h.min(23), 0).unwrap_or(LocalTime::MIDNIGHT);
        let start = hour(self.start_hour);
        let end = if self.randomized {
            hour(self.end_hour)
        } else {
            start
        };
        let regular = match self.mode {
            GrandstreamMode::Off => None,
            GrandstreamMode::Interval => {
                let secs = clamp_period("P193", self.interval_min.saturating_mul(60), warnings);
                (secs > 0).then_some((
                    Source::GrandstreamInterval,
                    Rule::Every { every_secs: secs },
                ))
            }
            GrandstreamMode::Daily => Some((
                Source::GrandstreamDaily,
                Rule::MacDaysWindow {
                    every_days: 1,
                    start,
                    end,
                },
            )),
            GrandstreamMode::Weekly => Some((
                Source::GrandstreamWeekly,
                Rule::Weekly {
                    days: if self.days & 0x7f == 0 {
                        0b10
                    } else {
                        self.days & 0x7f
                    },
                    every_weeks: 0,
                    start,
                    end,
                },
            )),
        };
        Effective {
            vendor: Some(Vendor::Grandstream),
            retry: regular.map(|_| RetryPolicy::NextRegular),
            regular: regular.into_iter().collect(),
        }
    }
}

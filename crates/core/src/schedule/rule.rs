//! The vendor-neutral model: rule shapes, where a rule came from, retry policies, labels.
//!
//! Vendor settings are resolved into one [`Rule`] (the shape of the timed polls), one
//! [`Source`] (which vendor setting it came from) and one [`RetryPolicy`]. New vendors add
//! sources and, where their shape is new, rule variants: Cisco's `Resync_Periodic` lists whose
//! last element repeats, Polycom's random day within a multi-day period, Yealink's weekly
//! windows with days of the week.

use std::fmt;

use super::LocalTime;

/// The phone family whose settings are being followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Vendor {
    /// Snom provisioning polling.
    Snom,
    /// Panasonic `CFG_*` provisioning settings.
    Panasonic,
    /// Yealink `static.auto_provision.*` settings.
    Yealink,
    /// Polycom `prov.polling.*` settings.
    Polycom,
    /// Cisco SPA/MPP `Resync_*` settings.
    Cisco,
    /// Grandstream automatic upgrade P-values.
    Grandstream,
}

impl Vendor {
    /// Lower-case name used in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Snom => "snom",
            Vendor::Panasonic => "panasonic",
            Vendor::Yealink => "yealink",
            Vendor::Polycom => "polycom",
            Vendor::Cisco => "cisco",
            Vendor::Grandstream => "grandstream",
        }
    }
}

/// Which vendor setting produced the regular polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Snom `prov_polling_mode` = `rel`.
    SnomRel,
    /// Snom `settings_refresh_timer` (used while prov polling is off).
    SnomSettingsRefresh,
    /// Snom `prov_polling_mode` = `abs`.
    SnomAbs,
    /// Snom `prov_polling_mode` = `random` with a period below one day.
    SnomRandom,
    /// Snom `prov_polling_mode` = `random` with a period of one day or more.
    SnomRandomDays,
    /// Panasonic `CFG_RESYNC_TIME`.
    PanasonicResyncTime,
    /// Panasonic `CFG_CYCLIC` / `CFG_CYCLIC_INTVL`.
    PanasonicCyclic,
    /// Yealink `auto_provision.repeat.*`: every N minutes.
    YealinkRepeat,
    /// Yealink `auto_provision.weekly.*`: days of the week, a window.
    YealinkWeekly,
    /// Yealink `auto_provision.flexible.*`: a MAC-derived day every N days, a window.
    YealinkFlexible,
    /// Polycom `prov.polling.mode` = `rel`.
    PolycomRel,
    /// Polycom `prov.polling.mode` = `abs`.
    PolycomAbs,
    /// Polycom `prov.polling.mode` = `random` with a period below one day (or one day
    /// without a window).
    PolycomRandom,
    /// Polycom `prov.polling.mode` = `random` with a window.
    PolycomRandomDays,
    /// Cisco `Resync_Periodic`.
    CiscoPeriodic,
    /// Cisco `Resync_At (HHmm)` with `Resync_At_Random_Delay`.
    CiscoResyncAt,
    /// Grandstream automatic upgrade 1: every P193 minutes.
    GrandstreamInterval,
    /// Grandstream automatic upgrade 2: every day at P285 (to P8459 when randomised).
    GrandstreamDaily,
    /// Grandstream automatic upgrade 3: on the P286 day(s) of the week.
    GrandstreamWeekly,
}

impl Source {
    /// The vendor this source belongs to.
    pub fn vendor(self) -> Vendor {
        match self {
            Source::SnomRel
            | Source::SnomSettingsRefresh
            | Source::SnomAbs
            | Source::SnomRandom
            | Source::SnomRandomDays => Vendor::Snom,
            Source::PanasonicResyncTime | Source::PanasonicCyclic => Vendor::Panasonic,
            Source::YealinkRepeat | Source::YealinkWeekly | Source::YealinkFlexible => {
                Vendor::Yealink
            }
            Source::PolycomRel
            | Source::PolycomAbs
            | Source::PolycomRandom
            | Source::PolycomRandomDays => Vendor::Polycom,
            Source::CiscoPeriodic | Source::CiscoResyncAt => Vendor::Cisco,
            Source::GrandstreamInterval | Source::GrandstreamDaily | Source::GrandstreamWeekly => {
                Vendor::Grandstream
            }
        }
    }

    /// Short name used as the first word of a [`RuleLabel`], e.g. `snom-abs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SnomRel => "snom-rel",
            Source::SnomSettingsRefresh => "snom-settings-refresh",
            Source::SnomAbs => "snom-abs",
            Source::SnomRandom => "snom-random",
            Source::SnomRandomDays => "snom-random-days",
            Source::PanasonicResyncTime => "panasonic-resync-time",
            Source::PanasonicCyclic => "panasonic-cyclic",
            Source::YealinkRepeat => "yealink-repeat",
            Source::YealinkWeekly => "yealink-weekly",
            Source::YealinkFlexible => "yealink-flexible",
            Source::PolycomRel => "polycom-rel",
            Source::PolycomAbs => "polycom-abs",
            Source::PolycomRandom => "polycom-random",
            Source::PolycomRandomDays => "polycom-random-days",
            Source::CiscoPeriodic => "cisco-periodic",
            Source::CiscoResyncAt => "cisco-resync-at",
            Source::GrandstreamInterval => "grandstream-interval",
            Source::GrandstreamDaily => "grandstream-daily",
            Source::GrandstreamWeekly => "grandstream-weekly",
        }
    }
}

/// The shape of the regular timed polls, independent of the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Every `every_secs` seconds, counted from when the schedule was armed (start-up or the
    /// setting change). Does not need the wall clock.
    Every {
        /// Seconds between polls, at least 1.
        every_secs: u64,
    },
    /// Chained random intervals from when the schedule was armed: each poll comes a uniformly
    /// drawn `0..=max_secs` seconds after the previous one, a draw of 0 counting as 1 s.
    /// Does not need the wall clock.
    RandomEvery {
        /// Longest interval, in seconds, at least 1.
        max_secs: u64,
    },
    /// Every local day at `at`. Needs the wall clock.
    DailyAt {
        /// Local time of day.
        at: LocalTime,
    },
    /// Every `every_days` local calendar days, starting the day after the setting changed, at
    /// a random instant of the local window `start..=end` (which runs past midnight when `end`
    /// is before `start`). Needs the wall clock.
    DaysWindow {
        /// Days between polls, at least 1.
        every_days: u32,
        /// Window start, local time.
        start: LocalTime,
        /// Window end, local time, included.
        end: LocalTime,
    },
    /// Chained intervals from when the schedule was armed: interval `i` (from 0) is step
    /// `min(i, last)` plus a uniform draw of that step's random extra, at least 1 s (Cisco's
    /// `Resync_Periodic` list, whose last element repeats, with `+N`). Does not need the wall
    /// clock.
    Steps {
        /// The intervals.
        steps: Steps,
    },
    /// Every `every_secs` seconds from a random start: the first poll comes a drawn
    /// `1..=every_secs` seconds after the schedule was armed, the next ones every
    /// `every_secs` after it (Polycom `random` with a period of a day or less). Does not need
    /// the wall clock.
    PhasedEvery {
        /// Seconds between polls, at least 1.
        every_secs: u64,
    },
    /// One local day in every `every_days`, the same days whatever the restarts: the day
    /// within the period is drawn from the seed (the MAC address), and on it the poll comes
    /// at a random instant of the local window `start..=end` (past midnight when `end` is
    /// before `start`; the exact time when they are equal). Polycom `abs`/`random` over days,
    /// Yealink flexible, Cisco `Resync_At`, Grandstream daily. Needs the wall clock.
    MacDaysWindow {
        /// Days in the period, at least 1 (1: every day).
        every_days: u32,
        /// Window start, local time.
        start: LocalTime,
        /// Window end, local time, included.
        end: LocalTime,
    },
    /// Days of the week, at a random instant of the local window `start..=end` on each. With
    /// `every_weeks` 0 every listed day of every week polls; with N (1 to 12), one listed day,
    /// drawn from the seed, in one week of every N (Yealink `weekly_upgrade_interval`), the
    /// week also drawn from the seed. Needs the wall clock.
    Weekly {
        /// Days: bit 0 is Sunday, bit 6 Saturday; at least one.
        days: u8,
        /// 0: every listed day; N: one listed day every N weeks.
        every_weeks: u8,
        /// Window start, local time.
        start: LocalTime,
        /// Window end, local time, included.
        end: LocalTime,
    },
}

/// Most elements of a [`Steps`] list.
pub const MAX_STEPS: usize = 8;

/// A list of intervals whose last element repeats, each with a random extra (Cisco
/// `1800,3600,7200+600`). At least one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Steps {
    secs: [u32; MAX_STEPS],
    extra: [u32; MAX_STEPS],
    len: u8,
}

impl Steps {
    /// The list of `(seconds, random extra seconds)`; `None` when it is empty or longer than
    /// [`MAX_STEPS`].
    pub fn new(items: &[(u32, u32)]) -> Option<Steps> {
        if items.is_empty() || items.len() > MAX_STEPS {
            return None;
        }
        let mut steps = Steps {
            secs: [0; MAX_STEPS],
            extra: [0; MAX_STEPS],
            len: items.len() as u8,
        };
        for (i, &(s, e)) in items.iter().enumerate() {
            steps.secs[i] = s;
            steps.extra[i] = e;
        }
        Some(steps)
    }

    /// Element `i` (from 0), the last one for every `i` past it.
    pub fn get(&self, i: u64) -> (u32, u32) {
        let last = usize::from(self.len.max(1)) - 1;
        let i = usize::try_from(i).unwrap_or(usize::MAX).min(last);
        (self.secs[i], self.extra[i])
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..usize::from(self.len)).map(|i| (self.secs[i], self.extra[i]))
    }
}

impl fmt::Display for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (s, e)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}s")?;
            if e > 0 {
                write!(f, "+0-{e}s")?;
            }
        }
        Ok(())
    }
}

/// `Sun,Mon`: the days of a [`Rule::Weekly`] mask.
pub(super) fn day_names(days: u8) -> String {
    const NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    (0..7)
        .filter(|i| days & (1 << i) != 0)
        .map(|i| NAMES[i])
        .collect::<Vec<_>>()
        .join(",")
}

impl Rule {
    /// Whether polls of this rule are defined by the wall clock (and so wait for it to be
    /// declared valid).
    pub fn needs_wall_clock(&self) -> bool {
        match self {
            Rule::Every { .. }
            | Rule::RandomEvery { .. }
            | Rule::Steps { .. }
            | Rule::PhasedEvery { .. } => false,
            Rule::DailyAt { .. }
            | Rule::DaysWindow { .. }
            | Rule::MacDaysWindow { .. }
            | Rule::Weekly { .. } => true,
        }
    }
}

/// What happens after a failed poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryPolicy {
    /// No retry of its own: the next regular poll is the retry (Panasonic with
    /// `CFG_RESYNC_TIME`).
    NextRegular,
    /// Retry `after_secs` after the failure, in place of any regular poll before then
    /// (Panasonic `CFG_RTRY_INTVL`). Retries repeat on every failure.
    Fixed {
        /// Seconds from the failure to the retry, at least 60.
        after_secs: u64,
    },
    /// Retry after `initial_secs`, doubling on each consecutive failure up to `max_secs`, but
    /// never later than the next regular poll, which is always kept (Snom). Retries repeat
    /// until a poll succeeds.
    Backoff {
        /// First delay, in seconds.
        initial_secs: u64,
        /// Largest delay, in seconds.
        max_secs: u64,
    },
    /// Retry after element `failures - 1` of a list whose last element repeats (Cisco
    /// `Resync_Error_Retry_Delay`), in place of any regular poll before then; the random
    /// extra of an element is added by the schedule. Retries repeat on every failure.
    Steps {
        /// The delays, each at least 60 s.
        steps: Steps,
    },
}

impl RetryPolicy {
    /// The delay before retry number `failures` (1 for the first failure in a row).
    pub fn delay_secs(self, failures: u32) -> Option<u64> {
        match self {
            RetryPolicy::NextRegular => None,
            RetryPolicy::Fixed { after_secs } => Some(after_secs),
            RetryPolicy::Backoff {
                initial_secs,
                max_secs,
            } => {
                let doublings = failures.saturating_sub(1).min(63);
                let delay = initial_secs.saturating_mul(1u64 << doublings);
                Some(delay.min(max_secs))
            }
            RetryPolicy::Steps { steps } => Some(u64::from(
                steps.get(u64::from(failures.saturating_sub(1))).0,
            )),
        }
    }
}

/// Why a [`Poll`](super::Poll) happens: printed after its instant, one poll per line.
///
/// ```text
/// snom-rel every 20s
/// snom-abs daily 09:00
/// snom-random every 0-3600s
/// snom-random-days every 3d 09:00-09:10
/// panasonic-resync-time daily 02:00
/// panasonic-cyclic every 60min
/// panasonic-retry 5min
/// snom-retry 10min
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleLabel {
    /// A regular poll of the effective rule.
    Regular {
        /// The setting behind the rule.
        source: Source,
        /// The rule.
        rule: Rule,
    },
    /// A retry after a failed poll.
    Retry {
        /// Whose retry rule applied.
        vendor: Vendor,
        /// Seconds from the failure to this retry.
        after_secs: u64,
    },
}

impl RuleLabel {
    /// Whether this poll is a retry after a failure.
    pub fn is_retry(&self) -> bool {
        matches!(self, RuleLabel::Retry { .. })
    }

    /// The vendor whose rule produced the poll.
    pub fn vendor(&self) -> Vendor {
        match self {
            RuleLabel::Regular { source, .. } => source.vendor(),
            RuleLabel::Retry { vendor, .. } => *vendor,
        }
    }
}

/// `90s`, `5min`: minutes when the value is a whole number of them.
fn secs_or_min(f: &mut fmt::Formatter<'_>, secs: u64) -> fmt::Result {
    if secs.is_multiple_of(60) && secs > 0 {
        write!(f, "{}min", secs / 60)
    } else {
        write!(f, "{secs}s")
    }
}

impl fmt::Display for RuleLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RuleLabel::Regular { source, rule } => {
                f.write_str(source.as_str())?;
                match rule {
                    Rule::Every { every_secs } if source.vendor() != Vendor::Snom => {
                        f.write_str(" every ")?;
                        secs_or_min(f, every_secs)
                    }
                    Rule::Every { every_secs } => write!(f, " every {every_secs}s"),
                    Rule::RandomEvery { max_secs } => write!(f, " every 0-{max_secs}s"),
                    Rule::DailyAt { at } => write!(f, " daily {at}"),
                    Rule::DaysWindow {
                        every_days,
                        start,
                        end,
                    } => write!(f, " every {every_days}d {start}-{end}"),
                    Rule::Steps { steps } => write!(f, " every {steps}"),
                    Rule::PhasedEvery { every_secs } => {
                        write!(f, " every {every_secs}s from a random start")
                    }
                    Rule::MacDaysWindow {
                        every_days,
                        start,
                        end,
                    } if start == end => write!(f, " every {every_days}d at {start}"),
                    Rule::MacDaysWindow {
                        every_days,
                        start,
                        end,
                    } => write!(f, " every {every_days}d {start}-{end}"),
                    Rule::Weekly {
                        days,
                        every_weeks,
                        start,
                        end,
                    } => {
                        write!(f, " {} {start}", day_names(days))?;
                        if start != end {
                            write!(f, "-{end}")?;
                        }
                        if every_weeks > 0 {
                            write!(f, " one day every {every_weeks}w")?;
                        }
                        Ok(())
                    }
                }
            }
            RuleLabel::Retry { vendor, after_secs } => {
                write!(f, "{}-retry ", vendor.as_str())?;
                secs_or_min(f, after_secs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> LocalTime {
        s.parse().unwrap()
    }

    #[test]
    fn labels_read_as_documented() {
        let cases = [
            (
                Source::SnomRel,
                Rule::Every { every_secs: 20 },
                "snom-rel every 20s",
            ),
            (
                Source::SnomSettingsRefresh,
                Rule::Every { every_secs: 3600 },
                "snom-settings-refresh every 3600s",
            ),
            (
                Source::SnomAbs,
                Rule::DailyAt { at: t("09:00") },
                "snom-abs daily 09:00",
            ),
            (
                Source::SnomRandom,
                Rule::RandomEvery { max_secs: 3600 },
                "snom-random every 0-3600s",
            ),
            (
                Source::SnomRandomDays,
                Rule::DaysWindow {
                    every_days: 3,
                    start: t("09:00"),
                    end: t("09:10"),
                },
                "snom-random-days every 3d 09:00-09:10",
            ),
            (
                Source::PanasonicResyncTime,
                Rule::DailyAt { at: t("02:00") },
                "panasonic-resync-time daily 02:00",
            ),
            (
                Source::PanasonicCyclic,
                Rule::Every { every_secs: 3600 },
                "panasonic-cyclic every 60min",
            ),
        ];
        for (source, rule, want) in cases {
            assert_eq!(RuleLabel::Regular { source, rule }.to_string(), want);
        }
        let retry = RuleLabel::Retry {
            vendor: Vendor::Panasonic,
            after_secs: 300,
        };
        assert_eq!(retry.to_string(), "panasonic-retry 5min");
        assert!(retry.is_retry());
        let retry = RuleLabel::Retry {
            vendor: Vendor::Snom,
            after_secs: 600,
        };
        assert_eq!(retry.to_string(), "snom-retry 10min");
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        let p = RetryPolicy::Backoff {
            initial_secs: 300,
            max_secs: 3600,
        };
        let delays: Vec<u64> = (1..=7).map(|n| p.delay_secs(n).unwrap()).collect();
        assert_eq!(delays, [300, 600, 1200, 2400, 3600, 3600, 3600]);
        assert_eq!(p.delay_secs(u32::MAX), Some(3600));
        assert_eq!(RetryPolicy::NextRegular.delay_secs(1), None);
    }
}

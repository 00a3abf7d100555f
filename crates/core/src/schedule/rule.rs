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
}

impl Vendor {
    /// Lower-case name used in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Snom => "snom",
            Vendor::Panasonic => "panasonic",
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
}

impl Rule {
    /// Whether polls of this rule are defined by the wall clock (and so wait for it to be
    /// declared valid).
    pub fn needs_wall_clock(&self) -> bool {
        match self {
            Rule::Every { .. } | Rule::RandomEvery { .. } => false,
            Rule::DailyAt { .. } | Rule::DaysWindow { .. } => true,
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
                    Rule::Every { every_secs } if source.vendor() == Vendor::Panasonic => {
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

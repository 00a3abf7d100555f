//! [`Schedule`]: the effective rule plus the little state it needs, answering "when next?".

use std::fmt::Write;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::rule::{RetryPolicy, Rule, RuleLabel, Source, Vendor};
use super::settings::{PersistedState, ScheduleSettings};
use super::slots::{self, Chain};
use super::ScheduleWarning;

/// One timed poll: when, and which rule asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Poll {
    /// The instant the poll is due.
    pub at: Timestamp,
    /// Why it is due.
    pub rule: RuleLabel,
}

impl Poll {
    /// `<RFC 3339 instant with the zone's offset at that instant> <label>`, e.g.
    /// `2026-03-08T03:00:00-04:00 snom-abs daily 02:00`.
    pub fn to_line(&self, tz: &TimeZone) -> String {
        format!(
            "{} {}",
            self.at.display_with_offset(tz.to_offset(self.at)),
            self.rule
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Failure {
    failed_at: Timestamp,
    poll: Poll,
}

/// The provisioning-poll schedule in effect: a pure state machine that reads no clock.
///
/// Build one with [`Schedule::new`] whenever the settings change (that re-arms it at once),
/// then ask [`next_after`](Schedule::next_after) for the next poll, report failures with
/// [`retry_after_failure`](Schedule::retry_after_failure) and successes with
/// [`record_success`](Schedule::record_success). Answers are deterministic for a given seed:
/// asking again with the same `now` gives the same poll.
#[derive(Clone, Debug)]
pub struct Schedule {
    tz: TimeZone,
    seed: u64,
    armed_at: Timestamp,
    vendor: Option<Vendor>,
    /// The regular rules in effect (one for most vendors; Yealink's modes combine); the
    /// next poll is the earliest of theirs.
    regular: Vec<(Source, Rule)>,
    retry: Option<RetryPolicy>,
    state: PersistedState,
    /// The chain of each chained rule, by position in `regular`.
    chains: Vec<Option<Chain>>,
    failures: u32,
    last_failure: Option<Failure>,
}

impl Schedule {
    /// Arms the schedule for `settings`.
    ///
    /// - `tz`: the zone every wall-clock time is read in.
    /// - `state`: what was persisted (`changed_at` decides the first day of multi-day random
    ///   polling; keep it across restarts so they do not move the days).
    /// - `seed`: seeds every random draw; derive it from the MAC address
    ///   ([`seed_from_mac`](super::seed_from_mac)) so a fleet spreads out and one phone keeps
    ///   its draws across restarts.
    /// - `armed_at`: when the schedule is armed, i.e. process start-up or the moment the
    ///   settings changed. Relative rules count from it. It and the `now` passed later must
    ///   be on one timeline; for relative rules that can be a monotonic one (start-up plus
    ///   elapsed time), as they never read the wall clock.
    ///
    /// Returns the warnings about settings that were ignored or adjusted.
    pub fn new(
        settings: &ScheduleSettings,
        tz: TimeZone,
        state: PersistedState,
        seed: u64,
        armed_at: Timestamp,
    ) -> (Schedule, Vec<ScheduleWarning>) {
        let mut warnings = Vec::new();
        let effective = settings.resolve(&mut warnings);
        let chains = effective
            .regular
            .iter()
            .map(|(_, rule)| match *rule {
                Rule::RandomEvery { max_secs } => Some(Chain::new(seed, armed_at, max_secs)),
                Rule::Steps { steps } => Some(Chain::with_steps(seed, armed_at, steps)),
                _ => None,
            })
            .collect();
        let schedule = Schedule {
            tz,
            seed,
            armed_at,
            vendor: effective.vendor,
            regular: effective.regular,
            retry: effective.retry,
            state,
            chains,
            failures: 0,
            last_failure: None,
        };
        (schedule, warnings)
    }

    /// The first poll strictly after `now`.
    ///
    /// `None` when nothing is scheduled (timed polling is off) or when the rule needs the
    /// wall clock and `clock_valid` is false. Once the clock is valid the next slot is
    /// computed from `now`: slots missed while it was not are not fired. A pending retry
    /// (see [`retry_after_failure`](Schedule::retry_after_failure)) is returned until its
    /// instant has passed.
    pub fn next_after(&mut self, now: Timestamp, clock_valid: bool) -> Option<Poll> {
        if self.needs_wall_clock() && !clock_valid {
            return None;
        }
        if let Some(failure) = self.last_failure {
            if failure.poll.rule.is_retry() && failure.poll.at > now {
                return Some(failure.poll);
            }
        }
        self.regular_after(now)
    }

    /// The poll that follows a failed poll at `failed_at`, by the rule's retry policy.
    ///
    /// - Snom: `failed_at` + 5 min, doubling on each failure in a row up to 1 h, but never
    ///   later than the next regular poll (which is then returned instead).
    /// - Panasonic without `CFG_RESYNC_TIME`: `failed_at` + `CFG_RTRY_INTVL`, in place of any
    ///   cyclic poll before it (also when `CFG_CYCLIC` is off).
    /// - Panasonic with `CFG_RESYNC_TIME`: the next daily poll.
    ///
    /// Retries never stop while polls keep failing, and a retry is never earlier than the
    /// sooner of the next regular poll and one minute after the failure: no tight loop. The retry is remembered: [`next_after`](Schedule::next_after)
    /// returns it until it is due, and calling this again with the same `failed_at` returns
    /// the same poll. `None` when polling is off or the rule waits for a valid clock.
    pub fn retry_after_failure(&mut self, failed_at: Timestamp, clock_valid: bool) -> Option<Poll> {
        let policy = self.retry?;
        if self.needs_wall_clock() && !clock_valid {
            return None;
        }
        if let Some(failure) = self.last_failure {
            if failure.failed_at == failed_at {
                return Some(failure.poll);
            }
        }
        self.failures = self.failures.saturating_add(1);
        let regular = self.regular_after(failed_at);
        let extra = match policy {
            RetryPolicy::Steps { steps } => {
                let (_, extra) = steps.get(u64::from(self.failures.saturating_sub(1)));
                super::draw::retry_extra(self.seed, failed_at, extra)
            }
            _ => 0,
        };
        let retry = policy.delay_secs(self.failures).and_then(|delay| {
            let delay = delay.saturating_add(extra);
            let at = failed_at
                .checked_add(SignedDuration::from_secs(i64::try_from(delay).ok()?))
                .ok()?;
            Some(Poll {
                at,
                rule: RuleLabel::Retry {
                    vendor: self.vendor?,
                    after_secs: delay,
                },
            })
        });
        let poll = match (policy, retry, regular) {
            (RetryPolicy::Backoff { .. }, Some(retry), Some(regular)) if regular.at <= retry.at => {
                regular
            }
            (_, Some(retry), _) => retry,
            (_, None, regular) => regular?,
        };
        self.last_failure = Some(Failure { failed_at, poll });
        Some(poll)
    }

    /// Records a successful poll at `at`: the retry backoff starts over and
    /// [`PersistedState::last_success`] is updated.
    pub fn record_success(&mut self, at: Timestamp) {
        self.failures = 0;
        self.last_failure = None;
        self.state.last_success = Some(at);
    }

    /// Whether the effective rule is defined by the wall clock (daily times and windows), so
    /// that it waits until the clock is declared valid. Relative rules do not.
    pub fn needs_wall_clock(&self) -> bool {
        self.regular.iter().any(|(_, rule)| rule.needs_wall_clock())
    }

    /// An iterator over the polls after `from`, each strictly after the previous one; it
    /// ends only when [`next_after`](Schedule::next_after) returns `None`, so bound it with
    /// `take`.
    pub fn polls(&mut self, from: Timestamp, clock_valid: bool) -> Polls<'_> {
        Polls {
            schedule: self,
            cursor: from,
            clock_valid,
        }
    }

    /// The effective rule and the setting it came from; `None` when no timed polls run. When
    /// several rules combine (Yealink), the first; see [`rules`](Schedule::rules).
    pub fn rule(&self) -> Option<(Source, Rule)> {
        self.regular.first().copied()
    }

    /// Every regular rule in effect, each with the setting it came from: the next poll is the
    /// earliest of theirs. Empty when no timed polls run.
    pub fn rules(&self) -> &[(Source, Rule)] {
        &self.regular
    }

    /// What happens after a failed poll; `None` when failures are not retried by the
    /// schedule.
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.retry
    }

    /// When the schedule was armed (start-up or the setting change); relative rules count
    /// from it.
    pub fn armed_at(&self) -> Timestamp {
        self.armed_at
    }

    /// The time zone of every wall-clock time.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The state to persist, including a `changed_at` recorded by the schedule itself.
    pub fn persisted(&self) -> &PersistedState {
        &self.state
    }

    /// Failed polls in a row since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// The effective rule in words, for logs and status output.
    pub fn describe(&self) -> String {
        let zone = self.tz.iana_name().unwrap_or("the configured time zone");
        let mut out = String::new();
        if self.regular.is_empty() {
            out.push_str(match self.vendor {
                Some(Vendor::Snom) => {
                    "Snom: no timed polls (prov polling off and settings_refresh_timer 0)"
                }
                Some(Vendor::Panasonic) => {
                    "Panasonic: no timed polls (CFG_CYCLIC off, CFG_RESYNC_TIME not set)"
                }
                Some(Vendor::Yealink) => {
                    "Yealink: no timed polls (repeat, weekly and flexible auto provisioning off)"
                }
                Some(Vendor::Polycom) => "Polycom: no timed polls (prov.polling.enabled 0)",
                Some(Vendor::Cisco) => {
                    "Cisco: no timed polls (Resync_Periodic 0 and Resync_At (HHmm) not set)"
                }
                Some(Vendor::Grandstream) => {
                    "Grandstream: no timed polls (automatic upgrade P22296/P194 = 0, No)"
                }
                None => "no timed polls",
            });
        }
        for (i, &(source, rule)) in self.regular.iter().enumerate() {
            if i > 0 {
                out.push_str("; and ");
            }
            {
                let _ = match (source, rule) {
                    (Source::SnomRel, Rule::Every { every_secs }) => write!(
                        out,
                        "Snom relative polling: every {every_secs} s, counted from start-up"
                    ),
                    (Source::SnomSettingsRefresh, Rule::Every { every_secs }) => write!(
                        out,
                        "Snom settings_refresh_timer (prov polling off): every {every_secs} s, \
                         counted from start-up"
                    ),
                    (Source::PanasonicCyclic, Rule::Every { every_secs }) => write!(
                        out,
                        "Panasonic cyclic resync: every {} min, counted from start-up",
                        every_secs / 60
                    ),
                    (_, Rule::Every { every_secs }) => {
                        write!(
                            out,
                            "{}: every {every_secs} s, counted from start-up",
                            source.as_str()
                        )
                    }
                    (_, Rule::RandomEvery { max_secs }) => write!(
                        out,
                        "Snom random polling: at random intervals drawn from 0-{max_secs} s \
                         (at least 1 s), chained from start-up"
                    ),
                    (Source::PanasonicResyncTime, Rule::DailyAt { at }) => write!(
                        out,
                        "Panasonic CFG_RESYNC_TIME: every day at {at} ({zone}); CFG_CYCLIC, \
                         CFG_CYCLIC_INTVL and CFG_RTRY_INTVL are disabled"
                    ),
                    (_, Rule::Steps { steps }) => write!(
                        out,
                        "Cisco Resync_Periodic: intervals of {steps} (the last repeats), chained \
                         from start-up"
                    ),
                    (_, Rule::PhasedEvery { every_secs }) => write!(
                        out,
                        "Polycom random polling: the first poll at a random time within \
                         {every_secs} s of start-up, then every {every_secs} s"
                    ),
                    (
                        _,
                        Rule::MacDaysWindow {
                            every_days,
                            start,
                            end,
                        },
                    ) => {
                        let when = if start == end {
                            format!("at {start}")
                        } else {
                            format!("at a random time between {start} and {end}")
                        };
                        if every_days == 1 {
                            write!(out, "{}: every day {when} ({zone})", source.as_str())
                        } else {
                            write!(
                                out,
                                "{}: one day in every {every_days}, the day derived from the \
                                 MAC address, {when} ({zone})",
                                source.as_str()
                            )
                        }
                    }
                    (
                        _,
                        Rule::Weekly {
                            days,
                            every_weeks,
                            start,
                            end,
                        },
                    ) => {
                        let when = if start == end {
                            format!("at {start}")
                        } else {
                            format!("at a random time between {start} and {end}")
                        };
                        let names = super::rule::day_names(days);
                        if every_weeks == 0 {
                            write!(out, "{}: every {names} {when} ({zone})", source.as_str())
                        } else {
                            write!(
                                out,
                                "{}: one of {names}, drawn from the MAC address, in one week \
                                 of every {every_weeks}, {when} ({zone})",
                                source.as_str()
                            )
                        }
                    }
                    (_, Rule::DailyAt { at }) => {
                        write!(out, "Snom absolute polling: every day at {at} ({zone})")
                    }
                    (
                        _,
                        Rule::DaysWindow {
                            every_days,
                            start,
                            end,
                        },
                    ) => {
                        let first = match self.state.changed_at {
                            Some(changed) => {
                                let day = slots::first_window_day(&self.tz, changed);
                                super::calendar::date_of(day)
                                    .map_or_else(String::new, |d| format!("{d}, "))
                            }
                            None => String::new(),
                        };
                        write!(
                            out,
                            "Snom random polling: every {every_days} day(s) starting {first}the \
                             day after the setting changed, at a random time between {start} \
                             and {end} ({zone})"
                        )
                    }
                };
            }
        }
        if self.needs_wall_clock() {
            out.push_str("; waits for a valid wall clock, missed slots are not fired");
        }
        let _ = match self.retry {
            None => Ok(()),
            Some(RetryPolicy::NextRegular) => {
                write!(out, "; after a failure the next regular poll is the retry")
            }
            Some(RetryPolicy::Fixed { after_secs }) => write!(
                out,
                "; after a failure retry in {} min instead, again after every failure",
                after_secs / 60
            ),
            Some(RetryPolicy::Steps { steps }) => write!(
                out,
                "; after failure n retry after element n of {steps} (the last repeats) \
                 instead, again after every failure"
            ),
            Some(RetryPolicy::Backoff {
                initial_secs,
                max_secs,
            }) => write!(
                out,
                "; after a failure retry in {} min, doubling up to {} min, never later than \
                 the next regular poll, until a poll succeeds",
                initial_secs / 60,
                max_secs / 60
            ),
        };
        out
    }

    fn regular_after(&mut self, now: Timestamp) -> Option<Poll> {
        let mut best: Option<Poll> = None;
        for i in 0..self.regular.len() {
            let (source, rule) = self.regular[i];
            let Some(at) = self.rule_after(i, rule, now) else {
                continue;
            };
            if best.is_none_or(|b| at < b.at) {
                best = Some(Poll {
                    at,
                    rule: RuleLabel::Regular { source, rule },
                });
            }
        }
        best
    }

    fn rule_after(&mut self, i: usize, rule: Rule, now: Timestamp) -> Option<Timestamp> {
        match rule {
            Rule::Every { every_secs } => slots::every_after(self.armed_at, every_secs, now),
            Rule::RandomEvery { .. } | Rule::Steps { .. } => self.chains[i].as_mut()?.after(now),
            Rule::DailyAt { at } => slots::daily_after(&self.tz, at, now),
            Rule::DaysWindow {
                every_days,
                start,
                end,
            } => {
                let changed = *self.state.changed_at.get_or_insert(now);
                let first = slots::first_window_day(&self.tz, changed);
                slots::days_window_after(&self.tz, self.seed, first, every_days, start, end, now)
            }
            Rule::PhasedEvery { every_secs } => {
                slots::phased_every_after(self.armed_at, self.seed, every_secs, now)
            }
            Rule::MacDaysWindow {
                every_days,
                start,
                end,
            } => slots::mac_days_after(&self.tz, self.seed, every_days, start, end, now),
            Rule::Weekly {
                days,
                every_weeks,
                start,
                end,
            } => slots::weekly_after(&self.tz, self.seed, days, every_weeks, start, end, now),
        }
    }
}

/// Iterator over consecutive polls; see [`Schedule::polls`].
#[derive(Debug)]
pub struct Polls<'a> {
    schedule: &'a mut Schedule,
    cursor: Timestamp,
    clock_valid: bool,
}

impl Iterator for Polls<'_> {
    type Item = Poll;

    fn next(&mut self) -> Option<Poll> {
        let poll = self.schedule.next_after(self.cursor, self.clock_valid)?;
        self.cursor = poll.at;
        Some(poll)
    }
}

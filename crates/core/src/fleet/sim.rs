//! One phone's timeline as the agent lives it, and a fleet of them folded into fetches per
//! second.
//!
//! [`phone`] replays the provisioning engine's loop (src/engine/mod.rs, `Engine::run`) on a
//! simulated clock: the start-up trigger, the schedule's next poll, the clock becoming valid,
//! NOTIFYs, and the runs the admission lets start. Every instant comes from the schedule
//! module ([`Schedule::next_after`]) and from [`PhonePlan`]; nothing here computes a poll.

use std::time::Instant;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::phone::{PhonePlan, Trigger};
use crate::config::ProvisioningSettings;
use crate::schedule::{
    seed_from_mac, PersistedState, Rule, Schedule, ScheduleSettings, ScheduleWarning,
};

/// Everything every phone of one configuration shares.
#[derive(Debug)]
pub(super) struct Setup<'a> {
    pub(super) schedule: &'a ScheduleSettings,
    pub(super) prov: &'a ProvisioningSettings,
    pub(super) zone: &'a TimeZone,
    /// Start-up: the schedule is armed, the settings count as changed, and (with
    /// `startup_fetch`) the start-up run is triggered.
    pub(super) from: Timestamp,
    /// End of the window, excluded.
    pub(super) end: Timestamp,
    pub(super) startup_fetch: bool,
    /// When the phone's wall clock becomes valid (at or after `from`).
    pub(super) clock_valid_at: Timestamp,
    /// NOTIFY instants, sorted, within `from..end`.
    pub(super) notify_at: &'a [Timestamp],
}

impl Setup<'_> {
    fn arm(&self, seed: u64) -> (Schedule, Vec<ScheduleWarning>) {
        let state = PersistedState {
            changed_at: Some(self.from),
            last_success: None,
        };
        Schedule::new(self.schedule, self.zone.clone(), state, seed, self.from)
    }

    /// The schedule's warnings and its rule in words (the same for every phone).
    pub(super) fn describe(&self) -> (String, Vec<ScheduleWarning>) {
        let (schedule, warnings) = self.arm(0);
        (schedule.describe(), warnings)
    }

    /// Whether every phone lives the same timeline whatever its MAC: no random schedule
    /// rule, and no random delay drawn (none configured, or nothing that draws one).
    fn seed_free(&self) -> bool {
        let (schedule, _) = self.arm(0);
        // Every rule counts: Yealink's modes combine.
        let rule_free = schedule
            .rules()
            .iter()
            .all(|(_, rule)| matches!(rule, Rule::Every { .. } | Rule::DailyAt { .. }));
        let draws = self.startup_fetch || !self.notify_at.is_empty();
        rule_free && (self.prov.random_delay.is_zero() || !draws)
    }
}

/// Replays one phone seeded with `seed`, calling `fetch` with the start of each run in
/// `from..end`, in order. `origin` stands for `from` on the admission gate's clock.
/// Stops early, returning `false`, when `budget` runs have been simulated.
pub(super) fn phone(
    setup: &Setup<'_>,
    seed: u64,
    origin: Instant,
    budget: &mut u64,
    mut fetch: impl FnMut(Timestamp),
) -> bool {
    let (mut schedule, _) = setup.arm(seed);
    let mut admission = PhonePlan::new(setup.prov, seed, setup.from, origin);
    let mut valid = setup.clock_valid_at <= setup.from;
    let mut notifies = setup.notify_at.iter().copied().peekable();
    let mut now = setup.from;
    if setup.startup_fetch {
        admission.trigger(now, Trigger::Startup);
    }
    let mut next_due = schedule.next_after(now, valid).map(|p| p.at);
    loop {
        while notifies.next_if(|&at| at <= now).is_some() {
            admission.trigger(now, Trigger::Notify);
        }
        if !valid && setup.clock_valid_at <= now {
            valid = true;
            next_due = schedule.next_after(now, valid).map(|p| p.at);
        }
        if let Some(at) = next_due.filter(|&at| at <= now) {
            admission.trigger(now, Trigger::Poll);
            next_due = schedule.next_after(at, valid).map(|p| p.at);
        }
        if admission.start(now) {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            fetch(now);
            schedule.record_success(now);
            next_due = schedule.next_after(now, valid).map(|p| p.at);
            continue;
        }
        let clock = (!valid).then_some(setup.clock_valid_at);
        let wake = [admission.due(), next_due, notifies.peek().copied(), clock]
            .into_iter()
            .flatten()
            .min();
        match wake {
            Some(at) if at < setup.end => now = at.max(now),
            _ => return true,
        }
    }
}

/// The MAC address `index` places after `base` (48-bit, wrapping).
pub(super) fn mac_at(base: [u8; 6], index: u32) -> [u8; 6] {
    let mut wide = [0u8; 8];
    wide[2..].copy_from_slice(&base);
    let value = u64::from_be_bytes(wide).wrapping_add(u64::from(index)) & 0xFFFF_FFFF_FFFF;
    let bytes = value.to_be_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[2..]);
    mac
}

/// Adds the runs of `phones` phones, MACs counted up from `mac_base`, to `per_second`
/// (one slot per second from `from`). Phones whose timelines cannot differ are replayed once
/// and counted `phones` times. Each simulated run takes one from `budget`; returns `false`
/// when it runs out.
pub(super) fn fleet(
    setup: &Setup<'_>,
    phones: u32,
    mac_base: [u8; 6],
    budget: &mut u64,
    per_second: &mut [u32],
) -> bool {
    let origin = Instant::now();
    let from = setup.from;
    let slot = |at: Timestamp| -> Option<usize> {
        let secs = at.duration_since(from).as_secs();
        usize::try_from(secs).ok()
    };
    if setup.seed_free() {
        let seed = seed_from_mac(mac_base);
        return phone(setup, seed, origin, budget, |at| {
            if let Some(s) = slot(at).and_then(|i| per_second.get_mut(i)) {
                *s = s.saturating_add(phones);
            }
        });
    }
    let available = *budget;
    (0..phones).all(|index| {
        let seed = seed_from_mac(mac_at(mac_base, index));
        let done = phone(setup, seed, origin, budget, |at| {
            if let Some(s) = slot(at).and_then(|i| per_second.get_mut(i)) {
                *s = s.saturating_add(1);
            }
        });
        // Refuse at once what the first phone shows would not fit, rather than after
        // spending the whole budget.
        let projected = (available - *budget).saturating_mul(u64::from(phones));
        done && (index > 0 || projected <= available)
    })
}

/// `from` plus `secs` seconds, saturating.
pub(super) fn plus_secs(from: Timestamp, secs: i64) -> Timestamp {
    from.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{SnomMode, SnomPolling};
    use std::time::Duration;

    fn setup<'a>(
        schedule: &'a ScheduleSettings,
        prov: &'a ProvisioningSettings,
        zone: &'a TimeZone,
        notify_at: &'a [Timestamp],
    ) -> Setup<'a> {
        let from: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
        Setup {
            schedule,
            prov,
            zone,
            from,
            end: plus_secs(from, 48 * 3600),
            startup_fetch: true,
            clock_valid_at: from,
            notify_at,
        }
    }

    fn runs(setup: &Setup<'_>, seed: u64) -> Vec<i64> {
        let mut out = Vec::new();
        let done = phone(setup, seed, Instant::now(), &mut u64::MAX.clone(), |at| {
            out.push(at.duration_since(setup.from).as_secs())
        });
        assert!(done);
        out
    }

    #[test]
    fn relative_polls_run_on_their_schedule_without_drawing_from_the_run_budget() {
        let schedule = ScheduleSettings::Snom(SnomPolling {
            enabled: true,
            mode: SnomMode::Rel,
            period_secs: 20,
            time: None,
            time_rand_end: None,
            settings_refresh_timer_secs: 0,
        });
        let prov = ProvisioningSettings::default();
        let zone = TimeZone::UTC;
        let s = setup(&schedule, &prov, &zone, &[]);
        let got = runs(&s, 1);
        // Start-up at 0, then a poll every 20 s: timed polls are paced by the schedule and do
        // not draw from the run budget.
        assert_eq!(&got[..4], &[0, 20, 40, 60]);
        assert_eq!(got.len(), 48 * 3600 / 20);
    }

    #[test]
    fn a_notify_during_a_pending_run_joins_it() {
        let schedule = ScheduleSettings::Off;
        let prov = ProvisioningSettings {
            random_delay: Duration::from_secs(600),
            ..ProvisioningSettings::default()
        };
        let zone = TimeZone::UTC;
        let notify = [plus_secs("2026-03-10T00:00:00Z".parse().unwrap(), 1)];
        let s = setup(&schedule, &prov, &zone, &notify);
        let got = runs(&s, 7);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0] <= 600);
    }

    #[test]
    fn shared_timelines_equal_phone_by_phone_replay() {
        let schedule = ScheduleSettings::Snom(SnomPolling {
            enabled: true,
            mode: SnomMode::Abs,
            period_secs: 0,
            time: Some("02:30".parse().unwrap()),
            time_rand_end: None,
            settings_refresh_timer_secs: 0,
        });
        let prov = ProvisioningSettings::default();
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let s = setup(&schedule, &prov, &zone, &[]);
        assert!(s.seed_free());
        let mut shared = vec![0u32; 48 * 3600];
        assert!(fleet(
            &s,
            50,
            [2, 0, 0, 0, 0, 0],
            &mut u64::MAX.clone(),
            &mut shared
        ));
        let mut each = vec![0u32; 48 * 3600];
        for i in 0..50 {
            let seed = seed_from_mac(mac_at([2, 0, 0, 0, 0, 0], i));
            phone(&s, seed, Instant::now(), &mut u64::MAX.clone(), |at| {
                each[at.duration_since(s.from).as_secs() as usize] += 1
            });
        }
        assert_eq!(shared, each);
        assert_eq!(shared.iter().sum::<u32>(), 150);
    }

    #[test]
    fn the_budget_stops_a_preview_too_large_to_compute() {
        let schedule = ScheduleSettings::Off;
        let prov = ProvisioningSettings {
            random_delay: Duration::from_secs(60),
            ..ProvisioningSettings::default()
        };
        let zone = TimeZone::UTC;
        let s = setup(&schedule, &prov, &zone, &[]);
        let mut per_second = vec![0u32; 48 * 3600];
        // One start-up run per phone: 10 phones fit a budget of 10, not of 9.
        assert!(fleet(&s, 10, [2, 0, 0, 0, 0, 0], &mut 10, &mut per_second));
        assert!(!fleet(&s, 10, [2, 0, 0, 0, 0, 0], &mut 9, &mut per_second));
        // Refused after the first phone: one run, projected to 10.
        let mut budget = 9;
        assert!(!fleet(
            &s,
            10,
            [2, 0, 0, 0, 0, 0],
            &mut budget,
            &mut per_second
        ));
        assert_eq!(budget, 8);
    }

    #[test]
    fn macs_count_up_across_bytes() {
        assert_eq!(mac_at([0, 0, 0, 0, 0, 0xff], 1), [0, 0, 0, 0, 1, 0]);
        assert_eq!(mac_at([0xff; 6], 1), [0; 6]);
    }
}

//! The planner on a virtual clock: days of triggers, polls, failures, retries, settings
//! changes and clock validity, in milliseconds.

use super::*;
use crate::schedule::{LocalTime, PanasonicPolling, SnomMode, SnomPolling};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const H: Duration = Duration::from_secs(3600);

/// 2026-11-21T10:00:00Z
const WALL0: &str = "2026-11-21T10:00:00Z";

fn notify(reboot: Option<bool>) -> Cause {
    Cause::Notify {
        source: "127.0.0.1:5060".parse().unwrap(),
        transport: crate::resync::Transport::Udp,
        event: "check-sync".into(),
        reboot,
    }
}

fn panasonic(
    cyclic_min: Option<u32>,
    retry_min: u32,
    resync_time: Option<&str>,
) -> ScheduleSettings {
    ScheduleSettings::Panasonic(PanasonicPolling {
        cyclic: cyclic_min.is_some(),
        cyclic_interval_min: cyclic_min.unwrap_or(10_080),
        retry_interval_min: retry_min,
        resync_time: resync_time.map(str::to_owned),
    })
}

/// A run as the simulation saw it: when it started (offset from t0), its number and causes.
#[derive(Debug, Clone)]
struct Started {
    at: Duration,
    run: Run,
}

/// A planner on a virtual clock whose runs take `run_time` and end as `outcome` says.
struct Sim {
    planner: Planner,
    t0: Instant,
    wall0: Timestamp,
    /// Offset of the wall clock from `wall0 + elapsed` (a clock step).
    wall_step: SignedDuration,
    now: Duration,
    run_time: Duration,
    /// A run in flight and when it ends.
    in_flight: Option<Duration>,
    started: Vec<Started>,
    outcome: Box<dyn FnMut(&Run) -> Finished>,
}

impl Sim {
    fn new(schedule: &ScheduleSettings, clock: ClockValidity, admission: RunBudget) -> Sim {
        Sim::with(schedule, clock, admission, Duration::ZERO, WALL0)
    }

    fn with(
        schedule: &ScheduleSettings,
        clock: ClockValidity,
        admission: RunBudget,
        random_delay: Duration,
        wall0: &str,
    ) -> Sim {
        let t0 = Instant::now();
        let wall0: Timestamp = wall0.parse().unwrap();
        let (planner, warnings) = Planner::new(
            Now {
                mono: t0,
                wall: wall0,
            },
            schedule,
            TimeZone::UTC,
            PersistedState::default(),
            PlannerOptions {
                run_budget: admission,
                random_delay,
                seed: 7,
                clock,
                busy_max_wait: Duration::from_secs(7_200),
            },
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        Sim {
            planner,
            t0,
            wall0,
            wall_step: SignedDuration::ZERO,
            now: Duration::ZERO,
            run_time: 50 * MS,
            in_flight: None,
            started: Vec::new(),
            outcome: Box::new(|_| Finished::Success),
        }
    }

    fn at(&self, offset: Duration) -> Now {
        Now {
            mono: self.t0 + offset,
            wall: self
                .wall0
                .checked_add(SignedDuration::try_from(offset).unwrap() + self.wall_step)
                .unwrap(),
        }
    }

    fn now(&self) -> Now {
        self.at(self.now)
    }

    /// Runs the driver's loop up to `until`: wakes at every poll_timeout and run end, as the
    /// tokio task would, never in between.
    fn advance(&mut self, until: Duration) {
        loop {
            let wake = self
                .planner
                .poll_timeout()
                .map(|at| at.saturating_duration_since(self.t0));
            let next = [wake, self.in_flight]
                .into_iter()
                .flatten()
                .filter(|t| *t <= until)
                .min();
            let Some(next) = next else { break };
            self.now = next.max(self.now);
            if self.in_flight == Some(self.now) {
                self.in_flight = None;
                let run = self.started.last().unwrap().run.clone();
                let finished = (self.outcome)(&run);
                self.planner.run_finished(self.now(), finished);
            }
            self.poll();
        }
        self.now = until.max(self.now);
    }

    /// What the driver does after each wake-up or trigger.
    fn poll(&mut self) {
        if let Some(run) = self.planner.handle_timeout(self.now()) {
            assert!(self.in_flight.is_none(), "two runs in flight");
            self.in_flight = Some(self.now + self.run_time);
            self.started.push(Started { at: self.now, run });
        }
    }

    fn trigger(&mut self, at: Duration, cause: Cause) {
        self.advance(at);
        self.planner.trigger(self.now(), cause);
        self.poll();
    }

    fn starts(&self) -> Vec<Duration> {
        self.started.iter().map(|s| s.at).collect()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.started
            .iter()
            .map(|s| s.run.causes.first.kind())
            .collect()
    }
}

#[test]
fn a_check_sync_in_a_quiet_spell_starts_at_once_after_start_up_and_after_a_timed_poll() {
    let mut sim = Sim::new(
        &panasonic(Some(60), 30, None),
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.trigger(Duration::ZERO, Cause::Startup);
    sim.trigger(2 * S, notify(None));
    // The cyclic poll at 60 min, then a NOTIFY 100 ms after it ended.
    sim.advance(60 * MIN + 50 * MS);
    sim.trigger(60 * MIN + 150 * MS, notify(None));
    sim.advance(61 * MIN);
    assert_eq!(
        sim.starts(),
        [Duration::ZERO, 2 * S, 60 * MIN, 60 * MIN + 150 * MS]
    );
    assert_eq!(sim.kinds(), ["startup", "notify", "schedule", "notify"]);
}

#[test]
fn an_administrators_three_check_syncs_are_each_fetched_at_once_and_a_fourth_waits() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.trigger(Duration::ZERO, Cause::Startup);
    for t in [5 * S, 8 * S, 11 * S, 14 * S] {
        sim.trigger(t, notify(None));
    }
    sim.advance(H);
    // The budget of 3 started filling again at 5 s: the fourth waits for 25 s.
    assert_eq!(sim.starts(), [Duration::ZERO, 5 * S, 8 * S, 11 * S, 25 * S]);
}

#[test]
fn a_ten_second_flood_gives_at_most_four_runs_the_last_after_the_flood() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.run_time = 3 * MS;
    sim.trigger(Duration::ZERO, Cause::Startup);
    sim.advance(5 * S);
    let first = 5 * S;
    let mut last = first;
    // One NOTIFY every 100 µs for 10 s: 100,000 triggers.
    for i in 0..100_000u32 {
        last = first + Duration::from_micros(u64::from(i) * 100);
        sim.trigger(last, notify(None));
    }
    sim.advance(last + H);
    let flood: Vec<Duration> = sim.starts().into_iter().skip(1).collect();
    assert!(flood.len() <= 4, "{flood:?}");
    assert_eq!(flood[0], first, "the first NOTIFY starts a run at once");
    assert!(*flood.last().unwrap() > last, "{flood:?} vs {last:?}");
    let carried: u64 = sim.started.iter().skip(1).map(|s| s.run.causes.count).sum();
    assert_eq!(carried, 100_000, "every trigger is answered by a run");
    assert!(sim.planner.pending().is_none());
}

#[test]
fn triggers_during_a_run_give_exactly_one_follow_up() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.run_time = 2 * S;
    sim.trigger(Duration::ZERO, notify(None));
    sim.trigger(500 * MS, notify(Some(true)));
    sim.trigger(600 * MS, notify(None));
    sim.trigger(1900 * MS, notify(Some(false)));
    sim.advance(H);
    assert_eq!(sim.starts(), [Duration::ZERO, 2 * S]);
    let follow_up = &sim.started[1].run.causes;
    assert_eq!(follow_up.count, 3);
    assert_eq!(follow_up.reboot_wish, Some(true));
    // A single trigger during a run: one follow-up too, never none.
    sim.trigger(H + S, notify(None));
    sim.trigger(H + 2 * S, Cause::Manual { reason: "x".into() });
    sim.advance(2 * H);
    assert_eq!(sim.starts(), [Duration::ZERO, 2 * S, H + S, H + 3 * S]);
}

#[test]
fn start_up_polls_and_retries_do_not_draw_from_the_budget_and_release_a_waiting_trigger() {
    let mut sim = Sim::new(
        &panasonic(Some(1), 30, None),
        ClockValidity::Valid,
        RunBudget::new(1, H),
    );
    sim.trigger(Duration::ZERO, Cause::Startup);
    sim.trigger(10 * S, notify(None)); // takes the only token
    sim.trigger(20 * S, notify(None)); // waits: no token until 1 h
    assert_eq!(sim.planner.pending().map(|c| c.count), Some(1));
    // The cyclic poll at 60 s does not wait for the budget and answers the waiting NOTIFY.
    sim.advance(61 * S);
    assert_eq!(sim.starts(), [Duration::ZERO, 10 * S, 60 * S]);
    assert_eq!(sim.started[2].run.causes.count, 2);
    assert!(sim.planner.pending().is_none());
}

#[test]
fn a_zero_refill_admits_every_run_and_still_coalesces() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::new(1, Duration::ZERO),
    );
    sim.run_time = 10 * MS;
    for i in 0..100u32 {
        sim.trigger(i * MS, notify(None));
    }
    sim.advance(S);
    // One run per 10 ms: each follow-up covers the triggers during its predecessor.
    let expect: Vec<Duration> = (0..=10).map(|i| i * 10 * MS).collect();
    assert_eq!(sim.starts(), expect);
}

#[test]
fn the_spread_delay_holds_the_first_trigger_and_is_deterministic() {
    let run = || {
        let mut sim = Sim::with(
            &ScheduleSettings::Off,
            ClockValidity::Valid,
            RunBudget::default(),
            30 * S,
            WALL0,
        );
        let now = sim.now();
        sim.planner.trigger(now, Cause::Startup);
        sim.planner.trigger(now, notify(Some(true)));
        sim.advance(H);
        sim.started.clone()
    };
    let first = run();
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].at <= 30 * S);
    assert_eq!(first[0].run.causes.count, 2);
    assert_eq!(first[0].run.causes.reboot_wish, Some(true));
    assert_eq!(first[0].at, run()[0].at, "the same seed, the same delay");
}

#[test]
fn three_days_of_panasonic_cyclic_polls_with_failures_and_retries() {
    let mut sim = Sim::new(
        &panasonic(Some(60), 7, None),
        ClockValidity::Valid,
        RunBudget::default(),
    );
    // Polls fail from 1 h to 3 h after start, succeed otherwise.
    let failing = std::rc::Rc::new(std::cell::Cell::new(false));
    let f = failing.clone();
    sim.outcome = Box::new(move |_| {
        if f.get() {
            Finished::Failure { retry_after: None }
        } else {
            Finished::Success
        }
    });
    sim.advance(H - S);
    failing.set(true);
    sim.advance(3 * H - S);
    failing.set(false);
    sim.advance(72 * H);
    let starts = sim.starts();
    // 60 min cyclic; after the failure at 1 h, a retry 7 min after each failure replaces the
    // cyclic polls until one succeeds (the 18th, at 3:06), then cyclic again, counted from
    // start-up.
    assert_eq!(starts[0], H);
    let retries = &starts[1..=18];
    assert_eq!(retries[0], H + 7 * MIN + 50 * MS);
    for pair in retries.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            7 * MIN + 50 * MS,
            "7 min after the failure ended"
        );
    }
    assert!(sim.kinds()[1..=18].iter().all(|k| *k == "retry"));
    let after = &starts[19..];
    assert_eq!(after[0], 4 * H);
    assert!(after.windows(2).all(|w| w[1] - w[0] == H));
    assert_eq!(after.len(), 69);
    assert!(sim.kinds()[19..].iter().all(|k| *k == "schedule"));
    assert_eq!(*starts.last().unwrap(), 72 * H);
}

#[test]
fn without_a_schedule_failures_back_off_as_snom_does_and_honour_retry_after() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.run_time = Duration::ZERO;
    let calls = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let c = calls.clone();
    sim.outcome = Box::new(move |_| {
        c.set(c.get() + 1);
        match c.get() {
            1..=6 => Finished::Failure { retry_after: None },
            7 => Finished::Failure {
                retry_after: Some(3 * H),
            },
            _ => Finished::Success,
        }
    });
    sim.trigger(Duration::ZERO, Cause::Startup);
    sim.advance(48 * H);
    let starts = sim.starts();
    let gaps: Vec<u64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs() / 60)
        .collect();
    // 5, 10, 20, 40 min, then 1 h; the 7th failure asked for 3 h; then nothing is planned.
    assert_eq!(gaps, [5, 10, 20, 40, 60, 60, 180]);
    assert_eq!(sim.kinds()[1..], ["retry"; 7]);
    assert_eq!(sim.planner.next_poll(), None);
    assert_eq!(
        sim.planner.poll_timeout(),
        None,
        "idle: only a trigger brings work"
    );
}

#[test]
fn a_daily_time_waits_for_a_valid_clock_then_polls_every_day() {
    let mut sim = Sim::new(
        &panasonic(Some(60), 30, Some("03:00")),
        ClockValidity::NotYet,
        RunBudget::default(),
    );
    sim.advance(48 * H);
    assert!(
        sim.starts().is_empty(),
        "no daily poll before the clock is valid"
    );
    assert_eq!(sim.planner.next_poll(), None);
    // NTP at 10:00 on day 3; polls at 03:00 on days 4, 5, 6.
    let now = sim.now();
    sim.planner.set_clock_valid(now, true);
    sim.advance(48 * H + 3 * 24 * H);
    let days: Vec<Timestamp> = sim.starts().iter().map(|t| sim.at(*t).wall).collect();
    let expect: Vec<Timestamp> = [
        "2026-11-24T03:00:00Z",
        "2026-11-25T03:00:00Z",
        "2026-11-26T03:00:00Z",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(days, expect);
    assert_eq!(sim.kinds(), ["schedule"; 3]);
}

#[test]
fn a_system_clock_judged_valid_once_it_reads_2025_and_a_step_does_not_move_relative_polls() {
    // The wall clock starts in 1970 (no RTC), and NTP steps it to 2026 after 90 min.
    let mut sim = Sim::with(
        &ScheduleSettings::Snom(SnomPolling {
            enabled: true,
            mode: SnomMode::Abs,
            period_secs: 86_400,
            time: Some(LocalTime::new(12, 0).unwrap()),
            time_rand_end: None,
            settings_refresh_timer_secs: 0,
        }),
        ClockValidity::FromSystem,
        RunBudget::default(),
        Duration::ZERO,
        "1970-01-01T00:00:00Z",
    );
    sim.advance(90 * MIN);
    assert!(sim.starts().is_empty());
    assert!(!sim.planner.clock_valid());
    // The planner looks at the wall clock at least every MAX_SLEEP while it waits.
    let wake = sim.planner.poll_timeout().unwrap();
    assert!(wake <= sim.t0 + 90 * MIN + MAX_SLEEP);
    // Step: 1970-01-01T01:30 becomes 2026-11-21T10:00.
    sim.wall_step = "2026-11-21T08:30:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .duration_since("1970-01-01T00:00:00Z".parse().unwrap());
    sim.advance(90 * MIN + 30 * H);
    assert!(sim.planner.clock_valid());
    let walls: Vec<String> = sim
        .starts()
        .iter()
        .map(|t| sim.at(*t).wall.to_string())
        .collect();
    assert_eq!(walls, ["2026-11-21T12:00:00Z", "2026-11-22T12:00:00Z"]);

    // Relative rules run on monotonic time: a wall-clock step moves nothing.
    let mut rel = Sim::new(
        &panasonic(Some(60), 30, None),
        ClockValidity::Valid,
        RunBudget::default(),
    );
    rel.advance(30 * MIN);
    rel.wall_step = SignedDuration::from_hours(-5);
    rel.advance(3 * H);
    assert_eq!(rel.starts(), [H, 2 * H, 3 * H]);
}

#[test]
fn a_settings_change_rearms_the_schedule_from_its_instant() {
    let mut sim = Sim::new(
        &panasonic(Some(60), 30, None),
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.advance(90 * MIN);
    assert_eq!(sim.starts(), [H]);
    let now = sim.now();
    let warnings = sim.planner.rearm(
        now,
        &panasonic(Some(90), 30, None),
        TimeZone::UTC,
        PersistedState::default(),
    );
    assert!(warnings.is_empty());
    assert!(
        sim.planner.describe().contains("every 90 min"),
        "{}",
        sim.planner.describe()
    );
    sim.advance(6 * H);
    assert_eq!(
        sim.starts(),
        [H, 3 * H, 4 * H + 30 * MIN, 6 * H],
        "relative polls count from the change"
    );
    // Polling turned off: nothing more is planned, and the planner sleeps until a trigger.
    let now = sim.now();
    sim.planner.rearm(
        now,
        &ScheduleSettings::Off,
        TimeZone::UTC,
        PersistedState::default(),
    );
    assert_eq!(sim.planner.poll_timeout(), None);
    sim.advance(72 * H);
    assert_eq!(sim.starts().len(), 4);
}

impl Sim {
    fn busy(&mut self, at: Duration, busy: bool) {
        self.advance(at);
        self.planner.set_busy(self.now(), busy);
        self.poll();
    }
}

#[test]
fn a_check_sync_during_a_call_waits_until_the_call_ends() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.busy(10 * S, true);
    sim.trigger(20 * S, notify(Some(true)));
    // Two more while the call goes on: they join the waiting run.
    sim.trigger(5 * MIN, notify(None));
    sim.trigger(
        30 * MIN,
        Cause::Manual {
            reason: "menu".into(),
        },
    );
    sim.advance(45 * MIN);
    assert!(sim.starts().is_empty(), "nothing during the call");
    assert_eq!(sim.planner.pending().map(|c| c.count), Some(3));
    sim.busy(45 * MIN, false);
    sim.advance(46 * MIN);
    assert_eq!(sim.starts(), [45 * MIN]);
    assert_eq!(sim.started[0].run.causes.count, 3);
    // The reboot asked for by the first NOTIFY waited with the run that carries it.
    assert_eq!(sim.started[0].run.causes.reboot_wish, Some(true));
}

#[test]
fn a_call_longer_than_the_bound_lets_the_run_go_at_the_bound() {
    let mut sim = Sim::new(
        &panasonic(Some(60), 30, None),
        ClockValidity::Valid,
        RunBudget::default(),
    );
    // A call from 59 min on; the hourly poll comes due at 60 min and waits 2 h.
    sim.busy(59 * MIN, true);
    sim.advance(3 * H);
    assert_eq!(sim.starts(), [60 * MIN + 2 * H]);
    assert_eq!(sim.kinds(), ["schedule"]);
    // Still in the call: the next poll (an hour after the success) waits again, from when
    // it came due.
    sim.advance(6 * H);
    assert_eq!(sim.starts(), [60 * MIN + 2 * H, 4 * H + 2 * H]);
}

#[test]
fn a_zero_bound_never_holds_a_run_and_idle_phones_are_not_delayed() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.planner.busy_max_wait = Duration::ZERO;
    sim.busy(S, true);
    sim.trigger(2 * S, notify(None));
    assert_eq!(sim.starts(), [2 * S]);
    sim.busy(3 * S, false);
    sim.trigger(10 * S, notify(None));
    assert_eq!(sim.starts(), [2 * S, 10 * S]);
    assert!(!sim.planner.busy());
}

#[test]
fn a_run_under_way_when_the_call_starts_goes_on() {
    let mut sim = Sim::new(
        &ScheduleSettings::Off,
        ClockValidity::Valid,
        RunBudget::default(),
    );
    sim.run_time = 10 * S;
    sim.trigger(S, notify(None));
    sim.busy(2 * S, true);
    // A trigger during the run and the call: the follow-up waits for the call's end.
    sim.trigger(3 * S, notify(None));
    sim.advance(20 * MIN);
    assert_eq!(sim.starts(), [S]);
    sim.busy(20 * MIN, false);
    sim.advance(21 * MIN);
    assert_eq!(sim.starts(), [S, 20 * MIN]);
}

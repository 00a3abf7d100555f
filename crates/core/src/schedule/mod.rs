//! Timed provisioning polls: when the next scheduled fetch is due.
//!
//! This module is sans-IO: it reads no clock, sleeps nowhere and owns no task. Time comes in
//! as `now` (a [`jiff::Timestamp`]) together with whether the wall clock is valid yet, and a
//! [`Poll`] comes out. The daemon's timer driver sleeps towards [`Poll::at`] in bounded steps
//! (so a wall-clock step never shifts an absolute poll) and asks again after each one.
//!
//! ```text
//!   settings (Snom / Panasonic) + zone + persisted state + seed + armed_at
//!                 │ Schedule::new  ──► warnings for ignored or adjusted values
//!        ┌────────▼─────────┐
//!        │     Schedule     │  Rule (Every | RandomEvery | DailyAt | DaysWindow) + RetryPolicy
//!        └────────┬─────────┘
//!   now, clock_valid ─► next_after ─► Poll { at, rule: RuleLabel }
//!   failed_at        ─► retry_after_failure ─► Poll (retry or next regular)
//! ```
//!
//! Vendor rules implemented:
//! - Snom provisioning polling (`prov_polling_enabled`, `prov_polling_mode` `rel|abs|random`,
//!   `prov_polling_period`, `prov_polling_time`, `prov_polling_time_rand_end`) and
//!   `settings_refresh_timer` while prov polling is off.
//! - Panasonic `CFG_CYCLIC`, `CFG_CYCLIC_INTVL`, `CFG_RTRY_INTVL` and `CFG_RESYNC_TIME`
//!   (which, when valid and non-empty, is the only schedule).
//! - Yealink `auto_provision.repeat.*`, `weekly.*` and `flexible.*` (combined: the earliest
//!   poll of the enabled modes), Polycom `prov.polling.*`, Cisco `Resync_Periodic`,
//!   `Resync_At (HHmm)`, `Resync_At_Random_Delay` and `Resync_Error_Retry_Delay`, Grandstream
//!   P22296/P194, P193, P285, P8458, P8459 and P286 (see [`vendors`]).
//!
//! Wall-clock times are local times in one IANA zone. A time that does not exist on a day
//! (spring-forward gap) is shifted forward by the gap's length; a time that occurs twice
//! (fall-back) is polled once, at its first occurrence (RFC 5545, jiff's "compatible").
//!
//! Random draws come from a ChaCha8 stream seeded by the schedule's seed and keyed by slot, so
//! the same seed always gives the same instants, on any platform and after a restart.
//! Every choice the vendors leave open is written down in the item docs here and in the
//! schedule design notes.

mod calendar;
mod draw;
mod effective;
mod error;
mod local_time;
mod rule;
mod settings;
mod slots;
mod timer;
mod vendors;
mod warning;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vendor_tests;

pub use draw::seed_from_mac;
pub use error::ScheduleError;
pub use local_time::LocalTime;
pub use rule::{RetryPolicy, Rule, RuleLabel, Source, Steps, Vendor, MAX_STEPS};
pub use settings::{
    PanasonicPolling, PersistedState, ScheduleSettings, SnomMode, SnomPolling, MAX_PERIOD_SECS,
    PANASONIC_CYCLIC_MAX_MIN, SNOM_RETRY_INITIAL_SECS, SNOM_RETRY_MAX_SECS,
};
pub use timer::{Poll, Polls, Schedule};
pub use vendors::{
    CiscoResync, GrandstreamMode, GrandstreamUpgrade, PolycomMode, PolycomPolling,
    YealinkProvisioning, POLYCOM_DEFAULT_TIME,
};
pub use warning::{ScheduleWarning, WARNING_VALUE_BYTES};

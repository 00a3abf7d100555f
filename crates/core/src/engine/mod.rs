//! The provisioning engine's decisions: when to run, what to fetch, what a run came to.
//!
//! ```text
//!  start-up ─┐
//!  schedule ─┤
//!  retry ────┼─► Planner ─► Run ─► (the agent fetches, validates, applies) ─► Finished ─► Planner
//!  NOTIFY ───┤   (coalesce, admit, spread, schedule, retry; takes `now`)
//!  manual ───┘
//! ```
//!
//! Sans-IO: the [`Planner`] holds the pending triggers, run admission by the run budget
//! ([`RunBudget`]), the spread delay, the schedule and its retries, and clock validity, and
//! is driven with `now`. The agent crate's engine task sleeps until [`Planner::poll_timeout`]
//! or a trigger and performs the runs it starts. [`Outcome`] and [`RunResult`] say what a run
//! came to, and [`RunError`] why a run failed; [`resolve_all`] turns the configured URL templates into the files of one phone.

mod admission;
mod failure;
mod outcome;
mod planner;
mod source;

pub use crate::config::{DEFAULT_RUN_BUDGET, DEFAULT_RUN_BUDGET_REFILL};
pub use admission::RunBudget;
pub use failure::{FetchError, HttpAuthError, RunError};
pub use outcome::{Cause, Causes, FileChange, Outcome, RunResult};
pub use planner::{Finished, Now, Planner, PlannerOptions, Run};
pub use source::{
    resolve_all, resolve_links, Credentials, Location, Source, SourceError, MAX_LINKED_FILES,
    MAX_LINK_DEPTH,
};

/// Whether the wall clock may be used for daily schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockValidity {
    /// Valid once the system clock reads 2025 or later (the daemon's default).
    FromSystem,
    /// Valid from the start.
    Valid,
    /// Not valid until the application says so (after NTP).
    NotYet,
}

//! Vendor settings resolved: the rules in effect, and the period bound every rule shares.

use super::rule::{RetryPolicy, Rule, Source, Vendor};
use super::{ScheduleWarning, MAX_PERIOD_SECS};

/// Settings resolved into the rules in effect (one, except for Yealink's combined modes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    pub vendor: Option<Vendor>,
    pub regular: Vec<(Source, Rule)>,
    pub retry: Option<RetryPolicy>,
}

impl Effective {
    pub(super) const OFF: Effective = Effective {
        vendor: None,
        regular: Vec::new(),
        retry: None,
    };
}

pub(super) fn clamp_period(
    key: &'static str,
    secs: u64,
    warnings: &mut Vec<ScheduleWarning>,
) -> u64 {
    if secs > MAX_PERIOD_SECS {
        warnings.push(ScheduleWarning::new(
            key,
            &secs.to_string(),
            format!("longer than {MAX_PERIOD_SECS} s; {MAX_PERIOD_SECS} s is used"),
        ));
        MAX_PERIOD_SECS
    } else {
        secs
    }
}

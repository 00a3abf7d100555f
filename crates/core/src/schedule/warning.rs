//! Warnings about settings that were ignored or adjusted.

use std::fmt;

use crate::escape::{excerpt, EXCERPT_BYTES};

/// Longest part of a setting's value, in bytes, that a [`ScheduleWarning`] quotes.
pub const WARNING_VALUE_BYTES: usize = EXCERPT_BYTES;

/// A setting that was ignored or adjusted while building a [`Schedule`](super::Schedule).
///
/// Its text names the setting and quotes its value as an escaped excerpt (at most
/// [`WARNING_VALUE_BYTES`] bytes of it, printable ASCII only, `…` when cut), so a value from a
/// downloaded file can be logged as it is:
///
/// ```text
/// CFG_RESYNC_TIME="25:00": hour out of range (00-23); value ignored, the cyclic settings apply
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleWarning {
    key: &'static str,
    value: Option<String>,
    detail: String,
}

impl ScheduleWarning {
    /// A warning about `key` whose raw value was `raw`.
    pub fn new(key: &'static str, raw: &str, detail: impl Into<String>) -> ScheduleWarning {
        ScheduleWarning {
            key,
            value: Some(excerpt(raw.as_bytes())),
            detail: detail.into(),
        }
    }

    /// A warning about `key` that has no value to quote (the setting is missing, or the
    /// warning is about a combination of settings).
    pub fn about(key: &'static str, detail: impl Into<String>) -> ScheduleWarning {
        ScheduleWarning {
            key,
            value: None,
            detail: detail.into(),
        }
    }

    /// The setting's name as the vendor writes it, e.g. `CFG_RESYNC_TIME`.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The escaped, bounded excerpt of the value, when the warning is about a value.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What was wrong and what is done instead.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ScheduleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}=\"{}\": {}", self.key, value, self.detail),
            None => write!(f, "{}: {}", self.key, self.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_escaped_and_truncated() {
        let w = ScheduleWarning::new("CFG_RESYNC_TIME", "a\"b\\c\r\n\u{7f}é", "bad");
        assert_eq!(
            w.to_string(),
            "CFG_RESYNC_TIME=\"a\\\"b\\\\c\\r\\n\\x7f\\xc3\\xa9\": bad"
        );
        let long = "9".repeat(100);
        let w = ScheduleWarning::new("CFG_RESYNC_TIME", &long, "bad");
        let value = w.value().unwrap();
        assert_eq!(value.matches('9').count(), WARNING_VALUE_BYTES);
        assert!(value.ends_with('…'));
    }

    #[test]
    fn warning_without_value() {
        let w = ScheduleWarning::about("prov_polling_time", "missing");
        assert_eq!(w.to_string(), "prov_polling_time: missing");
        assert_eq!(w.value(), None);
    }
}

//! Errors of the schedule layer.

/// Why a schedule setting could not be parsed.
///
/// The offending text is deliberately not part of the error: callers that show it must use an
/// escaped, bounded excerpt (as [`ScheduleWarning`](super::ScheduleWarning) does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A time of day was empty.
    #[error("empty time of day (expected HH:MM)")]
    EmptyTime,
    /// A time of day was not of the form `HH:MM` or `H:MM`.
    #[error("time of day is not HH:MM (24-hour clock, e.g. 09:30)")]
    TimeFormat,
    /// The hour of a time of day was above 23.
    #[error("hour out of range (00-23)")]
    HourOutOfRange,
    /// The minute of a time of day was above 59.
    #[error("minute out of range (00-59)")]
    MinuteOutOfRange,
    /// A Snom polling mode other than `rel`, `abs` or `random`.
    #[error("unknown Snom polling mode (expected rel, abs or random)")]
    SnomMode,
}

//! A wall-clock time of day, `HH:MM`, as the vendors' settings write it.

use std::fmt;
use std::str::FromStr;

use super::ScheduleError;

/// A time of day on a 24-hour wall clock, from `00:00` to `23:59`, without seconds.
///
/// Parsing is strict: the hour has one or two ASCII digits (`9:05` and `09:05` are the same
/// time), the minute exactly two, separated by one `:`. No surrounding whitespace, no seconds,
/// no `am`/`pm`, no sign. `24:00` is rejected. [`Display`](fmt::Display) always writes two-digit
/// `HH:MM`.
///
/// ```text
/// "9:05"  -> 09:05        "09:05" -> 09:05        "23:59" -> 23:59
/// "25:00" -> error        "9am"   -> error        "24:00" -> error
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime {
    hour: u8,
    minute: u8,
}

impl LocalTime {
    /// `00:00`.
    pub const MIDNIGHT: LocalTime = LocalTime { hour: 0, minute: 0 };

    /// A time of day from its hour (0-23) and minute (0-59).
    pub const fn new(hour: u8, minute: u8) -> Result<LocalTime, ScheduleError> {
        if hour > 23 {
            return Err(ScheduleError::HourOutOfRange);
        }
        if minute > 59 {
            return Err(ScheduleError::MinuteOutOfRange);
        }
        Ok(LocalTime { hour, minute })
    }

    /// The hour, 0-23.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0-59.
    pub fn minute(self) -> u8 {
        self.minute
    }

    /// The same time as a `jiff` civil time (seconds and below are zero).
    pub fn to_civil(self) -> jiff::civil::Time {
        // Both fields are range-checked at construction.
        jiff::civil::Time::constant(self.hour as i8, self.minute as i8, 0, 0)
    }
}

fn digits(bytes: &[u8]) -> Option<u8> {
    if bytes.is_empty() || bytes.len() > 2 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u8, |acc, b| acc * 10 + (b - b'0')))
}

impl FromStr for LocalTime {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<LocalTime, ScheduleError> {
        if s.is_empty() {
            return Err(ScheduleError::EmptyTime);
        }
        let (hour, minute) = s.split_once(':').ok_or(ScheduleError::TimeFormat)?;
        if minute.len() != 2 {
            return Err(ScheduleError::TimeFormat);
        }
        let hour = digits(hour.as_bytes()).ok_or(ScheduleError::TimeFormat)?;
        let minute = digits(minute.as_bytes()).ok_or(ScheduleError::TimeFormat)?;
        LocalTime::new(hour, minute)
    }
}

impl TryFrom<String> for LocalTime {
    type Error = ScheduleError;

    fn try_from(s: String) -> Result<LocalTime, ScheduleError> {
        s.parse()
    }
}

impl From<LocalTime> for String {
    fn from(t: LocalTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hh_mm_and_h_mm() {
        assert_eq!("09:00".parse(), LocalTime::new(9, 0));
        assert_eq!("9:00".parse(), LocalTime::new(9, 0));
        assert_eq!("00:00".parse(), Ok(LocalTime::MIDNIGHT));
        assert_eq!("23:59".parse(), LocalTime::new(23, 59));
    }

    #[test]
    fn rejects_everything_else() {
        use ScheduleError::*;
        let cases = [
            ("", EmptyTime),
            ("25:00", HourOutOfRange),
            ("24:00", HourOutOfRange),
            ("12:60", MinuteOutOfRange),
            ("9am", TimeFormat),
            ("09:0", TimeFormat),
            ("009:00", TimeFormat),
            (" 09:00", TimeFormat),
            ("09:00 ", TimeFormat),
            ("09:00:00", TimeFormat),
            ("+9:00", TimeFormat),
            ("09h00", TimeFormat),
            (":00", TimeFormat),
            ("٠٩:٠٠", TimeFormat),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<LocalTime>(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for h in 0..24 {
            for m in 0..60 {
                let t = LocalTime::new(h, m).unwrap();
                assert_eq!(t.to_string().parse(), Ok(t));
            }
        }
    }
}

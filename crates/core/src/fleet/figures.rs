//! From fetches per second to the figures of a report: peaks, the busy hour, hourly rows.

use jiff::Timestamp;

use super::sim::plus_secs;
use super::{BusyHour, HourRow, Peak};

/// Largest value and its first index; `(0, 0)` for an empty slice.
fn peak(values: impl Iterator<Item = u32>) -> (usize, u32) {
    values.enumerate().fold(
        (0, 0),
        |best, (i, v)| if v > best.1 { (i, v) } else { best },
    )
}

/// Sums of consecutive runs of `width` values (the last one may be shorter).
pub(super) fn sums(per_second: &[u32], width: usize) -> Vec<u32> {
    per_second
        .chunks(width)
        .map(|c| c.iter().fold(0u32, |a, &b| a.saturating_add(b)))
        .collect()
}

/// The nearest-rank 99th percentile: the smallest value at least 99 % of `values` do not
/// exceed.
pub(super) fn p99(values: &[u32]) -> u32 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * 99).div_ceil(100);
    sorted[rank.max(1) - 1]
}

/// The figures of one configuration.
pub(super) struct Figures {
    pub(super) total: u64,
    pub(super) peak_second: Peak,
    pub(super) peak_minute: Peak,
    pub(super) busy_hour: BusyHour,
    pub(super) hours: Vec<HourRow>,
    pub(super) per_minute: Vec<u32>,
}

pub(super) fn figures(from: Timestamp, per_second: &[u32]) -> Figures {
    let total = per_second.iter().map(|&v| u64::from(v)).sum();
    let per_minute = sums(per_second, 60);
    let (s, s_max) = peak(per_second.iter().copied());
    let (m, m_max) = peak(per_minute.iter().copied());
    let hours: Vec<HourRow> = per_second
        .chunks(3600)
        .enumerate()
        .map(|(h, secs)| HourRow {
            start: plus_secs(from, h as i64 * 3600),
            fetches: secs.iter().map(|&v| u64::from(v)).sum(),
            peak_second: peak(secs.iter().copied()).1,
            peak_minute: peak(sums(secs, 60).into_iter()).1,
        })
        .collect();
    let (busy, _) = peak(
        hours
            .iter()
            .map(|r| u32::try_from(r.fetches).unwrap_or(u32::MAX)),
    );
    let busy_secs = per_second.chunks(3600).nth(busy).unwrap_or(&[]);
    Figures {
        total,
        peak_second: Peak {
            at: plus_secs(from, s as i64),
            fetches: s_max,
        },
        peak_minute: Peak {
            at: plus_secs(from, m as i64 * 60),
            fetches: m_max,
        },
        busy_hour: BusyHour {
            start: plus_secs(from, busy as i64 * 3600),
            fetches: hours.get(busy).map_or(0, |r| r.fetches),
            p99_per_second: p99(busy_secs),
        },
        hours,
        per_minute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_nearest_rank() {
        let mut hour = vec![0u32; 3600];
        assert_eq!(p99(&hour), 0);
        // 36 busy seconds are exactly the top 1 %: the 3564th value is still 0.
        for v in hour.iter_mut().take(36) {
            *v = 5;
        }
        assert_eq!(p99(&hour), 0);
        hour[36] = 3;
        assert_eq!(p99(&hour), 3);
        assert_eq!(p99(&[1, 2, 3, 4]), 4);
    }

    #[test]
    fn peaks_take_the_first_of_equals() {
        let from: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
        let mut per_second = vec![0u32; 7200];
        per_second[10] = 4;
        per_second[4000] = 4;
        per_second[4001] = 1;
        let f = figures(from, &per_second);
        assert_eq!(f.total, 9);
        assert_eq!(f.peak_second.fetches, 4);
        assert_eq!(f.peak_second.at, plus_secs(from, 10));
        assert_eq!(f.peak_minute.fetches, 5);
        assert_eq!(f.peak_minute.at, plus_secs(from, 3960));
        assert_eq!(f.busy_hour.start, plus_secs(from, 3600));
        assert_eq!(f.busy_hour.fetches, 5);
        assert_eq!(f.hours.len(), 2);
        assert_eq!(f.per_minute.len(), 120);
    }
}

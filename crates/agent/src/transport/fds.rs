//! File descriptors: the soft `RLIMIT_NOFILE` raised to the hard limit at start, a reserve of
//! descriptors that TCP and TLS connections never take (so that the provisioning engine can
//! still connect, write its files and run its hook while connections are full), and log lines
//! about accept failures rationed like the other drops.
//!
//! Descriptors are numbered lowest-free-first, so a connection accepted on a descriptor at or
//! above `limit − RESERVE` means that fewer than `RESERVE` are left: it is closed at once.
//! Kept connections therefore never hold a descriptor of the top `RESERVE`, whatever else
//! comes and goes.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// Descriptors kept free of connections, for the engine's fetches, files and hook.
pub(crate) const RESERVE: u64 = 32;

/// Descriptors the agent holds besides its connections: standard streams, the runtime's
/// epoll and wake-up descriptors, UDP sockets, listeners. An estimate for the start-up check.
const BASELINE: u64 = 16;

/// The soft and hard `RLIMIT_NOFILE` (None when it cannot be read).
fn limits() -> Option<(u64, u64)> {
    getrlimit(Resource::RLIMIT_NOFILE).ok()
}

/// Raises the soft descriptor limit to the hard one, and warns when `max_connections` on
/// each of `stream_listeners` TCP and TLS listeners, plus the reserve and what the agent holds
/// otherwise, does not fit under the limit in force.
pub(crate) fn prepare(stream_listeners: usize, max_connections: usize) {
    let Some((soft, hard)) = limits() else {
        return;
    };
    let mut limit = soft;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                limit = hard;
                tracing::info!(
                    "raised the open-file limit (RLIMIT_NOFILE) from {soft} to its hard limit {hard}"
                );
            }
            Err(e) => tracing::warn!(
                "cannot raise the open-file limit (RLIMIT_NOFILE) from {soft} to {hard}: {e}"
            ),
        }
    }
    if stream_listeners == 0 || limit == RLIM_INFINITY {
        return;
    }
    let connections = (stream_listeners as u64).saturating_mul(max_connections as u64);
    let needed = connections + RESERVE + BASELINE;
    if needed > limit {
        tracing::warn!(
            "the open-file limit (RLIMIT_NOFILE) is {limit} (hard limit {hard}): [sip.tcp] \
             max_connections {max_connections} on {stream_listeners} TCP/TLS listener(s) does not \
             fit beside the {RESERVE} descriptors kept for provisioning; a connection that would \
             leave fewer free is closed at once: raise the limit (ulimit -n, systemd's \
             LimitNOFILE=) or lower max_connections"
        );
    }
}

/// The lowest descriptor number a connection may not keep: `limit − RESERVE` (None when the
/// limit is unknown or unlimited).
pub(super) fn ceiling() -> Option<RawFd> {
    let (soft, _) = limits()?;
    if soft == RLIM_INFINITY {
        return None;
    }
    RawFd::try_from(soft.saturating_sub(RESERVE)).ok()
}

/// At most one log line per interval; the events in between are counted, and the next line
/// says how many there were.
#[derive(Debug)]
pub(super) struct Ration {
    interval: Duration,
    last: Option<Instant>,
    counted: u64,
}

impl Ration {
    /// A ration of one line per `interval`.
    pub(super) fn new(interval: Duration) -> Ration {
        Ration {
            interval,
            last: None,
            counted: 0,
        }
    }

    /// `Some(n)` when a line may be logged at `now`, `n` being the events counted, not logged,
    /// since the last line; `None` when this event is only counted.
    pub(super) fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.counted += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.counted))
            }
        }
    }

    /// The interval, in whole seconds, for log lines.
    pub(super) fn secs(&self) -> u64 {
        self.interval.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_rest_counted() {
        let t0 = Instant::now();
        let mut r = Ration::new(Duration::from_secs(60));
        assert_eq!(r.allow(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(r.allow(t0 + Duration::from_millis(50 * i)), None);
        }
        assert_eq!(r.allow(t0 + Duration::from_secs(60)), Some(1000));
        assert_eq!(r.allow(t0 + Duration::from_secs(61)), None);
    }
}

//! Rate limits on a caller-supplied clock: token buckets per source and for everyone, for
//! requests and for accepted resync triggers. No I/O, no clock.
//!
//! Each bucket is kept as one timestamp, its *theoretical arrival time* (the generic cell rate
//! algorithm, GCRA, which is a token bucket in exact integer time): a bucket of `burst` tokens
//! refilled by one token every `interval` admits a message at `now` when
//! `tat - now <= interval × (burst - 1)`, and admitting one moves `tat` to
//! `max(tat, now) + interval`. A bucket with `tat <= now` is full. Time only moves forward:
//! a `now` earlier than one already seen (two threads that read the clock, then take turns
//! at the lock in the other order) is taken as the latest one seen, so it neither refills
//! nor drains anything.
//!
//! The global buckets may be shared by several limiters ([`GlobalBudget`]): the UDP workers,
//! each with its own endpoint, draw on one global request and trigger budget. A shared
//! bucket's timestamp is an atomic (nanoseconds since the budget's first `now`), taken with
//! one compare-and-swap per admitted message and no lock, so the global limits hold exactly
//! across workers. Per-source buckets stay per limiter (see `docs/sip.md`).
//!
//! Per-source buckets live in a table bounded by [`RateLimits::max_sources`]. A new source
//! when the table is full replaces the source seen least recently; if that source's buckets
//! were not full yet, it is counted ([`RateLimiter::evicted`]), because it gets a fresh
//! budget when it comes back. IPv4 sources (and IPv4-mapped IPv6 sources) are keyed by
//! address, IPv6 sources by their /64 prefix: one host usually holds a whole /64 and could
//! otherwise take a fresh budget with every address.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Rate-limit settings. A rate of 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per second from one source (IPv4 address or IPv6 /64), sustained.
    pub requests_per_second_per_source: u32,
    /// Requests one source may send at once before the per-second rate applies.
    pub requests_burst_per_source: u32,
    /// Requests per second from all sources together (burst: one second's worth).
    pub requests_per_second: u32,
    /// Accepted resync triggers per minute from one source (burst: one minute's worth).
    pub triggers_per_minute_per_source: u32,
    /// Accepted resync triggers per minute from all sources (burst: one minute's worth).
    pub triggers_per_minute: u32,
    /// Most sources whose per-source buckets are remembered at once.
    pub max_sources: usize,
}

impl Default for RateLimits {
    /// Limits no PBX meets in normal use: 50 requests/s (burst 100) per source, 2000/s in
    /// all, 10 triggers/min per source, 60/min in all, 4096 sources remembered.
    fn default() -> Self {
        RateLimits {
            requests_per_second_per_source: 50,
            requests_burst_per_source: 100,
            requests_per_second: 2000,
            triggers_per_minute_per_source: 10,
            triggers_per_minute: 60,
            max_sources: 4096,
        }
    }
}

impl RateLimits {
    /// No limit at all (every rate 0).
    pub fn unlimited() -> RateLimits {
        RateLimits {
            requests_per_second_per_source: 0,
            requests_burst_per_source: 1,
            requests_per_second: 0,
            triggers_per_minute_per_source: 0,
            triggers_per_minute: 0,
            max_sources: 1,
        }
    }
}

/// Which limit stopped a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The sender's own budget.
    Source,
    /// The budget shared by all senders.
    Global,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Source => "per-source",
            Limit::Global => "global",
        })
    }
}

/// The shape of a bucket: one token per `interval`, at most `burst` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bucket {
    interval: Duration,
    tolerance: Duration,
}

impl Bucket {
    /// `count` tokens per `per`, holding at most `burst` (at least 1). `None` when `count` is 0
    /// (unlimited).
    pub(super) fn new(count: u32, per: Duration, burst: u32) -> Option<Bucket> {
        if count == 0 {
            return None;
        }
        let interval = per / count;
        Some(Bucket {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
        })
    }

    /// Whether a message at `now` fits a bucket in state `tat`.
    pub(super) fn conforms(&self, tat: Instant, now: Instant) -> bool {
        tat.saturating_duration_since(now) <= self.tolerance
    }

    /// The state after admitting a message at `now`.
    pub(super) fn take(&self, tat: Instant, now: Instant) -> Instant {
        tat.max(now) + self.interval
    }

    /// When the next message will fit a bucket in state `tat`.
    pub(super) fn ready_at(&self, tat: Instant) -> Instant {
        tat.checked_sub(self.tolerance).unwrap_or(tat)
    }
}

/// The global buckets' state, shareable between limiters (one per UDP worker): the
/// theoretical arrival time of the request bucket for allowed sources, of the one for refused
/// sources, and of the trigger bucket, as nanoseconds since `epoch` (0: full at the epoch).
#[derive(Debug, Default)]
pub struct GlobalBudget {
    epoch: OnceLock<Instant>,
    requests: AtomicU64,
    refused_requests: AtomicU64,
    triggers: AtomicU64,
}

impl GlobalBudget {
    /// A new, full budget, to share between limiters made with [`RateLimiter::sharing`].
    pub fn new() -> Arc<GlobalBudget> {
        Arc::new(GlobalBudget::default())
    }

    /// `now` as an offset from the epoch (the first `now` seen); an earlier `now` (another
    /// worker read the clock first) counts as the epoch.
    fn offset(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, offset: u64) -> Option<Instant> {
        let epoch = *self.epoch.get()?;
        Some(epoch + Duration::from_nanos(offset))
    }

    /// GCRA on an atomic timestamp: admits one message at `now` or refuses it.
    fn admit(&self, bucket: &Bucket, tat: &AtomicU64, now: Instant) -> bool {
        let now = self.offset(now);
        let interval = u64::try_from(bucket.interval.as_nanos()).unwrap_or(u64::MAX);
        let tolerance = u64::try_from(bucket.tolerance.as_nanos()).unwrap_or(u64::MAX);
        let mut current = tat.load(Ordering::Relaxed);
        loop {
            if current.saturating_sub(now) > tolerance {
                return false;
            }
            let next = current.max(now).saturating_add(interval);
            match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

/// A per-source state: the theoretical arrival time of each bucket kind.
#[derive(Debug, Clone, Copy)]
struct State {
    requests: Instant,
    triggers: Instant,
}

impl State {
    fn fresh(now: Instant) -> State {
        State {
            requests: now,
            triggers: now,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    /// Position in the least-recently-seen order.
    seen: u64,
}

/// The key of a source's buckets: the IPv4 address, or the IPv6 /64 prefix.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// The limiter: global buckets and a bounded table of per-source buckets.
#[derive(Debug)]
pub(super) struct RateLimiter {
    limits: RateLimits,
    source_requests: Option<Bucket>,
    source_triggers: Option<Bucket>,
    global_requests: Option<Bucket>,
    global_triggers: Option<Bucket>,
    /// Global state: requests of allowed sources, requests of refused sources (answering
    /// them never uses up the budget of allowed ones), triggers. Shared between the limiters
    /// of one listener's workers.
    global: Arc<GlobalBudget>,
    sources: HashMap<IpAddr, Entry>,
    order: BTreeMap<u64, IpAddr>,
    next_seen: u64,
    evicted: u64,
    /// The latest `now` seen.
    latest: Option<Instant>,
}

impl RateLimiter {
    /// A limiter with every bucket full.
    #[cfg(test)]
    pub(super) fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter::sharing(limits, GlobalBudget::new())
    }

    /// A limiter whose global buckets are `global`, shared with other limiters.
    pub(super) fn sharing(limits: RateLimits, global: Arc<GlobalBudget>) -> RateLimiter {
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        RateLimiter {
            source_requests: Bucket::new(
                limits.requests_per_second_per_source,
                second,
                limits.requests_burst_per_source,
            ),
            source_triggers: Bucket::new(
                limits.triggers_per_minute_per_source,
                minute,
                limits.triggers_per_minute_per_source,
            ),
            global_requests: Bucket::new(
                limits.requests_per_second,
                second,
                limits.requests_per_second,
            ),
            global_triggers: Bucket::new(
                limits.triggers_per_minute,
                minute,
                limits.triggers_per_minute,
            ),
            limits,
            global,
            sources: HashMap::new(),
            order: BTreeMap::new(),
            next_seen: 0,
            evicted: 0,
            latest: None,
        }
    }

    /// Sources whose buckets were forgotten before they had refilled, because the table was
    /// full.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Number of sources remembered.
    #[cfg(test)]
    pub(super) fn sources(&self) -> usize {
        self.sources.len()
    }

    /// `now`, or the latest time already seen if that is later.
    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.latest.map_or(now, |l| l.max(now));
        self.latest = Some(now);
        now
    }

    fn per_source(&self) -> bool {
        self.source_requests.is_some() || self.source_triggers.is_some()
    }

    /// The source's state, created (full) when new; marks it as the most recently seen.
    fn touch(&mut self, now: Instant, ip: IpAddr) -> &mut State {
        let key = source_key(ip);
        let seen = self.next_seen;
        self.next_seen += 1;
        if let Some(entry) = self.sources.get_mut(&key) {
            self.order.remove(&entry.seen);
            entry.seen = seen;
            self.order.insert(seen, key);
        } else {
            while self.sources.len() >= self.limits.max_sources.max(1) {
                let Some((_, old)) = self.order.pop_first() else {
                    break;
                };
                if let Some(gone) = self.sources.remove(&old) {
                    if !self.is_idle(&gone.state, now) {
                        self.evicted += 1;
                    }
                }
            }
            self.sources.insert(
                key,
                Entry {
                    state: State::fresh(now),
                    seen,
                },
            );
            self.order.insert(seen, key);
        }
        &mut self.sources.get_mut(&key).expect("just inserted").state
    }

    /// True when forgetting this state changes nothing: both buckets are full again.
    fn is_idle(&self, state: &State, now: Instant) -> bool {
        state.requests <= now && state.triggers <= now
    }

    /// Admits one received message from `ip` (before it is read), or says which limit it
    /// exceeds. `refused` messages (from outside the allowlist, to be answered 403) are
    /// counted against their source like any other, but against a global budget of their own.
    pub(super) fn admit_request(
        &mut self,
        now: Instant,
        ip: IpAddr,
        refused: bool,
    ) -> Result<(), Limit> {
        let now = self.clock(now);
        let source = if self.per_source() {
            let bucket = self.source_requests;
            let state = self.touch(now, ip);
            bucket.map(|b| (b, state.requests))
        } else {
            None
        };
        if let Some((b, tat)) = source {
            if !b.conforms(tat, now) {
                return Err(Limit::Source);
            }
        }
        if let Some(b) = &self.global_requests {
            let tat = if refused {
                &self.global.refused_requests
            } else {
                &self.global.requests
            };
            if !self.global.admit(b, tat, now) {
                return Err(Limit::Global);
            }
        }
        if let Some((b, tat)) = source {
            let next = b.take(tat, now);
            if let Some(e) = self.sources.get_mut(&source_key(ip)) {
                e.state.requests = next;
            }
        }
        Ok(())
    }

    /// Admits one accepted resync trigger from `ip`, or says which limit it exceeds.
    pub(super) fn admit_trigger(&mut self, now: Instant, ip: IpAddr) -> Result<(), Limit> {
        let now = self.clock(now);
        let source = if self.per_source() {
            let bucket = self.source_triggers;
            let state = self.touch(now, ip);
            bucket.map(|b| (b, state.triggers))
        } else {
            None
        };
        if let Some((b, tat)) = source {
            if !b.conforms(tat, now) {
                return Err(Limit::Source);
            }
        }
        if let Some(b) = &self.global_triggers {
            if !self.global.admit(b, &self.global.triggers, now) {
                return Err(Limit::Global);
            }
        }
        if let Some((b, tat)) = source {
            let next = b.take(tat, now);
            if let Some(e) = self.sources.get_mut(&source_key(ip)) {
                e.state.triggers = next;
            }
        }
        Ok(())
    }

    /// When a trigger from `ip` will next be admitted (it may be now or earlier). A source
    /// that is no longer remembered has a full bucket.
    pub(super) fn trigger_ready_at(&self, ip: IpAddr) -> Option<Instant> {
        let source = self
            .source_triggers
            .zip(self.sources.get(&source_key(ip)))
            .map(|(b, e)| b.ready_at(e.state.triggers));
        let global = self.global_triggers.and_then(|b| {
            let tat = self.global.triggers.load(Ordering::Relaxed);
            Some(b.ready_at(self.global.instant(tat)?))
        });
        match (source, global) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Admitted requests out of `n` sent from `ip` at `now` (no time passes between them).
    fn burst(l: &mut RateLimiter, now: Instant, ip: IpAddr, n: usize) -> usize {
        (0..n)
            .filter(|_| l.admit_request(now, ip, false).is_ok())
            .count()
    }

    #[test]
    fn bucket_admits_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let b = Bucket::new(50, Duration::from_secs(1), 100).unwrap();
        let mut tat = t0;
        let mut admitted = 0;
        for _ in 0..150 {
            if b.conforms(tat, t0) {
                tat = b.take(tat, t0);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 100, "the burst");
        assert_eq!(b.ready_at(tat), t0 + ms(20), "one token per 20 ms");
        assert!(!b.conforms(tat, t0 + ms(19)));
        assert!(b.conforms(tat, t0 + ms(20)));
        // Over 10 s of virtual time at 1000 requests/s, 50/s get through after the burst.
        let mut admitted = 0;
        for i in 1..=10_000u64 {
            let now = t0 + ms(i);
            if b.conforms(tat, now) {
                tat = b.take(tat, now);
                admitted += 1;
            }
        }
        assert_eq!(admitted, 500);
        // Idle for 2 s: full again.
        let later = t0 + Duration::from_secs(12);
        assert!(tat <= later);
        assert!(
            Bucket::new(0, Duration::from_secs(1), 5).is_none(),
            "0 is unlimited"
        );
    }

    #[test]
    fn bucket_with_an_earlier_now_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let b = Bucket::new(1, Duration::from_secs(1), 1).unwrap();
        let tat = b.take(t0, t0);
        assert!(!b.conforms(tat, t0 - Duration::from_secs(5)));
        assert!(b.conforms(tat, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn an_earlier_now_is_taken_as_the_latest_seen() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second_per_source: 1,
            requests_burst_per_source: 1,
            ..RateLimits::default()
        });
        let a = ip("192.0.2.1");
        assert!(l
            .admit_request(t0 + Duration::from_secs(30), a, false)
            .is_ok());
        // 25 s "earlier": neither a refill nor a penalty of 25 s.
        assert!(l
            .admit_request(t0 + Duration::from_secs(5), a, false)
            .is_err());
        assert!(l
            .admit_request(t0 + Duration::from_secs(31), a, false)
            .is_ok());
    }

    #[test]
    fn per_source_request_limit() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second: 0,
            ..RateLimits::default()
        });
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        assert_eq!(burst(&mut l, t0, a, 1000), 100);
        assert_eq!(l.admit_request(t0, a, false), Err(Limit::Source));
        assert_eq!(
            burst(&mut l, t0, b, 10),
            10,
            "another source has its own budget"
        );
        assert_eq!(burst(&mut l, t0 + Duration::from_secs(1), a, 1000), 50);
        assert_eq!(
            burst(&mut l, t0 + Duration::from_secs(10), a, 1000),
            100,
            "refilled to the burst, not beyond"
        );
    }

    #[test]
    fn global_request_limit_and_a_separate_budget_for_refused_sources() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second: 2000,
            ..RateLimits::default()
        });
        // 100 sources × 30 requests: each within its own limit, 2000 in all.
        let mut admitted = 0;
        for i in 0..100u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            admitted += burst(&mut l, t0, src, 30);
        }
        assert_eq!(admitted, 2000);
        assert_eq!(
            l.admit_request(t0, ip("10.9.9.9"), false),
            Err(Limit::Global)
        );
        // Refused sources are answered from a budget of their own...
        assert!(l.admit_request(t0, ip("203.0.113.1"), true).is_ok());
        // ...and a flood of them never takes the allowed sources' budget.
        let mut l = RateLimiter::new(RateLimits::default());
        for i in 0..5000u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0xcb00_7100 + i));
            let _ = l.admit_request(t0, src, true);
        }
        assert!(l.admit_request(t0, ip("192.0.2.1"), false).is_ok());
        // Half a millisecond later the global bucket has one more token (2000/s).
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second_per_source: 0,
            requests_per_second: 2000,
            ..RateLimits::default()
        });
        assert_eq!(burst(&mut l, t0, ip("192.0.2.1"), 5000), 2000);
        assert_eq!(
            burst(&mut l, t0 + Duration::from_micros(500), ip("192.0.2.1"), 5),
            1
        );
    }

    #[test]
    fn a_message_stopped_by_one_limit_uses_no_token_of_the_other() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second_per_source: 1,
            requests_burst_per_source: 1,
            requests_per_second: 1,
            ..RateLimits::default()
        });
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(l.admit_request(t0, a, false).is_ok());
        assert_eq!(l.admit_request(t0, a, false), Err(Limit::Source));
        assert_eq!(l.admit_request(t0, b, false), Err(Limit::Global));
        // b's own bucket was not charged for the refused attempt.
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.admit_request(t1, b, false).is_ok());
    }

    #[test]
    fn triggers_per_source_and_global_with_ready_times() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits::default());
        let a = ip("192.0.2.1");
        let admitted = (0..20).filter(|_| l.admit_trigger(t0, a).is_ok()).count();
        assert_eq!(admitted, 10);
        assert_eq!(l.admit_trigger(t0, a), Err(Limit::Source));
        // 10 per minute: one more every 6 s.
        assert_eq!(l.trigger_ready_at(a), Some(t0 + Duration::from_secs(6)));
        assert!(l.admit_trigger(t0 + Duration::from_secs(6), a).is_ok());
        // The global 60/min: 6 sources × 10 fill it.
        let mut l = RateLimiter::new(RateLimits::default());
        let mut admitted = 0;
        for i in 0..7u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + i));
            admitted += (0..10).filter(|_| l.admit_trigger(t0, src).is_ok()).count();
        }
        assert_eq!(admitted, 60);
        let late = ip("192.0.2.99");
        assert_eq!(l.admit_trigger(t0, late), Err(Limit::Global));
        assert_eq!(l.trigger_ready_at(late), Some(t0 + Duration::from_secs(1)));
        // Unlimited: no ready time at all.
        let l = RateLimiter::new(RateLimits::unlimited());
        assert_eq!(l.trigger_ready_at(a), None);
    }

    #[test]
    fn unlimited_admits_everything_and_remembers_no_source() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits::unlimited());
        for i in 0..10_000u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(i));
            assert!(l.admit_request(t0, src, false).is_ok());
            assert!(l.admit_trigger(t0, src).is_ok());
        }
        assert_eq!(l.sources(), 0);
    }

    #[test]
    fn the_source_table_is_bounded_and_forgets_the_least_recently_seen() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            max_sources: 4,
            requests_per_second: 0,
            ..RateLimits::default()
        });
        let pbx = ip("192.0.2.1");
        // The PBX uses up its burst.
        assert_eq!(burst(&mut l, t0, pbx, 200), 100);
        // Idle sources come and go: the table never holds more than 4.
        for i in 0..3u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.admit_request(t0, src, false).is_ok());
        }
        assert_eq!(l.sources(), 4);
        // The PBX is seen again, so it is not the oldest any more.
        assert!(l.admit_request(t0, pbx, false).is_err());
        let fresh = ip("10.1.0.1");
        assert!(l.admit_request(t0, fresh, false).is_ok());
        assert_eq!(l.sources(), 4);
        assert!(
            l.admit_request(t0, pbx, false).is_err(),
            "the PBX's spent bucket is still remembered"
        );
        // 10.0.0.0 was the oldest and not idle (one request taken, 20 ms not yet passed).
        assert_eq!(l.evicted(), 1);
        // Many new sources: bounded, and eventually the spent bucket is forgotten too.
        for i in 0..100u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = l.admit_request(t0, src, false);
        }
        assert_eq!(l.sources(), 4);
        // Entries whose buckets have refilled are forgotten without being counted...
        let before = l.evicted();
        let later = t0 + Duration::from_secs(60);
        for i in 0..4u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0c00_0000 + i));
            assert!(l.admit_request(later, src, false).is_ok());
        }
        assert_eq!(l.evicted(), before);
        // ...those just charged are counted.
        for i in 0..4u32 {
            let src = IpAddr::from(std::net::Ipv4Addr::from(0x0d00_0000 + i));
            assert!(l.admit_request(later, src, false).is_ok());
        }
        assert_eq!(l.evicted(), before + 4);
    }

    #[test]
    fn ipv6_sources_share_their_64_and_mapped_sources_are_ipv4() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(RateLimits {
            requests_per_second: 0,
            ..RateLimits::default()
        });
        let mut admitted = 0;
        for i in 0..200u16 {
            let src = IpAddr::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, i, 0, 0, 1));
            admitted += burst(&mut l, t0, src, 1);
        }
        assert_eq!(admitted, 100, "one /64, one budget");
        assert!(l.admit_request(t0, ip("2001:db8:0:2::1"), false).is_ok());
        assert_eq!(burst(&mut l, t0, ip("192.0.2.1"), 60), 60);
        assert_eq!(burst(&mut l, t0, ip("::ffff:192.0.2.1"), 60), 40);
    }
}

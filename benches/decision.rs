//! Datagram to decision: what one UDP message costs in the sans-IO embedded entry point.
//!
//! Each measurement is one call of [`Embedded::handle`] with a whole datagram, as a host SIP
//! stack makes it: the claim check ("is this a resync NOTIFY?") and, for a message that is
//! ours, trust and rate limits, the transaction table, the decision and the response bytes,
//! all on the front end's one parse. No socket, no lock, no logging. The settings come from
//! [`SipSettings`], as a host builds them. Criterion reports elements per second, which here is
//! decisions per second on one core. Every loop checks, with `assert!`, that each call had the
//! verdict and disposition the benchmark is named after.
//!
//! * `decision/notify_default`: the check-sync NOTIFY of the behaviour contract
//!   (`fixtures/sip/check-sync.sip`) under the default settings, accepted: answered 200,
//!   stored for Timer J, a resync request made. The defaults admit 60 triggers a minute in all
//!   and 10 per source, so the virtual clock advances 1 s per message and the source rotates
//!   over 16 addresses; each message has a fresh Call-ID and branch.
//! * `decision/notify_capacity`: the same with every rate limit off
//!   ([`RateLimits::unlimited`]) and the clock advancing 10 µs per message, so the transaction
//!   table fills to its default bound (`max_transactions`, 4096) and every insert then evicts
//!   the oldest entry, as under sustained load.
//! * `decision/notify_compact_capacity`: as `notify_capacity`, with compact header names
//!   (`v: f: t: i: o: l:`).
//! * `decision/rate_limited_drop`: the default settings, one source, the clock standing
//!   still: past the per-source burst every message is read (to tell that it is ours) and then
//!   dropped by the limiter, unanswered.
//! * `decision/retransmission`: the same bytes again within Timer J, request limits off:
//!   answered from the transaction table with the stored response.
//! * `decision/not_ours_event`: the contract's NOTIFY, byte for byte, under settings that
//!   accept only `resync`: the front end's one parse and the claim check, then
//!   [`Verdict::NotOurs`]; no endpoint state is touched (nothing counted).
//! * `decision/not_ours_options`: an OPTIONS request, as a host stack receives many: not ours
//!   from its first line, without a parse.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_resync::config::{self, Limit, RateLimits, SipSettings};
use sip_resync::{Disposition, Embedded, Transport, Verdict};

/// The contract's NOTIFY, byte for byte.
const CHECK_SYNC: &[u8] = include_bytes!("../fixtures/sip/check-sync.sip");

/// The same request with every header that has a compact form written in it.
const CHECK_SYNC_COMPACT: &[u8] = b"NOTIFY sip:1001@192.0.2.10:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
f: <sip:pbx@192.0.2.1>;tag=1928301774\r\n\
t: <sip:1001@192.0.2.10>\r\n\
i: a84b4c76e66710@192.0.2.1\r\n\
CSeq: 102 NOTIFY\r\n\
o: check-sync;reboot=false\r\n\
Subscription-State: terminated\r\n\
l: 0\r\n\r\n";

/// A keep-alive probe of the kind a host stack answers itself.
const OPTIONS: &[u8] = b"OPTIONS sip:1001@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
From: <sip:pbx@192.0.2.1>;tag=1928301774\r\n\
To: <sip:1001@192.0.2.10>\r\n\
Call-ID: a84b4c76e66710@192.0.2.1\r\n\
CSeq: 102 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// Fixed-width fields overwritten with a counter, so every message is a new transaction.
const BRANCH_FIELD: &[u8] = b"776asdhds";
const CALL_ID_FIELD: &[u8] = b"c76e66710";

/// A message whose branch and Call-ID change on every [`Varying::next`], without allocating.
struct Varying {
    buf: Vec<u8>,
    branch_at: usize,
    call_id_at: usize,
    counter: u64,
}

impl Varying {
    fn new(template: &[u8]) -> Varying {
        let find = |field: &[u8]| {
            template
                .windows(field.len())
                .position(|w| w == field)
                .expect("field present in the template")
        };
        Varying {
            buf: template.to_vec(),
            branch_at: find(BRANCH_FIELD),
            call_id_at: find(CALL_ID_FIELD),
            counter: 0,
        }
    }

    fn next(&mut self) -> &[u8] {
        self.counter += 1;
        let mut n = self.counter;
        for i in (0..BRANCH_FIELD.len()).rev() {
            let digit = b"0123456789abcdef"[(n & 0xf) as usize];
            self.buf[self.branch_at + i] = digit;
            self.buf[self.call_id_at + i] = digit;
            n >>= 4;
        }
        &self.buf
    }
}

fn source() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

/// Every rate limit off; everything else the default.
fn capacity_settings() -> SipSettings {
    SipSettings {
        limits: RateLimits::unlimited(),
        ..SipSettings::default()
    }
}

/// The disposition of a message that is ours; panics on [`Verdict::NotOurs`].
fn disposition(name: &str, verdict: &Verdict) -> Disposition {
    match verdict {
        Verdict::Ours { disposition, .. } => disposition.clone(),
        Verdict::NotOurs => panic!("{name}: not ours"),
    }
}

/// Handles a fresh message per iteration, from `sources` addresses in turn, on a virtual
/// clock advancing `step` per message; every one must be ours and `Disposition::Resync`.
fn new_transactions(
    c: &mut Criterion,
    name: &str,
    settings: SipSettings,
    template: &[u8],
    sources: u8,
    step: Duration,
) {
    let mut embedded = Embedded::new(&settings);
    let mut message = Varying::new(template);
    let start = Instant::now();
    let mut n = 0u32;
    let mut next = move || {
        n += 1;
        let src = SocketAddr::from(([192, 0, 2, 1 + (n % u32::from(sources)) as u8], 5060));
        (start + step * n, src)
    };
    // Sanity: the message is what the bench claims it is.
    let (now, src) = next();
    match embedded.handle(now, src, Transport::Udp, message.next()) {
        Verdict::Ours {
            reply,
            resync,
            disposition,
            ..
        } => {
            assert_eq!(disposition, Disposition::Resync);
            assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));
            assert!(resync.is_some());
        }
        Verdict::NotOurs => panic!("{name}: not ours"),
    }

    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let (now, src) = next();
            let verdict = embedded.handle(now, src, Transport::Udp, black_box(message.next()));
            assert!(
                matches!(
                    verdict,
                    Verdict::Ours {
                        disposition: Disposition::Resync,
                        ..
                    }
                ),
                "{name}: {verdict:?}"
            );
            black_box(verdict)
        })
    });
    group.finish();
    let counters = embedded.counters();
    assert_eq!(counters.retransmissions, 0, "every message must be new");
    assert_eq!(
        counters.resync_requests, counters.received,
        "every one accepted"
    );
}

fn notify_default(c: &mut Criterion) {
    new_transactions(
        c,
        "notify_default",
        SipSettings::default(),
        CHECK_SYNC,
        16,
        Duration::from_secs(1),
    );
}

fn notify_capacity(c: &mut Criterion) {
    let step = Duration::from_micros(10);
    let settings = capacity_settings();
    assert_eq!(settings.max_transactions, 4096, "the default bound");
    new_transactions(c, "notify_capacity", settings, CHECK_SYNC, 1, step);
}

fn notify_compact_capacity(c: &mut Criterion) {
    let step = Duration::from_micros(10);
    new_transactions(
        c,
        "notify_compact_capacity",
        capacity_settings(),
        CHECK_SYNC_COMPACT,
        1,
        step,
    );
}

fn rate_limited_drop(c: &mut Criterion) {
    let name = "rate_limited_drop";
    let mut embedded = Embedded::new(&SipSettings::default());
    let mut message = Varying::new(CHECK_SYNC);
    let source = source();
    let now = Instant::now();
    // Use up the per-source burst.
    while !matches!(
        disposition(
            name,
            &embedded.handle(now, source, Transport::Udp, message.next())
        ),
        Disposition::RateLimited { .. }
    ) {}
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let verdict = embedded.handle(now, source, Transport::Udp, black_box(message.next()));
            assert!(
                matches!(
                    verdict,
                    Verdict::Ours {
                        reply: None,
                        resync: None,
                        disposition: Disposition::RateLimited {
                            limit: Limit::Source,
                            ..
                        },
                        ..
                    }
                ),
                "{verdict:?}"
            );
            black_box(verdict)
        })
    });
    group.finish();
}

fn retransmission(c: &mut Criterion) {
    let name = "retransmission";
    // The request limits off: with the defaults, one source's retransmissions past its
    // burst would be dropped by the limiter before the table is consulted.
    let mut embedded = Embedded::new(&capacity_settings());
    let source = source();
    let now = Instant::now();
    let first = embedded.handle(now, source, Transport::Udp, CHECK_SYNC);
    assert_eq!(disposition(name, &first), Disposition::Resync);
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            // Within Timer J (32 s) of the first answer: the clock stands still.
            let verdict = embedded.handle(now, source, Transport::Udp, black_box(CHECK_SYNC));
            assert!(
                matches!(
                    verdict,
                    Verdict::Ours {
                        reply: Some(_),
                        disposition: Disposition::Retransmission,
                        ..
                    }
                ),
                "{verdict:?}"
            );
            black_box(verdict)
        })
    });
    group.finish();
    assert_eq!(embedded.counters().resync_requests, 1);
}

/// Messages that are not ours, one after the other: each must come back `Verdict::NotOurs`
/// and leave the counters untouched.
fn not_ours(c: &mut Criterion, name: &str, settings: &SipSettings, message: &[u8]) {
    let mut embedded = Embedded::new(settings);
    let source = source();
    let now = Instant::now();
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let verdict = embedded.handle(now, source, Transport::Udp, black_box(message));
            assert!(verdict == Verdict::NotOurs, "{name}: {verdict:?}");
            black_box(verdict)
        })
    });
    group.finish();
    assert_eq!(embedded.counters().received, 0, "{name}: nothing counted");
}

fn not_ours_event(c: &mut Criterion) {
    // Settings read as a host reads them: only `resync` is accepted.
    let settings = config::from_bytes(b"[sip]\nevents = [\"resync\"]\n", Path::new("bench.toml"))
        .expect("valid settings");
    not_ours(c, "not_ours_event", &settings.sip, CHECK_SYNC);
}

fn not_ours_options(c: &mut Criterion) {
    not_ours(c, "not_ours_options", &SipSettings::default(), OPTIONS);
}

criterion_group!(
    benches,
    notify_default,
    notify_capacity,
    notify_compact_capacity,
    rate_limited_drop,
    retransmission,
    not_ours_event,
    not_ours_options
);
criterion_main!(benches);

//! Datagram to decision: what one UDP NOTIFY costs in the sans-IO endpoint.
//!
//! Each measurement is one call of [`Endpoint::handle`] with a whole datagram, exactly as the
//! UDP driver makes it: trust and rate limits, the front end's one parse, the transaction
//! table, the decision and the response bytes. No socket, no lock, no logging. Criterion
//! reports elements per second, which here is decisions per second on one core. Every loop
//! checks, with `assert!`, that each call had the disposition the benchmark is named after.
//!
//! * `decision/notify_default`: the check-sync NOTIFY of the behaviour contract
//!   (`fixtures/sip/check-sync.sip`) under the default configuration, accepted: answered 200,
//!   stored for Timer J, a resync request made. The defaults admit 60 triggers a minute in all
//!   and 10 per source, so the virtual clock advances 1 s per message and the source rotates
//!   over 16 addresses; each message has a fresh Call-ID and branch.
//! * `decision/notify_capacity`: the same with every rate limit off and the clock advancing
//!   10 µs per message, so the transaction table fills to its default bound (4096) and every
//!   insert then evicts the oldest entry, as under sustained load.
//! * `decision/notify_compact_capacity`: as `notify_capacity`, with compact header names
//!   (`v: f: t: i: o: l:`).
//! * `decision/rate_limited_drop`: the default configuration, one source, the clock standing
//!   still: past the per-source burst every message is dropped unread by the limiter.
//! * `decision/retransmission`: the same bytes again within Timer J, request limits off:
//!   answered from the transaction table with the stored response.
//! * `parts/front_end`: the front end's parse on its own.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_resync::sip::message::{self, Framing};
use sip_resync::sip::{Disposition, Endpoint, EndpointConfig, Limit, Limits, RateLimits};
use sip_resync::Transport;

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

fn capacity_config() -> EndpointConfig {
    EndpointConfig {
        rate_limits: RateLimits::unlimited(),
        ..EndpointConfig::default()
    }
}

/// Handles a fresh message per iteration, from `sources` addresses in turn, on a virtual
/// clock advancing `step` per message; every one must be `Disposition::Resync`.
fn new_transactions(
    c: &mut Criterion,
    name: &str,
    config: EndpointConfig,
    template: &[u8],
    sources: u8,
    step: Duration,
) {
    let mut endpoint = Endpoint::new(config);
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
    let first = endpoint.handle(now, src, Transport::Udp, message.next());
    assert_eq!(first.disposition, Disposition::Resync);
    assert!(first.reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));

    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let (now, src) = next();
            let handled = endpoint.handle(now, src, Transport::Udp, black_box(message.next()));
            assert!(
                handled.disposition == Disposition::Resync,
                "{name}: {:?}",
                handled.disposition
            );
            black_box(handled)
        })
    });
    group.finish();
    let counters = endpoint.counters();
    assert_eq!(counters.retransmissions, 0, "every message must be new");
    assert_eq!(
        counters.resync_requests, counters.received,
        "every one accepted"
    );
}

fn notify_default(c: &mut Criterion) {
    let config = EndpointConfig::default();
    new_transactions(
        c,
        "notify_default",
        config,
        CHECK_SYNC,
        16,
        Duration::from_secs(1),
    );
}

fn notify_capacity(c: &mut Criterion) {
    let step = Duration::from_micros(10);
    new_transactions(c, "notify_capacity", capacity_config(), CHECK_SYNC, 1, step);
}

fn notify_compact_capacity(c: &mut Criterion) {
    let step = Duration::from_micros(10);
    let config = capacity_config();
    new_transactions(
        c,
        "notify_compact_capacity",
        config,
        CHECK_SYNC_COMPACT,
        1,
        step,
    );
}

fn rate_limited_drop(c: &mut Criterion) {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let mut message = Varying::new(CHECK_SYNC);
    let source = source();
    let now = Instant::now();
    // Use up the per-source burst.
    while !matches!(
        endpoint
            .handle(now, source, Transport::Udp, message.next())
            .disposition,
        Disposition::RateLimited { .. }
    ) {}
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rate_limited_drop", |b| {
        b.iter(|| {
            let handled = endpoint.handle(now, source, Transport::Udp, black_box(message.next()));
            assert!(
                matches!(
                    handled.disposition,
                    Disposition::RateLimited {
                        limit: Limit::Source,
                        ..
                    }
                ),
                "{:?}",
                handled.disposition
            );
            black_box(handled)
        })
    });
    group.finish();
}

fn retransmission(c: &mut Criterion) {
    // The request limits off: with the defaults, one source's retransmissions past its
    // burst would be dropped by the limiter before the table is consulted.
    let mut endpoint = Endpoint::new(capacity_config());
    let source = source();
    let now = Instant::now();
    let first = endpoint.handle(now, source, Transport::Udp, CHECK_SYNC);
    assert_eq!(first.disposition, Disposition::Resync);
    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function("retransmission", |b| {
        b.iter(|| {
            // Within Timer J (32 s) of the first answer: the clock stands still.
            let handled = endpoint.handle(now, source, Transport::Udp, black_box(CHECK_SYNC));
            assert!(
                handled.disposition == Disposition::Retransmission,
                "{:?}",
                handled.disposition
            );
            black_box(handled)
        })
    });
    group.finish();
    assert_eq!(endpoint.counters().resync_requests, 1);
}

fn parts(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("front_end", |b| {
        b.iter(|| {
            let r = message::parse(black_box(CHECK_SYNC), Framing::Datagram, &limits);
            assert!(r.as_ref().is_ok_and(|r| r.defect.is_none()));
            black_box(r.is_ok())
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    notify_default,
    notify_capacity,
    notify_compact_capacity,
    rate_limited_drop,
    retransmission,
    parts
);
criterion_main!(benches);

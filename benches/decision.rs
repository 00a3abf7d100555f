//! Datagram to decision: what one UDP NOTIFY costs in the sans-IO endpoint.
//!
//! Each measurement is one call of [`Endpoint::handle`] with a whole datagram, exactly as the
//! UDP driver makes it: front end, normalisation, the `rsip` model, the transaction table,
//! the decision and the response bytes. No socket, no lock, no logging. Criterion reports the
//! throughput in elements per second, which here is decisions per second on one core.
//!
//! * `decision/notify_new`: the check-sync NOTIFY of the behaviour contract
//!   (`fixtures/sip/check-sync.sip`), with a fresh Call-ID and Via branch on every call, so
//!   each one is a new transaction (answered 200, stored for Timer J, a resync request made).
//!   The virtual clock advances 10 µs per message, so the table fills to its default bound
//!   (4096) and every insert then evicts the oldest entry, as it does under sustained load.
//! * `decision/notify_compact_new`: the same NOTIFY written with compact header names
//!   (`v: f: t: i: o: l:`), which the front end maps to the long names.
//! * `decision/retransmission`: the same bytes again within Timer J: answered from the
//!   transaction table with the stored response.
//! * `parts/*`: the two parsing stages on their own, to show where the time goes.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sip_resync::sip::message::{self, Framing};
use sip_resync::sip::{Disposition, Endpoint, EndpointConfig, Limits};
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

/// Handles a fresh message per iteration on a virtual clock advancing 10 µs per message.
fn new_transactions(c: &mut Criterion, name: &str, template: &[u8]) {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let mut message = Varying::new(template);
    let source = source();
    let start = Instant::now();
    let mut tick = 0u64;
    // Sanity: the message is what the bench claims it is.
    let first = endpoint.handle(start, source, Transport::Udp, message.next());
    assert_eq!(first.disposition, Disposition::Resync);
    assert!(first.reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));

    let mut group = c.benchmark_group("decision");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            tick += 1;
            let now = start + Duration::from_micros(tick * 10);
            let handled = endpoint.handle(now, source, Transport::Udp, black_box(message.next()));
            debug_assert_eq!(handled.disposition, Disposition::Resync);
            black_box(handled)
        })
    });
    group.finish();
    assert_eq!(
        endpoint.counters().retransmissions,
        0,
        "every message must be a new transaction"
    );
}

fn notify_new(c: &mut Criterion) {
    new_transactions(c, "notify_new", CHECK_SYNC);
}

fn notify_compact_new(c: &mut Criterion) {
    new_transactions(c, "notify_compact_new", CHECK_SYNC_COMPACT);
}

fn retransmission(c: &mut Criterion) {
    let mut endpoint = Endpoint::new(EndpointConfig::default());
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
            debug_assert_eq!(handled.disposition, Disposition::Retransmission);
            black_box(handled)
        })
    });
    group.finish();
    assert_eq!(endpoint.counters().resync_requests, 1);
}

fn parts(c: &mut Criterion) {
    let limits = Limits::default();
    let request = message::parse(CHECK_SYNC, Framing::Datagram, &limits).unwrap();
    let normalised = request.to_normalised_bytes();
    let mut group = c.benchmark_group("parts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("front_end", |b| {
        b.iter(|| message::parse(black_box(CHECK_SYNC), Framing::Datagram, &limits))
    });
    group.bench_function("normalise", |b| {
        b.iter(|| black_box(&request).to_normalised_bytes())
    });
    group.bench_function("rsip_model", |b| {
        b.iter_batched(
            || normalised.clone(),
            rsip::Request::try_from,
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    notify_new,
    notify_compact_new,
    retransmission,
    parts
);
criterion_main!(benches);

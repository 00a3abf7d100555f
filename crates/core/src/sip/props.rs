//! Property tests of the front end: arbitrary and mutated input never panics, answers are
//! bounded, and TCP framing does not depend on how the bytes were split into reads.

use std::net::SocketAddr;
use std::time::Instant;

use proptest::prelude::*;

use super::{Endpoint, EndpointConfig, Limits, StreamFramer, StreamItem};
use crate::resync::Transport;

/// The contract's example NOTIFY, from `fixtures/sip/`.
const NOTIFY: &[u8] = include_bytes!("../../../../fixtures/sip/check-sync.sip");

fn src() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

/// A reply never exceeds the request by more than the headers this endpoint adds.
fn check_bounded(input: &[u8], transport: Transport) {
    let mut e = Endpoint::new(EndpointConfig::default());
    let h = e.handle(Instant::now(), src(), transport, input);
    if let Some(reply) = &h.reply {
        assert!(
            reply.len() <= input.len() + 1024,
            "reply {} bytes for {} bytes",
            reply.len(),
            input.len()
        );
        assert!(reply.starts_with(b"SIP/2.0 "));
        assert!(reply.ends_with(b"Content-Length: 0\r\n\r\n"));
    }
    if h.resync.is_some() {
        assert!(h
            .reply
            .as_ref()
            .is_some_and(|r| r.starts_with(b"SIP/2.0 200 ")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_bounded(&input, Transport::Udp);
        check_bounded(&input, Transport::Tcp);
    }

    #[test]
    fn mutated_notify_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12)
    ) {
        let mut msg = NOTIFY.to_vec();
        for (at, byte, op) in edits {
            if msg.is_empty() { break; }
            let i = at.index(msg.len());
            match op {
                0 => msg[i] = byte,
                1 => { msg.remove(i); }
                _ => msg.insert(i, byte),
            }
        }
        check_bounded(&msg, Transport::Udp);
    }

    #[test]
    fn framing_is_independent_of_read_boundaries(cuts in proptest::collection::vec(0usize..2000, 0..20)) {
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(b"\r\n\r\n");
            stream.extend_from_slice(NOTIFY);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % stream.len()).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut framer = StreamFramer::new(Limits::default());
        let mut items = Vec::new();
        let mut last = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            framer.push(&stream[last..cut]).unwrap();
            last = cut;
            while let Some(item) = framer.next_item().unwrap() {
                items.push(item);
            }
        }
        let messages = items.iter().filter(|i| matches!(i, StreamItem::Message(m) if m.as_ref() == NOTIFY)).count();
        let pings = items.iter().filter(|i| matches!(i, StreamItem::Ping)).count();
        prop_assert_eq!(messages, 3);
        prop_assert_eq!(pings, 3);
    }
}

#[test]
fn oversize_datagram_is_dropped_and_counted() {
    let mut e = Endpoint::new(EndpointConfig::default());
    let mut big = NOTIFY.to_vec();
    big.resize(70_000, b'a');
    let h = e.handle(Instant::now(), src(), Transport::Udp, &big);
    assert!(h.reply.is_none());
    assert_eq!(e.counters().dropped_oversize, 1);
}

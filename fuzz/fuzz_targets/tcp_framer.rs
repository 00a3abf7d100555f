//! A byte stream cut into reads at positions taken from the input, framed by
//! `StreamFramer` and every message handled by the endpoint over TCP, as the TCP listener
//! does. Never panics; the buffer never exceeds the message limit and never fills up
//! without an item or an error; each reply is bounded and well formed; and the items framed
//! do not depend on where the reads were cut.
//!
//! Input layout: byte 0 picks the limits (bit 7: small limits) and the number of cuts (low
//! 4 bits); then two bytes (little-endian) per cut; the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_resync::sip::{Endpoint, EndpointConfig, Limits, StreamFramer, StreamItem};
use sip_resync::Transport;

mod common;

/// What a connection saw: items in order, and how it ended.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Ping,
    Message(Vec<u8>),
    FrameError,
}

/// Feeds `stream` in reads ending at `cuts` (and at the end), never pushing more than
/// `capacity_left` at once, draining items after every push. `endpoint`, when given,
/// handles each message; a `close` from it ends the connection as in the listener.
fn connection(
    limits: Limits,
    stream: &[u8],
    cuts: &[usize],
    mut endpoint: Option<&mut Endpoint>,
) -> Vec<Seen> {
    let mut framer = StreamFramer::new(limits);
    let mut seen = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        while at < end {
            let room = framer.capacity_left();
            assert!(
                room > 0,
                "the framer filled its buffer without an item or an error"
            );
            let n = room.min(end - at);
            framer
                .push(&stream[at..at + n])
                .expect("push within capacity_left");
            at += n;
            assert!(framer.buffered() <= limits.max_message_bytes);
            loop {
                match framer.next_item() {
                    Ok(None) => break,
                    Ok(Some(StreamItem::Ping)) => seen.push(Seen::Ping),
                    Ok(Some(StreamItem::Message(msg))) => {
                        assert!(msg.len() <= limits.max_message_bytes);
                        seen.push(Seen::Message(msg.to_vec()));
                        if let Some(e) = endpoint.as_deref_mut() {
                            let h = e.handle(common::now(), common::source(), Transport::Tcp, &msg);
                            if let Some(reply) = &h.reply {
                                common::check_reply(&msg, reply);
                            }
                            if h.close {
                                return seen;
                            }
                        }
                    }
                    Err(_) => {
                        seen.push(Seen::FrameError);
                        return seen;
                    }
                }
            }
        }
    }
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let limits = if head & 0x80 != 0 {
        common::small_limits()
    } else {
        Limits::default()
    };
    let ncuts = usize::from(head & 0x0f).min(rest.len() / 2);
    let (cut_bytes, stream) = rest.split_at(2 * ncuts);
    if stream.is_empty() {
        return;
    }
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % stream.len())
        .collect();
    cuts.sort_unstable();
    cuts.dedup();

    let mut endpoint = Endpoint::new(EndpointConfig {
        limits,
        ..EndpointConfig::default()
    });
    let cut = connection(limits, stream, &cuts, Some(&mut endpoint));
    let whole = connection(limits, stream, &[], None);
    // Without the endpoint a connection is not closed after a message the endpoint would
    // close on, so compare up to where the cut run stopped.
    let stopped_early = cut.len() < whole.len();
    if stopped_early {
        assert_eq!(
            cut[..],
            whole[..cut.len()],
            "framing depends on read boundaries"
        );
    } else {
        assert_eq!(cut, whole, "framing depends on read boundaries");
    }
});

//! One UDP datagram through the endpoint, twice: never panics, the reply is bounded and
//! well formed, and the second copy (a retransmission) gets the same bytes and no resync.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_resync::sip::{Endpoint, EndpointConfig, Limits};
use sip_resync::Transport;

mod common;

fn run(limits: Limits, data: &[u8]) {
    let mut endpoint = Endpoint::new(EndpointConfig {
        limits,
        ..EndpointConfig::default()
    });
    let first = endpoint.handle(common::now(), common::source(), Transport::Udp, data);
    if let Some(reply) = &first.reply {
        common::check_reply(data, reply);
    }
    if first.resync.is_some() {
        assert!(first
            .reply
            .as_ref()
            .is_some_and(|r| r.starts_with(b"SIP/2.0 200 ")));
    }
    assert!(!first.close, "close is for streams only");
    let again = endpoint.handle(common::now(), common::source(), Transport::Udp, data);
    assert_eq!(first.reply, again.reply, "a retransmission got other bytes");
    assert!(
        again.resync.is_none(),
        "a retransmission triggered a second resync"
    );
}

fuzz_target!(|data: &[u8]| {
    run(Limits::default(), data);
    run(common::small_limits(), data);
});

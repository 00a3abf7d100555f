//! One UDP datagram through the endpoint, twice: never panics, the reply is bounded and
//! well formed, and the second copy (a retransmission) gets the same bytes and no resync.
//! Then through the embedded entry point, whose one parse answers "ours?" and "what to send":
//! it claims exactly what `is_resync_notify` claims, and answers it with the bytes the
//! endpoint gave.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_resync::agent::{Embedded, Verdict};
use sip_resync::sip::{is_resync_notify, Endpoint, EndpointConfig, Limits};
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

    let config = endpoint.config().clone();
    let ours = is_resync_notify(data, Transport::Udp, &config.limits, &config.events);
    let mut embedded = Embedded::with_config(config);
    match embedded.handle(common::now(), common::source(), Transport::Udp, data) {
        Verdict::NotOurs => assert!(!ours, "claimed by is_resync_notify, not by Embedded"),
        Verdict::Ours { reply, resync, .. } => {
            assert!(ours, "claimed by Embedded, not by is_resync_notify");
            assert_eq!(reply.is_some(), first.reply.is_some());
            assert_eq!(resync.is_some(), first.resync.is_some());
            if let (Some(a), Some(b)) = (&reply, &first.reply) {
                // The To-tag is keyed per endpoint; everything else is the same.
                assert_eq!(a.len(), b.len(), "the embedded answer differs in length");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    run(Limits::default(), data);
    run(common::small_limits(), data);
});

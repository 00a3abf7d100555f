//! Which messages are a resync trigger, for a host stack that shares its port with this crate.
//!
//! A softphone that owns port 5060 receives everything: its own calls, registrations,
//! subscriptions and their NOTIFYs, OPTIONS probes, responses. Only one kind of message is
//! this crate's business: an out-of-dialog NOTIFY whose event is one of the accepted resync
//! events. [`is_resync_notify`] tells the two apart from the message alone, before anything is
//! counted, answered or charged to a rate limit, so that the host can pass everything else to
//! its own stack untouched.

use super::event::EventMatcher;
#[cfg(any(test, fuzzing))]
use super::limits::Limits;
use super::message::Request;
#[cfg(any(test, fuzzing))]
use super::message::{self, Framing};
#[cfg(any(test, fuzzing))]
use crate::resync::Transport;

/// Whether `bytes` (one whole UDP datagram, or one message framed off a TCP stream) is a
/// resync NOTIFY: the only kind of message [`super::Endpoint`] should see when it shares a
/// port with a host stack.
///
/// The rule, in this order; the first failed step makes the message the host's:
///
/// 1. the first line, after any leading CR, LF or spaces, starts with `NOTIFY ` (methods are
///    case-sensitive: `notify` is another method);
/// 2. the message reads as a SIP request with the fields a response needs (Via, From, To,
///    Call-ID, CSeq), by the same front end the endpoint uses, with the framing of
///    `transport` (Content-Length mandatory over TCP and TLS), and is not larger than
///    [`Limits::max_message_bytes`]; a request with a malformed field is still read;
/// 3. its To header has no `tag` parameter: it is outside any dialog (a NOTIFY inside a
///    dialog belongs to a subscription of the host);
/// 4. it has an Event header (`Event` or compact `o`) whose event type, the token before the
///    first `;`, the `events` matcher accepts (`check-sync`, say; `message-summary`,
///    `presence`, `refer` and every other event are the host's).
///
/// The source address plays no part: a resync NOTIFY from a source outside the allowlist is
/// still a resync NOTIFY, and the endpoint answers it `403 Forbidden` (or drops it). A
/// retransmission passes exactly like the original, so the endpoint answers it from its
/// transaction table. Garbage, keep-alives, responses, ACKs, OPTIONS and every other method
/// are the host's.
///
/// The endpoint applies this rule to the request it has already parsed
/// (`Endpoint::handle_if_claimed`); this whole-message form is the oracle of the tests and
/// the fuzz checks.
#[cfg(any(test, fuzzing))]
pub(crate) fn is_resync_notify(
    bytes: &[u8],
    transport: Transport,
    limits: &Limits,
    events: &EventMatcher,
) -> bool {
    if !starts_like_notify(bytes) {
        return false;
    }
    message::parse(bytes, Framing::of(transport), limits)
        .is_ok_and(|req| is_resync_request(&req, events))
}

/// Step 1 of the rule, on the bytes alone: cheap first, as most of a softphone's traffic is
/// not a NOTIFY at all.
pub(super) fn starts_like_notify(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n' | b' '))
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"NOTIFY ")
}

/// Steps 3 and 4 of the rule, on a request the front end has read (step 2).
pub(super) fn is_resync_request(req: &Request, events: &EventMatcher) -> bool {
    if req.method != "NOTIFY" || req.to_tag().is_some() {
        return false;
    }
    // The event type only: its parameters are read when the endpoint makes the request.
    req.event_type()
        .is_some_and(|event| !event.is_empty() && events.matches(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::EventMatch;

    const HEAD: &str = "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc1\r\nFrom: <sip:pbx@192.0.2.1>;tag=f1\r\nCall-ID: claim-1\r\n";

    /// `METHOD uri SIP/2.0`, the common head, then `extra` header lines, then the end.
    fn request(method: &str, cseq: &str, to: &str, extra: &str) -> String {
        format!(
            "{method} sip:1001@192.0.2.10 SIP/2.0\r\n{HEAD}To: {to}\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    }

    fn notify(to: &str, extra: &str) -> String {
        request("NOTIFY", "7 NOTIFY", to, extra)
    }

    #[test]
    fn the_table() {
        let to = "<sip:1001@192.0.2.10>";
        let in_dialog = "<sip:1001@192.0.2.10>;tag=8d2f";
        let cases: Vec<(&str, String, bool)> = vec![
            ("check-sync", notify(to, "Event: check-sync\r\n"), true),
            (
                "check-sync with parameters",
                notify(to, "Event: check-sync;reboot=true;id=3\r\n"),
                true,
            ),
            (
                "upper case event, case-insensitive matching",
                notify(to, "Event: CHECK-SYNC\r\n"),
                true,
            ),
            ("compact Event", notify(to, "o: check-sync\r\n"), true),
            (
                "leading CRLF and lower-case header name",
                format!("\r\n{}", notify(to, "event:check-sync\r\n")),
                true,
            ),
            (
                "malformed CSeq: still ours, answered 400",
                request("NOTIFY", "x NOTIFY", to, "Event: check-sync\r\n"),
                true,
            ),
            (
                "CSeq method mismatch: still ours, answered 400",
                request("NOTIFY", "7 INFO", to, "Event: check-sync\r\n"),
                true,
            ),
            (
                "unsolicited voicemail summary",
                notify(to, "Event: message-summary\r\n"),
                false,
            ),
            ("presence", notify(to, "Event: presence\r\n"), false),
            (
                "an event that merely starts like ours",
                notify(to, "Event: check-sync-x\r\n"),
                false,
            ),
            ("NOTIFY without Event", notify(to, ""), false),
            ("empty Event", notify(to, "Event: ;x=1\r\n"), false),
            (
                "in-dialog NOTIFY for our event",
                notify(in_dialog, "Event: check-sync\r\n"),
                false,
            ),
            (
                "in-dialog refer progress",
                notify(in_dialog, "Event: refer\r\n"),
                false,
            ),
            (
                "lower-case method is another method",
                request("notify", "7 notify", to, "Event: check-sync\r\n"),
                false,
            ),
            (
                "INVITE",
                request("INVITE", "1 INVITE", to, "Event: check-sync\r\n"),
                false,
            ),
            ("OPTIONS", request("OPTIONS", "1 OPTIONS", to, ""), false),
            (
                "SUBSCRIBE for our event",
                request("SUBSCRIBE", "1 SUBSCRIBE", to, "Event: check-sync\r\n"),
                false,
            ),
            ("ACK", request("ACK", "1 ACK", to, ""), false),
            (
                "a response to the host's REGISTER",
                format!("SIP/2.0 200 OK\r\n{HEAD}To: {to};tag=x\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"),
                false,
            ),
            (
                "a response to a NOTIFY",
                format!("SIP/2.0 200 OK\r\n{HEAD}To: {to};tag=x\r\nCSeq: 2 NOTIFY\r\nEvent: check-sync\r\nContent-Length: 0\r\n\r\n"),
                false,
            ),
            ("garbage", "\x16\x03\x01 hello".to_owned(), false),
            ("keep-alive", "\r\n\r\n".to_owned(), false),
            ("empty", String::new(), false),
            (
                "NOTIFY without Call-ID",
                notify(to, "Event: check-sync\r\n").replace("Call-ID: claim-1\r\n", ""),
                false,
            ),
        ];
        let events = EventMatcher::default();
        for (what, msg, expected) in cases {
            assert_eq!(
                is_resync_notify(msg.as_bytes(), Transport::Udp, &Limits::default(), &events),
                expected,
                "{what}:\n{msg}"
            );
        }
    }

    #[test]
    fn the_configured_events_and_matching_decide() {
        let to = "<sip:1001@192.0.2.10>";
        let strict = EventMatcher::new(["resync"], EventMatch::Strict);
        let limits = Limits::default();
        let ours = |msg: String| is_resync_notify(msg.as_bytes(), Transport::Udp, &limits, &strict);
        assert!(ours(notify(to, "Event: resync\r\n")));
        assert!(!ours(notify(to, "Event: Resync\r\n")));
        assert!(!ours(notify(to, "Event: check-sync\r\n")));
    }

    #[test]
    fn tcp_needs_content_length_and_size_is_bounded() {
        let events = EventMatcher::default();
        let limits = Limits::default();
        let msg = notify("<sip:1001@192.0.2.10>", "Event: check-sync\r\n");
        assert!(is_resync_notify(
            msg.as_bytes(),
            Transport::Tcp,
            &limits,
            &events
        ));
        // Without Content-Length a stream message is still read (and answered 400, closing
        // the connection): it is ours.
        let bare = msg.replace("Content-Length: 0\r\n", "");
        assert!(is_resync_notify(
            bare.as_bytes(),
            Transport::Tcp,
            &limits,
            &events
        ));
        let mut huge = msg.into_bytes();
        huge.resize(limits.max_message_bytes + 1, b' ');
        assert!(!is_resync_notify(&huge, Transport::Udp, &limits, &events));
    }
}

//! The sans-IO entry point for a host SIP stack that owns the port: bytes in, a [`Verdict`] out.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::config::SipSettings;
use crate::resync::{ResyncRequest, Transport};
use crate::sip::{Counters, Disposition, Endpoint, Handled, Reply};

/// What [`Embedded::handle`] decided about one message.
// Returned by value once per message and matched at once: boxing `Ours` would cost an
// allocation per answered request to save a copy of a few hundred bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a resync NOTIFY: the host processes the message itself, exactly as if this crate
    /// were not there. Nothing was counted, answered or charged to a rate limit.
    NotOurs,
    /// A resync NOTIFY (see [`Embedded::handle`] for the rule): the host must not process it
    /// further.
    #[non_exhaustive]
    Ours {
        /// Bytes to send back first: to the source address and port over UDP, on the same
        /// connection over TCP and TLS. `None` means no answer at all (a source outside the allowlist
        /// with `refused = "drop"`, or over a request rate limit).
        reply: Option<Bytes>,
        /// The resync request to act on once the reply has been sent: hand it to the engine
        /// (`EngineHandle::trigger(Cause::from_request(&req))`) or to the application.
        /// `None` for a retransmission, a rejected or refused request, or one held back by a
        /// trigger limit (then [`Embedded::handle_timeout`] releases it later).
        resync: Option<ResyncRequest>,
        /// What happened, for logs: an accepted NOTIFY, a 4xx answer, a retransmission, a
        /// refusal, a rate limit. The `log` flags say when a line is due (once per source per
        /// minute for drops and refusals).
        disposition: Disposition,
        /// The same answer as `reply`, in parts (status, reason, To-tag, headers, close), for
        /// a host that answers inside its own server transaction: pjsip's
        /// `pjsip_endpt_respond_stateless`/`pjsip_tsx_send_msg`, Sofia's `nua_respond`,
        /// libre's `sip_treplyf`, rsipstack's `Transaction::reply_with`. `None` exactly when
        /// `reply` is.
        answer: Option<Reply>,
    },
}

impl Verdict {
    /// The verdict on a message the endpoint claimed and handled
    /// ([`Endpoint::handle_if_claimed`]), with its reply in parts
    /// ([`Endpoint::reply_parts`]): for drivers that keep the endpoint themselves.
    pub fn from_handled(handled: &Handled, answer: Option<Reply>) -> Verdict {
        Verdict::Ours {
            reply: handled.reply.clone(),
            resync: handled.resync.clone(),
            disposition: handled.disposition.clone(),
            answer,
        }
    }
}

/// The resync endpoint embedded in a host SIP stack that owns the port.
///
/// The host receives every message; it hands each one, as received, to
/// [`Embedded::handle`] with the source address, the transport and the current time:
///
/// * [`Verdict::NotOurs`]: the host handles the message as usual (INVITE, REGISTER
///   responses, in-dialog NOTIFYs, NOTIFYs for other events such as `message-summary`,
///   OPTIONS, garbage, keep-alives). Nothing was counted or answered.
/// * [`Verdict::Ours`]: the host sends `reply`, if any, to the source, then acts on `resync`,
///   if any. It does not process the message any further.
///
/// Timers: at [`Embedded::poll_timeout`] (or once a second), the host calls
/// [`Embedded::handle_timeout`], which expires transactions and may release a resync request
/// held back by a trigger limit. No sockets, no tasks, no clock: a plain `&mut` value, which
/// the host may keep in a `Mutex` to share between threads.
///
/// ```
/// use std::time::Instant;
/// use sip_resync_core::{Embedded, Verdict};
/// use sip_resync_core::Transport;
///
/// let settings = sip_resync_core::config::from_bytes(
///     b"[sip]\nevents = [\"check-sync\"]\nallow = [\"192.0.2.0/24\"]\n",
///     "phone.toml".as_ref(),
/// )?;
/// let mut embedded = Embedded::new(&settings.sip);
/// let pbx = "192.0.2.1:5060".parse()?;
/// let now = Instant::now();
///
/// let notify = b"NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\n\
/// Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
/// From: <sip:pbx@192.0.2.1>;tag=1928301774\r\nTo: <sip:1001@192.0.2.10>\r\n\
/// Call-ID: a84b4c76e66710@192.0.2.1\r\nCSeq: 102 NOTIFY\r\n\
/// Event: check-sync;reboot=false\r\nContent-Length: 0\r\n\r\n";
/// match embedded.handle(now, pbx, Transport::Udp, notify) {
///     Verdict::Ours { reply, resync, .. } => {
///         assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n")); // send it to `pbx`
///         assert_eq!(resync.unwrap().reboot, Some(false));           // then act on it
///     }
///     Verdict::NotOurs => unreachable!(),
/// }
///
/// // Voicemail notifications, calls, responses: the host's own business.
/// let mwi = String::from_utf8(notify.to_vec())?.replace("check-sync;reboot=false", "message-summary");
/// assert_eq!(embedded.handle(now, pbx, Transport::Udp, mwi.as_bytes()), Verdict::NotOurs);
/// assert_eq!(embedded.counters().received, 1);
///
/// // Timers: transactions expire, held-back requests are released.
/// if let Some(at) = embedded.poll_timeout() {
///     if let Some(request) = embedded.handle_timeout(at) {
///         println!("resync released: {}", request.event);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Embedded {
    endpoint: Endpoint,
}

impl Embedded {
    /// An endpoint for these SIP settings: the accepted events, the allowlist, the rate
    /// limits, the digest challenge, the transaction bound. `listen`, `tcp`, `udp_workers` and
    /// `tls` are the host's business and not used.
    pub fn new(sip: &SipSettings) -> Embedded {
        Embedded {
            endpoint: Endpoint::new(sip.endpoint_config()),
        }
    }

    /// Decides whether a received message is a resync NOTIFY and, if it is, answers it: one
    /// parse answers both questions. Only a resync NOTIFY reaches the endpoint (allowlist,
    /// rate limits, transactions, the response table of `docs/sip.md`).
    ///
    /// The rule, in this order; the first failed step makes the message the host's:
    ///
    /// 1. the first line, after any leading CR, LF or spaces, starts with `NOTIFY ` (methods are
    ///    case-sensitive: `notify` is another method);
    /// 2. the message reads as a SIP request with the fields a response needs (Via, From, To,
    ///    Call-ID, CSeq), by the same front end the endpoint uses, with the framing of
    ///    `transport` (Content-Length mandatory over TCP and TLS), and is not larger than
    ///    the message size limit (64 KiB); a request with a malformed field is still read;
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
    /// `bytes` is one whole UDP datagram, or one message the host framed off a TCP stream or
    /// off the decrypted bytes of a TLS connection it owns, passed with [`Transport::Tls`]
    /// (Content-Length is mandatory on both). The verdicts over TLS are those over TCP.
    pub fn handle(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Verdict {
        // One parse answers both "is this ours?" and "what to send".
        let handled = self
            .endpoint
            .handle_if_claimed(now, source, transport, bytes);
        self.verdict(handled)
    }

    /// [`Embedded::handle`] for a host stack whose transaction layer already absorbs
    /// retransmissions (pjsip, Sofia-SIP, libre, rsipstack, Kamailio's tm): each message it
    /// hands in is a new request, answered on its own merits, and no completed transaction
    /// is kept here (no second table, nothing to expire). The To-tag is derived from the
    /// request, so the host's stored response and this answer agree. The claim rule, the
    /// allowlist, the rate limits, the digest challenge and the trigger limits are those of
    /// [`Embedded::handle`]. The host replies with [`Verdict::Ours`]'s `answer` in its own
    /// server transaction, or sends `reply`.
    pub fn handle_transaction(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Verdict {
        let handled = self
            .endpoint
            .handle_if_claimed_untracked(now, source, transport, bytes);
        self.verdict(handled)
    }

    /// Whether a request the host has already parsed is a resync NOTIFY, from three of its
    /// fields: the method (exactly `NOTIFY`), the To-tag (`None` outside a dialog) and the
    /// Event header's value (`check-sync;reboot=true`, compact `o` included; `None` when there
    /// is none). A cheap check, with no parse, count or charge, for a host that calls
    /// [`Embedded::handle`] or [`Embedded::handle_transaction`] only for what is claimed;
    /// those apply the whole rule again (step 2, the fields a response needs, is theirs).
    pub fn claims(&self, method: &str, to_tag: Option<&str>, event: Option<&str>) -> bool {
        self.endpoint.claims(method, to_tag, event)
    }

    fn verdict(&mut self, handled: Option<Handled>) -> Verdict {
        let Some(handled) = handled else {
            return Verdict::NotOurs;
        };
        let answer = self.endpoint.reply_parts(&handled);
        Verdict::from_handled(&handled, answer)
    }

    /// When [`Embedded::handle_timeout`] next has work: a transaction to expire, or a resync
    /// request held back by a trigger limit to release. `None` when there is nothing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    /// Expires transactions whose Timer J has fired by `now`, and returns the resync request
    /// held back by a trigger limit once the limit admits it: act on it like
    /// [`Verdict::Ours::resync`](Verdict::Ours).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ResyncRequest> {
        self.endpoint.handle_timeout(now);
        self.endpoint.poll_deferred(now)
    }

    /// Takes new SIP settings for the next message: the accepted events, the allowlist, the
    /// rate limits, the digest challenge. Transactions, rate-limit budgets (rebuilt only when
    /// the limits change) and counters are kept.
    pub fn update_settings(&mut self, sip: &SipSettings) {
        self.endpoint.reconfigure(sip.endpoint_config());
    }

    /// The running totals of the messages claimed so far.
    pub fn counters(&self) -> Counters {
        self.endpoint.counters()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{self, Settings};

    const PBX: &str = "192.0.2.1:5060";

    fn notify(branch: &str, event: &str, to_tag: &str) -> Vec<u8> {
        format!(
            "NOTIFY sip:1001@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\nFrom: <sip:pbx@192.0.2.1>;tag=f1\r\nTo: <sip:1001@192.0.2.10>{to_tag}\r\nCall-ID: {branch}@pbx\r\nCSeq: 1 NOTIFY\r\nEvent: {event}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn settings(toml: &str) -> Settings {
        config::from_bytes(toml.as_bytes(), Path::new("t.toml")).unwrap()
    }

    fn ours(v: &Verdict) -> (Option<&[u8]>, bool) {
        match v {
            Verdict::Ours { reply, resync, .. } => (reply.as_deref(), resync.is_some()),
            Verdict::NotOurs => panic!("expected ours"),
        }
    }

    #[test]
    fn the_handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Embedded>();
    }

    #[test]
    fn only_what_is_ours_is_counted_and_answered() {
        let mut e = Embedded::new(&settings("").sip);
        let (now, src) = (Instant::now(), PBX.parse().unwrap());
        let first = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKe1", "check-sync", ""),
        );
        let (reply, resync) = ours(&first);
        assert!(reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"));
        assert!(resync);
        // The retransmission is ours too: the same answer, no second request.
        let again = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKe1", "check-sync", ""),
        );
        assert_eq!(ours(&again), (reply, false));
        for not_ours in [
            notify("z9hG4bKe2", "message-summary", ""),
            notify("z9hG4bKe3", "check-sync", ";tag=dlg"),
            b"OPTIONS sip:1001@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKo\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec(),
            b"garbage".to_vec(),
        ] {
            assert_eq!(e.handle(now, src, Transport::Udp, &not_ours), Verdict::NotOurs);
        }
        let c = e.counters();
        assert_eq!(
            (
                c.received,
                c.responses,
                c.resync_requests,
                c.retransmissions,
                c.dropped()
            ),
            (2, 2, 1, 1, 0)
        );
    }

    fn answer(v: &Verdict) -> &Reply {
        match v {
            Verdict::Ours {
                answer: Some(a), ..
            } => a,
            _ => panic!("expected an answer: {v:?}"),
        }
    }

    #[test]
    fn the_answer_in_parts_is_the_answer_in_bytes() {
        let mut e = Embedded::new(
            &settings(
                "[sip.auth]\nchallenge = true\n[[sip.auth.credentials]]\nuser = \"1001\"\nauth_id = \"1001\"\npassword = \"pw\"\n",
            )
            .sip,
        );
        let (now, src) = (Instant::now(), PBX.parse().unwrap());
        let v = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKp1", "check-sync", ""),
        );
        let a = answer(&v);
        let text = String::from_utf8(a.bytes.to_vec()).unwrap();
        assert_eq!((a.status, a.reason), (401, "Unauthorized"));
        assert!(text.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{text}");
        let tag = a
            .to_tag
            .as_ref()
            .map(crate::sip::ToTag::as_str)
            .expect("a To-tag of ours");
        assert!(
            text.contains(&format!("To: <sip:1001@192.0.2.10>;tag={tag}\r\n")),
            "{text}"
        );
        let challenges: Vec<_> = a
            .headers
            .iter()
            .filter(|(n, _)| *n == "WWW-Authenticate")
            .collect();
        assert_eq!(challenges.len(), 2, "MD5 and SHA-256: {:?}", a.headers);
        for (name, value) in &a.headers {
            assert!(text.contains(&format!("{name}: {value}\r\n")), "{text}");
        }
        assert!(!a.close);
        // The retransmission, answered from the table: the same parts.
        let again = e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKp1", "check-sync", ""),
        );
        assert_eq!(answer(&again), a);
        // An accepted NOTIFY: 200, nothing to add.
        let mut plain = Embedded::new(&settings("[sip]\nevents = [\"resync\"]\n").sip);
        let v =
            plain.handle_transaction(now, src, Transport::Udp, &notify("z9hG4bKp2", "resync", ""));
        assert_eq!(answer(&v).status, 200);
        assert!(answer(&v).headers.is_empty());
    }

    #[test]
    fn a_host_with_transactions_gets_each_request_judged_anew_and_no_table() {
        let mut e = Embedded::new(&settings("").sip);
        let (now, src) = (Instant::now(), PBX.parse().unwrap());
        let msg = notify("z9hG4bKt1", "check-sync", "");
        let first = e.handle_transaction(now, src, Transport::Udp, &msg);
        let (reply, resync) = ours(&first);
        assert!(resync);
        // The host's transaction layer absorbs retransmissions; what it hands in again is a
        // new request (with the same To-tag, derived from the request).
        let second = e.handle_transaction(now, src, Transport::Udp, &msg);
        assert_eq!(ours(&second), (reply, true));
        assert_eq!(e.poll_timeout(), None, "nothing kept, nothing to expire");
        assert_eq!(e.counters().retransmissions, 0);
    }

    #[test]
    fn websocket_is_reliable_and_frames_its_own_messages() {
        let mut e = Embedded::new(&settings("").sip);
        let (now, src) = (Instant::now(), PBX.parse().unwrap());
        // RFC 7118: Via SIP/2.0/WS, no Content-Length needed.
        let msg = String::from_utf8(notify("z9hG4bKw1", "check-sync", ""))
            .unwrap()
            .replace(
                "SIP/2.0/UDP 192.0.2.1:5060",
                "SIP/2.0/WS df7jal23ls0d.invalid",
            )
            .replace("Content-Length: 0\r\n", "");
        for transport in [Transport::Ws, Transport::Wss] {
            let v = e.handle(now, src, transport, msg.as_bytes());
            let a = answer(&v);
            assert_eq!(a.status, 200, "{transport}");
            assert!(!a.close);
            // Reliable: no completed transaction is kept, so the same message again is a
            // new request (a WebSocket peer never retransmits).
            assert!(ours(&e.handle(now, src, transport, msg.as_bytes())).1);
        }
        assert_eq!(e.poll_timeout(), None);
        assert_eq!(e.counters().retransmissions, 0);
        assert_eq!(Transport::from_via("SIP/2.0/WS"), Some(Transport::Ws));
        assert!(Transport::Wss.is_reliable() && !Transport::Wss.is_stream());
    }

    #[test]
    fn the_cheap_claim_check_follows_the_rule_and_the_settings() {
        let mut e = Embedded::new(&settings("").sip);
        assert!(e.claims("NOTIFY", None, Some("check-sync;reboot=true")));
        assert!(e.claims("NOTIFY", None, Some("Check-Sync")));
        assert!(!e.claims("NOTIFY", Some("dlg"), Some("check-sync")));
        assert!(!e.claims("NOTIFY", None, Some("message-summary")));
        assert!(!e.claims("NOTIFY", None, None));
        assert!(!e.claims("NOTIFY", None, Some(" ;x=1")));
        assert!(!e.claims("notify", None, Some("check-sync")));
        assert!(!e.claims("OPTIONS", None, Some("check-sync")));
        e.update_settings(&settings("[sip]\nevents = [\"resync\"]\n").sip);
        assert!(!e.claims("NOTIFY", None, Some("check-sync")));
        assert!(e.claims("NOTIFY", None, Some("resync")));
    }

    #[test]
    fn a_refused_source_is_ours_and_answered_or_dropped() {
        let mut e = Embedded::new(&settings("[sip]\nallow = [\"192.0.2.0/24\"]\n").sip);
        let stranger = "198.51.100.7:5060".parse().unwrap();
        let now = Instant::now();
        let v = e.handle(
            now,
            stranger,
            Transport::Udp,
            &notify("z9hG4bKr1", "check-sync", ""),
        );
        let (reply, resync) = ours(&v);
        assert!(reply.unwrap().starts_with(b"SIP/2.0 403 Forbidden\r\n"));
        assert!(!resync);
        // The stranger's other traffic is not ours to refuse.
        assert_eq!(
            e.handle(
                now,
                stranger,
                Transport::Udp,
                &notify("z9hG4bKr2", "presence", "")
            ),
            Verdict::NotOurs
        );
        e.update_settings(&settings("[sip]\nallow = [\"192.0.2.0/24\"]\nrefused = \"drop\"\n").sip);
        let v = e.handle(
            now,
            stranger,
            Transport::Udp,
            &notify("z9hG4bKr3", "check-sync", ""),
        );
        assert_eq!(ours(&v), (None, false));
        assert_eq!(e.counters().refused_source, 2);
    }

    #[test]
    fn a_held_back_trigger_is_released_by_handle_timeout() {
        let mut e =
            Embedded::new(&settings("[sip.limits]\ntriggers_per_minute_per_source = 1\n").sip);
        let (t0, src) = (Instant::now(), PBX.parse().unwrap());
        let v = e.handle(
            t0,
            src,
            Transport::Udp,
            &notify("z9hG4bKh1", "check-sync", ""),
        );
        assert!(ours(&v).1);
        let v = e.handle(
            t0,
            src,
            Transport::Udp,
            &notify("z9hG4bKh2", "check-sync", ""),
        );
        let (reply, resync) = ours(&v);
        assert!(
            reply.unwrap().starts_with(b"SIP/2.0 200 OK\r\n"),
            "answered 200"
        );
        assert!(!resync, "held back");
        let at = e.poll_timeout().expect("a timer is armed");
        assert!(at > t0);
        let mut released = None;
        let mut now = t0;
        while released.is_none() && now < t0 + std::time::Duration::from_secs(120) {
            now = e
                .poll_timeout()
                .unwrap_or(now + std::time::Duration::from_secs(1))
                .max(now);
            released = e.handle_timeout(now);
            if released.is_none() {
                now += std::time::Duration::from_millis(100);
            }
        }
        let req = released.expect("released within the minute");
        assert_eq!(req.call_id, "z9hG4bKh2@pbx");
        assert!(now <= t0 + std::time::Duration::from_secs(61));
    }
}

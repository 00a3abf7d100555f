//! The SIP endpoint: a framed message in, a decision out. No I/O, no clock.
//!
//! [`Endpoint::handle`] implements the response table of the behaviour contract (section 1).
//! After framing (unanswerable input is dropped and counted) and ACK absorption, a UDP request
//! is first matched against completed transactions (§17.2.3; a retransmission gets the stored
//! response again). A new request is then inspected in the order RFC 3261 §8.2 gives:
//! version (505), syntax (400), method (405 / 501), CSeq consistency (400), Request-URI
//! scheme (416), `Require` (420), then the NOTIFY rules: a missing Event is 400, a To-tag is
//! 481 (no dialogs exist here), an event outside the accepted list is 489 with
//! `Allow-Events`, and an accepted event is 200 OK plus one [`ResyncRequest`].
//!
//! The reply is part of the returned [`Handled`]; the caller sends it before acting on the
//! resync request, so the PBX is answered before any work starts.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::event::{EventHeader, EventMatcher};
use super::headers::{self, Name};
use super::limits::Limits;
use super::message::{self, Defect, Framing, Request, Unanswerable};
use super::response::{self, Status, ALLOW};
use super::transaction::{DupKey, Lookup, TransactionTable, TxKey, TIMER_J_UDP};
use crate::resync::{ResyncRequest, Transport};

/// Methods defined by the SIP RFCs. A request with one of these that is not NOTIFY or OPTIONS
/// gets 405; any other method is unknown and gets 501 (RFC 3261 §8.2.1).
const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "INFO",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "UPDATE",
    "MESSAGE",
    "REFER",
    "PUBLISH",
];

/// Settings of the endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The accepted events and how they are compared.
    pub events: EventMatcher,
    /// Bounds on received messages.
    pub limits: Limits,
    /// Most completed UDP transactions remembered at once (each for Timer J = 32 s).
    pub max_transactions: usize,
    /// Most bytes of responses remembered for them together.
    pub max_transaction_bytes: usize,
    /// A dropped message is logged at most once per source address per this interval.
    pub drop_log_interval: Duration,
    /// Most source addresses remembered for drop logging.
    pub max_drop_log_sources: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            events: EventMatcher::default(),
            limits: Limits::default(),
            max_transactions: 4096,
            max_transaction_bytes: 8 * 1024 * 1024,
            drop_log_interval: Duration::from_secs(60),
            max_drop_log_sources: 1024,
        }
    }
}

/// Running totals, for status snapshots and periodic summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Messages handed to [`Endpoint::handle`].
    pub received: u64,
    /// Responses produced (retransmitted ones included).
    pub responses: u64,
    /// Accepted NOTIFYs turned into resync requests.
    pub resync_requests: u64,
    /// Retransmissions answered from the transaction table.
    pub retransmissions: u64,
    /// Same Call-ID/From-tag/CSeq with a new branch, answered from the table.
    pub duplicates: u64,
    /// Requests answered with a 4xx or 5xx.
    pub rejected: u64,
    /// ACKs, absorbed without an answer.
    pub acks: u64,
    /// CRLF keep-alives.
    pub keepalives: u64,
    /// Responses received (nothing here sends requests they could answer); dropped.
    pub dropped_responses: u64,
    /// Messages over the size limit; dropped.
    pub dropped_oversize: u64,
    /// Input that is not a SIP request; dropped.
    pub dropped_garbage: u64,
    /// Requests without the fields a response needs; dropped.
    pub dropped_unanswerable: u64,
    /// Completed transactions evicted early because the table was full.
    pub transactions_evicted: u64,
    /// TCP connections closed because their stream could not be framed or was too slow.
    pub stream_errors: u64,
}

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// An accepted NOTIFY: answered 200 and a resync request produced.
    Resync,
    /// Answered with this status code (OPTIONS, errors).
    Answered(u16),
    /// A retransmission: the stored response is sent again; nothing else happens.
    Retransmission,
    /// Same Call-ID, From-tag and CSeq as a recent request: stored response sent again.
    Duplicate,
    /// An ACK: never answered.
    Absorbed,
    /// Dropped without an answer.
    Dropped {
        /// Why.
        reason: Unanswerable,
        /// True when this source has not been logged within the drop-log interval; the caller
        /// logs the drop only then, so a flood produces a bounded number of log lines.
        log: bool,
    },
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Bytes to send back: to the source address over UDP, on the same connection over TCP.
    pub reply: Option<Bytes>,
    /// The resync request to hand to the engine, after the reply has been sent.
    pub resync: Option<ResyncRequest>,
    /// What happened.
    pub disposition: Disposition,
    /// Over TCP: the message framing can no longer be trusted; close after sending the reply.
    pub close: bool,
}

impl Handled {
    fn dropped(reason: Unanswerable, log: bool) -> Handled {
        Handled {
            reply: None,
            resync: None,
            disposition: Disposition::Dropped { reason, log },
            close: false,
        }
    }
}

/// What is remembered of a completed transaction: the response, and the decision behind it
/// (to answer a duplicate with a new branch, whose response must carry its own Via).
#[derive(Debug, Clone)]
struct Completed {
    reply: Bytes,
    status: Status,
    extra: std::sync::Arc<[(&'static str, String)]>,
}

/// The sans-IO SIP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    udp_transactions: TransactionTable<Completed>,
    counters: Counters,
    tag_key: std::collections::hash_map::RandomState,
    drop_log: HashMap<IpAddr, Instant>,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint {
            udp_transactions: TransactionTable::new(
                config.max_transactions,
                config.max_transaction_bytes,
                TIMER_J_UDP,
            ),
            config,
            counters: Counters::default(),
            tag_key: Default::default(),
            drop_log: HashMap::new(),
        }
    }

    /// The current settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Replaces the accepted events (a settings change takes effect for the next message).
    pub fn set_events(&mut self, events: EventMatcher) {
        self.config.events = events;
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        Counters {
            transactions_evicted: self.udp_transactions.evicted(),
            ..self.counters
        }
    }

    /// When [`Endpoint::handle_timeout`] next has work (a transaction's Timer J).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.udp_transactions.next_expiry()
    }

    /// Expires completed transactions whose Timer J has fired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.udp_transactions.expire(now);
    }

    /// Number of completed transactions currently remembered.
    pub fn transactions(&self) -> usize {
        self.udp_transactions.len()
    }

    /// Handles one message: a whole UDP datagram, or one message framed off a TCP stream by
    /// [`super::StreamFramer`].
    pub fn handle(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Handled {
        self.counters.received += 1;
        let framing = match transport {
            Transport::Udp => Framing::Datagram,
            Transport::Tcp => Framing::Stream,
        };
        let req = match message::parse(bytes, framing, &self.config.limits) {
            Ok(req) => req,
            Err(reason) => return self.drop(now, source, reason),
        };
        if req.method == "ACK" {
            // RFC 3261 §17.2.1: an ACK is never answered, whether it matches a transaction or not.
            self.counters.acks += 1;
            return Handled {
                reply: None,
                resync: None,
                disposition: Disposition::Absorbed,
                close: false,
            };
        }

        let keys = match (transport, &req.cseq, &req.top_via) {
            (Transport::Udp, Some(_), Some(_)) => Some(transaction_keys(&req, source)),
            _ => None,
        };
        if let Some((key, dup)) = &keys {
            match self.udp_transactions.lookup(now, key, dup) {
                Lookup::New => {}
                Lookup::Retransmission(done) => {
                    self.counters.retransmissions += 1;
                    self.counters.responses += 1;
                    return Handled {
                        reply: Some(done.reply),
                        resync: None,
                        disposition: Disposition::Retransmission,
                        close: false,
                    };
                }
                Lookup::Duplicate(done) => {
                    // Same answer, but built for this request: its Via (branch, received,
                    // rport) is what the sender matches the response with.
                    self.counters.duplicates += 1;
                    self.counters.responses += 1;
                    let extra: Vec<(&str, &str)> =
                        done.extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
                    let reply =
                        response::build(&req, done.status, &self.to_tag(&req), source, &extra);
                    return Handled {
                        reply: Some(Bytes::from(reply)),
                        resync: None,
                        disposition: Disposition::Duplicate,
                        close: false,
                    };
                }
            }
        }

        let (status, extra, event) = self.decide(&req);
        let extra: std::sync::Arc<[(&'static str, String)]> = extra
            .into_iter()
            .map(|(n, v)| match v {
                Extra::AllowEvents => (n, self.config.events.allow_events().to_owned()),
                Extra::Text(t) => (n, t),
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let to_tag = self.to_tag(&req);
        let reply = Bytes::from(response::build(&req, status, &to_tag, source, &borrowed));
        if let Some((key, dup)) = keys {
            let cost = reply.len() + extra.iter().map(|(_, v)| v.len()).sum::<usize>() + 256;
            let done = Completed {
                reply: reply.clone(),
                status,
                extra,
            };
            self.udp_transactions.insert(now, key, dup, done, cost);
        }
        self.counters.responses += 1;
        let close = transport == Transport::Tcp
            && matches!(
                req.defect,
                Some(
                    Defect::ContentLength
                        | Defect::ConflictingContentLength
                        | Defect::MissingContentLength
                )
            );
        match event {
            Some(event) => {
                self.counters.resync_requests += 1;
                Handled {
                    reply: Some(reply),
                    resync: Some(ResyncRequest {
                        source,
                        transport,
                        reboot: event.reboot(),
                        event: event.event,
                        params: event.params,
                        call_id: req.call_id().to_owned(),
                        received_at: now,
                    }),
                    disposition: Disposition::Resync,
                    close,
                }
            }
            None => {
                if status.code() >= 400 {
                    self.counters.rejected += 1;
                }
                Handled {
                    reply: Some(reply),
                    resync: None,
                    disposition: Disposition::Answered(status.code()),
                    close,
                }
            }
        }
    }

    /// The response to a new request, and the accepted event when it is a resync trigger.
    fn decide(&self, req: &Request) -> (Status, Vec<(&'static str, Extra)>, Option<EventHeader>) {
        let allow = || vec![("Allow", Extra::Text(ALLOW.to_owned()))];
        if !req.is_sip2() {
            return (Status::VersionNotSupported, vec![], None);
        }
        if let Some(defect) = &req.defect {
            return (Status::BadRequest(defect.reason()), vec![], None);
        }
        let method = req.method.as_str();
        if method != "NOTIFY" && method != "OPTIONS" {
            let status = if KNOWN_METHODS.contains(&method) {
                Status::MethodNotAllowed
            } else {
                Status::NotImplemented
            };
            return (status, allow(), None);
        }
        if req.cseq.as_ref().is_some_and(|c| c.method != req.method) {
            return (
                Status::BadRequest(Defect::CSeqMethodMismatch.reason()),
                vec![],
                None,
            );
        }
        let scheme = req.uri.split(':').next().unwrap_or_default();
        if !["sip", "sips", "tel"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return (Status::UnsupportedUriScheme, vec![], None);
        }
        let required: Vec<&str> = req
            .values(&Name::Require)
            .flat_map(headers::split_values)
            .collect();
        if !required.is_empty() {
            // Joined with a bare comma (RFC 3261 COMMA allows it): ", " would add a byte per
            // tag, so `Require: a,a,a,…` would get a response half again as large.
            return (
                Status::BadExtension,
                vec![("Unsupported", Extra::Text(required.join(",")))],
                None,
            );
        }
        // The normalised request is modelled by rsip. rsip 0.4 rejects some URIs RFC 3261
        // allows (RFC 4475 §3.1.1.9 `sip:user;par=u%40example.net@example.com`): the front
        // end has already validated the request, so its view is used then.
        let model = rsip::Request::try_from(req.to_normalised_bytes()).ok();
        if method == "OPTIONS" {
            let mut extra = allow();
            extra.push(("Allow-Events", Extra::AllowEvents));
            extra.push((
                "Accept",
                Extra::Text("application/simple-message-summary, text/plain".into()),
            ));
            return (Status::Ok, extra, None);
        }
        let event = match &model {
            Some(model) => model.headers.iter().find_map(|h| match h {
                rsip::Header::Event(e) => Some(rsip::headers::UntypedHeader::value(e).to_owned()),
                _ => None,
            }),
            None => req.first(&Name::Event).map(str::to_owned),
        };
        let Some(event) = event else {
            return (Status::BadRequest("Missing Event Header"), vec![], None);
        };
        let Some(event) = EventHeader::parse(&event, self.config.limits.max_event_params) else {
            return (Status::BadRequest("Empty Event Header"), vec![], None);
        };
        if headers::param(req.to(), "tag").is_some() {
            return (Status::CallDoesNotExist, vec![], None);
        }
        if !self.config.events.matches(&event.event) {
            return (
                Status::BadEvent,
                vec![("Allow-Events", Extra::AllowEvents)],
                None,
            );
        }
        (Status::Ok, vec![], Some(event))
    }

    /// A To-tag derived from the transaction, so a retransmission answered after its
    /// transaction expired still carries the same tag; keyed per process, so it is not
    /// predictable from the request.
    fn to_tag(&self, req: &Request) -> String {
        let branch = req.top_via.as_ref().and_then(|v| v.branch.as_deref());
        let h = self
            .tag_key
            .hash_one((req.call_id(), from_tag(req), req.cseq_raw(), branch));
        format!("{h:016x}")
    }

    /// Records that a stream from `source` could not be framed (or stalled) and was closed.
    /// Returns true when the driver should log it: once per source per drop-log interval.
    pub fn note_stream_error(&mut self, now: Instant, source: SocketAddr) -> bool {
        self.counters.stream_errors += 1;
        self.should_log(now, source.ip())
    }

    fn drop(&mut self, now: Instant, source: SocketAddr, reason: Unanswerable) -> Handled {
        let counter = match reason {
            Unanswerable::KeepAlive => {
                self.counters.keepalives += 1;
                return Handled::dropped(reason, false);
            }
            Unanswerable::Response => &mut self.counters.dropped_responses,
            Unanswerable::TooLarge(_) => &mut self.counters.dropped_oversize,
            Unanswerable::Garbage(_) => &mut self.counters.dropped_garbage,
            Unanswerable::MissingField(_) => &mut self.counters.dropped_unanswerable,
        };
        *counter += 1;
        let log = self.should_log(now, source.ip());
        Handled::dropped(reason, log)
    }

    fn should_log(&mut self, now: Instant, ip: IpAddr) -> bool {
        let interval = self.config.drop_log_interval;
        if let Some(last) = self.drop_log.get_mut(&ip) {
            if now.saturating_duration_since(*last) < interval {
                return false;
            }
            *last = now;
            return true;
        }
        if self.drop_log.len() >= self.config.max_drop_log_sources {
            self.drop_log
                .retain(|_, last| now.saturating_duration_since(*last) < interval);
            if self.drop_log.len() >= self.config.max_drop_log_sources {
                return false;
            }
        }
        self.drop_log.insert(ip, now);
        true
    }
}

/// An extra response header's value.
enum Extra {
    AllowEvents,
    Text(String),
}

fn from_tag(req: &Request) -> &str {
    headers::param(req.from(), "tag")
        .flatten()
        .unwrap_or_default()
}

fn transaction_keys(req: &Request, source: SocketAddr) -> (TxKey, DupKey) {
    let cseq = req.cseq.as_ref().expect("checked by caller");
    let via = req.top_via.as_ref().expect("checked by caller");
    let method = if req.method == "ACK" {
        "INVITE"
    } else {
        req.method.as_str()
    };
    let key = match &via.branch {
        Some(b) if b.starts_with("z9hG4bK") && b.len() > "z9hG4bK".len() => TxKey::Branch {
            branch: b.clone(),
            sent_by: via.sent_by.to_ascii_lowercase(),
            method: method.to_owned(),
        },
        _ => TxKey::Legacy {
            uri: req.uri.clone(),
            from_tag: from_tag(req).to_owned(),
            to_tag: headers::param(req.to(), "tag")
                .flatten()
                .unwrap_or_default()
                .to_owned(),
            call_id: req.call_id().to_owned(),
            cseq: cseq.number,
            method: method.to_owned(),
            top_via: req.first(&Name::Via).unwrap_or_default().to_owned(),
        },
    };
    let dup = DupKey {
        source,
        call_id: req.call_id().to_owned(),
        from_tag: from_tag(req).to_owned(),
        cseq: cseq.number,
        method: cseq.method.clone(),
    };
    (key, dup)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "127.0.0.1:5070";

    fn notify(branch: &str, cseq: u32, event: Option<&str>, to_tag: bool) -> Vec<u8> {
        let event = event.map(|e| format!("Event: {e}\r\n")).unwrap_or_default();
        let tag = if to_tag { ";tag=abc" } else { "" };
        format!(
            "NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f1\r\nTo: <sip:1001@127.0.0.1>{tag}\r\nCall-ID: cid-1\r\nCSeq: {cseq} NOTIFY\r\n{event}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn code(h: &Handled) -> Option<u16> {
        let r = h.reply.as_ref()?;
        std::str::from_utf8(r).ok()?.split(' ').nth(1)?.parse().ok()
    }

    fn ep() -> Endpoint {
        Endpoint::new(EndpointConfig::default())
    }

    #[test]
    fn many_require_tags_do_not_make_a_larger_420() {
        let tags = vec!["a"; 3000].join(",");
        let msg = String::from_utf8(notify("z9hG4bKr", 1, Some("check-sync"), false))
            .unwrap()
            .replace(
                "Content-Length",
                &format!("Require: {tags}, b\r\nContent-Length"),
            );
        let src = SRC.parse().unwrap();
        let h = ep().handle(Instant::now(), src, Transport::Udp, msg.as_bytes());
        assert_eq!(code(&h), Some(420));
        let reply = String::from_utf8(h.reply.unwrap().to_vec()).unwrap();
        assert!(reply.contains("\r\nUnsupported: a,a,"), "{reply}");
        assert!(reply.contains(",a,b\r\n"), "{reply}");
        assert!(
            reply.len() <= msg.len() + 100,
            "{} for {}",
            reply.len(),
            msg.len()
        );
    }

    #[test]
    fn response_table() {
        let now = Instant::now();
        let src = SRC.parse().unwrap();
        let mut e = ep();
        let cases: Vec<(Vec<u8>, Option<u16>, bool)> = vec![
            (notify("z9hG4bK1", 1, Some("check-sync"), false), Some(200), true),
            (notify("z9hG4bK2", 2, Some("Check-Sync;reboot=true"), false), Some(200), true),
            (notify("z9hG4bK3", 3, Some("presence"), false), Some(489), false),
            (notify("z9hG4bK4", 4, None, false), Some(400), false),
            (notify("z9hG4bK5", 5, Some("check-sync"), true), Some(481), false),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK6\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: o1\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec(),
                Some(200),
                false,
            ),
            (
                b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK7\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: a1\r\nCSeq: 1 ACK\r\n\r\n".to_vec(),
                None,
                false,
            ),
            (
                b"SUBSCRIBE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK8\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: s1\r\nCSeq: 1 SUBSCRIBE\r\n\r\n".to_vec(),
                Some(405),
                false,
            ),
            (
                b"NOTIFY sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK9\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: v1\r\nCSeq: 1 NOTIFY\r\nEvent: check-sync\r\n\r\n".to_vec(),
                Some(505),
                false,
            ),
            (
                b"NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK10\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: m1\r\nCSeq: 1 OPTIONS\r\nEvent: check-sync\r\n\r\n".to_vec(),
                Some(400),
                false,
            ),
            (b"garbage\r\n\r\n".to_vec(), None, false),
        ];
        for (i, (msg, want, resync)) in cases.iter().enumerate() {
            let h = e.handle(now, src, Transport::Udp, msg);
            assert_eq!(code(&h), *want, "case {i}: {h:?}");
            assert_eq!(h.resync.is_some(), *resync, "case {i}");
        }
        let c = e.counters();
        assert_eq!(c.resync_requests, 2);
        assert_eq!(c.acks, 1);
        assert_eq!(c.dropped_garbage, 1);
    }

    #[test]
    fn reasons_and_extra_headers() {
        let now = Instant::now();
        let mut e = ep();
        let src = SRC.parse().unwrap();
        let text = |h: Handled| String::from_utf8(h.reply.unwrap().to_vec()).unwrap();
        let r = text(e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKa", 1, None, false),
        ));
        assert!(r.starts_with("SIP/2.0 400 Missing Event Header\r\n"), "{r}");
        let r = text(e.handle(
            now,
            src,
            Transport::Udp,
            &notify("z9hG4bKb", 2, Some("resync"), false),
        ));
        assert!(r.contains("\r\nAllow-Events: check-sync\r\n"), "{r}");
        assert!(r.contains("\r\nTo: <sip:1001@127.0.0.1>;tag="), "{r}");
    }

    #[test]
    fn retransmission_gets_the_same_response_and_no_second_signal_for_timer_j() {
        let t0 = Instant::now();
        let src = SRC.parse().unwrap();
        let mut e = ep();
        let msg = notify("z9hG4bKr", 7, Some("check-sync"), false);
        let first = e.handle(t0, src, Transport::Udp, &msg);
        assert!(first.resync.is_some());
        // Retransmissions across Timer J, on a virtual clock.
        for ms in [500u64, 1500, 3500, 7500, 15_500, 31_999] {
            let h = e.handle(t0 + Duration::from_millis(ms), src, Transport::Udp, &msg);
            assert_eq!(h.disposition, Disposition::Retransmission, "at {ms} ms");
            assert_eq!(h.reply, first.reply, "byte-identical response at {ms} ms");
            assert!(h.resync.is_none());
        }
        // Same Call-ID/From-tag/CSeq, new branch: a duplicate.
        let dup = e.handle(
            t0 + Duration::from_secs(5),
            src,
            Transport::Udp,
            &notify("z9hG4bKnew", 7, Some("check-sync"), false),
        );
        assert_eq!(dup.disposition, Disposition::Duplicate);
        assert!(dup.resync.is_none());
        let dup_reply = String::from_utf8(dup.reply.unwrap().to_vec()).unwrap();
        assert!(dup_reply.starts_with("SIP/2.0 200 OK\r\n"), "{dup_reply}");
        assert!(
            dup_reply.contains(";branch=z9hG4bKnew"),
            "answered with its own Via: {dup_reply}"
        );
        assert_eq!(e.poll_timeout(), Some(t0 + TIMER_J_UDP));
        // After Timer J the transaction is gone; the same bytes are a new request.
        e.handle_timeout(t0 + TIMER_J_UDP);
        assert_eq!(e.transactions(), 0);
        let later = e.handle(t0 + TIMER_J_UDP, src, Transport::Udp, &msg);
        assert!(later.resync.is_some());
        assert_eq!(e.counters().resync_requests, 2);
        assert_eq!(e.counters().retransmissions, 6);
        assert_eq!(e.counters().duplicates, 1);
    }

    #[test]
    fn tcp_keeps_no_transactions() {
        let t0 = Instant::now();
        let src = SRC.parse().unwrap();
        let mut e = ep();
        let msg = notify("z9hG4bKt", 1, Some("check-sync"), false);
        assert!(e.handle(t0, src, Transport::Tcp, &msg).resync.is_some());
        assert!(e.handle(t0, src, Transport::Tcp, &msg).resync.is_some());
        assert_eq!(e.transactions(), 0);
    }

    #[test]
    fn drops_are_logged_once_per_source_per_interval() {
        let t0 = Instant::now();
        let mut e = ep();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let logged = |h: Handled| matches!(h.disposition, Disposition::Dropped { log: true, .. });
        assert!(logged(e.handle(t0, a, Transport::Udp, b"junk")));
        assert!(!logged(e.handle(
            t0 + Duration::from_secs(1),
            a,
            Transport::Udp,
            b"junk"
        )));
        assert!(logged(e.handle(
            t0 + Duration::from_secs(1),
            b,
            Transport::Udp,
            b"junk"
        )));
        assert!(logged(e.handle(
            t0 + Duration::from_secs(61),
            a,
            Transport::Udp,
            b"junk"
        )));
        assert_eq!(e.counters().dropped_garbage, 4);
    }

    #[test]
    fn strict_matching_and_settings_change() {
        let now = Instant::now();
        let src = SRC.parse().unwrap();
        let mut e = ep();
        e.set_events(EventMatcher::new(
            ["resync"],
            super::super::EventMatch::Strict,
        ));
        assert_eq!(
            code(&e.handle(
                now,
                src,
                Transport::Udp,
                &notify("z9hG4bKs1", 1, Some("RESYNC"), false)
            )),
            Some(489)
        );
        assert_eq!(
            code(&e.handle(
                now,
                src,
                Transport::Udp,
                &notify("z9hG4bKs2", 2, Some("resync"), false)
            )),
            Some(200)
        );
    }
}

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
//! Trust comes first. A message from a source outside the allowlist ([`EndpointConfig::allow`])
//! is answered `403 Forbidden` or, with [`RefusedAction::Drop`], not at all; either way it is
//! never acted upon. Every message is then charged to its source's and to the global request
//! budget ([`RateLimits`]) before it is read: over budget, it is dropped unread. An accepted
//! NOTIFY is charged to the trigger budgets too: over budget it is still answered 200, but the
//! resync request is held back (the latest one only) and released by
//! [`Endpoint::poll_deferred`] when the budget allows, unless another request has gone out
//! in the meantime and covers it.
//!
//! The reply is part of the returned [`Handled`]; the caller sends it before acting on the
//! resync request, so the PBX is answered before any work starts.
//!
//! In the code, a message that has been read goes through named steps: ACK absorption, the
//! 403 of a refused source, the completed transactions, `decide` (the response table, whose
//! verdict is a `Decision`: one variant per kind of answer), the digest check, and `respond`.
//! The counters follow from the [`Disposition`] of each handled message, in one place
//! ([`Counters::record`](super::Counters)).
//!
//! The digest check draws on a [`DigestState`] the endpoint shares with the process's other
//! endpoints (one nonce key, one `nc` table, one set of failure counts). An answer from a
//! source address (or for a user) that gave too many failed answers is not checked: it is
//! dropped unanswered ([`Disposition::AuthThrottled`]).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::allow::{Allowlist, RefusedAction};
use super::claim;
use super::event::{EventHeader, EventMatcher};
use super::headers::{self, Name};
use super::limits::Limits;
use super::message::{self, Defect, Framing, Request, Unanswerable};
use super::rate::{GlobalBudget, Limit, RateLimiter, RateLimits};
use super::response::{self, Status, ALLOW};
use super::transaction::{DupKey, Lookup, TransactionTable, TxKey, TIMER_J_UDP};
use super::Counters;
use crate::digest::{AuthConfig, AuthFailure, DigestState};
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
    /// Bounds on received messages: size, headers, Event parameters.
    pub message_limits: Limits,
    /// Most completed UDP transactions remembered at once (each for Timer J = 32 s).
    pub max_transactions: usize,
    /// Most bytes of responses remembered for them together.
    pub max_transaction_bytes: usize,
    /// A dropped message is logged at most once per source address per this interval.
    pub drop_log_interval: Duration,
    /// Most source addresses remembered for drop logging.
    pub max_drop_log_sources: usize,
    /// Sources allowed to send requests; empty (the default) allows every source.
    pub allow: Allowlist,
    /// What a request from a source outside `allow` gets: 403, or nothing.
    pub refused: RefusedAction,
    /// Request and trigger rate limits, per source and global.
    pub rate_limits: RateLimits,
    /// The digest challenge of NOTIFY (off by default).
    pub auth: AuthConfig,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            events: EventMatcher::default(),
            message_limits: Limits::default(),
            max_transactions: 4096,
            max_transaction_bytes: 8 * 1024 * 1024,
            drop_log_interval: Duration::from_secs(60),
            max_drop_log_sources: 1024,
            allow: Allowlist::default(),
            refused: RefusedAction::default(),
            rate_limits: RateLimits::default(),
            auth: AuthConfig::default(),
        }
    }
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
    /// From a source outside the allowlist: answered 403 (the reply is set), or not answered
    /// at all with [`RefusedAction::Drop`]. Never a resync request.
    Refused {
        /// True when the caller should log it (once per source per drop-log interval).
        log: bool,
    },
    /// Over a request rate limit: dropped unread, not answered.
    RateLimited {
        /// Which limit.
        limit: Limit,
        /// True when the caller should log it (per-source limit: once per source per drop-log
        /// interval; global limit: once per interval in all).
        log: bool,
    },
    /// An accepted NOTIFY over a trigger rate limit: answered 200 without a resync request.
    /// The latest such request is held back and released by
    /// [`crate::Embedded::handle_timeout`] (in the listeners: their once-a-second tick) when
    /// the budget allows, unless another resync request goes out first.
    TriggerLimited {
        /// Which limit.
        limit: Limit,
        /// As for [`Disposition::RateLimited`].
        log: bool,
    },
    /// A NOTIFY that would trigger a resync, answered 401 with a digest challenge because
    /// its credentials were missing, wrong or stale. Never a resync request.
    Challenged {
        /// Why.
        reason: AuthFailure,
        /// True when the caller should log it: refused credentials, once per source per
        /// drop-log interval (a missing or stale credential is the normal exchange).
        log: bool,
    },
    /// A NOTIFY whose credentials were not checked because its source address (or its
    /// user) gave too many failed answers: dropped without an answer, so a guesser learns
    /// nothing and gets no fresh nonce. Never a resync request.
    AuthThrottled {
        /// Failed answers counted for the source address so far.
        failures: u32,
        /// True when the caller should log it (once per source per drop-log interval): the
        /// summary of this source's failures.
        log: bool,
    },
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
    /// Bytes to send back: to the source address over UDP, on the same connection over TCP
    /// and TLS.
    pub reply: Option<Bytes>,
    /// The resync request to hand to the engine, after the reply has been sent.
    pub resync: Option<ResyncRequest>,
    /// What happened.
    pub disposition: Disposition,
    /// Over TCP and TLS: the message framing can no longer be trusted; close after sending
    /// the reply.
    pub close: bool,
}

impl Handled {
    fn dropped(reason: Unanswerable, log: bool) -> Handled {
        Handled::silent(Disposition::Dropped { reason, log })
    }

    fn silent(disposition: Disposition) -> Handled {
        Handled {
            reply: None,
            resync: None,
            disposition,
            close: false,
        }
    }
}

/// A To-tag of ours: 16 lower-case hex digits derived from the request, kept inline so that
/// an answer in parts costs no allocation for it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ToTag([u8; 16]);

impl ToTag {
    /// The tag as text.
    pub fn as_str(&self) -> &str {
        // Built from ASCII hex digits only (`Endpoint::to_tag`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for ToTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for ToTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ToTag({})", self.as_str())
    }
}

/// The answer to a request in parts, for a host stack that builds its own response (inside
/// its own server transaction) rather than sending bytes: the status, the reason, the To-tag
/// to put on the response, the headers to add (`WWW-Authenticate`, `Allow-Events`, `Allow`,
/// `Accept`, `Unsupported`), and whether to close the connection afterwards. `bytes` is the
/// same answer as a whole response, for a host that sends bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The status code: 200, 400, 401, 403, 405, 416, 420, 481, 489, 501 or 505.
    pub status: u16,
    /// The reason phrase (for a 400, it names what is wrong).
    pub reason: &'static str,
    /// The To-tag of the response, derived from the request (a retransmission answered by
    /// the host's own transaction layer, or by this endpoint after its transaction expired,
    /// carries the same); `None` when the request's To already had one.
    pub to_tag: Option<ToTag>,
    /// The headers to add besides those copied from the request (Via, From, To, Call-ID,
    /// CSeq) and Content-Length, in order: each `WWW-Authenticate` of a challenge (one per
    /// algorithm), `Allow-Events` of a 489, `Allow` and `Accept` of an OPTIONS answer,
    /// `Unsupported` of a 420.
    pub headers: Vec<(&'static str, String)>,
    /// Over TCP and TLS: close the connection after sending (the framing of the stream can no
    /// longer be trusted).
    pub close: bool,
    /// The whole response: what to send when the host sends bytes.
    pub bytes: Bytes,
}

/// Whether a new TCP connection is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionAdmission {
    /// Serve it.
    Accept,
    /// Close it at once without reading: its source is outside the allowlist and refused
    /// sources are dropped ([`RefusedAction::Drop`]).
    Refuse {
        /// True when the caller should log it (once per source per drop-log interval).
        log: bool,
    },
}

/// What is remembered of a completed transaction: the response, and the answer behind it
/// (to answer a duplicate with a new branch, whose response must carry its own Via).
#[derive(Debug, Clone)]
struct Completed {
    reply: Bytes,
    answer: Answer,
}

/// The sans-IO SIP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    udp_transactions: TransactionTable<Completed>,
    counters: Counters,
    tag_key: std::collections::hash_map::RandomState,
    /// When drops were last logged, by this endpoint.
    log: LogMemory,
    /// The same, shared with the endpoints of other workers (`None` for a lone endpoint).
    shared_log: Option<Arc<Mutex<LogMemory>>>,
    limiter: RateLimiter,
    /// The latest resync request held back by a trigger limit.
    deferred: Option<ResyncRequest>,
    /// Nonce key, `nc` table and failure counts of the digest challenge, shared with the
    /// process's other endpoints.
    digest: Arc<DigestState>,
    /// Where replies are written before they are copied into their own bytes.
    scratch: Vec<u8>,
    /// The answer behind the last reply, and its To-tag (see [`Endpoint::reply_parts`]).
    last_answer: Option<(Answer, Option<[u8; 16]>)>,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint::sharing(config, GlobalBudget::new(), None, DigestState::shared())
    }

    /// A new endpoint whose global rate limits draw on `global`, whose drop logging is
    /// rationed with `shared_log`, and whose digest challenge (nonce key, `nc` table, failure
    /// counts) is `digest`, all shared with other endpoints (one per UDP worker, one for TCP
    /// and TLS): a nonce issued by one is good on every other. Everything else is its own.
    pub fn sharing(
        config: EndpointConfig,
        global: Arc<GlobalBudget>,
        shared_log: Option<Arc<Mutex<LogMemory>>>,
        digest: Arc<DigestState>,
    ) -> Endpoint {
        Endpoint {
            udp_transactions: TransactionTable::new(
                config.max_transactions,
                config.max_transaction_bytes,
                TIMER_J_UDP,
            ),
            limiter: RateLimiter::sharing(config.rate_limits, global),
            config,
            counters: Counters::default(),
            tag_key: Default::default(),
            log: LogMemory::default(),
            shared_log,
            deferred: None,
            digest,
            scratch: Vec::with_capacity(1024),
            last_answer: None,
        }
    }

    /// The current settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Replaces the accepted events (a settings change takes effect for the next message).
    #[cfg(test)]
    pub fn set_events(&mut self, events: EventMatcher) {
        self.config.events = events;
    }

    /// Replaces the settings for the next message, keeping the state: remembered
    /// transactions, rate-limit budgets (rebuilt only when the limits change) and counters.
    /// The transaction bounds of the first configuration stay in force.
    pub fn reconfigure(&mut self, config: EndpointConfig) {
        self.reconfigure_sharing(config, GlobalBudget::new);
    }

    /// [`Endpoint::reconfigure`] for endpoints that share their global budget: when the
    /// limits change, the new one comes from `global` (the same for every endpoint).
    pub fn reconfigure_sharing(
        &mut self,
        config: EndpointConfig,
        global: impl FnOnce() -> Arc<GlobalBudget>,
    ) {
        if config.rate_limits != self.config.rate_limits {
            self.limiter = RateLimiter::sharing(config.rate_limits, global());
        }
        self.config = config;
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        Counters {
            transactions_evicted: self.udp_transactions.evicted(),
            rate_limit_evictions: self.limiter.evicted(),
            ..self.counters
        }
    }

    /// When [`Endpoint::handle_timeout`] (a transaction's Timer J) or
    /// [`Endpoint::poll_deferred`] (a held-back resync request) next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deferred = self
            .deferred
            .as_ref()
            .and_then(|r| self.limiter.trigger_ready_at(r.source.ip()));
        match (self.udp_transactions.next_expiry(), deferred) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The resync request held back by a trigger limit, once the limit admits it at `now`.
    /// Call it at [`Endpoint::poll_timeout`] or every second or so, and hand what it returns
    /// to the engine like [`Handled::resync`].
    pub fn poll_deferred(&mut self, now: Instant) -> Option<ResyncRequest> {
        let ip = self.deferred.as_ref()?.source.ip();
        self.limiter.admit_trigger(now, ip).ok()?;
        self.counters.resync_requests += 1;
        self.deferred.take()
    }

    /// True while a resync request is held back by a trigger limit.
    #[cfg(test)]
    pub fn has_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// Decides whether a new TCP connection from `peer` is served. Only a source outside the
    /// allowlist, when refused sources are dropped, is refused here (and counted in
    /// `refused_source`); with [`RefusedAction::Answer`] its requests are read and answered 403.
    pub fn admit_connection(&mut self, now: Instant, peer: SocketAddr) -> ConnectionAdmission {
        if self.config.refused == RefusedAction::Drop && !self.config.allow.permits(peer.ip()) {
            self.counters.refused_source += 1;
            return ConnectionAdmission::Refuse {
                log: self.should_log(now, peer.ip()),
            };
        }
        ConnectionAdmission::Accept
    }

    /// Expires completed transactions whose Timer J has fired by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.udp_transactions.expire(now);
    }

    /// Number of completed transactions currently remembered.
    #[cfg(test)]
    pub fn transactions(&self) -> usize {
        self.udp_transactions.len()
    }

    /// The claim rule (`claim::is_resync_notify`) and [`Endpoint::handle`] with one parse between them: `None`
    /// (nothing counted, nothing answered) when the message is not a resync NOTIFY.
    pub fn handle_if_claimed(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Option<Handled> {
        self.handle_claimed_with(now, source, transport, bytes, true)
    }

    /// [`Endpoint::handle_if_claimed`] for a host whose own transaction layer absorbs
    /// retransmissions: every message is answered as a new request, and no completed
    /// transaction is kept (the To-tag is derived from the request, so the host's
    /// retransmitted response and this answer agree).
    pub fn handle_if_claimed_untracked(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) -> Option<Handled> {
        self.handle_claimed_with(now, source, transport, bytes, false)
    }

    /// Whether a request whose fields the host has already read is a resync NOTIFY, by steps
    /// 1, 3 and 4 of the claim rule ([`crate::Embedded::handle`]): `method` exactly `NOTIFY`,
    /// no To-tag, and an Event header value (`check-sync;reboot=true`) whose event type the
    /// accepted events match. Nothing is parsed, counted or charged.
    pub fn claims(&self, method: &str, to_tag: Option<&str>, event: Option<&str>) -> bool {
        if method != "NOTIFY" || to_tag.is_some() {
            return false;
        }
        event.is_some_and(|value| {
            let event_type = value.split(';').next().unwrap_or_default().trim();
            !event_type.is_empty() && self.config.events.matches(event_type)
        })
    }

    /// The reply of `handled` in parts ([`Reply`]), for the message just handled. `None`
    /// when it has no reply.
    pub fn reply_parts(&mut self, handled: &Handled) -> Option<Reply> {
        let bytes = handled.reply.clone()?;
        let (answer, tag) = self.last_answer.take()?;
        Some(Reply {
            status: answer.status.code(),
            reason: answer.status.reason(),
            to_tag: tag.map(ToTag),
            headers: answer.extra().map(|(n, v)| (n, v.clone())).collect(),
            close: handled.close,
            bytes,
        })
    }

    fn handle_claimed_with(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        bytes: &[u8],
        table: bool,
    ) -> Option<Handled> {
        if !claim::starts_like_notify(bytes) {
            return None;
        }
        let req =
            message::parse(bytes, Framing::of(transport), &self.config.message_limits).ok()?;
        if !claim::is_resync_request(&req, &self.config.events) {
            return None;
        }
        let handled = match self.admit(now, source) {
            Ok(allowed) => self.handle_request(now, source, transport, allowed, &req, table),
            Err(refused) => Handled::silent(refused),
        };
        Some(self.counted(handled))
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
        let handled = match self.admit(now, source) {
            Ok(allowed) => {
                match message::parse(bytes, Framing::of(transport), &self.config.message_limits) {
                    Ok(req) => self.handle_request(now, source, transport, allowed, &req, true),
                    Err(reason) => self.drop(now, source, reason),
                }
            }
            Err(refused) => Handled::silent(refused),
        };
        self.counted(handled)
    }

    /// Counts a handled message by its disposition ([`Counters::record`]): the one place
    /// where the counters of a message change.
    fn counted(&mut self, handled: Handled) -> Handled {
        self.counters
            .record(&handled.disposition, handled.reply.is_some());
        handled
    }

    /// Trust and request rate limits, before the message is read. `Ok(allowed)` when it is
    /// to be read (a source outside the allowlist is read to be answered 403).
    fn admit(&mut self, now: Instant, source: SocketAddr) -> Result<bool, Disposition> {
        let allowed = self.config.allow.permits(source.ip());
        if !allowed && self.config.refused == RefusedAction::Drop {
            // Not even read: nothing from this source is acted upon or answered.
            let log = self.should_log(now, source.ip());
            return Err(Disposition::Refused { log });
        }
        if let Err(limit) = self.limiter.admit_request(now, source.ip(), !allowed) {
            let log = self.should_log_limit(now, source.ip(), limit);
            return Err(Disposition::RateLimited { limit, log });
        }
        Ok(allowed)
    }

    /// Everything after trust and rate limits, for a message that has been read: ACK
    /// absorption, the 403 of a refused source, the completed transactions, the response
    /// table, the digest check, then the answer (and the resync request it may come with).
    fn handle_request(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        allowed: bool,
        req: &Request,
        table: bool,
    ) -> Handled {
        if req.method == "ACK" {
            // RFC 3261 §17.2.1: an ACK is never answered, whether it matches a transaction or not.
            return Handled::silent(Disposition::Absorbed);
        }
        // Only a byte stream loses its framing: a WebSocket message is framed by WebSocket.
        let close = transport.is_stream()
            && matches!(
                req.defect,
                Some(
                    Defect::ContentLength
                        | Defect::ConflictingContentLength
                        | Defect::MissingContentLength
                )
            );
        if !allowed {
            return self.refuse(now, source, req, close);
        }
        // Only an unreliable transport retransmits (RFC 3261 §17; RFC 7118 §5: WebSocket is
        // reliable), and only when the host has no transaction layer of its own.
        let keys = match (transport.is_reliable(), table, &req.cseq, &req.top_via) {
            (false, true, Some(_), Some(_)) => Some(self.transaction_keys(req, source)),
            _ => None,
        };
        if let Some((key, dup)) = &keys {
            if let Some(again) = self.answer_again(now, source, req, key, dup) {
                return again;
            }
        }
        let decision = self.decide(req);
        let decision = self.check_digest(now, source, req, decision);
        if let Decision::Challenge {
            reason: AuthFailure::Throttled { failures },
            ..
        } = decision
        {
            // Not answered and not remembered: a retransmission is looked at again, and
            // verified once the hold-off is over.
            let log = self.should_log(now, source.ip());
            return Handled::silent(Disposition::AuthThrottled { failures, log });
        }
        self.respond(now, source, transport, req, decision, keys, close)
    }

    /// 403 to whatever a source outside the allowlist sent (OPTIONS included), before any
    /// other check, so the answer tells a refused sender nothing about this endpoint. Not
    /// stored as a transaction: refused sources never take room from allowed ones, and a
    /// retransmission gets the same bytes anyway (the To-tag is derived from the request).
    fn refuse(&mut self, now: Instant, source: SocketAddr, req: &Request, close: bool) -> Handled {
        let reply = self.reply(req, &Answer::plain(Status::Forbidden), source);
        let log = self.should_log(now, source.ip());
        Handled {
            reply: Some(reply),
            resync: None,
            disposition: Disposition::Refused { log },
            close,
        }
    }

    /// A UDP request matched against the completed transactions (RFC 3261 §17.2.3): a
    /// retransmission gets the stored response again, a duplicate the same answer. `None`
    /// for a new request.
    fn answer_again(
        &mut self,
        now: Instant,
        source: SocketAddr,
        req: &Request,
        key: &TxKey,
        dup: &DupKey,
    ) -> Option<Handled> {
        let (reply, disposition) = match self.udp_transactions.lookup(now, key, dup) {
            Lookup::New => return None,
            Lookup::Retransmission(done) => {
                let tag = req.to_tag().is_none().then(|| self.to_tag(req));
                self.last_answer = Some((done.answer, tag));
                (done.reply, Disposition::Retransmission)
            }
            // The credentialed retry of a challenged request: Kamailio's uac_auth() and other
            // proxies resend with credentials and a new branch but the same CSeq (which
            // RFC 3261 §22.2 only says SHOULD be incremented). It answers our 401, so it is
            // judged on its own merits, not given the stored 401 again; a replayed
            // Authorization still fails by its nonce count.
            Lookup::Duplicate(done)
                if done.answer.status == Status::Unauthorized
                    && req.values(Name::Authorization).next().is_some() =>
            {
                return None;
            }
            // Same answer, but built for this request: its Via (branch, received, rport) is
            // what the sender matches the response with.
            Lookup::Duplicate(done) => (
                self.reply(req, &done.answer, source),
                Disposition::Duplicate,
            ),
        };
        Some(Handled {
            reply: Some(reply),
            resync: None,
            disposition,
            close: false,
        })
    }

    /// The response table for a new request from an allowed source, checked in the order
    /// RFC 3261 §8.2 gives: the first row that applies decides.
    fn decide<'r>(&self, req: &'r Request) -> Decision<'r> {
        if !req.is_sip2() {
            return Decision::Reject(Status::VersionNotSupported);
        }
        if let Some(defect) = &req.defect {
            return Decision::Reject(Status::BadRequest(defect.reason()));
        }
        let method = req.method;
        if method != "NOTIFY" && method != "OPTIONS" {
            return Decision::NotAllowed(if KNOWN_METHODS.contains(&method) {
                Status::MethodNotAllowed
            } else {
                Status::NotImplemented
            });
        }
        if req.cseq.as_ref().is_some_and(|c| c.method != req.method) {
            return Decision::Reject(Status::BadRequest(Defect::CSeqMethodMismatch.reason()));
        }
        let scheme = req.uri.split(':').next().unwrap_or_default();
        if !["sip", "sips", "tel"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Decision::Reject(Status::UnsupportedUriScheme);
        }
        if req.first(Name::Require).is_some() {
            let required: Vec<&str> = req
                .values(Name::Require)
                .flat_map(headers::split_values)
                .collect();
            if !required.is_empty() {
                // Joined with a bare comma (RFC 3261 COMMA allows it): ", " would add a byte
                // per tag, so `Require: a,a,a,…` would get a response half again as large.
                return Decision::BadExtension {
                    unsupported: required.join(","),
                };
            }
        }
        if method == "OPTIONS" {
            return Decision::Capabilities;
        }
        let (Some(value), Some(event_type)) = (req.event(), req.event_type()) else {
            return Decision::Reject(Status::BadRequest("Missing Event Header"));
        };
        if event_type.is_empty() {
            return Decision::Reject(Status::BadRequest("Empty Event Header"));
        }
        if req.to_tag().is_some() {
            return Decision::Reject(Status::CallDoesNotExist);
        }
        if !self.config.events.matches(event_type) {
            return Decision::BadEvent;
        }
        Decision::Accept { event_type, value }
    }

    /// With the digest challenge on, a NOTIFY the table accepts must carry good
    /// credentials; without them it is challenged instead.
    fn check_digest<'r>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        req: &Request,
        decision: Decision<'r>,
    ) -> Decision<'r> {
        if !self.config.auth.challenge || !matches!(decision, Decision::Accept { .. }) {
            return decision;
        }
        let verified = self.digest.verify(
            now,
            &self.config.auth,
            source.ip(),
            req.method,
            req.uri,
            req.values(Name::Authorization),
        );
        match verified {
            Ok(_) => decision,
            // Held back: no fresh nonce either.
            Err(reason @ AuthFailure::Throttled { .. }) => Decision::Challenge {
                reason,
                challenges: Vec::new(),
            },
            Err(reason) => Decision::Challenge {
                reason,
                challenges: self
                    .digest
                    .challenge(now, &self.config.auth, reason.stale()),
            },
        }
    }

    /// Answers a new request as decided, remembers the answer for the request's
    /// retransmissions (UDP), and turns an accepted NOTIFY into a resync request.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        req: &Request,
        decision: Decision<'_>,
        keys: Option<(TxKey, DupKey)>,
        close: bool,
    ) -> Handled {
        // What follows the answer, taken before the decision becomes the answer.
        let follow = match &decision {
            Decision::Accept { event_type, value } => Follow::Trigger { event_type, value },
            Decision::Challenge { reason, .. } => Follow::Challenged(*reason),
            _ => Follow::Nothing,
        };
        let answer = decision.into_answer(&self.config.events);
        let status = answer.status;
        let reply = self.reply(req, &answer, source);
        if let Some((key, dup)) = keys {
            let extra_bytes = answer.extra().map(|(_, v)| v.len()).sum::<usize>();
            let cost = reply.len() + extra_bytes + 128;
            let done = Completed {
                reply: reply.clone(),
                answer,
            };
            self.udp_transactions.insert(now, key, dup, done, cost);
        }
        let (resync, disposition) = match follow {
            Follow::Trigger { event_type, value } => {
                self.trigger(now, source, transport, req, event_type, value)
            }
            Follow::Challenged(reason) => {
                let log = reason.is_refusal() && self.should_log(now, source.ip());
                (None, Disposition::Challenged { reason, log })
            }
            Follow::Nothing => (None, Disposition::Answered(status.code())),
        };
        Handled {
            reply: Some(reply),
            resync,
            disposition,
            close,
        }
    }

    /// The resync request of an accepted NOTIFY (its Event `value`, whose event-type the
    /// front end has read), unless a trigger limit holds it back.
    fn trigger(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        req: &Request,
        event_type: &str,
        value: &str,
    ) -> (Option<ResyncRequest>, Disposition) {
        let max_params = self.config.message_limits.max_event_params;
        let event = EventHeader::new(event_type, value, max_params);
        let request = ResyncRequest {
            source,
            transport,
            reboot: event.reboot(),
            event: event.event,
            params: event.params,
            call_id: req.call_id().to_owned(),
            received_at: now,
        };
        match self.limiter.admit_trigger(now, source.ip()) {
            Ok(()) => {
                // This request covers any held-back one: the engine acts after it.
                self.deferred = None;
                (Some(request), Disposition::Resync)
            }
            Err(limit) => {
                // The PBX did nothing wrong: it gets its 200. The latest request is kept,
                // so the last change is still fetched once the budget allows.
                self.deferred = Some(request);
                let log = self.should_log_limit(now, source.ip(), limit);
                (None, Disposition::TriggerLimited { limit, log })
            }
        }
    }

    /// The reply to `req`, built in the endpoint's buffer and copied once into its own bytes
    /// (which the transaction table keeps for retransmissions).
    fn reply(&mut self, req: &Request, answer: &Answer, source: SocketAddr) -> Bytes {
        let tag_bytes = self.to_tag(req);
        let tag = std::str::from_utf8(&tag_bytes).unwrap_or_default();
        let extra = answer.extra().map(|(n, v)| (n, v.as_str()));
        response::write(req, answer.status, tag, source, extra, &mut self.scratch);
        self.last_answer = Some((answer.clone(), req.to_tag().is_none().then_some(tag_bytes)));
        Bytes::copy_from_slice(&self.scratch)
    }

    /// A To-tag derived from the transaction, so a retransmission answered after its
    /// transaction expired still carries the same tag; keyed per process, so it is not
    /// predictable from the request. 16 hex digits.
    fn to_tag(&self, req: &Request) -> [u8; 16] {
        let branch = req.top_via.as_ref().and_then(|v| v.branch.as_deref());
        let h = self
            .tag_key
            .hash_one((req.call_id(), req.from_tag(), req.cseq_raw(), branch));
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = b"0123456789abcdef"[((h >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }

    fn transaction_keys(&self, req: &Request, source: SocketAddr) -> (TxKey, DupKey) {
        let hasher = self.udp_transactions.hasher();
        let from_tag = req.from_tag();
        let cseq = req.cseq.as_ref().expect("checked by caller");
        let via = req.top_via.as_ref().expect("checked by caller");
        let method = if req.method == "ACK" {
            "INVITE"
        } else {
            req.method
        };
        let key = match via.branch.as_deref() {
            Some(b) if b.starts_with("z9hG4bK") && b.len() > "z9hG4bK".len() => {
                hasher.branch(b, &via.sent_by, method)
            }
            _ => hasher.legacy(
                req.uri,
                from_tag,
                req.to_tag().unwrap_or_default(),
                req.call_id(),
                cseq.number,
                method,
                req.first(Name::Via).unwrap_or_default(),
            ),
        };
        let dup = hasher.dup(source, req.call_id(), from_tag, cseq.number, &cseq.method);
        (key, dup)
    }

    /// Records that a stream from `source` could not be framed (or stalled) and was closed.
    /// Returns true when the driver should log it: once per source per drop-log interval.
    pub fn note_stream_error(&mut self, now: Instant, source: SocketAddr) -> bool {
        self.counters.stream_errors += 1;
        self.should_log(now, source.ip())
    }

    /// Input that cannot be answered. A keep-alive is ordinary traffic and never logged.
    fn drop(&mut self, now: Instant, source: SocketAddr, reason: Unanswerable) -> Handled {
        let log = reason != Unanswerable::KeepAlive && self.should_log(now, source.ip());
        Handled::dropped(reason, log)
    }

    /// Per-source limits are logged like drops; a global limit, hit by many sources at once,
    /// once per interval in all.
    fn should_log_limit(&mut self, now: Instant, ip: IpAddr, limit: Limit) -> bool {
        match limit {
            Limit::Source => self.should_log(now, ip),
            Limit::Global => {
                let interval = self.config.drop_log_interval;
                self.log.global(now, interval)
                    && self
                        .shared_log
                        .as_ref()
                        .is_none_or(|s| crate::sync::lock(s).global(now, interval))
            }
        }
    }

    /// Once per source per drop-log interval: this endpoint's memory decides first, without
    /// a lock, so a flood from one source touches the memory shared with other workers'
    /// endpoints at most once per interval.
    fn should_log(&mut self, now: Instant, ip: IpAddr) -> bool {
        let (interval, max) = (
            self.config.drop_log_interval,
            self.config.max_drop_log_sources,
        );
        self.log.source(now, ip, interval, max)
            && self
                .shared_log
                .as_ref()
                .is_none_or(|s| crate::sync::lock(s).source(now, ip, interval, max))
    }
}

/// When drops were last logged: per source, and for the global limits.
#[derive(Debug, Default)]
pub struct LogMemory {
    sources: HashMap<IpAddr, Instant>,
    global: Option<Instant>,
}

impl LogMemory {
    /// A memory to share between the endpoints of several workers.
    pub fn shared() -> Arc<Mutex<LogMemory>> {
        Arc::default()
    }

    fn global(&mut self, now: Instant, interval: Duration) -> bool {
        match self.global {
            Some(last) if now.saturating_duration_since(last) < interval => false,
            _ => {
                self.global = Some(now);
                true
            }
        }
    }

    fn source(&mut self, now: Instant, ip: IpAddr, interval: Duration, max: usize) -> bool {
        if let Some(last) = self.sources.get_mut(&ip) {
            if now.saturating_duration_since(*last) < interval {
                return false;
            }
            *last = now;
            return true;
        }
        if self.sources.len() >= max {
            self.sources
                .retain(|_, last| now.saturating_duration_since(*last) < interval);
            if self.sources.len() >= max {
                return false;
            }
        }
        self.sources.insert(ip, now);
        true
    }
}

/// The response table's verdict on a new request from an allowed source: one variant per
/// kind of answer, each turned into its status and extra headers by
/// [`Decision::into_answer`].
#[derive(Debug)]
enum Decision<'r> {
    /// 200 OK and a resync request: an out-of-dialog NOTIFY for an accepted event (the value
    /// of its Event header, and the event-type the front end read from it).
    Accept { event_type: &'r str, value: &'r str },
    /// 200 OK to OPTIONS, saying what this endpoint accepts.
    Capabilities,
    /// 405 for a method RFC 3261 or its extensions define, 501 for any other (neither is
    /// NOTIFY nor OPTIONS).
    NotAllowed(Status),
    /// 420: the request requires these extensions (comma-separated).
    BadExtension { unsupported: String },
    /// 489: a NOTIFY for an event that is not accepted.
    BadEvent,
    /// Refused with no extra header: 400, 416, 481 or 505.
    Reject(Status),
    /// 401: a NOTIFY the table accepts, without good credentials, and the new challenges.
    Challenge {
        reason: AuthFailure,
        challenges: Vec<String>,
    },
}

impl Decision<'_> {
    /// The response of each row: its status and extra headers.
    fn into_answer(self, events: &EventMatcher) -> Answer {
        let allow = || ("Allow", ALLOW.to_owned());
        let allow_events = || ("Allow-Events", events.allow_events().to_owned());
        match self {
            Decision::Accept { .. } => Answer::plain(Status::Ok),
            Decision::Capabilities => Answer::with(
                Status::Ok,
                [allow(), allow_events(), ("Accept", ACCEPT.to_owned())],
            ),
            Decision::NotAllowed(status) => Answer::with(status, [allow()]),
            Decision::BadExtension { unsupported } => {
                Answer::with(Status::BadExtension, [("Unsupported", unsupported)])
            }
            Decision::BadEvent => Answer::with(Status::BadEvent, [allow_events()]),
            Decision::Reject(status) => Answer::plain(status),
            Decision::Challenge { challenges, .. } => Answer {
                status: Status::Unauthorized,
                extra: (!challenges.is_empty()).then(|| {
                    challenges
                        .into_iter()
                        .map(|v| ("WWW-Authenticate", v))
                        .collect()
                }),
            },
        }
    }
}

/// What follows the answer to a new request.
enum Follow<'r> {
    /// A resync request (or a trigger limit holding it back).
    Trigger { event_type: &'r str, value: &'r str },
    /// A challenge, logged when credentials were refused.
    Challenged(AuthFailure),
    /// Nothing more.
    Nothing,
}

/// The types of message body an OPTIONS answer says this endpoint accepts.
const ACCEPT: &str = "application/simple-message-summary, text/plain";

/// A response's status and extra headers: what a completed transaction keeps to answer a
/// duplicate.
#[derive(Debug, Clone)]
struct Answer {
    status: Status,
    /// `None` for most answers (every 200 to a NOTIFY): nothing is allocated for them.
    extra: Option<Arc<[(&'static str, String)]>>,
}

impl Answer {
    fn plain(status: Status) -> Answer {
        Answer {
            status,
            extra: None,
        }
    }

    fn with<const N: usize>(status: Status, extra: [(&'static str, String); N]) -> Answer {
        Answer {
            status,
            extra: Some(Arc::from(extra)),
        }
    }

    /// The extra headers, name and value, in order.
    fn extra(&self) -> impl Iterator<Item = (&'static str, &String)> + '_ {
        self.extra
            .iter()
            .flat_map(|e| e.iter())
            .map(|(n, v)| (*n, v))
    }
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

    fn trusting(allow: &[&str], refused: RefusedAction) -> Endpoint {
        Endpoint::new(EndpointConfig {
            allow: Allowlist::new(allow.iter().map(|a| a.parse().unwrap())),
            refused,
            ..EndpointConfig::default()
        })
    }

    fn options(branch: &str) -> Vec<u8> {
        format!("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch={branch}\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: o-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").into_bytes()
    }

    #[test]
    fn refused_sources_get_403_whatever_they_send_and_never_a_resync() {
        let t0 = Instant::now();
        let mut e = trusting(&["192.0.2.0/24", "::1"], RefusedAction::Answer);
        let pbx: SocketAddr = "192.0.2.10:5060".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.5:5060".parse().unwrap();
        let msg = notify("z9hG4bKf1", 1, Some("check-sync"), false);
        let h = e.handle(t0, stranger, Transport::Udp, &msg);
        assert_eq!(code(&h), Some(403));
        assert!(h.resync.is_none());
        assert_eq!(h.disposition, Disposition::Refused { log: true });
        let text = String::from_utf8(h.reply.clone().unwrap().to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 403 Forbidden\r\n"), "{text}");
        assert!(text.contains(";branch=z9hG4bKf1"), "{text}");
        assert!(text.contains("\r\nCall-ID: cid-1\r\n"), "{text}");
        // A retransmission: the same bytes again, logged no more, nothing stored.
        let again = e.handle(
            t0 + Duration::from_millis(500),
            stranger,
            Transport::Udp,
            &msg,
        );
        assert_eq!(again.reply, h.reply);
        assert_eq!(again.disposition, Disposition::Refused { log: false });
        assert_eq!(e.transactions(), 0);
        // OPTIONS and other methods get 403 too; an ACK is still absorbed.
        assert_eq!(
            code(&e.handle(t0, stranger, Transport::Udp, &options("z9hG4bKo1"))),
            Some(403)
        );
        let ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: a1\r\nCSeq: 1 ACK\r\n\r\n";
        assert_eq!(
            e.handle(t0, stranger, Transport::Udp, ack).disposition,
            Disposition::Absorbed
        );
        // Over TCP as well; an IPv4-mapped source is compared as IPv4.
        assert_eq!(
            code(&e.handle(t0, stranger, Transport::Tcp, &msg)),
            Some(403)
        );
        let mapped: SocketAddr = "[::ffff:192.0.2.10]:5060".parse().unwrap();
        assert!(e.handle(t0, mapped, Transport::Tcp, &msg).resync.is_some());
        // The allowed sources trigger as usual.
        assert!(e.handle(t0, pbx, Transport::Udp, &msg).resync.is_some());
        let v6: SocketAddr = "[::1]:5060".parse().unwrap();
        assert!(e
            .handle(
                t0,
                v6,
                Transport::Udp,
                &notify("z9hG4bKv6", 9, Some("check-sync"), false)
            )
            .resync
            .is_some());
        let c = e.counters();
        assert_eq!(c.refused_source, 4);
        assert_eq!(c.resync_requests, 3);
        assert_eq!(
            e.admit_connection(t0, stranger),
            ConnectionAdmission::Accept,
            "answer mode reads the requests"
        );
    }

    #[test]
    fn dropped_refusals_are_silent_and_counted() {
        let t0 = Instant::now();
        let mut e = trusting(&["10.1.2.3"], RefusedAction::Drop);
        let stranger: SocketAddr = "10.1.2.4:5060".parse().unwrap();
        let msg = notify("z9hG4bKd1", 1, Some("check-sync"), false);
        for (i, t) in [Transport::Udp, Transport::Tcp, Transport::Udp]
            .into_iter()
            .enumerate()
        {
            let h = e.handle(t0, stranger, t, &msg);
            assert!(h.reply.is_none() && h.resync.is_none());
            assert_eq!(h.disposition, Disposition::Refused { log: i == 0 });
        }
        // Garbage from a refused source is not even read.
        e.handle(t0, stranger, Transport::Udp, b"junk");
        assert_eq!(e.counters().dropped_garbage, 0);
        assert_eq!(
            e.admit_connection(t0, stranger),
            ConnectionAdmission::Refuse { log: false }
        );
        assert_eq!(
            e.admit_connection(t0 + Duration::from_secs(61), stranger),
            ConnectionAdmission::Refuse { log: true }
        );
        assert_eq!(
            e.admit_connection(t0, "10.1.2.3:1".parse().unwrap()),
            ConnectionAdmission::Accept
        );
        let c = e.counters();
        assert_eq!(c.refused_source, 6);
        assert_eq!(c.responses, 0);
        let ok = e.handle(t0, "10.1.2.3:5060".parse().unwrap(), Transport::Udp, &msg);
        assert!(ok.resync.is_some());
    }

    #[test]
    fn a_flood_from_one_source_is_cut_to_its_budget_before_it_is_read() {
        let t0 = Instant::now();
        let mut e = ep();
        let flood: SocketAddr = "192.0.2.66:5060".parse().unwrap();
        let pbx: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut answered = 0;
        for i in 0..1000u32 {
            let h = e.handle(
                t0,
                flood,
                Transport::Udp,
                &options(&format!("z9hG4bKfl{i}")),
            );
            match h.disposition {
                Disposition::Answered(200) => answered += 1,
                Disposition::RateLimited {
                    limit: Limit::Source,
                    log,
                } => assert_eq!(log, i == 100),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(answered, 100, "the per-source burst");
        assert_eq!(e.counters().rate_limited_requests, 900);
        // The PBX is not affected.
        let h = e.handle(
            t0,
            pbx,
            Transport::Udp,
            &notify("z9hG4bKp1", 1, Some("check-sync"), false),
        );
        assert!(h.resync.is_some());
        // A second later the flooding source has 50 more.
        let t1 = t0 + Duration::from_secs(1);
        let answered = (0..100u32)
            .filter(|i| {
                e.handle(t1, flood, Transport::Tcp, &options(&format!("z9hG4bKg{i}")))
                    .reply
                    .is_some()
            })
            .count();
        assert_eq!(answered, 50);
    }

    #[test]
    fn the_global_request_limit_is_logged_once_per_interval() {
        let t0 = Instant::now();
        let mut e = Endpoint::new(EndpointConfig {
            rate_limits: RateLimits {
                requests_per_second: 10,
                ..RateLimits::default()
            },
            ..EndpointConfig::default()
        });
        let mut logged = 0;
        let mut answered = 0;
        for i in 0..100u32 {
            let src = SocketAddr::from(([198, 51, 100, i as u8], 5060));
            match e
                .handle(t0, src, Transport::Udp, &options(&format!("z9hG4bKgl{i}")))
                .disposition
            {
                Disposition::RateLimited {
                    limit: Limit::Global,
                    log,
                } => logged += usize::from(log),
                Disposition::Answered(200) => answered += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((answered, logged), (10, 1));
        assert_eq!(e.counters().rate_limited_requests, 90);
    }

    #[test]
    fn triggers_over_the_limit_are_answered_and_the_latest_is_released_later() {
        let t0 = Instant::now();
        let mut e = ep();
        let pbx: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut resyncs = 0;
        for i in 0..15u32 {
            let h = e.handle(
                t0,
                pbx,
                Transport::Tcp,
                &notify(&format!("z9hG4bKtr{i}"), i, Some("check-sync"), false),
            );
            assert_eq!(code(&h), Some(200), "always answered 200");
            match h.disposition {
                Disposition::Resync => resyncs += 1,
                Disposition::TriggerLimited {
                    limit: Limit::Source,
                    log,
                } => assert_eq!(log, i == 10),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(resyncs, 10);
        assert_eq!(e.counters().rate_limited_triggers, 5);
        assert!(e.has_deferred());
        // 10 per minute: the next one fits 6 s later, and that is when it is due.
        assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(6)));
        assert!(e.poll_deferred(t0 + Duration::from_secs(5)).is_none());
        let released = e
            .poll_deferred(t0 + Duration::from_secs(6))
            .expect("released");
        assert_eq!(released.call_id, "cid-1");
        assert_eq!(
            released.received_at, t0,
            "the time of the NOTIFY, not of the release"
        );
        assert!(
            e.poll_deferred(t0 + Duration::from_secs(60)).is_none(),
            "released once"
        );
        assert_eq!(e.counters().resync_requests, 11);
        assert_eq!(e.poll_timeout(), None);
    }

    #[test]
    fn a_trigger_that_goes_out_covers_the_held_back_one() {
        let t0 = Instant::now();
        let mut e = Endpoint::new(EndpointConfig {
            rate_limits: RateLimits {
                triggers_per_minute_per_source: 1,
                ..RateLimits::default()
            },
            ..EndpointConfig::default()
        });
        let a: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:5060".parse().unwrap();
        let n = |i: u32| notify(&format!("z9hG4bKc{i}"), i, Some("check-sync"), false);
        assert!(e.handle(t0, a, Transport::Udp, &n(1)).resync.is_some());
        assert!(e.handle(t0, a, Transport::Udp, &n(2)).resync.is_none());
        assert!(e.has_deferred());
        // Another source's trigger goes out: the engine fetches after it, which covers a's.
        assert!(e.handle(t0, b, Transport::Udp, &n(3)).resync.is_some());
        assert!(!e.has_deferred());
        assert!(e.poll_deferred(t0 + Duration::from_secs(120)).is_none());
        // A UDP retransmission of the held-back NOTIFY gets its 200 again, nothing more.
        let h = e.handle(t0, a, Transport::Udp, &n(2));
        assert_eq!(h.disposition, Disposition::Retransmission);
        assert!(!e.has_deferred());
    }

    #[test]
    fn unlimited_limits_let_everything_through() {
        let t0 = Instant::now();
        let mut e = Endpoint::new(EndpointConfig {
            rate_limits: RateLimits::unlimited(),
            ..EndpointConfig::default()
        });
        let src: SocketAddr = SRC.parse().unwrap();
        for i in 0..5000u32 {
            let h = e.handle(
                t0,
                src,
                Transport::Tcp,
                &notify(&format!("z9hG4bKu{i}"), i, Some("check-sync"), false),
            );
            assert!(h.resync.is_some(), "{i}");
        }
        let c = e.counters();
        assert_eq!((c.rate_limited_requests, c.rate_limited_triggers), (0, 0));
    }

    #[test]
    fn counters_since_and_unwanted() {
        let t0 = Instant::now();
        let mut e = trusting(&["192.0.2.1"], RefusedAction::Answer);
        let before = e.counters();
        let pbx: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        e.handle(t0, pbx, Transport::Udp, &options("z9hG4bKq1"));
        let quiet = e.counters().since(&before);
        assert_eq!(quiet.received, 1);
        assert_eq!(quiet.unwanted(), 0, "a PBX keep-alive is not unwanted");
        let mid = e.counters();
        e.handle(
            t0,
            "203.0.113.1:5060".parse().unwrap(),
            Transport::Udp,
            &options("z9hG4bKq2"),
        );
        e.handle(t0, pbx, Transport::Udp, b"junk");
        let d = e.counters().since(&mid);
        assert_eq!(
            (d.refused_source, d.dropped_garbage, d.unwanted()),
            (1, 1, 2)
        );
    }

    // The digest challenge: the brake on guessing and the nonce key shared by endpoints.

    mod digest {
        use super::*;
        use crate::digest::{authorization, Algorithm, Credential};

        const URI: &str = "sip:1001@127.0.0.1";

        fn challenging() -> EndpointConfig {
            EndpointConfig {
                rate_limits: RateLimits::unlimited(),
                auth: AuthConfig {
                    challenge: true,
                    credentials: vec![Credential {
                        user: Some("1001".into()),
                        auth_id: "1001".into(),
                        password: "secret".into(),
                    }],
                    ..AuthConfig::default()
                },
                ..EndpointConfig::default()
            }
        }

        /// A resync NOTIFY (a new transaction each time), with an `Authorization` if given.
        fn signed(n: u32, auth: Option<&str>) -> Vec<u8> {
            let auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default();
            format!(
                "NOTIFY {URI} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKd{n}\r\nFrom: <sip:pbx@127.0.0.1>;tag=f{n}\r\nTo: <{URI}>\r\nCall-ID: d{n}\r\nCSeq: {n} NOTIFY\r\nEvent: check-sync\r\n{auth}Content-Length: 0\r\n\r\n"
            )
            .into_bytes()
        }

        fn text(h: &Handled) -> String {
            String::from_utf8(h.reply.as_ref().expect("a reply").to_vec()).unwrap()
        }

        /// The nonce of a 401.
        fn nonce_of(reply: &str) -> String {
            let rest = reply.split("nonce=\"").nth(1).expect("a challenge");
            rest[..rest.find('"').unwrap()].to_owned()
        }

        fn answer(nonce: &str, password: &str) -> String {
            authorization(
                Algorithm::Md5,
                "1001",
                password,
                "sip-resync",
                nonce,
                "NOTIFY",
                URI,
                1,
                "c0ffee",
            )
        }

        /// Counts transactions so every request is new.
        struct Sender {
            n: u32,
        }

        impl Sender {
            /// Asks `e` for a nonce from `from`.
            fn nonce(&mut self, e: &mut Endpoint, now: Instant, from: SocketAddr) -> String {
                self.n += 1;
                let h = e.handle(now, from, Transport::Udp, &signed(self.n, None));
                assert_eq!(code(&h), Some(401));
                nonce_of(&text(&h))
            }

            /// Answers `nonce` with `password` from `from`.
            fn answer(
                &mut self,
                e: &mut Endpoint,
                now: Instant,
                from: SocketAddr,
                nonce: &str,
                password: &str,
            ) -> Handled {
                self.n += 1;
                let auth = answer(nonce, password);
                e.handle(now, from, Transport::Udp, &signed(self.n, Some(&auth)))
            }
        }

        fn at(ip: &str, port: u16) -> SocketAddr {
            SocketAddr::new(ip.parse().unwrap(), port)
        }

        /// A NOTIFY with fixed Call-ID, From-tag and CSeq, on branch `branch`.
        fn same_cseq(branch: &str, auth: Option<&str>) -> Vec<u8> {
            let auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default();
            format!(
                "NOTIFY {URI} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}\r\nFrom: <sip:pbx@127.0.0.1>;tag=uac\r\nTo: <{URI}>\r\nCall-ID: uac-auth-1\r\nCSeq: 7 NOTIFY\r\nEvent: check-sync\r\n{auth}Content-Length: 0\r\n\r\n"
            )
            .into_bytes()
        }

        /// Kamailio's uac_auth() resends the challenged NOTIFY with credentials, a new branch
        /// and the same CSeq: judged on its own merits (200 and one resync), not answered with
        /// the stored 401. Its retransmission gets the stored 200 and nothing more; the same
        /// Authorization replayed in a new request fails (its nonce count was used).
        #[test]
        fn a_credentialed_retry_with_the_same_cseq_is_judged_on_its_own_merits() {
            let t0 = Instant::now();
            let pbx = at("127.0.0.1", 5070);
            let mut e = Endpoint::new(challenging());
            let first = e.handle(t0, pbx, Transport::Udp, &same_cseq("a1", None));
            assert_eq!(code(&first), Some(401));
            let auth = answer(&nonce_of(&text(&first)), "secret");
            // The retransmission of the challenged request still gets the stored 401.
            let again = e.handle(t0, pbx, Transport::Udp, &same_cseq("a1", None));
            assert_eq!(again.disposition, Disposition::Retransmission);
            // A duplicate without credentials gets the stored 401 too.
            let dup = e.handle(t0, pbx, Transport::Udp, &same_cseq("a2", None));
            assert_eq!(
                (code(&dup), dup.disposition),
                (Some(401), Disposition::Duplicate)
            );

            let retry = e.handle(t0, pbx, Transport::Udp, &same_cseq("a3", Some(&auth)));
            assert_eq!(code(&retry), Some(200));
            assert!(retry.resync.is_some(), "the credentialed retry triggers");
            let rtx = e.handle(t0, pbx, Transport::Udp, &same_cseq("a3", Some(&auth)));
            assert_eq!(rtx.disposition, Disposition::Retransmission);
            assert!(rtx.resync.is_none());
            assert_eq!(code(&rtx), Some(200));

            // The same credentials in a new request (new Call-ID, CSeq): a replay.
            let replay = e.handle(t0, pbx, Transport::Udp, &signed(90, Some(&auth)));
            assert_eq!(code(&replay), Some(401));
            assert!(replay.resync.is_none());
            assert_eq!(e.counters().resync_requests, 1);
        }

        #[test]
        fn guesses_from_many_ports_of_one_address_are_held_back_and_another_address_still_authenticates(
        ) {
            let t0 = Instant::now();
            let mut e = Endpoint::new(challenging());
            let mut s = Sender { n: 0 };
            let nonce = s.nonce(&mut e, t0, at("192.0.2.66", 5000));
            let free = AuthConfig::default().guesses.failures_per_source;
            for i in 0..free + 1 {
                let from = at("192.0.2.66", 5000 + i as u16);
                let h = s.answer(&mut e, t0, from, &nonce, &format!("guess{i}"));
                assert_eq!(code(&h), Some(401), "{i}");
                assert!(!text(&h).contains("stale=true"));
            }
            // Over budget, on any port: dropped unchecked, unanswered, even the right password.
            for (port, password) in [(6000, "guess"), (6001, "secret")] {
                let h = s.answer(&mut e, t0, at("192.0.2.66", port), &nonce, password);
                assert_eq!(h.reply, None);
                assert!(h.resync.is_none());
                assert!(matches!(
                    h.disposition,
                    Disposition::AuthThrottled { failures: 11, .. }
                ));
            }
            let c = e.counters();
            assert_eq!((c.auth_failures, c.auth_throttled), (11, 2));
            // The PBX at another address authenticates meanwhile.
            let pbx = at("192.0.2.10", 5060);
            let nonce = s.nonce(&mut e, t0, pbx);
            let h = s.answer(&mut e, t0, pbx, &nonce, "secret");
            assert_eq!(code(&h), Some(200));
            assert!(h.resync.is_some());
        }

        #[test]
        fn the_hold_off_grows_with_each_failure_over_budget() {
            let t0 = Instant::now();
            let mut e = Endpoint::new(challenging());
            let mut s = Sender { n: 0 };
            let guesser = at("192.0.2.66", 5000);
            let nonce = s.nonce(&mut e, t0, guesser);
            for i in 0..11 {
                s.answer(&mut e, t0, guesser, &nonce, &format!("g{i}"));
            }
            let ms = Duration::from_millis;
            let mut now = t0;
            for hold in [1000, 2000, 4000, 8000] {
                // Held until the hold-off is over, then one more guess is checked.
                let h = s.answer(&mut e, now + ms(hold - 1), guesser, &nonce, "g");
                assert_eq!(h.reply, None, "{hold}");
                now += ms(hold);
                let nonce = s.nonce(&mut e, now, guesser);
                let h = s.answer(&mut e, now, guesser, &nonce, "g");
                assert_eq!(code(&h), Some(401), "{hold}");
            }
        }

        #[test]
        fn a_users_budget_holds_back_guessers_on_many_addresses_but_not_the_pbx() {
            let t0 = Instant::now();
            let mut e = Endpoint::new(challenging());
            let mut s = Sender { n: 0 };
            let pbx = at("192.0.2.10", 5060);
            let nonce = s.nonce(&mut e, t0, pbx);
            assert_eq!(
                code(&s.answer(&mut e, t0, pbx, &nonce, "secret")),
                Some(200)
            );
            let per_user = AuthConfig::default().guesses.failures_per_user;
            // One guess from each of many addresses: no address is over its own budget.
            for i in 0..=per_user {
                let from = at(&format!("198.51.100.{}", i + 1), 5060);
                let h = s.answer(&mut e, t0, from, &nonce, "guess");
                assert_eq!(code(&h), Some(401), "{i}");
            }
            let fresh = at("203.0.113.1", 5060);
            let h = s.answer(&mut e, t0, fresh, &nonce, "secret");
            assert_eq!(h.reply, None);
            assert!(matches!(h.disposition, Disposition::AuthThrottled { .. }));
            // The PBX answered right before: the user's budget does not hold it back.
            let nonce = s.nonce(&mut e, t0, pbx);
            assert_eq!(
                code(&s.answer(&mut e, t0, pbx, &nonce, "secret")),
                Some(200)
            );
        }

        #[test]
        fn a_made_up_nonce_is_a_failure_not_stale() {
            let t0 = Instant::now();
            let mut e = Endpoint::new(challenging());
            let mut s = Sender { n: 0 };
            let pbx = at("192.0.2.10", 5060);
            let made_up = "0".repeat(56);
            let h = s.answer(&mut e, t0, pbx, &made_up, "secret");
            assert_eq!(code(&h), Some(401));
            assert!(!text(&h).contains("stale=true"), "{}", text(&h));
            assert!(matches!(
                h.disposition,
                Disposition::Challenged {
                    reason: AuthFailure::UnknownNonce,
                    log: true
                }
            ));
            let c = e.counters();
            assert_eq!((c.auth_failures, c.auth_stale), (1, 0));
            // A nonce this endpoint issued, expired: stale.
            let nonce = s.nonce(&mut e, t0, pbx);
            let late = t0 + AuthConfig::default().nonce_lifetime + Duration::from_secs(1);
            let h = s.answer(&mut e, late, pbx, &nonce, "secret");
            assert!(text(&h).contains("stale=true"));
        }

        #[test]
        fn a_nonce_issued_by_one_endpoint_verifies_on_another_sharing_the_state_once() {
            let t0 = Instant::now();
            let digest = DigestState::shared();
            let global = GlobalBudget::new();
            let mut endpoints: Vec<Endpoint> = (0..3)
                .map(|_| Endpoint::sharing(challenging(), global.clone(), None, digest.clone()))
                .collect();
            let mut s = Sender { n: 0 };
            let pbx = at("192.0.2.10", 5060);
            let nonce = s.nonce(&mut endpoints[0], t0, pbx);
            let auth = answer(&nonce, "secret");
            let h = endpoints[1].handle(t0, pbx, Transport::Tcp, &signed(100, Some(&auth)));
            assert_eq!(code(&h), Some(200));
            // The nc table is shared too: the same answer on a third endpoint is a replay.
            let h = endpoints[2].handle(t0, pbx, Transport::Udp, &signed(101, Some(&auth)));
            assert_eq!(code(&h), Some(401));
            assert!(text(&h).contains("stale=true"));
            // An endpoint with a state of its own does not know the nonce.
            let mut alone = Endpoint::new(challenging());
            let h = alone.handle(t0, pbx, Transport::Udp, &signed(102, Some(&auth)));
            assert!(matches!(
                h.disposition,
                Disposition::Challenged {
                    reason: AuthFailure::UnknownNonce,
                    ..
                }
            ));
        }
    }
}

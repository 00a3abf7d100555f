//! The endpoint's running totals, named once.
//!
//! [`with_counter_fields!`] holds the one list of counter fields, with their documentation;
//! the [`Counters`] struct, [`Counters::since`], [`Counters::add`] and every log line that
//! reports counts ([`log_counters!`]) are generated from it, so a new counter is added in one
//! place and shows up everywhere.

use super::message::Unanswerable;
use super::Disposition;

/// Calls `$callback!` with `($($args)*)` followed by every counter field (its documentation,
/// its name and a comma).
#[doc(hidden)]
#[macro_export]
macro_rules! with_counter_fields {
    ($krate:tt :: $callback:ident!($($args:tt)*)) => {
        $crate::with_counter_fields! { @ [$krate::$callback] ($($args)*) }
    };
    ($callback:ident!($($args:tt)*)) => {
        $crate::with_counter_fields! { @ [$callback] ($($args)*) }
    };
    (@ [$($callback:tt)*] ($($args:tt)*)) => {
        $($callback)*! { ($($args)*)
    /// Messages handed to `Endpoint::handle`.
    received,
    /// Responses produced (retransmitted ones included).
    responses,
    /// Resync requests produced: accepted NOTIFYs within the trigger limits, and held-back
    /// ones released later by `Endpoint::poll_deferred`.
    resync_requests,
    /// Retransmissions answered from the transaction table.
    retransmissions,
    /// Same Call-ID/From-tag/CSeq with a new branch, answered from the table.
    duplicates,
    /// Requests answered with a 4xx or 5xx.
    rejected,
    /// ACKs, absorbed without an answer.
    acks,
    /// CRLF keep-alives.
    keepalives,
    /// Responses received (nothing here sends requests they could answer); dropped.
    dropped_responses,
    /// Messages over the size limit; dropped.
    dropped_oversize,
    /// Input that is not a SIP request; dropped.
    dropped_garbage,
    /// Requests without the fields a response needs; dropped.
    dropped_unanswerable,
    /// Completed transactions evicted early because the table was full.
    transactions_evicted,
    /// TCP and TLS connections closed because their stream could not be framed or was too
    /// slow, or because their TLS handshake failed or timed out.
    stream_errors,
    /// Messages (and, with `refused = "drop"`, TCP connections) refused because their
    /// source is outside the allowlist: answered 403 or dropped.
    refused_source,
    /// Messages over a request rate limit (per source or global); dropped unread.
    rate_limited_requests,
    /// Accepted NOTIFYs over a trigger rate limit: answered 200, no resync request of their own.
    rate_limited_triggers,
    /// Per-source rate-limit entries forgotten before their buckets had refilled, because
    /// the table of sources was full (each such source starts again with a full budget).
    rate_limit_evictions,
    /// NOTIFYs answered 401 with a digest challenge (for whatever reason).
    auth_challenges,
    /// Of those, NOTIFYs whose credentials were refused: wrong password, unknown user,
    /// malformed or forged `Authorization`, an algorithm or qop not offered.
    auth_failures,
    /// Of those, NOTIFYs with a right digest over a stale or replayed nonce (answered
    /// `stale=true`).
    auth_stale,
    /// NOTIFYs with credentials from a source address (or for a user) held back by the brake
    /// on guessing after too many failed answers: dropped unchecked and unanswered.
    auth_throttled,
        }
    };
}

macro_rules! define_counters {
    (() $($(#[$doc:meta])* $name:ident,)*) => {
        /// Running totals of the SIP endpoint, for status snapshots and periodic summaries.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Counters {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            /// The counts accumulated since `earlier` (a previous snapshot of the same endpoint).
            pub fn since(&self, earlier: &Counters) -> Counters {
                Counters {
                    $($name: self.$name.saturating_sub(earlier.$name),)*
                }
            }

            /// Adds `other` to these counts (the endpoints of several workers make one total).
            pub fn add(&mut self, other: &Counters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

with_counter_fields!(define_counters!());

/// Logs every counter of `$counters` as a structured field of one line, at `$level`
/// (`INFO`, `WARN`, …), with `$target`, extra leading fields and the message:
/// `log_counters!(INFO, "sip_resync", c, "stopped")`. For the drivers, which depend on
/// `tracing`; the core itself logs nothing.
#[doc(hidden)]
#[macro_export]
macro_rules! log_counters {
    ($level:ident, $target:expr, $counters:expr, $($rest:tt)+) => {
        $crate::with_counter_fields!($crate::log_counters_fields!($level, $target, $counters, $($rest)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! log_counters_fields {
    (($level:ident, $target:expr, $counters:expr, $($rest:tt)+) $($(#[$doc:meta])* $name:ident,)*) => {{
        let c: &$crate::sip::Counters = &$counters;
        tracing::event!(target: $target, tracing::Level::$level, $($name = c.$name,)* dropped = c.dropped(), $($rest)+)
    }};
}

impl Counters {
    /// Counts one message the endpoint has handled, by what happened to it: `received`, plus
    /// `responses` when a reply went back (`answered`: a refused source is answered 403 or
    /// not at all), plus the counters its disposition names. The endpoint calls this once for
    /// each message it handles and changes no other counter for a message.
    pub(super) fn record(&mut self, disposition: &Disposition, answered: bool) {
        self.received += 1;
        self.responses += u64::from(answered);
        match disposition {
            Disposition::Resync => self.resync_requests += 1,
            Disposition::Answered(code) => self.rejected += u64::from(*code >= 400),
            Disposition::Retransmission => self.retransmissions += 1,
            Disposition::Duplicate => self.duplicates += 1,
            Disposition::Absorbed => self.acks += 1,
            Disposition::Refused { .. } => {
                self.refused_source += 1;
                self.rejected += u64::from(answered);
            }
            Disposition::RateLimited { .. } => self.rate_limited_requests += 1,
            Disposition::TriggerLimited { .. } => self.rate_limited_triggers += 1,
            Disposition::Challenged { reason, .. } => {
                self.rejected += 1;
                self.auth_challenges += 1;
                if reason.is_refusal() {
                    self.auth_failures += 1;
                } else if reason.stale() {
                    self.auth_stale += 1;
                }
            }
            Disposition::AuthThrottled { .. } => self.auth_throttled += 1,
            Disposition::Dropped { reason, .. } => match reason {
                Unanswerable::KeepAlive => self.keepalives += 1,
                Unanswerable::Response => self.dropped_responses += 1,
                Unanswerable::TooLarge(_) => self.dropped_oversize += 1,
                Unanswerable::Garbage(_) => self.dropped_garbage += 1,
                Unanswerable::MissingField(_) => self.dropped_unanswerable += 1,
            },
        }
    }

    /// Messages dropped without an answer because they could not be used (garbage,
    /// oversize, responses, requests without the fields an answer needs).
    pub fn dropped(&self) -> u64 {
        self.dropped_garbage
            + self.dropped_oversize
            + self.dropped_unanswerable
            + self.dropped_responses
    }

    /// Everything that points at unwanted or hostile input: drops, TCP streams closed for
    /// framing or slowness, refused sources, rate-limited requests and triggers, and
    /// rate-limit entries evicted early, refused and held-back credentials. Zero on a quiet network with a
    /// well-behaved PBX.
    pub fn unwanted(&self) -> u64 {
        self.dropped()
            + self.auth_failures
            + self.auth_throttled
            + self.stream_errors
            + self.refused_source
            + self.rate_limited_requests
            + self.rate_limited_triggers
            + self.rate_limit_evictions
    }
}

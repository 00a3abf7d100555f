//! The endpoints behind a set of listeners: one per UDP socket (each UDP worker owns one) and
//! one for every TCP connection together; the settings they follow; the timer they share.
//!
//! A UDP worker locks only its own endpoint, once per batch of datagrams; the timer and the
//! status snapshot take each lock in turn, briefly. No lock is shared between workers on the
//! per-datagram path, but for the digest state's, which only a NOTIFY carrying an
//! `Authorization` of our realm takes, once.
//!
//! **Settings.** Every endpoint subscribes to the settings in effect (the agent's
//! `SettingsOwner`). [`Endpoints::lock`] looks at the subscription first (an atomic load) and,
//! when the settings changed, re-arms that endpoint before the message is handled, keeping its
//! transactions, budgets and counters. New rate limits start one new global budget, which the
//! first endpoint to re-arm creates and the others take.
//!
//! **Timer.** The endpoints keep one timer contract, the one a host of `Embedded` keeps: wait
//! until [`Endpoint::poll_timeout`], then call [`Endpoint::handle_timeout`] and
//! [`Endpoint::poll_deferred`]. The timer task ([`Endpoints::run_timer`]) sleeps until the
//! earliest deadline of all endpoints; when an endpoint's deadline comes earlier than the one
//! the timer sleeps for (a resync held back by a trigger limit, a first transaction), the
//! guard that handled the message wakes it as it is dropped.
//!
//! What stays global across workers: the global request and trigger budgets, which all
//! endpoints draw on through one [`GlobalBudget`] (atomics, one compare-and-swap per admitted
//! message); the digest challenge's [`DigestState`] (one nonce key, so a nonce issued on one
//! worker or over UDP is answered on any other or over TCP and TLS; one `nc` table, so a
//! nonce cannot be replayed on another worker; one failure count per source address and per
//! user, so a guesser spreading its source ports over the workers is held back all the same;
//! its lock is taken only for a NOTIFY carrying an `Authorization` of our realm); and the
//! counters, which [`Endpoints::counters`] sums. What is per worker: the
//! transaction table (a retransmission comes from the same source address and port, and the
//! kernel's `SO_REUSEPORT` hash sends it to the same socket), the per-source buckets and the
//! trigger held back by a limit. Drop logging ("once per source per minute") is decided by
//! the worker's own memory first and then by one shared memory, whose lock is taken at most
//! once per source and interval per worker, never per datagram of a flood.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sip_resync_core::config::Settings;
use sip_resync_core::digest::DigestState;
use sip_resync_core::sip::{Counters, Endpoint, GlobalBudget, LogMemory};
use sip_resync_core::ResyncRequest;
use tokio::sync::{watch, Notify};

pub(crate) use sip_resync_core::sync::lock;

/// No deadline: the timer waits to be woken.
const NO_DEADLINE: u64 = u64::MAX;

/// One endpoint and its subscription to the settings in effect.
#[derive(Debug)]
pub(crate) struct Armed {
    endpoint: Endpoint,
    settings: watch::Receiver<Arc<Settings>>,
    common: Arc<Common>,
}

/// What the endpoints of one set of listeners share besides the global budget: the budget of
/// the settings last armed, and the timer's deadline and wake-up.
#[derive(Debug)]
struct Common {
    /// The settings the endpoints were last re-armed with, and the global budget that goes
    /// with their rate limits.
    armed: Mutex<(Arc<Settings>, Arc<GlobalBudget>)>,
    /// The instant the timer sleeps until, as nanoseconds since `base`; [`NO_DEADLINE`] when
    /// it waits to be woken.
    deadline: AtomicU64,
    base: Instant,
    wake: Notify,
}

impl Common {
    fn nanos(&self, at: Instant) -> u64 {
        let n = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(n).unwrap_or(NO_DEADLINE - 1)
    }

    /// Wakes the timer when `at` comes before the deadline it sleeps for.
    fn note(&self, at: Option<Instant>) {
        let Some(at) = at else { return };
        let at = self.nanos(at);
        if at < self.deadline.load(Ordering::Acquire) {
            self.deadline.fetch_min(at, Ordering::AcqRel);
            self.wake.notify_one();
        }
    }
}

impl Armed {
    /// Re-arms the endpoint when the settings in effect changed since it last looked.
    fn follow_settings(&mut self) {
        if !self.settings.has_changed().unwrap_or(false) {
            return;
        }
        let settings = self.settings.borrow_and_update().clone();
        let config = settings.sip.endpoint_config();
        let common = &self.common;
        self.endpoint.reconfigure_sharing(config, || {
            let mut armed = lock(&common.armed);
            if !Arc::ptr_eq(&armed.0, &settings) {
                *armed = (settings.clone(), GlobalBudget::new());
            }
            armed.1.clone()
        });
    }
}

/// A locked endpoint, current with the settings in effect. When dropped it tells the timer
/// about the endpoint's next deadline.
pub(crate) struct EndpointGuard<'a>(MutexGuard<'a, Armed>);

impl Deref for EndpointGuard<'_> {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.0.endpoint
    }
}

impl DerefMut for EndpointGuard<'_> {
    fn deref_mut(&mut self) -> &mut Endpoint {
        &mut self.0.endpoint
    }
}

impl Drop for EndpointGuard<'_> {
    fn drop(&mut self) {
        let at = self.0.endpoint.poll_timeout();
        self.0.common.note(at);
    }
}

/// Locks an endpoint for a message (or a batch of datagrams): re-armed first if the settings
/// in effect changed.
pub(crate) fn lock_armed(armed: &Mutex<Armed>) -> EndpointGuard<'_> {
    let mut guard = lock(armed);
    guard.follow_settings();
    EndpointGuard(guard)
}

/// The endpoints of one set of listeners.
#[derive(Debug)]
pub(crate) struct Endpoints {
    udp: Vec<Arc<Mutex<Armed>>>,
    tcp: Mutex<Armed>,
    common: Arc<Common>,
}

impl Endpoints {
    /// Endpoints for `udp_sockets` UDP sockets and the TCP listeners, following `settings`
    /// and sharing one global budget.
    pub(crate) fn new(settings: watch::Receiver<Arc<Settings>>, udp_sockets: usize) -> Endpoints {
        let global = GlobalBudget::new();
        let log = LogMemory::shared();
        let digest = DigestState::shared();
        let current = settings.borrow().clone();
        let config = current.sip.endpoint_config();
        let common = Arc::new(Common {
            armed: Mutex::new((current, global.clone())),
            deadline: AtomicU64::new(NO_DEADLINE),
            base: Instant::now(),
            wake: Notify::new(),
        });
        let armed = |settings: &watch::Receiver<Arc<Settings>>| {
            let mut settings = settings.clone();
            settings.mark_unchanged();
            Armed {
                endpoint: Endpoint::sharing(
                    config.clone(),
                    global.clone(),
                    Some(log.clone()),
                    digest.clone(),
                ),
                settings,
                common: common.clone(),
            }
        };
        Endpoints {
            udp: (0..udp_sockets)
                .map(|_| Arc::new(Mutex::new(armed(&settings))))
                .collect(),
            tcp: Mutex::new(armed(&settings)),
            common,
        }
    }

    /// The endpoint of UDP socket `i`, for its worker ([`lock_armed`]).
    pub(crate) fn udp(&self, i: usize) -> Arc<Mutex<Armed>> {
        self.udp[i].clone()
    }

    /// The endpoint of every TCP connection, locked and current.
    pub(crate) fn tcp(&self) -> EndpointGuard<'_> {
        lock_armed(&self.tcp)
    }

    fn all(&self) -> impl Iterator<Item = &Mutex<Armed>> {
        self.udp
            .iter()
            .map(|e| &**e)
            .chain(std::iter::once(&self.tcp))
    }

    /// The counters of all endpoints together.
    pub(crate) fn counters(&self) -> Counters {
        let mut total = Counters::default();
        for e in self.all() {
            total.add(&lock(e).endpoint.counters());
        }
        total
    }

    /// Expires transactions and collects the resync requests held back by a trigger limit
    /// that the limit now admits; returns them with the earliest deadline left.
    fn handle_timeout(&self, now: Instant) -> (Vec<ResyncRequest>, Option<Instant>) {
        let mut released = Vec::new();
        let mut next: Option<Instant> = None;
        for e in self.all() {
            let mut e = lock(e);
            e.follow_settings();
            e.endpoint.handle_timeout(now);
            released.extend(e.endpoint.poll_deferred(now));
            if let Some(at) = e.endpoint.poll_timeout() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        (released, next)
    }

    /// The timer task: sleeps until the earliest [`Endpoint::poll_timeout`] of all endpoints
    /// (or until an endpoint's comes earlier), then handles it; hands released resync requests
    /// to `release`. Returns when `stop` changes.
    pub(crate) async fn run_timer(
        &self,
        mut release: impl FnMut(ResyncRequest),
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let now = tokio::time::Instant::now().into_std();
            let (released, next) = self.handle_timeout(now);
            for req in released {
                release(req);
            }
            // Armed before the sleep: a guard that notes an earlier deadline from now on
            // wakes this task (a wake-up that comes before `notified` is polled is kept).
            let notified = self.common.wake.notified();
            let at = next.map_or(NO_DEADLINE, |at| self.common.nanos(at));
            self.common.deadline.store(at, Ordering::Release);
            let sleep = async {
                match next {
                    // Never before `now`: a deadline in the past is handled on the next turn.
                    Some(at) => {
                        let at = at.max(now + Duration::from_millis(1));
                        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = notified => {}
                _ = stop.changed() => return,
            }
        }
    }
}

//! The endpoints behind a set of listeners: one per UDP socket (each UDP worker owns one) and
//! one for every TCP connection together.
//!
//! A UDP worker locks only its own endpoint, once per batch of datagrams; the tick, the
//! status snapshot and a settings change take each lock in turn, briefly, about once a
//! second. No lock is shared between workers on the per-datagram path.
//!
//! What stays global across workers: the global request and trigger budgets, which all
//! endpoints draw on through one [`GlobalBudget`] (atomics, one compare-and-swap per admitted
//! message), and the counters, which [`Endpoints::counters`] sums. What is per worker: the
//! transaction table (a retransmission comes from the same source address and port, and the
//! kernel's `SO_REUSEPORT` hash sends it to the same socket), the per-source buckets and the
//! trigger held back by a limit. Drop logging ("once per source per minute") is decided by
//! the worker's own memory first and then by one shared memory, whose lock is taken at most
//! once per source and interval per worker, never per datagram of a flood.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sip_resync_core::sip::{Counters, Endpoint, EndpointConfig, GlobalBudget, LogMemory};
use sip_resync_core::ResyncRequest;

/// The endpoints of one set of listeners.
#[derive(Debug)]
pub(crate) struct Endpoints {
    udp: Vec<Arc<Mutex<Endpoint>>>,
    tcp: Mutex<Endpoint>,
}

pub(crate) use sip_resync_core::sync::lock;

impl Endpoints {
    /// Endpoints for `udp_sockets` UDP sockets and the TCP listeners, all with `config`,
    /// sharing one global budget.
    pub(crate) fn new(config: EndpointConfig, udp_sockets: usize) -> Endpoints {
        let global = GlobalBudget::new();
        let log = LogMemory::shared();
        let endpoint = |config| Endpoint::sharing(config, global.clone(), Some(log.clone()));
        Endpoints {
            udp: (0..udp_sockets)
                .map(|_| Arc::new(Mutex::new(endpoint(config.clone()))))
                .collect(),
            tcp: Mutex::new(endpoint(config)),
        }
    }

    /// The endpoint of UDP socket `i`.
    pub(crate) fn udp(&self, i: usize) -> Arc<Mutex<Endpoint>> {
        self.udp[i].clone()
    }

    /// The endpoint of every TCP connection, locked.
    pub(crate) fn tcp(&self) -> MutexGuard<'_, Endpoint> {
        lock(&self.tcp)
    }

    fn all(&self) -> impl Iterator<Item = &Mutex<Endpoint>> {
        self.udp
            .iter()
            .map(|e| &**e)
            .chain(std::iter::once(&self.tcp))
    }

    /// The counters of all endpoints together.
    pub(crate) fn counters(&self) -> Counters {
        let mut total = Counters::default();
        for e in self.all() {
            total.add(&lock(e).counters());
        }
        total
    }

    /// Gives every endpoint new settings for its next message, keeping transactions, budgets
    /// and counters (see [`Endpoint::reconfigure`]); new rate limits start one new global
    /// budget, shared by all.
    pub(crate) fn reconfigure(&self, config: EndpointConfig) {
        let mut fresh: Option<Arc<GlobalBudget>> = None;
        for e in self.all() {
            lock(e).reconfigure_sharing(config.clone(), || {
                fresh.get_or_insert_with(GlobalBudget::new).clone()
            });
        }
    }

    /// Expires transactions and collects the resync requests held back by a trigger limit
    /// that the limit now admits.
    pub(crate) fn tick(&self, now: Instant) -> Vec<ResyncRequest> {
        let mut released = Vec::new();
        for e in self.all() {
            let mut e = lock(e);
            e.handle_timeout(now);
            released.extend(e.poll_deferred(now));
        }
        released
    }
}

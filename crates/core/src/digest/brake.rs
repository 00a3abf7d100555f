//! The brake on password guessing: failed digest answers budgeted per source address and per
//! user, with a hold-off that doubles. No I/O, no clock: time is an argument.
//!
//! Every failed answer (a wrong response digest, an unknown user, a made-up nonce, a
//! malformed or forged `Authorization`) is charged to its source address (an IPv4 address,
//! or the /64 prefix of an IPv6 one: never the port) and, when its `username` is the
//! authentication ID of a configured line, to that user. Up to
//! [`GuessBudget::failures_per_source`] (per user: [`GuessBudget::failures_per_user`])
//! failures cost nothing. Each one after that holds the address (the user) back for
//! [`GuessBudget::first_hold`], doubled with every further failure up to
//! [`GuessBudget::max_hold`]. While held back, its answers are not checked at all. A right
//! answer clears the address's and the user's count; so does a quiet
//! [`GuessBudget::forget_after`] without a failure.
//!
//! An address that has answered right once (the PBX) is not held back by its user's budget:
//! guessers elsewhere cannot lock the PBX out of the line, and they learn nothing from it,
//! since its answers go to the PBX. Its own failures still count against its own address.
//!
//! Both tables hold at most [`GuessBudget::max_entries`] entries each; a new one when full
//! replaces the one seen least recently.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// How many failed digest answers a source address or a user may give before it is held
/// back, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessBudget {
    /// Failed answers from one source address (IPv4 address, IPv6 /64, any port) before
    /// it is held back; 0 turns the brake off.
    pub failures_per_source: u32,
    /// Failed answers for one user (from any address) before the user is held back for
    /// every address that has not answered right before; 0 turns this budget off.
    pub failures_per_user: u32,
    /// The first hold-off, after the first failure over budget; each further failure
    /// doubles it.
    pub first_hold: Duration,
    /// The longest hold-off.
    pub max_hold: Duration,
    /// A count is forgotten after this long without a failure.
    pub forget_after: Duration,
    /// Most source addresses, and most users, remembered at once.
    pub max_entries: usize,
}

impl Default for GuessBudget {
    /// 10 failures per address and 30 per user before a hold-off of 1 s, doubling up to
    /// 5 minutes; forgotten after an hour without failure; 4096 addresses remembered.
    fn default() -> Self {
        GuessBudget {
            failures_per_source: 10,
            failures_per_user: 30,
            first_hold: Duration::from_secs(1),
            max_hold: Duration::from_secs(300),
            forget_after: Duration::from_secs(3600),
            max_entries: 4096,
        }
    }
}

impl GuessBudget {
    /// The hold-off after `failures` failures with `free` of them free.
    fn hold(&self, failures: u32, free: u32) -> Option<Duration> {
        let over = failures.checked_sub(free)?.checked_sub(1)?;
        let hold = self.first_hold.saturating_mul(1u32 << over.min(31));
        Some(hold.min(self.max_hold))
    }
}

/// Why an answer is not checked: its source or its user is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// The source address's failures within the count.
    pub(super) failures: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Option<Instant>,
    held_until: Option<Instant>,
    /// The address answered right once (source table only).
    proven: bool,
    seen: u64,
}

impl Entry {
    /// Forgets the count after a quiet `forget_after`.
    fn age(&mut self, now: Instant, forget_after: Duration) {
        if self
            .last_failure
            .is_some_and(|t| now.saturating_duration_since(t) >= forget_after)
        {
            self.failures = 0;
            self.last_failure = None;
            self.held_until = None;
        }
    }

    fn held(&self, now: Instant) -> bool {
        self.held_until.is_some_and(|t| now < t)
    }
}

/// A bounded table of entries, the least recently seen replaced first.
#[derive(Debug)]
struct Table<K> {
    entries: HashMap<K, Entry>,
    order: BTreeMap<u64, K>,
    next_seen: u64,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seen: 0,
        }
    }
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn get(&mut self, now: Instant, key: &K, forget_after: Duration) -> Option<&Entry> {
        let e = self.entries.get_mut(key)?;
        e.age(now, forget_after);
        Some(e)
    }

    /// The entry of `key`, created when new; marked as seen most recently.
    fn touch(&mut self, now: Instant, key: &K, budget: &GuessBudget) -> &mut Entry {
        let seen = self.next_seen;
        self.next_seen += 1;
        if let Some(e) = self.entries.get_mut(key) {
            self.order.remove(&e.seen);
            e.seen = seen;
        } else {
            while self.entries.len() >= budget.max_entries.max(1) {
                let Some((_, old)) = self.order.pop_first() else {
                    break;
                };
                self.entries.remove(&old);
            }
            self.entries.insert(
                key.clone(),
                Entry {
                    failures: 0,
                    last_failure: None,
                    held_until: None,
                    proven: false,
                    seen,
                },
            );
        }
        self.order.insert(seen, key.clone());
        let e = self.entries.get_mut(key).expect("just inserted");
        e.age(now, budget.forget_after);
        e
    }

    fn fail(&mut self, now: Instant, key: &K, budget: &GuessBudget, free: u32) -> u32 {
        let e = self.touch(now, key, budget);
        e.failures = e.failures.saturating_add(1);
        e.last_failure = Some(now);
        if let Some(hold) = budget.hold(e.failures, free) {
            e.held_until = Some(now + hold);
        }
        e.failures
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The key of a source address: the IPv4 address, or the IPv6 /64 prefix (one host usually
/// holds a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// The failure counts of source addresses and users.
#[derive(Debug, Default)]
pub(super) struct Brake {
    sources: Table<IpAddr>,
    users: Table<String>,
}

impl Brake {
    /// `Err` when answers from `ip` (for `user`, a configured authentication ID) are held
    /// back at `now`.
    pub(super) fn check(
        &mut self,
        now: Instant,
        budget: &GuessBudget,
        ip: IpAddr,
        user: Option<&str>,
    ) -> Result<(), Held> {
        if budget.failures_per_source == 0 && budget.failures_per_user == 0 {
            return Ok(());
        }
        let (failures, proven, held) = self
            .sources
            .get(now, &source_key(ip), budget.forget_after)
            .map_or((0, false, false), |e| (e.failures, e.proven, e.held(now)));
        if held {
            return Err(Held { failures });
        }
        if let Some(user) = user.filter(|_| !proven && budget.failures_per_user > 0) {
            let user = user.to_owned();
            if self
                .users
                .get(now, &user, budget.forget_after)
                .is_some_and(|e| e.held(now))
            {
                return Err(Held { failures });
            }
        }
        Ok(())
    }

    /// Charges a failed answer to `ip` and to `user`; returns the address's failures.
    pub(super) fn failure(
        &mut self,
        now: Instant,
        budget: &GuessBudget,
        ip: IpAddr,
        user: Option<&str>,
    ) -> u32 {
        let mut failures = 0;
        if budget.failures_per_source > 0 {
            let free = budget.failures_per_source;
            failures = self.sources.fail(now, &source_key(ip), budget, free);
        }
        if let Some(user) = user.filter(|_| budget.failures_per_user > 0) {
            let free = budget.failures_per_user;
            self.users.fail(now, &user.to_owned(), budget, free);
        }
        failures
    }

    /// A right answer from `ip` for `user`: both counts start again, and the address is
    /// exempt from the user's budget from now on.
    pub(super) fn success(&mut self, now: Instant, budget: &GuessBudget, ip: IpAddr, user: &str) {
        if budget.failures_per_source == 0 && budget.failures_per_user == 0 {
            return;
        }
        let e = self.sources.touch(now, &source_key(ip), budget);
        e.failures = 0;
        e.last_failure = None;
        e.held_until = None;
        e.proven = true;
        if let Some(e) = self.users.entries.get_mut(user) {
            e.failures = 0;
            e.last_failure = None;
            e.held_until = None;
        }
    }

    /// Entries remembered: source addresses, users.
    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (self.sources.len(), self.users.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUESSER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 66));
    const PBX: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));

    #[test]
    fn the_hold_off_doubles_up_to_its_cap() {
        let b = GuessBudget::default();
        let s = Duration::from_secs;
        assert_eq!(b.hold(10, 10), None);
        assert_eq!(b.hold(11, 10), Some(s(1)));
        assert_eq!(b.hold(12, 10), Some(s(2)));
        assert_eq!(b.hold(15, 10), Some(s(16)));
        assert_eq!(b.hold(19, 10), Some(s(256)));
        assert_eq!(b.hold(20, 10), Some(s(300)));
        assert_eq!(b.hold(u32::MAX, 10), Some(s(300)));
    }

    #[test]
    fn a_quiet_hour_forgets_the_count() {
        let b = GuessBudget::default();
        let t0 = Instant::now();
        let mut brake = Brake::default();
        for _ in 0..15 {
            brake.failure(t0, &b, GUESSER, None);
        }
        assert!(brake.check(t0, &b, GUESSER, None).is_err());
        let later = t0 + b.forget_after;
        assert!(brake.check(later, &b, GUESSER, None).is_ok());
        assert_eq!(brake.failure(later, &b, GUESSER, None), 1);
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let b = GuessBudget::default();
        let t0 = Instant::now();
        let mut brake = Brake::default();
        for i in 0..11u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
            brake.failure(t0, &b, ip, None);
        }
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        assert_eq!(brake.check(t0, &b, other, None), Err(Held { failures: 11 }));
    }

    #[test]
    fn the_tables_are_bounded() {
        let b = GuessBudget {
            max_entries: 8,
            ..GuessBudget::default()
        };
        let t0 = Instant::now();
        let mut brake = Brake::default();
        for i in 0..100u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            brake.failure(t0, &b, ip, Some(&format!("user{i}")));
        }
        assert_eq!(brake.len(), (8, 8));
    }

    #[test]
    fn a_proven_address_is_exempt_from_the_users_budget_only() {
        let b = GuessBudget::default();
        let t0 = Instant::now();
        let mut brake = Brake::default();
        brake.success(t0, &b, PBX, "1001");
        // Guessers on 40 addresses exhaust the user's budget.
        for i in 0..40u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            brake.failure(t0, &b, ip, Some("1001"));
        }
        let fresh = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert!(brake.check(t0, &b, fresh, Some("1001")).is_err());
        assert!(brake.check(t0, &b, fresh, Some("1002")).is_ok());
        assert!(brake.check(t0, &b, PBX, Some("1001")).is_ok());
    }
}

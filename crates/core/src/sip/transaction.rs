//! Completed non-INVITE server transactions (RFC 3261 §17.2.2) and duplicate detection.
//!
//! Over UDP a sender retransmits a request until it sees a final response. Once answered, a
//! transaction stays "completed" for Timer J = 64·T1 = 32 s; a retransmission in that window
//! gets the stored response again and is never processed twice. Over TCP Timer J is zero, so
//! nothing is stored.
//!
//! Matching follows §17.2.3: with an RFC 3261 branch (`z9hG4bK…`) the key is the branch, the
//! sent-by and the method (ACK matches the INVITE it acknowledges); without one, the RFC 2543
//! rule keys on Request-URI, tags, Call-ID, CSeq and top Via. On top of that, a request with
//! the same Call-ID, From-tag and CSeq but a new branch inside the window is a duplicate too:
//! one-file scripts resend with fixed values and a fresh branch.
//!
//! The table is bounded in entries and in bytes ([`TransactionTable::new`]); when full, the
//! oldest entries are evicted early (counted). Time is only ever the `now` passed in.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RFC 3261 Timer J for UDP: 64 × T1 (T1 = 500 ms).
pub(super) const TIMER_J_UDP: Duration = Duration::from_secs(32);

/// Identifies a server transaction: a 128-bit keyed hash of the fields RFC 3261 §17.2.3
/// matches on (see [`KeyHasher`]), so that the table stores no copy of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TxKey(u128);

/// The "same Call-ID, From-tag and CSeq from the same source address" key, hashed likewise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct DupKey(u128);

/// Computes [`TxKey`]s and [`DupKey`]s: two SipHash keys drawn at random per table, so a
/// sender can neither predict nor provoke a collision (two different requests colliding
/// would take about 2^64 tries against a key it cannot see).
#[derive(Debug, Clone, Default)]
pub(super) struct KeyHasher {
    a: RandomState,
    b: RandomState,
}

/// Hashes a key that is already a keyed hash: its low 64 bits are the table's hash. The keys
/// are unpredictable to a sender (see [`KeyHasher`]), so no sender can aim at one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PreHashed;

impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;
    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher(0)
    }
}

#[derive(Debug, Default)]
pub(super) struct PreHashedHasher(u64);

impl Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed here; this serves any other use correctly, if slowly.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64;
    }
}

/// One field of a key; each ends with a byte no string field holds.
enum Part<'a> {
    Text(&'a str),
    /// Compared ASCII case-insensitively.
    Lower(&'a str),
    Number(u64),
}

impl KeyHasher {
    fn digest(&self, parts: &[Part]) -> u128 {
        let one = |state: &RandomState| {
            let mut h = state.build_hasher();
            for p in parts {
                match p {
                    Part::Text(s) => h.write(s.as_bytes()),
                    Part::Lower(s) => {
                        let mut chunk = [0u8; 64];
                        for part in s.as_bytes().chunks(chunk.len()) {
                            let lower = &mut chunk[..part.len()];
                            lower.copy_from_slice(part);
                            lower.make_ascii_lowercase();
                            h.write(lower);
                        }
                    }
                    Part::Number(n) => h.write_u64(*n),
                }
                h.write_u8(0xff);
            }
            h.finish()
        };
        (u128::from(one(&self.a)) << 64) | u128::from(one(&self.b))
    }

    /// RFC 3261 matching: branch, sent-by (case-insensitive), method (`INVITE` for an ACK).
    pub(super) fn branch(&self, branch: &str, sent_by: &str, method: &str) -> TxKey {
        TxKey(self.digest(&[
            Part::Number(1),
            Part::Text(branch),
            Part::Lower(sent_by),
            Part::Text(method),
        ]))
    }

    /// RFC 2543 fall-back matching: Request-URI, From-tag, To-tag, Call-ID, CSeq number,
    /// method (`INVITE` for an ACK) and the top Via value.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn legacy(
        &self,
        uri: &str,
        from_tag: &str,
        to_tag: &str,
        call_id: &str,
        cseq: u32,
        method: &str,
        top_via: &str,
    ) -> TxKey {
        TxKey(self.digest(&[
            Part::Number(2),
            Part::Text(uri),
            Part::Text(from_tag),
            Part::Text(to_tag),
            Part::Text(call_id),
            Part::Number(u64::from(cseq)),
            Part::Text(method),
            Part::Text(top_via),
        ]))
    }

    /// Source address, Call-ID, From-tag, CSeq number and method.
    pub(super) fn dup(
        &self,
        source: SocketAddr,
        call_id: &str,
        from_tag: &str,
        cseq: u32,
        method: &str,
    ) -> DupKey {
        let ip = match source.ip() {
            std::net::IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        DupKey(self.digest(&[
            Part::Number(3),
            Part::Number((ip >> 64) as u64),
            Part::Number(ip as u64),
            Part::Number(u64::from(source.port())),
            Part::Text(call_id),
            Part::Text(from_tag),
            Part::Number(u64::from(cseq)),
            Part::Text(method),
        ]))
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    cost: usize,
    expires: Instant,
    dup: DupKey,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lookup<V> {
    /// A retransmission of a completed transaction: what was decided for it.
    Retransmission(V),
    /// Same Call-ID, From-tag and CSeq as a completed transaction: what was decided for it.
    Duplicate(V),
    /// A new request.
    New,
}

/// Completed server transactions, bounded and expiring by the `now` passed in. `V` is what
/// is remembered of each (the endpoint keeps the response and the decision behind it).
#[derive(Debug)]
pub(super) struct TransactionTable<V> {
    hasher: KeyHasher,
    entries: HashMap<TxKey, Entry<V>, PreHashed>,
    dups: HashMap<DupKey, TxKey, PreHashed>,
    order: VecDeque<(Instant, TxKey)>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    lifetime: Duration,
    evicted: u64,
}

impl<V: Clone> TransactionTable<V> {
    /// A table holding at most `capacity` transactions, of at most `max_bytes` declared cost
    /// together, for `lifetime` each.
    pub(super) fn new(
        capacity: usize,
        max_bytes: usize,
        lifetime: Duration,
    ) -> TransactionTable<V> {
        TransactionTable {
            hasher: KeyHasher::default(),
            entries: HashMap::default(),
            dups: HashMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            lifetime,
            evicted: 0,
        }
    }

    /// The hasher that makes this table's keys.
    pub(super) fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    /// Looks a request up (after expiring what is due at `now`).
    pub(super) fn lookup(&mut self, now: Instant, key: &TxKey, dup: &DupKey) -> Lookup<V> {
        self.expire(now);
        if let Some(e) = self.entries.get(key) {
            return Lookup::Retransmission(e.value.clone());
        }
        if let Some(e) = self.dups.get(dup).and_then(|k| self.entries.get(k)) {
            return Lookup::Duplicate(e.value.clone());
        }
        Lookup::New
    }

    /// Records a completed transaction; `cost` is its size in bytes, counted against the
    /// byte budget.
    pub(super) fn insert(&mut self, now: Instant, key: TxKey, dup: DupKey, value: V, cost: usize) {
        if self.lifetime.is_zero() || cost > self.max_bytes {
            return;
        }
        self.expire(now);
        while self.entries.len() >= self.capacity || self.bytes + cost > self.max_bytes {
            match self.order.pop_front() {
                Some((_, old)) => {
                    if self.remove(&old) {
                        self.evicted += 1;
                    }
                }
                None => break,
            }
        }
        let expires = now + self.lifetime;
        self.dups.insert(dup, key);
        self.order.push_back((expires, key));
        self.bytes += cost;
        self.entries.insert(
            key,
            Entry {
                value,
                cost,
                expires,
                dup,
            },
        );
    }

    /// Drops every transaction whose Timer J has fired by `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if *at > now {
                break;
            }
            let (at, key) = self.order.pop_front().expect("front exists");
            if self.entries.get(&key).is_some_and(|e| e.expires == at) {
                self.remove(&key);
            }
        }
    }

    fn remove(&mut self, key: &TxKey) -> bool {
        match self.entries.remove(key) {
            Some(e) => {
                self.bytes -= e.cost;
                if self.dups.get(&e.dup) == Some(key) {
                    self.dups.remove(&e.dup);
                }
                true
            }
            None => false,
        }
    }

    /// When the next transaction expires, if any.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(at, _)| *at)
    }

    /// Number of completed transactions held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Declared bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Is the table empty?
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Transactions evicted before their Timer J because the table was full.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> &'static KeyHasher {
        static H: std::sync::OnceLock<KeyHasher> = std::sync::OnceLock::new();
        H.get_or_init(KeyHasher::default)
    }
    fn key(branch: &str) -> TxKey {
        hasher().branch(branch, "h", "NOTIFY")
    }
    fn dup(cseq: u32) -> DupKey {
        hasher().dup("127.0.0.1:5060".parse().unwrap(), "c", "f", cseq, "NOTIFY")
    }

    #[test]
    fn keys_tell_their_fields_apart() {
        let h = hasher();
        assert_eq!(
            h.branch("z9hG4bK1", "Host:5060", "NOTIFY"),
            h.branch("z9hG4bK1", "host:5060", "NOTIFY")
        );
        assert_ne!(
            h.branch("z9hG4bK1", "h", "NOTIFY"),
            h.branch("z9hG4bK2", "h", "NOTIFY")
        );
        assert_ne!(h.branch("ab", "c", "NOTIFY"), h.branch("a", "bc", "NOTIFY"));
        let src = "192.0.2.1:5060".parse().unwrap();
        assert_ne!(
            h.dup(src, "c", "f", 1, "NOTIFY"),
            h.dup("192.0.2.1:5061".parse().unwrap(), "c", "f", 1, "NOTIFY")
        );
        assert_ne!(
            h.dup(src, "c", "f", 1, "NOTIFY"),
            h.dup(src, "c", "f", 2, "NOTIFY")
        );
        assert_ne!(
            KeyHasher::default().branch("a", "b", "c"),
            h.branch("a", "b", "c"),
            "keyed per table"
        );
    }

    #[test]
    fn retransmission_and_duplicate_within_timer_j_only() {
        let t0 = Instant::now();
        let mut t = TransactionTable::<&str>::new(16, 1 << 20, TIMER_J_UDP);
        assert_eq!(t.lookup(t0, &key("b1"), &dup(1)), Lookup::New);
        t.insert(t0, key("b1"), dup(1), "resp", 4);
        let at = t0 + Duration::from_secs(31);
        assert_eq!(
            t.lookup(at, &key("b1"), &dup(1)),
            Lookup::Retransmission("resp")
        );
        assert_eq!(t.lookup(at, &key("b2"), &dup(1)), Lookup::Duplicate("resp"));
        assert_eq!(t.lookup(at, &key("b2"), &dup(2)), Lookup::New);
        assert_eq!(t.next_expiry(), Some(t0 + TIMER_J_UDP));
        assert_eq!(t.lookup(t0 + TIMER_J_UDP, &key("b1"), &dup(1)), Lookup::New);
        assert!(t.is_empty());
    }

    #[test]
    fn bounded_with_oldest_evicted() {
        let t0 = Instant::now();
        let mut t = TransactionTable::new(2, 1 << 20, TIMER_J_UDP);
        for (i, b) in ["a", "b", "c"].into_iter().enumerate() {
            t.insert(t0, key(b), dup(i as u32), b, 1);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.evicted(), 1);
        assert_eq!(t.lookup(t0, &key("a"), &dup(0)), Lookup::New);
        assert_eq!(
            t.lookup(t0, &key("c"), &dup(2)),
            Lookup::Retransmission("c")
        );
        // The byte budget evicts too.
        let mut t = TransactionTable::new(100, 10, TIMER_J_UDP);
        t.insert(t0, key("a"), dup(0), "a", 6);
        t.insert(t0, key("b"), dup(1), "b", 6);
        assert_eq!((t.len(), t.bytes(), t.evicted()), (1, 6, 1));
        t.insert(t0, key("c"), dup(2), "c", 11);
        assert_eq!(
            t.lookup(t0, &key("c"), &dup(2)),
            Lookup::New,
            "larger than the budget: not kept"
        );
    }

    #[test]
    fn zero_lifetime_stores_nothing() {
        let t0 = Instant::now();
        let mut t = TransactionTable::new(2, 1 << 20, Duration::ZERO);
        t.insert(t0, key("a"), dup(0), "x", 1);
        assert_eq!(t.lookup(t0, &key("a"), &dup(0)), Lookup::New);
    }
}

//! Reproducible random draws for the random modes.
//!
//! Every draw comes from a ChaCha8 stream (`rand_chacha::ChaCha8Rng`, whose output for a given
//! key and stream is fixed) reduced to a range with Lemire's multiply-and-reject method, so a
//! seed gives the same polls on every platform and in every release that keeps these
//! constants. The 256-bit key is the schedule's 64-bit seed expanded with SplitMix64 after
//! mixing in a per-use domain constant; the stream number selects the slot (for windows: the
//! local calendar day), so a slot's draw does not depend on which other slots were computed
//! before it.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Domain of the chained random intervals (Snom random, period below one day).
pub(super) const DOMAIN_INTERVALS: u64 = 0x5345_4544_494e_5456; // "SEEDINTV"
/// Domain of the daily random windows (Snom random, period of a day or more).
pub(super) const DOMAIN_WINDOWS: u64 = 0x5345_4544_5749_4e44; // "SEEDWIND"
/// Domain of the phase of a MAC-derived day or week within a period (stream: its length).
pub(super) const DOMAIN_PHASE: u64 = 0x5345_4544_5048_4153; // "SEEDPHAS"
/// Domain of the day drawn in a week of a weekly rule (stream: the week).
pub(super) const DOMAIN_WEEKDAY: u64 = 0x5345_4544_5744_4159; // "SEEDWDAY"

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator for one `domain` and `stream` of a schedule's `seed`.
pub(super) fn rng(seed: u64, domain: u64, stream: u64) -> ChaCha8Rng {
    let mut state = seed ^ domain;
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// The random extra of a retry after a failure at `failed_at`: `0..=extra` seconds, the same
/// for the same failure.
pub(super) fn retry_extra(seed: u64, failed_at: jiff::Timestamp, extra: u32) -> u64 {
    if extra == 0 {
        return 0;
    }
    let mut rng = rng(
        seed,
        DOMAIN_INTERVALS,
        ((failed_at.as_second() as u64) << 2) | 2,
    );
    uniform_inclusive(&mut rng, u64::from(extra))
}

/// A uniform draw from `0..=max`, unbiased (Lemire's nearly divisionless method).
pub(super) fn uniform_inclusive(rng: &mut impl RngCore, max: u64) -> u64 {
    if max == u64::MAX {
        return rng.next_u64();
    }
    let range = max + 1;
    let mut product = u128::from(rng.next_u64()) * u128::from(range);
    let mut low = product as u64;
    if low < range {
        let threshold = range.wrapping_neg() % range;
        while low < threshold {
            product = u128::from(rng.next_u64()) * u128::from(range);
            low = product as u64;
        }
    }
    (product >> 64) as u64
}

/// A schedule seed derived from a device's MAC address.
///
/// Phones spread their random polls by their own identity, so a whole fleet never lands on
/// the same second, while one phone keeps the same draws across restarts. Callers that know
/// the MAC should seed [`Schedule::new`](super::Schedule::new) with this.
pub fn seed_from_mac(mac: [u8; 6]) -> u64 {
    let mut state = mac.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    splitmix64(&mut state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_in_range() {
        let mut r = rng(1, DOMAIN_INTERVALS, 0);
        for max in [0, 1, 2, 3, 599, 3600, 86_399, u64::MAX / 3, u64::MAX] {
            for _ in 0..200 {
                assert!(uniform_inclusive(&mut r, max) <= max);
            }
        }
        assert_eq!(uniform_inclusive(&mut r, 0), 0);
    }

    #[test]
    fn uniform_hits_both_ends() {
        let mut r = rng(7, DOMAIN_WINDOWS, 3);
        let draws: Vec<u64> = (0..2000).map(|_| uniform_inclusive(&mut r, 9)).collect();
        for v in 0..=9 {
            assert!(draws.contains(&v), "{v} never drawn");
        }
    }

    /// The draws are part of the behaviour: a phone must poll at the same instants after an
    /// upgrade. If this test fails, the generator or its reduction changed.
    #[test]
    fn draws_are_pinned() {
        let mut r = rng(0x0004_1324_abcd, DOMAIN_INTERVALS, 0);
        let got: Vec<u64> = (0..6).map(|_| uniform_inclusive(&mut r, 3600)).collect();
        let mut again = rng(0x0004_1324_abcd, DOMAIN_INTERVALS, 0);
        let twice: Vec<u64> = (0..6)
            .map(|_| uniform_inclusive(&mut again, 3600))
            .collect();
        assert_eq!(got, twice);
        assert_eq!(got, PINNED_INTERVALS);
        let mut w = rng(0x0004_1324_abcd, DOMAIN_WINDOWS, 20_000);
        assert_eq!(uniform_inclusive(&mut w, 600), PINNED_WINDOW);
        assert_eq!(
            seed_from_mac([0x00, 0x04, 0x13, 0x24, 0xab, 0xcd]),
            PINNED_MAC_SEED
        );
    }

    const PINNED_INTERVALS: [u64; 6] = [782, 3481, 119, 2486, 656, 452];
    const PINNED_WINDOW: u64 = 141;
    const PINNED_MAC_SEED: u64 = 16_460_676_054_818_383_730;

    #[test]
    fn streams_and_seeds_differ() {
        let a = rng(1, DOMAIN_WINDOWS, 1).next_u64();
        let b = rng(1, DOMAIN_WINDOWS, 2).next_u64();
        let c = rng(2, DOMAIN_WINDOWS, 1).next_u64();
        let d = rng(1, DOMAIN_INTERVALS, 1).next_u64();
        assert!(a != b && a != c && a != d);
    }
}

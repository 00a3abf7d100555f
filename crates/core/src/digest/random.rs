//! Random bytes for nonce keys (the SIP server) and client nonces (the HTTP client).

/// Fills `buf` from the operating system's random source (nonce keys, client nonces). Without
/// one, it falls back to process-local entropy: values then stay unpredictable only as far as
/// the standard hasher's random keys are.
pub fn fill_random(buf: &mut [u8]) {
    use rand_core::TryRngCore;
    if rand_core::OsRng.try_fill_bytes(buf).is_err() {
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos()));
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill_random(&mut a);
        fill_random(&mut b);
        assert_ne!(a, b);
    }
}

//! One UDP datagram through the endpoint with small limits, so that short inputs reach every
//! bound: see `sip_resync_core::fuzzing::datagram_small` (`crates/core/src/fuzzing.rs`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync_core::fuzzing::datagram_small(data));

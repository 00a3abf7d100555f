//! One UDP datagram through the endpoint with the default limits, and again as a
//! retransmission: see `sip_resync_core::fuzzing::datagram` (`crates/core/src/fuzzing.rs`) for
//! what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync_core::fuzzing::datagram(data));

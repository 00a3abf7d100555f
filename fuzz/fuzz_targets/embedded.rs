//! One UDP datagram through the embedded entry point, against the claim rule and the
//! endpoint's answer: see `sip_resync_core::fuzzing::embedded` (`crates/core/src/fuzzing.rs`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync_core::fuzzing::embedded(data));

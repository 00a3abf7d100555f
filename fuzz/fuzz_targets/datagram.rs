//! One UDP datagram through the endpoint and the embedded entry point: see
//! `sip_resync::fuzzing::datagram` (`src/fuzzing.rs`) for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync::fuzzing::datagram(data));

//! A TCP byte stream cut into reads, framed and handled: see
//! `sip_resync_core::fuzzing::tcp_framer` (`crates/core/src/fuzzing.rs`) for the input layout and what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync_core::fuzzing::tcp_framer(data));

//! A Snom XML file through the parser and the settings reader: see
//! `sip_resync_core::fuzzing::snom` (`crates/core/src/fuzzing.rs`) for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync_core::fuzzing::snom(data));

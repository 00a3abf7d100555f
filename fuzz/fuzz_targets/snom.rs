//! A Snom XML file through the parser and the settings reader: see
//! `sip_resync::fuzzing::snom` (`src/fuzzing.rs`) for what it asserts.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_resync::fuzzing::snom(data));

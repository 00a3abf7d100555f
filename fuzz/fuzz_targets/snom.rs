//! Snom XML bytes through the settings parser and the settings reader: never panics;
//! every error names a line of the file; settings are unique and name lines of the file.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sip_resync::config::{self, snom, ConfigError};

/// Lines in `bytes`, counted as the parsers count them (LF ends a line).
fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

/// An error names a line of the file; `required` when the dialect always knows the line.
fn check_error(e: &ConfigError, lines: usize, required: bool) {
    match e {
        ConfigError::Invalid {
            line: Some(line), ..
        } => {
            assert!((1..=lines).contains(line), "line {line} of {lines}: {e}");
        }
        ConfigError::Invalid { line: None, .. } => assert!(!required, "no line in {e}"),
        other => panic!("unexpected error kind: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.xml");
    let lines = line_count(data);
    match snom::parse(data, path) {
        Ok(entries) => {
            for (i, e) in entries.iter().enumerate() {
                assert!((1..=lines).contains(&e.line), "entry line {}", e.line);
                assert!(
                    entries[..i].iter().all(|o| o.name != e.name),
                    "{} appears twice",
                    e.name
                );
            }
        }
        Err(e) => check_error(&e, lines, true),
    }
    // The dialect is chosen by content here: Snom XML when it looks like it, else TOML,
    // whose errors may concern the whole file and then name no line.
    if let Err(e) = config::from_bytes(data, path) {
        check_error(&e, lines, snom::looks_like(data));
    }
});

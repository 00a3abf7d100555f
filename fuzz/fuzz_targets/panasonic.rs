//! Panasonic `.cfg` bytes through the file parser and the settings reader: never panics;
//! every error and warning names a line of the file; entries are unique and in file order.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sip_resync::config::{self, panasonic, ConfigError};

/// Lines in `bytes`, counted as the parsers count them (LF ends a line).
fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

fn check_error(e: &ConfigError, lines: usize) {
    match e {
        ConfigError::Invalid { line, .. } => {
            let line = line.unwrap_or_else(|| panic!("no line in {e}"));
            assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
        }
        other => panic!("unexpected error kind: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.cfg");
    let lines = line_count(data);
    match panasonic::parse(data, path) {
        Ok(file) => {
            let mut last = 1;
            for e in &file.entries {
                assert!(e.line > last && e.line <= lines, "entry line {}", e.line);
                last = e.line;
                assert_eq!(file.get(&e.name), Some(e), "{} appears twice", e.name);
            }
            for w in &file.warnings {
                assert!(w.line.is_some_and(|l| (2..=lines).contains(&l)), "{w}");
            }
        }
        Err(e) => check_error(&e, lines),
    }
    match config::from_bytes(data, path) {
        Ok(settings) => {
            for w in &settings.warnings {
                assert!(w.line.is_some_and(|l| (1..=lines).contains(&l)), "{w}");
            }
        }
        Err(e) => check_error(&e, lines),
    }
});

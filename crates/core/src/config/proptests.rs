//! Property tests of the vendor file readers: arbitrary bytes and mutated sample files never
//! make the Panasonic or Snom parser (or the settings reader behind them) panic, and every
//! error, warning and setting they report names a line that exists in the file.

use std::path::Path;

use proptest::prelude::*;

use crate::config::{self, panasonic, snom, ConfigError, Warning};

/// The Panasonic samples of `fixtures/`.
const PANASONIC: &[&[u8]] = &[
    include_bytes!("../../../../fixtures/panasonic/resync-event.cfg"),
    include_bytes!("../../../../fixtures/provisioning/master.cfg"),
    include_bytes!("../../../../fixtures/provisioning/0080F0A1B2C3.cfg"),
    include_bytes!("../../../../fixtures/schedule/panasonic-cyclic-60min.cfg"),
    include_bytes!("../../../../fixtures/schedule/panasonic-invalid-resync-time.cfg"),
    include_bytes!("../../../../fixtures/schedule/panasonic-resync-time-0200.cfg"),
];

/// The Snom samples of `fixtures/`.
const SNOM: &[&[u8]] = &[
    include_bytes!("../../../../fixtures/schedule/snom-abs-0130.xml"),
    include_bytes!("../../../../fixtures/schedule/snom-random-3600s.xml"),
    include_bytes!("../../../../fixtures/schedule/snom-random-daily-0900-0910.xml"),
    include_bytes!("../../../../fixtures/schedule/snom-rel-20s.xml"),
];

/// Lines in `bytes` as the readers number them: an LF ends a line; the text after the last
/// LF (possibly empty) is the last line.
fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count() + 1
}

/// `line` is a line of a file of `lines` lines.
fn check_line(line: Option<usize>, lines: usize, what: &dyn std::fmt::Display) {
    let line = line.unwrap_or_else(|| panic!("names no line: {what}"));
    assert!(
        (1..=lines).contains(&line),
        "line {line} of a {lines}-line file: {what}"
    );
}

/// An error from a vendor reader is `Invalid`, names a line of the file, and says so first.
fn check_error(e: &ConfigError, path: &Path, lines: usize) {
    let ConfigError::Invalid { line, .. } = e else {
        panic!("unexpected error kind: {e}");
    };
    check_line(*line, lines, e);
    let prefix = format!("{}:{}", path.display(), line.unwrap());
    assert!(e.to_string().starts_with(&prefix), "{e}");
}

fn check_warnings(warnings: &[Warning], lines: usize) {
    for w in warnings {
        check_line(w.line, lines, w);
    }
}

fn check_panasonic(bytes: &[u8]) {
    let path = Path::new("phone.cfg");
    // Panasonic lines end in CR LF, LF or a bare CR.
    let lines = panasonic::line_count(bytes);
    match panasonic::parse(bytes, path) {
        Ok(file) => {
            let mut previous = 1;
            for e in &file.entries {
                assert!(
                    e.line > previous && e.line <= lines,
                    "entry {} on line {} (previous {previous}, {lines} lines)",
                    e.name,
                    e.line
                );
                previous = e.line;
                assert_eq!(file.get(&e.name), Some(e), "{} kept twice", e.name);
            }
            check_warnings(&file.warnings, lines);
        }
        Err(e) => check_error(&e, path, lines),
    }
    match config::from_bytes(bytes, path) {
        Ok(settings) => check_warnings(&settings.warnings, lines),
        Err(e) => check_error(&e, path, lines),
    }
}

fn check_snom(bytes: &[u8]) {
    let path = Path::new("snom.xml");
    let lines = line_count(bytes);
    match snom::parse(bytes, path) {
        Ok(entries) => {
            for (i, e) in entries.iter().enumerate() {
                check_line(Some(e.line), lines, &e.name);
                assert!(
                    entries[..i].iter().all(|o| o.name != e.name),
                    "{} kept twice",
                    e.name
                );
            }
        }
        Err(e) => check_error(&e, path, lines),
    }
    if snom::looks_like(bytes) {
        // Numbered by the reader from_bytes picks (a Panasonic magic line comes first).
        let lines = config::line_count(bytes);
        match config::from_bytes(bytes, path) {
            Ok(settings) => check_warnings(&settings.warnings, lines),
            Err(e) => check_error(&e, path, lines),
        }
    }
}

/// Applies (position, byte, operation) edits: replace, remove or insert a byte.
fn mutate(sample: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    let mut out = sample.to_vec();
    for (at, byte, op) in edits {
        if out.is_empty() {
            out.push(*byte);
            continue;
        }
        let i = at.index(out.len());
        match op % 3 {
            0 => out[i] = *byte,
            1 => {
                out.remove(i);
            }
            _ => out.insert(i, *byte),
        }
    }
    out
}

/// Bytes that matter to the readers, so that random text reaches past the first check.
fn dense(alphabet: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop::sample::select(alphabet), 0..max)
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    proptest::collection::vec(
        (any::<prop::sample::Index>(), any::<u8>(), any::<u8>()),
        1..16,
    )
}

proptest! {
    // Seeds of past failures are kept beside this file, where they were kept when these
    // properties were an integration test; the default would look for them under
    // `proptest-regressions/` at the top of the repository.
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn panasonic_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_panasonic(&bytes);
    }

    #[test]
    fn panasonic_arbitrary_lines_after_the_magic_line(
        body in dense(b"ABC_=\"# \t\r\n\xc3\xa9\xff019:Y", 1024),
    ) {
        let mut bytes = format!("{}\r\n", panasonic::MAGIC).into_bytes();
        bytes.extend_from_slice(&body);
        check_panasonic(&bytes);
    }

    #[test]
    fn panasonic_mutated_samples(sample in prop::sample::select(PANASONIC), edits in edits()) {
        check_panasonic(&mutate(sample, &edits));
    }

    #[test]
    fn snom_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_snom(&bytes);
    }

    #[test]
    fn snom_arbitrary_markup(
        body in dense(b"<>/=\"' \r\n\tsettingphone-prov_lidx&;!?-[]\xc3\xa9\xff019", 1024),
    ) {
        let mut bytes = b"<?xml version=\"1.0\"?>\n<settings><phone-settings>".to_vec();
        bytes.extend_from_slice(&body);
        check_snom(&bytes);
    }

    #[test]
    fn snom_mutated_samples(sample in prop::sample::select(SNOM), edits in edits()) {
        check_snom(&mutate(sample, &edits));
    }
}

#[test]
fn the_samples_themselves_pass() {
    for s in PANASONIC {
        check_panasonic(s);
    }
    for s in SNOM {
        check_snom(s);
    }
}

//! Property tests of the Yealink, Polycom, Cisco and Grandstream readers: mutated samples and
//! arbitrary text after each dialect's opening never make a reader (or the settings and
//! schedule behind it) panic, and every error and warning that names a line names one of the
//! file.

use std::path::Path;

use proptest::prelude::*;

use crate::config::{self, ConfigError};
use crate::schedule::{PersistedState, Schedule};

const SAMPLES: &[&[u8]] = &[
    include_bytes!("../../../../fixtures/real/yealink/fusionpbx-t46s-y000000000066.cfg"),
    include_bytes!("../../../../fixtures/real/yealink/fusionpbx-t46s-0015651a2b3c.cfg"),
    include_bytes!("../../../../fixtures/real/polycom/fusionpbx-5x-0004f2a1b2c3.cfg"),
    include_bytes!("../../../../fixtures/real/cisco/fusionpbx-8851-0c1a2b3c4d5e.xml"),
    include_bytes!("../../../../fixtures/real/grandstream/fspbx-ht80x-cfg000b82a1b2c3.xml"),
    include_bytes!("../../../../fixtures/schedule/yealink-weekly-0200-0300.cfg"),
    include_bytes!("../../../../fixtures/schedule/polycom-abs-0200.cfg"),
    include_bytes!("../../../../fixtures/schedule/cisco-resync-at-0200-random-3600.xml"),
    include_bytes!("../../../../fixtures/schedule/grandstream-daily-02-03-random.xml"),
];

const OPENINGS: &[&str] = &[
    "#!version:1.0.0.1\n",
    "<polycomConfig>",
    "<flat-profile>",
    "<gs_provision><config>",
];

fn check(bytes: &[u8]) {
    let path = Path::new("f.cfg");
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    match config::from_bytes(bytes, path) {
        Ok(s) => {
            for w in &s.warnings {
                if let Some(line) = w.line {
                    assert!((1..=lines).contains(&line), "{w}");
                }
            }
            let (mut plan, _) = Schedule::new(
                &s.schedule,
                jiff::tz::TimeZone::UTC,
                PersistedState::default(),
                7,
                jiff::Timestamp::UNIX_EPOCH,
            );
            let _ = plan
                .polls(jiff::Timestamp::UNIX_EPOCH, true)
                .take(3)
                .count();
        }
        Err(ConfigError::Invalid { line, .. }) => {
            if let Some(line) = line {
                assert!((1..=lines).contains(&line));
            }
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_samples_never_panic(
        which in 0..SAMPLES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let mut bytes = SAMPLES[which].to_vec();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        check(&bytes);
    }

    #[test]
    fn arbitrary_text_after_an_opening_never_panics(
        which in 0..OPENINGS.len(),
        rest in "[ -~\n=<>/\"$\\[\\]|,+:0-9a-zA-Z_.]{0,300}",
    ) {
        check(format!("{}{rest}", OPENINGS[which]).as_bytes());
    }
}

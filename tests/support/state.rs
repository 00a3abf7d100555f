//! The state directory as `docs/engine.md` documents it, read from the outside:
//! `current` names one complete set of files, whose `manifest.toml` lists each file's SHA-256.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The link to the current set.
pub const CURRENT: &str = "current";
/// The directory holding the sets.
pub const SETS: &str = "sets";
/// The manifest of a set.
pub const MANIFEST: &str = "manifest.toml";

/// SHA-256 of `bytes`, lower-case hex (the manifest's `digest`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Each applied file's name and bytes.
pub type Contents = BTreeMap<String, Vec<u8>>;

/// The current set: each file's name and bytes, and the names whose bytes do not match
/// their manifest digest. `None` when nothing was applied yet.
pub fn current_set(state: &Path) -> Option<(Contents, Vec<String>)> {
    let dir = state.join(CURRENT);
    let text = match std::fs::read_to_string(dir.join(MANIFEST)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{}: {e}", dir.join(MANIFEST).display()),
    };
    let manifest: toml::Value = toml::from_str(&text).expect("the manifest is TOML");
    let files = manifest["files"].as_table().expect("[files]");
    let mut contents = BTreeMap::new();
    let mut mismatched = Vec::new();
    for (name, record) in files {
        let bytes = std::fs::read(dir.join(name)).expect("a listed file exists");
        if record["digest"].as_str() != Some(sha256_hex(&bytes).as_str()) {
            mismatched.push(name.clone());
        }
        contents.insert(name.clone(), bytes);
    }
    Some((contents, mismatched))
}

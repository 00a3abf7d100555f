//! The applied set: the last known good configuration files, replaced only as a whole.
//!
//! ```text
//! STATE_DIR/
//!   state.toml                   persisted state (store::State)
//!   current -> sets/0000000000000007
//!   sets/0000000000000007/
//!     master.cfg  product.cfg    the applied files, byte for byte as fetched
//!     manifest.toml              digests, validators and sources of those files
//! ```
//!
//! A new set is written into a fresh directory (each file fsynced, then the manifest, then
//! the directory), and `current` is switched to it by renaming a new symbolic link over the
//! old one, followed by an fsync of the state directory. `current` therefore always names
//! one complete set: a crash before the rename leaves the old set, after it the new one.
//! Sets that `current` does not name are removed at start-up and after each apply.
//! Readers (the embedding application) read `STATE_DIR/current/NAME`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{self, io_err, StoreError};

pub(super) use sip_resync_core::MANIFEST;
/// Name of the link to the current set.
pub(super) const CURRENT: &str = "current";
/// Directory holding the sets.
pub(super) const SETS: &str = "sets";

/// SHA-256 of `bytes`, lower-case hex.
pub(super) fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What is known about one applied file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileRecord {
    /// SHA-256 of the content, hex.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Where it was fetched from (credentials never included).
    pub source: String,
    /// `ETag` of the response it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Last-Modified` of the response it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// The manifest of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Set number; grows with every apply.
    pub id: u64,
    /// When the set was applied.
    pub applied_at: jiff::Timestamp,
    /// The files, by name.
    pub files: BTreeMap<String, FileRecord>,
}

/// A set as loaded: manifest and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AppliedSet {
    /// The manifest.
    pub manifest: Manifest,
    /// File contents by name.
    pub contents: BTreeMap<String, Vec<u8>>,
}

fn set_dir_name(id: u64) -> String {
    format!("{id:016}")
}

fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Where `current` points, as a set id; `None` when there is no applied set yet.
fn current_id(state_dir: &Path) -> Result<Option<u64>, StoreError> {
    let link = state_dir.join(CURRENT);
    match fs::read_link(&link) {
        Ok(target) => {
            let id = target
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| corrupt(&link, "does not point into sets/"))?;
            Ok(Some(id))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("cannot read the link", &link)(e)),
    }
}

/// Loads the current set, checking every file against the manifest.
///
/// A file whose content no longer matches its digest (edited by hand, damaged) is kept with
/// its real digest and its validators dropped, so the next run fetches it in full; the
/// returned list names such files.
pub(super) fn load_current(
    state_dir: &Path,
    max_file_size: u64,
) -> Result<(Option<AppliedSet>, Vec<String>), StoreError> {
    let Some(id) = current_id(state_dir)? else {
        return Ok((None, Vec::new()));
    };
    let dir = state_dir.join(SETS).join(set_dir_name(id));
    let manifest_path = dir.join(MANIFEST);
    let text = read_capped(&manifest_path, store::MAX_STATE_BYTES)?;
    let text = String::from_utf8(text).map_err(|_| corrupt(&manifest_path, "not UTF-8"))?;
    let mut manifest: Manifest = toml::from_str(&text)
        .map_err(|e| corrupt(&manifest_path, e.message().trim().to_owned()))?;
    let mut contents = BTreeMap::new();
    let mut mismatched = Vec::new();
    for (name, record) in manifest.files.iter_mut() {
        sip_resync_core::check_file_name(name)
            .map_err(|e| corrupt(&manifest_path, e.to_string()))?;
        let bytes = read_capped(&dir.join(name), max_file_size.max(record.size))?;
        let actual = digest(&bytes);
        if actual != record.digest {
            record.digest = actual;
            record.size = bytes.len() as u64;
            record.etag = None;
            record.last_modified = None;
            mismatched.push(name.clone());
        }
        contents.insert(name.clone(), bytes);
    }
    Ok((Some(AppliedSet { manifest, contents }), mismatched))
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, StoreError> {
    let meta = fs::metadata(path).map_err(io_err("cannot read", path))?;
    if meta.len() > cap {
        return Err(corrupt(path, format!("larger than {cap} bytes")));
    }
    fs::read(path).map_err(io_err("cannot read", path))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("cannot create", path))?;
    f.write_all(bytes).map_err(io_err("cannot write", path))?;
    f.sync_all().map_err(io_err("cannot fsync", path))
}

/// Writes a new complete set and makes it current; returns it.
///
/// `files` are (name, content, record) in any order; names must be plain file names. On an
/// error the current set is untouched and the partial new directory is removed.
pub(super) fn apply(
    state_dir: &Path,
    files: Vec<(String, Vec<u8>, FileRecord)>,
    applied_at: jiff::Timestamp,
) -> Result<AppliedSet, StoreError> {
    let sets = state_dir.join(SETS);
    fs::create_dir_all(&sets).map_err(io_err("cannot create", &sets))?;
    let id = next_id(state_dir)?;
    let dir = sets.join(set_dir_name(id));
    let result = (|| {
        fs::create_dir(&dir).map_err(io_err("cannot create", &dir))?;
        let mut manifest = Manifest {
            id,
            applied_at,
            files: BTreeMap::new(),
        };
        let mut contents = BTreeMap::new();
        for (name, bytes, record) in files {
            sip_resync_core::check_file_name(&name)
                .map_err(|_| StoreError::BadName(name.clone()))?;
            write_synced(&dir.join(&name), &bytes)?;
            manifest.files.insert(name.clone(), record);
            contents.insert(name, bytes);
        }
        let text = toml::to_string(&manifest).map_err(|e| corrupt(&dir, e.to_string()))?;
        write_synced(&dir.join(MANIFEST), text.as_bytes())?;
        store::sync_dir(&dir)?;
        store::sync_dir(&sets)?;
        switch_current(state_dir, id)?;
        Ok(AppliedSet { manifest, contents })
    })();
    match result {
        Ok(set) => {
            // Old sets are garbage now; failing to remove them loses nothing.
            let _ = remove_unused_sets(state_dir);
            Ok(set)
        }
        Err(e) => {
            if current_id(state_dir).ok().flatten() != Some(id) {
                let _ = fs::remove_dir_all(&dir);
            }
            Err(e)
        }
    }
}

/// Rewrites the manifest of the current set (new validators, same contents), atomically.
pub(super) fn update_manifest(state_dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let dir = state_dir.join(SETS).join(set_dir_name(manifest.id));
    let text = toml::to_string(manifest).map_err(|e| corrupt(&dir, e.to_string()))?;
    store::write_atomic(&dir, MANIFEST, text.as_bytes())
}

fn next_id(state_dir: &Path) -> Result<u64, StoreError> {
    let sets = state_dir.join(SETS);
    let mut max = current_id(state_dir)?.unwrap_or(0);
    for entry in fs::read_dir(&sets).map_err(io_err("cannot list", &sets))? {
        let entry = entry.map_err(io_err("cannot list", &sets))?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
        {
            max = max.max(id);
        }
    }
    Ok(max + 1)
}

#[cfg(unix)]
fn switch_current(state_dir: &Path, id: u64) -> Result<(), StoreError> {
    let tmp = state_dir.join(format!(".{CURRENT}.tmp-{}-{id}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let target = Path::new(SETS).join(set_dir_name(id));
    std::os::unix::fs::symlink(&target, &tmp).map_err(io_err("cannot create the link", &tmp))?;
    let link = state_dir.join(CURRENT);
    if let Err(e) = fs::rename(&tmp, &link) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("cannot switch", &link)(e));
    }
    store::sync_dir(state_dir)
}

#[cfg(not(unix))]
fn switch_current(state_dir: &Path, _id: u64) -> Result<(), StoreError> {
    Err(StoreError::Io {
        what: "cannot switch sets (symbolic links are needed)",
        path: state_dir.join(CURRENT),
        source: io::Error::from(io::ErrorKind::Unsupported),
    })
}

/// Removes every set `current` does not name (left by a crash or replaced) and stale
/// temporary files; returns how many entries were removed.
pub(super) fn remove_unused_sets(state_dir: &Path) -> Result<usize, StoreError> {
    let mut removed = store::remove_stale_temporaries(state_dir)?;
    let sets = state_dir.join(SETS);
    let keep = current_id(state_dir)?.map(set_dir_name);
    let entries = match fs::read_dir(&sets) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io_err("cannot list", &sets)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("cannot list", &sets))?;
        if keep.as_deref() == entry.file_name().to_str() {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        gone.map_err(io_err("cannot remove", &path))?;
        removed += 1;
    }
    if removed > 0 {
        let _ = File::open(&sets).and_then(|d| d.sync_all());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8]) -> FileRecord {
        FileRecord {
            digest: digest(bytes),
            size: bytes.len() as u64,
            source: "file:///x".into(),
            etag: Some("\"e\"".into()),
            last_modified: None,
        }
    }

    fn set(files: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>, FileRecord)> {
        files
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec(), record(b)))
            .collect()
    }

    #[test]
    fn sha256_of_abc() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn apply_switches_whole_sets_and_removes_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_current(dir.path(), 1024).unwrap().0, None);
        let t: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let first = apply(dir.path(), set(&[("a.cfg", b"a1"), ("b.cfg", b"b1")]), t).unwrap();
        assert_eq!(first.manifest.id, 1);
        assert_eq!(fs::read(dir.path().join("current/a.cfg")).unwrap(), b"a1");
        let second = apply(dir.path(), set(&[("a.cfg", b"a2"), ("b.cfg", b"b1")]), t).unwrap();
        assert_eq!(second.manifest.id, 2);
        assert_eq!(fs::read(dir.path().join("current/a.cfg")).unwrap(), b"a2");
        let sets: Vec<_> = fs::read_dir(dir.path().join(SETS))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(sets, [std::ffi::OsString::from(set_dir_name(2))]);
        let (loaded, mismatched) = load_current(dir.path(), 1024).unwrap();
        assert_eq!(loaded.unwrap(), second);
        assert!(mismatched.is_empty());
    }

    #[test]
    fn leftovers_of_a_crash_are_removed_and_the_old_set_stays() {
        let dir = tempfile::tempdir().unwrap();
        let t: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        apply(dir.path(), set(&[("a.cfg", b"a1")]), t).unwrap();
        // A crash in the middle of writing set 2, and a link that was never renamed.
        let partial = dir.path().join(SETS).join(set_dir_name(2));
        fs::create_dir(&partial).unwrap();
        fs::write(partial.join("a.cfg"), b"a2-partial").unwrap();
        fs::write(dir.path().join(".current.tmp-1-2"), b"").unwrap();
        assert_eq!(remove_unused_sets(dir.path()).unwrap(), 2);
        let (loaded, _) = load_current(dir.path(), 1024).unwrap();
        assert_eq!(loaded.unwrap().contents["a.cfg"], b"a1");
        // The next apply does not reuse a number a crash may have left behind.
        let next = apply(dir.path(), set(&[("a.cfg", b"a3")]), t).unwrap();
        assert_eq!(next.manifest.id, 2);
    }

    #[test]
    fn a_file_changed_by_hand_loses_its_validators() {
        let dir = tempfile::tempdir().unwrap();
        let t: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        apply(dir.path(), set(&[("a.cfg", b"a1")]), t).unwrap();
        let real = fs::canonicalize(dir.path().join("current/a.cfg")).unwrap();
        fs::remove_file(&real).unwrap();
        fs::write(&real, b"edited").unwrap();
        let (loaded, mismatched) = load_current(dir.path(), 1024).unwrap();
        let loaded = loaded.unwrap();
        assert_eq!(mismatched, ["a.cfg"]);
        let rec = &loaded.manifest.files["a.cfg"];
        assert_eq!(rec.digest, digest(b"edited"));
        assert_eq!(rec.etag, None);
    }

    #[test]
    fn a_failed_apply_leaves_the_current_set() {
        let dir = tempfile::tempdir().unwrap();
        let t: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        apply(dir.path(), set(&[("a.cfg", b"a1")]), t).unwrap();
        let bad = vec![
            ("a.cfg".to_string(), b"a2".to_vec(), record(b"a2")),
            ("../evil".to_string(), b"x".to_vec(), record(b"x")),
        ];
        assert!(apply(dir.path(), bad, t).is_err());
        let (loaded, _) = load_current(dir.path(), 1024).unwrap();
        assert_eq!(loaded.unwrap().contents["a.cfg"], b"a1");
        assert_eq!(
            fs::read_dir(dir.path().join(SETS)).unwrap().count(),
            1,
            "the partial set is removed"
        );
    }
}

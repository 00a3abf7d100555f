//! Atomic file replacement and the persisted state file.
//!
//! A file is replaced by writing a temporary file in the same directory, fsyncing it,
//! renaming it over the target (atomic on POSIX file systems), then fsyncing the directory so
//! the rename itself survives a power cut. A crash at any point leaves either the complete
//! old file or the complete new one; leftover temporary files are removed by
//! [`remove_stale_temporaries`] at start-up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Marker in the names of temporary files, `.NAME.tmp-PID-N`.
const TMP_MARK: &str = ".tmp-";

/// Name of the persisted state file in the state directory.
pub(super) const STATE_FILE: &str = "state.toml";

/// Largest state file read back, in bytes.
pub(super) const MAX_STATE_BYTES: u64 = 1024 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The target name is not a plain file name.
    #[error("\"{0}\" is not a plain file name")]
    BadName(String),
    /// The state file exists but cannot be understood.
    #[error("{}: {message} (move it away to start from an empty state)", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// A plain file name: no separators, not `.`/`..`, not a temporary file's name.
fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.contains(TMP_MARK);
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(sip_resync_core::escape::excerpt(
            name.as_bytes(),
        )))
    }
}

/// Replaces `dir/name` with `bytes` atomically (see the module documentation).
pub(super) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    check_name(name)?;
    let target = dir.join(name);
    let tmp = dir.join(format!(
        ".{name}{TMP_MARK}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("cannot create", &tmp))?;
        f.write_all(bytes).map_err(io_err("cannot write", &tmp))?;
        f.sync_all().map_err(io_err("cannot fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io_err("cannot rename into place", &target))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory, so that a rename in it is durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot fsync directory", dir))
}

/// Removes temporary files a crash left in `dir`; returns how many.
pub(super) fn remove_stale_temporaries(dir: &Path) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(io_err("cannot list", dir))? {
        let entry = entry.map_err(io_err("cannot list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TMP_MARK) {
            fs::remove_file(entry.path()).map_err(io_err("cannot remove", &entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// What survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    /// When the polling settings last changed ("the day after the setting changed").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_changed_at: Option<jiff::Timestamp>,
    /// When a provisioning run last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<jiff::Timestamp>,
    /// Seed of the random schedule draws when no MAC address is configured, so that the
    /// draws survive a restart.
    /// Written as 16 hex digits, as TOML integers stop at 2^63.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_seed")]
    pub seed: Option<u64>,
}

mod hex_seed {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(seed: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match seed {
            Some(v) => s.serialize_str(&format!("{v:016x}")),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16)
            .map(Some)
            .map_err(|_| serde::de::Error::custom("seed must be 16 hex digits"))
    }
}

impl State {
    /// Loads `dir/state.toml`; a missing file is an empty state.
    pub(super) fn load(dir: &Path) -> Result<State, StoreError> {
        let path = dir.join(STATE_FILE);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(io_err("cannot read", &path)(e)),
        };
        if meta.len() > MAX_STATE_BYTES {
            return Err(StoreError::Corrupt {
                path,
                message: format!("larger than {MAX_STATE_BYTES} bytes"),
            });
        }
        let text = fs::read_to_string(&path).map_err(io_err("cannot read", &path))?;
        toml::from_str(&text).map_err(|e| StoreError::Corrupt {
            message: e.message().trim().to_owned(),
            path,
        })
    }

    /// Writes `dir/state.toml` atomically.
    pub(super) fn save(&self, dir: &Path) -> Result<(), StoreError> {
        let text = toml::to_string(self).map_err(|e| StoreError::Corrupt {
            path: dir.join(STATE_FILE),
            message: e.to_string(),
        })?;
        write_atomic(dir, STATE_FILE, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.cfg", b"old").unwrap();
        write_atomic(dir.path(), "a.cfg", b"new").unwrap();
        assert_eq!(fs::read(dir.path().join("a.cfg")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.cfg"]);
    }

    #[test]
    fn rejects_names_that_are_not_plain() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "../x", "a/b", ".x.tmp-1-2"] {
            assert!(
                matches!(
                    write_atomic(dir.path(), bad, b"x"),
                    Err(StoreError::BadName(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.cfg", b"old").unwrap();
        // The target is now a non-empty directory: the rename fails after the temporary
        // file was written, and the temporary is cleaned up.
        let blocked = dir.path().join("b.cfg");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(dir.path(), "b.cfg", b"new").is_err());
        assert_eq!(fs::read(dir.path().join("a.cfg")).unwrap(), b"old");
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 0);
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".a.cfg.tmp-99-0"), b"partial").unwrap();
        fs::write(dir.path().join("a.cfg"), b"good").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
        assert_eq!(fs::read(dir.path().join("a.cfg")).unwrap(), b"good");
    }

    #[test]
    fn state_round_trips_and_reports_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let s = State {
            settings_changed_at: Some("2026-11-21T12:00:00Z".parse().unwrap()),
            last_success: Some("2026-11-21T12:05:00Z".parse().unwrap()),
            seed: Some(u64::MAX),
        };
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        fs::write(dir.path().join(STATE_FILE), b"seed = \"three\"").unwrap();
        let e = State::load(dir.path()).unwrap_err();
        assert!(
            e.to_string().contains("state.toml") && e.to_string().contains("move it away"),
            "{e}"
        );
    }
}

//! Waiting for the state to change: what a watching agent (`redis sync --watch`) does between
//! syncs, holding nothing another rctl needs (a directory's lock is not held while it waits).
//!
//! A change is one an admin makes: users, roles, settings, the CA and its rotation, locks,
//! registrations. What a sync writes itself (the audit log, the records of what it installed)
//! and signing requests are not changes, so an agent is not woken by its own work or by
//! another node's.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Blobs and folders that are not the state an agent applies.
pub(crate) const NOT_CHANGES: [&str; 3] = ["audit.jsonl", "issued", ".lock"];

/// Watches a state for changes, apart from any open store.
pub trait ChangeWatch: Send {
    /// A marker of the state as it is now: equal markers, no change between them.
    fn marker(&self) -> Result<u64>;
    /// Waits until the state differs from `seen` (a [`marker`](Self::marker)), or `wait`
    /// passed. True when it changed.
    fn wait(&self, seen: u64, wait: Duration) -> Result<bool>;
}

/// A state directory, watched by its files' names, sizes and modification times: read every
/// quarter second, a stat of each file (no file is opened).
pub(crate) struct DirWatch {
    pub(crate) root: PathBuf,
}

/// How often a directory is looked at.
const POLL: Duration = Duration::from_millis(250);

impl DirWatch {
    fn walk(&self, dir: &Path, depth: usize, hasher: &mut std::hash::DefaultHasher) -> Result<()> {
        let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(std::result::Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            // Temp files of an atomic write start with '.', as does the lock.
            if text.starts_with('.') || (depth == 0 && NOT_CHANGES.contains(&text.as_ref())) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                if depth < 2 {
                    text.hash(hasher);
                    self.walk(&entry.path(), depth + 1, hasher)?;
                }
            } else if meta.is_file() {
                text.hash(hasher);
                meta.len().hash(hasher);
                meta.modified().ok().hash(hasher);
            }
        }
        Ok(())
    }
}

impl ChangeWatch for DirWatch {
    fn marker(&self) -> Result<u64> {
        let mut hasher = std::hash::DefaultHasher::new();
        self.walk(&self.root, 0, &mut hasher)?;
        Ok(hasher.finish())
    }

    fn wait(&self, seen: u64, wait: Duration) -> Result<bool> {
        let end = Instant::now() + wait;
        loop {
            if self.marker()? != seen {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(false);
            }
            std::thread::sleep(POLL.min(end - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_changes_with_its_state_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("roles")).unwrap();
        std::fs::write(dir.path().join("users.jsonl"), "a\n").unwrap();
        let watch = DirWatch {
            root: dir.path().to_path_buf(),
        };
        let seen = watch.marker().unwrap();
        // The audit log, what a sync installed, the lock and temp files are not changes.
        std::fs::write(dir.path().join("audit.jsonl"), "x\n").unwrap();
        std::fs::create_dir(dir.path().join("issued")).unwrap();
        std::fs::write(dir.path().join("issued/r1.server.yaml"), "x").unwrap();
        std::fs::write(dir.path().join(".lock"), "").unwrap();
        std::fs::write(dir.path().join(".tmp123"), "x").unwrap();
        assert!(!watch.wait(seen, Duration::from_millis(300)).unwrap());
        // A role is.
        std::fs::write(dir.path().join("roles/dev.yaml"), "x").unwrap();
        assert!(watch.wait(seen, Duration::from_secs(2)).unwrap());
        let seen = watch.marker().unwrap();
        std::fs::write(dir.path().join("users.jsonl"), "a\nb\n").unwrap();
        assert!(watch.wait(seen, Duration::from_secs(2)).unwrap());
    }
}

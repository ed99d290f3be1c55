//! Where the state lives: a small trait, implemented by the state directory
//! ([`DirStore`], in `dir`) and by etcd.
//!
//! The CA, signing and user logic only see [`Store`]: named blobs that are read whole and
//! replaced whole, atomically. [`DirStore`] keeps them as files in a directory (mode 0700), each
//! write a temp file in the same directory, fsync, rename, fsync of the directory, all under an
//! exclusive `flock` on `.lock` that is held for as long as the store is open, so that a whole
//! read-modify-write of one rctl command is one step for every other rctl process.

mod dir;
pub mod etcd;
pub(crate) mod line_index;
pub mod queue;
pub mod watch;

use std::io;
use std::path::PathBuf;

use crate::error::{Error, Result};
pub use crate::output::atomic::{Visibility, check_output_folder, write_atomic};
pub use queue::{MAX_RECORD, Queued, RequestQueue};

/// Which of the state's blobs are lists of records. A store that keeps each record under a key
/// of its own (etcd) needs to know them; a directory keeps every blob as one file.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// The blob whose lines are records named by a key each line carries (one user a line).
    pub keyed: &'static str,
    /// Reads the key of a line of `keyed`, or says why the line is invalid.
    pub line_key: fn(&[u8]) -> std::result::Result<String, String>,
    /// The blob whose lines are records appended in time order (the audit log).
    pub appended: &'static str,
    /// Folders of one blob per registration, as many as the fleet has: a store that reads
    /// ahead (etcd's snapshot) leaves them to be read when asked for, so that a command that
    /// needs a few of them does not read them all.
    pub per_registration: &'static [&'static str],
}

/// Locks on registered servers: two syncs of one server run one after the other, the second
/// reading the state only once the first is done, so neither undoes the other.
pub trait ServerLocks: Send + Sync {
    /// Takes `name`'s lock, waiting up to `wait` while another rctl holds it; released when
    /// the returned guard is dropped (or its holder dies).
    fn lock(&self, name: &str, wait: std::time::Duration) -> Result<Box<dyn Send>>;
}

/// For a store no other process shares (a test's memory store).
struct NoLocks;

impl ServerLocks for NoLocks {
    fn lock(&self, _: &str, _: std::time::Duration) -> Result<Box<dyn Send>> {
        Ok(Box::new(()))
    }
}

/// Storage for rctl's state: named blobs (`host_ca.yaml`, `users.jsonl`, `roles/x.yaml`).
///
/// An implementation either holds a lock that makes one open store the only writer for as
/// long as it is open (a directory), or buffers changes and applies them at
/// [`commit`](Store::commit) only if what was read is unchanged (etcd). Names use `/` to separate a folder from a file.
pub trait Store {
    /// Reads a blob, or `None` if it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Opens a blob for reading in pieces (large blobs), or `None` if it does not exist.
    fn open(&self, name: &str) -> Result<Option<Box<dyn io::BufRead>>>;
    /// Replaces (or creates) a blob atomically: a reader sees the old bytes or the new ones.
    fn write(&self, name: &str, data: &[u8]) -> Result<()>;
    /// Appends one record (ending in a newline) to a blob with one write, then syncs it, and
    /// returns the blob's length before it. A failed append (a full disk) leaves the blob as it
    /// was; a crash can at worst leave the record cut short at the end, which readers skip.
    fn append(&self, name: &str, data: &[u8]) -> Result<u64>;
    /// Cuts a blob back to `len` bytes: takes back appends made after that point.
    fn truncate(&self, name: &str, len: u64) -> Result<()>;
    /// Removes a blob; removing a missing one is not an error.
    fn remove(&self, name: &str) -> Result<()>;
    /// The names of the blobs in a folder (`""`: the top; not recursive), sorted. A
    /// directory store lists its folders among them.
    fn list(&self, folder: &str) -> Result<Vec<String>>;
    /// A human-readable location for a blob, for error messages.
    fn locate(&self, name: &str) -> PathBuf;
    /// True when the store was opened for reading only: every change is refused.
    fn is_read_only(&self) -> bool {
        false
    }
    /// What locks registered servers for this state (one holder at a time across every rctl
    /// sharing it), apart from this open store: a lock is held while the store is closed.
    fn server_locks(&self) -> Result<Box<dyn ServerLocks>> {
        Ok(Box::new(NoLocks))
    }
    /// What waits for this state to change, apart from this open store.
    fn change_watch(&self) -> Result<Box<dyn watch::ChangeWatch>>;
    /// Where signing requests go (a shared store only: on a directory, sync signs itself).
    fn request_queue(&self) -> Result<Box<dyn crate::storage::queue::RequestQueue>> {
        Err(Error::NoRequestQueue)
    }
    /// True when a CA key may only be kept encrypted here (a shared store such as etcd).
    fn requires_encrypted_keys(&self) -> bool {
        false
    }
    /// For a store that keeps each line of `users.jsonl` under its own key (etcd): the line
    /// of the user `key`, or `Some(Ok(None))` when there is none. `None` from a store that
    /// keeps the blob whole, where the caller reads the blob instead.
    fn read_line(&self, name: &str, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        let _ = (name, key);
        None
    }
    /// Reads these blobs ahead in as few requests as the store can, for a command about to read
    /// each of them (a store that reads ahead nothing does nothing). Nothing is remembered as
    /// read until it is read.
    fn prefetch(&self, names: &[String]) -> Result<()> {
        let _ = names;
        Ok(())
    }
    /// Whether a line of the keyed blob `name` holds `key`, when the store can tell without
    /// reading the blob (a directory's index of keys); `None` when the caller must read it.
    fn has_line(&self, name: &str, key: &str) -> Option<Result<bool>> {
        let _ = (name, key);
        None
    }
    /// Makes the changes since the last commit one step for every other reader. A store that
    /// writes through under a lock (a directory) has nothing left to do. A store that buffers
    /// them (etcd) applies them only if nothing it read has changed since, and otherwise
    /// fails with [`Error::Conflict`] and applies nothing: the operation is to be run again.
    /// Either way nothing stays buffered, and the next read starts afresh.
    fn commit(&self) -> Result<()> {
        Ok(())
    }
    /// Drops the changes buffered since the last commit (an operation that failed).
    fn rollback(&self) {}
}

pub use dir::{DirOptions, DirStore, check_private_file};

//! [`StateDir`]: one open, locked state, and the operations of rctl on it.
//!
//! Every operation reads what it needs from the [`Store`], changes it, and writes it back
//! atomically before returning: under a directory's lock, or as one transaction that etcd
//! applies only if what the operation read is unchanged (else [`Error::Conflict`], and
//! [`StateDir::retrying`] runs it again). Either way it is one step for any other rctl
//! process, and nothing is written when an operation fails.

mod acl;
pub(crate) mod audit;
mod ca;
pub(crate) mod ca_file;
mod clients;
mod db_login;
mod handles;
mod locks;
mod logins;
mod migrate;
mod node_index;
mod notice;
mod progress;
mod requests;
mod roles;
mod server_files;
mod servers;
mod settings;
mod signing;
mod transaction;
pub mod user_resource;
mod users;
mod users_file;

use std::path::{Path, PathBuf};

pub use acl::AclFile;
pub use db_login::DbLoginRequest;
pub use handles::{Ca, Clients, Locks, Requests, Roles, Servers, Settings, Users};
pub use notice::Notice;
pub use progress::Progress;
pub use requests::{RequestOutcome, SignedRequests};
pub use server_files::WrittenFiles;
pub use signing::{ClientLogin, Placement, Signing, Subject};
pub(crate) use users::USERS_FILE;
pub use users::{NewUser, PendingUser, UserUpdate};
pub(crate) use users_file::user_line_name;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::sealed::Passphrase;
use crate::state::audit::AuditEvent;
use crate::storage::{DirOptions, DirStore, Store};

pub(crate) const CA_FILE: &str = "host_ca.yaml";
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// An open rctl state: the entry point of the library.
///
/// Every method reads what it needs, changes it and writes it back atomically. On a
/// directory, the exclusive lock taken by [`open`](Self::open) is held until the value is
/// dropped, so a whole sequence of calls is one step for any other rctl process; on etcd each
/// change is a transaction of its own.
///
/// ```
/// # fn main() -> Result<(), rctl::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let mut state = rctl::StateDir::open(dir.path().join("state"))?;
/// let ca = state.ca().get()?; // created on first use, with a notice
/// assert!(matches!(state.take_notices()[..], [rctl::Notice::CreatedCa { .. }]));
/// assert_eq!(ca.rotation().describe(), "never rotated");
/// # Ok(()) }
/// ```
pub struct StateDir {
    store: Box<dyn Store>,
    clock: Box<dyn Fn() -> OffsetDateTime + Send + Sync>,
    notices: Vec<Notice>,
    command: String,
    /// Where the CA passphrase comes from, asked only when a key must be decrypted or
    /// encrypted; its answer is kept for the rest of the command.
    passphrase_source: Option<PassphraseSource>,
    passphrase: std::sync::OnceLock<Passphrase>,
}

type PassphraseSource = Box<dyn Fn() -> Result<Passphrase> + Send + Sync>;

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDir")
            .field("location", &self.store.locate(""))
            .finish_non_exhaustive()
    }
}

/// The state directory to use when none is given: `$RCTL_STATE_DIR`, else
/// `$XDG_DATA_HOME/rctl`, else `~/.local/share/rctl`.
pub fn default_state_dir() -> Result<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("RCTL_STATE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(dir).join("rctl"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".local/share/rctl"));
    }
    Err(Error::NoStateDir)
}

impl StateDir {
    /// The state's blobs that are lists of records: users (one a line, keyed by name) and the
    /// audit log, for a store that keeps each record under a key of its own.
    pub const LAYOUT: crate::storage::Layout = crate::storage::Layout {
        keyed: USERS_FILE,
        line_key: user_line_name,
        appended: AUDIT_FILE,
        per_registration: &["clients", "issued", "nodes", "servers"],
    };

    /// Opens (creating when missing) and locks the state directory at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir> {
        Self::open_with(path, &DirOptions::default())
    }

    /// [`open`](Self::open) with options (such as accepting loose permissions).
    pub fn open_with(path: impl AsRef<Path>, options: &DirOptions) -> Result<StateDir> {
        let store = DirStore::open(path.as_ref(), options)?.with_layout(Self::LAYOUT);
        store.check_secret_file(CA_FILE, options)?;
        migrate::refuse_unfinished(&store)?;
        Ok(Self::with_store(Box::new(store)))
    }

    /// Opens the state at `path` for reading only (a shared lock, nothing created, every
    /// change refused), for commands that only look: it works on a read-only mount and beside
    /// other readers. Due rotation phases are applied in memory and noticed, not saved.
    pub fn open_read_only(path: impl AsRef<Path>, options: &DirOptions) -> Result<StateDir> {
        let store = DirStore::open_read_only(path.as_ref(), options)?.with_layout(Self::LAYOUT);
        store.check_secret_file(CA_FILE, options)?;
        migrate::refuse_unfinished(&store)?;
        Ok(Self::with_store(Box::new(store)))
    }

    /// Opens a state kept in etcd (nothing is locked: see [`crate::storage::etcd`]); `read_only`
    /// refuses every change.
    pub fn open_etcd(
        url: &crate::storage::etcd::EtcdUrl,
        tls: &crate::storage::etcd::EtcdTls,
        read_only: bool,
    ) -> Result<StateDir> {
        let store = crate::storage::etcd::EtcdStore::open(url, tls, Self::LAYOUT, read_only)?;
        migrate::refuse_unfinished(&store)?;
        Ok(Self::with_store(Box::new(store)))
    }

    /// Uses another storage backend.
    pub fn with_store(store: Box<dyn Store>) -> StateDir {
        StateDir {
            store,
            clock: Box::new(OffsetDateTime::now_utc),
            notices: Vec::new(),
            command: "library".to_string(),
            passphrase_source: None,
            passphrase: std::sync::OnceLock::new(),
        }
    }

    /// Where the passphrase of an encrypted CA key comes from (a file, a prompt): called at
    /// most once, and only by an operation that must decrypt or encrypt a key, so commands
    /// that do not sign never ask.
    pub fn with_passphrase_source(
        mut self,
        source: impl Fn() -> Result<Passphrase> + Send + Sync + 'static,
    ) -> StateDir {
        self.passphrase_source = Some(Box::new(source));
        self
    }

    /// The CA passphrase, asked of the source the first time.
    pub(crate) fn passphrase(&self) -> Result<Passphrase> {
        if let Some(p) = self.passphrase.get() {
            return Ok(p.clone());
        }
        let source = self
            .passphrase_source
            .as_ref()
            .ok_or(Error::CaPassphraseMissing { detail: "" })?;
        let passphrase = source()?;
        Ok(self.passphrase.get_or_init(|| passphrase).clone())
    }

    /// Replaces the clock (for tests of scheduled rotation, or a program with its own notion
    /// of now): any closure, so a test can move time forward.
    pub fn with_clock(
        mut self,
        clock: impl Fn() -> OffsetDateTime + Send + Sync + 'static,
    ) -> StateDir {
        self.clock = Box::new(clock);
        self
    }

    /// Names the command that audit records are written for (the CLI passes `auth sign`, ...).
    pub fn set_command(&mut self, command: &str) {
        self.command = command.to_string();
    }

    /// The audit log, oldest first; only records at or after `since` when given.
    pub fn audit_log(&self, since: Option<OffsetDateTime>) -> Result<Vec<AuditEvent>> {
        let events = self
            .load(AUDIT_FILE, crate::state::audit::parse_audit)?
            .unwrap_or_default();
        Ok(events
            .into_iter()
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .collect())
    }

    /// The current time by this state's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// What waits for this state to change (an admin's change, not a sync's own records),
    /// apart from this open state: the agent drops the state and waits with it.
    pub(crate) fn change_watch(&self) -> Result<Box<dyn crate::storage::watch::ChangeWatch>> {
        self.store.change_watch()
    }

    /// Where a blob of the state lives (for messages).
    pub fn locate(&self, name: &str) -> PathBuf {
        self.store.locate(name)
    }

    /// Takes what happened that a person should hear of (CA created, rotation advanced).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The error for a state blob that cannot be understood.
    pub(crate) fn corrupt(&self, name: &str, reason: String) -> Error {
        Error::CorruptState {
            path: self.store.locate(name),
            reason,
        }
    }

    /// Reads and parses a blob, turning a parse failure into [`Error::CorruptState`].
    pub(crate) fn load<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        // State files hold keys and hashes: the buffer is wiped once parsed.
        match self.store.read(name)?.map(zeroize::Zeroizing::new) {
            None => Ok(None),
            Some(data) => parse(&data)
                .map(Some)
                .map_err(|reason| self.corrupt(name, reason)),
        }
    }
}

/// The host name, made into a valid cluster name (`rctl` when there is none).
pub fn default_cluster_name() -> crate::accounts::names::ClusterName {
    host_name()
        .parse()
        .unwrap_or_else(|_| crate::accounts::names::ClusterName::fallback())
}

/// This machine as a node of a fleet: its host name, made a name (`None` when it has none
/// that can be one).
pub fn this_node() -> Option<crate::accounts::names::NodeName> {
    host_name().parse().ok()
}

/// The host name with every character a name cannot hold made '-', at most a name's length.
fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(crate::accounts::names::MAX_NAME_LEN)
        .collect();
    // Letters, digits, '.', '_' and '-' only, at most 64, not starting with '.': a name.
    name.trim_start_matches('.').to_string()
}

#[cfg(test)]
mod tests;

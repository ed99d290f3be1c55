//! [`StateDir`]: one open, locked state, and the operations of rctl on it.
//!
//! Every operation reads what it needs from the [`Store`], changes it, and writes it back
//! atomically before returning: under a directory's lock, or as one transaction that etcd
//! applies only if what the operation read is unchanged (else [`Error::Conflict`], and
//! [`StateDir::retrying`] runs it again). Either way it is one step for any other rctl
//! process, and nothing is written when an operation fails.

mod acl;
pub(crate) mod audit;
pub(crate) mod ca_file;
pub mod etcd;
mod migrate;
mod roles;
mod server_files;
mod servers;
mod settings;
mod signing;
pub mod store;
mod users;
mod users_file;

use std::path::{Path, PathBuf};

pub use acl::AclFile;
pub use server_files::WrittenFiles;
pub use signing::ClientLogin;
pub(crate) use users::USERS_FILE;
pub use users::{NewUser, UserUpdate};
pub(crate) use users_file::user_line_name;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::ca::{CaOptions, HostCa};
use crate::pki::rotation::Phase;
use crate::pki::sealed::Passphrase;
use crate::state::audit::AuditEvent;
use crate::state::store::{DirOptions, DirStore, Store};

pub(crate) const CA_FILE: &str = "host_ca.yaml";
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// Something the caller may want to tell a person about. The library never prints.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// No CA existed, so one was created with the defaults.
    CreatedCa {
        /// Its cluster name.
        cluster_name: String,
        /// Where it was stored.
        location: PathBuf,
    },
    /// An automatic rotation entered these phases.
    RotationAdvanced(Vec<Phase>),
    /// These phases of an automatic rotation are due, but the state was open for reading
    /// only: they were applied for this command and not saved.
    RotationNotSaved(Vec<Phase>),
    /// A certificate was signed in phase `init`, by the key the rotation stops trusting at
    /// `standby`: it must be issued again in `reissue_in`.
    SignedWithOutgoingKey {
        /// `update_clients` for a client certificate, `update_servers` for a server's.
        reissue_in: Phase,
    },
}

/// The phases names joined with arrows (`init -> update_clients`).
fn arrows(phases: &[Phase]) -> String {
    let names: Vec<&str> = phases.iter().map(|p| p.name()).collect();
    names.join(" -> ")
}

/// For an automatic rotation that entered several phases at once: a loud warning naming the
/// work of each phase it passed through without stopping; nothing when it entered one.
fn skipped_work(phases: &[Phase]) -> String {
    let Some((_, skipped)) = phases.split_last() else {
        return String::new();
    };
    if skipped.is_empty() {
        return String::new();
    }
    let work: Vec<&str> = skipped.iter().map(|p| p.duty().summary()).collect();
    format!(
        "; WARNING: it crossed {} phases in one step, so the work of {} was never given its time and servers or clients may now refuse each other; do it now: {}",
        phases.len(),
        arrows(skipped),
        work.join("; ")
    )
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::CreatedCa {
                cluster_name,
                location,
            } => write!(
                f,
                "created a new host CA for cluster {cluster_name:?} (ecdsa-p256) in {}",
                location.display()
            ),
            Notice::RotationAdvanced(phases) => write!(
                f,
                "automatic host CA rotation advanced to phase {}{}",
                arrows(phases),
                skipped_work(phases)
            ),
            Notice::RotationNotSaved(phases) => write!(
                f,
                "automatic host CA rotation is due to enter phase {} (not saved: the state is open for reading; any command that writes saves it){}",
                arrows(phases),
                skipped_work(phases)
            ),
            Notice::SignedWithOutgoingKey { reissue_in } => write!(
                f,
                "warning: the host CA is in rotation phase init: this certificate is signed by the outgoing key, which the rotation stops trusting at standby; issue it again in phase {reissue_in}"
            ),
        }
    }
}

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
/// let ca = state.host_ca()?; // created on first use, with a notice
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
    pub const LAYOUT: crate::state::store::Layout = crate::state::store::Layout {
        keyed: USERS_FILE,
        line_key: user_line_name,
        appended: AUDIT_FILE,
    };

    /// Opens (creating when missing) and locks the state directory at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir> {
        Self::open_with(path, &DirOptions::default())
    }

    /// [`open`](Self::open) with options (such as accepting loose permissions).
    pub fn open_with(path: impl AsRef<Path>, options: &DirOptions) -> Result<StateDir> {
        let store = DirStore::open(path.as_ref(), options)?;
        store.check_secret_file(CA_FILE, options)?;
        Ok(Self::with_store(Box::new(store)))
    }

    /// Opens the state at `path` for reading only (a shared lock, nothing created, every
    /// change refused), for commands that only look: it works on a read-only mount and beside
    /// other readers. Due rotation phases are applied in memory and noticed, not saved.
    pub fn open_read_only(path: impl AsRef<Path>, options: &DirOptions) -> Result<StateDir> {
        let store = DirStore::open_read_only(path.as_ref(), options)?;
        store.check_secret_file(CA_FILE, options)?;
        Ok(Self::with_store(Box::new(store)))
    }

    /// Opens a state kept in etcd (nothing is locked: see [`crate::state::etcd`]); `read_only`
    /// refuses every change.
    pub fn open_etcd(
        url: &crate::state::etcd::EtcdUrl,
        tls: &crate::state::etcd::EtcdTls,
        read_only: bool,
    ) -> Result<StateDir> {
        let store = crate::state::etcd::EtcdStore::open(url, tls, Self::LAYOUT, read_only)?;
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

    /// [`load_ca`](Self::load_ca) with every key decrypted, for an operation that signs.
    pub(crate) fn load_ca_unlocked(&mut self) -> Result<(HostCa, Pending)> {
        let (mut ca, pending) = self.load_ca()?;
        if ca.is_locked() {
            ca.unlock(&self.passphrase()?)?;
        }
        Ok((ca, pending))
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

    /// Records `events` in the audit log, then makes `change`, then commits the store; if the
    /// change fails, the records are taken back. So the log says only what happened, and a
    /// command that fails (a full disk, or [`Error::Conflict`] on etcd) changes nothing.
    pub(crate) fn audited<T>(
        &self,
        events: &[AuditEvent],
        change: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match self.audited_uncommitted(events, change) {
            // A commit leaves nothing buffered, whether it applied or not.
            Ok(value) => self.store.commit().map(|()| value),
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        }
    }

    fn audited_uncommitted<T>(
        &self,
        events: &[AuditEvent],
        change: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let mut mark = None;
        for event in events {
            let mut event = event.clone();
            event.time = self.now();
            event.os_user = crate::state::audit::os_user();
            event.command = self.command.clone();
            let mut line =
                serde_json::to_vec(&event).map_err(|e| Error::encode("audit record", e))?;
            line.push(b'\n');
            match self.store.append(AUDIT_FILE, &line) {
                Ok(before) => {
                    mark.get_or_insert(before);
                }
                Err(e) => {
                    self.take_back_audit(mark);
                    return Err(e);
                }
            }
        }
        change().inspect_err(|_| self.take_back_audit(mark))
    }

    fn take_back_audit(&self, mark: Option<u64>) {
        if let Some(len) = mark {
            let _ = self.store.truncate(AUDIT_FILE, len);
        }
    }

    /// Runs `operation`, and runs it again (a few times, after a short random pause) while it
    /// fails with [`Error::Conflict`]: another rctl changed the shared state between its reads
    /// and its commit, and nothing of it was saved. An operation with a side effect before its
    /// commit (a password shown) must make it once only.
    pub fn retrying<T>(
        &mut self,
        mut operation: impl FnMut(&mut StateDir) -> Result<T>,
    ) -> Result<T> {
        const ATTEMPTS: u32 = 30;
        let mut attempt = 1;
        loop {
            match operation(self) {
                // The refused commit left nothing buffered: the rerun reads afresh.
                Err(Error::Conflict(_)) if attempt < ATTEMPTS => {
                    let most = 2u64 << attempt.min(5);
                    let pause = {
                        use rand::RngExt;
                        rand::rng().random_range(1..=most)
                    };
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                    attempt += 1;
                }
                done => return done,
            }
        }
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

    /// True when a host CA exists.
    pub fn has_ca(&self) -> Result<bool> {
        Ok(self.store.read(CA_FILE)?.is_some())
    }

    /// Creates the host CA; refuses if one exists.
    pub fn init_ca(&mut self, options: &CaOptions) -> Result<HostCa> {
        if self.has_ca()? {
            return Err(Error::CaExists(self.store.locate("")));
        }
        let ca = HostCa::generate(options, self.now())?;
        self.audited(&[AuditEvent::about("ca.create", ca.cluster_name())], || {
            self.save_ca(&ca)
        })?;
        Ok(ca)
    }

    /// The host CA, with any due phases of an automatic rotation applied (and saved). On an
    /// empty state, creates one with the defaults (cluster name = host name) and says so in a
    /// [`Notice`].
    pub fn host_ca(&mut self) -> Result<HostCa> {
        let (ca, pending) = self.load_ca()?;
        self.commit_ca(&ca, pending, false, Vec::new(), || Ok(()))?;
        Ok(ca)
    }

    /// Loads the CA, or makes one in memory on an empty state, and applies due rotation
    /// phases in memory. Nothing is saved until [`commit_ca`](Self::commit_ca), so an operation
    /// that fails after loading leaves the state as it was.
    pub(crate) fn load_ca(&mut self) -> Result<(HostCa, Pending)> {
        let Some(mut ca) = self.load(CA_FILE, ca_file::decode)? else {
            let mut options = CaOptions::new(default_cluster_name());
            options.encrypt = self.store.requires_encrypted_keys();
            let ca = HostCa::generate(&options, self.now())?;
            return Ok((ca, Pending::Created));
        };
        let advanced = ca.advance_due(self.now())?;
        let pending = if advanced.is_empty() {
            Pending::Nothing
        } else {
            Pending::Advanced(advanced)
        };
        Ok((ca, pending))
    }

    /// Ends an operation on the CA: records what loading did (a CA created, phases applied)
    /// and the operation's own `events`, runs `place` (the operation's output, such as the
    /// certificate files), then saves the CA if loading changed it or `changed`. A failure in
    /// any step takes back the records: nothing is saved.
    pub(crate) fn commit_ca<T>(
        &mut self,
        ca: &HostCa,
        pending: Pending,
        changed: bool,
        events: Vec<AuditEvent>,
        place: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let notice = match pending {
            Pending::Nothing => None,
            Pending::Created => Some(Notice::CreatedCa {
                cluster_name: ca.cluster_name().to_string(),
                location: self.store.locate(CA_FILE),
            }),
            Pending::Advanced(phases) => Some(Notice::RotationAdvanced(phases)),
        };
        let mut all = match &notice {
            Some(Notice::CreatedCa { cluster_name, .. }) => {
                vec![AuditEvent::about("ca.create", cluster_name)]
            }
            Some(Notice::RotationAdvanced(phases)) => phases
                .iter()
                .map(|p| AuditEvent::about("ca.rotate", p.name()))
                .collect(),
            _ => Vec::new(),
        };
        all.extend(events);
        let save = notice.is_some() || changed;
        if self.store.is_read_only()
            && !changed
            && let Some(Notice::RotationAdvanced(phases)) = notice
        {
            // Looking only: the due phases hold in memory for this command, and are saved by
            // the next command that may write.
            let placed = place()?;
            self.notices.push(Notice::RotationNotSaved(phases));
            return Ok(placed);
        }
        let placed = self.audited(&all, || {
            let placed = place()?;
            if save {
                self.save_ca(ca)?;
            }
            Ok(placed)
        })?;
        self.notices.extend(notice);
        Ok(placed)
    }

    /// The host CA if one exists, without creating one (for read-only commands).
    pub fn existing_host_ca(&mut self) -> Result<Option<HostCa>> {
        if self.has_ca()? {
            self.host_ca().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn save_ca(&self, ca: &HostCa) -> Result<()> {
        if self.store.requires_encrypted_keys() && !ca.is_encrypted() {
            return Err(Error::ClearKeyRefused {
                location: (&self.store.locate("")).to_path_buf(),
            });
        }
        let passphrase = if ca_file::needs_passphrase(ca) {
            Some(self.passphrase()?)
        } else {
            None
        };
        self.store.write(
            CA_FILE,
            ca_file::encode(ca, passphrase.as_ref())?.as_bytes(),
        )
    }

    /// Encrypts the host CA keys at rest with the passphrase (asked of the source). Refused
    /// when there is no CA or it is encrypted already.
    pub fn encrypt_ca(&mut self) -> Result<HostCa> {
        if !self.has_ca()? {
            return Err(Error::InvalidArgument(
                "there is no host CA to encrypt".to_string(),
            ));
        }
        let (mut ca, pending) = self.load_ca()?;
        if ca.is_encrypted() {
            return Err(Error::InvalidArgument(
                "the host CA key is encrypted already".to_string(),
            ));
        }
        ca.set_encrypted(true)?;
        let event = AuditEvent::about("ca.encrypt", ca.cluster_name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Keeps the host CA keys in clear again (decrypted with the passphrase). Refused when
    /// there is no CA or it is not encrypted.
    pub fn decrypt_ca(&mut self) -> Result<HostCa> {
        if !self.has_ca()? {
            return Err(Error::InvalidArgument(
                "there is no host CA to decrypt".to_string(),
            ));
        }
        let (mut ca, pending) = self.load_ca()?;
        if !ca.is_encrypted() {
            return Err(Error::InvalidArgument(
                "the host CA key is not encrypted".to_string(),
            ));
        }
        ca.unlock(&self.passphrase()?)?;
        ca.set_encrypted(false)?;
        let event = AuditEvent::about("ca.decrypt", ca.cluster_name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Moves a manual rotation of the host CA to `phase`.
    pub fn rotate(&mut self, phase: Phase) -> Result<HostCa> {
        let (mut ca, pending) = self.load_ca()?;
        ca.rotate(phase, self.now())?;
        let event = AuditEvent::about("ca.rotate", phase.name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Starts an automatic rotation of the host CA.
    pub fn start_auto_rotation(&mut self, grace_period: std::time::Duration) -> Result<HostCa> {
        let (mut ca, pending) = self.load_ca()?;
        let entered = ca.start_auto_rotation(grace_period, self.now())?;
        let events = entered
            .iter()
            .map(|p| AuditEvent::about("ca.rotate", p.name()))
            .collect();
        self.commit_ca(&ca, pending, true, events, || Ok(()))?;
        self.notices.push(Notice::RotationAdvanced(entered));
        Ok(ca)
    }
}

/// What loading the CA changed in memory, to be saved with the operation's result.
pub(crate) enum Pending {
    Nothing,
    Created,
    Advanced(Vec<Phase>),
}

/// The host name, made into a valid cluster name (`rctl` when there is none).
pub fn default_cluster_name() -> crate::ClusterName {
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
    let name = name.trim_start_matches('.');
    // Letters, digits, '.', '_' and '-' only, at most 64, not starting with '.': a name.
    name.parse()
        .unwrap_or_else(|_| crate::ClusterName::fallback())
}

#[cfg(test)]
mod tests;

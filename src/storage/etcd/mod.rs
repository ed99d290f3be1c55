//! The etcd backend of the [`Store`] trait: the state of a directory kept in an etcd v3
//! cluster, so several admins and hosts share one CA, one set of users, one rotation.
//!
//! Layout under the prefix `P` (`etcd://HOST:PORT/PREFIX` gives `/PREFIX/`), one small key per
//! thing, as etcd is built for (it refuses a value over 1.5 MiB):
//! - `P k/NAME` → a blob: `host_ca.yaml`, `settings.yaml`, `roles/NAME.yaml`,
//!   `servers/NAME.yaml`, … (at most [`MAX_VALUE`] each).
//! - `P u/NAME` → one user: its line of `users.jsonl`.
//! - `P a/TIME-RANDOM` → one audit record: a line of `audit.jsonl`, keys in time order.
//! - `P d/RANGE` → bumped whenever a key of `RANGE` (`u/`, `k/roles/`, …) is deleted, so a
//!   command that read the whole range sees the deletion (see below).
//!
//! No lock. A command reads at one revision (a consistent snapshot: one request fetches every
//! blob and deletion marker, later reads of users or the audit log are made at its revision on
//! the same member) and buffers its changes;
//! [`Store::commit`] applies them in one transaction that succeeds only if every key it read
//! is as it was (its mod revision), and no range it read whole gained, changed or lost a key.
//! Otherwise nothing is applied and the commit fails with [`Error::Conflict`]; the caller runs
//! the command again. So two admins adding different users never wait on each other, while a
//! command that depends on what another changed (a role removed under a `users add`) is rerun
//! on the new state. A killed rctl leaves nothing behind: its changes were never sent.
//!
//! rctl talks to one member, the first of the given ones (from a random start) that answers;
//! etcd forwards its writes to the leader. An election (a member killed) is ridden out: calls
//! are retried with backoff for a while (see `retry`), reads always, writes only where a retry
//! cannot apply a change twice. The async client runs on a runtime started here, so
//! the local path starts none.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, GetOptions, KvClient, LeaseClient, PutOptions, Txn, TxnOp,
    WatchClient,
};

use crate::error::{Error, Result, StoreError};
use crate::storage::{Layout, ServerLocks, Store};

mod queue;
mod read;
mod retry;
mod txn;
mod url;
mod watch;

use txn::{MAX_TXN_OPS, Snapshot, Tx, Versioned, batches, marker, range_end};
pub use url::{EtcdTls, EtcdUrl, EtcdUser};

/// The largest blob kept under one key (etcd refuses a request over 1.5 MiB).
pub const MAX_VALUE: usize = 1024 * 1024;

/// How long an audit record is kept on etcd (the commits that add records remove older ones).
pub const AUDIT_RETENTION: time::Duration = time::Duration::days(90);

/// The most expired audit records one commit removes.
const AUDIT_TRIM: i64 = 32;

/// Keys read per request of a range (users of a few hundred bytes: about 1 MiB).
const PAGE: i64 = 4096;

/// Blobs and markers fetched by a snapshot's first request; a state with more reads the rest
/// when asked for.
const PREFETCH: i64 = 1024;

/// The most further pages of [`PREFETCH`] keys a snapshot reads of each space (64 Ki keys):
/// past that, keys not prefetched are read one at a time.
const PREFETCH_PAGES: usize = 64;

/// A state kept in etcd: reads at one revision, changes buffered until [`Store::commit`].
pub struct EtcdStore {
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    /// With room for a page of keys in an answer.
    kv: KvClient,
    /// For the leases of server locks and signing requests.
    lease: LeaseClient,
    /// For the signing-request queue's waits.
    watch: WatchClient,
    prefix: String,
    location: String,
    read_only: bool,
    layout: Layout,
    tx: Mutex<Tx>,
}

/// What a blob of the state is kept as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One key.
    Blob,
    /// One key per user (`users.jsonl`), named by the user.
    Users,
    /// One key per record (`audit.jsonl`), in time order.
    Audit,
}

impl Layout {
    fn kind(&self, name: &str) -> Kind {
        if name == self.keyed {
            Kind::Users
        } else if name == self.appended {
            Kind::Audit
        } else {
            Kind::Blob
        }
    }
}

impl EtcdStore {
    /// The store on a connected client, nothing read yet.
    fn on(
        client: &Client,
        runtime: tokio::runtime::Runtime,
        url: &EtcdUrl,
        read_only: bool,
        layout: Layout,
    ) -> EtcdStore {
        EtcdStore {
            kv: client
                .kv_client()
                .max_decoding_message_size(64 * 1024 * 1024),
            lease: client.lease_client(),
            watch: client.watch_client(),
            runtime: std::sync::Arc::new(runtime),
            prefix: url.prefix.clone(),
            location: url.to_string(),
            read_only,
            layout,
            tx: Mutex::new(Tx::default()),
        }
    }
}

impl EtcdStore {
    /// Connects to the cluster. Nothing is locked: see the module's text.
    /// `layout` names the blobs kept as one key per record.
    pub fn open(
        url: &EtcdUrl,
        tls: &EtcdTls,
        layout: Layout,
        read_only: bool,
    ) -> Result<EtcdStore> {
        let mut runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Client { source })?;
        let location = url.to_string();
        let (endpoints, options) = url::connect_options(url, tls)?;
        // From a random member on, the first that answers (its first snapshot is the test).
        let first = {
            use rand::RngExt;
            rand::rng().random_range(0..endpoints.len())
        };
        let mut failure = None;
        let mut backoff = retry::Backoff::new();
        // Every member in turn; again after a pause while the failures are transient (an
        // election answers `no leader` everywhere for a moment).
        let order = (0..).map(|i| (first + i) % endpoints.len());
        for (tried, i) in order.enumerate() {
            if tried > 0 && tried % endpoints.len() == 0 {
                let transient = matches!(&failure, Some((_, f)) if *f != retry::Failure::Final);
                if !transient || !backoff.wait() {
                    break;
                }
            }
            let endpoint = &endpoints[i];
            let connected = runtime.block_on(Client::connect([endpoint], Some(options.clone())));
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    // A member that does not take connections is not waited for: the next is
                    // tried, and only an election (a member that answers) is waited out.
                    failure = Some((unreachable_error(&location, e), retry::Failure::Final));
                    continue;
                }
            };
            let store = EtcdStore::on(&client, runtime, url, read_only, layout);
            match store.take_snapshot() {
                Ok(snapshot) => {
                    store.refuse_earlier_layout(&snapshot)?;
                    store.tx().snapshot = Some(snapshot);
                    return Ok(store);
                }
                Err(e) => {
                    // A member that answered (an election's `no leader`) is asked again after
                    // a pause; one that cannot be reached is left for the next.
                    let answered = matches!(e, etcd_client::Error::GRpcStatus(_));
                    let kind = if answered {
                        retry::failure(&e)
                    } else {
                        retry::Failure::Final
                    };
                    failure = Some((unreachable_error(&location, e), kind));
                    let EtcdStore { runtime: back, .. } = store;
                    runtime = std::sync::Arc::try_unwrap(back).map_err(|_| {
                        Error::from(StoreError::ClientBusy {
                            location: location.clone(),
                        })
                    })?;
                }
            }
        }
        Err(failure.map_or_else(|| StoreError::NoMember { location }.into(), |(e, _)| e))
    }
}

impl Store for EtcdStore {
    fn change_watch(&self) -> Result<Box<dyn crate::storage::watch::ChangeWatch>> {
        Ok(Box::new(watch::EtcdWatch {
            runtime: std::sync::Arc::clone(&self.runtime),
            kv: self.kv.clone(),
            watch: self.watch.clone(),
            prefix: self.prefix.clone(),
            location: self.location.clone(),
        }))
    }

    fn request_queue(&self) -> Result<Box<dyn crate::storage::queue::RequestQueue>> {
        Ok(Box::new(queue::EtcdQueue {
            runtime: std::sync::Arc::clone(&self.runtime),
            kv: self.kv.clone(),
            lease: self.lease.clone(),
            watch: self.watch.clone(),
            prefix: self.prefix.clone(),
            location: self.location.clone(),
        }))
    }

    fn server_locks(&self) -> Result<Box<dyn ServerLocks>> {
        Ok(Box::new(EtcdLocks {
            runtime: std::sync::Arc::clone(&self.runtime),
            kv: self.kv.clone(),
            lease: self.lease.clone(),
            prefix: self.prefix.clone(),
            location: self.location.clone(),
        }))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let mut tx = self.tx();
        match self.layout.kind(name) {
            Kind::Blob => self.read_key(&mut tx, &self.key("k", name)),
            Kind::Users => Ok(Some(self.read_lines(&mut tx, "u")?).filter(|d| !d.is_empty())),
            Kind::Audit => Ok(Some(self.read_lines(&mut tx, "a")?).filter(|d| !d.is_empty())),
        }
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn io::BufRead>>> {
        Ok(self
            .read(name)?
            .map(|data| Box::new(io::Cursor::new(data)) as Box<dyn io::BufRead>))
    }

    fn prefetch(&self, names: &[String]) -> Result<()> {
        let mut tx = self.tx();
        let keys: Vec<Vec<u8>> = names
            .iter()
            .filter(|n| self.layout.kind(n) == Kind::Blob)
            .map(|n| self.key("k", n))
            .collect();
        self.fetch_keys(&mut tx, keys)
    }

    fn read_line(&self, name: &str, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        (self.layout.kind(name) == Kind::Users).then(|| {
            let key = self.key("u", key);
            let value = self.read_key(&mut self.tx(), &key)?;
            if let Some(value) = &value {
                self.check_record("u", &key, value)?;
            }
            Ok(value)
        })
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refuse_if_read_only()?;
        let mut tx = self.tx();
        match self.layout.kind(name) {
            Kind::Blob => {
                if data.len() > MAX_VALUE {
                    return Err(StoreError::ValueTooLarge {
                        location: self.location.clone(),
                        key: name.to_string(),
                        bytes: data.len(),
                        limit: MAX_VALUE,
                    }
                    .into());
                }
                tx.writes.insert(self.key("k", name), Some(data.to_vec()));
            }
            Kind::Users => {
                // Only the users that differ: a user removed is one delete, not a rewrite.
                let mut wanted = self.user_lines(data)?;
                let start = self.key("u", "");
                for (key, line) in self.read_range(&mut tx, &start, false)? {
                    match wanted.remove(&key) {
                        Some(same) if same == line => {}
                        change => {
                            tx.writes.insert(key, change);
                        }
                    }
                }
                for (key, line) in wanted {
                    tx.writes.insert(key, Some(line));
                }
            }
            Kind::Audit => {
                let start = self.key("a", "");
                for (key, _) in self.read_range(&mut tx, &start, true)? {
                    tx.writes.insert(key, None);
                }
                tx.records = data
                    .split_inclusive(|b| *b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect();
            }
        }
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<u64> {
        self.refuse_if_read_only()?;
        match self.layout.kind(name) {
            Kind::Audit => {
                let mut tx = self.tx();
                tx.records.push(data.to_vec());
                Ok(tx.records.len() as u64 - 1)
            }
            Kind::Users => {
                let mut tx = self.tx();
                // Read whole in this transaction (the caller checked the names against it), the
                // range's own comparison at the commit refuses any user added since: no key is
                // read again one at a time (a bulk add of 100,000 would make 100,000 reads).
                let whole = tx.ranges.contains_key(&self.key("u", ""));
                for (key, line) in self.user_lines(data)? {
                    // Compared at the commit: the user must still not exist.
                    if !whole && self.read_key(&mut tx, &key)?.is_some() {
                        return Err(StoreError::UserExists {
                            location: self.location.clone(),
                        }
                        .into());
                    }
                    tx.writes.insert(key, Some(line));
                }
                Ok(0)
            }
            Kind::Blob => {
                let mut blob = self.read(name)?.unwrap_or_default();
                let before = blob.len() as u64;
                blob.extend_from_slice(data);
                self.write(name, &blob)?;
                Ok(before)
            }
        }
    }

    fn truncate(&self, name: &str, len: u64) -> Result<()> {
        self.refuse_if_read_only()?;
        match self.layout.kind(name) {
            // The mark an append returned: the records buffered before it stay.
            Kind::Audit => {
                self.tx().records.truncate(len as usize);
                Ok(())
            }
            _ => {
                let mut blob = self.read(name)?.unwrap_or_default();
                blob.truncate(len as usize);
                self.write(name, &blob)
            }
        }
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.refuse_if_read_only()?;
        match self.layout.kind(name) {
            Kind::Blob => {
                self.tx().writes.insert(self.key("k", name), None);
                Ok(())
            }
            Kind::Users | Kind::Audit => self.write(name, b""),
        }
    }

    fn list(&self, folder: &str) -> Result<Vec<String>> {
        let mut tx = self.tx();
        let start = if folder.is_empty() {
            self.key("k", "")
        } else {
            self.key("k", &format!("{folder}/"))
        };
        let mut names: Vec<String> = self
            .read_range(&mut tx, &start, true)?
            .iter()
            .filter_map(|(key, _)| {
                let rest = std::str::from_utf8(&key[start.len()..]).ok()?;
                // A directory lists its folders among its files.
                Some(rest.split('/').next().unwrap_or(rest).to_string())
            })
            .collect();
        if folder.is_empty() {
            for (space, name) in [("u", self.layout.keyed), ("a", self.layout.appended)] {
                if self.any_in(&mut tx, &self.key(space, ""))? {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn locate(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}{name}", self.location))
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn requires_encrypted_keys(&self) -> bool {
        true
    }

    /// One transaction, applied only if nothing this one read has changed since; a change
    /// larger than one etcd transaction (a migration) goes in several, the first one guarded.
    fn commit(&self) -> Result<()> {
        let mut tx = std::mem::take(&mut *self.tx());
        if tx.is_empty() {
            return Ok(());
        }
        self.refuse_if_read_only()?;
        if !tx.records.is_empty() {
            self.trim_audit(&mut tx)?;
        }
        let compares = tx.comparisons(&self.prefix);
        if compares.len() > MAX_TXN_OPS {
            return Err(StoreError::TooManyReads {
                location: self.location.clone(),
            }
            .into());
        }
        let mut guard = Some(compares);
        for (batch, witness) in batches(tx.into_operations(&self.prefix)) {
            let compares = guard.take();
            let first = compares.is_some();
            let txn = Txn::new()
                .when(compares.unwrap_or_default())
                .and_then(batch);
            // Later batches only put and delete fixed values: applying one twice changes
            // nothing. The guarded first one is retried only when etcd said it was not applied;
            // when that is unknown, its witness (a key only this commit puts) tells.
            let kv = self.kv.clone();
            let sent = retry::retried(&self.runtime, !first, || {
                let (mut kv, txn) = (kv.clone(), txn.clone());
                async move { kv.txn(txn).await.map(|r| r.succeeded()) }
            });
            let succeeded = match sent {
                Ok(succeeded) => succeeded,
                Err(e) if first && retry::failure(&e) == retry::Failure::Unknown => match witness {
                    Some(key) => self
                        .applied(&key)
                        .ok_or_else(|| unreachable_error(&self.location, e))?,
                    None => return Err(unreachable_error(&self.location, e)),
                },
                Err(e) => return Err(unreachable_error(&self.location, e)),
            };
            if !succeeded {
                return Err(Error::Conflict {
                    location: self.location.clone(),
                });
            }
        }
        Ok(())
    }

    fn rollback(&self) {
        *self.tx() = Tx::default();
    }
}

impl EtcdStore {
    /// Deletes, in a commit that adds audit records, up to [`AUDIT_TRIM`] records older than
    /// [`AUDIT_RETENTION`]: each change trims more than it adds, so the log on etcd holds the
    /// records of the retention period and no more. `audit ls` shows them all.
    fn trim_audit(&self, tx: &mut Tx) -> Result<()> {
        let cutoff = time::OffsetDateTime::now_utc() - AUDIT_RETENTION;
        let start = self.key("a", "");
        let end = self.key("a", &format!("{:020}", cutoff.unix_timestamp_nanos()));
        let options = GetOptions::new()
            .with_range(end)
            .with_limit(AUDIT_TRIM)
            .with_keys_only()
            .with_serializable();
        let kv = self.kv.clone();
        let old = self.read_retried(|| {
            let (mut kv, key, options) = (kv.clone(), start.clone(), options.clone());
            async move { kv.get(key, Some(options)).await }
        })?;
        for kv in old.kvs() {
            tx.writes.insert(kv.key().to_vec(), None);
        }
        Ok(())
    }

    /// Whether a commit whose answer was lost was applied: its witness key is there (read
    /// linearizably, retried through an election). `None` when that cannot be learnt.
    fn applied(&self, witness: &[u8]) -> Option<bool> {
        let kv = self.kv.clone();
        let options = GetOptions::new().with_count_only();
        retry::retried(&self.runtime, true, || {
            let (mut kv, key, options) = (kv.clone(), witness.to_vec(), options.clone());
            async move { kv.get(key, Some(options)).await.map(|r| r.count() > 0) }
        })
        .ok()
    }
}

/// Server locks in etcd: `PREFIX/l/NAME`, created only where absent and kept under a lease, so
/// that a holder killed mid-sync lets go when the lease runs out.
struct EtcdLocks {
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    kv: KvClient,
    lease: LeaseClient,
    prefix: String,
    location: String,
}

/// A held etcd server lock: revoking its lease deletes its key.
struct EtcdLock {
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    lease: LeaseClient,
    id: i64,
}

impl Drop for EtcdLock {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.lease.revoke(self.id));
    }
}

impl ServerLocks for EtcdLocks {
    fn lock(&self, name: &str, wait: Duration) -> Result<Box<dyn Send>> {
        let fail = |e: etcd_client::Error| unreachable_error(&self.location, e);
        let (mut kv, mut lease) = (self.kv.clone(), self.lease.clone());
        // Longer than any holder keeps it: its own wait, its files and its servers' deadline.
        let ttl = i64::try_from(wait.as_secs().saturating_mul(2).max(60)).unwrap_or(i64::MAX);
        let id = self
            .runtime
            .block_on(lease.grant(ttl, None))
            .map_err(fail)?
            .id();
        let key = format!("{}l/{name}", self.prefix).into_bytes();
        let end = std::time::Instant::now() + wait;
        loop {
            let take = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(
                    key.clone(),
                    std::process::id().to_string(),
                    Some(PutOptions::new().with_lease(id)),
                )]);
            let taken = self.runtime.block_on(kv.txn(take)).map_err(fail);
            match taken {
                Ok(answer) if answer.succeeded() => {
                    return Ok(Box::new(EtcdLock {
                        runtime: std::sync::Arc::clone(&self.runtime),
                        lease,
                        id,
                    }));
                }
                Ok(_) if std::time::Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                outcome => {
                    let _ = self.runtime.block_on(lease.revoke(id));
                    outcome?;
                    return Err(Error::ServerBusy {
                        name: name.to_string(),
                        waited: wait,
                    });
                }
            }
        }
    }
}

/// One line for an etcd failure (no quorum, no member reachable, refused TLS).
fn unreachable_error(location: &str, e: etcd_client::Error) -> Error {
    StoreError::Etcd {
        location: location.to_string(),
        source: Box::new(e),
    }
    .into()
}

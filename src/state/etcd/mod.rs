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
//! etcd forwards its writes to the leader. The async client runs on a runtime started here, so
//! the local path starts none.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, TlsOptions, Txn, TxnOp,
};

use crate::error::{Error, Result};
use crate::state::store::{Layout, Store};

mod txn;
mod url;

use txn::{MAX_TXN_OPS, Snapshot, Tx, Versioned, batches, marker, range_end};
pub use url::{EtcdTls, EtcdUrl};

/// The largest blob kept under one key (etcd refuses a request over 1.5 MiB).
pub const MAX_VALUE: usize = 1024 * 1024;

/// Keys read per request of a range (users of a few hundred bytes: about 1 MiB).
const PAGE: i64 = 4096;

/// Blobs and markers fetched by a snapshot's first request; a state with more reads the rest
/// when asked for.
const PREFETCH: i64 = 1024;

/// A state kept in etcd: reads at one revision, changes buffered until [`Store::commit`].
pub struct EtcdStore {
    runtime: tokio::runtime::Runtime,
    /// With room for a page of keys in an answer.
    kv: KvClient,
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
            .map_err(|e| Error::Store(format!("cannot start the etcd client: {e}")))?;
        let location = url.to_string();
        let scheme = if tls.ca.is_some() { "https" } else { "http" };
        let endpoints: Vec<String> = url
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(15));
        if let Some(ca) = &tls.ca {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| Error::io(p, e));
            let mut config = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            options = options.with_tls(config);
        }
        // From a random member on, the first that answers (its first snapshot is the test).
        let first = {
            use rand::RngExt;
            rand::rng().random_range(0..endpoints.len())
        };
        let mut failure = None;
        for i in 0..endpoints.len() {
            let endpoint = &endpoints[(first + i) % endpoints.len()];
            let connected = runtime.block_on(Client::connect([endpoint], Some(options.clone())));
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    failure = Some(unreachable_error(&location, &e));
                    continue;
                }
            };
            let store = EtcdStore {
                kv: client
                    .kv_client()
                    .max_decoding_message_size(64 * 1024 * 1024),
                runtime,
                prefix: url.prefix.clone(),
                location: location.clone(),
                read_only,
                layout,
                tx: Mutex::new(Tx::default()),
            };
            match store.take_snapshot() {
                Ok(snapshot) => {
                    store.refuse_earlier_layout(&snapshot)?;
                    store.tx().snapshot = Some(snapshot);
                    return Ok(store);
                }
                Err(e) => {
                    failure = Some(unreachable_error(&location, &e));
                    let EtcdStore { runtime: back, .. } = store;
                    runtime = back;
                }
            }
        }
        Err(failure.unwrap_or_else(|| Error::Store(format!("{location}: no member given"))))
    }

    /// One linearizable request: the cluster's latest revision, every blob and every deletion
    /// marker at it. Linearizable, so a command sees everything done before it started, through
    /// any member: a script's `users add` then `users update` through two members works.
    fn take_snapshot(&self) -> std::result::Result<Snapshot, etcd_client::Error> {
        let spaces = [self.key("k", ""), self.key("d", "")];
        let mut reads: Vec<TxnOp> = spaces
            .iter()
            .map(|start| {
                let options = GetOptions::new()
                    .with_range(range_end(start))
                    .with_limit(PREFETCH);
                TxnOp::get(start.clone(), Some(options))
            })
            .collect();
        // The pointers of the first etcd layout (rctl 0.1's first etcd store: `m/NAME` and
        // `b/…` pieces), which this one does not read.
        let earlier = self.key("m", "");
        let options = GetOptions::new()
            .with_range(range_end(&earlier))
            .with_count_only();
        reads.push(TxnOp::get(earlier, Some(options)));
        let mut kv = self.kv.clone();
        let response = self
            .runtime
            .block_on(async move { kv.txn(Txn::new().and_then(reads)).await })?;
        let mut snapshot = Snapshot {
            revision: response.header().map_or(0, |h| h.revision()),
            small: BTreeMap::new(),
            complete: true,
            earlier_layout: false,
        };
        let answers = response.op_responses();
        if let Some(etcd_client::TxnOpResponse::Get(earlier)) = answers.get(spaces.len()) {
            snapshot.earlier_layout = earlier.count() > 0;
        }
        for answer in &answers[..spaces.len().min(answers.len())] {
            if let etcd_client::TxnOpResponse::Get(get) = answer {
                snapshot.complete &= !get.more();
                for kv in get.kvs() {
                    snapshot
                        .small
                        .insert(kv.key().to_vec(), (kv.value().to_vec(), kv.mod_revision()));
                }
            }
        }
        Ok(snapshot)
    }

    /// A prefix of the first etcd layout is refused, not read as empty (where `auth init`
    /// would make a second CA).
    fn refuse_earlier_layout(&self, snapshot: &Snapshot) -> Result<()> {
        if snapshot.earlier_layout {
            return Err(Error::EarlierEtcdLayout {
                location: self.location.clone(),
            });
        }
        Ok(())
    }

    /// The transaction's snapshot, taken now if this is its first read.
    fn snapshot<'t>(&self, tx: &'t mut Tx) -> Result<&'t Snapshot> {
        let snapshot = match tx.snapshot.take() {
            Some(snapshot) => snapshot,
            None => {
                let snapshot = self
                    .take_snapshot()
                    .map_err(|e| unreachable_error(&self.location, &e))?;
                self.refuse_earlier_layout(&snapshot)?;
                snapshot
            }
        };
        Ok(tx.snapshot.insert(snapshot))
    }

    fn tx(&self) -> MutexGuard<'_, Tx> {
        // A panic elsewhere cannot leave the buffer half-changed in a way that matters: it is
        // only ever committed whole, and a poisoned one is dropped.
        self.tx.lock().unwrap_or_else(|poisoned| {
            let mut tx = poisoned.into_inner();
            *tx = Tx::default();
            tx
        })
    }

    fn key(&self, space: &str, name: &str) -> Vec<u8> {
        format!("{}{space}/{name}", self.prefix).into_bytes()
    }

    fn marker(&self, start: &[u8]) -> Vec<u8> {
        marker(&self.prefix, start)
    }

    fn run<T>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        self.runtime
            .block_on(f)
            .map_err(|e| unreachable_error(&self.location, &e))
    }

    /// A read at the snapshot's revision, from the member that took it (which has applied
    /// that revision, so the read needs no round to the others).
    fn get(
        &self,
        tx: &mut Tx,
        key: Vec<u8>,
        options: GetOptions,
    ) -> Result<etcd_client::GetResponse> {
        let revision = self.snapshot(tx)?.revision;
        let options = options.with_revision(revision).with_serializable();
        let mut kv = self.kv.clone();
        self.run(async move { kv.get(key, Some(options)).await })
    }

    /// One key as the snapshot has it, and its revision of last change (0: absent).
    fn get_key(&self, tx: &mut Tx, key: &[u8]) -> Result<Option<Versioned>> {
        // Blobs and markers: the snapshot has them all, unless there were too many.
        let small = key.starts_with(&self.key("k", "")) || key.starts_with(&self.key("d", ""));
        let snapshot = self.snapshot(tx)?;
        if small && (snapshot.complete || snapshot.small.contains_key(key)) {
            return Ok(snapshot.small.get(key).cloned());
        }
        let response = self.get(tx, key.to_vec(), GetOptions::new())?;
        Ok(response
            .kvs()
            .first()
            .map(|kv| (kv.value().to_vec(), kv.mod_revision())))
    }

    /// One key, as this transaction sees it; remembered for the commit's comparison.
    fn read_key(&self, tx: &mut Tx, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(change) = tx.writes.get(key) {
            return Ok(change.clone());
        }
        let found = self.get_key(tx, key)?;
        tx.keys.insert(
            key.to_vec(),
            found.as_ref().map_or(0, |(_, changed)| *changed),
        );
        Ok(found.map(|(value, _)| value))
    }

    /// Every key starting with `start`, in key order, as this transaction sees it;
    /// remembered (with its deletion marker) for the commit's comparison.
    fn read_range(
        &self,
        tx: &mut Tx,
        start: &[u8],
        keys_only: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let end = range_end(start);
        if !tx.ranges.contains_key(start) {
            let marker = self.marker(start);
            let changed = self.get_key(tx, &marker)?.map_or(0, |(_, changed)| changed);
            tx.ranges.insert(start.to_vec(), (end.clone(), changed));
        }
        let mut found = Vec::new();
        let snapshot = self.snapshot(tx)?;
        if snapshot.complete && start.starts_with(&self.key("k", "")) {
            found.extend(
                snapshot
                    .small
                    .range(start.to_vec()..end.clone())
                    .map(|(key, (value, _))| (key.clone(), value.clone())),
            );
        } else {
            self.fetch_range(tx, start, &end, keys_only, &mut found)?;
        }
        let mut changes = tx.writes.range(start.to_vec()..end).peekable();
        if changes.peek().is_none() {
            return Ok(found);
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = found.into_iter().collect();
        for (key, change) in changes {
            match change {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Every key from `start` to `end` at the snapshot, a page at a time.
    fn fetch_range(
        &self,
        tx: &mut Tx,
        start: &[u8],
        end: &[u8],
        keys_only: bool,
        found: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let mut from = start.to_vec();
        loop {
            let mut options = GetOptions::new().with_range(end.to_vec()).with_limit(PAGE);
            if keys_only {
                options = options.with_keys_only();
            }
            let response = self.get(tx, from, options)?;
            found.extend(
                response
                    .kvs()
                    .iter()
                    .map(|kv| (kv.key().to_vec(), kv.value().to_vec())),
            );
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(()),
            }
        }
    }

    /// The lines of a blob kept one key per line, joined.
    fn read_lines(&self, tx: &mut Tx, space: &str) -> Result<Vec<u8>> {
        let start = self.key(space, "");
        let mut data = Vec::new();
        for (_, line) in self.read_range(tx, &start, false)? {
            data.extend_from_slice(&line);
        }
        if space == "a" {
            for record in &tx.records {
                data.extend_from_slice(record);
            }
        }
        Ok(data)
    }

    /// Whether any key starts with `start` (without remembering the read: for listing).
    fn any_in(&self, tx: &mut Tx, start: &[u8]) -> Result<bool> {
        let options = GetOptions::new()
            .with_range(range_end(start))
            .with_count_only();
        Ok(self.get(tx, start.to_vec(), options)?.count() > 0)
    }

    /// The users of `data` (lines of users.jsonl) by key.
    fn user_lines(&self, data: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut lines = BTreeMap::new();
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let name = (self.layout.line_key)(line).map_err(|reason| {
                Error::Store(format!(
                    "{}: a user line is invalid: {reason}",
                    self.location
                ))
            })?;
            let mut line = line.to_vec();
            line.push(b'\n');
            lines.insert(self.key("u", &name), line);
        }
        Ok(lines)
    }

    fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::Store(format!(
                "{} is open for reading only",
                self.location
            )));
        }
        Ok(())
    }
}

impl Store for EtcdStore {
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

    fn read_line(&self, name: &str, key: &str) -> Option<Result<Option<Vec<u8>>>> {
        (self.layout.kind(name) == Kind::Users)
            .then(|| self.read_key(&mut self.tx(), &self.key("u", key)))
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refuse_if_read_only()?;
        let mut tx = self.tx();
        match self.layout.kind(name) {
            Kind::Blob => {
                if data.len() > MAX_VALUE {
                    return Err(Error::Store(format!(
                        "{}{name}: {} bytes is more than one etcd key holds ({MAX_VALUE})",
                        self.location,
                        data.len()
                    )));
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
                for (key, line) in self.user_lines(data)? {
                    // Compared at the commit: the user must still not exist.
                    if self.read_key(&mut tx, &key)?.is_some() {
                        return Err(Error::Store(format!(
                            "{}: a user being added exists",
                            self.location
                        )));
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
        let tx = std::mem::take(&mut *self.tx());
        if tx.is_empty() {
            return Ok(());
        }
        self.refuse_if_read_only()?;
        let compares = tx.comparisons(&self.prefix);
        if compares.len() > MAX_TXN_OPS {
            return Err(Error::Store(format!(
                "{}: this change read too much of the state to commit it in one etcd transaction",
                self.location
            )));
        }
        let mut guard = Some(compares);
        for batch in batches(tx.into_operations(&self.prefix)) {
            let txn = Txn::new()
                .when(guard.take().unwrap_or_default())
                .and_then(batch);
            let mut kv = self.kv.clone();
            let done = self.run(async move { kv.txn(txn).await })?;
            if !done.succeeded() {
                return Err(Error::Conflict(self.location.clone()));
            }
        }
        Ok(())
    }

    fn rollback(&self) {
        *self.tx() = Tx::default();
    }
}

/// One line for an etcd failure (no quorum, no member reachable, refused TLS).
fn unreachable_error(location: &str, e: &etcd_client::Error) -> Error {
    Error::Store(format!(
        "{location}: {}",
        crate::error::shorten(&e.to_string())
    ))
}

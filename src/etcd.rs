//! The etcd backend of the [`Store`] trait: the same named blobs as a state directory, kept in
//! an etcd v3 cluster so several admins and hosts share one CA, one set of users, one rotation.
//!
//! Layout under the prefix `P` (`etcd://HOST:PORT/PREFIX` gives `/PREFIX/`):
//! - `P m/NAME` → the blob's current generation (16 hex digits); `list` reads these.
//! - `P b/NAME \0 GEN \0 OFFSET` → the blob's bytes from `OFFSET` (20 digits), at most 1 MiB a
//!   key (etcd refuses a value over 1.5 MiB). A write puts a new generation's pieces, then
//!   switches the pointer and deletes the old generation in one transaction, so a reader (who
//!   reads the pointer and then the pieces at the pointer's revision) sees the old blob or the
//!   new one. An append adds one piece; taking it back deletes the pieces from its offset on.
//! - `P lock` → etcd's lock, held with a lease for as long as the store is open: the one-writer
//!   rule of the state directory's `flock`. A killed rctl's lease expires within
//!   [`LOCK_TTL_SECS`] and the next command proceeds.
//!
//! The async client runs on a runtime started here, so the local path starts none.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity,
    LockOptions, SortOrder, SortTarget, TlsOptions, Txn, TxnOp,
};

use crate::error::{Error, Result};
use crate::store::Store;

/// The lock's lease: how long a killed rctl can hold the others up.
pub const LOCK_TTL_SECS: i64 = 5;

/// The largest piece of a blob under one key.
const PIECE: usize = 1024 * 1024;

/// An append joins the blob's last piece while that stays under this size, so a blob grown by
/// appends (users, the audit log) is a few hundred small pieces, not one per record.
const JOIN_BELOW: usize = 64 * 1024;

/// Pieces read per request: at most 48 MiB, under the client's 64 MiB answer limit.
const PAGE: i64 = 48;

/// Where an etcd state lives: `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `HOST:PORT` of each member.
    pub endpoints: Vec<String>,
    /// The prefix, as `/PREFIX/`.
    pub prefix: String,
}

impl EtcdUrl {
    /// Parses `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`; `None` for anything that is not `etcd://`.
    pub fn parse(text: &str) -> Option<Result<EtcdUrl>> {
        let rest = text.strip_prefix("etcd://")?;
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "invalid etcd state {:?}: {why} (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)",
                crate::error::shorten(text)
            ))
        };
        let Some((hosts, prefix)) = rest.split_once('/') else {
            return Some(Err(bad("no /PREFIX")));
        };
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Some(Err(bad(
                "the prefix is letters, digits, '-', '_', '.' and '/'",
            )));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let valid = host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !valid {
                return Some(Err(bad("each member is HOST:PORT")));
            }
            endpoints.push(host.to_string());
        }
        Some(Ok(EtcdUrl {
            endpoints,
            prefix: format!("/{prefix}/"),
        }))
    }
}

/// As given: `etcd://HOST:PORT[,…]/PREFIX/`.
impl std::fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

/// TLS to etcd: the CA that signed the members' certificates, and a client certificate.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// PEM CA file.
    pub ca: Option<PathBuf>,
    /// PEM client certificate.
    pub cert: Option<PathBuf>,
    /// PEM client key.
    pub key: Option<PathBuf>,
}

/// A state kept in etcd, locked for as long as it is open (see the module's text).
pub struct EtcdStore {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// Reads, with room for a page of whole pieces.
    kv: etcd_client::KvClient,
    prefix: String,
    location: String,
    read_only: bool,
    /// The lock's key and lease, while held.
    lock: Option<(Vec<u8>, i64)>,
}

impl EtcdStore {
    /// Connects and, unless `read_only`, takes the state's lock (waiting for its holder).
    pub fn open(url: &EtcdUrl, tls: &EtcdTls, read_only: bool) -> Result<EtcdStore> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
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
        let client = runtime
            .block_on(Client::connect(&endpoints, Some(options)))
            .map_err(|e| unreachable_error(&location, &e))?;
        let kv = client
            .kv_client()
            .max_decoding_message_size(64 * 1024 * 1024);
        let mut store = EtcdStore {
            runtime,
            client,
            kv,
            prefix: url.prefix.clone(),
            location,
            read_only,
            lock: None,
        };
        if !read_only {
            store.take_lock()?;
        }
        Ok(store)
    }

    fn take_lock(&mut self) -> Result<()> {
        let mut client = self.client.clone();
        let name = format!("{}lock", self.prefix);
        let location = self.location.clone();
        let (key, lease) = self
            .runtime
            .block_on(async move {
                let lease = client.lease_grant(LOCK_TTL_SECS, None).await?.id();
                let (mut keeper, mut answers) = client.lease_keep_alive(lease).await?;
                // Renewed at a third of its life while this process lives; a killed process
                // stops renewing and the lease (and the lock) expire.
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs((LOCK_TTL_SECS / 3).max(1) as u64))
                            .await;
                        if keeper.keep_alive().await.is_err() {
                            break;
                        }
                        if answers.message().await.is_err() {
                            break;
                        }
                    }
                });
                let locked = client
                    .lock(name, Some(LockOptions::new().with_lease(lease)))
                    .await?;
                Ok::<_, etcd_client::Error>((locked.key().to_vec(), lease))
            })
            .map_err(|e| unreachable_error(&location, &e))?;
        self.lock = Some((key, lease));
        Ok(())
    }

    fn pointer(&self, name: &str) -> String {
        format!("{}m/{name}", self.prefix)
    }

    fn pieces(&self, name: &str, generation: &str) -> String {
        format!("{}b/{name}\0{generation}\0", self.prefix)
    }

    fn piece(&self, name: &str, generation: &str, offset: u64) -> String {
        format!("{}{offset:020}", self.pieces(name, generation))
    }

    fn run<T>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        self.runtime
            .block_on(f)
            .map_err(|e| unreachable_error(&self.location, &e))
    }

    /// The blob's generation and the revision it was read at, or `None`.
    fn current(&self, name: &str) -> Result<Option<(String, i64)>> {
        let mut client = self.client.clone();
        let key = self.pointer(name);
        let response = self.run(async move { client.get(key, None).await })?;
        let revision = response.header().map_or(0, |h| h.revision());
        Ok(response
            .kvs()
            .first()
            .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), revision)))
    }

    /// The blob's pieces at `revision`: (offset, bytes), in order, a page at a time.
    fn read_pieces(
        &self,
        name: &str,
        generation: &str,
        revision: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let prefix = self.pieces(name, generation);
        // The prefix ends in \0: the range ends at the same text ending in \x01.
        let mut end = prefix.clone().into_bytes();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let mut from = prefix.clone().into_bytes();
        let mut pieces = Vec::new();
        loop {
            let mut kv = self.kv.clone();
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_revision(revision)
                .with_limit(PAGE)
                .with_sort(SortTarget::Key, SortOrder::Ascend);
            let key = from.clone();
            let response = self.run(async move { kv.get(key, Some(options)).await })?;
            for kv in response.kvs() {
                let offset = self.offset_of(name, &prefix, kv.key())?;
                pieces.push((offset, kv.value().to_vec()));
            }
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok(pieces),
            }
        }
    }

    /// The blob's last piece at `revision`: its offset, bytes and revision of last change.
    fn last_piece(
        &self,
        name: &str,
        generation: &str,
        revision: i64,
    ) -> Result<Option<(u64, Vec<u8>, i64)>> {
        let prefix = self.pieces(name, generation);
        let mut kv = self.kv.clone();
        let options = GetOptions::new()
            .with_prefix()
            .with_revision(revision)
            .with_limit(1)
            .with_sort(SortTarget::Key, SortOrder::Descend);
        let key = prefix.clone();
        let response = self.run(async move { kv.get(key, Some(options)).await })?;
        let Some(last) = response.kvs().first() else {
            return Ok(None);
        };
        let offset = self.offset_of(name, &prefix, last.key())?;
        Ok(Some((offset, last.value().to_vec(), last.mod_revision())))
    }

    /// The offset a piece's key names (the digits after its generation's prefix).
    fn offset_of(&self, name: &str, prefix: &str, key: &[u8]) -> Result<u64> {
        key.get(prefix.len()..)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| {
                Error::Store(format!("{}: a piece of {name} is misnamed", self.location))
            })
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

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some((key, lease)) = self.lock.take() {
            let mut client = self.client.clone();
            let _ = self.runtime.block_on(async move {
                let _ = client.unlock(key).await;
                client.lease_revoke(lease).await
            });
        }
    }
}

impl Store for EtcdStore {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some((generation, revision)) = self.current(name)? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        for (_, piece) in self.read_pieces(name, &generation, revision)? {
            data.extend_from_slice(&piece);
        }
        Ok(Some(data))
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn io::BufRead>>> {
        Ok(self
            .read(name)?
            .map(|data| Box::new(io::Cursor::new(data)) as Box<dyn io::BufRead>))
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refuse_if_read_only()?;
        let old = self.current(name)?;
        let generation = format!("{:016x}", {
            use rand::Rng;
            rand::rng().next_u64()
        });
        // The new generation's pieces, then the switch: one transaction moves the pointer and
        // deletes the old pieces.
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(PIECE).collect()
        };
        let mut offset = 0u64;
        for chunk in chunks {
            let mut client = self.client.clone();
            let key = self.piece(name, &generation, offset);
            let value = chunk.to_vec();
            self.run(async move { client.put(key, value, None).await })?;
            offset += chunk.len() as u64;
        }
        let mut ops = vec![TxnOp::put(self.pointer(name), generation.clone(), None)];
        if let Some((old, _)) = &old {
            ops.push(TxnOp::delete(
                self.pieces(name, old),
                Some(DeleteOptions::new().with_prefix()),
            ));
        }
        let mut client = self.client.clone();
        self.run(async move { client.txn(Txn::new().and_then(ops)).await })?;
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<u64> {
        self.refuse_if_read_only()?;
        let Some((generation, revision)) = self.current(name)? else {
            self.write(name, data)?;
            return Ok(0);
        };
        let last = self.last_piece(name, &generation, revision)?;
        let end = last
            .as_ref()
            .map_or(0, |(offset, piece, _)| offset + piece.len() as u64);
        // Joined to a small last piece, else a new one; only while the blob is still that
        // generation and the last piece what was read.
        let mut when = vec![Compare::value(
            self.pointer(name),
            CompareOp::Equal,
            generation.clone(),
        )];
        if let Some((offset, _, changed)) = &last {
            let key = self.piece(name, &generation, *offset);
            when.push(Compare::mod_revision(key, CompareOp::Equal, *changed));
        }
        let put = match last {
            Some((offset, mut piece, _)) if piece.len() + data.len() <= JOIN_BELOW => {
                piece.extend_from_slice(data);
                TxnOp::put(self.piece(name, &generation, offset), piece, None)
            }
            _ => {
                let key = self.piece(name, &generation, end);
                when.push(Compare::create_revision(key.clone(), CompareOp::Equal, 0));
                TxnOp::put(key, data.to_vec(), None)
            }
        };
        let mut client = self.client.clone();
        let txn = Txn::new().when(when).and_then([put]);
        let done = self.run(async move { client.txn(txn).await })?;
        if !done.succeeded() {
            return Err(Error::Store(format!(
                "{}: {name} changed while appending",
                self.location
            )));
        }
        Ok(end)
    }

    fn truncate(&self, name: &str, len: u64) -> Result<()> {
        self.refuse_if_read_only()?;
        let Some((generation, revision)) = self.current(name)? else {
            return Ok(());
        };
        if len == 0 {
            return self.write(name, b"");
        }
        for (offset, piece) in self.read_pieces(name, &generation, revision)? {
            let mut client = self.client.clone();
            let key = self.piece(name, &generation, offset);
            if offset >= len {
                self.run(async move { client.delete(key, None).await })?;
            } else if offset + piece.len() as u64 > len {
                let kept = piece[..(len - offset) as usize].to_vec();
                self.run(async move { client.put(key, kept, None).await })?;
            }
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.refuse_if_read_only()?;
        let Some((generation, _)) = self.current(name)? else {
            return Ok(());
        };
        let ops = vec![
            TxnOp::delete(self.pointer(name), None),
            TxnOp::delete(
                self.pieces(name, &generation),
                Some(DeleteOptions::new().with_prefix()),
            ),
        ];
        let mut client = self.client.clone();
        self.run(async move { client.txn(Txn::new().and_then(ops)).await })?;
        Ok(())
    }

    fn list(&self, folder: &str) -> Result<Vec<String>> {
        let start = if folder.is_empty() {
            self.pointer("")
        } else {
            self.pointer(&format!("{folder}/"))
        };
        let mut client = self.client.clone();
        let key = start.clone();
        let options = GetOptions::new().with_prefix().with_keys_only();
        let response = self.run(async move { client.get(key, Some(options)).await })?;
        let mut names: Vec<String> = response
            .kvs()
            .iter()
            .filter_map(|kv| {
                let rest = std::str::from_utf8(&kv.key()[start.len()..]).ok()?;
                (!rest.contains('/')).then(|| rest.to_string())
            })
            .collect();
        names.sort();
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
}

/// One line for an etcd failure (no quorum, no member reachable, refused TLS).
fn unreachable_error(location: &str, e: &etcd_client::Error) -> Error {
    Error::Store(format!(
        "{location}: {}",
        crate::error::shorten(&e.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let url = EtcdUrl::parse("etcd://127.0.0.1:2379,10.0.0.2:2379/rctl/prod")
            .unwrap()
            .unwrap();
        assert_eq!(url.endpoints, ["127.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(url.prefix, "/rctl/prod/");
        assert!(EtcdUrl::parse("/var/lib/rctl").is_none());
        for bad in [
            "etcd://127.0.0.1:2379",
            "etcd://127.0.0.1:2379/",
            "etcd://127.0.0.1/p",
            "etcd://:2379/p",
            "etcd://h:0/p",
            "etcd://h:1/a b",
        ] {
            assert!(EtcdUrl::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}

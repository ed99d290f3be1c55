//! The signing-request queue on etcd: `P q/ID` a request, `P s/ID` its answer, each under a
//! lease of its own so that an abandoned one disappears. Answering is one transaction: the
//! request is deleted (only if unchanged since it was read) as the answer is put, so a
//! request is answered once. Both sides wait with watches, not by polling.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, KvClient, LeaseClient, PutOptions, SortOrder,
    SortTarget, Txn, TxnOp, WatchClient, WatchOptions,
};

use super::unreachable_error;
use crate::error::{Error, Result, StoreError};
use crate::storage::queue::{MAX_RECORD, Queued, RequestQueue};

/// The most requests read with their values at once (32 x etcd's 1.5 MiB value limit stays
/// under the client's 64 MiB message limit).
const VALUE_PAGE: usize = 32;

/// The queue of an etcd state.
pub(super) struct EtcdQueue {
    pub(super) runtime: std::sync::Arc<tokio::runtime::Runtime>,
    pub(super) kv: KvClient,
    pub(super) lease: LeaseClient,
    pub(super) watch: WatchClient,
    pub(super) prefix: String,
    pub(super) location: String,
}

/// Leases are whole seconds, at least one.
fn lease_seconds(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
}

fn bounded(value: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if value.len() > MAX_RECORD {
        return Err(format!(
            "{} bytes, more than the {MAX_RECORD} a request or answer may hold",
            value.len()
        ));
    }
    Ok(value.to_vec())
}

impl EtcdQueue {
    fn key(&self, space: &str, id: &str) -> Vec<u8> {
        format!("{}{space}/{id}", self.prefix).into_bytes()
    }

    fn fail(&self) -> impl Fn(etcd_client::Error) -> Error + '_ {
        |e| unreachable_error(&self.location, e)
    }

    /// The id of a key of `space`, if it is one.
    fn id_of(&self, space: &str, key: &[u8]) -> Option<String> {
        let start = format!("{}{space}/", self.prefix);
        let key = std::str::from_utf8(key).ok()?;
        key.strip_prefix(&start).map(str::to_string)
    }
}

impl RequestQueue for EtcdQueue {
    fn submit(&self, id: &str, request: &[u8], ttl: Duration) -> Result<()> {
        let (kv, lease) = (self.kv.clone(), self.lease.clone());
        let key = self.key("q", id);
        // A lease granted twice costs nothing (the spare one ends by itself): retried through an
        // election. The put only where etcd said it was not applied (a second try of one
        // that was would find its own request and say it exists).
        let lease_id = super::retry::retried(&self.runtime, true, || {
            let mut lease = lease.clone();
            async move { lease.grant(lease_seconds(ttl), None).await.map(|l| l.id()) }
        })
        .map_err(self.fail())?;
        let put = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key,
                request.to_vec(),
                Some(PutOptions::new().with_lease(lease_id)),
            )]);
        let taken = super::retry::retried(&self.runtime, false, || {
            let (mut kv, put) = (kv.clone(), put.clone());
            async move { kv.txn(put).await.map(|r| r.succeeded()) }
        });
        if !taken.map_err(self.fail())? {
            return Err(StoreError::RequestExists {
                location: self.location.clone(),
                id: id.to_string(),
            }
            .into());
        }
        Ok(())
    }

    fn answers(
        &self,
        ids: &[String],
        wait: Duration,
    ) -> Result<BTreeMap<String, std::result::Result<Vec<u8>, String>>> {
        let mut found = BTreeMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        // Each answer on its own key: a node reads and watches its own, never every answer
        // kept (a fleet's renewals would make that megabytes per node).
        let outcome = self.runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for id in ids {
                let (key, id) = (self.key("s", id), id.clone());
                let (mut kv, mut watch) = (self.kv.clone(), self.watch.clone());
                tasks.spawn(async move {
                    let read = kv.get(key.clone(), None).await?;
                    if let Some(item) = read.kvs().first() {
                        return Ok(Some((id, bounded(item.value()))));
                    }
                    let revision = read.header().map_or(0, |h| h.revision());
                    let options = WatchOptions::new().with_start_revision(revision + 1);
                    let mut stream = watch.watch(key, Some(options)).await?;
                    while let Some(message) = stream.message().await? {
                        let put = message
                            .events()
                            .iter()
                            .filter(|e| e.event_type() == EventType::Put)
                            .find_map(|e| e.kv());
                        if let Some(item) = put {
                            return Ok(Some((id, bounded(item.value()))));
                        }
                    }
                    Ok::<_, etcd_client::Error>(None)
                });
            }
            let waiting = async {
                while let Some(joined) = tasks.join_next().await {
                    if let Ok(answer) = joined
                        && let Some((id, value)) = answer?
                    {
                        found.insert(id, value);
                    }
                }
                Ok::<_, etcd_client::Error>(())
            };
            let done = match tokio::time::timeout(wait, waiting).await {
                Ok(done) => done,
                Err(_) => Ok(()),
            };
            tasks.abort_all();
            done
        });
        outcome.map_err(self.fail())?;
        Ok(found)
    }

    fn pending(&self, max: usize) -> Result<(Vec<Queued>, i64)> {
        let start = self.key("q", "");
        let end = super::txn::range_end(&start);
        let kv = self.kv.clone();
        let mut queued: Vec<Queued> = Vec::new();
        let mut revision = None;
        let mut after = 0;
        // The oldest first (by when each was put), values and all, in reads of at most
        // VALUE_PAGE records: etcd keeps no value over 1.5 MiB, so no read is larger than the
        // client takes (64 MiB), whatever the queue holds. All at the first read's revision.
        while queued.len() < max {
            let limit = VALUE_PAGE.min(max - queued.len());
            let mut options = GetOptions::new()
                .with_range(end.clone())
                .with_sort(SortTarget::Create, SortOrder::Ascend)
                .with_limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .with_min_create_revision(after + 1);
            if let Some(revision) = revision {
                options = options.with_revision(revision);
            }
            let read = super::retry::retried(&self.runtime, true, || {
                let (mut kv, start, options) = (kv.clone(), start.clone(), options.clone());
                async move { kv.get(start, Some(options)).await }
            })
            .map_err(self.fail())?;
            revision.get_or_insert(read.header().map_or(0, |h| h.revision()));
            for item in read.kvs() {
                after = after.max(item.create_revision());
                let Some(id) = self.id_of("q", item.key()) else {
                    continue;
                };
                queued.push(Queued {
                    location: format!("{}q/{id}", self.location_prefix()),
                    id,
                    value: bounded(item.value()),
                    revision: item.mod_revision(),
                });
            }
            if read.kvs().len() < limit {
                break;
            }
        }
        Ok((queued, revision.unwrap_or(0)))
    }

    fn answer(&self, answers: &[(String, i64, Vec<u8>)], ttl: Duration) -> Result<Vec<bool>> {
        if answers.is_empty() {
            return Ok(Vec::new());
        }
        let (mut kv, mut lease) = (self.kv.clone(), self.lease.clone());
        let done = self.runtime.block_on(async move {
            // One lease for the page's answers: they end together.
            let lease_id = lease.grant(lease_seconds(ttl), None).await?.id();
            let mut delivered = Vec::with_capacity(answers.len());
            for (id, revision, answer) in answers {
                let request = self.key("q", id);
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        request.clone(),
                        CompareOp::Equal,
                        *revision,
                    )])
                    .and_then([
                        TxnOp::delete(request, None),
                        TxnOp::put(
                            self.key("s", id),
                            answer.clone(),
                            Some(PutOptions::new().with_lease(lease_id)),
                        ),
                    ]);
                delivered.push(kv.txn(txn).await?.succeeded());
            }
            if !delivered.contains(&true) {
                let _ = lease.revoke(lease_id).await;
            }
            Ok::<_, etcd_client::Error>(delivered)
        });
        done.map_err(self.fail())
    }

    fn withdraw(&self, id: &str) -> Result<()> {
        let mut kv = self.kv.clone();
        let key = self.key("q", id);
        self.runtime
            .block_on(kv.delete(key, None))
            .map_err(self.fail())?;
        Ok(())
    }

    fn answered(&self) -> Result<std::collections::BTreeSet<String>> {
        let kv = self.kv.clone();
        let start = self.key("s", "");
        let options = GetOptions::new()
            .with_range(super::txn::range_end(&start))
            .with_keys_only();
        let read = super::retry::retried(&self.runtime, true, || {
            let (mut kv, start, options) = (kv.clone(), start.clone(), options.clone());
            async move { kv.get(start, Some(options)).await }
        })
        .map_err(self.fail())?;
        Ok(read
            .kvs()
            .iter()
            .filter_map(|item| self.id_of("s", item.key()))
            .collect())
    }

    fn wait_for_requests(&self, revision: i64, wait: Duration) -> Result<()> {
        let start = self.key("q", "");
        let mut watch = self.watch.clone();
        let outcome = self.runtime.block_on(async {
            let options = WatchOptions::new()
                .with_range(super::txn::range_end(&start))
                .with_start_revision(revision + 1);
            let mut stream = watch.watch(start, Some(options)).await?;
            let waiting = async {
                while let Some(message) = stream.message().await? {
                    if message
                        .events()
                        .iter()
                        .any(|e| e.event_type() == EventType::Put)
                    {
                        break;
                    }
                }
                Ok::<_, etcd_client::Error>(())
            };
            match tokio::time::timeout(wait, waiting).await {
                Ok(done) => done,
                Err(_) => Ok(()),
            }
        });
        outcome.map_err(self.fail())
    }
}

impl EtcdQueue {
    /// `etcd://HOST:PORT/PREFIX/`, the start of every key's location in messages.
    fn location_prefix(&self) -> String {
        let mut location = self.location.clone();
        if !location.ends_with('/') {
            location.push('/');
        }
        location
    }
}

//! Waiting for an etcd state to change (see [`crate::storage::watch`]): one watch on the
//! prefix from the revision last seen, woken only by the keys an admin changes.

use std::time::Duration;

use etcd_client::{GetOptions, KvClient, WatchClient, WatchOptions};

use super::unreachable_error;
use crate::error::Result;
use crate::storage::watch::ChangeWatch;

pub(super) struct EtcdWatch {
    pub(super) runtime: std::sync::Arc<tokio::runtime::Runtime>,
    pub(super) kv: KvClient,
    pub(super) watch: WatchClient,
    pub(super) prefix: String,
    pub(super) location: String,
}

/// True for a key (under the prefix) that an agent applies: a blob but what a sync records of
/// what it installed, a user, a deletion marker. Not the audit log, not signing requests or
/// their answers, not server locks.
fn is_change(key: &[u8]) -> bool {
    (key.starts_with(b"k/") && !key.starts_with(b"k/issued/"))
        || key.starts_with(b"u/")
        || key.starts_with(b"d/")
}

impl ChangeWatch for EtcdWatch {
    fn marker(&self) -> Result<u64> {
        let mut kv = self.kv.clone();
        let prefix = self.prefix.clone();
        let read = self.runtime.block_on(async move {
            kv.get(
                prefix,
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_keys_only()
                        .with_limit(1),
                ),
            )
            .await
        });
        let read = read.map_err(|e| unreachable_error(&self.location, e))?;
        Ok(read
            .header()
            .map_or(0, |h| u64::try_from(h.revision()).unwrap_or(0)))
    }

    fn wait(&self, seen: u64, wait: Duration) -> Result<bool> {
        let start = self.prefix.clone();
        let mut watch = self.watch.clone();
        let from = i64::try_from(seen).unwrap_or(i64::MAX).saturating_add(1);
        let prefix_len = self.prefix.len();
        let outcome = self.runtime.block_on(async move {
            let options = WatchOptions::new().with_prefix().with_start_revision(from);
            let mut stream = watch.watch(start, Some(options)).await?;
            let waiting = async {
                while let Some(message) = stream.message().await? {
                    // Compacted past what was seen: whatever happened is not known, so it is
                    // a change.
                    if message.compact_revision() > 0 || message.canceled() {
                        return Ok::<_, etcd_client::Error>(true);
                    }
                    if message.events().iter().any(|e| {
                        e.kv()
                            .is_some_and(|kv| is_change(kv.key().get(prefix_len..).unwrap_or(b"")))
                    }) {
                        return Ok(true);
                    }
                }
                Ok(false)
            };
            match tokio::time::timeout(wait, waiting).await {
                Ok(done) => done,
                Err(_) => Ok(false),
            }
        });
        outcome.map_err(|e| unreachable_error(&self.location, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_what_an_admin_changes_wakes_an_agent() {
        for key in [
            "k/roles/dev.yaml",
            "k/locks.yaml",
            "k/host_ca.yaml",
            "u/alice",
            "d/u/",
        ] {
            assert!(super::is_change(key.as_bytes()), "{key}");
        }
        for key in [
            "k/issued/r1.server.yaml",
            "a/2026-x",
            "q/abc",
            "s/abc",
            "l/r1",
        ] {
            assert!(!super::is_change(key.as_bytes()), "{key}");
        }
    }
}

//! One command's transaction on etcd: the snapshot it reads, what it read (for the commit's
//! comparisons) and what it changes, cut into transactions etcd accepts.

use std::collections::BTreeMap;

use etcd_client::{Compare, CompareOp, TxnOp};

/// The most operations (or comparisons) in one transaction: etcd's default `--max-txn-ops`.
pub(super) const MAX_TXN_OPS: usize = 128;

/// The most bytes of values sent in one transaction, under etcd's 1.5 MiB request limit.
const MAX_TXN_BYTES: usize = 1024 * 1024;

/// One command's reads and buffered changes, until it commits or rolls back.
#[derive(Default)]
pub(super) struct Tx {
    /// What every read sees; taken by the first read.
    pub(super) snapshot: Option<Snapshot>,
    /// Keys read one at a time, with the revision of their last change (0: absent).
    pub(super) keys: BTreeMap<Vec<u8>, i64>,
    /// Ranges read whole, by their start: their end, and their deletion marker's revision.
    pub(super) ranges: BTreeMap<Vec<u8>, (Vec<u8>, i64)>,
    /// Changes: a new value, or `None` to delete.
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Audit records to add, in order.
    pub(super) records: Vec<Vec<u8>>,
}

/// A value, and the revision of its last change.
pub(super) type Versioned = (Vec<u8>, i64);

/// The revision a transaction reads at, and the blobs and deletion markers as they were then.
#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) revision: i64,
    /// `k/…` and `d/…` keys.
    pub(super) small: BTreeMap<Vec<u8>, Versioned>,
    /// False when there were more than [`PREFETCH`](super::PREFETCH) of either: a key not in
    /// `small` may then exist.
    pub(super) complete: bool,
    /// The prefix holds keys of rctl's first etcd layout (`m/NAME` pointers).
    pub(super) earlier_layout: bool,
    /// Keys of the per-registration folders read so far at the snapshot's revision (`None`:
    /// absent), which the first request leaves out.
    pub(super) fetched: BTreeMap<Vec<u8>, Option<Versioned>>,
    /// Ranges of those folders read whole, by their start: a key of one is in `fetched` or
    /// absent.
    pub(super) fetched_ranges: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Snapshot {
    /// Whether a range read whole holds `key`'s place.
    pub(super) fn fetched_whole(&self, key: &[u8]) -> bool {
        self.fetched_ranges
            .range(..=key.to_vec())
            .next_back()
            .is_some_and(|(start, end)| key.starts_with(start) && key < end.as_slice())
    }
}

impl Tx {
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.records.is_empty()
    }

    fn covered(&self, key: &[u8]) -> bool {
        self.ranges
            .range(..=key.to_vec())
            .next_back()
            .is_some_and(|(_, (end, _))| key < end.as_slice())
    }

    /// The transaction's comparisons: every key read is as it was, and every range read whole
    /// has no key changed after the read and no key deleted. When the keys read one at a time
    /// are more than one etcd transaction may compare, the folders they are in are compared
    /// whole instead (no key in them changed or deleted since the snapshot): stricter, never
    /// looser, and as many comparisons as folders, whatever the state's size.
    pub(super) fn comparisons(&self, prefix: &str) -> Vec<Compare> {
        let exact = self.exact_comparisons(prefix);
        if exact.len() <= MAX_TXN_OPS {
            return exact;
        }
        self.folder_comparisons(prefix)
    }

    /// Each range read, and each folder a key read one at a time is in, unchanged since the
    /// snapshot (its keys, and its deletion marker).
    fn folder_comparisons(&self, prefix: &str) -> Vec<Compare> {
        let revision = self.snapshot.as_ref().map_or(0, |s| s.revision);
        let mut folders: std::collections::BTreeSet<Vec<u8>> = self
            .keys
            .keys()
            .filter(|key| !self.covered(key))
            .map(|key| {
                let cut = key
                    .iter()
                    .rposition(|b| *b == b'/')
                    .map_or(key.len(), |i| i + 1);
                key[..cut].to_vec()
            })
            .collect();
        folders.extend(self.ranges.keys().cloned());
        let unchanged = |key: Vec<u8>, end: Option<Vec<u8>>| {
            let compare = Compare::mod_revision(key, CompareOp::Less, revision + 1);
            match end {
                Some(end) => compare.with_range(end),
                None => compare,
            }
        };
        let mut compares = Vec::new();
        for folder in folders {
            compares.push(unchanged(marker(prefix, &folder), None));
            let end = range_end(&folder);
            compares.push(unchanged(folder, Some(end)));
        }
        compares
    }

    fn exact_comparisons(&self, prefix: &str) -> Vec<Compare> {
        let mut compares = Vec::new();
        let revision = self.snapshot.as_ref().map_or(0, |s| s.revision);
        for (start, (end, deleted)) in &self.ranges {
            compares.push(
                Compare::mod_revision(start.clone(), CompareOp::Less, revision + 1)
                    .with_range(end.clone()),
            );
            compares.push(Compare::mod_revision(
                marker(prefix, start),
                CompareOp::Equal,
                *deleted,
            ));
        }
        for (key, changed) in &self.keys {
            if !self.covered(key) {
                compares.push(Compare::mod_revision(
                    key.clone(),
                    CompareOp::Equal,
                    *changed,
                ));
            }
        }
        compares
    }

    /// The transaction's changes as etcd operations, with their sizes.
    pub(super) fn into_operations(self, prefix: &str) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut markers = std::collections::BTreeSet::new();
        for (key, change) in self.writes {
            match change {
                Some(value) => {
                    let size = key.len() + value.len();
                    ops.push(Op::new(TxnOp::put(key, value, None), size));
                }
                None => {
                    markers.extend(markers_of(prefix, &key));
                    let size = key.len();
                    ops.push(Op::new(TxnOp::delete(key, None), size));
                }
            }
        }
        for marker in markers {
            let size = marker.len();
            ops.push(Op::new(TxnOp::put(marker, Vec::new(), None), size));
        }
        // Time first, so the log reads in order; then a random tag and the place in this
        // commit, so records of two hosts at the same instant never share a key.
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let tag = {
            use rand::Rng;
            rand::rng().next_u32()
        };
        for (i, record) in self.records.into_iter().enumerate() {
            let key = format!("{prefix}a/{stamp:020}-{tag:08x}-{i:08}").into_bytes();
            let size = key.len() + record.len();
            ops.push(Op {
                op: TxnOp::put(key.clone(), record, None),
                size,
                witness: Some(key),
            });
        }
        ops
    }
}

/// The first key after every key that starts with `start`.
pub(super) fn range_end(start: &[u8]) -> Vec<u8> {
    let mut end = start.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The deletion marker of the range of keys starting with `start` (under `prefix`).
pub(super) fn marker(prefix: &str, start: &[u8]) -> Vec<u8> {
    let mut marker = format!("{prefix}d/").into_bytes();
    marker.extend_from_slice(&start[prefix.len()..]);
    marker
}

/// The deletion markers of a key: one for each range (folder) it is in.
fn markers_of(prefix: &str, key: &[u8]) -> Vec<Vec<u8>> {
    let rest = &key[prefix.len()..];
    rest.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(|(i, _)| marker(prefix, &key[..prefix.len() + i + 1]))
        .collect()
}

/// One operation of a commit: its size, and its key when it puts an audit record (a key no
/// other commit writes: its presence tells whether a transaction whose answer was lost was
/// applied).
pub(super) struct Op {
    pub(super) op: TxnOp,
    pub(super) size: usize,
    pub(super) witness: Option<Vec<u8>>,
}

impl Op {
    fn new(op: TxnOp, size: usize) -> Op {
        Op {
            op,
            size,
            witness: None,
        }
    }
}

/// Transactions of at most [`MAX_TXN_OPS`] operations and [`MAX_TXN_BYTES`] bytes, each with
/// its witness, if it holds one.
pub(super) fn batches(ops: Vec<Op>) -> Vec<(Vec<TxnOp>, Option<Vec<u8>>)> {
    let mut batches: Vec<(Vec<TxnOp>, Option<Vec<u8>>)> = Vec::new();
    let mut bytes = 0;
    for Op { op, size, witness } in ops {
        match batches.last_mut() {
            Some((batch, w)) if batch.len() < MAX_TXN_OPS && bytes + size <= MAX_TXN_BYTES => {
                bytes += size;
                batch.push(op);
                if w.is_none() {
                    *w = witness;
                }
            }
            _ => {
                bytes = size;
                batches.push((vec![op], witness));
            }
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_ends_after_every_key_with_its_start() {
        assert_eq!(range_end(b"/p/u/"), b"/p/u0");
        assert_eq!(range_end(b"a\xff\xff"), b"b");
        assert_eq!(range_end(b"\xff"), b"\0");
        let end = range_end(b"/p/k/roles/");
        assert!(b"/p/k/roles/zzz".as_slice() < end.as_slice());
        assert!(b"/p/k/roles0".as_slice() >= end.as_slice());
    }

    #[test]
    fn a_deletion_marks_every_folder_of_the_key() {
        assert_eq!(
            markers_of("/p/", b"/p/k/roles/ops.yaml"),
            [b"/p/d/k/".to_vec(), b"/p/d/k/roles/".to_vec()]
        );
        assert_eq!(markers_of("/p/", b"/p/u/alice"), [b"/p/d/u/".to_vec()]);
        // What a listing of the folder compares.
        assert_eq!(marker("/p/", b"/p/k/roles/"), b"/p/d/k/roles/");
    }

    #[test]
    fn a_key_read_within_a_range_read_is_compared_by_the_range() {
        let mut tx = Tx::default();
        tx.ranges
            .insert(b"/p/k/roles/".to_vec(), (range_end(b"/p/k/roles/"), 0));
        assert!(tx.covered(b"/p/k/roles/ops.yaml"));
        assert!(!tx.covered(b"/p/k/settings.yaml"));
        assert!(!tx.covered(b"/p/k/roles"));
        assert!(!tx.covered(b"/p/u/alice"));
    }

    #[test]
    fn keys_past_what_one_transaction_compares_are_compared_by_their_folders() {
        let mut tx = Tx {
            snapshot: Some(Snapshot {
                revision: 7,
                small: BTreeMap::new(),
                complete: true,
                ..Snapshot::default()
            }),
            ..Tx::default()
        };
        for i in 0..100 {
            tx.keys
                .insert(format!("/p/k/issued/s{i}.server.yaml").into_bytes(), 3);
        }
        // Within the limit: one comparison per key.
        assert_eq!(tx.comparisons("/p/").len(), 100);
        for i in 0..300 {
            tx.keys
                .insert(format!("/p/k/servers/s{i}.yaml").into_bytes(), 0);
        }
        tx.keys.insert(b"/p/k/settings.yaml".to_vec(), 5);
        // Past it: each folder (its keys and its deletion marker), whatever the count.
        let compares = tx.comparisons("/p/");
        assert_eq!(compares.len(), 6, "three folders, two comparisons each");
        assert!(compares.len() <= MAX_TXN_OPS);
    }

    #[test]
    fn changes_go_in_transactions_etcd_accepts() {
        let put = |n: usize| Op::new(TxnOp::put(vec![b'k'; 8], vec![0u8; n], None), 8 + n);
        // Many small changes: at most 128 a transaction.
        let sizes: Vec<usize> = batches((0..300).map(|_| put(10)).collect())
            .iter()
            .map(|(batch, _)| batch.len())
            .collect();
        assert_eq!(sizes, [128, 128, 44]);
        // Large ones: at most 1 MiB a transaction.
        let big = batches((0..5).map(|_| put(400 * 1024)).collect());
        assert_eq!(
            big.iter().map(|(b, _)| b.len()).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert!(batches(Vec::new()).is_empty());
    }
}

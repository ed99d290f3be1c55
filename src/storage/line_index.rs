//! Which keys the lines of a keyed blob hold (one user a line of `users.jsonl`), kept beside it
//! in a directory store (`.users.jsonl.keys`), so that adding a line checks its key is new
//! without reading the blob: `users add` costs the same with 1,000 users or 1,000,000.
//!
//! The index is a cache, never the truth. Its header names the blob's length and modification
//! time it describes; when the blob is not that (changed by hand, rewritten, or an index update
//! lost in a crash), the index is built again from the blob. A key it holds may be a hash
//! collision, so a hit is confirmed by reading the blob; a miss is certain. A blob it cannot
//! index (a line without a key, a key twice, a last line cut short) gets none: the caller reads
//! the blob, as without an index, and reports what is wrong.
//!
//! Written by hand: it is an open-addressing table of 64-bit key hashes in one file, read with
//! a few `pread`s. An embedded database (redb, sled) would do it with a second storage format
//! and a crate larger than this module for one lookup.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RCTLKEY1";
/// Magic, blob length, blob mtime (seconds, nanoseconds), slots, keys.
const HEADER: u64 = 48;
const SLOT: u64 = 8;
/// Slots at most half full.
const MIN_SLOTS: u64 = 1024;

/// What the index says of a key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No line holds it.
    Absent,
    /// A line holds it (confirmed in the blob).
    Present,
    /// No index could be had: read the blob.
    Unknown,
}

/// The index file of `blob`.
pub(crate) fn index_path(blob: &Path) -> PathBuf {
    let name = blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    blob.with_file_name(format!(".{name}.keys"))
}

/// The blob's length and modification time, as the header keeps them.
fn stamp(meta: &fs::Metadata) -> (u64, i64, i64) {
    (meta.len(), meta.mtime(), meta.mtime_nsec())
}

/// The slot value of a key: 64 bits of its SHA-256, never 0 (an empty slot).
fn hash(key: &[u8]) -> u64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_le_bytes(first) | 1
}

/// An index built in memory by a [`lookup`] (none was on disk for the blob as it is), for
/// [`note_append`] to save once the blob changes: a lookup alone writes nothing, so a refused
/// command leaves the state as it was.
pub(crate) struct Built {
    described: (u64, i64, i64),
    table: Table,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Built({} keys)", self.table.keys)
    }
}

/// Whether a line of `blob` holds `key`. `line_key` reads the key of a line. Builds the index
/// in memory when there is none for the blob as it is (returned, for [`note_append`]).
pub(crate) fn lookup(
    blob: &Path,
    key: &str,
    line_key: fn(&[u8]) -> Result<String, String>,
) -> io::Result<(Lookup, Option<Built>)> {
    let meta = match fs::metadata(blob) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Lookup::Absent, None)),
        Err(e) => return Err(e),
    };
    let wanted = hash(key.as_bytes());
    let (found, built) = match Index::open(blob, stamp(&meta))? {
        Some(index) => (index.contains(wanted)?, None),
        None => {
            let data = fs::read(blob)?;
            let Some(table) = Table::build(&data, line_key) else {
                return Ok((Lookup::Unknown, None));
            };
            let found = table.contains(wanted);
            let built = Built {
                described: stamp(&meta),
                table,
            };
            (found, Some(built))
        }
    };
    if !found {
        return Ok((Lookup::Absent, built));
    }
    // A hit may be another key with the same 64 bits: the blob tells.
    let data = fs::read(blob)?;
    let held = data
        .split(|b| *b == b'\n')
        .any(|line| line_key(line).is_ok_and(|k| k == key));
    let lookup = if held {
        Lookup::Present
    } else {
        Lookup::Absent
    };
    Ok((lookup, built))
}

/// After `data` (whole lines) was appended to `blob`, whose stamp was `before`: the keys are
/// added to the index that described the blob before the append (on disk, or `built` by the
/// lookup before it), which then describes it after. Any other index is left to be built again.
pub(crate) fn note_append(
    blob: &Path,
    before: (u64, i64, i64),
    data: &[u8],
    line_key: fn(&[u8]) -> Result<String, String>,
    built: Option<Built>,
) -> io::Result<()> {
    let mut keys = Vec::new();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match line_key(line) {
            Ok(key) => keys.push(hash(key.as_bytes())),
            // Nothing to index it by: the index no longer describes the blob (its stamp).
            Err(_) => return Ok(()),
        }
    }
    if let Some(mut index) = Index::open(blob, before)? {
        if (index.keys + keys.len() as u64) * 2 > index.slots {
            // Full: built again, larger, at the next lookup.
            return index.forget();
        }
        for key in keys {
            index.insert(key)?;
        }
        // The slots reach the disk before the header says they describe the blob: a crash
        // leaves an index for the old blob (built again), never one that misses a key.
        index.file.sync_data()?;
        let after = stamp(&fs::metadata(blob)?);
        return index.write_header(after);
    }
    match built {
        Some(Built {
            described,
            mut table,
        }) if described == before => {
            for key in keys {
                table.insert(key);
            }
            let after = stamp(&fs::metadata(blob)?);
            table
                .save(&index_path(blob), after)
                .map_err(io::Error::other)
        }
        _ => Ok(()),
    }
}

/// After `blob` was replaced by `data`: its index built from `data` and saved, so that the
/// next lookup after a rewrite (a user removed) does not build it; none when `data` cannot be
/// indexed.
pub(crate) fn note_rewrite(
    blob: &Path,
    data: &[u8],
    line_key: fn(&[u8]) -> Result<String, String>,
) -> io::Result<()> {
    let path = index_path(blob);
    match Table::build(data, line_key) {
        Some(table) => {
            let described = stamp(&fs::metadata(blob)?);
            table.save(&path, described).map_err(io::Error::other)
        }
        None => match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// The stamp of `blob` now (`None`: no blob yet, so no index).
#[cfg(test)]
fn stamp_of(blob: &Path) -> Option<(u64, i64, i64)> {
    fs::metadata(blob).ok().map(|m| stamp(&m))
}

/// An index file that describes the blob as it is.
struct Index {
    file: File,
    slots: u64,
    keys: u64,
    path: PathBuf,
}

impl Index {
    /// The index of `blob`, if there is one for the blob with this stamp.
    fn open(blob: &Path, current: (u64, i64, i64)) -> io::Result<Option<Index>> {
        let path = index_path(blob);
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // A link or anything else in its place is no index.
            Err(_) => return Ok(None),
        };
        let meta = file.metadata()?;
        let mut header = [0u8; HEADER as usize];
        if !meta.is_file() || file.read_exact_at(&mut header, 0).is_err() {
            return Ok(None);
        }
        let word = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
        let described = (word(8), word(16) as i64, word(24) as i64);
        let (slots, keys) = (word(32), word(40));
        let sound = &header[..8] == MAGIC
            && described == current
            && slots.is_power_of_two()
            && meta.len() == HEADER + slots * SLOT;
        Ok(sound.then_some(Index {
            file,
            slots,
            keys,
            path,
        }))
    }

    fn contains(&self, wanted: u64) -> io::Result<bool> {
        let mut at = wanted & (self.slots - 1);
        loop {
            let mut slot = [0u8; 8];
            self.file.read_exact_at(&mut slot, HEADER + at * SLOT)?;
            match u64::from_le_bytes(slot) {
                0 => return Ok(false),
                h if h == wanted => return Ok(true),
                _ => at = (at + 1) & (self.slots - 1),
            }
        }
    }

    fn insert(&mut self, key: u64) -> io::Result<()> {
        let mut at = key & (self.slots - 1);
        loop {
            let mut slot = [0u8; 8];
            self.file.read_exact_at(&mut slot, HEADER + at * SLOT)?;
            match u64::from_le_bytes(slot) {
                0 => {
                    self.file
                        .write_all_at(&key.to_le_bytes(), HEADER + at * SLOT)?;
                    self.keys += 1;
                    return Ok(());
                }
                // A key added again (its line appended twice): counted once.
                h if h == key => return Ok(()),
                _ => at = (at + 1) & (self.slots - 1),
            }
        }
    }

    fn write_header(&self, described: (u64, i64, i64)) -> io::Result<()> {
        self.file
            .write_all_at(&header(described, self.slots, self.keys), 0)
    }

    /// Removes the index: the next lookup builds it again.
    fn forget(self) -> io::Result<()> {
        drop(self.file);
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn header(described: (u64, i64, i64), slots: u64, keys: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&described.0.to_le_bytes());
    out.extend_from_slice(&(described.1 as u64).to_le_bytes());
    out.extend_from_slice(&(described.2 as u64).to_le_bytes());
    out.extend_from_slice(&slots.to_le_bytes());
    out.extend_from_slice(&keys.to_le_bytes());
    out
}

/// A table built in memory from a blob.
struct Table {
    slots: Vec<u64>,
    keys: u64,
}

impl Table {
    /// `None` when the blob cannot be indexed: a line without a key, a key twice, or a last
    /// line without its newline (an append cut short, which the caller mends).
    fn build(data: &[u8], line_key: fn(&[u8]) -> Result<String, String>) -> Option<Table> {
        if data.last().is_some_and(|b| *b != b'\n') {
            return None;
        }
        let lines = data.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        let count = lines.clone().count() as u64;
        let size = (count * 2).next_power_of_two().max(MIN_SLOTS);
        let mut table = Table {
            slots: vec![0; size as usize],
            keys: 0,
        };
        for line in lines {
            let key = hash(line_key(line).ok()?.as_bytes());
            // The same 64 bits twice: a key twice (or a collision), left to the caller.
            if !table.place(key) {
                return None;
            }
        }
        Some(table)
    }

    /// Adds a key, doubling the slots first when they would be over half full.
    fn insert(&mut self, key: u64) {
        if (self.keys + 1) * 2 > self.slots.len() as u64 {
            let old = std::mem::take(&mut self.slots);
            self.slots = vec![0; old.len() * 2];
            self.keys = 0;
            for key in old.into_iter().filter(|k| *k != 0) {
                self.place(key);
            }
        }
        // A key added again (its line appended twice) is counted once.
        self.place(key);
    }

    /// Puts a key in its slot; false when it was there already.
    fn place(&mut self, key: u64) -> bool {
        let mask = self.slots.len() as u64 - 1;
        let mut at = key & mask;
        loop {
            match self.slots[at as usize] {
                0 => {
                    self.slots[at as usize] = key;
                    self.keys += 1;
                    return true;
                }
                h if h == key => return false,
                _ => at = (at + 1) & mask,
            }
        }
    }

    fn contains(&self, wanted: u64) -> bool {
        let mask = self.slots.len() as u64 - 1;
        let mut at = wanted & mask;
        loop {
            match self.slots[at as usize] {
                0 => return false,
                h if h == wanted => return true,
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Written beside the blob through a temp file and a rename (mode 0600, as the state's
    /// files): a reader sees the old index or the new one.
    fn save(&self, path: &Path, described: (u64, i64, i64)) -> crate::error::Result<()> {
        let mut bytes = header(described, self.slots.len() as u64, self.keys);
        bytes.reserve(self.slots.len() * 8);
        for slot in &self.slots {
            bytes.extend_from_slice(&slot.to_le_bytes());
        }
        crate::output::atomic::write_atomic(
            path,
            &bytes,
            crate::output::atomic::Visibility::Secret,
            true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(line: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
        text.split(' ')
            .next()
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "no key".to_string())
    }

    /// Appends `line` as the store does: a lookup first, then the append, then the index.
    fn add(blob: &Path, line: &str) -> Lookup {
        let name = key(line.trim_end().as_bytes()).unwrap();
        let (found, built) = lookup(blob, &name, key).unwrap();
        let before = stamp_of(blob).unwrap_or((0, 0, 0));
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(blob)
            .unwrap();
        std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
        note_append(blob, before, line.as_bytes(), key, built).unwrap();
        found
    }

    #[test]
    fn lookups_follow_appends_and_rebuild_after_other_changes() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("users.jsonl");
        assert_eq!(lookup(&blob, "a", key).unwrap().0, Lookup::Absent);
        fs::write(&blob, "a 1\nb 2\n").unwrap();
        assert_eq!(lookup(&blob, "a", key).unwrap().0, Lookup::Present);
        assert_eq!(lookup(&blob, "c", key).unwrap().0, Lookup::Absent);
        // A lookup alone writes nothing; the append after it saves the index it built.
        assert!(!index_path(&blob).exists());
        assert_eq!(add(&blob, "c 3\n"), Lookup::Absent);
        let index = Index::open(&blob, stamp_of(&blob).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(index.keys, 3);
        // Later appends update it in place.
        assert_eq!(add(&blob, "d 4\n"), Lookup::Absent);
        let index = Index::open(&blob, stamp_of(&blob).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(index.keys, 4);
        assert_eq!(lookup(&blob, "d", key).unwrap().0, Lookup::Present);
        assert!(lookup(&blob, "d", key).unwrap().1.is_none());
        // A rewrite through note_rewrite leaves an index of the new file.
        fs::write(&blob, "b 2\ne 5\n").unwrap();
        note_rewrite(&blob, b"b 2\ne 5\n", key).unwrap();
        let index = Index::open(&blob, stamp_of(&blob).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(index.keys, 2);
        // A change the index did not see: built again.
        fs::write(&blob, "b 2\n").unwrap();
        assert_eq!(lookup(&blob, "a", key).unwrap().0, Lookup::Absent);
        assert_eq!(lookup(&blob, "c", key).unwrap().0, Lookup::Absent);
        assert_eq!(lookup(&blob, "b", key).unwrap().0, Lookup::Present);
        // What cannot be indexed is left to the caller.
        fs::write(&blob, "b 2\nb 3\n").unwrap();
        assert_eq!(lookup(&blob, "x", key).unwrap().0, Lookup::Unknown);
        fs::write(&blob, "b 2\nc 3").unwrap();
        assert_eq!(lookup(&blob, "x", key).unwrap().0, Lookup::Unknown);
        fs::write(&blob, "b 2\n\n").unwrap();
        assert_eq!(lookup(&blob, "b", key).unwrap().0, Lookup::Present);
    }

    #[test]
    fn a_full_index_is_dropped_and_built_larger() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("u");
        let lines: String = (0..511).map(|i| format!("k{i} x\n")).collect();
        fs::write(&blob, &lines).unwrap();
        assert_eq!(add(&blob, "k511 x\n"), Lookup::Absent);
        let index = Index::open(&blob, stamp_of(&blob).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!((index.slots, index.keys), (1024, 512));
        // One more than half: dropped, built larger by the next lookup, saved by its append.
        assert_eq!(add(&blob, "k512 x\n"), Lookup::Absent);
        assert!(!index_path(&blob).exists());
        assert_eq!(add(&blob, "k513 x\n"), Lookup::Absent);
        let index = Index::open(&blob, stamp_of(&blob).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!((index.slots, index.keys), (2048, 514));
        assert_eq!(lookup(&blob, "k512", key).unwrap().0, Lookup::Present);
    }
}

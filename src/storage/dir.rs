//! The state directory: the [`Store`] kept as files in a directory.
//!
//! Each blob is a file (mode 0600) in a directory (mode 0700); each write a temp file in the
//! same directory, fsync, rename, fsync of the directory, all under an exclusive `flock` on
//! `.lock` that is held for as long as the store is open, so that a whole read-modify-write of
//! one rctl command is one step for every other rctl process.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Invalid, Result};
use crate::output::atomic::{TMP_MARK, Visibility, libc_o_nofollow, sync_parent, write_atomic};
use crate::storage::{Layout, ServerLocks, Store};

/// A directory's server locks: `.locks/NAME.lock` in the state directory, `flock`ed (the
/// kernel releases a killed holder's lock).
struct DirLocks {
    folder: PathBuf,
}

impl ServerLocks for DirLocks {
    fn lock(&self, name: &str, wait: std::time::Duration) -> Result<Box<dyn Send>> {
        use std::fs::DirBuilder;
        if let Err(e) = DirBuilder::new().mode(0o700).create(&self.folder)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(Error::io(&self.folder, e));
        }
        let path = self.folder.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc_o_nofollow())
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let end = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(file)),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < end => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::ServerBusy {
                        name: name.to_string(),
                        waited: wait,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }
}

/// Options for opening a [`DirStore`].
#[derive(Clone, Debug, Default)]
pub struct DirOptions {
    /// Accept a directory or files that group or others can read (off by default).
    pub insecure_permissions: bool,
}

/// The state directory: one file per blob, an exclusive lock while open.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    // Held for the life of the store; the lock is released when the file is closed. None for
    // a read-only store whose lock file cannot be opened (a read-only mount: no writer either).
    _lock: Option<File>,
    read_only: bool,
    /// Which blob is keyed by line, kept with an index of its keys (see
    /// [`line_index`](super::line_index)).
    layout: Option<Layout>,
    /// An index a lookup built in memory, saved by the append that follows it.
    built: std::sync::Mutex<Option<super::line_index::Built>>,
}

const LOCK_FILE: &str = ".lock";

impl DirStore {
    /// Opens (creating with mode 0700 when missing) and locks a state directory. Blocks while
    /// another rctl holds the lock. Stale temp files of a killed rctl are removed.
    pub fn open(root: &Path, options: &DirOptions) -> Result<DirStore> {
        match fs::metadata(root) {
            Ok(meta) if !meta.is_dir() => {
                return Err(Invalid::StateNotDirectory {
                    path: root.to_path_buf(),
                }
                .into());
            }
            Ok(meta) => check_private(root, meta.mode(), 0o700, options)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(root)
                    .map_err(|e| Error::io(root, e))?;
                // The umask may have narrowed 0700 further; never widened it. Set it exactly.
                fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                    .map_err(|e| Error::io(root, e))?;
            }
            Err(e) => return Err(Error::io(root, e)),
        }
        let lock_path = root.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let store = DirStore {
            root: root.to_path_buf(),
            _lock: Some(lock),
            read_only: false,
            layout: None,
            built: Default::default(),
        };
        store.remove_stale_temp_files(root)?;
        Ok(store)
    }

    /// Opens a state directory for reading: a shared lock (many readers, no writer while they
    /// read), nothing created, every change refused. Works on a read-only mount; a directory
    /// that does not exist reads as empty.
    pub fn open_read_only(root: &Path, options: &DirOptions) -> Result<DirStore> {
        let lock = match fs::metadata(root) {
            Ok(meta) if !meta.is_dir() => {
                return Err(Invalid::StateNotDirectory {
                    path: root.to_path_buf(),
                }
                .into());
            }
            Ok(meta) => {
                check_private(root, meta.mode(), 0o700, options)?;
                let lock_path = root.join(LOCK_FILE);
                match OpenOptions::new()
                    .read(true)
                    .custom_flags(libc_o_nofollow())
                    .open(&lock_path)
                {
                    Ok(file) => {
                        file.lock_shared().map_err(|e| Error::io(&lock_path, e))?;
                        Some(file)
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(Error::io(lock_path, e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(root, e)),
        };
        Ok(DirStore {
            root: root.to_path_buf(),
            _lock: lock,
            read_only: true,
            layout: None,
            built: Default::default(),
        })
    }

    /// Names the blob whose lines are keyed (`users.jsonl`): it gets an index of its keys, so
    /// that adding a line does not read the blob.
    pub fn with_layout(mut self, layout: Layout) -> DirStore {
        self.layout = Some(layout);
        self
    }

    /// The layout, when `name` is its keyed blob.
    fn keyed(&self, name: &str) -> Option<Layout> {
        self.layout.filter(|l| l.keyed == name)
    }

    fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            return Err(Invalid::StateReadOnly {
                path: self.root.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks that a blob holding secrets is private to its owner.
    pub fn check_secret_file(&self, name: &str, options: &DirOptions) -> Result<()> {
        let path = self.locate(name);
        match fs::metadata(&path) {
            Ok(meta) => check_private(&path, meta.mode(), 0o600, options),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn remove_stale_temp_files(&self, dir: &Path) -> Result<()> {
        // Only this process can be writing now (we hold the lock), so any temp file is debris of
        // a killed rctl and was never the real data.
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if name.contains(TMP_MARK) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            } else if entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir()
                && !name.starts_with('.')
            {
                self.remove_stale_temp_files(&path)?;
            }
        }
        Ok(())
    }

    fn path_of(&self, name: &str) -> Result<PathBuf> {
        let valid = !name.is_empty()
            && name.split('/').all(|part| {
                !part.is_empty() && part != "." && part != ".." && !part.starts_with('.')
            });
        if !valid {
            return Err(Invalid::BlobName {
                name: name.to_string(),
            }
            .into());
        }
        Ok(self.root.join(name))
    }
}

impl Store for DirStore {
    fn change_watch(&self) -> Result<Box<dyn super::watch::ChangeWatch>> {
        Ok(Box::new(super::watch::DirWatch {
            root: self.root.clone(),
        }))
    }

    fn server_locks(&self) -> Result<Box<dyn ServerLocks>> {
        Ok(Box::new(DirLocks {
            folder: self.root.join(".locks"),
        }))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(name)?;
        match fs::read(&path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn io::BufRead>>> {
        let path = self.path_of(name)?;
        match File::open(&path) {
            Ok(file) => Ok(Some(Box::new(io::BufReader::with_capacity(
                256 * 1024,
                file,
            )))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        self.refuse_if_read_only()?;
        let path = self.path_of(name)?;
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| Error::io(parent, e))?;
        }
        if self.keyed(name).is_some() {
            // Its index describes the blob replaced: gone first, so that no crash leaves it
            // beside the new blob (its stamp would tell, but never trusted twice).
            let index = super::line_index::index_path(&path);
            if let Err(e) = fs::remove_file(&index)
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(Error::io(index, e));
            }
        }
        write_atomic(&path, data, Visibility::Secret, true)?;
        if let Some(layout) = self.keyed(name) {
            // A cache: one not saved is built by the next lookup.
            let _ = super::line_index::note_rewrite(&path, data, layout.line_key);
        }
        Ok(())
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<u64> {
        self.refuse_if_read_only()?;
        let path = self.path_of(name)?;
        let mut file = OpenOptions::new()
            // Read too: the last byte is read to find a record cut short. Opened for appending
            // alone, that read failed, and every append began with a newline of its own.
            .read(true)
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc_o_nofollow())
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        let before = meta.len();
        let stamp = (meta.len(), meta.mtime(), meta.mtime_nsec());
        // A record cut short by an earlier crash would swallow this one: start on a new line.
        let torn = before > 0 && !ends_with_newline(&mut file, before);
        let written = (if torn { file.write_all(b"\n") } else { Ok(()) })
            .and_then(|()| file.write_all(data))
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            // All or nothing: a full disk must not leave half a record.
            let _ = file.set_len(before);
            let _ = file.sync_data();
            return Err(Error::io(&path, e));
        }
        if let Some(layout) = self.keyed(name) {
            // A cache: an index not brought up to date describes the blob before, and is built
            // again when next needed.
            let built = self.built.lock().ok().and_then(|mut b| b.take());
            let _ = super::line_index::note_append(&path, stamp, data, layout.line_key, built);
        }
        Ok(before)
    }

    fn truncate(&self, name: &str, len: u64) -> Result<()> {
        self.refuse_if_read_only()?;
        let path = self.path_of(name)?;
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc_o_nofollow())
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.set_len(len)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(&path, e))
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.refuse_if_read_only()?;
        let path = self.path_of(name)?;
        match fs::remove_file(&path) {
            Ok(()) => sync_parent(&path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn list(&self, folder: &str) -> Result<Vec<String>> {
        // "" is the top of the state.
        let dir = if folder.is_empty() {
            self.root.clone()
        } else {
            self.path_of(folder)?
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !name.contains(TMP_MARK) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn locate(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn has_line(&self, name: &str, key: &str) -> Option<Result<bool>> {
        let layout = self.keyed(name)?;
        let path = match self.path_of(name) {
            Ok(path) => path,
            Err(e) => return Some(Err(e)),
        };
        use super::line_index::{Lookup, lookup};
        let (found, built) = match lookup(&path, key, layout.line_key) {
            Ok(answer) => answer,
            Err(e) => return Some(Err(Error::io(path, e))),
        };
        if let (Some(built), Ok(mut slot)) = (built, self.built.lock()) {
            *slot = Some(built);
        }
        match found {
            Lookup::Present => Some(Ok(true)),
            Lookup::Absent => Some(Ok(false)),
            Lookup::Unknown => None,
        }
    }
}

fn ends_with_newline(file: &mut File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8; 1];
    file.read_at(&mut last, len - 1)
        .is_ok_and(|n| n == 1 && last[0] == b'\n')
}

/// Refuses a file (a key, a passphrase) that group or others can read, unless the options
/// accept it.
pub fn check_private_file(path: &Path, options: &DirOptions) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    check_private(path, meta.mode(), 0o600, options)
}

fn check_private(path: &Path, mode: u32, want: u32, options: &DirOptions) -> Result<()> {
    if mode & 0o077 != 0 && !options.insecure_permissions {
        return Err(Error::InsecurePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            want,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn creates_a_private_directory_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("state");
        let store = DirStore::open(&root, &DirOptions::default()).unwrap();
        assert_eq!(mode(&root), 0o700);
        store.write("roles/a.yaml", b"x").unwrap();
        assert_eq!(mode(&root.join("roles")), 0o700);
        assert_eq!(mode(&root.join("roles/a.yaml")), 0o600);
        assert_eq!(store.read("roles/a.yaml").unwrap().unwrap(), b"x");
        assert_eq!(store.list("roles").unwrap(), ["a.yaml"]);
        store.remove("roles/a.yaml").unwrap();
        assert!(store.read("roles/a.yaml").unwrap().is_none());
    }

    #[test]
    fn refuses_a_directory_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let err = DirStore::open(tmp.path(), &DirOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InsecurePermissions {
                    mode: 0o755,
                    want: 0o700,
                    ..
                }
            ),
            "{err}"
        );
        let options = DirOptions {
            insecure_permissions: true,
        };
        DirStore::open(tmp.path(), &options).unwrap();
    }

    #[test]
    fn stale_temp_files_are_removed_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("s");
        drop(DirStore::open(&root, &DirOptions::default()).unwrap());
        let stale = root.join(format!(".users.jsonl{TMP_MARK}abc"));
        fs::write(&stale, b"half").unwrap();
        DirStore::open(&root, &DirOptions::default()).unwrap();
        assert!(!stale.exists());
    }

    /// The last byte is read to find a record cut short: opened for appending alone, that read
    /// failed and every append began with a newline of its own (an empty line per record).
    #[test]
    fn appends_add_no_empty_lines_and_mend_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(&dir.path().join("s"), &DirOptions::default()).unwrap();
        store.append("log", b"a\n").unwrap();
        store.append("log", b"b\n").unwrap();
        assert_eq!(store.read("log").unwrap().unwrap(), b"a\nb\n");
        fs::write(dir.path().join("s/log"), b"a\ntor").unwrap();
        store.append("log", b"c\n").unwrap();
        assert_eq!(store.read("log").unwrap().unwrap(), b"a\ntor\nc\n");
    }

    #[test]
    fn no_clobber_write_refuses_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.crt");
        write_atomic(&path, b"one", Visibility::Public, false).unwrap();
        let err = write_atomic(&path, b"two", Visibility::Public, false).unwrap_err();
        assert!(matches!(err, Error::OutputExists(_)));
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(
            tmp.path(),
            &DirOptions {
                insecure_permissions: true,
            },
        )
        .unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../b", ".lock", ""] {
            assert!(store.write(bad, b"x").is_err(), "{bad}");
        }
    }
}

//! One output file replaced atomically: a temp file beside it with its final mode from the
//! start, fsync, rename (or link, which refuses an existing file), fsync of the folder. The
//! replacement keeps the owner and mode of the file it replaces, so a server running as its own
//! user still reads a renewed key. The state directory's own files are written the same way.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The mark in the name of every temp file rctl writes (`.NAME.rctl-tmp-XXXX`).
pub(crate) const TMP_MARK: &str = ".rctl-tmp-";

/// Who may read a blob once written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Visibility {
    /// Owner only (0600): keys, hashes, everything in the state directory.
    Secret,
    /// World-readable (0644): certificates written for a server.
    Public,
    /// Owner and group (0640): a secret a server's group reads (users.acl given to a group).
    GroupSecret,
}

impl Visibility {
    pub(crate) fn mode(self) -> u32 {
        match self {
            Visibility::Secret => 0o600,
            Visibility::Public => 0o644,
            Visibility::GroupSecret => 0o640,
        }
    }
}

/// `O_NOFOLLOW`: open the file itself, never what a symbolic link in its place points to.
pub(crate) const fn libc_o_nofollow() -> i32 {
    libc::O_NOFOLLOW
}

/// Creates a uniquely named temp file beside `path`, with `mode` from the start (never chmod-ed
/// later, so there is no moment at which a key is readable by others).
pub(crate) fn create_temp_beside(path: &Path, mode: u32) -> Result<(PathBuf, File)> {
    use rand::Rng;
    let dir = parent_dir(path).to_path_buf();
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let mut tag = [0u8; 6];
        rand::rng().fill_bytes(&mut tag);
        let tmp = dir.join(format!(".{base}{TMP_MARK}{}", hex::encode(tag)));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
}

/// The temp file of `path` for a writer that holds its folder's lock
/// ([`Anchor::lock`]): one fixed name (`.NAME.rctl-tmp-set`), so no listing of the folder is
/// needed to find what a killed writer left. One left there is removed first: under the lock,
/// nobody else is writing it.
pub(crate) fn create_locked_temp(path: &Path, mode: u32) -> Result<(PathBuf, File)> {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent_dir(path).join(format!(".{base}{TMP_MARK}set"));
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::io(path, e)),
        _ => {}
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc_o_nofollow())
        .open(&tmp)
        .map_err(|e| Error::io(path, e))?;
    Ok((tmp, file))
}

/// Writes `data` to a fresh temp file beside `path` and fsyncs it. The caller renames or links it.
pub(crate) fn write_temp(
    path: &Path,
    data: &[u8],
    visibility: Visibility,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf> {
    let (tmp, file) = write_temp_unsynced(path, data, visibility, owner)?;
    if let Err(e) = file.sync_all() {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(tmp)
}

/// [`write_temp`] without the fsync, for a caller that writes several files and then syncs them
/// all: the first fsync commits the journal with the others' data, so the rest cost little.
/// The file gets `owner` (uid, gid) when given, else the owner of the file it replaces; and the
/// mode of the file it replaces, if any.
pub(crate) fn write_temp_unsynced(
    path: &Path,
    data: &[u8],
    visibility: Visibility,
    owner: Option<(u32, u32)>,
) -> Result<(PathBuf, File)> {
    let temp = create_temp_beside(path, visibility.mode())?;
    fill_temp(temp, path, data, visibility, owner)
}

/// Writes `data` into the temp file `tmp` of `path`, with the owner and mode
/// [`write_temp_unsynced`] gives; removed on failure.
pub(crate) fn fill_temp(
    (tmp, mut file): (PathBuf, File),
    path: &Path,
    data: &[u8],
    visibility: Visibility,
    owner: Option<(u32, u32)>,
) -> Result<(PathBuf, File)> {
    let kept = match (Kept::of(path, visibility), owner) {
        (kept, None) => kept,
        (kept, Some((uid, gid))) => Some(Kept {
            uid,
            gid,
            mode: kept.map_or(visibility.mode(), |k| k.mode),
        }),
    };
    let written = file
        .write_all(data)
        .map_err(|e| Error::io(path, e))
        .and_then(|()| match kept {
            Some(kept) => kept.apply(&file, path),
            None => Ok(()),
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((tmp, file))
}

/// The owner, group and permission bits of a file about to be replaced, which its replacement
/// keeps: Redis running as its own user must still read a renewed key or a new users.acl. A
/// secret never keeps bits that let others read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kept {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Kept {
    /// What the regular file at `path` has now; `None` when there is none (a link is not
    /// followed: its target is not the file being replaced).
    fn of(path: &Path, visibility: Visibility) -> Option<Kept> {
        let meta = fs::symlink_metadata(path).ok()?;
        if !meta.file_type().is_file() {
            return None;
        }
        let mask = match visibility {
            Visibility::Secret | Visibility::GroupSecret => 0o770,
            Visibility::Public => 0o777,
        };
        Some(Kept {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & mask,
        })
    }

    /// Gives `file`, a fresh temp file for `path`, these attributes: the owner first (while
    /// the file is still the creator's alone), then the mode.
    fn apply(self, file: &File, path: &Path) -> Result<()> {
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if (meta.uid(), meta.gid()) != (self.uid, self.gid) {
            std::os::unix::fs::fchown(file, Some(self.uid), Some(self.gid)).map_err(|e| {
                Error::io(
                    path,
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot give the new file the owner {}:{} of the one it replaces ({e}); run rctl as root or as that owner",
                            self.uid, self.gid
                        ),
                    ),
                )
            })?;
        }
        if meta.mode() & 0o7777 != self.mode {
            file.set_permissions(fs::Permissions::from_mode(self.mode))
                .map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// Removes the temp files that a killed rctl left in the folder of `paths`, whatever output
/// they were for (private keys and password hashes among them); only those more than a minute
/// old, so that another rctl writing there right now is not disturbed.
pub(crate) fn remove_stale_temps_beside(paths: &[PathBuf]) {
    let Some(first) = paths.first() else { return };
    let Ok(entries) = fs::read_dir(parent_dir(first)) else {
        return;
    };
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = name.starts_with('.')
            && name.contains(TMP_MARK)
            // DirEntry's metadata does not follow links: a link is left alone.
            && entry.file_type().is_ok_and(|t| t.is_file())
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < minute_ago);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Replaces `path` with `data` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    visibility: Visibility,
    overwrite: bool,
) -> Result<()> {
    write_atomic_owned(path, data, visibility, overwrite, None)
}

/// Writes a public file (a certificate, a trust bundle, metrics) at `path` atomically: mode 0644, or the owner and mode
/// of the file it replaces. Refused for a folder, or a file in a folder that does not exist.
pub fn write_public_file(path: &Path, pem: &str) -> Result<()> {
    check_file_output(path)?;
    write_atomic(path, pem.as_bytes(), Visibility::Public, true)
}

/// Refuses, before any work, a path a file cannot be written at: a directory, or a file in a
/// folder that does not exist.
pub fn check_file_output(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(crate::error::Error::OutputRefused {
            path: path.to_path_buf(),
            message: format!("{} is a directory, not a file", path.display()),
        });
    }
    check_output_folder(path)
}

/// Refuses an output inside the state directory `state`: rctl's own files are written by the
/// state alone, never over by an output (`--metrics=STATE/users.jsonl` would erase every
/// user). Both are resolved through their existing folders, so a link to the state is seen.
pub fn check_outside_state(path: &Path, state: &Path) -> Result<()> {
    let resolve = |p: &Path| -> Option<std::path::PathBuf> {
        let abs = std::path::absolute(p).ok()?;
        // The deepest folder that exists, resolved, with the rest of the path after it.
        let mut existing = abs.as_path();
        let mut rest = Vec::new();
        loop {
            if let Ok(real) = existing.canonicalize() {
                return Some(
                    rest.iter()
                        .rev()
                        .fold(real, |acc: std::path::PathBuf, part| acc.join(part)),
                );
            }
            rest.push(existing.file_name()?.to_owned());
            existing = existing.parent()?;
        }
    };
    let (Some(file), Some(state_dir)) = (resolve(path), resolve(state)) else {
        return Ok(());
    };
    if file.starts_with(&state_dir) {
        return Err(crate::error::Error::OutputRefused {
            path: path.to_path_buf(),
            message: format!(
                "{} is inside the state directory {}; rctl writes its outputs elsewhere",
                path.display(),
                state.display()
            ),
        });
    }
    Ok(())
}

/// True when the link at `link` and the folder holding it belong to root or to this process's
/// user: nobody else could have put it there, or swap it.
fn trusted_link(link: &Path) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    let ours = |uid: u32| uid == 0 || uid == me;
    let link_owner = fs::symlink_metadata(link).map(|m| m.uid());
    let folder_owner = fs::metadata(parent_dir(link)).map(|m| m.uid());
    matches!((link_owner, folder_owner), (Ok(l), Ok(f)) if ours(l) && ours(f))
}

/// [`write_atomic`], giving the file `owner` (uid, gid) when given.
pub(crate) fn write_atomic_owned(
    path: &Path,
    data: &[u8],
    visibility: Visibility,
    overwrite: bool,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let folder = Anchor::of_file(path)?;
    let at = folder.at(path);
    let written = (|| {
        remove_stale_temps_beside(std::slice::from_ref(&at));
        let tmp = write_temp(&at, data, visibility, owner)?;
        if let Err(e) = place(&tmp, &at, overwrite) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        folder.sync()
    })();
    written.map_err(|e| folder.reword(e))
}

/// A folder opened once, for every step of a write into it: the temp file, the rename and the
/// fsync all go through this handle (as `/proc/self/fd/N/NAME`), so that a folder swapped for a
/// link while rctl writes (by a user who owns the folder above it) redirects nothing. A link in
/// the folder's place is followed only when it and the folder holding it belong to root or to
/// rctl's own user (a state directory or `/etc/redis` linked elsewhere by their owner); another
/// user's link is refused.
pub(crate) struct Anchor {
    dir: File,
    /// The folder as given, for messages.
    shown: PathBuf,
    /// `/proc/self/fd/N`.
    handle: PathBuf,
}

impl Anchor {
    /// The folder of the file at `path`.
    pub(crate) fn of_file(path: &Path) -> Result<Anchor> {
        let shown = parent_dir(path).to_path_buf();
        let open = |flags: i32| {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | flags)
                .open(&shown)
        };
        // A link in the folder's place: ELOOP, or ENOTDIR (Linux checks O_DIRECTORY first).
        let is_link = || fs::symlink_metadata(&shown).is_ok_and(|m| m.file_type().is_symlink());
        let dir = match open(libc::O_NOFOLLOW) {
            Err(e)
                if e.raw_os_error() == Some(libc::ELOOP)
                    || (e.raw_os_error() == Some(libc::ENOTDIR) && is_link()) =>
            {
                if !trusted_link(&shown) {
                    return Err(Error::OutputRefused {
                        path: path.to_path_buf(),
                        message: format!(
                            "{} is a symbolic link another user owns, or in a folder another user owns; rctl does not write through it",
                            shown.display()
                        ),
                    });
                }
                open(0)
            }
            other => other,
        }
        .map_err(|e| Error::io(&shown, e))?;
        use std::os::fd::AsRawFd;
        let handle = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        if !handle.is_dir() {
            // No /proc: the folder's own path, as before.
            return Ok(Anchor {
                handle: shown.clone(),
                dir,
                shown,
            });
        }
        Ok(Anchor { dir, shown, handle })
    }

    /// `path`'s file, reached through the handle.
    pub(crate) fn at(&self, path: &Path) -> PathBuf {
        match path.file_name() {
            Some(name) => self.handle.join(name),
            None => self.handle.clone(),
        }
    }

    /// Takes the folder's lock (one writer per output folder at a time).
    pub(crate) fn lock(&self) -> Result<()> {
        self.dir.lock().map_err(|e| Error::io(&self.shown, e))
    }

    /// fsyncs the folder, so that its renames survive a crash.
    pub(crate) fn sync(&self) -> Result<()> {
        self.dir.sync_all().map_err(|e| Error::io(&self.shown, e))
    }

    /// `e` naming the folder as given, not its handle.
    pub(crate) fn reword(&self, e: Error) -> Error {
        if self.handle == self.shown {
            return e;
        }
        let fix = |p: PathBuf| match p.strip_prefix(&self.handle) {
            Ok(rest) => self.shown.join(rest),
            Err(_) => p,
        };
        let handle = self.handle.display().to_string();
        let shown = self.shown.display().to_string();
        match e {
            Error::Io { path, source } => Error::Io {
                path: fix(path),
                source,
            },
            Error::OutputExists(path) => Error::OutputExists(fix(path)),
            Error::OutputRefused { path, message } => Error::OutputRefused {
                path: fix(path),
                message: message.replace(&handle, &shown),
            },
            other => other,
        }
    }
}

/// Puts a synced temp file in place: `rename` with `overwrite`, else a rename that refuses an
/// existing target (so no other process is clobbered either). The one way every rctl output
/// and state file reaches its name.
/// Anything but a regular file at `path` (a device, a FIFO, a socket, a folder) is refused, never
/// replaced: `rename` would turn `/dev/zero` into a file.
pub(crate) fn place(tmp: &Path, path: &Path, overwrite: bool) -> Result<()> {
    // Without `overwrite` nothing at all is replaced: the rename refuses any entry there.
    if overwrite
        && let Ok(meta) = fs::symlink_metadata(path)
        && !meta.file_type().is_file()
        && !meta.file_type().is_symlink()
    {
        return Err(not_regular(path));
    }
    let placed = if overwrite {
        fs::rename(tmp, path)
    } else {
        rename_noreplace(tmp, path)
    };
    placed.map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Error::OutputExists(path.to_path_buf())
        } else {
            Error::io(path, e)
        }
    })
}

/// `rename` that refuses an existing target, in one step (`renameat2` with
/// `RENAME_NOREPLACE`); `link` and `unlink` where the filesystem lacks it.
fn rename_noreplace(tmp: &Path, path: &Path) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            fs::hard_link(tmp, path).and_then(|()| fs::remove_file(tmp))
        }
        Err(e) => Err(io::Error::from_raw_os_error(e as i32)),
    }
}

fn not_regular(path: &Path) -> Error {
    Error::OutputRefused {
        path: path.to_path_buf(),
        message: format!(
            "{} is not a regular file; rctl replaces only regular files",
            path.display()
        ),
    }
}

/// Refuses, before any work, a path rctl is to keep writing (a registered server's files):
/// anything but a regular file or nothing at it, or a folder that anyone may write to, where
/// another user could put a link, a device or a FIFO in its place between two runs.
pub(crate) fn check_replaceable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::symlink_metadata(path)
        && !meta.file_type().is_file()
    {
        return Err(not_regular(path));
    }
    let folder = parent_dir(path);
    let meta = fs::metadata(folder).map_err(|e| Error::io(folder, e))?;
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(Error::OutputRefused {
            path: path.to_path_buf(),
            message: format!(
                "cannot keep {} in {}, which anyone may write to",
                path.display(),
                folder.display()
            ),
        });
    }
    Ok(())
}

/// The folder a path names a file in (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses, before any work, a file to write whose folder is missing or is not a folder.
pub fn check_output_folder(path: &Path) -> Result<()> {
    let folder = parent_dir(path);
    if folder.is_dir() {
        return Ok(());
    }
    Err(Error::OutputRefused {
        path: path.to_path_buf(),
        message: format!(
            "cannot write {}: the folder {} does not exist or is not a folder",
            path.display(),
            folder.display()
        ),
    })
}

/// fsyncs the directory holding `path`, so that a rename survives a crash.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

//! Writing a set of output files (`PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`) as one.
//!
//! Each file is written to a temp file beside it and synced; only then are they put in place.
//! An error puts back what it can (the new files are removed). A kill in the microseconds
//! between two renames cannot be undone by the killed process, so a marker file
//! `.NAME.rctl-incomplete` stands beside the set for exactly that window: whoever finds it knows
//! the set is debris, and the next write of the same set removes it first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::output::atomic::{Anchor, Visibility, create_locked_temp, fill_temp, parent_dir, place};

/// A set of files in one folder that are written together.
pub struct FileSet<'a> {
    paths: &'a [PathBuf],
    marker: PathBuf,
    owner: Option<(u32, u32)>,
}

impl<'a> FileSet<'a> {
    /// The set; the files must share a folder. The marker is named after the first file.
    pub fn new(paths: &'a [PathBuf]) -> FileSet<'a> {
        let first = paths
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new("output"));
        let name = first
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        FileSet {
            paths,
            marker: parent_dir(first).join(format!(".{name}.rctl-incomplete")),
            owner: None,
        }
    }

    /// The files get this owner (uid, gid) instead of the owner of the files they replace.
    pub fn with_owner(mut self, owner: Option<(u32, u32)>) -> FileSet<'a> {
        self.owner = owner;
        self
    }

    /// True when an earlier write of this set was killed half-way: the files are debris. Only
    /// a regular file counts (a link in the marker's place is never followed).
    pub fn is_incomplete(&self) -> bool {
        fs::symlink_metadata(&self.marker).is_ok_and(|m| m.file_type().is_file())
    }

    /// [`check`](Self::check), and a probe that the folder takes new files: for a caller that
    /// must know before any other work (the CLI, before it opens the state).
    pub fn check_and_probe(&self, overwrite: bool) -> Result<()> {
        self.check(overwrite)?;
        if let Some(first) = self.paths.first() {
            // Through one handle on the folder, as the write; asked of the kernel (write and
            // search permission as this process, a read-only mount) rather than tried with a
            // file: creating and removing one cost a journal entry in every write.
            let folder = Anchor::of_file(first)?;
            let at = folder.at(first);
            let handle = parent_dir(&at);
            let mode = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
            nix::unistd::faccessat(
                nix::fcntl::AT_FDCWD,
                handle,
                mode,
                nix::fcntl::AtFlags::AT_EACCESS,
            )
            .map_err(|e| folder.reword(Error::io(first, std::io::Error::from(e))))?;
        }
        Ok(())
    }

    /// Refuses if a file exists (unless `overwrite` or the set is debris), its folder is
    /// missing, or a directory stands in its place. (A folder that takes no files fails the
    /// write's first temp file, before anything is placed.)
    pub fn check(&self, overwrite: bool) -> Result<()> {
        let debris = self.is_incomplete();
        // The files share a folder: it is looked at once.
        if let Some(path) = self.paths.first() {
            let parent = parent_dir(path);
            if !parent.is_dir() {
                return Err(Error::OutputRefused {
                    path: path.clone(),
                    message: format!(
                        "output folder {} does not exist or is not a folder",
                        parent.display()
                    ),
                });
            }
        }
        for path in self.paths {
            match fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Error::OutputRefused {
                        path: path.clone(),
                        message: format!(
                            "{} is a symbolic link; rctl does not write through links",
                            path.display()
                        ),
                    });
                }
                Ok(meta) if meta.is_dir() => {
                    return Err(Error::OutputRefused {
                        path: path.clone(),
                        message: format!("{} is a directory, not a file", path.display()),
                    });
                }
                Ok(_) if !overwrite && !debris => return Err(Error::OutputExists(path.clone())),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `contents[i]` to `paths[i]`, all or none, every step through one handle on their
    /// folder (see [`Anchor`]): a folder swapped for a link mid-write redirects nothing.
    pub fn write(&self, contents: &[(&[u8], Visibility)], overwrite: bool) -> Result<()> {
        let first = self
            .paths
            .first()
            .map_or(Path::new("output"), PathBuf::as_path);
        let folder = Anchor::of_file(first)?;
        let paths: Vec<PathBuf> = self.paths.iter().map(|p| folder.at(p)).collect();
        let anchored = FileSet {
            paths: &paths,
            marker: folder.at(&self.marker),
            owner: self.owner,
        };
        // One writer per output folder at a time (other rctl processes, other state
        // directories): two sets placed at once could mix a certificate with another's key.
        folder.lock()?;
        anchored
            .write_anchored(contents, overwrite, &folder)
            .map_err(|e| folder.reword(e))
    }

    /// [`write`](Self::write) of a set whose paths go through `folder`'s handle.
    fn write_anchored(
        &self,
        contents: &[(&[u8], Visibility)],
        overwrite: bool,
        folder: &Anchor,
    ) -> Result<()> {
        self.check(overwrite)?;
        if self.is_incomplete() {
            for path in self.paths {
                remove_if_exists(path)?;
            }
        }
        // Whatever stands in the marker's place (debris, or a link planted in a shared folder)
        // is removed, not followed; the marker is then created new, never opened through a link.
        remove_if_exists(&self.marker)?;
        let temps = self.write_temps(contents)?;
        if let Err(e) = create_marker(&self.marker) {
            temps.iter().for_each(|t| drop(fs::remove_file(t)));
            return Err(Error::io(&self.marker, e));
        }
        let mut placed: Vec<&PathBuf> = Vec::new();
        for (i, (tmp, path)) in temps.iter().zip(self.paths).enumerate() {
            if let Err(e) = place(tmp, path, overwrite) {
                temps[i..].iter().for_each(|t| drop(fs::remove_file(t)));
                if !overwrite {
                    placed.iter().for_each(|p| drop(fs::remove_file(p)));
                    let _ = fs::remove_file(&self.marker);
                }
                return Err(e);
            }
            placed.push(path);
        }
        // Removing the marker and the renames reach the disk in one directory sync.
        remove_if_exists(&self.marker)?;
        folder.sync()
    }

    /// Temp files with the contents, all synced (the first fsync commits the others' data too,
    /// so the rest cost little).
    fn write_temps(&self, contents: &[(&[u8], Visibility)]) -> Result<Vec<PathBuf>> {
        let mut temps = Vec::new();
        let mut files = Vec::new();
        let written = self
            .paths
            .iter()
            .zip(contents)
            .try_for_each(|(path, (data, vis))| {
                // The folder is locked: each file's temp has one name, found without a listing.
                let temp = create_locked_temp(path, vis.mode())?;
                let (tmp, file) = fill_temp(temp, path, data, *vis, self.owner)?;
                temps.push(tmp);
                files.push((path, file));
                Ok(())
            });
        let synced = written.and_then(|()| {
            files
                .iter()
                .try_for_each(|(path, file)| file.sync_all().map_err(|e| Error::io(*path, e)))
        });
        if let Err(e) = synced {
            temps.iter().for_each(|t| drop(fs::remove_file(t)));
            return Err(e);
        }
        Ok(temps)
    }
}

fn create_marker(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debris_of_a_killed_write_is_replaced_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let paths = [dir.path().join("s.crt"), dir.path().join("s.key")];
        let set = FileSet::new(&paths);
        // A write killed after the first rename: one file and the marker.
        fs::write(&paths[0], "half").unwrap();
        fs::write(dir.path().join(".s.crt.rctl-incomplete"), "").unwrap();
        assert!(set.is_incomplete());
        set.check(false).unwrap();
        set.write(
            &[(b"crt", Visibility::Public), (b"key", Visibility::Secret)],
            false,
        )
        .unwrap();
        assert!(!set.is_incomplete());
        assert_eq!(fs::read(&paths[0]).unwrap(), b"crt");
        assert_eq!(fs::read(&paths[1]).unwrap(), b"key");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "marker or temp files left"
        );
        // A complete set is not debris.
        assert!(matches!(set.check(false), Err(Error::OutputExists(_))));
    }

    #[test]
    fn missing_folder_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let gone = [dir.path().join("nope/s.crt")];
        assert!(
            FileSet::new(&gone)
                .check(true)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        fs::create_dir(dir.path().join("d.crt")).unwrap();
        let is_dir = [dir.path().join("d.crt")];
        assert!(
            FileSet::new(&is_dir)
                .check(true)
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );
        let file = dir.path().join("f");
        fs::write(&file, "").unwrap();
        let under_file = [file.join("x.crt")];
        assert!(FileSet::new(&under_file).check(true).is_err());
    }
}

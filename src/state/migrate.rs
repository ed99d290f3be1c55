//! `rctl state migrate`: a whole state copied into another store (a local directory into etcd,
//! or etcd into a directory as a backup).

use crate::error::{Error, Invalid, Result};
use crate::storage::Store;

use super::StateDir;

/// The folders of a state; every other blob is at the top.
const FOLDERS: [&str; 2] = ["roles", "servers"];

/// Written first into a migration's target and removed last: a target holding it is no whole
/// state, and is opened only by a migration run again into it.
pub(crate) const MIGRATION_MARK: &str = "migrate.incomplete";

/// Refuses a store that holds an unfinished migration.
pub(crate) fn refuse_unfinished(store: &dyn Store) -> Result<()> {
    if store.read(MIGRATION_MARK)?.is_some() {
        return Err(Error::UnfinishedMigration {
            location: store.locate(""),
        });
    }
    Ok(())
}

impl StateDir {
    /// Copies every blob of this state into `target`, which must hold no state yet. A CA key
    /// in clear is refused for a store that keeps keys only encrypted. Returns how many blobs
    /// were copied.
    ///
    /// The target is marked unfinished first and the mark is removed last, so a copy that was
    /// killed halfway is never opened as a state (its missing users would be deleted from every
    /// server by the next sync); run into such a target again, the copy starts over.
    pub fn copy_to(&self, target: &dyn Store) -> Result<usize> {
        let names = blob_names(self.store())?;
        let there = blob_names(target)?;
        let unfinished = there.iter().any(|n| n == MIGRATION_MARK);
        if !there.is_empty() && !unfinished {
            return Err(Invalid::MigrateTargetNotEmpty {
                location: target.locate(""),
            }
            .into());
        }
        if target.requires_encrypted_keys()
            && let Some(ca) = self.load(super::CA_FILE, super::ca_file::decode)?
            && !ca.is_encrypted()
        {
            return Err(Error::ClearKeyRefused {
                location: target.locate(""),
            });
        }
        // Everything read first: a state that cannot be read copies nothing.
        let mut blobs = Vec::with_capacity(names.len());
        for name in names {
            let data = self.store().read(&name)?.unwrap_or_default();
            blobs.push((name, zeroize::Zeroizing::new(data)));
        }
        // Marked first, in a step of its own: from here on the target is no state until the end.
        target.write(
            MIGRATION_MARK,
            b"a migration of a state into here has not finished\n",
        )?;
        target.commit()?;
        // An earlier, killed run's copy goes first: the copy starts over.
        for name in there.iter().filter(|n| *n != MIGRATION_MARK) {
            target.remove(name)?;
        }
        for (name, data) in &blobs {
            target.write(name, data)?;
        }
        target.commit()?;
        // Whole now: the mark goes last, in a step of its own.
        target.remove(MIGRATION_MARK)?;
        target.commit()?;
        Ok(blobs.len())
    }
}

/// Every blob of a state, folders walked.
fn blob_names(store: &dyn Store) -> Result<Vec<String>> {
    let mut names: Vec<String> = store
        .list("")?
        .into_iter()
        .filter(|n| !FOLDERS.contains(&n.as_str()))
        .collect();
    for folder in FOLDERS {
        names.extend(
            store
                .list(folder)?
                .into_iter()
                .map(|n| format!("{folder}/{n}")),
        );
    }
    Ok(names)
}

//! `rctl state migrate`: a whole state copied into another store (a local directory into etcd,
//! or etcd into a directory as a backup).

use crate::error::{Error, Result};
use crate::state::store::Store;

use super::StateDir;

/// The folders of a state; every other blob is at the top.
const FOLDERS: [&str; 2] = ["roles", "servers"];

impl StateDir {
    /// Copies every blob of this state into `target`, which must hold no state yet. A CA key
    /// in clear is refused for a store that keeps keys only encrypted. Returns how many blobs
    /// were copied.
    pub fn copy_to(&self, target: &dyn Store) -> Result<usize> {
        let names = blob_names(self.store())?;
        if !blob_names(target)?.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} already holds a state; migrate into an empty one",
                target.locate("").display()
            )));
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
        for (name, data) in &blobs {
            target.write(name, data)?;
        }
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

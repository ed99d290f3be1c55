//! Locks put in force at once: `lock add` and `lock rm` save the change, then apply it to the
//! servers this host holds, so a lock takes effect without waiting for a timer.

use crate::accounts::locks::{Lock, LockTarget};
use crate::duration::Ttl;
use crate::error::Result;
use crate::servers::live::SyncOptions;
use crate::state::StateDir;

use super::{Selection, ServerSync, SyncReport, sync_servers};

/// A lock to add.
#[derive(Clone, Debug)]
pub struct NewLock {
    /// What it covers.
    pub target: LockTarget,
    /// How long it holds (none: until removed).
    pub ttl: Option<Ttl>,
    /// Why, shown to whoever it stops.
    pub message: Option<String>,
}

/// What a lock change did: the lock, and the sync that applied it where this host holds the
/// servers (a directory state); none on a shared state, where each node's sync applies it.
#[derive(Debug)]
#[non_exhaustive]
pub struct LockApplied {
    /// The lock added or removed.
    pub lock: Lock,
    /// The sync of every registered server and client output, on a directory state.
    pub sync: Option<SyncReport>,
}

/// Saves `new`, then applies it: every account it covers off in users.acl and on the live
/// servers, its connections closed.
pub fn add_lock(
    open: impl Fn() -> Result<StateDir>,
    new: NewLock,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<LockApplied> {
    let (lock, shared) = {
        let mut state = open()?;
        let lock = state.retrying(&mut |s: &mut StateDir| {
            s.locks()
                .add(new.target.clone(), new.ttl, new.message.clone())
        })?;
        (lock, is_shared(&mut state))
    };
    apply(open, lock, shared, options, on_server)
}

/// Removes the lock `id`, then applies that: the accounts it covered on again (unless another
/// lock covers them).
pub fn remove_lock(
    open: impl Fn() -> Result<StateDir>,
    id: &str,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<LockApplied> {
    let (lock, shared) = {
        let mut state = open()?;
        let lock = state.retrying(&mut |s: &mut StateDir| s.locks().remove(id))?;
        (lock, is_shared(&mut state))
    };
    apply(open, lock, shared, options, on_server)
}

fn is_shared(state: &mut StateDir) -> bool {
    state.requests().queue().is_ok()
}

fn apply(
    open: impl Fn() -> Result<StateDir>,
    lock: Lock,
    shared: bool,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<LockApplied> {
    if shared {
        return Ok(LockApplied { lock, sync: None });
    }
    let sync = match sync_servers(open, &Selection::All, options, on_server) {
        Ok(report) => Some(report),
        // No server: the lock still stops every certificate.
        Err(crate::error::Error::NoServerRegistered) => None,
        Err(e) => return Err(e),
    };
    Ok(LockApplied { lock, sync })
}

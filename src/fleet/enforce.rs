//! Changes that take access away, put in force at once: `lock add`, `lock rm` and `users rm`
//! save the change, then apply it to the servers this host holds, so it takes effect without
//! waiting for a timer or an agent.

use crate::accounts::locks::{Lock, LockTarget};
use crate::accounts::logins::LoginAccount;
use crate::accounts::names::{ServerName, UserName};
use crate::clients::profile::{DbLogin, Profile};
use crate::duration::Ttl;
use crate::error::Result;
use crate::servers::live::SyncOptions;
use crate::state::DbLoginRequest;
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

/// Where a change was applied.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppliedBy {
    /// This host: a sync of every registered server and client output (a directory state).
    Sync(SyncReport),
    /// Nobody yet: nothing is registered.
    NothingRegistered,
    /// Each node, at its next sync or by its agent (a shared state).
    Nodes,
}

/// What a lock change did: the lock, and where it was applied.
#[derive(Debug)]
#[non_exhaustive]
pub struct LockApplied {
    /// The lock added or removed.
    pub lock: Lock,
    /// Where it was applied.
    pub applied: AppliedBy,
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

/// Removes the users `names` (all or none), then applies that: their accounts deleted on the
/// servers this host holds, which closes their connections.
pub fn remove_users(
    open: impl Fn() -> Result<StateDir>,
    names: &[String],
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<AppliedBy> {
    let shared = {
        let mut state = open()?;
        state.retrying(&mut |s: &mut StateDir| s.users().remove_many(names))?;
        is_shared(&mut state)
    };
    sync_these(open, shared, &Selection::All, options, on_server)
}

/// Ends `user`'s logins (to `server` only, when given), then applies that: their per-login
/// accounts deleted on the servers this host holds, which closes their connections. The
/// logins ended, and where that was applied.
pub fn end_logins(
    open: impl Fn() -> Result<StateDir>,
    user: &UserName,
    server: Option<&ServerName>,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<(Vec<LoginAccount>, AppliedBy)> {
    let (ended, shared) = {
        let mut state = open()?;
        let ended = state.retrying(&mut |s: &mut StateDir| s.end_logins(user, server))?;
        (ended, is_shared(&mut state))
    };
    if ended.is_empty() {
        return Ok((ended, AppliedBy::NothingRegistered));
    }
    let mut servers: Vec<ServerName> = ended.iter().map(|l| l.server.clone()).collect();
    servers.dedup();
    let selection = Selection::Named(servers);
    let applied = sync_these(open, shared, &selection, options, on_server)?;
    Ok((ended, applied))
}

/// `db login` ([`StateDir::db_login`]), then its server synced where this host holds it (a
/// directory state), so its per-login account exists when the command returns; on a shared
/// state the server's node (its agent) makes it.
pub fn db_login(
    open: impl Fn() -> Result<StateDir>,
    request: &DbLoginRequest,
    profile: &Profile,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<(DbLogin, AppliedBy)> {
    let (login, shared) = {
        let mut state = open()?;
        let login = state.retrying(&mut |s: &mut StateDir| s.db_login(request, profile))?;
        (login, is_shared(&mut state))
    };
    let selection = Selection::Named(vec![login.server.clone()]);
    let applied = sync_these(open, shared, &selection, options, on_server)?;
    Ok((login, applied))
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
    let applied = sync_these(open, shared, &Selection::All, options, on_server)?;
    Ok(LockApplied { lock, applied })
}

/// On a directory state, `selection` synced (this host holds every file); on a shared one
/// nothing: each node's sync (or agent) applies the change.
fn sync_these(
    open: impl Fn() -> Result<StateDir>,
    shared: bool,
    selection: &Selection,
    options: &SyncOptions,
    on_server: impl FnMut(&ServerSync),
) -> Result<AppliedBy> {
    if shared {
        return Ok(AppliedBy::Nodes);
    }
    match sync_servers(open, selection, options, on_server) {
        Ok(report) => Ok(AppliedBy::Sync(report)),
        // No server: the change still stops every certificate.
        Err(crate::error::Error::NoServerRegistered) => Ok(AppliedBy::NothingRegistered),
        Err(e) => Err(e),
    }
}

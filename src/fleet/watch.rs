//! The watching agent (`redis sync --watch`): a sync, then a wait for the state to change (or
//! a lock to expire, or the safety-net resync), then a sync again, until the caller stops it.
//! Between syncs it holds nothing another rctl needs: no state open, no server lock.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::servers::live::SyncOptions;
use crate::state::StateDir;

use super::{Selection, ServerSync, SyncReport, sync_servers};

/// How the agent waits.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Everything is synced again after this long without a change (renewals fall due here,
    /// and a server restarted from old files is set back).
    pub resync: Duration,
    /// The longest wait after a failed pass before the next (doubling from 1 s).
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            resync: Duration::from_secs(600),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Why a pass ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Woken {
    /// The agent started.
    Start,
    /// The state changed.
    Change,
    /// A lock or a login ended.
    Expiry,
    /// The resync period passed.
    Resync,
    /// Again after a failure.
    Retry,
}

/// One pass of the agent: why it ran and what the sync did (or why it could not run).
#[derive(Debug)]
#[non_exhaustive]
pub struct Pass {
    /// Why it ran.
    pub woken: Woken,
    /// The sync.
    pub report: Result<SyncReport>,
}

/// Runs passes until `on_pass` breaks: each a [`sync_servers`] of `selection`, then a wait for
/// the state to change, the next lock expiry, or `watch.resync`. A failed pass (etcd
/// unreachable, a server down) is tried again after a backoff, never given up.
pub fn watch(
    open: impl Fn() -> Result<StateDir>,
    selection: &Selection,
    options: &SyncOptions,
    watch: &WatchOptions,
    mut on_server: impl FnMut(&ServerSync),
    mut on_pass: impl FnMut(&Pass) -> ControlFlow<()>,
) -> Result<()> {
    let mut woken = Woken::Start;
    let mut backoff = Duration::from_secs(1);
    loop {
        // Taken before the pass: a change made while it runs wakes the next at once.
        let (seen, report) = match before_pass(&open) {
            Ok(seen) => {
                let report = match sync_servers(&open, selection, options, &mut on_server) {
                    Err(Error::NoServerRegistered) => Ok(SyncReport::default()),
                    other => other,
                };
                (Some(seen), report)
            }
            Err(e) => (None, Err(e)),
        };
        let failed = report.as_ref().map_or(true, |r| r.failed() > 0);
        let pass = Pass { woken, report };
        if on_pass(&pass).is_break() {
            return Ok(());
        }
        let mut wait = watch.resync;
        if failed {
            wait = wait.min(backoff);
            backoff = (backoff * 2).min(watch.max_backoff);
        } else {
            backoff = Duration::from_secs(1);
        }
        woken = match seen {
            Some(Seen {
                watcher,
                marker,
                expiry,
            }) => {
                let until_expiry = expiry.map(|at| at.saturating_duration_since(Instant::now()));
                let expires_first = until_expiry.is_some_and(|e| e < wait);
                let wait = until_expiry.map_or(wait, |e| wait.min(e));
                match watcher.wait(marker, wait) {
                    Ok(true) => Woken::Change,
                    Ok(false) if expires_first => Woken::Expiry,
                    Ok(false) if failed => Woken::Retry,
                    Ok(false) => Woken::Resync,
                    Err(_) => {
                        std::thread::sleep(backoff);
                        Woken::Retry
                    }
                }
            }
            None => {
                std::thread::sleep(wait);
                Woken::Retry
            }
        };
    }
}

/// What the agent knows of the state before a pass.
struct Seen {
    watcher: Box<dyn crate::storage::watch::ChangeWatch>,
    marker: u64,
    /// When the next lock in force or per-login account ends, if one does.
    expiry: Option<Instant>,
}

fn before_pass(open: &impl Fn() -> Result<StateDir>) -> Result<Seen> {
    let mut state = open()?;
    // What ended (logins, locks) leaves the state with its audit record; a state this host may
    // not change (read-only, or an etcd role without the right) keeps it, and the sync leaves
    // ended accounts out all the same.
    let _ = state.retrying(|s| s.reap_expired());
    let watcher = state.change_watch()?;
    let marker = watcher.marker()?;
    let now = state.now();
    // The next lock or per-login account to end: its accounts change then.
    let locks = state.locks().list()?;
    let logins = state.live_logins()?;
    let expiry = locks
        .iter()
        .filter_map(|l| l.expires)
        .chain(logins.iter().map(|l| l.not_after))
        .filter(|at| *at > now)
        .min()
        .map(|at| Instant::now() + to_std(at - now));
    Ok(Seen {
        watcher,
        marker,
        expiry,
    })
}

/// A span of time, at least zero, with a little margin so that the pass after an expiry sees
/// it past.
fn to_std(span: time::Duration) -> Duration {
    Duration::try_from(span).unwrap_or_default() + Duration::from_millis(20)
}

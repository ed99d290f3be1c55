//! `redis sync` and `redis check` over the registered servers, as one library call each.
//!
//! A sync has two parts. Under the state's lock (or in one etcd transaction), each selected
//! server's files are planned and written: renewed certificates are signed and audited there.
//! Then the state is closed, releasing its lock, and the servers are contacted at once, one
//! thread each, so that talking to servers never holds another rctl command up. Each server's
//! outcome reaches the caller's closure, in the order the servers were selected, as soon as it
//! and those before it are done (ripgrep's binary prints its parallel walker's results the same
//! way).
//!
//! ```no_run
//! use rctl::fleet::{Selection, SyncOptions, sync_servers};
//!
//! # fn main() -> Result<(), rctl::Error> {
//! let state = rctl::StateDir::open("/var/lib/rctl")?;
//! let report = sync_servers(state, &Selection::All, &SyncOptions::default(), |server| {
//!     println!("{}: {}", server.server.name, if server.is_in_line() { "ok" } else { "FAILED" });
//! })?;
//! assert_eq!(report.failed(), 0);
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::accounts::names::ServerName;
use crate::error::{Error, Result};
pub use crate::servers::live::SyncOptions;
use crate::servers::live::{self, FilePlan, LiveSync, Wanted};
use crate::servers::registered::RegisteredServer;
use crate::state::{Notice, StateDir, WrittenFiles};

/// Which registered servers a command acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// Every registered server.
    All,
    /// These servers, in this order (an unknown name is refused).
    Named(Vec<ServerName>),
}

/// One server's part of a sync: the plan for its files, what writing them gave, and what the
/// live server did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerSync {
    /// The server.
    pub server: RegisteredServer,
    /// What its files needed.
    pub plan: FilePlan,
    /// What was written (nothing on a dry run or when nothing was due).
    pub written: Result<WrittenFiles>,
    /// What the live server did: `None` when it was not contacted (no reload asked for, or
    /// its files could not be written).
    pub live: Option<Result<LiveSync>>,
}

impl ServerSync {
    /// True when the server's files were written and the live server (if contacted) is in
    /// line with them.
    pub fn is_in_line(&self) -> bool {
        self.written.is_ok() && !matches!(self.live, Some(Err(_)))
    }
}

/// What a whole sync did.
#[derive(Debug)]
#[non_exhaustive]
pub struct SyncReport {
    /// Each server's part, in the order selected.
    pub servers: Vec<ServerSync>,
    /// What the state noticed while the files were written (a rotation phase entered, ...).
    pub notices: Vec<Notice>,
}

impl SyncReport {
    /// How many servers are not in line.
    pub fn failed(&self) -> usize {
        self.servers.iter().filter(|s| !s.is_in_line()).count()
    }
}

/// Brings the selected servers in line with the state: their files written under the state's
/// lock, then each live server reloaded and its accounts set ([`live::sync_live`]), all at
/// once, with `state` closed in between. `on_server` sees each server's outcome in the order
/// selected. A dry run (`options.dry_run`) writes nothing: open the state read-only for it.
///
/// Fails before anything is written when the selection names no server, or an unknown one.
/// One server's failure is in its [`ServerSync`], not an error of the whole call.
pub fn sync_servers(
    mut state: StateDir,
    selection: &Selection,
    options: &SyncOptions,
    mut on_server: impl FnMut(&ServerSync),
) -> Result<SyncReport> {
    let prepared = state.retrying(|state| {
        let servers = selected(state, selection)?;
        let wanted = state.wanted()?;
        let items: Vec<ServerSync> = servers
            .into_iter()
            .map(|server| {
                let plan = state.plan_server_files(&server, &wanted, options.renew_within);
                let written = if options.dry_run || plan.is_empty() {
                    Ok(WrittenFiles::default())
                } else {
                    state.write_server_files(&server, &plan, &wanted)
                };
                ServerSync {
                    server,
                    plan,
                    written,
                    live: None,
                }
            })
            .collect();
        Ok((wanted, items))
    });
    let notices = state.take_notices();
    // The lock is released before any server is contacted.
    drop(state);
    let (wanted, items) = prepared?;
    let wanted: &Wanted = &wanted;
    // What stands in for a server whose thread failed.
    let fallback: Vec<(RegisteredServer, FilePlan)> = items
        .iter()
        .map(|item| (item.server.clone(), item.plan.clone()))
        .collect();
    let contact = |mut item: ServerSync| {
        // A server whose files could not be written is not contacted.
        if item.written.is_ok() && !options.no_reload {
            item.live = Some(live::sync_live(
                &item.server,
                wanted,
                item.plan.changes_bundle(),
                *options,
            ));
        }
        item
    };
    let mut servers = Vec::with_capacity(items.len());
    on_each(items, contact, |i, item| {
        let item = item.unwrap_or_else(|| {
            let (server, plan) = fallback[i].clone();
            ServerSync {
                server,
                plan,
                written: Ok(WrittenFiles::default()),
                live: Some(Err(thread_failed())),
            }
        });
        on_server(&item);
        servers.push(item);
    });
    Ok(SyncReport { servers, notices })
}

/// What `redis check` found on one server: one line each, empty when it is in line.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerCheck {
    /// The server.
    pub server: RegisteredServer,
    /// Each problem, one line each.
    pub findings: Vec<String>,
}

/// Checks the selected servers against the state, all at once, changing nothing: their
/// files, the certificate each serves, its TLS settings and its accounts
/// ([`live::check_server`]). `state` is closed before any server is contacted.
pub fn check_servers(
    mut state: StateDir,
    selection: &Selection,
    timeout: Duration,
) -> Result<(Vec<ServerCheck>, Vec<Notice>)> {
    let prepared = selected(&state, selection).and_then(|servers| Ok((servers, state.wanted()?)));
    let notices = state.take_notices();
    drop(state);
    let (servers, wanted) = prepared?;
    let wanted = &wanted;
    let names: Vec<RegisteredServer> = servers.clone();
    let mut checks = Vec::with_capacity(servers.len());
    let check = |server: RegisteredServer| {
        let findings = live::check_server(&server, wanted, timeout);
        ServerCheck { server, findings }
    };
    on_each(servers, check, |i, checked| {
        checks.push(checked.unwrap_or_else(|| ServerCheck {
            server: names[i].clone(),
            findings: vec![thread_failed().to_string()],
        }));
    });
    Ok((checks, notices))
}

/// The servers a selection names, refused when there is none.
fn selected(state: &StateDir, selection: &Selection) -> Result<Vec<RegisteredServer>> {
    let names: &[ServerName] = match selection {
        Selection::All => &[],
        Selection::Named(names) if names.is_empty() => return Err(Error::NoServerSelected),
        Selection::Named(names) => names,
    };
    let servers = state.registered_servers(names)?;
    if servers.is_empty() {
        return Err(Error::NoServerRegistered);
    }
    Ok(servers)
}

fn thread_failed() -> Error {
    Error::Server("internal error: the server's thread failed".to_string())
}

/// `f` on each item, each in its own thread (servers are contacted at once), handing each
/// outcome to `deliver` in the items' order as soon as it and those before it are done; `None`
/// in the place of a thread that panicked.
fn on_each<I: Send, T: Send>(
    items: Vec<I>,
    f: impl Fn(I) -> T + Sync,
    mut deliver: impl FnMut(usize, Option<T>),
) {
    let f = &f;
    let count = items.len();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let tx = tx.clone();
                scope.spawn(move || {
                    let _ = tx.send((i, f(item)));
                })
            })
            .collect();
        drop(tx);
        let mut done: Vec<Option<T>> = (0..count).map(|_| None).collect();
        let mut next = 0;
        // Ends when every thread has sent or died.
        for (i, out) in rx.iter() {
            done[i] = Some(out);
            while next < count && done[next].is_some() {
                deliver(next, done[next].take());
                next += 1;
            }
        }
        for t in running {
            // A panic is reported in its item's place, not raised again by the scope.
            let _ = t.join();
        }
        while next < count {
            deliver(next, done[next].take());
            next += 1;
        }
    });
}

//! `redis sync` and `redis check` over the registered servers, as one library call each.
//!
//! A sync asks each server which version it runs, then, under the state's lock (or in one etcd
//! transaction), plans and writes each selected server's files: renewed certificates are
//! signed and audited there. The state is closed whenever servers are contacted, at once, one
//! thread each, so that talking to servers never holds another rctl command up. Each server's
//! outcome reaches the caller's closure as soon as it is done (ripgrep's binary prints its
//! parallel walker's results the same way), and a server that is not done within the deadline
//! is reported as such: one slow or hostile server cannot hold the others.
//!
//! ```no_run
//! use rctl::fleet::{Selection, SyncOptions, sync_servers};
//!
//! # fn main() -> Result<(), rctl::Error> {
//! let open = || rctl::StateDir::open("/var/lib/rctl");
//! let report = sync_servers(open, &Selection::All, &SyncOptions::default(), |server| {
//!     println!("{}: {}", server.server.name, if server.is_in_line() { "ok" } else { "FAILED" });
//! })?;
//! assert_eq!(report.failed(), 0);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::names::ServerName;
use crate::clients::output::ClientOutput;
use crate::clients::renewal::ClientPlan;
use crate::error::{Error, Result, ServerError};
use crate::requests::RequestFor;
pub use crate::servers::live::SyncOptions;
use crate::servers::live::{self, FilePlan, LiveSync};
use crate::servers::registered::RegisteredServer;
use crate::state::{Notice, StateDir, WrittenFiles};

mod check;
mod enforce;
pub mod metrics;
pub(crate) mod round;
mod steps;
mod watch;

pub use check::{ClientCheck, FleetCheck, ServerCheck, check_servers};
pub use enforce::{
    AppliedBy, LockApplied, NewLock, add_lock, db_login, end_logins, remove_lock, remove_users,
};
pub use watch::{Pass, WatchOptions, Woken, watch};

/// Which registered servers a command acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// Every registered server.
    All,
    /// These servers, in this order (an unknown name is refused).
    Named(Vec<ServerName>),
    /// The servers and client outputs a node holds (none is not an error).
    Node(crate::accounts::names::NodeName),
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

/// One client output's part of a sync: the plan for its files, what writing them gave, and
/// its hook.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientSync {
    /// The client output.
    pub client: ClientOutput,
    /// What its files needed.
    pub plan: ClientPlan,
    /// What was written (nothing on a dry run or when nothing was due).
    pub written: Result<WrittenFiles>,
    /// Its hook, run when files were written and it has one.
    pub hook: Option<Result<()>>,
}

impl ClientSync {
    /// True when its files were written and its hook (if run) succeeded.
    pub fn is_in_line(&self) -> bool {
        self.written.is_ok() && !matches!(self.hook, Some(Err(_)))
    }
}

/// What a whole sync did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// Each server's part, in the order selected.
    pub servers: Vec<ServerSync>,
    /// Each client output's part, by name.
    pub clients: Vec<ClientSync>,
    /// What the state noticed while the files were written (a rotation phase entered, ...).
    pub notices: Vec<Notice>,
}

impl SyncReport {
    /// How many servers and client outputs are not in line.
    pub fn failed(&self) -> usize {
        self.servers.iter().filter(|s| !s.is_in_line()).count()
            + self.clients.iter().filter(|c| !c.is_in_line()).count()
    }
}

/// Brings the selected servers in line with the state, in four steps, each server's outcome
/// handed to `on_server` as it is done:
///
/// 1. `open` the state, read what it wants of the servers, and close it again; take each
///    server's lock (see [`crate::storage::ServerLocks`]), held to the end;
/// 2. ask each server which Redis or Valkey it runs (`INFO server`), at once, with the state
///    closed: a server that cannot load a users.acl for the state's target gets nothing
///    written (the file would keep it from starting);
/// 3. `open` the state again and, under its lock, plan and write each server's files from the
///    state as it is now (renewals signed and audited there), then close it;
/// 4. contact the servers at once ([`live::sync_live`]): reload, accounts, verification.
///
/// A dry run (`options.dry_run`) writes nothing: give it an `open` that opens read-only.
/// Fails before anything is written when the selection names no server, or an unknown one;
/// one server's failure is in its [`ServerSync`], not an error of the whole call. A server not
/// done within `options.deadline` fails with [`Error::ServerTimeout`]; the report keeps the
/// order selected.
pub fn sync_servers(
    open: impl Fn() -> Result<StateDir>,
    selection: &Selection,
    options: &SyncOptions,
    mut on_server: impl FnMut(&ServerSync),
) -> Result<SyncReport> {
    use steps::*;
    let plan = plan(&open, selection, options)?;
    let _held = lock(&plan, options)?;
    let (versions, connections) = ask_versions(&plan, options);
    let mut signed = request_signatures(&plan, options);
    let Applied {
        wanted,
        servers,
        clients,
        notices,
    } = apply(&open, plan, &versions, options, &mut signed)?;
    let clients = run_hooks(clients, options);
    let Some(wanted) = wanted else {
        return Ok(SyncReport {
            servers,
            clients,
            notices,
        });
    };
    let servers = contact(servers, connections, wanted, options, &mut on_server);
    Ok(SyncReport {
        servers,
        clients,
        notices,
    })
}

/// Plans and (unless a dry run) writes each client output's files, from the state as it is.
fn sync_clients(
    state: &mut StateDir,
    names: &[crate::accounts::names::ClientName],
    options: &SyncOptions,
    signed: &mut crate::fleet::round::Signed,
) -> Result<Vec<ClientSync>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let ca = state.sync_ca()?;
    let now = state.now();
    let mut out = Vec::with_capacity(names.len());
    // Each read alone, in name order; one removed since is passed over.
    let mut names = names.to_vec();
    names.sort();
    for name in &names {
        let Some(client) = state.client(name)? else {
            continue;
        };
        let plan = crate::clients::renewal::plan_client(&client, &ca, options.renew_within, now);
        let written = if options.dry_run || plan.is_empty() {
            Ok(WrittenFiles::default())
        } else {
            for path in client.outputs() {
                crate::output::atomic::remove_stale_temps_beside(&[path]);
            }
            match signed.remove(&RequestFor::Client(client.name.clone())) {
                Some(Err(e)) if plan.renew.is_some() => Err(e),
                Some(Ok(bundle)) if plan.renew.is_some() => {
                    state.write_client_files(&client, &plan, &ca, Some(bundle))
                }
                _ => state.write_client_files(&client, &plan, &ca, None),
            }
        };
        out.push(ClientSync {
            client,
            plan,
            written,
            hook: None,
        });
    }
    Ok(out)
}

/// A server to contact in step 4: whether its bundle changed, and the connection step 2 left
/// open to it.
type Contact = (RegisteredServer, bool, Option<live::Live>);

/// What each server runs, asked of all at once within the deadline (`None` where it could not
/// be learnt), and the connection each was asked on, kept for step 4.
fn server_versions(
    servers: &[RegisteredServer],
    wanted: &Arc<live::Wanted>,
    options: &SyncOptions,
) -> (Vec<Option<live::ServerVersion>>, Vec<Option<live::Live>>) {
    let wanted = Arc::clone(wanted);
    let timeout = options.timeout;
    let ask = move |server: RegisteredServer| {
        let mut conn = live::Live::connect(&server.addr, &wanted.login_for(&server), timeout)?;
        let version = conn.server_version(&server.addr)?;
        Ok((version, conn))
    };
    let mut versions = vec![None; servers.len()];
    let mut open: Vec<Option<live::Live>> = servers.iter().map(|_| None).collect();
    let jobs = servers
        .iter()
        .map(|s| (!s.sentinel).then(|| s.clone()))
        .collect();
    on_each(jobs, ask, options.deadline, |i, outcome| {
        if let Some(Ok((version, conn))) = outcome {
            versions[i] = version;
            open[i] = Some(conn);
        }
    });
    (versions, open)
}

/// The servers and client outputs a selection names (a name is a server's or a client
/// output's), refused when there is none.
pub(crate) fn selected(
    state: &StateDir,
    selection: &Selection,
) -> Result<(Vec<RegisteredServer>, Vec<ClientOutput>)> {
    let (servers, clients) = match selection {
        Selection::All => (state.all_servers()?, state.all_clients()?),
        // Its own registrations, each read alone: not the whole fleet's.
        Selection::Node(node) => return state.registrations_of(node),
        Selection::Named(names) if names.is_empty() => return Err(Error::NoServerSelected),
        Selection::Named(names) => {
            // `sync r1 r1 r1` is one sync of r1, not three at once.
            let (mut servers, mut clients) = (Vec::new(), Vec::new());
            for name in names {
                let client = || match name.as_str().parse() {
                    Ok(name) => state.client(&name),
                    Err(_) => Ok(None),
                };
                if let Some(s) = state.find_server(name)? {
                    if !servers.contains(&s) {
                        servers.push(s);
                    }
                } else if let Some(c) = client()? {
                    if !clients.contains(&c) {
                        clients.push(c);
                    }
                } else {
                    return Err(Error::NotFound {
                        what: "server",
                        name: name.to_string(),
                    });
                }
            }
            (servers, clients)
        }
    };
    if servers.is_empty() && clients.is_empty() {
        return Err(Error::NoServerRegistered);
    }
    Ok((servers, clients))
}

fn thread_failed() -> Error {
    ServerError::Thread { source: None }.into()
}

/// `f` on each job, each in a thread of its own (servers are contacted at once), handing each
/// outcome to `deliver` as soon as it is done, in the order they finish: `None` for an item with
/// no job, `Some(Err)` for a job whose thread failed or that was not done within `deadline`
/// (its thread is left behind: it holds only its own connection, and ends with the process).
pub(crate) fn on_each<I: Send + 'static, T: Send + 'static>(
    jobs: Vec<Option<I>>,
    f: impl Fn(I) -> Result<T> + Send + Sync + 'static,
    deadline: Duration,
    mut deliver: impl FnMut(usize, Option<Result<T>>),
) {
    let f = Arc::new(f);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut pending = Vec::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let Some(job) = job else {
            deliver(i, None);
            continue;
        };
        let (tx, f) = (tx.clone(), Arc::clone(&f));
        let spawned = std::thread::Builder::new().spawn(move || {
            // A panic drops `tx` without a send: reported below as a failed thread.
            let _ = tx.send((i, f(job)));
        });
        match spawned {
            Ok(_) => pending.push(i),
            Err(e) => deliver(i, Some(Err(ServerError::Thread { source: Some(e) }.into()))),
        }
    }
    drop(tx);
    let end = std::time::Instant::now() + deadline;
    while !pending.is_empty() {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, outcome)) => {
                pending.retain(|p| *p != i);
                deliver(i, Some(outcome));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                for i in pending.drain(..) {
                    deliver(i, Some(Err(Error::ServerTimeout { deadline })));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                for i in pending.drain(..) {
                    deliver(i, Some(Err(thread_failed())));
                }
            }
        }
    }
}

/// Moves a manual rotation to `phase` (the CA handle's [`rotate_checked`](crate::state::Ca::rotate_checked)), and before `standby`
/// (unless `force`) also asks each registered server this host reaches which certificate it
/// serves: one that still serves a certificate the outgoing key signed (its files renewed, a
/// reload that failed) refuses the move with [`Error::ServersNotReloaded`], since from
/// `standby` on no client trusts it. A server that does not answer within `timeout` is judged
/// by its files alone, as before.
pub fn rotate(
    open: impl Fn() -> Result<StateDir>,
    phase: crate::pki::rotation::Phase,
    force: bool,
    timeout: Duration,
) -> Result<crate::pki::ca::HostCa> {
    if phase == crate::pki::rotation::Phase::Standby && !force {
        let (servers, ca) = {
            let mut state = open()?;
            let ca = state.existing_host_ca()?;
            (state.all_servers()?, ca)
        };
        if let Some(ca) =
            ca.filter(|ca| ca.rotation().phase == crate::pki::rotation::Phase::UpdateServers)
        {
            let stale = servers_serving_outgoing(&servers, &ca, timeout);
            if !stale.is_empty() {
                return Err(Error::ServersNotReloaded { servers: stale });
            }
        }
    }
    open()?.rotate_checked(phase, force)
}

/// The servers of this host (or of none) that answer with a certificate not signed by `ca`'s
/// active key, asked all at once.
fn servers_serving_outgoing(
    servers: &[RegisteredServer],
    ca: &crate::pki::ca::HostCa,
    timeout: Duration,
) -> Vec<String> {
    let here = crate::state::this_node();
    let active = ca.active().pin();
    let jobs = servers
        .iter()
        .map(|s| (!s.sentinel && (s.node.is_none() || s.node == here)).then(|| s.clone()))
        .collect();
    let mut signers = vec![None; servers.len()];
    let ask = move |server: RegisteredServer| live::served_certificate(&server.addr, timeout);
    on_each(jobs, ask, timeout + Duration::from_secs(1), |i, outcome| {
        signers[i] = outcome.and_then(Result::ok);
    });
    let mut stale = Vec::new();
    for (server, der) in servers.iter().zip(signers) {
        let Some(der) = der else { continue };
        let report =
            crate::pki::inspect::inspect_der(&der, Some(ca), time::OffsetDateTime::now_utc());
        let signed_by = report.ok().and_then(|r| r.signed_by);
        if signed_by.as_deref() != Some(active.as_str()) {
            stale.push(server.name.to_string());
        }
    }
    stale
}

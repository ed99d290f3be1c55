//! The named steps of [`sync_servers`](super::sync_servers): plan, lock, contact (ask each
//! server its version), request signatures (a node without the CA key), apply (the files,
//! under the state's lock), run the client outputs' hooks, contact again and report.

use std::sync::Arc;
use std::time::Duration;

use super::{
    ClientSync, Contact, Selection, ServerSync, on_each, round, selected, server_versions,
    sync_clients,
};
use crate::accounts::names::ServerName;
use crate::clients::output::ClientOutput;
use crate::error::{Result, ServerError};
use crate::requests::RequestFor;
use crate::servers::live::{self, SyncOptions};
use crate::servers::registered::RegisteredServer;
use crate::state::{Notice, StateDir, WrittenFiles};

/// Step 1's outcome: what is to be synced, read with the state closed again before any
/// server is contacted.
pub(super) struct Plan {
    pub(super) servers: Vec<RegisteredServer>,
    pub(super) clients: Vec<ClientOutput>,
    pub(super) wanted: Option<Arc<live::Wanted>>,
    /// The CA, for client outputs synced without servers (to judge their files).
    pub(super) client_ca: Option<crate::pki::ca::HostCa>,
    pub(super) notices: Vec<Notice>,
    pub(super) locks: Box<dyn crate::storage::ServerLocks>,
    /// Without the CA key (a node without the passphrase), certificates come through signing
    /// requests, where the state carries them.
    pub(super) queue: Option<Box<dyn crate::storage::queue::RequestQueue>>,
}

/// On a shared state, what this host may act on: the registrations of the node it syncs as
/// (`--node`, else this host's name) and those registered without a node. Another node's files
/// are written, and its hooks run, only by that node: an admin's `--all` leaves them out, and
/// naming one is refused.
fn held_here(
    state: &StateDir,
    selection: &Selection,
    mut servers: Vec<crate::servers::registered::RegisteredServer>,
    mut clients: Vec<crate::clients::output::ClientOutput>,
) -> Result<(
    Vec<crate::servers::registered::RegisteredServer>,
    Vec<crate::clients::output::ClientOutput>,
)> {
    if state.request_queue().is_err() {
        return Ok((servers, clients));
    }
    let here = match selection {
        Selection::Node(node) => Some(node.clone()),
        _ => crate::state::this_node(),
    };
    let elsewhere = |node: &Option<crate::accounts::names::NodeName>| {
        node.as_ref().filter(|n| Some(*n) != here.as_ref()).cloned()
    };
    if let Selection::Named(_) = selection {
        let other = servers
            .iter()
            .find_map(|s| elsewhere(&s.node).map(|n| ("server", s.name.to_string(), n)))
            .or_else(|| {
                clients.iter().find_map(|c| {
                    elsewhere(&c.node).map(|n| ("client output", c.name.to_string(), n))
                })
            });
        if let Some((what, name, node)) = other {
            return Err(crate::error::Denial::HeldByNode {
                what,
                name,
                node: node.to_string(),
            }
            .into());
        }
    }
    servers.retain(|s| elsewhere(&s.node).is_none());
    clients.retain(|c| elsewhere(&c.node).is_none());
    Ok((servers, clients))
}

/// 1. Plan: the selected servers and client outputs, and what they should be.
pub(super) fn plan(
    open: &impl Fn() -> Result<StateDir>,
    selection: &Selection,
    options: &SyncOptions,
) -> Result<Plan> {
    let mut state = open()?;
    let read = selected(&state, selection).and_then(|(servers, clients)| {
        let (servers, clients) = held_here(&state, selection, servers, clients)?;
        let wanted = if servers.is_empty() {
            None
        } else {
            Some(state.wanted(&servers)?)
        };
        let client_ca = if wanted.is_none() && !clients.is_empty() {
            Some(state.sync_ca()?)
        } else {
            None
        };
        Ok((servers, clients, wanted, client_ca))
    });
    let notices = state.take_notices();
    let (servers, clients, wanted, client_ca) = read?;
    let locked = wanted
        .as_ref()
        .map(|w| &w.ca)
        .or(client_ca.as_ref())
        .is_some_and(crate::pki::ca::HostCa::is_locked);
    let queue = if locked && !options.dry_run {
        state.request_queue().ok()
    } else {
        None
    };
    Ok(Plan {
        servers,
        clients,
        wanted: wanted.map(Arc::new),
        client_ca,
        notices,
        locks: state.server_locks()?,
        queue,
    })
}

/// Lock: each server's lock, held from before the state is read for its files until its live
/// part is done: a second sync of it waits, then reads the newest state, and the last one to
/// finish has applied the newest state. Taken in name order, so that two syncs of overlapping
/// servers never wait for each other. A dry run changes nothing and waits for nobody.
pub(super) fn lock(plan: &Plan, options: &SyncOptions) -> Result<Vec<Box<dyn Send>>> {
    if options.dry_run {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = plan.servers.iter().map(|s| s.name.to_string()).collect();
    // A client's lock: '=' is in no name, so it is no server's.
    names.extend(plan.clients.iter().map(|c| format!("client={}", c.name)));
    names.sort_unstable();
    let wait = options.deadline + options.wait + Duration::from_secs(30);
    names
        .into_iter()
        .map(|name| plan.locks.lock(&name, wait))
        .collect()
}

/// 2. Contact: what each server runs; unknown (unreachable, say) when it does not answer, and
///    then step 4 says why.
pub(super) fn ask_versions(
    plan: &Plan,
    options: &SyncOptions,
) -> (Versions, Vec<Option<live::Live>>) {
    match &plan.wanted {
        Some(wanted) if !options.no_reload => server_versions(&plan.servers, wanted, options),
        _ => (
            vec![None; plan.servers.len()],
            plan.servers.iter().map(|_| None).collect(),
        ),
    }
}

pub(super) type Versions = Vec<Option<live::ServerVersion>>;

/// 2½. On a node without the CA key: a signing request for each certificate due, answered by
///     the signer (the new keys are made here and never leave).
pub(super) fn request_signatures(plan: &Plan, options: &SyncOptions) -> round::Signed {
    let ca = plan
        .wanted
        .as_ref()
        .map(|w| &w.ca)
        .or(plan.client_ca.as_ref());
    let (Some(queue), Some(ca)) = (&plan.queue, ca) else {
        return round::Signed::new();
    };
    let wanted = plan.wanted.as_deref();
    // Asked for only where this node has no password of its own to log in with.
    let hash = plan
        .wanted
        .as_ref()
        .filter(|w| w.login.password.is_none())
        .map(|w| &w.login.password_hash);
    let signer = round::Signer {
        queue: queue.as_ref(),
        ca,
    };
    round::request_due(signer, &plan.servers, &plan.clients, wanted, hash, options)
}

/// Step 3's outcome.
pub(super) struct Applied {
    pub(super) wanted: Option<live::Wanted>,
    pub(super) servers: Vec<ServerSync>,
    pub(super) clients: Vec<ClientSync>,
    pub(super) notices: Vec<Notice>,
}

/// 3. Apply: each server's and client output's files, from the state as it is now, under its
///    lock; the state is closed again before any server is contacted.
pub(super) fn apply(
    open: &impl Fn() -> Result<StateDir>,
    plan: Plan,
    versions: &[Option<live::ServerVersion>],
    options: &SyncOptions,
    signed: &mut round::Signed,
) -> Result<Applied> {
    let names: Vec<ServerName> = plan.servers.iter().map(|s| s.name.clone()).collect();
    let client_names: Vec<_> = plan.clients.iter().map(|c| c.name.clone()).collect();
    let mut notices = plan.notices;
    let mut state = open()?;
    let prepared = state.retrying(|state| {
        let clients = sync_clients(state, &client_names, options, signed)?;
        if names.is_empty() {
            return Ok((None, Vec::new(), clients));
        }
        let servers = state.registered_servers(&names)?;
        let wanted = state.wanted(&servers)?;
        let items: Vec<ServerSync> = servers
            .into_iter()
            .zip(versions)
            .map(|(server, version)| server_files(state, server, version, &wanted, options, signed))
            .collect();
        Ok((Some(wanted), items, clients))
    });
    notices.extend(state.take_notices());
    drop(state);
    let (wanted, servers, clients) = prepared?;
    Ok(Applied {
        wanted,
        servers,
        clients,
        notices,
    })
}

/// One server's files in step 3: none for a server that could not load them, none in a dry
/// run, else what its plan says (with the bundle its signing request brought, if any).
pub(super) fn server_files(
    state: &mut StateDir,
    server: RegisteredServer,
    version: &Option<live::ServerVersion>,
    wanted: &live::Wanted,
    options: &SyncOptions,
    signed: &mut round::Signed,
) -> ServerSync {
    let plan = state.plan_server_files(&server, wanted, options.renew_within);
    let refused = version.and_then(|v| v.refuses(wanted.target));
    let written = if let Some(why) = refused {
        Err(ServerError::VersionRefuses {
            addr: server.addr.to_string(),
            reason: why.to_string(),
        }
        .into())
    } else if options.dry_run {
        Ok(WrittenFiles::default())
    } else {
        // What a killed sync left (a temp key among them) goes at the next run, whether or
        // not anything is written now.
        for path in server.outputs() {
            crate::output::atomic::remove_stale_temps_beside(&[path]);
        }
        match signed.remove(&RequestFor::Server(server.name.clone())) {
            _ if plan.is_empty() => Ok(WrittenFiles::default()),
            Some(Err(e)) if plan.renew.is_some() => Err(e),
            Some(Ok(bundle)) if plan.renew.is_some() => {
                state.write_server_files(&server, &plan, wanted, Some(bundle))
            }
            _ => state.write_server_files(&server, &plan, wanted, None),
        }
    };
    ServerSync {
        server,
        plan,
        written,
        live: None,
    }
}

/// The hooks of the client outputs written, with the state closed.
pub(super) fn run_hooks(mut clients: Vec<ClientSync>, options: &SyncOptions) -> Vec<ClientSync> {
    let hooks: Vec<Option<ClientOutput>> = clients
        .iter()
        .map(|c| {
            let written = c.written.as_ref().is_ok_and(|w| !w.paths.is_empty());
            (written && c.client.exec.is_some()).then(|| c.client.clone())
        })
        .collect();
    let deadline = options.deadline;
    let hook = move |client: ClientOutput| crate::clients::hook::run_hook(&client, deadline);
    on_each(
        hooks,
        hook,
        deadline + Duration::from_secs(1),
        |i, outcome| {
            clients[i].hook = outcome;
        },
    );
    clients
}

/// 4. Contact again and report: each server whose files were written (not a sentinel, which
///    loads TLS files only at start), on the connection step 2 opened when it still answers;
///    each outcome reaches `on_server` as it is done.
pub(super) fn contact(
    mut items: Vec<ServerSync>,
    mut connections: Vec<Option<live::Live>>,
    wanted: live::Wanted,
    options: &SyncOptions,
    on_server: &mut impl FnMut(&ServerSync),
) -> Vec<ServerSync> {
    let jobs: Vec<Option<Contact>> = items
        .iter()
        .zip(connections.iter_mut())
        .map(|(item, open)| {
            (item.written.is_ok() && !options.no_reload && !item.server.sentinel)
                .then(|| (item.server.clone(), item.plan.changes_bundle(), open.take()))
        })
        .collect();
    let options_copy = *options;
    let contact = move |(server, files_changed, open): Contact| {
        live::sync_live_on(&server, &wanted, files_changed, options_copy, open)
    };
    on_each(jobs, contact, options.deadline, |i, outcome| {
        items[i].live = outcome;
        on_server(&items[i]);
    });
    items
}

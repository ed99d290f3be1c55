//! `redis check` over the registered servers and client outputs, as one library call: each
//! server's files, served certificate, settings and accounts, and each client output's files
//! read in its format, against the state, changing nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::clients::output::ClientOutput;
use crate::error::Result;
use crate::fleet::{Selection, on_each, selected};
use crate::servers::live;
use crate::servers::registered::RegisteredServer;
use crate::state::{Notice, StateDir};

/// What `redis check` found on one server: one line each, empty when it is in line.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerCheck {
    /// The server.
    pub server: RegisteredServer,
    /// Each problem, one line each.
    pub findings: Vec<String>,
}

/// What `redis check` found on one client output: one line each, empty when it is in line.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientCheck {
    /// The client output.
    pub client: ClientOutput,
    /// Each problem, one line each.
    pub findings: Vec<String>,
}

/// What a whole check found.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetCheck {
    /// Each server's findings, in the order selected.
    pub servers: Vec<ServerCheck>,
    /// Each client output's findings, in the order selected.
    pub clients: Vec<ClientCheck>,
    /// What the state noticed while it was read.
    pub notices: Vec<Notice>,
}

impl FleetCheck {
    /// How many problems were found in all.
    pub fn problems(&self) -> usize {
        let servers = self.servers.iter().map(|c| c.findings.len());
        let clients = self.clients.iter().map(|c| c.findings.len());
        servers.chain(clients).sum()
    }
}

/// Checks the selected servers and client outputs against the state, all at once, changing
/// nothing: a server's files, the certificate it serves, its TLS settings and its accounts
/// ([`live::check_server`]); a client output's files, read in its format, as a sync would
/// judge them. `state` is closed before any server is contacted. `timeout` bounds each
/// connection and answer, `deadline` the whole of one server.
pub fn check_servers(
    mut state: StateDir,
    selection: &Selection,
    timeout: Duration,
    deadline: Duration,
) -> Result<FleetCheck> {
    let prepared = selected(&state, selection).and_then(|(servers, clients)| {
        let wanted = if servers.is_empty() {
            None
        } else {
            Some(state.wanted(&servers)?)
        };
        // Client outputs alone still need the CA, to judge their files.
        let ca = match &wanted {
            None if !clients.is_empty() => Some(state.sync_ca()?),
            _ => None,
        };
        Ok((servers, clients, wanted, ca))
    });
    let notices = state.take_notices();
    let now = state.now();
    drop(state);
    let (servers, clients, wanted, ca) = prepared?;
    let clients = match wanted.as_ref().map(|w| &w.ca).or(ca.as_ref()) {
        Some(ca) => clients
            .into_iter()
            .map(|client| {
                let findings = client_findings(&client, ca, now);
                ClientCheck { client, findings }
            })
            .collect(),
        None => Vec::new(),
    };
    let servers = match wanted {
        Some(wanted) => check_live(servers, Arc::new(wanted), timeout, deadline),
        None => Vec::new(),
    };
    Ok(FleetCheck {
        servers,
        clients,
        notices,
    })
}

/// Each server checked at once, within `deadline`.
fn check_live(
    servers: Vec<RegisteredServer>,
    wanted: Arc<live::Wanted>,
    timeout: Duration,
    deadline: Duration,
) -> Vec<ServerCheck> {
    let mut findings: Vec<Vec<String>> = vec![Vec::new(); servers.len()];
    let jobs = servers.iter().cloned().map(Some).collect();
    let check = move |server: RegisteredServer| {
        if server.sentinel {
            return Ok(sentinel_findings(&server, &wanted));
        }
        Ok(live::check_server(&server, &wanted, timeout))
    };
    on_each(jobs, check, deadline, |i, outcome| {
        findings[i] = match outcome {
            Some(Ok(found)) => found,
            Some(Err(e)) => vec![e.to_string()],
            None => Vec::new(),
        };
    });
    servers
        .into_iter()
        .zip(findings)
        .map(|(server, findings)| ServerCheck { server, findings })
        .collect()
}

/// A client output's findings: what a sync would write for it, and why.
fn client_findings(
    client: &ClientOutput,
    ca: &crate::pki::ca::HostCa,
    now: time::OffsetDateTime,
) -> Vec<String> {
    let plan = crate::clients::renewal::plan_client(client, ca, None, now);
    let mut found = Vec::new();
    if let Some(why) = &plan.renew {
        found.push(format!("its certificate needs renewing ({why})"));
    }
    if plan.write_cas {
        found
            .push("its trust bundle does not hold exactly the trusted CA certificates".to_string());
    }
    found
}

/// A sentinel's findings: its files only (what it serves is read at its start).
fn sentinel_findings(server: &RegisteredServer, wanted: &live::Wanted) -> Vec<String> {
    let plan = live::files::plan_files(
        server,
        &wanted.ca,
        None,
        None,
        time::OffsetDateTime::now_utc(),
    );
    let mut found = Vec::new();
    if let Some(why) = &plan.renew {
        found.push(format!(
            "{}: its certificate needs renewing ({why})",
            server.addr
        ));
    }
    if plan.write_cas {
        found.push(format!(
            "{}: its trust bundle does not hold exactly the trusted CA certificates",
            server.addr
        ));
    }
    found
}

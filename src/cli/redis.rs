//! `redis config`, `redis target`, `redis add|ls|rm`.

use crate::cli::error::Result;
use crate::cli::error::{CliError, Counted};
use rctl::{Error, fleet};
use std::path::Path;

use super::args::*;
use super::io::*;
use super::output;
use super::{Context, with_state, with_state_read};

pub(super) fn redis_config(ctx: &Context, mut args: RedisConfigArgs) -> Result<()> {
    // A registered server's block: its paths and port from its registration, not retyped.
    let registered = match &args.name {
        Some(name) => {
            let server = with_state_read(ctx, |state| {
                state.servers().registered(std::slice::from_ref(name))
            })?
            .pop()
            .ok_or_else(|| Error::NotFound {
                what: "server",
                name: name.to_string(),
            })?;
            if server.sentinel {
                return Err(crate::cli::error::usage(format!(
                    "server {name:?} is a sentinel: 'rctl redis config --sentinel --cert-prefix={}' with its monitor settings prints its sentinel.conf",
                    server.cert_prefix.display()
                )));
            }
            args.cert_prefix = Some(server.cert_prefix.clone());
            args.acl = server.acl_file.clone();
            args.port = args.port.or(Some(server.addr.port()));
            Some(server)
        }
        None => None,
    };
    let cert_prefix = args.cert_prefix.clone().unwrap_or_default();
    rctl::RedisBundle::check_outputs(&cert_prefix, true)?;
    if args.sentinel.sentinel {
        return sentinel_config(ctx, &args, &cert_prefix);
    }
    let [crt, _, cas] = rctl::RedisBundle::paths(&cert_prefix);
    for (path, what) in [(&crt, "certificate"), (&cas, "CA bundle")] {
        if !path.is_file() {
            let how = match &registered {
                Some(server) => format!("'rctl redis sync {}' writes it", server.name),
                None => format!(
                    "sign one with 'rctl auth sign --out={}'",
                    cert_prefix.display()
                ),
            };
            return Err(crate::cli::error::usage(format!(
                "no {what} at {}; {how}",
                path.display()
            )));
        }
    }
    if let Some(acl) = &args.acl
        && !acl.is_file()
    {
        return Err(crate::cli::error::usage(format!(
            "no users.acl at {}",
            acl.display()
        )));
    }
    let cert_login = match args.cert_login {
        Some(v) => v == OnOff::On,
        None => with_state_read(ctx, |state| state.settings().cert_login())?,
    };
    // --repl-user without --replica-of: a primary (or a cluster node) that carries the
    // replication login, so that once a failover makes it a replica it logs in at once.
    let replica_of = match (&args.replica_of, &args.repl_user) {
        (None, None) => None,
        (addr, _) => Some(replica_of(ctx, addr.as_deref(), &args, cert_login)?),
    };
    let mut config = rctl::RedisTlsConfig::new(cert_prefix);
    config.aclfile = args.acl;
    config.port = args.port.unwrap_or(6379);
    config.cluster = args.cluster;
    config.replication = args.replication;
    config.cert_login = cert_login;
    config.replica_of = replica_of;
    let text = config.render()?;
    // Everything is checked: now the setting, which the signing rules read too.
    if let Some(v) = args.cert_login {
        with_state(ctx, |state| state.settings().set_cert_login(v == OnOff::On))?;
    }
    out!("{text}")?;
    Ok(())
}

/// `HOST:PORT` of a flag, `[IPV6]:PORT` too.
fn host_port(flag: &str, addr: &str) -> Result<(String, u16)> {
    let bad =
        || crate::cli::error::usage(format!("{flag} {:?} is not HOST:PORT", rctl_shorten(addr)));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    rctl::Host::parse(host)?;
    Ok((host.to_string(), port))
}

/// `redis config --sentinel`: the account must exist; its password comes on stdin.
fn sentinel_config(ctx: &Context, args: &RedisConfigArgs, cert_prefix: &Path) -> Result<()> {
    let s = &args.sentinel;
    let (Some(name), Some(primary), Some(quorum), Some(user)) =
        (&s.master_name, &s.primary, s.quorum, &s.sentinel_user)
    else {
        return Err(crate::cli::error::usage(
            "--sentinel needs --master-name, --primary, --quorum and --sentinel-user".to_string(),
        ));
    };
    let primary = host_port("--primary", primary)?;
    let [crt, _, cas] = rctl::RedisBundle::paths(cert_prefix);
    for path in [&crt, &cas] {
        if !path.is_file() {
            return Err(crate::cli::error::usage(format!(
                "no {}; sign the sentinel's bundle with 'rctl auth sign --host=... --out={}'",
                path.display(),
                cert_prefix.display()
            )));
        }
    }
    if with_state_read(ctx, |state| state.users().get(user)).is_err() {
        return Err(crate::cli::error::usage(format!(
            "no account {user:?}: create it with 'rctl users add {user} --roles=sentinel'"
        )));
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return Err(crate::cli::error::usage(format!(
            "give {user:?}'s password on standard input (a pipe or a file): rctl does not read it from a terminal, where it would be echoed"
        )));
    }
    let monitor = rctl::Monitor::new(name, primary, quorum)?;
    let config = rctl::SentinelConfig::new(
        cert_prefix,
        args.port.unwrap_or(6379),
        monitor,
        user,
        read_password()?,
    )?;
    out!("{}", config.render()?)?;
    Ok(())
}

/// `--replica-of=HOST:PORT` with its account and how it logs in.
pub(super) fn replica_of(
    ctx: &Context,
    addr: Option<&str>,
    args: &RedisConfigArgs,
    cert_login: bool,
) -> Result<rctl::ReplicaOf> {
    let primary = addr.map(|a| host_port("--replica-of", a)).transpose()?;
    let user = args.repl_user.clone().ok_or_else(|| {
        crate::cli::error::usage(
            "--replica-of needs --repl-user=NAME, an account with the replication role".to_string(),
        )
    })?;
    if with_state_read(ctx, |state| state.users().get(&user)).is_err() {
        return Err(crate::cli::error::usage(format!(
            "no account {user:?}: create it with 'rctl users add {user} --roles=replication'"
        )));
    }
    let auth = if cert_login {
        let prefix = args.repl_cert_prefix.clone().ok_or_else(|| {
            crate::cli::error::usage(format!(
                "with certificate login the replica logs in with a certificate for {user:?}: give --repl-cert-prefix=PREFIX (from 'rctl auth sign --user=... --db-user={user} --out=PREFIX')"
            ))
        })?;
        for path in &rctl::RedisBundle::paths(&prefix)[..2] {
            if !path.is_file() {
                return Err(crate::cli::error::usage(format!(
                    "no {} for the replication account",
                    path.display()
                )));
            }
        }
        rctl::ReplicaAuth::Certificate(prefix)
    } else {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            return Err(crate::cli::error::usage(format!(
                "give {user:?}'s password on standard input (a pipe or a file): rctl does not read it from a terminal, where it would be echoed"
            )));
        }
        rctl::ReplicaAuth::Password(read_password()?)
    };
    Ok(rctl::ReplicaOf::new(primary, user, auth))
}

pub(super) fn redis_target(ctx: &Context, args: RedisTargetArgs) -> Result<()> {
    let target = match args.target {
        Some(t) => with_state(ctx, |state| {
            state.settings().set_redis_target(t).map(|()| t)
        })?,
        None => with_state_read(ctx, |state| state.settings().redis_target())?,
    };
    outln!("{target}")?;
    Ok(())
}

pub(super) fn redis_add(ctx: &Context, args: RedisAddArgs) -> Result<()> {
    let mut server = rctl::RegisteredServer::new(args.name, args.addr, &args.cert_prefix)?;
    if let Some(hosts) = &args.hosts {
        server = server.with_hosts(rctl::parse_host_list(hosts)?)?;
    }
    if let Some(acl) = &args.acl_file {
        server = server.with_acl_file(acl)?;
    }
    if let Some(algorithm) = args.key_algo {
        server = server.with_key_algorithm(algorithm);
    }
    if let Some(ttl) = args.ttl {
        server = server.with_ttl(ttl);
    }
    if let Some(owner) = args.owner {
        server = server.with_owner(owner);
    }
    if let Some(labels) = args.labels {
        server = server.with_labels(labels);
    }
    if let Some(text) = &args.description {
        server = server.with_description(text)?;
    }
    if let Some(node) = args.node {
        server = server.with_node(node);
    }
    if args.sentinel {
        server = server.as_sentinel()?;
    }
    with_state(ctx, |state| state.servers().add(&server))?;
    outln!(
        "Server {:?} registered: {}, certificate {}.crt for {}.",
        server.name,
        server.addr,
        server.cert_prefix.display(),
        output::host_list(&server.hosts)
    )?;
    Ok(())
}

pub(super) fn redis_ls(ctx: &Context, args: super::client_args::NodeListArgs) -> Result<()> {
    let mut servers = with_state_read(ctx, |state| state.servers().list())?;
    if let Some(node) = &args.node {
        servers.retain(|s| s.node.as_ref() == Some(node));
    }
    out!("{}", output::servers(&servers, args.format)?)?;
    Ok(())
}

pub(super) fn redis_rm(ctx: &Context, args: RedisRmArgs) -> Result<()> {
    with_state(ctx, |state| state.servers().remove(&args.name))?;
    outln!("Server {:?} has been removed; its files stay.", args.name)?;
    Ok(())
}

pub(super) fn redis_sync(ctx: &Context, args: RedisSyncArgs) -> Result<()> {
    let metrics = args
        .metrics
        .as_deref()
        .and_then(|p| metrics_file(ctx, p))
        .transpose()?;
    let mut options = rctl::servers::live::SyncOptions::default();
    options.dry_run = args.dry_run;
    options.no_reload = args.no_reload;
    options.renew_within = args.renew_within.map(|t| t.as_std());
    options.wait = args.wait.as_std();
    if let Some(deadline) = args.timeout {
        options.deadline = deadline.as_std();
        options.timeout = options.timeout.min(options.deadline);
    }
    let open = || {
        if args.dry_run {
            ctx.open_read_only()
        } else {
            ctx.open()
        }
    };
    let selection = selection(ctx, &args.servers)?;
    if args.watch {
        return super::agent::watch(ctx, &args, &selection, &options, metrics);
    }
    let mut printed = Ok(());
    let report = fleet::sync_servers(open, &selection, &options, |server| {
        if printed.is_ok() {
            printed = outln!("{}", sync_line(server, args.dry_run));
        }
    });
    let report = show_notices(report, |r| &r.notices)?;
    printed?;
    if let Some(path) = metrics {
        sync_metrics(ctx, path, &report, &options)?;
    }
    if report.servers.is_empty() && report.clients.is_empty() {
        errln!("note: nothing is registered for this node: no server, no client output");
    }
    for client in &report.clients {
        outln!("{}", client_line(client, args.dry_run))?;
    }
    crate::cli::error::in_line(&report)
}

pub(super) fn sync_metrics(
    ctx: &Context,
    path: &Path,
    report: &fleet::SyncReport,
    options: &rctl::servers::live::SyncOptions,
) -> Result<()> {
    let ca = with_state_read(ctx, |state| state.ca().existing())?;
    let now = time::OffsetDateTime::now_utc();
    let text = rctl::fleet::metrics::sync_metrics(report, ca.as_ref(), now, options.renew_within)?;
    write_metrics(path, &text);
    Ok(())
}

/// One line per client output: what its files needed, what was written, its hook.
pub(super) fn client_line(item: &rctl::fleet::ClientSync, dry_run: bool) -> String {
    let mut done: Vec<String> = Vec::new();
    let plan = &item.plan;
    if let Some(why) = &plan.renew {
        let verb = if dry_run { "would renew" } else { "renewed" };
        done.push(format!("{verb} the certificate ({why})"));
    } else if plan.write_cas {
        let verb = if dry_run { "would write" } else { "wrote" };
        done.push(format!(
            "{verb} its trust bundle (the CA's trusted keys changed)"
        ));
    }
    match &item.written {
        Ok(w) => {
            if let Some(serial) = &w.serial {
                done.push(format!("signed serial {serial}"));
            }
        }
        Err(e) => done.push(format!("FAILED: {}", super::error::lib_message(e))),
    }
    match &item.hook {
        Some(Ok(())) => done.push("ran its hook".to_string()),
        Some(Err(e)) => done.push(format!(
            "FAILED: {} (the files are renewed)",
            super::error::lib_message(e)
        )),
        None => {}
    }
    if done.is_empty() {
        done.push("in line".to_string());
    }
    super::error::one_line(format!("client {}: {}", item.client.name, done.join("; ")))
}

pub(super) fn redis_check(ctx: &Context, args: RedisCheckArgs) -> Result<()> {
    let metrics = args
        .metrics
        .as_deref()
        .and_then(|p| metrics_file(ctx, p))
        .transpose()?;
    let deadline = args
        .timeout
        .map_or(rctl::servers::live::DEFAULT_DEADLINE, |t| t.as_std());
    let checked = fleet::check_servers(
        ctx.open_read_only()?,
        &selection(ctx, &args.servers)?,
        rctl::servers::live::DEFAULT_TIMEOUT.min(deadline),
        deadline,
    );
    let check = show_notices(checked, |c| &c.notices)?;
    if let Some(path) = metrics {
        let text = rctl::fleet::metrics::check_metrics(&check, time::OffsetDateTime::now_utc())?;
        write_metrics(path, &text);
    }
    let servers = check.servers.iter().map(|c| output::CheckReport {
        server: Some(c.server.name.to_string()),
        addr: Some(c.server.addr.to_string()),
        client: None,
        out: None,
        findings: c.findings.clone(),
    });
    let clients = check.clients.iter().map(|c| output::CheckReport {
        server: None,
        addr: None,
        client: Some(c.client.name.to_string()),
        out: Some(c.client.out.display().to_string()),
        findings: c.findings.clone(),
    });
    let reports: Vec<output::CheckReport> = servers.chain(clients).collect();
    out!("{}", output::check(&reports, args.format)?)?;
    let problems = check.problems();
    if problems > 0 {
        let behind = reports.iter().filter(|r| !r.findings.is_empty()).count();
        return Err(CliError::Problems {
            problems,
            behind,
            of: Counted {
                servers: check.servers.len(),
                clients: check.clients.len(),
            },
        });
    }
    Ok(())
}

/// A `--metrics` file: refused inside the state; a folder that does not exist is a warning on
/// that file (`None`: no metrics this run), never a reason to leave the servers alone.
fn metrics_file<'a>(ctx: &Context, path: &'a Path) -> Option<Result<&'a Path>> {
    if let Err(e) = ctx.outside_state(path) {
        return Some(Err(e));
    }
    match rctl::check_file_output(path) {
        Ok(()) => Some(Ok(path)),
        Err(e) => {
            errln!(
                "warning: no metrics written: {}",
                super::error::lib_message(&e)
            );
            None
        }
    }
}

/// Writes the metrics; a failure is a warning (the run's own outcome stands).
fn write_metrics(path: &Path, text: &str) {
    if let Err(e) = rctl::write_public_file(path, text) {
        errln!(
            "warning: no metrics written: {}",
            super::error::lib_message(&e)
        );
    }
}

/// What a sync or check acts on: the names, `--all`, `--node`; with none of them, on a
/// shared (etcd) state, this host's node.
fn selection(ctx: &Context, selection: &ServerSelection) -> Result<fleet::Selection> {
    if selection.all {
        return Ok(fleet::Selection::All);
    }
    if let Some(node) = &selection.node {
        return Ok(fleet::Selection::Node(node.clone()));
    }
    if selection.names.is_empty() && ctx.etcd.is_some() {
        let node = rctl::this_node().ok_or_else(|| {
            crate::cli::error::usage(
                "this host's name cannot be a node name; pass --node=NODE".to_string(),
            )
        })?;
        return Ok(fleet::Selection::Node(node));
    }
    Ok(fleet::Selection::Named(selection.names.clone()))
}

/// Prints the notices a fleet call gathered (also when some server failed), then gives its
/// outcome.
fn show_notices<T>(
    result: rctl::Result<T>,
    notices: impl Fn(&T) -> &Vec<rctl::Notice>,
) -> Result<T> {
    if let Ok(value) = &result {
        for notice in notices(value) {
            errln!("{notice}");
        }
    }
    Ok(result?)
}

/// `redis sync`: one line for a server.
pub(super) fn sync_line(item: &rctl::fleet::ServerSync, dry_run: bool) -> String {
    let mut done: Vec<String> = Vec::new();
    let plan = &item.plan;
    if let Some(why) = &plan.renew {
        let verb = match (dry_run, item.written.is_ok()) {
            (true, _) => "would renew",
            (false, true) => "renewed",
            (false, false) => "renewing",
        };
        done.push(format!("{verb} the certificate ({why})"));
    }
    match &item.written {
        Ok(w) => {
            if let Some(serial) = &w.serial {
                done.push(format!("signed serial {serial}"));
            }
            if !w.paths.is_empty() {
                let names: Vec<String> = w.paths.iter().map(|p| p.display().to_string()).collect();
                done.push(format!("wrote {}", names.join(", ")));
            }
        }
        Err(e) => {
            done.push(format!("FAILED: {}", super::error::lib_message(e)));
            return line(item, &done);
        }
    }
    if dry_run {
        if plan.write_cas && plan.renew.is_none() {
            done.push(format!(
                "would write {}.cas",
                item.server.cert_prefix.display()
            ));
        }
        if let (true, Some(acl)) = (plan.write_acl, &item.server.acl_file) {
            done.push(format!("would write {}", acl.display()));
        }
    }
    live_parts(item, dry_run, &mut done);
    if done.is_empty() {
        done.push("in line".to_string());
    }
    line(item, &done)
}

/// What a sync did on a live server (or would do, in a dry run), for [`sync_line`].
fn live_parts(item: &rctl::fleet::ServerSync, dry_run: bool, done: &mut Vec<String>) {
    let would = if dry_run { "would " } else { "" };
    let plan = &item.plan;
    match item.live.as_ref() {
        None if item.server.sentinel => {
            if plan.changes_bundle() {
                done.push(format!(
                    "{would}restart it to load the new files (Sentinel cannot reload TLS files: no CONFIG SET, and SENTINEL CONFIG SET takes no tls-* setting)"
                ));
            }
        }
        None => {
            if !dry_run {
                done.push("not reloaded (--no-reload)".to_string());
            }
        }
        Some(Err(e)) => {
            done.push(format!("FAILED: {}", super::error::lib_message(e)));
        }
        Some(Ok(live)) => {
            if live.reloaded {
                done.push(if dry_run {
                    "would reload the certificate files".to_string()
                } else {
                    "reloaded the certificate files".to_string()
                });
            }
            let set: Vec<&str> = accounts(&live.accounts, false);
            let deleted: Vec<&str> = accounts(&live.accounts, true);
            if !set.is_empty() {
                done.push(format!("{would}set account(s) {}", set.join(", ")));
            }
            if !deleted.is_empty() {
                done.push(format!("{would}delete account(s) {}", deleted.join(", ")));
            }
            if done.is_empty() {
                done.push(format!("in line, serving serial {}", live.serial));
            } else if !dry_run {
                done.push(format!("verified: serving serial {}", live.serial));
            }
        }
    }
}

/// The accounts a sync sets (or deletes), each named once.
fn accounts(drift: &[rctl::servers::live::Drift], deleted: bool) -> Vec<&str> {
    let mut names: Vec<&str> = drift
        .iter()
        .filter(|d| matches!(d, rctl::servers::live::Drift::Extra(n) if n != "default") == deleted)
        .map(|d| d.account())
        .collect();
    names.dedup();
    names
}

fn line(item: &rctl::fleet::ServerSync, done: &[String]) -> String {
    super::error::one_line(format!("{}: {}", item.server.name, done.join("; ")))
}

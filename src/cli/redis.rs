//! `redis config`, `redis target`, `redis add|ls|rm`.

use rctl::{Error, Result};

use super::args::*;
use super::io::*;
use super::output;
use super::{Context, with_state, with_state_read};

pub(super) fn redis_config(ctx: &Context, args: RedisConfigArgs) -> Result<()> {
    rctl::RedisBundle::check_outputs(&args.cert_prefix, true)?;
    let [crt, _, cas] = rctl::RedisBundle::paths(&args.cert_prefix);
    for (path, what) in [(&crt, "certificate"), (&cas, "CA bundle")] {
        if !path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "no {what} at {}; sign one with 'rctl auth sign --out={}'",
                path.display(),
                args.cert_prefix.display()
            )));
        }
    }
    if let Some(acl) = &args.acl
        && !acl.is_file()
    {
        return Err(Error::InvalidArgument(format!(
            "no users.acl at {}",
            acl.display()
        )));
    }
    let cert_login = match args.cert_login {
        Some(v) => v == OnOff::On,
        None => with_state_read(ctx, |state| state.cert_login())?,
    };
    if args.repl_user.is_some() && args.replica_of.is_none() && !args.cluster {
        return Err(Error::InvalidArgument(
            "--repl-user goes with --replica-of=HOST:PORT, or with --cluster (where replicas log in to the primaries the cluster gives them)".to_string(),
        ));
    }
    let replica_of = match (&args.replica_of, &args.repl_user) {
        (None, None) => None,
        (addr, _) => Some(replica_of(ctx, addr.as_deref(), &args, cert_login)?),
    };
    let mut config = rctl::RedisTlsConfig::new(args.cert_prefix);
    config.aclfile = args.acl;
    config.port = args.port;
    config.cluster = args.cluster;
    config.replication = args.replication;
    config.cert_login = cert_login;
    config.replica_of = replica_of;
    let text = config.render()?;
    // Everything is checked: now the setting, which the signing rules read too.
    if let Some(v) = args.cert_login {
        with_state(ctx, |state| state.set_cert_login(v == OnOff::On))?;
    }
    out!("{text}")?;
    Ok(())
}

/// `--replica-of=HOST:PORT` with its account and how it logs in.
pub(super) fn replica_of(
    ctx: &Context,
    addr: Option<&str>,
    args: &RedisConfigArgs,
    cert_login: bool,
) -> Result<rctl::ReplicaOf> {
    let primary = match addr {
        None => None,
        Some(addr) => {
            let bad = || {
                Error::InvalidArgument(format!(
                    "--replica-of {:?} is not HOST:PORT",
                    rctl_shorten(addr)
                ))
            };
            let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
            rctl::Host::parse(host)?;
            Some((host.to_string(), port))
        }
    };
    let user = args.repl_user.clone().ok_or_else(|| {
        Error::InvalidArgument(
            "--replica-of needs --repl-user=NAME, an account with the replication role".to_string(),
        )
    })?;
    if with_state_read(ctx, |state| state.user(&user)).is_err() {
        return Err(Error::InvalidArgument(format!(
            "no account {user:?}: create it with 'rctl users add {user} --roles=replication'"
        )));
    }
    let auth = if cert_login {
        let prefix = args.repl_cert_prefix.clone().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "with certificate login the replica logs in with a certificate for {user:?}: give --repl-cert-prefix=PREFIX (from 'rctl auth sign --user=... --db-user={user} --out=PREFIX')"
            ))
        })?;
        for path in &rctl::RedisBundle::paths(&prefix)[..2] {
            if !path.is_file() {
                return Err(Error::InvalidArgument(format!(
                    "no {} for the replication account",
                    path.display()
                )));
            }
        }
        rctl::ReplicaAuth::Certificate(prefix)
    } else {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            return Err(Error::InvalidArgument(format!(
                "give {user:?}'s password on standard input (a pipe or a file): rctl does not read it from a terminal, where it would be echoed"
            )));
        }
        rctl::ReplicaAuth::Password(read_password()?)
    };
    Ok(rctl::ReplicaOf::new(primary, user, auth))
}

pub(super) fn redis_target(ctx: &Context, args: RedisTargetArgs) -> Result<()> {
    let target = match args.target {
        Some(t) => with_state(ctx, |state| state.set_redis_target(t).map(|()| t))?,
        None => with_state_read(ctx, |state| state.redis_target())?,
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
    with_state(ctx, |state| state.add_server(&server))?;
    outln!(
        "Server {:?} registered: {}, certificate {}.crt for {}.",
        server.name,
        server.addr,
        server.cert_prefix.display(),
        output::host_list(&server.hosts)
    )?;
    Ok(())
}

pub(super) fn redis_ls(ctx: &Context, args: FormatArgs) -> Result<()> {
    let servers = with_state_read(ctx, |state| state.servers())?;
    out!("{}", output::servers(&servers, args.format)?)?;
    Ok(())
}

pub(super) fn redis_rm(ctx: &Context, args: RedisRmArgs) -> Result<()> {
    with_state(ctx, |state| state.remove_server(&args.name))?;
    outln!("Server {:?} has been removed; its files stay.", args.name)?;
    Ok(())
}

/// One server's part of `redis sync`: its files' plan and what writing them gave.
pub(super) struct SyncItem {
    pub(super) server: rctl::RegisteredServer,
    pub(super) plan: rctl::live::FilePlan,
    pub(super) written: Result<rctl::WrittenFiles>,
}

pub(super) fn redis_sync(ctx: &Context, args: RedisSyncArgs) -> Result<()> {
    let renew_within = args.renew_within.map(|t| t.as_std());
    let dry_run = args.dry_run;
    // Under the state's lock: what each server needs, and its files written. The lock is
    // released before any server is contacted.
    let prepare = |state: &mut rctl::StateDir| {
        let servers = registered(state, &args.servers)?;
        let wanted = state.wanted()?;
        let items: Vec<SyncItem> = servers
            .into_iter()
            .map(|server| {
                let plan = state.plan_server_files(&server, &wanted, renew_within);
                let written = if dry_run || plan.is_empty() {
                    Ok(rctl::WrittenFiles::default())
                } else {
                    state.write_server_files(&server, &plan, &wanted)
                };
                SyncItem {
                    server,
                    plan,
                    written,
                }
            })
            .collect();
        Ok((wanted, items))
    };
    let (wanted, items) = if dry_run {
        with_state_read(ctx, prepare)?
    } else {
        with_state(ctx, prepare)?
    };
    let options = rctl::live::SyncOptions {
        dry_run,
        no_reload: args.no_reload,
        timeout: rctl::live::DEFAULT_TIMEOUT,
    };
    let wanted = &wanted;
    let lives = on_each(&items, |item| {
        // A server whose files could not be written is not contacted.
        item.written.as_ref().ok()?;
        if args.no_reload {
            return None;
        }
        Some(rctl::live::sync_live(
            &item.server,
            wanted,
            item.plan.changes_bundle(),
            options,
        ))
    })
    .into_iter()
    .map(|live| live.unwrap_or_else(|e| Some(Err(e))))
    .collect::<Vec<_>>();
    let mut failed = 0;
    for (item, live) in items.iter().zip(&lives) {
        let (line, ok) = output::sync_line(item, live.as_ref(), dry_run);
        failed += usize::from(!ok);
        outln!("{line}")?;
    }
    if failed > 0 {
        return Err(Error::Server(format!(
            "{failed} of {} server(s) not in line",
            items.len()
        )));
    }
    Ok(())
}

pub(super) fn redis_check(ctx: &Context, args: RedisCheckArgs) -> Result<()> {
    let (servers, wanted) = with_state_read(ctx, |state| {
        let servers = registered(state, &args.servers)?;
        Ok((servers, state.wanted()?))
    })?;
    let wanted = &wanted;
    let findings = on_each(&servers, |server| {
        rctl::live::check_server(server, wanted, rctl::live::DEFAULT_TIMEOUT)
    });
    let reports: Vec<output::CheckReport> = servers
        .iter()
        .zip(findings)
        .map(|(server, findings)| output::CheckReport {
            server: server.name.to_string(),
            addr: server.addr.to_string(),
            findings: findings.unwrap_or_else(|e| vec![e.to_string()]),
        })
        .collect();
    out!("{}", output::check(&reports, args.format)?)?;
    let problems: usize = reports.iter().map(|r| r.findings.len()).sum();
    if problems > 0 {
        let servers = reports.iter().filter(|r| !r.findings.is_empty()).count();
        return Err(Error::Server(format!(
            "{problems} problem(s) on {servers} of {} server(s)",
            reports.len()
        )));
    }
    Ok(())
}

/// `f` on each item, each in its own thread (servers are contacted at once); a thread that
/// panicked gives an error in its place.
fn on_each<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<Result<T>> {
    let f = &f;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join().map_err(|_| {
                    Error::Server("internal error: the server's thread failed".to_string())
                })
            })
            .collect()
    })
}

/// The servers a command names, or every one with `--all` (refused when there is none).
fn registered(
    state: &rctl::StateDir,
    selection: &ServerSelection,
) -> Result<Vec<rctl::RegisteredServer>> {
    if selection.names.is_empty() && !selection.all {
        return Err(Error::InvalidArgument(
            "name the servers, or pass --all for every registered server".to_string(),
        ));
    }
    let servers = state.registered_servers(&selection.names)?;
    if servers.is_empty() {
        return Err(Error::InvalidArgument(
            "no server is registered; register one with 'rctl redis add'".to_string(),
        ));
    }
    Ok(servers)
}

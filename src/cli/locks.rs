//! `rctl lock add|ls|rm`: Teleport's `tctl lock`, applied at once to the servers this host holds.

use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use crate::cli::error::Result;

use super::output::{Format, date, escape_control, serialize, table};
use super::{Context, with_state, with_state_read};

#[derive(Subcommand, Debug)]
pub(crate) enum LockCommand {
    /// Lock a user, a Redis account, a role or a node: its accounts off on every server (their
    /// connections closed) and nothing issued for it, until the lock expires or is removed
    Add(LockAddArgs),
    /// List the locks (expired ones until the next change drops them)
    Ls(super::args::FormatArgs),
    /// Remove a lock: what it covered is restored
    Rm(LockRmArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["user", "db_user", "role", "node"])))]
pub(crate) struct LockAddArgs {
    /// The rctl user: their own account, and every certificate and login issued to them
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// The Redis account, whoever logs in as it
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) db_user: Option<String>,
    /// Every user holding the role
    #[arg(long, value_name = "ROLE")]
    pub(crate) role: Option<String>,
    /// The node: its signing requests are refused
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Option<String>,
    /// How long the lock holds (Go duration) [default: until removed]
    #[arg(long, value_name = "DUR")]
    pub(crate) ttl: Option<rctl::Ttl>,
    /// Why: shown to whoever it stops (one line, at most 200 characters)
    #[arg(long, value_name = "TEXT")]
    pub(crate) message: Option<String>,
    /// Save the lock only: the servers follow at their next sync (on a directory state, lock
    /// add otherwise syncs every registered server at once)
    #[arg(long)]
    pub(crate) no_sync: bool,
}

#[derive(Args, Debug)]
pub(crate) struct LockRmArgs {
    /// The lock's id (rctl lock ls)
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// Remove the lock only: the servers follow at their next sync
    #[arg(long)]
    pub(crate) no_sync: bool,
}

pub(super) fn command_name(cmd: &LockCommand) -> &'static str {
    match cmd {
        LockCommand::Add(_) => "lock add",
        LockCommand::Ls(_) => "lock ls",
        LockCommand::Rm(_) => "lock rm",
    }
}

pub(super) fn lock(ctx: &Context, cmd: LockCommand) -> Result<()> {
    match cmd {
        LockCommand::Add(args) => {
            let target = match (&args.user, &args.db_user, &args.role, &args.node) {
                (Some(u), _, _, _) => rctl::LockTarget::new("user", u),
                (_, Some(a), _, _) => rctl::LockTarget::new("db_user", a),
                (_, _, Some(r), _) => rctl::LockTarget::new("role", r),
                (_, _, _, Some(n)) => rctl::LockTarget::new("node", n),
                _ => {
                    return Err(crate::cli::error::usage(
                        "give what to lock: --user, --db-user, --role or --node",
                    ));
                }
            }?;
            if args.no_sync {
                let lock = with_state(ctx, |state| {
                    state
                        .locks()
                        .add(target.clone(), args.ttl, args.message.clone())
                })?;
                outln!("{}", lock.id)?;
                return Ok(());
            }
            let new = rctl::fleet::NewLock {
                target,
                ttl: args.ttl,
                message: args.message,
            };
            let applied = rctl::fleet::add_lock(|| ctx.open(), new, &options(), print_server)?;
            // The id alone on stdout, for `lock rm`.
            outln!("{}", applied.lock.id)?;
            report(&applied, "in force")
        }
        LockCommand::Ls(args) => ls(ctx, args.format),
        LockCommand::Rm(args) if args.no_sync => {
            with_state(ctx, |state| state.locks().remove(&args.id))?;
            Ok(())
        }
        LockCommand::Rm(args) => {
            let applied =
                rctl::fleet::remove_lock(|| ctx.open(), &args.id, &options(), print_server)?;
            report(&applied, "removed")
        }
    }
}

fn options() -> rctl::servers::live::SyncOptions {
    rctl::servers::live::SyncOptions::default()
}

pub(super) fn print_server(server: &rctl::fleet::ServerSync) {
    match &server.live {
        Some(Ok(_)) => errln!("applied on server {}", server.server.name),
        Some(Err(e)) => errln!(
            "error: server {}: {}",
            server.server.name,
            super::error::lib_message(e)
        ),
        None => {}
    }
}

/// What the change reached, on stderr; an error when a server is not in line.
fn report(applied: &rctl::fleet::LockApplied, done: &str) -> Result<()> {
    let lock = &applied.lock;
    errln!("lock {} on {} {done}", lock.id, lock.target);
    report_sync(&applied.applied)
}

/// What a change's sync reached, on stderr; an error when a server is not in line.
pub(super) fn report_sync(applied: &rctl::fleet::AppliedBy) -> Result<()> {
    match applied {
        rctl::fleet::AppliedBy::Nodes => {
            errln!(
                "note: no server synced from here; each node applies it at its next 'rctl redis sync' (at once with 'redis sync --watch')"
            );
            Ok(())
        }
        rctl::fleet::AppliedBy::Sync(report) => crate::cli::error::in_line(report),
        _ => Ok(()),
    }
}

#[derive(Serialize)]
struct LockRow {
    id: String,
    target: String,
    message: Option<String>,
    created: String,
    expires: Option<String>,
    in_force: bool,
}

fn ls(ctx: &Context, format: Format) -> Result<()> {
    let (locks, now) = with_state_read(ctx, |state| Ok((state.locks().list()?, state.now())))?;
    let rows: Vec<LockRow> = locks
        .iter()
        .map(|l| LockRow {
            id: l.id.clone(),
            target: l.target.to_string(),
            message: l.message.clone(),
            created: date(l.created),
            expires: l.expires.map(date),
            in_force: l.in_force(now),
        })
        .collect();
    let text = match format {
        Format::Text => {
            let rows: Vec<[String; 5]> = rows
                .iter()
                .map(|r| {
                    [
                        r.id.clone(),
                        r.target.clone(),
                        r.expires.clone().unwrap_or_else(|| "never".to_string()),
                        if r.in_force { "in force" } else { "expired" }.to_string(),
                        escape_control(r.message.as_deref().unwrap_or("-")),
                    ]
                })
                .collect();
            table(["ID", "TARGET", "EXPIRES", "STATUS", "MESSAGE"], &rows)
        }
        other => serialize(&rows, other == Format::Json)?,
    };
    out!("{text}")?;
    Ok(())
}

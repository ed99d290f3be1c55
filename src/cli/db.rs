//! `db ls`, `db login`, `db config`, `db connect`, `db logout`: a person's logins, as `tsh db`.

use std::path::PathBuf;

use crate::cli::error::Result;
use rctl::{DbLogin, DbLoginRequest, Profile};
use serde::Serialize;

use super::client_args::*;
use super::output::{Format, escape_control, serialize, table};
use super::{Context, with_state_read};

pub(super) fn command_name(cmd: &DbCommand) -> &'static str {
    match cmd {
        DbCommand::Ls(_) => "db ls",
        DbCommand::Login(_) => "db login",
        DbCommand::Config(_) => "db config",
        DbCommand::Connect(_) => "db connect",
        DbCommand::Logout(_) => "db logout",
    }
}

pub(super) fn db(ctx: &Context, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Ls(args) => db_ls(ctx, args),
        DbCommand::Login(args) => db_login(ctx, args),
        DbCommand::Config(args) => db_config(ctx, args),
        DbCommand::Connect(args) => db_connect(ctx, args),
        DbCommand::Logout(args) => db_logout(ctx, args),
    }
}

/// The profile folder: `--profile`/`RCTL_PROFILE`, else `~/.rctl`.
fn profile(args: &ProfileArgs) -> Result<Profile> {
    match &args.profile {
        Some(dir) => Ok(Profile::new(dir)),
        None => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => Ok(Profile::new(PathBuf::from(home).join(".rctl"))),
            None => Err(crate::cli::error::usage(
                "no profile folder: set --profile, RCTL_PROFILE or HOME".to_string(),
            )),
        },
    }
}

#[derive(Serialize)]
struct ServerRow<'a> {
    name: &'a str,
    description: &'a str,
    labels: std::collections::BTreeMap<&'a str, &'a str>,
    addr: String,
    /// With --user: the user's live login to it, its account and expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<LoginRow>,
}

#[derive(Serialize)]
struct LoginRow {
    account: String,
    expires: String,
}

fn db_ls(ctx: &Context, args: DbLsArgs) -> Result<()> {
    let (servers, locked, logins) = with_state_read(ctx, |state| match &args.user {
        Some(user) => {
            let servers = state.servers().reached_by(user)?;
            let person = state.users().get(user.as_str())?;
            let logins = state.users().logins(user)?;
            let lock = state.locks().in_force()?;
            let lock = lock.on_account(Some(&person), user.as_str()).cloned();
            Ok((servers, lock, logins))
        }
        None => Ok((state.servers().list()?, None, Vec::new())),
    })?;
    let login_of = |server: &rctl::ServerName| {
        logins
            .iter()
            .find(|l| &l.server == server)
            .map(|l| LoginRow {
                account: l.account().to_string(),
                expires: super::output::date(l.not_after),
            })
    };
    if let Some(lock) = locked {
        // Said before the list, as db login would say it.
        errln!(
            "note: db login is refused: {}",
            super::error::lib_message(&lock.denial())
        );
    }
    let rows: Vec<ServerRow> = servers
        .iter()
        .map(|s| ServerRow {
            name: s.name.as_str(),
            description: s.description.as_deref().unwrap_or_default(),
            labels: s.labels.iter().collect(),
            addr: s.addr.to_string(),
            login: login_of(&s.name),
        })
        .collect();
    let text = match args.format {
        Format::Text => {
            let rows: Vec<[String; 5]> = servers
                .iter()
                .map(|s| {
                    let login = login_of(&s.name).map_or_else(
                        || "-".to_string(),
                        |l| format!("{} until {}", l.account, l.expires),
                    );
                    [
                        s.name.to_string(),
                        escape_control(s.description.as_deref().unwrap_or_default()),
                        s.labels.to_string(),
                        s.addr.to_string(),
                        login,
                    ]
                })
                .collect();
            table(["NAME", "DESCRIPTION", "LABELS", "ADDR", "LOGIN"], &rows)
        }
        other => serialize(&rows, other == Format::Json)?,
    };
    out!("{text}")?;
    Ok(())
}

fn db_login(ctx: &Context, args: DbLoginArgs) -> Result<()> {
    let profile = profile(&args.profile)?;
    ctx.outside_state(profile.root())?;
    let mut req = DbLoginRequest::new(args.name, args.user);
    req.db_user = args.db_user;
    req.ttl = args.ttl;
    req.owner = args.owner;
    let options = rctl::servers::live::SyncOptions::default();
    let (login, applied) = rctl::fleet::db_login(|| ctx.open(), &req, &profile, &options, |_| {})?;
    outln!(
        "Logged in to {:?} as Redis user {:?} until {}; connect with 'rctl db connect {} --user={}', or see 'rctl db config {} --user={}'.",
        login.server.as_str(),
        login.db_user,
        super::output::date(login.not_after),
        login.server,
        login.user,
        login.server,
        login.user
    )?;
    // The login is made; its account reaches a server this host could not sync at its next
    // sync (or its node's agent): said, not a failure of the login.
    if let rctl::fleet::AppliedBy::Sync(report) = &applied {
        for server in report.servers.iter().filter(|s| !s.is_in_line()) {
            errln!(
                "warning: server {} is not in line yet; the login's account reaches it at its next sync",
                server.server.name
            );
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ConfigView {
    host: String,
    port: u16,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    db_user: String,
    uri: String,
    command: String,
}

fn current_login(
    args: &ProfileArgs,
    user: &rctl::UserName,
    server: &rctl::ServerName,
) -> Result<DbLogin> {
    let login = profile(args)?.login(user, server)?;
    login.check_current(time::OffsetDateTime::now_utc())?;
    Ok(login)
}

/// The client's arguments for a login: TLS with its three files, the server, the account.
fn cli_args(login: &DbLogin) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["--tls".into(), "--cacert".into()];
    args.push(login.ca().into());
    args.push("--cert".into());
    args.push(login.cert().into());
    args.push("--key".into());
    args.push(login.key().into());
    args.push("-h".into());
    args.push(login.addr.host().to_string().into());
    args.push("-p".into());
    args.push(login.addr.port().to_string().into());
    args.push("--user".into());
    args.push(login.db_user.clone().into());
    args
}

fn db_config(_ctx: &Context, args: DbConfigArgs) -> Result<()> {
    let login = current_login(&args.profile, &args.user, &args.name)?;
    let command = std::iter::once("redis-cli".to_string())
        .chain(
            cli_args(&login)
                .iter()
                .map(|a| shell_word(&a.to_string_lossy())),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let view = ConfigView {
        host: login.addr.host().to_string(),
        port: login.addr.port(),
        ca: login.ca(),
        cert: login.cert(),
        key: login.key(),
        db_user: login.db_user.clone(),
        uri: login.uri(),
        command,
    };
    let text = match args.format {
        Format::Text => {
            let rows: Vec<[String; 2]> = [
                ("Host", view.host.clone()),
                ("Port", view.port.to_string()),
                ("CA", escape_control(&view.ca.display().to_string())),
                ("Cert", escape_control(&view.cert.display().to_string())),
                ("Key", escape_control(&view.key.display().to_string())),
                ("DB user", view.db_user.clone()),
                ("URI", view.uri.clone()),
                ("redis-cli", escape_control(&view.command)),
            ]
            .into_iter()
            .map(|(k, v)| [k.to_string(), v])
            .collect();
            table(["NAME", "VALUE"], &rows)
        }
        other => serialize(&view, other == Format::Json)?,
    };
    out!("{text}")?;
    Ok(())
}

/// A word as a POSIX shell reads it back: bare when it can be, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '@' | '=')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The first of `names` on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn db_connect(ctx: &Context, args: DbConnectArgs) -> Result<()> {
    use std::io::IsTerminal;
    use std::os::unix::process::CommandExt;
    let login = current_login(&args.profile, &args.user, &args.name)?;
    let cli = match &args.cli {
        Some(path) => path.clone(),
        None => on_path(&["redis-cli", "valkey-cli"]).ok_or_else(|| {
            crate::cli::error::usage(
                "neither redis-cli nor valkey-cli is on PATH; install redis-tools or pass --cli=PATH"
                    .to_string(),
            )
        })?,
    };
    let mut command = std::process::Command::new(&cli);
    command.args(cli_args(&login));
    // A per-login account's one-time password, from the profile, through REDISCLI_AUTH (never
    // a command line).
    let profile = profile(&args.profile)?;
    if let Some(password) = profile.password(&login)? {
        command.env("REDISCLI_AUTH", password.as_str());
        command.args(&args.args);
        let e = command.exec();
        return Err(crate::cli::error::usage(format!(
            "cannot run {}: {e}",
            cli.display()
        )));
    }
    // The password never goes on a command line: redis-cli reads REDISCLI_AUTH, or asks on a
    // terminal; with certificate login on, the server needs none.
    let cert_login = with_state_read(ctx, |state| state.settings().cert_login()).unwrap_or(false);
    if !cert_login && std::env::var_os("REDISCLI_AUTH").is_none() && std::io::stdin().is_terminal()
    {
        command.arg("--askpass");
    }
    command.args(&args.args);
    let e = command.exec();
    Err(crate::cli::error::usage(format!(
        "cannot run {}: {e}",
        cli.display()
    )))
}

fn db_logout(ctx: &Context, args: DbLogoutArgs) -> Result<()> {
    let profile = profile(&args.profile)?;
    // The logins' accounts end everywhere first (at once on a directory state), then the files.
    let options = rctl::servers::live::SyncOptions::default();
    let (ended, applied) = rctl::fleet::end_logins(
        || ctx.open(),
        &args.user,
        args.name.as_ref(),
        &options,
        super::locks::print_server,
    )?;
    for login in &ended {
        errln!(
            "login account {} on {} deleted",
            login.account().as_str(),
            login.server.as_str()
        );
    }
    if !ended.is_empty() {
        super::locks::report_sync(&applied)?;
    }
    let servers = match &args.name {
        Some(name) => vec![name.clone()],
        None => profile
            .logins(&args.user)?
            .into_iter()
            .map(|l| l.server)
            .collect(),
    };
    for server in &servers {
        profile.remove(&args.user, server)?;
        outln!(
            "Logged out of {:?} (user {:?}).",
            server.as_str(),
            args.user.as_str()
        )?;
    }
    if servers.is_empty() {
        outln!("User {:?} has no logins.", args.user.as_str())?;
    }
    Ok(())
}

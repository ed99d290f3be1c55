//! The command line: `args` (what clap parses), one handler file per command group (`auth`,
//! `redis`, `users`, `acl`), `io` (input limits, output that must be seen) and `output` (what is
//! printed). Handlers parse nothing by hand and decide nothing the library can.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::error::Result;
use rctl::StateDir;
use rctl::storage::DirOptions;

macro_rules! out {
    ($($arg:tt)*) => { crate::cli::io::emit(&format!($($arg)*)) };
}

/// A line on stderr (a notice, a note): a closed stderr (`2>&1 | head`) loses it, and never
/// turns the command into a panic.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => { crate::cli::io::emit(&format!("{}\n", format_args!($($arg)*))) };
}

mod acl;
mod agent;
mod args;
mod auth;
mod auth_args;
mod client_args;
mod clients;
mod db;
pub mod error;
mod io;
mod locks;
mod output;
mod redis;
mod requests;
mod resources;
mod status_view;
mod users;

pub use args::Cli;
use args::{
    AclCommand, AuditCommand, AuditLsArgs, AuthCommand, CertsCommand, Command, CompletionArgs,
    ManArgs, MigrateArgs, RedisCommand, StateCommand, UsersCommand,
};

/// Prints a clap error as one line (help and version in full) and gives its exit code.
pub fn report_clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let text = e.render().to_string();
            let usage = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Usage: "))
                .unwrap_or("rctl <COMMAND>");
            errln!("error: a subcommand is required: {usage} (see --help)");
            ExitCode::from(2)
        }
        ErrorKind::ValueValidation => {
            // A value rctl's own parser refused (a name, a duration...): its message already
            // quotes the value, shortened; clap's would repeat it whole.
            use clap::error::{ContextKind, ContextValue};
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(arg)) => arg.clone(),
                _ => "a value".to_string(),
            };
            let reason = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| "not valid".to_string());
            errln!(
                "error: invalid value for '{arg}': {} (see 'rctl --help')",
                error::one_line(reason)
            );
            ExitCode::from(2)
        }
        _ => {
            // clap's message may list missing arguments on the next lines; its first paragraph,
            // joined, is the whole message.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            errln!("{} (see 'rctl --help')", error::one_line(first.join(" ")));
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = context(&cli)?;
    dispatch(&ctx, cli.command)
}

/// Where the state is and how to reach it, from the global flags.
fn context(cli: &Cli) -> Result<Context> {
    match (&cli.etcd_cacert, &cli.etcd_cert, &cli.etcd_key) {
        (None, Some(_), _) | (None, _, Some(_)) => {
            return Err(crate::cli::error::usage(
                "--etcd-cert and --etcd-key need --etcd-cacert: without it rctl would talk to etcd in clear".to_string(),
            ));
        }
        (Some(_), Some(_), None) | (Some(_), None, Some(_)) => {
            return Err(crate::cli::error::usage(
                "--etcd-cert and --etcd-key go together".to_string(),
            ));
        }
        _ => {}
    }
    let etcd = match cli.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match rctl::storage::etcd::EtcdUrl::parse(text) {
            Some(url) => Some(url?),
            None => {
                return Err(crate::cli::error::usage(
                    "--state takes etcd://HOST:PORT[,HOST:PORT...]/PREFIX; a local state is --state-dir=DIR".to_string(),
                ));
            }
        },
    };
    let options = DirOptions {
        insecure_permissions: cli.insecure_permissions,
    };
    let etcd_tls = rctl::storage::etcd::EtcdTls {
        ca: cli.etcd_cacert.clone(),
        cert: cli.etcd_cert.clone(),
        key: cli.etcd_key.clone(),
        user: match &etcd {
            // Read only for a state in etcd: a directory state needs no etcd password.
            Some(_) => etcd_user(cli, &options)?,
            None => None,
        },
    };
    if etcd.is_some() && cli.state_dir.is_some() {
        return Err(crate::cli::error::usage(
            "give --state (etcd) or --state-dir (a local directory), not both".to_string(),
        ));
    }
    let ctx = Context {
        command: command_name(&cli.command),
        state_dir: match (&cli.state_dir, &etcd) {
            (Some(dir), _) => dir.clone(),
            (None, Some(url)) => PathBuf::from(url.to_string()),
            (None, None) => rctl::default_state_dir()?,
        },
        etcd,
        etcd_tls,
        options,
        passphrase_file: cli.ca_passphrase_file.clone(),
    };
    Ok(ctx)
}

/// The etcd user and its password, from `--etcd-user` and `--etcd-password-file` (both or
/// neither): the file's first line, the file private to its owner as a key is.
fn etcd_user(cli: &Cli, options: &DirOptions) -> Result<Option<rctl::storage::etcd::EtcdUser>> {
    let (name, file) = match (&cli.etcd_user, &cli.etcd_password_file) {
        (None, None) => return Ok(None),
        (Some(name), Some(file)) => (name, file),
        _ => {
            return Err(crate::cli::error::usage(
                "--etcd-user and --etcd-password-file go together".to_string(),
            ));
        }
    };
    rctl::storage::check_private_file(file, options)?;
    let bytes = rctl::read_regular(file, 1024).map_err(|source| {
        rctl::Error::from(rctl::Invalid::Unreadable {
            path: file.clone(),
            source,
        })
    })?;
    let text = zeroize::Zeroizing::new(
        String::from_utf8(bytes)
            .map_err(|_| rctl::Error::from(rctl::Invalid::NotUtf8 { path: file.clone() }))?,
    );
    let password = text.lines().next().unwrap_or_default();
    if password.is_empty() {
        return Err(rctl::Error::from(rctl::Invalid::Empty {
            what: "the etcd password",
        })
        .into());
    }
    Ok(Some(rctl::storage::etcd::EtcdUser {
        name: name.clone(),
        password: zeroize::Zeroizing::new(password.to_string()),
    }))
}

/// The command's handler, on `ctx`.
fn dispatch(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Auth(AuthCommand::Init(args)) => auth::auth_init(ctx, args),
        Command::Auth(AuthCommand::Sign(args)) => auth::auth_sign(ctx, *args),
        Command::Auth(AuthCommand::Export(args)) => auth::auth_export(ctx, args),
        Command::Auth(AuthCommand::Rotate(args)) => auth::auth_rotate(ctx, args),
        Command::Auth(AuthCommand::Encrypt) => auth::auth_encrypt(ctx),
        Command::Auth(AuthCommand::Decrypt) => auth::auth_decrypt(ctx),
        Command::Auth(AuthCommand::SignRequests(args)) => requests::auth_sign_requests(ctx, args),
        Command::Status(args) => auth::status(ctx, args),
        Command::Certs(CertsCommand::Inspect(args)) => auth::certs_inspect(ctx, args),
        Command::Redis(RedisCommand::Config(args)) => redis::redis_config(ctx, args),
        Command::Redis(RedisCommand::Target(args)) => redis::redis_target(ctx, args),
        Command::Redis(RedisCommand::Add(args)) => redis::redis_add(ctx, args),
        Command::Redis(RedisCommand::Ls(args)) => redis::redis_ls(ctx, args),
        Command::Redis(RedisCommand::Rm(args)) => redis::redis_rm(ctx, args),
        Command::Redis(RedisCommand::Sync(args)) => redis::redis_sync(ctx, args),
        Command::Redis(RedisCommand::Check(args)) => redis::redis_check(ctx, args),
        Command::Completion(args) => completion(args),
        Command::Man(args) => man(args),
        Command::Users(cmd) => users::users(ctx, cmd),
        Command::Create(args) => resources::create(ctx, args),
        Command::Get(args) => resources::get(ctx, args),
        Command::Rm(args) => resources::rm(ctx, args),
        Command::Acl(AclCommand::Generate(args)) => acl::acl_generate(ctx, args),
        Command::Acl(AclCommand::Check(args)) => acl::acl_check(ctx, args),
        Command::Audit(AuditCommand::Ls(args)) => audit_ls(ctx, args),
        Command::State(StateCommand::Migrate(args)) => state_migrate(ctx, args),
        Command::Db(cmd) => db::db(ctx, cmd),
        Command::Clients(cmd) => clients::clients(ctx, cmd),
        Command::Lock(cmd) => locks::lock(ctx, cmd),
    }
}

/// The command as the audit log names it.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Auth(AuthCommand::Init(_)) => "auth init",
        Command::Auth(AuthCommand::Sign(_)) => "auth sign",
        Command::Auth(AuthCommand::Export(_)) => "auth export",
        Command::Auth(AuthCommand::Rotate(_)) => "auth rotate",
        Command::Auth(AuthCommand::Encrypt) => "auth encrypt",
        Command::Auth(AuthCommand::Decrypt) => "auth decrypt",
        Command::Auth(AuthCommand::SignRequests(_)) => "auth sign-requests",
        Command::Status(_) => "status",
        Command::Certs(_) => "certs inspect",
        Command::Redis(RedisCommand::Config(_)) => "redis config",
        Command::Redis(RedisCommand::Target(_)) => "redis target",
        Command::Redis(RedisCommand::Add(_)) => "redis add",
        Command::Redis(RedisCommand::Ls(_)) => "redis ls",
        Command::Redis(RedisCommand::Rm(_)) => "redis rm",
        Command::Redis(RedisCommand::Sync(_)) => "redis sync",
        Command::Redis(RedisCommand::Check(_)) => "redis check",
        Command::Completion(_) => "completion",
        Command::Man(_) => "man",
        Command::Users(UsersCommand::Add(_)) => "users add",
        Command::Users(UsersCommand::Ls(_)) => "users ls",
        Command::Users(UsersCommand::Update(_)) => "users update",
        Command::Users(UsersCommand::ResetPassword(_)) => "users reset-password",
        Command::Users(UsersCommand::Rm(_)) => "users rm",
        Command::Create(_) => "create",
        Command::Get(_) => "get",
        Command::Rm(_) => "rm",
        Command::Acl(AclCommand::Generate(_)) => "acl generate",
        Command::Acl(AclCommand::Check(_)) => "acl check",
        Command::Audit(_) => "audit ls",
        Command::State(_) => "state migrate",
        Command::Db(cmd) => db::command_name(cmd),
        Command::Clients(cmd) => clients::command_name(cmd),
        Command::Lock(cmd) => locks::command_name(cmd),
    }
}

struct Context {
    command: &'static str,
    /// The state's location (a directory, or the etcd URL for messages).
    state_dir: PathBuf,
    /// The etcd state, when `--state=etcd://…` is given.
    etcd: Option<rctl::storage::etcd::EtcdUrl>,
    /// TLS to etcd, for `--state` or `state migrate --to`.
    etcd_tls: rctl::storage::etcd::EtcdTls,
    options: DirOptions,
    passphrase_file: Option<PathBuf>,
}

impl Context {
    /// Opens the state. Every argument has been checked by now: a refusal changes nothing.
    fn open(&self) -> rctl::Result<StateDir> {
        let state = match &self.etcd {
            Some(url) => StateDir::open_etcd(url, &self.etcd_tls, false)?,
            None => StateDir::open_with(&self.state_dir, &self.options)?,
        };
        Ok(self.prepare(state))
    }

    /// Refuses an output file inside a directory state.
    fn outside_state(&self, path: &std::path::Path) -> Result<()> {
        match self.etcd {
            Some(_) => Ok(()),
            None => Ok(rctl::check_outside_state(path, &self.state_dir)?),
        }
    }

    /// Opens the state for reading only.
    fn open_read_only(&self) -> rctl::Result<StateDir> {
        let state = match &self.etcd {
            Some(url) => StateDir::open_etcd(url, &self.etcd_tls, true)?,
            None => StateDir::open_read_only(&self.state_dir, &self.options)?,
        };
        Ok(self.prepare(state))
    }

    /// The command's name for the audit log, and where an encrypted CA key's passphrase
    /// comes from (asked only if the command uses the key).
    fn prepare(&self, mut state: StateDir) -> StateDir {
        state.set_command(self.command);
        let file = self.passphrase_file.clone();
        let options = self.options.clone();
        let confirm = self.command == "auth encrypt";
        state
            .with_passphrase_source(move || io::read_passphrase(file.as_deref(), &options, confirm))
    }

    /// True when the new CA of `auth init` is encrypted: a passphrase file was given, or the
    /// state is in etcd (where a CA key is never kept in clear).
    fn encrypts_new_ca(&self) -> bool {
        self.passphrase_file.is_some() || self.etcd.is_some()
    }
}

/// Runs `f` on the open state, then tells stderr what the library noticed (CA created,
/// rotation advanced), also when `f` failed.
/// On a shared state (etcd), `f` runs again on the new state when another rctl changed what it
/// read before it could save ([`rctl::Error::Conflict`]).
fn with_state<T>(ctx: &Context, mut f: impl FnMut(&mut StateDir) -> rctl::Result<T>) -> Result<T> {
    let state = ctx.open()?;
    run_on(state, |state| state.retrying(&mut f))
}

/// [`with_state`] for commands that only look: a shared lock, nothing created or changed, so
/// they work beside each other and on a read-only mount.
fn with_state_read<T>(
    ctx: &Context,
    f: impl FnOnce(&mut StateDir) -> rctl::Result<T>,
) -> Result<T> {
    run_on(ctx.open_read_only()?, f)
}

fn run_on<T>(mut state: StateDir, f: impl FnOnce(&mut StateDir) -> rctl::Result<T>) -> Result<T> {
    let result = f(&mut state);
    for notice in state.take_notices() {
        errln!("{notice}");
    }
    Ok(result?)
}

/// Completion and man pages are made in memory, then written as any output is: a closed pipe
/// (`rctl completion bash | head -1`) ends them quietly.
fn completion(args: CompletionArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rctl", &mut script);
    out!("{}", String::from_utf8_lossy(&script))
}

/// rctl(1), or the page of the command named (`rctl man auth sign`: rctl-auth-sign(1)), the
/// pages the top page lists under its subcommands.
fn man(args: ManArgs) -> Result<()> {
    use clap::CommandFactory;
    let mut page = Cli::command();
    page.build();
    for word in &args.command {
        let Some(sub) = page.find_subcommand(word).cloned() else {
            let known: Vec<&str> = page.get_subcommands().map(|c| c.get_name()).collect();
            return Err(crate::cli::error::usage(format!(
                "{} has no command {:?}; it has: {}",
                page.get_display_name().unwrap_or("rctl"),
                io::rctl_shorten(word),
                known.join(", ")
            )));
        };
        page = sub;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(|e| crate::cli::error::usage(format!("cannot make the man page: {e}")))?;
    out!("{}", String::from_utf8_lossy(&roff))
}

fn audit_ls(ctx: &Context, args: AuditLsArgs) -> Result<()> {
    let events = with_state_read(ctx, |state| {
        let since = args.since.map(|d| state.now() - d.as_time());
        state.audit_log(since)
    })?;
    out!("{}", output::audit(&events, args.format)?)?;
    Ok(())
}

fn state_migrate(ctx: &Context, args: MigrateArgs) -> Result<()> {
    // The target is checked before the state is opened.
    let to_etcd = rctl::storage::etcd::EtcdUrl::parse(&args.to).transpose()?;
    let (copied, to) = with_state(ctx, |state| {
        let target: Box<dyn rctl::storage::Store> = match &to_etcd {
            Some(url) => Box::new(rctl::storage::etcd::EtcdStore::open(
                url,
                &ctx.etcd_tls,
                StateDir::LAYOUT,
                false,
            )?),
            None => Box::new(rctl::storage::DirStore::open(
                std::path::Path::new(&args.to),
                &ctx.options,
            )?),
        };
        let copied = state.copy_to(target.as_ref())?;
        Ok((copied, target.locate("").display().to_string()))
    })?;
    outln!(
        "Copied {copied} blob(s) from {} to {to}.",
        ctx.state_dir.display()
    )?;
    Ok(())
}

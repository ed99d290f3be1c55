//! Argument definitions and the mapping of each command to library calls.

mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use rctl::acl::Target;
use rctl::store::DirOptions;
use rctl::{
    CaOptions, ClientLogin, Error, KeyAlgorithm, NewUser, Password, Phase, Result, Role,
    ServerCertRequest, StateDir, Ttl, UserUpdate, parse_duration, parse_host_list, parse_list,
    validate_name, validate_user_name,
};

/// Redis behind mutual TLS: a host CA, Redis certificates, users and users.acl, no server.
#[derive(Parser, Debug)]
#[command(name = "rctl", version, propagate_version = true)]
pub struct Cli {
    /// State directory [default: $RCTL_STATE_DIR, else $XDG_DATA_HOME/rctl, else ~/.local/share/rctl]
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Accept a state directory or CA key file that group or others can read
    #[arg(long, global = true)]
    insecure_permissions: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage the host certificate authority and sign certificates
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Show the cluster name and the state of the host CA
    Status(FormatArgs),
    /// Inspect certificates
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Print configuration for Redis
    #[command(subcommand)]
    Redis(RedisCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    Completion(CompletionArgs),
    /// Print the man page (roff)
    Man,
    /// Manage users
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create a resource (a role) from a YAML file
    Create(CreateArgs),
    /// Show resources: roles [NAME], users [NAME]
    Get(GetArgs),
    /// Remove a resource: roles/NAME
    Rm(RmArgs),
    /// Generate or check a Redis users.acl
    #[command(subcommand)]
    Acl(AclCommand),
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
enum CertsCommand {
    /// Subject, SANs, usages, serial, validity, key algorithm, and whether this CA signed it;
    /// exits 1 for an expired or foreign certificate
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// A PEM certificate file
    file: PathBuf,
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: output::Format,
}

#[derive(Subcommand, Debug)]
enum RedisCommand {
    /// The redis.conf TLS block for a certificate bundle (Redis 6.0+)
    Config(RedisConfigArgs),
    /// Print the Redis version users.acl is written for, or set it
    Target(RedisTargetArgs),
}

#[derive(Args, Debug)]
struct RedisTargetArgs {
    /// redis-6.0, redis-6.2, redis-7.0, redis-7.2, redis-7.4, valkey-7.2, valkey-8.0,
    /// valkey-8.1, valkey-9.0 or valkey-9.1
    #[arg(value_name = "TARGET")]
    target: Option<Target>,
}

#[derive(Args, Debug)]
struct RedisConfigArgs {
    /// The bundle prefix given to 'auth sign --out'
    #[arg(long, value_name = "PREFIX")]
    cert_prefix: PathBuf,
    /// The users.acl to load (aclfile)
    #[arg(long, value_name = "FILE")]
    acl: Option<PathBuf>,
    /// TLS port
    #[arg(long, value_name = "N", default_value_t = 6379, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Enable cluster mode with TLS on the cluster bus
    #[arg(long)]
    cluster: bool,
    /// Use TLS for replication
    #[arg(long)]
    replication: bool,
    /// Log clients in by their certificate's CN (tls-auth-clients-user CN; Valkey 9.0+):
    /// on or off, saved as the cluster's setting [default when given: on]
    #[arg(long, value_name = "on|off", num_args = 0..=1, default_missing_value = "on")]
    cert_login: Option<OnOff>,
    /// Make this server a replica of HOST:PORT (replicaof, masteruser, masterauth from stdin)
    #[arg(long, value_name = "HOST:PORT", requires = "repl_user")]
    replica_of: Option<String>,
    /// The replication account (holding the replication role): with --replica-of, or with
    /// --cluster for the replicas the cluster makes
    #[arg(long, value_name = "NAME")]
    repl_user: Option<String>,
    /// With certificate login: the replication account's client bundle prefix
    #[arg(long, value_name = "PREFIX", requires = "repl_user")]
    repl_cert_prefix: Option<PathBuf>,
}

/// A setting turned on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

#[derive(Args, Debug)]
struct CompletionArgs {
    /// The shell
    shell: clap_complete::Shell,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// List audit records, oldest first
    Ls(AuditLsArgs),
}

#[derive(Args, Debug)]
struct AuditLsArgs {
    /// Only records from the last DUR (Go duration, e.g. 24h)
    #[arg(long, value_name = "DUR")]
    since: Option<Ttl>,
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: output::Format,
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Add a user; prints a generated Redis password once
    Add(UsersAddArgs),
    /// List users (never their password hashes)
    Ls(FormatArgs),
    /// Change a user's roles or traits
    Update(UsersUpdateArgs),
    /// Set a new Redis password (tctl's `users reset` too)
    #[command(alias = "reset")]
    ResetPassword(ResetPasswordArgs),
    /// Remove users: NAME or NAME1,NAME2 (all or none)
    Rm(NameArg),
}

#[derive(Args, Debug)]
struct UsersAddArgs {
    /// User name: 1-64 of A-Z a-z 0-9 . _ @ -
    name: String,
    /// Roles (each must exist), comma-separated or repeated as tctl takes them
    #[arg(long, value_name = "R1[,R2]", required = true)]
    roles: Vec<String>,
    /// Redis users this user may connect as (* = any), comma-separated or repeated
    #[arg(long, value_name = "U1[,U2]")]
    db_users: Vec<String>,
    /// Database names (* = any; Redis does not check them), comma-separated or repeated
    #[arg(long, value_name = "N1[,N2]")]
    db_names: Vec<String>,
    /// Read the Redis password from stdin instead of generating one
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args, Debug)]
struct UsersUpdateArgs {
    /// User name
    name: String,
    /// Replace the roles
    #[arg(long, value_name = "R1[,R2]")]
    set_roles: Option<String>,
    /// Replace the db_users trait
    #[arg(long, value_name = "U1[,U2]")]
    set_db_users: Option<String>,
    /// Replace the db_names trait
    #[arg(long, value_name = "N1[,N2]")]
    set_db_names: Option<String>,
}

#[derive(Args, Debug)]
struct ResetPasswordArgs {
    /// User name
    name: String,
    /// Read the new password from stdin instead of generating one
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args, Debug)]
struct NameArg {
    /// Name
    name: String,
}

#[derive(Args, Debug)]
struct FormatArgs {
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: output::Format,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// YAML file with a role resource ("-" for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// Replace an existing role
    #[arg(long)]
    force: bool,
    /// Check the role's redis_acl for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    target: Option<Target>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// roles, users, roles/NAME or users/NAME
    resource: String,
    /// Name of one resource
    name: Option<String>,
    /// Output format [default: yaml for roles, text for users]
    #[arg(long, value_name = "FORMAT")]
    format: Option<output::Format>,
}

#[derive(Args, Debug)]
struct RmArgs {
    /// roles/NAME
    resource: String,
}

#[derive(Subcommand, Debug)]
enum AclCommand {
    /// Write the users.acl for every user (stdout without --out)
    Generate(AclGenerateArgs),
    /// Lint an existing users.acl offline
    Check(AclCheckArgs),
}

#[derive(Args, Debug)]
struct AclGenerateArgs {
    /// Output file (written atomically, mode 0600)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    target: Option<Target>,
}

#[derive(Args, Debug)]
struct AclCheckArgs {
    /// The users.acl to check
    file: PathBuf,
    /// Check for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    target: Option<Target>,
}

#[derive(Subcommand, Debug)]
enum AuthCommand {
    /// Create the host CA
    Init(InitArgs),
    /// Sign a certificate: a Redis server's (--host) or a person's (--user)
    Sign(SignArgs),
    /// Print every trusted CA certificate (PEM)
    Export(ExportArgs),
    /// Rotate the host CA, one manual phase or automatically over a grace period
    Rotate(RotateArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Cluster name: the CA's subject CN and O [default: the host name]
    #[arg(long, value_name = "NAME")]
    cluster_name: Option<String>,
    /// Key algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa2048, rsa3072, rsa4096
    #[arg(long, value_name = "ALGO", default_value = "ecdsa-p256")]
    key_algo: KeyAlgorithm,
    /// Lifetime of the CA certificate (Go duration)
    #[arg(long, value_name = "DUR", default_value = "87600h")]
    ca_ttl: Ttl,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["host", "user", "csr"])))]
struct SignArgs {
    /// Output format; only "redis" for now
    #[arg(long, value_name = "FORMAT", default_value = "redis")]
    format: String,
    /// Comma-separated DNS names and IP addresses of the Redis server(s)
    #[arg(long, value_name = "HOST[,HOST...]", conflicts_with_all = ["user", "db_user", "db_name"])]
    host: Option<String>,
    /// The rctl user a client certificate is for (with --db-user)
    #[arg(
        long,
        value_name = "NAME",
        requires = "db_user",
        conflicts_with = "csr"
    )]
    user: Option<String>,
    /// Sign a Redis server's CSR (PEM) instead of making a key: writes PREFIX.crt and PREFIX.cas
    #[arg(long, value_name = "FILE", conflicts_with_all = ["host", "key_algo"])]
    csr: Option<PathBuf>,
    /// The Redis user the certificate names (its subject CN)
    #[arg(long, value_name = "USER", requires = "user")]
    db_user: Option<String>,
    /// Database name, checked against the user's roles
    #[arg(long, value_name = "NAME", requires = "user")]
    db_name: Option<String>,
    /// Output prefix: writes PREFIX.crt, PREFIX.key and PREFIX.cas
    #[arg(short = 'o', long, value_name = "PREFIX")]
    out: PathBuf,
    /// Certificate lifetime (Go duration: 2190h, 90m, 1h30m) [default: 12h, or a smaller role cap]
    #[arg(long, value_name = "DUR")]
    ttl: Option<Ttl>,
    /// Replace existing output files
    #[arg(long)]
    overwrite: bool,
    /// Key algorithm of the new key [default: the CA's]
    #[arg(long, value_name = "ALGO")]
    key_algo: Option<KeyAlgorithm>,
}

#[derive(Args, Debug)]
struct ExportArgs {
    /// CA type; only "host"
    #[arg(long = "type", value_name = "TYPE", default_value = "host")]
    ca_type: String,
}

#[derive(Args, Debug)]
struct RotateArgs {
    /// CA type; only "host"
    #[arg(long = "type", value_name = "TYPE", default_value = "host")]
    ca_type: String,
    /// Move one phase by hand (with --phase)
    #[arg(long)]
    manual: bool,
    /// Target phase: init, update_clients, update_servers, standby, rollback
    #[arg(long, value_name = "PHASE", requires = "manual")]
    phase: Option<String>,
    /// Grace period of an automatic rotation (Go duration; 0 swaps keys at once)
    #[arg(long, value_name = "DUR", conflicts_with = "manual")]
    grace_period: Option<String>,
}

/// Writes to stdout. A closed pipe (`rctl users ls | head -1`) ends output quietly; any other
/// write error is an error.
pub(crate) fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(stdout_error(e)),
        _ => Ok(()),
    }
}

/// Writes what must be seen (a password shown once) and flushes it: a closed stdout, a broken
/// pipe or a full disk is an error, and the caller then saves nothing.
fn emit_secret(text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    // A closed stdout (`>&-`) is /dev/null by the time Rust's runtime starts: a password
    // shown there is lost as surely as to `>/dev/null`, so both are refused.
    use std::os::unix::fs::MetadataExt;
    let out = std::fs::File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(stdout_error)?,
    );
    let null = std::fs::metadata("/dev/null").map(|m| m.rdev()).ok();
    if out
        .metadata()
        .is_ok_and(|m| m.file_type().is_char_device() && Some(m.rdev()) == null)
    {
        return Err(Error::InvalidArgument(
            "standard output is closed or /dev/null: the generated password would be lost; redirect it to a file, or pass --password-stdin".to_string(),
        ));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::Io {
        path: "standard output".into(),
        source: e,
    }
}

macro_rules! out {
    ($($arg:tt)*) => { crate::cli::emit(&format!($($arg)*)) };
}

macro_rules! outln {
    ($($arg:tt)*) => { crate::cli::emit(&format!("{}\n", format_args!($($arg)*))) };
}

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
            eprintln!("error: a subcommand is required: {usage} (see --help)");
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
            eprintln!("{} (see 'rctl --help')", first.join(" "));
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context {
        command: command_name(&cli.command),
        state_dir: match &cli.state_dir {
            Some(dir) => dir.clone(),
            None => rctl::default_state_dir()?,
        },
        options: DirOptions {
            insecure_permissions: cli.insecure_permissions,
        },
    };
    match cli.command {
        Command::Auth(AuthCommand::Init(args)) => auth_init(&ctx, args),
        Command::Auth(AuthCommand::Sign(args)) => auth_sign(&ctx, args),
        Command::Auth(AuthCommand::Export(args)) => auth_export(&ctx, args),
        Command::Auth(AuthCommand::Rotate(args)) => auth_rotate(&ctx, args),
        Command::Status(args) => status(&ctx, args),
        Command::Certs(CertsCommand::Inspect(args)) => certs_inspect(&ctx, args),
        Command::Redis(RedisCommand::Config(args)) => redis_config(&ctx, args),
        Command::Redis(RedisCommand::Target(args)) => redis_target(&ctx, args),
        Command::Completion(args) => completion(args),
        Command::Man => man(),
        Command::Users(cmd) => users(&ctx, cmd),
        Command::Create(args) => create(&ctx, args),
        Command::Get(args) => get(&ctx, args),
        Command::Rm(args) => rm(&ctx, args),
        Command::Acl(AclCommand::Generate(args)) => acl_generate(&ctx, args),
        Command::Acl(AclCommand::Check(args)) => acl_check(&ctx, args),
        Command::Audit(AuditCommand::Ls(args)) => audit_ls(&ctx, args),
    }
}

/// The command as the audit log names it.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Auth(AuthCommand::Init(_)) => "auth init",
        Command::Auth(AuthCommand::Sign(_)) => "auth sign",
        Command::Auth(AuthCommand::Export(_)) => "auth export",
        Command::Auth(AuthCommand::Rotate(_)) => "auth rotate",
        Command::Status(_) => "status",
        Command::Certs(_) => "certs inspect",
        Command::Redis(RedisCommand::Config(_)) => "redis config",
        Command::Redis(RedisCommand::Target(_)) => "redis target",
        Command::Completion(_) => "completion",
        Command::Man => "man",
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
    }
}

struct Context {
    command: &'static str,
    state_dir: PathBuf,
    options: DirOptions,
}

impl Context {
    /// Opens the state. Every argument has been checked by now: a refusal changes nothing.
    fn open(&self) -> Result<StateDir> {
        let mut state = StateDir::open_with(&self.state_dir, &self.options)?;
        state.set_command(self.command);
        Ok(state)
    }
}

/// Runs `f` on the open state, then tells stderr what the library noticed (CA created,
/// rotation advanced), also when `f` failed.
fn with_state<T>(ctx: &Context, f: impl FnOnce(&mut StateDir) -> Result<T>) -> Result<T> {
    let state = ctx.open()?;
    run_on(state, f)
}

/// [`with_state`] for commands that only look: a shared lock, nothing created or changed, so
/// they work beside each other and on a read-only mount.
fn with_state_read<T>(ctx: &Context, f: impl FnOnce(&mut StateDir) -> Result<T>) -> Result<T> {
    let mut state = StateDir::open_read_only(&ctx.state_dir, &ctx.options)?;
    state.set_command(ctx.command);
    run_on(state, f)
}

fn run_on<T>(mut state: StateDir, f: impl FnOnce(&mut StateDir) -> Result<T>) -> Result<T> {
    let result = f(&mut state);
    for notice in state.take_notices() {
        eprintln!("{notice}");
    }
    result
}

fn check_ca_type(ca_type: &str) -> Result<()> {
    // tctl's names for the CAs that sign Redis certificates: rctl has the one host CA.
    if !matches!(ca_type, "host" | "tls-host" | "db" | "db-client") {
        return Err(Error::InvalidArgument(format!(
            "unsupported CA type {:?}; rctl has one CA (host; tctl's tls-host, db and db-client name it too)",
            ca_type
        )));
    }
    Ok(())
}

fn auth_init(ctx: &Context, args: InitArgs) -> Result<()> {
    let mut options = CaOptions::new(args.cluster_name.unwrap_or_else(rctl::default_cluster_name));
    rctl::validate_name("cluster", &options.cluster_name)?;
    options.algorithm = args.key_algo;
    options.ttl = args.ca_ttl;
    let ca = with_state(ctx, |state| state.init_ca(&options))?;
    outln!(
        "Created host CA for cluster {:?} ({}), valid until {}.\nCA pin: {}",
        ca.cluster_name(),
        ca.active().algorithm(),
        output::date(ca.active().not_after()),
        ca.active().pin()
    )?;
    Ok(())
}

fn auth_sign(ctx: &Context, args: SignArgs) -> Result<()> {
    if args.format != "redis" {
        return Err(Error::InvalidArgument(format!(
            "unsupported --format {:?}; supported formats: redis",
            args.format
        )));
    }
    rctl::RedisBundle::check_outputs_for(&args.out, args.overwrite, args.csr.is_none())?;
    if let Some(user) = args.user {
        validate_user_name(&user)?;
        let db_user = args.db_user.unwrap_or_default();
        validate_name("database user", &db_user)?;
        if let Some(n) = &args.db_name {
            validate_name("database", n)?;
            eprintln!(
                "note: --db-name {n:?} is not used: Redis has no per-database ACL (Teleport does not enforce db_names for Redis either)"
            );
        }
        let login = ClientLogin {
            user,
            db_user,
            db_name: args.db_name,
            ttl: args.ttl,
            key_algorithm: args.key_algo,
        };
        let (issued, cert_login) = with_state(ctx, |state| {
            let (bundle, _) = state.issue_redis_client(&login, &args.out, args.overwrite)?;
            Ok((bundle.issued().clone(), state.cert_login()?))
        })?;
        if cert_login {
            eprintln!(
                "note: certificate login is on: this certificate logs its holder in as Redis user {:?} with no password; keep {} as safe as a password",
                login.db_user,
                rctl::RedisBundle::paths(&args.out)[1].display()
            );
        }
        out!(
            "{}",
            output::redis_client_instructions(
                &rctl::RedisBundle::paths(&args.out),
                &login,
                &issued
            )
        )?;
        return Ok(());
    }
    if let Some(csr) = &args.csr {
        let pem = read_text_file(csr, 64 * 1024)?;
        let ttl = args.ttl.unwrap_or(rctl::DEFAULT_CERT_TTL);
        // The redis.conf lines must be printable before anything is signed or written.
        rctl::RedisTlsConfig::new(&args.out).render()?;
        let (bundle, written) = with_state(ctx, |state| {
            state.issue_redis_csr(&pem, ttl, &args.out, args.overwrite)
        })?;
        // The key the CSR was made with, usually beside it: the redis.conf lines name it.
        let key = &rctl::RedisBundle::paths(&args.out)[1];
        let key_beside = bundle.key_file_matches(key);
        out!(
            "{}",
            output::redis_server_instructions(&written, &args.out, key_beside)?
        )?;
        return Ok(());
    }
    let req = ServerCertRequest {
        hosts: parse_host_list(args.host.as_deref().unwrap_or_default())?,
        ttl: args.ttl.unwrap_or(rctl::DEFAULT_CERT_TTL),
        key_algorithm: args.key_algo,
    };
    rctl::RedisTlsConfig::new(&args.out).render()?;
    let written = with_state(ctx, |state| {
        state
            .issue_redis_server(&req, &args.out, args.overwrite)
            .map(|(_, written)| written)
    })?;
    out!(
        "{}",
        output::redis_server_instructions(&written, &args.out, false)?
    )?;
    Ok(())
}

fn auth_export(ctx: &Context, args: ExportArgs) -> Result<()> {
    check_ca_type(&args.ca_type)?;
    // Read-only when a CA exists; the first export creates one, as every command that needs
    // the CA does.
    let ca = match with_state_read(ctx, |state| state.existing_host_ca())? {
        Some(ca) => ca,
        None => with_state(ctx, |state| state.host_ca())?,
    };
    out!("{}", ca.trusted_pem())?;
    Ok(())
}

fn auth_rotate(ctx: &Context, args: RotateArgs) -> Result<()> {
    check_ca_type(&args.ca_type)?;
    // tctl: `--manual` with no phase starts a manual rotation, i.e. enters `init`.
    let phase = match (args.phase, args.manual) {
        (Some(p), _) => Some(p),
        (None, true) => Some("init".to_string()),
        (None, false) => None,
    };
    let ca = if let Some(phase) = phase {
        let phase: Phase = phase.parse()?;
        with_state(ctx, |state| state.rotate(phase))?
    } else {
        let grace = match &args.grace_period {
            Some(g) => parse_duration(g)?,
            None => rctl::DEFAULT_GRACE_PERIOD,
        };
        with_state(ctx, |state| state.start_auto_rotation(grace))?
    };
    outln!("Host CA: {}", ca.rotation().describe())?;
    Ok(())
}

fn status(ctx: &Context, args: FormatArgs) -> Result<()> {
    let ca = if Path::new(&ctx.state_dir).exists() {
        with_state_read(ctx, |state| state.existing_host_ca())?
    } else {
        None
    };
    out!(
        "{}",
        output::status(ca.as_ref(), &ctx.state_dir, args.format)?
    )?;
    Ok(())
}

fn certs_inspect(ctx: &Context, args: InspectArgs) -> Result<()> {
    let pem = read_text_file(&args.file, 1024 * 1024)?;
    let (report, now) = if Path::new(&ctx.state_dir).exists() {
        with_state_read(ctx, |state| {
            let ca = state.existing_host_ca()?;
            let now = state.now();
            Ok((
                rctl::inspect_certificate(pem.as_bytes(), ca.as_ref(), now)?,
                now,
            ))
        })?
    } else {
        let now = time::OffsetDateTime::now_utc();
        (rctl::inspect_certificate(pem.as_bytes(), None, now)?, now)
    };
    out!("{}", output::cert_report(&report, args.format)?)?;
    let file = args.file.display();
    match report.status {
        rctl::CertStatus::Valid => Ok(()),
        rctl::CertStatus::Expired => Err(Error::AccessDenied(format!(
            "{file} expired {}",
            output::date(report.not_after)
        ))),
        rctl::CertStatus::NotYetValid => Err(Error::AccessDenied(format!(
            "{file} is not valid before {} (now {})",
            output::date(report.not_before),
            output::date(now)
        ))),
        rctl::CertStatus::Foreign => Err(Error::AccessDenied(format!(
            "{file} was not signed by any key this host CA trusts"
        ))),
    }
}

fn redis_config(ctx: &Context, args: RedisConfigArgs) -> Result<()> {
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
    let has_state = ctx.state_dir.is_dir();
    let cert_login = match args.cert_login {
        Some(v) => v == OnOff::On,
        None if has_state => with_state_read(ctx, |state| state.cert_login())?,
        None => false,
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
fn replica_of(
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
    validate_user_name(&user)?;
    if !ctx.state_dir.is_dir() || with_state_read(ctx, |state| state.user(&user)).is_err() {
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
    Ok(rctl::ReplicaOf {
        primary,
        user,
        auth,
    })
}

fn redis_target(ctx: &Context, args: RedisTargetArgs) -> Result<()> {
    let target = match args.target {
        Some(t) => with_state(ctx, |state| state.set_redis_target(t).map(|()| t))?,
        None => with_state_read(ctx, |state| state.redis_target())?,
    };
    outln!("{target}")?;
    Ok(())
}

fn completion(args: CompletionArgs) -> Result<()> {
    use clap::CommandFactory;
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "rctl",
        &mut std::io::stdout(),
    );
    Ok(())
}

fn man() -> Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Error::InvalidArgument(format!("cannot write the man page: {e}")))
}

/// Reads at most `limit` bytes of UTF-8 from stdin; more is refused, never cut short.
fn read_stdin(what: &str, limit: u64) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::InvalidArgument(format!("cannot read {what} from stdin: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Error::InvalidArgument(format!(
            "{what} on stdin is longer than {limit} bytes"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::InvalidArgument(format!("{what} on stdin is not UTF-8")))
}

/// Reads a password from stdin (one trailing newline stripped).
fn read_password() -> Result<Password> {
    Password::from_input(read_stdin("the password", 4096)?)
}

/// A flag given repeatedly, each value possibly comma-separated (tctl takes both).
fn repeated_list(flag: &str, values: &[String]) -> Result<Vec<String>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    parse_list(flag, &values.join(","))
}

fn optional_list(flag: &str, value: Option<String>) -> Result<Option<Vec<String>>> {
    value.map(|v| parse_list(flag, &v)).transpose()
}

fn users(ctx: &Context, cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::Add(args) => {
            validate_user_name(&args.name)?;
            let new = NewUser {
                name: args.name,
                roles: parse_list("--roles", &args.roles.join(","))?,
                db_users: repeated_list("--db-users", &args.db_users)?,
                db_names: repeated_list("--db-names", &args.db_names)?,
                password: if args.password_stdin {
                    Some(read_password()?)
                } else {
                    None
                },
            };
            // The generated password is shown before the user is saved, and the user is saved
            // only if it could be shown.
            let (user, _) = with_state(ctx, |state| {
                state.add_user_confirmed(new, |user, password| match password {
                    Some(p) => emit_secret(&output::password_once(&user.name, p)),
                    None => Ok(()),
                })
            })?;
            outln!(
                "User {:?} has been created with roles {}.",
                user.name,
                user.roles.join(",")
            )?;
            if with_state_read(ctx, |state| state.cert_login())? {
                eprintln!(
                    "note: certificate login is on: a certificate for Redis user {:?} logs in without this password; only {:?} itself or people whose roles name it in db_users can get one",
                    user.name, user.name
                );
            }
        }
        UsersCommand::Ls(args) => {
            let users = with_state_read(ctx, |state| state.users())?;
            out!("{}", output::users(&users, args.format)?)?;
        }
        UsersCommand::Update(args) => {
            validate_user_name(&args.name)?;
            let update = UserUpdate {
                roles: optional_list("--set-roles", args.set_roles)?,
                db_users: optional_list("--set-db-users", args.set_db_users)?,
                db_names: optional_list("--set-db-names", args.set_db_names)?,
            };
            if update.roles.is_none() && update.db_users.is_none() && update.db_names.is_none() {
                return Err(Error::InvalidArgument(
                    "nothing to update: give --set-roles, --set-db-users or --set-db-names"
                        .to_string(),
                ));
            }
            let user = with_state(ctx, |state| state.update_user(&args.name, update))?;
            outln!("User {:?} has been updated.", user.name)?;
        }
        UsersCommand::ResetPassword(args) => {
            validate_user_name(&args.name)?;
            let password = if args.password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let name = args.name;
            with_state(ctx, |state| {
                state.reset_password_confirmed(&name, password, |password| match password {
                    Some(p) => emit_secret(&output::password_once(&name, p)),
                    None => Ok(()),
                })
            })?;
            outln!("Password of user {:?} has been reset.", name)?;
        }
        UsersCommand::Rm(args) => {
            // tctl: `users rm a,b`. All must exist, or none is removed.
            let names = parse_list("NAME", &args.name)?;
            for n in &names {
                validate_user_name(n)?;
            }
            with_state(ctx, |state| state.remove_users(&names))?;
            for n in &names {
                outln!("User {:?} has been deleted.", n)?;
            }
        }
    }
    Ok(())
}

fn create(ctx: &Context, args: CreateArgs) -> Result<()> {
    let (text, source) = if args.file.as_os_str() == "-" {
        (
            read_stdin("the resource", 1024 * 1024)?,
            "stdin".to_string(),
        )
    } else {
        let source = args.file.display().to_string();
        let text = read_text_file(&args.file, 1024 * 1024)?;
        (text, source)
    };
    let (role, ignored) = Role::from_teleport_yaml(&text, &source)?;
    let replaced = with_state(ctx, |state| {
        state.create_role(&role, args.force, args.target)
    })?;
    if !ignored.is_empty() {
        eprintln!(
            "note: {source}: ignored Teleport fields rctl does not use: {}",
            ignored.join(", ")
        );
    }
    let verb = if replaced { "updated" } else { "created" };
    outln!("role {:?} has been {verb}", role.name())?;
    Ok(())
}

/// Reads a UTF-8 text file of at most `limit` bytes, with errors that name it.
fn read_text_file(path: &Path, limit: u64) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let too_large =
        || Error::InvalidArgument(format!("{} is larger than {limit} bytes", path.display()));
    if meta.len() > limit {
        return Err(too_large());
    }
    // The size a pipe or /dev/zero reports says nothing: stop reading at the limit.
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::InvalidArgument(format!("{} is not UTF-8 text", path.display())))
}

/// `roles`, `role`, `roles/NAME`, `users`, ... into a kind and an optional name.
fn parse_resource(resource: &str, name: Option<String>) -> Result<(&'static str, Option<String>)> {
    let (kind, inline) = match resource.split_once('/') {
        Some((k, n)) => (k, Some(n.to_string())),
        None => (resource, None),
    };
    let kind = match kind {
        "roles" | "role" => "role",
        "users" | "user" => "user",
        other => {
            return Err(Error::InvalidArgument(format!(
                "unknown resource kind {:?}; rctl has roles and users",
                rctl_shorten(other)
            )));
        }
    };
    if inline.is_some() && name.is_some() {
        return Err(Error::InvalidArgument(
            "give the name once: roles/NAME or roles NAME".to_string(),
        ));
    }
    let name = inline.or(name);
    if let Some(n) = &name {
        validate_name(kind, n)?;
    }
    Ok((kind, name))
}

fn rctl_shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

fn get(ctx: &Context, args: GetArgs) -> Result<()> {
    let (kind, name) = parse_resource(&args.resource, args.name)?;
    if kind == "role" {
        let roles = with_state_read(ctx, |state| match &name {
            Some(n) => state.role(n).map(|r| vec![r]),
            None => state.roles(),
        })?;
        out!(
            "{}",
            output::roles(&roles, args.format.unwrap_or(output::Format::Yaml))?
        )?;
    } else {
        let users = with_state_read(ctx, |state| match &name {
            Some(n) => state.user(n).map(|u| vec![u]),
            None => state.users(),
        })?;
        out!(
            "{}",
            output::users(&users, args.format.unwrap_or(output::Format::Text))?
        )?;
    }
    Ok(())
}

fn rm(ctx: &Context, args: RmArgs) -> Result<()> {
    let (kind, name) = parse_resource(&args.resource, None)?;
    let Some(name) = name else {
        return Err(Error::InvalidArgument(
            "name the resource: rctl rm roles/NAME".to_string(),
        ));
    };
    if kind != "role" {
        return Err(Error::InvalidArgument(
            "remove users with 'rctl users rm NAME'".to_string(),
        ));
    }
    with_state(ctx, |state| state.remove_role(&name))?;
    outln!("role {name:?} has been deleted")?;
    Ok(())
}

fn acl_generate(ctx: &Context, args: AclGenerateArgs) -> Result<()> {
    if let Some(out) = &args.out
        && out.is_dir()
    {
        return Err(Error::InvalidArgument(format!(
            "{} is a directory, not a file",
            out.display()
        )));
    }
    if let Some(out) = &args.out {
        let folder = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "cannot write {}: the folder {} does not exist or is not a folder",
                out.display(),
                folder.display()
            )));
        }
    }
    let text = with_state_read(ctx, |state| {
        if let Some(out) = &args.out {
            state.check_output_path(out)?;
        }
        state.render_acl(args.target)
    })?;
    match &args.out {
        Some(out) => {
            rctl::store::write_atomic(out, text.as_bytes(), rctl::store::Visibility::Secret, true)?;
            eprintln!(
                "wrote {} ({} users)",
                out.display(),
                text.lines().count() - 1
            );
        }
        None => out!("{text}")?,
    }
    Ok(())
}

fn acl_check(ctx: &Context, args: AclCheckArgs) -> Result<()> {
    let text = read_text_file(&args.file, 64 * 1024 * 1024)?;
    let target = match args.target {
        Some(t) => t,
        // The cluster's target when there is a state; a lint never creates one.
        None if ctx.state_dir.is_dir() => with_state_read(ctx, |state| state.redis_target())?,
        None => Target::default(),
    };
    let findings = rctl::acl::lint(&text, target);
    if findings.is_empty() {
        outln!("{}: OK for {target}", args.file.display())?;
        return Ok(());
    }
    let first = findings[0].to_string();
    // Every finding on stdout, the verdict as one line on stderr.
    for f in &findings {
        outln!("{}: {f}", args.file.display())?;
    }
    Err(Error::AclProblems(format!(
        "{}: {} problem(s) for {target}, the first: {first}",
        args.file.display(),
        findings.len()
    )))
}

fn audit_ls(ctx: &Context, args: AuditLsArgs) -> Result<()> {
    let events = with_state_read(ctx, |state| {
        let since = args.since.map(|d| state.now() - d.as_time());
        state.audit_log(since)
    })?;
    out!("{}", output::audit(&events, args.format)?)?;
    Ok(())
}

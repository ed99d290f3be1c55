//! Argument definitions and the mapping of each command to library calls.

mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use rctl::store::DirOptions;
use rctl::{
    CaOptions, Error, KeyAlgorithm, Phase, Result, ServerCertRequest, StateDir, Ttl, check_outputs,
    parse_duration, parse_host_list,
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
    Status,
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
#[command(group(clap::ArgGroup::new("subject").required(true).args(["host"])))]
struct SignArgs {
    /// Output format; only "redis" for now
    #[arg(long, value_name = "FORMAT", default_value = "redis")]
    format: String,
    /// Comma-separated DNS names and IP addresses of the Redis server(s)
    #[arg(long, value_name = "HOST[,HOST...]")]
    host: Option<String>,
    /// Output prefix: writes PREFIX.crt, PREFIX.key and PREFIX.cas
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    /// Certificate lifetime (Go duration: 2190h, 90m, 1h30m)
    #[arg(long, value_name = "DUR", default_value = "12h")]
    ttl: Ttl,
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
    #[arg(long, requires = "phase")]
    manual: bool,
    /// Target phase: init, update_clients, update_servers, standby, rollback
    #[arg(long, value_name = "PHASE", requires = "manual")]
    phase: Option<String>,
    /// Grace period of an automatic rotation (Go duration; 0 swaps keys at once)
    #[arg(long, value_name = "DUR", conflicts_with = "manual")]
    grace_period: Option<String>,
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
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{first} (see 'rctl --help')");
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Context {
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
        Command::Status => status(&ctx),
    }
}

struct Context {
    state_dir: PathBuf,
    options: DirOptions,
}

impl Context {
    /// Opens the state. Every argument has been checked by now: a refusal changes nothing.
    fn open(&self) -> Result<StateDir> {
        StateDir::open_with(&self.state_dir, &self.options)
    }
}

/// Runs `f` on the open state, then tells stderr what the library noticed (CA created,
/// rotation advanced), also when `f` failed.
fn with_state<T>(ctx: &Context, f: impl FnOnce(&mut StateDir) -> Result<T>) -> Result<T> {
    let mut state = ctx.open()?;
    let result = f(&mut state);
    for notice in state.take_notices() {
        eprintln!("{notice}");
    }
    result
}

fn check_ca_type(ca_type: &str) -> Result<()> {
    if ca_type != "host" {
        return Err(Error::InvalidArgument(format!(
            "unsupported CA type {:?}; rctl has one CA type: host",
            ca_type
        )));
    }
    Ok(())
}

fn auth_init(ctx: &Context, args: InitArgs) -> Result<()> {
    let cluster_name = args.cluster_name.unwrap_or_default();
    let mut options = CaOptions::new(cluster_name);
    if options.cluster_name.is_empty() {
        options.cluster_name = rctl::default_cluster_name();
    }
    rctl::validate_name("cluster", &options.cluster_name)?;
    options.algorithm = args.key_algo;
    options.ttl = args.ca_ttl;
    let ca = with_state(ctx, |state| state.init_ca(&options))?;
    println!(
        "Created host CA for cluster {:?} ({}), valid until {}.\nCA pin: {}",
        ca.cluster_name(),
        ca.active().algorithm(),
        output::date(ca.active().not_after()),
        ca.active().pin()
    );
    Ok(())
}

fn auth_sign(ctx: &Context, args: SignArgs) -> Result<()> {
    if args.format != "redis" {
        return Err(Error::InvalidArgument(format!(
            "unsupported --format {:?}; supported formats: redis",
            args.format
        )));
    }
    let paths = rctl::RedisBundle::paths(&args.out);
    check_outputs(&paths, args.overwrite)?;
    let Some(hosts) = args.host else {
        return Err(Error::InvalidArgument("--host is required".to_string()));
    };
    let req = ServerCertRequest {
        hosts: parse_host_list(&hosts)?,
        ttl: args.ttl,
        key_algorithm: args.key_algo,
    };
    let written = with_state(ctx, |state| {
        let bundle = state.sign_redis_server(&req)?;
        bundle.write(&args.out, args.overwrite)
    })?;
    print!("{}", output::redis_server_instructions(&written));
    Ok(())
}

fn auth_export(ctx: &Context, args: ExportArgs) -> Result<()> {
    check_ca_type(&args.ca_type)?;
    let ca = with_state(ctx, |state| state.host_ca())?;
    print!("{}", ca.trusted_pem());
    Ok(())
}

fn auth_rotate(ctx: &Context, args: RotateArgs) -> Result<()> {
    check_ca_type(&args.ca_type)?;
    let ca = if let Some(phase) = args.phase {
        let phase: Phase = phase.parse()?;
        with_state(ctx, |state| state.rotate(phase))?
    } else {
        let grace = match &args.grace_period {
            Some(g) => parse_duration(g)?,
            None => rctl::DEFAULT_GRACE_PERIOD,
        };
        with_state(ctx, |state| state.start_auto_rotation(grace))?
    };
    println!("Host CA: {}", ca.rotation().describe());
    Ok(())
}

fn status(ctx: &Context) -> Result<()> {
    if !Path::new(&ctx.state_dir).exists() {
        println!(
            "No state in {} yet: run 'rctl auth init' or any signing command.",
            ctx.state_dir.display()
        );
        return Ok(());
    }
    let ca = with_state(ctx, |state| state.existing_host_ca())?;
    match ca {
        None => println!(
            "No host CA in {} yet: run 'rctl auth init' or any signing command.",
            ctx.state_dir.display()
        ),
        Some(ca) => print!("{}", output::status(&ca)),
    }
    Ok(())
}

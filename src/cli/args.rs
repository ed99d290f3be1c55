//! The command line: clap's types, one per command. Parsing only; `cli::run` calls the handlers.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use rctl::acl::Target;
use rctl::{FileOwner, KeyAlgorithm, ServerAddr, ServerName, Ttl, UserName};

pub(crate) use super::auth_args::*;
use super::output;

/// Redis behind mutual TLS: a host CA, Redis certificates, users and users.acl, no server.
#[derive(Parser, Debug)]
#[command(name = "rctl", version, propagate_version = true)]
pub struct Cli {
    /// State directory [default: $RCTL_STATE_DIR, else $XDG_DATA_HOME/rctl, else ~/.local/share/rctl]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub(crate) state_dir: Option<PathBuf>,

    /// Accept a state directory or CA key file that group or others can read
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) insecure_permissions: bool,

    /// Shared state in etcd: etcd://HOST:PORT[,HOST:PORT...]/PREFIX (instead of --state-dir)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL",
        env = "RCTL_STATE"
    )]
    pub(crate) state: Option<String>,

    /// CA file of the etcd members' certificates (TLS to etcd)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "RCTL_ETCD_CACERT"
    )]
    pub(crate) etcd_cacert: Option<PathBuf>,

    /// Client certificate for etcd
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "RCTL_ETCD_CERT"
    )]
    pub(crate) etcd_cert: Option<PathBuf>,

    /// Client key for etcd
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "RCTL_ETCD_KEY"
    )]
    pub(crate) etcd_key: Option<PathBuf>,

    /// etcd user, with etcd's own authentication (its password from --etcd-password-file)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME",
        env = "RCTL_ETCD_USER"
    )]
    pub(crate) etcd_user: Option<String>,

    /// File holding the etcd user's password (its first line; not readable by others)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "RCTL_ETCD_PASSWORD_FILE"
    )]
    pub(crate) etcd_password_file: Option<PathBuf>,

    /// File holding the passphrase of an encrypted host CA key (else a prompt on a terminal);
    /// read only by commands that use the key
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "RCTL_CA_PASSPHRASE_FILE"
    )]
    pub(crate) ca_passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Manage the host certificate authority and sign certificates
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Show the cluster name and the state of the host CA
    Status(FormatArgs),
    /// Inspect certificates
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Redis configuration and registered Redis servers
    #[command(subcommand)]
    Redis(RedisCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    Completion(CompletionArgs),
    /// Print the man page (roff): rctl(1), or a command's page (`rctl man auth sign`)
    Man(ManArgs),
    /// Manage users
    #[command(subcommand)]
    Users(UsersCommand),
    /// Create a resource (a role) from a YAML file
    Create(CreateArgs),
    /// Show resources: roles [NAME], users [NAME]
    Get(GetArgs),
    /// Remove a resource: roles/NAME
    Rm(RmArgs),
    /// Copy the whole state elsewhere (a directory into etcd, or etcd into a directory)
    #[command(subcommand)]
    State(StateCommand),
    /// Generate or check a Redis users.acl
    #[command(subcommand)]
    Acl(AclCommand),
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A person's logins to registered servers, as tsh db: ls, login, config, connect, logout
    #[command(subcommand)]
    Db(super::client_args::DbCommand),
    /// Applications' client bundles that redis sync keeps renewed: add, ls, rm
    #[command(subcommand)]
    Clients(super::client_args::ClientsCommand),
    /// Locks, as tctl lock: a user, account, role or node cut off everywhere: add, ls, rm
    #[command(subcommand)]
    Lock(super::locks::LockCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum CertsCommand {
    /// Subject, SANs, usages, serial, validity, key algorithm, and whether this CA signed it;
    /// exits 1 for an expired or foreign certificate
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// A PEM certificate file
    pub(crate) file: PathBuf,
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RedisCommand {
    /// The redis.conf TLS block for a certificate bundle (Redis 6.0+)
    Config(RedisConfigArgs),
    /// Print the Redis version users.acl is written for, or set it
    Target(RedisTargetArgs),
    /// Register a Redis server: where it listens and where its certificate and users.acl live
    Add(RedisAddArgs),
    /// List registered Redis servers
    Ls(super::client_args::NodeListArgs),
    /// Forget a registered Redis server (its files stay)
    Rm(RedisRmArgs),
    /// Bring registered servers in line: renew, trust bundle, users.acl, reload, verify
    Sync(RedisSyncArgs),
    /// Read-only: what registered servers serve and hold against the state; exit 1 on a problem
    Check(RedisCheckArgs),
}

/// Which registered servers: names, or `--all`.
#[derive(Args, Debug)]
pub(crate) struct ServerSelection {
    /// Registered servers' (or client outputs') names
    #[arg(value_name = "NAME", conflicts_with_all = ["all", "node"])]
    pub(crate) names: Vec<ServerName>,
    /// Every registered server and client output
    #[arg(long, conflicts_with = "node")]
    pub(crate) all: bool,
    /// Those a node holds [default on a shared (etcd) state: this host's name]
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Option<rctl::NodeName>,
}

#[derive(Args, Debug)]
pub(crate) struct RedisSyncArgs {
    #[command(flatten)]
    pub(crate) servers: ServerSelection,
    /// Renew a certificate with less than this left [default: a third of its lifetime]
    #[arg(long, value_name = "DUR")]
    pub(crate) renew_within: Option<Ttl>,
    /// Print what would be done; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Write the files, but do not connect to the servers (no reload, no accounts)
    #[arg(long)]
    pub(crate) no_reload: bool,
    /// The most one server may take, all its exchanges together [default: 30s]
    #[arg(long, value_name = "DUR")]
    pub(crate) timeout: Option<Ttl>,
    /// Without the CA key (no passphrase): how long to wait for the signer to answer this
    /// node's signing requests
    #[arg(long, value_name = "DUR", default_value = "60s")]
    pub(crate) wait: Ttl,
    /// Write Prometheus metrics to FILE (atomically; node_exporter's textfile collector)
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    pub(crate) metrics: Option<PathBuf>,
    /// Run until stopped: sync, then again whenever the state changes (users, roles, locks,
    /// registrations, the CA's phase), a lock expires, or --resync passes; one line per action
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) watch: bool,
    /// With --watch: sync everything again after this long without a change (Go duration)
    #[arg(long, value_name = "DUR", default_value = "10m", requires = "watch")]
    pub(crate) resync: Ttl,
}

#[derive(Args, Debug)]
pub(crate) struct RedisCheckArgs {
    #[command(flatten)]
    pub(crate) servers: ServerSelection,
    /// The most one server may take, all its exchanges together [default: 30s]
    #[arg(long, value_name = "DUR")]
    pub(crate) timeout: Option<Ttl>,
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
    /// Write Prometheus metrics to FILE (atomically; node_exporter's textfile collector)
    #[arg(long, value_name = "FILE")]
    pub(crate) metrics: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct RedisAddArgs {
    /// The server's name in rctl
    #[arg(value_name = "NAME")]
    pub(crate) name: ServerName,
    /// Where it listens for TLS: HOST:PORT or [IPV6]:PORT
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) addr: ServerAddr,
    /// Its bundle: PREFIX.crt, PREFIX.key and PREFIX.cas
    #[arg(long, value_name = "PATH")]
    pub(crate) cert_prefix: PathBuf,
    /// The names its certificate carries, comma-separated [default: the host of --addr]
    #[arg(long, value_name = "H1,H2")]
    pub(crate) hosts: Option<String>,
    /// Where its users.acl lives (the aclfile in its redis.conf)
    #[arg(long, value_name = "PATH")]
    pub(crate) acl_file: Option<PathBuf>,
    /// Key algorithm of its certificate [default: the CA's]
    #[arg(long, value_name = "ALGO")]
    pub(crate) key_algo: Option<KeyAlgorithm>,
    /// Its certificate's lifetime (Go duration) [default: 12h]
    #[arg(long, value_name = "DUR")]
    pub(crate) ttl: Option<Ttl>,
    /// Owner of the files written for it [default: the owner of the files replaced]
    #[arg(long, value_name = "USER:GROUP")]
    pub(crate) owner: Option<FileOwner>,
    /// Labels, which roles' db_labels select: KEY=VALUE[,KEY=VALUE...]
    #[arg(long, value_name = "K=V,...")]
    pub(crate) labels: Option<rctl::Labels>,
    /// What the server is, for db ls
    #[arg(long, value_name = "TEXT")]
    pub(crate) description: Option<String>,
    /// The host that holds its files, on a fleet's shared state (its sync writes them)
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Option<rctl::NodeName>,
    /// A Redis Sentinel: sync renews its bundle and says to restart it
    #[arg(long, conflicts_with = "acl_file")]
    pub(crate) sentinel: bool,
}

#[derive(Args, Debug)]
pub(crate) struct RedisRmArgs {
    /// The server's name
    #[arg(value_name = "NAME")]
    pub(crate) name: ServerName,
}

#[derive(Args, Debug)]
pub(crate) struct ManArgs {
    /// The command whose page to print (`auth sign`: rctl-auth-sign(1)); none for rctl(1)
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct RedisTargetArgs {
    #[arg(value_name = "TARGET", help = target_names())]
    pub(crate) target: Option<Target>,
}

#[derive(Args, Debug)]
pub(crate) struct RedisConfigArgs {
    /// A registered server: its certificate prefix, users.acl and port come from its
    /// registration
    #[arg(value_name = "NAME", conflicts_with_all = ["cert_prefix", "acl", "sentinel"], required_unless_present = "cert_prefix")]
    pub(crate) name: Option<ServerName>,
    /// The bundle prefix given to 'auth sign --out'
    #[arg(long, value_name = "PREFIX")]
    pub(crate) cert_prefix: Option<PathBuf>,
    /// The users.acl to load (aclfile)
    #[arg(long, value_name = "FILE")]
    pub(crate) acl: Option<PathBuf>,
    /// TLS port [default: 6379, or the registered server's]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: Option<u16>,
    /// Enable cluster mode with TLS on the cluster bus
    #[arg(long)]
    pub(crate) cluster: bool,
    /// Use TLS for replication
    #[arg(long)]
    pub(crate) replication: bool,
    /// Log clients in by their certificate's CN (tls-auth-clients-user CN; Valkey 9.0+):
    /// on or off, saved as the cluster's setting [default when given: on]
    #[arg(long, value_name = "on|off", num_args = 0..=1, default_missing_value = "on")]
    pub(crate) cert_login: Option<OnOff>,
    /// Make this server a replica of HOST:PORT (replicaof, masteruser, masterauth from stdin)
    #[arg(long, value_name = "HOST:PORT", requires = "repl_user")]
    pub(crate) replica_of: Option<String>,
    /// The replication account (holding the replication role): with --replica-of, or with
    /// --cluster for the replicas the cluster makes
    #[arg(long, value_name = "NAME")]
    pub(crate) repl_user: Option<UserName>,
    /// With certificate login: the replication account's client bundle prefix
    #[arg(long, value_name = "PREFIX", requires = "repl_user")]
    pub(crate) repl_cert_prefix: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sentinel: super::client_args::SentinelArgs,
}

/// A setting turned on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnOff {
    On,
    Off,
}

#[derive(Args, Debug)]
pub(crate) struct CompletionArgs {
    /// The shell
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List audit records, oldest first
    Ls(AuditLsArgs),
}

#[derive(Args, Debug)]
pub(crate) struct AuditLsArgs {
    /// Only records from the last DUR (Go duration, e.g. 24h)
    #[arg(long, value_name = "DUR")]
    pub(crate) since: Option<Ttl>,
    /// Output format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
}

#[derive(Subcommand, Debug)]
pub(crate) enum UsersCommand {
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
    Rm(UsersRmArgs),
}

#[derive(Args, Debug)]
pub(crate) struct UsersAddArgs {
    /// User name: 1-64 of A-Z a-z 0-9 . _ @ -
    pub(crate) name: UserName,
    /// Roles (each must exist), comma-separated or repeated as tctl takes them
    #[arg(long, value_name = "R1[,R2]", required = true)]
    pub(crate) roles: Vec<String>,
    /// Redis users this user may connect as (* = any), comma-separated or repeated
    #[arg(long, value_name = "U1[,U2]")]
    pub(crate) db_users: Vec<String>,
    /// Database names (* = any; Redis does not check them), comma-separated or repeated
    #[arg(long, value_name = "N1[,N2]")]
    pub(crate) db_names: Vec<String>,
    /// Read the Redis password from stdin instead of generating one
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Give the replication role, which reads every key (for a replica's account)
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct UsersUpdateArgs {
    /// User name
    pub(crate) name: UserName,
    /// Replace the roles
    #[arg(long, value_name = "R1[,R2]")]
    pub(crate) set_roles: Option<String>,
    /// Give the replication role, which reads every key (for a replica's account)
    #[arg(long)]
    pub(crate) force: bool,
    /// Replace the db_users trait
    #[arg(long, value_name = "U1[,U2]")]
    pub(crate) set_db_users: Option<String>,
    /// Replace the db_names trait
    #[arg(long, value_name = "N1[,N2]")]
    pub(crate) set_db_names: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ResetPasswordArgs {
    /// User name
    pub(crate) name: UserName,
    /// Read the new password from stdin instead of generating one
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Args, Debug)]
pub(crate) struct UsersRmArgs {
    /// The users, comma-separated (all exist, or none is removed)
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Change the state only: the servers follow at their next sync (on a directory state,
    /// users rm otherwise syncs every registered server at once)
    #[arg(long)]
    pub(crate) no_sync: bool,
}

#[derive(Args, Debug)]
pub(crate) struct NameArg {
    /// Name
    pub(crate) name: String,
}

#[derive(Args, Debug)]
pub(crate) struct FormatArgs {
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
}

#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    /// YAML file with a role, or with users (Teleport kind: user documents, `---` between) ("-" for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Replace an existing role; for users, give the replication role
    #[arg(long)]
    pub(crate) force: bool,
    /// Check the role's redis_acl for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    pub(crate) target: Option<Target>,
}

#[derive(Args, Debug)]
pub(crate) struct GetArgs {
    /// roles, users, roles/NAME or users/NAME
    pub(crate) resource: String,
    /// Name of one resource
    pub(crate) name: Option<String>,
    /// Output format [default: yaml for roles, text for users]
    #[arg(long, value_name = "FORMAT")]
    pub(crate) format: Option<output::Format>,
}

#[derive(Args, Debug)]
pub(crate) struct RmArgs {
    /// roles/NAME
    pub(crate) resource: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum AclCommand {
    /// Write the users.acl for every user (stdout without --out)
    Generate(AclGenerateArgs),
    /// Lint an existing users.acl offline
    Check(AclCheckArgs),
}

#[derive(Args, Debug)]
pub(crate) struct AclGenerateArgs {
    /// Output file (written atomically, mode 0600)
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Write for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    pub(crate) target: Option<Target>,
    /// Owner of --out (mode 0640 with a GROUP, which the server runs as) [default: the
    /// owner of the file replaced, else the writer]
    #[arg(long, value_name = "USER[:GROUP]", requires = "out")]
    pub(crate) owner: Option<FileOwner>,
}

#[derive(Args, Debug)]
pub(crate) struct AclCheckArgs {
    /// The users.acl to check
    pub(crate) file: PathBuf,
    /// Check for this Redis version instead of the cluster's
    #[arg(long, value_name = "TARGET")]
    pub(crate) target: Option<Target>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum StateCommand {
    /// Copy this state into an empty etcd prefix or directory
    Migrate(MigrateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    /// Where to: etcd://HOST:PORT[,HOST:PORT...]/PREFIX (empty), or a directory (a backup)
    #[arg(long, value_name = "URL|DIR")]
    pub(crate) to: String,
}

/// Every target's name, from the library's table: `redis-6.0, …, valkey-9.0 or valkey-9.1`.
fn target_names() -> String {
    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

//! The command line of `db` (a person's logins, as `tsh db`) and `clients` (applications'
//! bundles that sync renews): clap's types. Parsing only.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rctl::{DbUserName, ServerName, Ttl, UserName};

use super::output;

#[derive(Subcommand, Debug)]
pub(crate) enum DbCommand {
    /// List the registered servers (with --user, those the user's roles reach)
    Ls(DbLsArgs),
    /// Log a user in to a server: a short-lived client certificate in the user's profile
    Login(DbLoginArgs),
    /// How to connect with a login: host, port, files, a redis-cli command line, a URI
    Config(DbConfigArgs),
    /// Run redis-cli (or valkey-cli) with a login's files; arguments after -- pass through
    Connect(DbConnectArgs),
    /// Remove a login's files (every login of the user without NAME)
    Logout(DbLogoutArgs),
}

/// Where logins are kept.
#[derive(Args, Debug)]
pub(crate) struct ProfileArgs {
    /// Profile folder of logins [default: $RCTL_PROFILE, else ~/.rctl]
    #[arg(long, value_name = "DIR", env = "RCTL_PROFILE")]
    pub(crate) profile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct DbLsArgs {
    /// Only the servers this user's roles reach (db_labels)
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<UserName>,
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
}

#[derive(Args, Debug)]
pub(crate) struct DbLoginArgs {
    /// The registered server
    #[arg(value_name = "NAME")]
    pub(crate) name: ServerName,
    /// The rctl user logging in
    #[arg(long, value_name = "USER")]
    pub(crate) user: UserName,
    /// The Redis account [default: the user's only db user on that server]
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) db_user: Option<DbUserName>,
    /// Certificate lifetime (Go duration), within the roles' max_session_ttl [default: 12h]
    #[arg(long, value_name = "DUR")]
    pub(crate) ttl: Option<Ttl>,
    /// Owner of the login's folder and files (the person's OS account, when an admin logs
    /// them in) [default: the writer]
    #[arg(long, value_name = "USER[:GROUP]")]
    pub(crate) owner: Option<rctl::FileOwner>,
    #[command(flatten)]
    pub(crate) profile: ProfileArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DbConfigArgs {
    /// The registered server
    #[arg(value_name = "NAME")]
    pub(crate) name: ServerName,
    /// The rctl user
    #[arg(long, value_name = "USER")]
    pub(crate) user: UserName,
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
    #[command(flatten)]
    pub(crate) profile: ProfileArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DbConnectArgs {
    /// The registered server
    #[arg(value_name = "NAME")]
    pub(crate) name: ServerName,
    /// The rctl user
    #[arg(long, value_name = "USER")]
    pub(crate) user: UserName,
    /// The client to run [default: redis-cli, else valkey-cli, from PATH]
    #[arg(long, value_name = "PATH")]
    pub(crate) cli: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) profile: ProfileArgs,
    /// Arguments for the client (after --)
    #[arg(last = true, value_name = "ARGS")]
    pub(crate) args: Vec<OsString>,
}

#[derive(Args, Debug)]
pub(crate) struct DbLogoutArgs {
    /// The registered server [default: every login of the user]
    #[arg(value_name = "NAME")]
    pub(crate) name: Option<ServerName>,
    /// The rctl user
    #[arg(long, value_name = "USER")]
    pub(crate) user: UserName,
    #[command(flatten)]
    pub(crate) profile: ProfileArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ClientsCommand {
    /// Register an application's client bundle and issue it; redis sync keeps it renewed
    Add(Box<ClientsAddArgs>),
    /// List the registered client outputs
    Ls(ClientsLsArgs),
    /// Forget a client output (its files stay)
    Rm(ClientsRmArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ClientsAddArgs {
    /// The client output's name in rctl
    #[arg(value_name = "NAME")]
    pub(crate) name: rctl::ClientName,
    /// The rctl user it is for (their roles decide the account and the lifetime)
    #[arg(long, value_name = "USER")]
    pub(crate) user: UserName,
    /// The Redis account its certificate names
    #[arg(long, value_name = "ACCOUNT")]
    pub(crate) db_user: DbUserName,
    /// Output prefix: writes PREFIX.crt, PREFIX.key and PREFIX.cas
    #[arg(long, value_name = "PREFIX")]
    pub(crate) out: PathBuf,
    /// Certificate lifetime (Go duration), within the roles' max_session_ttl [default: 12h]
    #[arg(long, value_name = "DUR")]
    pub(crate) ttl: Option<Ttl>,
    /// Owner of the files written for it [default: the owner of the files replaced]
    #[arg(long, value_name = "USER:GROUP")]
    pub(crate) owner: Option<rctl::FileOwner>,
    /// Run after each renewal with sh -c (RCTL_CLIENT, RCTL_FORMAT and the files: RCTL_CERT, RCTL_KEY, RCTL_CA; RCTL_P12; or RCTL_SECRET)
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: Option<String>,
    /// Bundle format: redis, pkcs12 or kubernetes-secret
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "redis")]
    pub(crate) format: super::args::SignFormat,
    /// Replace bundle files that are already there
    #[arg(long)]
    pub(crate) overwrite: bool,
    #[command(flatten)]
    pub(crate) format_options: FormatOptions,
    /// The host that holds its files; another host's is only registered, its sync issues it
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Option<rctl::NodeName>,
}

/// What the pkcs12 and kubernetes-secret formats need.
#[derive(Args, Debug)]
pub(crate) struct FormatOptions {
    /// The PKCS#12 passphrase: the first line of FILE (required for --format=pkcs12)
    #[arg(long, value_name = "FILE")]
    pub(crate) pkcs12_passphrase_file: Option<PathBuf>,
    /// The Kubernetes Secret's namespace (--format=kubernetes-secret)
    #[arg(long, value_name = "NS")]
    pub(crate) namespace: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ClientsLsArgs {
    #[command(flatten)]
    pub(crate) list: NodeListArgs,
}

/// A list of registrations, of one node or all.
#[derive(Args, Debug)]
pub(crate) struct NodeListArgs {
    /// Output format: text, json or yaml
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub(crate) format: output::Format,
    /// Only those this node holds
    #[arg(long, value_name = "NODE")]
    pub(crate) node: Option<rctl::NodeName>,
}

#[derive(Args, Debug)]
pub(crate) struct ClientsRmArgs {
    /// The client output's name
    #[arg(value_name = "NAME")]
    pub(crate) name: rctl::ClientName,
}

/// `redis config --sentinel`: a sentinel.conf instead of a redis.conf block.
#[derive(Args, Debug)]
pub(crate) struct SentinelArgs {
    /// Print a sentinel.conf over TLS (the account's password read from stdin)
    #[arg(
        long,
        requires_all = ["master_name", "primary", "quorum", "sentinel_user"],
        conflicts_with_all = ["cluster", "replica_of", "repl_user", "acl", "cert_login"]
    )]
    pub(crate) sentinel: bool,
    /// The monitored primary's name in Sentinel
    #[arg(long, value_name = "NAME", requires = "sentinel")]
    pub(crate) master_name: Option<String>,
    /// The monitored primary's address and TLS port
    #[arg(long, value_name = "HOST:PORT", requires = "sentinel")]
    pub(crate) primary: Option<String>,
    /// How many sentinels must agree the primary is down
    #[arg(long, value_name = "Q", requires = "sentinel")]
    pub(crate) quorum: Option<u32>,
    /// The account Sentinel logs in to the servers with (holding the sentinel role)
    #[arg(long, value_name = "ACCOUNT", requires = "sentinel")]
    pub(crate) sentinel_user: Option<UserName>,
}

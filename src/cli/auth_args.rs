//! The command line of `auth` (the host CA: init, sign, export, rotate): clap's types.
//! Parsing only.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rctl::{ClusterName, DbUserName, FileOwner, KeyAlgorithm, Phase, Ttl, UserName};

#[derive(Subcommand, Debug)]
pub(crate) enum AuthCommand {
    /// Create the host CA
    Init(InitArgs),
    /// Sign a certificate: a Redis server's (--host) or a person's (--user)
    Sign(Box<SignArgs>),
    /// Print every trusted CA certificate (PEM)
    Export(ExportArgs),
    /// Rotate the host CA, one manual phase or automatically over a grace period
    Rotate(RotateArgs),
    /// Encrypt the host CA keys at rest with a passphrase (PKCS#8, scrypt, AES-256)
    Encrypt,
    /// Keep the host CA keys in clear again (asks for the passphrase)
    Decrypt,
    /// Sign the nodes' pending signing requests that match their registrations (etcd state)
    SignRequests(SignRequestsArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SignRequestsArgs {
    /// Keep running: sign each request as it arrives (an etcd watch), until stopped
    #[arg(long)]
    pub(crate) watch: bool,
}

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Cluster name: the CA's subject CN and O [default: the host name]
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster_name: Option<ClusterName>,
    /// Key algorithm: ecdsa-p256, ecdsa-p384, ed25519, rsa2048, rsa3072, rsa4096
    #[arg(long, value_name = "ALGO", default_value = "ecdsa-p256")]
    pub(crate) key_algo: KeyAlgorithm,
    /// Lifetime of the CA certificate (Go duration)
    #[arg(long, value_name = "DUR", default_value = "87600h")]
    pub(crate) ca_ttl: Ttl,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["host", "user", "csr"])))]
pub(crate) struct SignArgs {
    /// Output format (tctl's --format=redis)
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "redis")]
    pub(crate) format: SignFormat,
    /// Comma-separated DNS names and IP addresses of the Redis server(s)
    #[arg(long, value_name = "HOST[,HOST...]", conflicts_with_all = ["user", "db_user", "db_name"])]
    pub(crate) host: Option<String>,
    /// The rctl user a client certificate is for (with --db-user)
    #[arg(
        long,
        value_name = "NAME",
        requires = "db_user",
        conflicts_with = "csr"
    )]
    pub(crate) user: Option<UserName>,
    /// Sign a Redis server's CSR (PEM) instead of making a key: writes PREFIX.crt and PREFIX.cas
    #[arg(long, value_name = "FILE", conflicts_with_all = ["host", "key_algo"])]
    pub(crate) csr: Option<PathBuf>,
    /// The Redis user the certificate names (its subject CN)
    #[arg(long, value_name = "USER", requires = "user")]
    pub(crate) db_user: Option<DbUserName>,
    /// Database name: accepted as tctl takes it, not in the certificate (users.acl enforces db_names on valkey-9.1)
    #[arg(long, value_name = "NAME", requires = "user")]
    pub(crate) db_name: Option<String>,
    /// Output prefix: writes PREFIX.crt, PREFIX.key and PREFIX.cas
    #[arg(short = 'o', long, value_name = "PREFIX")]
    pub(crate) out: PathBuf,
    /// Certificate lifetime (Go duration: 2190h, 90m, 1h30m) [default: 12h, or a smaller role cap]
    #[arg(long, value_name = "DUR")]
    pub(crate) ttl: Option<Ttl>,
    /// Replace existing output files
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Key algorithm of the new key [default: the CA's]
    #[arg(long, value_name = "ALGO")]
    pub(crate) key_algo: Option<KeyAlgorithm>,
    #[command(flatten)]
    pub(crate) format_options: super::client_args::FormatOptions,
    /// Owner of the files [default: the owner of the files replaced, else the writer]
    #[arg(long, value_name = "USER[:GROUP]")]
    pub(crate) owner: Option<FileOwner>,
}

/// `auth sign --format`: redis (tctl's), or one file for Java clients or Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SignFormat {
    /// PREFIX.crt, PREFIX.key, PREFIX.cas
    Redis,
    /// PREFIX.p12 (key, certificate, CA chain) under --pkcs12-passphrase-file
    Pkcs12,
    /// PREFIX.yaml: a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt)
    KubernetesSecret,
}

/// `--type`: rctl has one CA, which tctl's names for the CAs of Redis certificates all mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CaType {
    // The host CA, and tctl's names for the CAs of Redis certificates: the same CA here.
    Host,
    TlsHost,
    Db,
    DbClient,
}

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// CA type: host (tctl's tls-host, db and db-client name the same CA here)
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "host")]
    pub(crate) ca_type: CaType,
    /// Write the trust bundle to FILE (atomically, mode 0644) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct RotateArgs {
    /// CA type: host (tctl's tls-host, db and db-client name the same CA here)
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "host")]
    pub(crate) ca_type: CaType,
    /// Move one phase by hand (--phase; alone, enters init as tctl does)
    #[arg(long)]
    pub(crate) manual: bool,
    /// Target phase: init, update_clients, update_servers, standby, rollback
    #[arg(long, value_name = "PHASE", requires = "manual")]
    pub(crate) phase: Option<Phase>,
    /// Grace period of an automatic rotation (Go duration; 0 swaps keys at once)
    #[arg(long, value_name = "DUR", conflicts_with = "manual", value_parser = rctl::parse_duration)]
    pub(crate) grace_period: Option<std::time::Duration>,
    /// Enter standby even while a registered server's certificate is not from the new key
    #[arg(long)]
    pub(crate) force: bool,
}

//! Live registered servers: what `rctl redis check` reads and `rctl redis sync` brings in line.
//!
//! - [`files`]: a server's certificate bundle and users.acl on disk against the state.
//! - [`accounts`]: the accounts on a server against users.acl.
//! - `served`: the certificate a server presents.
//! - `conn`: a connection as `rctl-admin` (the `redis` crate, rustls on ring).
//! - `check`: one server against the state ([`check_server`]), changing nothing.
//! - `sync`: one server brought in line ([`sync_live`]): reload, accounts, verification.
//! - `reload`: the TLS settings and the `CONFIG SET` that loads the files again.
//! - `version`: which Redis or Valkey a server runs, and whether it can load a target's file.
//!
//! Writing the files belongs to the state (it signs, and records what it wrote); this module
//! talks to servers, from a [`Wanted`] taken from the state, with the state's lock released.
//! [`crate::fleet`] runs both over the registered servers.

pub mod accounts;
mod check;
mod conn;
pub mod files;
mod probe;
mod reload;
mod served;
mod sync;
mod version;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::accounts::labels::Labels;
use crate::acl::Target;
use crate::error::{Error, Result, ServerError};
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_der};
use crate::servers::registered::RegisteredServer;

pub use crate::pki::renewal::Renewal;
pub use accounts::{Account, Drift};
pub use check::check_server;
pub use conn::{AdminLogin, Live};
pub use files::FilePlan;
pub use served::{served_certificate, served_certificate_as};
pub(crate) use sync::sync_live_on;
pub use sync::{LiveSync, SyncOptions, sync_live};
pub use version::ServerVersion;

/// How long rctl waits for a server to connect or answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long rctl gives one server, all its exchanges together, in `redis sync` and `check`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// How long rctl's own client certificate lives: one command's connections.
const ADMIN_CERT_TTL: Duration = Duration::from_secs(300);

/// rustls's ring provider: no other crypto library is linked.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's rustls provider (the `redis` crate builds its TLS configuration
/// from the process default). Harmless when one is installed already.
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One server's users.acl and the accounts it defines.
#[derive(Clone, Debug)]
pub struct ServerAccounts {
    /// The users.acl text.
    pub acl_text: String,
    /// The accounts it defines, by name.
    pub accounts: BTreeMap<String, Account>,
}

impl ServerAccounts {
    /// `acl_text` with its accounts, read as `target` reads them.
    pub(crate) fn new(acl_text: String, target: Target) -> Result<ServerAccounts> {
        Ok(ServerAccounts {
            accounts: accounts::wanted_accounts(&acl_text, target)?,
            acl_text,
        })
    }
}

/// The users.acl of each label set of the servers a [`Wanted`] was taken for.
#[derive(Clone, Debug)]
pub struct AccountSets {
    /// Each label set, with its users.acl: only the users whose roles reach servers so
    /// labelled (their `db_labels`), and rctl's own account.
    pub by_labels: Vec<(Labels, ServerAccounts)>,
    /// A server with live per-login accounts: its label set's users.acl with those accounts.
    pub by_server: Vec<(crate::accounts::names::ServerName, ServerAccounts)>,
    /// For a server whose labels were not among them: rctl's own account alone (a server
    /// left out is refused to everyone, never given every user).
    pub none: ServerAccounts,
}

/// What the state says the servers should be, taken under its lock and used after it is
/// released: talking to servers never holds other rctl commands up.
#[derive(Debug)]
pub struct Wanted {
    /// The host CA (its trusted keys, to judge what a server presents).
    pub ca: HostCa,
    /// Each server's users.acl and accounts, by its labels.
    pub sets: AccountSets,
    /// The Redis version it is written for.
    pub target: Target,
    /// Whether servers log clients in by their certificate (`tls-auth-clients-user CN`).
    pub cert_login: bool,
    /// How rctl logs in.
    pub login: AdminLogin,
    /// When this was taken.
    pub now: OffsetDateTime,
}

impl Wanted {
    /// From the state's parts: signs rctl's client certificates (one per trusted key) in memory.
    pub(crate) fn new(
        ca: HostCa,
        sets: AccountSets,
        target: Target,
        password: Option<crate::accounts::users::Password>,
        password_hash: crate::accounts::users::PasswordHash,
        now: OffsetDateTime,
    ) -> Result<Wanted> {
        let ttl = crate::duration::Ttl::from_std(ADMIN_CERT_TTL)?;
        let identities = if ca.is_locked() {
            Vec::new()
        } else {
            ca.trusted()
                .map(|key| ca.sign_admin_client(key, ttl, now))
                .collect::<Result<Vec<_>>>()?
        };
        let login = AdminLogin {
            password,
            password_hash,
            identities,
            trusted_pem: ca.trusted_pem(),
        };
        Ok(Wanted {
            ca,
            sets,
            target,
            cert_login: false,
            login,
            now,
        })
    }
}

impl Wanted {
    /// `server`'s users.acl and accounts: those of its labels.
    pub fn for_server(&self, server: &RegisteredServer) -> &ServerAccounts {
        if let Some((_, accounts)) = self.sets.by_server.iter().find(|(n, _)| n == &server.name) {
            return accounts;
        }
        self.sets
            .by_labels
            .iter()
            .find(|(labels, _)| labels == &server.labels)
            .map_or(&self.sets.none, |(_, accounts)| accounts)
    }

    /// How rctl logs in to `server`: with its own client certificates, signed in memory; or,
    /// where the CA key is locked (a node without the passphrase), with the server's own
    /// certificate and key from its files. A server certificate is also a client certificate
    /// (replication uses it), and it names no account, so it logs nobody in by itself: the
    /// password does.
    pub fn login_for(&self, server: &RegisteredServer) -> std::borrow::Cow<'_, AdminLogin> {
        if !self.login.identities.is_empty() && self.login.password.is_some() {
            return std::borrow::Cow::Borrowed(&self.login);
        }
        let [crt, key, _] = RedisBundle::paths(&server.cert_prefix);
        let read =
            |p: &std::path::Path| crate::output::read::read_text(p, crate::output::read::PEM_LIMIT);
        let identities = if self.login.identities.is_empty() {
            match (read(&crt), read(&key)) {
                (Some(crt), Some(key)) => vec![(crt.to_string(), key)],
                _ => Vec::new(),
            }
        } else {
            self.login.identities.clone()
        };
        let password = self
            .login
            .password
            .clone()
            .or_else(|| node_password(server, &self.login.password_hash));
        std::borrow::Cow::Owned(AdminLogin {
            password,
            password_hash: self.login.password_hash.clone(),
            identities,
            trusted_pem: self.login.trusted_pem.clone(),
        })
    }
}

/// Where a node keeps the copy of rctl-admin's password the signer sealed to it: beside the
/// server's key, `PREFIX.admin` (mode 0600, the writer's).
pub fn node_password_path(server: &RegisteredServer) -> std::path::PathBuf {
    let mut path = server.cert_prefix.clone().into_os_string();
    path.push(".admin");
    path.into()
}

/// The node's copy of rctl-admin's password for `server`, when it is the password the state
/// holds now (its hash is `hash`).
pub fn node_password(
    server: &RegisteredServer,
    hash: &crate::accounts::users::PasswordHash,
) -> Option<crate::accounts::users::Password> {
    let data = crate::output::read::read_text(&node_password_path(server), 1024)?;
    let text = data.trim_end_matches('\n');
    let password = crate::accounts::users::Password::from_input(text.to_string()).ok()?;
    (password.hash() == *hash).then_some(password)
}

/// What the certificate `server` presents says (expiry, names, signer), against the state.
pub fn served(server: &RegisteredServer, wanted: &Wanted, timeout: Duration) -> Result<CertReport> {
    let der = served_certificate_as(&server.addr, &wanted.login_for(server), timeout)?;
    inspect_der(&der, Some(&wanted.ca), wanted.now)
}

/// The serial of the certificate in `server`'s `PREFIX.crt`, if it reads.
pub fn file_serial(server: &RegisteredServer, wanted: &Wanted) -> Option<String> {
    let [crt, _, _] = RedisBundle::paths(&server.cert_prefix);
    let pem = crate::output::read::read_regular(&crt, crate::output::read::PEM_LIMIT).ok()?;
    crate::pki::inspect::inspect_certificate(&pem, None, wanted.now)
        .ok()
        .map(|r| r.serial)
}

/// The live accounts of a server, read with `ACL LIST`, by name.
fn live_accounts(
    live: &mut Live,
    server: &RegisteredServer,
    target: Target,
) -> Result<BTreeMap<String, Account>> {
    parse_acl_list(&live.acl_list(&server.addr)?, target)
}

/// `ACL LIST`'s lines as accounts, by name.
fn parse_acl_list(lines: &[String], target: Target) -> Result<BTreeMap<String, Account>> {
    lines
        .iter()
        .map(|line| {
            Account::parse(line, target)
                .map(|a| (a.name.clone(), a))
                .ok_or_else(|| {
                    Error::from(ServerError::AclListLine {
                        line: crate::error::shorten(line),
                    })
                })
        })
        .collect()
}

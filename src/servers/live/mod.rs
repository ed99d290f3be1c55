//! Live registered servers: what `rctl redis check` reads and `rctl redis sync` brings in line.
//!
//! - [`files`]: a server's certificate bundle and users.acl on disk against the state.
//! - [`accounts`]: the accounts on a server against users.acl.
//! - `served`: the certificate a server presents.
//! - `conn`: a connection as `rctl-admin` (the `redis` crate, rustls on ring).
//!
//! Writing the files belongs to the state (it signs, and records what it wrote); this module
//! talks to servers, from a [`Wanted`] taken from the state, with the state's lock released.

pub mod accounts;
mod conn;
pub mod files;
mod served;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::acl::Target;
use crate::error::{Error, Result};
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_der};
use crate::servers::registered::RegisteredServer;

pub use accounts::{Account, Drift};
pub use conn::{AdminLogin, Live};
pub use files::{FilePlan, Renewal};
pub use served::served_certificate;

/// How long rctl waits for a server to connect or answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

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

/// What the state says the servers should be, taken under its lock and used after it is
/// released: talking to servers never holds other rctl commands up.
#[derive(Debug)]
pub struct Wanted {
    /// The host CA (its trusted keys, to judge what a server presents).
    pub ca: HostCa,
    /// The state's users.acl.
    pub acl_text: String,
    /// The accounts it defines, by name.
    pub accounts: BTreeMap<String, Account>,
    /// The Redis version it is written for.
    pub target: Target,
    /// How rctl logs in.
    pub login: AdminLogin,
    /// When this was taken.
    pub now: OffsetDateTime,
}

impl Wanted {
    /// From the state's parts: signs rctl's client certificates (one per trusted key) in memory.
    pub(crate) fn new(
        ca: HostCa,
        acl_text: String,
        target: Target,
        password: crate::accounts::users::Password,
        now: OffsetDateTime,
    ) -> Result<Wanted> {
        let ttl = crate::duration::Ttl::from_std(ADMIN_CERT_TTL)?;
        let identities = ca
            .trusted()
            .map(|key| ca.sign_admin_client(key, ttl, now))
            .collect::<Result<Vec<_>>>()?;
        let login = AdminLogin {
            password,
            identities,
            trusted_pem: ca.trusted_pem(),
        };
        Ok(Wanted {
            accounts: accounts::wanted_accounts(&acl_text, target)?,
            ca,
            acl_text,
            target,
            login,
            now,
        })
    }
}

/// What the certificate `server` presents says (expiry, names, signer), against the state.
pub fn served(server: &RegisteredServer, wanted: &Wanted, timeout: Duration) -> Result<CertReport> {
    let der = served_certificate(&server.addr, timeout)?;
    inspect_der(&der, Some(&wanted.ca), wanted.now)
}

/// The serial of the certificate in `server`'s `PREFIX.crt`, if it reads.
pub fn file_serial(server: &RegisteredServer, wanted: &Wanted) -> Option<String> {
    let [crt, _, _] = RedisBundle::paths(&server.cert_prefix);
    let pem = std::fs::read(crt).ok()?;
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
                    Error::Server(format!(
                        "ACL LIST gave a line rctl cannot read: {:?}",
                        crate::error::shorten(line)
                    ))
                })
        })
        .collect()
}

/// What `rctl redis check` finds on one server: one line each, empty when all is in line.
pub fn check_server(server: &RegisteredServer, wanted: &Wanted, timeout: Duration) -> Vec<String> {
    let mut findings = Vec::new();
    let plan = files::plan_files(server, &wanted.ca, Some(&wanted.acl_text), None, wanted.now);
    if let Some(why) = &plan.renew {
        findings.push(format!("certificate file: {why}"));
    }
    if plan.write_cas {
        findings.push(format!(
            "{}.cas does not hold exactly the trusted CA certificates",
            server.cert_prefix.display()
        ));
    }
    if plan.write_acl
        && let Some(path) = &server.acl_file
    {
        findings.push(format!(
            "{} differs from the state's users.acl",
            path.display()
        ));
    }
    match served(server, wanted, timeout) {
        Err(e) => findings.push(e.to_string()),
        Ok(served) => findings.extend(served_findings(
            server,
            wanted,
            &served,
            plan.current.as_ref(),
        )),
    }
    match Live::connect(&server.addr, &wanted.login, timeout) {
        Err(e) => findings.push(e.to_string()),
        Ok(mut live) => {
            if let Err(e) = live_findings(server, wanted, &mut live, &mut findings) {
                findings.push(e.to_string());
            }
        }
    }
    findings
}

/// The served certificate: trusted, current, names the registered hosts, is the file's.
fn served_findings(
    server: &RegisteredServer,
    wanted: &Wanted,
    r: &CertReport,
    file: Option<&CertReport>,
) -> Vec<String> {
    use crate::pki::inspect::CertStatus;
    let mut findings = Vec::new();
    match r.status {
        CertStatus::Valid => {}
        CertStatus::Expired => findings.push(format!(
            "serves an expired certificate (serial {})",
            r.serial
        )),
        CertStatus::NotYetValid => findings.push(format!(
            "serves a certificate not valid yet (serial {})",
            r.serial
        )),
        CertStatus::Foreign => findings.push(format!(
            "serves a certificate no CA key of this state signed (serial {})",
            r.serial
        )),
    }
    let left = files::time_left(r);
    if r.status == CertStatus::Valid && left < files::default_window(r) {
        findings.push(format!(
            "serves a certificate due for renewal: {} left",
            crate::duration::format_std(left)
        ));
    }
    if !files::names_hosts(r, &server.hosts) {
        let sorted = |mut names: Vec<String>| {
            names.sort_unstable();
            names.join(",")
        };
        findings.push(format!(
            "serves a certificate for {}, registered for {}",
            sorted(r.sans.clone()),
            sorted(server.hosts.iter().map(ToString::to_string).collect())
        ));
    }
    if r.signed_by.is_some() && files::replaced_by_rotation(&wanted.ca, r) {
        findings.push(format!(
            "serves a certificate signed by the key rotation phase {} replaces",
            wanted.ca.rotation().phase
        ));
    }
    if let Some(file) = file
        && file.serial != r.serial
    {
        findings.push(format!(
            "serves serial {}, but {}.crt holds serial {}: not reloaded",
            r.serial,
            server.cert_prefix.display(),
            file.serial
        ));
    }
    findings
}

/// What the server's own settings and accounts say.
fn live_findings(
    server: &RegisteredServer,
    wanted: &Wanted,
    live: &mut Live,
    findings: &mut Vec<String>,
) -> Result<()> {
    for (setting, value, path) in other_tls_files(live, server)? {
        findings.push(format!(
            "{setting} is {value:?}, not the registered {}",
            path.display()
        ));
        if setting == "tls-ca-cert-file"
            && let Some((total, known)) =
                files::trust_file_counts(std::path::Path::new(&value), &wanted.ca)
        {
            let n = wanted.ca.trusted().count();
            if (total, known) != (n, n) {
                findings.push(format!(
                    "{value} holds {total} certificate(s), {known} of the {n} this state trusts"
                ));
            }
        }
    }
    let accounts = live_accounts(live, server, wanted.target)?;
    for d in accounts::drift(&accounts, &wanted.accounts, None, |_| false) {
        findings.push(d.to_string());
    }
    Ok(())
}

/// The settings naming a server's TLS files, with the registered file each must name, in
/// the order `CONFIG SET` reloads them (the CA file first).
fn tls_files(server: &RegisteredServer) -> [(&'static str, std::path::PathBuf); 3] {
    let [crt, key, cas] = RedisBundle::paths(&server.cert_prefix);
    [
        ("tls-ca-cert-file", cas),
        ("tls-key-file", key),
        ("tls-cert-file", crt),
    ]
}

/// The TLS settings of a live server that name other files than the registered ones:
/// (setting, its value, the registered file).
fn other_tls_files(
    live: &mut Live,
    server: &RegisteredServer,
) -> Result<Vec<(&'static str, String, std::path::PathBuf)>> {
    let mut other = Vec::new();
    for (setting, path) in tls_files(server) {
        let value = live.config_get(setting, &server.addr)?.unwrap_or_default();
        if !same_file(&value, &path) {
            other.push((setting, value, path));
        }
    }
    Ok(other)
}

/// True when `value` (a path as the server has it) names the file at `path`.
fn same_file(value: &str, path: &std::path::Path) -> bool {
    if value.is_empty() {
        return false;
    }
    let value = std::path::Path::new(value);
    value == path
        || matches!(
            (value.canonicalize(), path.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// How `redis sync` talks to servers.
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// Change nothing: say what would be done.
    pub dry_run: bool,
    /// Do not connect to servers (the files are still written).
    pub no_reload: bool,
    /// For each connection and answer.
    pub timeout: Duration,
}

/// What `redis sync` did (or, dry, would do) on a live server.
#[derive(Clone, Debug, Default)]
pub struct LiveSync {
    /// The certificate files were loaded again with `CONFIG SET`.
    pub reloaded: bool,
    /// The serial the server presents at the end.
    pub serial: String,
    /// The accounts that differed, each set again or deleted.
    pub accounts: Vec<Drift>,
}

/// Prefix of the probe accounts `redis sync` sets to read rules in the server's own form.
const PROBE_PREFIX: &str = "rctl-probe-";

/// Brings a live server in line with its files (already written) and the state's accounts:
/// reloads the certificate files when the server presents another certificate than its file or
/// `files_changed`, sets and deletes the accounts that differ (no other account is touched, so
/// no other connection is dropped), then checks with a fresh handshake and a fresh `ACL LIST`.
pub fn sync_live(
    server: &RegisteredServer,
    wanted: &Wanted,
    files_changed: bool,
    options: SyncOptions,
) -> Result<LiveSync> {
    let addr = &server.addr;
    let timeout = options.timeout;
    let before = served(server, wanted, timeout)?;
    if before.signed_by.is_none() {
        return Err(Error::Server(format!(
            "{addr}: presents a certificate (serial {}) no CA key of this state signed; rctl does not log in to it (restart the server to load {}.crt)",
            before.serial,
            server.cert_prefix.display()
        )));
    }
    let mut live = Live::connect(addr, &wanted.login, timeout)?;
    let file_serial = file_serial(server, wanted);
    let reload = files_changed
        || !other_tls_files(&mut live, server)?.is_empty()
        || file_serial.as_ref() != Some(&before.serial);
    let mut outcome = LiveSync {
        reloaded: reload,
        serial: before.serial.clone(),
        accounts: Vec::new(),
    };
    if options.dry_run {
        let accounts = live_accounts(&mut live, server, wanted.target)?;
        outcome.accounts = accounts::drift(&accounts, &wanted.accounts, None, |_| false);
        return Ok(outcome);
    }
    if reload {
        reload_tls(&mut live, server, wanted.target)?;
    }
    let (canonical, drift) = account_drift(&mut live, server, wanted)?;
    apply_accounts(&mut live, server, wanted, &drift)?;
    outcome.accounts = drift;
    // Verified as a new client sees it: a fresh handshake, the accounts read again.
    let after = served(server, wanted, timeout)?;
    if reload && file_serial.as_ref() != Some(&after.serial) {
        return Err(Error::Server(format!(
            "{addr}: still presents serial {} after CONFIG SET, not {}.crt's {}",
            after.serial,
            server.cert_prefix.display(),
            file_serial.as_deref().unwrap_or("?")
        )));
    }
    outcome.serial = after.serial;
    let accounts = live_accounts(&mut live, server, wanted.target)?;
    let left = accounts::drift(&accounts, &wanted.accounts, Some(&canonical), |n| {
        n.starts_with(PROBE_PREFIX)
    });
    if let Some(d) = left.first() {
        return Err(Error::Server(format!(
            "{addr}: after sync, {d} ({} difference(s) left)",
            left.len()
        )));
    }
    Ok(outcome)
}

/// `CONFIG SET tls-cert-file … tls-key-file … tls-ca-cert-file …`: Redis loads the files again
/// (7.0.0 alone skipped a path that did not change, redis#10713). Redis 6 takes one setting
/// per `CONFIG SET`, each of which reloads all three files.
fn reload_tls(live: &mut Live, server: &RegisteredServer, target: Target) -> Result<()> {
    let settings = tls_files(server);
    let text = |p: &std::path::Path| p.to_string_lossy().into_owned();
    if target.has_selectors() {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (name, path) in &settings {
            cmd.arg(*name).arg(text(path));
        }
        live.query::<()>(&cmd, &server.addr)
    } else {
        for (name, path) in &settings {
            live.query::<()>(
                redis::cmd("CONFIG").arg("SET").arg(*name).arg(text(path)),
                &server.addr,
            )?;
        }
        Ok(())
    }
}

/// Every wanted account's rules as the server renders them (set on probe accounts, off and
/// without password, deleted in the same round trip), and the accounts that differ.
fn account_drift(
    live: &mut Live,
    server: &RegisteredServer,
    wanted: &Wanted,
) -> Result<(BTreeMap<String, String>, Vec<Drift>)> {
    use rand::Rng;
    let run = format!("{PROBE_PREFIX}{:08x}-", rand::rng().next_u32());
    // One transaction: no other client (another rctl) ever sees the probes.
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut probes = BTreeMap::new();
    for (i, (name, account)) in wanted.accounts.iter().enumerate() {
        let probe = format!("{run}{i}");
        pipe.cmd("ACL")
            .arg("SETUSER")
            .arg(&probe)
            .arg(account.probe_args())
            .ignore();
        probes.insert(probe, name.clone());
    }
    pipe.cmd("ACL").arg("LIST");
    if !probes.is_empty() {
        pipe.cmd("ACL")
            .arg("DELUSER")
            .arg(probes.keys().collect::<Vec<_>>())
            .ignore();
    }
    let (lines,): (Vec<String>,) = live.pipeline(&pipe, &server.addr)?;
    let all = parse_acl_list(&lines, wanted.target)?;
    let mut canonical = BTreeMap::new();
    let mut current = BTreeMap::new();
    for (name, account) in all {
        match probes.get(&name) {
            Some(wanted_name) => {
                canonical.insert(wanted_name.clone(), account.rules_text());
            }
            None => {
                current.insert(name, account);
            }
        }
    }
    let drift = accounts::drift(&current, &wanted.accounts, Some(&canonical), |n| {
        n.starts_with(&run)
    });
    Ok((canonical, drift))
}

/// Sets each differing account from users.acl (`reset` first) and deletes the extra ones, in
/// one round trip. `default` is never deleted (Redis refuses); it is set off instead.
fn apply_accounts(
    live: &mut Live,
    server: &RegisteredServer,
    wanted: &Wanted,
    drift: &[Drift],
) -> Result<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut touched = std::collections::BTreeSet::new();
    for d in drift {
        let name = d.account();
        if !touched.insert(name.to_string()) {
            continue;
        }
        match wanted.accounts.get(name) {
            Some(account) => {
                pipe.cmd("ACL")
                    .arg("SETUSER")
                    .arg(name)
                    .arg(account.setuser_args())
                    .ignore();
            }
            None if name == "default" => {
                pipe.cmd("ACL")
                    .arg("SETUSER")
                    .arg("default")
                    .arg("reset")
                    .arg("off")
                    .ignore();
            }
            None => {
                pipe.cmd("ACL").arg("DELUSER").arg(name).ignore();
            }
        }
    }
    if touched.is_empty() {
        return Ok(());
    }
    live.pipeline::<()>(&pipe, &server.addr)
}

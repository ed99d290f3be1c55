//! `redis sync` on one live server whose files are written: the TLS files reloaded when the
//! server serves another certificate, the accounts that differ set or deleted, then a check
//! as a new client sees it.

use std::time::Duration;

use super::probe::{self, PROBE_PREFIX};
use super::reload::{other_tls_files, reload_tls};
use super::{Wanted, accounts, file_serial, live_accounts, served};
use crate::error::{Result, ServerError};
use crate::pki::inspect::CertReport;
use crate::servers::live::{Drift, Live};
use crate::servers::registered::RegisteredServer;

/// How `redis sync` renews files and talks to servers. The defaults are chosen here, once:
/// a real run, servers reloaded, [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT) for each
/// exchange and [`DEFAULT_DEADLINE`](super::DEFAULT_DEADLINE) for each server, and each
/// certificate renewed in the last third of its life.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Change nothing: say what would be done.
    pub dry_run: bool,
    /// Do not contact servers: the files are still written, and nothing is reloaded.
    pub no_reload: bool,
    /// For each connection and answer.
    pub timeout: Duration,
    /// For the whole of one server: a server that sends a byte now and then stays under
    /// `timeout` forever, and is given up at this deadline.
    pub deadline: Duration,
    /// Renew a certificate with less than this left; `None` for the last third of its life.
    pub renew_within: Option<Duration>,
    /// On a node without the CA key: how long to wait for the signer to answer its signing
    /// requests.
    pub wait: Duration,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            dry_run: false,
            no_reload: false,
            timeout: super::DEFAULT_TIMEOUT,
            deadline: super::DEFAULT_DEADLINE,
            renew_within: None,
            wait: crate::requests::DEFAULT_WAIT,
        }
    }
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
    sync_live_on(server, wanted, files_changed, options, None)
}

/// [`sync_live`] on a connection already logged in to the server (the one a sync asked the
/// server's version on), when it still answers: one handshake fewer.
pub(crate) fn sync_live_on(
    server: &RegisteredServer,
    wanted: &Wanted,
    files_changed: bool,
    options: SyncOptions,
    open: Option<Live>,
) -> Result<LiveSync> {
    let addr = &server.addr;
    let timeout = options.timeout;
    let before = served(server, wanted, timeout)?;
    check_served(server, &before)?;
    let reused = open.and_then(|mut live| live.ping(addr).is_ok().then_some(live));
    let mut live = match reused {
        Some(live) => live,
        None => Live::connect(addr, &wanted.login_for(server), timeout)?,
    };
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
        // Rules compared as the server reads them, as a real run does (the probes leave nothing).
        outcome.accounts = probe::account_drift(&mut live, server, wanted)?.1;
        return Ok(outcome);
    }
    if reload {
        reload_tls(&mut live, server, wanted.target)?;
    }
    // Certificate login as the state says, where the server has the setting (check reports a
    // server without it while the state wants it on).
    let mut changed = reload;
    if let Some((have, want)) =
        super::reload::cert_login_drift(&mut live, server, wanted.cert_login)?
        && have != super::reload::NO_SETTING
    {
        super::reload::set_cert_login(&mut live, server, want)?;
        changed = true;
    }
    let (canonical, drift) = probe::account_drift(&mut live, server, wanted)?;
    apply_accounts(&mut live, server, wanted, &drift)?;
    changed |= !drift.is_empty();
    outcome.accounts = drift;
    if !changed {
        // Nothing was changed: the certificate served is the one a new client saw above, and
        // the accounts are the ones just read.
        return Ok(outcome);
    }
    // Verified as a new client sees it: a fresh handshake, the accounts read again.
    let changed_files = (reload, file_serial);
    outcome.serial = verify(
        &mut live,
        server,
        wanted,
        changed_files,
        &canonical,
        timeout,
    )?;
    Ok(outcome)
}

/// After a change: the serial a new client sees (the one written, when the files were
/// reloaded), and no account left differing.
fn verify(
    live: &mut Live,
    server: &RegisteredServer,
    wanted: &Wanted,
    (reload, file_serial): (bool, Option<String>),
    canonical: &std::collections::BTreeMap<String, String>,
    timeout: Duration,
) -> Result<String> {
    let addr = &server.addr;
    let after = served(server, wanted, timeout)?;
    if reload && file_serial.as_ref() != Some(&after.serial) {
        return Err(ServerError::NotReloaded {
            addr: addr.to_string(),
            serving: after.serial,
            prefix: server.cert_prefix.display().to_string(),
            written: file_serial.unwrap_or_else(|| "?".to_string()),
        }
        .into());
    }
    let accounts = live_accounts(live, server, wanted.target)?;
    let left = accounts::drift(
        &accounts,
        &wanted.for_server(server).accounts,
        Some(canonical),
        |n| n.starts_with(PROBE_PREFIX),
    );
    if let Some(d) = left.first() {
        return Err(ServerError::StillDiffers {
            addr: addr.to_string(),
            first: d.to_string(),
            left: left.len(),
        }
        .into());
    }
    Ok(after.serial)
}

/// Refuses to log in to a server that presents a certificate no CA key of this state signed,
/// or one no client accepts (expired, or not valid yet): only a restart loads its new files.
fn check_served(server: &RegisteredServer, before: &CertReport) -> Result<()> {
    let addr = &server.addr;
    if before.signed_by.is_none() {
        return Err(ServerError::ForeignCertificate {
            addr: addr.to_string(),
            serial: before.serial.clone(),
            prefix: server.cert_prefix.display().to_string(),
        }
        .into());
    }
    // An expired (or not yet valid) certificate fails every client's handshake, rctl's too: no
    // login can reload it. Its files are renewed by now; only a restart loads them.
    if before.status != crate::pki::inspect::CertStatus::Valid {
        let when = if before.status == crate::pki::inspect::CertStatus::Expired {
            "an expired certificate"
        } else {
            "a certificate not valid yet"
        };
        return Err(ServerError::Unreloadable {
            addr: addr.to_string(),
            when: when.to_string(),
            serial: before.serial.clone(),
            prefix: server.cert_prefix.display().to_string(),
        }
        .into());
    }
    Ok(())
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
        match wanted.for_server(server).accounts.get(name) {
            Some(account) => {
                pipe.cmd("ACL")
                    .arg("SETUSER")
                    .arg(name)
                    .arg(account.setuser_args())
                    .ignore();
                // Switched off (a lock): Redis keeps the connections it logged in before, so
                // they are closed here, in the same transaction.
                if !account.enabled {
                    pipe.cmd("CLIENT")
                        .arg("KILL")
                        .arg("USER")
                        .arg(name)
                        .ignore();
                }
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

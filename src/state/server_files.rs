//! `redis sync` and `redis check` through the state: which servers, what the state wants of
//! them, and the files written for them (signed, recorded in the audit log).

use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::labels::Labels;
use crate::accounts::names::ServerName;
use crate::error::{Error, Result};
use crate::output::atomic::{Visibility, write_atomic_owned};
use crate::pki::bundle::RedisBundle;
use crate::pki::formats::BundleFormat;
use crate::pki::leaf::ServerCertRequest;
use crate::requests::RequestFor;
use crate::servers::live::{AccountSets, FilePlan, ServerAccounts, Wanted, files};
use crate::servers::registered::RegisteredServer;
use crate::state::audit::AuditEvent;
use crate::state::signing::{Also, Output};

use super::StateDir;
use super::acl::Reach;

/// What was written for a server.
#[derive(Clone, Debug, Default)]
pub struct WrittenFiles {
    /// The files, as absolute paths.
    pub paths: Vec<PathBuf>,
    /// The serial of a certificate signed for it.
    pub serial: Option<String>,
}

impl StateDir {
    /// The locks on this state's registered servers, usable once the state is closed (see
    /// [`crate::storage::ServerLocks`]).
    pub(crate) fn server_locks(&self) -> Result<Box<dyn crate::storage::ServerLocks>> {
        self.store().server_locks()
    }

    /// The registered servers `names` (every one when empty), in the order given; an unknown
    /// name is refused.
    pub(crate) fn registered_servers(&self, names: &[ServerName]) -> Result<Vec<RegisteredServer>> {
        if names.is_empty() {
            return self.all_servers();
        }
        names
            .iter()
            .map(|name| {
                self.find_server(name)?.ok_or_else(|| Error::NotFound {
                    what: "server",
                    name: name.to_string(),
                })
            })
            .collect()
    }

    /// The host CA for a sync, due phases applied and saved; on a node without the passphrase,
    /// which cannot save a due rotation phase, the CA as saved (the signer applies the phase).
    pub(crate) fn sync_ca(&mut self) -> Result<crate::pki::ca::HostCa> {
        match self.host_ca() {
            Err(Error::CaPassphraseMissing { .. }) => self.saved_ca(),
            other => other,
        }
    }

    /// What the state wants of every registered server, for talking to them once the state is
    /// closed. Refused until a server is registered (rctl has no account before). On a state
    /// open for writing, due rotation phases are saved first.
    pub(crate) fn wanted(&mut self, servers: &[RegisteredServer]) -> Result<Wanted> {
        if !self.has_admin_account()? {
            return Err(Error::NoServerRegistered);
        }
        let mut ca = self.sync_ca()?;
        // rctl's own client certificates are signed with every trusted key. Without the
        // passphrase (a node whose certificates the signer signs), rctl logs in with each
        // server's own certificate instead, and with the copy of rctl-admin's password the
        // signer sealed to this node (see `Wanted::login_for`).
        if ca.is_locked() {
            match self.passphrase() {
                Ok(passphrase) => ca.unlock(&passphrase)?,
                Err(Error::CaPassphraseMissing { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let password = match self.admin_password() {
            Err(Error::CaPassphraseMissing { .. }) => None,
            other => other?,
        };
        if password.is_some() {
            // A password an earlier rctl kept in clear in etcd is sealed now.
            self.seal_admin_password()?;
        }
        let hash = self
            .admin_password_hash()?
            .ok_or(Error::NoServerRegistered)?;
        let target = self.target_or_default(None)?;
        // One users.acl per label set: a server holds the accounts of the users whose roles
        // reach it, so a certificate or password for a server it does not reach logs nobody in.
        let mut by_labels: Vec<(Labels, ServerAccounts)> = Vec::new();
        for server in servers.iter().filter(|s| !s.sentinel) {
            if !by_labels.iter().any(|(l, _)| l == &server.labels) {
                let text = self.render_acl_file_for(Some(target), Reach::Labels(&server.labels))?;
                let accounts = ServerAccounts::new(text.text, target)?;
                by_labels.push((server.labels.clone(), accounts));
            }
        }
        let none = ServerAccounts::new(
            self.render_acl_file_for(Some(target), Reach::Nobody)?.text,
            target,
        )?;
        // A server with live per-login accounts: its labels' users.acl with their lines.
        let mut by_server = Vec::new();
        for server in servers.iter().filter(|s| !s.sentinel) {
            let logins = self.login_lines(server, target)?;
            if logins.is_empty() {
                continue;
            }
            let base = by_labels
                .iter()
                .find(|(l, _)| l == &server.labels)
                .map(|(_, a)| a.acl_text.as_str())
                .unwrap_or_default();
            let mut lines: Vec<String> = base
                .lines()
                .filter(|l| *l != "user default off")
                .map(str::to_string)
                .collect();
            lines.extend(logins);
            let text = crate::acl::Renderer::finish(lines);
            by_server.push((server.name.clone(), ServerAccounts::new(text, target)?));
        }
        let sets = AccountSets {
            by_labels,
            by_server,
            none,
        };
        let mut wanted = Wanted::new(ca, sets, target, password, hash, self.now())?;
        wanted.cert_login = self.cert_login()?;
        Ok(wanted)
    }

    /// What `server`'s files need (see [`files::plan_files`]).
    pub(crate) fn plan_server_files(
        &self,
        server: &RegisteredServer,
        wanted: &Wanted,
        renew_within: Option<Duration>,
    ) -> FilePlan {
        files::plan_files(
            server,
            &wanted.ca,
            Some(&wanted.for_server(server).acl_text),
            renew_within,
            self.now(),
        )
    }

    /// Writes what `plan` says `server` needs: a new certificate bundle (signed by the state's
    /// CA, recorded as `auth sign` records one), the trust bundle, users.acl; each replacing
    /// its file atomically with the owner and mode it had (or the registered owner).
    pub(crate) fn write_server_files(
        &mut self,
        server: &RegisteredServer,
        plan: &FilePlan,
        wanted: &Wanted,
        presigned: Option<RedisBundle>,
    ) -> Result<WrittenFiles> {
        // Checked again at every write: the registration may be older than what is there now.
        for path in server.outputs() {
            crate::output::atomic::check_replaceable(&path)?;
        }
        let owner = server.owner.as_ref().map(|o| o.resolve()).transpose()?;
        let mut written = self.renew_bundle(server, plan, wanted, presigned, owner)?;
        let [_, _, cas] = RedisBundle::paths(&server.cert_prefix);
        let mut files: Vec<(PathBuf, &[u8], Visibility)> = Vec::new();
        let trusted = wanted.ca.trusted_pem();
        if plan.write_cas && plan.renew.is_none() {
            files.push((cas, trusted.as_bytes(), Visibility::Public));
        }
        if plan.write_acl
            && let Some(acl) = &server.acl_file
        {
            // users.acl holds password hashes: a secret.
            files.push((
                acl.clone(),
                wanted.for_server(server).acl_text.as_bytes(),
                Visibility::Secret,
            ));
        }
        if files.is_empty() {
            return Ok(written);
        }
        let paths: Vec<PathBuf> = files.iter().map(|(p, _, _)| p.clone()).collect();
        // What each file holds now, put back if the change is not saved (an etcd commit that
        // conflicts or fails comes after the files are placed): a failed sync leaves every file
        // as it was.
        let before: Vec<Option<Vec<u8>>> = paths
            .iter()
            .map(|p| crate::output::read::read_regular(p, crate::output::read::ACL_LIMIT).ok())
            .collect();
        let event = AuditEvent::about("server.sync", &server.name).with_outputs(&paths);
        let subject = RequestFor::Server(server.name.clone());
        let trust_written = plan.write_cas && plan.renew.is_none();
        let saved = self.audited(&[event], || {
            files.iter().try_for_each(|(path, data, visibility)| {
                write_atomic_owned(path, data, *visibility, true, owner)
            })?;
            if trust_written {
                self.record_trust(&subject, &wanted.ca)?;
            }
            Ok(())
        });
        if let Err(e) = saved {
            for ((path, _, visibility), old) in files.iter().zip(&before) {
                let _ = match old {
                    Some(old) => write_atomic_owned(path, old, *visibility, true, owner),
                    None => std::fs::remove_file(path).map_err(|e| Error::io(path, e)),
                };
            }
            return Err(e);
        }
        written.paths.extend(paths);
        Ok(written)
    }

    /// The certificate part of [`write_server_files`](Self::write_server_files): the bundle a
    /// signing request brought placed, or a new one signed here, when the plan renews it.
    fn renew_bundle(
        &mut self,
        server: &RegisteredServer,
        plan: &FilePlan,
        wanted: &Wanted,
        presigned: Option<RedisBundle>,
        owner: Option<(u32, u32)>,
    ) -> Result<WrittenFiles> {
        let mut written = WrittenFiles::default();
        let output = Output {
            out: &server.cert_prefix,
            overwrite: true,
            with_key: true,
            owner,
            format: &BundleFormat::Redis,
        };
        if let (Some(_), Some(bundle)) = (&plan.renew, &presigned) {
            let subject = RequestFor::Server(server.name.clone());
            written.paths = self.place_signed(&output, bundle, &subject, &wanted.ca)?;
            written.serial = Some(bundle.issued().serial.clone());
        } else if plan.renew.is_some() {
            let req = renewal_request(server, plan);
            let also = Also {
                issued_for: Some(RequestFor::Server(server.name.clone())),
                ..Also::default()
            };
            let (bundle, paths) = self.sign_and_write_with(
                &output,
                None,
                |ca, now| ca.sign_redis_server(&req, now),
                also,
            )?;
            written.serial = Some(bundle.issued().serial.clone());
            written.paths.extend(paths);
        }
        Ok(written)
    }
}

/// The request that renews `server`'s certificate: its registered hosts and key algorithm; the
/// registered lifetime, else the one of the certificate it replaces (what the operator signed
/// it with), else `auth sign`'s default.
fn renewal_request(server: &RegisteredServer, plan: &FilePlan) -> ServerCertRequest {
    let mut req = ServerCertRequest::new(server.hosts.clone());
    let ttl = server.ttl.or_else(|| {
        let current = plan.current.as_ref()?;
        crate::pki::ca::signed_lifetime(current.not_before, current.not_after).ok()
    });
    if let Some(ttl) = ttl {
        req = req.with_ttl(ttl);
    }
    if let Some(algorithm) = server.key_algorithm {
        req = req.with_key_algorithm(algorithm);
    }
    req
}

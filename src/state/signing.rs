//! Signing through the state: the host CA loaded (due rotation phases applied), the person's
//! roles checked, the bundle written, the CA and the audit record committed together.

use crate::accounts::names::{DbUserName, UserName};
use crate::accounts::roles::{check_access, ttl_cap};
use crate::duration::Ttl;
use crate::error::{Denial, Error, Invalid, Result};
use crate::pki::bundle::RedisBundle;
use crate::pki::formats::BundleFormat;
use crate::pki::keys::KeyAlgorithm;
use crate::pki::leaf::{ClientCertRequest, leaf_ttl};
use crate::pki::rotation::Phase;
use crate::state::audit::AuditEvent;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::pki::ca::HostCa;
use crate::pki::leaf::ServerCertRequest;

use super::StateDir;
use super::roles::user_roles;

/// Where a signed bundle goes: its prefix, whether it replaces files, whether a key is
/// written (none for a CSR), and the files' owner.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output<'a> {
    pub out: &'a Path,
    pub overwrite: bool,
    pub with_key: bool,
    pub owner: Option<(u32, u32)>,
    pub format: &'a BundleFormat,
}

/// How a signed bundle is placed: its format, whether it replaces files, their owner (else the
/// owner of the files replaced, else the writer).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Placement {
    /// Replace files already there.
    pub overwrite: bool,
    /// The format.
    pub format: BundleFormat,
    /// The files' owner.
    pub owner: Option<crate::output::owner::FileOwner>,
}

impl Placement {
    /// `redis` format, new files only, the writer's (or the replaced files') owner.
    pub fn new(format: BundleFormat) -> Placement {
        Placement {
            overwrite: false,
            format,
            owner: None,
        }
    }
}

/// What is saved with a signed bundle, in the same change: blobs (name, content) and records.
#[derive(Default)]
pub(crate) struct Also<'a> {
    pub blobs: &'a [(&'a str, &'a [u8])],
    pub events: Vec<AuditEvent>,
    /// The registration the certificate is for: what was issued is recorded for it (the key
    /// a renewal through a signing request must prove).
    pub issued_for: Option<crate::requests::RequestFor>,
}

impl<'a> Output<'a> {
    /// A bundle with its key at `out`, placed as `placement` says (its owner resolved now).
    fn placed(out: &'a Path, placement: &'a Placement) -> Result<Output<'a>> {
        Ok(Output {
            out,
            overwrite: placement.overwrite,
            with_key: true,
            owner: placement.owner.as_ref().map(|o| o.resolve()).transpose()?,
            format: &placement.format,
        })
    }
}

/// A person's request for a client certificate (`tsh db login` without Teleport).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientLogin {
    /// The rctl user.
    pub user: UserName,
    /// The Redis account the certificate names.
    pub db_user: DbUserName,
    /// The database name: accepted as tctl takes it, not used (Redis has no per-database
    /// ACL, and Teleport does not enforce `db_names` for Redis).
    pub db_name: Option<String>,
    /// Lifetime; [`DEFAULT_CERT_TTL`](crate::pki::leaf::DEFAULT_CERT_TTL), or the roles' cap if smaller,
    /// when `None`.
    pub ttl: Option<Ttl>,
    /// Key algorithm; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
}

impl ClientLogin {
    /// `user` asking for a certificate for the Redis account `db_user`, with the default
    /// lifetime and the CA's key algorithm.
    pub fn new(user: UserName, db_user: DbUserName) -> ClientLogin {
        ClientLogin {
            user,
            db_user,
            db_name: None,
            ttl: None,
            key_algorithm: None,
        }
    }

    /// With a lifetime (within the roles' caps).
    pub fn with_ttl(mut self, ttl: Ttl) -> ClientLogin {
        self.ttl = Some(ttl);
        self
    }

    /// With a key algorithm.
    pub fn with_key_algorithm(mut self, algorithm: KeyAlgorithm) -> ClientLogin {
        self.key_algorithm = Some(algorithm);
        self
    }

    /// With a database name (accepted, not used for Redis).
    pub fn with_db_name(mut self, db_name: impl Into<String>) -> ClientLogin {
        self.db_name = Some(db_name.into());
        self
    }
}

/// What the state signs: a server's certificate and key, a person's (checked against their
/// roles), or the certificate for a CSR whose key stays where it was made.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Subject {
    /// A Redis server's certificate and a new key.
    Server(ServerCertRequest),
    /// A person's client certificate and a new key, within their roles.
    Client(ClientLogin),
    /// A server certificate for a CSR (PEM); its lifetime
    /// [`DEFAULT_CERT_TTL`](crate::pki::leaf::DEFAULT_CERT_TTL) when `None`.
    Csr {
        /// The CSR.
        pem: String,
        /// Its lifetime.
        ttl: Option<Ttl>,
    },
}

/// One signing, as [`StateDir::sign`] takes it: what is signed and, when its files are to be
/// written, where and how. The shape of Teleport's `CheckAndSetDefaults` and step-ca's one
/// `Sign(csr, opts…)`: everything is resolved once, at the door, before anything is signed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Signing {
    /// What is signed.
    pub subject: Subject,
    /// Where its files go (a bundle prefix) and how; `None` returns the bundle only.
    pub out: Option<(PathBuf, Placement)>,
}

impl Signing {
    /// A Redis server's certificate and key.
    pub fn server(req: ServerCertRequest) -> Signing {
        Signing::of(Subject::Server(req))
    }

    /// A person's client certificate and key.
    pub fn client(login: ClientLogin) -> Signing {
        Signing::of(Subject::Client(login))
    }

    /// The certificate for a CSR (PEM).
    pub fn csr(pem: impl Into<String>, ttl: Option<Ttl>) -> Signing {
        Signing::of(Subject::Csr {
            pem: pem.into(),
            ttl,
        })
    }

    fn of(subject: Subject) -> Signing {
        Signing { subject, out: None }
    }

    /// With its files written at the prefix `out` as `placement` says.
    pub fn written_to(mut self, out: impl Into<PathBuf>, placement: Placement) -> Signing {
        self.out = Some((out.into(), placement));
        self
    }
}

/// A [`Subject`] resolved at the door: what the CA signs.
enum Resolved<'a> {
    Server(&'a ServerCertRequest),
    Client(ClientCertRequest),
    Csr(&'a str, Option<Ttl>),
}

impl StateDir {
    /// The one signing door. The request is resolved first (a person's roles allow the
    /// account, the TTL within their cap; the output paths free and outside the state; a CSR's
    /// files in `redis` format, its key staying where it was made), then the CA signs, and the
    /// audit record, the files and a CA that loading created or advanced are committed as one
    /// step: a refusal at any point writes nothing. Returns the bundle and the files written.
    pub fn sign(&mut self, signing: &Signing) -> Result<(RedisBundle, Vec<PathBuf>)> {
        let (user, phase) = match &signing.subject {
            Subject::Client(login) => (Some(login.user.as_str()), Phase::UpdateClients),
            Subject::Server(_) | Subject::Csr { .. } => (None, Phase::UpdateServers),
        };
        // A person's login is resolved into its certificate request first (roles, TTL cap).
        let resolved = match &signing.subject {
            Subject::Client(login) => Resolved::Client(self.client_request(login)?),
            Subject::Server(req) => Resolved::Server(req),
            Subject::Csr { pem, ttl } => Resolved::Csr(pem, *ttl),
        };
        let sign = |ca: &HostCa, now: OffsetDateTime| match &resolved {
            Resolved::Server(req) => ca.sign_redis_server(req, now),
            Resolved::Client(req) => ca.sign_redis_client(req, now),
            Resolved::Csr(pem, ttl) => ca.sign_redis_csr(pem, *ttl, now),
        };
        let Some((out, placement)) = &signing.out else {
            let (ca, pending) = self.load_ca_unlocked()?;
            let bundle = sign(&ca, self.now())?;
            let event = AuditEvent::issued(bundle.issued(), user);
            self.commit_ca(&ca, pending, false, vec![event], || Ok(()))?;
            self.note_signer(&ca, phase);
            return Ok((bundle, Vec::new()));
        };
        let csr = matches!(signing.subject, Subject::Csr { .. });
        if csr && !matches!(placement.format, BundleFormat::Redis) {
            return Err(Invalid::CsrFormat {
                format: placement.format.name(),
            }
            .into());
        }
        let mut output = Output::placed(out, placement)?;
        output.with_key = !csr;
        self.sign_and_write_with(&output, user, sign, Also::default())
    }

    /// The certificate request for a login, once the person's roles allow it.
    pub(super) fn client_request(&self, login: &ClientLogin) -> Result<ClientCertRequest> {
        let user = self.user(&login.user)?;
        // A per-login account (`USER+ID`, made by `db login`) stands for the user's own
        // account: the roles and locks are checked for that one.
        let per_login = login
            .db_user
            .login_of()
            .is_some_and(|(owner, _)| owner == user.name);
        let account = if per_login {
            user.name.as_str()
        } else {
            login.db_user.as_str()
        };
        if account == "default" {
            return Err(Denial::ReservedAccount { account: "default" }.into());
        }
        if account == crate::accounts::admin::ADMIN_ACCOUNT {
            // With certificate login, such a certificate would be CONFIG SET on every server.
            return Err(Denial::ReservedAccount {
                account: crate::accounts::admin::ADMIN_ACCOUNT,
            }
            .into());
        }
        let all_roles = self.all_roles()?;
        let roles = user_roles(&user, &all_roles)?;
        check_access(&user, &roles, account, self.cert_login()?)?;
        // A lock on the person, one of their roles, or the account (or the account's own
        // user) stops every certificate for it.
        let locks = self.locks_in_force()?;
        if !locks.is_empty() {
            let holder = match account == user.name {
                true => None,
                false => self.user(account).ok(),
            };
            if let Some(lock) = locks
                .on_account(Some(&user), account)
                .or_else(|| locks.on_account(holder.as_ref(), account))
            {
                return Err(lock.denial());
            }
        }
        // Every certificate names an account that users.acl defines: the person's own, or
        // another account (a service such as an app or a replicator) that exists. Checked
        // after the roles, so that a refused person learns nothing of which accounts exist.
        if account != user.name && self.user(account).is_err() {
            return Err(Error::NoSuchAccount {
                account: login.db_user.to_string(),
            });
        }
        Ok(ClientCertRequest {
            user: user.name.clone(),
            db_user: login.db_user.to_string(),
            ttl: Some(leaf_ttl(login.ttl, ttl_cap(&roles))?),
            key_algorithm: login.key_algorithm,
        })
    }

    /// Signs with `sign` and writes the bundle as `output` says, as one step: the outputs
    /// checked, the CA loaded, signed, the audit record appended, the files placed, the CA
    /// committed with `also` (a registration and its records); a failure after the files were
    /// placed takes back the ones that were new.
    pub(crate) fn sign_and_write_with(
        &mut self,
        output: &Output<'_>,
        user: Option<&str>,
        sign: impl FnOnce(&HostCa, OffsetDateTime) -> Result<RedisBundle>,
        also: Also<'_>,
    ) -> Result<(RedisBundle, Vec<PathBuf>)> {
        let Output {
            out,
            overwrite,
            with_key,
            owner,
            format,
        } = *output;
        // The outputs are checked for good under the output folder's lock, as the bundle is
        // written: a refusal there comes before anything is committed (the CA a load created
        // or advanced, the audit record), so it changes nothing.
        self.check_output_path(out)?;
        let (ca, pending) = self.load_ca_unlocked()?;
        let bundle = sign(&ca, self.now())?;
        // The files about to be written, as absolute paths: the audit record names them, and
        // it is appended before they are placed.
        let absolute = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let outputs = format.paths(&absolute, with_key);
        let mut events = also.events;
        events.push(AuditEvent::issued(bundle.issued(), user).with_outputs(&outputs));
        let mut blobs: Vec<(String, Vec<u8>)> = also
            .blobs
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        if let Some(subject) = &also.issued_for {
            let issued = crate::requests::Issued::of(bundle.certificate_pem(), &ca)?;
            let record =
                serde_norway::to_string(&issued).map_err(|e| Error::encode("issued", e))?;
            blobs.push((
                crate::requests::Issued::blob_name(subject),
                record.into_bytes(),
            ));
        }
        let blobs: Vec<(&str, &[u8])> = blobs
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let mut placed = Vec::new();
        let written = self.commit_ca_with(
            (&ca, pending),
            false,
            events,
            || {
                placed = bundle.write_format(out, format, overwrite, owner)?;
                Ok(placed.clone())
            },
            &blobs,
        );
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                // Placed, but the state was not saved (a full disk, an etcd commit refused or
                // unreachable): new files are taken back, so nothing changed and a rerun after
                // a conflict can place them again. Replaced files cannot be put back.
                if !overwrite {
                    placed.iter().for_each(|p| drop(std::fs::remove_file(p)));
                }
                return Err(e);
            }
        };
        let reissue_in = if user.is_some() {
            Phase::UpdateClients
        } else {
            Phase::UpdateServers
        };
        self.note_signer(&ca, reissue_in);
        Ok((bundle, written))
    }

    /// Writes a bundle the signer signed for this node's request (its key made here) at
    /// `output`, recorded as installed for `about` (no CA key is used).
    pub(crate) fn place_signed(
        &mut self,
        output: &Output<'_>,
        bundle: &RedisBundle,
        subject: &crate::requests::RequestFor,
        ca: &HostCa,
    ) -> Result<Vec<PathBuf>> {
        let Output {
            out,
            overwrite,
            owner,
            format,
            ..
        } = *output;
        self.check_output_path(out)?;
        let absolute = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let mut event = AuditEvent::issued(bundle.issued(), Some(&subject.to_string()))
            .with_outputs(&format.paths(&absolute, true));
        event.action = "cert.install".to_string();
        // What is installed here is what a renewal must prove it holds.
        let issued = crate::requests::Issued::of(bundle.certificate_pem(), ca)?;
        let record = serde_norway::to_string(&issued).map_err(|e| Error::encode("issued", e))?;
        self.audited(&[event], || {
            let placed = bundle.write_format(out, format, overwrite, owner)?;
            self.store.write(
                &crate::requests::Issued::blob_name(subject),
                record.as_bytes(),
            )?;
            Ok(placed)
        })
    }

    /// Tells of a certificate signed in phase `init`, by the key the rotation drops.
    fn note_signer(&mut self, ca: &HostCa, reissue_in: Phase) {
        if ca.rotation().phase == Phase::Init {
            self.notices
                .push(super::Notice::SignedWithOutgoingKey { reissue_in });
        }
    }

    /// Refuses an output path inside the state directory: rctl's own files are not outputs.
    pub fn check_output_path(&self, path: &Path) -> Result<()> {
        let root = self.store.locate("");
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let (Ok(root), Ok(parent)) = (root.canonicalize(), parent.canonicalize()) else {
            return Ok(());
        };
        if parent.starts_with(&root) {
            return Err(Error::OutputRefused {
                path: path.to_path_buf(),
                message: format!(
                    "{} is inside the state directory {}; write outputs elsewhere",
                    path.display(),
                    root.display()
                ),
            });
        }
        Ok(())
    }
}

//! Registered Redis servers in the state: `servers/NAME.yaml`, one per file.

use crate::accounts::admin::ADMIN_ACCOUNT;
use crate::accounts::users::Password;
use crate::error::{Error, Invalid, Result};
use crate::pki::bundle::RedisBundle;
use crate::servers::registered::RegisteredServer;
use crate::state::audit::AuditEvent;

use super::StateDir;
use super::node_index::Indexed;

const SERVERS_DIR: &str = "servers";
/// The password of rctl's own account (mode 0600, as every state file).
const ADMIN_FILE: &str = "rctl_admin.password";
/// Beside a sealed password: its SHA-256, what users.acl needs.
const ADMIN_HASH_FILE: &str = "rctl_admin.sha256";

/// The blob of the server registered as `name`.
pub(crate) fn server_blob(name: &str) -> String {
    format!("{SERVERS_DIR}/{name}.yaml")
}

impl StateDir {
    /// Every registered server, sorted by name.
    pub(crate) fn all_servers(&self) -> Result<Vec<RegisteredServer>> {
        let mut servers = Vec::new();
        for file in self.store().list(SERVERS_DIR)? {
            if let Some(stem) = file.strip_suffix(".yaml") {
                servers.extend(self.load_server(stem)?);
            }
        }
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(servers)
    }

    /// One registered server, read alone (`None`: not registered).
    pub(crate) fn find_server(
        &self,
        name: &crate::accounts::names::ServerName,
    ) -> Result<Option<RegisteredServer>> {
        self.load_server(name.as_str())
    }

    fn load_server(&self, stem: &str) -> Result<Option<RegisteredServer>> {
        self.load(&server_blob(stem), |data| {
            let server: RegisteredServer = crate::output::yaml::from_slice(data)?;
            if server.name.as_str() != stem {
                return Err(format!("holds server {:?}, not {stem:?}", server.name));
            }
            Ok(server)
        })
    }

    /// Registers a server. Refused when one of that name exists, when another server writes
    /// to one of its files, when a file would be inside the state directory, or when the
    /// folder of a file does not exist.
    pub(crate) fn add_server(&mut self, server: &RegisteredServer) -> Result<()> {
        let servers = self.all_servers()?;
        if servers.iter().any(|s| s.name == server.name) {
            return Err(Error::AlreadyExists {
                what: "server",
                name: server.name.to_string(),
            });
        }
        self.check_registration(server)?;
        if let Some(other) = servers
            .iter()
            .find(|s| s.addr == server.addr && s.node == server.node)
        {
            return Err(Invalid::AddressTaken {
                addr: server.addr.to_string(),
                server: other.name.to_string(),
            }
            .into());
        }
        let outputs = server.outputs();
        for other in servers.iter().filter(|s| s.node == server.node) {
            if let Some(path) = other.outputs().iter().find(|p| outputs.contains(p)) {
                return Err(Invalid::PathTaken {
                    path: path.clone(),
                    owner: format!("server {:?}", other.name.as_str()),
                }
                .into());
            }
        }
        if server
            .acl_file
            .as_ref()
            .is_some_and(|acl| RedisBundle::paths(&server.cert_prefix).contains(acl))
        {
            return Err(Invalid::AclPathIsBundle.into());
        }
        for path in &outputs {
            self.check_output_path(path)?;
            crate::output::atomic::check_output_folder(path)?;
            crate::output::atomic::check_replaceable(path)?;
        }
        let yaml = serde_norway::to_string(server).map_err(|e| Error::encode("server", e))?;
        let mut events = vec![AuditEvent::about("server.add", &server.name).with_outputs(&outputs)];
        // rctl's own account comes with the first server (on etcd, with the CA), and stays.
        let new_admin = if self.has_admin_account()? {
            None
        } else {
            events.push(AuditEvent::about("user.create", ADMIN_ACCOUNT));
            Some(self.admin_records(&Password::generate())?)
        };
        self.audited(&events, || {
            for (name, data) in new_admin.iter().flatten() {
                self.store().write(name, data)?;
            }
            let indexed = Indexed::Server(&server.name);
            self.index_registration(server.node.as_ref(), indexed, true)?;
            let written = self.store().write(
                &format!("{SERVERS_DIR}/{}.yaml", server.name),
                yaml.as_bytes(),
            );
            if written.is_err() && new_admin.is_some() {
                let _ = self.store().remove(ADMIN_FILE);
                let _ = self.store().remove(ADMIN_HASH_FILE);
            }
            written
        })
    }

    /// What the first sync of `server` would refuse, refused at its registration (every later
    /// sync of it would fail): an owner that does not resolve, a lifetime no CA here could sign.
    fn check_registration(&mut self, server: &RegisteredServer) -> Result<()> {
        if let Some(owner) = &server.owner {
            owner.resolve()?;
        }
        if let Some(ttl) = server.ttl {
            ttl.check_whole_seconds()?;
            if self.has_ca()? {
                let (ca, _) = self.load_ca()?;
                ca.check_ttl(ttl, self.now())?;
            } else if ttl > crate::pki::ca::DEFAULT_CA_TTL {
                // No CA yet: none the default `auth init` makes would sign it.
                return Err(Error::TtlOutlivesCa {
                    ttl: ttl.to_string(),
                    ca_not_after: format!(
                        "{} (a host CA of the default lifetime {}, made now)",
                        (self.now() + crate::pki::ca::DEFAULT_CA_TTL.as_time()).date(),
                        crate::pki::ca::DEFAULT_CA_TTL
                    ),
                });
            }
        }
        Ok(())
    }

    /// True once rctl's own account exists (with the first registered server; on etcd, with
    /// the CA).
    pub(crate) fn has_admin_account(&self) -> Result<bool> {
        Ok(self.store().read(ADMIN_FILE)?.is_some())
    }

    /// The password of rctl's own account, `rctl-admin`, once it exists: what rctl logs in
    /// with on registered servers. Never printed. On a shared (etcd) state it is kept sealed
    /// under the CA passphrase, and reading it asks for the passphrase.
    pub(crate) fn admin_password(&self) -> Result<Option<Password>> {
        let Some(data) = self.store().read(ADMIN_FILE)?.map(zeroize::Zeroizing::new) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&data)
            .map_err(|_| self.corrupt(ADMIN_FILE, "not UTF-8".to_string()))?;
        let clear = if crate::pki::sealed::is_sealed_secret(text) {
            let clear = crate::pki::sealed::unseal_secret(text, &self.passphrase()?)?;
            String::from_utf8(clear.to_vec())
                .map_err(|_| self.corrupt(ADMIN_FILE, "not UTF-8".to_string()))?
        } else {
            text.to_string()
        };
        Password::from_input(clear)
            .map(Some)
            .map_err(|e| self.corrupt(ADMIN_FILE, e.to_string()))
    }

    /// The SHA-256 of rctl-admin's password (what users.acl holds), read without the
    /// passphrase.
    pub(crate) fn admin_password_hash(
        &self,
    ) -> Result<Option<crate::accounts::users::PasswordHash>> {
        if let Some(hash) = self.load(ADMIN_HASH_FILE, |data| {
            let text = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
            crate::accounts::users::PasswordHash::try_from(text.trim().to_string())
        })? {
            return Ok(Some(hash));
        }
        Ok(self.admin_password()?.map(|p| p.hash()))
    }

    /// What keeps `password` in this store: in clear in a directory (mode 0600, in a 0700
    /// directory); sealed under the CA passphrase beside its hash in a shared store.
    pub(crate) fn admin_records(
        &self,
        password: &Password,
    ) -> Result<Vec<(&'static str, Vec<u8>)>> {
        if !self.store().requires_encrypted_keys() {
            return Ok(vec![(ADMIN_FILE, password.expose().as_bytes().to_vec())]);
        }
        let sealed =
            crate::pki::sealed::seal_secret(password.expose().as_bytes(), &self.passphrase()?)?;
        Ok(vec![
            (ADMIN_FILE, sealed.into_bytes()),
            (
                ADMIN_HASH_FILE,
                format!("{}\n", password.hash().as_hex()).into_bytes(),
            ),
        ])
    }

    /// On a shared store, seals a password an earlier rctl kept there in clear (when the
    /// passphrase is at hand; nothing otherwise). True when it did.
    pub(crate) fn seal_admin_password(&mut self) -> Result<bool> {
        if !self.store().requires_encrypted_keys() || self.store().is_read_only() {
            return Ok(false);
        }
        let Some(data) = self.store().read(ADMIN_FILE)?.map(zeroize::Zeroizing::new) else {
            return Ok(false);
        };
        if crate::pki::sealed::is_sealed_secret(&String::from_utf8_lossy(&data)) {
            return Ok(false);
        }
        let Some(password) = self.admin_password()? else {
            return Ok(false);
        };
        let records = match self.admin_records(&password) {
            Err(Error::CaPassphraseMissing { .. }) => return Ok(false),
            other => other?,
        };
        let event = AuditEvent::about("user.seal", ADMIN_ACCOUNT);
        self.audited(&[event], || {
            for (name, data) in &records {
                self.store().write(name, data)?;
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// Forgets a registered server (its files stay where they are).
    pub(crate) fn remove_server(
        &mut self,
        name: &crate::accounts::names::ServerName,
    ) -> Result<()> {
        let Some(server) = self.find_server(name)? else {
            return Err(Error::NotFound {
                what: "server",
                name: name.to_string(),
            });
        };
        // What was installed for it goes too: registered again (a node that lost its key,
        // say), its first certificate needs no proof of a key nobody holds.
        let issued =
            crate::requests::Issued::blob_name(&crate::requests::RequestFor::Server(name.clone()));
        self.audited(&[AuditEvent::about("server.delete", name)], || {
            self.store().remove(&format!("{SERVERS_DIR}/{name}.yaml"))?;
            self.store().remove(&issued)?;
            self.index_registration(server.node.as_ref(), Indexed::Server(name), false)
        })
    }
}

//! Registered Redis servers in the state: `servers/NAME.yaml`, one per file.

use crate::accounts::admin::ADMIN_ACCOUNT;
use crate::accounts::users::Password;
use crate::error::{Error, Result};
use crate::pki::bundle::RedisBundle;
use crate::servers::registered::RegisteredServer;
use crate::state::audit::AuditEvent;

use super::StateDir;

const SERVERS_DIR: &str = "servers";
/// The password of rctl's own account (mode 0600, as every state file).
const ADMIN_FILE: &str = "rctl_admin.password";

impl StateDir {
    /// Every registered server, sorted by name.
    pub fn servers(&self) -> Result<Vec<RegisteredServer>> {
        let mut servers = Vec::new();
        for file in self.store().list(SERVERS_DIR)? {
            let Some(stem) = file.strip_suffix(".yaml") else {
                continue;
            };
            let name = format!("{SERVERS_DIR}/{file}");
            servers.extend(self.load(&name, |data| {
                let server: RegisteredServer =
                    serde_norway::from_slice(data).map_err(|e| e.to_string())?;
                if server.name.as_str() != stem {
                    return Err(format!("holds server {:?}, not {stem:?}", server.name));
                }
                Ok(server)
            })?);
        }
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(servers)
    }

    /// Registers a server. Refused when one of that name exists, when another server writes
    /// to one of its files, when a file would be inside the state directory, or when the
    /// folder of a file does not exist.
    pub fn add_server(&mut self, server: &RegisteredServer) -> Result<()> {
        let servers = self.servers()?;
        if servers.iter().any(|s| s.name == server.name) {
            return Err(Error::AlreadyExists {
                what: "server",
                name: server.name.to_string(),
            });
        }
        // What the first sync would refuse is refused now: every later sync of it would fail.
        if let Some(owner) = &server.owner {
            owner.resolve()?;
        }
        if let Some(ttl) = server.ttl {
            ttl.check_whole_seconds()?;
            if self.has_ca()? {
                let (ca, _) = self.load_ca()?;
                ca.check_ttl(ttl, self.now())?;
            }
        }
        if let Some(other) = servers
            .iter()
            .find(|s| s.addr == server.addr && s.node == server.node)
        {
            return Err(Error::InvalidArgument(format!(
                "{} is server {:?}'s address already: two registrations of one server would flip it between their bundles",
                server.addr, other.name
            )));
        }
        let outputs = server.outputs();
        for other in servers.iter().filter(|s| s.node == server.node) {
            if let Some(path) = other.outputs().iter().find(|p| outputs.contains(p)) {
                return Err(Error::InvalidArgument(format!(
                    "{} is already written for server {:?}",
                    path.display(),
                    other.name
                )));
            }
        }
        if server
            .acl_file
            .as_ref()
            .is_some_and(|acl| RedisBundle::paths(&server.cert_prefix).contains(acl))
        {
            return Err(Error::InvalidArgument(
                "the users.acl path names one of the certificate bundle's files".to_string(),
            ));
        }
        for path in &outputs {
            self.check_output_path(path)?;
            crate::output::atomic::check_output_folder(path)?;
            crate::output::atomic::check_replaceable(path)?;
        }
        let yaml = serde_norway::to_string(server).map_err(|e| Error::encode("server", e))?;
        let mut events = vec![AuditEvent::about("server.add", &server.name).with_outputs(&outputs)];
        // rctl's own account comes with the first server, and stays.
        let new_admin = match self.admin_password()? {
            Some(_) => None,
            None => {
                events.push(AuditEvent::about("user.create", ADMIN_ACCOUNT));
                Some(Password::generate())
            }
        };
        self.audited(&events, || {
            if let Some(password) = &new_admin {
                self.store()
                    .write(ADMIN_FILE, password.expose().as_bytes())?;
            }
            let written = self.store().write(
                &format!("{SERVERS_DIR}/{}.yaml", server.name),
                yaml.as_bytes(),
            );
            if written.is_err() && new_admin.is_some() {
                let _ = self.store().remove(ADMIN_FILE);
            }
            written
        })
    }

    /// The password of rctl's own account, `rctl-admin`, once a server has been registered:
    /// what rctl logs in with on registered servers. Never printed.
    pub fn admin_password(&self) -> Result<Option<Password>> {
        self.load(ADMIN_FILE, |data| {
            let text = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
            Password::from_input(text.to_string()).map_err(|e| e.to_string())
        })
    }

    /// Forgets a registered server (its files stay where they are).
    pub fn remove_server(&mut self, name: &crate::ServerName) -> Result<()> {
        if !self.servers()?.iter().any(|s| &s.name == name) {
            return Err(Error::NotFound {
                what: "server",
                name: name.to_string(),
            });
        }
        // What was installed for it goes too: registered again (a node that lost its key,
        // say), its first certificate needs no proof of a key nobody holds.
        let issued =
            crate::requests::Issued::blob_name(&crate::requests::RequestFor::Server(name.clone()));
        self.audited(&[AuditEvent::about("server.delete", name)], || {
            self.store().remove(&format!("{SERVERS_DIR}/{name}.yaml"))?;
            self.store().remove(&issued)
        })
    }
}

//! Registered client outputs in the state (`clients/NAME.yaml`): added with their first
//! bundle in one change, renewed by `redis sync`, removed (their files stay).

use std::path::PathBuf;

use crate::accounts::names::ClientName;
use crate::clients::output::ClientOutput;
use crate::clients::renewal::ClientPlan;
use crate::error::{Error, Invalid, Result};
use crate::output::atomic::{Visibility, write_atomic_owned};
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::HostCa;
use crate::state::audit::AuditEvent;

use super::StateDir;
use super::node_index::Indexed;
use super::server_files::WrittenFiles;
use super::signing::{Also, ClientLogin, Output};

const CLIENTS_DIR: &str = "clients";

/// The blob of the client output registered as `name`.
pub(crate) fn client_blob(name: &str) -> String {
    format!("{CLIENTS_DIR}/{name}.yaml")
}

impl StateDir {
    /// Every registered client output, sorted by name.
    pub(crate) fn all_clients(&self) -> Result<Vec<ClientOutput>> {
        let mut clients = Vec::new();
        for file in self.store().list(CLIENTS_DIR)? {
            if let Some(stem) = file.strip_suffix(".yaml") {
                clients.extend(self.load_client(stem)?);
            }
        }
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(clients)
    }

    /// One registered client output, read alone (`None`: not registered).
    pub(crate) fn client(&self, name: &ClientName) -> Result<Option<ClientOutput>> {
        self.load_client(name.as_str())
    }

    fn load_client(&self, stem: &str) -> Result<Option<ClientOutput>> {
        self.load(&client_blob(stem), |data| {
            let client: ClientOutput = crate::output::yaml::from_slice(data)?;
            if client.name.as_str() != stem {
                return Err(format!("holds client {:?}, not {stem:?}", client.name));
            }
            Ok(client)
        })
    }

    /// Registers a client output and issues its first bundle, in one change: checked first (a
    /// free name, files no server or other client writes, the user's roles allowing the
    /// account and the lifetime), then signed, written, recorded and audited together.
    /// `overwrite` replaces bundle files already there.
    pub(crate) fn add_client(
        &mut self,
        client: &ClientOutput,
        overwrite: bool,
    ) -> Result<(RedisBundle, Vec<PathBuf>)> {
        let req = self.check_new_client(client)?;
        let owner = client.owner.as_ref().map(|o| o.resolve()).transpose()?;
        let yaml = serde_norway::to_string(client).map_err(|e| Error::encode("client", e))?;
        let blob = format!("{CLIENTS_DIR}/{}.yaml", client.name);
        let format = client.bundle_format()?;
        let output = Output {
            out: &client.out,
            overwrite,
            with_key: true,
            owner,
            format: &format,
        };
        let indexed = Indexed::Client(&client.name);
        let index = self.index_changes(client.node.as_ref(), indexed, true)?;
        // Adding only writes index blobs, never removes one.
        let mut blobs = vec![(blob.as_str(), yaml.as_bytes())];
        blobs.extend(
            index
                .iter()
                .filter_map(|(n, d)| Some((n.as_str(), d.as_deref()?))),
        );
        let also = Also {
            blobs: &blobs,
            events: vec![
                AuditEvent::about("client.add", &client.name).with_outputs(&client.outputs()),
            ],
            issued_for: Some(crate::requests::RequestFor::Client(client.name.clone())),
        };
        self.sign_and_write_with(
            &output,
            Some(&client.user),
            |ca, now| ca.sign_redis_client(&req, now),
            also,
        )
    }

    /// Registers a client output held by another node, without issuing it (no CA key is
    /// used): that node's sync issues its files. Checked as [`add_client`](Self::add_client)
    /// checks, but for the files, which are that node's.
    pub(crate) fn register_client(&mut self, client: &ClientOutput) -> Result<()> {
        self.check_new_client(client)?;
        let yaml = serde_norway::to_string(client).map_err(|e| Error::encode("client", e))?;
        let event = AuditEvent::about("client.add", &client.name).with_outputs(&client.outputs());
        self.audited(&[event], || {
            let indexed = Indexed::Client(&client.name);
            self.index_registration(client.node.as_ref(), indexed, true)?;
            self.store().write(
                &format!("{CLIENTS_DIR}/{}.yaml", client.name),
                yaml.as_bytes(),
            )
        })
    }

    /// The checks of a new client output; its certificate request.
    fn check_new_client(
        &self,
        client: &ClientOutput,
    ) -> Result<crate::pki::leaf::ClientCertRequest> {
        let clients = self.all_clients()?;
        if clients.iter().any(|c| c.name == client.name) {
            return Err(Error::AlreadyExists {
                what: "client",
                name: client.name.to_string(),
            });
        }
        let outputs = client.outputs();
        // Files on one host: another node's files of the same path are its own.
        let taken = self
            .all_servers()?
            .into_iter()
            .filter(|s| s.node == client.node)
            .map(|s| (format!("server {:?}", s.name.as_str()), s.outputs()))
            .chain(
                clients
                    .iter()
                    .filter(|c| c.node == client.node)
                    .map(|c| (format!("client {:?}", c.name.as_str()), c.outputs())),
            );
        for (owner, paths) in taken {
            if let Some(path) = paths.iter().find(|p| outputs.contains(p)) {
                return Err(Invalid::PathTaken {
                    path: path.clone(),
                    owner,
                }
                .into());
            }
        }
        self.client_request(&self.client_login(client))
    }

    /// Forgets a client output (its files stay where they are).
    pub(crate) fn remove_client(&mut self, name: &ClientName) -> Result<()> {
        let Some(client) = self.client(name)? else {
            return Err(Error::NotFound {
                what: "client",
                name: name.to_string(),
            });
        };
        // As for a server: its install record goes with it.
        let issued =
            crate::requests::Issued::blob_name(&crate::requests::RequestFor::Client(name.clone()));
        self.audited(&[AuditEvent::about("client.delete", name)], || {
            self.store().remove(&format!("{CLIENTS_DIR}/{name}.yaml"))?;
            self.store().remove(&issued)?;
            self.index_registration(client.node.as_ref(), Indexed::Client(name), false)
        })
    }

    /// Every client output with what its files need now (nothing is written).
    pub(crate) fn client_plans(
        &mut self,
        renew_within: Option<std::time::Duration>,
    ) -> Result<Vec<(ClientOutput, ClientPlan)>> {
        let clients = self.all_clients()?;
        if clients.is_empty() {
            return Ok(Vec::new());
        }
        let ca = self.host_ca()?;
        let now = self.now();
        Ok(clients
            .into_iter()
            .map(|c| {
                let plan = crate::clients::renewal::plan_client(&c, &ca, renew_within, now);
                (c, plan)
            })
            .collect())
    }

    pub(super) fn client_login(&self, client: &ClientOutput) -> ClientLogin {
        let mut login = ClientLogin::new(client.user.clone(), client.db_user.clone());
        login.ttl = client.ttl;
        login
    }

    /// Writes what `plan` says `client` needs: a bundle signed again (the user's roles checked
    /// as at its first issue), or its trust bundle; atomically, with its owner and modes.
    pub(crate) fn write_client_files(
        &mut self,
        client: &ClientOutput,
        plan: &ClientPlan,
        ca: &HostCa,
        presigned: Option<RedisBundle>,
    ) -> Result<WrittenFiles> {
        for path in client.outputs() {
            crate::output::atomic::check_replaceable(&path)?;
        }
        let owner = client.owner.as_ref().map(|o| o.resolve()).transpose()?;
        let mut written = WrittenFiles::default();
        let subject = crate::requests::RequestFor::Client(client.name.clone());
        let format = if plan.renew.is_some() {
            client.bundle_format()?
        } else {
            crate::pki::formats::BundleFormat::Redis
        };
        let output = Output {
            out: &client.out,
            overwrite: true,
            with_key: true,
            owner,
            format: &format,
        };
        if let (Some(_), Some(bundle)) = (&plan.renew, &presigned) {
            written.paths = self.place_signed(&output, bundle, &subject, ca)?;
            written.serial = Some(bundle.issued().serial.clone());
        } else if plan.renew.is_some() {
            let mut login = self.client_login(client);
            // The registered lifetime, else the one of the certificate it replaces.
            if login.ttl.is_none()
                && let Some(current) = &plan.current
            {
                login.ttl =
                    crate::pki::ca::signed_lifetime(current.not_before, current.not_after).ok();
            }
            let req = self.client_request(&login)?;
            let (bundle, paths) = self.sign_and_write_with(
                &output,
                Some(&client.user),
                |ca, now| ca.sign_redis_client(&req, now),
                Also {
                    issued_for: Some(subject),
                    ..Also::default()
                },
            )?;
            written.serial = Some(bundle.issued().serial.clone());
            written.paths = paths;
        } else if plan.write_cas {
            let [_, _, cas] = RedisBundle::paths(&client.out);
            let event = AuditEvent::about("client.sync", &client.name)
                .with_outputs(std::slice::from_ref(&cas));
            let subject = crate::requests::RequestFor::Client(client.name.clone());
            self.audited(&[event], || {
                write_atomic_owned(
                    &cas,
                    ca.trusted_pem().as_bytes(),
                    Visibility::Public,
                    true,
                    owner,
                )?;
                self.record_trust(&subject, ca)
            })?;
            written.paths.push(cas);
        }
        Ok(written)
    }
}

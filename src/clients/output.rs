//! Client outputs: an application's client bundle, registered so that `redis sync` keeps it
//! renewed and its trust bundle current through rotations (what tbot does for Teleport), then
//! runs its reload hook.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::accounts::names::{ClientName, DbUserName, NodeName, UserName};
use crate::duration::Ttl;
use crate::error::{Error, Invalid, Result};
use crate::output::owner::FileOwner;
use crate::pki::formats::{BundleFormat, ReadBack, check_kubernetes_name};

/// A registered client output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClientRecord", into = "ClientRecord")]
#[non_exhaustive]
pub struct ClientOutput {
    /// Its name in rctl.
    pub name: ClientName,
    /// The rctl user it is issued for (whose roles decide the account and the TTL cap).
    pub user: UserName,
    /// The Redis account its certificate names.
    pub db_user: DbUserName,
    /// The prefix of its bundle (an absolute path): `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    pub out: PathBuf,
    /// Its certificate's lifetime, within the user's roles' cap; rctl's default when `None`.
    pub ttl: Option<Ttl>,
    /// Who owns its files; the owner of the files replaced (else the writer) when `None`.
    pub owner: Option<FileOwner>,
    /// A command run with `sh -c` after its files are written (its name in `RCTL_CLIENT`, the
    /// files its format wrote in the variables [`hook_files`](crate::clients::hook::hook_files)
    /// names).
    pub exec: Option<String>,
    /// How its bundle is written.
    pub format: ClientFormat,
    /// The host that holds its files, on a fleet's shared state.
    pub node: Option<NodeName>,
}

/// How a client output's bundle is written (see [`BundleFormat`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientFormat {
    /// `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    #[default]
    Redis,
    /// `PREFIX.p12`, its passphrase read from a file at each write (never stored).
    Pkcs12 {
        /// The passphrase file (an absolute path).
        passphrase_file: PathBuf,
    },
    /// `PREFIX.yaml`, a Kubernetes Secret named as the client output.
    KubernetesSecret {
        /// The Secret's namespace, if given.
        namespace: Option<String>,
    },
}

impl ClientFormat {
    /// `redis`, `pkcs12` or `kubernetes-secret`.
    pub fn name(&self) -> &'static str {
        match self {
            ClientFormat::Redis => "redis",
            ClientFormat::Pkcs12 { .. } => "pkcs12",
            ClientFormat::KubernetesSecret { .. } => "kubernetes-secret",
        }
    }
}

impl ClientOutput {
    /// `user`'s bundle as `db_user` at `out` (made absolute).
    pub fn new(
        name: ClientName,
        user: UserName,
        db_user: DbUserName,
        out: &Path,
    ) -> Result<ClientOutput> {
        let out = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
        if out.to_str().is_none() {
            return Err(Invalid::NotUtf8 { path: out }.into());
        }
        Ok(ClientOutput {
            name,
            user,
            db_user,
            out,
            ttl: None,
            owner: None,
            exec: None,
            format: ClientFormat::Redis,
            node: None,
        })
    }

    /// Held by `node`.
    pub fn with_node(mut self, node: NodeName) -> ClientOutput {
        self.node = Some(node);
        self
    }

    /// Written in `format`: a Kubernetes Secret takes the output's name, which must be a
    /// Kubernetes name; a PKCS#12 passphrase file is made absolute, and read now.
    pub fn with_format(mut self, format: ClientFormat) -> Result<ClientOutput> {
        self.format = match format {
            ClientFormat::Pkcs12 { passphrase_file } => {
                crate::pki::formats::read_passphrase_file(&passphrase_file)?;
                let path = std::path::absolute(&passphrase_file)
                    .map_err(|e| Error::io(&passphrase_file, e))?;
                ClientFormat::Pkcs12 {
                    passphrase_file: path,
                }
            }
            ClientFormat::KubernetesSecret { namespace } => {
                check_kubernetes_name("Kubernetes Secret name", &self.name)?;
                if let Some(ns) = &namespace {
                    check_kubernetes_name("Kubernetes namespace", ns)?;
                }
                ClientFormat::KubernetesSecret { namespace }
            }
            ClientFormat::Redis => ClientFormat::Redis,
        };
        Ok(self)
    }

    /// The format to write with, its passphrase read from its file.
    pub fn bundle_format(&self) -> Result<BundleFormat> {
        Ok(match &self.format {
            ClientFormat::Redis => BundleFormat::Redis,
            ClientFormat::Pkcs12 { passphrase_file } => BundleFormat::Pkcs12 {
                passphrase: crate::pki::formats::read_passphrase_file(passphrase_file)?,
            },
            ClientFormat::KubernetesSecret { namespace } => BundleFormat::KubernetesSecret {
                name: self.name.to_string(),
                namespace: namespace.clone(),
            },
        })
    }

    /// With a certificate lifetime.
    pub fn with_ttl(mut self, ttl: Ttl) -> ClientOutput {
        self.ttl = Some(ttl);
        self
    }

    /// With the owner of its files.
    pub fn with_owner(mut self, owner: FileOwner) -> ClientOutput {
        self.owner = Some(owner);
        self
    }

    /// With a reload hook: one line, run with `sh -c`.
    pub fn with_exec(mut self, command: &str) -> Result<ClientOutput> {
        check_exec(command)?;
        self.exec = Some(command.to_string());
        Ok(self)
    }

    /// What its files hold, read back in its format (one reader per format, for sync, the
    /// rotation guard and requests alike); why not, when they cannot be read.
    pub(crate) fn read_back(&self) -> std::result::Result<ReadBack, String> {
        self.bundle_format()
            .map_err(|e| e.to_string())?
            .read_back(&self.out)
    }

    /// The files written for it.
    pub fn outputs(&self) -> Vec<PathBuf> {
        crate::pki::formats::format_paths(self.format.name(), &self.out, true)
    }
}

fn check_exec(command: &str) -> Result<()> {
    if command.trim().is_empty() || command.len() > 4096 || command.contains(['\n', '\r', '\0']) {
        return Err(Invalid::malformed(
            "hook",
            command,
            "one line of shell, at most 4096 bytes",
        ));
    }
    Ok(())
}

/// A client output as its state file holds it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientRecord {
    name: ClientName,
    user: UserName,
    db_user: DbUserName,
    out: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs12_passphrase_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<NodeName>,
}

impl From<ClientOutput> for ClientRecord {
    fn from(c: ClientOutput) -> ClientRecord {
        let (format, pkcs12_passphrase_file, namespace) = match c.format {
            ClientFormat::Redis => (None, None, None),
            ClientFormat::Pkcs12 { passphrase_file } => {
                (Some("pkcs12".to_string()), Some(passphrase_file), None)
            }
            ClientFormat::KubernetesSecret { namespace } => {
                (Some("kubernetes-secret".to_string()), None, namespace)
            }
        };
        ClientRecord {
            format,
            pkcs12_passphrase_file,
            namespace,
            node: c.node,
            name: c.name,
            user: c.user,
            db_user: c.db_user,
            out: c.out,
            ttl: c.ttl.map(|t| t.to_string()),
            owner: c.owner.map(|o| o.to_string()),
            exec: c.exec,
        }
    }
}

impl TryFrom<ClientRecord> for ClientOutput {
    type Error = String;

    fn try_from(r: ClientRecord) -> std::result::Result<ClientOutput, String> {
        let text = |e: Error| e.to_string();
        if !r.out.is_absolute() {
            return Err(format!("{} is not an absolute path", r.out.display()));
        }
        if let Some(command) = &r.exec {
            check_exec(command).map_err(text)?;
        }
        let format = match (r.format.as_deref(), r.pkcs12_passphrase_file, r.namespace) {
            (None | Some("redis"), None, None) => ClientFormat::Redis,
            (Some("pkcs12"), Some(passphrase_file), None) if passphrase_file.is_absolute() => {
                ClientFormat::Pkcs12 { passphrase_file }
            }
            (Some("kubernetes-secret"), None, namespace) => {
                check_kubernetes_name("Kubernetes Secret name", &r.name).map_err(text)?;
                ClientFormat::KubernetesSecret { namespace }
            }
            (format, _, _) => {
                return Err(format!(
                    "format {:?} with the fields given is not one rctl writes",
                    format.unwrap_or("redis")
                ));
            }
        };
        Ok(ClientOutput {
            format,
            node: r.node,
            name: r.name,
            user: r.user,
            db_user: r.db_user,
            out: r.out,
            ttl: r.ttl.map(|t| t.parse()).transpose().map_err(text)?,
            owner: r.owner.map(|o| o.parse()).transpose().map_err(text)?,
            exec: r.exec,
        })
    }
}

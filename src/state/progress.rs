//! How far a rotation has reached each registered server and client output: what signed the
//! certificate it holds and which CA keys its trust bundle holds, read from its files where
//! they are this host's and from its install record where they are another node's (the node
//! that installs a bundle records both, see [`Issued`]).

use super::StateDir;
use crate::error::Result;
use crate::pki::ca::HostCa;
use crate::pki::formats::{BundleFormat, ReadBack};
use crate::pki::rotation::Phase;
use crate::requests::{Issued, RequestFor};

/// One registration's files against the CA's rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The server or client output.
    pub subject: RequestFor,
    /// The node holding its files (`None`: the host that registered it).
    pub node: Option<crate::accounts::names::NodeName>,
    /// The pin of the CA key that signed its certificate, if known.
    pub signed_by: Option<String>,
    /// The pins of the CA keys its trust bundle holds (empty when unknown).
    pub trusts: Vec<String>,
    /// Whether its files are as the current phase wants them.
    pub applied: bool,
}

/// The pins of `ca`'s trusted keys whose certificate is in `pem`.
pub(crate) fn trusted_pins_in(pem: &str, ca: &HostCa) -> Vec<String> {
    use rustls_pki_types::pem::PemObject;
    let held: Vec<Vec<u8>> = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .flatten()
        .map(|c| c.to_vec())
        .collect();
    ca.trusted()
        .filter(|k| held.iter().any(|c| c.as_slice() == k.certificate_der()))
        .map(crate::pki::ca::CaKey::pin)
        .collect()
}

/// Whether files signed by `signed_by` and trusting `trusts` are as `ca`'s phase wants for a
/// server (`server`) or a client output: every phase wants the trust bundle to hold every
/// trusted key (standby: only the active one); from `update_clients` on a client holds a
/// certificate of the active key, from `update_servers` on a server too.
pub(crate) fn is_applied(
    ca: &HostCa,
    server: bool,
    signed_by: Option<&str>,
    trusts: &[String],
) -> bool {
    let trusted: Vec<String> = ca.trusted().map(crate::pki::ca::CaKey::pin).collect();
    let active = ca.active().pin();
    let trust_ok =
        trusted.iter().all(|k| trusts.contains(k)) && trusts.iter().all(|k| trusted.contains(k));
    let signed_ok = signed_by == Some(active.as_str());
    match ca.rotation().phase {
        Phase::Init => trust_ok,
        Phase::UpdateClients if server => trust_ok,
        Phase::UpdateClients | Phase::UpdateServers | Phase::Rollback | Phase::Standby => {
            trust_ok && signed_ok
        }
    }
}

impl StateDir {
    /// Every registered server and client output against `ca`'s current phase.
    pub(crate) fn rotation_progress(&self, ca: &HostCa) -> Result<Vec<Progress>> {
        let here = super::this_node();
        let mut found = Vec::new();
        let servers = self.all_servers()?.into_iter().map(|s| {
            let read = {
                let prefix = s.cert_prefix.clone();
                Box::new(move || BundleFormat::Redis.read_back(&prefix))
                    as Box<dyn FnOnce() -> std::result::Result<ReadBack, String>>
            };
            (RequestFor::Server(s.name), s.node, read)
        });
        let clients = self.all_clients()?.into_iter().map(|c| {
            let subject = RequestFor::Client(c.name.clone());
            let node = c.node.clone();
            let read = Box::new(move || c.read_back())
                as Box<dyn FnOnce() -> std::result::Result<ReadBack, String>>;
            (subject, node, read)
        });
        for (subject, node, read) in servers.chain(clients) {
            let (signed_by, trusts) = if node.is_some() && node != here {
                match self.issued(&subject)? {
                    Some(record) => (Some(record.signed_by), record.trusts),
                    None => (None, Vec::new()),
                }
            } else {
                match read() {
                    Ok(files) => {
                        let report = crate::pki::inspect::inspect_certificate(
                            files.certificate_pem.as_bytes(),
                            Some(ca),
                            self.now(),
                        );
                        (
                            report.ok().and_then(|r| r.signed_by),
                            trusted_pins_in(&files.ca_pem, ca),
                        )
                    }
                    Err(_) => (None, Vec::new()),
                }
            };
            let server = matches!(subject, RequestFor::Server(_));
            let applied = is_applied(ca, server, signed_by.as_deref(), &trusts);
            found.push(Progress {
                subject,
                node,
                signed_by,
                trusts,
                applied,
            });
        }
        Ok(found)
    }

    /// Records that `subject`'s trust bundle now holds `ca`'s trusted keys (a trust bundle
    /// written without a renewal), where a record of its install exists.
    pub(crate) fn record_trust(&self, subject: &RequestFor, ca: &HostCa) -> Result<()> {
        let Some(mut record) = self.issued(subject)? else {
            return Ok(());
        };
        record.trusts = ca.trusted().map(crate::pki::ca::CaKey::pin).collect();
        let text = serde_norway::to_string(&record)
            .map_err(|e| crate::error::Error::encode("issued", e))?;
        self.store()
            .write(&Issued::blob_name(subject), text.as_bytes())
    }
}

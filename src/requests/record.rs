//! The records of a signing request: the request a node puts, the signer's answer, and what
//! was issued for a registration.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::accounts::names::{ClientName, NodeName, ServerName};
use crate::error::{Error, Result};

/// What a request is for: a registered server or client output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestFor {
    /// A registered server's certificate.
    Server(ServerName),
    /// A registered client output's certificate.
    Client(ClientName),
}

impl RequestFor {
    /// `server`, `client`.
    pub fn kind(&self) -> &'static str {
        match self {
            RequestFor::Server(_) => "server",
            RequestFor::Client(_) => "client",
        }
    }

    /// The registration's name.
    pub fn name(&self) -> &str {
        match self {
            RequestFor::Server(n) => n.as_str(),
            RequestFor::Client(n) => n.as_str(),
        }
    }
}

impl std::fmt::Display for RequestFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind(), self.name())
    }
}

/// A node's request for a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningRequest {
    /// Its id: 32 random hex digits, also the last part of its key.
    pub id: String,
    /// The node that made it (and holds the registration's files).
    pub node: NodeName,
    /// What it is for.
    #[serde(rename = "for")]
    pub subject: RequestFor,
    /// The CSR (PEM), made with the new key.
    pub csr: String,
    /// For a renewal: a CSR (PEM) made with the key on record, its subject `CN=ID,
    /// OU=SHA-256 of the new CSR's DER` (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// A one-time X25519 public key (base64): the node asks for rctl-admin's password, sealed
    /// to this key, with the certificate. Covered by the proof (its digest names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_key: Option<String>,
}

impl SigningRequest {
    /// A fresh request id.
    pub fn new_id() -> String {
        use rand::RngExt;
        let bytes: [u8; 16] = rand::rng().random();
        hex::encode(bytes)
    }

    /// Its JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::encode("signing request", e))
    }

    /// A request read back from the queue: JSON, and the id its key names.
    pub fn from_json(data: &[u8], key_id: &str) -> std::result::Result<SigningRequest, String> {
        let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if key_id.is_empty() || key_id.len() > 128 || !key_id.bytes().all(plain) {
            return Err(
                "its id is not 1 to 128 letters, digits, '-' or '_' (as rctl makes them)"
                    .to_string(),
            );
        }
        let request: SigningRequest =
            serde_json::from_slice(data).map_err(|e| format!("not a signing request: {e}"))?;
        if request.id != key_id {
            return Err(format!(
                "holds request {:?}, not the one its key names",
                crate::error::shorten(&request.id)
            ));
        }
        Ok(request)
    }
}

/// The signer's answer to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Answer {
    /// The certificate (PEM), signed for the request's key.
    Signed {
        /// The certificate.
        certificate: String,
        /// rctl-admin's password sealed to the request's login key, when it asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin_password: Option<String>,
    },
    /// Refused, with why.
    Refused {
        /// Why.
        reason: String,
    },
}

impl Answer {
    /// Its JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::encode("signing answer", e))
    }

    /// An answer read back from the queue.
    pub fn from_json(data: &[u8]) -> std::result::Result<Answer, String> {
        serde_json::from_slice(data).map_err(|e| format!("not a signing answer: {e}"))
    }
}

/// What was issued last for a registration (`issued/NAME.KIND.yaml`): the key a renewal must
/// prove it holds, and which CA key signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// The pin of the certificate's public key (`sha256:…`, see [`crate::pki::keys::spki_pin`]).
    pub key_pin: String,
    /// The pin of the CA key that signed it.
    pub signed_by: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The pins of the CA keys its trust bundle holds, as last written (empty in a record of
    /// an earlier rctl): how far a rotation reached a node's files, which the admin's host
    /// cannot read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusts: Vec<String>,
}

impl Issued {
    /// The record's name in the state.
    pub(crate) fn blob_name(subject: &RequestFor) -> String {
        format!("issued/{}.{}.yaml", subject.name(), subject.kind())
    }

    /// From a certificate (PEM) signed by one of `ca`'s trusted keys.
    pub(crate) fn of(certificate_pem: &str, ca: &crate::pki::ca::HostCa) -> Result<Issued> {
        let report = crate::pki::inspect::inspect_certificate(
            certificate_pem.as_bytes(),
            Some(ca),
            OffsetDateTime::now_utc(),
        )?;
        let signed_by = report
            .signed_by
            .ok_or_else(|| Error::crypto("the certificate is not signed by a trusted CA key"))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes())
            .map_err(|e| Error::crypto_by("cannot read the certificate just signed", e))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| Error::crypto_by("cannot read the certificate just signed", e))?;
        let time = |t: x509_parser::time::ASN1Time| t.to_datetime();
        Ok(Issued {
            serial: hex::encode(cert.raw_serial()),
            key_pin: crate::pki::keys::spki_pin(cert.public_key().raw),
            signed_by,
            not_before: time(cert.validity().not_before),
            not_after: time(cert.validity().not_after),
            // Every bundle is written with the CA's trusted certificates.
            trusts: ca.trusted().map(crate::pki::ca::CaKey::pin).collect(),
        })
    }

    /// Its lifetime, as a renewal takes it.
    pub(crate) fn lifetime(&self) -> Option<crate::duration::Ttl> {
        crate::pki::ca::signed_lifetime(self.not_before, self.not_after).ok()
    }
}

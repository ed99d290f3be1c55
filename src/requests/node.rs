//! A node's side of a signing request: the new key made here (it stays in memory until the
//! answer is written into the registration's files, and is never sent), the request, and the
//! answer checked before anything is written.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::accounts::names::NodeName;
use crate::error::{Error, Result};
use crate::pki::bundle::{CertKind, IssuedCert, RedisBundle};
use crate::pki::ca::HostCa;
use crate::pki::hosts::Host;
use crate::pki::keys::{KeyAlgorithm, PrivateKey};

use super::record::{Answer, RequestFor, SigningRequest};

/// A request made on this node, with its key.
pub struct NodeRequest {
    /// The request, as sent.
    pub request: SigningRequest,
    key: PrivateKey,
    /// A server's names: what the certificate must name.
    hosts: Vec<Host>,
    /// The one-time key that opens rctl-admin's password in the answer, when it was asked.
    opening: Option<super::sealed_box::OpeningKey>,
}

impl std::fmt::Debug for NodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRequest")
            .field("id", &self.request.id)
            .field("for", &self.request.subject)
            .finish_non_exhaustive()
    }
}

/// What a node asks a certificate for.
#[derive(Clone, Debug)]
pub struct Asked<'a> {
    /// The registration it renews.
    pub subject: RequestFor,
    /// The node asking (the one the registration names).
    pub node: &'a NodeName,
    /// The new key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// A server's hosts (none for a client output).
    pub hosts: &'a [Host],
}

impl NodeRequest {
    /// A request for `subject`: a fresh `algorithm` key, a CSR naming `hosts` (a server's; none
    /// for a client output), and, when the registration's current key is given (PKCS#8 PEM),
    /// the proof that this node holds it. With `login`, it also asks for rctl-admin's password
    /// (sealed to a one-time key of this request's).
    pub fn new(
        asked: Asked<'_>,
        current_key: Option<&str>,
        login: bool,
        now: OffsetDateTime,
    ) -> Result<NodeRequest> {
        let Asked {
            subject,
            node,
            algorithm,
            hosts,
        } = asked;
        let key = PrivateKey::generate(algorithm)?;
        let csr = crate::pki::csr::make_csr(key.pair(), hosts, None, None)?;
        let id = SigningRequest::new_id();
        let opening = login
            .then(super::sealed_box::OpeningKey::generate)
            .transpose()?;
        let login_key = opening
            .as_ref()
            .map(super::sealed_box::OpeningKey::public_b64);
        let proof = match current_key {
            None => None,
            Some(pem) => {
                let current = rcgen::KeyPair::from_pem(pem)
                    .map_err(|e| Error::crypto_by("the current key cannot sign a proof", e))?;
                let digest = super::judge::csr_digest(&csr, login_key.as_deref())?;
                Some(crate::pki::csr::make_csr(
                    &current,
                    &[],
                    Some(&id),
                    Some(&digest),
                )?)
            }
        };
        Ok(NodeRequest {
            request: SigningRequest {
                id,
                node: node.clone(),
                subject,
                csr,
                proof,
                created: now,
                login_key,
            },
            key,
            hosts: hosts.to_vec(),
            opening,
        })
    }

    /// The signer's answer made a bundle: the certificate must be signed by one of `ca`'s
    /// trusted keys, be for this request's key, be valid now, and name a server's hosts
    /// exactly. A refusal is [`Error::SigningRefused`].
    /// With the bundle, rctl-admin's password when the request asked for it and the answer
    /// carries it.
    pub fn accept(
        self,
        answer: Answer,
        ca: &HostCa,
        now: OffsetDateTime,
    ) -> Result<(RedisBundle, Option<crate::accounts::users::Password>)> {
        let id = self.request.id.clone();
        let refused = |reason: String| Error::SigningRefused {
            id: id.clone(),
            reason,
        };
        let (certificate, sealed) = match answer {
            Answer::Refused { reason } => return Err(refused(format!("refused: {reason}"))),
            Answer::Signed {
                certificate,
                admin_password,
            } => (certificate, admin_password),
        };
        let report =
            crate::pki::inspect::inspect_certificate(certificate.as_bytes(), Some(ca), now)
                .map_err(|e| refused(format!("the certificate answered does not read: {e}")))?;
        if report.signed_by.is_none() {
            return Err(refused(
                "the certificate answered is not signed by a trusted CA key".to_string(),
            ));
        }
        if report.seconds_left <= 0 || report.not_before > now + time::Duration::minutes(5) {
            return Err(refused(
                "the certificate answered is not valid now".to_string(),
            ));
        }
        let key_pem = self.key.to_pem()?;
        if !crate::pki::bundle::key_pem_matches(&certificate, &key_pem) {
            return Err(refused(
                "the certificate answered is not for this request's key".to_string(),
            ));
        }
        let kind = match self.request.subject {
            RequestFor::Server(_) => {
                let want: BTreeSet<String> = self.hosts.iter().map(ToString::to_string).collect();
                let got: BTreeSet<String> = report.sans.iter().cloned().collect();
                if want != got {
                    return Err(refused(format!(
                        "the certificate answered names {}, not the registered {}",
                        report.sans.join(","),
                        want.into_iter().collect::<Vec<_>>().join(",")
                    )));
                }
                CertKind::Server
            }
            RequestFor::Client(_) => CertKind::Client,
        };
        let issued = IssuedCert {
            kind,
            serial: report.serial,
            subject: report.subject,
            sans: report.sans,
            not_before: report.not_before,
            not_after: report.not_after,
        };
        let password = match (self.opening, sealed) {
            (Some(opening), Some(sealed)) => {
                let clear = opening.open(&sealed)?;
                let text = String::from_utf8(clear.to_vec())
                    .map_err(|_| refused("the password answered is not UTF-8".to_string()))?;
                Some(crate::accounts::users::Password::from_input(text)?)
            }
            _ => None,
        };
        let bundle = RedisBundle::new(
            certificate,
            Some(Zeroizing::new(key_pem.to_string())),
            ca.trusted_pem(),
            issued,
        );
        Ok((bundle, password))
    }
}

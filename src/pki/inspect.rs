//! `certs inspect`: what a certificate says, and whether this state's CA signed it.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;

use crate::error::{Invalid, Result};
use crate::pki::ca::HostCa;

/// A certificate's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertStatus {
    /// Within its validity and signed by a trusted key of this CA.
    Valid,
    /// Past its `not_after`.
    Expired,
    /// Before its `not_before`.
    NotYetValid,
    /// Not signed by any key this CA trusts.
    Foreign,
}

impl CertStatus {
    /// As the JSON output spells it: `valid`, `expired`, `not_yet_valid`, `foreign`.
    pub fn name(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Expired => "expired",
            CertStatus::NotYetValid => "not_yet_valid",
            CertStatus::Foreign => "foreign",
        }
    }
}

/// What `certs inspect` reports. The JSON field names are stable (see the README).
#[derive(Clone, Debug, Serialize)]
pub struct CertReport {
    /// Subject, as `CN=..., O=...`.
    pub subject: String,
    /// Issuer, as `CN=..., O=...`.
    pub issuer: String,
    /// DNS names and IP addresses.
    pub sans: Vec<String>,
    /// Extended key usages: `server_auth`, `client_auth`, ...
    pub extended_key_usage: Vec<String>,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Seconds until `not_after` (negative when expired).
    pub seconds_left: i64,
    /// `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa2048`, ...
    pub key_algorithm: String,
    /// A CA certificate.
    pub is_ca: bool,
    /// The pin of the trusted CA key that signed it, if any.
    pub signed_by: Option<String>,
    /// The verdict.
    pub status: CertStatus,
}

/// Inspects the first certificate of a PEM file against the CA's trusted keys.
///
/// ```
/// use rctl::{CaOptions, CertStatus, HostCa, ServerCertRequest, inspect_certificate, parse_host_list};
/// # fn main() -> Result<(), rctl::Error> {
/// let now = time::OffsetDateTime::now_utc();
/// let ca = HostCa::generate(&CaOptions::new("dev".parse()?), now)?;
/// let req = ServerCertRequest::new(parse_host_list("db.local")?).with_ttl("1h".parse()?);
/// let pem = ca.sign_redis_server(&req, now)?.certificate_pem().to_string();
/// let report = inspect_certificate(pem.as_bytes(), Some(&ca), now)?;
/// assert_eq!(report.status, CertStatus::Valid);
/// assert_eq!(report.sans, ["db.local"]);
/// # Ok(()) }
/// ```
pub fn inspect_certificate(
    pem: &[u8],
    ca: Option<&HostCa>,
    now: OffsetDateTime,
) -> Result<CertReport> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => Invalid::Certificate {
            problem: "no CERTIFICATE block in the file",
            detail: None,
        },
        other => Invalid::Certificate {
            problem: "not a PEM certificate",
            detail: Some(other.to_string()),
        },
    })?;
    inspect_der(der.as_ref(), ca, now)
}

/// [`inspect_certificate`] for a DER certificate (what a server presents).
pub fn inspect_der(der: &[u8], ca: Option<&HostCa>, now: OffsetDateTime) -> Result<CertReport> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| Invalid::Certificate {
        problem: "the certificate does not parse",
        detail: Some(e.to_string()),
    })?;
    let mut sans = Vec::new();
    let mut eku = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    sans.push(match name {
                        GeneralName::DNSName(d) => d.to_string(),
                        GeneralName::IPAddress(b) if b.len() == 4 => {
                            std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
                                .to_string()
                        }
                        GeneralName::IPAddress(b) if b.len() == 16 => {
                            std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
                                .to_string()
                        }
                        other => other.to_string(),
                    });
                }
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                let flags = [
                    (e.server_auth, "server_auth"),
                    (e.client_auth, "client_auth"),
                    (e.code_signing, "code_signing"),
                    (e.email_protection, "email_protection"),
                    (e.time_stamping, "time_stamping"),
                    (e.ocsp_signing, "ocsp_signing"),
                    (e.any, "any"),
                ];
                eku.extend(
                    flags
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, n)| n.to_string()),
                );
            }
            _ => {}
        }
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let signed_by = ca.and_then(|ca| {
        ca.trusted().find_map(|key| {
            let (_, ca_cert) = x509_parser::parse_x509_certificate(key.certificate_der()).ok()?;
            cert.verify_signature(Some(ca_cert.public_key())).ok()?;
            Some(key.pin())
        })
    });
    let status = if now > not_after {
        CertStatus::Expired
    } else if now < not_before {
        CertStatus::NotYetValid
    } else if signed_by.is_none() {
        CertStatus::Foreign
    } else {
        CertStatus::Valid
    };
    Ok(CertReport {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        extended_key_usage: eku,
        serial: hex::encode(cert.raw_serial()),
        not_before,
        not_after,
        seconds_left: (not_after - now).whole_seconds(),
        key_algorithm: key_algorithm(&cert),
        is_ca: cert.is_ca(),
        signed_by,
        status,
    })
}

fn key_algorithm(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(c) if c == OID_EC_P256 => "ecdsa-p256".to_string(),
                Some(c) if c == OID_NIST_EC_P384 => "ecdsa-p384".to_string(),
                Some(c) => format!("ecdsa ({c})"),
                None => "ecdsa".to_string(),
            }
        }
        _ if spki.algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 => {
            "ed25519".to_string()
        }
        _ => spki.algorithm.algorithm.to_id_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_json_spelling() {
        for status in [
            CertStatus::Valid,
            CertStatus::Expired,
            CertStatus::NotYetValid,
            CertStatus::Foreign,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.name());
        }
    }
    use crate::pki::ca::CaOptions;
    use crate::pki::hosts::parse_host_list;
    use crate::pki::keys::KeyAlgorithm;
    use crate::pki::leaf::ServerCertRequest;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    fn bundle_pem(ca: &HostCa, algo: Option<KeyAlgorithm>) -> String {
        let req = ServerCertRequest {
            hosts: parse_host_list("redis.local,10.1.2.3,::1").unwrap(),
            ttl: Some("10h".parse().unwrap()),
            key_algorithm: algo,
        };
        ca.sign_redis_server(&req, now())
            .unwrap()
            .certificate_pem()
            .to_string()
    }

    #[test]
    fn reports_fields_and_the_signing_key() {
        let ca = HostCa::generate(&CaOptions::new("c".parse().unwrap()), now()).unwrap();
        let pem = bundle_pem(&ca, None);
        let r = inspect_certificate(pem.as_bytes(), Some(&ca), now()).unwrap();
        // A server certificate has no subject: its names are the SANs.
        assert_eq!(r.subject, "");
        assert_eq!(r.issuer, "CN=c, O=c");
        assert_eq!(r.sans, ["redis.local", "10.1.2.3", "::1"]);
        assert_eq!(r.extended_key_usage, ["server_auth", "client_auth"]);
        assert_eq!(r.seconds_left, 10 * 3600);
        assert_eq!(r.key_algorithm, "ecdsa-p256");
        assert_eq!(r.signed_by, Some(ca.active().pin()));
        assert_eq!(r.status, CertStatus::Valid);
        assert!(!r.is_ca);
    }

    #[test]
    fn expired_and_foreign_are_told_apart() {
        let ca = HostCa::generate(&CaOptions::new("c".parse().unwrap()), now()).unwrap();
        let other = HostCa::generate(&CaOptions::new("other".parse().unwrap()), now()).unwrap();
        let pem = bundle_pem(&ca, None);
        let later = now() + time::Duration::hours(11);
        assert_eq!(
            inspect_certificate(pem.as_bytes(), Some(&ca), later)
                .unwrap()
                .status,
            CertStatus::Expired
        );
        let r = inspect_certificate(pem.as_bytes(), Some(&other), now()).unwrap();
        assert_eq!((r.status, r.signed_by), (CertStatus::Foreign, None));
        assert_eq!(
            inspect_certificate(pem.as_bytes(), None, now())
                .unwrap()
                .status,
            CertStatus::Foreign
        );
    }

    #[test]
    fn names_each_key_algorithm() {
        let ca = HostCa::generate(&CaOptions::new("c".parse().unwrap()), now()).unwrap();
        for (algo, name) in [
            (KeyAlgorithm::EcdsaP384, "ecdsa-p384"),
            (KeyAlgorithm::Ed25519, "ed25519"),
            (KeyAlgorithm::Rsa2048, "rsa2048"),
        ] {
            let pem = bundle_pem(&ca, Some(algo));
            assert_eq!(
                inspect_certificate(pem.as_bytes(), Some(&ca), now())
                    .unwrap()
                    .key_algorithm,
                name
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(
            inspect_certificate(b"hello", None, now())
                .unwrap_err()
                .to_string()
                .contains("no CERTIFICATE block")
        );
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(inspect_certificate(bad.as_bytes(), None, now()).is_err());
    }
}

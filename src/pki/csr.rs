//! Certificate signing requests from Redis hosts that keep their own keys.
//!
//! Only what a CSR may decide is taken from it: the public key (after its signature is
//! verified) and the subject alternative names, each checked as `--host` would be. Every other
//! requested extension, CA:TRUE above all, is ignored: rctl decides what it signs.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{Error, Invalid, Result};
use crate::pki::hosts::Host;

/// What rctl takes from a CSR.
#[derive(Debug)]
pub(crate) struct CsrRequest {
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// An RSA key (so the certificate gets keyEncipherment).
    pub rsa: bool,
    /// The SANs as hosts.
    pub hosts: Vec<Host>,
}

fn bad(reason: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Invalid::Csr {
        problem: reason.into(),
    }
    .into()
}

/// Parses a PEM CSR, verifies its signature, and takes its key and SANs.
pub(crate) fn parse_csr(pem: &str) -> Result<CsrRequest> {
    let (request, _) = parse_any_csr(pem)?;
    if request.hosts.is_empty() {
        return Err(bad(
            "it has no subject alternative names; add the Redis host names and addresses (openssl req -addext subjectAltName=...)",
        ));
    }
    Ok(request)
}

/// The subject of a CSR: its common name and organizational unit, when it has them.
#[derive(Debug, Default)]
pub(crate) struct CsrSubject {
    pub common_name: Option<String>,
    pub unit: Option<String>,
}

/// [`parse_csr`] for a CSR that may name no host (a client's, a proof of possession), with
/// its subject.
pub(crate) fn parse_any_csr(pem: &str) -> Result<(CsrRequest, CsrSubject)> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                bad("no CERTIFICATE REQUEST block in the file")
            }
            other => bad(format!("not PEM ({other})")),
        })?;
    let (rest, csr) =
        X509CertificationRequest::from_der(der.as_ref()).map_err(|e| bad(e.to_string()))?;
    if !rest.is_empty() {
        return Err(bad("trailing data after the request"));
    }
    check_key(&csr.certification_request_info.subject_pki)?;
    csr.verify_signature().map_err(|_| {
        bad("its signature does not verify (the request was altered or is not signed by its key)")
    })?;
    let info = &csr.certification_request_info;
    let mut hosts: Vec<Host> = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                let host = match name {
                    GeneralName::DNSName(d) => Host::parse(d)?,
                    GeneralName::IPAddress(bytes) => ip_host(bytes)?,
                    other => {
                        return Err(bad(format!("unsupported subject alternative name {other}")));
                    }
                };
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
    }
    let algorithm = &info.subject_pki.algorithm.algorithm;
    let rsa = *algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    let text = |attr: Option<&x509_parser::x509::AttributeTypeAndValue>| {
        attr.and_then(|a| a.as_str().ok()).map(str::to_string)
    };
    let subject = CsrSubject {
        common_name: text(info.subject.iter_common_name().next()),
        unit: text(info.subject.iter_organizational_unit().next()),
    };
    let request = CsrRequest {
        spki_der: info.subject_pki.raw.to_vec(),
        rsa,
        hosts,
    };
    Ok((request, subject))
}

/// A CSR (PEM) signed by `key`, for `hosts` (none for a client or a proof), with a subject of
/// `common_name` and `unit` when given: what a node sends the signer.
pub(crate) fn make_csr(
    key: &rcgen::KeyPair,
    hosts: &[Host],
    common_name: Option<&str>,
    unit: Option<&str>,
) -> Result<String> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = common_name {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    if let Some(ou) = unit {
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, ou);
    }
    if !hosts.is_empty() {
        params.subject_alt_names = crate::pki::leaf::server_names(hosts)?.1;
    }
    Ok(params.serialize_request(key)?.pem()?)
}

/// Refuses, by name, a key rctl does not sign (before the signature check, whose error would
/// otherwise blame the request for an algorithm nobody here can verify).
fn check_key(spki: &x509_parser::x509::SubjectPublicKeyInfo) -> Result<()> {
    use x509_parser::oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
        OID_SIG_ED25519,
    };
    use x509_parser::public_key::PublicKey;
    let algorithm = &spki.algorithm.algorithm;
    let unsupported = |what: String| {
        Err(bad(format!(
            "its key is {what}, which rctl does not sign (RSA of 2048 bits or more, ECDSA P-256 or P-384, Ed25519)"
        )))
    };
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => return unsupported("an RSA key that cannot be read".to_string()),
        };
        if bits < 2048 {
            return unsupported(format!("RSA of {bits} bits"));
        }
        return Ok(());
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 || c == OID_NIST_EC_P384 => Ok(()),
            Some(c) => unsupported(format!("ECDSA on curve {}", oid_name(&c))),
            None => unsupported("ECDSA on an unnamed curve".to_string()),
        };
    }
    if *algorithm == OID_SIG_ED25519 {
        return Ok(());
    }
    unsupported(oid_name(algorithm))
}

fn oid_name(oid: &x509_parser::oid_registry::Oid) -> String {
    let dotted = oid.to_id_string();
    let known = match dotted.as_str() {
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.35" => "P-521",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        _ => "",
    };
    if known.is_empty() {
        dotted
    } else {
        format!("{known} ({dotted})")
    }
}

fn ip_host(bytes: &[u8]) -> Result<Host> {
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).map_err(|_| bad("bad IP"))?),
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).map_err(|_| bad("bad IP"))?),
        n => return Err(bad(format!("an IP address SAN of {n} bytes"))),
    };
    Ok(Host::Ip(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, IsCa, KeyPair};

    fn csr_pem(params: &CertificateParams, key: &KeyPair) -> String {
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    #[test]
    fn takes_the_key_and_sans_only() {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["Redis.Example.com".into(), "10.0.0.5".into()]).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let req = parse_csr(&csr_pem(&params, &key)).unwrap();
        assert_eq!(
            req.hosts,
            vec![
                Host::Dns("redis.example.com".into()),
                Host::Ip("10.0.0.5".parse().unwrap())
            ]
        );
        use rcgen::PublicKeyData;
        assert_eq!(req.spki_der, key.subject_public_key_info());
        assert!(!req.rsa);
    }

    #[test]
    fn refuses_tampered_empty_and_bad_requests() {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["a.example".into()]).unwrap();
        let pem = csr_pem(&params, &key);
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        // Flip a byte inside the signed part (the SAN's name): the signature no longer verifies.
        let mut tampered = der.clone();
        let at = tampered.windows(9).position(|w| w == b"a.example").unwrap();
        tampered[at] = b'b';
        let tampered_pem = ::pem::encode(&::pem::Pem::new("CERTIFICATE REQUEST", tampered));
        assert!(
            parse_csr(&tampered_pem)
                .unwrap_err()
                .to_string()
                .contains("signature does not verify")
        );

        let no_sans = CertificateParams::new(Vec::<String>::new()).unwrap();
        assert!(
            parse_csr(&csr_pem(&no_sans, &key))
                .unwrap_err()
                .to_string()
                .contains("no subject alternative names")
        );

        let bad_host = CertificateParams::new(vec!["bad_host..example".into()]).unwrap();
        assert!(
            parse_csr(&csr_pem(&bad_host, &key))
                .unwrap_err()
                .to_string()
                .contains("invalid host")
        );

        assert!(parse_csr("garbage").is_err());
        assert!(
            parse_csr(&key.serialize_pem())
                .unwrap_err()
                .to_string()
                .contains("no CERTIFICATE REQUEST block")
        );
    }
}

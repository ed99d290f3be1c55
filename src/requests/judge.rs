//! The signer's checks of a request, before any registration is looked at for what to sign:
//! its age, its CSR, and the proof of possession a renewal needs.

use time::OffsetDateTime;

use crate::error::{Invalid, Result};
use crate::pki::csr::CsrRequest;
use crate::pki::hosts::Host;

use super::record::{Issued, SigningRequest};

/// What a proof of possession names (hex): the SHA-256 of the CSR's DER, followed by the login
/// key when the request carries one.
pub fn csr_digest(csr_pem: &str, login_key: Option<&str>) -> Result<String> {
    use rustls_pki_types::pem::PemObject;
    use sha2::Digest;
    let der = rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|e| Invalid::Csr {
            problem: e.to_string().into(),
        })?;
    let mut digest = sha2::Sha256::new();
    digest.update(der.as_ref());
    if let Some(key) = login_key {
        digest.update(b"\nlogin-key:");
        digest.update(key.as_bytes());
    }
    Ok(hex::encode(digest.finalize()))
}

/// Checks `request` against what is on record and the registration's names (`hosts`, a
/// server's; `None` for a client output, whose CSR names none): made within
/// [`super::MAX_AGE`], its CSR signed by its key, its names exactly the registration's, and,
/// while the certificate on record is live, a proof made with that certificate's key. Gives
/// the key to sign, or why not.
pub(crate) fn check_request(
    request: &SigningRequest,
    on_record: Option<&Issued>,
    hosts: Option<&[Host]>,
    now: OffsetDateTime,
) -> std::result::Result<CsrRequest, String> {
    let age = now - request.created;
    if age > super::MAX_AGE {
        return Err(format!(
            "made at {}, more than {} ago (a replay of an old request?)",
            rfc3339(request.created),
            crate::duration::format_std(super::MAX_AGE)
        ));
    }
    if age < -time::Duration::minutes(5) {
        return Err(format!(
            "made at {}, in the future",
            rfc3339(request.created)
        ));
    }
    let (csr, _) = crate::pki::csr::parse_any_csr(&request.csr).map_err(|e| e.to_string())?;
    let set = |hosts: &[Host]| {
        let mut names: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        names.sort_unstable();
        names.dedup();
        names
    };
    match hosts {
        Some(registered) if set(registered) != set(&csr.hosts) => {
            return Err(format!(
                "its CSR names {}, not the registered {}",
                shown(&set(&csr.hosts)),
                shown(&set(registered))
            ));
        }
        None if !csr.hosts.is_empty() => {
            return Err("a client output's CSR names no host".to_string());
        }
        _ => {}
    }
    let key_pin = crate::pki::keys::spki_pin(&csr.spki_der);
    let Some(issued) = on_record.filter(|i| i.not_after > now) else {
        // A first issue, or a certificate that lapsed: nothing to prove.
        return Ok(csr);
    };
    if key_pin == issued.key_pin {
        return Err(
            "its key is the key of the certificate on record; a renewal needs a new key"
                .to_string(),
        );
    }
    let Some(proof) = &request.proof else {
        return Err(format!(
            "no proof of possession: the certificate on record (serial {}) is valid until {}, and only the holder of its key may renew it",
            issued.serial,
            rfc3339(issued.not_after)
        ));
    };
    let (proved, subject) = crate::pki::csr::parse_any_csr(proof)
        .map_err(|e| format!("its proof of possession: {e}"))?;
    if crate::pki::keys::spki_pin(&proved.spki_der) != issued.key_pin {
        return Err(format!(
            "its proof of possession is made with another key than the certificate on record's (serial {})",
            issued.serial
        ));
    }
    let digest =
        csr_digest(&request.csr, request.login_key.as_deref()).map_err(|e| e.to_string())?;
    if subject.common_name.as_deref() != Some(request.id.as_str())
        || subject.unit.as_deref() != Some(digest.as_str())
    {
        return Err("its proof of possession is for another request".to_string());
    }
    Ok(csr)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn shown(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::hosts::parse_host_list;
    use crate::pki::keys::{KeyAlgorithm, PrivateKey};
    use crate::requests::node::NodeRequest;
    use crate::requests::record::RequestFor;

    fn request(key: Option<&str>, hosts: &str) -> SigningRequest {
        let now = OffsetDateTime::now_utc();
        NodeRequest::new(
            crate::requests::node::Asked {
                subject: RequestFor::Server("r1".parse().unwrap()),
                node: &"n1".parse().unwrap(),
                algorithm: KeyAlgorithm::EcdsaP256,
                hosts: &parse_host_list(hosts).unwrap(),
            },
            key,
            false,
            now,
        )
        .unwrap()
        .request
    }

    fn on_record(key: &PrivateKey, left: time::Duration) -> Issued {
        let now = OffsetDateTime::now_utc();
        Issued {
            serial: "01".to_string(),
            key_pin: crate::pki::keys::spki_pin(&key.public_key_der()),
            signed_by: String::new(),
            not_before: now - time::Duration::hours(1),
            not_after: now + left,
            trusts: Vec::new(),
        }
    }

    #[test]
    fn a_first_issue_needs_the_registered_names_and_no_proof() {
        let hosts = parse_host_list("127.0.0.1,redis-1").unwrap();
        let now = OffsetDateTime::now_utc();
        let fresh = request(None, "redis-1,127.0.0.1");
        assert!(check_request(&fresh, None, Some(&hosts), now).is_ok());
        let other = request(None, "redis-2");
        let why = check_request(&other, None, Some(&hosts), now).unwrap_err();
        assert!(
            why.starts_with("its CSR names redis-2, not the registered"),
            "{why}"
        );
        let mut stale = request(None, "redis-1,127.0.0.1");
        stale.created = now - time::Duration::minutes(16);
        let why = check_request(&stale, None, Some(&hosts), now).unwrap_err();
        assert!(why.contains("more than 15m"), "{why}");
        // A client output's CSR names no host.
        assert!(check_request(&fresh, None, None, now).is_err());
    }

    #[test]
    fn a_renewal_of_a_live_certificate_proves_its_key() {
        let hosts = parse_host_list("127.0.0.1").unwrap();
        let now = OffsetDateTime::now_utc();
        let current = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = current.to_pem().unwrap();
        let live = on_record(&current, time::Duration::hours(1));
        let proved = request(Some(&pem), "127.0.0.1");
        assert!(check_request(&proved, Some(&live), Some(&hosts), now).is_ok());
        let unproved = request(None, "127.0.0.1");
        let why = check_request(&unproved, Some(&live), Some(&hosts), now).unwrap_err();
        assert!(why.starts_with("no proof of possession"), "{why}");
        let stranger = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let wrong = request(Some(&stranger.to_pem().unwrap()), "127.0.0.1");
        let why = check_request(&wrong, Some(&live), Some(&hosts), now).unwrap_err();
        assert!(why.contains("another key"), "{why}");
        // A proof bound to another request does not carry over.
        let mut moved = request(Some(&pem), "127.0.0.1");
        moved.csr = request(None, "127.0.0.1").csr;
        let why = check_request(&moved, Some(&live), Some(&hosts), now).unwrap_err();
        assert_eq!(why, "its proof of possession is for another request");
        // So does a login key put into a request after its proof was made.
        let mut swapped = request(Some(&pem), "127.0.0.1");
        swapped.login_key = Some("AAAA".to_string());
        let why = check_request(&swapped, Some(&live), Some(&hosts), now).unwrap_err();
        assert_eq!(why, "its proof of possession is for another request");
        // A lapsed certificate is no anchor: nothing to prove.
        let lapsed = on_record(&current, -time::Duration::minutes(1));
        assert!(check_request(&unproved, Some(&lapsed), Some(&hosts), now).is_ok());
    }
}

//! Leaf certificates from the host CA's active key: a Redis server's (from its host names, or
//! from a CSR whose key stays on the server), a person's or an application's client
//! certificate, and rctl's own short-lived admin certificate. Each comes back as a
//! [`RedisBundle`] with the CA certificates to trust.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::duration::Ttl;
use crate::error::{Error, Invalid, Result};
use crate::pki::bundle::{CertKind, IssuedCert, RedisBundle};
use crate::pki::ca::{CaKey, HostCa, random_serial};
use crate::pki::hosts::Host;
use crate::pki::keys::{KeyAlgorithm, PrivateKey};

/// Default lifetime of a certificate, as `tctl auth sign`.
pub const DEFAULT_CERT_TTL: Ttl = Ttl::from_hours(12);

/// A request for a Redis server certificate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerCertRequest {
    /// DNS names and addresses, the certificate's SANs (it has no subject CN: see
    /// `server_names`). At least one.
    pub hosts: Vec<Host>,
    /// Lifetime; [`DEFAULT_CERT_TTL`] when `None` (see [`leaf_ttl`]).
    pub ttl: Option<Ttl>,
    /// Key algorithm of the new key; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
}

impl ServerCertRequest {
    /// With a lifetime.
    pub fn with_ttl(mut self, ttl: Ttl) -> ServerCertRequest {
        self.ttl = Some(ttl);
        self
    }

    /// With a key algorithm other than the CA's.
    pub fn with_key_algorithm(mut self, algorithm: KeyAlgorithm) -> ServerCertRequest {
        self.key_algorithm = Some(algorithm);
        self
    }

    /// For these hosts, with the default lifetime ([`DEFAULT_CERT_TTL`], as `tctl auth sign`)
    /// and the CA's key algorithm.
    pub fn new(hosts: Vec<Host>) -> ServerCertRequest {
        ServerCertRequest {
            hosts,
            ttl: None,
            key_algorithm: None,
        }
    }
}

/// A request for a person's client certificate. Access checks are the caller's
/// ([`StateDir::sign`](crate::state::StateDir::sign) does them).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientCertRequest {
    /// The rctl user, written as the subject's OU.
    pub user: String,
    /// The Redis user, written as the subject's CN (for `tls-auth-clients-user CN`).
    pub db_user: String,
    /// Lifetime; [`DEFAULT_CERT_TTL`] when `None` (see [`leaf_ttl`]).
    pub ttl: Option<Ttl>,
    /// Key algorithm of the new key; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
}

pub(crate) fn server_names(hosts: &[Host]) -> Result<(DistinguishedName, Vec<SanType>)> {
    if hosts.is_empty() {
        return Err(Invalid::NoHost.into());
    }
    // No subject at all, the names in the SANs only (what TLS clients check; rcgen then marks
    // the SAN extension critical, as RFC 5280 asks). A server certificate also carries
    // clientAuth (replication, the cluster bus), and a server with certificate login
    // (`tls-auth-clients-user CN`) logs a client in as its certificate's CN: a CN taken from a
    // host name would make `--host=alice` a password-free login as alice.
    let dn = DistinguishedName::new();
    let sans = hosts
        .iter()
        .map(|h| {
            Ok(match h {
                Host::Ip(ip) => SanType::IpAddress(*ip),
                Host::Dns(name) => {
                    SanType::DnsName(name.clone().try_into().map_err(|e: rcgen::Error| {
                        Error::crypto_by("the request's public key", e)
                    })?)
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((dn, sans))
}

/// A person's client certificate subject: the account as CN, the rctl user as OU, the cluster
/// as O.
fn client_subject(req: &ClientCertRequest, cluster_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, req.db_user.as_str());
    dn.push(DnType::OrganizationalUnitName, req.user.as_str());
    dn.push(DnType::OrganizationName, cluster_name);
    dn
}

/// A public key to sign, from its DER SubjectPublicKeyInfo.
fn public_key(spki_der: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo> {
    rcgen::SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| {
        Error::from(Invalid::RequestKey {
            what: "public key",
            problem: format!("is not supported: {e}").into(),
        })
    })
}

pub(crate) fn dn_label(ty: &DnType) -> &'static str {
    match ty {
        DnType::CommonName => "CN",
        DnType::OrganizationName => "O",
        DnType::OrganizationalUnitName => "OU",
        _ => "?",
    }
}

pub(crate) fn dn_text(value: &rcgen::DnValue) -> String {
    match value {
        rcgen::DnValue::Utf8String(s) => s.clone(),
        rcgen::DnValue::PrintableString(s) => s.as_str().to_string(),
        other => format!("{other:?}"),
    }
}

/// The lifetime a leaf certificate is signed with: the one asked for, else
/// [`DEFAULT_CERT_TTL`], within `cap` (a role's `max_session_ttl`, with the role's name): one
/// asked for above the cap is refused, and the default is lowered to it. Every leaf's lifetime
/// is chosen here, once (as Teleport's `CheckAndSetDefaults` chooses a request's).
pub fn leaf_ttl(asked: Option<Ttl>, cap: Option<(Ttl, &str)>) -> Result<Ttl> {
    match (asked, cap) {
        (Some(ttl), Some((cap, role))) if ttl > cap => Err(Error::TtlNotAllowed {
            ttl: ttl.to_string(),
            cap: cap.to_string(),
            role: role.to_string(),
        }),
        (Some(ttl), _) => Ok(ttl),
        (None, Some((cap, _))) => Ok(cap.min(DEFAULT_CERT_TTL)),
        (None, None) => Ok(DEFAULT_CERT_TTL),
    }
}

/// Refuses a lifetime that is not whole seconds or would outlive `signer`'s certificate.
fn check_ttl_for(signer: &CaKey, ttl: Ttl, now: OffsetDateTime) -> Result<()> {
    ttl.check_whole_seconds()?;
    if now + ttl.as_time() > signer.not_after() {
        return Err(Error::TtlOutlivesCa {
            ttl: ttl.to_string(),
            ca_not_after: signer.not_after().date().to_string(),
        });
    }
    Ok(())
}

/// Signing: Redis server and client certificates with the active key.
impl HostCa {
    /// Signs a Redis server bundle with the active key.
    pub fn sign_redis_server(
        &self,
        req: &ServerCertRequest,
        now: OffsetDateTime,
    ) -> Result<RedisBundle> {
        let (dn, sans) = server_names(&req.hosts)?;
        let key = PrivateKey::generate(req.key_algorithm.unwrap_or(self.active().algorithm()))?;
        let rsa = key.algorithm().is_rsa();
        let (pem, mut issued) = self.sign_leaf(
            self.active(),
            key.pair(),
            rsa,
            dn,
            sans,
            CertKind::Server,
            leaf_ttl(req.ttl, None)?,
            now,
        )?;
        issued.sans = req.hosts.iter().map(ToString::to_string).collect();
        self.bundle(pem, Some(&key), issued)
    }

    /// Signs a Redis server certificate for a CSR (PEM) whose key stays on the Redis host. The
    /// CSR's signature is verified; only its subject alternative names are taken, each checked
    /// as `--host` would be; nothing else (CA:TRUE, key usages, other extensions) is copied.
    /// `ttl` is [`DEFAULT_CERT_TTL`] when `None`.
    pub fn sign_redis_csr(
        &self,
        csr_pem: &str,
        ttl: Option<Ttl>,
        now: OffsetDateTime,
    ) -> Result<RedisBundle> {
        let ttl = leaf_ttl(ttl, None)?;
        let request = crate::pki::csr::parse_csr(csr_pem)?;
        self.sign_server_for_key(&request.hosts, &request.spki_der, request.rsa, ttl, now)
    }

    /// Signs a Redis server certificate for `hosts` and a public key (DER
    /// SubjectPublicKeyInfo) whose private key stays on its host.
    pub(crate) fn sign_server_for_key(
        &self,
        hosts: &[Host],
        spki_der: &[u8],
        rsa: bool,
        ttl: Ttl,
        now: OffsetDateTime,
    ) -> Result<RedisBundle> {
        let (dn, sans) = server_names(hosts)?;
        let spki = public_key(spki_der)?;
        let (pem, mut issued) = self.sign_leaf(
            self.active(),
            &spki,
            rsa,
            dn,
            sans,
            CertKind::Server,
            ttl,
            now,
        )?;
        issued.sans = hosts.iter().map(ToString::to_string).collect();
        self.bundle(pem, None, issued)
    }

    /// Signs a client certificate as [`sign_redis_client`](Self::sign_redis_client) does, for
    /// a public key (DER SubjectPublicKeyInfo) whose private key stays on its host.
    pub(crate) fn sign_client_for_key(
        &self,
        req: &ClientCertRequest,
        spki_der: &[u8],
        rsa: bool,
        now: OffsetDateTime,
    ) -> Result<RedisBundle> {
        let spki = public_key(spki_der)?;
        let (pem, issued) = self.sign_leaf(
            self.active(),
            &spki,
            rsa,
            client_subject(req, self.cluster_name()),
            Vec::new(),
            CertKind::Client,
            leaf_ttl(req.ttl, None)?,
            now,
        )?;
        self.bundle(pem, None, issued)
    }

    /// Signs a client certificate for a person with the active key.
    pub fn sign_redis_client(
        &self,
        req: &ClientCertRequest,
        now: OffsetDateTime,
    ) -> Result<RedisBundle> {
        let dn = client_subject(req, self.cluster_name());
        let key = PrivateKey::generate(req.key_algorithm.unwrap_or(self.active().algorithm()))?;
        let rsa = key.algorithm().is_rsa();
        let (pem, issued) = self.sign_leaf(
            self.active(),
            key.pair(),
            rsa,
            dn,
            Vec::new(),
            CertKind::Client,
            leaf_ttl(req.ttl, None)?,
            now,
        )?;
        self.bundle(pem, Some(&key), issued)
    }

    /// Refuses a lifetime that would outlive the signing CA certificate.
    pub fn check_ttl(&self, ttl: Ttl, now: OffsetDateTime) -> Result<()> {
        check_ttl_for(self.active(), ttl, now)
    }

    /// rctl's own short-lived client certificate (`CN=rctl-admin`), signed by `signer`, one of
    /// this CA's trusted keys: what rctl presents to a registered server. Never written.
    pub(crate) fn sign_admin_client(
        &self,
        signer: &CaKey,
        ttl: Ttl,
        now: OffsetDateTime,
    ) -> Result<(String, Zeroizing<String>)> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, crate::accounts::admin::ADMIN_ACCOUNT);
        dn.push(DnType::OrganizationalUnitName, "rctl");
        dn.push(DnType::OrganizationName, self.cluster_name());
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
        let (pem, _) = self.sign_leaf(
            signer,
            key.pair(),
            false,
            dn,
            Vec::new(),
            CertKind::Client,
            ttl,
            now,
        )?;
        Ok((pem, key.to_pem()?))
    }

    /// A leaf certificate for `public_key`, signed by `signer` (the active key but for rctl's
    /// own client certificates), within the signer's lifetime.
    #[allow(clippy::too_many_arguments)]
    fn sign_leaf(
        &self,
        signer: &CaKey,
        public_key: &impl rcgen::PublicKeyData,
        rsa: bool,
        dn: DistinguishedName,
        sans: Vec<SanType>,
        kind: CertKind,
        ttl: Ttl,
        now: OffsetDateTime,
    ) -> Result<(String, IssuedCert)> {
        check_ttl_for(signer, ttl, now)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if rsa {
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.extended_key_usages = match kind {
            CertKind::Server => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            CertKind::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        let serial = random_serial();
        params.serial_number = Some(serial.clone());
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + ttl.as_time();
        params.use_authority_key_identifier_extension = true;

        let cert = params.signed_by(public_key, signer.issuer()?)?;
        let subject = params
            .distinguished_name
            .iter()
            .map(|(ty, value)| format!("{}={}", dn_label(ty), dn_text(value)))
            .collect::<Vec<_>>()
            .join(", ");
        Ok((
            cert.pem(),
            IssuedCert {
                kind,
                serial: hex::encode(serial.to_bytes()),
                subject,
                sans: Vec::new(),
                not_before: params.not_before,
                not_after: params.not_after,
            },
        ))
    }

    fn bundle(
        &self,
        certificate_pem: String,
        key: Option<&PrivateKey>,
        issued: IssuedCert,
    ) -> Result<RedisBundle> {
        Ok(RedisBundle::new(
            certificate_pem,
            key.map(PrivateKey::to_pem).transpose()?,
            self.trusted_pem(),
            issued,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pki::ca::{CaOptions, HostCa};
    use crate::pki::hosts::parse_host_list;
    use rustls_pki_types::CertificateDer;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    pub(crate) fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    pub(crate) fn server(ca: &HostCa, hosts: &str, ttl: &str) -> Result<RedisBundle> {
        let req = ServerCertRequest {
            hosts: parse_host_list(hosts).unwrap(),
            ttl: Some(ttl.parse().unwrap()),
            key_algorithm: None,
        };
        ca.sign_redis_server(&req, now())
    }

    fn der_of(pem: &str) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn server_certificate_fields() {
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let bundle = server(&ca, "redis.example.com,10.0.0.5,::1", "2190h").unwrap();
        let der = der_of(bundle.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        // No subject, so never a certificate login; the SANs then are critical (RFC 5280).
        assert_eq!(cert.subject().iter().count(), 0);
        let san = cert
            .extensions()
            .iter()
            .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME)
            .unwrap();
        assert!(san.critical);
        assert_eq!(cert.issuer().to_string(), "CN=example, O=example");
        let validity = cert.validity();
        assert_eq!(
            validity.not_before.to_datetime(),
            now() - time::Duration::minutes(1)
        );
        assert_eq!(
            validity.not_after.to_datetime(),
            now() + time::Duration::hours(2190)
        );
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        let mut ekus = None;
        let mut ski = None;
        let mut aki = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => dns.push(d.to_string()),
                            GeneralName::IPAddress(ip) => ips.push(ip.len()),
                            _ => panic!("unexpected SAN"),
                        }
                    }
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    ekus = Some((eku.server_auth, eku.client_auth))
                }
                ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(k) => {
                    aki = k.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }
        assert_eq!(dns, ["redis.example.com"]);
        assert_eq!(ips, [4, 16]);
        assert_eq!(ekus, Some((true, true)));
        assert!(ski.is_some());
        let (_, ca_cert) =
            x509_parser::parse_x509_certificate(ca.active().certificate_der()).unwrap();
        let ca_ski = ca_cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        assert_eq!(aki, ca_ski, "AKI of the leaf is the SKI of the CA");
        assert!(!cert.is_ca());
        assert!(cert.raw_serial().len() >= 8 && cert.raw_serial()[0] & 0x80 == 0);
        assert_eq!(bundle.issued().serial, hex::encode(cert.raw_serial()));
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    }

    #[test]
    fn cas_lists_every_trusted_key_active_first_in_each_phase() {
        use crate::pki::rotation::Phase;
        let mut ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let pem_of =
            |ca: &HostCa, i: usize| ca.trusted().nth(i).unwrap().certificate_pem().to_string();
        let old = pem_of(&ca, 0);
        assert_eq!(server(&ca, "a", "1h").unwrap().ca_pem(), old);
        ca.rotate(Phase::Init, now()).unwrap();
        let new = pem_of(&ca, 1);
        let expected = [
            (Phase::Init, format!("{old}{new}")),
            (Phase::UpdateClients, format!("{new}{old}")),
            (Phase::UpdateServers, format!("{new}{old}")),
            (Phase::Standby, new.clone()),
        ];
        for (i, (phase, cas)) in expected.iter().enumerate() {
            if i > 0 {
                ca.rotate(*phase, now()).unwrap();
            }
            let bundle = server(&ca, "a", "1h").unwrap();
            assert_eq!(bundle.ca_pem(), cas, "{phase}");
            // The leaf is signed by the first certificate of the .cas.
            let leaf = der_of(bundle.certificate_pem());
            let (_, leaf) = x509_parser::parse_x509_certificate(&leaf).unwrap();
            let signer = der_of(cas);
            let (_, signer) = x509_parser::parse_x509_certificate(&signer).unwrap();
            leaf.verify_signature(Some(signer.public_key())).unwrap();
        }
    }

    #[test]
    fn serials_are_random() {
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let a = server(&ca, "a", "1h").unwrap();
        let b = server(&ca, "a", "1h").unwrap();
        assert_ne!(a.issued().serial, b.issued().serial);
    }

    #[test]
    fn ttl_past_the_ca_is_refused() {
        let mut options = CaOptions::new("example".parse().unwrap());
        options.ttl = "100h".parse().unwrap();
        let ca = HostCa::generate(&options, now()).unwrap();
        assert!(server(&ca, "a", "99h").is_ok());
        let err = server(&ca, "a", "101h").unwrap_err().to_string();
        assert!(err.contains("outlive the host CA"), "{err}");
    }

    #[test]
    fn rsa_leaf_has_key_encipherment() {
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let req = ServerCertRequest {
            hosts: parse_host_list("a").unwrap(),
            ttl: Some("1h".parse().unwrap()),
            key_algorithm: Some(KeyAlgorithm::Rsa2048),
        };
        let bundle = ca.sign_redis_server(&req, now()).unwrap();
        let der = der_of(bundle.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment());
    }

    #[test]
    fn client_certificate_names_the_db_user_and_the_person() {
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let req = ClientCertRequest {
            user: "alice".into(),
            db_user: "app".into(),
            ttl: Some("1h".parse().unwrap()),
            key_algorithm: None,
        };
        let bundle = ca.sign_redis_client(&req, now()).unwrap();
        let der = der_of(bundle.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=app, OU=alice, O=example");
        assert_eq!(bundle.issued().subject, "CN=app, OU=alice, O=example");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }
}

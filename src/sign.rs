//! Certificates signed by the host CA, and the `--format=redis` bundle: `PREFIX.crt`,
//! `PREFIX.key` and `PREFIX.cas`, for redis.conf's `tls-cert-file`, `tls-key-file` and
//! `tls-ca-cert-file`.

use std::ffi::OsString;
use std::fmt;

use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType, SanType};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::duration::Ttl;
use crate::error::{Error, Result};
use crate::fileset::FileSet;
use crate::hosts::Host;
use crate::keys::KeyAlgorithm;
use crate::store::Visibility;

/// Default lifetime of a certificate, as `tctl auth sign`.
pub const DEFAULT_CERT_TTL: Ttl = Ttl::from_hours(12);

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertKind {
    /// A Redis server (serverAuth and clientAuth, for replication and the cluster bus).
    Server,
    /// A person's client certificate (clientAuth only).
    Client,
}

/// The public facts of an issued certificate, for output and the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCert {
    /// Server or client.
    pub kind: CertKind,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject, as `CN=..., O=...`.
    pub subject: String,
    /// Subject alternative names, as given.
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// A signed certificate, its private key (none when signed from a CSR), and the CA
/// certificates to trust.
///
/// ```
/// use rctl::{CaOptions, HostCa, RedisBundle, ServerCertRequest, parse_host_list};
/// # fn main() -> Result<(), rctl::Error> {
/// let now = time::OffsetDateTime::now_utc();
/// let ca = HostCa::generate(&CaOptions::new("dev".parse()?), now)?;
/// let req = ServerCertRequest::new(parse_host_list("localhost")?);
/// let bundle: RedisBundle = ca.sign_redis_server(&req, now)?;
/// assert_eq!(bundle.issued().sans, ["localhost"]);
/// let dir = tempfile::tempdir().unwrap();
/// let files = bundle.write(&dir.path().join("server"), false)?; // all three or none
/// assert_eq!(files.len(), 3);
/// assert!(bundle.write(&dir.path().join("server"), false).is_err()); // never clobbered
/// # Ok(()) }
/// ```
pub struct RedisBundle {
    certificate_pem: String,
    private_key_pem: Option<Zeroizing<String>>,
    ca_pem: String,
    issued: IssuedCert,
}

impl RedisBundle {
    pub(crate) fn new(
        certificate_pem: String,
        private_key_pem: Option<Zeroizing<String>>,
        ca_pem: String,
        issued: IssuedCert,
    ) -> RedisBundle {
        RedisBundle {
            certificate_pem,
            private_key_pem,
            ca_pem,
            issued,
        }
    }

    /// The leaf certificate, PEM (content of `PREFIX.crt`).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The private key, PKCS#8 PEM (content of `PREFIX.key`); `None` for a certificate signed
    /// from a CSR, whose key never left its host.
    pub fn private_key_pem(&self) -> Option<&str> {
        self.private_key_pem.as_deref().map(String::as_str)
    }

    /// Every trusted CA certificate, active first (content of `PREFIX.cas`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// What was issued.
    pub fn issued(&self) -> &IssuedCert {
        &self.issued
    }

    /// The three file names for a prefix: `.crt`, `.key`, `.cas`.
    pub fn paths(prefix: &Path) -> [PathBuf; 3] {
        let with = |ext: &str| {
            let mut s: OsString = prefix.as_os_str().to_owned();
            s.push(ext);
            PathBuf::from(s)
        };
        [with(".crt"), with(".key"), with(".cas")]
    }

    /// Writes `PREFIX.crt`, `PREFIX.key` (0600) and `PREFIX.cas`: all or none (no `.key` for
    /// a certificate signed from a CSR). Without `overwrite`, refuses when any of them exists.
    /// Returns the files written.
    pub fn write(&self, prefix: &Path, overwrite: bool) -> Result<Vec<PathBuf>> {
        self.write_owned(prefix, overwrite, None)
    }

    /// [`write`](Self::write), the files owned by `owner` (uid, gid) when given.
    pub(crate) fn write_owned(
        &self,
        prefix: &Path,
        overwrite: bool,
        owner: Option<(u32, u32)>,
    ) -> Result<Vec<PathBuf>> {
        let [crt, key, cas] = Self::paths(prefix);
        let mut paths = vec![crt];
        let mut contents = vec![(self.certificate_pem.as_bytes(), Visibility::Public)];
        if let Some(pem) = &self.private_key_pem {
            paths.push(key);
            contents.push((pem.as_bytes(), Visibility::Secret));
        }
        paths.push(cas);
        contents.push((self.ca_pem.as_bytes(), Visibility::Public));
        FileSet::new(&paths)
            .with_owner(owner)
            .write(&contents, overwrite)?;
        Ok(paths)
    }

    /// Refuses, before any work, what [`write`](Self::write) would refuse: an existing output
    /// (without `overwrite`), a missing folder, a directory in the way. The debris of a write
    /// that was killed half-way does not count as existing.
    pub fn check_outputs(prefix: &Path, overwrite: bool) -> Result<()> {
        Self::check_outputs_for(prefix, overwrite, true)
    }

    /// [`check_outputs`](Self::check_outputs) for a bundle with or without a key: signing a
    /// CSR writes no key, so a `PREFIX.key` beside it (the key the CSR was made with) is
    /// expected, not in the way.
    pub fn check_outputs_for(prefix: &Path, overwrite: bool, with_key: bool) -> Result<()> {
        let raw = prefix.as_os_str().as_encoded_bytes();
        if raw.is_empty() || raw.ends_with(b"/") || raw.ends_with(b"/.") || raw == b"." {
            return Err(Error::InvalidArgument(format!(
                "the output prefix {:?} names a folder; give a file prefix such as DIR/server",
                prefix.display()
            )));
        }
        let [crt, key, cas] = Self::paths(prefix);
        let paths = if with_key {
            vec![crt, key, cas]
        } else {
            vec![crt, cas]
        };
        FileSet::new(&paths).check(overwrite)
    }

    /// True when the PEM private key at `path` is the certificate's key (a CSR's key beside
    /// its certificate).
    pub fn key_file_matches(&self, path: &Path) -> bool {
        key_file_matches(&self.certificate_pem, path)
    }
}

/// True when the PEM private key at `path` is the key of the PEM certificate.
pub(crate) fn key_file_matches(certificate_pem: &str, path: &Path) -> bool {
    use rustls_pki_types::pem::PemObject;
    let Ok(pem) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(key) = rcgen::KeyPair::from_pem(&pem) else {
        return false;
    };
    let Ok(cert) = rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem.as_bytes())
    else {
        return false;
    };
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).is_ok_and(|(_, c)| {
        use rcgen::PublicKeyData;
        c.tbs_certificate.subject_pki.raw == key.subject_public_key_info()
    })
}

impl fmt::Debug for RedisBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBundle")
            .field("issued", &self.issued)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A request for a Redis server certificate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerCertRequest {
    /// DNS names and addresses; the first is the subject CN. At least one.
    pub hosts: Vec<Host>,
    /// Lifetime.
    pub ttl: Ttl,
    /// Key algorithm of the new key; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
}

impl ServerCertRequest {
    /// With a lifetime.
    pub fn with_ttl(mut self, ttl: Ttl) -> ServerCertRequest {
        self.ttl = ttl;
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
            ttl: DEFAULT_CERT_TTL,
            key_algorithm: None,
        }
    }
}

/// A request for a person's client certificate. Access checks are the caller's
/// ([`StateDir::sign_redis_client`](crate::StateDir::sign_redis_client) does them).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientCertRequest {
    /// The rctl user, written as the subject's OU.
    pub user: String,
    /// The Redis user, written as the subject's CN (for `tls-auth-clients-user CN`).
    pub db_user: String,
    /// Lifetime.
    pub ttl: Ttl,
    /// Key algorithm of the new key; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
}

pub(crate) fn server_names(hosts: &[Host]) -> Result<(DistinguishedName, Vec<SanType>)> {
    if hosts.is_empty() {
        return Err(Error::InvalidArgument(
            "at least one host is needed".to_string(),
        ));
    }
    let mut dn = DistinguishedName::new();
    // RFC 5280 caps a CN at 64 characters: the first host that fits, else no CN (the names
    // are in the SANs, which is what TLS clients check).
    if let Some(cn) = hosts
        .iter()
        .map(ToString::to_string)
        .find(|h| h.len() <= 64)
    {
        dn.push(DnType::CommonName, cn);
    }
    let sans = hosts
        .iter()
        .map(|h| {
            Ok(match h {
                Host::Ip(ip) => SanType::IpAddress(*ip),
                Host::Dns(name) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|e: rcgen::Error| Error::Crypto(e.to_string()))?,
                ),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((dn, sans))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CaOptions, HostCa};
    use crate::hosts::parse_host_list;
    use rustls_pki_types::CertificateDer;
    use std::fs;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    fn server(ca: &HostCa, hosts: &str, ttl: &str) -> Result<RedisBundle> {
        let req = ServerCertRequest {
            hosts: parse_host_list(hosts).unwrap(),
            ttl: ttl.parse().unwrap(),
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
        assert_eq!(cert.subject().to_string(), "CN=redis.example.com");
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
        use crate::rotation::Phase;
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
            ttl: "1h".parse().unwrap(),
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
            ttl: "1h".parse().unwrap(),
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

    #[test]
    fn writes_all_three_files_or_none() {
        use std::os::unix::fs::MetadataExt;
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("server");
        let bundle = server(&ca, "a", "1h").unwrap();
        let written = bundle.write(&prefix, false).unwrap();
        let [crt, key, cas] = [&written[0], &written[1], &written[2]];
        assert_eq!(fs::metadata(key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(cas).unwrap(), ca.trusted_pem());
        assert_eq!(fs::read_to_string(crt).unwrap(), bundle.certificate_pem());

        // A second write without overwrite: refused, files unchanged.
        let other = server(&ca, "b", "1h").unwrap();
        assert!(matches!(
            other.write(&prefix, false),
            Err(Error::OutputExists(_))
        ));
        assert_eq!(fs::read_to_string(crt).unwrap(), bundle.certificate_pem());
        other.write(&prefix, true).unwrap();
        assert_eq!(fs::read_to_string(crt).unwrap(), other.certificate_pem());

        // Only the .cas exists (say, left by hand): nothing new is written.
        let lone = dir.path().join("lone");
        fs::write(dir.path().join("lone.cas"), "x").unwrap();
        assert!(bundle.write(&lone, false).is_err());
        assert!(!dir.path().join("lone.crt").exists() && !dir.path().join("lone.key").exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4, "temp files left: {names:?}");
    }

    #[test]
    fn debug_output_hides_the_key() {
        let ca = HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap();
        let bundle = server(&ca, "a", "1h").unwrap();
        let body = bundle
            .private_key_pem()
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        assert!(!format!("{bundle:?}").contains(&body));
    }
}

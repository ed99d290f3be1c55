//! The host certificate authority's keyring: its keys and certificates, which key signs and
//! which are trusted, and the CA key's encryption at rest. What the active key signs is in
//! [`crate::pki::leaf`]; what a rotation does to the keyring, in [`crate::pki::rotation`]; its
//! state file, in the state layer.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::accounts::names::ClusterName;
use crate::duration::Ttl;
use crate::error::{Error, Result};
use crate::pki::keys::{KeyAlgorithm, PrivateKey, spki_pin};
use crate::pki::rotation::Rotation;

/// Default lifetime of a host CA certificate: 10 years.
pub const DEFAULT_CA_TTL: Ttl = Ttl::from_hours(87_600);

/// How to create a host CA.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CaOptions {
    /// Cluster name: subject CN and O of the CA.
    pub cluster_name: ClusterName,
    /// Key algorithm of the CA (and, by default, of the certificates it signs).
    pub algorithm: KeyAlgorithm,
    /// Lifetime of the CA certificate.
    pub ttl: Ttl,
    /// Keep its keys encrypted at rest (the state asks for the passphrase to write them).
    pub encrypt: bool,
}

impl CaOptions {
    /// Defaults for a cluster name: ECDSA P-256, 10 years.
    pub fn new(cluster_name: ClusterName) -> CaOptions {
        CaOptions {
            cluster_name,
            algorithm: KeyAlgorithm::default(),
            ttl: DEFAULT_CA_TTL,
            encrypt: false,
        }
    }
}

/// One CA key with its self-signed certificate. Read from an encrypted state, it is locked
/// (its certificate alone) until unlocked with the passphrase.
pub struct CaKey {
    /// The key with the subject, key identifier and key usages signing needs: read from the
    /// certificate once (rcgen's `Issuer::from_ca_cert_der`), not at every signature. `None`
    /// while the key is locked.
    issuer: Option<rcgen::Issuer<'static, PrivateKey>>,
    /// The key as the state keeps it encrypted (`ENCRYPTED PRIVATE KEY` PEM), when it was
    /// read so: written back as it was, with no passphrase needed.
    sealed: Option<String>,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl CaKey {
    pub(crate) fn generate(options: &CaOptions, now: OffsetDateTime) -> Result<CaKey> {
        let key = PrivateKey::generate(options.algorithm)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, options.cluster_name.as_str());
        dn.push(DnType::OrganizationName, options.cluster_name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        params.serial_number = Some(random_serial());
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + options.ttl.as_time();
        params.use_authority_key_identifier_extension = true;
        let cert = params.self_signed(key.pair())?;
        let spki = key.public_key_der();
        let issuer = rcgen::Issuer::from_ca_cert_der(cert.der(), key)?;
        Ok(CaKey {
            issuer: Some(issuer),
            sealed: None,
            algorithm: options.algorithm,
            spki,
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            not_before: params.not_before,
            not_after: params.not_after,
        })
    }

    /// A key from its PEM and its certificate's PEM, as the state keeps them: checked to
    /// belong together. The error is a reason; the caller names the file.
    pub(crate) fn from_parts(
        algorithm: KeyAlgorithm,
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> std::result::Result<CaKey, String> {
        let mut key = Self::locked(algorithm, certificate_pem, None)?;
        key.open(private_key_pem).map_err(|e| e.to_string())?;
        Ok(key)
    }

    /// A key kept encrypted (`ENCRYPTED PRIVATE KEY` PEM), with its certificate: locked.
    pub(crate) fn from_sealed(
        algorithm: KeyAlgorithm,
        certificate_pem: &str,
        sealed_pem: &str,
    ) -> std::result::Result<CaKey, String> {
        if !crate::pki::sealed::is_sealed(sealed_pem) {
            return Err("encrypted_private_key is not an ENCRYPTED PRIVATE KEY".to_string());
        }
        Self::locked(algorithm, certificate_pem, Some(sealed_pem.to_string()))
    }

    fn locked(
        algorithm: KeyAlgorithm,
        certificate_pem: &str,
        sealed: Option<String>,
    ) -> std::result::Result<CaKey, String> {
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(certificate_pem.as_bytes())
            .map(|d: rustls_pki_types::CertificateDer<'static>| d.to_vec())
            .map_err(|e| format!("certificate is not valid PEM: {e}"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("certificate does not parse: {e}"))?;
        Ok(CaKey {
            issuer: None,
            sealed,
            algorithm,
            spki: cert.public_key().raw.to_vec(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            cert_pem: certificate_pem.to_string(),
            cert_der: der,
        })
    }

    /// Takes the private key (PKCS#8 PEM) in, checked to be the certificate's.
    fn open(&mut self, private_key_pem: &str) -> Result<()> {
        let key = PrivateKey::from_pem(self.algorithm, private_key_pem)?;
        if key.public_key_der() != self.spki {
            return Err(Error::crypto(
                "the private key does not match the certificate",
            ));
        }
        let issuer = rcgen::Issuer::from_ca_cert_der(&self.cert_der.clone().into(), key)
            .map_err(|e| Error::crypto_by("the CA certificate cannot sign", e))?;
        self.issuer = Some(issuer);
        Ok(())
    }

    /// True while the key is encrypted and not unlocked.
    pub fn is_locked(&self) -> bool {
        self.issuer.is_none()
    }

    /// Decrypts a locked key with the passphrase; nothing to do for an open one.
    pub(crate) fn unlock(&mut self, passphrase: &crate::pki::sealed::Passphrase) -> Result<()> {
        let Some(sealed) = &self.sealed else {
            return Ok(());
        };
        if self.issuer.is_some() {
            return Ok(());
        }
        let pem = crate::pki::sealed::unseal(sealed, passphrase)?;
        self.open(&pem)
    }

    /// The key as it was read encrypted, if it was.
    pub(crate) fn sealed_pem(&self) -> Option<&str> {
        self.sealed.as_deref()
    }

    /// Forgets the encrypted form (the state is being decrypted, or sealed anew).
    pub(crate) fn forget_sealed(&mut self) {
        self.sealed = None;
    }

    /// The private key as PKCS#8 PEM (wiped when dropped), for the state file.
    pub(crate) fn private_key_pem(&self) -> Result<Zeroizing<String>> {
        self.issuer()?.key().to_pem()
    }

    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// When the CA certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// `sha256:<hex>` of the SubjectPublicKeyInfo, as Teleport's CA pin.
    pub fn pin(&self) -> String {
        spki_pin(&self.spki)
    }

    /// The issuer that signs with this key; refused while the key is locked.
    pub(crate) fn issuer(&self) -> Result<&rcgen::Issuer<'static, PrivateKey>> {
        self.issuer
            .as_ref()
            .ok_or(Error::CaPassphraseMissing { detail: "" })
    }
}

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaKey")
            .field("algorithm", &self.algorithm())
            .field("pin", &self.pin())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The host certificate authority: the key that signs, the keys that are trusted, the rotation.
///
/// Usable on its own, without a state directory:
///
/// ```
/// use rctl::{CaOptions, HostCa, KeyAlgorithm, Phase};
/// # fn main() -> Result<(), rctl::Error> {
/// let now = time::OffsetDateTime::now_utc();
/// let mut options = CaOptions::new("prod".parse()?);
/// options.algorithm = KeyAlgorithm::Ed25519;
/// let mut ca = HostCa::generate(&options, now)?;
/// ca.rotate(Phase::Init, now)?;
/// assert_eq!(ca.trusted().count(), 2); // the old key still signs, the new one is trusted
/// assert!(ca.rotate(Phase::Standby, now).is_err()); // init -> standby is not allowed
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HostCa {
    pub(crate) cluster_name: ClusterName,
    /// The key that signs.
    pub(crate) active: CaKey,
    /// Keys trusted besides it during a rotation.
    pub(crate) additional: Vec<CaKey>,
    pub(crate) rotation: Rotation,
    /// Its keys are kept encrypted at rest.
    pub(crate) encrypted: bool,
}

impl HostCa {
    /// Creates a new CA.
    pub fn generate(options: &CaOptions, now: OffsetDateTime) -> Result<HostCa> {
        options.ttl.check_whole_seconds()?;
        if options.ttl.as_std() < std::time::Duration::from_secs(3600) {
            return Err(Error::InvalidDuration {
                input: options.ttl.to_string(),
                reason: "a CA must be valid for at least 1h".to_string(),
            });
        }
        Ok(HostCa {
            cluster_name: options.cluster_name.clone(),
            active: CaKey::generate(options, now)?,
            additional: Vec::new(),
            rotation: Rotation::default(),
            encrypted: options.encrypt,
        })
    }

    /// True when its keys are kept encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// True when a key is encrypted and not unlocked: it cannot sign.
    pub fn is_locked(&self) -> bool {
        self.trusted().any(CaKey::is_locked)
    }

    /// Decrypts every locked key with the passphrase.
    pub(crate) fn unlock(&mut self, passphrase: &crate::pki::sealed::Passphrase) -> Result<()> {
        // Each key costs a KDF run: during a rotation the two run side by side.
        std::thread::scope(|scope| {
            let others: Vec<_> = self
                .additional
                .iter_mut()
                .map(|k| scope.spawn(|| k.unlock(passphrase)))
                .collect();
            let active = self.active.unlock(passphrase);
            others.into_iter().fold(active, |done, other| {
                let other = other
                    .join()
                    .unwrap_or_else(|_| Err(Error::crypto("a key decryption failed")));
                done.and(other)
            })
        })
    }

    /// Keeps the keys encrypted at rest from now on (`true`), or in clear (`false`; every key
    /// must be unlocked). The next save writes them so.
    pub(crate) fn set_encrypted(&mut self, encrypted: bool) -> Result<()> {
        if !encrypted && self.is_locked() {
            return Err(Error::CaPassphraseMissing { detail: "" });
        }
        self.encrypted = encrypted;
        self.active.forget_sealed();
        self.additional.iter_mut().for_each(CaKey::forget_sealed);
        Ok(())
    }

    /// The cluster name.
    pub fn cluster_name(&self) -> &str {
        self.cluster_name.as_str()
    }

    /// The key that signs now.
    pub fn active(&self) -> &CaKey {
        &self.active
    }

    /// Every trusted key, the active one first.
    pub fn trusted(&self) -> impl Iterator<Item = &CaKey> {
        std::iter::once(&self.active).chain(self.additional.iter())
    }

    /// Every trusted CA certificate as concatenated PEM, active first: the content of `.cas`.
    pub fn trusted_pem(&self) -> String {
        self.trusted().map(|k| k.cert_pem.as_str()).collect()
    }

    /// The rotation record.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// A CA from its parts as the state keeps them, checked to hold together (a rotation in
    /// progress has the other key, and only then). The error is a reason.
    pub(crate) fn assemble(
        cluster_name: ClusterName,
        active: CaKey,
        additional: Vec<CaKey>,
        rotation: Rotation,
        encrypted: bool,
    ) -> std::result::Result<HostCa, String> {
        rotation.validate().map_err(|e| format!("rotation: {e}"))?;
        if rotation.in_progress() == additional.is_empty() {
            return Err(format!(
                "rotation phase {} does not match {} additional trusted key(s)",
                rotation.phase,
                additional.len()
            ));
        }
        Ok(HostCa {
            cluster_name,
            active,
            additional,
            rotation,
            encrypted,
        })
    }
}

pub(crate) fn lifetime(key: &CaKey) -> Result<Ttl> {
    signed_lifetime(key.not_before, key.not_after)
}

/// The lifetime a certificate was signed with: rctl starts its validity a minute
/// before it signs.
pub(crate) fn signed_lifetime(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Ttl> {
    let span = not_after - not_before - time::Duration::minutes(1);
    let span = std::time::Duration::try_from(span)
        .map_err(|_| Error::crypto("the certificate's validity is empty"))?;
    Ttl::from_std(span)
}

/// A random positive serial of 127 bits (RFC 5280 asks for at most 20 octets, CAB forum at
/// least 64 bits of randomness). rcgen's own default derives it from the key: not used.
pub(crate) fn random_serial() -> rcgen::SerialNumber {
    use rand::Rng;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    // Positive and with a non-zero first octet, so DER needs no padding byte.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    rcgen::SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-06-01 12:00 UTC)
    }

    pub(crate) fn ca() -> HostCa {
        HostCa::generate(&CaOptions::new("example".parse().unwrap()), now()).unwrap()
    }

    pub(crate) fn pins(ca: &HostCa) -> Vec<String> {
        ca.trusted().map(CaKey::pin).collect()
    }

    #[test]
    fn ca_certificate_has_the_required_fields() {
        let ca = ca();
        let (_, cert) = x509_parser::parse_x509_certificate(ca.active().certificate_der()).unwrap();
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical);
        assert!(ku.value.key_cert_sign() && ku.value.crl_sign() && ku.value.digital_signature());
        assert_eq!(cert.subject().to_string(), "CN=example, O=example");
        assert_eq!(cert.issuer(), cert.subject());
        let ski = cert
            .extensions()
            .iter()
            .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER);
        let aki = cert
            .extensions()
            .iter()
            .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER);
        assert!(ski.is_some() && aki.is_some());
        let years = (cert.validity().not_after.to_datetime() - now()).whole_days() / 365;
        assert_eq!(years, 10);
        assert!(cert.raw_serial()[0] & 0x80 == 0 && cert.raw_serial().len() == 16);
    }

    #[test]
    fn debug_output_has_no_key() {
        let ca = ca();
        let yaml = crate::state::ca_file::encode(&ca, None).unwrap();
        let key_line = yaml
            .lines()
            .skip_while(|l| !l.contains("BEGIN PRIVATE KEY"))
            .nth(1)
            .unwrap()
            .trim()
            .to_string();
        assert!(!format!("{ca:?}").contains(&key_line));
    }
}

//! Key algorithms and private keys.
//!
//! ECDSA and Ed25519 keys come from ring (rcgen's backend). ring cannot generate RSA keys, so
//! those come from the `rsa` crate and are handed to rcgen as PKCS#8; the `rsa` crate is only
//! touched when RSA is asked for, so the common path pays nothing for it.

use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, SignatureAlgorithm};
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Invalid, Result};

/// The key algorithms rctl can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 (the default).
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA 2048 bits, PKCS#1 v1.5 signatures with SHA-256.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order the CLI lists them.
    pub const ALL: [KeyAlgorithm; 6] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
    ];

    /// The name used on the command line and in state files.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
            KeyAlgorithm::Rsa4096 => "rsa4096",
        }
    }

    /// True for the RSA sizes.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The signature algorithm a key of this kind signs with.
    pub(crate) fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
                Invalid::malformed(
                    "key algorithm",
                    s,
                    format!("supported: {}", names.join(", ")),
                )
            })
    }
}

/// A private key with its algorithm. Its `Debug` output never shows the key.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    pair: KeyPair,
}

impl PrivateKey {
    /// Generates a fresh key.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey> {
        let pair = match algorithm.rsa_bits() {
            None => KeyPair::generate_for(algorithm.signature_algorithm())?,
            Some(bits) => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::new(&mut rand::rng(), bits)
                    .map_err(|e| Error::crypto_by("RSA key generation", e))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| Error::crypto_by("RSA key encoding", e))?;
                KeyPair::from_pkcs8_der_and_sign_algo(
                    &PrivatePkcs8KeyDer::from(der.as_bytes()),
                    algorithm.signature_algorithm(),
                )?
            }
        };
        Ok(PrivateKey { algorithm, pair })
    }

    /// Loads a PKCS#8 PEM key that is expected to be of `algorithm`.
    pub fn from_pem(algorithm: KeyAlgorithm, pem: &str) -> Result<PrivateKey> {
        let pair = KeyPair::from_pkcs8_pem_and_sign_algo(pem, algorithm.signature_algorithm())
            .map_err(|e| Error::crypto_by("not a valid PKCS#8 private key of its algorithm", e))?;
        Ok(PrivateKey { algorithm, pair })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// PKCS#8 PEM, wiped from memory when dropped.
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        let der = Zeroizing::new(self.pair.serialize_der());
        let der = match self.algorithm {
            KeyAlgorithm::Ed25519 => ed25519_pkcs8_v1(&der)?,
            _ => der,
        };
        let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        Ok(Zeroizing::new(pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", der.to_vec()),
            config,
        )))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        use rcgen::PublicKeyData;
        self.pair.subject_public_key_info()
    }

    pub(crate) fn pair(&self) -> &KeyPair {
        &self.pair
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// rcgen signs with it directly (a CA key inside rcgen's `Issuer`).
impl rcgen::PublicKeyData for PrivateKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(&self.pair)
    }
}

impl rcgen::SigningKey for PrivateKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.pair.sign(msg)
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.pair.zeroize();
    }
}

/// ring writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL 3.0
/// (Debian 12's, and so Redis's) cannot load: this re-encodes the same key as v1 (RFC 8410,
/// without the public key), which every reader takes. Parsed and written by the `pkcs8` crate;
/// a document it cannot read is an error, never passed on as it was.
fn ed25519_pkcs8_v1(v2: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    use pkcs8::der::Encode;
    let mut info =
        pkcs8::PrivateKeyInfoRef::try_from(v2).map_err(|e| Error::crypto_by("Ed25519 key", e))?;
    info.public_key = None;
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|e| Error::crypto_by("Ed25519 key", e))
}

/// `sha256:<hex>` of a DER SubjectPublicKeyInfo: the pin Teleport prints for a CA.
pub fn spki_pin(spki_der: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(spki_der)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(a.name().parse::<KeyAlgorithm>().unwrap(), a);
        }
        let err = "dsa".parse::<KeyAlgorithm>().unwrap_err().to_string();
        assert!(
            err.contains("ecdsa-p256, ecdsa-p384, ed25519, rsa2048"),
            "{err}"
        );
    }

    #[test]
    fn generated_keys_reload_from_pem() {
        for a in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = PrivateKey::generate(a).unwrap();
            let pem = key.to_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{a}");
            let again = PrivateKey::from_pem(a, &pem).unwrap();
            assert_eq!(again.public_key_der(), key.public_key_der(), "{a}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = key.to_pem().unwrap();
        let body: String = pem.lines().nth(1).unwrap().to_string();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&body));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn ed25519_keys_are_written_as_pkcs8_v1() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let pem = key.to_pem().unwrap();
        let der = ::pem::parse(pem.as_bytes()).unwrap();
        assert_eq!(der.contents().len(), 48);
        assert_eq!(der.contents()[4], 0, "version 0 (v1)");
    }

    #[test]
    fn wrong_algorithm_is_refused() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(PrivateKey::from_pem(KeyAlgorithm::Ed25519, &key.to_pem().unwrap()).is_err());
    }
}

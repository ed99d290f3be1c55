//! Private keys encrypted at rest: PKCS#8 `ENCRYPTED PRIVATE KEY` (PBES2: scrypt with
//! log2 N = 13, r = 8, p = 1, 8 MiB, and AES-256-CBC), the form `openssl pkey -passin` reads.
//! Encryption and the KDF are RustCrypto's (`pkcs8`, `pkcs5`, `scrypt`).
//!
//! The cost is paid by every command that signs (about 17 ms here), so it is half of OpenSSL
//! 3's default (log2 N = 14), which would make `auth sign` miss its 30 ms goal. A key sealed
//! with other parameters is read with its own.

use std::fmt;

use pkcs8::der::Decode;
use zeroize::Zeroizing;

use crate::error::{Error, Invalid, Result};

/// scrypt's cost, log2 N (see the module's text).
const SCRYPT_LOG_N: u8 = 13;

/// The PEM label of an encrypted key.
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// A passphrase. Never printed; wiped when dropped.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// A passphrase from text as a file or a prompt gives it: one trailing newline (`\n` or
    /// `\r\n`) is not part of it. Refused when empty.
    pub fn new(text: impl Into<String>) -> Result<Passphrase> {
        let mut text = Zeroizing::new(text.into());
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        if text.is_empty() {
            return Err(Invalid::Empty {
                what: "the CA passphrase",
            }
            .into());
        }
        Ok(Passphrase(text))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Fresh PBES2 parameters: scrypt (cost [`SCRYPT_LOG_N`]) with a random salt, AES-256-CBC
/// with a random IV.
fn pbes2_parameters() -> Result<pkcs8::pkcs5::pbes2::Parameters> {
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    {
        use rand::Rng;
        let mut rng = rand::rng();
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut iv);
    }
    let params = pkcs8::pkcs5::scrypt::Params::new(SCRYPT_LOG_N, 8, 1)
        .map_err(|e| Error::crypto_by("scrypt parameters", e))?;
    pkcs8::pkcs5::pbes2::Parameters::generate_scrypt_aes256cbc(params, &salt, iv)
        .map_err(|e| Error::crypto_by("PBES2 parameters", e))
}

/// Encrypts a PKCS#8 `PRIVATE KEY` PEM into an `ENCRYPTED PRIVATE KEY` PEM.
pub fn seal(private_key_pem: &str, passphrase: &Passphrase) -> Result<String> {
    let (_, der) = pkcs8::der::pem::decode_vec(private_key_pem.as_bytes())
        .map_err(|e| Error::crypto_by("the key to encrypt is not PEM", e))?;
    let der = Zeroizing::new(der);
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::crypto_by("the key to encrypt is not PKCS#8", e))?;
    let pbes2 = pbes2_parameters()?;
    let sealed = info
        .encrypt_with_params(pbes2, passphrase.bytes())
        .map_err(|e| Error::crypto_by("encrypting the key", e))?;
    let pem = sealed
        .to_pem(ENCRYPTED_LABEL, pkcs8::LineEnding::LF)
        .map_err(|e| Error::crypto_by("encoding the encrypted key", e))?;
    Ok(pem.to_string())
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM into a PKCS#8 `PRIVATE KEY` PEM (wiped when
/// dropped). A wrong passphrase is [`Error::CaPassphraseWrong`].
pub fn unseal(sealed_pem: &str, passphrase: &Passphrase) -> Result<Zeroizing<String>> {
    let (label, der) = pkcs8::der::pem::decode_vec(sealed_pem.as_bytes())
        .map_err(|e| Error::crypto_by("the encrypted key is not PEM", e))?;
    if label != ENCRYPTED_LABEL {
        return Err(Error::crypto(
            "the encrypted key is not an \"ENCRYPTED PRIVATE KEY\" PEM block",
        ));
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::crypto_by("the encrypted key does not parse", e))?;
    let clear = info
        .decrypt(passphrase.bytes())
        .map_err(|_| Error::CaPassphraseWrong)?;
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok(Zeroizing::new(pem::encode_config(
        &pem::Pem::new("PRIVATE KEY", clear.as_bytes().to_vec()),
        config,
    )))
}

/// The PEM label of a secret other than a key (rctl-admin's password) sealed as a key is.
pub const SECRET_LABEL: &str = "RCTL ENCRYPTED SECRET";

/// Encrypts `secret` as [`seal`] encrypts a key (PBES2: scrypt, AES-256-CBC), into a PEM block
/// labelled [`SECRET_LABEL`].
pub fn seal_secret(secret: &[u8], passphrase: &Passphrase) -> Result<String> {
    let pbes2 = pbes2_parameters()?;
    let data = pbes2
        .encrypt(passphrase.bytes(), secret)
        .map_err(|e| Error::crypto_by("encrypting the secret", e))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: pbes2.into(),
        encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&data)
            .map_err(|e| Error::crypto_by("encoding the secret", e))?,
    };
    let der = pkcs8::der::Encode::to_der(&info)
        .map_err(|e| Error::crypto_by("encoding the secret", e))?;
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok(pem::encode_config(
        &pem::Pem::new(SECRET_LABEL, der),
        config,
    ))
}

/// Decrypts what [`seal_secret`] made. A wrong passphrase is [`Error::CaPassphraseWrong`].
pub fn unseal_secret(sealed_pem: &str, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>> {
    let (label, der) = pkcs8::der::pem::decode_vec(sealed_pem.as_bytes())
        .map_err(|e| Error::crypto_by("the encrypted secret is not PEM", e))?;
    if label != SECRET_LABEL {
        return Err(Error::crypto(
            "the encrypted secret is not an \"RCTL ENCRYPTED SECRET\" PEM block",
        ));
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::crypto_by("the encrypted secret does not parse", e))?;
    let clear = info
        .encryption_algorithm
        .decrypt(passphrase.bytes(), info.encrypted_data.as_bytes())
        .map_err(|_| Error::CaPassphraseWrong)?;
    Ok(Zeroizing::new(clear))
}

/// True when `pem` is a secret sealed by [`seal_secret`].
pub fn is_sealed_secret(pem: &str) -> bool {
    pem.trim_start()
        .starts_with(&format!("-----BEGIN {SECRET_LABEL}-----"))
}

/// True when `pem` is an encrypted key.
pub fn is_sealed(pem: &str) -> bool {
    pem.trim_start()
        .starts_with(&format!("-----BEGIN {ENCRYPTED_LABEL}-----"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::keys::{KeyAlgorithm, PrivateKey};

    #[test]
    fn a_key_round_trips_and_a_wrong_passphrase_is_refused() {
        let pass = Passphrase::new("correct horse\n").unwrap();
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = PrivateKey::generate(algorithm).unwrap();
            let pem = key.to_pem().unwrap();
            let sealed = seal(&pem, &pass).unwrap();
            assert!(is_sealed(&sealed) && !sealed.contains("BEGIN PRIVATE KEY"));
            assert_eq!(*unseal(&sealed, &pass).unwrap(), *pem);
            let wrong = Passphrase::new("correct horse battery").unwrap();
            assert!(matches!(
                unseal(&sealed, &wrong),
                Err(Error::CaPassphraseWrong)
            ));
        }
        let secret = seal_secret(b"rctl-admin's password", &pass).unwrap();
        assert!(is_sealed_secret(&secret) && !secret.contains("password"));
        assert_eq!(
            &*unseal_secret(&secret, &pass).unwrap(),
            b"rctl-admin's password"
        );
        let wrong = Passphrase::new("correct horse battery").unwrap();
        assert!(matches!(
            unseal_secret(&secret, &wrong),
            Err(Error::CaPassphraseWrong)
        ));
        assert!(Passphrase::new("\n").is_err());
        assert_eq!(format!("{pass:?}"), "Passphrase(<redacted>)");
    }
}

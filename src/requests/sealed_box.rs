//! rctl-admin's password sealed to a signing request's one-time X25519 key, so that only the
//! node that made the request can read it from the answer: ECDH with a fresh key of the
//! signer's, HKDF-SHA256 over both public keys, ChaCha20-Poly1305 under the one-use key (the
//! shape of HPKE's base mode, RFC 9180). From ring's primitives, which rctl already links for
//! TLS and certificates.

use base64::Engine;
use ring::{aead, agreement, hkdf, rand::SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Invalid, Result};

const INFO: &[u8] = b"rctl rctl-admin login v1";

fn failed(what: &'static str) -> Error {
    Error::crypto(what)
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The node's one-time key for one request: its public half goes in the request, and it opens
/// the answer's sealed secret once.
pub struct OpeningKey {
    private: agreement::EphemeralPrivateKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpeningKey(<one-time X25519 key>)")
    }
}

impl OpeningKey {
    /// A fresh key.
    pub fn generate() -> Result<OpeningKey> {
        let private =
            agreement::EphemeralPrivateKey::generate(&agreement::X25519, &SystemRandom::new())
                .map_err(|_| failed("X25519 key generation"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| failed("X25519 public key"))?
            .as_ref()
            .to_vec();
        Ok(OpeningKey { private, public })
    }

    /// The public key, base64: what the request carries.
    pub fn public_b64(&self) -> String {
        b64().encode(&self.public)
    }

    /// Opens what [`seal_to`] sealed to this key.
    pub fn open(self, sealed_b64: &str) -> Result<Zeroizing<Vec<u8>>> {
        let sealed = b64()
            .decode(sealed_b64.trim())
            .map_err(|_| Error::crypto("the sealed secret is not base64"))?;
        if sealed.len() < 32 + aead::CHACHA20_POLY1305.tag_len() {
            return Err(Error::crypto("the sealed secret is too short"));
        }
        let (sender, ciphertext) = sealed.split_at(32);
        let key = derive(self.private, sender, sender, &self.public)?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let clear = key
            .open_in_place(
                aead::Nonce::assume_unique_for_key([0; 12]),
                aead::Aad::empty(),
                &mut buffer,
            )
            .map_err(|_| {
                Error::crypto("the sealed secret does not open with this request's key")
            })?;
        Ok(Zeroizing::new(clear.to_vec()))
    }
}

/// Seals `secret` to the X25519 public key `recipient_b64` (a request's): base64 of the
/// signer's one-time public key followed by the ciphertext and its tag.
pub fn seal_to(recipient_b64: &str, secret: &[u8]) -> Result<String> {
    let recipient = b64()
        .decode(recipient_b64.trim())
        .map_err(|_| Invalid::RequestKey {
            what: "login key",
            problem: "is not base64".into(),
        })?;
    if recipient.len() != 32 {
        return Err(Invalid::RequestKey {
            what: "login key",
            problem: "is not an X25519 public key".into(),
        }
        .into());
    }
    let mine = OpeningKey::generate()?;
    let sender = mine.public.clone();
    let key = derive(mine.private, &recipient, &sender, &recipient)?;
    let mut buffer = secret.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key([0; 12]),
        aead::Aad::empty(),
        &mut buffer,
    )
    .map_err(|_| failed("sealing"))?;
    let mut out = sender;
    out.extend_from_slice(&buffer);
    Ok(b64().encode(out))
}

/// The one-use AEAD key of `private` with `peer`, bound to both public keys.
fn derive(
    private: agreement::EphemeralPrivateKey,
    peer: &[u8],
    sender: &[u8],
    recipient: &[u8],
) -> Result<aead::LessSafeKey> {
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
    let mut salt = sender.to_vec();
    salt.extend_from_slice(recipient);
    agreement::agree_ephemeral(private, &peer, |shared| {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
        let okm = prk
            .expand(&[INFO], &aead::CHACHA20_POLY1305)
            .map_err(|_| failed("HKDF"))?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    })
    .map_err(|_| failed("X25519 agreement"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_requests_key_opens_the_secret() {
        let key = OpeningKey::generate().unwrap();
        let sealed = seal_to(&key.public_b64(), b"the admin password").unwrap();
        assert!(!sealed.contains("admin"));
        let other = OpeningKey::generate().unwrap();
        assert!(other.open(&sealed).is_err());
        assert_eq!(&*key.open(&sealed).unwrap(), b"the admin password");
        // Altered in transit: refused.
        let key = OpeningKey::generate().unwrap();
        let mut bytes = b64()
            .decode(seal_to(&key.public_b64(), b"x").unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(key.open(&b64().encode(bytes)).is_err());
    }
}

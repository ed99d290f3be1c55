//! `host_ca.yaml`: the host CA as the state keeps it (version 1).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::accounts::names::ClusterName;
use crate::error::{Error, Result};
use crate::pki::ca::{CaKey, HostCa};
use crate::pki::keys::KeyAlgorithm;
use crate::pki::rotation::Rotation;
use crate::pki::sealed::{Passphrase, seal};

const CA_FILE_VERSION: u32 = 1;
const CA_FILE_HEADER: &str =
    "# rctl host certificate authority. Holds private keys: keep it mode 0600 and back it up.\n";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaFile {
    version: u32,
    cluster_name: ClusterName,
    active: KeyRecord,
    #[serde(default)]
    additional_trusted: Vec<KeyRecord>,
    #[serde(default)]
    rotation: Rotation,
}

/// A key: in clear (`private_key`, PKCS#8 PEM) or encrypted (`encrypted_private_key`, PKCS#8
/// `ENCRYPTED PRIVATE KEY` PEM), never both.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRecord {
    algorithm: KeyAlgorithm,
    certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted_private_key: Option<String>,
}

impl KeyRecord {
    /// The record of a key; sealed with `passphrase` when the CA is encrypted and the key was
    /// not read encrypted (a new key, or a state being encrypted).
    fn of(key: &CaKey, encrypted: bool, passphrase: Option<&Passphrase>) -> Result<KeyRecord> {
        let (private_key, encrypted_private_key) = match (encrypted, key.sealed_pem()) {
            (false, _) => (Some(key.private_key_pem()?), None),
            (true, Some(sealed)) => (None, Some(sealed.to_string())),
            (true, None) => {
                let passphrase = passphrase.ok_or_else(|| Error::CaPassphraseMissing {
                    detail: " to encrypt its new key",
                })?;
                (None, Some(seal(&key.private_key_pem()?, passphrase)?))
            }
        };
        Ok(KeyRecord {
            algorithm: key.algorithm(),
            certificate: key.certificate_pem().to_string(),
            private_key,
            encrypted_private_key,
        })
    }

    fn key(&self) -> std::result::Result<CaKey, String> {
        match (&self.private_key, &self.encrypted_private_key) {
            (Some(clear), None) => CaKey::from_parts(self.algorithm, &self.certificate, clear),
            (None, Some(sealed)) => CaKey::from_sealed(self.algorithm, &self.certificate, sealed),
            _ => Err("a key needs private_key or encrypted_private_key, one of them".to_string()),
        }
    }
}

/// True when writing `ca` needs the passphrase: it is encrypted and holds a key that was not
/// read encrypted.
pub(crate) fn needs_passphrase(ca: &HostCa) -> bool {
    ca.is_encrypted() && ca.trusted().any(|k| k.sealed_pem().is_none())
}

/// The CA as `host_ca.yaml` text (wiped when dropped: it holds the keys). An encrypted CA's new
/// keys are sealed with `passphrase` (see [`needs_passphrase`]).
pub(crate) fn encode(ca: &HostCa, passphrase: Option<&Passphrase>) -> Result<Zeroizing<String>> {
    let record = |k: &CaKey| KeyRecord::of(k, ca.is_encrypted(), passphrase);
    let file = CaFile {
        version: CA_FILE_VERSION,
        cluster_name: ca.cluster_name.clone(),
        active: record(ca.active())?,
        additional_trusted: ca.trusted().skip(1).map(record).collect::<Result<_>>()?,
        rotation: ca.rotation().clone(),
    };
    let yaml = serde_norway::to_string(&file).map_err(|e| Error::encode("host CA", e))?;
    Ok(Zeroizing::new(format!("{CA_FILE_HEADER}{yaml}")))
}

/// The CA from `host_ca.yaml`. The error is a reason; the caller adds the file name.
pub(crate) fn decode(data: &[u8]) -> std::result::Result<HostCa, String> {
    let file: CaFile = crate::output::yaml::from_slice(data)?;
    if file.version != CA_FILE_VERSION {
        return Err(format!(
            "version {} is not supported by this rctl (it reads version {CA_FILE_VERSION})",
            file.version
        ));
    }
    let active = file.active.key().map_err(|e| format!("active key: {e}"))?;
    let additional = file
        .additional_trusted
        .iter()
        .map(KeyRecord::key)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("additional trusted key: {e}"))?;
    let encrypted = file.active.encrypted_private_key.is_some();
    if file
        .additional_trusted
        .iter()
        .any(|k| k.encrypted_private_key.is_some() != encrypted)
    {
        return Err("some keys are encrypted and others are not".to_string());
    }
    HostCa::assemble(
        file.cluster_name,
        active,
        additional,
        file.rotation,
        encrypted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ca::CaOptions;
    use crate::pki::ca::tests::{ca, now, pins};

    #[test]
    fn state_file_round_trips() {
        let mut ca = ca();
        ca.rotate(crate::pki::rotation::Phase::Init, now()).unwrap();
        let yaml = encode(&ca, None).unwrap();
        let again = decode(yaml.as_bytes()).unwrap();
        assert_eq!(pins(&again), pins(&ca));
        assert_eq!(again.rotation(), ca.rotation());
        assert_eq!(again.cluster_name(), "example");
    }

    #[test]
    fn corrupt_state_is_described() {
        let yaml = encode(&ca(), None).unwrap();
        let truncated = &yaml.as_bytes()[..yaml.len() / 2];
        assert!(decode(truncated).is_err());
        let other = HostCa::generate(&CaOptions::new("other".parse().unwrap()), now()).unwrap();
        let other_yaml = encode(&other, None).unwrap();
        // Splice the other CA's key in: the key no longer matches the certificate.
        let key_of = |y: &str| y[y.find("private_key").unwrap()..].to_string();
        let spliced = yaml.replace(&key_of(&yaml), &key_of(&other_yaml));
        let err = decode(spliced.as_bytes()).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn an_encrypted_ca_round_trips_locked_and_new_keys_need_the_passphrase() {
        let pass = Passphrase::new("sesame").unwrap();
        let mut ca = ca();
        ca.set_encrypted(true).unwrap();
        assert!(needs_passphrase(&ca));
        assert!(matches!(
            encode(&ca, None),
            Err(Error::CaPassphraseMissing { .. })
        ));
        let yaml = encode(&ca, Some(&pass)).unwrap();
        assert!(yaml.contains("ENCRYPTED PRIVATE KEY") && !yaml.contains("BEGIN PRIVATE KEY"));
        let mut again = decode(yaml.as_bytes()).unwrap();
        assert!(again.is_encrypted() && again.is_locked());
        assert_eq!(pins(&again), pins(&ca));
        // Written back as read: no passphrase needed, the same bytes.
        assert!(!needs_passphrase(&again));
        assert_eq!(*encode(&again, None).unwrap(), *yaml);
        // A rotation's new key is sealed with the passphrase, the old one kept as it was.
        again
            .rotate(crate::pki::rotation::Phase::Init, now())
            .unwrap();
        assert!(needs_passphrase(&again));
        let rotated = encode(&again, Some(&pass)).unwrap();
        assert_eq!(rotated.matches("BEGIN ENCRYPTED PRIVATE KEY").count(), 2);
        let mut read = decode(rotated.as_bytes()).unwrap();
        read.unlock(&pass).unwrap();
        assert!(!read.is_locked());
        // One key encrypted and one in clear is not a state rctl writes.
        let two = ca_with_init();
        let mut value: serde_norway::Value =
            serde_norway::from_str(&encode(&two, None).unwrap()).unwrap();
        let other = &mut value["additional_trusted"][0];
        let clear = other["private_key"].as_str().unwrap().to_string();
        let map = other.as_mapping_mut().unwrap();
        map.remove("private_key");
        map.insert(
            "encrypted_private_key".into(),
            seal(&clear, &pass).unwrap().into(),
        );
        let mixed = serde_norway::to_string(&value).unwrap();
        let err = decode(mixed.as_bytes()).err().unwrap();
        assert!(err.contains("some keys are encrypted"), "{err}");
    }

    fn ca_with_init() -> HostCa {
        let mut ca = ca();
        ca.rotate(crate::pki::rotation::Phase::Init, now()).unwrap();
        ca
    }
}

//! `host_ca.yaml`: the host CA as the state keeps it (version 1).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ca::{CaKey, HostCa};
use crate::error::{Error, Result};
use crate::keys::KeyAlgorithm;
use crate::names::ClusterName;
use crate::rotation::Rotation;

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

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRecord {
    algorithm: KeyAlgorithm,
    certificate: String,
    private_key: Zeroizing<String>,
}

impl KeyRecord {
    fn of(key: &CaKey) -> Result<KeyRecord> {
        Ok(KeyRecord {
            algorithm: key.algorithm(),
            certificate: key.certificate_pem().to_string(),
            private_key: key.private_key_pem()?,
        })
    }

    fn key(&self) -> std::result::Result<CaKey, String> {
        CaKey::from_parts(self.algorithm, &self.certificate, &self.private_key)
    }
}

/// The CA as `host_ca.yaml` text (wiped when dropped: it holds the keys).
pub(crate) fn encode(ca: &HostCa) -> Result<Zeroizing<String>> {
    let file = CaFile {
        version: CA_FILE_VERSION,
        cluster_name: ca.cluster_name.clone(),
        active: KeyRecord::of(ca.active())?,
        additional_trusted: ca
            .trusted()
            .skip(1)
            .map(KeyRecord::of)
            .collect::<Result<_>>()?,
        rotation: ca.rotation().clone(),
    };
    let yaml = serde_norway::to_string(&file).map_err(|e| Error::encode("host CA", e))?;
    Ok(Zeroizing::new(format!("{CA_FILE_HEADER}{yaml}")))
}

/// The CA from `host_ca.yaml`. The error is a reason; the caller adds the file name.
pub(crate) fn decode(data: &[u8]) -> std::result::Result<HostCa, String> {
    let file: CaFile = serde_norway::from_slice(data).map_err(|e| e.to_string())?;
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
    HostCa::assemble(file.cluster_name, active, additional, file.rotation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CaOptions;
    use crate::ca::tests::{ca, now, pins};

    #[test]
    fn state_file_round_trips() {
        let mut ca = ca();
        ca.rotate(crate::Phase::Init, now()).unwrap();
        let yaml = encode(&ca).unwrap();
        let again = decode(yaml.as_bytes()).unwrap();
        assert_eq!(pins(&again), pins(&ca));
        assert_eq!(again.rotation(), ca.rotation());
        assert_eq!(again.cluster_name(), "example");
    }

    #[test]
    fn corrupt_state_is_described() {
        let yaml = encode(&ca()).unwrap();
        let truncated = &yaml.as_bytes()[..yaml.len() / 2];
        assert!(decode(truncated).is_err());
        let other = HostCa::generate(&CaOptions::new("other".parse().unwrap()), now()).unwrap();
        let other_yaml = encode(&other).unwrap();
        // Splice the other CA's key in: the key no longer matches the certificate.
        let key_of = |y: &str| y[y.find("private_key").unwrap()..].to_string();
        let spliced = yaml.replace(&key_of(&yaml), &key_of(&other_yaml));
        let err = decode(spliced.as_bytes()).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }
}

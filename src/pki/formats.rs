//! The formats a signed bundle is written in: `redis` (tctl's three PEM files), `pkcs12` (one
//! `PREFIX.p12` for Java clients such as Jedis and Lettuce: the key, its certificate and the
//! CA chain, under a passphrase; PBES2 with AES-256 and an HMAC-SHA-256 MAC, which OpenSSL 3
//! and keytool read) and `kubernetes-secret` (one `PREFIX.yaml`: a `kubernetes.io/tls` Secret
//! with `tls.crt`, `tls.key` and `ca.crt`, for `kubectl apply -f`). Each is read back too, so
//! that a sync can tell whether it needs renewing.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, FormatProblem, Invalid, Result};
use crate::pki::bundle::RedisBundle;

/// How a bundle is written.
#[derive(Clone)]
#[non_exhaustive]
pub enum BundleFormat {
    /// `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    Redis,
    /// `PREFIX.p12` under a passphrase.
    Pkcs12 {
        /// The passphrase (never stored by rctl).
        passphrase: Zeroizing<String>,
    },
    /// `PREFIX.yaml`: a Kubernetes Secret of type `kubernetes.io/tls`.
    KubernetesSecret {
        /// The Secret's name (a DNS-1123 subdomain).
        name: String,
        /// Its namespace, if given.
        namespace: Option<String>,
    },
}

impl std::fmt::Debug for BundleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a bundle file holds, read back: PEM certificate, PEM key, PEM trusted CAs.
pub(crate) struct ReadBack {
    pub certificate_pem: String,
    pub key_pem: Option<Zeroizing<String>>,
    pub ca_pem: String,
}

/// A Kubernetes Secret of type `kubernetes.io/tls`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Secret {
    api_version: String,
    kind: String,
    metadata: SecretMetadata,
    #[serde(rename = "type")]
    kind_of_secret: String,
    data: SecretData,
}

#[derive(Serialize, Deserialize)]
struct SecretMetadata {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SecretData {
    #[serde(rename = "tls.crt")]
    tls_crt: String,
    #[serde(rename = "tls.key")]
    tls_key: String,
    #[serde(rename = "ca.crt")]
    ca_crt: String,
}

/// The files a format named `name` (`redis`, `pkcs12`, `kubernetes-secret`) writes at
/// `prefix`: the three PEM files (without the key for a CSR's), else its one file.
pub(crate) fn format_paths(name: &str, prefix: &Path, with_key: bool) -> Vec<PathBuf> {
    let with = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    match name {
        "pkcs12" => vec![with(".p12")],
        "kubernetes-secret" => vec![with(".yaml")],
        _ => {
            let [crt, key, cas] = RedisBundle::paths(prefix);
            if with_key {
                vec![crt, key, cas]
            } else {
                vec![crt, cas]
            }
        }
    }
}

/// A PKCS#12 passphrase from a file: its first line (a regular file, at most 4 KiB, UTF-8,
/// not empty). Never echoed in an error.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>> {
    let data = crate::output::read::read_regular(path, 4096).map_err(|e| Error::io(path, e))?;
    let text = Zeroizing::new(String::from_utf8(data).map_err(|_| {
        Error::from(Invalid::NotUtf8 {
            path: path.to_path_buf(),
        })
    })?);
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Invalid::PassphraseFileEmpty {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(Zeroizing::new(line.to_string()))
}

/// A DNS-1123 subdomain, as Kubernetes names objects.
pub fn check_kubernetes_name(what: &'static str, name: &str) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(Invalid::malformed(
            what,
            name,
            "lowercase letters, digits, '-' and '.', as a DNS name",
        ));
    }
    Ok(())
}

impl BundleFormat {
    /// `redis`, `pkcs12` or `kubernetes-secret`.
    pub fn name(&self) -> &'static str {
        match self {
            BundleFormat::Redis => "redis",
            BundleFormat::Pkcs12 { .. } => "pkcs12",
            BundleFormat::KubernetesSecret { .. } => "kubernetes-secret",
        }
    }

    /// The files written at `prefix` (with the key, or without it for a CSR's `redis` files).
    pub fn paths(&self, prefix: &Path, with_key: bool) -> Vec<PathBuf> {
        format_paths(self.name(), prefix, with_key)
    }

    /// The one file of a one-file format, encoded.
    pub(crate) fn encode(&self, bundle: &RedisBundle) -> Result<Vec<u8>> {
        let key = bundle.private_key_pem().ok_or_else(|| {
            Error::from(Invalid::Format {
                format: self.name(),
                problem: FormatProblem::NeedsKey,
            })
        })?;
        match self {
            BundleFormat::Redis => Err(Invalid::Format {
                format: self.name(),
                problem: FormatProblem::ThreeFiles,
            }
            .into()),
            BundleFormat::Pkcs12 { passphrase } => pkcs12(bundle, key, passphrase),
            BundleFormat::KubernetesSecret { name, namespace } => {
                let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                let secret = Secret {
                    api_version: "v1".to_string(),
                    kind: "Secret".to_string(),
                    metadata: SecretMetadata {
                        name: name.clone(),
                        namespace: namespace.clone(),
                    },
                    kind_of_secret: "kubernetes.io/tls".to_string(),
                    data: SecretData {
                        tls_crt: b64(bundle.certificate_pem()),
                        tls_key: b64(key),
                        ca_crt: b64(bundle.ca_pem()),
                    },
                };
                serde_norway::to_string(&secret)
                    .map(String::into_bytes)
                    .map_err(|e| Error::encode("Kubernetes Secret", e))
            }
        }
    }

    /// What the files at `prefix` hold; why not, when they cannot be read.
    pub(crate) fn read_back(&self, prefix: &Path) -> std::result::Result<ReadBack, String> {
        use crate::output::read::{PEM_LIMIT, read_regular};
        let read =
            |p: &Path| read_regular(p, PEM_LIMIT).map_err(|e| format!("{}: {e}", p.display()));
        let text = |b: Vec<u8>, p: &Path| {
            String::from_utf8(b).map_err(|_| format!("{}: not UTF-8", p.display()))
        };
        match self {
            BundleFormat::Redis => {
                let [crt, key, cas] = RedisBundle::paths(prefix);
                Ok(ReadBack {
                    certificate_pem: text(read(&crt)?, &crt)?,
                    key_pem: match read(&key) {
                        Ok(k) => Some(Zeroizing::new(text(k, &key)?)),
                        Err(_) => None,
                    },
                    ca_pem: read(&cas).and_then(|b| text(b, &cas)).unwrap_or_default(),
                })
            }
            BundleFormat::Pkcs12 { passphrase } => {
                let path = &self.paths(prefix, true)[0];
                let data = read(path)?;
                // The bags as they are: the key, the certificate with its key id, and every
                // other certificate (the CAs; a chain by subject cannot tell two keys of one
                // CA name apart, and a rotation trusts two).
                let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&data, passphrase)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let key = archive
                    .keys
                    .first()
                    .ok_or_else(|| format!("{}: no key in it", path.display()))?;
                let id = key.local_key_id.as_ref().map(|k| k.0.clone());
                let is_leaf = |c: &p12_keystore::CertificateBag| {
                    id.is_some() && c.local_key_id.as_ref() == id.as_ref()
                };
                let leaf = archive
                    .certs
                    .iter()
                    .find(|c| is_leaf(c))
                    .ok_or_else(|| format!("{}: no certificate for its key", path.display()))?;
                let pem = |der: &[u8]| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
                let ca_pem = archive
                    .certs
                    .iter()
                    .filter(|c| !is_leaf(c))
                    .map(|c| pem(c.cert.as_der()))
                    .collect();
                let (leaf, key) = (leaf.cert.as_der(), key.key.as_der());
                Ok(ReadBack {
                    certificate_pem: pem(leaf),
                    key_pem: Some(Zeroizing::new(pem::encode(&pem::Pem::new(
                        "PRIVATE KEY",
                        key.to_vec(),
                    )))),
                    ca_pem,
                })
            }
            BundleFormat::KubernetesSecret { .. } => {
                let path = &self.paths(prefix, true)[0];
                let secret: Secret = crate::output::yaml::from_slice(&read(path)?)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let decode = |field: &str, s: &str| {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| format!("{}: {field} is not base64 PEM", path.display()))
                };
                Ok(ReadBack {
                    certificate_pem: decode("tls.crt", &secret.data.tls_crt)?,
                    key_pem: Some(Zeroizing::new(decode("tls.key", &secret.data.tls_key)?)),
                    ca_pem: decode("ca.crt", &secret.data.ca_crt)?,
                })
            }
        }
    }
}

/// `PREFIX.p12`: the key with its certificate, and every trusted CA certificate (active first)
/// as a trusted-certificate entry, as `keytool -importcert` writes them: Java takes the same
/// file as its keystore and its truststore, and OpenSSL's `-cacerts` lists exactly the CAs.
/// All under `passphrase`.
fn pkcs12(bundle: &RedisBundle, key_pem: &str, passphrase: &str) -> Result<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    let bad = |e: String| Error::Encode {
        what: "PKCS#12 file",
        source: e.into(),
    };
    let key_der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let key = p12_keystore::PrivateKey::from_der(key_der.secret_pkcs8_der())
        .map_err(|e| bad(e.to_string()))?;
    let certificates = |pems: &str| {
        rustls_pki_types::CertificateDer::pem_slice_iter(pems.as_bytes())
            .map(|der| {
                let der = der.map_err(|e| bad(e.to_string()))?;
                p12_keystore::Certificate::from_der(der.as_ref()).map_err(|e| bad(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()
    };
    let leaf = certificates(bundle.certificate_pem())?;
    let local_key_id = bundle.issued().serial.as_bytes().to_vec();
    let chain = p12_keystore::PrivateKeyChain::new(local_key_id, key, leaf);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("rctl", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    // Aliases sort as the CAs come (the store is ordered by alias): active key first.
    for (i, ca) in certificates(bundle.ca_pem())?.into_iter().enumerate() {
        store.add_entry(
            &format!("rctl-ca-{i:02}"),
            p12_keystore::KeyStoreEntry::Certificate(ca),
        );
    }
    store
        .writer(passphrase)
        .write()
        .map_err(|e| bad(e.to_string()))
}

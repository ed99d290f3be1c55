//! Certificates signed by the host CA, and the `--format=redis` bundle: `PREFIX.crt`,
//! `PREFIX.key` and `PREFIX.cas`, for redis.conf's `tls-cert-file`, `tls-key-file` and
//! `tls-ca-cert-file`.

use std::ffi::OsString;
use std::fmt;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Invalid, Result};
use crate::output::atomic::Visibility;
use crate::output::fileset::FileSet;

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

    /// Writes the bundle at `prefix` in `format` (see [`BundleFormat`]): all its files or
    /// none, owned by `owner` when given; returns them.
    ///
    /// [`BundleFormat`]: crate::pki::formats::BundleFormat
    pub(crate) fn write_format(
        &self,
        prefix: &Path,
        format: &crate::pki::formats::BundleFormat,
        overwrite: bool,
        owner: Option<(u32, u32)>,
    ) -> Result<Vec<PathBuf>> {
        if matches!(format, crate::pki::formats::BundleFormat::Redis) {
            return self.write_owned(prefix, overwrite, owner);
        }
        let paths = format.paths(prefix, true);
        let data = format.encode(self)?;
        FileSet::new(&paths)
            .with_owner(owner)
            .write(&[(data.as_slice(), Visibility::Secret)], overwrite)?;
        Ok(paths)
    }

    /// Refuses, before any work, what [`write`](Self::write) would refuse: an existing output
    /// (without `overwrite`), a missing folder, a directory in the way. The debris of a write
    /// that was killed half-way does not count as existing.
    pub fn check_outputs(prefix: &Path, overwrite: bool) -> Result<()> {
        Self::check_outputs_for(prefix, overwrite, true)
    }

    /// When the certificate at `PREFIX.crt` expires; `None` when it cannot be read.
    pub fn not_after_on_disk(prefix: &Path) -> Option<OffsetDateTime> {
        let [crt, _, _] = Self::paths(prefix);
        let pem = crate::output::read::read_regular(&crt, crate::output::read::PEM_LIMIT).ok()?;
        let report =
            crate::pki::inspect::inspect_certificate(&pem, None, OffsetDateTime::now_utc()).ok()?;
        Some(report.not_after)
    }

    /// [`check_outputs`](Self::check_outputs) for a bundle with or without a key: signing a
    /// CSR writes no key, so a `PREFIX.key` beside it (the key the CSR was made with) is
    /// expected, not in the way.
    pub fn check_outputs_for(prefix: &Path, overwrite: bool, with_key: bool) -> Result<()> {
        FileSet::new(&Self::output_paths(prefix, with_key)?).check_and_probe(overwrite)
    }

    fn output_paths(prefix: &Path, with_key: bool) -> Result<Vec<PathBuf>> {
        let raw = prefix.as_os_str().as_encoded_bytes();
        if raw.is_empty() || raw.ends_with(b"/") || raw.ends_with(b"/.") || raw == b"." {
            return Err(Invalid::PrefixIsFolder {
                prefix: prefix.to_path_buf(),
            }
            .into());
        }
        let [crt, key, cas] = Self::paths(prefix);
        Ok(if with_key {
            vec![crt, key, cas]
        } else {
            vec![crt, cas]
        })
    }

    /// True when the PEM private key at `path` is the certificate's key (a CSR's key beside
    /// its certificate).
    pub fn key_file_matches(&self, path: &Path) -> bool {
        key_file_matches(&self.certificate_pem, path)
    }
}

/// True when the PEM private key at `path` is the key of the PEM certificate.
pub(crate) fn key_file_matches(certificate_pem: &str, path: &Path) -> bool {
    crate::output::read::read_text(path, crate::output::read::PEM_LIMIT)
        .is_some_and(|pem| key_pem_matches(certificate_pem, &pem))
}

/// True when the PEM private key is the key of the PEM certificate.
pub(crate) fn key_pem_matches(certificate_pem: &str, pem: &str) -> bool {
    use rustls_pki_types::pem::PemObject;
    let Ok(key) = rcgen::KeyPair::from_pem(pem) else {
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

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::pki::ca::{CaOptions, HostCa};
    use crate::pki::leaf::tests::{now, server};
    use std::fs;

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

//! The floor `bench/compare.sh` times `rctl auth sign` against: a bare rcgen + ring signer with
//! no rctl code, making the same server bundle (P-256 key, certificate for localhost and
//! 127.0.0.1 from an existing CA, the CA certificate) with the same durability: each of the
//! three files written to a temp file, fsynced and renamed, the folder fsynced, and one line
//! appended to a log and fdatasynced (rctl's audit record).
//!
//!     sign_floor DIR init      # makes DIR/ca.key and DIR/ca.crt (not timed)
//!     sign_floor DIR sign OUT  # OUT.crt, OUT.key, OUT.cas

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).ok_or("usage: sign_floor DIR init|sign OUT")?);
    match args.get(2).map(String::as_str) {
        Some("init") => init(dir),
        Some("sign") => sign(dir, Path::new(args.get(3).ok_or("sign needs OUT")?)),
        _ => Err("usage: sign_floor DIR init|sign OUT".into()),
    }
}

fn init(dir: &Path) -> Result<()> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "floor");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key)?;
    fs::create_dir_all(dir)?;
    fs::write(dir.join("ca.key"), key.serialize_pem())?;
    fs::write(dir.join("ca.crt"), cert.pem())?;
    Ok(())
}

fn sign(dir: &Path, out: &Path) -> Result<()> {
    let ca_pem = fs::read_to_string(dir.join("ca.crt"))?;
    let ca_key = KeyPair::from_pem(&fs::read_to_string(dir.join("ca.key"))?)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress("127.0.0.1".parse()?),
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::hours(2190);
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer)?;
    let prefix = out.to_string_lossy();
    for (ext, data, mode) in [
        (".crt", cert.pem(), 0o644),
        (".key", key.serialize_pem(), 0o600),
        (".cas", ca_pem.clone(), 0o644),
    ] {
        let path = format!("{prefix}{ext}");
        let tmp = format!("{path}.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(data.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
    }
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(folder)?.sync_all()?;
    let mut log = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("log"))?;
    writeln!(log, "signed {prefix}")?;
    log.sync_data()?;
    Ok(())
}

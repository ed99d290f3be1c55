//! What the CLI prints.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use rctl::HostCa;
use time::OffsetDateTime;

/// RFC 3339, to the second.
pub fn date(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files written and the redis.conf lines to use them, as `tctl auth sign --format=redis`.
pub fn redis_server_instructions([crt, key, cas]: &[PathBuf; 3]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Database credentials have been written to {}, {}, {}.\n",
        crt.display(),
        key.display(),
        cas.display()
    );
    let _ = writeln!(
        s,
        "To enable mutual TLS on your Redis server, add the following to your redis.conf:\n"
    );
    let _ = writeln!(s, "tls-port 6379");
    let _ = writeln!(s, "port 0");
    let _ = writeln!(s, "tls-ca-cert-file {}", absolute(cas).display());
    let _ = writeln!(s, "tls-cert-file {}", absolute(crt).display());
    let _ = writeln!(s, "tls-key-file {}", absolute(key).display());
    let _ = writeln!(s, "tls-protocols \"TLSv1.2 TLSv1.3\"");
    s
}

/// `rctl status`, text.
pub fn status(ca: &HostCa) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Cluster:   {}", ca.cluster_name());
    let _ = writeln!(s, "Host CA:");
    let _ = writeln!(s, "  algorithm:  {}", ca.active().algorithm());
    let _ = writeln!(s, "  not after:  {}", date(ca.active().not_after()));
    let _ = writeln!(s, "  rotation:   {}", ca.rotation().describe());
    let _ = writeln!(s, "  CA pins:");
    for (i, key) in ca.trusted().enumerate() {
        let role = if i == 0 { "active, signing" } else { "trusted" };
        let _ = writeln!(
            s,
            "    {} ({role}, {}, expires {})",
            key.pin(),
            key.algorithm(),
            date(key.not_after())
        );
    }
    s
}

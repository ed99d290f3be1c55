//! The redis.conf TLS block for a certificate bundle, valid for Redis 6.0 and later.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sign::RedisBundle;

/// What goes into the TLS block.
///
/// ```
/// let mut config = rctl::RedisTlsConfig::new("/etc/redis/server");
/// config.aclfile = Some("/etc/redis/users.acl".into());
/// let text = config.render().unwrap();
/// assert!(text.starts_with("port 0\ntls-port 6379\ntls-cert-file /etc/redis/server.crt\n"));
/// ```
#[derive(Clone, Debug)]
pub struct RedisTlsConfig {
    /// The bundle prefix: `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    pub cert_prefix: PathBuf,
    /// A users.acl to load with `aclfile`.
    pub aclfile: Option<PathBuf>,
    /// The TLS port (`port 0` turns the plain port off).
    pub port: u16,
    /// `tls-cluster yes`: TLS on the cluster bus.
    pub cluster: bool,
    /// `tls-replication yes`: TLS between primary and replicas.
    pub replication: bool,
}

impl RedisTlsConfig {
    /// Port 6379, no aclfile, no cluster or replication lines.
    pub fn new(cert_prefix: impl Into<PathBuf>) -> RedisTlsConfig {
        RedisTlsConfig {
            cert_prefix: cert_prefix.into(),
            aclfile: None,
            port: 6379,
            cluster: false,
            replication: false,
        }
    }

    /// The redis.conf lines, with absolute paths.
    pub fn render(&self) -> Result<String> {
        let [crt, key, cas] = RedisBundle::paths(&self.cert_prefix);
        let mut s = String::new();
        let _ = writeln!(s, "port 0");
        let _ = writeln!(s, "tls-port {}", self.port);
        let _ = writeln!(s, "tls-cert-file {}", conf_path(&crt)?);
        let _ = writeln!(s, "tls-key-file {}", conf_path(&key)?);
        let _ = writeln!(s, "tls-ca-cert-file {}", conf_path(&cas)?);
        let _ = writeln!(s, "tls-auth-clients yes");
        let _ = writeln!(s, "tls-protocols \"TLSv1.2 TLSv1.3\"");
        if let Some(acl) = &self.aclfile {
            let _ = writeln!(s, "aclfile {}", conf_path(acl)?);
        }
        if self.replication {
            let _ = writeln!(s, "tls-replication yes");
        }
        if self.cluster {
            let _ = writeln!(s, "cluster-enabled yes");
            let _ = writeln!(s, "tls-cluster yes");
        }
        Ok(s)
    }
}

/// An absolute path as redis.conf reads it: quoted when it holds a space; refused when it holds
/// what redis.conf cannot carry.
fn conf_path(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let text = abs
        .to_str()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not UTF-8", abs.display())))?;
    if text
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || c == '\'')
    {
        return Err(Error::InvalidArgument(format!(
            "{text:?} holds a quote, backslash or control character, which redis.conf cannot take"
        )));
    }
    Ok(if text.contains(' ') {
        format!("\"{text}\"")
    } else {
        text.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_tls_block() {
        let mut config = RedisTlsConfig::new("/etc/redis/server");
        config.aclfile = Some("/etc/redis/users.acl".into());
        config.port = 6380;
        config.replication = true;
        assert_eq!(
            config.render().unwrap(),
            "port 0\ntls-port 6380\ntls-cert-file /etc/redis/server.crt\ntls-key-file /etc/redis/server.key\n\
             tls-ca-cert-file /etc/redis/server.cas\ntls-auth-clients yes\ntls-protocols \"TLSv1.2 TLSv1.3\"\n\
             aclfile /etc/redis/users.acl\ntls-replication yes\n"
        );
    }

    #[test]
    fn quotes_spaces_and_refuses_quotes() {
        let text = RedisTlsConfig::new("/srv/my redis/server")
            .render()
            .unwrap();
        assert!(text.contains("tls-cert-file \"/srv/my redis/server.crt\"\n"));
        assert!(RedisTlsConfig::new("/srv/a\"b/server").render().is_err());
        assert!(RedisTlsConfig::new("/srv/a\nb/server").render().is_err());
    }
}

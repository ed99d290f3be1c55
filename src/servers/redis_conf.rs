//! The redis.conf TLS block for a certificate bundle, valid for Redis 6.0 and later.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Invalid, Result};
use crate::pki::bundle::RedisBundle;

/// What goes into the TLS block.
///
/// ```
/// let mut config = rctl::RedisTlsConfig::new("/etc/redis/server");
/// config.aclfile = Some("/etc/redis/users.acl".into());
/// let text = config.render().unwrap();
/// assert!(text.starts_with("port 0\ntls-port 6379\ntls-cert-file /etc/redis/server.crt\n"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct RedisTlsConfig {
    /// The bundle prefix: `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    pub cert_prefix: PathBuf,
    /// The private key, when it is not `PREFIX.key` (a CSR's key stays where it was made).
    pub key_file: Option<PathBuf>,
    /// A users.acl to load with `aclfile`.
    pub aclfile: Option<PathBuf>,
    /// The TLS port (`port 0` turns the plain port off).
    pub port: u16,
    /// `tls-cluster yes`: TLS on the cluster bus.
    pub cluster: bool,
    /// `tls-replication yes`: TLS between primary and replicas (implied by `cluster` and
    /// `replica_of`).
    pub replication: bool,
    /// `tls-auth-clients-user CN`: clients are logged in as the account their certificate's CN
    /// names (Valkey 9.0+, Redis 8.6+).
    pub cert_login: bool,
    /// This server is a replica of another.
    pub replica_of: Option<ReplicaOf>,
}

/// How a replica logs in to its primary, and (outside a cluster) which primary.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReplicaOf {
    /// The primary's host name or address and TLS port (`replicaof`); `None` in a cluster,
    /// where the cluster assigns primaries.
    pub primary: Option<(String, u16)>,
    /// The replication account (`masteruser`), with the built-in `replication` role.
    pub user: String,
    /// How it proves it is that account.
    pub auth: ReplicaAuth,
}

impl ReplicaOf {
    /// The account `user` logging in with `auth`, to `primary` when given.
    pub fn new(
        primary: Option<(String, u16)>,
        user: impl Into<String>,
        auth: ReplicaAuth,
    ) -> ReplicaOf {
        ReplicaOf {
            primary,
            user: user.into(),
            auth,
        }
    }
}

/// How a replica logs in to its primary.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplicaAuth {
    /// `masteruser` and `masterauth` with the account's password.
    Password(crate::accounts::users::Password),
    /// With certificate login: a client certificate for the account (`PREFIX.crt`,
    /// `PREFIX.key`), as `tls-client-cert-file` and `tls-client-key-file`.
    Certificate(PathBuf),
}

impl RedisTlsConfig {
    /// Port 6379, no aclfile, no cluster or replication lines.
    pub fn new(cert_prefix: impl Into<PathBuf>) -> RedisTlsConfig {
        RedisTlsConfig {
            cert_prefix: cert_prefix.into(),
            key_file: None,
            aclfile: None,
            port: 6379,
            cluster: false,
            replication: false,
            cert_login: false,
            replica_of: None,
        }
    }

    /// The redis.conf lines, with absolute paths.
    pub fn render(&self) -> Result<String> {
        let [crt, key, cas] = RedisBundle::paths(&self.cert_prefix);
        let mut s = String::new();
        let _ = writeln!(s, "port 0");
        let _ = writeln!(s, "tls-port {}", self.port);
        let _ = writeln!(s, "tls-cert-file {}", conf_path(&crt)?);
        let key = self.key_file.as_ref().unwrap_or(&key);
        let _ = writeln!(s, "tls-key-file {}", conf_path(key)?);
        let _ = writeln!(s, "tls-ca-cert-file {}", conf_path(&cas)?);
        let _ = writeln!(s, "tls-auth-clients yes");
        let _ = writeln!(s, "tls-protocols \"TLSv1.2 TLSv1.3\"");
        if let Some(acl) = &self.aclfile {
            let _ = writeln!(s, "aclfile {}", conf_path(acl)?);
        }
        if self.cert_login {
            let _ = writeln!(s, "tls-auth-clients-user CN");
        }
        // Cluster replicas and any replica sync over TLS: without it their handshake fails.
        if self.replication || self.cluster || self.replica_of.is_some() {
            let _ = writeln!(s, "tls-replication yes");
        }
        if self.cluster {
            let _ = writeln!(s, "cluster-enabled yes");
            let _ = writeln!(s, "tls-cluster yes");
        }
        if let Some(r) = &self.replica_of {
            if let Some((host, port)) = &r.primary {
                let _ = writeln!(s, "replicaof {} {port}", conf_word(host)?);
            }
            match &r.auth {
                ReplicaAuth::Password(password) => {
                    let _ = writeln!(s, "masteruser {}", conf_word(&r.user)?);
                    let _ = writeln!(s, "masterauth {}", conf_word(password.expose())?);
                }
                ReplicaAuth::Certificate(prefix) => {
                    let [crt, key, _] = RedisBundle::paths(prefix);
                    let _ = writeln!(s, "tls-client-cert-file {}", conf_path(&crt)?);
                    let _ = writeln!(s, "tls-client-key-file {}", conf_path(&key)?);
                }
            }
        }
        Ok(s)
    }
}

/// A word as redis.conf reads it: refused when it holds white space, a quote, a backslash or a
/// control character (names and rctl passwords never do).
pub(crate) fn conf_word(text: &str) -> Result<&str> {
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '\''))
    {
        return Err(Invalid::RedisConfWord.into());
    }
    Ok(text)
}

/// An absolute path as redis.conf reads it: quoted when it holds a space; refused when it holds
/// what redis.conf cannot carry.
pub(crate) fn conf_path(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let text = abs
        .to_str()
        .ok_or_else(|| Invalid::NotUtf8 { path: abs.clone() })?;
    if text
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || c == '\'')
    {
        return Err(Invalid::RedisConfText {
            value: text.to_string(),
        }
        .into());
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
    fn replicas_get_replicaof_and_their_login() {
        let mut config = RedisTlsConfig::new("/etc/redis/replica");
        config.replica_of = Some(ReplicaOf {
            primary: Some(("10.0.0.5".into(), 6379)),
            user: "replicator".into(),
            auth: ReplicaAuth::Password(
                crate::accounts::users::Password::from_input("s3cret".into()).unwrap(),
            ),
        });
        let text = config.render().unwrap();
        assert!(text.ends_with(
            "tls-replication yes\nreplicaof 10.0.0.5 6379\nmasteruser replicator\nmasterauth s3cret\n"
        ), "{text}");
        config.cert_login = true;
        config.replica_of.as_mut().unwrap().auth =
            ReplicaAuth::Certificate("/etc/redis/repl".into());
        let text = config.render().unwrap();
        assert!(text.contains("tls-auth-clients-user CN\n"), "{text}");
        assert!(text.contains("tls-client-cert-file /etc/redis/repl.crt\ntls-client-key-file /etc/redis/repl.key\n"), "{text}");
        assert!(!text.contains("masterauth"), "{text}");
        let mut cluster = RedisTlsConfig::new("/etc/redis/node");
        cluster.cluster = true;
        assert!(
            cluster
                .render()
                .unwrap()
                .contains("tls-replication yes\ncluster-enabled yes\ntls-cluster yes\n")
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

//! A Redis Sentinel's configuration over TLS, for the servers rctl's files serve: Sentinel
//! speaks TLS to the monitored primary and its replicas (`tls-replication yes`), to its clients
//! and to the other sentinels (on `tls-port`, which it announces), and logs in to the servers
//! as an account with the built-in `sentinel` role (`sentinel auth-user`/`auth-pass`).

use std::fmt::Write;
use std::path::PathBuf;

use super::redis_conf::{conf_path, conf_word};
use crate::accounts::users::Password;
use crate::error::{Invalid, Result};
use crate::pki::bundle::RedisBundle;

/// What goes into sentinel.conf.
///
/// ```
/// let monitor = rctl::Monitor::new("cache", ("10.0.0.5".to_string(), 6379), 2).unwrap();
/// let config = rctl::SentinelConfig::new(
///     "/etc/redis/sentinel",
///     26379,
///     monitor,
///     "sentinel",
///     rctl::Password::from_input("pw-of-the-sentinel-1".into()).unwrap(),
/// )
/// .unwrap();
/// let text = config.render().unwrap();
/// assert!(text.contains("sentinel monitor cache 10.0.0.5 6379 2\n"));
/// assert!(text.contains("tls-replication yes\n"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct SentinelConfig {
    /// The sentinel's own bundle prefix (its server certificate, which it also presents as a
    /// client to the servers and the other sentinels).
    pub cert_prefix: PathBuf,
    /// Its TLS port.
    pub port: u16,
    /// The name of the monitored primary (`sentinel monitor NAME`).
    pub master_name: String,
    /// The primary's address and TLS port.
    pub primary: (String, u16),
    /// How many sentinels must agree the primary is down.
    pub quorum: u32,
    /// The account it logs in to the servers with (the `sentinel` role).
    pub user: String,
    /// That account's password.
    pub password: Password,
}

/// What a sentinel watches: `sentinel monitor NAME HOST PORT QUORUM`.
#[derive(Clone, Debug)]
pub struct Monitor {
    master_name: String,
    primary: (String, u16),
    quorum: u32,
}

impl Monitor {
    /// Checked: a master name Sentinel takes (a name), a quorum of at least 1.
    pub fn new(master_name: &str, primary: (String, u16), quorum: u32) -> Result<Monitor> {
        crate::accounts::names::validate_name("master", master_name)?;
        if quorum == 0 {
            return Err(Invalid::Quorum.into());
        }
        Ok(Monitor {
            master_name: master_name.to_string(),
            primary,
            quorum,
        })
    }
}

impl SentinelConfig {
    /// The sentinel at `port` with the bundle at `cert_prefix`, watching `monitor`, logging in
    /// to the servers as `user`.
    pub fn new(
        cert_prefix: impl Into<PathBuf>,
        port: u16,
        monitor: Monitor,
        user: &str,
        password: Password,
    ) -> Result<SentinelConfig> {
        Ok(SentinelConfig {
            cert_prefix: cert_prefix.into(),
            port,
            master_name: monitor.master_name,
            primary: monitor.primary,
            quorum: monitor.quorum,
            user: user.to_string(),
            password,
        })
    }

    /// The sentinel.conf text (Sentinel rewrites the file as it learns the other sentinels
    /// and replicas: give it a file it may write).
    pub fn render(&self) -> Result<String> {
        let [crt, key, cas] = RedisBundle::paths(&self.cert_prefix);
        let name = conf_word(&self.master_name)?;
        let mut s = String::new();
        let _ = writeln!(s, "port 0");
        let _ = writeln!(s, "tls-port {}", self.port);
        let _ = writeln!(s, "tls-cert-file {}", conf_path(&crt)?);
        let _ = writeln!(s, "tls-key-file {}", conf_path(&key)?);
        let _ = writeln!(s, "tls-ca-cert-file {}", conf_path(&cas)?);
        let _ = writeln!(s, "tls-auth-clients yes");
        let _ = writeln!(s, "tls-protocols \"TLSv1.2 TLSv1.3\"");
        // TLS to the primary and replicas; the TLS port announced to the other sentinels.
        let _ = writeln!(s, "tls-replication yes");
        let (host, port) = &self.primary;
        let _ = writeln!(
            s,
            "sentinel monitor {name} {} {port} {}",
            conf_word(host)?,
            self.quorum
        );
        let _ = writeln!(s, "sentinel auth-user {name} {}", conf_word(&self.user)?);
        let _ = writeln!(
            s,
            "sentinel auth-pass {name} {}",
            conf_word(self.password.expose())?
        );
        Ok(s)
    }
}

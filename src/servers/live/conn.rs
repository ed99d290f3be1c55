//! A connection to a live server as `rctl-admin`: mutual TLS (a short-lived certificate signed
//! in memory, the server checked against the trusted CA keys) and the account's password. RESP
//! is the `redis` crate's.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use zeroize::Zeroizing;

use crate::accounts::admin::ADMIN_ACCOUNT;
use crate::accounts::users::Password;
use crate::error::{Error, MissingCredential, ReplyHint, Result, ServerError, shorten};
use crate::servers::registered::ServerAddr;

/// What rctl logs in with: its account's password and a client certificate per trusted CA key
/// (the signing key's first), so that a server still trusting only the other key of a rotation
/// lets rctl in to be brought in line.
#[derive(Clone)]
pub struct AdminLogin {
    /// `None` on a node that has no copy of it yet.
    pub(crate) password: Option<Password>,
    /// What users.acl holds for it.
    pub(crate) password_hash: crate::accounts::users::PasswordHash,
    /// (certificate PEM, key PEM), the signing key's first.
    pub(crate) identities: Vec<(String, Zeroizing<String>)>,
    /// Every trusted CA certificate (PEM): what a server's certificate must chain to.
    pub(crate) trusted_pem: String,
}

impl std::fmt::Debug for AdminLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminLogin")
            .field("identities", &self.identities.len())
            .finish_non_exhaustive()
    }
}

/// A logged-in connection to one server.
pub struct Live {
    conn: redis::Connection,
}

impl Live {
    /// Connects to `addr` over mutual TLS and logs in as `rctl-admin`, trying each identity in
    /// turn; the first failure is the one reported.
    pub fn connect(addr: &ServerAddr, login: &AdminLogin, timeout: Duration) -> Result<Live> {
        super::install_provider();
        if login.password.is_none() {
            return Err(ServerError::NoCredential {
                addr: addr.to_string(),
                missing: MissingCredential::AdminPassword,
            }
            .into());
        }
        let mut first = None;
        for (cert, key) in &login.identities {
            match Self::connect_as(addr, login, cert, key, timeout) {
                Ok(live) => return Ok(live),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or_else(|| {
            ServerError::NoCredential {
                addr: addr.to_string(),
                missing: MissingCredential::ClientCertificate,
            }
            .into()
        }))
    }

    fn connect_as(
        addr: &ServerAddr,
        login: &AdminLogin,
        cert: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Live> {
        let fail = |e: redis::RedisError| server_error(addr, &e);
        let info: ConnectionInfo = ConnectionAddr::TcpTls {
            host: addr.host().to_string(),
            port: addr.port(),
            insecure: false,
            tls_params: None,
        }
        .into_connection_info()
        .map_err(fail)?
        .set_redis_settings(
            RedisConnectionInfo::default()
                .set_username(ADMIN_ACCOUNT)
                .set_password(login.password.as_ref().map_or("", |p| p.expose()))
                .set_skip_set_lib_name(),
        );
        let certificates = redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: cert.as_bytes().to_vec(),
                client_key: key.as_bytes().to_vec(),
            }),
            root_cert: Some(login.trusted_pem.as_bytes().to_vec()),
        };
        let client = redis::Client::build_with_tls(info, certificates).map_err(fail)?;
        let conn = client.get_connection_with_timeout(timeout).map_err(fail)?;
        conn.set_read_timeout(Some(timeout)).map_err(fail)?;
        conn.set_write_timeout(Some(timeout)).map_err(fail)?;
        let mut live = Live { conn };
        // The login is checked by the crate; this proves the account is the one expected.
        let me: String = live.query(redis::cmd("ACL").arg("WHOAMI"), addr)?;
        if me != ADMIN_ACCOUNT {
            return Err(ServerError::NotAdmin {
                addr: addr.to_string(),
                account: shorten(&me),
            }
            .into());
        }
        Ok(live)
    }

    /// Whether the connection still answers (`PING`).
    pub(crate) fn ping(&mut self, addr: &ServerAddr) -> Result<()> {
        let _: String = self.query(&redis::cmd("PING"), addr)?;
        Ok(())
    }

    /// Runs one command.
    pub(crate) fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        addr: &ServerAddr,
    ) -> Result<T> {
        cmd.query(&mut self.conn)
            .map_err(|e| server_error(addr, &e))
    }

    /// Runs a pipeline of commands.
    pub(crate) fn pipeline<T: redis::FromRedisValue>(
        &mut self,
        pipe: &redis::Pipeline,
        addr: &ServerAddr,
    ) -> Result<T> {
        pipe.query(&mut self.conn)
            .map_err(|e| server_error(addr, &e))
    }

    /// `CONFIG GET name`: its value, `None` when the server has no such setting.
    pub fn config_get(&mut self, name: &str, addr: &ServerAddr) -> Result<Option<String>> {
        let pairs: Vec<String> = self.query(redis::cmd("CONFIG").arg("GET").arg(name), addr)?;
        Ok(pairs.get(1).cloned())
    }

    /// The server's product and version (`INFO server`); `None` when it names none.
    pub fn server_version(
        &mut self,
        addr: &ServerAddr,
    ) -> Result<Option<super::version::ServerVersion>> {
        let info: String = self.query(redis::cmd("INFO").arg("server"), addr)?;
        Ok(super::version::ServerVersion::from_info(&info))
    }

    /// `ACL LIST`: one line per account, in the server's canonical form.
    pub fn acl_list(&mut self, addr: &ServerAddr) -> Result<Vec<String>> {
        self.query(redis::cmd("ACL").arg("LIST"), addr)
    }
}

/// One line for a failed exchange with the server at `addr`, with no secret in it (the crate's
/// errors carry the server's reply, never the command sent).
fn server_error(addr: &ServerAddr, e: &redis::RedisError) -> Error {
    // A read that timed out says "Resource temporarily unavailable (os error 11)".
    if e.is_timeout() {
        return ServerError::NoAnswer {
            addr: addr.to_string(),
        }
        .into();
    }
    let text = e.to_string();
    let refused = [
        "WRONGPASS",
        "invalid username-password",
        "AuthenticationFailed",
    ];
    if refused.iter().any(|r| text.contains(r)) {
        return Error::AdminPasswordRefused {
            addr: addr.to_string(),
            reply: shorten(&text),
        };
    }
    let hint = if text.contains("NOPERM") {
        Some(ReplyHint::NoPermission)
    } else if text.to_ascii_lowercase().contains("certificate") {
        Some(ReplyHint::Certificate)
    } else {
        None
    };
    ServerError::Reply {
        addr: addr.to_string(),
        reply: shorten(&text),
        hint,
    }
    .into()
}

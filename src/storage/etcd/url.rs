//! Where an etcd state lives (`etcd://HOST:PORT[,HOST:PORT…]/PREFIX`), and the TLS to reach it.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};

use crate::error::{Error, Invalid, Result};

/// The names under a state's prefix where it keeps its keys, this layout's and the first's.
const SPACES: [&str; 7] = ["a", "b", "d", "k", "l", "m", "u"];

/// Where an etcd state lives: `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `HOST:PORT` of each member.
    pub endpoints: Vec<String>,
    /// The prefix, as `/PREFIX/`.
    pub prefix: String,
}

impl EtcdUrl {
    /// Parses `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`; `None` for anything that is not `etcd://`.
    pub fn parse(text: &str) -> Option<Result<EtcdUrl>> {
        let rest = text.strip_prefix("etcd://")?;
        // A user name and password in the URL would be echoed in messages and `status`, and
        // etcd's own authentication is not what rctl uses: refused without quoting the text.
        if rest
            .split('/')
            .next()
            .is_some_and(|hosts| hosts.contains('@'))
        {
            return Some(Err(Invalid::EtcdCredentialsInUrl.into()));
        }
        let bad = |why: &str| {
            Invalid::malformed(
                "etcd state",
                text,
                format!("{why} (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)"),
            )
        };
        let Some((hosts, prefix)) = rest.split_once('/') else {
            return Some(Err(bad("no /PREFIX")));
        };
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Some(Err(bad(
                "the prefix is letters, digits, '-', '_', '.' and '/'",
            )));
        }
        // A state's keys sit under PREFIX/k/, /u/, /a/, /d/ (and /m/, /b/ in the first layout):
        // a prefix with such a part after its first would put one state inside another's.
        if prefix
            .split('/')
            .skip(1)
            .any(|part| SPACES.contains(&part) || part.is_empty())
        {
            return Some(Err(bad(
                "after its first part, no part of the prefix may be empty or one of a, b, d, k, l, m, u (a state keeps its keys there)",
            )));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let valid = host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !valid {
                return Some(Err(bad("each member is HOST:PORT")));
            }
            endpoints.push(host.to_string());
        }
        Some(Ok(EtcdUrl {
            endpoints,
            prefix: format!("/{prefix}/"),
        }))
    }
}

/// As given: `etcd://HOST:PORT[,…]/PREFIX/`.
impl std::fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

/// How rctl reaches etcd: TLS (the CA that signed the members' certificates, and a client
/// certificate, whose CN is the etcd user under `--client-cert-auth`), or an etcd user and
/// password (etcd's own authentication), or both.
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// PEM CA file.
    pub ca: Option<PathBuf>,
    /// PEM client certificate.
    pub cert: Option<PathBuf>,
    /// PEM client key.
    pub key: Option<PathBuf>,
    /// An etcd user and its password.
    pub user: Option<EtcdUser>,
}

/// An etcd user and its password (read from a file, never from a command line).
#[derive(Clone)]
pub struct EtcdUser {
    /// The etcd user.
    pub name: String,
    /// Its password, wiped when dropped.
    pub password: zeroize::Zeroizing<String>,
}

/// The user's name only.
impl std::fmt::Debug for EtcdUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EtcdUser({:?}, <redacted>)", self.name)
    }
}

/// The members' endpoints (`https` with a CA given) and the client's options: timeouts, and
/// TLS with the CA and this client's certificate when given.
pub(super) fn connect_options(
    url: &EtcdUrl,
    tls: &EtcdTls,
) -> Result<(Vec<String>, ConnectOptions)> {
    let scheme = if tls.ca.is_some() { "https" } else { "http" };
    let endpoints: Vec<String> = url
        .endpoints
        .iter()
        .map(|e| format!("{scheme}://{e}"))
        .collect();
    let mut options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(15));
    if let Some(ca) = &tls.ca {
        let read = |p: &PathBuf| {
            crate::output::read::read_regular(p, crate::output::read::PEM_LIMIT)
                .map_err(|e| Error::io(p, e))
        };
        let mut config = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(config);
    }
    if let Some(user) = &tls.user {
        options = options.with_user(user.name.as_str(), user.password.as_str());
    }
    Ok((endpoints, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let url = EtcdUrl::parse("etcd://127.0.0.1:2379,10.0.0.2:2379/rctl/prod")
            .unwrap()
            .unwrap();
        assert_eq!(url.endpoints, ["127.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(url.prefix, "/rctl/prod/");
        assert!(EtcdUrl::parse("/var/lib/rctl").is_none());
        for good in ["etcd://h:1/k", "etcd://h:1/teams/kv", "etcd://h:1/a.b/c-d/"] {
            assert!(EtcdUrl::parse(good).unwrap().is_ok(), "{good}");
        }
        for bad in [
            "etcd://127.0.0.1:2379",
            "etcd://127.0.0.1:2379/",
            "etcd://127.0.0.1/p",
            "etcd://:2379/p",
            "etcd://h:0/p",
            "etcd://h:1/a b",
            "etcd://h:1/rctl/k",
            "etcd://h:1/rctl/k/roles",
            "etcd://h:1/rctl//prod",
        ] {
            assert!(EtcdUrl::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}

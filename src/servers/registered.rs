//! Registered Redis servers: where each one's certificate bundle and users.acl live, how to
//! reach it, and what its certificate must say. `rctl redis add|ls|rm` keep them in the state.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::accounts::labels::Labels;
use crate::accounts::names::{NodeName, ServerName};
use crate::duration::Ttl;
use crate::error::{Error, Invalid, Result};
use crate::output::owner::FileOwner;
use crate::pki::hosts::Host;
use crate::pki::keys::KeyAlgorithm;

/// Where a server listens: `HOST:PORT`, `[IPV6]:PORT`.
///
/// ```
/// let addr: rctl::ServerAddr = "[::1]:6380".parse().unwrap();
/// assert_eq!(addr.port(), 6380);
/// assert_eq!(addr.to_string(), "[::1]:6380");
/// assert!("redis.internal".parse::<rctl::ServerAddr>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr {
    host: Host,
    port: u16,
}

impl ServerAddr {
    /// The host: a DNS name or an IP address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl FromStr for ServerAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<ServerAddr> {
        let bad = |reason: &str| Invalid::malformed("server address", s, reason.to_string());
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("want [IPV6]:PORT"))?;
            (host, port)
        } else {
            s.rsplit_once(':').ok_or_else(|| bad("want HOST:PORT"))?
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if s.starts_with('[') != host.contains(':') {
            return Err(bad("an IPv6 address goes in brackets: [IPV6]:PORT"));
        }
        if host.starts_with("*.") {
            return Err(bad("a wildcard is not an address"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is a number from 1 to 65535"))?;
        Ok(ServerAddr {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) if ip.is_ipv6() => write!(f, "[{ip}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// A Redis server rctl keeps in line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ServerRecord", into = "ServerRecord")]
#[non_exhaustive]
pub struct RegisteredServer {
    /// Its name in rctl.
    pub name: ServerName,
    /// Where it listens for TLS.
    pub addr: ServerAddr,
    /// The prefix of its bundle: `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas` (an absolute path).
    pub cert_prefix: PathBuf,
    /// The names its certificate carries; the host of `addr` unless given.
    pub hosts: Vec<Host>,
    /// Where its users.acl lives (an absolute path), if rctl writes one for it.
    pub acl_file: Option<PathBuf>,
    /// The key algorithm of its certificate; the CA's when `None`.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Its certificate's lifetime; rctl's default when `None`.
    pub ttl: Option<Ttl>,
    /// Who owns the files written for it; the owner of the files replaced when `None`.
    pub owner: Option<FileOwner>,
    /// Its labels, which roles' `db_labels` select.
    pub labels: Labels,
    /// What it is, for people listing servers.
    pub description: Option<String>,
    /// The host that holds its files, on a fleet's shared state; `None` for the one host that
    /// holds every file (`redis sync --all`).
    pub node: Option<NodeName>,
    /// A Redis Sentinel: sync renews its bundle and says it must be restarted (Sentinel loads
    /// TLS files only at start); nothing is asked of it live.
    pub sentinel: bool,
}

impl RegisteredServer {
    /// A server at `addr` whose bundle lives at `cert_prefix` (made absolute against the
    /// working directory), with the host of `addr` as its one certificate name.
    pub fn new(name: ServerName, addr: ServerAddr, cert_prefix: &Path) -> Result<RegisteredServer> {
        Ok(RegisteredServer {
            name,
            hosts: vec![addr.host().clone()],
            addr,
            cert_prefix: absolute_utf8(cert_prefix)?,
            acl_file: None,
            key_algorithm: None,
            ttl: None,
            owner: None,
            labels: Labels::default(),
            description: None,
            node: None,
            sentinel: false,
        })
    }

    /// A Redis Sentinel (no users.acl: Sentinel's accounts are its own).
    pub fn as_sentinel(mut self) -> Result<RegisteredServer> {
        if self.acl_file.is_some() {
            return Err(Invalid::SentinelAcl.into());
        }
        self.sentinel = true;
        Ok(self)
    }

    /// Held by `node`.
    pub fn with_node(mut self, node: NodeName) -> RegisteredServer {
        self.node = Some(node);
        self
    }

    /// With the names its certificate carries (at least one).
    pub fn with_hosts(mut self, hosts: Vec<Host>) -> Result<RegisteredServer> {
        if hosts.is_empty() {
            return Err(Invalid::NoHost.into());
        }
        self.hosts = hosts;
        Ok(self)
    }

    /// With a users.acl path (made absolute).
    pub fn with_acl_file(mut self, path: &Path) -> Result<RegisteredServer> {
        self.acl_file = Some(absolute_utf8(path)?);
        Ok(self)
    }

    /// With a key algorithm for its certificate.
    pub fn with_key_algorithm(mut self, algorithm: KeyAlgorithm) -> RegisteredServer {
        self.key_algorithm = Some(algorithm);
        self
    }

    /// With a certificate lifetime.
    pub fn with_ttl(mut self, ttl: Ttl) -> RegisteredServer {
        self.ttl = Some(ttl);
        self
    }

    /// With labels.
    pub fn with_labels(mut self, labels: Labels) -> RegisteredServer {
        self.labels = labels;
        self
    }

    /// With a description: one line of printable text, at most 200 characters.
    pub fn with_description(mut self, text: &str) -> Result<RegisteredServer> {
        check_description(text)?;
        self.description = Some(text.to_string());
        Ok(self)
    }

    /// With the owner of the files written for it.
    pub fn with_owner(mut self, owner: FileOwner) -> RegisteredServer {
        self.owner = Some(owner);
        self
    }

    /// The files rctl writes for it: the bundle, then the users.acl if it has one.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> =
            crate::pki::bundle::RedisBundle::paths(&self.cert_prefix).into();
        paths.extend(self.acl_file.clone());
        paths
    }
}

fn check_description(text: &str) -> Result<()> {
    if text.trim().is_empty() || text.chars().count() > 200 || text.chars().any(char::is_control) {
        return Err(Invalid::malformed(
            "description",
            text,
            "one line of printable text, 1 to 200 characters",
        ));
    }
    Ok(())
}

/// `path` made absolute, refused when it is not UTF-8 (the state keeps it as text).
fn absolute_utf8(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    if absolute.to_str().is_none() {
        return Err(Invalid::NotUtf8 {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(absolute)
}

/// A registered server as its state file holds it: plain text fields.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerRecord {
    name: ServerName,
    addr: String,
    cert_prefix: PathBuf,
    hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acl_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_algorithm: Option<KeyAlgorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<NodeName>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sentinel: bool,
}

impl From<RegisteredServer> for ServerRecord {
    fn from(s: RegisteredServer) -> ServerRecord {
        ServerRecord {
            name: s.name,
            addr: s.addr.to_string(),
            cert_prefix: s.cert_prefix,
            hosts: s.hosts.iter().map(ToString::to_string).collect(),
            acl_file: s.acl_file,
            key_algorithm: s.key_algorithm,
            ttl: s.ttl.map(|t| t.to_string()),
            owner: s.owner.map(|o| o.to_string()),
            labels: s.labels,
            description: s.description,
            node: s.node,
            sentinel: s.sentinel,
        }
    }
}

impl TryFrom<ServerRecord> for RegisteredServer {
    type Error = String;

    fn try_from(r: ServerRecord) -> std::result::Result<RegisteredServer, String> {
        let text = |e: Error| e.to_string();
        for path in std::iter::once(&r.cert_prefix).chain(&r.acl_file) {
            if !path.is_absolute() {
                return Err(format!("{} is not an absolute path", path.display()));
            }
        }
        let hosts = r
            .hosts
            .iter()
            .map(|h| Host::parse(h))
            .collect::<Result<Vec<_>>>()
            .map_err(text)?;
        if hosts.is_empty() {
            return Err("no hosts".to_string());
        }
        if let Some(text) = &r.description {
            check_description(text).map_err(|e| e.to_string())?;
        }
        if r.sentinel && r.acl_file.is_some() {
            return Err("a sentinel with a users.acl".to_string());
        }
        Ok(RegisteredServer {
            name: r.name,
            addr: r.addr.parse().map_err(text)?,
            cert_prefix: r.cert_prefix,
            hosts,
            acl_file: r.acl_file,
            key_algorithm: r.key_algorithm,
            ttl: r.ttl.map(|t| t.parse()).transpose().map_err(text)?,
            owner: r.owner.map(|o| o.parse()).transpose().map_err(text)?,
            labels: r.labels,
            description: r.description,
            node: r.node,
            sentinel: r.sentinel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print_back() {
        for good in ["redis.internal:6379", "127.0.0.1:6380", "[::1]:7000", "a:1"] {
            let addr: ServerAddr = good.parse().unwrap();
            assert_eq!(addr.to_string(), good);
        }
        for bad in [
            "redis.internal",
            ":6379",
            "host:0",
            "host:65536",
            "host:port",
            "::1:6379",
            "[::1]6379",
            "[redis]:6379",
            "*.example.com:6379",
            "bad host:6379",
        ] {
            assert!(bad.parse::<ServerAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_are_user_or_user_colon_group() {
        let o: FileOwner = "redis:redis".parse().unwrap();
        assert_eq!(o.to_string(), "redis:redis");
        assert!("999:999".parse::<FileOwner>().is_ok());
        let o: FileOwner = "redis".parse().unwrap();
        assert_eq!((o.user.as_str(), o.group), ("redis", None));
        assert_eq!("0".parse::<FileOwner>().unwrap().resolve().unwrap(), (0, 0));
        for bad in [":redis", "redis:", "a:b:c", "-x:y", "a b:c", "r\n:x"] {
            assert!(bad.parse::<FileOwner>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_round_trips_and_defaults_its_hosts_to_the_address() {
        let server = RegisteredServer::new(
            "primary".parse().unwrap(),
            "[::1]:6380".parse().unwrap(),
            Path::new("tls/server"),
        )
        .unwrap()
        .with_ttl("720h".parse().unwrap())
        .with_owner("redis:redis".parse().unwrap());
        assert_eq!(server.hosts, [Host::parse("::1").unwrap()]);
        assert!(server.cert_prefix.is_absolute());
        let yaml = serde_norway::to_string(&server).unwrap();
        let again: RegisteredServer = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(again, server);
        let relative = yaml.replace(server.cert_prefix.to_str().unwrap(), "tls/server");
        assert!(serde_norway::from_str::<RegisteredServer>(&relative).is_err());
    }
}

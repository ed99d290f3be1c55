//! rctl: Redis behind mutual TLS, without a server.
//!
//! A host certificate authority kept in a local state directory signs Redis server and client
//! certificates (`tctl auth sign --format=redis` without Teleport), rotates in Teleport's phases,
//! and (with users and roles) renders the `users.acl` Redis loads.
//!
//! ```
//! use rctl::{StateDir, ServerCertRequest, parse_host_list};
//!
//! # fn main() -> Result<(), rctl::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut state = StateDir::open(dir.path().join("state"))?;
//! let bundle = state.sign_redis_server(&ServerCertRequest {
//!     hosts: parse_host_list("redis.example.com,10.0.0.5")?,
//!     ttl: "2190h".parse()?,
//!     key_algorithm: None,
//! })?;
//! // server.crt, server.key (0600) and server.cas, for redis.conf's tls-*-file settings.
//! bundle.write(&dir.path().join("server"), false)?;
//! assert!(bundle.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;
mod audit;
mod ca;
mod csr;
mod duration;
mod error;
mod fileset;
mod hosts;
mod inspect;
mod keys;
mod names;
mod redis_conf;
mod roles;
mod rotation;
mod sign;
mod state;
pub mod store;
mod users;

pub use audit::AuditEvent;
pub use ca::{CaKey, CaOptions, DEFAULT_CA_TTL, HostCa};
pub use duration::{Ttl, format_std, parse_duration};
pub use error::{Error, Result};
pub use hosts::{Host, parse_host_list};
pub use inspect::{CertReport, CertStatus, inspect_certificate};
pub use keys::{KeyAlgorithm, PrivateKey, spki_pin};
pub use names::{MAX_NAME_LEN, validate_name};
pub use redis_conf::RedisTlsConfig;
pub use roles::{
    BUILTIN_ROLES, Metadata, Role, RoleConditions, RoleOptions, RoleSpec, check_access, ttl_cap,
};
pub use rotation::{DEFAULT_GRACE_PERIOD, Mode, Phase, Rotation};
pub use sign::{
    CertKind, ClientCertRequest, DEFAULT_CERT_TTL, IssuedCert, RedisBundle, ServerCertRequest,
};
pub use state::{
    ClientLogin, NewUser, Notice, StateDir, UserUpdate, default_cluster_name, default_state_dir,
};
pub use users::{Password, PasswordHash, User, parse_list, validate_user_name};

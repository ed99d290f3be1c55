//! rctl: Redis behind mutual TLS, without a server.
//!
//! A host certificate authority kept in a local state directory signs Redis server and client
//! certificates (`tctl auth sign --format=redis` without Teleport), rotates in Teleport's phases,
//! and, from Teleport-style users and roles, renders the `users.acl` Redis loads.
//!
//! The whole job, as the `rctl` command line does it:
//!
//! ```
//! use rctl::{BundleFormat, ClientLogin, NewUser, Placement, ServerCertRequest, Signing, StateDir};
//! use rctl::parse_host_list;
//!
//! # fn main() -> Result<(), rctl::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! // Open (and lock) the state directory; the host CA is created on first use.
//! let mut state = StateDir::open(dir.path().join("state"))?;
//!
//! // server.crt, server.key (0600) and server.cas, for redis.conf's tls-*-file settings: the
//! // outputs checked first, then signed, written and audited as one step.
//! let mut req = ServerCertRequest::new(parse_host_list("redis.example.com,10.0.0.5")?);
//! req.ttl = Some("2190h".parse()?);
//! let placement = Placement::new(BundleFormat::Redis);
//! let signing = Signing::server(req).written_to(dir.path().join("server"), placement);
//! let (_server, files) = state.sign(&signing)?;
//! assert_eq!(files.len(), 3);
//!
//! // A user whose built-in `access` role lets them connect as Redis user "alice".
//! let (_alice, password) = state.users().add(
//!     NewUser::new("alice".parse()?, vec!["access".into()]).with_db_users(vec!["alice".into()]),
//! )?;
//! assert_eq!(password.unwrap().expose().len(), 64); // shown once, stored as SHA-256 only
//!
//! // Her client certificate, checked against her roles.
//! let login = ClientLogin::new("alice".parse()?, "alice".parse()?);
//! let (client, _) = state.sign(&Signing::client(login))?;
//! client.write(&dir.path().join("alice"), false)?;
//!
//! // The users.acl for `aclfile`, for the cluster's Redis version (redis-7.0 until
//! // `set_redis_target` says otherwise; `Some(target)` overrides it for one call).
//! let acl = state.settings().render_acl(None)?;
//! assert!(acl.starts_with("user alice on #"));
//! assert!(acl.ends_with("user default off\n"));
//! # Ok(()) }
//! ```
//!
//! The library is built in floors, each a folder that imports only from those below it
//! (`ARCHITECTURE.md` has the table and the three main paths; a test holds them): [`Error`]
//! at the bottom, then Go durations ([`Ttl`]), safe file output, [`storage`] (the
//! [`storage::Store`] trait, its directory and etcd backends, the request queue), the access
//! rules ([`User`], [`Role`], [`check_access`], [`Labels`]), the PKI ([`HostCa`], [`Phase`],
//! [`RedisBundle`]), signing [`requests`], Redis ACLs per version ([`acl`], [`acl::Target`]),
//! [`servers`] and [`clients`], the [`state`] ([`StateDir`]) that ties them together, and at
//! the top the [`fleet`]: `redis sync` and `redis check` over every registered server. Host
//! lists ([`parse_host_list`]) and durations are what the command line passes in. The library
//! never prints and never exits.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// No function over 80 lines, none with more than 6 parameters (clippy.toml sets both floors).
#![warn(clippy::too_many_lines)]

mod accounts;
pub mod acl;
pub mod clients;
mod duration;
mod error;
pub mod fleet;
mod output;
mod pki;
pub mod requests;
pub mod servers;
pub mod state;
pub mod storage;

// The storage, etcd and live-server modules keep the paths callers already use.

pub use accounts::admin::{ADMIN_ACCOUNT, ADMIN_RULES};
pub use accounts::databases::{DatabaseAccess, DatabaseGrant, database_access};
pub use accounts::labels::{LabelSelector, Labels};
pub use accounts::locks::{InForce, Lock, LockTarget};
pub use accounts::logins::LoginAccount;
pub use accounts::names::validate_user_name;
pub use accounts::names::{
    ClientName, ClusterName, DbUserName, MAX_NAME_LEN, NodeName, ServerName, UserName,
    validate_name,
};
pub use accounts::roles::{
    BUILTIN_ROLES, Metadata, Role, RoleConditions, RoleOptions, RoleSpec, check_access, ttl_cap,
};
pub use accounts::users::{Password, PasswordHash, User, parse_list};
pub use clients::output::{ClientFormat, ClientOutput};
pub use clients::profile::{DbLogin, Profile};
pub use duration::{Ttl, format_std, parse_duration};
pub use error::{
    BoxError, CaKeyProblem, Denial, Error, FormatProblem, Invalid, MissingCredential, ReplyHint,
    Result, ServerError, StoreError,
};
pub use output::atomic::{check_file_output, check_outside_state, write_public_file};
pub use output::owner::FileOwner;
pub use output::read::read_regular;
pub use pki::bundle::{CertKind, IssuedCert, RedisBundle};
pub use pki::ca::{CaKey, CaOptions, DEFAULT_CA_TTL, HostCa};
pub use pki::formats::{BundleFormat, check_kubernetes_name, read_passphrase_file};
pub use pki::hosts::{Host, parse_host_list};
pub use pki::inspect::{CertReport, CertStatus, inspect_certificate, inspect_der};
pub use pki::keys::{KeyAlgorithm, PrivateKey, spki_pin};
pub use pki::leaf::{ClientCertRequest, DEFAULT_CERT_TTL, ServerCertRequest, leaf_ttl};
pub use pki::rotation::{DEFAULT_GRACE_PERIOD, Duty, Mode, Phase, Rotation};
pub use pki::sealed::Passphrase;
pub use servers::redis_conf::{RedisTlsConfig, ReplicaAuth, ReplicaOf};
pub use servers::registered::{RegisteredServer, ServerAddr};
pub use servers::sentinel_conf::{Monitor, SentinelConfig};
pub use state::audit::AuditEvent;
pub use state::{
    AclFile, ClientLogin, DbLoginRequest, NewUser, Notice, PendingUser, Placement, Progress,
    RequestOutcome, SignedRequests, Signing, StateDir, Subject, UserUpdate, WrittenFiles,
    default_cluster_name, default_state_dir, this_node,
};

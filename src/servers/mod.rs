//! Redis servers: the ones registered in the state, the redis.conf rctl writes for them, and
//! the live servers that `redis check` reads and `redis sync` brings in line.
//!
//! - [`registered`]: a registered server (address, certificate prefix, users.acl path).
//! - [`labels`]: a server's labels, and the roles' `db_labels` that select servers.
//! - [`redis_conf`]: the TLS block of redis.conf (and replication, cluster, certificate login).
//! - [`sentinel_conf`]: a Sentinel's sentinel.conf over TLS.
//! - [`live`]: talking to a running server.
//! - [`fleet`]: `redis sync` over the registered servers and client outputs.
//! - `check`: `redis check` over them (its items re-exported by [`fleet`]).
//! - [`metrics`]: what they found, in the Prometheus text format.

pub(crate) mod check;
pub mod fleet;
pub(crate) mod labels;
pub mod live;
pub mod metrics;
pub(crate) mod redis_conf;
pub(crate) mod registered;
pub(crate) mod sentinel_conf;

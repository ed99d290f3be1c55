//! Redis servers: the ones registered in the state, the redis.conf rctl writes for them, and
//! the live servers that `redis check` reads and `redis sync` brings in line.
//!
//! - `registered`: a registered server (address, certificate prefix, users.acl path).
//! - `redis_conf`: the TLS block of redis.conf (and replication, cluster, certificate login).
//! - `sentinel_conf`: a Sentinel's sentinel.conf over TLS.
//! - [`live`]: talking to a running server.
//!
//! Running `redis sync` and `redis check` over them is the job of [`crate::fleet`], a floor above.

pub mod live;
pub(crate) mod redis_conf;
pub(crate) mod registered;
pub(crate) mod sentinel_conf;

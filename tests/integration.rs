//! Integration tests: the `rctl` binary against real openssl and redis-server.

mod util;

mod server_certs;
mod users_acl;

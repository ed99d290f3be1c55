//! Integration tests: the `rctl` binary against real openssl and redis-server.

mod util;

mod accounts;
mod acl_findings;
mod acl_servers;
mod acl_targets;
mod agent;
mod bad_input;
mod cert_login;
mod clients;
mod consumers;
mod db_flow;
mod ecosystem;
mod encrypted;
mod etcd;
mod fleet;
mod floors;
mod formats;
mod golden;
mod layout;
mod library;
mod live;
mod locks;
mod logins;
mod metrics;
mod reliability;
mod requests;
mod robustness;
mod rotation;
mod sentinel;
mod server_certs;
mod servers;
mod users_acl;

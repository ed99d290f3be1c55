//! Who may connect, and as which Redis account.
//!
//! - [`users`]: people and applications, their traits and password hashes.
//! - [`roles`]: Teleport-style roles and the access check of `tsh db login`.
//! - [`builtin_roles`]: the roles that exist from the start.
//! - [`databases`]: which numbered databases a user's `db_names` allow.
//! - [`server_access`]: which registered servers a user reaches (`db_labels`), as whom.
//! - [`teleport_fields`]: the fields of a Teleport role that rctl reads past.
//! - [`names`]: the validated name types (user, role, database user, cluster, server).
//! - [`admin`]: rctl's own Redis account on every server.

pub(crate) mod admin;
pub(crate) mod builtin_roles;
pub(crate) mod databases;
pub(crate) mod labels;
pub(crate) mod locks;
pub(crate) mod logins;
pub(crate) mod names;
pub(crate) mod roles;
pub(crate) mod server_access;
pub(crate) mod teleport_fields;
pub(crate) mod users;

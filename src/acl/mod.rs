//! Redis ACLs: the grammar of each target's `src/acl.c`, `users.acl` rendering from users and
//! roles, and a linter for existing files.
//!
//! - [`target`]: the Redis and Valkey versions rctl knows, with their command tables and
//!   grammar features.
//! - [`rule`]: one rule as a value ([`AclRule`]), written back as the server reads it.
//! - `parse`: one rule as the target's `ACLSetUser` and `ACLSetSelector` read it.
//! - `splitargs`: Redis's `sdssplitargs`, which splits a selector's inside.
//! - `simulate`: a user built rule by rule, refusing what the server refuses in sequence.
//! - [`render`](mod@render): users.acl lines, a user's roles written as their exact union.
//! - [`lint`](mod@lint): an existing users.acl read as the server reads it.

mod db_rules;
pub mod lint;
mod parse;
pub mod render;
mod role_check;
pub mod rule;
mod simulate;
mod splitargs;
pub mod target;

pub use db_rules::DatabaseNotes;
pub use lint::{Finding, FindingKind, lint};
pub use render::{Renderer, as_login, render, switched_off};
pub use rule::{AclRule, Word, redact};
pub use target::AclLoadKeeps;
pub use target::{Target, UnknownTarget};

/// Checks a role's `redis_acl` for a target, as `rctl create -f` does.
pub fn check_role(role: &crate::accounts::roles::Role, target: Target) -> crate::error::Result<()> {
    role_check::check_role(role, target).map(|_| ())
}

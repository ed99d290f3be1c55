//! rctl's own Redis account, `rctl-admin`: what rctl logs in as to reload and read a registered
//! server. Created with the first registered server (on a shared state, with the CA) and always
//! in users.acl from then on; its password is generated and never printed, kept in the state
//! (mode 0600 in a directory; sealed under the CA passphrase in etcd, where a node gets its own
//! copy through a signing request).
//!
//! It may run only the commands rctl uses: `CONFIG GET|SET` (reload the certificate files),
//! `ACL SETUSER|DELUSER|LIST|WHOAMI` (apply users that changed), `CLIENT KILL` (close the
//! connections of an account a lock switched off), `PING`, `INFO`, and `MULTI`
//! with `EXEC` (its probe accounts exist inside one transaction, never seen by another client,
//! and a server gets all of a sync's account changes at once). No keys, no
//! channels. No person may hold it: its name is reserved and no certificate is issued for it.

use crate::accounts::roles::{Role, RoleConditions, RoleSpec};

pub use crate::accounts::names::ADMIN_ACCOUNT;

/// The account's rules, as a role's `redis_acl`.
pub const ADMIN_RULES: [&str; 11] = [
    "+config|get",
    "+config|set",
    "+acl|setuser",
    "+acl|deluser",
    "+acl|list",
    "+acl|whoami",
    "+client|kill",
    "+ping",
    "+info",
    "+multi",
    "+exec",
];

/// The account's rules as a role, for the users.acl renderer only: it is not among the roles a
/// user may hold.
pub(crate) fn admin_role() -> Role {
    let mut role = Role::new(
        ADMIN_ACCOUNT,
        RoleSpec {
            allow: RoleConditions {
                redis_acl: ADMIN_RULES.iter().map(ToString::to_string).collect(),
                ..RoleConditions::default()
            },
            ..RoleSpec::default()
        },
    );
    role.metadata.description = Some("rctl's own account on registered servers".to_string());
    role
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Target, check_role};

    #[test]
    fn the_admin_rules_are_valid_on_every_target() {
        for target in Target::ALL {
            check_role(&admin_role(), target).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
    }

    #[test]
    fn the_admin_name_is_reserved() {
        assert!(crate::validate_user_name(ADMIN_ACCOUNT).is_err());
        assert!(!crate::accounts::roles::BUILTIN_ROLES.contains(&ADMIN_ACCOUNT));
    }
}

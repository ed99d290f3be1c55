//! The roles that exist from the start: `access`, `readonly`, `replication`, `sentinel`, and
//! Teleport's presets `editor` and `auditor`, which grant nothing for Redis.

use super::roles::{DB_NAMES_VAR, DB_USERS_VAR, Role, RoleConditions, RoleOptions, RoleSpec};
use crate::accounts::labels::LabelSelector;
use crate::duration::Ttl;

/// The built-in roles, sorted by name.
pub(crate) fn builtins() -> Vec<Role> {
    let builtin = |name: &str, description: &str, rules: &[&str]| {
        let mut role = Role::new(
            name,
            RoleSpec {
                options: RoleOptions {
                    max_session_ttl: Some(Ttl::from_hours(30)),
                    standing_password: None,
                },
                allow: RoleConditions {
                    db_users: vec![DB_USERS_VAR.to_string()],
                    db_names: vec![DB_NAMES_VAR.to_string()],
                    db_labels: LabelSelector::everything(),
                    redis_acl: rules.iter().map(ToString::to_string).collect(),
                },
                deny: RoleConditions::default(),
            },
        );
        role.metadata.description = Some(format!("built-in: {description}"));
        role
    };
    let mut roles = vec![
        builtin(
            "access",
            "all commands on all keys and channels as the user's own db_users",
            &["allcommands", "allkeys", "allchannels"],
        ),
        builtin(
            "readonly",
            "read commands on all keys",
            &["~*", "resetchannels", "+@read", "+@connection"],
        ),
        builtin(
            "replication",
            "what a replica needs of its primary: PSYNC, REPLCONF, PING",
            &["+psync", "+replconf", "+ping"],
        ),
        // The Redis Sentinel documentation's list, checked by a real failover.
        builtin(
            "sentinel",
            "what Redis Sentinel needs on the servers it monitors",
            &[
                "allchannels",
                "+multi",
                "+slaveof",
                "+ping",
                "+exec",
                "+subscribe",
                "+config|rewrite",
                "+role",
                "+publish",
                "+info",
                "+client|setname",
                "+client|kill",
                "+script|kill",
            ],
        ),
    ];
    // Teleport's presets: they grant nothing for Redis (no db_users, no rules).
    for (name, description) in [
        (
            "editor",
            "Teleport's preset for editing the cluster: nothing for Redis",
        ),
        (
            "auditor",
            "Teleport's preset for reading audit logs: nothing for Redis",
        ),
    ] {
        let mut role = Role::new(name, RoleSpec::default());
        role.metadata.description = Some(format!("built-in: {description}"));
        roles.push(role);
    }
    roles.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    roles
}

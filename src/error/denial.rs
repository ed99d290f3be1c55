//! [`Denial`]: why the roles, or rctl's own rules, refuse an operation.

/// Why an operation is denied. The text after `access denied: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// A certificate for one of the accounts rctl keeps for itself or keeps off.
    #[error("{}", reserved_account(account))]
    ReservedAccount {
        /// `default` or `rctl-admin`.
        account: &'static str,
    },

    /// A built-in role cannot be changed or removed.
    #[error("role {role:?} is built in and cannot be {action}")]
    BuiltInRole {
        /// The role.
        role: String,
        /// "changed" or "removed".
        action: &'static str,
    },

    /// A role named as rctl's own account.
    #[error("role {role:?} is reserved for rctl's own account")]
    ReservedRole {
        /// The name.
        role: &'static str,
    },

    /// A role that a user still holds cannot be removed.
    #[error("role {role:?} is held by user {user:?}; change the user's roles first")]
    RoleHeld {
        /// The role.
        role: String,
        /// A user holding it.
        user: String,
    },

    /// A role denies the server (its db_labels) to the user.
    #[error("role {role:?} denies server {server:?} ({labels}) to user {user:?}")]
    RoleDeniesServer {
        /// The role.
        role: String,
        /// The server.
        server: String,
        /// The server's labels, as `k=v, ...`.
        labels: String,
        /// The user.
        user: String,
    },

    /// No role of the user reaches the server's labels.
    #[error(
        "no role of user {user:?} allows server {server:?} ({labels}): its db_labels do not match"
    )]
    NoRoleAllowsServer {
        /// The user.
        user: String,
        /// The server.
        server: String,
        /// The server's labels, as `k=v, ...`.
        labels: String,
    },

    /// The roles reaching the server do not allow the account.
    #[error("no role of user {user:?} that allows server {server:?} allows db user {db_user:?}")]
    NoRoleAllowsDbUserOnServer {
        /// The user.
        user: String,
        /// The server.
        server: String,
        /// The account.
        db_user: String,
    },

    /// A role denies the account to the user.
    #[error("role {role:?} denies db user {db_user:?} to user {user:?}")]
    RoleDeniesDbUser {
        /// The role.
        role: String,
        /// The account.
        db_user: String,
        /// The user.
        user: String,
    },

    /// No role of the user allows the account.
    #[error("no role of user {user:?} ({}) allows db user {db_user:?}{}", roles.join(", "), if *cert_login_strict { " (certificate login is on: a certificate for another account needs that account named in a role's db_users or the user's db_users trait, not '*')" } else { "" })]
    NoRoleAllowsDbUser {
        /// The user.
        user: String,
        /// The user's roles.
        roles: Vec<String>,
        /// The account.
        db_user: String,
        /// Certificate login is on and the account is not the user's own: `*` does not reach it.
        cert_login_strict: bool,
    },

    /// A lock is in force on what was asked for.
    #[error("a lock on {target} is in force{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Locked {
        /// The lock's target: `user:alice`, `db_user:app`, `role:access`, `node:n1`.
        target: String,
        /// Its message, if it has one.
        message: Option<String>,
        /// Its id.
        id: String,
    },

    /// A shared state's registration is another node's: only that node writes its files and
    /// runs its hook.
    #[error(
        "{what} {name:?} is held by node {node}: its files are written and its hook run only by that node's sync"
    )]
    HeldByNode {
        /// "server" or "client output".
        what: &'static str,
        /// Its name.
        name: String,
        /// The node holding it.
        node: String,
    },

    /// The user has no account on the server at all.
    #[error("user {user:?} has no db user on server {server:?}")]
    NoDbUserOnServer {
        /// The user.
        user: String,
        /// The server.
        server: String,
    },
}

fn reserved_account(account: &str) -> String {
    if account == "default" {
        "\"default\" is Redis's own user, which rctl keeps off; it never issues a certificate for it"
            .to_string()
    } else {
        format!("{account:?} is rctl's own account; it never issues a certificate for it to anyone")
    }
}

//! Which registered servers a person reaches, and as which Redis accounts: the roles'
//! `db_labels` against the server's labels, with the roles' `db_users` (what `tsh db ls` and
//! `tsh db login` decide in Teleport).
//!
//! A role reaches a server when its `allow.db_labels` match the server's labels; a role whose
//! `deny.db_labels` match refuses the server to the person whatever the other roles allow
//! (deny wins; Teleport's deny needs `deny.db_users` to match too, rctl's refuses the whole
//! server, which is stricter). The account must be allowed by a role that reaches the server.

use super::roles::{Role, allows_db_user, check_access};
use super::users::User;
use crate::accounts::labels::Labels;
use crate::error::{Denial, Result};

/// Whether `user` holding `roles` reaches a server labelled `labels` at all.
pub fn reaches(roles: &[&Role], labels: &Labels) -> bool {
    !roles.iter().any(|r| r.spec.deny.db_labels.matches(labels))
        && roles.iter().any(|r| r.spec.allow.db_labels.matches(labels))
}

/// Checks that `user` may reach `server` (labelled `labels`) as `db_user`: no role denies the
/// server, one reaches it, the account checks of [`check_access`] pass, and a role that
/// reaches the server allows the account.
pub fn check_server_access(
    user: &User,
    roles: &[&Role],
    server: &str,
    labels: &Labels,
    db_user: &str,
    cert_login: bool,
) -> Result<()> {
    if let Some(role) = roles.iter().find(|r| r.spec.deny.db_labels.matches(labels)) {
        return Err(Denial::RoleDeniesServer {
            role: role.name().to_string(),
            server: server.to_string(),
            labels: labels_text(labels),
            user: user.name.to_string(),
        }
        .into());
    }
    let reaching: Vec<&Role> = roles
        .iter()
        .copied()
        .filter(|r| r.spec.allow.db_labels.matches(labels))
        .collect();
    if reaching.is_empty() {
        return Err(Denial::NoRoleAllowsServer {
            user: user.name.to_string(),
            server: server.to_string(),
            labels: labels_text(labels),
        }
        .into());
    }
    check_access(user, roles, db_user, cert_login)?;
    if !reaching
        .iter()
        .any(|r| allows_db_user(r, user, db_user, cert_login))
    {
        return Err(Denial::NoRoleAllowsDbUserOnServer {
            user: user.name.to_string(),
            server: server.to_string(),
            db_user: db_user.to_string(),
        }
        .into());
    }
    Ok(())
}

/// The accounts `user` could name on a server labelled `labels`: the literal `db_users` of the
/// roles that reach it (the user's trait for `{{internal.db_users}}`), less what any role
/// denies, sorted. `*` names no account of its own.
pub fn db_users_on(user: &User, roles: &[&Role], labels: &Labels, cert_login: bool) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for role in roles
        .iter()
        .filter(|r| r.spec.allow.db_labels.matches(labels))
    {
        for v in &role.spec.allow.db_users {
            let values: Vec<&str> = if v == "{{internal.db_users}}" {
                user.db_users.iter().map(String::as_str).collect()
            } else {
                vec![v.as_str()]
            };
            names.extend(values.into_iter().filter(|v| *v != "*").map(str::to_string));
        }
    }
    names
        .into_iter()
        .filter(|n| check_server_access(user, roles, "", labels, n, cert_login).is_ok())
        .collect()
}

fn labels_text(labels: &Labels) -> String {
    if labels.is_empty() {
        "no labels".to_string()
    } else {
        format!("labels {labels}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(yaml: &str) -> Role {
        Role::from_yaml(yaml, "test.yaml").unwrap()
    }

    #[test]
    fn labels_decide_the_server_and_deny_wins() {
        let builtins = Role::builtins();
        let access = builtins.iter().find(|r| r.name() == "access").unwrap();
        let prod = role(
            "kind: role\nversion: v7\nmetadata: {name: prod}\nspec:\n  allow: {db_users: [app], db_labels: {env: prod}}\n",
        );
        let no_prod = role(
            "kind: role\nversion: v7\nmetadata: {name: no-prod}\nspec:\n  deny: {db_labels: {env: prod}}\n",
        );
        let u = User::new_for_test("alice", &["access"], &["alice"], &[]);
        let p: Labels = "env=prod".parse().unwrap();
        let d: Labels = "env=dev".parse().unwrap();
        check_server_access(&u, &[access], "r1", &p, "alice", false).unwrap();
        check_server_access(&u, &[&prod], "r1", &p, "app", false).unwrap();
        let e = check_server_access(&u, &[&prod], "r2", &d, "app", false).unwrap_err();
        assert!(e.to_string().contains("its db_labels do not match"), "{e}");
        // The account must come from a role that reaches the server.
        let e = check_server_access(&u, &[access, &prod], "r2", &d, "app", false).unwrap_err();
        assert!(e.to_string().contains("that allows server"), "{e}");
        let e = check_server_access(&u, &[access, &no_prod], "r1", &p, "alice", false).unwrap_err();
        assert!(e.to_string().contains("denies server \"r1\""), "{e}");
        assert!(reaches(&[access, &no_prod], &d) && !reaches(&[access, &no_prod], &p));
        assert_eq!(
            db_users_on(&u, &[access, &prod], &p, false),
            ["alice", "app"]
        );
        assert_eq!(db_users_on(&u, &[access, &prod], &d, false), ["alice"]);
    }
}

//! Which Redis databases a user may use: Teleport's `db_names`, read as Redis's numbered
//! databases, for the targets whose ACL can say it (Valkey 9.1's `db=` rules).
//!
//! Each role grants its commands on the databases its `allow.db_names` names
//! (`{{internal.db_names}}` is the user's own trait, `*` every database) that no role of the
//! user denies (deny wins; `*` denies every one), as Teleport reads a role. Two choices
//! Teleport does not have to make:
//! - A user whose roles name no database at all (nothing in any `allow.db_names` once the
//!   trait is expanded, no deny) keeps every database, as every user did before database rules
//!   existed; naming any database restricts the user to what is named.
//! - Names that are not database numbers (`0` to `2147483647`) can never match a Redis
//!   database: they allow nothing, and they are reported.

use std::collections::BTreeSet;

use super::roles::{DB_NAMES_VAR, Role, expand};
use super::users::User;
use crate::error::{Invalid, Result};

/// The databases one user may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseAccess {
    /// Every database: `*`, or no database named at all.
    All,
    /// These databases only (none when empty).
    Only(BTreeSet<u32>),
}

impl DatabaseAccess {
    /// Every database.
    pub fn is_all(&self) -> bool {
        matches!(self, DatabaseAccess::All)
    }
}

/// A user's database access, role by role, with the names that are not database numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseGrant {
    /// What each role lets the user use, in the order of the roles given.
    pub per_role: Vec<DatabaseAccess>,
    /// Names in the user's roles or trait that are no database number, sorted.
    pub not_numbers: BTreeSet<String>,
}

/// A database number as Redis numbers them: decimal digits, at most 2147483647.
fn number(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32)
}

/// The databases `user` may use through each of `roles`.
///
/// Refused, naming the role, when every database is allowed but some are denied: Valkey's
/// `db=` lists the databases allowed, and without the server's `databases` setting there is no
/// list of "all but these".
pub fn database_access(user: &User, roles: &[&Role]) -> Result<DatabaseGrant> {
    let mut not_numbers = BTreeSet::new();
    let mut note = |name: &str| {
        if name != "*" && number(name).is_none() {
            not_numbers.insert(name.to_string());
        }
    };
    let (mut deny_all, mut denied, mut denier) = (false, BTreeSet::new(), None);
    for role in roles {
        for name in expand(&role.spec.deny.db_names, DB_NAMES_VAR, &user.db_names) {
            note(name);
            if name == "*" {
                deny_all = true;
            } else if let Some(n) = number(name) {
                denied.insert(n);
                denier.get_or_insert(role.name());
            }
        }
    }
    let allows: Vec<Vec<&str>> = roles
        .iter()
        .map(|role| expand(&role.spec.allow.db_names, DB_NAMES_VAR, &user.db_names))
        .collect();
    let named = allows.iter().any(|a| !a.is_empty());
    let mut per_role = Vec::with_capacity(roles.len());
    for (role, allow) in roles.iter().zip(&allows) {
        allow.iter().for_each(|n| note(n));
        let access = if deny_all {
            DatabaseAccess::Only(BTreeSet::new())
        } else if !named || allow.contains(&"*") {
            if let Some(by) = denier {
                return Err(Invalid::DatabasesConflict {
                    user: user.name.to_string(),
                    denier: by.to_string(),
                    denied: list(&denied),
                    allower: role.name().to_string(),
                }
                .into());
            }
            DatabaseAccess::All
        } else {
            let allowed = allow.iter().filter_map(|n| number(n));
            DatabaseAccess::Only(allowed.filter(|n| !denied.contains(n)).collect())
        };
        per_role.push(access);
    }
    Ok(DatabaseGrant {
        per_role,
        not_numbers,
    })
}

fn list(ids: &BTreeSet<u32>) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::roles::{RoleConditions, RoleSpec};

    fn role(name: &str, allow: &[&str], deny: &[&str]) -> Role {
        let names = |v: &[&str]| v.iter().map(ToString::to_string).collect();
        Role::new(
            name,
            RoleSpec {
                allow: RoleConditions {
                    db_names: names(allow),
                    ..Default::default()
                },
                deny: RoleConditions {
                    db_names: names(deny),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    }

    fn only(ids: &[u32]) -> DatabaseAccess {
        DatabaseAccess::Only(ids.iter().copied().collect())
    }

    #[test]
    fn each_role_its_own_databases_and_deny_wins_over_all() {
        let access = role("access", &[DB_NAMES_VAR], &[]);
        let extra = role("extra", &["5", "7"], &["2"]);
        let bare = role("bare", &[], &[]);
        let u = User::new_for_test("alice", &["access"], &[], &["0", "2"]);
        let g = database_access(&u, &[&access, &extra, &bare]).unwrap();
        assert_eq!(g.per_role, [only(&[0]), only(&[5, 7]), only(&[])]);
        assert!(g.not_numbers.is_empty());
    }

    #[test]
    fn nothing_named_keeps_every_database_and_star_is_every_database() {
        let access = role("access", &[DB_NAMES_VAR], &[]);
        let bare = role("bare", &[], &[]);
        let u = User::new_for_test("alice", &["access"], &[], &[]);
        let g = database_access(&u, &[&access, &bare]).unwrap();
        assert_eq!(g.per_role, [DatabaseAccess::All, DatabaseAccess::All]);
        let u = User::new_for_test("alice", &["access"], &[], &["*"]);
        let g = database_access(&u, &[&access, &bare]).unwrap();
        assert_eq!(g.per_role, [DatabaseAccess::All, only(&[])]);
    }

    #[test]
    fn names_that_are_no_number_allow_nothing_and_are_reported() {
        let r = role("r", &["orders", "3", "02", "2147483648"], &[]);
        let u = User::new_for_test("alice", &["r"], &[], &[]);
        let g = database_access(&u, &[&r]).unwrap();
        assert_eq!(g.per_role, [only(&[2, 3])]);
        assert_eq!(
            g.not_numbers.into_iter().collect::<Vec<_>>(),
            ["2147483648", "orders"]
        );
        let r = role("r", &["orders"], &[]);
        assert_eq!(database_access(&u, &[&r]).unwrap().per_role, [only(&[])]);
    }

    #[test]
    fn deny_star_leaves_none_and_all_but_some_is_refused() {
        let u = User::new_for_test("alice", &[], &[], &[]);
        let r = role("r", &["*"], &["*"]);
        assert_eq!(database_access(&u, &[&r]).unwrap().per_role, [only(&[])]);
        let r = role("r", &["*"], &["3"]);
        let e = database_access(&u, &[&r]).unwrap_err().to_string();
        assert!(e.contains("\"r\" denies databases 3"), "{e}");
    }
}

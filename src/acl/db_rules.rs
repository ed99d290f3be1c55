//! Database rules in users.acl (Valkey 9.1's `db=`): each role's databases, from its
//! `db_names`, written into that role's scopes.

use std::collections::BTreeSet;

use super::render::{Part, push_rules};
use super::rule::{AclRule, Word};
use super::target::Target;
use crate::accounts::databases::{DatabaseAccess, database_access};
use crate::accounts::roles::Role;
use crate::accounts::users::User;
use crate::error::Result;

/// What rendering found about the users' `db_names`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseNotes {
    /// Users whose `db_names` restrict them, on a target without database rules (Teleport does
    /// not enforce `db_names` for Redis, and neither can such a server).
    pub unenforced: usize,
    /// Names in `db_names` that are no database number: they allow nothing.
    pub not_numbers: BTreeSet<String>,
}

/// Each role's database rule for a user, in the order of `roles`: `None` for every
/// database, else `db=...` or `resetdbs`; `None` for the whole user when every role allows
/// every database. On a target without database rules, `None`, and a restricted user is
/// counted.
pub(super) fn database_rules(
    target: Target,
    user: &User,
    roles: &[&Role],
    notes: &mut DatabaseNotes,
) -> Result<Option<Vec<Option<AclRule>>>> {
    let grant = database_access(user, roles);
    if !target.has_databases() {
        if !grant.is_ok_and(|g| g.per_role.iter().all(DatabaseAccess::is_all)) {
            notes.unenforced += 1;
        }
        return Ok(None);
    }
    let grant = grant?;
    notes.not_numbers.extend(grant.not_numbers);
    if grant.per_role.iter().all(DatabaseAccess::is_all) {
        return Ok(None);
    }
    Ok(Some(
        grant
            .per_role
            .into_iter()
            .map(|access| match access {
                DatabaseAccess::All => None,
                DatabaseAccess::Only(ids) if ids.is_empty() => Some(AclRule::Word(Word::Resetdbs)),
                DatabaseAccess::Only(ids) => Some(AclRule::Databases(ids)),
            })
            .collect(),
    ))
}

/// The roles' union where roles grant different databases (`databases[i]` for `parts[i]`,
/// `None` for every database): each role's scopes (its root rules, its own selectors) carry
/// its database rule, as Valkey checks a command's database scope by scope, and the scope of
/// its root rules may `SELECT` (only into its own databases), so each role's databases can be
/// reached. A role that grants no database grants nothing.
pub(super) fn union_with_databases(
    line: &mut String,
    parts: &[(&str, &Part)],
    databases: &[Option<AclRule>],
) {
    let mut kept: Vec<(&Part, &Option<AclRule>)> = Vec::with_capacity(parts.len());
    let everything = parts
        .iter()
        .zip(databases)
        .find(|((_, p), d)| p.everything && d.is_none());
    if let Some(((_, all), d)) = everything {
        kept.push((all, d));
    } else {
        for ((_, part), db) in parts.iter().zip(databases) {
            let none = matches!(db, Some(AclRule::Word(Word::Resetdbs)));
            let same = |(k, d): &(&Part, &Option<AclRule>)| {
                k.root == part.root && k.selectors == part.selectors && *d == db
            };
            if !part.grants_nothing() && !none && !kept.iter().any(same) {
                kept.push((part, db));
            }
        }
    }
    let with = |rules: &[AclRule], db: &Option<AclRule>, select: bool| {
        let mut rules = rules.to_vec();
        rules.extend(db.iter().cloned());
        if select && db.is_some() {
            rules.push(AclRule::Command {
                allow: true,
                name: "select".into(),
            });
        }
        rules
    };
    let mut selectors = Vec::new();
    for (i, (part, db)) in kept.iter().enumerate() {
        let root = with(&part.root, db, !part.scope.all_commands);
        if i == 0 {
            push_rules(line, &root);
        } else {
            selectors.push(AclRule::Selector(root));
        }
        for selector in &part.selectors {
            if let AclRule::Selector(rules) = selector {
                selectors.push(AclRule::Selector(with(rules, db, false)));
            }
        }
    }
    push_rules(line, &selectors);
}

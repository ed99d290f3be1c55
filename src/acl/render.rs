//! users.acl from users and roles: a user may do what any one of their roles allows
//! (Teleport's union), written so that the target accepts it and means exactly that.
//!
//! - With selectors (Redis 7.0+, Valkey): the first role's rules at the user's root, each
//!   further role as a selector of its own. Redis allows a command when the root or any one
//!   selector allows it with its keys and channels, which is the union. A role that allows
//!   everything stands alone; roles that grant nothing are left out.
//! - Without selectors (Redis 6.x): one rule set. Where one role covers the others it is
//!   written alone; where the roles differ in one dimension only (commands, key patterns or
//!   channels) the union of that dimension is written; anything else cannot be one exact rule
//!   set and is refused, naming the two roles.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use super::db_rules::{DatabaseNotes, database_rules, union_with_databases};
use super::role_check::check_role;
use super::rule::{AclRule, Refusal, Word, redact};
use super::simulate::{Scope, UserSim};
use super::target::Target;
use crate::accounts::roles::Role;
use crate::accounts::users::User;
use crate::error::{Error, Result, shorten};

/// A role's rules made ready for one target.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    /// Root rules, each already valid inside a selector.
    pub(super) root: Vec<AclRule>,
    /// The role's own selectors.
    pub(super) selectors: Vec<AclRule>,
    /// The role's last sanitize word: `Some(true)` for `skip-sanitize-payload`.
    pub(super) skip_sanitize: Option<bool>,
    /// What the root allows.
    pub(super) scope: Scope,
    /// Every command on every key and channel.
    pub(super) everything: bool,
    /// The root rules as they follow the user's hash (` r1 r2`), rendered once.
    pub(super) root_text: String,
    /// The root rules as a selector (` (r1 r2)`), empty when there are none.
    pub(super) selector_text: String,
    /// The role's own selectors (` (..) (..)`).
    pub(super) selectors_text: String,
}

impl Part {
    pub(super) fn grants_nothing(&self) -> bool {
        self.root.is_empty() && self.selectors.is_empty()
    }
}

pub(super) fn refuse(role: &str, target: Target, token: &str, refusal: &Refusal) -> Error {
    Error::InvalidAcl {
        message: format!(
            "role {:?}: invalid ACL rule {:?} for {target}: {refusal}",
            shorten(role),
            shorten(&redact(token))
        ),
        exists_in: refusal.exists_in.map(Target::name),
    }
}

/// A role's `allow.redis_acl` rules as they apply to a target: the built-in roles leave out
/// channel rules on Redis 6.0, which has none.
pub(super) fn redis_acl_for(role: &Role, target: Target) -> impl Iterator<Item = &str> {
    let drop_channels = Role::is_builtin(role.name()) && !target.has_channels();
    role.spec
        .allow
        .redis_acl
        .iter()
        .map(String::as_str)
        .filter(move |r| !(drop_channels && matches!(*r, "allchannels" | "resetchannels")))
}

pub(super) fn starts_with_channel_word<'a>(rules: impl Iterator<Item = &'a AclRule>) -> bool {
    for rule in rules {
        match rule {
            AclRule::Word(Word::Allchannels | Word::Resetchannels) => return true,
            AclRule::Channels(p) if p == "*" => return true,
            AclRule::Channels(_) => return false,
            _ => {}
        }
    }
    false
}

/// Renders users.acl lines for one target.
pub struct Renderer<'r> {
    target: Target,
    parts: HashMap<&'r str, Part>,
    /// The roles by name, for their `db_names`.
    roles: HashMap<&'r str, &'r Role>,
    /// Users whose `db_names` restrict them, on a target that cannot enforce it; and names
    /// that are no database number.
    databases: RefCell<DatabaseNotes>,
    /// Without selectors, the merged rules of each role list, computed once.
    merged: RefCell<HashMap<Vec<&'r str>, std::result::Result<String, String>>>,
}

impl<'r> Renderer<'r> {
    /// Checks every role for the target.
    pub fn new(roles: &'r [Role], target: Target) -> Result<Renderer<'r>> {
        let mut parts = HashMap::with_capacity(roles.len());
        for role in roles {
            parts.insert(role.name(), check_role(role, target)?);
        }
        Ok(Renderer {
            target,
            parts,
            roles: roles.iter().map(|r| (r.name(), r)).collect(),
            databases: RefCell::new(DatabaseNotes::default()),
            merged: RefCell::new(HashMap::new()),
        })
    }

    /// The target the lines are for.
    pub fn target(&self) -> Target {
        self.target
    }

    /// What the lines rendered so far say about databases.
    pub fn database_notes(&self) -> DatabaseNotes {
        self.databases.borrow().clone()
    }

    /// Each role's database rule for `user` (see [`database_rules`]), noted.
    fn database_rules(
        &self,
        user: &User,
        parts: &[(&str, &Part)],
    ) -> Result<Option<Vec<Option<AclRule>>>> {
        let roles: Vec<&Role> = parts
            .iter()
            .filter_map(|(name, _)| self.roles.get(name).copied())
            .collect();
        database_rules(self.target, user, &roles, &mut self.databases.borrow_mut())
    }

    /// `user NAME on #SHA256 RULES`: the union of the user's roles.
    pub fn line(&self, user: &User) -> Result<String> {
        let mut parts: Vec<(&str, &Part)> = Vec::with_capacity(user.roles.len());
        for role in &user.roles {
            let (name, part) =
                self.parts
                    .get_key_value(role.as_str())
                    .ok_or_else(|| Error::MissingRole {
                        user: user.name.clone(),
                        role: role.clone(),
                    })?;
            parts.push((name, part));
        }
        let mut line = String::with_capacity(128);
        line.push_str("user ");
        line.push_str(&user.name);
        line.push_str(" on #");
        line.push_str(user.password_sha256.as_hex());
        if parts.iter().any(|(_, p)| p.skip_sanitize == Some(true)) {
            line.push_str(" skip-sanitize-payload");
        }
        if self.target.has_selectors() {
            match self.database_rules(user, &parts)? {
                None => union_with_selectors(&mut line, &parts),
                Some(databases) => union_with_databases(&mut line, &parts, &databases),
            }
        } else {
            self.database_rules(user, &parts)?;
            let key: Vec<&'r str> = parts
                .iter()
                .filter_map(|(n, _)| self.parts.get_key_value(n).map(|(k, _)| *k))
                .collect();
            let mut cache = self.merged.borrow_mut();
            let rules = cache
                .entry(key)
                .or_insert_with(|| merge_without_selectors(&parts, self.target));
            match rules {
                Ok(rules) => line.push_str(rules),
                Err(reason) => {
                    return Err(Error::InvalidAcl {
                        message: format!("user {:?}: {reason}", shorten(&user.name)),
                        exists_in: None,
                    });
                }
            }
        }
        Ok(line)
    }

    /// Sorts the lines by user name and ends with `user default off`. No comments: Redis refuses
    /// any line that does not start with `user`.
    pub fn finish(mut lines: Vec<String>) -> String {
        // Names hold no character below '!', so "user NAME on" sorts as NAME does.
        lines.sort_unstable();
        let len = lines.iter().map(|l| l.len() + 1).sum::<usize>() + 18;
        let mut out = String::with_capacity(len);
        for line in &lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("user default off\n");
        out
    }
}

pub(super) fn push_rules(line: &mut String, rules: &[AclRule]) {
    use std::fmt::Write;
    for rule in rules {
        let _ = write!(line, " {rule}");
    }
}

fn union_with_selectors(line: &mut String, parts: &[(&str, &Part)]) {
    let mut kept: Vec<&Part> = Vec::with_capacity(parts.len());
    if let Some((_, all)) = parts.iter().find(|(_, p)| p.everything) {
        kept.push(all);
    } else {
        for (_, part) in parts {
            let same = |k: &&Part| k.root == part.root && k.selectors == part.selectors;
            if !part.grants_nothing() && !kept.iter().any(same) {
                kept.push(part);
            }
        }
    }
    for (i, part) in kept.iter().enumerate() {
        line.push_str(if i == 0 {
            &part.root_text
        } else {
            &part.selector_text
        });
        line.push_str(&part.selectors_text);
    }
}

/// `a` allows at least what `b` allows, dimension by dimension.
fn covers_commands(a: &Scope, b: &Scope) -> bool {
    a.all_commands
        || (!b.all_commands
            && b.commands.is_subset(&a.commands)
            && b.first_args.iter().all(|(c, args)| {
                a.commands.contains(c) || a.first_args.get(c).is_some_and(|x| args.is_subset(x))
            }))
}

fn covers_keys(a: &Scope, b: &Scope) -> bool {
    a.all_keys || (!b.all_keys && b.keys.iter().all(|(k, _)| a.keys.contains_key(k)))
}

fn covers_channels(a: &Scope, b: &Scope) -> bool {
    a.all_channels || (!b.all_channels && b.channels.is_subset(&a.channels))
}

fn same_commands(a: &Scope, b: &Scope) -> bool {
    covers_commands(a, b) && covers_commands(b, a)
}

fn same_keys(a: &Scope, b: &Scope) -> bool {
    covers_keys(a, b) && covers_keys(b, a)
}

fn same_channels(a: &Scope, b: &Scope) -> bool {
    covers_channels(a, b) && covers_channels(b, a)
}

fn merge_without_selectors(
    parts: &[(&str, &Part)],
    target: Target,
) -> std::result::Result<String, String> {
    let mut line = String::new();
    let live: Vec<(&str, &Part)> = parts
        .iter()
        .copied()
        .filter(|(_, p)| !p.grants_nothing())
        .collect();
    let Some((_, first)) = live.first() else {
        return Ok(line);
    };
    if let Some((_, top)) = live.iter().find(|(_, a)| {
        live.iter().all(|(_, b)| {
            covers_commands(&a.scope, &b.scope)
                && covers_keys(&a.scope, &b.scope)
                && covers_channels(&a.scope, &b.scope)
        })
    }) {
        push_rules(&mut line, &top.root);
        return Ok(line);
    }
    let all_same =
        |f: fn(&Scope, &Scope) -> bool| live.iter().all(|(_, p)| f(&p.scope, &first.scope));
    let (cmds, keys, chans) = (
        all_same(same_commands),
        all_same(same_keys),
        all_same(same_channels),
    );
    // Exact only when the roles differ in one dimension at most.
    if [cmds, keys, chans].iter().filter(|x| !**x).count() > 1 {
        let (a, b) = first_conflict(&live);
        let example =
            b.1.root
                .iter()
                .find(|r| matches!(r, AclRule::Keys { .. } | AclRule::Channels(_)))
                .or_else(|| b.1.root.first())
                .map(|r| r.to_string())
                .unwrap_or_default();
        return Err(format!(
            "roles {:?} and {:?} cannot be combined exactly on {target}, which has no selectors: they differ in more than one of commands, key patterns and channels (e.g. {:?} of {:?}); give them the same key patterns and channels, give the user one of them, or use a target with selectors (redis-7.0 or later, or Valkey)",
            a.0, b.0, example, b.0
        ));
    }
    let union = union_scope(&live);
    push_scope(&mut line, &union, target);
    line.push_str(&command_rules(&live, &union, target));
    Ok(line)
}

/// The union of the parts' scopes (each dimension as wide as the widest part's).
fn union_scope(live: &[(&str, &Part)]) -> Scope {
    let mut union = live[0].1.scope.clone();
    for (_, p) in &live[1..] {
        let s = &p.scope;
        union.all_keys |= s.all_keys;
        union.keys.extend(s.keys.clone());
        union.all_channels |= s.all_channels;
        union.channels.extend(s.channels.iter().cloned());
        union.all_commands |= s.all_commands;
        union.commands.extend(s.commands.iter().copied());
        for (c, args) in &s.first_args {
            union
                .first_args
                .entry(*c)
                .or_default()
                .extend(args.iter().cloned());
        }
    }
    if union.all_keys {
        union.keys.clear();
    }
    if union.all_channels {
        union.channels.clear();
    }
    for c in &union.commands {
        union.first_args.remove(c);
    }
    union
}

/// The channel and key rules of `union`, as a line without selectors writes them.
fn push_scope(line: &mut String, union: &Scope, target: Target) {
    if target.features().channels {
        line.push_str(if union.all_channels {
            " allchannels"
        } else {
            " resetchannels"
        });
        for c in &union.channels {
            line.push_str(" &");
            line.push_str(c);
        }
    }
    if union.all_keys {
        line.push_str(" allkeys");
    }
    for k in union.keys.keys() {
        line.push_str(" ~");
        line.push_str(k);
    }
}

fn first_conflict<'a>(live: &[(&'a str, &'a Part)]) -> ((&'a str, &'a Part), (&'a str, &'a Part)) {
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            let differ = [
                same_commands(&a.1.scope, &b.1.scope),
                same_keys(&a.1.scope, &b.1.scope),
                same_channels(&a.1.scope, &b.1.scope),
            ];
            if differ.iter().filter(|x| !**x).count() > 1 {
                return (*a, *b);
            }
        }
    }
    (live[0], live[live.len() - 1])
}

/// The command rules of the union: the roles' own command rules one after the other when that
/// gives exactly the union (the usual case, and short), else every command by name.
fn command_rules(live: &[(&str, &Part)], union: &Scope, target: Target) -> String {
    let is_command_rule = |r: &&AclRule| {
        matches!(
            r,
            AclRule::Command { .. }
                | AclRule::FirstArg { .. }
                | AclRule::Category { .. }
                | AclRule::Word(Word::Allcommands | Word::Nocommands)
        )
    };
    let concatenated: Vec<AclRule> = live
        .iter()
        .flat_map(|(_, p)| p.root.iter().filter(is_command_rule).cloned())
        .collect();
    let mut sim = UserSim::new(target);
    if concatenated.iter().all(|r| sim.apply(r).is_ok())
        && sim.root.all_commands == union.all_commands
        && sim.root.commands == union.commands
        && sim.root.first_args == union.first_args
    {
        let mut out = String::new();
        push_rules(&mut out, &concatenated);
        return out;
    }
    let catalog = target.catalog();
    let mut out = String::new();
    if union.all_commands {
        out.push_str(" allcommands");
        return out;
    }
    for &i in &union.commands {
        out.push_str(" +");
        out.push_str(catalog.names[i]);
    }
    let mut seen = BTreeSet::new();
    for (c, args) in &union.first_args {
        for a in args {
            if seen.insert((c, a)) {
                out.push_str(&format!(" +{}|{a}", catalog.names[*c]));
            }
        }
    }
    out
}

/// A user's users.acl line (`user NAME on #HASH RULES`) as a per-login account's: the same
/// rules, the login's account name, and the login's password hash, or no password at all
/// (where the login's certificate is the credential: no `AUTH` logs it in, no `nopass`).
pub fn as_login(
    line: &str,
    account: &str,
    password: Option<&crate::accounts::users::PasswordHash>,
) -> String {
    let rules = line
        .splitn(5, ' ')
        .nth(4)
        .filter(|_| line.split(' ').nth(3).is_some_and(|h| h.starts_with('#')))
        .unwrap_or_default();
    match password {
        Some(hash) => format!("user {account} on #{} {rules}", hash.as_hex()),
        None => format!("user {account} on {rules}"),
    }
    .trim_end()
    .to_string()
}

/// A users.acl line (`user NAME on ...`) with its account switched off: `user NAME off ...`,
/// the rules kept. Redis refuses every login of an account that is off.
pub fn switched_off(line: &str) -> String {
    match line
        .split_once(' ')
        .and_then(|(_, rest)| rest.split_once(' '))
    {
        Some((name, rest)) => {
            let rest = rest.strip_prefix("on ").unwrap_or(rest);
            format!("user {name} off {rest}")
        }
        None => line.to_string(),
    }
}

/// Renders a users.acl for a target: `user NAME on #SHA256 RULES` per user sorted by name,
/// where RULES are the union of the user's roles, then `user default off`.
///
/// ```
/// # fn main() -> Result<(), rctl::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let mut state = rctl::StateDir::open(dir.path().join("state"))?;
/// state.users().add(rctl::NewUser::new("bob".parse()?, vec!["readonly".into()]))?;
/// let t = rctl::acl::Target::Redis70;
/// let text = rctl::acl::render(&state.users().list()?, &state.roles().list()?, t)?;
/// assert!(text.contains(" ~* resetchannels +@read +@connection\n"));
/// assert!(rctl::acl::lint(&text, t).is_empty());
/// # Ok(()) }
/// ```
pub fn render(users: &[User], roles: &[Role], target: Target) -> Result<String> {
    let renderer = Renderer::new(roles, target)?;
    let lines = users
        .iter()
        .map(|u| renderer.line(u))
        .collect::<Result<Vec<_>>>()?;
    Ok(Renderer::finish(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_roles_hold_on_every_target() {
        for role in Role::builtins() {
            for t in Target::ALL {
                check_role(&role, t).unwrap_or_else(|e| panic!("{t}: {e}"));
            }
        }
    }
}

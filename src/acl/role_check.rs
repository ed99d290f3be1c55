//! A role's `redis_acl`, checked for a target as a role may hold it, and applied in sequence as
//! Redis would: the part of a user's users.acl line the role gives.

use super::parse::parse_user_rule;
use super::render::{Part, push_rules, redis_acl_for, refuse, starts_with_channel_word};
use super::rule::{AclRule, Refusal, Word};
use super::simulate::{Scope, UserSim};
use super::target::Target;
use crate::accounts::roles::Role;
use crate::error::Result;

/// Checks a role's `redis_acl` for a target, as a role may hold it: each item one rule or one
/// selector `(rule rule ...)`, with no passwords, no `on`/`off`/`nopass`/`reset`/`resetpass`/
/// `clearselectors`, nothing Redis could split or quote differently (white space, quotes,
/// control characters, parentheses other than a selector's own), and valid in sequence on the
/// target (no key pattern after `allkeys`, ...).
pub(crate) fn check_role(role: &Role, target: Target) -> Result<Part> {
    let name = role.name();
    let rules = redis_acl_for(role, target)
        .map(|item| {
            role_rule(item, target)
                .map(|rule| (item, rule))
                .map_err(|r| refuse(name, target, item, &r))
        })
        .collect::<Result<Vec<_>>>()?;
    role_part(name, target, rules)
}

/// One item of a role's `redis_acl`: one rule or one selector, as a role may hold it.
fn role_rule(item: &str, target: Target) -> Result<AclRule, Refusal> {
    if item.is_empty() {
        return Err("an empty rule".into());
    }
    if item
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\'')
    {
        return Err(
            "quotes and control characters are not allowed (Redis splits and unquotes them)".into(),
        );
    }
    if let Some(inner) = item.strip_prefix('(') {
        let Some(inner) = inner.strip_suffix(')') else {
            return Err("a selector must end with ')'".into());
        };
        if !target.has_selectors() {
            return Err("selectors need redis-7.0 or later, or Valkey".into());
        }
        if inner
            .split(' ')
            .any(|w| w.is_empty() || w.starts_with('(') || w.ends_with(')'))
        {
            return Err("inside a selector, words are separated by one space and none may start with '(' or end with ')' (Redis ends a selector at the first word ending with ')')".into());
        }
    } else if item.contains(' ') {
        return Err("one rule per item; white space only inside a selector '( ... )'".into());
    } else if item.starts_with('(') || item.ends_with(')') {
        return Err(
            "a rule may not start with '(' or end with ')' (rctl may place it inside a selector)"
                .into(),
        );
    }
    let rule = parse_user_rule(item, target)?;
    match &rule {
        AclRule::AddPassword(_)
        | AclRule::RemovePassword(_)
        | AclRule::AddHash(_)
        | AclRule::RemoveHash(_) => {
            return Err(
                "passwords belong to users, not roles (rctl writes each user's hash)".into(),
            );
        }
        AclRule::Word(
            w @ (Word::On
            | Word::Off
            | Word::Nopass
            | Word::Resetpass
            | Word::Reset
            | Word::Clearselectors),
        ) => {
            return Err(Refusal::from(
                format!("{:?} is decided by rctl, not by a role", w.name()).as_str(),
            ));
        }
        _ => {}
    }
    let databases = |r: &AclRule| {
        matches!(
            r,
            AclRule::Databases(_) | AclRule::Word(Word::Alldbs | Word::Resetdbs)
        )
    };
    let in_selector = matches!(&rule, AclRule::Selector(rs) if rs.iter().any(databases));
    if databases(&rule) || in_selector {
        return Err(
            "databases come from the role's db_names (rctl writes each user's db= rule)".into(),
        );
    }
    Ok(rule)
}

/// A role's checked rules, applied in sequence on the target as Redis would, as the part of a
/// user's line it gives.
fn role_part(name: &str, target: Target, rules: Vec<(&str, AclRule)>) -> Result<Part> {
    let mut part = Part {
        root: Vec::new(),
        selectors: Vec::new(),
        skip_sanitize: None,
        scope: Scope::default(),
        everything: false,
        root_text: String::new(),
        selector_text: String::new(),
        selectors_text: String::new(),
    };
    let features = target.features();
    if features.channels_default_all
        && rules.iter().any(|(_, r)| r.is_selector_level())
        && !starts_with_channel_word(rules.iter().map(|(_, r)| r))
    {
        // 6.2 starts a user with every channel; a role means only what it says.
        part.root.push(AclRule::Word(Word::Resetchannels));
    }
    let mut sim = UserSim::new(target);
    for rule in &part.root {
        sim.apply(rule)
            .map_err(|r| refuse(name, target, "resetchannels", &r))?;
    }
    for (item, rule) in rules {
        sim.apply(&rule)
            .map_err(|r| refuse(name, target, item, &r))?;
        match rule {
            AclRule::Word(Word::SanitizePayload) => part.skip_sanitize = Some(false),
            AclRule::Word(Word::SkipSanitizePayload) => part.skip_sanitize = Some(true),
            AclRule::Selector(_) => part.selectors.push(rule),
            other => part.root.push(other),
        }
    }
    let s = &sim.root;
    part.everything = s.all_commands
        && s.all_keys
        && (s.all_channels || !target.has_channels())
        && part.skip_sanitize != Some(false);
    part.scope = sim.root;
    push_rules(&mut part.root_text, &part.root);
    if !part.root.is_empty() {
        part.selector_text = format!(" ({})", part.root_text.trim_start());
    }
    push_rules(&mut part.selectors_text, &part.selectors);
    Ok(part)
}

//! A user as Redis builds it from one users.acl line, rule by rule: enough to refuse what the
//! server refuses because of order (a key pattern after `allkeys`, removing a password the user
//! does not have, ...).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sha2::{Digest, Sha256};

use super::rule::{AclRule, Refusal, Word};
use super::target::{Features, Target};

/// What one scope (the user's root, or a selector) allows, followed rule by rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    /// `allkeys` / `~*` is in force.
    pub all_keys: bool,
    /// Key patterns with their `R`/`W` flags.
    pub keys: BTreeMap<String, (bool, bool)>,
    /// `allchannels` / `&*` is in force.
    pub all_channels: bool,
    /// Channel patterns.
    pub channels: BTreeSet<String>,
    /// `allcommands` / `+@all` is in force (future module commands too).
    pub all_commands: bool,
    /// Allowed commands, by catalog index (tracked where the catalog has categories).
    pub commands: BTreeSet<usize>,
    /// Allowed first arguments of otherwise blocked commands.
    pub first_args: BTreeMap<usize, BTreeSet<String>>,
    /// The databases the scope may use, `None` for all (`alldbs`, Valkey 9.1's default).
    pub databases: Option<BTreeSet<u32>>,
}

impl Scope {
    fn new(f: Features) -> Scope {
        Scope {
            all_channels: f.channels_default_all,
            ..Scope::default()
        }
    }
}

/// A user as Redis builds it from one users.acl line, enough to refuse what Redis refuses.
pub(crate) struct UserSim {
    target: Target,
    features: Features,
    /// The root scope.
    pub root: Scope,
    /// The selectors, in order.
    pub selectors: Vec<Scope>,
    passwords: HashSet<String>,
    /// `on` was the last of on/off/reset.
    pub on: bool,
    /// `skip-sanitize-payload` was the last sanitize word.
    pub skip_sanitize: bool,
}

impl UserSim {
    pub fn new(target: Target) -> UserSim {
        let features = target.features();
        UserSim {
            target,
            features,
            root: Scope::new(features),
            selectors: Vec::new(),
            passwords: HashSet::new(),
            on: false,
            skip_sanitize: false,
        }
    }

    /// Applies one rule; on a refusal the user is unchanged, as in Redis.
    pub fn apply(&mut self, rule: &AclRule) -> Result<(), Refusal> {
        let hash = |p: &str| hex::encode(Sha256::digest(p.as_bytes()));
        match rule {
            AclRule::Word(Word::On) => self.on = true,
            AclRule::Word(Word::Off) => self.on = false,
            AclRule::Word(Word::Nopass | Word::Resetpass) => self.passwords.clear(),
            AclRule::Word(Word::SanitizePayload) => self.skip_sanitize = false,
            AclRule::Word(Word::SkipSanitizePayload) => self.skip_sanitize = true,
            AclRule::Word(Word::Clearselectors) => self.selectors.clear(),
            AclRule::Word(Word::Reset) => {
                self.passwords.clear();
                self.selectors.clear();
                self.root = Scope::new(self.features);
                self.on = false;
                self.skip_sanitize = false;
            }
            AclRule::AddPassword(p) => {
                self.passwords.insert(hash(p));
            }
            AclRule::AddHash(h) => {
                self.passwords.insert(h.clone());
            }
            AclRule::RemovePassword(p) => {
                if !self.passwords.remove(&hash(p)) {
                    return Err("removes a password the user does not have".into());
                }
            }
            AclRule::RemoveHash(h) => {
                if !self.passwords.remove(h) {
                    return Err("removes a password hash the user does not have".into());
                }
            }
            AclRule::Selector(rules) => {
                let mut scope = Scope::new(self.features);
                for r in rules {
                    apply_scope(&mut scope, r, self.target, self.features)?;
                }
                self.selectors.push(scope);
            }
            other => apply_scope(&mut self.root, other, self.target, self.features)?,
        }
        Ok(())
    }
}

fn apply_scope(s: &mut Scope, rule: &AclRule, t: Target, f: Features) -> Result<(), Refusal> {
    let mut next = s.clone();
    if !apply_pattern(s, &mut next, rule, f)? {
        apply_command(&mut next, rule, t, f)?;
    }
    *s = next;
    Ok(())
}

/// A key, channel or database rule, applied to `next` (a copy of `s`); false when `rule` is
/// none of them.
fn apply_pattern(
    s: &Scope,
    next: &mut Scope,
    rule: &AclRule,
    f: Features,
) -> Result<bool, Refusal> {
    match rule {
        AclRule::Word(Word::Allkeys) => {
            next.all_keys = true;
            next.keys.clear();
        }
        AclRule::Keys {
            pattern, percent, ..
        } if !percent && pattern == "*" => {
            next.all_keys = true;
            next.keys.clear();
        }
        AclRule::Word(Word::Resetkeys) => {
            next.all_keys = false;
            next.keys.clear();
        }
        AclRule::Keys {
            read,
            write,
            pattern,
            percent,
        } => {
            if s.all_keys {
                return Err(
                    "a key pattern after allkeys or ~* (Redis refuses it: the user already has every key)"
                        .into(),
                );
            }
            let (r, w) = if *percent {
                (*read, *write)
            } else {
                (true, true)
            };
            let e = next.keys.entry(pattern.clone()).or_insert((false, false));
            e.0 |= r;
            e.1 |= w;
        }
        AclRule::Word(Word::Allchannels) => {
            next.all_channels = true;
            next.channels.clear();
        }
        AclRule::Channels(p) if p == "*" => {
            next.all_channels = true;
            next.channels.clear();
        }
        AclRule::Word(Word::Resetchannels) => {
            next.all_channels = false;
            next.channels.clear();
        }
        AclRule::Channels(p) => {
            if s.all_channels {
                return Err(if f.channels_default_all {
                    "a channel pattern while the user has every channel (allchannels, or in 6.2 the default: put resetchannels first)".into()
                } else {
                    "a channel pattern after allchannels or &* (Redis refuses it)".into()
                });
            }
            next.channels.insert(p.clone());
        }
        AclRule::Word(Word::Alldbs) => next.databases = None,
        AclRule::Word(Word::Resetdbs) => next.databases = Some(BTreeSet::new()),
        AclRule::Databases(ids) => next.databases = Some(ids.clone()),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A command, category or first-argument rule, applied to `next`.
fn apply_command(next: &mut Scope, rule: &AclRule, t: Target, f: Features) -> Result<(), Refusal> {
    let catalog = t.catalog();
    let track = catalog.has_members();
    let tracked = if track { catalog.names.len() } else { 0 };
    match rule {
        AclRule::Word(Word::Allcommands) => set_all(next, true, tracked),
        AclRule::Category { allow, name } if name == "all" => set_all(next, *allow, tracked),
        AclRule::Word(Word::Nocommands) => set_all(next, false, tracked),
        AclRule::Command { allow, name } => {
            if track && let Some(&i) = catalog.index.get(name.as_str()) {
                set_command(next, i, *allow);
            }
        }
        AclRule::FirstArg { command, arg } => {
            if track && let Some(&i) = catalog.index.get(command.as_str()) {
                let allowed = next.commands.contains(&i);
                if f.first_arg_busy && allowed {
                    return Err(
                        "a first-argument rule for a command that is already allowed (Redis 6.0 refuses it)"
                            .into(),
                    );
                }
                if !allowed {
                    next.first_args.entry(i).or_default().insert(arg.clone());
                }
            }
        }
        AclRule::Category { allow, name } => {
            if track && let Some(k) = catalog.category(name) {
                for &i in &catalog.members[k] {
                    set_command(next, i, *allow);
                }
            }
        }
        _ => return Err("not a rule for a selector".into()),
    }
    Ok(())
}

fn set_all(s: &mut Scope, allow: bool, commands: usize) {
    s.all_commands = allow;
    s.first_args.clear();
    s.commands.clear();
    if allow {
        s.commands.extend(0..commands);
    }
}

fn set_command(s: &mut Scope, i: usize, allow: bool) {
    if allow {
        s.commands.insert(i);
    } else {
        s.commands.remove(&i);
        s.all_commands = false;
    }
    s.first_args.remove(&i);
}

//! Redis's ACL grammar, read the way each target's `src/acl.c` reads it: `ACLSetUser`,
//! `ACLSetSelector`, the selector merge of `ACLMergeSelectorArguments`, the `sdssplitargs` split
//! of a selector's inside, and the per-user state behind the refusals that depend on order
//! (a key pattern after `allkeys`, removing a password the user does not have, ...).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use sha2::{Digest, Sha256};

use super::target::{Features, Target};
use crate::error::shorten;

/// One ACL rule, as `ACL SETUSER` and `users.acl` take it.
///
/// ```
/// use rctl::acl::{AclRule, Target};
/// let rule = AclRule::parse("%R~cache:*", Target::Redis70).unwrap();
/// assert_eq!(rule.to_string(), "%R~cache:*");
/// assert!(AclRule::parse("%R~cache:*", Target::Redis62).is_err()); // no key permissions in 6.2
/// assert!(AclRule::parse("+hexpire", Target::Redis70).is_err()); // Redis 7.4 and later
/// assert!(AclRule::parse("+hexpire", Target::Redis74).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AclRule {
    /// A word rule: `on`, `off`, `nopass`, `allkeys`, `resetchannels`, ...
    Word(Word),
    /// `~pattern` (read and write), `%R~pattern`, `%W~pattern`, `%RW~pattern`.
    Keys {
        /// `R` permission.
        read: bool,
        /// `W` permission.
        write: bool,
        /// The glob pattern.
        pattern: String,
        /// Written with the `%` form.
        percent: bool,
    },
    /// `&pattern`: Pub/Sub channels.
    Channels(String),
    /// `+cmd`, `-cmd`, and on 7.0+ `+container|sub`, `-container|sub`.
    Command {
        /// `+` or `-`.
        allow: bool,
        /// Command name, lower-cased (`container|subcommand` for a subcommand).
        name: String,
    },
    /// `+cmd|arg`: allows a command only with this first argument (deprecated by Redis).
    FirstArg {
        /// The command, lower-cased.
        command: String,
        /// The first argument.
        arg: String,
    },
    /// `+@category`, `-@category` (`all` included).
    Category {
        /// `+` or `-`.
        allow: bool,
        /// Category name, lower-cased.
        name: String,
    },
    /// `>password`: adds a plaintext password.
    AddPassword(String),
    /// `<password`: removes a plaintext password.
    RemovePassword(String),
    /// `#hash`: adds a SHA-256 password hash.
    AddHash(String),
    /// `!hash`: removes a SHA-256 password hash.
    RemoveHash(String),
    /// `(rules ...)`: a selector (Redis 7.0+, Valkey).
    Selector(Vec<AclRule>),
}

/// The word rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Word {
    On,
    Off,
    Nopass,
    Resetpass,
    Reset,
    Allkeys,
    Resetkeys,
    Allchannels,
    Resetchannels,
    Allcommands,
    Nocommands,
    Clearselectors,
    SanitizePayload,
    SkipSanitizePayload,
}

impl Word {
    /// The word as Redis spells it.
    pub fn name(self) -> &'static str {
        match self {
            Word::On => "on",
            Word::Off => "off",
            Word::Nopass => "nopass",
            Word::Resetpass => "resetpass",
            Word::Reset => "reset",
            Word::Allkeys => "allkeys",
            Word::Resetkeys => "resetkeys",
            Word::Allchannels => "allchannels",
            Word::Resetchannels => "resetchannels",
            Word::Allcommands => "allcommands",
            Word::Nocommands => "nocommands",
            Word::Clearselectors => "clearselectors",
            Word::SanitizePayload => "sanitize-payload",
            Word::SkipSanitizePayload => "skip-sanitize-payload",
        }
    }
}

/// Why a rule was refused: the reason only (the caller names the token and the target), and
/// the first other target that has the command or category the rule names, if one does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub reason: String,
    pub exists_in: Option<Target>,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal {
            reason,
            exists_in: None,
        }
    }
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Refusal {
        Refusal::from(reason.to_string())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        match self.exists_in {
            Some(other) => write!(f, "; it exists in {other}"),
            None => Ok(()),
        }
    }
}

/// C's `isspace` in the C locale, and NUL: what `ACLStringHasSpaces` refuses in a pattern.
fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0))
}

impl AclRule {
    /// Parses one rule as `ACLSetUser` of the target reads it (a selector is one token,
    /// `(~app:* +get)`). Rules whose acceptance depends on earlier rules (a pattern after
    /// `allkeys`, `<password` for a password the user lacks) are checked by the users.acl
    /// linter and the role checks, which follow a whole line.
    pub fn parse(token: &str, target: Target) -> crate::Result<AclRule> {
        parse_user_rule(token, target).map_err(|reason| rule_error(token, target, &reason))
    }

    /// True for the rules `ACLSetSelector` takes (keys, channels, commands).
    pub fn is_selector_level(&self) -> bool {
        match self {
            AclRule::Word(w) => matches!(
                w,
                Word::Allkeys
                    | Word::Resetkeys
                    | Word::Allchannels
                    | Word::Resetchannels
                    | Word::Allcommands
                    | Word::Nocommands
            ),
            AclRule::Keys { .. }
            | AclRule::Channels(_)
            | AclRule::Command { .. }
            | AclRule::FirstArg { .. }
            | AclRule::Category { .. } => true,
            _ => false,
        }
    }
}

pub(crate) fn rule_error(token: &str, target: Target, refusal: &Refusal) -> crate::Error {
    crate::Error::InvalidAcl {
        message: format!(
            "invalid ACL rule {:?} for {target}: {refusal}",
            shorten(&redact(token))
        ),
        exists_in: refusal.exists_in,
    }
}

/// A token with every secret replaced: `>pw`, `<pw`, `#hash`, `!hash`, also inside a
/// selector or behind a quote.
pub fn redact(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    for (i, word) in token.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let lead = word.len() - word.trim_start_matches(['(', '"', '\'']).len();
        let (head, rest) = word.split_at(lead);
        match rest.chars().next() {
            Some(c @ ('>' | '<' | '#' | '!')) => {
                out.push_str(head);
                out.push(c);
                out.push_str("<redacted>");
                if rest.ends_with(')') {
                    out.push(')');
                }
            }
            _ => out.push_str(word),
        }
    }
    out
}

/// `ACLSetUser`: the user-level rules, then (7.0+) selectors, then `ACLSetSelector`.
pub(crate) fn parse_user_rule(op: &str, t: Target) -> Result<AclRule, Refusal> {
    let f = t.features();
    let word = |w: &str| op.eq_ignore_ascii_case(w);
    if op.is_empty() {
        return Err("an empty rule".into());
    }
    if word("on") {
        return Ok(AclRule::Word(Word::On));
    }
    if word("off") {
        return Ok(AclRule::Word(Word::Off));
    }
    if f.sanitize && word("skip-sanitize-payload") {
        return Ok(AclRule::Word(Word::SkipSanitizePayload));
    }
    if f.sanitize && word("sanitize-payload") {
        return Ok(AclRule::Word(Word::SanitizePayload));
    }
    if word("nopass") {
        return Ok(AclRule::Word(Word::Nopass));
    }
    if word("resetpass") {
        return Ok(AclRule::Word(Word::Resetpass));
    }
    // `rest` only matters after an ASCII first byte; `get` keeps a multi-byte one from
    // splitting a character.
    let (first, rest) = (op.as_bytes()[0], op.get(1..).unwrap_or_default());
    match first {
        b'>' => return Ok(AclRule::AddPassword(rest.to_string())),
        b'<' => return Ok(AclRule::RemovePassword(rest.to_string())),
        b'#' => return check_hash(rest).map(|()| AclRule::AddHash(rest.to_string())),
        b'!' => return check_hash(rest).map(|()| AclRule::RemoveHash(rest.to_string())),
        _ => {}
    }
    if f.selectors && first == b'(' && op.ends_with(')') && op.len() >= 2 {
        let inner = &op[1..op.len() - 1];
        // sdssplitargs: unbalanced quotes give no arguments at all, so an empty selector.
        let args = split_args(inner).unwrap_or_default();
        let mut rules = Vec::with_capacity(args.len());
        for arg in &args {
            let rule = parse_selector_rule(arg, t, f).map_err(|reason| {
                format!("inside the selector, {:?}: {reason}", shorten(&redact(arg)))
            })?;
            rules.push(rule);
        }
        return Ok(AclRule::Selector(rules));
    }
    if f.selectors && word("clearselectors") {
        return Ok(AclRule::Word(Word::Clearselectors));
    }
    if word("reset") {
        return Ok(AclRule::Word(Word::Reset));
    }
    parse_selector_rule(op, t, f)
}

fn check_hash(hash: &str) -> Result<(), Refusal> {
    if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("a password hash must be exactly 64 lowercase hexadecimal characters".into());
    }
    Ok(())
}

/// `ACLSetSelector` (on 6.x, the same rules as they sit in `ACLSetUser`).
fn parse_selector_rule(op: &str, t: Target, f: Features) -> Result<AclRule, Refusal> {
    let word = |w: &str| op.eq_ignore_ascii_case(w);
    let b = op.as_bytes();
    if word("allkeys") {
        return Ok(AclRule::Word(Word::Allkeys));
    }
    if op == "~*" {
        return Ok(keys(true, true, "*", false));
    }
    if word("resetkeys") {
        return Ok(AclRule::Word(Word::Resetkeys));
    }
    if f.channels && word("allchannels") {
        return Ok(AclRule::Word(Word::Allchannels));
    }
    if f.channels && op == "&*" {
        return Ok(AclRule::Channels("*".into()));
    }
    if f.channels && word("resetchannels") {
        return Ok(AclRule::Word(Word::Resetchannels));
    }
    if word("allcommands") {
        return Ok(AclRule::Word(Word::Allcommands));
    }
    if word("+@all") {
        return Ok(category(true, "all"));
    }
    if word("nocommands") {
        return Ok(AclRule::Word(Word::Nocommands));
    }
    if word("-@all") {
        return Ok(category(false, "all"));
    }
    match b.first() {
        Some(b'~') => {
            if has_spaces(&b[1..]) {
                return Err("a key pattern may not hold white space".into());
            }
            Ok(keys(true, true, &op[1..], false))
        }
        Some(b'%') if f.selectors => parse_percent(op, f),
        Some(b'&') if f.channels => {
            if has_spaces(&b[1..]) {
                return Err("a channel pattern may not hold white space".into());
            }
            Ok(AclRule::Channels(op[1..].to_string()))
        }
        Some(b'+') if b.get(1) != Some(&b'@') => parse_allow(&op[1..], t, f),
        Some(b'-') if b.get(1) != Some(&b'@') => {
            let name = &op[1..];
            let found = if f.subcommands {
                lookup(name, t).map(|(n, _)| n)
            } else {
                plain_lookup(name, t)
            };
            match found {
                Some(name) => Ok(AclRule::Command { allow: false, name }),
                None => Err(unknown_command(name, t)),
            }
        }
        Some(b'+' | b'-') => {
            let name = &op[2..];
            let catalog = t.catalog();
            match catalog.category(name) {
                Some(_) => Ok(category(b[0] == b'+', &name.to_ascii_lowercase())),
                None => Err(Refusal {
                    reason: format!("unknown command category in {t}"),
                    exists_in: t.first_with_category(name).filter(|other| *other != t),
                }),
            }
        }
        _ => Err(unknown_rule(t)),
    }
}

fn unknown_rule(t: Target) -> Refusal {
    let mut known = String::from("on, off, ~pattern, +cmd, -cmd, +@category, allkeys, allcommands");
    if t.has_channels() {
        known.push_str(", &pattern, allchannels");
    }
    if t.has_selectors() {
        known.push_str(", %R~pattern, ( selector )");
    }
    format!("not a rule of {t} ({known}, ...)").into()
}

fn keys(read: bool, write: bool, pattern: &str, percent: bool) -> AclRule {
    AclRule::Keys {
        read,
        write,
        pattern: pattern.to_string(),
        percent,
    }
}

fn category(allow: bool, name: &str) -> AclRule {
    AclRule::Category {
        allow,
        name: name.to_string(),
    }
}

/// `%R~`, `%W~`, `%RW~`: each letter at most once, then `~` (7.2+: only after a letter). A
/// rule that ends before `~` is a pattern of its own: `%RW` is the empty pattern.
fn parse_percent(op: &str, f: Features) -> Result<AclRule, Refusal> {
    let b = op.as_bytes();
    if b.len() == 1 && !f.bare_percent {
        return Err("a '%' key rule is %R~pattern, %W~pattern or %RW~pattern".into());
    }
    let (mut read, mut write) = (false, false);
    let mut offset = 1;
    while offset < b.len() {
        let c = b[offset];
        if c.eq_ignore_ascii_case(&b'R') && !read {
            read = true;
        } else if c.eq_ignore_ascii_case(&b'W') && !write {
            write = true;
        } else if c == b'~' && (!f.percent_needs_flags || read || write) {
            offset += 1;
            break;
        } else {
            return Err("a '%' key rule is %R~pattern, %W~pattern or %RW~pattern".into());
        }
        offset += 1;
    }
    if has_spaces(&b[offset..]) {
        return Err("a key pattern may not hold white space".into());
    }
    Ok(keys(read, write, &op[offset..], true))
}

/// 7.0+'s `lookupCommandBySds`: `name` or `container|sub`, case-insensitive. Returns the
/// canonical name and whether it is a subcommand.
fn lookup(name: &str, t: Target) -> Option<(String, bool)> {
    let parts: Vec<&str> = if name.is_empty() {
        Vec::new()
    } else {
        name.split('|').collect()
    };
    let lower = name.to_ascii_lowercase();
    match parts.len() {
        1 if t.catalog().index.contains_key(lower.as_str()) => Some((lower, false)),
        2 if t
            .catalog()
            .containers
            .contains(parts[0].to_ascii_lowercase().as_str())
            && t.catalog().index.contains_key(lower.as_str()) =>
        {
            Some((lower, true))
        }
        _ => None,
    }
}

/// 6.x: the command table holds whole names only.
fn plain_lookup(name: &str, t: Target) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    t.catalog()
        .index
        .contains_key(lower.as_str())
        .then_some(lower)
}

fn unknown_command(name: &str, t: Target) -> Refusal {
    let base = name.split('|').next().unwrap_or(name);
    Refusal {
        reason: format!("unknown command in {t}"),
        exists_in: t
            .first_with_command(name)
            .or_else(|| t.first_with_command(base))
            .filter(|other| *other != t),
    }
}

fn parse_allow(name: &str, t: Target, f: Features) -> Result<AclRule, Refusal> {
    if f.subcommands {
        let Some(bar) = name.rfind('|') else {
            return match lookup(name, t) {
                Some((name, _)) => Ok(AclRule::Command { allow: true, name }),
                None => Err(unknown_command(name, t)),
            };
        };
        let (copy, sub) = (&name[..bar], &name[bar + 1..]);
        let Some((command, is_sub)) = lookup(copy, t) else {
            return Err(unknown_command(copy, t));
        };
        if is_sub {
            return Err("a subcommand takes no first-argument rule".into());
        }
        if sub.is_empty() {
            return Err("expected +command|subcommand".into());
        }
        if t.catalog().containers.contains(command.as_str()) {
            return match lookup(name, t) {
                Some((name, _)) => Ok(AclRule::Command { allow: true, name }),
                None => Err(format!("unknown subcommand of {command:?} in {t}").into()),
            };
        }
        return Ok(AclRule::FirstArg {
            command,
            arg: sub.to_string(),
        });
    }
    let Some((copy, sub)) = name.split_once('|') else {
        return match plain_lookup(name, t) {
            Some(name) => Ok(AclRule::Command { allow: true, name }),
            None => Err(unknown_command(name, t)),
        };
    };
    let Some(command) = plain_lookup(copy, t) else {
        return Err(unknown_command(copy, t));
    };
    if sub.is_empty() {
        return Err("expected +command|first-argument".into());
    }
    Ok(AclRule::FirstArg {
        command,
        arg: sub.to_string(),
    })
}

impl fmt::Display for AclRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = |allow: &bool| if *allow { '+' } else { '-' };
        match self {
            AclRule::Word(w) => f.write_str(w.name()),
            AclRule::Keys {
                read,
                write,
                pattern,
                percent,
            } => {
                if *percent && !read && !write {
                    // Valkey 8.0's bare '%': an empty pattern with no access.
                    write!(f, "%{pattern}")
                } else if *percent {
                    let r = if *read { "R" } else { "" };
                    let w = if *write { "W" } else { "" };
                    write!(f, "%{r}{w}~{pattern}")
                } else {
                    write!(f, "~{pattern}")
                }
            }
            AclRule::Channels(p) => write!(f, "&{p}"),
            AclRule::Command { allow, name } => write!(f, "{}{name}", sign(allow)),
            AclRule::FirstArg { command, arg } => write!(f, "+{command}|{arg}"),
            AclRule::Category { allow, name } => write!(f, "{}@{name}", sign(allow)),
            AclRule::AddPassword(p) => write!(f, ">{p}"),
            AclRule::RemovePassword(p) => write!(f, "<{p}"),
            AclRule::AddHash(h) => write!(f, "#{h}"),
            AclRule::RemoveHash(h) => write!(f, "!{h}"),
            AclRule::Selector(rules) => {
                f.write_str("(")?;
                for (i, r) in rules.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write_arg(f, &r.to_string())?;
                }
                f.write_str(")")
            }
        }
    }
}

/// One argument inside a selector, as `sdssplitargs` reads it back: bare when it can be,
/// else in double quotes with C escapes.
fn write_arg(f: &mut fmt::Formatter<'_>, arg: &str) -> fmt::Result {
    let plain = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if plain {
        return f.write_str(arg);
    }
    f.write_str("\"")?;
    for c in arg.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// `sdssplitargs`, which splits a selector's inside: white space separates, `"..."` takes C
/// escapes, `'...'` takes `\'`; a closing quote must be followed by white space. `None` for
/// unbalanced quotes.
pub(crate) fn split_args(line: &str) -> Option<Vec<String>> {
    let b = line.as_bytes();
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return Some(args);
        }
        let mut cur: Vec<u8> = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = b.get(i).copied();
            if inq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if b.get(i + 1) == Some(&b'x')
                            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && b.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("0");
                        cur.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        i += 1;
                        cur.push(match b[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if b.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else if insq {
                match c {
                    None => return None,
                    Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if b.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if is_space(c) => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(other) => cur.push(other),
                }
            }
            i += 1;
        }
        args.push(String::from_utf8_lossy(&cur).into_owned());
    }
}

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
    let catalog = t.catalog();
    let track = catalog.has_members();
    let tracked = if track { catalog.names.len() } else { 0 };
    let mut next = s.clone();
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
        AclRule::Word(Word::Allcommands) => set_all(&mut next, true, tracked),
        AclRule::Category { allow, name } if name == "all" => set_all(&mut next, *allow, tracked),
        AclRule::Word(Word::Nocommands) => set_all(&mut next, false, tracked),
        AclRule::Command { allow, name } => {
            if track && let Some(&i) = catalog.index.get(name.as_str()) {
                set_command(&mut next, i, *allow);
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
                    set_command(&mut next, i, *allow);
                }
            }
        }
        _ => return Err("not a rule for a selector".into()),
    }
    *s = next;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_reads_quotes_as_redis_does() {
        assert_eq!(split_args("a  b\tc").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_args(r#""a b" 'c d'"#).unwrap(), ["a b", "c d"]);
        assert_eq!(split_args(r#""\x41\n""#).unwrap(), ["A\n"]);
        assert!(split_args(r#""a"b"#).is_none());
        assert!(split_args("'open").is_none());
        assert_eq!(split_args("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn selector_arguments_render_as_redis_reads_them_back() {
        // Found by the acl_rule fuzz target: a channel holding a double quote.
        for token in [r#"(&'"!=7')"#, r#"("~a\\b" '&x"y')"#, "(~\"\\x01\")"] {
            let rule = AclRule::parse(token, Target::Redis70).unwrap();
            let again = AclRule::parse(&rule.to_string(), Target::Redis70).unwrap();
            assert_eq!(again, rule, "{token} -> {rule}");
        }
    }

    #[test]
    fn non_ascii_first_characters_are_refused_not_a_panic() {
        // Found by the acl_rule fuzz target: "\u{524}" split inside its UTF-8 encoding.
        for token in ["\u{524}", "é~x", "(é)", "+é", "%é~x", "~é"] {
            for t in Target::ALL {
                let _ = AclRule::parse(token, t);
            }
        }
        assert!(AclRule::parse("\u{524}", Target::Redis70).is_err());
        assert!(AclRule::parse("~é", Target::Redis70).is_ok());
    }

    #[test]
    fn redaction_hides_every_secret_form() {
        let r = redact("(>SuperSecret1 ~x) #abc \"<pw");
        assert!(
            !r.contains("SuperSecret1") && !r.contains("abc") && !r.contains("pw"),
            "{r}"
        );
    }
}

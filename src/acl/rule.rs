//! One Redis ACL rule as a value: what `ACL SETUSER` and users.acl take, written back the way
//! the server reads it, with its secrets redacted for messages; and why a rule is refused.

use std::collections::BTreeSet;
use std::fmt;

use super::target::Target;
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
    /// `db=N[,N...]`: only these databases (Valkey 9.1+); it replaces an earlier database
    /// rule, it does not add to it.
    Databases(BTreeSet<u32>),
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
    Alldbs,
    Resetdbs,
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
            Word::Alldbs => "alldbs",
            Word::Resetdbs => "resetdbs",
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

pub(crate) fn rule_error(token: &str, target: Target, refusal: &Refusal) -> crate::error::Error {
    crate::error::Error::InvalidAcl {
        message: format!(
            "invalid ACL rule {:?} for {target}: {refusal}",
            shorten(&redact(token))
        ),
        exists_in: refusal.exists_in.map(Target::name),
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
            AclRule::Databases(ids) => {
                f.write_str("db=")?;
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{id}")?;
                }
                Ok(())
            }
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

//! Redis ACL rules (the grammar of Redis 7.0's `src/acl.c`), `users.acl` rendering, and a linter
//! for existing `users.acl` files.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result, shorten};
use crate::roles::Role;
use crate::users::User;

/// One ACL rule, as `ACL SETUSER` and `users.acl` take it.
///
/// ```
/// use rctl::acl::AclRule;
/// let rule = AclRule::parse("%R~cache:*").unwrap();
/// assert_eq!(rule.to_string(), "%R~cache:*");
/// assert!(AclRule::parse("+flushal").is_err()); // not a Redis 7.0 command
/// assert!(AclRule::parse(">secret").unwrap().check_for_role().is_err()); // passwords belong to users
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// Written with the `%` form (kept so that rendering gives back the same token).
        percent: bool,
    },
    /// `&pattern`: Pub/Sub channels.
    Channels(String),
    /// `+cmd`, `-cmd`, `+cmd|sub`, `-cmd|sub`.
    Command {
        /// `+` or `-`.
        allow: bool,
        /// Command name, possibly `container|subcommand`, lower-cased.
        name: String,
    },
    /// `+@category`, `-@category`.
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
    /// `(rules ...)`: a selector, Redis 7.0.
    Selector(Vec<AclRule>),
}

/// The word rules of Redis 7.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

const WORDS: [(Word, &str); 14] = [
    (Word::On, "on"),
    (Word::Off, "off"),
    (Word::Nopass, "nopass"),
    (Word::Resetpass, "resetpass"),
    (Word::Reset, "reset"),
    (Word::Allkeys, "allkeys"),
    (Word::Resetkeys, "resetkeys"),
    (Word::Allchannels, "allchannels"),
    (Word::Resetchannels, "resetchannels"),
    (Word::Allcommands, "allcommands"),
    (Word::Nocommands, "nocommands"),
    (Word::Clearselectors, "clearselectors"),
    (Word::SanitizePayload, "sanitize-payload"),
    (Word::SkipSanitizePayload, "skip-sanitize-payload"),
];

impl Word {
    fn name(self) -> &'static str {
        WORDS
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("", |(_, n)| n)
    }

    /// Rules that only make sense for a whole user, never inside a selector (acl.c's
    /// ACLSetSelector does not take them).
    fn user_level(self) -> bool {
        matches!(
            self,
            Word::On
                | Word::Off
                | Word::Nopass
                | Word::Resetpass
                | Word::Reset
                | Word::Clearselectors
                | Word::SanitizePayload
                | Word::SkipSanitizePayload
        )
    }
}

/// Redis 7.0's command table and categories, kept as data with their origin in the first lines.
struct Catalog {
    commands: HashSet<&'static str>,
    containers: HashSet<&'static str>,
    categories: HashSet<&'static str>,
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let lines = |text: &'static str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
        };
        let commands: HashSet<&str> = lines(include_str!("redis70_commands.txt"))
            .into_iter()
            .collect();
        let containers = commands
            .iter()
            .filter_map(|c| c.split_once('|').map(|(c, _)| c))
            .collect();
        let categories = lines(include_str!("redis70_categories.txt"))
            .into_iter()
            .collect();
        Catalog {
            commands,
            containers,
            categories,
        }
    })
}

fn acl_error(token: &str, reason: impl fmt::Display) -> Error {
    Error::InvalidAcl(format!("invalid ACL rule {:?}: {reason}", shorten(token)))
}

impl AclRule {
    /// Parses one rule token. A selector is one token: `(~app:* +get)`.
    pub fn parse(token: &str) -> Result<AclRule> {
        if let Some(c) = token.chars().find(|c| c.is_control()) {
            return Err(acl_error(token, format_args!("control character {c:?}")));
        }
        if let Some(inner) = token.strip_prefix('(') {
            let Some(inner) = inner.strip_suffix(')') else {
                return Err(acl_error(token, "a selector must end with ')'"));
            };
            let mut rules = Vec::new();
            for part in inner.split(' ').filter(|p| !p.is_empty()) {
                let rule = AclRule::parse(part)?;
                let allowed = match &rule {
                    AclRule::Word(w) => !w.user_level(),
                    AclRule::Keys { .. }
                    | AclRule::Channels(_)
                    | AclRule::Command { .. }
                    | AclRule::Category { .. } => true,
                    _ => false,
                };
                if !allowed {
                    return Err(acl_error(
                        token,
                        format_args!("{part:?} is not allowed inside a selector"),
                    ));
                }
                rules.push(rule);
            }
            return Ok(AclRule::Selector(rules));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(acl_error(
                token,
                "whitespace is only allowed inside a selector '( ... )'",
            ));
        }
        if let Some((word, _)) = WORDS.iter().find(|(_, n)| n.eq_ignore_ascii_case(token)) {
            return Ok(AclRule::Word(*word));
        }
        let (first, rest) = token.split_at(token.chars().next().map_or(0, char::len_utf8));
        match first {
            "~" => Ok(AclRule::Keys {
                read: true,
                write: true,
                pattern: rest.to_string(),
                percent: false,
            }),
            "%" => parse_percent_keys(token, rest),
            "&" => Ok(AclRule::Channels(rest.to_string())),
            ">" => Ok(AclRule::AddPassword(rest.to_string())),
            "<" => Ok(AclRule::RemovePassword(rest.to_string())),
            "#" => check_hash(token, rest).map(|()| AclRule::AddHash(rest.to_string())),
            "!" => check_hash(token, rest).map(|()| AclRule::RemoveHash(rest.to_string())),
            "+" | "-" => parse_command(token, first == "+", rest),
            _ => Err(acl_error(
                token,
                "unknown rule (see the ACL SETUSER rules of Redis 7.0: on, off, ~pattern, &pattern, +cmd, +@category, ...)",
            )),
        }
    }

    /// Refuses what a role may not hold: passwords of any form (they belong to users) and
    /// `on`/`off`/`nopass`/`reset`/`resetpass` (rctl decides whether a user is on, and with what).
    pub fn check_for_role(&self) -> Result<()> {
        let token = self.to_string();
        match self {
            AclRule::AddPassword(_)
            | AclRule::RemovePassword(_)
            | AclRule::AddHash(_)
            | AclRule::RemoveHash(_) => Err(acl_error(
                &redact(self),
                "passwords belong to users, not roles (rctl writes each user's hash)",
            )),
            AclRule::Word(
                w @ (Word::On | Word::Off | Word::Nopass | Word::Resetpass | Word::Reset),
            ) => Err(acl_error(
                &token,
                format_args!("{:?} is decided by rctl, not by a role", w.name()),
            )),
            _ => Ok(()),
        }
    }
}

/// A rule shown without its secret, for messages.
fn redact(rule: &AclRule) -> String {
    match rule {
        AclRule::AddPassword(_) => "><redacted>".to_string(),
        AclRule::RemovePassword(_) => "<<redacted>".to_string(),
        AclRule::AddHash(_) => "#<redacted>".to_string(),
        AclRule::RemoveHash(_) => "!<redacted>".to_string(),
        other => other.to_string(),
    }
}

fn parse_percent_keys(token: &str, rest: &str) -> Result<AclRule> {
    let Some((flags, pattern)) = rest.split_once('~') else {
        return Err(acl_error(
            token,
            "a '%' key rule needs '~': %R~pattern, %W~pattern or %RW~pattern",
        ));
    };
    let (mut read, mut write) = (false, false);
    for c in flags.chars() {
        match c.to_ascii_uppercase() {
            'R' => read = true,
            'W' => write = true,
            _ => {
                return Err(acl_error(
                    token,
                    format_args!("unknown key permission {c:?} (R or W)"),
                ));
            }
        }
    }
    if !read && !write {
        return Err(acl_error(
            token,
            "a '%' key rule needs R, W or RW before '~'",
        ));
    }
    Ok(AclRule::Keys {
        read,
        write,
        pattern: pattern.to_string(),
        percent: true,
    })
}

fn check_hash(token: &str, hash: &str) -> Result<()> {
    if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(acl_error(
            &format!("{}<hash>", &token[..1]),
            "a password hash must be exactly 64 lowercase hexadecimal characters",
        ));
    }
    Ok(())
}

fn parse_command(token: &str, allow: bool, rest: &str) -> Result<AclRule> {
    let catalog = catalog();
    if let Some(cat) = rest.strip_prefix('@') {
        let name = cat.to_ascii_lowercase();
        if name != "all" && !catalog.categories.contains(name.as_str()) {
            return Err(acl_error(
                token,
                format_args!("unknown command category {cat:?} in Redis 7.0"),
            ));
        }
        return Ok(AclRule::Category { allow, name });
    }
    let name = rest.to_ascii_lowercase();
    if name.is_empty() {
        return Err(acl_error(token, "missing command name"));
    }
    match name.split_once('|') {
        None if catalog.commands.contains(name.as_str()) => {}
        None => {
            return Err(acl_error(
                token,
                format_args!("unknown command {rest:?} in Redis 7.0"),
            ));
        }
        Some((container, sub)) => {
            if sub.is_empty() || sub.contains('|') {
                return Err(acl_error(token, "expected cmd|subcommand"));
            }
            if catalog.containers.contains(container) {
                if !catalog.commands.contains(name.as_str()) {
                    return Err(acl_error(
                        token,
                        format_args!("unknown subcommand {sub:?} of {container:?} in Redis 7.0"),
                    ));
                }
            } else if !catalog.commands.contains(container) {
                return Err(acl_error(
                    token,
                    format_args!("unknown command {container:?} in Redis 7.0"),
                ));
            } else if !allow {
                // acl.c: a first-argument rule can only allow (and is deprecated).
                return Err(acl_error(
                    token,
                    "a first-argument rule can only be allowed ('+'), not blocked",
                ));
            }
        }
    }
    Ok(AclRule::Command { allow, name })
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
                if *percent {
                    let r = if *read { "R" } else { "" };
                    let w = if *write { "W" } else { "" };
                    write!(f, "%{r}{w}~{pattern}")
                } else {
                    write!(f, "~{pattern}")
                }
            }
            AclRule::Channels(p) => write!(f, "&{p}"),
            AclRule::Command { allow, name } => write!(f, "{}{name}", sign(allow)),
            AclRule::Category { allow, name } => write!(f, "{}@{name}", sign(allow)),
            AclRule::AddPassword(p) => write!(f, ">{p}"),
            AclRule::RemovePassword(p) => write!(f, "<{p}"),
            AclRule::AddHash(h) => write!(f, "#{h}"),
            AclRule::RemoveHash(h) => write!(f, "!{h}"),
            AclRule::Selector(rules) => {
                let inner: Vec<String> = rules.iter().map(ToString::to_string).collect();
                write!(f, "({})", inner.join(" "))
            }
        }
    }
}

/// Parses the rules of a role's `redis_acl` and checks them for a role.
pub fn parse_role_rules(rules: &[String]) -> Result<Vec<AclRule>> {
    rules
        .iter()
        .map(|r| {
            let rule = AclRule::parse(r)?;
            rule.check_for_role()?;
            Ok(rule)
        })
        .collect()
}

/// Renders users.acl lines from users and their roles' `redis_acl` rules.
///
/// Each role's rules are parsed and rendered once; a line costs one allocation.
pub struct Renderer<'r> {
    rules: HashMap<&'r str, String>,
}

impl<'r> Renderer<'r> {
    /// Prepares the rules of every role.
    pub fn new(roles: &'r [Role]) -> Result<Renderer<'r>> {
        let mut rules = HashMap::with_capacity(roles.len());
        for role in roles {
            let mut text = String::new();
            for rule in role.acl_rules()? {
                text.push(' ');
                text.push_str(&rule.to_string());
            }
            rules.insert(role.name(), text);
        }
        Ok(Renderer { rules })
    }

    /// `user NAME on #SHA256 RULES`, the rules of the user's roles in role order.
    pub fn line(&self, user: &User) -> Result<String> {
        let mut line = String::with_capacity(96);
        line.push_str("user ");
        line.push_str(&user.name);
        line.push_str(" on #");
        line.push_str(user.password_sha256.as_hex());
        for role in &user.roles {
            let rules = self.rules.get(role.as_str()).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "user {:?} holds role {role:?}, which does not exist; fix it with 'rctl users update {} --set-roles=...'",
                    user.name, user.name
                ))
            })?;
            line.push_str(rules);
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

/// Renders a users.acl: `user NAME on #SHA256 RULES` per user sorted by name, where RULES are
/// the `redis_acl` rules of the user's roles in role order, then `user default off`.
///
/// ```
/// # fn main() -> Result<(), rctl::Error> {
/// let dir = tempfile::tempdir().unwrap();
/// let mut state = rctl::StateDir::open(dir.path().join("state"))?;
/// state.add_user(rctl::NewUser { name: "bob".into(), roles: vec!["readonly".into()], ..Default::default() })?;
/// let text = rctl::acl::render(&state.users()?, &state.roles()?)?;
/// assert!(text.contains(" ~* resetchannels +@read +@connection\n"));
/// assert!(rctl::acl::lint(&text).is_empty());
/// # Ok(()) }
/// ```
pub fn render(users: &[User], roles: &[Role]) -> Result<String> {
    let renderer = Renderer::new(roles)?;
    let lines = users
        .iter()
        .map(|u| renderer.line(u))
        .collect::<Result<Vec<_>>>()?;
    Ok(Renderer::finish(lines))
}

/// A problem found by [`lint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number (0 for the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// Lints a users.acl offline: Redis 7.0's syntax, plaintext `>password` rules, `nopass`, a
/// `default` user left on (or missing, which Redis makes `on nopass`), duplicate users.
/// Never echoes a password or hash.
pub fn lint(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    let mut default_off = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let mut push = |message: String| {
            findings.push(Finding {
                line: line_no,
                message,
            })
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        let tokens = match split_line(line) {
            Ok(t) => t,
            Err(e) => {
                push(e);
                continue;
            }
        };
        if tokens.first().map(String::as_str) != Some("user") {
            push("every line must start with 'user' (Redis refuses the file; comments are not allowed)".to_string());
            continue;
        }
        let Some(name) = tokens.get(1) else {
            push("'user' without a user name".to_string());
            continue;
        };
        if name.chars().any(|c| c.is_control()) {
            push("the user name holds a control character".to_string());
            continue;
        }
        if !seen.insert(name.clone()) {
            push(format!(
                "duplicate user {:?} (Redis refuses the file)",
                shorten(name)
            ));
        }
        let mut on = false;
        for token in &tokens[2..] {
            match AclRule::parse(token) {
                Err(e) => push(e.to_string()),
                Ok(AclRule::AddPassword(_)) => push(format!(
                    "user {:?} has a plaintext password ('>...'); use '#<sha256>' instead",
                    shorten(name)
                )),
                Ok(AclRule::Word(Word::Nopass)) => push(format!(
                    "user {:?} has 'nopass': anyone can log in as it",
                    shorten(name)
                )),
                Ok(AclRule::Word(Word::On)) => on = true,
                Ok(AclRule::Word(Word::Off | Word::Reset)) => on = false,
                Ok(_) => {}
            }
        }
        if name == "default" {
            default_off = Some(!on);
            if on {
                push("the default user is on: disable it with 'user default off'".to_string());
            }
        }
    }
    if default_off.is_none() {
        findings.push(Finding {
            line: 0,
            message: "no 'user default off' line: Redis creates the default user on, with nopass"
                .to_string(),
        });
    }
    findings
}

/// Splits a users.acl line as Redis does for unquoted text, joining a selector `( ... )`
/// into one token (acl.c's ACLMergeSelectorArguments).
fn split_line(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut selector: Option<String> = None;
    for word in line.split_ascii_whitespace() {
        if word.starts_with('"') || word.starts_with('\'') {
            return Err("quoted tokens are not supported by rctl's linter".to_string());
        }
        if let Some(sel) = selector.as_mut() {
            sel.push(' ');
            sel.push_str(word);
            if word.ends_with(')') {
                tokens.extend(selector.take());
            }
        } else if word.starts_with('(') && !word.ends_with(')') {
            selector = Some(word.to_string());
        } else {
            tokens.push(word.to_string());
        }
    }
    if selector.is_some() {
        return Err("a selector '(' is not closed with ')'".to_string());
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(token: &str) -> AclRule {
        AclRule::parse(token).unwrap_or_else(|e| panic!("{token}: {e}"))
    }

    fn err(token: &str) -> String {
        AclRule::parse(token)
            .map(|r| format!("accepted as {r}"))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn accepts_the_redis_7_grammar() {
        let valid = [
            "on",
            "off",
            "nopass",
            "resetpass",
            "reset",
            "allkeys",
            "resetkeys",
            "allchannels",
            "resetchannels",
            "allcommands",
            "nocommands",
            "clearselectors",
            "sanitize-payload",
            "skip-sanitize-payload",
            "ALLKEYS",
            "~*",
            "~app:*",
            "%R~*",
            "%W~log:*",
            "%RW~x",
            "%rw~y",
            "&*",
            "&news.*",
            "+get",
            "-set",
            "+GET",
            "+client|list",
            "-config|set",
            "+select|0",
            "+@read",
            "-@dangerous",
            "+@all",
            "-@all",
            "(~app:* +get)",
            "(+@read %R~x &c)",
        ];
        for token in valid {
            ok(token);
        }
    }

    #[test]
    fn refuses_what_redis_refuses() {
        let cases = [
            ("+nosuchcommand", "unknown command"),
            ("+@nosuchcat", "unknown command category"),
            ("+client|nosuch", "unknown subcommand"),
            ("-select|0", "can only be allowed"),
            ("+", "missing command name"),
            ("%~x", "needs R, W or RW"),
            ("%X~x", "unknown key permission"),
            ("%R", "needs '~'"),
            ("#abc", "64 lowercase"),
            (&format!("#{}", "A".repeat(64)), "64 lowercase"),
            ("bogus", "unknown rule"),
            ("~a b", "whitespace"),
            ("~a\nb", "control character"),
            ("(~x +get", "must end with ')'"),
            ("(on ~x)", "not allowed inside a selector"),
            ("(>pw ~x)", "not allowed inside a selector"),
        ];
        for (token, want) in cases {
            let e = err(token);
            assert!(e.contains(want), "{token:?}: {e}");
        }
    }

    #[test]
    fn rules_render_back_to_the_same_token() {
        for token in [
            "~*",
            "%R~a",
            "%RW~b",
            "&c",
            "+get",
            "-@all",
            "+client|list",
            "(~x +get)",
            "allkeys",
        ] {
            let rule = ok(token);
            assert_eq!(rule.to_string(), token);
            assert_eq!(ok(&rule.to_string()), rule);
        }
    }

    #[test]
    fn roles_may_not_hold_passwords_or_on_off() {
        let hash = format!("#{}", "a".repeat(64));
        for token in [
            ">secret",
            "<secret",
            hash.as_str(),
            "on",
            "off",
            "nopass",
            "reset",
            "resetpass",
        ] {
            let e = ok(token).check_for_role().unwrap_err().to_string();
            assert!(
                !e.contains("secret") && !e.contains(&"a".repeat(64)),
                "secret echoed: {e}"
            );
        }
        ok("+@read").check_for_role().unwrap();
    }

    #[test]
    fn renders_sorted_users_then_default_off() {
        let roles = Role::builtins();
        let bob = User::new_for_test("bob", &["readonly"], &["bob"], &[]);
        let al = User::new_for_test("al", &["access", "readonly"], &["*"], &[]);
        let alice = User::new_for_test("alice", &["access"], &["*"], &[]);
        let text = render(&[bob.clone(), alice.clone(), al.clone()], &roles).unwrap();
        let hash = |u: &User| u.password_sha256.as_hex().to_string();
        assert_eq!(
            text,
            format!(
                "user al on #{} allcommands allkeys ~* resetchannels +@read +@connection\n\
                 user alice on #{} allcommands allkeys\n\
                 user bob on #{} ~* resetchannels +@read +@connection\n\
                 user default off\n",
                hash(&al),
                hash(&alice),
                hash(&bob)
            )
        );
        assert!(lint(&text).is_empty(), "{:?}", lint(&text));
        let orphan = User::new_for_test("o", &["gone"], &[], &[]);
        assert!(
            render(&[orphan], &roles)
                .unwrap_err()
                .to_string()
                .contains("role \"gone\"")
        );
    }

    #[test]
    fn lint_finds_each_problem() {
        let hash = "a".repeat(64);
        let text = format!(
            "# comment\nuser alice on >plain ~*\nuser bob on nopass\nuser alice on #{hash}\nuser carol on +nosuch\nuser default on\nuser dave on (~x +get\n"
        );
        let findings: Vec<String> = lint(&text).iter().map(ToString::to_string).collect();
        let want = [
            "line 1: every line must start with 'user'",
            "line 2: user \"alice\" has a plaintext password",
            "line 3: user \"bob\" has 'nopass'",
            "line 4: duplicate user \"alice\"",
            "line 5: invalid ACL rule \"+nosuch\"",
            "line 6: the default user is on",
            "line 7: a selector '(' is not closed",
        ];
        assert_eq!(findings.len(), want.len(), "{findings:#?}");
        for (f, w) in findings.iter().zip(want) {
            assert!(f.starts_with(w), "{f} / {w}");
        }
        assert!(
            !findings
                .iter()
                .any(|f| f.contains("plain ") || f.contains(&hash))
        );
    }

    #[test]
    fn lint_wants_the_default_user_off() {
        let findings = lint("user alice on nopass\n");
        assert!(
            findings
                .iter()
                .any(|f| f.line == 0 && f.message.contains("default"))
        );
        assert!(lint("user default off\n").is_empty());
        assert!(
            lint("user default on nopass ~* +@all\nuser default off\n")
                .iter()
                .any(|f| f.message.contains("duplicate"))
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn pattern() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9:*?\\[\\]_.-]{0,12}"
    }

    fn simple_rule() -> impl Strategy<Value = String> {
        let catalog = catalog();
        let mut commands: Vec<&str> = catalog.commands.iter().copied().collect();
        commands.sort_unstable();
        let mut categories: Vec<&str> = catalog.categories.iter().copied().collect();
        categories.sort_unstable();
        prop_oneof![
            proptest::sample::select(WORDS.iter().map(|(_, n)| *n).collect::<Vec<_>>())
                .prop_map(str::to_string),
            pattern().prop_map(|p| format!("~{p}")),
            (
                proptest::sample::select(vec!["R", "W", "RW", "r", "wR"]),
                pattern()
            )
                .prop_map(|(f, p)| format!("%{f}~{p}")),
            pattern().prop_map(|p| format!("&{p}")),
            (any::<bool>(), proptest::sample::select(commands))
                .prop_map(|(a, c)| format!("{}{c}", if a { '+' } else { '-' })),
            (any::<bool>(), proptest::sample::select(categories))
                .prop_map(|(a, c)| format!("{}@{c}", if a { '+' } else { '-' })),
            "[0-9a-f]{64}".prop_map(|h| format!("#{h}")),
        ]
    }

    proptest! {
        #[test]
        fn rules_parsed_then_rendered_parse_the_same(token in simple_rule()) {
            let rule = AclRule::parse(&token).unwrap();
            let again = AclRule::parse(&rule.to_string()).unwrap();
            prop_assert_eq!(&again, &rule);
            prop_assert_eq!(again.to_string(), rule.to_string());
        }

        #[test]
        fn selectors_round_trip(tokens in proptest::collection::vec(simple_rule(), 1..6)) {
            let inner: Vec<String> = tokens
                .into_iter()
                .filter(|t| AclRule::parse(t).is_ok_and(|r| matches!(r, AclRule::Keys { .. } | AclRule::Channels(_) | AclRule::Command { .. } | AclRule::Category { .. })))
                .collect();
            prop_assume!(!inner.is_empty());
            let token = format!("({})", inner.join(" "));
            let rule = AclRule::parse(&token).unwrap();
            prop_assert_eq!(AclRule::parse(&rule.to_string()).unwrap(), rule);
        }

        #[test]
        fn anything_accepted_round_trips(token in ".{0,40}") {
            if let Ok(rule) = AclRule::parse(&token) {
                prop_assert_eq!(AclRule::parse(&rule.to_string()).unwrap(), rule);
            }
        }

        #[test]
        fn rendered_files_lint_clean(names in proptest::collection::btree_set("[a-z][a-z0-9._@-]{0,20}", 0..20)) {
            let users: Vec<User> = names
                .iter()
                .filter(|n| *n != "default")
                .map(|n| User::new_for_test(n, &["readonly"], &["*"], &[]))
                .collect();
            let text = render(&users, &Role::builtins()).unwrap();
            prop_assert!(lint(&text).is_empty(), "{:?}", lint(&text));
            prop_assert_eq!(text.lines().count(), users.len() + 1);
        }
    }
}

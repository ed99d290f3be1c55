//! Redis's ACL grammar, read the way each target's `src/acl.c` reads it: `ACLSetUser`, then
//! (7.0+) selectors, then `ACLSetSelector`, with the target's command table for `+command`.

use super::rule::{AclRule, Refusal, Word, redact, rule_error};
use super::splitargs::split_args;
use super::target::{Features, Target};
use crate::error::shorten;

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
    pub fn parse(token: &str, target: Target) -> crate::error::Result<AclRule> {
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
                    | Word::Alldbs
                    | Word::Resetdbs
            ),
            AclRule::Databases(_) => true,
            AclRule::Keys { .. }
            | AclRule::Channels(_)
            | AclRule::Command { .. }
            | AclRule::FirstArg { .. }
            | AclRule::Category { .. } => true,
            _ => false,
        }
    }
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
    if let Some(rule) = selector_word(op, f) {
        return Ok(rule);
    }
    if let Some(rule) = database_rule(op, t, f) {
        return rule;
    }
    if op.eq_ignore_ascii_case("-@all") {
        return Ok(category(false, "all"));
    }
    pattern_or_command(op, t, f)
}

/// The rules that are one fixed word (or `~*`, `&*`, `+@all`) where the version has them.
fn selector_word(op: &str, f: Features) -> Option<AclRule> {
    let word = |w: &str| op.eq_ignore_ascii_case(w);
    Some(match op {
        _ if word("allkeys") => AclRule::Word(Word::Allkeys),
        "~*" => keys(true, true, "*", false),
        _ if word("resetkeys") => AclRule::Word(Word::Resetkeys),
        _ if f.channels && word("allchannels") => AclRule::Word(Word::Allchannels),
        "&*" if f.channels => AclRule::Channels("*".into()),
        _ if f.channels && word("resetchannels") => AclRule::Word(Word::Resetchannels),
        _ if word("allcommands") => AclRule::Word(Word::Allcommands),
        _ if word("+@all") => category(true, "all"),
        _ if word("nocommands") => AclRule::Word(Word::Nocommands),
        _ => return None,
    })
}

/// `db=N,...`, `alldbs`, `resetdbs`: read where the version has databases in ACLs, refused
/// (naming the version that has them) elsewhere; `None` for any other rule.
fn database_rule(op: &str, t: Target, f: Features) -> Option<Result<AclRule, Refusal>> {
    if !is_database_rule(op) {
        return None;
    }
    if !f.databases {
        return Some(Err(Refusal {
            reason: format!("database rules (db=N, alldbs, resetdbs) are not in {t}"),
            exists_in: Target::ALL.into_iter().find(|t| t.has_databases()),
        }));
    }
    Some(if op.eq_ignore_ascii_case("alldbs") {
        Ok(AclRule::Word(Word::Alldbs))
    } else if op.eq_ignore_ascii_case("resetdbs") {
        Ok(AclRule::Word(Word::Resetdbs))
    } else {
        parse_databases(&op[3..]).map(AclRule::Databases)
    })
}

/// A key, channel or `%` pattern, or a command or category to allow or deny.
fn pattern_or_command(op: &str, t: Target, f: Features) -> Result<AclRule, Refusal> {
    let b = op.as_bytes();
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
            match t.catalog().category(name) {
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

/// `db=...`, `alldbs` or `resetdbs`, in any case.
fn is_database_rule(op: &str) -> bool {
    let b = op.as_bytes();
    (b.len() >= 3 && b[..3].eq_ignore_ascii_case(b"db="))
        || op.eq_ignore_ascii_case("alldbs")
        || op.eq_ignore_ascii_case("resetdbs")
}

/// The list of `db=`, as Valkey 9.1.2 reads it (tried on the server): comma-separated, each
/// one C `strtol` number (leading white space and one sign allowed, nothing after the digits,
/// no empty item) within 0..=2147483647; duplicates are one.
fn parse_databases(list: &str) -> Result<std::collections::BTreeSet<u32>, Refusal> {
    let mut ids = std::collections::BTreeSet::new();
    for item in list.split(',') {
        let number = item.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("db= takes database numbers separated by commas (db=0,2)".into());
        }
        let value = digits.trim_start_matches('0');
        let out_of_range = || Refusal::from("a database number is 0 to 2147483647");
        if value.len() > 10 {
            return Err(out_of_range());
        }
        let value: u64 = if value.is_empty() {
            0
        } else {
            value.parse().map_err(|_| out_of_range())?
        };
        if value > i32::MAX as u64 || (negative && value != 0) {
            return Err(out_of_range());
        }
        ids.insert(value as u32);
    }
    Ok(ids)
}

fn unknown_rule(t: Target) -> Refusal {
    let mut known = String::from("on, off, ~pattern, +cmd, -cmd, +@category, allkeys, allcommands");
    if t.has_channels() {
        known.push_str(", &pattern, allchannels");
    }
    if t.has_selectors() {
        known.push_str(", %R~pattern, ( selector )");
    }
    if t.has_databases() {
        known.push_str(", db=N, alldbs");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::rule::redact;

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
    fn database_rules_read_as_valkey_9_1_2_reads_them() {
        // Each verdict as valkey-server 9.1.2 gave it to ACL SETUSER.
        let t = Target::Valkey91;
        for (token, shown) in [
            ("db=0,2", "db=0,2"),
            ("db=2,1,2", "db=1,2"),
            ("DB=01", "db=1"),
            ("db=+1", "db=1"),
            ("db=-0", "db=0"),
            ("db= 1", "db=1"),
            ("db=\t1,\x0b2", "db=1,2"),
            ("db=0000000000000000000001", "db=1"),
            ("db=2147483647", "db=2147483647"),
            ("ALLDBS", "alldbs"),
            ("resetdbs", "resetdbs"),
            ("(db=3 +get ~*)", "(db=3 +get ~*)"),
        ] {
            let rule = AclRule::parse(token, t).unwrap_or_else(|e| panic!("{token}: {e}"));
            assert_eq!(rule.to_string(), shown, "{token}");
        }
        for (token, why) in [
            ("db=", "separated by commas"),
            ("db=1,", "separated by commas"),
            ("db=,1", "separated by commas"),
            ("db=1 ", "separated by commas"),
            ("db=0x1", "separated by commas"),
            ("db=+-1", "separated by commas"),
            ("db=-1", "0 to 2147483647"),
            ("db=2147483648", "0 to 2147483647"),
            ("db=99999999999999999999", "0 to 2147483647"),
            ("alldb", "not a rule"),
        ] {
            let e = AclRule::parse(token, t).unwrap_err().to_string();
            assert!(e.contains(why), "{token}: {e}");
        }
        let e = AclRule::parse("db=1", Target::Valkey90).unwrap_err();
        assert!(e.to_string().contains("not in valkey-9.0"), "{e}");
        assert!(matches!(
            e,
            crate::error::Error::InvalidAcl {
                exists_in: Some("valkey-9.1"),
                ..
            }
        ));
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

//! The users.acl linter: reads a file as the target's `ACLLoadFromFile` does and reports what
//! the server would refuse (grammar) and what it would load but rctl objects to (policy).

use std::collections::BTreeSet;
use std::fmt;

use super::parse::parse_user_rule;
use super::rule::{AclRule, Refusal, Word, redact};
use super::simulate::UserSim;
use super::target::Target;
use crate::error::shorten;

/// Whether the server itself refuses the line, or loads it and rctl objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// The target refuses the file because of this (or, for an unclosed selector, crashes).
    Grammar,
    /// The target loads it, but it is unsafe or misleading: plaintext passwords, `nopass`, the
    /// `default` user left on, quotes that Redis reads as quoting.
    Policy,
}

/// A problem found by [`lint`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number (0 for the file as a whole).
    pub line: usize,
    /// Grammar or policy.
    pub kind: FindingKind,
    /// What is wrong. Never a password or a hash.
    pub message: String,
    /// The first other Redis or Valkey version that has the command or category a refused
    /// rule names, where one does.
    pub exists_in: Option<Target>,
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

/// Lints a users.acl for a target, offline.
///
/// ```
/// use rctl::acl::{Target, lint};
/// let ok = "user app on #0000000000000000000000000000000000000000000000000000000000000000 ~app:* +get\nuser default off\n";
/// assert!(lint(ok, Target::Redis70).is_empty());
/// // Redis refuses a key pattern after allkeys:
/// assert!(!lint("user a on allkeys ~x\nuser default off\n", Target::Redis70).is_empty());
/// ```
pub fn lint(text: &str, target: Target) -> Vec<Finding> {
    if text.contains('\0') {
        return vec![Finding {
            line: 0,
            kind: FindingKind::Grammar,
            message: "the file holds a NUL byte (Redis drops text after it)".to_string(),
            exists_in: None,
        }];
    }
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    let mut default_seen = false;
    for (i, raw) in text.split('\n').enumerate() {
        let mut push = |kind, message: String, exists_in: Option<Target>| {
            findings.push(Finding {
                line: i + 1,
                kind,
                message,
                exists_in,
            })
        };
        if let Some(("default", on)) = lint_line(raw, target, &mut seen, &mut push) {
            default_seen = true;
            if on {
                push(
                    FindingKind::Policy,
                    "the default user is on: disable it with 'user default off'".to_string(),
                    None,
                );
            }
        }
    }
    if !default_seen {
        findings.push(Finding {
            line: 0,
            kind: FindingKind::Policy,
            message: "no 'user default off' line: Redis creates the default user on, with nopass"
                .to_string(),
            exists_in: None,
        });
    }
    findings
}

/// What a finding is given to: its kind, its message, and the other version that has what a
/// refused rule names.
type Push<'p> = dyn FnMut(FindingKind, String, Option<Target>) + 'p;

/// One line of users.acl: its findings through `push`; the user's name and whether the user
/// ends on, when the line defines one Redis would load.
fn lint_line<'a>(
    raw: &'a str,
    target: Target,
    seen: &mut BTreeSet<&'a str>,
    push: &mut Push<'_>,
) -> Option<(&'a str, bool)> {
    let line = raw.trim_matches([' ', '\t', '\r', '\n']);
    if line.is_empty() {
        return None;
    }
    let argv: Vec<&str> = line.split(' ').collect();
    if argv[0] != "user" || argv.len() < 2 {
        push(
            FindingKind::Grammar,
            "every line must be 'user NAME rules...' (Redis refuses the file; comments are not allowed)".to_string(),
            None,
        );
        return None;
    }
    let name = argv[1];
    if name
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        push(
            FindingKind::Grammar,
            "the user name holds white space".to_string(),
            None,
        );
        return None;
    }
    let shown = shorten(name);
    if !seen.insert(name) {
        if target.has_selectors() {
            push(
                FindingKind::Grammar,
                format!("duplicate user {shown:?} ({target} refuses the file)"),
                None,
            );
            return None;
        }
        // 6.x resets the user and applies the later line: the earlier one is lost.
        push(
            FindingKind::Policy,
            format!("duplicate user {shown:?} ({target} keeps only the last line for it)"),
            None,
        );
    }
    let Some(args) = merge_selectors(&argv[2..], target) else {
        push(
            FindingKind::Grammar,
            format!("a selector '(' is not closed with ')' ({target} crashes loading such a file)"),
            None,
        );
        return None;
    };
    let mut sim = UserSim::new(target);
    for arg in &args {
        lint_rule(arg, target, &shown, &mut sim, push);
    }
    Some((name, sim.on))
}

/// One rule of a user's line, applied to `sim` as Redis would: refused (grammar), or allowed
/// but unwise (policy).
fn lint_rule(arg: &str, target: Target, shown: &str, sim: &mut UserSim, push: &mut Push<'_>) {
    let token = arg.trim_matches(['\t', '\r', '\n']);
    if token.is_empty() {
        return;
    }
    let applied = parse_user_rule(token, target).and_then(|rule| sim.apply(&rule).map(|()| rule));
    let rule = match applied {
        Ok(rule) => rule,
        Err(reason) => {
            let message = rule_message(token, target, &reason);
            return push(FindingKind::Grammar, message, reason.exists_in);
        }
    };
    let policy = match &rule {
        AclRule::AddPassword(_) => Some(format!(
            "user {shown:?} has a plaintext password ('>...'); use '#<sha256>' instead"
        )),
        AclRule::Word(Word::Nopass) => Some(format!(
            "user {shown:?} has 'nopass': anyone can log in as it"
        )),
        AclRule::Selector(_) if token.contains(['"', '\'']) => Some(format!(
            "user {shown:?}: quotes inside a selector are read by Redis as quoting"
        )),
        AclRule::Selector(_) => None,
        _ if token.ends_with(')') => Some(format!(
            "user {shown:?}: {:?} ends with ')' outside a selector (Redis ends a selector at the first word ending with ')', so this rule applies to the whole user)",
            shorten(&redact(token))
        )),
        _ => None,
    };
    if let Some(message) = policy {
        push(FindingKind::Policy, message, None);
    }
}

fn rule_message(token: &str, target: Target, reason: &Refusal) -> String {
    format!(
        "invalid ACL rule {:?} for {target}: {reason}",
        shorten(&redact(token))
    )
}

/// `ACLMergeSelectorArguments`: from a token starting with `(` (and not ending with `)`) to the
/// first token ending with `)`, joined by single spaces. `None` if a selector is left open.
/// On targets without selectors the tokens stay as they are.
pub(crate) fn merge_selectors(args: &[&str], target: Target) -> Option<Vec<String>> {
    let f = target.features();
    if !f.selectors {
        return Some(args.iter().map(ToString::to_string).collect());
    }
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<String> = None;
    for op in args {
        let starts = op.starts_with('(') && !op.ends_with(')');
        if starts && (f.selector_restarts || open.is_none()) {
            open = Some(op.to_string());
            continue;
        }
        if let Some(sel) = open.as_mut() {
            sel.push(' ');
            sel.push_str(op);
            if op.ends_with(')') {
                out.extend(open.take());
            }
            continue;
        }
        out.push(op.to_string());
    }
    if open.is_some() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grammar(text: &str, t: Target) -> Vec<String> {
        lint(text, t)
            .into_iter()
            .filter(|f| f.kind == FindingKind::Grammar)
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn refuses_what_each_target_refuses() {
        let h = "a".repeat(64);
        let cases: [(&str, Target, bool); 14] = [
            ("user a on allkeys ~x", Target::Redis70, false),
            ("user a on ~* ~x", Target::Redis70, false),
            ("user a on &* &x", Target::Valkey80, false),
            ("user a on allchannels &x", Target::Redis70, false),
            ("user a on &x", Target::Redis62, false), // 6.2 users start with every channel
            ("user a on resetchannels &x", Target::Redis62, true),
            ("user a on <pw", Target::Redis70, false),
            (&format!("user a on !{h}"), Target::Redis70, false),
            (&format!("user a on #{h} !{h}"), Target::Redis70, true),
            ("user a on %R~x (+get)", Target::Redis62, false),
            ("user a on %~x", Target::Redis70, false), // Debian's 7.0.15 refuses it
            ("user a on %~x", Target::Redis72, false),
            ("user a on\t~x", Target::Redis70, false),
            ("user a on +hexpire", Target::Redis74, true),
        ];
        for (line, t, ok) in cases {
            let g = grammar(&format!("{line}\nuser default off\n"), t);
            assert_eq!(g.is_empty(), ok, "{line} on {t}: {g:?}");
        }
    }

    #[test]
    fn selectors_end_at_the_first_token_ending_with_a_parenthesis() {
        // Redis reads "(~a:(x)" as the selector and "+@all ~b)" at the root.
        let text = "user a on (~a:(x) +@all ~b)\nuser default off\n";
        assert!(grammar(text, Target::Redis70).is_empty());
        let merged = merge_selectors(&["(~a:(x)", "+@all", "~b)"], Target::Redis70).unwrap();
        assert_eq!(merged, ["(~a:(x)", "+@all", "~b)"]);
        assert!(
            grammar("user a on (+get\nuser default off\n", Target::Valkey91)[0]
                .contains("not closed")
        );
    }

    #[test]
    fn never_echoes_secrets() {
        let text = "user a on (>SuperSecret1 ~x)\nuser b on <Other2\nuser default off\n";
        let all: String = lint(text, Target::Redis70)
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert!(
            !all.contains("SuperSecret1") && !all.contains("Other2"),
            "{all}"
        );
        assert!(all.contains("<redacted>"), "{all}");
    }
}

//! Accounts on a live server against the accounts users.acl defines: which are missing, extra,
//! or differ. Redis prints rules in its canonical form (`ACL LIST` adds `resetchannels`,
//! `sanitize-payload`, orders them its way), so rules are compared as the server itself reads
//! them: each wanted account's rules are set on a probe account, which is off and has no
//! password, and the server's own rendering of both is compared.

use std::collections::{BTreeMap, BTreeSet};

use crate::acl::Target;
use crate::error::{Error, Result};

/// An account as one `user NAME ...` line defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its name.
    pub name: String,
    /// `on`.
    pub enabled: bool,
    /// Its password hashes (`#HEX`), lowercase hex.
    pub hashes: BTreeSet<String>,
    /// Everything else, in the order given: key, channel and command rules, selectors, flags.
    pub rules: Vec<String>,
}

impl Account {
    /// Reads `user NAME RULES...`, with selectors merged as the target reads them. `None` for a
    /// line that is not a user.
    pub fn parse(line: &str, target: Target) -> Option<Account> {
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        let [user, name, rest @ ..] = &words[..] else {
            return None;
        };
        if *user != "user" {
            return None;
        }
        let args = crate::acl::lint::merge_selectors(rest, target)?;
        let mut account = Account {
            name: name.to_string(),
            enabled: false,
            hashes: BTreeSet::new(),
            rules: Vec::new(),
        };
        for arg in args {
            match arg.as_str() {
                "on" => account.enabled = true,
                "off" => account.enabled = false,
                hash if is_hash(hash) => {
                    account.hashes.insert(hash[1..].to_ascii_lowercase());
                }
                _ => account.rules.push(arg),
            }
        }
        Some(account)
    }

    /// The arguments of `ACL SETUSER NAME` that make this account what it is: `reset` first,
    /// so nothing of what the live account was survives.
    pub fn setuser_args(&self) -> Vec<String> {
        let mut args = vec!["reset".to_string()];
        args.push(if self.enabled { "on" } else { "off" }.to_string());
        args.extend(self.hashes.iter().map(|h| format!("#{h}")));
        args.extend(self.rules.iter().cloned());
        args
    }

    /// The arguments that give a probe account these rules, but no password and `off`: nobody
    /// can log in as it.
    pub fn probe_args(&self) -> Vec<String> {
        let mut args = vec!["reset".to_string()];
        args.extend(self.rules.iter().cloned());
        args.push("off".to_string());
        args
    }

    /// The rules as the server's rendering of them compares: `ACL LIST` orders commands as
    /// its tables happen to iterate (two accounts set alike on one Redis 7.0 print their
    /// subcommands in different orders) and prints `sanitize-payload` for an account set with
    /// `ACL SETUSER` but not for one loaded from a file, where it is the default all the same.
    /// So the words are sorted (inside each selector too), and that flag is left out.
    pub fn rules_text(&self) -> String {
        let mut words: Vec<String> = self
            .rules
            .iter()
            .filter(|w| *w != "sanitize-payload")
            .map(
                |w| match w.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
                    Some(inner) => {
                        let mut inner: Vec<&str> = inner.split(' ').collect();
                        inner.sort_unstable();
                        format!("({})", inner.join(" "))
                    }
                    None => w.clone(),
                },
            )
            .collect();
        words.sort_unstable();
        words.join(" ")
    }
}

fn is_hash(word: &str) -> bool {
    word.len() == 65 && word.starts_with('#') && word[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The accounts a users.acl text defines, by name.
pub fn wanted_accounts(acl_text: &str, target: Target) -> Result<BTreeMap<String, Account>> {
    let mut accounts = BTreeMap::new();
    for line in acl_text.lines().filter(|l| !l.trim().is_empty()) {
        let account = Account::parse(line, target).ok_or_else(|| Error::InvalidAcl {
            message: format!(
                "users.acl line {:?} is not one rctl can apply",
                crate::error::shorten(line)
            ),
            exists_in: None,
        })?;
        accounts.insert(account.name.clone(), account);
    }
    Ok(accounts)
}

/// A difference between the live accounts and the wanted ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Wanted, not on the server.
    Missing(String),
    /// On the server, not wanted.
    Extra(String),
    /// On the server with other password hashes.
    Password(String),
    /// On when it should be off, or the other way.
    Enabled {
        /// The account.
        name: String,
        /// What users.acl says.
        wanted: bool,
    },
    /// Other rules than users.acl's, as the server reads both.
    Rules(String),
}

impl Drift {
    /// The account it is about.
    pub fn account(&self) -> &str {
        match self {
            Drift::Missing(n) | Drift::Extra(n) | Drift::Password(n) | Drift::Rules(n) => n,
            Drift::Enabled { name, .. } => name,
        }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing(n) => write!(f, "account {n:?} is missing"),
            Drift::Extra(n) => write!(f, "account {n:?} is not in users.acl"),
            Drift::Password(n) => write!(f, "account {n:?} has another password"),
            Drift::Enabled { name, wanted } => write!(
                f,
                "account {name:?} is {} (users.acl has it {})",
                if *wanted { "off" } else { "on" },
                if *wanted { "on" } else { "off" }
            ),
            Drift::Rules(n) => write!(f, "account {n:?} has other rules"),
        }
    }
}

/// Names, on/off and password hashes of `live` against `wanted`. `canonical`, when given, holds
/// each wanted account's rules as the server renders them, and rules are compared too; names
/// for which `skip` holds (rctl's probe accounts) are left out.
pub fn drift(
    live: &BTreeMap<String, Account>,
    wanted: &BTreeMap<String, Account>,
    canonical: Option<&BTreeMap<String, String>>,
    skip: impl Fn(&str) -> bool,
) -> Vec<Drift> {
    let mut found = Vec::new();
    for (name, want) in wanted {
        let Some(have) = live.get(name) else {
            found.push(Drift::Missing(name.clone()));
            continue;
        };
        if have.hashes != want.hashes {
            found.push(Drift::Password(name.clone()));
        }
        if have.enabled != want.enabled {
            found.push(Drift::Enabled {
                name: name.clone(),
                wanted: want.enabled,
            });
        }
        if let Some(rules) = canonical.and_then(|c| c.get(name))
            && *rules != have.rules_text()
        {
            found.push(Drift::Rules(name.clone()));
        }
    }
    for name in live.keys() {
        if !wanted.contains_key(name) && !skip(name) {
            found.push(Drift::Extra(name.clone()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    #[test]
    fn a_line_splits_into_state_passwords_and_rules() {
        let line = format!("user app on #{H} ~app:* resetchannels -@all +get (~x +set)");
        let a = Account::parse(&line, Target::Redis70).unwrap();
        assert_eq!(a.name, "app");
        assert!(a.enabled);
        assert_eq!(a.hashes.iter().collect::<Vec<_>>(), [H]);
        assert_eq!(
            a.rules,
            ["~app:*", "resetchannels", "-@all", "+get", "(~x +set)"]
        );
        let set = a.setuser_args();
        assert_eq!(set[..3], ["reset", "on", &format!("#{H}")]);
        let probe = a.probe_args();
        assert!(!probe.iter().any(|w| w.starts_with('#') || w == "on"));
        assert_eq!(probe.last().unwrap(), "off");
        assert!(Account::parse("user", Target::Redis70).is_none());
        // The server's orderings of one account compare equal; other rules do not.
        let listed = |l: &str| Account::parse(l, Target::Redis70).unwrap().rules_text();
        assert_eq!(
            listed("user a on sanitize-payload resetchannels -@all +info +acl|list (~x +set +get)"),
            listed("user a off -@all resetchannels +acl|list +info (~x +get +set)")
        );
        assert_ne!(listed("user a +get"), listed("user a +set"));
        assert_ne!(
            listed("user a +get"),
            listed("user a skip-sanitize-payload +get")
        );
        assert!(Account::parse("user a (~x", Target::Redis70).is_none());
    }

    #[test]
    fn drift_names_each_difference_once() {
        let parse = |l: &str| Account::parse(l, Target::Redis70).unwrap();
        let map = |lines: &[String]| {
            lines
                .iter()
                .map(|l| {
                    let a = parse(l);
                    (a.name.clone(), a)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let other = "a".repeat(64);
        let wanted = map(&[
            format!("user a on #{H} +get"),
            format!("user b on #{H} +get"),
            format!("user c on #{H} +get"),
            "user default off".to_string(),
        ]);
        let live = map(&[
            format!("user a on #{H} +get"),
            format!("user b on #{other} +get"),
            format!("user c off #{H} +set"),
            "user default on nopass ~* +@all".to_string(),
            "user zed on nopass".to_string(),
            "user rctl-probe-1 off".to_string(),
        ]);
        let canonical: BTreeMap<String, String> = [("c", "+get"), ("a", "+get")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let found = drift(&live, &wanted, Some(&canonical), |n| {
            n.starts_with("rctl-probe-")
        });
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "account \"b\" has another password",
                "account \"c\" is off (users.acl has it on)",
                "account \"c\" has other rules",
                "account \"default\" is on (users.acl has it off)",
                "account \"zed\" is not in users.acl",
            ]
        );
        assert!(drift(&wanted, &wanted, None, |_| false).is_empty());
    }
}

//! Names that end up in certificates, state files and users.acl.
//!
//! One rule for every name rctl stores (cluster, user, role, database user): 1 to 64 of
//! `A-Z a-z 0-9 . _ @ -`. A name is written into users.acl, where a space or a newline would
//! inject ACL rules, and into file names, where `/` would escape the folder.

use crate::error::{Error, Result, shorten};

/// Longest name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Refuses a name that is empty, too long, or has a character outside `[A-Za-z0-9._@-]`.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidName {
        what,
        name: shorten(name),
        reason,
    };
    if name.is_empty() {
        return Err(bad("must not be empty".to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
    {
        return Err(bad(format!(
            "character {c:?} is not allowed (use letters, digits, '.', '_', '@' and '-')"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(format!("longer than {MAX_NAME_LEN} characters")));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.'".to_string()));
    }
    Ok(())
}

/// A name checked once, where it enters (the command line, a library caller), and carried
/// as its type from there: nothing downstream checks it again.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        /// As the string: `"alice"`, in messages too.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl $name {
            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<$name> {
                let check: fn(&str) -> Result<()> = $check;
                check(s)?;
                Ok($name(s.to_string()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(s: String) -> Result<$name> {
                s.parse()
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
    };
}

/// rctl's own Redis account on every registered server (its rules: [`crate::accounts::admin::ADMIN_RULES`]): a
/// reserved name, which no rctl user may take.
pub const ADMIN_ACCOUNT: &str = "rctl-admin";

/// The prefix of the probe accounts `redis sync` and `redis check` set for a moment to read
/// rules as a server renders them, and never compare: reserved, so that no user hides there.
pub const PROBE_PREFIX: &str = "rctl-probe-";

/// Refuses names Redis or users.acl cannot take, `default` (Redis's own user), `rctl-admin`
/// (rctl's own account) and names starting `rctl-probe-` (sync's probe accounts).
pub fn validate_user_name(name: &str) -> Result<()> {
    validate_name("user", name)?;
    if name == "default" {
        return Err(Error::InvalidName {
            what: "user",
            name: name.to_string(),
            reason: "'default' is Redis's own user, which rctl keeps off".to_string(),
        });
    }
    if name == ADMIN_ACCOUNT {
        return Err(Error::InvalidName {
            what: "user",
            name: name.to_string(),
            reason: "'rctl-admin' is rctl's own account on registered servers".to_string(),
        });
    }
    if name.starts_with(PROBE_PREFIX) {
        return Err(Error::InvalidName {
            what: "user",
            name: name.to_string(),
            reason: format!(
                "names starting {PROBE_PREFIX:?} are rctl's probe accounts, which sync never compares"
            ),
        });
    }
    Ok(())
}

name_type!(
    /// An rctl user's name (a person, and the Redis account of that name): a name, and never
    /// `default`, which is Redis's own user.
    UserName,
    validate_user_name
);

name_type!(
    /// A Redis account a certificate names (its CN).
    DbUserName,
    |s| validate_name("database user", s)
);

impl DbUserName {
    /// The per-login account `USER+ID` of `user`'s login `id` (hex): `+` is in no name a user
    /// or an account may be given, so it never clashes with one, and `id` tells logins apart.
    pub(crate) fn login_account(user: &UserName, id: &str) -> DbUserName {
        DbUserName(format!("{}+{id}", user.as_str()))
    }

    /// The user and login id of a per-login account (`USER+ID`), if it is one.
    pub(crate) fn login_of(&self) -> Option<(&str, &str)> {
        self.0
            .split_once('+')
            .filter(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

name_type!(
    /// The cluster's name: the CA's subject and every client certificate's O.
    ClusterName,
    |s| validate_name("cluster", s)
);

name_type!(
    /// A registered Redis server's name (`rctl redis add NAME`).
    ServerName,
    |s| validate_name("server", s)
);

name_type!(
    /// A host of a fleet on shared state (`--node`): the machine that holds a registered
    /// server's or client output's files; by default this machine's host name.
    NodeName,
    |s| validate_name("node", s)
);

name_type!(
    /// A registered client output's name (an application's bundle that sync keeps renewed).
    ClientName,
    |s| validate_name("client", s)
);

impl ClusterName {
    /// `rctl`, when no host name makes a name.
    pub(crate) fn fallback() -> ClusterName {
        ClusterName("rctl".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_types_check_once_where_they_enter() {
        assert_eq!("alice".parse::<UserName>().unwrap().as_str(), "alice");
        assert!("default".parse::<UserName>().is_err());
        assert!("a b".parse::<DbUserName>().is_err());
        assert!("".parse::<ClusterName>().is_err());
        let from_json: std::result::Result<UserName, _> = serde_json::from_str("\"x y\"");
        assert!(from_json.is_err());
    }

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["alice", "bob.smith@example.com", "svc-1_a", &"a".repeat(64)] {
            validate_name("user", ok).unwrap();
        }
    }

    #[test]
    fn refuses_what_could_inject_or_escape() {
        let cases = [
            ("", "empty"),
            ("has space", "' '"),
            ("new\nline", "'\\n'"),
            ("tab\t", "'\\t'"),
            ("a/b", "'/'"),
            ("..", "start with '.'"),
            ("ünï", "'ü'"),
            ("~x", "'~'"),
        ];
        for (name, want) in cases {
            let err = validate_name("user", name).unwrap_err().to_string();
            assert!(err.contains(want), "{name:?}: {err}");
            assert!(!err.contains('\n'));
        }
        let long = "a".repeat(65);
        assert!(
            validate_name("user", &long)
                .unwrap_err()
                .to_string()
                .contains("longer than 64")
        );
    }
}

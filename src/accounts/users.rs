//! Users: roles, the `db_users`/`db_names` traits, and a Redis password kept only as SHA-256.
//!
//! Users are stored as JSON Lines (`users.jsonl`, one user per line, sorted by name): readable,
//! greppable, and fast enough to load and rewrite at 100,000 users where YAML was not.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::accounts::names::{validate_name, validate_user_name};
use crate::error::{Invalid, Result};

/// A person (and Redis user) known to rctl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Name: 1–64 of `[A-Za-z0-9._@-]`, never `default`.
    pub name: String,
    /// Role names, in order.
    pub roles: Vec<String>,
    /// Trait `db_users`: Redis users this person may use (`*` = any, as the roles allow).
    #[serde(default)]
    pub db_users: Vec<String>,
    /// Trait `db_names`: database names (`*` = any).
    #[serde(default)]
    pub db_names: Vec<String>,
    /// SHA-256 of the Redis password.
    pub password_sha256: PasswordHash,
    /// When the user was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When the user last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

impl User {
    /// Checks the name and the trait values.
    pub fn validate(&self) -> Result<()> {
        validate_user_name(&self.name)?;
        for role in &self.roles {
            validate_name("role", role)?;
        }
        for v in self.db_users.iter().chain(&self.db_names) {
            if v != "*" {
                validate_name("database", v)?;
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn new_for_test(
        name: &str,
        roles: &[&str],
        db_users: &[&str],
        db_names: &[&str],
    ) -> User {
        let owned = |v: &[&str]| v.iter().map(ToString::to_string).collect();
        let now = OffsetDateTime::UNIX_EPOCH;
        User {
            name: name.to_string(),
            roles: owned(roles),
            db_users: owned(db_users),
            db_names: owned(db_names),
            password_sha256: Password::generate().hash(),
            created: now,
            updated: now,
        }
    }
}

/// Splits a comma-separated list (`a, b`), trimming each value and dropping repeats; empty
/// values are refused.
pub fn parse_list(input: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in input.split(',') {
        let v = part.trim();
        if v.is_empty() {
            return Err(Invalid::malformed("list", input, "it holds an empty value"));
        }
        if !out.iter().any(|x| x == v) {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

/// A plaintext Redis password: wiped on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// 32 random bytes as 64 hex characters: the strength of `openssl rand -hex 32`.
    pub fn generate() -> Password {
        use rand::Rng;
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Password(Zeroizing::new(hex::encode(bytes.as_ref())))
    }

    /// Takes a password read from stdin: one trailing newline is stripped; an empty password or
    /// one with whitespace or control characters is refused (users.acl splits on spaces).
    pub fn from_input(mut input: String) -> Result<Password> {
        if input.ends_with('\n') {
            input.pop();
            if input.ends_with('\r') {
                input.pop();
            }
        }
        let input = Zeroizing::new(input);
        if input.is_empty() {
            return Err(Invalid::Empty {
                what: "the password",
            }
            .into());
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::PasswordCharacters.into());
        }
        Ok(Password(input))
    }

    /// The password, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256, lowercase hex, as users.acl's `#` rule takes it.
    pub fn hash(&self) -> PasswordHash {
        PasswordHash(hex::encode(sha2::Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// SHA-256 of a password, lowercase hex. Still a secret (it logs a user in via `AUTH` only with
/// the password, but it can be brute-forced offline), so `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The hex digest.
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        if is_sha256_hex(&s) {
            Ok(PasswordHash(s))
        } else {
            Err("password_sha256 must be 64 lowercase hex characters".to_string())
        }
    }
}

impl From<PasswordHash> for String {
    fn from(h: PasswordHash) -> String {
        h.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_64_hex_and_hash_like_sha256sum() {
        let p = Password::generate();
        assert_eq!(p.expose().len(), 64);
        assert!(p.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(p.expose(), Password::generate().expose());
        // `echo -n foo | sha256sum`
        let foo = Password::from_input("foo\n".to_string()).unwrap();
        assert_eq!(
            foo.hash().as_hex(),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
    }

    #[test]
    fn stdin_passwords_are_checked() {
        assert_eq!(
            Password::from_input("pw\r\n".into()).unwrap().expose(),
            "pw"
        );
        for bad in ["", "\n", "a b", "a\tb", "two\nlines\n"] {
            assert!(Password::from_input(bad.to_string()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let u = User::new_for_test("alice", &["access"], &["*"], &["*"]);
        let shown = format!("{u:?}");
        assert!(!shown.contains(u.password_sha256.as_hex()));
        let p = Password::generate();
        assert!(!format!("{p:?}").contains(p.expose()));
    }

    #[test]
    fn user_names_follow_the_rules() {
        validate_user_name("alice@example.com").unwrap();
        for bad in [
            "default",
            "a b",
            "a\nuser evil on nopass",
            "",
            &"x".repeat(65),
        ] {
            assert!(validate_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_are_trimmed_and_deduplicated() {
        assert_eq!(parse_list(" a, b ,a").unwrap(), ["a", "b"]);
        assert!(parse_list("a,,b").is_err());
        assert!(parse_list("").is_err());
    }
}

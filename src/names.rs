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

#[cfg(test)]
mod tests {
    use super::*;

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

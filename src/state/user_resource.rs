//! Teleport's user resource (`kind: user`, `version: v2`), as `tctl create -f` takes it: one or
//! more YAML documents, each a user with roles and the `db_users`/`db_names` traits.
//!
//! ```yaml
//! kind: user
//! version: v2
//! metadata:
//!   name: alice
//! spec:
//!   roles: [access]
//!   traits:
//!     db_users: [alice]
//!     db_names: ['*']
//! ```
//!
//! Fields Teleport has and rctl does not use (other traits such as `logins`, `created_by`,
//! `status`, identities, labels) are left out and named in a note; any other field is refused,
//! as a typo should be. Teleport keeps no Redis password with a user: each gets a generated
//! one when it is added.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::NewUser;
use crate::accounts::names::UserName;
use crate::accounts::teleport_fields::strip;
use crate::error::{Error, Invalid, Result};

/// Fields of Teleport's `UserV2` that rctl passes over.
const TELEPORT_SPEC: &[&str] = &[
    "created_by",
    "expires",
    "status",
    "local_auth",
    "oidc_identities",
    "saml_identities",
    "github_identities",
    "trusted_device_ids",
];
const TELEPORT_METADATA: &[&str] = &[
    "labels",
    "namespace",
    "expires",
    "revision",
    "id",
    "description",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    kind: String,
    version: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    traits: BTreeMap<String, Vec<String>>,
}

/// The most a file of one role may hold (a file of users may be far larger).
pub const ROLE_LIMIT: u64 = 1024 * 1024;

/// What a resource file holds, as `create -f` reads it: Teleport user documents (read one at a
/// time by [`user_documents`]), or one role.
#[derive(Debug)]
pub enum ResourceFile {
    /// User documents (the first document is a user).
    Users,
    /// One role, and the Teleport fields it left out.
    Role {
        /// The role.
        role: Box<crate::accounts::roles::Role>,
        /// The Teleport fields rctl does not use.
        ignored: Vec<String>,
    },
}

/// Which resources `text` (from `source`, for messages) holds: users when its first document
/// is one, else one role within [`ROLE_LIMIT`], no user among its documents.
pub fn classify(text: &str, source: &str) -> Result<ResourceFile> {
    if first_kind(text).as_deref() == Some("user") {
        return Ok(ResourceFile::Users);
    }
    if text.len() as u64 > ROLE_LIMIT {
        return Err(Invalid::TooLarge {
            source_name: source.to_string(),
            limit: ROLE_LIMIT as usize,
        }
        .into());
    }
    if documents(text, source)?
        .iter()
        .any(|d| document_kind(d) == Some("user"))
    {
        return Err(Error::InvalidResource {
            source_name: source.to_string(),
            reason: MIXED_KINDS.to_string(),
        });
    }
    let (role, ignored) = crate::accounts::roles::Role::from_teleport_yaml(text, source)?;
    Ok(ResourceFile::Role {
        role: Box::new(role),
        ignored,
    })
}

/// The kind of the first YAML document of `text` (`kind:`), for a file that may hold roles or
/// users; `None` when it does not read (its nesting checked first).
pub fn first_kind(text: &str) -> Option<String> {
    let first = text.split("\n---").next().unwrap_or_default();
    let value: serde_norway::Value = crate::output::yaml::from_str(first).ok()?;
    document_kind(&value).map(str::to_string)
}

/// The kind of a YAML document (`kind:`), for a file that may hold roles or users.
pub fn document_kind(value: &serde_norway::Value) -> Option<&str> {
    value.get("kind")?.as_str()
}

/// The YAML documents of `text` (separated by `---`), each parsed on its own.
pub fn documents(text: &str, source: &str) -> Result<Vec<serde_norway::Value>> {
    crate::output::yaml::check_nesting(text.as_bytes()).map_err(|reason| {
        Error::InvalidResource {
            source_name: source.to_string(),
            reason,
        }
    })?;
    serde_norway::Deserializer::from_str(text)
        .enumerate()
        .map(|(i, doc)| {
            serde_norway::Value::deserialize(doc).map_err(|e| Error::InvalidResource {
                source_name: match i {
                    0 => source.to_string(),
                    _ => format!("{source}, document {}", i + 1),
                },
                reason: e.to_string().replace('\n', " "),
            })
        })
        .collect()
}

/// The user documents of `text` as the users they add, each with the Teleport fields it left
/// out, parsed and converted one at a time as they are asked for (a file of 1,000,000 users is
/// never held as parsed documents). A document that is not a user is refused: users and roles
/// come in files of their own.
pub fn user_documents<'a>(text: &'a str, source: &str) -> Result<UserDocuments<'a>> {
    crate::output::yaml::check_nesting(text.as_bytes()).map_err(|reason| {
        Error::InvalidResource {
            source_name: source.to_string(),
            reason,
        }
    })?;
    Ok(UserDocuments {
        docs: serde_norway::Deserializer::from_str(text).enumerate(),
        source: source.to_string(),
    })
}

/// See [`user_documents`].
pub struct UserDocuments<'a> {
    docs: std::iter::Enumerate<serde_norway::Deserializer<'a>>,
    source: String,
}

impl Iterator for UserDocuments<'_> {
    type Item = Result<(NewUser, Vec<String>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (i, doc) = self.docs.next()?;
        let source = &self.source;
        let value = serde_norway::Value::deserialize(doc).map_err(|e| Error::InvalidResource {
            source_name: match i {
                0 => source.to_string(),
                _ => format!("{source}, document {}", i + 1),
            },
            reason: e.to_string().replace('\n', " "),
        });
        Some(value.and_then(|value| {
            if document_kind(&value) != Some("user") {
                return Err(Error::InvalidResource {
                    source_name: source.to_string(),
                    reason: MIXED_KINDS.to_string(),
                });
            }
            user_from_document(value, &format!("{source}, document {}", i + 1))
        }))
    }
}

/// Why a file of users with another kind among them is refused.
pub const MIXED_KINDS: &str =
    "it mixes users with other kinds: give users and roles in files of their own (roles first)";

/// A user document as the user it adds (with a password to generate), and the paths of the
/// Teleport fields it left out.
pub fn user_from_document(
    mut value: serde_norway::Value,
    source: &str,
) -> Result<(NewUser, Vec<String>)> {
    let bad = |reason: String| Error::InvalidResource {
        source_name: source.to_string(),
        reason,
    };
    let mut ignored = Vec::new();
    strip(
        value.get_mut("metadata"),
        "metadata.",
        TELEPORT_METADATA,
        &mut ignored,
    );
    if let Some(spec) = value.get_mut("spec") {
        strip(Some(&mut *spec), "spec.", TELEPORT_SPEC, &mut ignored);
        if let Some(traits) = spec.get_mut("traits").and_then(|t| t.as_mapping_mut()) {
            traits.retain(|k, _| match k.as_str() {
                Some("db_users" | "db_names") => true,
                Some(other) => {
                    ignored.push(format!("spec.traits.{other}"));
                    false
                }
                None => true,
            });
        }
    }
    let doc: Document =
        serde_norway::from_value(value).map_err(|e| bad(e.to_string().replace('\n', " ")))?;
    if doc.kind != "user" {
        return Err(bad(format!("kind {:?} is not a user", doc.kind)));
    }
    if doc.version != "v2" {
        return Err(bad(format!(
            "user version {:?} is not supported; Teleport's users are v2",
            doc.version
        )));
    }
    let name: UserName = doc
        .metadata
        .name
        .parse()
        .map_err(|e: Error| bad(e.to_string()))?;
    let mut traits = doc.spec.traits;
    let user = NewUser::new(name, doc.spec.roles)
        .with_db_users(traits.remove("db_users").unwrap_or_default())
        .with_db_names(traits.remove("db_names").unwrap_or_default());
    Ok((user, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teleport_user_documents_become_users() {
        let text = "kind: user\nversion: v2\nmetadata: {name: alice}\nspec:\n  roles: [access]\n  traits: {db_users: [alice], db_names: ['*'], logins: [root]}\n  created_by: {time: '2024-01-01T00:00:00Z'}\n---\nkind: user\nversion: v2\nmetadata: {name: bob, labels: {team: x}}\nspec: {roles: [readonly]}\n";
        let docs = documents(text, "users.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        let (alice, ignored) = user_from_document(docs[0].clone(), "users.yaml").unwrap();
        assert_eq!(alice.name.as_str(), "alice");
        assert_eq!(alice.roles, ["access"]);
        assert_eq!(alice.db_users, ["alice"]);
        assert_eq!(alice.db_names, ["*"]);
        assert_eq!(ignored, ["spec.created_by", "spec.traits.logins"]);
        let (bob, ignored) = user_from_document(docs[1].clone(), "users.yaml").unwrap();
        assert_eq!(
            (bob.name.as_str(), ignored.as_slice()),
            ("bob", &["metadata.labels".to_string()][..])
        );
    }

    #[test]
    fn unknown_fields_bad_names_and_other_versions_are_refused() {
        for (text, want) in [
            (
                "kind: user\nversion: v2\nmetadata: {name: a}\nspec: {rolez: [x]}\n",
                "rolez",
            ),
            ("kind: user\nversion: v3\nmetadata: {name: a}\n", "v3"),
            (
                "kind: user\nversion: v2\nmetadata: {name: default}\n",
                "default",
            ),
            ("kind: user\nversion: v2\nmetadata: {name: 'a b'}\n", "a b"),
        ] {
            let doc = documents(text, "f").unwrap().remove(0);
            let e = user_from_document(doc, "f").unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(documents("a: [", "f").is_err());
    }
}

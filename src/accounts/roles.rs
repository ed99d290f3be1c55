//! Teleport-style roles (a subset of `kind: role`, `version: v5`) and the access checks of
//! `tsh db login`: deny first, then one role whose matchers all allow.

use crate::accounts::labels::LabelSelector;
use serde::{Deserialize, Serialize};

use crate::accounts::names::validate_name;
use crate::accounts::teleport_fields::strip_teleport_fields;
use crate::accounts::users::User;
use crate::duration::Ttl;
use crate::error::{Denial, Error, Invalid, Result, shorten};

/// A role resource, as `rctl create -f` reads it and `rctl get roles` prints it.
///
/// ```
/// let role = rctl::Role::from_yaml(
///     "kind: role\nversion: v5\nmetadata: {name: ro}\n\
///      spec: {options: {max_session_ttl: 8h}, allow: {db_users: ['{{internal.db_users}}'], redis_acl: ['+@read', '~*']}}\n",
///     "ro.yaml",
/// ).unwrap();
/// assert_eq!(role.max_session_ttl().unwrap().to_string(), "8h0m0s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Always `role`.
    pub kind: String,
    /// Always `v5` (Teleport's role version this subset follows).
    pub version: String,
    /// Name.
    pub metadata: Metadata,
    /// Options, allow and deny.
    pub spec: RoleSpec,
}

/// `metadata` of a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Role name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `spec` of a role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Options.
    #[serde(default)]
    pub options: RoleOptions,
    /// What the role allows.
    #[serde(default)]
    pub allow: RoleConditions,
    /// What the role denies (wins over any allow).
    #[serde(default)]
    pub deny: RoleConditions,
}

/// `spec.options` of a role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleOptions {
    /// Longest certificate lifetime for holders. Read as a Go duration (empty or `0` = no
    /// cap), written as Go prints one (`30h0m0s`, as `tctl get role` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "session_ttl")]
    pub max_session_ttl: Option<Ttl>,
    /// `false`: holders' own accounts are off on every server, so they reach Redis only
    /// through `db login`'s per-login accounts (rctl's own option; unset means on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing_password: Option<bool>,
}

/// `max_session_ttl` in a role file: parsed once, when the file is read.
mod session_ttl {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::duration::{Ttl, parse_duration};

    pub fn serialize<S: Serializer>(value: &Option<Ttl>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(ttl) => s.serialize_str(&ttl.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ttl>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        if text.is_empty() {
            return Ok(None);
        }
        let span = parse_duration(&text).map_err(serde::de::Error::custom)?;
        if span.is_zero() {
            return Ok(None);
        }
        Ttl::from_std(span)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// `spec.allow` or `spec.deny` of a role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConditions {
    /// Database (Redis) users: names, `*`, or `{{internal.db_users}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub db_users: Vec<String>,
    /// Database names: names, `*`, or `{{internal.db_names}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub db_names: Vec<String>,
    /// The labels of the registered servers the role reaches (`'*': '*'` for all of them).
    #[serde(default, skip_serializing_if = "LabelSelector::is_empty")]
    pub db_labels: LabelSelector,
    /// Redis ACL rules for holders (rctl's own field; allow only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redis_acl: Vec<String>,
}

/// The roles that exist from the start and cannot be changed or removed.
pub const BUILTIN_ROLES: [&str; 6] = [
    "access",
    "auditor",
    "editor",
    "readonly",
    "replication",
    "sentinel",
];

/// Teleport's role versions, which all read the same for what rctl uses.
const ROLE_VERSIONS: [&str; 5] = ["v3", "v4", "v5", "v6", "v7"];

pub(crate) const DB_USERS_VAR: &str = "{{internal.db_users}}";
pub(crate) const DB_NAMES_VAR: &str = "{{internal.db_names}}";

impl Role {
    /// A role with the given name and spec.
    pub fn new(name: &str, spec: RoleSpec) -> Role {
        Role {
            kind: "role".to_string(),
            version: "v5".to_string(),
            metadata: Metadata {
                name: name.to_string(),
                description: None,
            },
            spec,
        }
    }

    /// The built-in roles: `access` (Teleport's preset: the user's own db_users and db_names,
    /// all commands on all keys, 30h sessions), `readonly`, `replication`, `sentinel`, and
    /// Teleport's `editor` and `auditor` (nothing for Redis).
    pub fn builtins() -> Vec<Role> {
        super::builtin_roles::builtins()
    }

    /// True for the built-in roles (see [`BUILTIN_ROLES`]).
    pub fn is_builtin(name: &str) -> bool {
        BUILTIN_ROLES.contains(&name)
    }

    /// The role name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Parses one YAML role resource and validates it. `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<Role> {
        Self::from_teleport_yaml(text, source).map(|(role, _)| role)
    }

    /// [`from_yaml`](Self::from_yaml) for a role written for Teleport (versions v3 to v7):
    /// fields Teleport has and rctl does not use (`logins`, `node_labels`, `app_labels`,
    /// `forward_agent`, ...) are left out and returned by path, for a note; any other unknown
    /// field is refused, as a typo should be.
    pub fn from_teleport_yaml(text: &str, source: &str) -> Result<(Role, Vec<String>)> {
        let bad = |reason: String| Error::InvalidResource {
            source_name: source.to_string(),
            reason,
        };
        let mut value: serde_norway::Value =
            crate::output::yaml::from_str(text).map_err(|e| bad(one_line(&e)))?;
        let ignored = strip_teleport_fields(&mut value);
        let role: Role =
            serde_norway::from_value(value).map_err(|e| bad(one_line(&e.to_string())))?;
        role.validate().map_err(|e| match e {
            Error::InvalidResource { .. } => e,
            other => bad(other.to_string()),
        })?;
        Ok((role, ignored))
    }

    /// Checks kind, version, name, TTL, variables and the Redis ACL rules.
    pub fn validate(&self) -> Result<()> {
        if self.kind != "role" {
            return Err(Invalid::RoleResource {
                field: "kind",
                value: shorten(&self.kind),
                want: "rctl reads kind: role",
            }
            .into());
        }
        if !ROLE_VERSIONS.contains(&self.version.as_str()) {
            return Err(Invalid::RoleResource {
                field: "role version",
                value: shorten(&self.version),
                want: "use one of Teleport's v3 to v7",
            }
            .into());
        }
        validate_name("role", self.name())?;
        for (side, cond) in [("allow", &self.spec.allow), ("deny", &self.spec.deny)] {
            check_values(side, "db_users", &cond.db_users, DB_USERS_VAR)?;
            check_values(side, "db_names", &cond.db_names, DB_NAMES_VAR)?;
            cond.db_labels.validate(&format!("{side}.db_labels"))?;
        }
        if !self.spec.deny.redis_acl.is_empty() {
            return Err(Invalid::DenyRedisAcl.into());
        }
        Ok(())
    }

    /// The role's cap on certificate lifetime, if any.
    pub fn max_session_ttl(&self) -> Option<Ttl> {
        self.spec.options.max_session_ttl
    }
}

/// A parser's message on one line and short: it may quote the input, which can be huge.
fn one_line(s: &str) -> String {
    shorten(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A value is `*`, a name, or the one variable this field takes.
fn check_values(side: &str, field: &str, values: &[String], variable: &'static str) -> Result<()> {
    for v in values {
        if v == "*" || v == variable {
            continue;
        }
        if v.contains("{{") {
            return Err(Invalid::UnknownVariable {
                field: format!("{side}.{field}"),
                value: shorten(v),
                known: variable,
            }
            .into());
        }
        validate_name("database", v)?;
    }
    Ok(())
}

/// Expands `{{internal.db_users}}` / `{{internal.db_names}}` to the user's traits; a missing
/// trait drops the value.
pub(crate) fn expand<'a>(
    values: &'a [String],
    variable: &str,
    trait_values: &'a [String],
) -> Vec<&'a str> {
    let mut out = Vec::new();
    for v in values {
        if v == variable {
            out.extend(trait_values.iter().map(String::as_str));
        } else {
            out.push(v.as_str());
        }
    }
    out
}

fn matches(patterns: &[&str], value: &str) -> bool {
    patterns.iter().any(|p| *p == "*" || *p == value)
}

/// Decides whether `user`, holding `roles` (in the user's order), may get a certificate for
/// the Redis account `db_user`. Deny is checked first; then one role must allow it. Database
/// names are not checked: Redis has no per-database ACL, and Teleport does not enforce
/// `db_names` for Redis either.
///
/// With certificate login (`cert_login`), a certificate is the account's password: `*` then
/// reaches only the person's own account, and any other account must be named literally in a
/// role's `db_users` or in the person's `db_users` trait.
pub fn check_access(user: &User, roles: &[&Role], db_user: &str, cert_login: bool) -> Result<()> {
    for role in roles {
        let deny = &role.spec.deny;
        if matches(
            &expand(&deny.db_users, DB_USERS_VAR, &user.db_users),
            db_user,
        ) {
            return Err(Denial::RoleDeniesDbUser {
                role: role.name().to_string(),
                db_user: db_user.to_string(),
                user: user.name.to_string(),
            }
            .into());
        }
    }
    let strict = cert_login && db_user != user.name;
    let allowed = roles
        .iter()
        .any(|role| allows_db_user(role, user, db_user, cert_login));
    if !allowed {
        return Err(Denial::NoRoleAllowsDbUser {
            user: user.name.to_string(),
            roles: roles.iter().map(|r| r.name().to_string()).collect(),
            db_user: db_user.to_string(),
            cert_login_strict: strict,
        }
        .into());
    }
    Ok(())
}

/// Whether `role`'s `allow.db_users` names `db_user` for `user` (with certificate login,
/// `*` reaches only the person's own account).
pub(crate) fn allows_db_user(role: &Role, user: &User, db_user: &str, cert_login: bool) -> bool {
    let patterns = expand(&role.spec.allow.db_users, DB_USERS_VAR, &user.db_users);
    if cert_login && db_user != user.name {
        patterns.contains(&db_user)
    } else {
        matches(&patterns, db_user)
    }
}

/// The smallest non-zero `max_session_ttl` of the roles, with the role that sets it.
pub fn ttl_cap<'a>(roles: &[&'a Role]) -> Option<(Ttl, &'a str)> {
    let mut cap: Option<(Ttl, &str)> = None;
    for role in roles {
        if let Some(ttl) = role.max_session_ttl()
            && cap.is_none_or(|(c, _)| ttl < c)
        {
            cap = Some((ttl, role.name()));
        }
    }
    cap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(db_users: &[&str], db_names: &[&str]) -> User {
        User::new_for_test("alice", &["access"], db_users, db_names)
    }

    fn role(yaml: &str) -> Role {
        Role::from_yaml(yaml, "test.yaml").unwrap()
    }

    const READONLY: &str = r#"
kind: role
version: v5
metadata: {name: ro}
spec:
  options: {max_session_ttl: 8h}
  allow:
    db_users: ["{{internal.db_users}}"]
    db_names: ["*"]
    redis_acl: ["+@read", "~*", "resetchannels"]
  deny:
    db_users: ["admin"]
"#;

    #[test]
    fn parses_the_issue_example() {
        let r = role(READONLY);
        assert_eq!(r.name(), "ro");
        assert_eq!(r.max_session_ttl(), Some("8h".parse().unwrap()));
    }

    #[test]
    fn builtins_are_valid() {
        for r in Role::builtins() {
            r.validate().unwrap();
            assert!(Role::is_builtin(r.name()));
        }
    }

    #[test]
    fn traits_expand_and_wildcards_match() {
        let builtins = Role::builtins();
        let access = &builtins[0];
        let u = user(&["alice", "app"], &["0"]);
        check_access(&u, &[access], "alice", false).unwrap();
        check_access(&u, &[access], "app", false).unwrap();
        assert!(check_access(&u, &[access], "root", false).is_err());
        let any = user(&["*"], &["*"]);
        check_access(&any, &[access], "anyone", false).unwrap();
        // A missing trait drops the value: nothing is allowed.
        let none = user(&[], &[]);
        let err = check_access(&none, &[access], "alice", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no role of user \"alice\" (access) allows db user \"alice\""),
            "{err}"
        );
    }

    #[test]
    fn with_certificate_login_a_wildcard_reaches_only_the_own_account() {
        let builtins = Role::builtins();
        let access = &builtins[0];
        // The user is "alice" (see `user`); '*' in her traits.
        let any = user(&["*"], &["*"]);
        check_access(&any, &[access], "alice", true).unwrap();
        let err = check_access(&any, &[access], "bob", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("certificate login is on"), "{err}");
        // Named literally, another account is allowed.
        let named = user(&["bob"], &[]);
        check_access(&named, &[access], "bob", true).unwrap();
        let app = role(
            "kind: role\nversion: v5\nmetadata: {name: app}\nspec:\n  allow: {db_users: [app]}\n",
        );
        check_access(&user(&[], &[]), &[&app], "app", true).unwrap();
    }

    #[test]
    fn deny_wins_over_any_allow() {
        let builtins = Role::builtins();
        let ro = role(READONLY);
        let u = user(&["*"], &["*"]);
        let err = check_access(&u, &[&builtins[0], &ro], "admin", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("role \"ro\" denies db user \"admin\""),
            "{err}"
        );
        check_access(&u, &[&builtins[0], &ro], "other", false).unwrap();
    }

    #[test]
    fn a_teleport_v7_role_loads_with_a_note_of_what_is_left_out() {
        let text = include_str!("../../fixtures/roles/teleport-v7-access.yaml");
        let (role, ignored) = Role::from_teleport_yaml(text, "access.yaml").unwrap();
        assert_eq!(role.name(), "teleport-access");
        assert_eq!(role.version, "v7");
        assert_eq!(role.spec.allow.db_users, ["{{internal.db_users}}"]);
        assert_eq!(role.spec.allow.db_labels, LabelSelector::everything());
        assert_eq!(role.max_session_ttl(), Some("30h".parse().unwrap()));
        for field in [
            "spec.allow.logins",
            "spec.allow.node_labels",
            "spec.options.forward_agent",
            "metadata.labels",
        ] {
            assert!(ignored.iter().any(|f| f == field), "{field}: {ignored:?}");
        }
        // A field Teleport does not have either is still refused: a typo, not a note.
        let typo = "kind: role\nversion: v7\nmetadata: {name: a}\nspec: {allow: {db_user: [x]}}\n";
        assert!(
            Role::from_teleport_yaml(typo, "t.yaml")
                .unwrap_err()
                .to_string()
                .contains("db_user")
        );
    }

    #[test]
    fn db_names_are_not_enforced_for_redis() {
        // As in Teleport: Redis has no per-database ACL, so db_names decides nothing.
        let a = role(
            "kind: role\nversion: v5\nmetadata: {name: a}\nspec:\n  allow: {db_users: [x], db_names: [n1]}\n  deny: {db_names: ['*']}\n",
        );
        let u = user(&[], &[]);
        check_access(&u, &[&a], "x", false).unwrap();
        assert!(check_access(&u, &[&a], "y", false).is_err());
    }

    #[test]
    fn smallest_ttl_cap_wins() {
        let builtins = Role::builtins();
        let ro = role(READONLY);
        let (cap, name) = ttl_cap(&[&builtins[0], &ro]).unwrap();
        assert_eq!((cap.to_string().as_str(), name), ("8h0m0s", "ro"));
        let free = role(
            "kind: role\nversion: v5\nmetadata: {name: f}\nspec:\n  options: {max_session_ttl: \"0\"}\n",
        );
        assert!(ttl_cap(&[&free]).is_none());
    }

    #[test]
    fn refuses_bad_roles_with_the_file_name() {
        let cases = [
            (
                "kind: user\nversion: v5\nmetadata: {name: a}\nspec: {}\n",
                "kind \"user\"",
            ),
            (
                "kind: role\nversion: v8\nmetadata: {name: a}\nspec: {}\n",
                "version \"v8\"",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: \"a b\"}\nspec: {}\n",
                "invalid role name",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {allow: {db_users: [\"{{internal.logins}}\"]}}\n",
                "unknown variable",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {allow: {redis_acl: [\">secret\"]}}\n",
                "passwords belong to users",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {allow: {redis_acl: [\"+nosuch\"]}}\n",
                "unknown command",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {allow: {redis_acl: [\"on\"]}}\n",
                "decided by rctl",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {options: {max_session_ttl: 1d}}\n",
                "unknown unit",
            ),
            (
                "kind: role\nversion: v5\nmetadata: {name: a}\nspec: {allow: {db_user: [x]}}\n",
                "unknown field `db_user`",
            ),
            ("kind: role\n  bad: [", "test.yaml"),
            ("", "test.yaml"),
        ];
        for (yaml, want) in cases {
            let e = Role::from_yaml(yaml, "test.yaml")
                .and_then(|r| crate::acl::check_role(&r, crate::acl::Target::Redis70))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{yaml:?}: {e}");
            assert!(
                e.starts_with("test.yaml: ") || e.starts_with("role \"a\": "),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }
}

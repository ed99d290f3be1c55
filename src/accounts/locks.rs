//! Locks, as Teleport's `tctl lock`: while one is in force, every Redis account it covers is
//! off on every server, and nothing is issued for what it covers.
//!
//! A lock targets one user (the person's own account and every certificate issued to them), one
//! Redis account (`db_user`: whoever logs in as it), one role (every user holding it), or one
//! node (its signing requests, and the certificates of what it holds). It ends at its expiry,
//! or when it is removed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::accounts::names::{NodeName, validate_name};
use crate::accounts::users::User;
use crate::error::{Error, Invalid, Result};

/// What a lock covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockTarget {
    /// A user: their own account, and everything issued to them.
    User(String),
    /// A Redis account, whoever logs in as it.
    DbUser(String),
    /// Every user holding the role.
    Role(String),
    /// A node: its requests, and the certificates of the servers and client outputs it holds.
    Node(NodeName),
}

impl LockTarget {
    /// A checked target: the name as names are, and never one of the accounts rctl keeps for
    /// itself (`rctl-admin`, `default`), which no person holds.
    pub fn new(kind: &str, name: &str) -> Result<LockTarget> {
        let target = match kind {
            "user" => LockTarget::User(name.to_string()),
            "db_user" => LockTarget::DbUser(name.to_string()),
            "role" => LockTarget::Role(name.to_string()),
            "node" => LockTarget::Node(name.parse()?),
            _ => {
                return Err(Invalid::malformed(
                    "lock target",
                    kind,
                    "one of user, db_user, role, node",
                ));
            }
        };
        validate_name(target.kind_name(), name)?;
        if name == crate::accounts::names::ADMIN_ACCOUNT || name == "default" {
            return Err(Invalid::malformed(
                "lock target",
                name,
                "rctl's own account and Redis's default user are not people's; they cannot be locked",
            ));
        }
        Ok(target)
    }

    fn kind_name(&self) -> &'static str {
        match self {
            LockTarget::User(_) => "user",
            LockTarget::DbUser(_) => "db_user",
            LockTarget::Role(_) => "role",
            LockTarget::Node(_) => "node",
        }
    }

    fn name(&self) -> &str {
        match self {
            LockTarget::User(n) | LockTarget::DbUser(n) | LockTarget::Role(n) => n,
            LockTarget::Node(n) => n.as_str(),
        }
    }
}

/// `user:alice`, `db_user:app`, `role:access`, `node:n1`.
impl std::fmt::Display for LockTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind_name(), self.name())
    }
}

impl std::str::FromStr for LockTarget {
    type Err = Error;

    fn from_str(s: &str) -> Result<LockTarget> {
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| Invalid::malformed("lock target", s, "want KIND:NAME"))?;
        LockTarget::new(kind, name)
    }
}

impl Serialize for LockTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LockTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<LockTarget, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One lock, as the state keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Its id: 16 hex digits, random.
    pub id: String,
    /// What it covers.
    pub target: LockTarget,
    /// Why, shown to whoever it stops (one line, at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it ends by itself; never, without.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires: Option<OffsetDateTime>,
}

/// Checks a lock's message: one line of printable text, 1 to 200 characters.
pub fn check_message(text: &str) -> Result<()> {
    if text.trim().is_empty() || text.chars().count() > 200 || text.chars().any(char::is_control) {
        return Err(Invalid::malformed(
            "lock message",
            text,
            "one line of printable text, 1 to 200 characters",
        ));
    }
    Ok(())
}

impl Lock {
    /// The refusal this lock gives.
    pub fn denial(&self) -> Error {
        crate::error::Denial::Locked {
            target: self.target.to_string(),
            message: self.message.clone(),
            id: self.id.clone(),
        }
        .into()
    }

    /// True until its expiry.
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.expires.is_none_or(|end| now < end)
    }

    /// True when it covers the Redis account `account` of `user` (the user the account is
    /// issued to or named after, when there is one).
    pub fn covers_account(&self, user: Option<&User>, account: &str) -> bool {
        match &self.target {
            LockTarget::User(name) => user.is_some_and(|u| &u.name == name),
            LockTarget::DbUser(name) => name == account,
            LockTarget::Role(role) => user.is_some_and(|u| u.roles.iter().any(|r| r == role)),
            LockTarget::Node(_) => false,
        }
    }
}

/// The locks of a state in force at one moment.
#[derive(Clone, Debug, Default)]
pub struct InForce {
    locks: Vec<Lock>,
}

impl InForce {
    /// The locks of `all` in force at `now`.
    pub fn new(all: Vec<Lock>, now: OffsetDateTime) -> InForce {
        InForce {
            locks: all.into_iter().filter(|l| l.in_force(now)).collect(),
        }
    }

    /// True when none is in force.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// The first lock covering `account`, the account of `user` (or named after it).
    pub fn on_account(&self, user: Option<&User>, account: &str) -> Option<&Lock> {
        self.locks.iter().find(|l| l.covers_account(user, account))
    }

    /// The first lock on `node`.
    pub fn on_node(&self, node: &NodeName) -> Option<&Lock> {
        self.locks
            .iter()
            .find(|l| matches!(&l.target, LockTarget::Node(n) if n == node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, roles: &[&str]) -> User {
        let at = OffsetDateTime::UNIX_EPOCH;
        User {
            name: name.to_string(),
            roles: roles.iter().map(ToString::to_string).collect(),
            db_users: Vec::new(),
            db_names: Vec::new(),
            password_sha256: crate::accounts::users::Password::generate().hash(),
            created: at,
            updated: at,
        }
    }

    fn lock(target: &str, expires: Option<OffsetDateTime>) -> Lock {
        Lock {
            id: "1".to_string(),
            target: target.parse().unwrap(),
            message: None,
            created: OffsetDateTime::UNIX_EPOCH,
            expires,
        }
    }

    #[test]
    fn each_target_covers_its_accounts_and_no_other() {
        let alice = user("alice", &["access"]);
        let bob = user("bob", &["editor"]);
        let by_user = lock("user:alice", None);
        assert!(by_user.covers_account(Some(&alice), "alice"));
        assert!(by_user.covers_account(Some(&alice), "app"));
        assert!(!by_user.covers_account(Some(&bob), "bob"));
        let by_account = lock("db_user:app", None);
        assert!(by_account.covers_account(Some(&bob), "app"));
        assert!(by_account.covers_account(None, "app"));
        assert!(!by_account.covers_account(Some(&alice), "alice"));
        let by_role = lock("role:access", None);
        assert!(by_role.covers_account(Some(&alice), "alice"));
        assert!(!by_role.covers_account(Some(&bob), "bob"));
        assert!(!lock("node:n1", None).covers_account(Some(&alice), "alice"));
    }

    #[test]
    fn an_expired_lock_is_not_in_force() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let past = lock("user:alice", Some(now - time::Duration::seconds(1)));
        let future = lock("user:bob", Some(now + time::Duration::seconds(1)));
        let locks = InForce::new(vec![past, future], now);
        assert!(
            locks
                .on_account(Some(&user("alice", &[])), "alice")
                .is_none()
        );
        assert!(locks.on_account(Some(&user("bob", &[])), "bob").is_some());
    }

    #[test]
    fn targets_read_back_and_refuse_what_is_not_one() {
        for t in ["user:alice", "db_user:app", "role:access", "node:n1"] {
            assert_eq!(t.parse::<LockTarget>().unwrap().to_string(), t);
        }
        for bad in [
            "alice",
            "team:x",
            "user:",
            "user:a b",
            "db_user:rctl-admin",
            "user:default",
        ] {
            assert!(bad.parse::<LockTarget>().is_err(), "{bad}");
        }
    }
}

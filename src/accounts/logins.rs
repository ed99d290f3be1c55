//! Per-login Redis accounts: `db login` makes an account for that login only (`USER+ID`), with
//! the rules the user's roles give, on the one server the login is for, for the login's
//! lifetime. Its credential is the login's certificate where the server logs in by certificate,
//! else a one-time password whose SHA-256 alone the state keeps. At its expiry, or at `db
//! logout`, the account is deleted, which closes its connections.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::accounts::names::{DbUserName, ServerName, UserName};
use crate::accounts::users::PasswordHash;

/// One login's account, as the state keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LoginAccount {
    /// The login's id: 8 hex digits, random.
    pub id: String,
    /// The person.
    pub user: UserName,
    /// The one server it is for.
    pub server: ServerName,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it ends: its certificate's notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The SHA-256 of its one-time password; none where the certificate is the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_sha256: Option<PasswordHash>,
}

impl LoginAccount {
    /// Its Redis account: `USER+ID`.
    pub fn account(&self) -> DbUserName {
        DbUserName::login_account(&self.user, &self.id)
    }

    /// True when its id is one rctl makes (8 lowercase hex digits): an account name from it
    /// cannot hold anything else.
    pub fn id_is_valid(&self) -> bool {
        self.id.len() == 8
            && self
                .id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// True until its certificate expires.
    pub fn live(&self, now: OffsetDateTime) -> bool {
        now < self.not_after
    }
}

//! The owner given to files rctl writes outside its state: `--owner=USER[:GROUP]`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Invalid, Result};

/// The owner (and group) given to the files rctl writes for a server or a client: `USER` or
/// `USER:GROUP`, names or numeric ids, resolved when the files are written. Without a group,
/// the user's own primary group.
///
/// ```
/// let o: rctl::FileOwner = "redis:redis".parse().unwrap();
/// assert_eq!(o.to_string(), "redis:redis");
/// let o: rctl::FileOwner = "65534".parse().unwrap();
/// assert!(o.group.is_none());
/// assert!("a:b:c".parse::<rctl::FileOwner>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOwner {
    /// The user: a name or a numeric id.
    pub user: String,
    /// The group: a name or a numeric id; the user's primary group when `None`.
    pub group: Option<String>,
}

impl FromStr for FileOwner {
    type Err = Error;

    fn from_str(s: &str) -> Result<FileOwner> {
        // POSIX portable user and group names (and what useradd takes): letters, digits,
        // '.', '_', '-', not starting with '-', at most 32; or a number.
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 32
                && !part.starts_with('-')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        let bad =
            || Invalid::malformed("owner", s, "want USER or USER:GROUP (names or numeric ids)");
        match s.split_once(':') {
            Some((user, group)) if valid(user) && valid(group) => Ok(FileOwner {
                user: user.to_string(),
                group: Some(group.to_string()),
            }),
            None if valid(s) => Ok(FileOwner {
                user: s.to_string(),
                group: None,
            }),
            _ => Err(bad()),
        }
    }
}

impl FileOwner {
    /// The numeric user and group ids, names looked up in the system's user database.
    pub fn resolve(&self) -> Result<(u32, u32)> {
        let account = || {
            nix::unistd::User::from_name(&self.user)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Error::from(Invalid::NoSuchOwner {
                        kind: "user",
                        name: self.user.clone(),
                    })
                })
        };
        let uid = match self.user.parse::<u32>() {
            Ok(id) => id,
            Err(_) => account()?.uid.as_raw(),
        };
        let gid = match &self.group {
            None => match self.user.parse::<u32>() {
                Ok(id) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id))
                    .ok()
                    .flatten()
                    .map_or(id, |u| u.gid.as_raw()),
                Err(_) => account()?.gid.as_raw(),
            },
            Some(group) => match group.parse::<u32>() {
                Ok(id) => id,
                Err(_) => nix::unistd::Group::from_name(group)
                    .ok()
                    .flatten()
                    .map(|g| g.gid.as_raw())
                    .ok_or_else(|| {
                        Error::from(Invalid::NoSuchOwner {
                            kind: "group",
                            name: group.to_string(),
                        })
                    })?,
            },
        };
        Ok((uid, gid))
    }
}

impl fmt::Display for FileOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(group) => write!(f, "{}:{group}", self.user),
            None => f.write_str(&self.user),
        }
    }
}

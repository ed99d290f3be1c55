//! A person's logins to registered servers, as `tsh db login` keeps them: in a profile folder
//! (mode 0700), per rctl user, one client bundle per server (`USER/SERVER.crt`, `.key` 0600,
//! `.cas`) and what the login is for (`USER/SERVER.json`: server, address, db user, expiry).
//! The file paths are derived from the names, never read back from the record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::accounts::names::{ServerName, UserName};
use crate::error::{Error, Result};
use crate::output::atomic::Visibility;
use crate::output::read::{PEM_LIMIT, read_regular};
use crate::pki::bundle::RedisBundle;
use crate::servers::registered::ServerAddr;

/// The folder of a person's logins.
#[derive(Clone, Debug)]
pub struct Profile {
    root: PathBuf,
}

/// One login: a client certificate for one server, as one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbLogin {
    /// The rctl user.
    pub user: UserName,
    /// The registered server.
    pub server: ServerName,
    /// Where the server listens.
    pub addr: ServerAddr,
    /// The Redis account the certificate names.
    pub db_user: String,
    /// When the certificate expires.
    pub not_after: OffsetDateTime,
    /// The bundle's prefix: `PREFIX.crt`, `PREFIX.key`, `PREFIX.cas`.
    pub prefix: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRecord {
    user: UserName,
    server: ServerName,
    addr: String,
    db_user: String,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
}

impl DbLogin {
    /// The trust bundle (`PREFIX.cas`).
    pub fn ca(&self) -> PathBuf {
        RedisBundle::paths(&self.prefix)[2].clone()
    }

    /// The client certificate (`PREFIX.crt`).
    pub fn cert(&self) -> PathBuf {
        RedisBundle::paths(&self.prefix)[0].clone()
    }

    /// The client key (`PREFIX.key`).
    pub fn key(&self) -> PathBuf {
        RedisBundle::paths(&self.prefix)[1].clone()
    }

    /// `rediss://DBUSER@HOST:PORT`: no password in it (a client asks for one, or the server
    /// logs the certificate in).
    pub fn uri(&self) -> String {
        format!("rediss://{}@{}", self.db_user, self.addr)
    }

    /// Refuses a login whose certificate has expired at `now`.
    pub fn check_current(&self, now: OffsetDateTime) -> Result<()> {
        if self.not_after <= now {
            return Err(Error::LoginExpired {
                user: self.user.to_string(),
                server: self.server.to_string(),
                not_after: self
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }
}

impl Profile {
    /// The profile at `root` (created, 0700, with the first login).
    pub fn new(root: impl Into<PathBuf>) -> Profile {
        Profile { root: root.into() }
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn user_dir(&self, user: &UserName) -> PathBuf {
        self.root.join(user.as_str())
    }

    /// The bundle prefix of `user`'s login to `server`.
    pub fn prefix(&self, user: &UserName, server: &ServerName) -> PathBuf {
        self.user_dir(user).join(server.as_str())
    }

    fn record_path(&self, user: &UserName, server: &ServerName) -> PathBuf {
        self.user_dir(user).join(format!("{server}.json"))
    }

    /// Where a login's one-time password is kept (mode 0600): `SERVER.password`.
    fn password_path(&self, user: &UserName, server: &ServerName) -> PathBuf {
        self.user_dir(user).join(format!("{server}.password"))
    }

    /// Keeps `login`'s one-time password (mode 0600, atomically), or removes an earlier
    /// login's where this one has none (its certificate is the credential).
    pub fn save_password(
        &self,
        login: &DbLogin,
        password: Option<&crate::accounts::users::Password>,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        let path = self.password_path(&login.user, &login.server);
        match password {
            Some(p) => crate::output::atomic::write_atomic_owned(
                &path,
                p.expose().as_bytes(),
                Visibility::Secret,
                true,
                owner,
            ),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
                _ => Ok(()),
            },
        }
    }

    /// `login`'s one-time password, if it has one (a regular file of at most 256 bytes).
    pub fn password(&self, login: &DbLogin) -> Result<Option<zeroize::Zeroizing<String>>> {
        let path = self.password_path(&login.user, &login.server);
        match crate::output::read::read_regular(&path, 256) {
            Ok(bytes) => Ok(Some(zeroize::Zeroizing::new(
                String::from_utf8_lossy(&bytes).trim().to_string(),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Makes the profile's folders (mode 0700) for `user`; refuses a path that is there but
    /// not a folder, or a folder that group or others can read.
    /// `owner` (uid, gid) is given the folders made.
    pub fn prepare(&self, user: &UserName, owner: Option<(u32, u32)>) -> Result<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let dir = self.user_dir(user);
        for path in [&self.root, &dir] {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    if meta.mode() & 0o077 != 0 {
                        return Err(Error::InsecurePermissions {
                            path: path.clone(),
                            mode: meta.mode() & 0o777,
                            want: 0o700,
                        });
                    }
                }
                Ok(_) => {
                    return Err(Error::OutputRefused {
                        path: path.clone(),
                        message: format!("{} is not a folder", path.display()),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .recursive(true)
                        .create(path)
                        .map_err(|e| Error::io(path, e))?;
                    if let Some((uid, gid)) = owner {
                        std::os::unix::fs::chown(path, Some(uid), Some(gid))
                            .map_err(|e| Error::io(path, e))?;
                    }
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Ok(dir)
    }

    /// Records a login whose bundle is at [`prefix`](Self::prefix) (mode 0600, atomically).
    /// `owner` (uid, gid) is given the record.
    pub fn save(&self, login: &DbLogin, owner: Option<(u32, u32)>) -> Result<()> {
        let record = LoginRecord {
            user: login.user.clone(),
            server: login.server.clone(),
            addr: login.addr.to_string(),
            db_user: login.db_user.clone(),
            not_after: login.not_after,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| Error::encode("login", e))?;
        let path = self.record_path(&login.user, &login.server);
        crate::output::atomic::write_atomic_owned(&path, &json, Visibility::Secret, true, owner)
    }

    /// `user`'s login to `server`.
    pub fn login(&self, user: &UserName, server: &ServerName) -> Result<DbLogin> {
        let path = self.record_path(user, server);
        let data = match read_regular(&path, PEM_LIMIT) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::LoginMissing {
                    user: user.to_string(),
                    server: server.to_string(),
                });
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let corrupt = |reason: String| Error::InvalidResource {
            source_name: path.display().to_string(),
            reason,
        };
        let record: LoginRecord =
            serde_json::from_slice(&data).map_err(|e| corrupt(e.to_string()))?;
        if &record.user != user || &record.server != server {
            return Err(corrupt(format!(
                "it is the login of {:?} to {:?}",
                record.user.as_str(),
                record.server.as_str()
            )));
        }
        Ok(DbLogin {
            addr: record
                .addr
                .parse()
                .map_err(|e: Error| corrupt(e.to_string()))?,
            user: record.user,
            server: record.server,
            db_user: record.db_user,
            not_after: record.not_after,
            prefix: self.prefix(user, server),
        })
    }

    /// Every login of `user`, by server name.
    pub fn logins(&self, user: &UserName) -> Result<Vec<DbLogin>> {
        let dir = self.user_dir(user);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut logins = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Ok(server) = stem.parse::<ServerName>() {
                logins.push(self.login(user, &server)?);
            }
        }
        logins.sort_by(|a, b| a.server.cmp(&b.server));
        Ok(logins)
    }

    /// Removes `user`'s login to `server`: its record and bundle. Returns the files removed.
    pub fn remove(&self, user: &UserName, server: &ServerName) -> Result<Vec<PathBuf>> {
        let record = self.record_path(user, server);
        if std::fs::symlink_metadata(&record).is_err() {
            return Err(Error::LoginMissing {
                user: user.to_string(),
                server: server.to_string(),
            });
        }
        let mut removed = Vec::new();
        // The record last: a login half removed is still listed, and removed again.
        let mut paths = RedisBundle::paths(&self.prefix(user, server)).to_vec();
        paths.push(self.password_path(user, server));
        for path in paths.iter().chain(std::iter::once(&record)) {
            match std::fs::remove_file(path) {
                Ok(()) => removed.push(path.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Ok(removed)
    }
}

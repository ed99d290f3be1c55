//! users.acl from the state: every user's line for the cluster's Redis target.

use crate::accounts::admin::ADMIN_ACCOUNT;
use crate::acl::{Renderer, Target};
use crate::error::Result;
use crate::output::atomic::Visibility;

use super::StateDir;
use super::users::USERS_FILE;

impl StateDir {
    /// The users.acl for every user: `user NAME on #SHA256 RULES` (the union of the user's
    /// roles, see [`crate::acl::render()`]), sorted by name, then `user default off`; for
    /// `target`, else the cluster's target.
    pub(crate) fn render_acl(&self, target: Option<Target>) -> Result<String> {
        self.render_acl_file(target).map(|file| file.text)
    }

    /// [`render_acl`](Self::render_acl) with the number of users it holds.
    pub(crate) fn render_acl_file(&self, target: Option<Target>) -> Result<AclFile> {
        self.render_acl_file_for(target, Reach::Everyone)
    }

    /// [`render_acl_file`](Self::render_acl_file) with the users `reach` takes.
    pub(crate) fn render_acl_file_for(
        &self,
        target: Option<Target>,
        reach: Reach<'_>,
    ) -> Result<AclFile> {
        let mut roles = self.all_roles()?;
        let admin = self.admin_user()?;
        if admin.is_some() {
            roles.push(crate::accounts::admin::admin_role());
        }
        let renderer = Renderer::new(&roles, self.target_or_default(target)?)?;
        // A locked account stays in the file, switched off: Redis refuses its logins, and a
        // sync that applies the file closes its connections.
        let locks = self.locks_in_force()?;
        // Streamed: each user becomes its line as it is read, so 100,000 users never sit in
        // memory as records. Each line starts `user NAME `: its name's length is kept to find
        // a name given twice once the lines are sorted.
        let mut lines = Vec::new();
        self.for_each_user(&mut |user| {
            let held = super::roles::user_roles(&user, &roles)?;
            let reached = match reach {
                Reach::Everyone => true,
                Reach::Nobody => false,
                Reach::Labels(labels) => crate::accounts::server_access::reaches(&held, labels),
            };
            if !reached {
                return Ok(());
            }
            let mut line = renderer.line(&user)?;
            // Locked, or a role that keeps its holders to per-login accounts: off.
            let standing_off = held
                .iter()
                .any(|r| r.spec.options.standing_password == Some(false));
            if standing_off || locks.on_account(Some(&user), &user.name).is_some() {
                line = crate::acl::switched_off(&line);
            }
            lines.push((user.name.len(), line));
            Ok(())
        })?;
        if let Some(admin) = &admin {
            lines.push((admin.name.len(), renderer.line(admin)?));
        }
        lines.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let name = |(len, line): &(usize, String)| line[5..5 + len].to_string();
        if let Some(w) = lines.windows(2).find(|w| name(&w[0]) == name(&w[1])) {
            return Err(self.corrupt(USERS_FILE, format!("user {:?} appears twice", name(&w[0]))));
        }
        let users = lines.len();
        let databases = renderer.database_notes();
        let text = Renderer::finish(lines.into_iter().map(|(_, line)| line).collect());
        Ok(AclFile {
            text,
            users,
            target: renderer.target(),
            databases,
        })
    }
}

impl StateDir {
    /// rctl's own account as a user of the users.acl renderer, once a server is registered.
    fn admin_user(&self) -> Result<Option<crate::accounts::users::User>> {
        let Some(hash) = self.admin_password_hash()? else {
            return Ok(None);
        };
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Ok(Some(crate::accounts::users::User {
            name: ADMIN_ACCOUNT.to_string(),
            roles: vec![ADMIN_ACCOUNT.to_string()],
            db_users: Vec::new(),
            db_names: Vec::new(),
            password_sha256: hash,
            created: at,
            updated: at,
        }))
    }
}

impl StateDir {
    /// The lines of the live per-login accounts for `server` (see
    /// [`crate::accounts::logins`]): each its user's own line, as the login's account with the
    /// login's password. A login whose user is gone or locked, or whose roles no longer reach
    /// the server, has none.
    pub(crate) fn login_lines(
        &self,
        server: &crate::servers::registered::RegisteredServer,
        target: Target,
    ) -> Result<Vec<String>> {
        let logins: Vec<_> = self
            .live_logins()?
            .into_iter()
            .filter(|l| l.server == server.name)
            .collect();
        if logins.is_empty() {
            return Ok(Vec::new());
        }
        let roles = self.all_roles()?;
        let renderer = Renderer::new(&roles, target)?;
        let locks = self.locks_in_force()?;
        let mut lines = Vec::new();
        for login in logins {
            let Ok(user) = self.user(login.user.as_str()) else {
                continue;
            };
            let held = super::roles::user_roles(&user, &roles)?;
            let locked = locks
                .on_account(Some(&user), &login.account().to_string())
                .or_else(|| locks.on_account(Some(&user), &user.name));
            if locked.is_some() || !crate::accounts::server_access::reaches(&held, &server.labels) {
                continue;
            }
            let line = renderer.line(&user)?;
            lines.push(crate::acl::as_login(
                &line,
                &login.account().to_string(),
                login.password_sha256.as_ref(),
            ));
        }
        Ok(lines)
    }
}

/// Which users a users.acl holds (rctl's own account is in every one).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reach<'a> {
    /// Every user: `acl generate`, the state's whole users.acl.
    Everyone,
    /// The users whose roles reach a server with these labels (their `db_labels`).
    Labels(&'a crate::accounts::labels::Labels),
    /// None.
    Nobody,
}

/// A rendered users.acl.
#[derive(Clone, Debug)]
pub struct AclFile {
    /// The file's text.
    pub text: String,
    /// How many users it defines (besides `default`, which it keeps off).
    pub users: usize,
    /// The target it is for.
    pub target: Target,
    /// What the users' `db_names` came to: enforced by `db=` rules on a target that has them,
    /// else not enforced.
    pub databases: crate::acl::DatabaseNotes,
}

impl AclFile {
    /// Refuses, before any work, a path users.acl cannot be written at: a directory, or a file
    /// in a folder that does not exist.
    pub fn check_output(path: &std::path::Path) -> Result<()> {
        crate::output::atomic::check_file_output(path)
    }

    /// Replaces `path` with the file atomically: mode 0600, or the owner and mode of the file
    /// it replaces (a key's bits never widened), so a server running as its own user still
    /// reads it.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        self.write_owned(path, None)
    }

    /// [`write`](Self::write), owned by `owner` when given: mode 0640 when it names a group
    /// (the server's, which reads it), else 0600.
    pub fn write_owned(
        &self,
        path: &std::path::Path,
        owner: Option<&crate::output::owner::FileOwner>,
    ) -> Result<()> {
        Self::check_output(path)?;
        let ids = owner.map(|o| o.resolve()).transpose()?;
        let visibility = match owner {
            Some(o) if o.group.is_some() => Visibility::GroupSecret,
            _ => Visibility::Secret,
        };
        crate::output::atomic::write_atomic_owned(path, self.text.as_bytes(), visibility, true, ids)
    }
}

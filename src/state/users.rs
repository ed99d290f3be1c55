//! User and role operations of [`StateDir`], and the client certificates and users.acl that
//! come from them.

use crate::accounts::names::UserName;
use crate::accounts::roles::Role;
use crate::accounts::users::{Password, User};
use crate::error::{Error, Invalid, Result};
use crate::state::audit::AuditEvent;

use super::users_file::{read_users, render_user_line, render_users, scan_user_names};

use super::StateDir;

pub(crate) const USERS_FILE: &str = "users.jsonl";

/// A user to create.
///
/// ```
/// # fn main() -> Result<(), rctl::Error> {
/// let alice = rctl::NewUser::new("alice".parse()?, vec!["access".into()])
///     .with_db_users(vec!["alice".into()]);
/// assert!(alice.password.is_none()); // one is generated, and returned once
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NewUser {
    /// Name.
    pub name: UserName,
    /// Role names (each must exist).
    pub roles: Vec<String>,
    /// Trait `db_users`.
    pub db_users: Vec<String>,
    /// Trait `db_names`.
    pub db_names: Vec<String>,
    /// The password; `None` generates one (returned once).
    pub password: Option<Password>,
    /// The built-in `replication` role may be among the roles (it reads every key: for a
    /// replica's account, given only when asked for).
    pub replication_asked: bool,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UserUpdate {
    /// New roles.
    pub roles: Option<Vec<String>>,
    /// New `db_users`.
    pub db_users: Option<Vec<String>>,
    /// New `db_names`.
    pub db_names: Option<Vec<String>>,
    /// The built-in `replication` role may be among the new roles (see
    /// [`NewUser::replication_asked`]).
    pub replication_asked: bool,
}

impl NewUser {
    /// A user with these roles, no traits, and a password generated when it is added.
    pub fn new(name: UserName, roles: Vec<String>) -> NewUser {
        NewUser {
            name,
            roles,
            db_users: Vec::new(),
            db_names: Vec::new(),
            password: None,
            replication_asked: false,
        }
    }

    /// With the `db_users` trait.
    pub fn with_db_users(mut self, db_users: Vec<String>) -> NewUser {
        self.db_users = db_users;
        self
    }

    /// With the `db_names` trait.
    pub fn with_db_names(mut self, db_names: Vec<String>) -> NewUser {
        self.db_names = db_names;
        self
    }

    /// With this password instead of a generated one.
    pub fn with_password(mut self, password: Password) -> NewUser {
        self.password = Some(password);
        self
    }

    /// With the built-in `replication` role allowed among the roles, asked for on purpose.
    pub fn with_replication_asked(mut self, asked: bool) -> NewUser {
        self.replication_asked = asked;
        self
    }
}

impl NewUser {
    /// The user this makes at `now`, checked, with its password generated when none was
    /// given (returned, for showing once).
    fn into_user(self, now: time::OffsetDateTime) -> Result<(User, Option<Password>)> {
        let (password, generated) = match self.password {
            Some(p) => (p, false),
            None => (Password::generate(), true),
        };
        let user = User {
            name: self.name.into(),
            roles: self.roles,
            db_users: self.db_users,
            db_names: self.db_names,
            password_sha256: password.hash(),
            created: now,
            updated: now,
        };
        user.validate()?;
        Ok((user, generated.then_some(password)))
    }
}

/// A user change checked and ready to [`save`](crate::state::Users::save), holding what must be shown
/// before it is saved: a generated password. Dropped, it saves nothing.
#[must_use = "nothing is saved until StateDir::save"]
#[derive(Debug)]
pub struct PendingUser {
    /// Never empty: one user, or a bulk change's users in order.
    users: Vec<(User, Option<Password>)>,
    event: &'static str,
    write: UsersWrite,
}

impl PendingUser {
    /// The (first) user as it will be saved.
    pub fn user(&self) -> &User {
        &self.users[0].0
    }

    /// The (first) user's generated password, to show once before saving (`None` when one
    /// was given).
    pub fn generated_password(&self) -> Option<&Password> {
        self.users[0].1.as_ref()
    }

    /// Every user of the change, each with its generated password.
    pub fn users(&self) -> &[(User, Option<Password>)] {
        &self.users
    }
}

/// How a pending change reaches users.jsonl: one line appended, or the file rewritten.
#[derive(Debug)]
enum UsersWrite {
    Append(Vec<u8>),
    /// The change's users appended in this order (indices into its users), rendered when saved.
    AppendInOrder(Vec<usize>),
    Rewrite(Vec<User>),
}

impl UserUpdate {
    /// No change yet.
    pub fn new() -> UserUpdate {
        UserUpdate::default()
    }

    /// Replace the roles.
    pub fn with_roles(mut self, roles: Vec<String>) -> UserUpdate {
        self.roles = Some(roles);
        self
    }

    /// Replace the `db_users` trait.
    pub fn with_db_users(mut self, db_users: Vec<String>) -> UserUpdate {
        self.db_users = Some(db_users);
        self
    }

    /// Replace the `db_names` trait.
    pub fn with_db_names(mut self, db_names: Vec<String>) -> UserUpdate {
        self.db_names = Some(db_names);
        self
    }
}

impl StateDir {
    /// Every user, sorted by name.
    pub(crate) fn all_users(&self) -> Result<Vec<User>> {
        let mut users = Vec::new();
        self.for_each_user(&mut |user| {
            users.push(user);
            Ok(())
        })?;
        users.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = users.windows(2).find(|w| w[0].name == w[1].name) {
            let reason = format!("user {:?} appears twice", w[0].name);
            return Err(self.corrupt(USERS_FILE, reason));
        }
        Ok(users)
    }

    /// Hands each user to `f` by name, as [`users`](Self::users) lists them, holding few at a
    /// time: a listing of 1,000,000 users in little memory. The state keeps its users sorted
    /// but for those added since it was last rewritten, which are held and merged in; the
    /// rest is read twice, not held. The whole state is checked first (every line, no name
    /// twice), so `f` sees nothing of a state `users` refuses.
    pub(crate) fn each_user(&self, f: &mut dyn FnMut(&User) -> Result<()>) -> Result<()> {
        // 1. Every line checked, the names seen, and the users from the first one out of
        //    order on (the tail) kept.
        let mut names = std::collections::HashSet::new();
        let mut twice = None;
        let mut sorted_run = 0usize;
        let mut last: Option<String> = None;
        let mut tail: Vec<User> = Vec::new();
        self.for_each_user(&mut |user| {
            if !names.insert(user.name.clone()) && twice.is_none() {
                twice = Some(user.name.clone());
            }
            let in_order = tail.is_empty() && last.as_ref().is_none_or(|l| user.name > *l);
            if in_order {
                sorted_run += 1;
                last = Some(user.name.clone());
            } else {
                tail.push(user);
            }
            Ok(())
        })?;
        if let Some(name) = twice {
            let reason = format!("user {name:?} appears twice");
            return Err(self.corrupt(USERS_FILE, reason));
        }
        drop(names);
        tail.sort_by(|a, b| a.name.cmp(&b.name));
        // 2. The sorted run read again, the tail merged in.
        let mut tail = tail.into_iter().peekable();
        let mut read = 0usize;
        self.for_each_user(&mut |user| {
            if read == sorted_run {
                return Ok(());
            }
            read += 1;
            while let Some(earlier) = tail.next_if(|t| t.name < user.name) {
                f(&earlier)?;
            }
            f(&user)
        })?;
        tail.try_for_each(|user| f(&user))
    }

    /// Calls `f` with each user in file order, reading the file in pieces.
    pub(crate) fn for_each_user(&self, f: &mut dyn FnMut(User) -> Result<()>) -> Result<()> {
        let Some(mut reader) = self.store().open(USERS_FILE)? else {
            return Ok(());
        };
        let mut outcome = Ok(());
        read_users(&mut reader, &mut |user| {
            outcome = f(user);
            outcome.is_ok()
        })
        .map_err(|reason| self.corrupt(USERS_FILE, reason))?;
        outcome
    }

    /// One user.
    pub(crate) fn user(&self, name: &str) -> Result<User> {
        let users = self.all_users()?;
        find(&users, name).map(|i| users[i].clone())
    }

    fn save_users(&self, users: &[User]) -> Result<()> {
        self.store().write(USERS_FILE, &render_users(users)?)
    }

    /// Creates a user. Returns it, and the generated password when none was given: show it
    /// once, rctl keeps only its SHA-256. (A caller that must show the password before the
    /// user exists uses [`prepare_user`](Self::prepare_user) and [`save`](Self::save).)
    pub(crate) fn add_user(&mut self, new: NewUser) -> Result<(User, Option<Password>)> {
        let pending = self.prepare_user(new)?;
        Ok(self.save(pending)?.remove(0))
    }

    /// Checks a new user and returns it ready to save, with its generated password, if any,
    /// to show first: a user whose password nobody saw would be locked out, so a caller that
    /// cannot show it drops the [`PendingUser`] and nothing is saved.
    pub(crate) fn prepare_user(&mut self, new: NewUser) -> Result<PendingUser> {
        let roles = self.all_roles()?;
        check_roles(&roles, &new.roles, new.replication_asked)?;
        let exists = || Error::AlreadyExists {
            what: "user",
            name: new.name.to_string(),
        };
        // A store that keeps each user apart (etcd) looks up the one, a directory asks its
        // index of names; else only the names are read. One line is appended: adding a user
        // costs the same with 10 users or 1,000,000. A file that does not end cleanly is
        // rewritten whole instead.
        let name = new.name.as_str();
        let held = match self.store().read_line(USERS_FILE, name) {
            Some(line) => Some(line?.is_some()),
            None => self.store().has_line(USERS_FILE, name).transpose()?,
        };
        let clean_end = match held {
            Some(true) => return Err(exists()),
            Some(false) => true,
            None => {
                let data = self.store().read(USERS_FILE)?.unwrap_or_default();
                let (names, clean_end) =
                    scan_user_names(&data).map_err(|reason| self.corrupt(USERS_FILE, reason))?;
                if names.iter().any(|n| *n == new.name.as_str()) {
                    return Err(exists());
                }
                clean_end
            }
        };
        let (user, password) = new.into_user(self.record_time())?;
        let write = if clean_end {
            UsersWrite::Append(render_user_line(&user)?)
        } else {
            let mut users = self.all_users()?;
            users.push(user.clone());
            users.sort_by(|a, b| a.name.cmp(&b.name));
            UsersWrite::Rewrite(users)
        };
        Ok(PendingUser {
            users: vec![(user, password)],
            event: "user.create",
            write,
        })
    }

    /// Saves a change that [`prepare_user`](Self::prepare_user) or
    /// [`prepare_password_reset`](Self::prepare_password_reset) checked on this state, with
    /// its audit record. Returns the user and its generated password.
    pub(crate) fn save(&mut self, pending: PendingUser) -> Result<Vec<(User, Option<Password>)>> {
        let PendingUser {
            users,
            event,
            write,
        } = pending;
        let events = users.iter().map(|(u, _)| AuditEvent::about(event, &u.name));
        self.audited(events, || match &write {
            UsersWrite::Append(line) => self.store().append(USERS_FILE, line).map(drop),
            UsersWrite::AppendInOrder(order) => {
                let mut lines = Vec::new();
                for i in order {
                    lines.extend_from_slice(&render_user_line(&users[*i].0)?);
                }
                self.store().append(USERS_FILE, &lines).map(drop)
            }
            UsersWrite::Rewrite(all) => self.save_users(all),
        })?;
        Ok(users)
    }

    /// Creates many users in one write (for programs that provision in bulk): all or none.
    /// Returns each user with its generated password, if one was generated.
    pub(crate) fn add_users(&mut self, new: Vec<NewUser>) -> Result<Vec<(User, Option<Password>)>> {
        let pending = self.prepare_users(new)?;
        self.save(pending)
    }

    /// [`add_users`](Self::add_users) checked and ready to [`save`](Self::save), with the
    /// generated passwords to show first (see [`prepare_user`](Self::prepare_user)). Refused
    /// when a name is taken or given twice, a role is missing, or there is no user at all.
    /// The users are taken one at a time; the new lines are appended, sorted among themselves,
    /// to a file that ends cleanly (the users there are read for their names only), so adding
    /// many users holds them and their lines, not every user of the state.
    pub(crate) fn prepare_users(
        &mut self,
        new: impl IntoIterator<Item = NewUser>,
    ) -> Result<PendingUser> {
        let roles = self.all_roles()?;
        let now = self.record_time();
        let mut added = Vec::new();
        for n in new {
            check_roles(&roles, &n.roles, n.replication_asked)?;
            added.push(n.into_user(now)?);
        }
        if added.is_empty() {
            return Err(Invalid::NoUser.into());
        }
        let mut order: Vec<usize> = (0..added.len()).collect();
        order.sort_by(|a, b| added[*a].0.name.cmp(&added[*b].0.name));
        let taken = |name: &str| Error::AlreadyExists {
            what: "user",
            name: name.to_string(),
        };
        if let Some(w) = order
            .windows(2)
            .find(|w| added[w[0]].0.name == added[w[1]].0.name)
        {
            return Err(taken(&added[w[0]].0.name));
        }
        let clean_end = {
            let data = self.store().read(USERS_FILE)?.unwrap_or_default();
            let (names, clean_end) =
                scan_user_names(&data).map_err(|reason| self.corrupt(USERS_FILE, reason))?;
            let mut existing = std::collections::HashSet::with_capacity(names.len());
            for name in &names {
                if !existing.insert(name.as_ref()) {
                    let reason = format!("user {name:?} appears twice");
                    return Err(self.corrupt(USERS_FILE, reason));
                }
            }
            if let Some((user, _)) = added
                .iter()
                .find(|(u, _)| existing.contains(u.name.as_str()))
            {
                return Err(taken(&user.name));
            }
            clean_end
        };
        let write = if clean_end {
            UsersWrite::AppendInOrder(order)
        } else {
            let mut users = self.all_users()?;
            users.extend(added.iter().map(|(u, _)| u.clone()));
            users.sort_by(|a, b| a.name.cmp(&b.name));
            UsersWrite::Rewrite(users)
        };
        Ok(PendingUser {
            users: added,
            event: "user.create",
            write,
        })
    }

    /// Changes a user's roles or traits.
    pub(crate) fn update_user(&mut self, name: &str, update: UserUpdate) -> Result<User> {
        let mut users = self.all_users()?;
        let i = find(&users, name)?;
        if let Some(roles) = &update.roles {
            check_roles(&self.all_roles()?, roles, update.replication_asked)?;
        }
        let user = &mut users[i];
        if let Some(v) = update.roles {
            user.roles = v;
        }
        if let Some(v) = update.db_users {
            user.db_users = v;
        }
        if let Some(v) = update.db_names {
            user.db_names = v;
        }
        user.updated = self.record_time();
        user.validate()?;
        let user = user.clone();
        self.audited(&[AuditEvent::about("user.update", &user.name)], || {
            self.save_users(&users)
        })?;
        Ok(user)
    }

    /// Sets a new password (generated when `None`, and then returned once).
    pub(crate) fn reset_password(
        &mut self,
        name: &str,
        password: Option<Password>,
    ) -> Result<Option<Password>> {
        let pending = self.prepare_password_reset(name, password)?;
        Ok(self.save(pending)?.remove(0).1)
    }

    /// Checks a password reset and returns it ready to [`save`](Self::save), with the
    /// generated password to show first (see [`prepare_user`](Self::prepare_user)).
    pub(crate) fn prepare_password_reset(
        &mut self,
        name: &str,
        password: Option<Password>,
    ) -> Result<PendingUser> {
        let mut users = self.all_users()?;
        let i = find(&users, name)?;
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (Password::generate(), true),
        };
        users[i].password_sha256 = password.hash();
        users[i].updated = self.record_time();
        Ok(PendingUser {
            users: vec![(users[i].clone(), generated.then_some(password))],
            event: "user.password_reset",
            write: UsersWrite::Rewrite(users),
        })
    }

    /// Removes a user.
    pub(crate) fn remove_user(&mut self, name: &str) -> Result<User> {
        let mut removed = self.remove_users(&[name.to_string()])?;
        Ok(removed.remove(0))
    }

    /// Removes users, all or none: refused if any is missing.
    pub(crate) fn remove_users(&mut self, names: &[String]) -> Result<Vec<User>> {
        let mut users = self.all_users()?;
        let mut removed = Vec::with_capacity(names.len());
        for name in names {
            let i = find(&users, name)?;
            removed.push(users.remove(i));
        }
        let events: Vec<AuditEvent> = names
            .iter()
            .map(|n| AuditEvent::about("user.delete", n))
            .collect();
        self.audited(&events, || self.save_users(&users))?;
        Ok(removed)
    }
}

impl StateDir {
    /// Now, to the second: what user records store.
    fn record_time(&self) -> time::OffsetDateTime {
        let now = self.now();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

fn find(users: &[User], name: &str) -> Result<usize> {
    users
        .binary_search_by(|u| u.name.as_str().cmp(name))
        .map_err(|_| Error::NotFound {
            what: "user",
            name: name.to_string(),
        })
}

/// The roles a user is given: at least one, each known, and the built-in `replication` role
/// only when asked for.
fn check_roles(roles: &[Role], wanted: &[String], replication_asked: bool) -> Result<()> {
    if !replication_asked && wanted.iter().any(|r| r == "replication") {
        return Err(Error::ReplicationRoleUnasked);
    }
    if wanted.is_empty() {
        return Err(Invalid::NoRole.into());
    }
    for name in wanted {
        if !roles.iter().any(|r| r.name() == name) {
            let known: Vec<&str> = roles.iter().map(Role::name).collect();
            return Err(Invalid::UnknownRole {
                name: name.to_string(),
                known: known.iter().map(ToString::to_string).collect(),
            }
            .into());
        }
    }
    Ok(())
}

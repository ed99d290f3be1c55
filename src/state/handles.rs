//! The state's surface by concept: [`StateDir`] hands out one handle per concept (users,
//! roles, servers, clients, the CA and its rotation, settings, signing requests), each a
//! borrow of the open state whose methods are that concept's operations. Every operation is
//! still one step of the state (read, checked, written and audited together).

use std::path::PathBuf;
use std::time::Duration;

use super::{
    AclFile, NewUser, PendingUser, Progress, SignedRequests, StateDir, UserUpdate, WrittenFiles,
};
use crate::accounts::locks::{InForce, Lock, LockTarget};
use crate::accounts::names::{ClientName, ServerName, UserName};
use crate::accounts::roles::Role;
use crate::accounts::users::{Password, User};
use crate::acl::Target;
use crate::clients::output::ClientOutput;
use crate::clients::renewal::ClientPlan;
use crate::error::Result;
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::{CaOptions, HostCa};
use crate::pki::rotation::Phase;
use crate::requests::{Issued, RequestFor};
use crate::servers::live::{FilePlan, Wanted};
use crate::servers::registered::RegisteredServer;
use crate::storage::queue::RequestQueue;

impl StateDir {
    /// The users: Teleport-style people and service accounts, each a Redis account with a password hash.
    pub fn users(&mut self) -> Users<'_> {
        Users(self)
    }

    /// The roles: the built-in ones and those created, each a set of Redis ACL rules and limits.
    pub fn roles(&mut self) -> Roles<'_> {
        Roles(self)
    }

    /// The registered Redis servers, their files and rctl's own account on them.
    pub fn servers(&mut self) -> Servers<'_> {
        Servers(self)
    }

    /// The client outputs: applications' certificates kept in their formats and renewed by sync.
    pub fn clients(&mut self) -> Clients<'_> {
        Clients(self)
    }

    /// The host CA and its rotation.
    pub fn ca(&mut self) -> Ca<'_> {
        Ca(self)
    }

    /// The cluster's settings: the Redis or Valkey version users.acl is written for, certificate login; and the users.acl they give.
    pub fn settings(&mut self) -> Settings<'_> {
        Settings(self)
    }

    /// Locks, as Teleport's `tctl lock`: while one is in force, the accounts it covers are off
    /// in every users.acl and nothing is issued for what it covers.
    pub fn locks(&mut self) -> Locks<'_> {
        Locks(self)
    }

    /// Signing requests: the queue a shared state carries, the signer's pass over it, what was issued.
    pub fn requests(&mut self) -> Requests<'_> {
        Requests(self)
    }
}

/// The locks of the state.
pub struct Locks<'a>(&'a mut StateDir);

impl Locks<'_> {
    /// Every lock saved, in force or expired (expired ones go at the next change), oldest
    /// first.
    pub fn list(&self) -> Result<Vec<Lock>> {
        self.0.all_locks()
    }

    /// The locks in force now.
    pub fn in_force(&self) -> Result<InForce> {
        self.0.locks_in_force()
    }

    /// Locks `target` for `ttl` (none: until removed), `message` shown to whoever it stops.
    pub fn add(
        &mut self,
        target: LockTarget,
        ttl: Option<crate::duration::Ttl>,
        message: Option<String>,
    ) -> Result<Lock> {
        self.0.add_lock(target, ttl, message)
    }

    /// Removes the lock `id`, and returns it.
    pub fn remove(&mut self, id: &str) -> Result<Lock> {
        self.0.remove_lock(id)
    }
}

/// The users: Teleport-style people and service accounts, each a Redis account with a password hash.
pub struct Users<'a>(&'a mut StateDir);

impl Users<'_> {
    /// Every user, sorted by name.
    pub fn list(&self) -> Result<Vec<User>> {
        self.0.all_users()
    }

    /// Hands each user to `f` by name, as `users` lists them, holding few at a
    /// time: a listing of 1,000,000 users in little memory. The state keeps its users sorted
    /// but for those added since it was last rewritten, which are held and merged in; the
    /// rest is read twice, not held. The whole state is checked first (every line, no name
    /// twice), so `f` sees nothing of a state `users` refuses.
    pub fn each(&self, f: &mut dyn FnMut(&User) -> Result<()>) -> Result<()> {
        self.0.each_user(f)
    }

    /// One user.
    pub fn get(&self, name: &str) -> Result<User> {
        self.0.user(name)
    }

    /// `user`'s live logins, each its own Redis account until its expiry.
    pub fn logins(&self, user: &UserName) -> Result<Vec<crate::accounts::logins::LoginAccount>> {
        let mut logins = self.0.live_logins()?;
        logins.retain(|l| &l.user == user);
        Ok(logins)
    }

    /// Creates a user. Returns it, and the generated password when none was given: show it
    /// once, rctl keeps only its SHA-256. (A caller that must show the password before the
    /// user exists uses `prepare_user` and `save`.)
    pub fn add(&mut self, new: NewUser) -> Result<(User, Option<Password>)> {
        self.0.add_user(new)
    }

    /// Checks a new user and returns it ready to save, with its generated password, if any,
    /// to show first: a user whose password nobody saw would be locked out, so a caller that
    /// cannot show it drops the [`PendingUser`] and nothing is saved.
    pub fn prepare(&mut self, new: NewUser) -> Result<PendingUser> {
        self.0.prepare_user(new)
    }

    /// Saves a change that `prepare_user` or
    /// `prepare_password_reset` checked on this state, with
    /// its audit record. Returns the user and its generated password.
    pub fn save(&mut self, pending: PendingUser) -> Result<Vec<(User, Option<Password>)>> {
        self.0.save(pending)
    }

    /// Creates many users in one write (for programs that provision in bulk): all or none.
    /// Returns each user with its generated password, if one was generated.
    pub fn add_many(&mut self, new: Vec<NewUser>) -> Result<Vec<(User, Option<Password>)>> {
        self.0.add_users(new)
    }

    /// `add_users` checked and ready to `save`, with the
    /// generated passwords to show first (see `prepare_user`). Refused
    /// when a name is taken or given twice, a role is missing, or there is no user at all.
    /// The users are taken one at a time; the new lines are appended, sorted among themselves,
    /// to a file that ends cleanly (the users there are read for their names only), so adding
    /// many users holds them and their lines, not every user of the state.
    pub fn prepare_many(&mut self, new: impl IntoIterator<Item = NewUser>) -> Result<PendingUser> {
        self.0.prepare_users(new)
    }

    /// Changes a user's roles or traits.
    pub fn update(&mut self, name: &str, update: UserUpdate) -> Result<User> {
        self.0.update_user(name, update)
    }

    /// Sets a new password (generated when `None`, and then returned once).
    pub fn reset_password(
        &mut self,
        name: &str,
        password: Option<Password>,
    ) -> Result<Option<Password>> {
        self.0.reset_password(name, password)
    }

    /// Checks a password reset and returns it ready to `save`, with the
    /// generated password to show first (see `prepare_user`).
    pub fn prepare_password_reset(
        &mut self,
        name: &str,
        password: Option<Password>,
    ) -> Result<PendingUser> {
        self.0.prepare_password_reset(name, password)
    }

    /// Removes a user.
    pub fn remove(&mut self, name: &str) -> Result<User> {
        self.0.remove_user(name)
    }

    /// Removes users, all or none: refused if any is missing.
    pub fn remove_many(&mut self, names: &[String]) -> Result<Vec<User>> {
        self.0.remove_users(names)
    }
}

/// The roles: the built-in ones and those created, each a set of Redis ACL rules and limits.
pub struct Roles<'a>(&'a mut StateDir);

impl Roles<'_> {
    /// Every role, built-in ones included, sorted by name.
    pub fn list(&self) -> Result<Vec<Role>> {
        self.0.all_roles()
    }

    /// One role.
    pub fn get(&self, name: &str) -> Result<Role> {
        self.0.role(name)
    }

    /// Creates a role; with `force`, replaces an existing one. Built-in roles cannot be changed.
    /// Returns true when a role was replaced.
    /// The role's Redis ACL rules are checked for `target`, else the cluster's target.
    pub fn create(&mut self, role: &Role, force: bool, target: Option<Target>) -> Result<bool> {
        self.0.create_role(role, force, target)
    }

    /// Removes a role; refused for built-in roles and while a user holds it.
    pub fn remove(&mut self, name: &str) -> Result<()> {
        self.0.remove_role(name)
    }
}

/// The registered Redis servers, their files and rctl's own account on them.
pub struct Servers<'a>(&'a mut StateDir);

impl Servers<'_> {
    /// Every registered server, sorted by name.
    pub fn list(&self) -> Result<Vec<RegisteredServer>> {
        self.0.all_servers()
    }

    /// The registered server named `name`.
    pub fn get(&self, name: &ServerName) -> Result<RegisteredServer> {
        self.0.server(name)
    }

    /// Registers a server. Refused when one of that name exists, when another server writes
    /// to one of its files, when a file would be inside the state directory, or when the
    /// folder of a file does not exist.
    pub fn add(&mut self, server: &RegisteredServer) -> Result<()> {
        self.0.add_server(server)
    }

    /// Forgets a registered server (its files stay where they are).
    pub fn remove(&mut self, name: &crate::accounts::names::ServerName) -> Result<()> {
        self.0.remove_server(name)
    }

    /// True once rctl's own account exists (with the first registered server; on etcd, with
    /// the CA).
    pub fn has_admin_account(&self) -> Result<bool> {
        self.0.has_admin_account()
    }

    /// The password of rctl's own account, `rctl-admin`, once it exists: what rctl logs in
    /// with on registered servers. Never printed. On a shared (etcd) state it is kept sealed
    /// under the CA passphrase, and reading it asks for the passphrase.
    pub fn admin_password(&self) -> Result<Option<Password>> {
        self.0.admin_password()
    }

    /// The SHA-256 of rctl-admin's password (what users.acl holds), read without the
    /// passphrase.
    pub fn admin_password_hash(&self) -> Result<Option<crate::accounts::users::PasswordHash>> {
        self.0.admin_password_hash()
    }

    /// The registered servers `names` (every one when empty), in the order given; an unknown
    /// name is refused.
    pub fn registered(&self, names: &[ServerName]) -> Result<Vec<RegisteredServer>> {
        self.0.registered_servers(names)
    }

    /// The locks on this state's registered servers, usable once the state is closed (see
    /// [`crate::storage::ServerLocks`]).
    pub fn locks(&self) -> Result<Box<dyn crate::storage::ServerLocks>> {
        self.0.server_locks()
    }

    /// What the state wants of `servers`, for talking to them once the state is closed: each
    /// server's users.acl holds the users whose roles reach its labels. Refused until a server
    /// is registered (rctl has no account before). On a state open for writing, due rotation
    /// phases are saved first.
    pub fn wanted(&mut self, servers: &[RegisteredServer]) -> Result<Wanted> {
        self.0.wanted(servers)
    }

    /// What `server`'s files need (see [`crate::servers::live::files::plan_files`]).
    pub fn plan_files(
        &self,
        server: &RegisteredServer,
        wanted: &Wanted,
        renew_within: Option<Duration>,
    ) -> FilePlan {
        self.0.plan_server_files(server, wanted, renew_within)
    }

    /// Writes what `plan` says `server` needs: a new certificate bundle (signed by the state's
    /// CA, recorded as `auth sign` records one), the trust bundle, users.acl; each replacing
    /// its file atomically with the owner and mode it had (or the registered owner).
    pub fn write_files(
        &mut self,
        server: &RegisteredServer,
        plan: &FilePlan,
        wanted: &Wanted,
        presigned: Option<RedisBundle>,
    ) -> Result<WrittenFiles> {
        self.0.write_server_files(server, plan, wanted, presigned)
    }

    /// The registered servers `user`'s roles reach (their `db_labels`), sorted by name.
    pub fn reached_by(&self, user: &UserName) -> Result<Vec<RegisteredServer>> {
        self.0.servers_reached_by(user)
    }
}

/// The client outputs: applications' certificates kept in their formats and renewed by sync.
pub struct Clients<'a>(&'a mut StateDir);

impl Clients<'_> {
    /// Every registered client output, sorted by name.
    pub fn list(&self) -> Result<Vec<ClientOutput>> {
        self.0.all_clients()
    }

    /// Registers a client output and issues its first bundle, in one change: checked first (a
    /// free name, files no server or other client writes, the user's roles allowing the
    /// account and the lifetime), then signed, written, recorded and audited together.
    /// `overwrite` replaces bundle files already there.
    pub fn add(
        &mut self,
        client: &ClientOutput,
        overwrite: bool,
    ) -> Result<(RedisBundle, Vec<PathBuf>)> {
        self.0.add_client(client, overwrite)
    }

    /// Registers a client output held by another node, without issuing it (no CA key is
    /// used): that node's sync issues its files. Checked as `add_client`
    /// checks, but for the files, which are that node's.
    pub fn register(&mut self, client: &ClientOutput) -> Result<()> {
        self.0.register_client(client)
    }

    /// Forgets a client output (its files stay where they are).
    pub fn remove(&mut self, name: &ClientName) -> Result<()> {
        self.0.remove_client(name)
    }

    /// Every client output with what its files need now (nothing is written).
    pub fn plans(
        &mut self,
        renew_within: Option<std::time::Duration>,
    ) -> Result<Vec<(ClientOutput, ClientPlan)>> {
        self.0.client_plans(renew_within)
    }

    /// Writes what `plan` says `client` needs: a bundle signed again (the user's roles checked
    /// as at its first issue), or its trust bundle; atomically, with its owner and modes.
    pub fn write_files(
        &mut self,
        client: &ClientOutput,
        plan: &ClientPlan,
        ca: &HostCa,
        presigned: Option<RedisBundle>,
    ) -> Result<WrittenFiles> {
        self.0.write_client_files(client, plan, ca, presigned)
    }
}

/// The host CA and its rotation.
pub struct Ca<'a>(&'a mut StateDir);

impl Ca<'_> {
    /// True when a host CA exists.
    pub fn exists(&self) -> Result<bool> {
        self.0.has_ca()
    }

    /// Creates the host CA; refuses if one exists.
    pub fn init(&mut self, options: &CaOptions) -> Result<HostCa> {
        self.0.init_ca(options)
    }

    /// The host CA, with any due phases of an automatic rotation applied (and saved). On an
    /// empty state, creates one with the defaults (cluster name = host name) and says so in a
    /// [`Notice`](crate::state::Notice).
    pub fn get(&mut self) -> Result<HostCa> {
        self.0.host_ca()
    }

    /// The host CA if one exists, without creating one (for read-only commands).
    pub fn existing(&mut self) -> Result<Option<HostCa>> {
        self.0.existing_host_ca()
    }

    /// Encrypts the host CA keys at rest with the passphrase (asked of the source). Refused
    /// when there is no CA or it is encrypted already.
    pub fn encrypt(&mut self) -> Result<HostCa> {
        self.0.encrypt_ca()
    }

    /// Keeps the host CA keys in clear again (decrypted with the passphrase). Refused when
    /// there is no CA or it is not encrypted.
    pub fn decrypt(&mut self) -> Result<HostCa> {
        self.0.decrypt_ca()
    }

    /// Moves a manual rotation of the host CA to `phase`.
    pub fn rotate(&mut self, phase: Phase) -> Result<HostCa> {
        self.0.rotate(phase)
    }

    /// `rotate`, refusing (unless `force`) to enter `standby` from
    /// `update_servers` while a registered server's certificate file is not signed by the new
    /// key: its sync in `update_servers` failed, and at `standby` the key that signed what it
    /// serves is no longer trusted anywhere. The same for a registered client output, from
    /// `update_clients` on: entering `update_servers` or `standby` while one still holds a
    /// certificate of the outgoing key is refused.
    pub fn rotate_checked(&mut self, phase: Phase, force: bool) -> Result<HostCa> {
        self.0.rotate_checked(phase, force)
    }

    /// Starts an automatic rotation of the host CA.
    pub fn start_auto_rotation(&mut self, grace_period: std::time::Duration) -> Result<HostCa> {
        self.0.start_auto_rotation(grace_period)
    }

    /// Every registered server and client output against `ca`'s current phase.
    pub fn rotation_progress(&self, ca: &HostCa) -> Result<Vec<Progress>> {
        self.0.rotation_progress(ca)
    }
}

/// The cluster's settings: the Redis or Valkey version users.acl is written for, certificate login; and the users.acl they give.
pub struct Settings<'a>(&'a mut StateDir);

impl Settings<'_> {
    /// The cluster's Redis target (`redis-7.0` until one is set).
    pub fn redis_target(&self) -> Result<Target> {
        self.0.redis_target()
    }

    /// Sets the cluster's Redis target. Refused (and nothing changed) when a role, or a user's
    /// combination of roles, cannot be written for it.
    pub fn set_redis_target(&mut self, target: Target) -> Result<()> {
        self.0.set_redis_target(target)
    }

    /// Whether the cluster's servers log clients in by certificate (see
    /// `set_cert_login`).
    pub fn cert_login(&self) -> Result<bool> {
        self.0.cert_login()
    }

    /// Turns certificate login on or off for the cluster. On, a client certificate logs its
    /// holder in as the account its CN names, with no password: `*` in `db_users` then reaches
    /// only a person's own account. Refused unless the cluster's target has it.
    pub fn set_cert_login(&mut self, on: bool) -> Result<()> {
        self.0.set_cert_login(on)
    }

    /// The users.acl for every user: `user NAME on #SHA256 RULES` (the union of the user's
    /// roles, see [`crate::acl::render()`]), sorted by name, then `user default off`; for
    /// `target`, else the cluster's target.
    pub fn render_acl(&self, target: Option<Target>) -> Result<String> {
        self.0.render_acl(target)
    }

    /// `render_acl` with the number of users it holds.
    pub fn render_acl_file(&self, target: Option<Target>) -> Result<AclFile> {
        self.0.render_acl_file(target)
    }
}

/// Signing requests: the queue a shared state carries, the signer's pass over it, what was issued.
pub struct Requests<'a>(&'a mut StateDir);

impl Requests<'_> {
    /// What was issued last for `subject`, if it is on record.
    pub fn issued(&self, subject: &RequestFor) -> Result<Option<Issued>> {
        self.0.issued(subject)
    }

    /// The state's signing-request queue (a shared state's; refused on a directory).
    pub fn queue(&self) -> Result<Box<dyn RequestQueue>> {
        self.0.request_queue()
    }

    /// Signs every pending request that matches its registration exactly and refuses every
    /// other (see [`crate::requests`]), oldest first, in pages of `PAGE` (64) requests: each
    /// page's certificates and audit records (signed and refused alike) are saved in one
    /// change, and only then is each of its requests answered; nothing of a page is answered
    /// when its change fails. A request that cannot be read or judged is refused alone, named
    /// by its key. One call takes at most `MAX_PAGES` (64) pages; what is left waits for the next.
    pub fn sign_pending(&mut self) -> Result<SignedRequests> {
        self.0.sign_requests()
    }
}

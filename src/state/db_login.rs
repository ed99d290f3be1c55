//! `db ls` and `db login` through the state: which registered servers a person reaches, and a
//! login to one of them, signed as `auth sign --user` signs and written into the profile.

use crate::accounts::logins::LoginAccount;
use crate::accounts::names::{DbUserName, ServerName, UserName};
use crate::accounts::server_access::{check_server_access, db_users_on, reaches};
use crate::clients::profile::{DbLogin, Profile};
use crate::duration::Ttl;
use crate::error::{Denial, Error, Result};
use crate::servers::registered::RegisteredServer;

use super::StateDir;
use super::roles::user_roles;
use super::signing::ClientLogin;

/// A person's request to log in to a registered server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbLoginRequest {
    /// The registered server.
    pub server: ServerName,
    /// The rctl user.
    pub user: UserName,
    /// The Redis account; the user's only account on that server when `None`.
    pub db_user: Option<DbUserName>,
    /// Lifetime, within the roles' caps; rctl's default when `None`.
    pub ttl: Option<Ttl>,
    /// The owner of the login's folder and files (the person's OS account); the writer's
    /// when `None`.
    pub owner: Option<crate::output::owner::FileOwner>,
}

impl DbLoginRequest {
    /// `user` logging in to `server` as their only account there, for the default lifetime.
    pub fn new(server: ServerName, user: UserName) -> DbLoginRequest {
        DbLoginRequest {
            server,
            user,
            db_user: None,
            ttl: None,
            owner: None,
        }
    }
}

impl StateDir {
    /// The registered servers `user`'s roles reach (their `db_labels`), sorted by name.
    pub(crate) fn servers_reached_by(&self, user: &UserName) -> Result<Vec<RegisteredServer>> {
        let user = self.user(user)?;
        let all_roles = self.all_roles()?;
        let roles = user_roles(&user, &all_roles)?;
        let mut servers = self.all_servers()?;
        servers.retain(|s| reaches(&roles, &s.labels));
        Ok(servers)
    }

    /// The registered server named `name`.
    pub(crate) fn server(&self, name: &ServerName) -> Result<RegisteredServer> {
        self.find_server(name)?.ok_or_else(|| Error::NotFound {
            what: "server",
            name: name.to_string(),
        })
    }

    /// Logs `req.user` in to `req.server`: checks the server's labels and the account against
    /// the user's roles, signs a client certificate (the TTL capped as for any person's), and
    /// writes it with the trust bundle and the login's record into `profile`, replacing an
    /// earlier login to that server.
    pub fn db_login(&mut self, req: &DbLoginRequest, profile: &Profile) -> Result<DbLogin> {
        let server = self.server(&req.server)?;
        let user = self.user(&req.user)?;
        let all_roles = self.all_roles()?;
        let roles = user_roles(&user, &all_roles)?;
        let cert_login = self.cert_login()?;
        let db_user = match &req.db_user {
            Some(d) => d.clone(),
            None => only_db_user(&user, &roles, &server, cert_login)?,
        };
        check_server_access(
            &user,
            &roles,
            server.name.as_str(),
            &server.labels,
            db_user.as_str(),
            cert_login,
        )?;
        // The person's own account: a Redis account for this login only (`USER+ID`), on this
        // server only, for the login's lifetime. Its credential is the certificate where
        // servers log in by certificate, else a one-time password kept in the profile.
        let per_login = db_user.as_str() == user.name;
        let id = login_id();
        let (db_user, password) = if per_login {
            let password = (!cert_login).then(crate::accounts::users::Password::generate);
            (DbUserName::login_account(&req.user, &id), password)
        } else {
            (db_user, None)
        };
        let mut login = ClientLogin::new(req.user.clone(), db_user.clone());
        login.ttl = req.ttl;
        let owner = req.owner.as_ref().map(|o| o.resolve()).transpose()?;
        profile.prepare(&req.user, owner)?;
        let prefix = profile.prefix(&req.user, &req.server);
        let mut placement =
            super::signing::Placement::new(crate::pki::formats::BundleFormat::Redis);
        placement.overwrite = true;
        placement.owner = req.owner.clone();
        let signing = super::signing::Signing::client(login.clone()).written_to(&prefix, placement);
        let (bundle, _) = self.sign(&signing)?;
        if per_login {
            self.add_login(&LoginAccount {
                id,
                user: req.user.clone(),
                server: server.name.clone(),
                created: self.now(),
                not_after: bundle.issued().not_after,
                password_sha256: password
                    .as_ref()
                    .map(crate::accounts::users::Password::hash),
            })?;
        }
        let login = DbLogin {
            user: req.user.clone(),
            server: server.name.clone(),
            addr: server.addr.clone(),
            db_user: db_user.to_string(),
            not_after: bundle.issued().not_after,
            prefix,
        };
        profile.save(&login, owner)?;
        profile.save_password(&login, password.as_ref(), owner)?;
        Ok(login)
    }
}

/// The user's only account on `server`, when `db login` names none; why not, else.
fn only_db_user(
    user: &crate::accounts::users::User,
    roles: &[&crate::accounts::roles::Role],
    server: &RegisteredServer,
    cert_login: bool,
) -> Result<DbUserName> {
    let choices = db_users_on(user, roles, &server.labels, cert_login);
    match choices.as_slice() {
        [one] => one.parse(),
        [] => {
            // Why: the server's labels, a denial, or no account at all.
            check_server_access(
                user,
                roles,
                server.name.as_str(),
                &server.labels,
                &user.name,
                cert_login,
            )?;
            Err(Denial::NoDbUserOnServer {
                user: user.name.to_string(),
                server: server.name.to_string(),
            }
            .into())
        }
        _ => Err(Error::DbUserAmbiguous {
            user: user.name.clone(),
            server: server.name.to_string(),
            choices,
        }),
    }
}

/// A login's id: 8 random hex digits.
fn login_id() -> String {
    use rand::Rng;
    let mut id = [0u8; 4];
    rand::rng().fill_bytes(&mut id);
    hex::encode(id)
}

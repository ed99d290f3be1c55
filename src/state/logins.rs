//! The state's per-login accounts (`logins.yaml`, see [`crate::accounts::logins`]).

use crate::accounts::logins::LoginAccount;
use crate::accounts::names::{ServerName, UserName};
use crate::error::{Error, Result};
use crate::state::audit::AuditEvent;

use super::StateDir;

const LOGINS_FILE: &str = "logins.yaml";

/// The audit record of `action` on `login`: its account and server.
fn event(action: &str, login: &LoginAccount) -> AuditEvent {
    AuditEvent::about(action, &format!("{} {}", login.account(), login.server))
}

impl StateDir {
    /// Every login account saved, live or expired (expired ones go at the next change).
    pub(crate) fn all_logins(&self) -> Result<Vec<LoginAccount>> {
        let logins: Vec<LoginAccount> = self
            .load(LOGINS_FILE, crate::output::yaml::from_slice)?
            .unwrap_or_default();
        if let Some(bad) = logins.iter().find(|l| !l.id_is_valid()) {
            return Err(self.corrupt(
                LOGINS_FILE,
                format!(
                    "login id {:?} is not 8 hex digits",
                    crate::error::shorten(&bad.id)
                ),
            ));
        }
        Ok(logins)
    }

    /// The live login accounts now.
    pub(crate) fn live_logins(&self) -> Result<Vec<LoginAccount>> {
        let now = self.now();
        let mut logins = self.all_logins()?;
        logins.retain(|l| l.live(now));
        Ok(logins)
    }

    /// Saves `login` (expired ones and the user's earlier login to the same server go in the
    /// same write: one login per user and server, as the profile keeps).
    pub(crate) fn add_login(&mut self, login: &LoginAccount) -> Result<()> {
        let mut logins = self.live_logins()?;
        let (ended, kept): (Vec<_>, Vec<_>) = logins
            .into_iter()
            .partition(|l| l.user == login.user && l.server == login.server);
        logins = kept;
        logins.push(login.clone());
        let mut events = vec![AuditEvent::about(
            "login.create",
            &format!("{} {}", login.account(), login.server),
        )];
        events.extend(
            ended.iter().map(|l| {
                AuditEvent::about("login.delete", &format!("{} {}", l.account(), l.server))
            }),
        );
        self.save_logins(&logins, &events)
    }

    /// Ends `user`'s logins (to `server` only, when given): their accounts go from every
    /// users.acl at the next sync. Returns those ended.
    pub(crate) fn end_logins(
        &mut self,
        user: &UserName,
        server: Option<&ServerName>,
    ) -> Result<Vec<LoginAccount>> {
        let (ended, kept): (Vec<_>, Vec<_>) = self
            .live_logins()?
            .into_iter()
            .partition(|l| &l.user == user && server.is_none_or(|s| &l.server == s));
        if ended.is_empty() {
            return Ok(ended);
        }
        let events: Vec<AuditEvent> = ended.iter().map(|l| event("login.delete", l)).collect();
        self.save_logins(&kept, &events)?;
        Ok(ended)
    }

    fn save_logins(&self, logins: &[LoginAccount], events: &[AuditEvent]) -> Result<()> {
        let yaml = serde_norway::to_string(logins).map_err(|e| Error::encode("logins", e))?;
        self.audited(events, || self.store().write(LOGINS_FILE, yaml.as_bytes()))
    }
}

impl StateDir {
    /// Drops the per-login accounts and locks that have ended, each with an audit record
    /// (`login.expire`, `lock.expire`), in one change; writes nothing when none has. The
    /// watching agent calls it at each pass, so the audit log has every login's and lock's
    /// end, by expiry too. Returns how many ended.
    pub(crate) fn reap_expired(&mut self) -> Result<usize> {
        let now = self.now();
        let (ended, logins): (Vec<_>, Vec<_>) =
            self.all_logins()?.into_iter().partition(|l| !l.live(now));
        let (lapsed, locks): (Vec<_>, Vec<_>) = self
            .all_locks()?
            .into_iter()
            .partition(|l| !l.in_force(now));
        if ended.is_empty() && lapsed.is_empty() {
            return Ok(0);
        }
        let mut events: Vec<AuditEvent> = ended.iter().map(|l| event("login.expire", l)).collect();
        events.extend(
            lapsed
                .iter()
                .map(|l| AuditEvent::about("lock.expire", &format!("{} {}", l.id, l.target))),
        );
        let logins_yaml =
            serde_norway::to_string(&logins).map_err(|e| Error::encode("logins", e))?;
        let locks_yaml = serde_norway::to_string(&locks).map_err(|e| Error::encode("locks", e))?;
        self.audited(&events, || {
            if !ended.is_empty() {
                self.store().write(LOGINS_FILE, logins_yaml.as_bytes())?;
            }
            if !lapsed.is_empty() {
                self.store()
                    .write(super::locks::LOCKS_FILE, locks_yaml.as_bytes())?;
            }
            Ok(())
        })?;
        Ok(ended.len() + lapsed.len())
    }
}

//! The state's locks (`locks.yaml`): added, listed and removed by admins, read by everything
//! that issues or renders an account.

use crate::accounts::locks::{InForce, Lock, LockTarget, check_message};
use crate::duration::Ttl;
use crate::error::{Error, Result};
use crate::state::audit::AuditEvent;

use super::StateDir;

pub(super) const LOCKS_FILE: &str = "locks.yaml";

/// Locks a state keeps, expired ones included until the next change drops them.
const MAX_LOCKS: usize = 10_000;

impl StateDir {
    /// Every lock saved, in force or not, oldest first.
    pub(crate) fn all_locks(&self) -> Result<Vec<Lock>> {
        Ok(self
            .load(LOCKS_FILE, crate::output::yaml::from_slice)?
            .unwrap_or_default())
    }

    /// The locks in force now.
    pub(crate) fn locks_in_force(&self) -> Result<InForce> {
        Ok(InForce::new(self.all_locks()?, self.now()))
    }

    /// Adds a lock on `target` for `ttl` (none: until removed), with `message` for whoever it
    /// stops. Expired locks go in the same write.
    pub(crate) fn add_lock(
        &mut self,
        target: LockTarget,
        ttl: Option<Ttl>,
        message: Option<String>,
    ) -> Result<Lock> {
        if let Some(text) = &message {
            check_message(text)?;
        }
        let now = self.now();
        let mut locks = self.all_locks()?;
        locks.retain(|l| l.in_force(now));
        if locks.len() >= MAX_LOCKS {
            return Err(crate::error::Invalid::TooLarge {
                source_name: "the state's locks".to_string(),
                limit: MAX_LOCKS,
            }
            .into());
        }
        let expires = ttl
            .map(|ttl| {
                now.checked_add(ttl.as_time())
                    .ok_or_else(|| Error::InvalidDuration {
                        input: ttl.to_string(),
                        reason: "too long".to_string(),
                    })
            })
            .transpose()?;
        let lock = Lock {
            id: {
                use rand::Rng;
                let mut id = [0u8; 8];
                rand::rng().fill_bytes(&mut id);
                hex::encode(id)
            },
            target,
            message,
            created: now,
            expires,
        };
        locks.push(lock.clone());
        let yaml = serde_norway::to_string(&locks).map_err(|e| Error::encode("locks", e))?;
        let event = AuditEvent::about("lock.create", &format!("{} {}", lock.id, lock.target));
        self.audited(&[event], || self.store().write(LOCKS_FILE, yaml.as_bytes()))?;
        Ok(lock)
    }

    /// Removes the lock `id` (expired ones go in the same write).
    pub(crate) fn remove_lock(&mut self, id: &str) -> Result<Lock> {
        let now = self.now();
        let mut locks = self.all_locks()?;
        let Some(at) = locks.iter().position(|l| l.id == id) else {
            return Err(Error::NotFound {
                what: "lock",
                name: crate::error::shorten(id),
            });
        };
        let lock = locks.remove(at);
        locks.retain(|l| l.in_force(now));
        let yaml = serde_norway::to_string(&locks).map_err(|e| Error::encode("locks", e))?;
        let event = AuditEvent::about("lock.delete", &format!("{} {}", lock.id, lock.target));
        self.audited(&[event], || self.store().write(LOCKS_FILE, yaml.as_bytes()))?;
        Ok(lock)
    }
}

//! One change to the state as one step: the audit record first, then the change, committed
//! together (a directory's lock, or one etcd transaction guarded by what was read); a failed
//! change takes its audit record back, and a conflict on etcd runs it again on the new state.

use super::{AUDIT_FILE, StateDir};
use crate::error::{Error, Result};
use crate::state::audit::AuditEvent;

impl StateDir {
    /// Records `events` in the audit log, then makes `change`, then commits the store; if the
    /// change fails, the records are taken back. So the log says only what happened, and a
    /// command that fails (a full disk, or [`Error::Conflict`] on etcd) changes nothing.
    pub(crate) fn audited<T, E: std::borrow::Borrow<AuditEvent>>(
        &self,
        events: impl IntoIterator<Item = E>,
        change: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match self.audited_uncommitted(events, change) {
            // A commit leaves nothing buffered, whether it applied or not.
            Ok(value) => self.store.commit().map(|()| value),
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        }
    }

    fn audited_uncommitted<T, E: std::borrow::Borrow<AuditEvent>>(
        &self,
        events: impl IntoIterator<Item = E>,
        change: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        // Every record of the change in one append: one write and one sync of the log, not one
        // per record (10,000 users added at once synced it 10,001 times).
        let (time, os_user) = (self.now(), crate::state::audit::os_user());
        let mut lines = Vec::new();
        // Rendered one at a time: a bulk change of 1,000,000 users never holds its events.
        for event in events {
            let mut event = event.borrow().clone();
            event.time = time;
            event.os_user = os_user.clone();
            event.command = self.command.clone();
            serde_json::to_writer(&mut lines, &event)
                .map_err(|e| Error::encode("audit record", e))?;
            lines.push(b'\n');
        }
        let mark = if lines.is_empty() {
            None
        } else {
            Some(self.store.append(AUDIT_FILE, &lines)?)
        };
        drop(lines);
        change().inspect_err(|_| self.take_back_audit(mark))
    }

    fn take_back_audit(&self, mark: Option<u64>) {
        if let Some(len) = mark {
            let _ = self.store.truncate(AUDIT_FILE, len);
        }
    }

    /// Runs `operation`, and runs it again (a few times, after a short random pause) while it
    /// fails with [`Error::Conflict`]: another rctl changed the shared state between its reads
    /// and its commit, and nothing of it was saved. An operation with a side effect before its
    /// commit (a password shown) must make it once only.
    pub fn retrying<T>(
        &mut self,
        mut operation: impl FnMut(&mut StateDir) -> Result<T>,
    ) -> Result<T> {
        const ATTEMPTS: u32 = 30;
        let mut attempt = 1;
        loop {
            match operation(self) {
                // The refused commit left nothing buffered: the rerun reads afresh.
                Err(Error::Conflict { .. }) if attempt < ATTEMPTS => {
                    let most = 2u64 << attempt.min(5);
                    let pause = {
                        use rand::RngExt;
                        rand::rng().random_range(1..=most)
                    };
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}

//! The host CA in the state: created, loaded (with due rotation phases applied), unlocked with
//! its passphrase, saved with the operation that changed it, encrypted or decrypted, rotated.

use super::{CA_FILE, Notice, StateDir, ca_file, default_cluster_name};
use crate::error::{CaKeyProblem, Error, Invalid, Result, StoreError};
use crate::pki::ca::{CaOptions, HostCa};
use crate::pki::rotation::Phase;
use crate::requests::RequestFor;
use crate::state::audit::AuditEvent;

impl StateDir {
    /// The registered servers whose certificate the active key did not sign (missing,
    /// unreadable, or signed by the outgoing key).
    fn servers_behind(&self, ca: &HostCa) -> Result<Vec<String>> {
        self.not_signed_by_active(ca, true)
    }

    /// The registered client outputs whose certificate, read in their format, is not signed
    /// by the active key.
    fn clients_behind(&self, ca: &HostCa) -> Result<Vec<String>> {
        self.not_signed_by_active(ca, false)
    }

    /// The servers (`servers`) or client outputs whose certificate the active key did not
    /// sign, as [`rotation_progress`](Self::rotation_progress) reads them: from their files
    /// where they are this host's, from the record of what was installed where they are
    /// another node's (which this host cannot read).
    fn not_signed_by_active(&self, ca: &HostCa, servers: bool) -> Result<Vec<String>> {
        let active = ca.active().pin();
        Ok(self
            .rotation_progress(ca)?
            .into_iter()
            .filter(|p| matches!(p.subject, RequestFor::Server(_)) == servers)
            .filter(|p| p.signed_by.as_deref() != Some(active.as_str()))
            .map(|p| p.subject.name().to_string())
            .collect())
    }

    /// [`load_ca`](Self::load_ca) with every key decrypted, for an operation that signs.
    pub(crate) fn load_ca_unlocked(&mut self) -> Result<(HostCa, Pending)> {
        let (mut ca, pending) = self.load_ca()?;
        if ca.is_locked() {
            ca.unlock(&self.passphrase()?)?;
        }
        Ok((ca, pending))
    }

    /// True when a host CA exists.
    pub(crate) fn has_ca(&self) -> Result<bool> {
        Ok(self.store.read(CA_FILE)?.is_some())
    }

    /// Creates the host CA; refuses if one exists.
    pub(crate) fn init_ca(&mut self, options: &CaOptions) -> Result<HostCa> {
        if self.has_ca()? {
            return Err(Error::CaExists(self.store.locate("")));
        }
        let ca = HostCa::generate(options, self.now())?;
        let mut events = vec![AuditEvent::about("ca.create", ca.cluster_name())];
        // On a shared state rctl's own account comes with the CA, sealed under its passphrase,
        // so that registering a server for another host later needs no passphrase.
        let admin = if self.store.requires_encrypted_keys() && !self.has_admin_account()? {
            events.push(AuditEvent::about(
                "user.create",
                crate::accounts::admin::ADMIN_ACCOUNT,
            ));
            self.admin_records(&crate::accounts::users::Password::generate())?
        } else {
            Vec::new()
        };
        self.audited(&events, || {
            for (name, data) in &admin {
                self.store.write(name, data)?;
            }
            self.save_ca(&ca)
        })?;
        Ok(ca)
    }

    /// The host CA, with any due phases of an automatic rotation applied (and saved). On an
    /// empty state, creates one with the defaults (cluster name = host name) and says so in a
    /// [`Notice`].
    pub(crate) fn host_ca(&mut self) -> Result<HostCa> {
        let (ca, pending) = self.load_ca()?;
        self.commit_ca(&ca, pending, false, Vec::new(), || Ok(()))?;
        Ok(ca)
    }

    /// The host CA as saved, no due phase applied.
    pub(crate) fn saved_ca(&self) -> Result<HostCa> {
        self.load(CA_FILE, ca_file::decode)?.ok_or_else(|| {
            Error::from(StoreError::NoCa {
                location: self.store.locate(CA_FILE).display().to_string(),
            })
        })
    }

    /// Loads the CA, or makes one in memory on an empty state, and applies due rotation
    /// phases in memory. Nothing is saved until [`commit_ca`](Self::commit_ca), so an operation
    /// that fails after loading leaves the state as it was.
    pub(crate) fn load_ca(&mut self) -> Result<(HostCa, Pending)> {
        let Some(mut ca) = self.load(CA_FILE, ca_file::decode)? else {
            let mut options = CaOptions::new(default_cluster_name());
            options.encrypt = self.store.requires_encrypted_keys();
            let ca = HostCa::generate(&options, self.now())?;
            return Ok((ca, Pending::Created));
        };
        let advanced = ca.advance_due(self.now())?;
        let pending = if advanced.is_empty() {
            Pending::Nothing
        } else {
            Pending::Advanced(advanced)
        };
        Ok((ca, pending))
    }

    /// Ends an operation on the CA: records what loading did (a CA created, phases applied)
    /// and the operation's own `events`, runs `place` (the operation's output, such as the
    /// certificate files), then saves the CA if loading changed it or `changed`. A failure in
    /// any step takes back the records: nothing is saved.
    pub(crate) fn commit_ca<T>(
        &mut self,
        ca: &HostCa,
        pending: Pending,
        changed: bool,
        events: Vec<AuditEvent>,
        place: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.commit_ca_with((ca, pending), changed, events, place, &[])
    }

    /// [`commit_ca`](Self::commit_ca) of the CA as loaded (with what loading did), saving
    /// `blobs` (name, content) in the same change once `place` has succeeded.
    pub(crate) fn commit_ca_with<T>(
        &mut self,
        (ca, pending): (&HostCa, Pending),
        changed: bool,
        events: Vec<AuditEvent>,
        place: impl FnOnce() -> Result<T>,
        blobs: &[(&str, &[u8])],
    ) -> Result<T> {
        let notice = match pending {
            Pending::Nothing => None,
            Pending::Created => Some(Notice::CreatedCa {
                cluster_name: ca.cluster_name().to_string(),
                location: self.store.locate(CA_FILE),
            }),
            Pending::Advanced(phases) => Some(Notice::RotationAdvanced(phases)),
        };
        let mut all = match &notice {
            Some(Notice::CreatedCa { cluster_name, .. }) => {
                vec![AuditEvent::about("ca.create", cluster_name)]
            }
            Some(Notice::RotationAdvanced(phases)) => phases
                .iter()
                .map(|p| AuditEvent::about("ca.rotate", p.name()))
                .collect(),
            _ => Vec::new(),
        };
        all.extend(events);
        let save = notice.is_some() || changed;
        if self.store.is_read_only()
            && !changed
            && let Some(Notice::RotationAdvanced(phases)) = notice
        {
            // Looking only: the due phases hold in memory for this command, and are saved by
            // the next command that may write.
            let placed = place()?;
            self.notices.push(Notice::RotationNotSaved(phases));
            return Ok(placed);
        }
        let placed = self.audited(&all, || {
            let placed = place()?;
            for (name, data) in blobs {
                self.store.write(name, data)?;
            }
            if save {
                self.save_ca(ca)?;
            }
            Ok(placed)
        })?;
        self.notices.extend(notice);
        Ok(placed)
    }

    /// The host CA if one exists, without creating one (for read-only commands).
    pub(crate) fn existing_host_ca(&mut self) -> Result<Option<HostCa>> {
        if self.has_ca()? {
            self.host_ca().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn save_ca(&self, ca: &HostCa) -> Result<()> {
        if self.store.requires_encrypted_keys() && !ca.is_encrypted() {
            return Err(Error::ClearKeyRefused {
                location: self.store.locate(""),
            });
        }
        let passphrase = if ca_file::needs_passphrase(ca) {
            Some(self.passphrase()?)
        } else {
            None
        };
        self.store.write(
            CA_FILE,
            ca_file::encode(ca, passphrase.as_ref())?.as_bytes(),
        )
    }

    /// Encrypts the host CA keys at rest with the passphrase (asked of the source). Refused
    /// when there is no CA or it is encrypted already.
    pub(crate) fn encrypt_ca(&mut self) -> Result<HostCa> {
        if !self.has_ca()? {
            return Err(Invalid::CaKey {
                problem: CaKeyProblem::NoneToEncrypt,
            }
            .into());
        }
        let (mut ca, pending) = self.load_ca()?;
        if ca.is_encrypted() {
            return Err(Invalid::CaKey {
                problem: CaKeyProblem::EncryptedAlready,
            }
            .into());
        }
        ca.set_encrypted(true)?;
        let event = AuditEvent::about("ca.encrypt", ca.cluster_name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Keeps the host CA keys in clear again (decrypted with the passphrase). Refused when
    /// there is no CA or it is not encrypted.
    pub(crate) fn decrypt_ca(&mut self) -> Result<HostCa> {
        if !self.has_ca()? {
            return Err(Invalid::CaKey {
                problem: CaKeyProblem::NoneToDecrypt,
            }
            .into());
        }
        let (mut ca, pending) = self.load_ca()?;
        if !ca.is_encrypted() {
            return Err(Invalid::CaKey {
                problem: CaKeyProblem::NotEncrypted,
            }
            .into());
        }
        ca.unlock(&self.passphrase()?)?;
        ca.set_encrypted(false)?;
        let event = AuditEvent::about("ca.decrypt", ca.cluster_name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Moves a manual rotation of the host CA to `phase`.
    pub(crate) fn rotate(&mut self, phase: Phase) -> Result<HostCa> {
        self.rotate_checked(phase, false)
    }

    /// [`rotate`](Self::rotate), refusing (unless `force`) to enter `standby` from
    /// `update_servers` while a registered server's certificate file is not signed by the new
    /// key: its sync in `update_servers` failed, and at `standby` the key that signed what it
    /// serves is no longer trusted anywhere. The same for a registered client output, from
    /// `update_clients` on: entering `update_servers` or `standby` while one still holds a
    /// certificate of the outgoing key is refused.
    pub(crate) fn rotate_checked(&mut self, phase: Phase, force: bool) -> Result<HostCa> {
        let (mut ca, pending) = self.load_ca()?;
        let from = ca.rotation().phase;
        let leaving_clients = matches!(
            (from, phase),
            (Phase::UpdateClients, Phase::UpdateServers) | (Phase::UpdateServers, Phase::Standby)
        );
        if leaving_clients && !force {
            let behind = self.clients_behind(&ca)?;
            if !behind.is_empty() {
                return Err(Error::ClientsNotRenewed { clients: behind });
            }
        }
        if (from, phase) == (Phase::Init, Phase::UpdateClients) && !force {
            let untrusting: Vec<String> = self
                .rotation_progress(&ca)?
                .into_iter()
                .filter(|p| matches!(p.subject, RequestFor::Server(_)) && !p.applied)
                .map(|p| p.subject.name().to_string())
                .collect();
            if !untrusting.is_empty() {
                return Err(Error::ServersNotTrusting {
                    servers: untrusting,
                });
            }
        }
        if phase == Phase::Standby && from == Phase::UpdateServers && !force {
            let behind = self.servers_behind(&ca)?;
            if !behind.is_empty() {
                return Err(Error::ServersNotRenewed { servers: behind });
            }
        }
        ca.rotate(phase, self.now())?;
        let event = AuditEvent::about("ca.rotate", phase.name());
        self.commit_ca(&ca, pending, true, vec![event], || Ok(()))?;
        Ok(ca)
    }

    /// Starts an automatic rotation of the host CA.
    pub(crate) fn start_auto_rotation(
        &mut self,
        grace_period: std::time::Duration,
    ) -> Result<HostCa> {
        let (mut ca, pending) = self.load_ca()?;
        let entered = ca.start_auto_rotation(grace_period, self.now())?;
        let events = entered
            .iter()
            .map(|p| AuditEvent::about("ca.rotate", p.name()))
            .collect();
        self.commit_ca(&ca, pending, true, events, || Ok(()))?;
        self.notices.push(Notice::RotationAdvanced(entered));
        Ok(ca)
    }
}

/// What loading the CA changed in memory, to be saved with the operation's result.
pub(crate) enum Pending {
    Nothing,
    Created,
    Advanced(Vec<Phase>),
}

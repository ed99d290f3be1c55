//! What entering each rotation phase does to the host CA's keyring, beside the rule that allows
//! it ([`Phase::check_transition`]) and the schedule that makes it due ([`Rotation::due_phase`]).

use time::OffsetDateTime;

use super::{Mode, Phase, Rotation};
use crate::error::{Error, Result};
use crate::pki::ca::{CaKey, CaOptions, HostCa, lifetime};

/// What an [`HostCa::advance_due`] call moved through.
pub type Advanced = Vec<Phase>;

impl HostCa {
    /// Moves a manual rotation one phase (Teleport's `tctl auth rotate --manual --phase`).
    pub fn rotate(&mut self, to: Phase, now: OffsetDateTime) -> Result<()> {
        let from = self.rotation.phase;
        from.check_transition(to)?;
        if to == Phase::Init {
            self.rotation = Rotation {
                phase: Phase::Init,
                mode: Mode::Manual,
                started: Some(now),
                grace_period_secs: None,
                last_rotated: self.rotation.last_rotated,
            };
        }
        self.apply(to, now)
    }

    /// Starts an automatic rotation whose phases advance over `grace_period` as
    /// [`advance_due`](Self::advance_due) is called. A zero grace period completes it at once:
    /// the new key signs and the old one is no longer trusted.
    pub fn start_auto_rotation(
        &mut self,
        grace_period: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Advanced> {
        if grace_period.subsec_nanos() != 0 {
            return Err(Error::InvalidDuration {
                input: crate::duration::format_std(grace_period),
                reason: "a grace period counts whole seconds (999ms would rotate at once)"
                    .to_string(),
            });
        }
        if grace_period.as_secs() > Rotation::MAX_GRACE_PERIOD_SECS {
            return Err(Error::InvalidDuration {
                input: crate::duration::format_std(grace_period),
                reason: "a grace period is at most 10 years".to_string(),
            });
        }
        self.rotation.phase.check_transition(Phase::Init)?;
        self.rotation = Rotation {
            phase: Phase::Init,
            mode: Mode::Auto,
            started: Some(now),
            grace_period_secs: Some(grace_period.as_secs()),
            last_rotated: self.rotation.last_rotated,
        };
        self.apply(Phase::Init, now)?;
        let mut advanced = vec![Phase::Init];
        advanced.extend(self.advance_due(now)?);
        Ok(advanced)
    }

    /// Applies the phases of an automatic rotation that are due at `now`, in order, and returns
    /// the phases entered. Nothing for a manual rotation.
    pub fn advance_due(&mut self, now: OffsetDateTime) -> Result<Advanced> {
        let mut entered = Vec::new();
        while let Some(due) = self.rotation.due_phase(now) {
            if due == self.rotation.phase {
                break;
            }
            let next = match self.rotation.phase {
                // Auto mode never rolls back by itself; a rollback switches to manual.
                Phase::Standby | Phase::Rollback => break,
                phase => phase.forward(),
            };
            self.apply(next, now)?;
            entered.push(next);
        }
        Ok(entered)
    }

    /// What a phase does to the keys. The transition has been checked.
    fn apply(&mut self, to: Phase, now: OffsetDateTime) -> Result<()> {
        let from = self.rotation.phase;
        match to {
            Phase::Init => {
                let options = CaOptions {
                    cluster_name: self.cluster_name.clone(),
                    algorithm: self.active.algorithm(),
                    // The new key gets as long a life as the current one was given.
                    ttl: lifetime(&self.active)?,
                    encrypt: self.encrypted,
                };
                self.additional.push(CaKey::generate(&options, now)?);
            }
            Phase::UpdateClients => self.swap()?,
            Phase::UpdateServers => {}
            Phase::Rollback => {
                if from != Phase::Init {
                    self.swap()?;
                }
                self.rotation.mode = Mode::Manual;
            }
            Phase::Standby => {
                self.additional.clear();
                if from == Phase::UpdateServers {
                    self.rotation.last_rotated = Some(now);
                }
                self.rotation.started = None;
                self.rotation.grace_period_secs = None;
                self.rotation.mode = Mode::Manual;
            }
        }
        self.rotation.phase = to;
        Ok(())
    }

    fn swap(&mut self) -> Result<()> {
        let Some(other) = self.additional.pop() else {
            return Err(Error::RotationWithoutSecondKey);
        };
        let old = std::mem::replace(&mut self.active, other);
        self.additional.insert(0, old);
        Ok(())
    }
}

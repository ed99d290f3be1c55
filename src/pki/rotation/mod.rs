//! CA rotation as Teleport's `lib/auth/rotate.go` runs it. Read in order:
//!
//! 1. here, the phases: the allowed transitions, what each phase asks of the operator
//!    ([`Duty`]), and the schedule of an automatic rotation;
//! 2. [`moves`]: what entering each phase does to the keyring
//!    ([`HostCa::rotate`](crate::pki::ca::HostCa::rotate), [`HostCa::advance_due`](crate::pki::ca::HostCa::advance_due));
//! 3. `tests`: the transition table against Teleport's, and the keys each phase trusts.

mod moves;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::duration::format_std;
use crate::error::{Error, Invalid, Result};

/// A rotation phase.
///
/// ```
/// use rctl::Phase;
/// assert_eq!(Phase::Standby.allowed_next(), [Phase::Init]);
/// let err = Phase::Init.check_transition(Phase::Standby).unwrap_err();
/// assert!(err.to_string().contains("allowed next: update_clients, rollback"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// No rotation in progress; one key is trusted.
    Standby,
    /// A new key exists and is trusted; the old key still signs.
    Init,
    /// The new key signs; the old one is still trusted. Re-issue client certificates now.
    UpdateClients,
    /// Re-issue server certificates now; both keys are still trusted.
    UpdateServers,
    /// The old key signs again; the new one is still trusted until `standby`.
    Rollback,
}

impl Phase {
    /// Every phase, in the order of a rotation.
    pub const ALL: [Phase; 5] = [
        Phase::Standby,
        Phase::Init,
        Phase::UpdateClients,
        Phase::UpdateServers,
        Phase::Rollback,
    ];

    /// The name used on the command line and in the state file.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Standby => "standby",
            Phase::Init => "init",
            Phase::UpdateClients => "update_clients",
            Phase::UpdateServers => "update_servers",
            Phase::Rollback => "rollback",
        }
    }

    /// The phases a CA in `self` may move to.
    pub fn allowed_next(self) -> &'static [Phase] {
        match self {
            Phase::Standby => &[Phase::Init],
            Phase::Init => &[Phase::UpdateClients, Phase::Rollback],
            Phase::UpdateClients => &[Phase::UpdateServers, Phase::Rollback],
            Phase::UpdateServers => &[Phase::Standby, Phase::Rollback],
            Phase::Rollback => &[Phase::Standby],
        }
    }

    /// The phase a rotation going forward moves to next: `standby` → `init` → `update_clients`
    /// → `update_servers` → `standby`; a `rollback` ends at `standby`.
    ///
    /// ```
    /// use rctl::Phase;
    /// assert_eq!(Phase::UpdateServers.forward(), Phase::Standby);
    /// assert_eq!(Phase::Rollback.forward(), Phase::Standby);
    /// ```
    pub fn forward(self) -> Phase {
        match self {
            Phase::Standby => Phase::Init,
            Phase::Init => Phase::UpdateClients,
            Phase::UpdateClients => Phase::UpdateServers,
            Phase::UpdateServers | Phase::Rollback => Phase::Standby,
        }
    }

    /// What the operator must do while the host CA is in this phase, before it moves on: the
    /// work Teleport's auth server does for its own agents, which rctl leaves to the operator
    /// of each Redis server and client (and `redis sync` does for registered servers).
    pub fn duty(self) -> Duty {
        match self {
            Phase::Init => Duty::TrustNewKey,
            Phase::UpdateClients => Duty::ReissueClients,
            Phase::UpdateServers => Duty::ReissueServers,
            Phase::Rollback => Duty::ReissueSinceUpdateClients,
            Phase::Standby => Duty::DropOldKey,
        }
    }

    /// Refuses a transition the state machine does not allow, naming the allowed ones.
    pub fn check_transition(self, to: Phase) -> Result<()> {
        if self.allowed_next().contains(&to) {
            return Ok(());
        }
        Err(Error::InvalidRotation {
            from: self.name(),
            to: to.name(),
            allowed: self.allowed_next().iter().map(|p| p.name()).collect(),
        })
    }
}

/// What a rotation phase asks of the operator before the rotation moves on ([`Phase::duty`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Duty {
    /// `init`: the new key is trusted but does not sign yet. Every trust bundle (each server's
    /// CA file, reloaded, and each client's) must take it before a certificate it signs is used.
    TrustNewKey,
    /// `update_clients`: the new key signs and both are trusted: issue every client certificate
    /// again.
    ReissueClients,
    /// `update_servers`: issue every server certificate again and reload it on each server.
    ReissueServers,
    /// `rollback`: the old key signs again and both are trusted until `standby`: issue again
    /// every certificate signed since `update_clients`, and reload the servers' certificates.
    ReissueSinceUpdateClients,
    /// `standby`: one key is trusted. Every trust bundle must drop the other; until then
    /// servers still accept certificates the dropped key signed.
    DropOldKey,
}

impl Duty {
    /// The duty in a few words.
    pub fn summary(self) -> &'static str {
        match self {
            Duty::TrustNewKey | Duty::DropOldKey => "refresh every trust bundle",
            Duty::ReissueClients => "re-issue every client certificate",
            Duty::ReissueServers => "re-issue and reload every server certificate",
            Duty::ReissueSinceUpdateClients => "re-issue every certificate the new key signed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Phase {
    type Err = Error;

    fn from_str(s: &str) -> Result<Phase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                Invalid::malformed(
                    "rotation phase",
                    s,
                    "one of: init, update_clients, update_servers, standby, rollback",
                )
            })
    }
}

/// Who drives the phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// An operator moves each phase with `rctl auth rotate --manual --phase=...`.
    #[default]
    Manual,
    /// Phases advance on a schedule over the grace period.
    Auto,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
        })
    }
}

/// Teleport's default grace period for an automatic rotation.
pub const DEFAULT_GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(30 * 3600);

/// The rotation record of a CA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Current phase (`standby` when no rotation runs).
    pub phase: Phase,
    /// Manual or automatic.
    pub mode: Mode,
    /// When the current rotation started.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    /// Grace period of an automatic rotation, in seconds.
    #[serde(default)]
    pub grace_period_secs: Option<u64>,
    /// When the last rotation completed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_rotated: Option<OffsetDateTime>,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            phase: Phase::Standby,
            mode: Mode::Manual,
            started: None,
            grace_period_secs: None,
            last_rotated: None,
        }
    }
}

impl Rotation {
    /// True while a rotation runs (any phase but `standby`).
    pub fn in_progress(&self) -> bool {
        self.phase != Phase::Standby
    }

    /// The grace period of an automatic rotation.
    pub fn grace_period(&self) -> Option<std::time::Duration> {
        self.grace_period_secs.map(std::time::Duration::from_secs)
    }

    /// When an automatic rotation reaches `standby`.
    pub fn scheduled_end(&self) -> Option<OffsetDateTime> {
        self.started?
            .checked_add(time::Duration::try_from(self.grace_period()?).ok()?)
    }

    /// The longest grace period an automatic rotation may have: 10 years.
    pub const MAX_GRACE_PERIOD_SECS: u64 = 10 * 366 * 24 * 3600;

    /// Checks a rotation record read from the state (it could have been edited by hand): an
    /// automatic rotation has a start and a grace period within bounds.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if let Some(g) = self.grace_period_secs
            && g > Self::MAX_GRACE_PERIOD_SECS
        {
            return Err(format!("grace_period_secs {g} is over 10 years"));
        }
        if self.mode == Mode::Auto && self.in_progress() {
            if self.started.is_none() || self.grace_period_secs.is_none() {
                return Err("an automatic rotation without started or grace_period_secs".into());
            }
            if self.scheduled_end().is_none() {
                return Err("the automatic rotation's end is out of range".into());
            }
        }
        Ok(())
    }

    /// For an automatic rotation, the phase that is due at `now`: `init` until a third of the
    /// grace period, `update_clients` until two thirds, `update_servers` until the end, then
    /// `standby`. `None` for a manual rotation or none at all.
    pub fn due_phase(&self, now: OffsetDateTime) -> Option<Phase> {
        if self.mode != Mode::Auto || !self.in_progress() {
            return None;
        }
        let (started, grace) = (self.started?, self.grace_period()?);
        // Whole seconds, in i128: no value in a record can overflow (a start in the future
        // counts as just started).
        let elapsed = i128::from((now - started).whole_seconds().max(0));
        let grace = i128::from(grace.as_secs());
        Some(if elapsed >= grace {
            Phase::Standby
        } else if elapsed * 3 >= grace * 2 {
            Phase::UpdateServers
        } else if elapsed * 3 >= grace {
            Phase::UpdateClients
        } else {
            Phase::Init
        })
    }

    /// For an automatic rotation in progress, the phase it enters next and when: the first
    /// instant [`due_phase`](Self::due_phase) returns it. `None` for a manual rotation or none.
    pub fn next_due(&self) -> Option<(Phase, OffsetDateTime)> {
        if self.mode != Mode::Auto || !self.in_progress() {
            return None;
        }
        let (started, grace) = (self.started?, self.grace_period_secs?);
        // The first whole second at which `elapsed * 3 >= grace * thirds` holds.
        let thirds = match self.phase {
            Phase::Init => 1,
            Phase::UpdateClients => 2,
            Phase::UpdateServers => 3,
            Phase::Standby | Phase::Rollback => return None,
        };
        let secs = (grace * thirds).div_ceil(3);
        let at = started.checked_add(time::Duration::seconds(i64::try_from(secs).ok()?))?;
        Some((self.phase.forward(), at))
    }

    /// A one-line description: `never rotated`, `rotated <date>`, or the phase in progress.
    pub fn describe(&self) -> String {
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        if self.in_progress() {
            let mut s = format!(
                "rotation in progress: phase {}, mode {}",
                self.phase, self.mode
            );
            if let Some(started) = self.started {
                s.push_str(&format!(", started {}", fmt(started)));
            }
            if let (Some(end), Some(grace)) = (self.scheduled_end(), self.grace_period()) {
                s.push_str(&format!(
                    ", ends {} (grace period {})",
                    fmt(end),
                    format_std(grace)
                ));
            }
            s
        } else if let Some(t) = self.last_rotated {
            format!("rotated {}", fmt(t))
        } else {
            "never rotated".to_string()
        }
    }
}

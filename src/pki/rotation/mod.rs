//! CA rotation as Teleport's `lib/auth/rotate.go` runs it: phases, allowed transitions, and the
//! schedule of an automatic rotation.
//!
//! This module holds the state machine only; what each phase does to the keys is in
//! [`HostCa::rotate`](crate::HostCa::rotate).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::duration::format_std;
use crate::error::{Error, Result, shorten};
use crate::pki::ca::{CaKey, CaOptions, HostCa, lifetime};

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

    /// The work of this phase in a few words (the whole of it is [`duty`](Self::duty)).
    pub fn work(self) -> &'static str {
        match self {
            Phase::Init | Phase::Standby => "refresh every trust bundle (`rctl auth export`)",
            Phase::UpdateClients => "re-issue every client certificate",
            Phase::UpdateServers => "re-issue and reload every server certificate",
            Phase::Rollback => "re-issue every certificate the new key signed",
        }
    }

    /// What the operator must do while the host CA is in this phase, before it moves on: the
    /// work Teleport's auth server does for its own agents, which rctl leaves to the operator
    /// of each Redis server and client.
    pub fn duty(self) -> &'static str {
        match self {
            Phase::Init => {
                "the new key is trusted but does not sign yet: refresh every trust bundle now \
                 (`rctl auth export` into each Redis server's tls-ca-cert-file, reloaded with \
                 CONFIG SET tls-ca-cert-file, and into each client's CA file), so that \
                 certificates the new key signs are accepted everywhere"
            }
            Phase::UpdateClients => {
                "the new key signs; both keys are trusted: re-issue every client certificate \
                 (`rctl auth sign --user=USER --db-user=ACCOUNT --out=PREFIX --overwrite`)"
            }
            Phase::UpdateServers => {
                "re-issue every Redis server certificate (`rctl auth sign --format=redis \
                 --host=HOSTS --out=PREFIX --overwrite`) and reload it on each server \
                 (CONFIG SET tls-cert-file PREFIX.crt tls-key-file PREFIX.key)"
            }
            Phase::Rollback => {
                "the old key signs again; both keys are trusted until standby: re-issue every \
                 certificate signed since update_clients and reload the servers' certificates"
            }
            Phase::Standby => {
                "one key is trusted: refresh every trust bundle (`rctl auth export` into each \
                 server's tls-ca-cert-file, reloaded with CONFIG SET tls-ca-cert-file, and into \
                 each client's CA file); until then servers still accept certificates signed by \
                 the dropped key"
            }
        }
    }

    /// Refuses a transition the state machine does not allow, naming the allowed ones.
    pub fn check_transition(self, to: Phase) -> Result<()> {
        if self.allowed_next().contains(&to) {
            return Ok(());
        }
        let next: Vec<&str> = self.allowed_next().iter().map(|p| p.name()).collect();
        Err(Error::InvalidRotation(format!(
            "cannot move the host CA rotation from phase {} to {}; allowed next: {}",
            self.name(),
            to.name(),
            next.join(", ")
        )))
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
        Phase::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "invalid rotation phase {:?}; one of: init, update_clients, update_servers, standby, rollback",
                shorten(s)
            ))
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

#[cfg(test)]
mod key_move_tests {
    use super::*;
    use crate::pki::ca::tests::{ca, now, pins};

    #[test]
    fn which_key_signs_and_which_are_trusted_in_each_phase() {
        let mut ca = ca();
        let old = ca.active().pin();
        ca.rotate(Phase::Init, now()).unwrap();
        let new = pins(&ca)[1].clone();
        assert_ne!(old, new);
        assert_eq!(
            pins(&ca),
            [old.clone(), new.clone()],
            "init: old signs, both trusted"
        );
        ca.rotate(Phase::UpdateClients, now()).unwrap();
        assert_eq!(
            pins(&ca),
            [new.clone(), old.clone()],
            "update_clients: new signs"
        );
        ca.rotate(Phase::UpdateServers, now()).unwrap();
        assert_eq!(
            pins(&ca),
            [new.clone(), old.clone()],
            "update_servers: unchanged"
        );
        ca.rotate(Phase::Standby, now()).unwrap();
        assert_eq!(pins(&ca), [new], "standby: old dropped");
        assert_eq!(ca.rotation().last_rotated, Some(now()));
        assert!(ca.trusted_pem().matches("BEGIN CERTIFICATE").count() == 1);
    }

    #[test]
    fn rollback_from_each_phase_restores_the_old_key() {
        for steps in [1, 2, 3] {
            let mut ca = ca();
            let old = ca.active().pin();
            let path = [Phase::Init, Phase::UpdateClients, Phase::UpdateServers];
            for p in &path[..steps] {
                ca.rotate(*p, now()).unwrap();
            }
            ca.rotate(Phase::Rollback, now()).unwrap();
            assert_eq!(
                ca.active().pin(),
                old,
                "rollback after {steps} step(s): old key signs"
            );
            assert_eq!(ca.trusted().count(), 2, "both trusted until standby");
            ca.rotate(Phase::Standby, now()).unwrap();
            assert_eq!(pins(&ca), [old.as_str()]);
            assert_eq!(
                ca.rotation().last_rotated,
                None,
                "an abandoned rotation is not a rotation"
            );
        }
    }

    #[test]
    fn refused_transition_changes_nothing() {
        let mut ca = ca();
        let before = crate::state::ca_file::encode(&ca, None).unwrap();
        assert!(ca.rotate(Phase::UpdateClients, now()).is_err());
        assert!(ca.rotate(Phase::Standby, now()).is_err());
        assert_eq!(crate::state::ca_file::encode(&ca, None).unwrap(), before);
    }

    #[test]
    fn auto_rotation_advances_with_the_clock() {
        let mut ca = ca();
        let old = ca.active().pin();
        let grace = std::time::Duration::from_secs(30 * 3600);
        assert_eq!(ca.start_auto_rotation(grace, now()).unwrap(), [Phase::Init]);
        assert_eq!(ca.active().pin(), old);
        let later = |h| now() + time::Duration::hours(h);
        assert!(ca.advance_due(later(9)).unwrap().is_empty());
        assert_eq!(ca.advance_due(later(10)).unwrap(), [Phase::UpdateClients]);
        assert_ne!(ca.active().pin(), old);
        assert_eq!(
            ca.advance_due(later(31)).unwrap(),
            [Phase::UpdateServers, Phase::Standby]
        );
        assert_eq!(ca.trusted().count(), 1);
        assert_eq!(ca.rotation().mode, Mode::Manual);
        assert!(ca.rotation().last_rotated.is_some());
    }

    #[test]
    fn zero_grace_period_swaps_at_once() {
        let mut ca = ca();
        let old = ca.active().pin();
        let entered = ca
            .start_auto_rotation(std::time::Duration::ZERO, now())
            .unwrap();
        assert_eq!(
            entered,
            [
                Phase::Init,
                Phase::UpdateClients,
                Phase::UpdateServers,
                Phase::Standby
            ]
        );
        assert_eq!(ca.trusted().count(), 1);
        assert_ne!(ca.active().pin(), old);
    }

    #[test]
    fn rollback_of_an_auto_rotation_stops_the_schedule() {
        let mut ca = ca();
        ca.start_auto_rotation(std::time::Duration::from_secs(3600), now())
            .unwrap();
        ca.rotate(Phase::Rollback, now()).unwrap();
        assert_eq!(ca.rotation().mode, Mode::Manual);
        assert!(
            ca.advance_due(now() + time::Duration::hours(5))
                .unwrap()
                .is_empty()
        );
        assert_eq!(ca.rotation().phase, Phase::Rollback);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table_matches_teleport() {
        let allowed = [
            (Phase::Standby, Phase::Init),
            (Phase::Init, Phase::UpdateClients),
            (Phase::Init, Phase::Rollback),
            (Phase::UpdateClients, Phase::UpdateServers),
            (Phase::UpdateClients, Phase::Rollback),
            (Phase::UpdateServers, Phase::Standby),
            (Phase::UpdateServers, Phase::Rollback),
            (Phase::Rollback, Phase::Standby),
        ];
        for from in Phase::ALL {
            for to in Phase::ALL {
                let ok = from.check_transition(to).is_ok();
                assert_eq!(ok, allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn refusal_names_current_and_allowed_phases() {
        let err = Phase::Init
            .check_transition(Phase::Standby)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot move the host CA rotation from phase init to standby; allowed next: update_clients, rollback"
        );
    }

    #[test]
    fn phase_names_parse() {
        for p in Phase::ALL {
            assert_eq!(p.name().parse::<Phase>().unwrap(), p);
        }
        assert!("Init".parse::<Phase>().is_err());
        assert!("update-clients".parse::<Phase>().is_err());
    }

    #[test]
    fn auto_schedule_follows_thirds_of_the_grace_period() {
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let r = Rotation {
            phase: Phase::Init,
            mode: Mode::Auto,
            started: Some(start),
            grace_period_secs: Some(30 * 3600),
            last_rotated: None,
        };
        let at = |h: i64, m: i64| {
            r.due_phase(start + time::Duration::hours(h) + time::Duration::minutes(m))
        };
        assert_eq!(at(0, 0), Some(Phase::Init));
        assert_eq!(at(9, 59), Some(Phase::Init));
        assert_eq!(at(10, 0), Some(Phase::UpdateClients));
        assert_eq!(at(19, 59), Some(Phase::UpdateClients));
        assert_eq!(at(20, 0), Some(Phase::UpdateServers));
        assert_eq!(at(29, 59), Some(Phase::UpdateServers));
        assert_eq!(at(30, 0), Some(Phase::Standby));
        let manual = Rotation {
            mode: Mode::Manual,
            ..r.clone()
        };
        assert_eq!(manual.due_phase(start + time::Duration::hours(40)), None);
    }

    #[test]
    fn next_due_is_the_first_second_the_schedule_moves() {
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        // A grace period that does not divide by three: the boundaries round up.
        let grace = 100;
        for phase in [Phase::Init, Phase::UpdateClients, Phase::UpdateServers] {
            let r = Rotation {
                phase,
                mode: Mode::Auto,
                started: Some(start),
                grace_period_secs: Some(grace),
                last_rotated: None,
            };
            let (next, at) = r.next_due().unwrap();
            assert_eq!(next, phase.forward());
            let before = at - time::Duration::seconds(1);
            assert_eq!(r.due_phase(at), Some(next), "{phase}: due at {at}");
            assert_ne!(r.due_phase(before), Some(next), "{phase}: not due before");
        }
        let manual = Rotation {
            phase: Phase::Init,
            started: Some(start),
            ..Rotation::default()
        };
        assert_eq!(manual.next_due(), None);
        assert_eq!(Rotation::default().next_due(), None);
    }

    #[test]
    fn a_forward_walk_visits_every_phase_but_rollback_once() {
        let mut seen = vec![Phase::Standby];
        let mut p = Phase::Standby.forward();
        while p != Phase::Standby {
            let prev = *seen.last().unwrap();
            assert!(prev.check_transition(p).is_ok(), "{prev} -> {p}");
            seen.push(p);
            p = p.forward();
        }
        let last = *seen.last().unwrap();
        assert!(last.check_transition(Phase::Standby).is_ok());
        assert_eq!(
            seen,
            [
                Phase::Standby,
                Phase::Init,
                Phase::UpdateClients,
                Phase::UpdateServers
            ]
        );
        assert!(
            Phase::Rollback
                .check_transition(Phase::Rollback.forward())
                .is_ok()
        );
    }

    #[test]
    fn describe_says_never_rotated_first() {
        assert_eq!(Rotation::default().describe(), "never rotated");
    }
}

/// What an [`HostCa::advance_due`] call moved through.
pub type Advanced = Vec<Phase>;

/// The key moves of each phase, beside the phases and the schedule that decide them (as
/// Teleport's `lib/auth/rotate.go` keeps them together).
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
                input: crate::format_std(grace_period),
                reason: "a grace period counts whole seconds (999ms would rotate at once)"
                    .to_string(),
            });
        }
        if grace_period.as_secs() > Rotation::MAX_GRACE_PERIOD_SECS {
            return Err(Error::InvalidDuration {
                input: crate::format_std(grace_period),
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
            return Err(Error::InvalidRotation(
                "the rotation has no second key to swap to; roll back and start again".to_string(),
            ));
        };
        let old = std::mem::replace(&mut self.active, other);
        self.additional.insert(0, old);
        Ok(())
    }
}

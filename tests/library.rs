//! The library used as a crate: scheduled rotation with an injected clock.

use rctl::{Notice, Phase, StateDir};
use time::OffsetDateTime;
use time::macros::datetime;

fn t0() -> OffsetDateTime {
    datetime!(2026-03-01 00:00 UTC)
}
fn t0_plus_11h() -> OffsetDateTime {
    datetime!(2026-03-01 11:00 UTC)
}
fn t0_plus_31h() -> OffsetDateTime {
    datetime!(2026-03-02 07:00 UTC)
}

#[test]
fn every_open_applies_due_phases_of_an_auto_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let old_pin;
    {
        let mut state = StateDir::open(&path).unwrap().with_clock(t0);
        old_pin = state.ca().get().unwrap().active().pin();
        state
            .ca()
            .start_auto_rotation(std::time::Duration::from_secs(30 * 3600))
            .unwrap();
    }
    {
        let mut state = StateDir::open(&path).unwrap().with_clock(t0_plus_11h);
        let ca = state.ca().get().unwrap();
        assert_eq!(ca.rotation().phase, Phase::UpdateClients);
        assert_ne!(ca.active().pin(), old_pin);
        assert_eq!(ca.trusted().count(), 2);
        assert_eq!(
            state.take_notices(),
            [Notice::RotationAdvanced(vec![Phase::UpdateClients])]
        );
    }
    {
        // Saved: the next open at the same time has nothing to advance.
        let mut state = StateDir::open(&path).unwrap().with_clock(t0_plus_11h);
        state.ca().get().unwrap();
        assert!(state.take_notices().is_empty());
    }
    let mut state = StateDir::open(&path).unwrap().with_clock(t0_plus_31h);
    let ca = state.ca().get().unwrap();
    assert_eq!(ca.rotation().phase, Phase::Standby);
    assert_eq!(ca.trusted().count(), 1);
    assert_eq!(ca.rotation().last_rotated, Some(t0_plus_31h()));
    assert_eq!(
        state.take_notices(),
        [Notice::RotationAdvanced(vec![
            Phase::UpdateServers,
            Phase::Standby
        ])]
    );
}

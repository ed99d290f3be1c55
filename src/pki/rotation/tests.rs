//! The rotation's tests: the key moves of each phase, then the state machine and its schedule.

mod key_moves {
    use super::super::*;
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

mod phases {
    use super::super::*;

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

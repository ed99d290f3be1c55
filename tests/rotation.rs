//! Host CA rotation, walked with the rctl binary against a live redis-server: at no step is a
//! correctly re-issued client or server refused.

use crate::util::{Creds, RedisServer, TestDir};

struct Walk {
    dir: TestDir,
    redis: Option<RedisServer>,
    /// The clients' trust bundle, refreshed with `auth export` as Teleport clients refresh theirs.
    trust: std::path::PathBuf,
}

impl Walk {
    fn new() -> Walk {
        let dir = TestDir::new();
        dir.rctl(&["auth", "init", "--cluster-name=rot"]).ok();
        let trust = dir.join("trust.pem");
        let mut walk = Walk {
            dir,
            redis: None,
            trust,
        };
        walk.refresh_trust();
        walk.reissue_server();
        walk.issue_client("c0");
        walk
    }

    fn rotate(&self, phase: &str) {
        let out = self
            .dir
            .rctl(&[
                "auth",
                "rotate",
                "--type=host",
                "--manual",
                &format!("--phase={phase}"),
            ])
            .ok();
        assert!(
            out.contains(&format!("phase {phase}")) || phase == "standby",
            "{out}"
        );
    }

    fn refresh_trust(&self) {
        let pem = self.dir.rctl(&["auth", "export", "--type=host"]).ok();
        std::fs::write(&self.trust, pem).unwrap();
    }

    /// Re-issues the server bundle and restarts redis-server with it.
    fn reissue_server(&mut self) {
        self.redis = None;
        self.dir
            .rctl(&[
                "auth",
                "sign",
                "--host=127.0.0.1,localhost",
                "--out=server",
                "--overwrite",
            ])
            .ok();
        self.redis = Some(RedisServer::start(
            &Creds::new(self.dir.join("server")),
            None,
        ));
    }

    fn issue_client(&self, name: &str) {
        self.dir
            .rctl(&[
                "auth",
                "sign",
                "--host=client.local",
                &format!("--out={name}"),
            ])
            .ok();
    }

    fn pongs(&self, client: &str) -> bool {
        let redis = self.redis.as_ref().unwrap();
        redis.pongs(&self.trust, Some(&Creds::new(self.dir.join(client))))
    }

    fn assert_pong(&self, clients: &[&str], step: &str) {
        for c in clients {
            assert!(
                self.pongs(c),
                "{step}: client {c} refused\n{}",
                self.redis.as_ref().unwrap().log()
            );
        }
    }

    fn pins(&self) -> Vec<String> {
        let status = self.dir.rctl(&["status"]).ok();
        status
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("sha256:")
                    .map(|p| p[..64].to_string())
            })
            .collect()
    }

    fn exported_count(&self) -> usize {
        self.dir
            .rctl(&["auth", "export"])
            .ok()
            .matches("BEGIN CERTIFICATE")
            .count()
    }
}

#[test]
fn full_manual_rotation_never_refuses_a_reissued_client_or_server() {
    let mut w = Walk::new();
    let old_pin = w.pins()[0].clone();
    w.assert_pong(&["c0"], "standby");

    w.rotate("init");
    assert_eq!(w.exported_count(), 2);
    assert_eq!(w.pins()[0], old_pin, "init: the old key still signs");
    w.refresh_trust();
    w.reissue_server();
    w.assert_pong(&["c0"], "init");

    w.rotate("update_clients");
    let new_pin = w.pins()[0].clone();
    assert_ne!(new_pin, old_pin, "update_clients: the new key signs");
    w.issue_client("c1");
    w.assert_pong(&["c0", "c1"], "update_clients");

    w.rotate("update_servers");
    w.reissue_server();
    w.assert_pong(&["c0", "c1"], "update_servers");
    let status = w.dir.rctl(&["status"]).ok();
    assert!(
        status.contains("rotation in progress: phase update_servers, mode manual, started "),
        "{status}"
    );

    w.rotate("standby");
    assert_eq!(w.pins(), [new_pin]);
    assert_eq!(w.exported_count(), 1);
    assert!(w.dir.rctl(&["status"]).ok().contains("rotated 20"));
    w.refresh_trust();
    w.reissue_server();
    w.assert_pong(&["c1"], "standby");
    assert!(
        !w.pongs("c0"),
        "after standby the old client certificate must be refused"
    );
    w.issue_client("c2");
    w.assert_pong(&["c1", "c2"], "standby");
}

#[test]
fn rollback_from_each_phase_restores_the_old_ca() {
    for depth in 1..=3 {
        let mut w = Walk::new();
        let old_pin = w.pins()[0].clone();
        let phases = ["init", "update_clients", "update_servers"];
        let mut clients = vec!["c0"];
        for phase in &phases[..depth] {
            w.rotate(phase);
            match *phase {
                "init" => {
                    w.refresh_trust();
                    w.reissue_server();
                }
                "update_clients" => {
                    w.issue_client("c1");
                    clients.push("c1");
                }
                _ => w.reissue_server(),
            }
            w.assert_pong(&clients, phase);
        }
        w.rotate("rollback");
        assert_eq!(
            w.pins()[0],
            old_pin,
            "rollback after {depth} phase(s): the old key signs"
        );
        assert_eq!(w.exported_count(), 2, "both keys trusted until standby");
        w.reissue_server();
        w.assert_pong(&clients, "rollback");

        w.rotate("standby");
        assert_eq!(w.pins(), [old_pin.as_str()]);
        assert!(
            w.dir.rctl(&["status"]).ok().contains("never rotated"),
            "a rollback is not a rotation"
        );
        w.refresh_trust();
        w.reissue_server();
        w.assert_pong(&["c0"], "standby after rollback");
        w.issue_client("c3");
        w.assert_pong(&["c0", "c3"], "standby after rollback");
        if depth >= 2 {
            assert!(
                !w.pongs("c1"),
                "a client signed by the abandoned key must be refused"
            );
        }
    }
}

#[test]
fn invalid_transitions_are_refused_with_the_allowed_ones() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = crate::util::snapshot(&dir.state());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--manual", "--phase=update_clients"],
            "from phase standby to update_clients; allowed next: init",
        ),
        (&["--manual", "--phase=standby"], "allowed next: init"),
        (
            &["--manual", "--phase=bogus"],
            "invalid rotation phase \"bogus\"",
        ),
        (&["--phase=init"], "--manual"),
        (
            &["--type=user", "--manual", "--phase=init"],
            "possible values: host",
        ),
        (&["--grace-period=-1h"], "must not be negative"),
    ];
    for (args, want) in cases {
        let mut all = vec!["auth", "rotate"];
        all.extend_from_slice(args);
        dir.rctl(&all).refused(want);
    }
    assert_eq!(crate::util::snapshot(&dir.state()), before);
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init"])
        .ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .refused("from phase init to standby; allowed next: update_clients, rollback");
    dir.rctl(&["auth", "rotate"])
        .refused("from phase init to init");
}

#[test]
fn auto_rotation_with_zero_grace_swaps_at_once() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = dir.rctl(&["auth", "export"]).ok();
    let run = dir.rctl(&["auth", "rotate", "--type=host", "--grace-period=0"]);
    run.ok();
    assert!(
        run.stderr()
            .contains("init -> update_clients -> update_servers -> standby"),
        "{}",
        run.stderr()
    );
    // Four phases in one step: said loudly, with the work each skipped phase needed.
    let stderr = run.stderr();
    assert!(stderr.contains("WARNING: it crossed 4 phases"), "{stderr}");
    for work in [
        "refresh every trust bundle",
        "re-issue every client certificate",
        "re-issue and reload every server certificate",
    ] {
        assert!(stderr.contains(work), "{work:?} missing:\n{stderr}");
    }
    let after = dir.rctl(&["auth", "export"]).ok();
    assert_eq!(after.matches("BEGIN CERTIFICATE").count(), 1);
    assert_ne!(before, after);
}

/// The lines `auth rotate` prints after `Next: ` when they are a command, split into arguments.
fn next_command(stdout: &str) -> Option<Vec<String>> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("Next: rctl "))?;
    Some(line.split_whitespace().map(str::to_string).collect())
}

#[test]
fn following_the_printed_next_steps_completes_a_rotation() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init", "--cluster-name=steps"]).ok();
    let old = dir.rctl(&["auth", "export"]).ok();
    let mut out = dir.rctl(&["auth", "rotate", "--manual"]).ok();
    let mut phases = Vec::new();
    // Each step names the phase it entered and what that phase needs; the printed next
    // command is run as printed, until none is printed.
    loop {
        let now = out.lines().find(|l| l.starts_with("Now: ")).expect(&out);
        let status: serde_json::Value =
            serde_json::from_str(&dir.rctl(&["status", "--format=json"]).ok()).unwrap();
        let phase = status["host_ca"]["rotation"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let needs = match phase.as_str() {
            "init" | "standby" => "refresh every trust bundle",
            "update_clients" => "re-issue every client certificate",
            "update_servers" => "re-issue every Redis server certificate",
            other => panic!("unexpected phase {other:?}:\n{out}"),
        };
        assert!(now.contains(needs), "{phase}: {now}");
        phases.push(phase);
        let Some(next) = next_command(&out) else {
            break;
        };
        let args: Vec<&str> = next.iter().map(String::as_str).collect();
        out = dir.rctl(&args).ok();
    }
    assert_eq!(
        phases,
        ["init", "update_clients", "update_servers", "standby"]
    );
    let status = dir.rctl(&["status"]).ok();
    assert!(status.contains("rotated 20"), "{status}");
    let new = dir.rctl(&["auth", "export"]).ok();
    assert_eq!(new.matches("BEGIN CERTIFICATE").count(), 1);
    assert_ne!(new, old, "the rotation replaced the key");
}

#[test]
fn an_automatic_rotation_says_when_its_next_phase_is_due() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let run = dir.rctl(&["auth", "rotate", "--grace-period=3h"]);
    let out = run.ok();
    assert!(!run.stderr().contains("WARNING"), "{}", run.stderr());
    let next = out.lines().find(|l| l.starts_with("Next: ")).expect(&out);
    let due = next
        .strip_prefix("Next: phase update_clients is due at ")
        .and_then(|r| r.split(';').next())
        .expect(next);
    let due =
        time::OffsetDateTime::parse(due, &time::format_description::well_known::Rfc3339).unwrap();
    let from_now = due - time::OffsetDateTime::now_utc();
    assert!(
        from_now > time::Duration::minutes(55) && from_now <= time::Duration::hours(1),
        "a third of 3h from now: {next}"
    );
}

#[test]
fn signing_in_init_warns_that_the_outgoing_key_signed() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    let sign_server =
        |out: &str| dir.rctl(&["auth", "sign", "--host=localhost", &format!("--out={out}")]);
    let sign_client = |out: &str| {
        dir.rctl(&[
            "auth",
            "sign",
            "--user=alice",
            "--db-user=alice",
            &format!("--out={out}"),
        ])
    };
    let quiet = sign_server("s0");
    quiet.ok();
    assert_eq!(quiet.stderr(), "", "standby: nothing to warn of");

    dir.rctl(&["auth", "rotate", "--manual"]).ok();
    let server = sign_server("s1");
    server.ok();
    assert!(
        server
            .stderr()
            .contains("signed by the outgoing key, which the rotation stops trusting at standby; issue it again in phase update_servers"),
        "{}",
        server.stderr()
    );
    let client = sign_client("c1");
    client.ok();
    assert!(
        client
            .stderr()
            .contains("issue it again in phase update_clients"),
        "{}",
        client.stderr()
    );

    dir.rctl(&["auth", "rotate", "--manual", "--phase=update_clients"])
        .ok();
    let later = sign_server("s2");
    later.ok();
    assert_eq!(later.stderr(), "", "update_clients: the new key signs");
}

#[test]
fn auto_rotation_starts_with_the_default_grace_period() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["auth", "rotate", "--type=host"]).ok();
    let status = dir.rctl(&["status"]).ok();
    assert!(status.contains("phase init, mode auto"), "{status}");
    assert!(status.contains("grace period 30h0m0s"), "{status}");
    let pins = status.lines().find(|l| l.starts_with("CA pins: ")).unwrap();
    assert_eq!(pins.matches("sha256:").count(), 2, "{status}");
}

/// `auth rotate --phase=standby` went ahead while a registered server's update_servers sync
/// had failed, leaving it serving a certificate nothing trusts from then on. Now refused
/// (naming the server) until its file is renewed, or with `--force`.
#[test]
fn standby_waits_for_every_registered_server_to_be_renewed() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("tls")).unwrap();
    for name in ["r1", "r2"] {
        dir.rctl(&[
            "redis",
            "add",
            name,
            &format!("--addr=127.0.0.1:{}", crate::util::free_port()),
            &format!("--cert-prefix=tls/{name}"),
        ])
        .ok();
    }
    dir.rctl(&["redis", "sync", "--all", "--no-reload"]).ok();
    for phase in ["init", "update_clients", "update_servers"] {
        dir.rctl(&["auth", "rotate", "--manual", &format!("--phase={phase}")])
            .ok();
        if phase == "init" {
            // Their trust bundles take the new key (update_clients waits for that).
            dir.rctl(&["redis", "sync", "--all", "--no-reload"]).ok();
        }
    }
    // r1 renewed under the new key; r2's sync "failed" (not run).
    dir.rctl(&["redis", "sync", "r1", "--no-reload"]).ok();
    let before = crate::util::snapshot(&dir.state());
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .failed("registered server(s) r2 still hold a certificate the outgoing key signed");
    assert!(
        crate::util::snapshot(&dir.state()) == before,
        "refused means unchanged"
    );
    dir.rctl(&["redis", "sync", "r2", "--no-reload"]).ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .ok();
    // Leaving init waits for every server's trust bundle to hold the new key: a client the new
    // key signs would be refused by the others.
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init"])
        .ok();
    dir.rctl(&["redis", "sync", "r1", "--no-reload"]).ok();
    let before = crate::util::snapshot(&dir.state());
    dir.rctl(&["auth", "rotate", "--manual", "--phase=update_clients"])
        .failed("registered server(s) r2 do not trust the new CA key yet");
    assert!(crate::util::snapshot(&dir.state()) == before);
    let status: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["status", "--format=json"]).ok()).unwrap();
    let applied = |name: &str| {
        status["rotation_progress"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["applied"].clone())
    };
    assert_eq!(applied("r1"), Some(serde_json::json!(true)), "{status}");
    assert_eq!(applied("r2"), Some(serde_json::json!(false)), "{status}");
    // --force goes ahead regardless, as the operator says.
    dir.rctl(&[
        "auth",
        "rotate",
        "--manual",
        "--phase=update_clients",
        "--force",
    ])
    .ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=update_servers"])
        .ok();
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby", "--force"])
        .ok();
}

/// A server whose files were renewed in update_servers but that did not load them (its reload
/// failed, here: a sync with --no-reload) still serves the outgoing key's certificate: standby
/// is refused, changing nothing, until a sync reloads it.
#[test]
fn standby_waits_for_every_reachable_server_to_serve_the_new_certificate() {
    let dir = TestDir::new();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    let _r1 = crate::live::register_labelled(
        &dir,
        std::path::Path::new("redis-server"),
        "r1",
        &[],
        &[],
        "",
    );
    for phase in ["init", "update_clients", "update_servers"] {
        dir.rctl(&["auth", "rotate", "--manual", &format!("--phase={phase}")])
            .ok();
        let sync: &[&str] = if phase == "update_servers" {
            &["redis", "sync", "r1", "--no-reload"]
        } else {
            &["redis", "sync", "r1"]
        };
        dir.rctl(sync).ok();
    }
    let before = crate::util::snapshot(&dir.state());
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .failed("registered server(s) r1 still serve a certificate the outgoing key signed");
    assert!(
        crate::util::snapshot(&dir.state()) == before,
        "refused means unchanged"
    );
    let synced = dir.rctl(&["redis", "sync", "r1"]).ok();
    assert!(synced.contains("reloaded"), "{synced}");
    dir.rctl(&["auth", "rotate", "--manual", "--phase=standby"])
        .ok();
    dir.rctl(&["redis", "sync", "r1"]).ok();
    assert_eq!(dir.rctl(&["redis", "check", "r1"]).ok(), "r1: ok\n");
}

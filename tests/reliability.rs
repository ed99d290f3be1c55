//! Concurrency, crashes (SIGKILL at random moments) and secret hygiene, with the rctl binary.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::util::{TestDir, password_from, rctl_command, snapshot};

fn user_names(dir: &TestDir) -> Vec<String> {
    let json = dir.rctl(&["users", "ls", "--format=json"]).ok();
    let users: serde_json::Value = serde_json::from_str(&json).unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect()
}

fn serial_of(path: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(path).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    cert.raw_serial().to_vec()
}

#[test]
fn four_processes_at_once_lose_nothing() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    std::fs::create_dir(dir.join("certs")).unwrap();
    std::thread::scope(|s| {
        for p in 0..4 {
            let dir = &dir;
            s.spawn(move || {
                for i in 0..100 {
                    dir.rctl(&[
                        "users",
                        "add",
                        &format!("p{p}u{i:03}"),
                        "--roles=access",
                        "--db-users=*",
                    ])
                    .ok();
                    if i % 2 == 0 {
                        dir.rctl(&[
                            "auth",
                            "sign",
                            "--host=localhost",
                            &format!("--out=certs/p{p}c{i:03}"),
                        ])
                        .ok();
                    }
                }
            });
        }
    });
    let names = user_names(&dir);
    assert_eq!(names.len(), 400);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), 400);
    let mut serials = HashSet::new();
    for entry in std::fs::read_dir(dir.join("certs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "crt") {
            assert!(
                serials.insert(serial_of(&path)),
                "duplicate serial in {}",
                path.display()
            );
        }
    }
    assert_eq!(serials.len(), 200);
    // The state loads cleanly and the audit log saw every change.
    dir.rctl(&["status"]).ok();
    let acl = dir.rctl(&["acl", "generate"]).ok();
    assert_eq!(acl.lines().count(), 401);
    let audit = dir.rctl(&["audit", "ls", "--format=json"]).ok();
    let events: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let count = |action: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(count("user.create"), 400);
    assert_eq!(count("cert.issue"), 200);
}

/// What a crash test iteration ran.
enum Op {
    AddUser(String),
    Sign(String),
    Rotate(&'static str),
    AclGenerate,
    ResetPassword,
}

#[test]
fn sigkill_at_random_moments_never_corrupts_or_loses_completed_work() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "seed", "--roles=access", "--db-users=*"])
        .ok();
    std::fs::create_dir(dir.join("out")).unwrap();
    let mut rng = rand::rng();
    let mut completed_users: Vec<String> = vec!["seed".to_string()];
    let mut kills = 0;
    let mut killed_mid_sign = 0;
    let phases = ["init", "update_clients", "update_servers", "standby"];
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut i = 0;
    while kills < 200 && Instant::now() < deadline {
        i += 1;
        let op = match i % 5 {
            0 => Op::AddUser(format!("u{i:05}")),
            1 => Op::Sign(format!("out/s{}", i % 7)),
            2 => Op::Rotate(phases[(i / 5) % phases.len()]),
            3 => Op::ResetPassword,
            _ => Op::AclGenerate,
        };
        let args: Vec<String> = match &op {
            Op::AddUser(name) => vec![
                "users".into(),
                "add".into(),
                name.clone(),
                "--roles=access".into(),
            ],
            Op::Sign(prefix) => {
                vec![
                    "auth".into(),
                    "sign".into(),
                    "--host=localhost".into(),
                    format!("--out={prefix}"),
                    "--overwrite".into(),
                ]
            }
            Op::Rotate(phase) => vec![
                "auth".into(),
                "rotate".into(),
                "--manual".into(),
                format!("--phase={phase}"),
            ],
            Op::AclGenerate => vec![
                "acl".into(),
                "generate".into(),
                "--out=out/users.acl".into(),
            ],
            Op::ResetPassword => vec!["users".into(), "reset-password".into(), "seed".into()],
        };
        let mut child = rctl_command()
            .arg("--state-dir")
            .arg(dir.state())
            .args(&args)
            .current_dir(dir.path())
            // A file, not /dev/null: rctl refuses to show a generated password where it is lost.
            .stdout(std::fs::File::create(dir.join("stdout.txt")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.random_range(0..6000)));
        let finished = match child.try_wait().unwrap() {
            Some(status) => status.success(),
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                if matches!(op, Op::Sign(_)) {
                    killed_mid_sign += 1;
                }
                false
            }
        };
        if let (true, Op::AddUser(name)) = (finished, &op) {
            completed_users.push(name.clone());
        }

        // After every run the state loads and holds every completed command's result.
        let names: HashSet<String> = user_names(&dir).into_iter().collect();
        for u in &completed_users {
            assert!(names.contains(u), "iteration {i}: completed user {u} lost");
        }
        dir.rctl(&["status"]).ok();
        // The next command that writes removes a killed run's debris: no temp file survives it.
        dir.rctl(&["redis", "target", "redis-7.0"]).ok();
        for (path, _, _) in snapshot(&dir.state()) {
            assert!(
                !path.to_string_lossy().contains("rctl-tmp"),
                "iteration {i}: {} left",
                path.display()
            );
        }
        match &op {
            Op::Sign(prefix) => check_output_set(&dir, prefix, i),
            Op::AclGenerate if dir.join("out/users.acl").exists() => {
                dir.rctl(&["acl", "check", "out/users.acl"]).ok();
            }
            _ => {}
        }
    }
    assert!(kills >= 200, "only {kills} kills in the time allowed");
    assert!(killed_mid_sign > 0);
}

/// An output set is complete and matching, absent, or marked incomplete (and then the next
/// sign replaces it without --overwrite).
fn check_output_set(dir: &TestDir, prefix: &str, i: usize) {
    let file = |ext: &str| dir.join(&format!("{prefix}{ext}"));
    let name = Path::new(prefix)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let marker = dir.join(&format!("out/.{name}.crt.rctl-incomplete"));
    if marker.exists() {
        dir.rctl(&[
            "auth",
            "sign",
            "--host=localhost",
            &format!("--out={prefix}"),
        ])
        .ok();
        assert!(!marker.exists());
    }
    let present: Vec<bool> = [".crt", ".key", ".cas"]
        .iter()
        .map(|e| file(e).exists())
        .collect();
    if present.iter().all(|p| !p) {
        return;
    }
    assert!(
        present.iter().all(|p| *p),
        "iteration {i}: partial set {present:?} without a marker"
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!(
        "[ \"$(openssl x509 -noout -pubkey -in {crt})\" = \"$(openssl pkey -pubout -in {key})\" ]",
        crt = file(".crt").display(),
        key = file(".key").display()
    ));
    let run = crate::util::run(cmd, None);
    assert!(
        run.output.status.success(),
        "iteration {i}: key does not match certificate"
    );
}

#[test]
fn loose_permissions_are_refused_unless_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let set_mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    set_mode(&dir.state(), 0o755);
    let before = snapshot(&dir.state());
    dir.rctl(&["status"]).refused("chmod 700");
    dir.rctl(&["--insecure-permissions", "status"]).ok();
    set_mode(&dir.state(), 0o700);
    set_mode(&dir.state().join("host_ca.yaml"), 0o644);
    dir.rctl(&["auth", "export"])
        .refused("host_ca.yaml is accessible by group or others");
    dir.rctl(&["--insecure-permissions", "auth", "export"]).ok();
    set_mode(&dir.state().join("host_ca.yaml"), 0o600);
    assert_eq!(snapshot(&dir.state()).len(), before.len());
}

#[test]
fn a_full_session_never_prints_or_logs_a_secret() {
    let dir = TestDir::new();
    let mut transcript = String::new();
    let mut passwords = Vec::new();
    let record = |run: crate::util::Run, transcript: &mut String| {
        let out = run.ok();
        transcript.push_str(&out);
        transcript.push_str(&run.stderr());
        out
    };
    record(
        dir.rctl(&["auth", "init", "--cluster-name=s"]),
        &mut transcript,
    );
    for name in ["alice", "bob"] {
        let out = record(
            dir.rctl(&["users", "add", name, "--roles=access", "--db-users=*"]),
            &mut transcript,
        );
        passwords.push(password_from(&out));
    }
    let out = record(
        dir.rctl(&["users", "reset-password", "bob"]),
        &mut transcript,
    );
    passwords.push(password_from(&out));
    for args in [
        &["auth", "sign", "--host=localhost", "--out=server"][..],
        &[
            "auth",
            "sign",
            "--user=alice",
            "--db-user=alice",
            "--out=alice",
        ],
        &["auth", "rotate", "--manual", "--phase=init"],
        &["auth", "export"],
        &["status"],
        &["users", "ls", "--format=yaml"],
        &["get", "users", "--format=json"],
        &["get", "roles"],
        &["acl", "generate", "--out=users.acl"],
        &["acl", "check", "users.acl"],
        &["audit", "ls", "--format=json"],
    ] {
        record(dir.rctl(args), &mut transcript);
    }
    // Refusals too.
    for args in [
        &["users", "add", "alice", "--roles=access"][..],
        &["auth", "sign", "--user=bob", "--db-user=x y", "--out=z"],
    ] {
        transcript.push_str(&dir.rctl(args).stderr());
    }
    let ca_yaml = std::fs::read_to_string(dir.state().join("host_ca.yaml")).unwrap();
    let key_lines: Vec<&str> = ca_yaml
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.contains("BEGIN PRIVATE KEY"))
        .skip(1)
        .take_while(|l| !l.contains("END PRIVATE KEY"))
        .collect();
    assert!(!key_lines.is_empty());
    let users = std::fs::read_to_string(dir.state().join("users.jsonl")).unwrap();
    let hashes: Vec<&str> = users
        .match_indices("\"password_sha256\":\"")
        .map(|(i, m)| &users[i + m.len()..i + m.len() + 64])
        .collect();
    assert_eq!(hashes.len(), 2);
    let audit = std::fs::read_to_string(dir.state().join("audit.jsonl")).unwrap();
    for secret in key_lines.iter().copied().chain(hashes.iter().copied()) {
        assert!(!transcript.contains(secret), "secret in output: {secret}");
        assert!(!audit.contains(secret), "secret in audit log");
    }
    for (i, pw) in passwords.iter().enumerate() {
        assert_eq!(
            transcript.matches(pw.as_str()).count(),
            1,
            "password {i} shown more than once"
        );
        assert!(!audit.contains(pw.as_str()) && !users.contains(pw.as_str()));
    }
    // The client key is not in the transcript either.
    let alice_key = dir.read("alice.key");
    assert!(!transcript.contains(alice_key.lines().nth(1).unwrap()));
}

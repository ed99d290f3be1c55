//! Client outputs: an application's bundle registered with `clients add`, renewed by `redis
//! sync` with its hook, and kept working through a whole host CA rotation driven only by
//! `auth rotate` and `redis sync --all`, against a real redis-server over mutual TLS.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::live::{Client, Files, connect_with, register_labelled};
use crate::util::{Creds, TestDir, password_from};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn serial(dir: &TestDir, file: &str) -> String {
    let out = dir.rctl(&["certs", "inspect", file, "--format=json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["serial"].as_str().unwrap().to_string()
}

#[test]
fn client_outputs_are_issued_renewed_with_their_hook_and_listed() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    std::fs::create_dir(dir.join("out")).unwrap();
    let out = dir
        .rctl(&[
            "clients",
            "add",
            "app1",
            "--user=app",
            "--db-user=app",
            "--out=out/app",
            "--ttl=1h",
            "--exec=printf '%s %s\\n' \"$RCTL_CLIENT\" \"$RCTL_CERT\" >> hook.log",
        ])
        .ok();
    assert!(out.contains("Client \"app1\" registered"), "{out}");
    assert_eq!(mode(&dir.join("out/app.key")), 0o600);
    assert_eq!(mode(&dir.join("out/app.crt")), 0o644);
    assert_eq!(mode(&dir.join("out/app.cas")), 0o644);
    let listed: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["clients", "ls", "--format=json"]).ok()).unwrap();
    assert_eq!(listed[0]["name"], "app1");
    assert_eq!(listed[0]["db_user"], "app");
    assert_eq!(listed[0]["format"], "redis");
    assert!(listed[0]["path"].as_str().unwrap().ends_with("out/app"));
    assert!(listed[0]["not_after"].is_string());

    // Nothing due: nothing written, the hook not run.
    let first = serial(&dir, "out/app.crt");
    let synced = dir.rctl(&["redis", "sync", "--all"]).ok();
    assert_eq!(synced.trim(), "client app1: in line");
    assert!(!dir.join("hook.log").exists());
    // A dry run says what it would do and does nothing.
    let dry = dir
        .rctl(&["redis", "sync", "--all", "--dry-run", "--renew-within=2h"])
        .ok();
    assert!(
        dry.contains("client app1: would renew the certificate (due"),
        "{dry}"
    );
    assert_eq!(serial(&dir, "out/app.crt"), first);
    // Due: renewed, modes kept, the hook run with the paths.
    let synced = dir
        .rctl(&["redis", "sync", "app1", "--renew-within=2h"])
        .ok();
    assert!(
        synced.contains("renewed the certificate") && synced.contains("ran its hook"),
        "{synced}"
    );
    assert_ne!(serial(&dir, "out/app.crt"), first);
    assert_eq!(mode(&dir.join("out/app.key")), 0o600);
    let log = dir.read("hook.log");
    assert!(
        log.starts_with("app1 /") && log.trim_end().ends_with("out/app.crt"),
        "{log}"
    );

    // A failing hook is reported and does not undo the renewal.
    dir.rctl(&[
        "clients",
        "add",
        "app2",
        "--user=app",
        "--db-user=app",
        "--out=out/app2",
        "--exec=echo boom >&2; exit 3",
    ])
    .ok();
    let before = serial(&dir, "out/app2.crt");
    let run = dir.rctl(&["redis", "sync", "app2", "--renew-within=24h"]);
    let stdout = run.failed("1 of 1 (0 server(s), 1 client output(s)) not in line");
    assert!(
        stdout.contains(
            "the hook of client \"app2\" failed: exit status: 3: boom (the files are renewed)"
        ),
        "{stdout}"
    );
    assert_ne!(serial(&dir, "out/app2.crt"), before);

    // Refused, with nothing changed: an account the roles do not allow, a name taken, files
    // another output writes, an unknown user.
    dir.rctl(&["users", "add", "ro", "--roles=readonly"]).ok();
    let snapshot = crate::util::snapshot(dir.path());
    for (args, want) in [
        (
            vec![
                "clients",
                "add",
                "x",
                "--user=ro",
                "--db-user=app",
                "--out=out/x",
            ],
            "allows db user \"app\"",
        ),
        (
            vec![
                "clients",
                "add",
                "app1",
                "--user=app",
                "--db-user=app",
                "--out=out/y",
            ],
            "client \"app1\" already exists",
        ),
        (
            vec![
                "clients",
                "add",
                "z",
                "--user=app",
                "--db-user=app",
                "--out=out/app",
                "--overwrite",
            ],
            "is already written for client \"app1\"",
        ),
        (
            vec![
                "clients",
                "add",
                "w",
                "--user=nobody",
                "--db-user=app",
                "--out=out/w",
            ],
            "user \"nobody\" not found",
        ),
    ] {
        dir.rctl(&args).refused(want);
    }
    assert!(
        crate::util::snapshot(dir.path()) == snapshot,
        "a refusal changed files"
    );
    dir.rctl(&["clients", "rm", "app2"]).ok();
    let listed = dir.rctl(&["clients", "ls"]).ok();
    assert!(
        !listed.contains("app2") && dir.join("out/app2.crt").exists(),
        "{listed}"
    );
}

/// New TLS connections about every 50 ms with the client bundle as it is on disk, against a
/// server registered on the same state, until `stop`: (connections, failures).
pub(crate) fn connection_loop(
    port: u16,
    client: Client,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut done, mut failures) = (0u64, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            // The three files as one snapshot: read until two reads 10 ms apart agree, as a
            // client that reloads its files should (sync replaces them one rename at a time).
            let mut files = Files::read(&client.creds);
            loop {
                std::thread::sleep(Duration::from_millis(10));
                let again = Files::read(&client.creds);
                if again == files {
                    break;
                }
                files = again;
            }
            let outcome = connect_with(port, &client, &files)
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if let Err(e) = outcome {
                failures.push(format!("connection {done}: {e}"));
            }
            done += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        (done, failures)
    })
}

/// A state with a registered redis-server and a client output `app1` (`out/app`) on it, and
/// the connection loop running against that server with the output's files.
struct UnderLoad {
    dir: TestDir,
    _server: crate::live::Registered,
    creds: Creds,
    stop: Arc<AtomicBool>,
    load: std::thread::JoinHandle<(u64, Vec<String>)>,
}

fn rotation_under_load() -> UnderLoad {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let password = password_from(
        &dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
            .ok(),
    );
    let server = register_labelled(&dir, Path::new("redis-server"), "r1", &[], &[], "");
    std::fs::create_dir(dir.join("out")).unwrap();
    dir.rctl(&[
        "clients",
        "add",
        "app1",
        "--user=app",
        "--db-user=app",
        "--out=out/app",
        "--ttl=1h",
    ])
    .ok();
    let creds = Creds::new(dir.join("out/app"));
    let client = Client {
        creds: creds.clone(),
        user: "app".to_string(),
        password,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load = connection_loop(server.server.port, client, stop.clone());
    UnderLoad {
        dir,
        _server: server,
        creds,
        stop,
        load,
    }
}

/// Stops the connection loop and asserts that none of its new connections failed (more than
/// 20 made); gives how many were made.
pub(crate) fn no_failed_connections(
    stop: &AtomicBool,
    load: std::thread::JoinHandle<(u64, Vec<String>)>,
) -> u64 {
    stop.store(true, Ordering::Relaxed);
    let (connections, failures) = load.join().unwrap();
    assert!(connections > 20, "{connections}");
    assert!(
        failures.is_empty(),
        "{} of {connections} new connections failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    connections
}

#[test]
fn a_rotation_driven_by_rotate_and_sync_keeps_every_client_output_working() {
    let UnderLoad {
        dir,
        _server,
        creds,
        stop,
        load,
    } = rotation_under_load();
    let issued = serial(&dir, "out/app.crt");
    let mut renewed_in = None;
    for phase in ["init", "update_clients", "update_servers", "standby"] {
        dir.rctl(&["auth", "rotate", "--manual", &format!("--phase={phase}")])
            .ok();
        let synced = dir.rctl(&["redis", "sync", "--all"]).ok();
        let client_line = synced
            .lines()
            .find(|l| l.starts_with("client app1:"))
            .unwrap_or_default();
        match phase {
            "init" | "standby" => assert!(
                client_line.contains("wrote its trust bundle"),
                "{phase}: {synced}"
            ),
            "update_clients" => {
                assert!(
                    client_line
                        .contains("signed by the key rotation phase update_clients replaces"),
                    "{phase}: {synced}"
                );
                renewed_in = Some(phase);
            }
            _ => assert!(client_line.contains("in line"), "{phase}: {synced}"),
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let connections = no_failed_connections(&stop, load);
    eprintln!("rotation: {connections} new connections from a client output, none failed");
    assert_eq!(renewed_in, Some("update_clients"));
    // After standby: one CA trusted, and the client's certificate is from the new key.
    let cas = std::fs::read_to_string(creds.file(".cas")).unwrap();
    assert_eq!(cas.matches("BEGIN CERTIFICATE").count(), 1);
    assert_ne!(serial(&dir, "out/app.crt"), issued);
    crate::util::openssl(&dir, &["verify", "-CAfile", "out/app.cas", "out/app.crt"]);
    dir.rctl(&["redis", "check", "--all"]).ok();
}

#[test]
fn an_automatic_rotation_with_a_sync_timer_keeps_every_client_output_working() {
    let UnderLoad {
        dir,
        _server,
        creds,
        stop,
        load,
    } = rotation_under_load();
    // Three phases of 2 s each; a timer syncs every 250 ms (a systemd timer, compressed).
    dir.rctl(&["auth", "rotate", "--grace-period=6s"]).ok();
    let phase = || {
        let status: serde_json::Value =
            serde_json::from_str(&dir.rctl(&["status", "--format=json"]).ok()).unwrap();
        status["host_ca"]["rotation"]["phase"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        dir.rctl(&["redis", "sync", "--all"]).ok();
        let now = phase();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if now == "standby" || std::time::Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    dir.rctl(&["redis", "sync", "--all"]).ok();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (connections, failures) = load.join().unwrap();
    assert_eq!(
        seen.last().map(String::as_str),
        Some("standby"),
        "phases seen: {seen:?}"
    );
    assert!(seen.len() >= 3, "phases seen: {seen:?}");
    assert!(
        failures.is_empty(),
        "{} of {connections} new connections failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    eprintln!("automatic rotation: phases {seen:?}, {connections} new connections, none failed");
    let cas = std::fs::read_to_string(creds.file(".cas")).unwrap();
    assert_eq!(cas.matches("BEGIN CERTIFICATE").count(), 1);
    crate::util::openssl(&dir, &["verify", "-CAfile", "out/app.cas", "out/app.crt"]);
}

#[test]
fn auth_export_out_writes_the_trust_bundle_atomically() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let stdout = dir.rctl(&["auth", "export"]).ok();
    let run = dir.rctl(&["auth", "export", "--out=client.cas"]);
    assert_eq!(run.ok(), "");
    assert_eq!(dir.read("client.cas"), stdout);
    assert_eq!(
        std::fs::metadata(dir.join("client.cas"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    // During a rotation it holds both keys, and replacing it keeps what was there whole.
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init"])
        .ok();
    dir.rctl(&["auth", "export", "--type=db-client", "--out=client.cas"])
        .ok();
    assert_eq!(
        dir.read("client.cas").matches("BEGIN CERTIFICATE").count(),
        2
    );
    let before = crate::util::snapshot(dir.path());
    dir.rctl(&["auth", "export", "--out=missing/client.cas"])
        .refused("missing");
    dir.rctl(&["auth", "export", "--out=."])
        .refused("is a directory");
    assert!(crate::util::snapshot(dir.path()) == before);
}

/// A hook's view of one run: every variable whose name starts with `RCTL_` or that could
/// carry a secret, one `NAME=VALUE` a line.
const ENV_HOOK: &str =
    "env | grep -E '^(RCTL_|ETCDCTL_|CREDENTIALS_DIRECTORY)' | sort > \"$RCTL_CLIENT.env\"";

#[test]
fn hooks_name_the_files_of_their_format_and_never_see_rctls_secrets() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    std::fs::create_dir(dir.join("out")).unwrap();
    dir.write("pass", "a passphrase for the test\n");
    let exec = format!("--exec={ENV_HOOK}");
    for (name, format) in [
        ("app1", "--format=redis"),
        ("app2", "--format=pkcs12"),
        ("app3", "--format=kubernetes-secret"),
    ] {
        let out = format!("--out=out/{name}");
        dir.rctl(&[
            "clients",
            "add",
            name,
            "--user=app",
            "--db-user=app",
            &out,
            format,
            "--pkcs12-passphrase-file=pass",
            &exec,
        ])
        .ok();
    }
    // The secrets a sync's own environment may carry (a systemd unit's credentials, etcd's).
    let mut cmd = crate::util::rctl_command();
    cmd.arg("--state-dir")
        .arg(dir.state())
        .args(["redis", "sync", "--all", "--renew-within=48h"])
        .current_dir(dir.path())
        .env("CREDENTIALS_DIRECTORY", dir.join("creds"))
        .env("ETCDCTL_PASSWORD", "etcd-secret")
        .env("RCTL_ETCD_PASSWORD_FILE", dir.join("etcd-pass"))
        .env("RCTL_STATE_DIR", dir.state());
    let synced = crate::util::run(cmd, None).ok();
    assert_eq!(synced.matches("ran its hook").count(), 3, "{synced}");
    let env = |name: &str| -> Vec<String> {
        dir.read(&format!("{name}.env"))
            .lines()
            .map(|l| l.split('=').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        env("app1"),
        [
            "RCTL_CA",
            "RCTL_CERT",
            "RCTL_CLIENT",
            "RCTL_FORMAT",
            "RCTL_KEY"
        ]
    );
    assert_eq!(env("app2"), ["RCTL_CLIENT", "RCTL_FORMAT", "RCTL_P12"]);
    assert_eq!(env("app3"), ["RCTL_CLIENT", "RCTL_FORMAT", "RCTL_SECRET"]);
    // Each variable names a file the format wrote.
    for name in ["app1", "app2", "app3"] {
        for line in dir.read(&format!("{name}.env")).lines() {
            let (var, value) = line.split_once('=').unwrap();
            if var == "RCTL_CLIENT" || var == "RCTL_FORMAT" {
                continue;
            }
            assert!(Path::new(value).is_file(), "{name}: {line}");
        }
    }
    assert!(dir.read("app2.env").contains("RCTL_FORMAT=pkcs12"));
    assert!(dir.read("app2.env").contains("out/app2.p12"));
    assert!(dir.read("app3.env").contains("out/app3.yaml"));
}

#[test]
fn a_hook_past_the_deadline_is_killed_with_everything_it_started() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&[
        "clients",
        "add",
        "app1",
        "--user=app",
        "--db-user=app",
        "--out=app1",
        "--exec=sleep 300 & echo $! > bg.pid; wait",
    ])
    .ok();
    let run = dir.rctl(&[
        "redis",
        "sync",
        "app1",
        "--renew-within=48h",
        "--timeout=2s",
    ]);
    let stdout = run.failed("not in line");
    assert!(stdout.contains("killed"), "{stdout}");
    let pid = dir.read("bg.pid").trim().to_string();
    // The background child went with the hook's process group.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Gone, or a zombie waiting for its reaper (init), never still sleeping.
    assert!(
        state.is_empty() || state.split_whitespace().nth(2) == Some("Z"),
        "the hook's child {pid} survived: {state}"
    );
}

#[test]
fn redis_check_takes_client_outputs_by_name_and_under_all() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.write("pass", "a passphrase for the test\n");
    dir.rctl(&[
        "clients",
        "add",
        "app1",
        "--user=app",
        "--db-user=app",
        "--out=app1",
        "--format=pkcs12",
        "--pkcs12-passphrase-file=pass",
    ])
    .ok();
    // A client output alone, by name and under --all: its file read in its format.
    assert_eq!(
        dir.rctl(&["redis", "check", "app1"]).ok(),
        "client app1: ok\n"
    );
    assert_eq!(
        dir.rctl(&["redis", "check", "--all"]).ok(),
        "client app1: ok\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["redis", "check", "app1", "--format=json"]).ok()).unwrap();
    assert_eq!(json[0]["client"], "app1");
    assert_eq!(json[0]["findings"], serde_json::json!([]));
    // Its file gone: a finding, exit 1.
    std::fs::remove_file(dir.join("app1.p12")).unwrap();
    let run = dir.rctl(&["redis", "check", "app1"]);
    let stdout = run.failed("1 problem(s) on 1 of 1 (0 server(s), 1 client output(s))");
    assert!(
        stdout.starts_with("client app1: its certificate needs renewing"),
        "{stdout}"
    );
    // An unknown name is refused.
    dir.rctl(&["redis", "check", "nope"]).refused("nope");
}

//! Every output proven by the program that consumes it: one client output of each format
//! (`redis`, `pkcs12`, `kubernetes-secret`) kept working through a whole rotation driven by
//! `auth rotate` and `redis sync --all` alone (no `--force`), the PKCS#12 read by the JDK as
//! its keystore and truststore at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;

use crate::clients::{connection_loop, no_failed_connections};
use crate::live::{Client, Files, connect_with, register_labelled};
use crate::util::{Creds, TestDir, password_from};

/// The Java client of `tests/java/RctlPing.java`, compiled into `dir` with the JDK's javac.
fn java_client(dir: &TestDir) -> PathBuf {
    let classes = dir.join("java");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/RctlPing.java");
    let out = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(&source)
        .output()
        .expect("javac (the JDK; .ci/run installs openjdk-17-jdk-headless)");
    assert!(
        out.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    classes
}

/// `java RctlPing P12 PASS PORT [STOP]` with the account in its environment.
fn java(classes: &Path, client: &Client, args: &[&Path], port: u16) -> Command {
    let mut cmd = Command::new("java");
    cmd.arg("-cp")
        .arg(classes)
        .arg("RctlPing")
        .arg(args[0])
        .arg(args[1])
        .arg(port.to_string())
        .args(&args[2..])
        .env("RCTL_TEST_USER", &client.user)
        .env("RCTL_TEST_PASSWORD", &client.password);
    cmd
}

/// A Kubernetes Secret's three PEM files, as a pod mounting it would see them.
fn secret_files(path: &Path) -> Option<Files> {
    let doc: serde_norway::Value = serde_norway::from_slice(&std::fs::read(path).ok()?).ok()?;
    let field = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(doc["data"][name].as_str()?)
            .ok()
    };
    Some(Files::from_pems(
        field("tls.crt")?,
        field("tls.key")?,
        field("ca.crt")?,
    ))
}

/// New connections about every 50 ms from the Secret's files as they are on disk.
fn secret_loop(
    port: u16,
    path: PathBuf,
    client: Client,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut done, mut failures) = (0u64, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let outcome = match secret_files(&path) {
                None => Err(format!("{} unreadable", path.display())),
                Some(files) => connect_with(port, &client, &files)
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                    .map(drop)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = outcome {
                failures.push(format!("connection {done}: {e}"));
            }
            done += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        (done, failures)
    })
}

#[test]
fn a_rotation_by_rotate_and_sync_alone_keeps_every_format_working_java_included() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let password = password_from(
        &dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
            .ok(),
    );
    let server = register_labelled(&dir, Path::new("redis-server"), "r1", &[], &[], "");
    let port = server.server.port;
    std::fs::create_dir(dir.join("out")).unwrap();
    let pass = dir.write("pass", "a passphrase for the test\n");
    let base = ["clients", "add", "--user=app", "--db-user=app", "--ttl=1h"];
    for (name, extra) in [
        ("app1", vec!["--out=out/app1"]),
        (
            "app2",
            vec![
                "--out=out/app2",
                "--format=pkcs12",
                "--pkcs12-passphrase-file=pass",
            ],
        ),
        ("app3", vec!["--out=out/app3", "--format=kubernetes-secret"]),
    ] {
        let mut args = base.to_vec();
        args.insert(2, name);
        args.extend(extra);
        dir.rctl(&args).ok();
    }
    let client = |creds: Creds| Client {
        creds,
        user: "app".to_string(),
        password: password.clone(),
    };
    // Java: one connection now, from the .p12 alone, before the loop starts.
    let classes = java_client(&dir);
    let p12 = dir.join("out/app2.p12");
    let once = java(
        &classes,
        &client(Creds::new(dir.join("out/app2"))),
        &[&p12, &pass],
        port,
    )
    .output()
    .unwrap();
    assert!(
        once.status.success(),
        "java: {}{}",
        String::from_utf8_lossy(&once.stdout),
        String::from_utf8_lossy(&once.stderr)
    );
    let stop_file = dir.join("stop-java");
    let java_loop = java(
        &classes,
        &client(Creds::new(dir.join("out/app2"))),
        &[&p12, &pass, &stop_file],
        port,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pem_loop = connection_loop(port, client(Creds::new(dir.join("out/app1"))), stop.clone());
    let k8s_loop = secret_loop(
        port,
        dir.join("out/app3.yaml"),
        client(Creds::new(dir.join("out/app3"))),
        stop.clone(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    for phase in ["init", "update_clients", "update_servers", "standby"] {
        // No --force: the guard reads each format's file as sync does.
        dir.rctl(&["auth", "rotate", "--manual", &format!("--phase={phase}")])
            .ok();
        let synced = dir.rctl(&["redis", "sync", "--all"]).ok();
        if phase == "update_clients" {
            for name in ["app1", "app2", "app3"] {
                let line = synced
                    .lines()
                    .find(|l| l.starts_with(&format!("client {name}:")))
                    .unwrap_or_default();
                assert!(
                    line.contains("renewed the certificate"),
                    "{phase}: {synced}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(1500));
    }
    let pem = no_failed_connections(&stop, pem_loop);
    let (k8s, k8s_failures) = k8s_loop.join().unwrap();
    assert!(
        k8s > 20 && k8s_failures.is_empty(),
        "{} of {k8s} Secret connections failed: {:?}",
        k8s_failures.len(),
        &k8s_failures[..k8s_failures.len().min(5)]
    );
    std::fs::write(&stop_file, "").unwrap();
    let out = java_loop.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let counts: Vec<u64> = stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        out.status.success() && counts.len() == 2 && counts[0] > 20 && counts[1] == 0,
        "java: {stdout}{}",
        stderr.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    eprintln!(
        "rotation: new connections without a failure: {pem} from PEM files, {k8s} from the \
         Secret, {} from Java reading only the .p12",
        counts[0]
    );
    // After standby: one CA in each, everything from the new key, and check agrees.
    let status = dir.rctl(&["status", "--format=json"]).ok();
    assert!(status.contains("\"standby\""), "{status}");
    let checked = dir.rctl(&["redis", "check", "--all"]).ok();
    for name in ["r1", "client app1", "client app2", "client app3"] {
        assert!(checked.contains(&format!("{name}: ok")), "{checked}");
    }
}

//! `rctl auth sign --format=redis --host=...` against a real redis-server and openssl.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::util::{Creds, RedisServer, TestDir, run, snapshot};

fn sign(dir: &TestDir, hosts: &str, out: &str) -> Creds {
    dir.rctl(&[
        "auth",
        "sign",
        "--format=redis",
        &format!("--host={hosts}"),
        &format!("--out={out}"),
        "--ttl=2190h",
    ])
    .ok();
    Creds::new(dir.join(out))
}

#[test]
fn quickstart_writes_three_files_and_the_redis_conf_lines() {
    let dir = TestDir::new();
    let run = dir.rctl(&[
        "auth",
        "sign",
        "--format=redis",
        "--host=localhost,127.0.0.1",
        "--out=server",
        "--ttl=2190h",
    ]);
    let stdout = run.ok();
    assert!(
        run.stderr().contains("created a new host CA"),
        "{}",
        run.stderr()
    );
    for line in [
        "tls-port 6379",
        "port 0",
        "tls-ca-cert-file ",
        "tls-cert-file ",
        "tls-key-file ",
        "tls-protocols \"TLSv1.2 TLSv1.3\"",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    let key_mode = std::fs::metadata(dir.join("server.key")).unwrap().mode() & 0o777;
    assert_eq!(key_mode, 0o600);
    assert_eq!(
        std::fs::metadata(dir.state()).unwrap().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.state().join("host_ca.yaml"))
            .unwrap()
            .mode()
            & 0o777,
        0o600
    );
    // The second command finds the CA and says nothing about creating one.
    let again = dir.rctl(&["auth", "sign", "--host=localhost", "--out=other"]);
    again.ok();
    assert!(again.stderr().is_empty(), "{}", again.stderr());
    assert_eq!(dir.read("server.cas"), dir.read("other.cas"));
}

#[test]
fn openssl_verify_strict_passes_for_every_key_algorithm() {
    for algo in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048"] {
        let dir = TestDir::new();
        dir.rctl(&[
            "auth",
            "init",
            "--cluster-name=test",
            &format!("--key-algo={algo}"),
        ])
        .ok();
        let creds = sign(&dir, "localhost,127.0.0.1,::1", "server");
        let mut cmd = Command::new("openssl");
        cmd.args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
            .arg(creds.file(".cas"))
            .arg(creds.file(".crt"));
        let out = run(cmd, None);
        assert!(
            out.stdout().contains(": OK"),
            "{algo}: {}{}",
            out.stdout(),
            out.stderr()
        );
        // The key belongs to the certificate.
        let pubkey = |args: &[&str]| {
            let mut cmd = Command::new("openssl");
            cmd.args(args);
            run(cmd, None).ok()
        };
        let crt = creds.file(".crt");
        let key = creds.file(".key");
        assert_eq!(
            pubkey(&["x509", "-noout", "-pubkey", "-in", crt.to_str().unwrap()]),
            pubkey(&["pkey", "-pubout", "-in", key.to_str().unwrap()]),
            "{algo}"
        );
    }
}

#[test]
fn redis_accepts_rctl_clients_and_refuses_others() {
    let dir = TestDir::new();
    let server = sign(&dir, "localhost,127.0.0.1", "server");
    let client = sign(&dir, "client.local", "client");
    let redis = RedisServer::start(&server, None);

    assert!(
        redis.pongs(&server.file(".cas"), Some(&client)),
        "log:\n{}",
        redis.log()
    );
    // The server's own pair serves as a client too (serverAuth + clientAuth, for replication).
    assert!(redis.pongs(&server.file(".cas"), Some(&server)));

    // No client certificate: refused.
    let none = redis.cli(&server.file(".cas"), None, &[], &["PING"]);
    assert!(!none.stdout().contains("PONG"), "{}", none.stdout());

    // A certificate from another state directory's CA: refused.
    let other = TestDir::new();
    let foreign = sign(&other, "client.local", "foreign");
    let run = redis.cli(&server.file(".cas"), Some(&foreign), &[], &["PING"]);
    assert!(
        !run.stdout().contains("PONG"),
        "foreign cert accepted: {}",
        run.stdout()
    );
    assert!(
        redis.pongs(&server.file(".cas"), Some(&client)),
        "server still serves rctl clients"
    );
}

#[test]
fn certificates_work_for_redis_with_each_ca_algorithm() {
    for algo in ["ecdsa-p384", "ed25519", "rsa2048"] {
        let dir = TestDir::new();
        dir.rctl(&["auth", "init", &format!("--key-algo={algo}")])
            .ok();
        let server = sign(&dir, "127.0.0.1", "server");
        let client = sign(&dir, "c", "client");
        let redis = RedisServer::start(&server, None);
        assert!(
            redis.pongs(&server.file(".cas"), Some(&client)),
            "{algo}: {}",
            redis.log()
        );
    }
}

#[test]
fn export_prints_the_trusted_ca_and_status_shows_its_pin() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init", "--cluster-name=prod"]).ok();
    let pem = dir.rctl(&["auth", "export", "--type=host"]).ok();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    let path = dir.write("ca.pem", &pem);
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-pubkey", "-in"]).arg(&path);
    let spki_pem = run(cmd, None).ok();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "openssl x509 -noout -pubkey -in {} | openssl pkey -pubin -outform DER | sha256sum",
        path.display()
    ));
    let digest = run(cmd, None).ok();
    let digest = digest.split_whitespace().next().unwrap();
    assert!(spki_pem.contains("PUBLIC KEY"));
    let status = dir.rctl(&["status"]).ok();
    assert!(status.contains("Cluster:   prod"), "{status}");
    assert!(
        status.contains(&format!("sha256:{digest}")),
        "pin is not the SPKI hash:\n{status}"
    );
    assert!(status.contains("never rotated"), "{status}");
}

#[test]
fn init_refuses_to_replace_a_ca() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = snapshot(&dir.state());
    dir.rctl(&["auth", "init"]).refused("already exists");
    assert_eq!(snapshot(&dir.state()), before);
}

#[test]
fn a_ttl_past_the_ca_is_refused_without_changing_state() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init", "--ca-ttl=100h"]).ok();
    let before = snapshot(dir.path());
    dir.rctl(&["auth", "sign", "--host=a", "--out=s", "--ttl=101h"])
        .refused("outlive the host CA");
    assert_eq!(snapshot(dir.path()), before);
    dir.rctl(&["auth", "sign", "--host=a", "--out=s", "--ttl=99h"])
        .ok();
}

#[test]
fn the_audit_log_names_the_files_a_certificate_was_written_to() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("tls")).unwrap();
    sign(&dir, "localhost", "tls/server");
    let audit = dir.rctl(&["audit", "ls", "--format=json"]).ok();
    let events: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let issued = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cert.issue")
        .expect(&audit);
    let outputs: Vec<&str> = issued["outputs"]
        .as_array()
        .expect(&audit)
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    let want: Vec<String> = ["crt", "key", "cas"]
        .iter()
        .map(|ext| dir.join(&format!("tls/server.{ext}")).display().to_string())
        .collect();
    assert_eq!(outputs, want);
    for path in &outputs {
        assert!(std::path::Path::new(path).is_absolute() && std::path::Path::new(path).exists());
    }
    let text = dir.rctl(&["audit", "ls"]).ok();
    assert!(
        text.contains(&format!("outputs={}", want.join(","))),
        "{text}"
    );
}

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

/// `(uid, gid, mode)` of a file.
fn attributes(path: &std::path::Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn replacing_outputs_keeps_their_owner_group_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    let creds = sign(&dir, "localhost", "server");
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    // As the Redis package installs them: owned by the server's user (nobody here, when the
    // tests run as root, who alone may give a file away), group-readable at most.
    let (me, my_group, _) = attributes(&creds.file(".key"));
    let (uid, gid) = if me == 0 {
        (65534, 65534)
    } else {
        (me, my_group)
    };
    let modes = [
        ("crt", 0o640, 0o640),
        ("cas", 0o604, 0o604),
        // A key left readable by others is not kept so: the others' bit goes.
        ("key", 0o644, 0o640),
    ];
    let acl = dir.join("users.acl");
    for (ext, mode, _) in modes {
        let path = creds.file(&format!(".{ext}"));
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::chown(&acl, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&acl, std::fs::Permissions::from_mode(0o640)).unwrap();
    let old_crt = std::fs::read(creds.file(".crt")).unwrap();
    let old_acl = std::fs::read(&acl).unwrap();

    dir.rctl(&[
        "auth",
        "sign",
        "--host=localhost",
        "--out=server",
        "--overwrite",
    ])
    .ok();
    dir.rctl(&["users", "add", "app2", "--roles=access", "--db-users=app2"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();

    assert_ne!(
        std::fs::read(creds.file(".crt")).unwrap(),
        old_crt,
        "renewed"
    );
    assert_ne!(std::fs::read(&acl).unwrap(), old_acl, "regenerated");
    for (ext, _, kept) in modes {
        assert_eq!(
            attributes(&creds.file(&format!(".{ext}"))),
            (uid, gid, kept),
            "server.{ext}"
        );
    }
    assert_eq!(attributes(&acl), (uid, gid, 0o640), "users.acl");
    // A fresh output still gets rctl's own modes.
    let fresh = sign(&dir, "localhost", "other");
    assert_eq!(attributes(&fresh.file(".key")).2, 0o600);
    assert_eq!(attributes(&fresh.file(".crt")).2, 0o644);
}

#[test]
fn replacing_a_file_whose_owner_rctl_may_not_keep_is_refused_and_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TestDir::new();
    if attributes(dir.path()).0 != 0 {
        // Only root can make a file another user may not give away; CI runs as root.
        eprintln!("skipped: needs root");
        return;
    }
    // A folder anyone may write in, holding root's bundle; rctl then runs as nobody.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    sign(&dir, "localhost", "shared/server");
    let before = snapshot(&shared);
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_rctl"))
        .arg("--state-dir")
        .arg(shared.join("state"))
        .args(["auth", "sign", "--host=localhost", "--out"])
        .arg(shared.join("server"))
        .arg("--overwrite");
    run(cmd, None).refused("cannot give the new file the owner 0:0 of the one it replaces");
    let after: Vec<_> = snapshot(&shared)
        .into_iter()
        .filter(|(p, _, _)| !p.starts_with(shared.join("state")))
        .collect();
    assert_eq!(after, before, "nothing written beside the bundle");
}

//! Bundle formats beyond tctl's three files: PKCS#12 for Java clients, a Kubernetes TLS Secret
//! for Redis in Kubernetes; read back by openssl (and keytool when a JDK is at hand), used by a
//! real redis-server and redis-cli, and kept renewed as client outputs.

use base64::Engine;

use crate::util::{Creds, RedisServer, TestDir, openssl, password_from};

/// The three PEM files of a Kubernetes TLS Secret, written out at `prefix`.
fn secret_to_files(dir: &TestDir, yaml: &str, prefix: &str) -> serde_norway::Value {
    let doc: serde_norway::Value = serde_norway::from_str(&dir.read(yaml)).unwrap();
    for (field, ext) in [("tls.crt", ".crt"), ("tls.key", ".key"), ("ca.crt", ".cas")] {
        let b64 = doc["data"][field].as_str().unwrap();
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        std::fs::write(dir.join(&format!("{prefix}{ext}")), pem).unwrap();
    }
    doc
}

#[test]
fn pkcs12_and_kubernetes_secrets_are_read_by_openssl_and_used_by_redis() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.write("pass", "a passphrase for the test\n");
    let password = password_from(
        &dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
            .ok(),
    );
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    // The server's bundle as a Kubernetes Secret.
    let out = dir
        .rctl(&[
            "auth",
            "sign",
            "--format=kubernetes-secret",
            "--namespace=cache",
            "--host=127.0.0.1",
            "--out=redis1",
        ])
        .ok();
    assert!(out.contains("redis1.yaml (kubernetes-secret"), "{out}");
    let doc = secret_to_files(&dir, "redis1.yaml", "server");
    assert_eq!(doc["kind"].as_str(), Some("Secret"));
    assert_eq!(doc["type"].as_str(), Some("kubernetes.io/tls"));
    assert_eq!(doc["metadata"]["name"].as_str(), Some("redis1"));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some("cache"));
    openssl(&dir, &["verify", "-CAfile", "server.cas", "server.crt"]);
    // The client's as PKCS#12.
    let out = dir
        .rctl(&[
            "auth",
            "sign",
            "--format=pkcs12",
            "--pkcs12-passphrase-file=pass",
            "--user=app",
            "--db-user=app",
            "--out=app",
        ])
        .ok();
    assert!(out.contains("app.p12 (pkcs12"), "{out}");
    let info = crate::util::run(
        {
            let mut c = std::process::Command::new("openssl");
            c.args([
                "pkcs12",
                "-in",
                "app.p12",
                "-passin",
                "file:pass",
                "-info",
                "-noout",
            ])
            .current_dir(dir.path());
            c
        },
        None,
    );
    let text = info.all_output();
    assert!(
        text.contains("PBES2, PBKDF2, AES-256-CBC") && text.contains("MAC: sha256"),
        "{text}"
    );
    // The leaf, the key and the CA certificates out of the PKCS#12, as a Java or .NET client
    // would take them.
    let extract = |flags: &[&str], out: &str| {
        let mut args = vec!["pkcs12", "-in", "app.p12", "-passin", "file:pass"];
        args.extend(flags);
        args.extend(["-out", out]);
        openssl(&dir, &args);
    };
    extract(&["-nokeys", "-clcerts"], "client.crt");
    extract(&["-nocerts", "-noenc"], "client.key");
    extract(&["-nokeys", "-cacerts"], "client.cas");
    openssl(&dir, &["verify", "-CAfile", "client.cas", "client.crt"]);
    let blocks = |text: String| {
        text.split("-----BEGIN")
            .skip(1)
            .map(|b| b.split("-----END").next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        blocks(dir.read("client.cas")),
        blocks(dir.read("server.cas"))
    );
    if std::process::Command::new("keytool")
        .arg("-help")
        .output()
        .is_ok()
    {
        let listed = std::process::Command::new("keytool")
            .args([
                "-list",
                "-storetype",
                "PKCS12",
                "-keystore",
                "app.p12",
                "-storepass",
            ])
            .arg("a passphrase for the test")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&listed.stdout).contains("PrivateKeyEntry"));
    }
    // redis-server on the Secret's files, redis-cli with the PKCS#12's.
    let server = RedisServer::start(
        &Creds::new(dir.join("server")),
        Some(&dir.join("users.acl")),
    );
    let cli = server.cli(
        &dir.join("client.cas"),
        Some(&Creds {
            prefix: dir.join("client"),
        }),
        &["--user", "app", "--pass", &password],
        &["ACL", "WHOAMI"],
    );
    assert_eq!(cli.ok().trim(), "app");

    // Refused, nothing written: no passphrase file, a CSR, a Secret name Kubernetes refuses.
    let snapshot = crate::util::snapshot(dir.path());
    dir.rctl(&["auth", "sign", "--format=pkcs12", "--host=a", "--out=x"])
        .refused("--format=pkcs12 needs --pkcs12-passphrase-file=FILE");
    dir.rctl(&[
        "auth",
        "sign",
        "--format=kubernetes-secret",
        "--host=a",
        "--out=Bad_Name",
    ])
    .refused("invalid Kubernetes Secret name \"Bad_Name\"");
    dir.rctl(&[
        "auth",
        "sign",
        "--format=pkcs12",
        "--pkcs12-passphrase-file=pass",
        "--csr=pass",
        "--out=x",
    ])
    .refused("a CSR's certificate is written as --format=redis");
    dir.rctl(&[
        "auth",
        "sign",
        "--format=pkcs12",
        "--pkcs12-passphrase-file=pass",
        "--host=a",
        "--out=app",
    ])
    .refused("app.p12");
    assert!(
        crate::util::snapshot(dir.path()) == snapshot,
        "a refusal changed files"
    );
}

#[test]
fn client_outputs_in_one_file_formats_are_renewed_and_follow_a_rotation() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.write("pass", "pkcs12 pass\n");
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&[
        "clients",
        "add",
        "javaapp",
        "--user=app",
        "--db-user=app",
        "--out=java",
        "--format=pkcs12",
        "--pkcs12-passphrase-file=pass",
        "--ttl=1h",
    ])
    .ok();
    dir.rctl(&[
        "clients",
        "add",
        "k8s-app",
        "--user=app",
        "--db-user=app",
        "--out=k8s",
        "--format=kubernetes-secret",
        "--namespace=apps",
        "--ttl=1h",
    ])
    .ok();
    let listed = dir.rctl(&["clients", "ls"]).ok();
    assert!(
        listed.contains("pkcs12") && listed.contains("kubernetes-secret"),
        "{listed}"
    );
    let serial = |dir: &TestDir| {
        secret_to_files(dir, "k8s.yaml", "k8s-now");
        let out = dir
            .rctl(&["certs", "inspect", "k8s-now.crt", "--format=json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["serial"].as_str().unwrap().to_string()
    };
    let first = serial(&dir);
    assert_eq!(
        dir.rctl(&["redis", "sync", "--all"])
            .ok()
            .matches(": in line")
            .count(),
        2
    );
    // Due: both renewed; read back in their format.
    let synced = dir
        .rctl(&["redis", "sync", "--all", "--renew-within=2h"])
        .ok();
    assert_eq!(
        synced.matches("renewed the certificate (due").count(),
        2,
        "{synced}"
    );
    assert_ne!(serial(&dir), first);
    // A new trusted key: one file holds the CA certificates with the key, so it is written anew.
    dir.rctl(&["auth", "rotate", "--manual", "--phase=init"])
        .ok();
    let synced = dir.rctl(&["redis", "sync", "--all"]).ok();
    assert_eq!(
        synced
            .matches("its CA certificates are not the ones trusted now")
            .count(),
        2,
        "{synced}"
    );
    secret_to_files(&dir, "k8s.yaml", "k8s-now");
    assert_eq!(
        dir.read("k8s-now.cas").matches("BEGIN CERTIFICATE").count(),
        2
    );
    openssl(
        &dir,
        &[
            "pkcs12",
            "-in",
            "java.p12",
            "-passin",
            "file:pass",
            "-nokeys",
            "-cacerts",
            "-out",
            "java.cas",
        ],
    );
    assert_eq!(dir.read("java.cas").matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(
        dir.rctl(&["redis", "sync", "--all"])
            .ok()
            .matches(": in line")
            .count(),
        2
    );
    // A wrong passphrase file now: the sync says it cannot read the file, and fails.
    dir.write("pass", "another\n");
    let dry = dir.rctl(&["redis", "sync", "javaapp", "--dry-run"]).ok();
    assert!(dry.contains("would renew"), "{dry}");
}

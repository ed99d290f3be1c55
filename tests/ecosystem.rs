//! CSR signing, certs inspect, redis config, completions and the man page.

use std::process::Command;

use crate::util::{Creds, RedisServer, TestDir, openssl, run, snapshot};

/// A key and CSR made on the "Redis host" with openssl, asking for CA:TRUE too.
fn host_csr(dir: &TestDir, sans: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "host.key",
            "-subj",
            "/CN=ignored",
            "-addext",
            &format!("subjectAltName={sans}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-out",
            "host.csr",
        ],
    );
}

#[test]
fn a_csr_is_signed_without_its_key_and_redis_serves_with_it() {
    let dir = TestDir::new();
    host_csr(&dir, "DNS:localhost,IP:127.0.0.1");
    let out = dir
        .rctl(&[
            "auth",
            "sign",
            "--format=redis",
            "--csr=host.csr",
            "--out=server",
            "--ttl=24h",
        ])
        .ok();
    assert!(out.contains("server.crt, server.cas."), "{out}");
    assert!(
        !dir.join("server.key").exists(),
        "a key was written for a CSR"
    );
    // The audit record names the two files written, and no key.
    let audit: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["audit", "ls", "--format=json"]).ok()).unwrap();
    let issued = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cert.issue")
        .unwrap();
    assert_eq!(
        issued["outputs"],
        serde_json::json!([
            dir.join("server.crt").display().to_string(),
            dir.join("server.cas").display().to_string()
        ])
    );
    let text = openssl(&dir, &["x509", "-in", "server.crt", "-noout", "-text"]);
    assert!(
        text.contains("CA:FALSE") && !text.contains("CA:TRUE"),
        "CA:TRUE copied from the CSR:\n{text}"
    );
    assert!(
        text.contains("DNS:localhost, IP Address:127.0.0.1"),
        "{text}"
    );
    openssl(
        &dir,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            "server.cas",
            "server.crt",
        ],
    );
    // Redis runs with the host's own key and the signed certificate.
    let crt = dir.join("server.crt");
    let key = dir.join("host.key");
    let cas = dir.join("server.cas");
    let redis = RedisServer::try_start_with(|port| {
        format!(
            "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients yes\n",
            crt.display(),
            key.display(),
            cas.display()
        )
    })
    .unwrap();
    dir.rctl(&["auth", "sign", "--host=client", "--out=client"])
        .ok();
    assert!(
        redis.pongs(&cas, Some(&Creds::new(dir.join("client")))),
        "{}",
        redis.log()
    );
}

#[test]
fn bad_csrs_are_refused_and_change_nothing() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    host_csr(&dir, "DNS:bad_host..example");
    let pem = dir.read("host.csr");
    // Tamper with the signed part: swap one base64 character in the middle of the body.
    let mut lines: Vec<String> = pem.lines().map(str::to_string).collect();
    let mid = lines.len() / 2;
    let c = if lines[mid].starts_with('A') {
        "B"
    } else {
        "A"
    };
    lines[mid].replace_range(0..1, c);
    dir.write("tampered.csr", &(lines.join("\n") + "\n"));
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k2",
            "-subj",
            "/CN=x",
            "-out",
            "nosan.csr",
        ],
    );
    dir.write("notcsr.pem", &dir.read("k2"));
    let before = snapshot(dir.path());
    dir.rctl(&["auth", "sign", "--csr=host.csr", "--out=o"])
        .refused("invalid host");
    dir.rctl(&["auth", "sign", "--csr=tampered.csr", "--out=o"])
        .refused("invalid CSR");
    dir.rctl(&["auth", "sign", "--csr=nosan.csr", "--out=o"])
        .refused("no subject alternative names");
    dir.rctl(&["auth", "sign", "--csr=notcsr.pem", "--out=o"])
        .refused("no CERTIFICATE REQUEST block");
    dir.rctl(&["auth", "sign", "--csr=nosan.csr", "--host=a", "--out=o"])
        .refused("cannot be used with");
    dir.rctl(&["auth", "sign", "--csr=missing.csr", "--out=o"])
        .refused("missing.csr");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn inspect_tells_valid_foreign_and_expired_apart() {
    let dir = TestDir::new();
    dir.rctl(&[
        "auth",
        "sign",
        "--host=redis.local,10.0.0.1",
        "--out=server",
        "--ttl=90m",
    ])
    .ok();
    let text = dir.rctl(&["certs", "inspect", "server.crt"]).ok();
    for want in [
        "Subject:        (none: the names are the SANs)",
        "SANs:           redis.local, 10.0.0.1",
        "server_auth, client_auth",
        "1h29m",
        "ecdsa-p256",
        "Status:         valid",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &dir.rctl(&["certs", "inspect", "server.crt", "--format=json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(json["status"], "valid");
    assert_eq!(json["sans"], serde_json::json!(["redis.local", "10.0.0.1"]));
    assert!(json["seconds_left"].as_i64().unwrap() > 5300);

    // Another state's CA: foreign, exit 1, one line on stderr.
    let other = TestDir::new();
    let foreign = other.rctl_in(
        &other.state(),
        &["certs", "inspect", dir.join("server.crt").to_str().unwrap()],
        None,
    );
    assert_eq!(foreign.output.status.code(), Some(1));
    assert!(foreign.stdout().contains("Status:         foreign"));
    assert_eq!(foreign.stderr().lines().count(), 1);
    assert!(
        foreign
            .stderr()
            .contains("not signed by any key this host CA trusts")
    );

    // An expired certificate, issued by the library with a clock two days back.
    fn two_days_ago() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() - time::Duration::days(2)
    }
    {
        let mut state = rctl::StateDir::open(dir.state())
            .unwrap()
            .with_clock(two_days_ago);
        let req = rctl::ServerCertRequest::new(rctl::parse_host_list("old.local").unwrap())
            .with_ttl("1h".parse().unwrap());
        state
            .sign(&rctl::Signing::server(req))
            .unwrap()
            .0
            .write(&dir.join("old"), false)
            .unwrap();
    }
    let expired = dir.rctl(&["certs", "inspect", "old.crt"]);
    assert_eq!(expired.output.status.code(), Some(1));
    assert!(
        expired.stdout().contains("expired 47h"),
        "{}",
        expired.stdout()
    );
    assert!(
        expired.stderr().contains("old.crt expired 20"),
        "{}",
        expired.stderr()
    );
    dir.rctl(&["certs", "inspect", "server.key"])
        .refused("no CERTIFICATE block");
}

#[test]
fn redis_config_starts_a_real_redis_server() {
    let dir = TestDir::new();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=tls/server"])
        .refused("does not exist");
    std::fs::create_dir(dir.join("tls dir")).unwrap();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=tls dir/server"])
        .ok();
    dir.rctl(&["auth", "sign", "--host=client", "--out=client"])
        .ok();
    let redis = RedisServer::try_start_with(|port| {
        dir.rctl(&[
            "redis",
            "config",
            "--cert-prefix=tls dir/server",
            "--acl=users.acl",
            &format!("--port={port}"),
            "--replication",
        ])
        .ok()
    })
    .unwrap();
    let conf = std::fs::read_to_string(redis.dir.path().join("redis.conf")).unwrap();
    assert!(
        conf.contains(&format!(
            "tls-cert-file \"{}\"",
            dir.join("tls dir/server.crt").display()
        )),
        "{conf}"
    );
    assert!(
        conf.contains("tls-replication yes") && conf.contains("aclfile /"),
        "{conf}"
    );
    let cas = dir.join("tls dir/server.cas");
    let anon = redis.cli(&cas, Some(&Creds::new(dir.join("client"))), &[], &["PING"]);
    assert!(
        anon.stdout().contains("NOAUTH"),
        "the aclfile was not loaded: {}",
        anon.stdout()
    );
    dir.rctl(&["redis", "config", "--cert-prefix=nothing"])
        .refused("no certificate at");
    dir.rctl(&[
        "redis",
        "config",
        "--cert-prefix=client",
        "--acl=missing.acl",
    ])
    .refused("no users.acl at");
    dir.rctl(&["redis", "config", "--cert-prefix=client", "--port=0"])
        .refused("invalid value for '--port <N>': 0 is not in 1..=65535");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let dir = TestDir::new();
    let bash = dir.rctl(&["completion", "bash"]).ok();
    dir.write("rctl.bash", &bash);
    let mut cmd = Command::new("bash");
    cmd.arg("-n").arg(dir.join("rctl.bash"));
    run(cmd, None).ok();
    assert!(
        bash.contains("auth__subcmd__sign") && bash.contains("--db-user"),
        "incomplete bash completion"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            dir.rctl(&["completion", shell]).ok().contains("rctl"),
            "{shell}"
        );
    }
    dir.rctl(&["completion", "tcsh"])
        .refused("invalid value 'tcsh'");
    let man = dir.rctl(&["man"]).ok();
    assert!(
        man.contains(".TH rctl 1") && man.contains("auth"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(!dir.state().exists(), "completion or man touched the state");
}

//! Certificate login live, on Debian sid's Valkey 9.1.2 and Debian experimental's Redis 8.6.3,
//! both built with TLS (`target/test-servers/valkey-9.1-tls` and `redis-8.6-tls`, from
//! `scripts/test-servers.sh`), every test on each: the server logs a
//! client in as its certificate's CN, so what rctl signs decides who may log in without a
//! password.

use super::acl_servers::servers_dir;
use super::util::{Creds, RedisServer, TestDir, password_from};

/// A server that logs in by certificate: its binary under target/test-servers, its target.
#[derive(Clone, Copy)]
struct CertLogin {
    binary: &'static str,
    target: &'static str,
}

/// Every server that logs in by certificate and runs here.
const CERT_LOGIN: [CertLogin; 2] = [
    CertLogin {
        binary: "valkey-9.1-tls",
        target: "valkey-9.1",
    },
    CertLogin {
        binary: "redis-8.6-tls",
        target: "redis-8.6",
    },
];

/// The server with TLS from `redis config --cert-login` output and the state's users.acl.
fn with_cert_login(dir: &TestDir, on: CertLogin) -> RedisServer {
    let binary = servers_dir().join(on.binary);
    assert!(
        binary.exists(),
        "no {}: run scripts/test-servers.sh",
        binary.display()
    );
    dir.rctl(&["redis", "target", on.target]).ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    RedisServer::try_start_program(&binary, super::util::free_port, |port| {
        dir.rctl(&[
            "redis",
            "config",
            "--cert-prefix=server",
            "--acl=users.acl",
            "--cert-login",
            &format!("--port={port}"),
        ])
        .ok()
    })
    .unwrap_or_else(|log| panic!("{} did not start; its log:\n{log}", on.binary))
}

/// `ACL WHOAMI` over TLS with `client`'s certificate and no password.
fn whoami(server: &RedisServer, dir: &TestDir, client: &str) -> String {
    let creds = Creds::new(dir.join(client));
    server
        .cli(
            &dir.join("server.cas"),
            Some(&creds),
            &[],
            &["ACL", "WHOAMI"],
        )
        .all_output()
}

#[test]
fn a_server_certificate_logs_in_as_nobody_and_a_client_certificate_as_its_account() {
    for on in CERT_LOGIN {
        a_server_certificate_logs_in_as_nobody_and_a_client_certificate_as_its_account_on(on);
    }
}

fn a_server_certificate_logs_in_as_nobody_and_a_client_certificate_as_its_account_on(
    on: CertLogin,
) {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    password_from(
        &dir.rctl(&[
            "users",
            "add",
            "alice",
            "--roles=access",
            "--db-users=alice",
        ])
        .ok(),
    );
    // Certificates that name alice only as a host: `auth sign --host=alice`, and a CSR whose
    // SAN is DNS:alice. Both carry clientAuth (servers need it for replication).
    dir.rctl(&["auth", "sign", "--host=alice", "--out=by-host"])
        .ok();
    super::util::openssl(
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
            "by-csr.key",
            "-subj",
            "/CN=alice",
            "-addext",
            "subjectAltName=DNS:alice",
            "-out",
            "by-csr.csr",
        ],
    );
    dir.rctl(&["auth", "sign", "--csr=by-csr.csr", "--out=by-csr"])
        .ok();
    // alice's own client certificate.
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=alice",
        "--out=alice",
    ])
    .ok();
    let server = with_cert_login(&dir, on);

    // The control: alice's client certificate is a password-free login as alice.
    let own = whoami(&server, &dir, "alice");
    assert_eq!(own.trim(), "alice", "{own}");
    // A server certificate for host "alice" logs in as nobody: `default` is off, so the
    // connection is not authenticated at all.
    for client in ["by-host", "by-csr"] {
        let out = whoami(&server, &dir, client);
        assert!(!out.contains("alice"), "{client}: {out}");
        assert!(out.contains("NOAUTH"), "{client}: {out}");
    }
    // And the server's own certificate too.
    let out = whoami(&server, &dir, "server");
    assert!(out.contains("NOAUTH"), "{out}");
}

/// The replication account's certificate login: a replica from `redis config --replica-of
/// --repl-user --repl-cert-prefix` output links to its primary over TLS with no masterauth.
#[test]
fn a_replica_logs_in_to_its_primary_with_the_replication_certificate() {
    for on in CERT_LOGIN {
        a_replica_logs_in_to_its_primary_with_the_replication_certificate_on(on);
    }
}

fn a_replica_logs_in_to_its_primary_with_the_replication_certificate_on(on: CertLogin) {
    let dir = TestDir::new();
    dir.rctl(&["redis", "config", "--cert-login=on", "--cert-prefix=x"])
        .refused("no certificate");
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=replica"])
        .ok();
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    dir.rctl(&[
        "users",
        "add",
        "repl",
        "--roles=replication",
        "--db-users=repl",
        "--force",
    ])
    .ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--user=repl",
        "--db-user=repl",
        "--out=repl",
    ])
    .ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=alice",
        "--out=alice",
    ])
    .ok();
    let primary = with_cert_login(&dir, on);
    let binary = servers_dir().join(on.binary);
    let replica = RedisServer::try_start_program(&binary, super::util::free_port, |port| {
        let conf = dir
            .rctl(&[
                "redis",
                "config",
                "--cert-prefix=replica",
                "--acl=users.acl",
                "--cert-login",
                &format!("--port={port}"),
                &format!("--replica-of=127.0.0.1:{}", primary.port),
                "--repl-user=repl",
                "--repl-cert-prefix=repl",
            ])
            .ok();
        assert!(!conf.contains("masterauth"), "{conf}");
        assert!(
            conf.contains("tls-client-cert-file") && conf.contains("tls-replication yes"),
            "{conf}"
        );
        conf
    })
    .unwrap_or_else(|log| panic!("the replica did not start; its log:\n{log}"));
    let alice = Creds::new(dir.join("alice"));
    let ask = |server: &RedisServer, command: &[&str]| {
        server
            .cli(&dir.join("server.cas"), Some(&alice), &[], command)
            .all_output()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !ask(&replica, &["INFO", "replication"]).contains("master_link_status:up") {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not link: {}",
            ask(&replica, &["INFO", "replication"])
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        ask(&primary, &["SET", "k", "from-the-primary"]).trim(),
        "OK"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ask(&replica, &["GET", "k"]).trim() != "from-the-primary" {
        assert!(
            std::time::Instant::now() < deadline,
            "the write did not reach the replica"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The primary sees the replica logged in as repl (its replication client).
    let clients = ask(&primary, &["CLIENT", "LIST", "TYPE", "replica"]);
    assert!(clients.contains("user=repl"), "{clients}");
}

/// What the accounts rules promise, against the server: no certificate for `default`, a
/// readonly person cannot get one for another account, and a certificate whose account
/// users.acl no longer has logs in as nobody.
#[test]
fn certificates_for_missing_or_foreign_accounts_log_in_as_nobody() {
    for on in CERT_LOGIN {
        certificates_for_missing_or_foreign_accounts_log_in_as_nobody_on(on);
    }
}

fn certificates_for_missing_or_foreign_accounts_log_in_as_nobody_on(on: CertLogin) {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    dir.rctl(&["users", "add", "bob", "--roles=readonly", "--db-users=bob"])
        .ok();
    dir.rctl(&["users", "add", "gone", "--roles=access", "--db-users=gone"])
        .ok();
    dir.rctl(&["redis", "target", on.target]).ok();
    dir.rctl(&["redis", "config", "--cert-login", "--cert-prefix=server"])
        .ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=default",
        "--out=d",
    ])
    .refused("\"default\" is Redis's own user");
    dir.rctl(&["auth", "sign", "--user=bob", "--db-user=alice", "--out=b"])
        .refused("allows db user \"alice\"");
    dir.rctl(&[
        "auth",
        "sign",
        "--user=gone",
        "--db-user=gone",
        "--out=gone",
    ])
    .ok();
    dir.rctl(&["auth", "sign", "--user=bob", "--db-user=bob", "--out=bob"])
        .ok();
    // gone leaves: the next users.acl has no such account.
    dir.rctl(&["users", "rm", "gone"]).ok();
    let server = with_cert_login(&dir, on);
    let out = whoami(&server, &dir, "gone");
    assert!(!out.contains("gone") || out.contains("NOAUTH"), "{out}");
    assert!(out.contains("NOAUTH") || out.contains("ERR"), "{out}");
    // bob's own certificate: bob, and only what readonly allows.
    // (readonly has no ACL WHOAMI: the refusal names the account it is logged in as.)
    let me = whoami(&server, &dir, "bob");
    assert!(me.contains("User bob has no permissions"), "{me}");
    let creds = Creds::new(dir.join("bob"));
    let set = server.cli(
        &dir.join("server.cas"),
        Some(&creds),
        &[],
        &["SET", "k", "v"],
    );
    assert!(set.all_output().contains("NOPERM"), "{}", set.all_output());
}

/// Certificate login switched on by hand on a server whose state says off: anyone holding a
/// certificate for an account logs in as it without a password. Check reports it; sync sets it
/// back, and the certificate logs in as nobody again.
#[test]
fn check_reports_and_sync_sets_back_certificate_login_changed_by_hand() {
    for on in CERT_LOGIN {
        check_reports_and_sync_sets_back_certificate_login_changed_by_hand_on(on);
    }
}

fn check_reports_and_sync_sets_back_certificate_login_changed_by_hand_on(on: CertLogin) {
    let dir = TestDir::new();
    dir.rctl(&["redis", "target", on.target]).ok();
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    let binary = servers_dir().join(on.binary);
    let r = super::live::register_and_start_program(&dir, &binary, "r1", &[], "");
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=alice",
        "--out=alice",
    ])
    .ok();
    assert_eq!(dir.rctl(&["redis", "check", "r1"]).ok(), "r1: ok\n");
    let alice = Creds::new(dir.join("alice"));
    let whoami = || {
        r.server
            .cli(&r.creds.file(".cas"), Some(&alice), &[], &["ACL", "WHOAMI"])
            .all_output()
    };
    assert!(whoami().contains("NOAUTH"), "{}: {}", on.target, whoami());
    // Switched on by hand, as rctl-admin.
    let admin = std::fs::read_to_string(dir.state().join("rctl_admin.password")).unwrap();
    let set = r.server.cli(
        &r.creds.file(".cas"),
        Some(&r.creds),
        &["--user", "rctl-admin", "--pass", admin.trim()],
        &["CONFIG", "SET", "tls-auth-clients-user", "CN"],
    );
    assert_eq!(set.stdout().trim(), "OK", "{}", set.all_output());
    assert_eq!(whoami().trim(), "alice", "{}", on.target);
    let check = dir.rctl(&["redis", "check", "r1"]);
    let report = check.failed("1 problem(s) on 1 of 1 server(s)");
    assert!(
        report.contains("tls-auth-clients-user is CN, not the state's off"),
        "{}: {report}",
        on.target
    );
    dir.rctl(&["redis", "sync", "r1"]).ok();
    assert_eq!(dir.rctl(&["redis", "check", "r1"]).ok(), "r1: ok\n");
    assert!(whoami().contains("NOAUTH"), "{}: {}", on.target, whoami());
}

//! Certificate login live, on Debian sid's Valkey 9.1.2 built with TLS
//! (`target/test-servers/valkey-9.1-tls`, from `scripts/test-servers.sh`): the server logs a
//! client in as its certificate's CN, so what rctl signs decides who may log in without a
//! password.

use super::acl_servers::servers_dir;
use super::util::{Creds, RedisServer, TestDir, password_from};

/// A Valkey 9.1 with TLS from `redis config --cert-login` output and the state's users.acl.
fn valkey_with_cert_login(dir: &TestDir) -> RedisServer {
    let binary = servers_dir().join("valkey-9.1-tls");
    assert!(
        binary.exists(),
        "no {}: run scripts/test-servers.sh",
        binary.display()
    );
    dir.rctl(&["redis", "target", "valkey-9.1"]).ok();
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
    .unwrap_or_else(|log| panic!("valkey-server 9.1 did not start; its log:\n{log}"))
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
    let server = valkey_with_cert_login(&dir);

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

//! Locks (`rctl lock add|ls|rm`) against a real Redis 7.0 with passwords: a lock switches the
//! accounts it covers off in users.acl and on the live server, closes their connections, and
//! stops every certificate for them; removing it, or its expiry and a sync, restores them.

use crate::live::{Client, add_client, connect, ping, register_and_start};
use crate::util::TestDir;

/// A held connection answers PING; once closed by the server, it fails.
fn answers(conn: &mut redis::Connection) -> bool {
    ping(conn).is_ok_and(|p| p == "PONG")
}

fn can_log_in(port: u16, client: &Client) -> bool {
    connect(port, client).is_ok_and(|mut c| answers(&mut c))
}

#[test]
fn a_lock_cuts_a_user_off_at_once_and_its_removal_restores_them() {
    let dir = TestDir::new();
    let alice = add_client(&dir, "alice");
    let bob = add_client(&dir, "bob");
    let r = register_and_start(&dir, "primary", &[], "");
    let port = r.server.port;
    dir.rctl(&["redis", "sync", "primary"]).ok();
    let mut alice_held = connect(port, &alice).unwrap();
    let mut bob_held = connect(port, &bob).unwrap();
    assert!(answers(&mut alice_held) && answers(&mut bob_held));

    let run = dir.rctl(&[
        "lock",
        "add",
        "--user=alice",
        "--message=left the team",
        "--ttl=1h",
    ]);
    let id = run.ok().trim().to_string();
    assert_eq!(id.len(), 16, "the id alone on stdout: {id:?}");
    assert!(
        run.stderr().contains("applied on server primary"),
        "{}",
        run.stderr()
    );
    // Her held connection is closed, she cannot log in again; bob is untouched.
    assert!(
        !answers(&mut alice_held),
        "alice's connection outlived the lock"
    );
    assert!(!can_log_in(port, &alice), "alice logged in while locked");
    assert!(answers(&mut bob_held), "bob's connection was closed");
    let acl = std::fs::read_to_string(&r.acl).unwrap();
    assert!(
        acl.lines().any(|l| l.starts_with("user alice off #")),
        "{acl}"
    );
    assert!(acl.lines().any(|l| l.starts_with("user bob on #")), "{acl}");

    // Nothing is issued for her while it holds, and she is told why.
    let why = "access denied: a lock on user:alice is in force: left the team";
    dir.rctl(&["db", "login", "primary", "--user=alice"])
        .failed(why);
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=alice",
        "--out=again",
    ])
    .failed(why);
    assert!(!dir.join("again.crt").exists());
    let listed = dir.rctl(&["db", "ls", "--user=alice"]);
    assert!(listed.stderr().contains(why), "{}", listed.stderr());
    assert!(listed.ok().contains("primary"));

    let listed: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["lock", "ls", "--format=json"]).ok()).unwrap();
    let one = &listed.as_array().unwrap()[0];
    assert_eq!(one["id"], id.as_str());
    assert_eq!(one["target"], "user:alice");
    assert_eq!(one["message"], "left the team");
    assert!(one["expires"].is_string(), "{one}");

    // Removed: she logs in again, on the live server and in the file.
    dir.rctl(&["lock", "rm", &id]).ok();
    assert!(can_log_in(port, &alice), "alice is still off after lock rm");
    let acl = std::fs::read_to_string(&r.acl).unwrap();
    assert!(
        acl.lines().any(|l| l.starts_with("user alice on #")),
        "{acl}"
    );
    dir.rctl(&["lock", "rm", &id])
        .failed(&format!("lock \"{id}\" not found"));

    let audit = dir.rctl(&["audit", "ls"]).ok();
    assert!(audit.contains("lock.create"), "{audit}");
    assert!(audit.contains("lock.delete"), "{audit}");
}

#[test]
fn a_role_lock_covers_its_holders_until_it_expires_and_a_sync_restores_them() {
    let dir = TestDir::new();
    let alice = add_client(&dir, "alice");
    let r = register_and_start(&dir, "primary", &[], "");
    let port = r.server.port;
    dir.rctl(&["redis", "sync", "primary"]).ok();
    let mut held = connect(port, &alice).unwrap();
    assert!(answers(&mut held));
    dir.rctl(&["lock", "add", "--role=access", "--ttl=2s"]).ok();
    assert!(!answers(&mut held));
    assert!(!can_log_in(port, &alice));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // Expired: a certificate is issued again, and the next sync switches her back on.
    let listed = dir.rctl(&["lock", "ls"]).ok();
    assert!(listed.contains("expired"), "{listed}");
    dir.rctl(&["redis", "sync", "primary"]).ok();
    assert!(
        can_log_in(port, &alice),
        "alice is still off after the lock expired"
    );
}

#[test]
fn a_lock_on_an_account_or_a_node_and_bad_locks() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    // Nothing registered: the lock is still saved and stops certificates for the account.
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&["lock", "add", "--db-user=app"]).ok();
    dir.rctl(&["auth", "sign", "--user=app", "--db-user=app", "--out=app"])
        .failed("access denied: a lock on db_user:app is in force");
    let acl = dir.rctl(&["acl", "generate"]).ok();
    assert!(acl.contains("user app off #"), "{acl}");
    dir.rctl(&["lock", "add", "--node=n1", "--message=stolen"])
        .ok();
    let listed = dir.rctl(&["lock", "ls"]).ok();
    assert!(
        listed.contains("node:n1") && listed.contains("stolen"),
        "{listed}"
    );
    // Refused, nothing saved.
    let before = dir.rctl(&["lock", "ls", "--format=json"]).ok();
    dir.rctl(&["lock", "add", "--user=rctl-admin"])
        .refused("invalid lock target \"rctl-admin\"");
    dir.rctl(&["lock", "add", "--user=a b"])
        .refused("invalid user name");
    dir.rctl(&["lock", "add", "--user=alice", "--message=two\nlines"])
        .refused("invalid lock message");
    dir.rctl(&["lock", "add"])
        .refused("the following required arguments were not provided");
    dir.rctl(&["lock", "add", "--user=a", "--role=b"])
        .refused("cannot be used with");
    assert_eq!(dir.rctl(&["lock", "ls", "--format=json"]).ok(), before);
}

/// A connection that logs in by its certificate alone (no AUTH): certificate login.
fn connect_by_certificate(port: u16, creds: &crate::util::Creds) -> redis::Connection {
    let _ = rustls::crypto::ring::default_provider().install_default();
    use redis::IntoConnectionInfo;
    let info = redis::ConnectionAddr::TcpTls {
        host: "127.0.0.1".to_string(),
        port,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()
    .unwrap()
    .set_redis_settings(redis::RedisConnectionInfo::default().set_skip_set_lib_name());
    let read = |ext: &str| std::fs::read(creds.file(ext)).unwrap();
    let tls = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: read(".crt"),
            client_key: read(".key"),
        }),
        root_cert: Some(read(".cas")),
    };
    redis::Client::build_with_tls(info, tls)
        .unwrap()
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
        .unwrap()
}

fn whoami(conn: &mut redis::Connection) -> String {
    redis::cmd("ACL")
        .arg("WHOAMI")
        .query::<String>(conn)
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// On Valkey 9.1 and Redis 8.6 with certificate login, the certificate is the credential: a
/// lock closes the connections it logged in and its next login is refused.
#[test]
fn a_lock_stops_certificate_logins() {
    for (binary, target) in [
        ("valkey-9.1-tls", "valkey-9.1"),
        ("redis-8.6-tls", "redis-8.6"),
    ] {
        let dir = TestDir::new();
        dir.rctl(&["redis", "target", target]).ok();
        for user in ["alice", "bob"] {
            let db_users = format!("--db-users={user}");
            dir.rctl(&["users", "add", user, "--roles=access", &db_users])
                .ok();
        }
        let program = crate::acl_servers::servers_dir().join(binary);
        let r = crate::live::register_and_start_program(
            &dir,
            &program,
            "r1",
            &[],
            "tls-auth-clients-user CN\n",
        );
        let port = r.server.port;
        dir.rctl(&["redis", "config", "--cert-prefix=tls/r1", "--cert-login=on"])
            .ok();
        dir.rctl(&["redis", "sync", "r1"]).ok();
        for user in ["alice", "bob"] {
            let db_user = format!("--db-user={user}");
            let out = format!("--out={user}");
            dir.rctl(&["auth", "sign", &format!("--user={user}"), &db_user, &out])
                .ok();
        }
        let alice = crate::util::Creds::new(dir.join("alice"));
        let bob = crate::util::Creds::new(dir.join("bob"));
        let mut alice_held = connect_by_certificate(port, &alice);
        let mut bob_held = connect_by_certificate(port, &bob);
        assert_eq!(whoami(&mut alice_held), "alice", "{target}");
        assert_eq!(whoami(&mut bob_held), "bob", "{target}");

        dir.rctl(&["lock", "add", "--user=alice"]).ok();
        assert!(whoami(&mut alice_held).starts_with("error"), "{target}");
        let again = whoami(&mut connect_by_certificate(port, &alice));
        assert_ne!(again, "alice", "{target}: a locked certificate logged in");
        assert_eq!(whoami(&mut bob_held), "bob", "{target}");
        let id = dir.rctl(&["lock", "ls", "--format=json"]).ok();
        let id: serde_json::Value = serde_json::from_str(&id).unwrap();
        dir.rctl(&["lock", "rm", id[0]["id"].as_str().unwrap()])
            .ok();
        let back = whoami(&mut connect_by_certificate(port, &alice));
        assert_eq!(back, "alice", "{target}: not restored");
    }
}

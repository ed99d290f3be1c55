//! Per-login Redis accounts (`db login` as oneself): an account for that login only
//! (`USER+ID`), on that server only, for the login's lifetime; `db logout` deletes it at once
//! and its expiry through the agent, each closing its connections. Redis 7.0 with passwords,
//! Valkey 9.1 with certificate login.

use crate::agent::{Agent, within};
use crate::live::register_labelled;
use crate::util::{TestDir, rctl_command, run};

/// `rctl ARGS` with the profile in the test folder.
fn rctl_p(dir: &TestDir, args: &[&str]) -> crate::util::Run {
    let mut cmd = rctl_command();
    cmd.arg("--state-dir")
        .arg(dir.state())
        .args(args)
        .env("RCTL_PROFILE", dir.join("profile"))
        .env_remove("REDISCLI_AUTH")
        .current_dir(dir.path());
    run(cmd, None)
}

fn config(dir: &TestDir, server: &str) -> serde_json::Value {
    let out = rctl_p(
        dir,
        &["db", "config", server, "--user=alice", "--format=json"],
    )
    .ok();
    serde_json::from_str(&out).unwrap()
}

/// A connection as the login: its certificate, and its one-time password when it has one.
fn connect(dir: &TestDir, server: &str, port: u16) -> redis::RedisResult<redis::Connection> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    use redis::IntoConnectionInfo;
    let c = config(dir, server);
    let read = |key: &str| std::fs::read(c[key].as_str().unwrap()).unwrap();
    let password = std::fs::read_to_string(dir.join(&format!("profile/alice/{server}.password")));
    let mut settings = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Ok(password) = &password {
        settings = settings
            .set_username(c["db_user"].as_str().unwrap())
            .set_password(password.trim());
    }
    let info = redis::ConnectionAddr::TcpTls {
        host: "127.0.0.1".to_string(),
        port,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()?
    .set_redis_settings(settings);
    let tls = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: read("cert"),
            client_key: read("key"),
        }),
        root_cert: Some(read("ca")),
    };
    redis::Client::build_with_tls(info, tls)?
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
}

fn whoami(conn: &mut redis::Connection) -> String {
    redis::cmd("ACL")
        .arg("WHOAMI")
        .query::<String>(conn)
        .unwrap_or_else(|e| format!("error: {e}"))
}

fn has_account(acl: &std::path::Path, account: &str) -> bool {
    std::fs::read_to_string(acl)
        .unwrap()
        .lines()
        .any(|l| l.starts_with(&format!("user {account} ")))
}

fn per_login_accounts_on(program: &std::path::Path, target: &str, cert_login: bool) {
    let dir = TestDir::new();
    dir.rctl(&["redis", "target", target]).ok();
    dir.rctl(&[
        "users",
        "add",
        "alice",
        "--roles=access",
        "--db-users=alice",
    ])
    .ok();
    let extra = if cert_login {
        "tls-auth-clients-user CN\n"
    } else {
        ""
    };
    let r1 = register_labelled(&dir, program, "r1", &[], &[], extra);
    let r2 = register_labelled(&dir, program, "r2", &[], &[], extra);
    if cert_login {
        dir.rctl(&["redis", "config", "--cert-prefix=tls/r1", "--cert-login=on"])
            .ok();
    }
    let agent = Agent::start(
        &dir,
        &[
            "--state-dir",
            dir.state().to_str().unwrap(),
            "redis",
            "sync",
            "--watch",
            "--all",
        ],
    );
    assert!(
        within(|| agent.log().contains("r2: ")).is_some(),
        "{}",
        agent.log()
    );

    rctl_p(&dir, &["db", "login", "r1", "--user=alice"]).ok();
    let account = config(&dir, "r1")["db_user"].as_str().unwrap().to_string();
    assert!(
        account.starts_with("alice+") && account.len() == "alice+".len() + 8,
        "{account}"
    );
    assert_eq!(
        dir.join("profile/alice/r1.password").exists(),
        !cert_login,
        "a one-time password only where the certificate is not the credential"
    );
    // The account is on r1 only, with alice's own still there.
    assert!(
        within(|| has_account(&r1.acl, &account)).is_some(),
        "{}",
        agent.log()
    );
    assert!(!has_account(&r2.acl, &account) && has_account(&r1.acl, "alice"));
    let mut held = connect(&dir, "r1", r1.server.port).unwrap();
    assert!(
        within(|| whoami(&mut held) == account).is_some(),
        "{target}: {}",
        whoami(&mut held)
    );
    // db ls shows the live login and its expiry.
    let listed = rctl_p(&dir, &["db", "ls", "--user=alice", "--format=json"]).ok();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let r1_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "r1")
        .unwrap();
    assert_eq!(r1_row["login"]["account"], account.as_str(), "{listed}");
    assert!(r1_row["login"]["expires"].is_string());
    // db connect hands the one-time password to redis-cli through REDISCLI_AUTH (never argv).
    let me = rctl_p(
        &dir,
        &["db", "connect", "r1", "--user=alice", "--", "ACL", "WHOAMI"],
    )
    .ok();
    assert_eq!(me.trim(), account, "{target}");
    // A lock on the user covers the login: its connection closes; removed, it logs in again.
    let id = dir.rctl(&["lock", "add", "--user=alice"]).ok();
    assert!(
        whoami(&mut held).starts_with("error"),
        "{target}: the login outlived a lock"
    );
    dir.rctl(&["lock", "rm", id.trim()]).ok();
    let mut held = connect(&dir, "r1", r1.server.port).unwrap();
    assert_eq!(
        whoami(&mut held),
        account,
        "{target}: the login did not come back"
    );
    // db logout deletes it everywhere at once: the held connection is closed.
    rctl_p(&dir, &["db", "logout", "r1", "--user=alice"]).ok();
    assert!(
        whoami(&mut held).starts_with("error"),
        "{target}: the login outlived db logout"
    );
    assert!(!has_account(&r1.acl, &account));

    // A login's expiry ends it: the agent deletes the account then.
    rctl_p(&dir, &["db", "login", "r2", "--user=alice", "--ttl=3s"]).ok();
    let account = config(&dir, "r2")["db_user"].as_str().unwrap().to_string();
    let mut held = None;
    assert!(
        within(|| {
            held = connect(&dir, "r2", r2.server.port).ok();
            held.as_mut().is_some_and(|c| whoami(c) == account)
        })
        .is_some(),
        "{target}: the login does not log in; agent:\n{}",
        agent.log()
    );
    let mut held = held.unwrap();
    assert!(
        within(|| whoami(&mut held).starts_with("error")).is_some(),
        "{target}: the login's connection outlived its expiry; agent:\n{}",
        agent.log()
    );
    assert!(!has_account(&r2.acl, &account));
    let audit = dir.rctl(&["audit", "ls"]).ok();
    assert!(
        audit.contains("login.create") && audit.contains("login.delete"),
        "{audit}"
    );
    // The expiry is in the audit log too: the agent recorded the login's end.
    assert!(audit.contains("login.expire"), "{audit}");
}

#[test]
fn per_login_accounts_with_passwords_on_redis_7_0() {
    per_login_accounts_on(std::path::Path::new("redis-server"), "redis-7.0", false);
}

#[test]
fn per_login_accounts_by_certificate_on_valkey_9_1() {
    let program = crate::acl_servers::servers_dir().join("valkey-9.1-tls");
    per_login_accounts_on(&program, "valkey-9.1", true);
}

/// A role with `options.standing_password: false` keeps its holders to per-login accounts:
/// their own account is off on every server (their standing password logs nobody in), while
/// a `db login` works for its lifetime.
#[test]
fn a_role_can_keep_people_to_their_logins() {
    let dir = TestDir::new();
    dir.write(
        "logins-only.yaml",
        "kind: role\nversion: v7\nmetadata: {name: logins-only}\nspec:\n  options: {standing_password: false}\n  allow:\n    db_labels: {'*': '*'}\n    db_users: ['{{internal.db_users}}']\n    redis_acl: ['+@all', '~*']\n",
    );
    dir.rctl(&["create", "-f", "logins-only.yaml"]).ok();
    let out = dir
        .rctl(&[
            "users",
            "add",
            "alice",
            "--roles=logins-only",
            "--db-users=alice",
        ])
        .ok();
    let password = crate::util::password_from(&out);
    let r1 = register_labelled(
        &dir,
        std::path::Path::new("redis-server"),
        "r1",
        &[],
        &[],
        "",
    );
    dir.rctl(&["redis", "sync", "r1"]).ok();
    let acl = std::fs::read_to_string(&r1.acl).unwrap();
    assert!(acl.contains("user alice off #"), "{acl}");
    let auth = r1.server.cli(
        &r1.creds.file(".cas"),
        Some(&r1.creds),
        &["--user", "alice", "--pass", &password],
        &["ACL", "WHOAMI"],
    );
    assert!(
        !auth.all_output().contains("alice"),
        "{}",
        auth.all_output()
    );
    rctl_p(&dir, &["db", "login", "r1", "--user=alice"]).ok();
    let account = config(&dir, "r1")["db_user"].as_str().unwrap().to_string();
    let me = rctl_p(
        &dir,
        &["db", "connect", "r1", "--user=alice", "--", "ACL", "WHOAMI"],
    )
    .ok();
    assert_eq!(me.trim(), account);
}

//! A person's flow, as the Teleport guide's `tsh db ls/login/connect/logout`: `rctl db ...`
//! against registered redis-server 7.0 instances over mutual TLS, with roles' `db_labels`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::live::register_labelled;
use crate::util::{TestDir, password_from, rctl_command, run};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `rctl ARGS` with the profile in the test folder and `env` set.
fn rctl_env(dir: &TestDir, args: &[&str], env: &[(&str, &str)]) -> crate::util::Run {
    let mut cmd = rctl_command();
    cmd.arg("--state-dir")
        .arg(dir.state())
        .args(args)
        .env("RCTL_PROFILE", dir.join("profile"))
        .env_remove("REDISCLI_AUTH")
        .current_dir(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, None)
}

#[test]
fn db_ls_login_config_connect_logout_follow_the_roles_labels() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.write(
        "prod-app.yaml",
        "kind: role\nversion: v7\nmetadata: {name: prod-app}\nspec:\n  allow:\n    db_labels: {env: prod}\n    db_users: [app]\n",
    );
    dir.write(
        "no-prod.yaml",
        "kind: role\nversion: v7\nmetadata: {name: no-prod}\nspec:\n  deny:\n    db_labels: {env: [prod]}\n",
    );
    dir.rctl(&["create", "-f", "prod-app.yaml"]).ok();
    dir.rctl(&["create", "-f", "no-prod.yaml"]).ok();
    let app_password = password_from(
        &dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
            .ok(),
    );
    dir.rctl(&["users", "add", "carol", "--roles=prod-app"])
        .ok();
    dir.rctl(&[
        "users",
        "add",
        "dave",
        "--roles=access,no-prod",
        "--db-users=dave",
    ])
    .ok();
    dir.rctl(&[
        "users",
        "add",
        "erin",
        "--roles=access",
        "--db-users=erin,app",
    ])
    .ok();
    let prod = register_labelled(
        &dir,
        Path::new("redis-server"),
        "r1",
        &[
            "--labels=env=prod,team=orders",
            "--description=orders cache",
        ],
        &[],
        "",
    );
    let _dev = register_labelled(
        &dir,
        Path::new("redis-server"),
        "r2",
        &["--labels=env=dev"],
        &[],
        "",
    );

    // db ls: every server; with --user, what the user's roles reach.
    let listed: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["db", "ls", "--format=json"]).ok()).unwrap();
    assert_eq!(listed[0]["name"], "r1");
    assert_eq!(listed[0]["description"], "orders cache");
    assert_eq!(listed[0]["labels"]["team"], "orders");
    assert_eq!(listed[0]["addr"], format!("127.0.0.1:{}", prod.server.port));
    assert_eq!(listed[1]["labels"]["env"], "dev");
    let names = |user: &str| {
        let text = dir
            .rctl(&["db", "ls", &format!("--user={user}"), "--format=json"])
            .ok();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("carol"), ["r1"]);
    assert_eq!(names("dave"), ["r2"]);
    assert_eq!(names("erin"), ["r1", "r2"]);
    assert!(
        dir.rctl(&["redis", "ls"])
            .ok()
            .contains("env=prod,team=orders"),
        "redis ls shows labels"
    );

    // db login: carol's one db user on r1 is app.
    let out = rctl_env(&dir, &["db", "login", "r1", "--user=carol"], &[]).ok();
    assert!(out.contains("as Redis user \"app\""), "{out}");
    let profile = dir.join("profile");
    assert_eq!(mode(&profile), 0o700);
    assert_eq!(mode(&profile.join("carol")), 0o700);
    assert_eq!(mode(&profile.join("carol/r1.key")), 0o600);
    let config: serde_json::Value = serde_json::from_str(
        &rctl_env(
            &dir,
            &["db", "config", "r1", "--user=carol", "--format=json"],
            &[],
        )
        .ok(),
    )
    .unwrap();
    assert_eq!(config["host"], "127.0.0.1");
    assert_eq!(config["port"], prod.server.port);
    assert_eq!(config["db_user"], "app");
    assert_eq!(
        config["uri"],
        format!("rediss://app@127.0.0.1:{}", prod.server.port)
    );
    for key in ["ca", "cert", "key"] {
        assert!(Path::new(config[key].as_str().unwrap()).is_file(), "{key}");
    }
    // db connect: redis-cli with the login's files, the password from REDISCLI_AUTH only.
    let run = rctl_env(
        &dir,
        &["db", "connect", "r1", "--user=carol", "--", "ACL", "WHOAMI"],
        &[("REDISCLI_AUTH", &app_password)],
    );
    assert_eq!(run.ok().trim(), "app");
    // What the client is run with: the login's files and account, never the password.
    let wrapper = dir.write(
        "cli.sh",
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv.txt\"\nexec redis-cli \"$@\"\n",
    );
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cli = format!("--cli={}", wrapper.display());
    let run = rctl_env(
        &dir,
        &["db", "connect", "r1", "--user=carol", &cli, "--", "PING"],
        &[("REDISCLI_AUTH", &app_password)],
    );
    assert_eq!(run.ok().trim(), "PONG");
    let argv = dir.read("argv.txt");
    assert!(!argv.contains(&app_password), "{argv}");
    for want in [
        "--tls\n",
        "--cacert\n",
        "--cert\n",
        "--key\n",
        "--user\napp\n",
        "PING\n",
    ] {
        assert!(argv.contains(want), "{want:?} in {argv}");
    }
    // The command line db config prints connects too.
    let command = config["command"].as_str().unwrap().to_string();
    let shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} PING"))
        .env("REDISCLI_AUTH", &app_password)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout).trim(), "PONG");

    // Refused: a server the labels do not reach, a denied one, several db users, no CLI.
    let refused = rctl_env(&dir, &["db", "login", "r2", "--user=carol"], &[]);
    refused.failed("its db_labels do not match");
    assert!(!profile.join("carol/r2.crt").exists());
    rctl_env(&dir, &["db", "login", "r1", "--user=dave"], &[]).failed("denies server \"r1\"");
    let ambiguous = rctl_env(&dir, &["db", "login", "r1", "--user=erin"], &[]);
    assert_eq!(ambiguous.output.status.code(), Some(2));
    assert!(
        ambiguous
            .stderr()
            .contains("as app, erin; choose one with --db-user")
    );
    rctl_env(
        &dir,
        &["db", "login", "r1", "--user=erin", "--db-user=erin"],
        &[],
    )
    .ok();
    let empty = dir.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    rctl_env(
        &dir,
        &["db", "connect", "r1", "--user=carol"],
        &[("PATH", empty.to_str().unwrap())],
    )
    .refused("neither redis-cli nor valkey-cli is on PATH");

    // An expired login is refused with what to run.
    rctl_env(&dir, &["db", "login", "r2", "--user=dave", "--ttl=1s"], &[]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    rctl_env(&dir, &["db", "config", "r2", "--user=dave"], &[])
        .failed("rctl db login r2 --user=dave");

    // db logout: one login, then all of a user's.
    rctl_env(&dir, &["db", "logout", "r1", "--user=carol"], &[]).ok();
    assert!(!profile.join("carol/r1.crt").exists() && !profile.join("carol/r1.key").exists());
    rctl_env(&dir, &["db", "config", "r1", "--user=carol"], &[])
        .failed("has no login to server \"r1\"");
    rctl_env(
        &dir,
        &["db", "login", "r2", "--user=erin", "--db-user=app"],
        &[],
    )
    .ok();
    // Two logins' three files and record each, and the one-time password of the login as
    // erin herself (a per-login account; the login as app has none).
    assert_eq!(std::fs::read_dir(profile.join("erin")).unwrap().count(), 9);
    assert!(
        profile.join("erin/r1.password").exists() && !profile.join("erin/r2.password").exists()
    );
    assert_eq!(mode(&profile.join("erin/r1.password")), 0o600);
    rctl_env(&dir, &["db", "logout", "--user=erin"], &[]).ok();
    assert_eq!(std::fs::read_dir(profile.join("erin")).unwrap().count(), 0);
    // Every login is in the audit log, as any person's certificate is.
    let audit = dir.rctl(&["audit", "ls", "--format=json"]).ok();
    assert!(audit.contains("db login"), "{audit}");
}

/// Each server's users.acl holds only the users whose roles reach its labels: dana, whose
/// role reaches env=dev only, has no account on prod, so her password (and her certificate,
/// under certificate login) logs her in on dev and nowhere else.
#[test]
fn each_server_holds_only_the_accounts_its_labels_are_reached_by() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.write(
        "dev-only.yaml",
        "kind: role\nversion: v7\nmetadata: {name: dev-only}\nspec:\n  allow:\n    db_labels: {env: dev}\n    db_users: ['{{internal.db_users}}']\n    redis_acl: ['+@all', '~*']\n",
    );
    dir.rctl(&["create", "-f", "dev-only.yaml"]).ok();
    let dana = password_from(
        &dir.rctl(&[
            "users",
            "add",
            "dana",
            "--roles=dev-only",
            "--db-users=dana",
        ])
        .ok(),
    );
    let alice = password_from(
        &dir.rctl(&[
            "users",
            "add",
            "alice",
            "--roles=access",
            "--db-users=alice",
        ])
        .ok(),
    );
    let redis = Path::new("redis-server");
    let dev = register_labelled(&dir, redis, "dev", &["--labels=env=dev"], &[], "");
    let prod = register_labelled(&dir, redis, "prod", &["--labels=env=prod"], &[], "");
    dir.rctl(&["redis", "sync", "--all"]).ok();
    let has = |acl: &Path, user: &str| {
        std::fs::read_to_string(acl)
            .unwrap()
            .lines()
            .any(|l| l.starts_with(&format!("user {user} ")))
    };
    assert!(has(&dev.acl, "dana") && has(&dev.acl, "alice"));
    assert!(!has(&prod.acl, "dana") && has(&prod.acl, "alice"));
    let auth = |r: &crate::live::Registered, user: &str, password: &str| {
        r.server
            .cli(
                &r.creds.file(".cas"),
                Some(&r.creds),
                &["--user", user, "--pass", password],
                &["ACL", "WHOAMI"],
            )
            .all_output()
    };
    assert!(auth(&dev, "dana", &dana).contains("dana"));
    let refused = auth(&prod, "dana", &dana);
    assert!(
        refused.contains("WRONGPASS") || refused.contains("invalid username-password"),
        "{refused}"
    );
    assert!(auth(&prod, "alice", &alice).contains("alice"));
    // Where a user's roles change, the servers follow at the next sync: dana reaches prod.
    dir.rctl(&["users", "update", "dana", "--set-roles=dev-only,access"])
        .ok();
    dir.rctl(&["redis", "sync", "prod"]).ok();
    assert!(auth(&prod, "dana", &dana).contains("dana"));
}

/// The same under certificate login on Valkey 9.1: dana's certificate is her login on dev and
/// logs nobody in on prod, where she has no account.
#[test]
fn a_certificate_logs_in_only_where_the_labels_are_reached_on_valkey_9_1() {
    let dir = TestDir::new();
    dir.rctl(&["redis", "target", "valkey-9.1"]).ok();
    dir.write(
        "dev-only.yaml",
        "kind: role\nversion: v7\nmetadata: {name: dev-only}\nspec:\n  allow:\n    db_labels: {env: dev}\n    db_users: ['{{internal.db_users}}']\n    redis_acl: ['+@all', '~*']\n",
    );
    dir.rctl(&["create", "-f", "dev-only.yaml"]).ok();
    dir.rctl(&[
        "users",
        "add",
        "dana",
        "--roles=dev-only",
        "--db-users=dana",
    ])
    .ok();
    let valkey = crate::acl_servers::servers_dir().join("valkey-9.1-tls");
    let extra = "tls-auth-clients-user CN\n";
    let dev = register_labelled(&dir, &valkey, "dev", &["--labels=env=dev"], &[], extra);
    let prod = register_labelled(&dir, &valkey, "prod", &["--labels=env=prod"], &[], extra);
    dir.rctl(&[
        "redis",
        "config",
        "--cert-prefix=tls/dev",
        "--cert-login=on",
    ])
    .ok();
    dir.rctl(&["redis", "sync", "--all"]).ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--user=dana",
        "--db-user=dana",
        "--out=dana",
    ])
    .ok();
    let dana = crate::util::Creds::new(dir.join("dana"));
    let whoami = |r: &crate::live::Registered| {
        r.server
            .cli(&r.creds.file(".cas"), Some(&dana), &[], &["ACL", "WHOAMI"])
            .all_output()
    };
    assert_eq!(whoami(&dev).trim(), "dana");
    let on_prod = whoami(&prod);
    assert!(
        !on_prod.contains("dana") && on_prod.contains("NOAUTH"),
        "{on_prod}"
    );
}

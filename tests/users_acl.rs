//! Users, roles, client certificates and users.acl, against a real redis-server.

use crate::util::{Creds, RedisServer, TestDir, password_from, snapshot};

const READONLY_ROLE: &str = r#"kind: role
version: v5
metadata: {name: reader}
spec:
  options: {max_session_ttl: 8h}
  allow:
    db_users: ["{{internal.db_users}}"]
    db_names: ["*"]
    redis_acl: ["+@read", "~*", "resetchannels"]
  deny:
    db_users: ["admin"]
"#;

struct Deployment {
    dir: TestDir,
    server: Creds,
    alice_password: String,
}

/// The guide's flow, by rctl alone: users, users.acl, server and client certificates.
fn deploy() -> Deployment {
    let dir = TestDir::new();
    let out = dir
        .rctl(&[
            "users",
            "add",
            "alice",
            "--roles=access",
            "--db-users=*",
            "--db-names=*",
        ])
        .ok();
    let alice_password = password_from(&out);
    assert_eq!(alice_password.len(), 64);
    assert!(out.contains("will not be shown again"));
    dir.write("reader.yaml", READONLY_ROLE);
    dir.rctl(&["create", "-f", "reader.yaml"]).ok();
    dir.rctl_stdin(
        &[
            "users",
            "add",
            "rita",
            "--roles=reader",
            "--db-users=rita",
            "--password-stdin",
        ],
        "rita-pw\n",
    )
    .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--format=redis",
        "--host=localhost,127.0.0.1",
        "--out=server",
        "--ttl=2190h",
    ])
    .ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--format=redis",
        "--user=alice",
        "--db-user=alice",
        "--out=alice",
    ])
    .ok();
    let server = Creds::new(dir.join("server"));
    Deployment {
        dir,
        server,
        alice_password,
    }
}

#[test]
fn redis_accepts_alice_over_mtls_with_her_password_and_refuses_everyone_else() {
    let d = deploy();
    let acl = d.dir.join("users.acl");
    let redis = RedisServer::start(&d.server, Some(&acl));
    let cas = d.server.file(".cas");
    let alice = Creds::new(d.dir.join("alice"));

    let ping = redis.cli(
        &cas,
        Some(&alice),
        &["--user", "alice", "--pass", &d.alice_password],
        &["PING"],
    );
    assert_eq!(
        ping.stdout().trim(),
        "PONG",
        "{}\n{}",
        ping.stderr(),
        redis.log()
    );

    // The default user is off: no AUTH, no service.
    let anon = redis.cli(&cas, Some(&alice), &[], &["PING"]);
    assert!(anon.stdout().contains("NOAUTH"), "{}", anon.stdout());

    let wrong = redis.cli(
        &cas,
        Some(&alice),
        &["--user", "alice", "--pass", "wrong"],
        &["PING"],
    );
    assert!(
        wrong.all_output().contains("WRONGPASS"),
        "{}",
        wrong.all_output()
    );

    // Without a client certificate the TLS handshake fails before any password is checked.
    let no_cert = redis.cli(
        &cas,
        None,
        &["--user", "alice", "--pass", &d.alice_password],
        &["PING"],
    );
    assert!(!no_cert.stdout().contains("PONG"));

    // rita's role allows reads only.
    let rita = ["--user", "rita", "--pass", "rita-pw"];
    let set_by_alice = redis.cli(
        &cas,
        Some(&alice),
        &["--user", "alice", "--pass", &d.alice_password],
        &["SET", "k", "v"],
    );
    assert_eq!(set_by_alice.stdout().trim(), "OK");
    assert_eq!(
        redis
            .cli(&cas, Some(&alice), &rita, &["GET", "k"])
            .stdout()
            .trim(),
        "v"
    );
    let set = redis.cli(&cas, Some(&alice), &rita, &["SET", "k", "w"]);
    assert!(set.stdout().contains("NOPERM"), "{}", set.stdout());
}

#[test]
fn acl_load_picks_up_a_new_user_without_a_restart() {
    let d = deploy();
    let acl = d.dir.join("users.acl");
    let redis = RedisServer::start(&d.server, Some(&acl));
    let cas = d.server.file(".cas");
    let alice = Creds::new(d.dir.join("alice"));
    let new = ["--user", "nina", "--pass", "nina-pw"];
    assert!(
        redis
            .cli(&cas, Some(&alice), &new, &["PING"])
            .all_output()
            .contains("WRONGPASS")
    );

    d.dir
        .rctl_stdin(
            &[
                "users",
                "add",
                "nina",
                "--roles=access",
                "--db-users=nina",
                "--password-stdin",
            ],
            "nina-pw",
        )
        .ok();
    d.dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    let load = redis.cli(
        &cas,
        Some(&alice),
        &["--user", "alice", "--pass", &d.alice_password],
        &["ACL", "LOAD"],
    );
    assert_eq!(load.stdout().trim(), "OK", "{}", load.stderr());
    assert_eq!(
        redis
            .cli(&cas, Some(&alice), &new, &["PING"])
            .stdout()
            .trim(),
        "PONG"
    );
}

#[test]
fn generated_acl_file_matches_the_guide_format() {
    let d = deploy();
    let text = d.dir.read("users.acl");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // sha256 of the generated password, as `echo -n PW | sha256sum` gives it.
    use std::process::Command;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("printf %s '{}' | sha256sum", d.alice_password));
    let digest = crate::util::run(cmd, None).ok();
    let digest = digest.split_whitespace().next().unwrap();
    assert_eq!(
        lines[0],
        format!("user alice on #{digest} allcommands allkeys allchannels")
    );
    assert!(
        lines[1].starts_with("user rita on #") && lines[1].ends_with(" +@read ~* resetchannels"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "user default off");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(d.dir.join("users.acl")).unwrap().mode() & 0o777,
        0o600
    );
    d.dir.rctl(&["acl", "check", "users.acl"]).ok();
    // The password is not stored anywhere in the state, only its hash.
    for (path, bytes, _) in snapshot(&d.dir.state()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&d.alice_password),
            "{}",
            path.display()
        );
    }
}

#[test]
fn listings_never_show_password_hashes() {
    let d = deploy();
    let state = std::fs::read_to_string(d.dir.state().join("users.jsonl")).unwrap();
    let hash_start = state.find("password_sha256\":\"").unwrap() + 18;
    let hash = &state[hash_start..hash_start + 64];
    for args in [
        &["users", "ls"][..],
        &["users", "ls", "--format=json"],
        &["users", "ls", "--format=yaml"],
        &["get", "users"],
        &["get", "users", "alice", "--format=json"],
    ] {
        let out = d.dir.rctl(args).ok();
        assert!(out.contains("alice"), "{args:?}: {out}");
        assert!(!out.contains(hash), "{args:?} shows a hash");
    }
    let json = d.dir.rctl(&["users", "ls", "--format=json"]).ok();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&str> = parsed[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created", "db_names", "db_users", "name", "roles", "updated"
        ]
    );
}

#[test]
fn roles_can_be_listed_replaced_and_removed_only_when_unused() {
    let d = deploy();
    let roles = d.dir.rctl(&["get", "roles", "--format=text"]).ok();
    for name in ["access", "readonly", "reader"] {
        assert!(roles.contains(name), "{roles}");
    }
    let before = snapshot(&d.dir.state());
    d.dir
        .rctl(&["create", "-f", "reader.yaml"])
        .refused("already exists");
    d.dir
        .rctl(&["rm", "roles/reader"])
        .refused("held by user \"rita\"");
    d.dir.rctl(&["rm", "roles/access"]).refused("built in");
    assert_eq!(snapshot(&d.dir.state()), before);
    d.dir
        .write("reader.yaml", &READONLY_ROLE.replace("8h", "4h"));
    assert!(
        d.dir
            .rctl(&["create", "-f", "reader.yaml", "--force"])
            .ok()
            .contains("updated")
    );
    assert!(
        d.dir
            .rctl(&["get", "roles/reader"])
            .ok()
            .contains("max_session_ttl: 4h0m0s")
    );
    d.dir
        .rctl(&["users", "update", "rita", "--set-roles=readonly"])
        .ok();
    d.dir.rctl(&["rm", "roles/reader"]).ok();
    d.dir.rctl(&["get", "roles", "reader"]).refused("not found");
}

#[test]
fn client_certificates_follow_the_roles() {
    let d = deploy();
    // rita's role caps certificates at 8h and denies db user admin; her trait allows only rita.
    d.dir
        .rctl(&[
            "auth",
            "sign",
            "--user=rita",
            "--db-user=rita",
            "--out=rita",
        ])
        .ok();
    use std::process::Command;
    let mut cmd = Command::new("openssl");
    cmd.args([
        "x509",
        "-noout",
        "-subject",
        "-dates",
        "-ext",
        "extendedKeyUsage",
        "-in",
    ])
    .arg(d.dir.join("rita.crt"));
    let text = crate::util::run(cmd, None).ok();
    assert!(text.contains("CN = rita, OU = rita"), "{text}");
    assert!(
        text.contains("TLS Web Client Authentication") && !text.contains("Server"),
        "{text}"
    );
    let before = snapshot(d.dir.path());
    let refusals: [(&[&str], &str); 6] = [
        (
            &["--user=rita", "--db-user=alice"],
            "allows db user \"alice\"",
        ),
        (
            &["--user=rita", "--db-user=admin"],
            "denies db user \"admin\"",
        ),
        (
            &["--user=rita", "--db-user=rita", "--ttl=9h"],
            "max_session_ttl 8h0m0s of role \"reader\"",
        ),
        (
            &["--user=alice", "--db-user=alice", "--ttl=31h"],
            "of role \"access\"",
        ),
        (
            &["--user=nobody", "--db-user=x"],
            "user \"nobody\" not found",
        ),
        (
            &["--user=alice", "--db-user=bad name"],
            "invalid database user name",
        ),
    ];
    for (args, want) in refusals {
        let mut all = vec!["auth", "sign", "--out=refused"];
        all.extend_from_slice(args);
        d.dir.rctl(&all).refused(want);
    }
    d.dir
        .rctl(&[
            "auth",
            "sign",
            "--user=alice",
            "--host=x",
            "--db-user=a",
            "--out=o",
        ])
        .refused("cannot be used with");
    assert_eq!(snapshot(d.dir.path()), before, "a refusal changed files");
}

#[test]
fn bad_users_and_roles_are_refused_and_change_nothing() {
    let d = deploy();
    d.dir.write("plain.yaml", "kind: role\nversion: v5\nmetadata: {name: p}\nspec: {allow: {redis_acl: [\">hunter2\"]}}\n");
    d.dir.write("unknown.yaml", "kind: role\nversion: v5\nmetadata: {name: u}\nspec: {allow: {redis_acl: [\"+flushal\"]}}\n");
    d.dir.write("broken.yaml", "kind: role\nspec: [\n");
    let long = "a".repeat(65);
    let before = snapshot(&d.dir.state());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["users", "add", "bob", "--roles=nope"],
            "unknown role \"nope\"",
        ),
        (
            vec!["users", "add", "alice", "--roles=access"],
            "user \"alice\" already exists",
        ),
        (
            vec!["users", "add", "a b", "--roles=access"],
            "invalid user name \"a b\"",
        ),
        (
            vec!["users", "add", "a\nuser evil on nopass", "--roles=access"],
            "invalid user name",
        ),
        (
            vec!["users", "add", "default", "--roles=access"],
            "Redis's own user",
        ),
        (
            vec!["users", "add", &long, "--roles=access"],
            "longer than 64",
        ),
        (
            vec!["users", "add", "bob", "--roles=access", "--db-users=a b"],
            "invalid database name",
        ),
        (
            vec!["users", "add", "bob", "--roles=access,"],
            "empty value",
        ),
        (
            vec!["users", "update", "ghost", "--set-roles=access"],
            "user \"ghost\" not found",
        ),
        (vec!["users", "update", "alice"], "nothing to update"),
        (vec!["users", "rm", "ghost"], "not found"),
        (
            vec!["create", "-f", "plain.yaml"],
            "passwords belong to users",
        ),
        (
            vec!["create", "-f", "unknown.yaml"],
            "\"+flushal\" for redis-7.0: unknown command",
        ),
        (vec!["create", "-f", "broken.yaml"], "broken.yaml: "),
        (vec!["create", "-f", "missing.yaml"], "missing.yaml"),
        (vec!["create", "-f", "."], "is a directory"),
        (vec!["get", "things"], "unknown resource kind"),
        (vec!["rm", "roles"], "name the resource"),
    ];
    for (args, want) in cases {
        let line = d.dir.rctl(&args).refused(want);
        assert!(!line.contains("hunter2"), "secret echoed: {line}");
    }
    d.dir
        .rctl_stdin(
            &["users", "add", "bob", "--roles=access", "--password-stdin"],
            "two words\n",
        )
        .refused("whitespace");
    d.dir
        .rctl_stdin(
            &["users", "add", "bob", "--roles=access", "--password-stdin"],
            "\n",
        )
        .refused("empty");
    assert_eq!(snapshot(&d.dir.state()), before);
}

#[test]
fn acl_check_reports_problems_and_fails() {
    let dir = TestDir::new();
    dir.write(
        "bad.acl",
        "user alice on >plaintext ~* +@all\nuser alice on nopass\nuser default on nopass\n",
    );
    let run = dir.rctl(&["acl", "check", "bad.acl"]);
    assert_eq!(run.output.status.code(), Some(1));
    let out = run.stdout();
    for want in [
        "plaintext password",
        "nopass",
        "duplicate user",
        "default user is on",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    assert!(!out.contains("plaintext ~*"), "the password was echoed");
    assert_eq!(run.stderr().lines().count(), 1);
    let hash = "b".repeat(64);
    dir.write(
        "good.acl",
        &format!("user app on #{hash} ~app:* (+get ~cache:*) +@read\nuser default off\n"),
    );
    dir.rctl(&["acl", "check", "good.acl"]).ok();
}

#[test]
fn reset_password_shows_the_new_one_once_and_redis_takes_it() {
    let d = deploy();
    let out = d.dir.rctl(&["users", "reset-password", "alice"]).ok();
    let new_pw = password_from(&out);
    assert_ne!(new_pw, d.alice_password);
    d.dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    let redis = RedisServer::start(&d.server, Some(&d.dir.join("users.acl")));
    let alice = Creds::new(d.dir.join("alice"));
    let cas = d.server.file(".cas");
    assert_eq!(
        redis
            .cli(
                &cas,
                Some(&alice),
                &["--user", "alice", "--pass", &new_pw],
                &["PING"]
            )
            .stdout()
            .trim(),
        "PONG"
    );
    let old = redis.cli(
        &cas,
        Some(&alice),
        &["--user", "alice", "--pass", &d.alice_password],
        &["PING"],
    );
    assert!(
        old.all_output().contains("WRONGPASS"),
        "{}",
        old.all_output()
    );
}

/// The linter agrees with Redis itself: what it passes, redis-server loads; what it fails,
/// redis-server refuses.
#[test]
fn acl_check_agrees_with_redis_on_the_fixtures() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    let server = Creds::new(dir.join("server"));
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/acl");
    let good = fixtures.join("good.acl");
    let bad = fixtures.join("bad.acl");
    dir.rctl(&["acl", "check", good.to_str().unwrap()]).ok();
    RedisServer::start(&server, Some(&good));
    let run = dir.rctl(&["acl", "check", bad.to_str().unwrap()]);
    assert_eq!(run.output.status.code(), Some(1));
    // Line 4 is a duplicate user: Redis skips the rest of that line, and so does the linter.
    assert_eq!(run.stdout().lines().count(), 6, "{}", run.stdout());
    assert!(run.stderr().contains("6 problem(s)"), "{}", run.stderr());
    let log = RedisServer::try_start(&server, Some(&bad))
        .err()
        .expect("redis-server loaded bad.acl");
    assert!(
        log.contains("Aborting Redis startup") || log.contains("Error"),
        "{log}"
    );
}

#[test]
fn fixture_roles_load_and_a_leaky_one_is_refused() {
    let dir = TestDir::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/roles");
    for name in ["readonly.yaml", "cache-writer.yaml"] {
        dir.rctl(&["create", "-f", fixtures.join(name).to_str().unwrap()])
            .ok();
    }
    let line = dir
        .rctl(&[
            "create",
            "-f",
            fixtures.join("plaintext-password.yaml").to_str().unwrap(),
        ])
        .refused("passwords belong to users");
    assert!(!line.contains("hunter2"));
    dir.rctl_stdin(
        &[
            "users",
            "add",
            "cache",
            "--roles=cache-writer",
            "--password-stdin",
        ],
        "pw",
    )
    .ok();
    let acl = dir.rctl(&["acl", "generate"]).ok();
    assert!(
        acl.contains(
            " resetkeys %RW~cache:* %R~config:* +@read +@write -@dangerous (~tmp:* +del)\n"
        ),
        "{acl}"
    );
}

//! Regressions for what users hit with users.acl before the ACL engine knew each target: role
//! combinations that stopped Redis from starting, a rule that looked like a selector and
//! granted admin commands, commands only Redis 7.0 had, `access` without channels, and the
//! linter's tabs and echoed secrets.

use crate::acl_servers::AclServer;
use crate::util::{TestDir, password_from, snapshot};

fn role(dir: &TestDir, name: &str, rules: &str) -> std::path::PathBuf {
    dir.write(
        &format!("{name}.yaml"),
        &format!(
            "kind: role\nversion: v5\nmetadata: {{name: {name}}}\nspec:\n  allow:\n    db_users: ['*']\n    redis_acl: {rules}\n"
        ),
    )
}

fn add_user(dir: &TestDir, name: &str, roles: &str) -> String {
    let out = dir
        .rctl(&["users", "add", name, &format!("--roles={roles}")])
        .ok();
    password_from(&out)
}

/// A role refused by `create -f`: exit 2, one line naming the target, nothing changed.
#[track_caller]
fn refused_role(dir: &TestDir, name: &str, rules: &str, args: &[&str], want: &str) {
    let file = role(dir, name, rules);
    if !dir.state().exists() {
        dir.rctl(&["auth", "init"]).ok();
    }
    let before = snapshot(&dir.state());
    let mut all = vec!["create", "-f", file.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = dir.rctl(&all);
    let line = run.refused(want);
    assert_eq!(run.output.status.code(), Some(2), "{line}");
    assert_eq!(snapshot(&dir.state()), before, "{name}: state changed");
}

#[test]
fn two_ordinary_roles_give_a_users_acl_that_redis_loads() {
    let dir = TestDir::new();
    dir.rctl(&[
        "create",
        "-f",
        role(&dir, "app", "['~app:*', '+get']").to_str().unwrap(),
    ])
    .ok();
    add_user(&dir, "alice", "readonly,app");
    add_user(&dir, "bob", "access,app");
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    let text = dir.read("users.acl");
    assert!(
        text.contains(" ~* resetchannels +@read +@connection (~app:* +get)\n"),
        "{text}"
    );
    assert!(
        text.contains(" allcommands allkeys allchannels\n"),
        "{text}"
    );
    dir.rctl(&["acl", "check", "users.acl"]).ok();
    let mut server = AclServer::start("redis-7.0");
    assert!(
        server
            .refused_lines(&text.replace("user default off\n", ""))
            .is_empty(),
        "{text}"
    );
    // The same rules inside one role are what Redis refuses: create -f refuses them.
    for (n, rules) in [
        ("k1", "['allkeys', '~x']"),
        ("k2", "['~*', '~x']"),
        ("c1", "['&*', '&x']"),
        ("c2", "['allchannels', '&x']"),
    ] {
        refused_role(&dir, n, rules, &[], "for redis-7.0");
    }
}

#[test]
fn a_rule_that_looks_like_a_selector_is_refused() {
    let dir = TestDir::new();
    refused_role(
        &dir,
        "evil",
        "['(~a:(x) +@all ~b)']",
        &[],
        "Redis ends a selector at the first word ending with ')'",
    );
    // In a hand-written file Redis reads it as a selector and two root rules: acl check says so.
    let file = dir.write(
        "users.acl",
        "user a on (~a:(x) +@all ~b)\nuser default off\n",
    );
    let run = dir.rctl(&["acl", "check", file.to_str().unwrap()]);
    assert_eq!(run.output.status.code(), Some(1));
    assert!(
        run.stdout()
            .contains("\"~b)\" ends with ')' outside a selector"),
        "{}",
        run.stdout()
    );
}

#[test]
fn commands_and_grammar_follow_the_target() {
    let dir = TestDir::new();
    refused_role(
        &dir,
        "hx",
        "['+hexpire', '~h:*']",
        &[],
        "unknown command in redis-7.0; it exists in redis-7.4: `rctl redis target redis-7.4`",
    );
    refused_role(
        &dir,
        "pr",
        "['%R~x']",
        &["--target=redis-6.2"],
        "for redis-6.2",
    );
    refused_role(
        &dir,
        "sel",
        "['(+get ~x)']",
        &["--target=redis-6.2"],
        "selectors need redis-7.0",
    );
    refused_role(
        &dir,
        "ch",
        "['&x']",
        &["--target=redis-6.0"],
        "for redis-6.0",
    );

    assert_eq!(dir.rctl(&["redis", "target"]).ok().trim(), "redis-7.0");
    dir.rctl(&["redis", "target", "redis-7.4"]).ok();
    dir.rctl(&["create", "-f", "hx.yaml"]).ok();
    add_user(&dir, "hana", "hx");
    let text = dir.rctl(&["acl", "generate"]).ok();
    assert!(text.contains(" +hexpire ~h:*\n"), "{text}");
    // A target where the role is not valid is refused, and nothing changes.
    let before = snapshot(&dir.state());
    dir.rctl(&["redis", "target", "valkey-8.1"])
        .refused("role \"hx\": invalid ACL rule \"+hexpire\" for valkey-8.1");
    dir.rctl(&["acl", "generate", "--target=redis-7.0"])
        .refused("for redis-7.0");
    dir.rctl(&["redis", "target", "redis-9.9"])
        .refused("unknown Redis target");
    assert_eq!(snapshot(&dir.state()), before);
    dir.rctl(&["redis", "target", "valkey-9.0"]).ok();
    assert_eq!(dir.rctl(&["redis", "target"]).ok().trim(), "valkey-9.0");
}

#[test]
fn roles_that_cannot_merge_without_selectors_are_refused_naming_both() {
    let dir = TestDir::new();
    dir.rctl(&[
        "create",
        "-f",
        role(&dir, "a", "['~a:*', '+get']").to_str().unwrap(),
    ])
    .ok();
    dir.rctl(&[
        "create",
        "-f",
        role(&dir, "b", "['~b:*', '+set']").to_str().unwrap(),
    ])
    .ok();
    dir.rctl(&[
        "create",
        "-f",
        role(&dir, "c", "['~c:*', '+get']").to_str().unwrap(),
    ])
    .ok();
    add_user(&dir, "ab", "a,b");
    add_user(&dir, "ac", "a,c");
    let before = snapshot(&dir.state());
    let run = dir.rctl(&["acl", "generate", "--target=redis-6.2"]);
    let line = run.refused("roles \"a\" and \"b\" cannot be combined exactly on redis-6.2");
    assert_eq!(run.output.status.code(), Some(2), "{line}");
    dir.rctl(&["redis", "target", "redis-6.2"])
        .refused("\"a\" and \"b\"");
    assert_eq!(snapshot(&dir.state()), before);
    // Same commands, other keys: the union is exact, and Redis 6.2 means it.
    dir.rctl(&["users", "rm", "ab"]).ok();
    dir.rctl(&["acl", "generate", "--target=redis-6.2", "--out=users.acl"])
        .ok();
    let text = dir.read("users.acl");
    assert!(
        text.contains(" resetchannels ~a:* ~c:* +get +get\n"),
        "{text}"
    );
    let mut server = AclServer::start("redis-6.2");
    assert!(
        server
            .refused_lines(&text.replace("user default off\n", ""))
            .is_empty(),
        "{text}"
    );
}

#[test]
fn access_grants_every_channel() {
    let dir = TestDir::new();
    add_user(&dir, "alice", "access");
    for target in ["redis-7.0", "valkey-8.0", "valkey-9.1"] {
        let text = dir
            .rctl(&["acl", "generate", &format!("--target={target}")])
            .ok();
        let mut server = AclServer::start(target);
        assert!(
            server
                .refused_lines(&text.replace("user default off\n", ""))
                .is_empty()
        );
        let reply = server.cli(&["ACL", "DRYRUN", "alice", "PUBLISH", "news", "hi"]);
        assert_eq!(reply.trim(), "OK", "{target}: {reply}");
    }
    let old = dir.rctl(&["acl", "generate", "--target=redis-6.0"]).ok();
    assert!(old.contains(" allcommands allkeys\n"), "{old}");
}

//! The bad-input corpus: every command with wrong flags, missing values, malformed files, huge
//! values, control characters, directories and unwritable paths, and corrupted state. Each
//! must exit non-zero with one clear line, never panic, and leave the state as it was.

use crate::util::{TestDir, snapshot};

/// A state with a CA, a user, a role and an output set, as most refusals are tested against.
fn populated() -> TestDir {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init", "--cluster-name=bad"]).ok();
    dir.rctl(&["users", "add", "alice", "--roles=access", "--db-users=*"])
        .ok();
    dir.write(
        "role.yaml",
        "kind: role\nversion: v5\nmetadata: {name: ops}\nspec: {allow: {db_users: [ops], redis_acl: [\"+@read\"]}}\n",
    );
    dir.rctl(&["create", "-f", "role.yaml"]).ok();
    dir.rctl(&["auth", "sign", "--host=localhost", "--out=server"])
        .ok();
    std::fs::create_dir(dir.join("adir")).unwrap();
    dir.write("afile", "x");
    dir
}

#[test]
fn every_command_refuses_bad_input_and_changes_nothing() {
    let dir = populated();
    let big_name = "a".repeat(100 * 1024);
    // 10,000 hosts in one argument (Linux takes at most 128 KiB per argument).
    let many_hosts = (0..10_000)
        .map(|i| format!("h{i}.io"))
        .collect::<Vec<_>>()
        .join(",");
    let huge_ttl = format!("--ttl={}h", "9".repeat(200));
    let many_hosts_arg = format!("--host={many_hosts},bad host");
    let big_host_arg = format!("--host={big_name}");
    let big_db_user_arg = format!("--db-user={big_name}");
    dir.write("bad.yaml", "kind: role\nmetadata: [unclosed\n");
    dir.write("notyaml.yaml", "\u{0}\u{1}binary\u{7f}");
    dir.write("list.yaml", "- a\n- b\n");
    dir.write(
        "big.yaml",
        &format!(
            "kind: role\nversion: v5\nmetadata: {{name: {}}}\nspec: {{}}\n",
            "r".repeat(1024 * 1024)
        ),
    );
    dir.write(
        "ctl.yaml",
        "kind: role\nversion: v5\nmetadata: {name: \"a\\u0007b\"}\nspec: {}\n",
    );
    dir.write(
        "rule.yaml",
        "kind: role\nversion: v5\nmetadata: {name: r}\nspec: {allow: {redis_acl: [\"~a b\"]}}\n",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // Wrong flags and missing values.
        (
            vec!["auth", "sign", "--hots=a", "--out=x"],
            "unexpected argument '--hots'",
        ),
        (vec!["auth", "sign", "--host=a"], "--out"),
        (vec!["auth", "sign", "--out=x"], "required"),
        (
            vec!["auth", "sign", "--host", "--out=x"],
            "a value is required",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl"],
            "a value is required",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--key-algo=dsa"],
            "unknown key algorithm \"dsa\"",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--format=pem"],
            "possible values: redis",
        ),
        (
            vec!["auth", "sign", "--host=a", "--user=alice", "--out=x"],
            "cannot be used with",
        ),
        (vec!["auth", "sign", "--user=alice", "--out=x"], "--db-user"),
        (
            vec!["auth", "init", "--key-algo=rsa1024"],
            "unknown key algorithm",
        ),
        (
            vec!["auth", "init", "--cluster-name=a b"],
            "invalid cluster name",
        ),
        (
            vec!["auth", "export", "--type=user"],
            "possible values: host",
        ),
        (vec!["auth", "rotate", "--phase=init"], "--manual"),
        (
            vec![
                "auth",
                "rotate",
                "--manual",
                "--phase=init",
                "--grace-period=1h",
            ],
            "cannot be used with",
        ),
        (
            vec!["auth", "rotate", "--manual", "--phase=INIT"],
            "invalid rotation phase",
        ),
        (vec!["users"], "a subcommand is required: rctl users"),
        (vec!["users", "add"], "required"),
        (vec!["users", "add", "bob"], "--roles"),
        (vec!["users", "ls", "--format=xml"], "invalid value 'xml'"),
        (vec!["users", "rm"], "required"),
        (vec!["get"], "required"),
        (vec!["get", "roles", "a b"], "invalid role name"),
        (vec!["rm", "users/alice"], "users rm"),
        (vec!["create"], "--file"),
        (vec!["acl", "generate", "--out"], "a value is required"),
        (vec!["audit", "ls", "--since=yesterday"], "invalid duration"),
        (vec!["bogus"], "unrecognized subcommand"),
        // Bad durations.
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=0"],
            "greater than zero",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=-5m"],
            "negative",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=12"],
            "missing unit",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=1d"],
            "unknown unit",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", &huge_ttl],
            "too large",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=100000h"],
            "outlive the host CA",
        ),
        // Names and hosts: spaces, newlines, unicode, control characters, huge.
        (
            vec!["auth", "sign", "--host=a b", "--out=x"],
            "invalid host",
        ),
        (
            vec!["auth", "sign", "--host=a\nb", "--out=x"],
            "invalid host",
        ),
        (
            vec!["auth", "sign", "--host=caf\u{e9}.example", "--out=x"],
            "invalid host",
        ),
        (
            vec!["auth", "sign", "--host=a\u{1b}[31m", "--out=x"],
            "invalid host",
        ),
        (vec!["auth", "sign", "--host=,", "--out=x"], "empty entry"),
        (vec!["auth", "sign", "--host=", "--out=x"], "empty entry"),
        (
            vec!["auth", "sign", &many_hosts_arg, "--out=x"],
            "invalid host \"bad host\"",
        ),
        (
            vec!["auth", "sign", &big_host_arg, "--out=x"],
            "longer than 253",
        ),
        (
            vec!["users", "add", &big_name, "--roles=access"],
            "longer than 64",
        ),
        (
            vec!["users", "add", "b\u{1}b", "--roles=access"],
            "invalid user name",
        ),
        (
            vec!["users", "add", "bob\n", "--roles=access"],
            "invalid user name",
        ),
        (
            vec![
                "users",
                "add",
                "\u{43b}\u{44e}\u{434}\u{438}",
                "--roles=access",
            ],
            "invalid user name",
        ),
        (
            vec!["users", "add", "bob", "--roles=no such"],
            "unknown role \"no such\"",
        ),
        (
            vec!["users", "add", "bob", "--roles=ghost"],
            "unknown role \"ghost\"",
        ),
        (
            vec!["users", "add", "bob", "--roles=access", "--db-names=a\tb"],
            "invalid database name",
        ),
        (
            vec!["users", "update", "alice", "--set-roles="],
            "empty value",
        ),
        (vec!["users", "reset-password", "ghost"], "not found"),
        (
            vec!["auth", "sign", "--user=alice", &big_db_user_arg, "--out=x"],
            "longer than 64",
        ),
        (
            vec![
                "auth",
                "sign",
                "--user=alice",
                "--db-user=a",
                "--db-name=x\ny",
                "--out=x",
            ],
            "invalid database name",
        ),
        // Malformed resource files, directories, missing files.
        (vec!["create", "-f", "bad.yaml"], "bad.yaml: "),
        (vec!["create", "-f", "notyaml.yaml"], "notyaml.yaml: "),
        (vec!["create", "-f", "list.yaml"], "list.yaml: "),
        (
            vec!["create", "-f", "big.yaml"],
            "big.yaml is larger than 1048576 bytes",
        ),
        (vec!["create", "-f", "ctl.yaml"], "invalid role name"),
        (vec!["create", "-f", "rule.yaml"], "white space"),
        (vec!["create", "-f", "adir"], "is a directory"),
        (vec!["create", "-f", "missing.yaml"], "missing.yaml"),
        (vec!["acl", "check", "adir"], "is a directory"),
        (vec!["acl", "check", "missing.acl"], "missing.acl"),
        // Outputs that exist, are directories, or cannot be written.
        (
            vec!["auth", "sign", "--host=a", "--out=server"],
            "server.crt already exists",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=adir/"],
            "names a folder",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out="],
            "a value is required",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=missing/dir/x"],
            "does not exist",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=afile/x"],
            "does not exist or is not a folder",
        ),
        (vec!["acl", "generate", "--out=adir"], "is a directory"),
        // Found by the robustness review: each refused, nothing changed.
        (
            vec!["acl", "generate", "--out=state/x.acl"],
            "inside the state directory",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=state/x"],
            "inside the state directory",
        ),
        (vec!["auth", "sign", "--host=a", "--out=/proc/x"], "/proc"),
        (vec!["auth", "sign", "--host=a", "--out=q\"uote"], "q"),
        (
            vec!["auth", "sign", "--host=*.com", "--out=w"],
            "public suffix",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=w", "--ttl=1500ms"],
            "whole seconds",
        ),
        (
            vec!["auth", "rotate", "--type=host", "--grace-period=999ms"],
            "whole seconds",
        ),
        (
            vec!["auth", "rotate", "--type=host", "--grace-period=87840h1s"],
            "at most 10 years",
        ),
        (vec!["acl", "check", "/dev/zero"], "is not a regular file"),
        (
            vec!["certs", "inspect", "/dev/zero"],
            "is not a regular file",
        ),
        (vec!["redis", "target", "redis-5.0"], "unknown Redis target"),
        (
            vec!["acl", "check", "--target=redis-8.9", "x"],
            "unknown Redis target",
        ),
        (
            vec!["acl", "generate", "--out=afile/users.acl"],
            "afile/users.acl",
        ),
    ];
    let state_before = snapshot(&dir.state());
    let files_before: Vec<_> = snapshot(dir.path())
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    for (args, want) in &cases {
        let line = dir.rctl(args).refused(want);
        assert!(
            line.len() < 1200,
            "{args:?}: a {} byte error line",
            line.len()
        );
    }
    assert_eq!(
        snapshot(&dir.state()),
        state_before,
        "a refusal changed the state"
    );
    let files_after: Vec<_> = snapshot(dir.path())
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(files_after, files_before, "a refusal left files behind");
}

#[test]
fn huge_stdin_is_refused_cleanly() {
    let dir = populated();
    let before = snapshot(&dir.state());
    let huge = "p".repeat(1024 * 1024);
    dir.rctl_stdin(
        &["users", "add", "bob", "--roles=access", "--password-stdin"],
        &huge,
    )
    .refused("the password on stdin is longer than 4096 bytes");
    dir.rctl_stdin(
        &["users", "add", "bob", "--roles=access", "--password-stdin"],
        "p w\n",
    )
    .refused("whitespace");
    dir.rctl_stdin(
        &["users", "add", "bob", "--roles=access", "--password-stdin"],
        "a\u{a0}b\n",
    )
    .refused("whitespace");
    let role = format!(
        "kind: role\nversion: v5\nmetadata: {{name: {}}}\nspec: {{}}\n",
        "n".repeat(512 * 1024)
    );
    dir.rctl_stdin(&["create", "-f", "-"], &role)
        .refused("longer than 64");
    dir.rctl_stdin(&["create", "-f", "-"], &format!("{huge}x"))
        .refused("longer than 1048576 bytes");
    // A YAML error quoting a 1 MiB value still gives a short line.
    let line = dir
        .rctl_stdin(&["create", "-f", "-"], &huge)
        .refused("stdin: ");
    assert!(line.len() < 400, "{} bytes", line.len());
    assert_eq!(snapshot(&dir.state()), before);
}

/// A corrupted state file is reported with its name, and never rewritten.
#[test]
fn corrupted_state_is_reported_never_repaired() {
    let ca_yaml = {
        let dir = populated();
        dir.read("state/host_ca.yaml")
    };
    let other_ca = {
        let dir = TestDir::new();
        dir.rctl(&["auth", "init", "--cluster-name=other"]).ok();
        dir.read("state/host_ca.yaml")
    };
    let key_block = |y: &str| y[y.find("  private_key:").unwrap()..].to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "host_ca.yaml",
            ca_yaml[..ca_yaml.len() / 2].to_string(),
            "host_ca.yaml is corrupt",
        ),
        (
            "host_ca.yaml",
            ca_yaml.replacen("MII", "MIX", 1),
            "host_ca.yaml is corrupt",
        ),
        (
            "host_ca.yaml",
            ca_yaml.replace(&key_block(&ca_yaml), &key_block(&other_ca)),
            "does not match the certificate",
        ),
        (
            "host_ca.yaml",
            "cluster_name: [\n".to_string(),
            "host_ca.yaml is corrupt",
        ),
        ("host_ca.yaml", String::new(), "host_ca.yaml is corrupt"),
        (
            "host_ca.yaml",
            ca_yaml.replace("version: 1", "version: 9"),
            "version 9 is not supported",
        ),
        (
            "users.jsonl",
            "{\"name\":\"x\"}\n".to_string(),
            "users.jsonl is corrupt: line 1",
        ),
        (
            "users.jsonl",
            "garbage\n".to_string(),
            "users.jsonl is corrupt",
        ),
        (
            "roles/ops.yaml",
            "kind: [\n".to_string(),
            "ops.yaml is corrupt",
        ),
    ];
    for (file, content, want) in cases {
        let dir = populated();
        std::fs::write(dir.state().join(file), &content).unwrap();
        let before = snapshot(&dir.state());
        let commands: Vec<Vec<&str>> = match file {
            "host_ca.yaml" => vec![
                vec!["status"],
                vec!["auth", "export"],
                vec!["auth", "sign", "--host=a", "--out=fresh"],
                vec!["auth", "rotate", "--manual", "--phase=init"],
                vec!["auth", "init"],
            ],
            "users.jsonl" => vec![
                vec!["users", "ls"],
                vec!["users", "add", "bob", "--roles=access"],
                vec!["acl", "generate"],
                vec!["users", "rm", "alice"],
            ],
            _ => vec![
                vec!["get", "roles"],
                vec!["users", "add", "bob", "--roles=access"],
                vec!["acl", "generate"],
            ],
        };
        for args in commands {
            if args == ["auth", "init"] {
                dir.rctl(&args).refused("already exists");
                continue;
            }
            let line = dir.rctl(&args).refused(want);
            assert!(
                line.contains("restore it from a backup"),
                "{args:?}: {line}"
            );
        }
        assert_eq!(
            snapshot(&dir.state()),
            before,
            "{file}: the corrupt state was rewritten"
        );
    }
}

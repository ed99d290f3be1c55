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
    // The refusals that need what this test builds (huge arguments, a 1 MiB file, the state's
    // own roles and CA); every other refusal is a trycmd case of its own, tests/cmd/refuse-*.toml,
    // run here too against this populated state.
    let mut cases: Vec<(Vec<String>, String)> = [
        (
            vec!["auth", "sign", "--host=a", "--out=x", &huge_ttl],
            "too large",
        ),
        (
            vec!["auth", "sign", "--host=a", "--out=x", "--ttl=100000h"],
            "outlive the host CA",
        ),
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
            vec!["users", "add", "bob", "--roles=no such"],
            "unknown role \"no such\"",
        ),
        (
            vec!["users", "add", "bob", "--roles=ghost"],
            "unknown role \"ghost\"",
        ),
        (
            vec!["auth", "sign", "--user=alice", &big_db_user_arg, "--out=x"],
            "longer than 64",
        ),
        (
            vec!["create", "-f", "big.yaml"],
            "big.yaml is larger than 1048576 bytes",
        ),
        (vec!["auth", "sign", "--host=a", "--out=q\"uote"], "q"),
    ]
    .into_iter()
    .map(|(args, want)| {
        (
            args.iter().map(ToString::to_string).collect(),
            want.to_string(),
        )
    })
    .collect();
    cases.extend(refusal_cases(dir.path()));
    assert!(cases.len() >= 75, "{} refusals", cases.len());
    let state_before = snapshot(&dir.state());
    let files_before: Vec<_> = snapshot(dir.path())
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    for (args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // `--state-dir state`, relative as in the trycmd cases.
        let run = dir.rctl_in(std::path::Path::new("state"), &args, None);
        let line = run.refused(want);
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
            // `--state-dir state`, relative as in the trycmd cases.
            let run = dir.rctl_in(std::path::Path::new("state"), &args, None);
            let line = run.refused(want);
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

/// The trycmd refusals (tests/cmd/refuse-*.toml), each as its arguments after `--state-dir
/// state` and the error line it must print, `[CWD]` being `cwd`. trycmd checks them exactly on
/// a fresh folder; here they run against a populated state, which they must leave unchanged.
/// Their `args` and `stderr` lines are JSON, which is TOML too.
fn refusal_cases(cwd: &std::path::Path) -> Vec<(Vec<String>, String)> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd");
    let mut names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("refuse-") && name.ends_with(".toml")
        })
        .collect();
    names.sort();
    assert!(names.len() >= 60, "{} trycmd refusals", names.len());
    names
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let value = |key: &str| {
                let line = text
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .unwrap_or_else(|| panic!("{}: no {key}", path.display()));
                serde_json::from_str::<serde_json::Value>(line).unwrap()
            };
            let args: Vec<String> = serde_json::from_value(value("args = ")).unwrap();
            assert_eq!(args[..2], ["--state-dir", "state"], "{}", path.display());
            let stderr = value("stderr = ");
            let line = stderr.as_str().unwrap().trim_end();
            let line = line.strip_prefix("error: ").unwrap_or(line);
            let line = line.replace("[CWD]", &cwd.display().to_string());
            // Where trycmd elides a part (`[..]`), the longest part left must be in the line.
            let line = line
                .split("[..]")
                .max_by_key(|p| p.len())
                .unwrap()
                .to_string();
            (args[2..].to_vec(), line)
        })
        .collect()
}

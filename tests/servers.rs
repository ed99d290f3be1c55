//! Registered Redis servers: `redis add|ls|rm` through the binary, and what they refuse.

use std::os::unix::fs::PermissionsExt;

use crate::util::{TestDir, snapshot};

fn servers_json(dir: &TestDir) -> serde_json::Value {
    serde_json::from_str(&dir.rctl(&["redis", "ls", "--format=json"]).ok()).unwrap()
}

#[test]
fn servers_are_registered_listed_and_removed() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("tls")).unwrap();
    // Relative paths are kept as absolute ones: a timer runs rctl from another folder.
    let prefix = dir.join("tls/primary");
    let acl = dir.join("tls/users.acl");
    let out = dir
        .rctl(&[
            "redis",
            "add",
            "primary",
            "--addr=127.0.0.1:6380",
            "--cert-prefix=tls/primary",
            "--acl-file=tls/users.acl",
            "--key-algo=ed25519",
            "--ttl=720h",
            "--owner=redis:redis",
        ])
        .ok();
    assert!(out.contains("Server \"primary\" registered"), "{out}");
    dir.rctl(&[
        "redis",
        "add",
        "replica",
        "--addr=[::1]:6381",
        &format!("--cert-prefix={}", dir.join("tls/replica").display()),
        "--hosts=redis-2.internal,::1",
    ])
    .ok();

    let listed = servers_json(&dir);
    let primary = &listed[0];
    assert_eq!(primary["name"], "primary");
    assert_eq!(primary["addr"], "127.0.0.1:6380");
    assert_eq!(primary["cert_prefix"], prefix.display().to_string());
    assert_eq!(primary["acl_file"], acl.display().to_string());
    assert_eq!(
        primary["hosts"],
        serde_json::json!(["127.0.0.1"]),
        "the host of --addr"
    );
    assert_eq!(primary["key_algorithm"], "ed25519");
    assert_eq!(primary["ttl"], "720h0m0s");
    assert_eq!(primary["owner"], "redis:redis");
    let replica = &listed[1];
    assert_eq!(replica["addr"], "[::1]:6381");
    assert_eq!(
        replica["hosts"],
        serde_json::json!(["redis-2.internal", "::1"])
    );
    assert!(replica.get("acl_file").is_none(), "{replica}");

    let text = dir.rctl(&["redis", "ls"]).ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines.len() == 3, "{text}");
    assert!(lines[1].starts_with("primary  127.0.0.1:6380"), "{text}");

    // Each change is in the audit log, with the files rctl will write for the server.
    let audit: serde_json::Value =
        serde_json::from_str(&dir.rctl(&["audit", "ls", "--format=json"]).ok()).unwrap();
    let add = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "server.add" && e["target"] == "primary")
        .unwrap();
    assert_eq!(
        add["outputs"],
        serde_json::json!([
            format!("{}.crt", prefix.display()),
            format!("{}.key", prefix.display()),
            format!("{}.cas", prefix.display()),
            acl.display().to_string(),
        ])
    );

    let out = dir.rctl(&["redis", "rm", "replica"]).ok();
    assert!(out.contains("removed"), "{out}");
    let listed = servers_json(&dir);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "primary");
    assert!(dir.state().join("servers/primary.yaml").is_file());
    assert!(!dir.state().join("servers/replica.yaml").exists());
}

#[test]
fn bad_registrations_are_refused_and_change_nothing() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("tls")).unwrap();
    dir.rctl(&[
        "redis",
        "add",
        "primary",
        "--addr=127.0.0.1:6380",
        "--cert-prefix=tls/primary",
        "--acl-file=tls/users.acl",
    ])
    .ok();
    let state = format!("--cert-prefix={}", dir.state().join("server").display());
    let before = snapshot(dir.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["primary", "--addr=a:1", "--cert-prefix=tls/x"],
            "server \"primary\" already exists",
        ),
        (
            &["b", "--addr=a:1", "--cert-prefix=tls/primary"],
            "is already written for server \"primary\"",
        ),
        (
            &[
                "b",
                "--addr=a:1",
                "--cert-prefix=tls/b",
                "--acl-file=tls/users.acl",
            ],
            "is already written for server \"primary\"",
        ),
        (
            &[
                "b",
                "--addr=a:1",
                "--cert-prefix=tls/b",
                "--acl-file=tls/b.key",
            ],
            "names one of the certificate bundle's files",
        ),
        (
            &["b", "--addr=a:1", "--cert-prefix=missing/b"],
            "does not exist or is not a folder",
        ),
        (&["b", "--addr=a:1", &state], "inside the state directory"),
        (&["b", "--addr=a", "--cert-prefix=tls/b"], "want HOST:PORT"),
        (
            &["b", "--addr=::1:6379", "--cert-prefix=tls/b"],
            "in brackets",
        ),
        (
            &["b", "--addr=a:70000", "--cert-prefix=tls/b"],
            "1 to 65535",
        ),
        (
            &[
                "b",
                "--addr=a:1",
                "--cert-prefix=tls/b",
                "--hosts=a,bad host",
            ],
            "bad host",
        ),
        (
            &["b", "--addr=a:1", "--cert-prefix=tls/b", "--owner=redis:"],
            "want USER or USER:GROUP",
        ),
        (
            &["b", "--addr=a:1", "--cert-prefix=tls/b", "--ttl=soon"],
            "soon",
        ),
        (
            &["b", "--addr=a:1", "--cert-prefix=tls/b", "--key-algo=dsa"],
            "dsa",
        ),
        (
            &["bad name", "--addr=a:1", "--cert-prefix=tls/b"],
            "bad name",
        ),
        (&["b", "--cert-prefix=tls/b"], "--addr"),
        (
            &["b", "--addr=127.0.0.1:6380", "--cert-prefix=tls/b"],
            "server \"primary\"'s address already",
        ),
        // Lifetimes and owners every later sync would refuse are refused at once.
        (
            &["b", "--addr=a:1", "--cert-prefix=tls/b", "--ttl=1500ms"],
            "whole seconds",
        ),
        (
            &[
                "b",
                "--addr=a:1",
                "--cert-prefix=tls/b",
                "--owner=nouser:root",
            ],
            "no user \"nouser\" on this system",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["redis", "add"];
        all.extend_from_slice(args);
        dir.rctl(&all).refused(want);
    }
    dir.rctl(&["redis", "rm", "nope"])
        .refused("server \"nope\" not found");
    assert_eq!(snapshot(dir.path()), before, "a refusal changed something");
    // With a CA, a lifetime past it is refused too (it would fail at every renewal).
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&[
        "redis",
        "add",
        "b",
        "--addr=a:1",
        "--cert-prefix=tls/b",
        "--ttl=87601h",
    ])
    .refused("would outlive the host CA");
}

/// rctl's own account on every served Redis and Valkey: the users.acl rctl writes for that
/// target loads, `rctl-admin` logs in with the password kept in the state and may run exactly
/// what rctl needs of a live server, and nothing that reads or writes data or the server's files.
#[test]
fn the_admin_account_loads_everywhere_and_runs_only_what_rctl_needs() {
    use crate::acl_servers::{AclServer, SERVED};
    let dir = TestDir::new();
    dir.rctl(&["users", "add", "alice", "--roles=access"]).ok();
    let before = dir.rctl(&["acl", "generate"]).ok();
    assert!(
        !before.contains("rctl-admin"),
        "no account before a server is registered"
    );
    dir.rctl(&[
        "redis",
        "add",
        "primary",
        "--addr=127.0.0.1:6380",
        "--cert-prefix=server",
    ])
    .ok();
    let secret = dir.state().join("rctl_admin.password");
    let password = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never printed: not by `redis add`, not in the audit log, not in users.acl.
    let audit = std::fs::read_to_string(dir.state().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(&password));
    assert!(audit.contains("\"target\":\"rctl-admin\""), "{audit}");

    let allowed = [
        ("CONFIG GET maxmemory", "maxmemory"),
        ("CONFIG SET maxmemory-policy noeviction", "OK"),
        ("ACL WHOAMI", "rctl-admin"),
        ("ACL SETUSER rctl-probe", "OK"),
        ("ACL LIST", "rctl-probe"),
        ("ACL DELUSER rctl-probe", "1"),
        ("PING", "PONG"),
        ("MULTI", "OK"),
        ("PING", "QUEUED"),
        ("EXEC", "PONG"),
    ];
    let refused = [
        "SET k v",
        "GET k",
        "KEYS *",
        "FLUSHALL",
        "ACL SAVE",
        "ACL LOAD",
        "ACL GETUSER alice",
        "CONFIG RESETSTAT",
        "CONFIG REWRITE",
        "CLIENT LIST",
        "MODULE LIST",
        "SHUTDOWN NOSAVE",
        "PUBLISH news x",
    ];
    for target in SERVED {
        let acl = dir
            .rctl(&["acl", "generate", &format!("--target={target}")])
            .ok();
        let line = acl
            .lines()
            .find(|l| l.starts_with("user rctl-admin "))
            .expect(&acl);
        assert!(!line.contains(&password), "only the hash is written");
        let mut server = AclServer::start(target);
        // The harness keeps its own `default` (the first line of the file it loads).
        let body = acl.replace("user default off\n", "");
        assert!(
            server.refused_lines(&body).is_empty(),
            "{target} refused the users.acl:\n{acl}"
        );
        let mut commands = format!("AUTH rctl-admin {password}\n");
        for c in allowed.iter().map(|(c, _)| *c).chain(refused) {
            commands.push_str(c);
            commands.push('\n');
        }
        // Last: its reply takes many lines.
        commands.push_str("INFO server\n");
        let replies = server.pipe(&commands);
        assert_eq!(replies[0], "\"OK\"", "{target}: AUTH");
        for (i, (command, want)) in allowed.iter().enumerate() {
            let reply = &replies[1 + i];
            assert!(reply.contains(want), "{target}: {command} -> {reply}");
        }
        for (i, command) in refused.iter().enumerate() {
            let reply = replies
                .get(1 + allowed.len() + i)
                .unwrap_or_else(|| panic!("{target}: no reply to {command}: {replies:?}"));
            assert!(reply.contains("NOPERM"), "{target}: {command} -> {reply}");
        }
        let info = replies[1 + allowed.len() + refused.len()..].join("\n");
        assert!(info.contains("# Server"), "{target}: INFO server -> {info}");
    }
}

#[test]
fn no_person_can_hold_or_get_a_certificate_for_the_admin_account() {
    let dir = TestDir::new();
    dir.rctl(&["users", "add", "alice", "--roles=access", "--db-users=*"])
        .ok();
    dir.rctl(&[
        "redis",
        "add",
        "primary",
        "--addr=127.0.0.1:6380",
        "--cert-prefix=server",
    ])
    .ok();
    dir.write(
        "role.yaml",
        "kind: role\nversion: v5\nmetadata: {name: rctl-admin}\nspec: {allow: {redis_acl: [\"+@all\"]}}\n",
    );
    let before = snapshot(dir.path());
    dir.rctl(&["users", "add", "rctl-admin", "--roles=access"])
        .refused("rctl's own account");
    // Sync's verification skips its probe accounts: no user may hide under their prefix.
    dir.rctl(&["users", "add", "rctl-probe-1", "--roles=access"])
        .refused("rctl's probe accounts");
    dir.rctl(&["create", "-f", "role.yaml"])
        .refused("reserved for rctl's own account");
    // alice may connect as any account her roles allow (*), but never as rctl-admin: with
    // certificate login that certificate would be CONFIG SET on every server.
    dir.rctl(&[
        "auth",
        "sign",
        "--user=alice",
        "--db-user=rctl-admin",
        "--out=alice",
    ])
    .refused("never issues a certificate for it");
    assert_eq!(snapshot(dir.path()), before);
    // A role file placed by hand under the reserved name is corrupt state, not a role.
    std::fs::create_dir_all(dir.state().join("roles")).unwrap();
    std::fs::copy(
        dir.join("role.yaml"),
        dir.state().join("roles/rctl-admin.yaml"),
    )
    .unwrap();
    dir.rctl(&["acl", "generate"])
        .refused("reserved for rctl's own account");
}

#[test]
fn a_server_ttl_is_checked_before_any_ca_exists() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.join("tls")).unwrap();
    let add = |ttl: &str| {
        dir.rctl(&[
            "redis",
            "add",
            "r1",
            "--addr=127.0.0.1:6390",
            "--cert-prefix=tls/r1",
            &format!("--ttl={ttl}"),
        ])
    };
    // No CA yet: no host CA `auth init` makes by default would sign it.
    add("87601h").refused("would outlive the host CA");
    assert!(!dir.state().join("servers").exists());
    add("2190h").ok();
}

#[test]
fn redis_config_of_a_registered_server_takes_its_registration() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    std::fs::create_dir(dir.join("tls")).unwrap();
    dir.rctl(&[
        "redis",
        "add",
        "r1",
        "--addr=127.0.0.1:6390",
        "--cert-prefix=tls/r1",
        "--acl-file=tls/r1.acl",
    ])
    .ok();
    // Its files are not written yet: said, with what writes them.
    dir.rctl(&["redis", "config", "r1"])
        .refused("'rctl redis sync r1' writes it");
    dir.rctl(&["redis", "sync", "r1", "--no-reload"]).ok();
    let by_name = dir.rctl(&["redis", "config", "r1"]).ok();
    let prefix = dir.join("tls/r1");
    let by_flags = dir
        .rctl(&[
            "redis",
            "config",
            &format!("--cert-prefix={}", prefix.display()),
            &format!("--acl={}", dir.join("tls/r1.acl").display()),
            "--port=6390",
        ])
        .ok();
    assert_eq!(by_name, by_flags);
    assert!(by_name.contains("tls-port 6390"), "{by_name}");
    assert!(
        by_name.contains(&format!("tls-cert-file {}.crt", prefix.display())),
        "{by_name}"
    );
    assert!(by_name.contains("aclfile "), "{by_name}");
    // Another port, asked for, wins; an unknown name and a name with a prefix are refused.
    assert!(
        dir.rctl(&["redis", "config", "r1", "--port=7000"])
            .ok()
            .contains("tls-port 7000")
    );
    dir.rctl(&["redis", "config", "nope"]).refused("nope");
    let both = dir.rctl(&["redis", "config", "r1", "--cert-prefix=x"]);
    both.refused("cannot be used with");
    assert_eq!(both.output.status.code(), Some(2));
    let neither = dir.rctl(&["redis", "config"]);
    assert_eq!(neither.output.status.code(), Some(2));
}

//! One account model: every certificate names a Redis account that users.acl defines;
//! certificate login does not widen who can get whose certificate; a replica comes up from
//! rctl's output alone.

use std::time::{Duration, Instant};

use crate::util::{Creds, RedisServer, TestDir, openssl, password_from, snapshot};

fn add(dir: &TestDir, args: &[&str]) -> String {
    let mut all = vec!["users", "add"];
    all.extend_from_slice(args);
    password_from(&dir.rctl(&all).ok())
}

#[test]
fn certificates_name_accounts_that_exist() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    add(&dir, &["erin", "--roles=access", "--db-users=app"]);
    let before = crate::util::snapshot(&dir.state());
    dir.rctl(&["auth", "sign", "--user=erin", "--db-user=app", "--out=erin"])
        .refused("create it with 'rctl users add app --roles=...'");
    dir.rctl(&[
        "auth",
        "sign",
        "--user=erin",
        "--db-user=default",
        "--out=erin",
    ])
    .refused("\"default\" is Redis's own user");
    assert_eq!(crate::util::snapshot(&dir.state()), before);
    // The account as a service: created, then the certificate names it.
    let app_password = add(&dir, &["app", "--roles=readonly"]);
    dir.rctl(&["auth", "sign", "--user=erin", "--db-user=app", "-o", "erin"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    let acl = dir.read("users.acl");
    for account in ["erin", "app"] {
        assert!(acl.contains(&format!("user {account} on #")), "{acl}");
    }
    let server = RedisServer::start(
        &Creds::new(dir.join("server")),
        Some(&dir.join("users.acl")),
    );
    let erin = Creds::new(dir.join("erin"));
    let as_app = ["--user", "app", "--pass", app_password.as_str()];
    let pong = server.cli(&dir.join("erin.cas"), Some(&erin), &as_app, &["PING"]);
    assert_eq!(pong.stdout().trim(), "PONG", "{}", pong.stderr());
    // app's rules are its roles': readonly may not write.
    let set = server.cli(
        &dir.join("erin.cas"),
        Some(&erin),
        &as_app,
        &["SET", "k", "v"],
    );
    assert!(set.stdout().contains("NOPERM"), "{}", set.stdout());
}

#[test]
fn certificate_login_makes_a_wildcard_reach_only_the_own_account() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1", "--out=server"])
        .ok();
    add(&dir, &["alice", "--roles=access"]);
    add(&dir, &["carol", "--roles=readonly", "--db-users=*"]);
    // Redis 7.0 has no certificate login: refused, naming the targets that have it.
    dir.rctl(&["redis", "config", "--cert-prefix=server", "--cert-login"])
        .refused("valkey-9.0, valkey-9.1");
    // Without it, '*' reaches any account (today's Teleport rule).
    dir.rctl(&[
        "auth",
        "sign",
        "--user=carol",
        "--db-user=alice",
        "--out=c1",
    ])
    .ok();
    dir.rctl(&["redis", "target", "valkey-9.1"]).ok();
    let conf = dir
        .rctl(&["redis", "config", "--cert-prefix=server", "--cert-login"])
        .ok();
    assert!(conf.contains("tls-auth-clients-user CN\n"), "{conf}");
    // The setting is kept: redis config and the signing rules read it.
    let again = dir.rctl(&["redis", "config", "--cert-prefix=server"]).ok();
    assert!(again.contains("tls-auth-clients-user CN\n"), "{again}");
    dir.rctl(&[
        "auth",
        "sign",
        "--user=carol",
        "--db-user=alice",
        "--out=c2",
    ])
    .refused("certificate login is on");
    let own = dir.rctl(&[
        "auth",
        "sign",
        "--user=carol",
        "--db-user=carol",
        "--out=c3",
    ]);
    own.ok();
    assert!(
        own.stderr().contains("with no password"),
        "{}",
        own.stderr()
    );
    // Named literally, another account is allowed again.
    dir.rctl(&["users", "update", "carol", "--set-db-users=alice"])
        .ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--user=carol",
        "--db-user=alice",
        "--out=c4",
    ])
    .ok();
    dir.rctl(&["redis", "target", "redis-7.0"])
        .refused("certificate login is on");
    let off = dir
        .rctl(&[
            "redis",
            "config",
            "--cert-prefix=server",
            "--cert-login=off",
        ])
        .ok();
    assert!(!off.contains("tls-auth-clients-user"), "{off}");
    dir.rctl(&["redis", "target", "redis-7.0"]).ok();
}

/// What the replication tests share: the replication account, an admin with a client
/// certificate (admin.crt/.key/.cas), and users.acl.
struct Replication {
    replicator: String,
    admin_password: String,
    acl: std::path::PathBuf,
}

fn replication_accounts(dir: &TestDir) -> Replication {
    // The replication role reads every key: refused to anyone not asking for it on purpose.
    let refused = dir.rctl(&["users", "add", "replicator", "--roles=replication"]);
    assert_eq!(refused.output.status.code(), Some(2));
    refused.refused("the replication role reads every key (a replica's PSYNC copies the whole dataset), so it is for a replica's account: pass --force to give it");
    // The same rule for a Teleport user document and for a change of roles (the library's).
    dir.write(
        "replicator.yaml",
        "kind: user\nversion: v2\nmetadata: {name: replicator}\nspec: {roles: [replication]}\n",
    );
    dir.rctl(&["create", "-f", "replicator.yaml"])
        .refused("the replication role reads every key");
    let replicator = add(dir, &["replicator", "--roles=replication", "--force"]);
    let admin_password = add(dir, &["admin", "--roles=access", "--db-users=admin"]);
    dir.rctl(&[
        "auth",
        "sign",
        "--user=admin",
        "--db-user=admin",
        "--out=admin",
    ])
    .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    Replication {
        replicator,
        admin_password,
        acl: dir.join("users.acl"),
    }
}

/// INFO replication of `server`, as `admin`.
fn info(
    server: &RedisServer,
    dir: &TestDir,
    admin: &Creds,
    password: &str,
    args: &[&str],
) -> String {
    server
        .cli(
            &dir.join("admin.cas"),
            Some(admin),
            &["--user", "admin", "--pass", password],
            args,
        )
        .stdout()
}

#[test]
fn a_tls_replica_comes_up_from_rctl_output_alone() {
    let dir = TestDir::new();
    for node in ["primary", "replica"] {
        dir.rctl(&[
            "auth",
            "sign",
            "--host=127.0.0.1,localhost",
            &format!("--out={node}"),
        ])
        .ok();
    }
    let Replication {
        replicator,
        admin_password,
        acl,
    } = replication_accounts(&dir);
    let primary = RedisServer::try_start_with(|port| {
        dir.rctl(&[
            "redis",
            "config",
            "--cert-prefix=primary",
            &format!("--acl={}", acl.display()),
            &format!("--port={port}"),
        ])
        .ok()
    })
    .unwrap();
    let replica = RedisServer::try_start_with(|port| {
        let run = dir.rctl_stdin(
            &[
                "redis",
                "config",
                "--cert-prefix=replica",
                &format!("--acl={}", acl.display()),
                &format!("--port={port}"),
                &format!("--replica-of=127.0.0.1:{}", primary.port),
                "--repl-user=replicator",
            ],
            &replicator,
        );
        let conf = run.ok();
        assert!(conf.contains("tls-replication yes\n"), "{conf}");
        assert!(conf.contains("masteruser replicator\n"), "{conf}");
        conf
    })
    .unwrap();
    let admin = Creds::new(dir.join("admin"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = info(
            &replica,
            &dir,
            &admin,
            &admin_password,
            &["INFO", "replication"],
        );
        if status.contains("master_link_status:up") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never linked: {status}\nreplica log:\n{}\nprimary log:\n{}",
            replica.log(),
            primary.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let set = info(
        &primary,
        &dir,
        &admin,
        &admin_password,
        &["SET", "k", "written on the primary"],
    );
    assert_eq!(set.trim(), "OK");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info(&replica, &dir, &admin, &admin_password, &["GET", "k"]).trim()
        != "written on the primary"
    {
        assert!(
            Instant::now() < deadline,
            "the write never reached the replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = crate::util::free_port();
        if port < 50000 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

#[test]
fn a_tls_cluster_of_three_primaries_and_three_replicas_comes_up_from_rctl_output() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=127.0.0.1,localhost", "--out=node"])
        .ok();
    let Replication {
        replicator,
        admin_password,
        acl,
    } = replication_accounts(&dir);
    let nodes: Vec<RedisServer> = (0..6)
        .map(|_| {
            RedisServer::try_start_on(cluster_port, |port| {
                let conf = dir
                    .rctl_stdin(
                        &[
                            "redis",
                            "config",
                            "--cert-prefix=node",
                            &format!("--acl={}", acl.display()),
                            &format!("--port={port}"),
                            "--cluster",
                            "--repl-user=replicator",
                        ],
                        &replicator,
                    )
                    .ok();
                assert!(
                    conf.contains("tls-replication yes\ncluster-enabled yes\ntls-cluster yes\n"),
                    "{conf}"
                );
                conf
            })
            .unwrap()
        })
        .collect();
    let admin = Creds::new(dir.join("admin"));
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(addresses.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let made = nodes[0].cli(
        &dir.join("admin.cas"),
        Some(&admin),
        &["--user", "admin", "--pass", &admin_password],
        &create,
    );
    assert!(
        made.stdout().contains("All 16384 slots covered"),
        "{}\n{}",
        made.stdout(),
        made.stderr()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in &nodes {
        loop {
            let state = info(node, &dir, &admin, &admin_password, &["CLUSTER", "INFO"]);
            let repl = info(
                node,
                &dir,
                &admin,
                &admin_password,
                &["INFO", "replication"],
            );
            let linked = repl.contains("role:master") || repl.contains("master_link_status:up");
            if state.contains("cluster_state:ok") && linked {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} not ready: {state}\n{repl}\n{}",
                node.port,
                node.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let replicas = nodes
        .iter()
        .filter(|n| {
            info(n, &dir, &admin, &admin_password, &["INFO", "replication"]).contains("role:slave")
        })
        .count();
    assert_eq!(replicas, 3);
}

#[test]
fn teleport_roles_db_names_and_a_csr_beside_its_key() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/roles/teleport-v7-access.yaml");
    let run = dir.rctl(&["create", "-f", fixture.to_str().unwrap()]);
    run.ok();
    let note = run.stderr();
    assert_eq!(note.lines().count(), 1, "{note}");
    assert!(
        note.contains("ignored Teleport fields") && note.contains("spec.allow.logins"),
        "{note}"
    );
    for role in ["editor", "auditor", "replication"] {
        assert!(dir.rctl(&["get", "roles", role]).ok().contains(role));
    }
    // --db-name is accepted, as tctl takes it, and noted as not in the certificate.
    add(&dir, &["dana", "--roles=access", "--db-users=dana"]);
    let run = dir.rctl(&[
        "auth",
        "sign",
        "--user=dana",
        "--db-user=dana",
        "--db-name=9",
        "--out=dana",
    ]);
    run.ok();
    assert!(
        run.stderr()
            .contains("--db-name \"9\" is not in the certificate"),
        "{}",
        run.stderr()
    );
    // db_names become db= rules on valkey-9.1 (tested live in acl_targets); elsewhere a note.
    add(
        &dir,
        &[
            "erin",
            "--roles=access",
            "--db-users=erin",
            "--db-names=2,orders",
        ],
    );
    let run = dir.rctl(&["acl", "generate", "--target=valkey-9.1"]);
    assert!(
        run.ok().contains(" allkeys allchannels db=2\n"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr()
            .contains("db_names orders are no database number"),
        "{}",
        run.stderr()
    );
    let run = dir.rctl(&["acl", "generate", "--target=redis-7.0"]);
    assert!(!run.ok().contains("db="));
    assert!(
        run.stderr()
            .contains("the db_names of 1 user(s) are not enforced on redis-7.0"),
        "{}",
        run.stderr()
    );
    // A CSR signed beside the key it was made with: the key stays, and redis.conf names it.
    openssl(
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
            "redis1.key",
            "-subj",
            "/CN=redis1",
            "-addext",
            "subjectAltName=DNS:redis1",
            "-out",
            "redis1.csr",
        ],
    );
    let key = dir.read("redis1.key");
    let out = dir
        .rctl(&["auth", "sign", "--csr=redis1.csr", "--out=redis1"])
        .ok();
    assert!(
        out.contains(&format!(
            "tls-key-file {}\n",
            dir.join("redis1.key").display()
        )),
        "{out}"
    );
    assert_eq!(dir.read("redis1.key"), key);
    // Another key beside it: the placeholder, not a wrong key.
    dir.write("other.key", &key);
    std::fs::copy(dir.join("redis1.csr"), dir.join("other.csr")).unwrap();
    openssl(
        &dir,
        &[
            "genpkey",
            "-algorithm",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other.key",
        ],
    );
    let out = dir
        .rctl(&["auth", "sign", "--csr=other.csr", "--out=other"])
        .ok();
    assert!(
        out.contains("tls-key-file /path/to/the/key/the/csr/was/made/with"),
        "{out}"
    );
}

/// `rctl create -f` takes Teleport's `kind: user` documents as `tctl create -f` does, several
/// per file, and adds them in one change: their generated passwords shown once first, every
/// user saved or none.
#[test]
fn create_takes_teleport_user_documents_in_one_change() {
    let dir = TestDir::new();
    let doc = |name: &str, roles: &str| {
        format!(
            "kind: user\nversion: v2\nmetadata: {{name: {name}}}\nspec:\n  roles: [{roles}]\n  traits: {{db_users: [{name}], logins: [root]}}\n"
        )
    };
    let file = dir.write(
        "users.yaml",
        &[
            doc("alice", "access"),
            doc("bob", "readonly"),
            doc("carol", "access"),
        ]
        .join("---\n"),
    );
    let run = dir.rctl(&["create", "-f", file.to_str().unwrap()]);
    let out = run.ok();
    assert!(out.contains("3 user(s) have been created."), "{out}");
    assert!(
        run.stderr().contains("spec.traits.logins"),
        "{}",
        run.stderr()
    );
    // Each password is shown once, and is the one saved: the users.acl hash is its SHA-256.
    let acl = dir.rctl(&["acl", "generate"]).ok();
    for line in out.lines().filter(|l| l.contains('\t')) {
        let (name, password) = line.split_once('\t').unwrap();
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(password.as_bytes()));
        assert!(acl.contains(&format!("user {name} on #{hash} ")), "{name}");
    }
    assert_eq!(
        dir.rctl(&["audit", "ls"])
            .ok()
            .matches("user.create")
            .count(),
        3
    );
    // Refused, all of it, when one document is wrong: nothing changes.
    for (text, want) in [
        (
            [doc("dave", "access"), doc("alice", "access")].join("---\n"),
            "\"alice\" already exists",
        ),
        (
            [doc("erin", "access"), doc("fay", "nosuchrole")].join("---\n"),
            "nosuchrole",
        ),
        (
            [doc("gus", "access"), doc("gus", "access")].join("---\n"),
            "\"gus\" already exists",
        ),
        (
            [
                doc("hal", "access"),
                "kind: role\nversion: v7\nmetadata: {name: r}\n".to_string(),
            ]
            .join("---\n"),
            "mixes users with other kinds",
        ),
        (
            format!("{}  shell: /bin/sh\n", doc("ian", "access")),
            "document 1",
        ),
    ] {
        let bad = dir.write("bad.yaml", &text);
        let before_bad = snapshot(dir.path());
        dir.rctl(&["create", "-f", bad.to_str().unwrap()])
            .refused(want);
        assert!(
            snapshot(dir.path()) == before_bad,
            "{want}: something changed"
        );
    }
    assert!(!dir.rctl(&["users", "ls"]).ok().contains("dave"));
}

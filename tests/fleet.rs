//! A fleet on one shared (etcd) state: each host syncs only what it holds (`--node`, by
//! default its host name), and registering for another host records only.

use std::path::Path;

use crate::etcd::{EtcdCluster, passphrase, rctl};
use crate::util::{TestDir, free_port};

/// `clients add cb --user=app --db-user=app --node=node-b`, its files in `node_b`, from the
/// admin's host, with `extra` arguments.
fn add_client_for_node_b(
    admin: &Path,
    state: &str,
    node_b: &Path,
    extra: &[&str],
) -> crate::util::Run {
    let out = format!("--out={}", node_b.join("cb").display());
    let mut args = vec![
        "clients",
        "add",
        "cb",
        "--user=app",
        "--db-user=app",
        &out,
        "--node=node-b",
    ];
    args.extend(extra);
    rctl(admin, state, &args)
}

#[test]
fn each_node_syncs_only_its_own_servers_and_client_outputs() {
    let etcd = EtcdCluster::start();
    let state = etcd.state(None, "fleet");
    let (admin, node_a, node_b) = (TestDir::new(), TestDir::new(), TestDir::new());
    let pass = passphrase(&admin);
    rctl(
        admin.path(),
        &state,
        &["auth", "init", "--cluster-name=fleet", &pass],
    )
    .ok();
    let run = rctl(
        admin.path(),
        &state,
        &["users", "add", "app", "--roles=access", "--db-users=app"],
    );
    run.ok();
    let register = |name: &str, node: &str, dir: &Path| {
        let port = free_port();
        rctl(
            admin.path(),
            &state,
            &[
                "redis",
                "add",
                name,
                &format!("--addr=127.0.0.1:{port}"),
                &format!("--cert-prefix={}", dir.join(name).display()),
                &format!("--acl-file={}", dir.join(format!("{name}.acl")).display()),
                &format!("--node={node}"),
            ],
        )
        .ok();
    };
    register("ra", "node-a", node_a.path());
    register("rb", "node-b", node_b.path());
    // Registered from the admin's machine for node-b: recorded, not issued, no CA key used.
    let out = add_client_for_node_b(admin.path(), &state, node_b.path(), &[]).ok();
    assert!(out.contains("registered for node node-b"), "{out}");
    assert!(!node_b.join("cb.crt").exists());
    let listed = rctl(admin.path(), &state, &["redis", "ls", "--node=node-a"]).ok();
    let names: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["ra"], "{listed}");
    let listed = rctl(
        admin.path(),
        &state,
        &["clients", "ls", "--node=node-b", "--format=json"],
    )
    .ok();
    assert!(listed.contains("\"node\": \"node-b\""), "{listed}");

    // node-a's sync writes node-a's files only, and is in line (exit 0).
    let synced = rctl(
        node_a.path(),
        &state,
        &["redis", "sync", "--node=node-a", "--no-reload", &pass],
    )
    .ok();
    assert!(
        synced.starts_with("ra: ")
            && !synced
                .lines()
                .any(|l| l.starts_with("rb:") || l.starts_with("client cb:")),
        "{synced}"
    );
    assert!(node_a.join("ra.crt").exists() && node_a.join("ra.acl").exists());
    assert!(!node_b.join("rb.crt").exists() && !node_b.join("cb.crt").exists());
    // node-b's sync: its server and its client output, issued there.
    let synced = rctl(
        node_b.path(),
        &state,
        &["redis", "sync", "--node=node-b", "--no-reload", &pass],
    )
    .ok();
    assert!(
        synced.contains("rb: ")
            && synced.contains("client cb: renewed the certificate (no certificate)"),
        "{synced}"
    );
    assert!(node_b.join("rb.crt").exists() && node_b.join("cb.crt").exists());
    // Without --node, --all or names, a sync on etcd state is this host's node's: here,
    // nothing is registered for it, which is said and is no failure.
    let run = rctl(
        node_a.path(),
        &state,
        &["redis", "sync", "--no-reload", &pass],
    );
    run.ok();
    assert!(
        run.stderr().contains("nothing is registered for this node"),
        "{}",
        run.stderr()
    );
    if let Some(me) = rctl::this_node() {
        register("mine", me.as_str(), node_a.path());
        let synced = rctl(
            node_a.path(),
            &state,
            &["redis", "sync", "--no-reload", &pass],
        )
        .ok();
        assert!(
            synced.starts_with("mine: ") && !synced.contains("ra:"),
            "{synced}"
        );
    }
}

/// `--owner` on every command that writes what a server or client reads, from the first
/// write: Debian's `redis` user reads what root wrote for it.
#[test]
fn files_have_their_owner_from_the_first_write() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new();
    let stat = |name: &str| {
        let meta = std::fs::metadata(dir.join(name)).unwrap();
        (meta.uid(), meta.gid(), meta.mode() & 0o777)
    };
    let (nobody, nogroup) = (65534, 65534);
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&[
        "auth",
        "sign",
        "--host=localhost",
        "--out=srv",
        "--owner=nobody:nogroup",
    ])
    .ok();
    assert_eq!(stat("srv.key"), (nobody, nogroup, 0o600));
    assert_eq!(stat("srv.crt"), (nobody, nogroup, 0o644));
    assert_eq!(stat("srv.cas"), (nobody, nogroup, 0o644));
    dir.write("pass", "pkcs12 pass\n");
    dir.rctl(&[
        "auth",
        "sign",
        "--format=pkcs12",
        "--pkcs12-passphrase-file=pass",
        "--host=localhost",
        "--out=java",
        "--owner=nobody",
    ])
    .ok();
    assert_eq!(stat("java.p12"), (nobody, nogroup, 0o600));
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl", "--owner=0:nogroup"])
        .ok();
    assert_eq!(stat("users.acl"), (0, nogroup, 0o640));
    dir.rctl(&["acl", "generate", "--out=only.acl", "--owner=nobody"])
        .ok();
    assert_eq!(stat("only.acl"), (nobody, nogroup, 0o600));
    // A replaced file keeps its owner without --owner.
    dir.rctl(&[
        "auth",
        "sign",
        "--host=localhost",
        "--out=srv",
        "--overwrite",
    ])
    .ok();
    assert_eq!(stat("srv.key"), (nobody, nogroup, 0o600));
    // A person's login, written by an admin into their profile, is theirs.
    dir.rctl(&[
        "redis",
        "add",
        "r1",
        "--addr=127.0.0.1:6390",
        "--cert-prefix=r1",
    ])
    .ok();
    let profile = format!("--profile={}", dir.join("profile").display());
    dir.rctl(&[
        "db",
        "login",
        "r1",
        "--user=app",
        "--owner=nobody:nogroup",
        &profile,
    ])
    .ok();
    assert_eq!(stat("profile"), (nobody, nogroup, 0o700));
    assert_eq!(stat("profile/app"), (nobody, nogroup, 0o700));
    assert_eq!(stat("profile/app/r1.key"), (nobody, nogroup, 0o600));
    assert_eq!(stat("profile/app/r1.json"), (nobody, nogroup, 0o600));
    // An owner that does not exist is refused before anything is signed.
    dir.rctl(&[
        "auth",
        "sign",
        "--host=localhost",
        "--out=x",
        "--owner=no-such-user",
    ])
    .refused("no user \"no-such-user\"");
    assert!(!dir.join("x.crt").exists());
}

/// A node's sync reads its own registrations, each alone: what it asks of etcd (range reads,
/// transactions, bytes) is the same with 2 other servers registered as with 122, and an index
/// entry naming another node's server gives it nothing.
#[test]
fn a_node_sync_asks_etcd_the_same_whatever_the_size_of_the_fleet() {
    let etcd = EtcdCluster::start();
    // One member, whose counters then see every request.
    let state = etcd.state(Some(0), "scale");
    let (admin, node_a) = (TestDir::new(), TestDir::new());
    let pass = passphrase(&admin);
    rctl(admin.path(), &state, &["auth", "init", &pass]).ok();
    let register = |name: &str, node: &str, port: u16| {
        rctl(
            admin.path(),
            &state,
            &[
                "redis",
                "add",
                name,
                &format!("--addr=127.0.0.1:{port}"),
                &format!("--cert-prefix={}", node_a.join(name).display()),
                &format!("--node={node}"),
            ],
        )
        .ok();
    };
    register("mine", "node-a", 7000);
    register("rb", "node-b", 7001);
    register("rc", "node-c", 7002);
    let sync = || {
        let before = etcd.served(0);
        let run = rctl(
            node_a.path(),
            &state,
            &["redis", "sync", "--node=node-a", "--no-reload", &pass],
        );
        let out = run.ok();
        (etcd.served(0) - before, out)
    };
    let (_, first) = sync();
    assert!(first.starts_with("mine: renewed"), "{first}");
    let (small, again) = sync();
    assert_eq!(again.trim(), "mine: not reloaded (--no-reload)");
    for i in 0..120 {
        register(&format!("other{i}"), &format!("node-{i}"), 8000 + i);
    }
    let (large, again) = sync();
    assert_eq!(again.trim(), "mine: not reloaded (--no-reload)");
    assert_eq!((large.ranges, large.txns), (small.ranges, small.txns));
    // 120 registrations of about 200 bytes each would be 24 KB more.
    assert!(
        large.sent < small.sent + 2_000,
        "{small:?} with 2 other servers, {large:?} with 122"
    );

    // An index entry for another node's server (an etcd writer's forgery) is passed over.
    let key = "/scale/k/nodes/node-a.yaml";
    etcd.etcdctl(&["put", key, "servers:\n- mine\n- rb\n"]);
    let (_, out) = sync();
    assert!(!out.contains("rb"), "{out}");
    assert!(!node_a.join("rb.crt").exists());

    // A state made before the index (none of it there): the node finds its server all the
    // same, and the next registration builds the index for every node.
    etcd.etcdctl(&["del", "--prefix", "/scale/k/nodes"]);
    assert_eq!(etcd.count("scale/k/nodes"), 0);
    let (_, out) = sync();
    assert_eq!(out.trim(), "mine: not reloaded (--no-reload)");
    register("late", "node-late", 9000);
    // node-a, node-b, node-c, node-0..119, node-late, and the mark.
    assert_eq!(etcd.count("scale/k/nodes/"), 124);
    assert_eq!(etcd.count("scale/k/nodes.yaml"), 1);
    rctl(admin.path(), &state, &["redis", "rm", "rb"]).ok();
    assert_eq!(etcd.count("scale/k/nodes/node-b.yaml"), 0);
}

/// On a shared state, another node's registrations are that node's alone: an admin's `sync
/// --all` (with the passphrase) neither writes their files nor runs their hooks, naming one is
/// refused, and the node's own sync does both.
#[test]
fn another_nodes_files_and_hooks_are_never_written_or_run_here() {
    let etcd = EtcdCluster::start();
    let state = etcd.state(None, "held");
    let (admin, node_b) = (TestDir::new(), TestDir::new());
    let pass = passphrase(&admin);
    rctl(admin.path(), &state, &["auth", "init", &pass]).ok();
    rctl(
        admin.path(),
        &state,
        &["users", "add", "app", "--roles=access", "--db-users=app"],
    )
    .ok();
    let marker = node_b.join("hook-ran");
    let hook = format!("--exec=touch {}", marker.display());
    add_client_for_node_b(admin.path(), &state, node_b.path(), &[&hook]).ok();
    rctl(
        admin.path(),
        &state,
        &[
            "redis",
            "add",
            "rb",
            &format!("--addr=127.0.0.1:{}", free_port()),
            &format!("--cert-prefix={}", node_b.join("rb").display()),
            "--node=node-b",
        ],
    )
    .ok();
    let run = rctl(
        admin.path(),
        &state,
        &["redis", "sync", "--all", "--no-reload", &pass],
    );
    run.ok();
    assert!(!marker.exists(), "the admin's sync ran node-b's hook");
    assert!(!node_b.join("cb.crt").exists() && !node_b.join("rb.crt").exists());
    rctl(
        admin.path(),
        &state,
        &["redis", "sync", "cb", "--no-reload", &pass],
    )
    .failed("client output \"cb\" is held by node node-b: its files are written and its hook run only by that node's sync");
    rctl(
        node_b.path(),
        &state,
        &["redis", "sync", "--node=node-b", "--no-reload", &pass],
    )
    .ok();
    assert!(marker.exists(), "node-b's own sync did not run its hook");
    assert!(node_b.join("cb.crt").exists() && node_b.join("rb.crt").exists());
}

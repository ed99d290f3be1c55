//! A fleet on one shared (etcd) state: each host syncs only what it holds (`--node`, by
//! default its host name), and registering for another host records only.

use std::path::Path;

use crate::etcd::{EtcdCluster, passphrase, rctl};
use crate::util::{TestDir, free_port};

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
    let out = rctl(
        admin.path(),
        &state,
        &[
            "clients",
            "add",
            "cb",
            "--user=app",
            "--db-user=app",
            &format!("--out={}", node_b.join("cb").display()),
            "--node=node-b",
        ],
    )
    .ok();
    assert!(out.contains("registered for node node-b"), "{out}");
    assert!(!node_b.join("cb.crt").exists());
    let listed = rctl(admin.path(), &state, &["redis", "ls", "--node=node-a"]).ok();
    assert!(listed.contains("ra") && !listed.contains("rb"), "{listed}");
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
        synced.starts_with("ra: ") && !synced.contains("rb") && !synced.contains("cb"),
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

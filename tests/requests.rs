//! Signing requests through a shared (etcd) state: nodes without the CA passphrase get their
//! certificates from a signer (`auth sign-requests --watch`), their keys never leave them, and
//! the signer refuses what does not match a registration.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::etcd::{EtcdCluster, passphrase, rctl};
use crate::util::{Creds, TestDir, free_port, password_from, rctl_command};

/// `auth sign-requests --watch` running until dropped, its output kept.
struct Signer {
    child: Child,
    log: std::path::PathBuf,
}

impl Signer {
    fn start(dir: &TestDir, state: &str, pass: &str) -> Signer {
        let log = dir.join("signer.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = rctl_command()
            .arg(state)
            .args(["auth", "sign-requests", "--watch", pass])
            .current_dir(dir.path())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Signer { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin host with the passphrase, a node host without it, one etcd state: user `app`,
/// server `r1` and client output `c1` registered for node `node-a` (files in the node's
/// folder).
struct Fleet {
    etcd: EtcdCluster,
    state: String,
    admin: TestDir,
    node: TestDir,
    pass: String,
    app_password: String,
    port: u16,
}

fn fleet(prefix: &str) -> Fleet {
    let etcd = EtcdCluster::start();
    let state = etcd.state(None, prefix);
    let (admin, node) = (TestDir::new(), TestDir::new());
    let pass = passphrase(&admin);
    rctl(admin.path(), &state, &["auth", "init", &pass]).ok();
    let app_password = password_from(
        &rctl(
            admin.path(),
            &state,
            &["users", "add", "app", "--roles=access", "--db-users=app"],
        )
        .ok(),
    );
    let port = free_port();
    rctl(
        admin.path(),
        &state,
        &[
            "redis",
            "add",
            "r1",
            &format!("--addr=127.0.0.1:{port}"),
            &format!("--cert-prefix={}", node.join("r1").display()),
            &format!("--acl-file={}", node.join("r1.acl").display()),
            "--node=node-a",
        ],
    )
    .ok();
    rctl(
        admin.path(),
        &state,
        &[
            "clients",
            "add",
            "c1",
            "--user=app",
            "--db-user=app",
            &format!("--out={}", node.join("c1").display()),
            "--node=node-a",
            "--ttl=1h",
        ],
    )
    .ok();
    Fleet {
        etcd,
        state,
        admin,
        node,
        pass,
        app_password,
        port,
    }
}

impl Fleet {
    /// Debian's redis-server on r1's port and the files the node's sync wrote for it.
    fn start_r1(&self) -> crate::util::RedisServer {
        let creds = Creds::new(self.node.join("r1"));
        crate::util::RedisServer::try_start_program(
            Path::new("redis-server"),
            || self.port,
            |port| {
                format!(
                    "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                     tls-ca-cert-file {}\ntls-auth-clients yes\naclfile {}\n",
                    creds.file(".crt").display(),
                    creds.file(".key").display(),
                    creds.file(".cas").display(),
                    self.node.join("r1.acl").display(),
                )
            },
        )
        .unwrap_or_else(|log| panic!("redis-server did not start:\n{log}"))
    }

    /// The node's sync: no passphrase, its own servers and client outputs.
    fn node_sync(&self, extra: &[&str]) -> crate::util::Run {
        let mut args = vec!["redis", "sync", "--node=node-a"];
        args.extend(extra);
        rctl(self.node.path(), &self.state, &args)
    }

    fn prefix(&self) -> String {
        self.state.rsplit('/').next().unwrap().to_string()
    }
}

fn serial(dir: &Path, file: &str) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-serial", "-in"])
        .arg(dir.join(file));
    crate::util::run(cmd, None).ok()
}

#[test]
fn a_node_without_the_passphrase_gets_its_certificates_from_the_signer() {
    let f = fleet("req1");
    let signer = Signer::start(&f.admin, &f.state, &f.pass);
    let synced = f.node_sync(&["--no-reload"]).ok();
    assert!(
        synced.starts_with("r1: renewed the certificate (no certificate); signed serial"),
        "{synced}"
    );
    assert!(
        synced
            .lines()
            .any(|l| l.starts_with("client c1: renewed the certificate")),
        "{synced}"
    );
    for name in ["r1", "c1"] {
        let verified = crate::util::openssl(
            &f.node,
            &[
                "verify",
                "-CAfile",
                &format!("{name}.cas"),
                &format!("{name}.crt"),
            ],
        );
        assert!(verified.contains(": OK"), "{verified}");
    }
    assert!(f.node.join("r1.acl").exists());
    // A second node, registered from the admin's host: its files only by its own sync, and
    // node-a's sync leaves them alone.
    let node_b = TestDir::new();
    rctl(
        f.admin.path(),
        &f.state,
        &[
            "redis",
            "add",
            "r2",
            &format!("--addr=127.0.0.1:{}", free_port()),
            &format!("--cert-prefix={}", node_b.join("r2").display()),
            "--node=node-b",
        ],
    )
    .ok();
    let again = f.node_sync(&["--no-reload"]).ok();
    assert!(!again.contains("r2"), "{again}");
    assert!(!node_b.join("r2.crt").exists());
    let b = rctl(
        node_b.path(),
        &f.state,
        &["redis", "sync", "--node=node-b", "--no-reload"],
    )
    .ok();
    assert!(
        b.starts_with("r2: renewed the certificate (no certificate)"),
        "{b}"
    );
    assert!(node_b.join("r2.key").exists() && !f.node.join("r2.key").exists());
    // The keys were made on the node and never left it: not in etcd, not in the audit log.
    let dump = f.etcd.dump(&f.prefix());
    assert!(!dump.contains("BEGIN PRIVATE KEY"), "a clear key in etcd");
    for (dir, key) in [
        (&f.node, "r1.key"),
        (&f.node, "c1.key"),
        (&node_b, "r2.key"),
    ] {
        let pem = dir.read(key);
        let body = pem.lines().nth(1).unwrap();
        assert!(!dump.contains(body), "{key} in etcd");
    }
    assert!(dump.contains("\"cert.install\""), "no install audited");
    // rctl-admin's password: sealed in etcd, its copy sealed to node-a by the signer and kept
    // beside each of node-a's server keys (0600), in clear nowhere in etcd.
    let copy = f.node.read("r1.admin");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.node.join("r1.admin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        copy.len() >= 32 && !dump.contains(copy.trim()),
        "a clear admin password in etcd"
    );
    assert!(dump.contains("BEGIN RCTL ENCRYPTED SECRET"), "{dump}");
    // An earlier rctl's clear password is sealed by the next signer pass.
    let key = format!("/{}/k/rctl_admin.password", f.prefix());
    let mut put = Command::new("etcdctl");
    put.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", f.etcd.clients.join(",")))
        .args(["put", &key, copy.trim()]);
    crate::util::run(put, None).ok();
    assert!(f.etcd.dump(&f.prefix()).contains(copy.trim()));
    rctl(
        f.admin.path(),
        &f.state,
        &["auth", "sign-requests", &f.pass],
    )
    .ok();
    let dump = f.etcd.dump(&f.prefix());
    assert!(!dump.contains(copy.trim()) && dump.contains("BEGIN RCTL ENCRYPTED SECRET"));
    // A renewal proves the key on record, through the watch; nothing left in the queue.
    let before = serial(f.node.path(), "r1.crt");
    let old_key = f.node.read("r1.key");
    let started = Instant::now();
    let renewed = f.node_sync(&["--no-reload", "--renew-within=9000h"]).ok();
    let took = started.elapsed();
    assert!(
        renewed.starts_with("r1: renewed the certificate (due"),
        "{renewed}"
    );
    assert_ne!(serial(f.node.path(), "r1.crt"), before);
    assert_ne!(f.node.read("r1.key"), old_key);
    eprintln!("a renewal through the signer's watch, end to end: {took:?}");
    assert_eq!(f.etcd.count(&format!("{}/q/", f.prefix())), 0);
    // A node without its copy (one from before sealed passwords): its sync asks for it, with
    // a proved request for one of its servers, though nothing is due.
    std::fs::remove_file(f.node.join("r1.admin")).unwrap();
    let serial_now = serial(f.node.path(), "r1.crt");
    f.node_sync(&["--no-reload"]).ok();
    assert_eq!(f.node.read("r1.admin"), copy);
    assert_eq!(serial(f.node.path(), "r1.crt"), serial_now);
    // A node that lost the key of its live certificate cannot prove it: refused, said on the
    // server's line, exit 1, nothing written.
    let key = f.node.read("r1.key");
    std::fs::remove_file(f.node.join("r1.key")).unwrap();
    let before = crate::util::snapshot(f.node.path());
    let out = f.node_sync(&["--no-reload"]).failed("not in line");
    assert!(
        out.lines().any(|l| l.starts_with("r1: ")
            && l.contains("refused: no proof of possession: the certificate on record")),
        "{out}"
    );
    assert!(crate::util::snapshot(f.node.path()) == before);
    f.node.write("r1.key", &key);
    std::fs::set_permissions(
        f.node.join("r1.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // Nothing due: in line, exit 0, the signer not needed.
    drop(signer);
    let run = f.node_sync(&["--no-reload"]);
    assert!(run.ok().starts_with("r1: not reloaded"), "{}", run.stdout());
    // Due, and no signer: the files stay, the request is named and taken back.
    let before = crate::util::snapshot(f.node.path());
    let run = f.node_sync(&["--no-reload", "--renew-within=9000h", "--wait=1s"]);
    let out = run.failed("not in line");
    assert!(
        out.lines().any(|l| l.starts_with("r1: ")
            && l.contains("signing request")
            && l.contains("was not answered within 1s; the current files are left in place")),
        "{out}"
    );
    assert!(crate::util::snapshot(f.node.path()) == before);
    assert_eq!(f.etcd.count(&format!("{}/q/", f.prefix())), 0);
}

/// Requests made by hand with the library, each wrong in one way, all refused, and the one
/// right request signed.
#[test]
fn the_signer_refuses_every_request_that_does_not_match_its_registration() {
    use rctl::requests::node::NodeRequest;
    use rctl::requests::{RequestFor, SigningRequest};
    let f = fleet("req2");
    // r1's first certificate through the signer, so that renewals need a proof.
    {
        let _signer = Signer::start(&f.admin, &f.state, &f.pass);
        f.node_sync(&["--no-reload"]).ok();
    }
    let url = f.state.strip_prefix("--state=").unwrap();
    let url = rctl::storage::etcd::EtcdUrl::parse(url).unwrap().unwrap();
    let mut state =
        rctl::StateDir::open_etcd(&url, &rctl::storage::etcd::EtcdTls::default(), false).unwrap();
    let queue = state.requests().queue().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let node: rctl::NodeName = "node-a".parse().unwrap();
    let r1 = RequestFor::Server("r1".parse().unwrap());
    let hosts = rctl::parse_host_list("127.0.0.1").unwrap();
    let current = f.node.read("r1.key");
    let algo = rctl::KeyAlgorithm::EcdsaP256;
    let make =
        |subject: RequestFor, node: &rctl::NodeName, hosts: &[rctl::Host], key: Option<&str>| {
            NodeRequest::new(
                rctl::requests::node::Asked {
                    subject,
                    node,
                    algorithm: algo,
                    hosts,
                },
                key,
                false,
                now,
            )
            .unwrap()
        };
    let other_key = rctl::PrivateKey::generate(algo).unwrap().to_pem().unwrap();
    let mut cases: Vec<(&str, SigningRequest)> = vec![
        (
            "no server \"ghost\" is registered",
            make(
                RequestFor::Server("ghost".parse().unwrap()),
                &node,
                &hosts,
                None,
            )
            .request,
        ),
        (
            "its CSR names evil.example, not the registered 127.0.0.1",
            make(
                r1.clone(),
                &node,
                &rctl::parse_host_list("evil.example").unwrap(),
                Some(&current),
            )
            .request,
        ),
        (
            "is held by node node-a, not by node node-b",
            make(
                r1.clone(),
                &"node-b".parse().unwrap(),
                &hosts,
                Some(&current),
            )
            .request,
        ),
        (
            "no proof of possession",
            make(r1.clone(), &node, &hosts, None).request,
        ),
        (
            "its proof of possession is made with another key",
            make(r1.clone(), &node, &hosts, Some(&other_key)).request,
        ),
    ];
    let mut stale = make(r1.clone(), &node, &hosts, Some(&current)).request;
    stale.created = now - time::Duration::hours(1);
    cases.push(("more than 15m", stale));
    // A proof for another request: the proof of a good one, moved to a new id.
    let mut moved = make(r1.clone(), &node, &hosts, Some(&current)).request;
    moved.id = SigningRequest::new_id();
    cases.push(("its proof of possession is for another request", moved));
    for (_, request) in &cases {
        queue
            .submit(
                &request.id,
                &request.to_json().unwrap(),
                Duration::from_secs(60),
            )
            .unwrap();
    }
    queue
        .submit("corrupt1", b"not json", Duration::from_secs(60))
        .unwrap();
    let good = make(r1.clone(), &node, &hosts, Some(&current));
    let good_json = good.request.to_json().unwrap();
    queue
        .submit(&good.request.id, &good_json, Duration::from_secs(60))
        .unwrap();
    let run = rctl(
        f.admin.path(),
        &f.state,
        &["auth", "sign-requests", &f.pass],
    );
    let out = run.failed(&format!(
        "{} of {} signing request(s) refused",
        cases.len() + 1,
        cases.len() + 2
    ));
    for (want, request) in &cases {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("refused {}:", request.id)))
            .unwrap_or_else(|| panic!("no line for {want}: {out}"));
        assert!(line.contains(want), "want {want:?}: {line}");
    }
    assert!(
        out.lines().any(
            |l| l.starts_with("refused corrupt1: an unreadable request: ")
                && l.contains("q/corrupt1 is corrupt")
        ),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "signed {}: server \"r1\" from node node-a",
            good.request.id
        ))),
        "{out}"
    );
    // The same request again, once answered: a replay.
    queue
        .submit(&good.request.id, &good_json, Duration::from_secs(60))
        .unwrap();
    let run = rctl(
        f.admin.path(),
        &f.state,
        &["auth", "sign-requests", &f.pass],
    );
    let out = run.failed("1 of 1 signing request(s) refused");
    assert!(
        out.contains("its id was answered before: a replayed request"),
        "{out}"
    );
    // Every refusal is audited.
    let dump = f.etcd.dump(&f.prefix());
    assert!(
        dump.matches("\"request.refuse\"").count() >= cases.len() + 2,
        "{dump}"
    );
    // A node that lost its key: the server removed and registered again asks its first
    // certificate anew, with no proof of the lost key.
    assert!(dump.contains("k/issued/r1.server.yaml"), "{dump}");
    rctl(f.admin.path(), &f.state, &["redis", "rm", "r1"]).ok();
    assert!(!f.etcd.dump(&f.prefix()).contains("k/issued/r1.server.yaml"));
    rctl(
        f.admin.path(),
        &f.state,
        &[
            "redis",
            "add",
            "r1",
            &format!("--addr=127.0.0.1:{}", f.port),
            &format!("--cert-prefix={}", f.node.join("r1").display()),
            "--node=node-a",
        ],
    )
    .ok();
    let lost = make(r1.clone(), &node, &hosts, None).request;
    queue
        .submit(&lost.id, &lost.to_json().unwrap(), Duration::from_secs(60))
        .unwrap();
    let out = rctl(
        f.admin.path(),
        &f.state,
        &["auth", "sign-requests", &f.pass],
    )
    .ok();
    assert!(
        out.starts_with(&format!("signed {}: server \"r1\"", lost.id)),
        "{out}"
    );
}

/// The four phases of a rotation driven by the signer, each followed by the node's own sync:
/// new connections from a client output on the node never fail.
#[test]
fn a_rotation_through_signing_requests_keeps_new_connections_working() {
    let f = fleet("req3");
    let signer = Signer::start(&f.admin, &f.state, &f.pass);
    f.node_sync(&["--no-reload"]).ok();
    let server = f.start_r1();
    f.node_sync(&[]).ok();
    let client = crate::live::Client {
        creds: Creds::new(f.node.join("c1")),
        user: "app".to_string(),
        password: f.app_password.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load = crate::clients::connection_loop(server.port, client, stop.clone());
    for phase in ["init", "update_clients", "update_servers", "standby"] {
        rctl(
            f.admin.path(),
            &f.state,
            &[
                "auth",
                "rotate",
                "--manual",
                &format!("--phase={phase}"),
                &f.pass,
            ],
        )
        .ok();
        // The admin's host cannot read the node's files: its status tells from the node's
        // install records whether the node has applied the phase, before and after its sync.
        let applied = || -> Vec<(String, bool)> {
            let status = rctl(f.admin.path(), &f.state, &["status", "--format=json"]).ok();
            let status: serde_json::Value = serde_json::from_str(&status).unwrap();
            status["rotation_progress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    assert_eq!(p["node"], "node-a", "{p}");
                    (
                        p["name"].as_str().unwrap().to_string(),
                        p["applied"] == true,
                    )
                })
                .collect()
        };
        if phase != "standby" {
            assert!(
                applied().iter().any(|(_, done)| !done),
                "{phase}: {:?}",
                applied()
            );
        }
        let synced = f.node_sync(&[]).ok();
        assert!(synced.contains("r1: "), "{phase}: {synced}");
        assert!(
            applied().iter().all(|(_, done)| *done),
            "{phase}: {:?}",
            applied()
        );
        std::thread::sleep(Duration::from_millis(400));
    }
    let connections = crate::clients::no_failed_connections(&stop, load);
    eprintln!("rotation through requests: {connections} new connections, none failed");
    let cas = f.node.read("c1.cas");
    assert_eq!(cas.matches("BEGIN CERTIFICATE").count(), 1);
    for name in ["r1", "c1"] {
        crate::util::openssl(
            &f.node,
            &[
                "verify",
                "-CAfile",
                &format!("{name}.cas"),
                &format!("{name}.crt"),
            ],
        );
    }
    rctl(
        f.node.path(),
        &f.state,
        &["redis", "check", "--node=node-a"],
    )
    .ok();
    assert!(signer.log().contains("signed "), "{}", signer.log());
}

/// An etcd member killed while admins add users and the node syncs: nothing reported done is
/// lost, and every sync reported done left files that verify.
#[test]
fn a_member_killed_during_syncs_and_adds_loses_nothing_reported_done() {
    let mut f = fleet("req4");
    let _signer = Signer::start(&f.admin, &f.state, &f.pass);
    f.node_sync(&["--no-reload"]).ok();
    let mut added = Vec::new();
    let mut synced = 0;
    let mut killed = None;
    for i in 0..12 {
        if i == 3 {
            let leader = f.etcd.leader();
            f.etcd.kill(leader);
            killed = Some(leader);
        }
        if i == 8
            && let Some(m) = killed.take()
        {
            f.etcd.restart(m);
        }
        let add = crate::util::run(
            {
                let mut cmd = rctl_command();
                cmd.arg(&f.state)
                    .args([
                        "users",
                        "add",
                        &format!("p{i}"),
                        "--roles=access",
                        "--password-stdin",
                    ])
                    .current_dir(f.admin.path());
                cmd
            },
            Some("a-long-enough-password\n"),
        );
        if add.output.status.success() {
            added.push(format!("p{i}"));
        }
        let sync = f.node_sync(&["--no-reload", "--renew-within=9000h", "--wait=10s"]);
        if sync.output.status.success() {
            synced += 1;
            crate::util::openssl(&f.node, &["verify", "-CAfile", "r1.cas", "r1.crt"]);
        }
    }
    assert!(added.len() >= 6, "only {} adds went through", added.len());
    assert!(synced >= 6, "only {synced} syncs went through");
    let listed = rctl(f.admin.path(), &f.state, &["users", "ls"]).ok();
    for name in &added {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} reported added, missing: {listed}"
        );
    }
    // The last sync reported done is what is on disk: its key is its certificate's.
    crate::util::openssl(&f.node, &["verify", "-CAfile", "r1.cas", "r1.crt"]);
    eprintln!(
        "member killed: {} adds and {synced} syncs reported done, none lost",
        added.len()
    );
}

#[test]
fn signing_requests_need_a_shared_state() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = crate::util::snapshot(dir.path());
    let run = dir.rctl(&["auth", "sign-requests"]);
    run.failed("signing requests need a shared (etcd) state");
    assert!(crate::util::snapshot(dir.path()) == before);
}

/// A flood of junk, and a request whose login key does not parse, each refused alone, named by
/// its key: the pass goes on past etcd's 128 operations per transaction, the honest request
/// in the same queue is signed, and a watching signer answers a node behind the flood.
#[test]
fn the_signer_refuses_a_flood_of_junk_alone_and_still_answers_the_honest() {
    use rctl::requests::RequestFor;
    use rctl::requests::node::NodeRequest;
    let f = fleet("req5");
    {
        let _signer = Signer::start(&f.admin, &f.state, &f.pass);
        f.node_sync(&["--no-reload"]).ok();
    }
    // r2 on the node, never issued: its first request needs no proof of possession.
    rctl(
        f.admin.path(),
        &f.state,
        &[
            "redis",
            "add",
            "r2",
            &format!("--addr=127.0.0.1:{}", free_port()),
            &format!("--cert-prefix={}", f.node.join("r2").display()),
            "--node=node-a",
        ],
    )
    .ok();
    let url = f.state.strip_prefix("--state=").unwrap();
    let url = rctl::storage::etcd::EtcdUrl::parse(url).unwrap().unwrap();
    let mut state =
        rctl::StateDir::open_etcd(&url, &rctl::storage::etcd::EtcdTls::default(), false).unwrap();
    let queue = state.requests().queue().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let node: rctl::NodeName = "node-a".parse().unwrap();
    let hosts = rctl::parse_host_list("127.0.0.1").unwrap();
    let algo = rctl::KeyAlgorithm::EcdsaP256;
    let ttl = Duration::from_secs(300);
    // First in the queue: a login key that is no key.
    let r2 = RequestFor::Server("r2".parse().unwrap());
    let mut bad_key = NodeRequest::new(
        rctl::requests::node::Asked {
            subject: r2,
            node: &node,
            algorithm: algo,
            hosts: &hosts,
        },
        None,
        true,
        now,
    )
    .unwrap()
    .request;
    bad_key.login_key = Some("!!!".to_string());
    queue
        .submit(&bad_key.id, &bad_key.to_json().unwrap(), ttl)
        .unwrap();
    // Then junk, far more than one etcd transaction compares, with a control character in
    // one id, then an honest renewal of r1 with its proof.
    let junk = 1000;
    for i in 0..junk {
        queue
            .submit(&format!("junk{i:05}"), b"{\"not\": \"a request\"}", ttl)
            .unwrap();
    }
    queue.submit("evil\x1b[2Jid", b"junk", ttl).unwrap();
    let r1 = RequestFor::Server("r1".parse().unwrap());
    let current = f.node.read("r1.key");
    // A renewal of r1 with its proof, as node-a's sync makes it.
    let renewal = || {
        let asked = rctl::requests::node::Asked {
            subject: r1.clone(),
            node: &node,
            algorithm: algo,
            hosts: &hosts,
        };
        NodeRequest::new(asked, Some(&current), false, now).unwrap()
    };
    let good = renewal();
    queue
        .submit(&good.request.id, &good.request.to_json().unwrap(), ttl)
        .unwrap();
    // A second one for the same name in the same pass: one signature per registration.
    let twice = renewal();
    queue
        .submit(&twice.request.id, &twice.request.to_json().unwrap(), ttl)
        .unwrap();
    let started = Instant::now();
    let run = rctl(
        f.admin.path(),
        &f.state,
        &["auth", "sign-requests", &f.pass],
    );
    let took = started.elapsed();
    let out = run.failed(&format!(
        "{} of {} signing request(s) refused",
        junk + 3,
        junk + 4
    ));
    let twice_line = out
        .lines()
        .find(|l| l.starts_with(&format!("refused {}:", twice.request.id)))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        twice_line.contains("another request for server \"r1\" was judged in this pass"),
        "{twice_line}"
    );
    let bad_line = out
        .lines()
        .find(|l| l.starts_with(&format!("refused {}:", bad_key.id)))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(bad_line.contains("its login key"), "{bad_line}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("refused junk00999: ") && l.contains("q/junk00999 is corrupt")),
        "{}",
        &out[out.len().saturating_sub(2000)..]
    );
    // The control characters are shown, not obeyed.
    assert!(!out.contains('\x1b'), "a raw ESC was printed");
    assert!(out.contains("evil\\u{1b}[2Jid"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "signed {}: server \"r1\" from node node-a",
            good.request.id
        ))),
        "{out}"
    );
    // Oldest first: the line of the first request put comes first.
    assert!(
        out.starts_with(&format!("refused {}:", bad_key.id)),
        "{out}"
    );
    eprintln!("one pass over {} requests: {took:?}", junk + 3);
    // Behind another flood, a node's renewal through a watching signer.
    for i in 0..300 {
        queue.submit(&format!("more{i:05}"), b"junk", ttl).unwrap();
    }
    let signer = Signer::start(&f.admin, &f.state, &f.pass);
    let synced = f.node_sync(&["--no-reload", "--renew-within=10000h"]);
    let synced = synced.ok();
    assert!(
        synced.contains("r1: renewed the certificate"),
        "{synced}\n{}",
        signer.log()
    );
    assert!(
        signer.log().contains("refused more00299"),
        "{}",
        signer.log()
    );
}

/// On a fleet a lock is saved from the admin's host and each node's sync applies it; a locked
/// node's signing requests are refused by the signer, named by the lock.
#[test]
fn a_lock_reaches_a_node_at_its_sync_and_a_locked_node_gets_nothing_signed() {
    let f = fleet("locks");
    let signer = Signer::start(&f.admin, &f.state, &f.pass);
    f.node_sync(&["--no-reload"]).ok();
    let acl = std::fs::read_to_string(f.node.join("r1.acl")).unwrap();
    assert!(acl.contains("user app on #"), "{acl}");
    let run = rctl(f.admin.path(), &f.state, &["lock", "add", "--user=app"]);
    run.ok();
    assert!(
        run.stderr().contains("each node applies it at its next"),
        "{}",
        run.stderr()
    );
    f.node_sync(&["--no-reload"]).ok();
    let acl = std::fs::read_to_string(f.node.join("r1.acl")).unwrap();
    assert!(acl.contains("user app off #"), "{acl}");

    let id = rctl(
        f.admin.path(),
        &f.state,
        &["lock", "add", "--node=node-a", "--message=stolen laptop"],
    )
    .ok();
    let before = serial(f.node.path(), "r1.crt");
    let refused = f.node_sync(&["--no-reload", "--renew-within=100000h", "--wait=10s"]);
    assert!(
        refused
            .all_output()
            .contains("a lock on node:node-a is in force: stolen laptop"),
        "{}\nsigner: {}",
        refused.all_output(),
        signer.log()
    );
    assert_eq!(
        serial(f.node.path(), "r1.crt"),
        before,
        "a locked node got a certificate"
    );
    rctl(f.admin.path(), &f.state, &["lock", "rm", id.trim()]).ok();
    let renewed = f
        .node_sync(&["--no-reload", "--renew-within=100000h"])
        .stdout();
    assert!(renewed.contains("r1: renewed the certificate"), "{renewed}");
    assert_ne!(serial(f.node.path(), "r1.crt"), before);
}

/// A node's agent (`redis sync --watch --node`, no passphrase) applies an admin's change on
/// etcd as it happens: a lock made on the admin's host reaches the node's users.acl, and its
/// removal too, with no sync run by anyone.
#[test]
fn a_node_agent_applies_an_admins_lock_on_etcd_as_it_happens() {
    let f = fleet("agent");
    let _signer = Signer::start(&f.admin, &f.state, &f.pass);
    let agent = crate::agent::Agent::start(
        &f.node,
        &[
            &f.state,
            "redis",
            "sync",
            "--watch",
            "--node=node-a",
            "--no-reload",
        ],
    );
    let acl = f.node.join("r1.acl");
    let has = |text: &str| std::fs::read_to_string(&acl).is_ok_and(|a| a.contains(text));
    assert!(
        crate::agent::within(|| has("user app on #")).is_some(),
        "{}",
        agent.log()
    );
    let id = rctl(f.admin.path(), &f.state, &["lock", "add", "--user=app"]).ok();
    assert!(
        crate::agent::within(|| has("user app off #")).is_some(),
        "the agent did not apply the lock:\n{}",
        agent.log()
    );
    rctl(f.admin.path(), &f.state, &["lock", "rm", id.trim()]).ok();
    assert!(
        crate::agent::within(|| has("user app on #")).is_some(),
        "the agent did not apply the lock's removal:\n{}",
        agent.log()
    );
}

/// On etcd, with a live redis-server behind a node's agent: a lock from the admin's host
/// closes a held connection and its removal lets the user back; a person's `db login` from
/// the admin's host gets its per-login account on the node's server through the agent; `db
/// logout`, then `users rm` of a user holding a connection, close those connections; the
/// agent rides out the loss of the etcd leader.
#[test]
fn a_node_agent_ends_logins_and_users_on_its_live_server() {
    let mut f = fleet("agentlive");
    let _signer = Signer::start(&f.admin, &f.state, &f.pass);
    f.node_sync(&["--no-reload"]).ok();
    let server = f.start_r1();
    let agent = crate::agent::Agent::start(
        &f.node,
        &[&f.state, "redis", "sync", "--watch", "--node=node-a"],
    );
    let client = crate::live::Client {
        creds: Creds::new(f.node.join("c1")),
        user: "app".to_string(),
        password: f.app_password.clone(),
    };
    assert!(
        crate::agent::within(|| crate::live::connect(server.port, &client).is_ok()).is_some(),
        "{}",
        agent.log()
    );
    // The etcd leader is lost: the agent's watch moves to another member.
    let leader = f.etcd.leader();
    f.etcd.kill(leader);
    // A login from the admin's host: its account reaches r1 through the agent.
    let profile = f.admin.join("profile");
    let admin = |args: &[&str]| {
        let mut cmd = rctl_command();
        cmd.arg(&f.state)
            .arg(&f.pass)
            .args(args)
            .env("RCTL_PROFILE", &profile)
            .current_dir(f.admin.path());
        crate::util::run(cmd, None)
    };
    // A lock from the admin's host closes app's connection on the node's server; removed,
    // app logs in again.
    let mut own = crate::live::connect(server.port, &client).unwrap();
    let id = admin(&["lock", "add", "--user=app"]).ok();
    assert!(
        crate::agent::within(|| crate::live::ping(&mut own).is_err()).is_some(),
        "app's connection outlived the lock:\n{}",
        agent.log()
    );
    admin(&["lock", "rm", id.trim()]).ok();
    assert!(
        crate::agent::within(|| crate::live::connect(server.port, &client).is_ok()).is_some(),
        "app is still locked out after lock rm:\n{}",
        agent.log()
    );
    admin(&["db", "login", "r1", "--user=app"]).ok();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(profile.join("app/r1.json")).unwrap()).unwrap();
    let login = crate::live::Client {
        creds: Creds::new(profile.join("app/r1")),
        user: record["db_user"].as_str().unwrap().to_string(),
        password: std::fs::read_to_string(profile.join("app/r1.password"))
            .unwrap()
            .trim()
            .to_string(),
    };
    let mut held = None;
    assert!(
        crate::agent::within(|| {
            held = crate::live::connect(server.port, &login).ok();
            held.is_some()
        })
        .is_some(),
        "the login's account did not reach r1:\n{}",
        agent.log()
    );
    let mut held = held.unwrap();
    admin(&["db", "logout", "--user=app"]).ok();
    assert!(
        crate::agent::within(|| crate::live::ping(&mut held).is_err()).is_some(),
        "the login's connection outlived db logout:\n{}",
        agent.log()
    );
    // users rm: app's own connection closes.
    let mut own = crate::live::connect(server.port, &client).unwrap();
    admin(&["users", "rm", "app"]).ok();
    assert!(
        crate::agent::within(|| crate::live::ping(&mut own).is_err()).is_some(),
        "app's connection outlived users rm:\n{}",
        agent.log()
    );
    f.etcd.restart(leader);
}

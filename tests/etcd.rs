//! The state in a real etcd: Debian's etcd-server, three members on loopback ports, each in its
//! own temp data dir, stopped on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestDir, free_port, rctl_command, run};

/// A three-member etcd cluster on loopback.
pub struct EtcdCluster {
    members: Vec<Child>,
    pub clients: Vec<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl EtcdCluster {
    pub fn start() -> EtcdCluster {
        let peers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let clients: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let initial: Vec<String> = peers
            .iter()
            .enumerate()
            .map(|(i, p)| format!("m{i}=http://127.0.0.1:{p}"))
            .collect();
        let token = format!("rctl-test-{}", peers[0]);
        let mut members = Vec::new();
        let mut dirs = Vec::new();
        for i in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let child = Command::new("etcd")
                .args(["--name", &format!("m{i}")])
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{}", clients[i]),
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{}", clients[i]),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{}", peers[i]),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{}", peers[i]),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-token",
                    &token,
                    "--initial-cluster-state",
                    "new",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("etcd must be installed (apt-get install etcd-server etcd-client); .ci/run does it");
            members.push(child);
            dirs.push(dir);
        }
        let cluster = EtcdCluster {
            members,
            clients: clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            _dirs: dirs,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.healthy() {
            assert!(Instant::now() < deadline, "etcd did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    fn healthy(&self) -> bool {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(["endpoint", "health"]);
        run(cmd, None).output.status.success()
    }

    /// `--state=etcd://…/PREFIX` through member `i` (all members when `None`).
    pub fn state(&self, member: Option<usize>, prefix: &str) -> String {
        let hosts = match member {
            Some(i) => self.clients[i].clone(),
            None => self.clients.join(","),
        };
        format!("--state=etcd://{hosts}/{prefix}")
    }

    /// `etcdctl get --prefix /PREFIX/`: every key and value.
    pub fn dump(&self, prefix: &str) -> String {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(["get", "--prefix", &format!("/{prefix}/")]);
        run(cmd, None).ok()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

/// `rctl --state=… ARGS` in `dir` (no --state-dir).
fn rctl(dir: &Path, state: &str, args: &[&str]) -> crate::util::Run {
    let mut cmd = rctl_command();
    cmd.arg(state).args(args).current_dir(dir);
    run(cmd, None)
}

fn passphrase(dir: &TestDir) -> String {
    let path = dir.write("pass", "etcd sesame\n");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    format!("--ca-passphrase-file={}", path.display())
}

#[test]
fn the_state_in_etcd_serves_two_hosts_and_keeps_the_key_encrypted() {
    let etcd = EtcdCluster::start();
    let (host_a, host_b) = (TestDir::new(), TestDir::new());
    let state = etcd.state(None, "rctl/prod");
    let pass_a = passphrase(&host_a);
    let pass_b = passphrase(&host_b);

    // On etcd a CA key is never in clear: init without a passphrase is refused.
    rctl(
        host_a.path(),
        &state,
        &["auth", "init", "--cluster-name=prod"],
    )
    .refused("no passphrase was given");
    assert!(
        !etcd.dump("rctl/prod").contains("host_ca"),
        "nothing written"
    );
    rctl(
        host_a.path(),
        &state,
        &["auth", "init", "--cluster-name=prod", &pass_a],
    )
    .ok();
    rctl(host_a.path(), &state, &["auth", "decrypt", &pass_a])
        .refused("keeps a CA key only encrypted");

    // What does not sign works without the passphrase; signing does not.
    rctl(
        host_b.path(),
        &state,
        &[
            "users",
            "add",
            "alice",
            "--roles=access",
            "--db-users=alice",
        ],
    )
    .ok();
    let listed = rctl(host_a.path(), &state, &["users", "ls"]).ok();
    assert!(listed.contains("alice"), "{listed}");
    rctl(host_b.path(), &state, &["acl", "generate"]).ok();
    rctl(host_b.path(), &state, &["status"]).ok();
    rctl(
        host_b.path(),
        &state,
        &["auth", "sign", "--host=localhost", "--out=server"],
    )
    .refused("no passphrase was given");

    // Two hosts sign under one CA.
    for (host, pass) in [(&host_a, &pass_a), (&host_b, &pass_b)] {
        rctl(
            host.path(),
            &state,
            &["auth", "sign", "--host=localhost", "--out=server", pass],
        )
        .ok();
    }
    for (host, other) in [(&host_a, &host_b), (&host_b, &host_a)] {
        let mut cmd = Command::new("openssl");
        cmd.args(["verify", "-CAfile"])
            .arg(other.join("server.cas"))
            .arg(host.join("server.crt"));
        assert!(
            run(cmd, None).stdout().contains("OK"),
            "one CA for both hosts"
        );
    }

    // A rotation started on one host is seen by the other.
    rctl(
        host_a.path(),
        &state,
        &["auth", "rotate", "--manual", "--phase=init", &pass_a],
    )
    .ok();
    let status = rctl(host_b.path(), &state, &["status", "--format=json"]).ok();
    assert!(status.contains("\"init\""), "{status}");

    // etcd holds the keys encrypted only; openssl decrypts them with the passphrase.
    let dump = etcd.dump("rctl/prod");
    assert!(dump.contains("ENCRYPTED PRIVATE KEY"), "{dump}");
    assert!(
        !dump.contains("BEGIN PRIVATE KEY"),
        "a key in clear in etcd"
    );
    let start = dump.find("-----BEGIN ENCRYPTED PRIVATE KEY-----").unwrap();
    let end = dump[start..]
        .find("-----END ENCRYPTED PRIVATE KEY-----")
        .unwrap()
        + start;
    let pem: String = dump[start..end + 35]
        .lines()
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let key = host_a.write("sealed.pem", &pem);
    let mut cmd = Command::new("openssl");
    cmd.args(["pkey", "-noout", "-in"])
        .arg(&key)
        .arg("-passin")
        .arg(format!("file:{}", host_a.join("pass").display()));
    assert!(
        run(cmd, None).output.status.success(),
        "openssl decrypts it"
    );
}

#[test]
fn concurrent_admins_through_different_members_lose_nothing() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let admins = 4;
    let each = 50;
    let workers: Vec<std::thread::JoinHandle<()>> = (0..admins)
        .map(|a| {
            let state = etcd.state(Some(a % 3), "rctl/team");
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..each {
                    let name = format!("u{a}x{i}");
                    rctl(&path, &state, &["users", "add", &name, "--roles=readonly"]).ok();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let state = etcd.state(None, "rctl/team");
    let users = rctl(dir.path(), &state, &["users", "ls", "--format=json"]).ok();
    let users: serde_json::Value = serde_json::from_str(&users).unwrap();
    assert_eq!(users.as_array().unwrap().len(), admins * each);
    let audit = rctl(dir.path(), &state, &["audit", "ls", "--format=json"]).ok();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let created = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.create")
        .count();
    assert_eq!(created, admins * each, "every audit record present");
}

#[test]
fn a_killed_rctl_holds_the_lock_no_longer_than_its_lease() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "rctl/kill");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "first", "--roles=readonly"],
    )
    .ok();
    let ttl = Duration::from_secs(rctl::etcd::LOCK_TTL_SECS as u64);
    // Killed at moments from 2 to 31 ms into its work, until three of the kills landed while
    // it held the lock (the next command then waits for the lease to expire).
    let mut held = 0;
    let mut round = 0u64;
    while held < 3 {
        assert!(round < 120, "no kill landed while the lock was held");
        let mut cmd = rctl_command();
        cmd.arg(&state)
            .args(["users", "add", &format!("k{round}"), "--roles=readonly"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(2 + round % 30));
        let _ = child.kill();
        let _ = child.wait();
        let started = Instant::now();
        rctl(
            dir.path(),
            &state,
            &["users", "add", &format!("after{round}"), "--roles=readonly"],
        )
        .ok();
        let waited = started.elapsed();
        assert!(
            waited < ttl + Duration::from_secs(3),
            "round {round}: waited {waited:?}"
        );
        if waited > Duration::from_millis(1500) {
            held += 1;
        }
        round += 1;
    }
    let users = rctl(dir.path(), &state, &["users", "ls"]).ok();
    for r in 0..round {
        assert!(users.contains(&format!("after{r}")), "{users}");
    }
}

#[test]
fn a_lost_quorum_fails_in_one_line_and_changes_nothing() {
    let mut etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(Some(0), "rctl/quorum");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "kept", "--roles=readonly"],
    )
    .ok();
    // Two of three members gone: no quorum.
    for m in &mut etcd.members[1..] {
        let _ = m.kill();
        let _ = m.wait();
    }
    let run = rctl(
        dir.path(),
        &state,
        &["users", "add", "lost", "--roles=readonly"],
    );
    let line = run.refused("etcd://");
    assert!(!line.contains("lost\""), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn a_large_state_migrates_into_etcd_and_back() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let users = 100_000;
    {
        let mut state = rctl::StateDir::open(dir.state()).unwrap();
        state.host_ca().unwrap();
        let new = (0..users)
            .map(|i| {
                rctl::NewUser::new(format!("seed{i:07}").parse().unwrap(), vec!["access".to_string()])
            })
            .collect();
        state.add_users(new).unwrap();
    }
    let target = etcd.state(None, "rctl/big");
    let to = format!("--to={}", target.trim_start_matches("--state="));
    // A key in clear never goes to etcd.
    let before = etcd.dump("rctl/big");
    dir.rctl(&["state", "migrate", &to])
        .refused("keeps a CA key only encrypted; encrypt it first");
    assert_eq!(etcd.dump("rctl/big"), before);
    let pass = passphrase(&dir);
    dir.rctl(&["auth", "encrypt", &pass]).ok();
    let local_acl = dir.rctl(&["acl", "generate"]).ok();
    let out = dir.rctl(&["state", "migrate", &to]).ok();
    assert!(out.starts_with("Copied "), "{out}");
    // Into a prefix that holds a state: refused.
    dir.rctl(&["state", "migrate", &to]).refused("already holds a state");

    // On etcd, the same users, the same users.acl, and more users.
    let listed = rctl(dir.path(), &target, &["users", "ls", "--format=json"]).ok();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), users);
    assert_eq!(rctl(dir.path(), &target, &["acl", "generate"]).ok(), local_acl);
    rctl(dir.path(), &target, &["users", "add", "newcomer", "--roles=readonly"]).ok();
    rctl(dir.path(), &target, &["users", "rm", "seed0000007"]).ok();
    rctl(dir.path(), &target, &["auth", "sign", "--host=localhost", "--out=server", &pass]).ok();

    // And back into a directory: a backup that works as a state.
    let backup = dir.join("backup");
    let mut cmd = rctl_command();
    cmd.arg(&target)
        .args(["state", "migrate"])
        .arg(format!("--to={}", backup.display()))
        .current_dir(dir.path());
    run(cmd, None).ok();
    let again = dir.rctl_in(&backup, &["users", "ls", "--format=json"], None).ok();
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again.as_array().unwrap().len(), users);
    let acl = dir.rctl_in(&backup, &["acl", "generate"], None).ok();
    assert!(acl.contains("user newcomer ") && !acl.contains("user seed0000007 "));
}

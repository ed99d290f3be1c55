//! The state in a real etcd: Debian's etcd-server, three members on loopback ports, each in its
//! own temp data dir, stopped on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{TestDir, free_port, openssl_decrypts, passphrase_file, rctl_command, run};

/// A three-member etcd cluster on loopback.
pub struct EtcdCluster {
    members: Vec<Child>,
    pub clients: Vec<String>,
    /// Each member's command line, to start it again after a kill.
    commands: Vec<Vec<String>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl EtcdCluster {
    /// Starts a cluster, again on fresh ports when a member exits or the cluster is not healthy
    /// in time: another test may take a port between `free_port` and etcd's bind.
    pub fn start() -> EtcdCluster {
        for _ in 0..3 {
            if let Some(cluster) = EtcdCluster::try_start() {
                return cluster;
            }
        }
        panic!("etcd did not become healthy in three attempts");
    }

    fn try_start() -> Option<EtcdCluster> {
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
        let mut commands = Vec::new();
        for i in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let args: Vec<String> = [
                "--name",
                &format!("m{i}"),
                "--data-dir",
                &dir.path().join("data").display().to_string(),
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
            ]
            .iter()
            .map(ToString::to_string)
            .collect();
            members.push(spawn_member(&args));
            commands.push(args);
            dirs.push(dir);
        }
        let mut cluster = EtcdCluster {
            members,
            clients: clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            commands,
            _dirs: dirs,
        };
        let deadline = Instant::now() + Duration::from_secs(40);
        while !cluster.healthy() {
            let exited = cluster
                .members
                .iter_mut()
                .any(|m| matches!(m.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(cluster)
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        let _ = self.members[i].kill();
        let _ = self.members[i].wait();
    }

    /// Starts member `i` again on its data (after a kill), and waits until it serves.
    pub fn restart(&mut self, i: usize) {
        self.members[i] = spawn_member(&self.commands[i]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.member_healthy(i) {
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy again"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the member that leads now.
    pub fn leader(&self) -> usize {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(["endpoint", "status", "--write-out=json"]);
        let out: serde_json::Value = serde_json::from_str(&run(cmd, None).stdout()).unwrap();
        let statuses = out.as_array().unwrap();
        statuses
            .iter()
            .position(|s| s["Status"]["leader"] == s["Status"]["header"]["member_id"])
            .expect("a leader")
    }

    fn healthy(&self) -> bool {
        (0..self.clients.len()).all(|i| self.member_healthy(i))
    }

    fn member_healthy(&self, i: usize) -> bool {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients[i]))
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

    /// The cluster's revision: one more for each transaction that changed something.
    pub fn revision(&self) -> i64 {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(["get", "/", "--write-out=json"]);
        let out: serde_json::Value = serde_json::from_str(&run(cmd, None).ok()).unwrap();
        out["header"]["revision"].as_i64().unwrap()
    }

    /// How many keys start with `/PREFIX`.
    pub fn count(&self, prefix: &str) -> usize {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            // The answer's count is of the whole range, whatever the limit.
            .args(["get", "--prefix", "--limit=1", "--write-out=json"])
            .arg(format!("/{prefix}"));
        let out: serde_json::Value = serde_json::from_str(&run(cmd, None).ok()).unwrap();
        out["count"].as_u64().unwrap_or(0) as usize
    }

    /// The size of the largest value under `/PREFIX/`.
    pub fn largest_value(&self, prefix: &str) -> usize {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(["get", "--prefix", "--write-out=json"])
            .arg(format!("/{prefix}/"));
        let out: serde_json::Value = serde_json::from_str(&run(cmd, None).ok()).unwrap();
        // Values are base64: three bytes in four characters.
        out["kvs"]
            .as_array()
            .unwrap_or_else(|| panic!("no keys under /{prefix}/"))
            .iter()
            .map(|kv| kv["value"].as_str().map_or(0, |v| v.len() / 4 * 3))
            .max()
            .unwrap_or(0)
    }

    /// Member `i`'s counters of what its clients asked: range reads (one per `get`, and one per
    /// read in a transaction), transactions, and bytes sent to clients, from its `/metrics`.
    pub fn served(&self, i: usize) -> Served {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(&self.clients[i]).unwrap();
        write!(
            conn,
            "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.clients[i]
        )
        .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        let sum = |starts: &str, has: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(starts) && l.contains(has))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Served {
            ranges: sum("etcd_debugging_mvcc_range_total", "") as u64,
            txns: sum("grpc_server_handled_total", "grpc_method=\"Txn\"") as u64,
            sent: sum("etcd_network_client_grpc_sent_bytes_total", "") as u64,
        }
    }

    /// `etcdctl ARGS` against every member; its output.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.clients.join(",")))
            .args(args);
        run(cmd, None).ok()
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

fn spawn_member(args: &[String]) -> Child {
    Command::new("etcd")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd must be installed (apt-get install etcd-server etcd-client); .ci/run does it")
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

/// What a member served its clients (see [`EtcdCluster::served`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub ranges: u64,
    pub txns: u64,
    pub sent: u64,
}

impl std::ops::Sub for Served {
    type Output = Served;
    fn sub(self, before: Served) -> Served {
        Served {
            ranges: self.ranges - before.ranges,
            txns: self.txns - before.txns,
            sent: self.sent - before.sent,
        }
    }
}

/// `rctl --state=… ARGS` in `dir` (no --state-dir).
pub fn rctl(dir: &Path, state: &str, args: &[&str]) -> crate::util::Run {
    let mut cmd = rctl_command();
    cmd.arg(state).args(args).current_dir(dir);
    run(cmd, None)
}

pub fn passphrase(dir: &TestDir) -> String {
    passphrase_file(dir, "pass", "etcd sesame\n")
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
    assert!(
        openssl_decrypts(&key, &host_a.join("pass")),
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

/// Runs the commands at once, each its own rctl process, and returns their outcomes.
fn all_at_once(dir: &Path, runs: Vec<(String, Vec<String>)>) -> Vec<crate::util::Run> {
    let workers: Vec<_> = runs
        .into_iter()
        .map(|(state, args)| {
            let path = dir.to_path_buf();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                rctl(&path, &state, &args)
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).collect()
}

#[test]
fn racing_admins_are_serialized_by_what_they_read() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = |m: usize| etcd.state(Some(m % 3), "rctl/race");
    rctl(dir.path(), &state(0), &["users", "ls"]).ok();
    let mut removals = 0;
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    for round in 0..12 {
        // Three admins add the same user through three members: exactly one does.
        let name = format!("same{round}");
        let runs = (0..3)
            .map(|m| {
                (
                    state(m),
                    strings(&["users", "add", &name, "--roles=readonly"]),
                )
            })
            .collect();
        let done = all_at_once(dir.path(), runs);
        let created = done.iter().filter(|r| r.output.status.success()).count();
        assert_eq!(created, 1, "round {round}: {created} admins created {name}");
        for refused in done.iter().filter(|r| !r.output.status.success()) {
            assert!(
                refused.stderr().contains("already exists"),
                "{}",
                refused.stderr()
            );
        }
        // A role removed while a user is given it: never a user whose role is gone.
        let role = format!("r{round}");
        let file = dir.join(&format!("{role}.yaml"));
        std::fs::write(
            &file,
            format!("kind: role\nversion: v7\nmetadata: {{name: {role}}}\nspec: {{allow: {{db_users: ['*'], redis_acl: ['+get', '~k:*']}}}}\n"),
        )
        .unwrap();
        rctl(
            dir.path(),
            &state(round),
            &["create", "-f", file.to_str().unwrap()],
        )
        .ok();
        let holder = format!("holder{round}");
        let done = all_at_once(
            dir.path(),
            vec![
                (state(round), strings(&["rm", &format!("roles/{role}")])),
                (
                    state(round + 1),
                    strings(&["users", "add", &holder, &format!("--roles={role}")]),
                ),
            ],
        );
        let removed = done[0].output.status.success();
        let added = done[1].output.status.success();
        removals += usize::from(removed);
        assert!(
            removed != added,
            "round {round}: removed {removed}, added {added}"
        );
        let roles = rctl(dir.path(), &state(round + 2), &["get", "roles"]).ok();
        let users = rctl(dir.path(), &state(round + 2), &["users", "ls"]).ok();
        assert_eq!(roles.contains(&format!("name: {role}\n")), added, "{roles}");
        assert_eq!(users.contains(&format!("{holder} ")), added, "{users}");
    }
    // Each change left its one audit record.
    let audit = rctl(dir.path(), &state(0), &["audit", "ls", "--format=json"]).ok();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let count = |action: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    let users = rctl(dir.path(), &state(0), &["users", "ls", "--format=json"]).ok();
    let users: serde_json::Value = serde_json::from_str(&users).unwrap();
    assert_eq!(count("user.create"), users.as_array().unwrap().len());
    assert_eq!(count("role.delete"), removals);
}

#[test]
fn a_killed_rctl_leaves_no_lock_and_no_half_change() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "rctl/kill");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "first", "--roles=readonly"],
    )
    .ok();
    // Killed 50 times at moments from 2 to 26 ms into its work (connecting, reading, in the
    // middle of its commit): the next command never waits, and each killed one's user is
    // there with its audit record or not at all.
    let rounds = 50u64;
    for round in 0..rounds {
        let mut cmd = rctl_command();
        cmd.arg(&state)
            .args(["users", "add", &format!("k{round}"), "--roles=readonly"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(2 + round % 25));
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
            waited < Duration::from_secs(2),
            "round {round}: waited {waited:?}"
        );
    }
    let users = rctl(dir.path(), &state, &["users", "ls", "--format=json"]).ok();
    let users: Vec<String> = serde_json::from_str::<serde_json::Value>(&users)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    let audit = rctl(dir.path(), &state, &["audit", "ls", "--format=json"]).ok();
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let created: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.create")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    let mut killed_done = 0;
    for r in 0..rounds {
        assert!(users.contains(&format!("after{r}")), "{users:?}");
        let k = format!("k{r}");
        assert_eq!(
            users.contains(&k),
            created.contains(&k.as_str()),
            "{k}: the user and its audit record are saved together"
        );
        killed_done += usize::from(users.contains(&k));
    }
    assert_eq!(created.len(), users.len(), "one record per user");
    // The kills landed at different points: some before the commit, some after.
    assert!(
        killed_done < rounds as usize,
        "every killed rctl finished first"
    );
}

#[test]
fn members_killed_mid_run_lose_nothing_reported_done() {
    let mut etcd = EtcdCluster::start();
    let dir = TestDir::new();
    // Admins through each member; one member is killed in the middle of their run.
    let workers: Vec<std::thread::JoinHandle<Vec<(String, bool, String)>>> = (0..3)
        .map(|a| {
            let state = etcd.state(Some(a), "rctl/ha");
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                (0..30)
                    .map(|i| {
                        let name = format!("h{a}x{i}");
                        let run = rctl(&path, &state, &["users", "add", &name, "--roles=readonly"]);
                        (name, run.output.status.success(), run.stderr())
                    })
                    .collect()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let first = (etcd.leader() + 1) % 3;
    etcd.kill(first);
    let results: Vec<(String, bool, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let survivor = (first + 1) % 3;
    let states: Vec<String> = (0..3).map(|i| etcd.state(Some(i), "rctl/ha")).collect();
    let through = |i: usize| states[i].clone();
    let listed = rctl(dir.path(), &through(survivor), &["users", "ls"]).ok();
    for (name, done, stderr) in &results {
        if *done {
            assert!(
                listed.contains(&format!("{name} ")),
                "{name} was reported done and is lost"
            );
        } else {
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("etcd://"), "{stderr}");
        }
    }
    assert!(results.iter().any(|r| r.1), "some commands went through");

    // Then the leader too: no quorum. A command fails in one line and changes nothing.
    let leader = etcd.leader();
    etcd.kill(leader);
    let alive = (0..3).find(|i| *i != first && *i != leader).unwrap();
    rctl(
        dir.path(),
        &through(alive),
        &["users", "add", "nope", "--roles=readonly"],
    )
    .refused("etcd://");
    etcd.restart(first);
    etcd.restart(leader);
    // After the restarts every member agrees, and holds what was done.
    let lists: Vec<String> = (0..3)
        .map(|i| rctl(dir.path(), &through(i), &["users", "ls"]).ok())
        .collect();
    assert!(lists.iter().all(|l| *l == lists[0]), "members disagree");
    assert!(
        !lists[0].contains("nope "),
        "a refused command changed something"
    );
    for (name, done, _) in &results {
        if *done {
            assert!(
                lists[0].contains(&format!("{name} ")),
                "{name} lost after restart"
            );
        }
    }
}

/// A local state with a CA and `users` users `seed0000000…` holding `access`.
fn seed_local_state(dir: &TestDir, users: usize) {
    let mut state = rctl::StateDir::open(dir.state()).unwrap();
    state.ca().get().unwrap();
    let new = (0..users)
        .map(|i| {
            rctl::NewUser::new(
                format!("seed{i:07}").parse().unwrap(),
                vec!["access".into()],
            )
        })
        .collect();
    state.users().add_many(new).unwrap();
}

#[test]
fn a_large_state_migrates_into_etcd_and_back() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let users = 100_000;
    seed_local_state(&dir, users);
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
    // Shaped for etcd: one key per user, none near its value limit.
    assert_eq!(etcd.count("rctl/big/u/"), users);
    let largest = etcd.largest_value("rctl/big/k");
    assert!(largest < 64 * 1024, "a value of {largest} bytes");
    // Into a prefix that holds a state: refused.
    dir.rctl(&["state", "migrate", &to])
        .refused("already holds a state");

    // On etcd, the same users, the same users.acl, and more users.
    let listed = rctl(dir.path(), &target, &["users", "ls", "--format=json"]).ok();
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), users);
    assert_eq!(
        rctl(dir.path(), &target, &["acl", "generate"]).ok(),
        local_acl
    );
    // Each change among 100,000 users is one transaction of its own keys (one revision).
    let before = etcd.revision();
    rctl(
        dir.path(),
        &target,
        &["users", "add", "newcomer", "--roles=readonly"],
    )
    .ok();
    rctl(dir.path(), &target, &["users", "rm", "seed0000007"]).ok();
    assert_eq!(etcd.revision(), before + 2);
    assert_eq!(etcd.count("rctl/big/u/"), users);
    rctl(
        dir.path(),
        &target,
        &["auth", "sign", "--host=localhost", "--out=server", &pass],
    )
    .ok();

    // And back into a directory: a backup that works as a state.
    let backup = dir.join("backup");
    let mut cmd = rctl_command();
    cmd.arg(&target)
        .args(["state", "migrate"])
        .arg(format!("--to={}", backup.display()))
        .current_dir(dir.path());
    run(cmd, None).ok();
    let again = dir
        .rctl_in(&backup, &["users", "ls", "--format=json"], None)
        .ok();
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again.as_array().unwrap().len(), users);
    let acl = dir.rctl_in(&backup, &["acl", "generate"], None).ok();
    assert!(acl.contains("user newcomer ") && !acl.contains("user seed0000007 "));
}

#[test]
fn a_prefix_in_the_earlier_layout_is_refused_not_taken_for_empty() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    // The first etcd store kept a pointer per blob under m/ (and its bytes under b/).
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", etcd.clients.join(",")))
        .args(["put", "/rctl/old/m/host_ca.yaml", "00000000000000aa"]);
    run(cmd, None).ok();
    let before = etcd.dump("rctl/old");
    let state = etcd.state(None, "rctl/old");
    let pass = passphrase(&dir);
    for args in [
        vec!["auth", "init", pass.as_str()],
        vec!["users", "add", "alice", "--roles=readonly"],
        vec!["users", "ls"],
    ] {
        let line = rctl(dir.path(), &state, &args).refused("earlier etcd layout");
        assert_eq!(line.trim().lines().count(), 1, "{line}");
    }
    assert_eq!(etcd.dump("rctl/old"), before, "refused means unchanged");
}

#[test]
fn bad_state_locations_are_refused_in_one_line() {
    let dir = TestDir::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--state=/var/lib/rctl", "users", "ls"],
            "--state takes etcd://",
        ),
        (
            &["--state=etcd://127.0.0.1:2379", "users", "ls"],
            "no /PREFIX",
        ),
        (
            &["--state=etcd://127.0.0.1/p", "users", "ls"],
            "each member is HOST:PORT",
        ),
        (
            &["--state=etcd://h:1/a b", "users", "ls"],
            "the prefix is letters",
        ),
        (
            &[
                "--state=etcd://127.0.0.1:2379/p",
                "--state-dir=x",
                "users",
                "ls",
            ],
            "not both",
        ),
        (
            &["state", "migrate", "--to=etcd://h:0/p"],
            "each member is HOST:PORT",
        ),
        // Userinfo was taken for part of the host, and echoed in every error and `status`.
        (
            &["--state=etcd://root:s3cret-pw@127.0.0.1:2379/p", "status"],
            "a user name or password in the URL is refused",
        ),
        // A client certificate without the CA was ignored: plaintext etcd.
        (
            &[
                "--state=etcd://127.0.0.1:2379/p",
                "--etcd-cert=c.pem",
                "--etcd-key=k.pem",
                "users",
                "ls",
            ],
            "need --etcd-cacert",
        ),
        (
            &[
                "--state=etcd://127.0.0.1:2379/p",
                "--etcd-cacert=ca.pem",
                "--etcd-cert=c.pem",
                "users",
                "ls",
            ],
            "go together",
        ),
    ];
    let before = crate::util::snapshot(dir.path());
    for (args, want) in cases {
        // HOME is the test's folder: a default state directory would be made there.
        let mut cmd = rctl_command();
        cmd.args(*args)
            .current_dir(dir.path())
            .env("HOME", dir.path());
        let line = run(cmd, None).refused(want);
        assert!(line.contains("error:"), "{line}");
        assert!(!line.contains("s3cret-pw"), "a password echoed: {line}");
    }
    assert!(
        before == crate::util::snapshot(dir.path()),
        "refused means unchanged"
    );
    // An etcd nobody listens on: one line naming it, after the connect timeout.
    let nobody = format!("--state=etcd://127.0.0.1:{}/p", free_port());
    let mut cmd = rctl_command();
    cmd.args([nobody.as_str(), "users", "ls"])
        .current_dir(dir.path());
    run(cmd, None).refused("etcd://127.0.0.1:");
}

/// A value put by hand under a user's or an audit record's key (`etcdctl put /P/u/cu 'not
/// json'`) was skipped as a torn line: `users ls` left it out, and the next add made every
/// command fail naming neither etcd nor the key. Every corrupt record is now an error naming
/// its key, on every read.
#[test]
fn a_corrupt_record_is_an_error_naming_its_key() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "rctl/bad");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "bob", "--roles=readonly"],
    )
    .ok();
    let put = |key: &str, value: &str| {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", etcd.clients.join(",")))
            .args(["put", key, value]);
        run(cmd, None).ok();
    };
    let user_commands: &[&[&str]] = &[&["users", "ls"], &["acl", "generate"], &["get", "users"]];
    let audit_commands: &[&[&str]] = &[&["audit", "ls"]];
    for (key, value, commands) in [
        ("/rctl/bad/u/cu", "not json", user_commands),
        ("/rctl/bad/u/dd", "{\"name\":\"zed\"}\n", user_commands),
        ("/rctl/bad/a/zz", "{\"event\":\n", audit_commands),
    ] {
        put(key, value);
        for args in commands {
            let run = rctl(dir.path(), &state, args);
            run.failed("is corrupt");
            let line = run.stderr();
            assert!(line.contains(&key["/rctl/bad/".len()..]), "{key}: {line}");
            assert!(line.contains("etcd://"), "{key}: {line}");
        }
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", etcd.clients.join(",")))
            .args(["del", key]);
        run(cmd, None).ok();
    }
    // 200,000 levels of nesting in a registration: refused before it is parsed, named by key.
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", etcd.clients.join(",")))
        .args(["put", "/rctl/bad/k/servers/deep.yaml"]);
    run(cmd, Some(&"[".repeat(200_000))).ok();
    let ls = rctl(dir.path(), &state, &["redis", "ls"]);
    ls.failed("is nested deeper than rctl reads");
    assert!(
        ls.stderr().contains("/servers/deep.yaml"),
        "{}",
        ls.stderr()
    );
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", etcd.clients.join(",")))
        .args(["del", "/rctl/bad/k/servers/deep.yaml"]);
    run(cmd, None).ok();
    // `users add` reads only the key of the user it adds (10 users or 100,000 cost the same):
    // that key, corrupt, is named too, instead of "already exists".
    put("/rctl/bad/u/cu", "not json");
    let add = rctl(
        dir.path(),
        &state,
        &["users", "add", "cu", "--roles=readonly"],
    );
    add.failed("is corrupt");
    assert!(add.stderr().contains("u/cu"), "{}", add.stderr());
    let mut cmd = Command::new("etcdctl");
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", etcd.clients.join(",")))
        .args(["del", "/rctl/bad/u/cu"]);
    run(cmd, None).ok();
    // Gone, the state reads again, with nothing lost.
    let users = rctl(dir.path(), &state, &["users", "ls"]).ok();
    assert!(users.contains("bob") && !users.contains("carol"), "{users}");
}

/// Server locks on etcd: a sync of a server waits while its lock key exists (a sync on another
/// host), with the state free meanwhile, then applies the state as it is once it has the lock.
#[test]
fn a_sync_waits_for_the_server_lock_in_etcd() {
    use std::process::Stdio;
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "rctl/locks");
    let pass = passphrase(&dir);
    let etcdctl = |args: &[&str]| {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", etcd.clients.join(",")))
            .args(args);
        run(cmd, None).ok()
    };
    rctl(dir.path(), &state, &["auth", "init", &pass]).ok();
    rctl(
        dir.path(),
        &state,
        &["users", "add", "victim", "--roles=access"],
    )
    .ok();
    std::fs::create_dir(dir.join("tls")).unwrap();
    let port = free_port();
    let addr = format!("--addr=127.0.0.1:{port}");
    let register = [
        "redis",
        "add",
        "r1",
        &addr,
        "--cert-prefix=tls/r1",
        "--acl-file=tls/r1.acl",
    ];
    rctl(dir.path(), &state, &register).ok();
    rctl(
        dir.path(),
        &state,
        &["redis", "sync", "r1", "--no-reload", &pass],
    )
    .ok();
    let creds = crate::util::Creds::new(dir.join("tls/r1"));
    let acl = dir.join("tls/r1.acl");
    let server = crate::util::RedisServer::try_start_on(
        || port,
        |port| {
            format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients yes\naclfile {}\n",
                creds.file(".crt").display(),
                creds.file(".key").display(),
                creds.file(".cas").display(),
                acl.display()
            )
        },
    )
    .unwrap_or_else(|log| panic!("{log}"));
    // Another host's sync of r1 holds its lock.
    etcdctl(&["put", "/rctl/locks/l/r1", "another host"]);
    let mut sync = rctl_command()
        .arg(&state)
        .args(["redis", "sync", "r1", &pass])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rctl(dir.path(), &state, &["users", "rm", "victim"]).ok();
    std::thread::sleep(Duration::from_millis(800));
    assert!(sync.try_wait().unwrap().is_none(), "the sync did not wait");
    etcdctl(&["del", "/rctl/locks/l/r1"]);
    let out = sync.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delete account(s) victim"), "{stdout}");
    // Its own lock went with it: the lease was revoked.
    assert_eq!(
        etcd.count("rctl/locks/l/"),
        0,
        "{}",
        etcd.dump("rctl/locks/l/")
    );
    drop(server);
}

/// `state migrate` killed after 0.05 to 0.3 s of a 20,000-user copy left a partial state that
/// looked whole (and `sync --all` would then have deleted the missing users on every server).
/// The target is now marked unfinished first and unmarked last: killed, it is refused by every
/// command but the migrate run again, which starts it over.
#[test]
fn a_killed_migration_is_never_taken_for_a_state() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let users = 20_000;
    seed_local_state(&dir, users);
    // etcd keeps a CA key only encrypted.
    let pass = passphrase(&dir);
    dir.rctl(&["auth", "encrypt", &pass]).ok();
    let mut mid_copy = 0;
    for (round, after_ms) in [50u64, 150, 300].into_iter().enumerate() {
        let prefix = format!("rctl/killed{round}");
        let target = etcd.state(None, &prefix);
        let to = target.replace("--state=", "--to=");
        let mut migrate = rctl_command()
            .arg("--state-dir")
            .arg(dir.state())
            .args(["state", "migrate", &to])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(after_ms));
        let _ = migrate.kill();
        let killed = migrate.wait().unwrap();
        let ls = rctl(dir.path(), &target, &["users", "ls", "--format=json"]);
        let complete = if ls.output.status.success() {
            // Killed before it marked anything, or after it finished: nothing, or everything.
            let listed: serde_json::Value = serde_json::from_str(&ls.stdout()).unwrap();
            let n = listed.as_array().unwrap().len();
            assert!(
                n == 0 || n == users,
                "round {round} ({killed}): {n} users look whole"
            );
            n == users
        } else {
            ls.failed("holds an unfinished state migrate");
            rctl(dir.path(), &target, &["acl", "generate"]).failed("unfinished state migrate");
            mid_copy += 1;
            false
        };
        // Run again, it starts over and finishes.
        if !complete {
            let mut again = rctl_command();
            again
                .arg("--state-dir")
                .arg(dir.state())
                .args(["state", "migrate", &to]);
            run(again, None).ok();
        }
        let listed = rctl(dir.path(), &target, &["users", "ls", "--format=json"]).ok();
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), users, "round {round}");
    }
    assert!(
        mid_copy > 0,
        "no kill landed mid-copy: the test saw nothing"
    );
}

/// The leader SIGKILLed between two reads and between two writes: the second of each succeeds
/// against the two members left, riding out the election (it used to fail at once with
/// `etcdserver: leader changed`).
#[test]
fn a_read_and_a_write_right_after_the_leader_dies_both_succeed() {
    let mut etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "rctl/election");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "alice", "--roles=readonly"],
    )
    .ok();
    // Between two reads.
    let listed = rctl(dir.path(), &state, &["users", "ls"]).ok();
    assert!(listed.contains("alice"), "{listed}");
    // Through one surviving member only, as a host configured with its nearest member is.
    let survivor =
        |etcd: &EtcdCluster, leader: usize| etcd.state(Some((leader + 1) % 3), "rctl/election");
    let leader = etcd.leader();
    let through = survivor(&etcd, leader);
    etcd.kill(leader);
    let listed = rctl(dir.path(), &through, &["users", "ls"]).ok();
    assert!(listed.contains("alice"), "{listed}");
    etcd.restart(leader);
    // Between two writes.
    rctl(
        dir.path(),
        &state,
        &["users", "add", "bob", "--roles=readonly"],
    )
    .ok();
    let leader = etcd.leader();
    let through = survivor(&etcd, leader);
    etcd.kill(leader);
    rctl(
        dir.path(),
        &through,
        &["users", "add", "carol", "--roles=readonly"],
    )
    .ok();
    let listed = rctl(dir.path(), &state, &["users", "ls"]).ok();
    for user in ["alice", "bob", "carol"] {
        assert!(listed.contains(user), "{listed}");
    }
    // carol was added once: one audit record of her creation.
    let audit = rctl(dir.path(), &state, &["audit", "ls"]).ok();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("user.create") && l.contains("carol"))
            .count(),
        1,
        "{audit}"
    );
}

/// The audit log on etcd keeps 90 days: a change that adds records removes older ones (a few
/// at a time), and `audit ls` shows every record kept.
#[test]
fn audit_records_past_their_retention_are_trimmed_by_later_changes() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    let state = etcd.state(None, "kept");
    rctl(
        dir.path(),
        &state,
        &["users", "add", "bob", "--roles=readonly"],
    )
    .ok();
    let day = 86_400_000_000_000i128;
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let record = |days: i128, n: u32| {
        let at = now - days * day;
        let key = format!("/kept/a/{at:020}-0000beef-{n:08}");
        let then = time::OffsetDateTime::from_unix_timestamp_nanos(at)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let value = format!(
            "{{\"time\":\"{then}\",\"os_user\":\"uid:0\",\"command\":\"test\",\"action\":\"old.{days}\",\"target\":\"t\"}}\n"
        );
        etcd.etcdctl(&["put", &key, &value]);
    };
    for n in 0..40 {
        record(400, n);
    }
    record(91, 0);
    record(89, 0);
    let listed = rctl(dir.path(), &state, &["audit", "ls"]).ok();
    assert!(
        listed.contains("old.400") && listed.contains("old.89"),
        "{listed}"
    );
    let count = |action: &str| {
        etcd.dump("kept/a")
            .lines()
            .filter(|l| l.contains(&format!("\"action\":\"{action}\"")))
            .count()
    };
    // Each change removes at most 32 expired records: two changes, all 41 gone.
    rctl(
        dir.path(),
        &state,
        &["users", "add", "carol", "--roles=readonly"],
    )
    .ok();
    assert_eq!(count("old.400"), 8);
    rctl(
        dir.path(),
        &state,
        &["users", "add", "dave", "--roles=readonly"],
    )
    .ok();
    assert_eq!(
        (count("old.400"), count("old.91"), count("old.89")),
        (0, 0, 1)
    );
    let listed = rctl(dir.path(), &state, &["audit", "ls"]).ok();
    assert!(
        listed.contains("old.89") && listed.contains("bob") && listed.contains("dave"),
        "{listed}"
    );
    // A read-only command trims nothing.
    record(400, 99);
    rctl(dir.path(), &state, &["users", "ls"]).ok();
    assert_eq!(count("old.400"), 1);
}

/// With etcd's authentication on: an etcd user and its password (`--etcd-user`,
/// `--etcd-password-file`) whose role may read and write the state's prefix runs rctl; no
/// credentials, a wrong password, or a user whose role covers another prefix is refused by
/// etcd, in one line, and nothing changes.
#[test]
fn etcd_authentication_with_a_user_and_a_password_file() {
    let etcd = EtcdCluster::start();
    let dir = TestDir::new();
    for args in [
        vec!["user", "add", "root:root-secret"],
        vec!["role", "add", "rctl-admin"],
        vec![
            "role",
            "grant-permission",
            "rctl-admin",
            "--prefix=true",
            "readwrite",
            "/authed/",
        ],
        vec!["user", "add", "rctl-admin:admin-secret"],
        vec!["user", "grant-role", "rctl-admin", "rctl-admin"],
        vec!["role", "add", "other"],
        vec![
            "role",
            "grant-permission",
            "other",
            "--prefix=true",
            "readwrite",
            "/other/",
        ],
        vec!["user", "add", "other:other-secret"],
        vec!["user", "grant-role", "other", "other"],
        vec!["auth", "enable"],
    ] {
        etcd.etcdctl(&args);
    }
    let state = etcd.state(None, "authed");
    let secret = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.write(name, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path.display().to_string()
    };
    let (admin, wrong, other) = (
        secret("admin.pw", "admin-secret\n"),
        secret("wrong.pw", "not-it\n"),
        secret("other.pw", "other-secret\n"),
    );
    let with = |user: &str, file: &str, args: &[&str], stdin: Option<&str>| {
        let mut cmd = rctl_command();
        cmd.arg(&state)
            .args(["--etcd-user", user, "--etcd-password-file", file])
            .args(args)
            .current_dir(dir.path());
        run(cmd, stdin)
    };
    let pass = passphrase(&dir);
    with("rctl-admin", &admin, &["auth", "init", &pass], None).ok();
    let add = [
        "users",
        "add",
        "alice",
        "--roles=access",
        "--password-stdin",
    ];
    with("rctl-admin", &admin, &add, Some("alice-password\n")).ok();
    let listed = with("rctl-admin", &admin, &["users", "ls"], None).ok();
    assert!(listed.contains("alice"), "{listed}");
    // Refused by etcd, one line, nothing changed.
    let ls = ["users", "ls", "--format=json"];
    let before = with("rctl-admin", &admin, &ls, None).ok();
    let bob = ["users", "add", "bob", "--roles=access", "--password-stdin"];
    let mut cmd = rctl_command();
    cmd.arg(&state).args(bob).current_dir(dir.path());
    run(cmd, Some("bob-password\n")).failed("user name is empty");
    with("rctl-admin", &wrong, &bob, Some("bob-password\n")).failed("authentication failed");
    with("other", &other, &bob, Some("bob-password\n")).failed("permission denied");
    assert_eq!(with("rctl-admin", &admin, &ls, None).ok(), before);
    // The password never on a command line: the flag takes a file, which must be private.
    std::fs::set_permissions(&admin, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    with("rctl-admin", &admin, &["users", "ls"], None).refused("is accessible by group or others");
    rctl(
        dir.path(),
        &state,
        &["--etcd-user=rctl-admin", "users", "ls"],
    )
    .refused("--etcd-user and --etcd-password-file go together");
}

//! The watching agent (`redis sync --watch`) against a real Redis 7.0 on a directory state,
//! and a node's agent on etcd: changes reach the servers without anyone running a sync.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::live::{add_client, connect, ping, register_and_start};
use crate::util::{TestDir, rctl_command};

/// `rctl ARGS` running until dropped, its output in a file.
pub(crate) struct Agent {
    child: Child,
    log: std::path::PathBuf,
}

impl Agent {
    pub(crate) fn start(dir: &TestDir, args: &[&str]) -> Agent {
        let log = dir.join("agent.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = rctl_command()
            .args(args)
            .current_dir(dir.path())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Agent { child, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 20 s for `done`; how long it took, or `None`.
pub(crate) fn within(mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn an_agent_applies_each_change_as_it_happens_on_a_directory_state() {
    let dir = TestDir::new();
    let alice = add_client(&dir, "alice");
    let bob = add_client(&dir, "bob");
    let r = register_and_start(&dir, "primary", &[], "");
    let port = r.server.port;
    let state = dir.state();
    let state = state.to_str().unwrap();
    let agent = Agent::start(
        &dir,
        &[
            "--state-dir",
            state,
            "redis",
            "sync",
            "--watch",
            "--all",
            "--metrics=sync.prom",
        ],
    );
    assert!(
        within(|| agent.log().contains("primary: ")).is_some(),
        "{}",
        agent.log()
    );
    let mut held = connect(port, &alice).unwrap();
    assert_eq!(ping(&mut held).unwrap(), "PONG");
    // users add does not sync by itself: the agent gives carol her account.
    let carol = add_client(&dir, "carol");
    assert!(
        within(|| connect(port, &carol).is_ok_and(|mut c| ping(&mut c).is_ok())).is_some(),
        "carol has no account; agent:\n{}",
        agent.log()
    );
    // The metrics are kept current: written at each pass.
    let metrics = dir.join("sync.prom");
    let written = || std::fs::metadata(&metrics).and_then(|m| m.modified()).ok();
    let before = written();
    assert!(before.is_some(), "no metrics after the agent's passes");
    assert!(
        dir.read("sync.prom").contains("rctl_"),
        "{}",
        dir.read("sync.prom")
    );
    // A role changed: the agent applies it (readonly may not SET).
    dir.rctl(&["users", "update", "carol", "--set-roles=readonly"])
        .ok();
    let mut conn = connect(port, &carol).unwrap();
    let refused = |conn: &mut redis::Connection| {
        redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query::<()>(conn)
            .is_err_and(|e| e.to_string().to_lowercase().contains("perm"))
    };
    assert!(
        within(|| refused(&mut conn)).is_some(),
        "carol may still write; agent:\n{}",
        agent.log()
    );
    assert!(
        within(|| written() != before).is_some(),
        "the metrics were not written again after a change"
    );
    // users rm applies itself: alice's account goes at once (Redis closes the connections of
    // a deleted user).
    dir.rctl(&["users", "rm", "alice"]).ok();
    assert!(
        ping(&mut held).is_err(),
        "alice's connection outlived her removal"
    );
    assert!(connect(port, &alice).is_err());
    // A lock for 2 s: `lock add` applies it, the agent lifts it at its expiry.
    dir.rctl(&["lock", "add", "--user=bob", "--ttl=2s"]).ok();
    assert!(connect(port, &bob).is_err(), "bob logged in while locked");
    assert!(
        within(|| connect(port, &bob).is_ok_and(|mut c| ping(&mut c).is_ok())).is_some(),
        "bob is still off after his lock expired; agent:\n{}",
        agent.log()
    );
    // The server goes down: the agent's pass fails, and it goes on. Restarted on its files,
    // the server is in line, and the agent applies the next change to it.
    let crate::live::Registered {
        creds, acl, server, ..
    } = r;
    drop(server);
    dir.rctl(&["users", "update", "carol", "--set-roles=access"])
        .ok();
    assert!(
        within(|| agent.log().contains("FAILED")).is_some(),
        "no failed pass while the server was down:\n{}",
        agent.log()
    );
    let server = crate::live::start_on(port, &creds, &acl, "");
    dir.rctl(&["users", "update", "carol", "--set-roles=readonly"])
        .ok();
    let mut conn = connect(server.port, &carol).unwrap();
    assert!(
        within(|| refused(&mut conn)).is_some(),
        "the agent did not apply a change after the server came back:\n{}",
        agent.log()
    );
    let audit = dir.rctl(&["audit", "ls"]).ok();
    assert!(
        audit.contains("lock.expire"),
        "the lock's end is not in the audit log:\n{audit}"
    );
    drop(server);
}

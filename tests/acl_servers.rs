//! Real Redis and Valkey servers of several versions, started without TLS on free loopback
//! ports, for the ACL tests: each one reads a users.acl with `ACL LOAD` and answers
//! `ACL DRYRUN`. The binaries come from `scripts/test-servers.sh` (target/test-servers/).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The line every test file starts with: the harness's own connection keeps every right.
pub const ADMIN_LINE: &str = "user default on nopass ~* +@all";

/// The targets a server binary is installed for, oldest first.
pub const SERVED: [&str; 9] = [
    "redis-6.2",
    "redis-7.0",
    "redis-8.0",
    "redis-8.2",
    "redis-8.6",
    "valkey-8.0",
    "valkey-8.1",
    "valkey-9.0",
    "valkey-9.1",
];

pub fn servers_dir() -> PathBuf {
    std::env::var_os("RCTL_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers"))
}

/// One server process, killed on drop.
pub struct AclServer {
    pub target: &'static str,
    child: Child,
    port: u16,
    aclfile: PathBuf,
    _dir: tempfile::TempDir,
}

impl AclServer {
    pub fn start(target: &'static str) -> AclServer {
        let binary = servers_dir().join(target);
        assert!(
            binary.exists(),
            "no server for {target} at {}: run scripts/test-servers.sh",
            binary.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let aclfile = dir.path().join("users.acl");
        fs::write(&aclfile, format!("{ADMIN_LINE}\n")).unwrap();
        let port = super::util::free_port();
        let child = Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--aclfile")
            .arg(&aclfile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let server = AclServer {
            target,
            child,
            port,
            aclfile,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "{target} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server's port (loopback, no TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// One command through redis-cli; its reply as text.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Many commands through one redis-cli, one per stdin line; one reply line each (CSV, so
    /// arrays stay on one line and errors read `ERROR,"..."`).
    pub fn pipe(&self, commands: &str) -> Vec<String> {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--csv"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli");
        let mut stdin = child.stdin.take().unwrap();
        let input = commands.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Loads `body` (after the admin line) with ACL LOAD. Returns the 1-based lines of `body`
    /// the server refused (empty when it loaded). Panics if the server died.
    pub fn refused_lines(&mut self, body: &str) -> BTreeSet<usize> {
        fs::write(&self.aclfile, format!("{ADMIN_LINE}\n{body}")).unwrap();
        let reply = self.cli(&["ACL", "LOAD"]);
        assert!(
            self.child.try_wait().unwrap().is_none() && self.cli(&["PING"]).trim() == "PONG",
            "{} died loading the file",
            self.target
        );
        if reply.trim() == "OK" {
            return BTreeSet::new();
        }
        let path = format!("{}:", self.aclfile.display());
        let lines: BTreeSet<usize> = reply
            .match_indices(&path)
            .filter_map(|(i, _)| {
                let digits: String = reply[i + path.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<usize>().ok()
            })
            .map(|n| n - 1)
            .collect();
        // 7.0+: "WARNING: Duplicate user 'NAME' found on line N."
        let lines: BTreeSet<usize> = lines
            .into_iter()
            .chain(reply.match_indices("found on line ").filter_map(|(i, m)| {
                let digits: String = reply[i + m.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<usize>().ok().map(|n| n - 1)
            }))
            .collect();
        assert!(
            !lines.is_empty() && !lines.contains(&0),
            "{}: unexpected ACL LOAD reply: {reply}",
            self.target
        );
        lines
    }
}

impl Drop for AclServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (splitmix64), so a failure names a reproducible seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

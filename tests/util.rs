//! Test helpers: a temp folder per test, the `rctl` binary, and a real redis-server.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder with a state directory inside, removed at the end of the test.
pub struct TestDir {
    tmp: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn state(&self) -> PathBuf {
        self.join("state")
    }

    /// `rctl --state-dir <this>/state ARGS` run in this folder.
    pub fn rctl(&self, args: &[&str]) -> Run {
        self.rctl_in(&self.state(), args, None)
    }

    /// `rctl ARGS` with stdin.
    pub fn rctl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.rctl_in(&self.state(), args, Some(stdin))
    }

    pub fn rctl_in(&self, state: &Path, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = rctl_command();
        cmd.arg("--state-dir")
            .arg(state)
            .args(args)
            .current_dir(self.path());
        run(cmd, stdin)
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, content).unwrap();
        path
    }
}

/// The rctl binary with a clean environment (no state or passphrase from the outside).
pub fn rctl_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rctl"));
    cmd.env_remove("RCTL_STATE_DIR")
        .env_remove("XDG_DATA_HOME")
        .env_remove("RCTL_STATE")
        .env_remove("RCTL_CA_PASSPHRASE_FILE");
    cmd
}

/// The outcome of a process, with a description for failure messages.
pub struct Run {
    pub desc: String,
    pub output: Output,
}

pub fn run(mut cmd: Command, stdin: Option<&str>) -> Run {
    use std::io::Write;
    let desc = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    if let Some(input) = stdin {
        // rctl may stop reading early (input over its limit): a broken pipe is its answer.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    let output = child.wait_with_output().unwrap();
    Run { desc, output }
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stdout and stderr together (redis-cli reports AUTH failures on stderr).
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    fn dump(&self) -> String {
        format!(
            "{}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            self.desc,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert!(
            self.output.status.success(),
            "command failed:\n{}",
            self.dump()
        );
        self.stdout()
    }

    /// Asserts a command that did its work but reports a failure: non-zero exit (1), one line
    /// on stderr containing `want`, no panic. Returns stdout (its per-item report).
    #[track_caller]
    pub fn failed(&self, want: &str) -> String {
        assert_eq!(self.output.status.code(), Some(1), "{}", self.dump());
        self.one_error_line(want);
        self.stdout()
    }

    /// No panic, and exactly one line on stderr, containing `want`; returns it.
    #[track_caller]
    fn one_error_line(&self, want: &str) -> String {
        let stderr = self.stderr();
        assert!(!stderr.contains("panicked"), "panic:\n{}", self.dump());
        assert_eq!(
            stderr.lines().count(),
            1,
            "want one line on stderr:\n{}",
            self.dump()
        );
        assert!(
            stderr.contains(want),
            "want {want:?} in stderr:\n{}",
            self.dump()
        );
        stderr
    }

    /// Asserts the refusal contract: non-zero exit, exactly one line on stderr that contains
    /// `want`, nothing on stdout, and no panic. Returns the line.
    #[track_caller]
    pub fn refused(&self, want: &str) -> String {
        assert!(
            !self.output.status.success(),
            "command succeeded:\n{}",
            self.dump()
        );
        assert!(
            self.output.status.code().is_some(),
            "killed by a signal:\n{}",
            self.dump()
        );
        let line = self.one_error_line(want);
        assert!(
            self.output.stdout.is_empty(),
            "stdout on refusal:\n{}",
            self.dump()
        );
        line
    }
}

/// `openssl ARGS` in the test folder; asserts success and returns stdout.
#[track_caller]
pub fn openssl(dir: &TestDir, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir.path());
    run(cmd, None).ok()
}

/// The password line printed once by `users add` / `reset-password`.
pub fn password_from(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Redis password for"))
        .unwrap_or_else(|| panic!("no password in:\n{stdout}"));
    line.rsplit(' ').next().unwrap().to_string()
}

/// Every file under `dir` with its bytes and mode, to prove a refused command changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                out.push((entry.path(), Vec::new(), meta.mode()));
                stack.push(entry.path());
            } else {
                out.push((entry.path(), fs::read(entry.path()).unwrap(), meta.mode()));
            }
        }
    }
    out.sort();
    out
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// TLS files for a server or a client: PREFIX.crt, PREFIX.key, PREFIX.cas.
#[derive(Clone, Debug)]
pub struct Creds {
    pub prefix: PathBuf,
}

impl Creds {
    pub fn new(prefix: PathBuf) -> Creds {
        Creds { prefix }
    }
    pub fn file(&self, ext: &str) -> PathBuf {
        let mut s = self.prefix.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    }
}

/// A redis-server on a free loopback port with TLS only, killed when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server with `port 0`, `tls-port`, the three files, `tls-auth-clients yes`,
    /// and `aclfile` when given, and waits until it accepts connections.
    pub fn start(server: &Creds, aclfile: Option<&Path>) -> RedisServer {
        Self::try_start(server, aclfile)
            .unwrap_or_else(|log| panic!("redis-server did not start; its log:\n{log}"))
    }

    /// As [`start`](Self::start), but a server that refuses to start gives its log.
    pub fn try_start(server: &Creds, aclfile: Option<&Path>) -> Result<RedisServer, String> {
        Self::try_start_with(|port| {
            let mut conf = format!(
                "port 0\ntls-port {port}\ntls-cert-file {crt}\ntls-key-file {key}\n\
                 tls-ca-cert-file {cas}\ntls-auth-clients yes\ntls-protocols \"TLSv1.2 TLSv1.3\"\n",
                crt = server.file(".crt").display(),
                key = server.file(".key").display(),
                cas = server.file(".cas").display(),
            );
            if let Some(acl) = aclfile {
                conf.push_str(&format!("aclfile {}\n", acl.display()));
            }
            conf
        })
    }

    /// Starts redis-server with the TLS configuration `tls_conf(port)` gives for a free port,
    /// plus the lines that keep a test server to itself (loopback, its own folder and log).
    pub fn try_start_with(tls_conf: impl Fn(u16) -> String) -> Result<RedisServer, String> {
        Self::try_start_on(free_port, tls_conf)
    }

    /// As [`try_start_with`](Self::try_start_with), with ports from `port` (a cluster node
    /// needs its port + 10000 free too).
    pub fn try_start_on(
        port: impl Fn() -> u16,
        tls_conf: impl Fn(u16) -> String,
    ) -> Result<RedisServer, String> {
        Self::try_start_program(Path::new("redis-server"), port, tls_conf)
    }

    /// As [`try_start_on`](Self::try_start_on), with another server binary (Valkey's).
    pub fn try_start_program(
        program: &Path,
        port: impl Fn() -> u16,
        tls_conf: impl Fn(u16) -> String,
    ) -> Result<RedisServer, String> {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = port();
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("redis.log");
            let conf = format!(
                "{}bind 127.0.0.1\ndaemonize no\nsave \"\"\nappendonly no\ndir {}\nlogfile {}\n",
                tls_conf(port),
                dir.path().display(),
                log.display(),
            );
            let conf_path = dir.path().join("redis.conf");
            fs::write(&conf_path, conf).unwrap();
            let child = Command::new(program)
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (apt-get install redis-server redis-tools); .ci/run does it");
            let mut server = RedisServer { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                last_log = fs::read_to_string(&log).unwrap_or_default();
                // A sentinel says neither: it is up once it monitors its primary.
                if last_log.contains("Ready to accept connections")
                    || last_log.contains("+monitor master")
                {
                    return Ok(server);
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.child.kill();
            if !last_log.contains("Address already in use") {
                break;
            }
        }
        Err(last_log)
    }

    /// `redis-cli --tls` against this server with the given client files; `extra` goes before
    /// the command (e.g. `--user alice --pass PW`).
    pub fn cli(&self, ca: &Path, client: Option<&Creds>, extra: &[&str], command: &[&str]) -> Run {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--cacert")
            .arg(ca)
            .env_remove("REDISCLI_AUTH");
        if let Some(c) = client {
            cmd.arg("--cert")
                .arg(c.file(".crt"))
                .arg("--key")
                .arg(c.file(".key"));
        }
        cmd.args(extra).arg("--no-auth-warning").args(command);
        run(cmd, None)
    }

    /// True when `redis-cli` with these client files gets PONG.
    pub fn pongs(&self, ca: &Path, client: Option<&Creds>) -> bool {
        self.cli(ca, client, &[], &["PING"]).stdout().trim() == "PONG"
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A passphrase file, mode 0600, and the `--ca-passphrase-file=…` flag naming it.
pub fn passphrase_file(dir: &TestDir, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.write(name, text);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    format!("--ca-passphrase-file={}", path.display())
}

/// True when `openssl pkey` decrypts the encrypted key at `key` with the passphrase in `pass`.
pub fn openssl_decrypts(key: &Path, pass: &Path) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args(["pkey", "-noout", "-in"])
        .arg(key)
        .arg("-passin")
        .arg(format!("file:{}", pass.display()));
    run(cmd, None).output.status.success()
}

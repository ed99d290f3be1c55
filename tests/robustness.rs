//! Regressions for what an attacker or a careless operator broke: links planted beside
//! outputs, a generated password that nobody saw, a full disk, refused commands that changed
//! things, panics on edited state, unbounded reads, sub-second durations, read-only state,
//! outputs inside the state, shadowed built-in roles, certificates rctl should not sign,
//! output that lies, debris after a kill, exit codes, and two writers on one output prefix.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{TestDir, openssl, password_from, rctl_command, run, snapshot};

/// The state without its audit log: a refusal may not change it (and the audit log may not
/// grow either, checked apart where it matters).
fn state_hash(dir: &TestDir) -> Vec<(std::path::PathBuf, Vec<u8>, u32)> {
    snapshot(&dir.state())
}

fn audit_lines(dir: &TestDir) -> usize {
    fs::read_to_string(dir.state().join("audit.jsonl"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// `rctl ARGS` through `sh -c`, for redirections and limits.
fn sh(dir: &TestDir, script: &str) -> crate::util::Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .env("RCTL", env!("CARGO_BIN_EXE_rctl"))
        .env("STATE", dir.state())
        .env_remove("RCTL_STATE_DIR")
        .current_dir(dir.path());
    run(cmd, None)
}

#[test]
fn a_link_at_the_marker_or_an_output_is_never_followed() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    fs::create_dir(dir.join("shared")).unwrap();
    let victim = dir.write("victim", "precious\n");
    symlink(&victim, dir.join("shared/.srv.crt.rctl-incomplete")).unwrap();
    dir.rctl(&["auth", "sign", "--host=a.example.com", "--out=shared/srv"])
        .ok();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!dir.join("shared/.srv.crt.rctl-incomplete").exists());
    // A link where the key would go is refused, and the file it points to is untouched.
    symlink(&victim, dir.join("shared/other.key")).unwrap();
    let before = state_hash(&dir);
    dir.rctl(&[
        "auth",
        "sign",
        "--host=b.example.com",
        "--out=shared/other",
        "--overwrite",
    ])
    .refused("symbolic link");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(state_hash(&dir), before);
}

#[test]
fn a_generated_password_that_cannot_be_shown_is_never_saved() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let out = dir.rctl(&["users", "add", "alice", "--roles=access"]).ok();
    let alice = password_from(&out);
    let before = state_hash(&dir);
    for redirect in [">&-", ">/dev/null", ">/dev/full"] {
        for args in ["users add bob --roles=access", "users reset-password alice"] {
            let run = sh(
                &dir,
                &format!("\"$RCTL\" --state-dir \"$STATE\" {args} {redirect}"),
            );
            assert_ne!(run.output.status.code(), Some(0), "{args} {redirect}");
            assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
        }
    }
    assert_eq!(
        state_hash(&dir),
        before,
        "a user or a password was saved unseen"
    );
    assert!(!dir.rctl(&["users", "ls"]).ok().contains("bob"));
    // alice's password is still the one she was shown.
    assert!(!alice.is_empty());
}

#[test]
fn a_full_disk_changes_nothing_and_a_torn_audit_line_is_skipped() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    for i in 0..5 {
        dir.rctl(&["users", "add", &format!("user{i}"), "--roles=access"])
            .ok();
    }
    let users = dir.state().join("users.jsonl");
    let mut size = fs::metadata(&users).unwrap().len();
    if size.is_multiple_of(512) {
        dir.rctl(&["users", "add", "pad", "--roles=access"]).ok();
        size = fs::metadata(&users).unwrap().len();
    }
    // A file size limit below the end of users.jsonl: the append fails as on a full disk
    // (SIGXFSZ ignored, so the write returns EFBIG).
    let before = snapshot(&dir.state());
    let run = sh(
        &dir,
        &format!(
            "ulimit -f {}; trap '' XFSZ; \"$RCTL\" --state-dir \"$STATE\" users add bob --roles=access",
            size / 512
        ),
    );
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert_eq!(
        snapshot(&dir.state()),
        before,
        "the failed add changed the state"
    );
    // A record cut short at the end of the audit log, then more records: all still readable.
    let audit = dir.state().join("audit.jsonl");
    let mut text = fs::read(&audit).unwrap();
    text.extend_from_slice(b"{\"time\":\"2026-01-01T00:00:00Z\",\"os_user\":\"x");
    fs::write(&audit, &text).unwrap();
    dir.rctl(&["users", "add", "carol", "--roles=access"]).ok();
    let log = dir.rctl(&["audit", "ls"]).ok();
    assert!(
        log.contains("user.create") && log.contains("carol"),
        "{log}"
    );
}

#[test]
fn refused_signing_changes_nothing_and_logs_nothing() {
    // On a fresh state, an output folder that cannot take files: no CA is made.
    let dir = TestDir::new();
    dir.rctl(&["auth", "sign", "--host=a", "--out=/proc/x"])
        .refused("/proc");
    assert!(!dir.state().join("host_ca.yaml").exists());
    dir.rctl(&["auth", "init"]).ok();
    let before = state_hash(&dir);
    let audit = audit_lines(&dir);
    dir.rctl(&["auth", "sign", "--host=a", "--out=q\"uote"])
        .refused("q");
    assert!(!dir.join("q\"uote.key").exists());
    let mut cmd = rctl_command();
    use std::os::unix::ffi::OsStrExt;
    cmd.arg("--state-dir")
        .arg(dir.state())
        .args(["auth", "sign", "--host=a"])
        .arg(std::ffi::OsStr::from_bytes(b"--out=bad\xff"))
        .current_dir(dir.path());
    run(cmd, None).refused("UTF-8");
    assert!(!dir.join("bad\u{fffd}.key").exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "files were written"
    );
    assert_eq!(state_hash(&dir), before);
    assert_eq!(audit_lines(&dir), audit, "a refused signing was logged");
}

#[test]
fn edited_rotation_records_are_corrupt_state_not_panics() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["auth", "rotate", "--type=host", "--grace-period=30h"])
        .ok();
    let ca = dir.state().join("host_ca.yaml");
    let text = fs::read_to_string(&ca).unwrap();
    for (from, to) in [
        (
            "grace_period_secs: 108000",
            "grace_period_secs: 18446744073709551615",
        ),
        ("started: ", "started: 9999-12-31T23:59:59Z\n  was: "),
    ] {
        assert!(text.contains(from), "{text}");
        fs::write(&ca, text.replacen(from, to, 1)).unwrap();
        let run = dir.rctl(&["status"]);
        run.refused("is corrupt");
    }
}

#[test]
fn reads_stop_at_their_limit_whatever_size_is_reported() {
    let dir = TestDir::new();
    let role = format!(
        "kind: role\nversion: v5\nmetadata: {{name: big}}\nspec: {{}}\n#{}\n",
        "x".repeat(5 * 1024 * 1024)
    );
    let run = crate::util::run(
        {
            let mut c = rctl_command();
            c.arg("--state-dir")
                .arg(dir.state())
                .args(["create", "-f", "/dev/stdin"]);
            c
        },
        Some(&role),
    );
    run.refused("larger than");
    let start = std::time::Instant::now();
    // A device that never ends, and a FIFO with no writer (which would block an open): not
    // regular files, refused at once.
    let fifo = dir.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for input in ["/dev/zero", fifo.to_str().unwrap()] {
        for args in [
            vec!["acl", "check", input],
            vec!["certs", "inspect", input],
            vec!["create", "-f", input],
        ] {
            dir.rctl(&args).refused("is not a regular file");
        }
        let csr = format!("--csr={input}");
        dir.rctl(&["auth", "sign", &csr, "--out=z"])
            .refused("is not a regular file");
    }
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn sub_second_durations_are_refused_not_rounded() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = state_hash(&dir);
    for g in ["999ms", "1ns", "0.5s", "1.5s"] {
        let run = dir.rctl(&[
            "auth",
            "rotate",
            "--type=host",
            &format!("--grace-period={g}"),
        ]);
        run.refused("whole seconds");
        assert_eq!(run.output.status.code(), Some(2));
    }
    dir.rctl(&["auth", "sign", "--host=a", "--out=s", "--ttl=1500ms"])
        .refused("whole seconds");
    assert_eq!(state_hash(&dir), before);
    let fresh = TestDir::new();
    fresh
        .rctl(&["auth", "init", "--ca-ttl=1ns"])
        .refused("whole seconds");
    fresh
        .rctl(&["auth", "init", "--ca-ttl=30m"])
        .refused("at least 1h");
}

#[test]
fn read_only_commands_work_on_a_read_only_state() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "alice", "--roles=access"]).ok();
    let ro = dir.join("ro");
    fs::create_dir(&ro).unwrap();
    let mounted = Command::new("mount")
        .args(["--bind"])
        .arg(dir.state())
        .arg(&ro)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&ro)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        // No mount here: a copy of the state without its lock file, which readers must not
        // need (nor create).
        let _ = fs::remove_dir(&ro);
        Command::new("cp")
            .arg("-a")
            .arg(dir.state())
            .arg(&ro)
            .status()
            .unwrap();
        fs::remove_file(ro.join(".lock")).unwrap();
    }
    let before = snapshot(&ro);
    for args in [
        vec!["users", "ls"],
        vec!["status"],
        vec!["auth", "export"],
        vec!["audit", "ls"],
        vec!["get", "roles"],
        vec!["redis", "target"],
        vec!["acl", "generate"],
    ] {
        dir.rctl_in(&ro, &args, None).ok();
    }
    // A change is refused in one line.
    dir.rctl_in(&ro, &["users", "rm", "alice"], None)
        .refused(if mounted { "Read-only" } else { "" });
    assert_eq!(snapshot(&ro), before);
    if mounted {
        Command::new("umount").arg(&ro).status().unwrap();
    }
}

#[test]
fn outputs_inside_the_state_are_refused() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = state_hash(&dir);
    let ca = dir.state().join("host_ca.yaml");
    dir.rctl(&["acl", "generate", &format!("--out={}", ca.display())])
        .refused("inside the state directory");
    dir.rctl(&[
        "auth",
        "sign",
        "--host=a",
        &format!("--out={}", dir.state().join("srv").display()),
    ])
    .refused("inside the state directory");
    assert_eq!(state_hash(&dir), before);
}

#[test]
fn a_role_file_named_after_a_built_in_is_corrupt_state() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    fs::create_dir_all(dir.state().join("roles")).unwrap();
    fs::write(
        dir.state().join("roles/access.yaml"),
        "kind: role\nversion: v5\nmetadata: {name: access}\nspec: {allow: {redis_acl: ['+get']}}\n",
    )
    .unwrap();
    dir.rctl(&["get", "roles"]).refused("built-in role");
    dir.rctl(&["acl", "generate"]).refused("built-in role");
}

#[test]
fn certificates_rctl_should_not_sign_are_refused() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    for host in ["*.com", "*.co.uk", "*.local"] {
        dir.rctl(&["auth", "sign", &format!("--host={host}"), "--out=w"])
            .refused("wildcard");
    }
    // A name over 64 characters goes in the SANs only.
    let long = format!("{}.example.com", "a".repeat(60));
    dir.rctl(&["auth", "sign", &format!("--host={long}"), "--out=long"])
        .ok();
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
            "long.crt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        !text.contains(&format!("CN = {long}")) && !text.contains(&format!("CN={long}")),
        "{text}"
    );
    assert!(text.contains(&format!("DNS:{long}")), "{text}");
    // CSRs with keys rctl does not sign say which key.
    let cases: [(&[&str], &str); 4] = [
        (&["-newkey", "rsa:1024"], "RSA of 1024 bits"),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
            "secp256k1",
        ),
        (&["-newkey", "ed448"], "Ed448"),
        (&["-newkey", "dsa:dsa.pem"], "DSA"),
    ];
    openssl(&dir, &["dsaparam", "-out", "dsa.pem", "2048"]);
    for (i, (key, want)) in cases.iter().enumerate() {
        let csr = format!("k{i}.csr");
        let mut args = vec![
            "req", "-new", "-nodes", "-keyout", "k.key", "-subj", "/CN=r",
        ];
        args.extend_from_slice(key);
        args.extend_from_slice(&["-addext", "subjectAltName=DNS:redis1", "-out", &csr]);
        openssl(&dir, &args);
        dir.rctl(&[
            "auth",
            "sign",
            &format!("--csr={csr}"),
            &format!("--out=c{i}"),
        ])
        .refused(want);
    }
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-keyout",
            "w.key",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/CN=r",
            "-addext",
            "subjectAltName=DNS:*.com",
            "-out",
            "w.csr",
        ],
    );
    dir.rctl(&["auth", "sign", "--csr=w.csr", "--out=wc"])
        .refused("wildcard");
}

#[test]
fn inspect_escapes_control_characters_and_errors_stay_short() {
    let dir = TestDir::new();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-keyout",
            "e.key",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-days",
            "1",
            "-subj",
            "/CN=evil\u{1b}[2J\nStatus: valid",
            "-multivalue-rdn",
            "-out",
            "e.crt",
        ],
    );
    let run = dir.rctl(&["certs", "inspect", "e.crt"]);
    let out = run.stdout();
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(!out.lines().any(|l| l == "Status: valid"), "{out}");
    let huge = "h".repeat(120 * 1024);
    let line = dir
        .rctl(&["auth", "sign", &format!("--host={huge}"), "--out=x"])
        .refused("");
    assert!(line.len() < 1200, "{} bytes", line.len());
}

#[test]
fn debris_of_killed_runs_is_removed_by_the_next_run_in_that_folder() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    fs::create_dir(dir.join("out")).unwrap();
    let old = |f: &std::path::Path| {
        let ok = Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(f)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    // A bundle's writer holds its folder's lock: each file's temp has one name, and the next
    // write of that bundle removes what a killed one left (without listing the folder, so
    // its cost does not grow with the files beside it).
    let bundle = [
        dir.write("out/.srv.key.rctl-tmp-set", "PRIVATE KEY"),
        dir.write("out/.srv.crt.rctl-tmp-set", "CERTIFICATE"),
    ];
    dir.rctl(&["auth", "sign", "--host=a", "--out=out/srv"])
        .ok();
    for f in &bundle {
        assert!(!f.exists(), "{} survived", f.display());
    }
    assert!(dir.join("out/srv.key").exists());
    // A single file's writer (no lock) removes every temp a killed run left in its folder more
    // than a minute ago, whatever output it was for.
    let stale = [
        dir.write("out/.other.key.rctl-tmp-0123456789ab", "PRIVATE KEY"),
        dir.write("out/.users.acl.rctl-tmp-ba9876543210", "user a on #hash"),
    ];
    stale.iter().for_each(|f| old(f));
    dir.rctl(&["acl", "generate", "--out=out/users.acl"]).ok();
    for f in &stale {
        assert!(!f.exists(), "{} survived", f.display());
    }
}

#[test]
fn exit_codes_follow_one_rule() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.write(
        "gone.yaml",
        "kind: role\nversion: v5\nmetadata: {name: gone}\nspec: {allow: {redis_acl: ['+get']}}\n",
    );
    dir.rctl(&["create", "-f", "gone.yaml"]).ok();
    dir.rctl(&["users", "add", "ghost", "--roles=gone"]).ok();
    fs::remove_file(dir.state().join("roles/gone.yaml")).unwrap();
    // The state, not the command line: exit 1.
    let run = dir.rctl(&["acl", "generate"]);
    run.refused("does not exist");
    assert_eq!(run.output.status.code(), Some(1));
    // The same bad output path: exit 2 for both commands.
    for args in [
        vec!["acl", "generate", "--out=/nonexistent/x"],
        vec!["auth", "sign", "--host=a", "--out=/nonexistent/x"],
    ] {
        let run = dir.rctl(&args);
        run.refused("nonexistent");
        assert_eq!(run.output.status.code(), Some(2), "{args:?}");
    }
    // A write to stdout that fails: exit 1.
    let run = sh(&dir, "\"$RCTL\" --state-dir \"$STATE\" users ls >/dev/full");
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    // users add refuses a users.jsonl that the full load refuses (a name twice).
    let users = dir.state().join("users.jsonl");
    let text = fs::read_to_string(&users).unwrap();
    fs::write(&users, format!("{text}{text}")).unwrap();
    dir.rctl(&["users", "add", "zed", "--roles=access"])
        .refused("appears twice");
    dir.rctl(&["users", "ls"]).refused("appears twice");
}

#[test]
fn two_state_directories_overwriting_one_prefix_never_mix_key_and_certificate() {
    let dir = TestDir::new();
    let (a, b) = (dir.join("a"), dir.join("b"));
    dir.rctl_in(&a, &["auth", "init"], None).ok();
    dir.rctl_in(&b, &["auth", "init"], None).ok();
    for round in 0..20 {
        let spawn = |state: &Path| {
            let mut c = rctl_command();
            c.arg("--state-dir")
                .arg(state)
                .args(["auth", "sign", "--host=a", "--out=shared", "--overwrite"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c.spawn().unwrap()
        };
        let (mut x, mut y) = (spawn(&a), spawn(&b));
        assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
        let key_of = |args: &[&str]| {
            Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
                .stdout
        };
        assert_eq!(
            key_of(&["x509", "-noout", "-pubkey", "-in", "shared.crt"]),
            key_of(&["pkey", "-pubout", "-in", "shared.key"]),
            "round {round}: the certificate and the key are from different runs"
        );
    }
}

#[test]
fn yaml_nested_past_what_rctl_reads_is_refused_before_it_is_parsed() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let before = state_hash(&dir);
    for (name, deep) in [
        ("flow.yaml", "[".repeat(200_000)),
        (
            "block.yaml",
            format!("kind: role\nspec:\n{}x\n", "- ".repeat(200_000)),
        ),
    ] {
        dir.write(name, &deep);
        let run = dir.rctl(&["create", "-f", name]);
        run.refused("nested deeper than rctl reads");
        assert_eq!(run.output.status.code(), Some(2));
    }
    assert_eq!(state_hash(&dir), before);
}

/// A user who owns an output folder's parent swaps the folder for a link to another folder
/// (here `victim/`) again and again while rctl, as root, writes into it: every write lands in
/// the folder itself or is refused, never in the victim folder (the writes go through one
/// handle on the folder, opened without following a link in its place).
#[test]
fn a_folder_swapped_for_a_link_mid_write_redirects_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let (parent, victim) = (dir.join("home"), dir.join("victim"));
    fs::create_dir_all(parent.join("out")).unwrap();
    fs::create_dir(&victim).unwrap();
    // The attacker, nobody (65534), owns the folder above the output folder and its links.
    const NOBODY: u32 = 65534;
    std::os::unix::fs::chown(&parent, Some(NOBODY), Some(NOBODY)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (parent, victim, stop) = (parent.clone(), victim.clone(), stop.clone());
        std::thread::spawn(move || {
            let (out, real) = (parent.join("out"), parent.join("real"));
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if fs::rename(&out, &real).is_ok() {
                    let _ = std::os::unix::fs::symlink(&victim, &out);
                    let _ = std::os::unix::fs::lchown(&out, Some(NOBODY), Some(NOBODY));
                    std::thread::yield_now();
                    let _ = fs::remove_file(&out);
                    let _ = fs::rename(&real, &out);
                    swaps += 1;
                    // The real folder most of the time, as an attacker waiting for a write.
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
            }
            swaps
        })
    };
    let out = format!("--out={}", parent.join("out/app").display());
    let (mut written, mut refused) = (0, 0);
    for _ in 0..300 {
        let run = dir.rctl(&["auth", "sign", "--host=app.example", &out, "--overwrite"]);
        if run.output.status.success() {
            written += 1;
        } else {
            refused += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let misplaced: Vec<_> = fs::read_dir(&victim)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    eprintln!(
        "swap race: {written} written, {refused} refused, {swaps} swaps, {} misplaced",
        misplaced.len()
    );
    assert!(
        misplaced.is_empty(),
        "files written through the link: {misplaced:?}"
    );
    assert!(
        swaps > 100 && written > 0,
        "{swaps} swaps, {written} written"
    );
}

/// Every file rctl writes for someone else is refused inside the state directory (directly or
/// through a link to it), before anything is done: `--out=STATE/users` would otherwise replace
/// the state's own files.
#[test]
fn outputs_inside_the_state_directory_are_refused() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    symlink(dir.state(), dir.join("link")).unwrap();
    let before = snapshot(&dir.state());
    for args in [
        vec!["auth", "sign", "--host=a.example", "--out=state/users"],
        vec!["auth", "sign", "--host=a.example", "--out=link/host_ca"],
        vec!["acl", "generate", "--out=state/users.jsonl"],
        vec![
            "clients",
            "add",
            "c1",
            "--user=app",
            "--db-user=app",
            "--out=link/c1",
        ],
        vec![
            "db",
            "login",
            "--user=app",
            "--db-user=app",
            "--profile=state/p",
            "r1",
        ],
    ] {
        dir.rctl(&args).refused("inside the state directory");
    }
    assert_eq!(snapshot(&dir.state()), before);
}

/// A state directory that is a link its own user made (to another disk, say) is written through;
/// the same link owned by another user is refused.
#[test]
fn a_link_of_rctls_own_user_is_followed_and_another_users_refused() {
    let dir = TestDir::new();
    fs::create_dir(dir.join("real")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.join("real"), fs::Permissions::from_mode(0o700)).unwrap();
    symlink(dir.join("real"), dir.join("state")).unwrap();
    dir.rctl(&["users", "add", "alice", "--roles=readonly"])
        .ok();
    assert!(dir.join("real/users.jsonl").exists());
    fs::create_dir(dir.join("out")).unwrap();
    symlink(dir.join("out"), dir.join("theirs")).unwrap();
    std::os::unix::fs::lchown(dir.join("theirs"), Some(65534), Some(65534)).unwrap();
    dir.rctl(&["auth", "sign", "--host=a.example", "--out=theirs/a"])
        .refused("is a symbolic link another user owns");
    assert!(fs::read_dir(dir.join("out")).unwrap().next().is_none());
}

/// `users add` asks an index of names beside users.jsonl instead of reading it; the index is a
/// cache, rebuilt whenever users.jsonl is not what it describes, so no name gets in twice; and
/// `users ls --format=json`, written as it is read, lists by name as the text listing does.
#[test]
fn the_index_of_user_names_never_lets_a_name_in_twice() {
    let dir = TestDir::new();
    for name in ["mia", "bob", "zoe"] {
        dir.rctl_stdin(
            &["users", "add", name, "--roles=access", "--password-stdin"],
            "a-long-password-1\n",
        )
        .ok();
    }
    let index = dir.state().join(".users.jsonl.keys");
    assert!(index.exists());
    dir.rctl(&["users", "add", "bob", "--roles=access"])
        .refused("already exists");
    // A user added by hand (a copy of mia's line, renamed): the index no longer describes the
    // file, is built again, and knows her.
    let users = dir.state().join("users.jsonl");
    let text = fs::read_to_string(&users).unwrap();
    let mia = text.lines().find(|l| l.contains("\"mia\"")).unwrap();
    fs::write(
        &users,
        format!("{text}{}\n", mia.replace("\"mia\"", "\"ann\"")),
    )
    .unwrap();
    dir.rctl(&["users", "add", "ann", "--roles=access"])
        .refused("already exists");
    // An index cut short, or a link in its place, is no index.
    fs::write(&index, b"RCTLKEY1").unwrap();
    dir.rctl(&["users", "add", "zoe", "--roles=access"])
        .refused("already exists");
    fs::remove_file(&index).unwrap();
    std::os::unix::fs::symlink("/dev/null", &index).unwrap();
    dir.rctl(&["users", "add", "mia", "--roles=access"])
        .refused("already exists");
    // A name twice in the file (by hand): no index for it; the full check names the problem.
    fs::remove_file(&index).unwrap();
    let text = fs::read_to_string(&users).unwrap();
    fs::write(&users, format!("{text}{mia}\n")).unwrap();
    dir.rctl(&["users", "add", "kim", "--roles=access"])
        .refused("appears twice");
    fs::write(&users, &text).unwrap();
    let json = dir.rctl(&["users", "ls", "--format=json"]).ok();
    let listed: Vec<String> = serde_json::from_str::<serde_json::Value>(&json)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ["ann", "bob", "mia", "zoe"]);
    let yaml = dir.rctl(&["users", "ls", "--format=yaml"]).ok();
    assert_eq!(yaml.matches("name:").count(), 4, "{yaml}");
    let mut text_order: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("- name: "))
        .collect();
    text_order.dedup();
    assert_eq!(text_order, ["ann", "bob", "mia", "zoe"]);
}

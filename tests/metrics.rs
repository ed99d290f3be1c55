//! `--metrics=FILE` on `redis sync` and `redis check`: the Prometheus text format, read back
//! by the official Python client's parser (`prometheus_client`, from PyPI).

use std::path::Path;

use crate::acl_servers::servers_dir;
use crate::live::register_labelled;
use crate::util::TestDir;

/// Every sample of the file as `(name, labels, value)`, parsed by prometheus_client.
fn parse(path: &Path) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    let script = "import json, sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                  out = []\nfor f in text_string_to_metric_families(open(sys.argv[1]).read()):\n\
                  \x20   for s in f.samples:\n\
                  \x20       out.append([s.name, s.labels, s.value])\nprint(json.dumps(out))\n";
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .env("PYTHONPATH", servers_dir().join("python"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "prometheus_client refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

fn value(
    samples: &[(String, std::collections::BTreeMap<String, String>, f64)],
    name: &str,
    label: (&str, &str),
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
        .map(|(_, _, v)| *v)
}

fn not_after(dir: &TestDir, file: &str) -> f64 {
    let out = dir.rctl(&["certs", "inspect", file, "--format=json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = time::OffsetDateTime::parse(
        v["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    t.unix_timestamp() as f64
}

/// A state with user `app`, a live registered server `r1` and a client output `app1`.
fn with_server_and_client() -> (TestDir, crate::live::Registered) {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    let server = register_labelled(&dir, Path::new("redis-server"), "r1", &[], &[], "");
    dir.rctl(&[
        "clients",
        "add",
        "app1",
        "--user=app",
        "--db-user=app",
        "--out=app1",
    ])
    .ok();
    (dir, server)
}

#[test]
fn sync_and_check_write_prometheus_metrics_that_parse() {
    let (dir, server) = with_server_and_client();
    dir.rctl(&["redis", "sync", "--all", "--metrics=sync.prom"])
        .ok();
    let text = dir.read("sync.prom");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("rctl_"), "{line}");
    }
    assert!(
        text.contains("# HELP rctl_certificate_not_after_seconds")
            && text.contains("# TYPE rctl_sync_ok gauge")
    );
    let samples = parse(&dir.join("sync.prom"));
    let cert = "rctl_certificate_not_after_seconds";
    assert_eq!(
        value(&samples, cert, ("server", "r1")),
        Some(not_after(&dir, "tls/r1.crt"))
    );
    assert_eq!(
        value(&samples, cert, ("client", "app1")),
        Some(not_after(&dir, "app1.crt"))
    );
    assert_eq!(value(&samples, "rctl_sync_ok", ("server", "r1")), Some(1.0));
    assert_eq!(
        value(&samples, "rctl_sync_ok", ("client", "app1")),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "rctl_ca_rotation_phase", ("phase", "standby")),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "rctl_ca_rotation_phase", ("phase", "init")),
        Some(0.0)
    );
    let failed = samples
        .iter()
        .find(|(n, _, _)| n == "rctl_sync_failed")
        .unwrap();
    assert_eq!(failed.2, 0.0);
    let ran = samples
        .iter()
        .find(|(n, _, _)| n == "rctl_sync_last_run_seconds")
        .unwrap()
        .2;
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() as f64 - ran).abs() < 60.0);
    // check: no drift, then an account removed behind rctl's back is drift.
    dir.rctl(&["redis", "check", "--all", "--metrics=check.prom"])
        .ok();
    let samples = parse(&dir.join("check.prom"));
    assert_eq!(
        value(&samples, "rctl_check_drift", ("server", "r1")),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "rctl_check_ok", ("server", "r1")),
        Some(1.0)
    );
    // users.acl changed behind rctl's back: drift.
    std::fs::write(&server.acl, "user default on nopass ~* &* +@all\n").unwrap();
    let run = dir.rctl(&["redis", "check", "--all", "--metrics=check.prom"]);
    assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
    let samples = parse(&dir.join("check.prom"));
    assert!(value(&samples, "rctl_check_drift", ("server", "r1")).unwrap() > 0.0);
    assert_eq!(
        value(&samples, "rctl_check_ok", ("server", "r1")),
        Some(0.0)
    );
}

/// `promtool ARGS` in `dir`, asserted to succeed; its output.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {text}");
    text
}

#[test]
fn the_example_alert_rules_pass_promtool_and_their_tests() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    let checked = promtool(&examples, &["check", "rules", "rctl-alerts.yml"]);
    assert!(checked.contains("SUCCESS: 6 rules found"), "{checked}");
    let tested = promtool(&examples, &["test", "rules", "rctl-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn sync_and_check_metrics_share_a_textfile_folder_and_pass_promtool() {
    let (dir, _server) = with_server_and_client();
    std::fs::create_dir(dir.join("textfile")).unwrap();
    dir.rctl(&["redis", "sync", "--all", "--metrics=textfile/sync.prom"])
        .ok();
    dir.rctl(&["redis", "check", "--all", "--metrics=textfile/check.prom"])
        .ok();
    // node_exporter refuses a series (name and labels) that two files of its folder hold.
    let series = |file: &str| -> std::collections::BTreeSet<String> {
        parse(&dir.join(file))
            .into_iter()
            .map(|(name, labels, _)| format!("{name}{labels:?}"))
            .collect()
    };
    let (sync, check) = (series("textfile/sync.prom"), series("textfile/check.prom"));
    assert!(
        sync.is_disjoint(&check),
        "{:?}",
        sync.intersection(&check).collect::<Vec<_>>()
    );
    // The check's file covers the client output too; the sync's has its renewal point.
    let check_samples = parse(&dir.join("textfile/check.prom"));
    assert_eq!(
        value(&check_samples, "rctl_check_ok", ("client", "app1")),
        Some(1.0)
    );
    let samples = parse(&dir.join("textfile/sync.prom"));
    let renew_at = value(
        &samples,
        "rctl_certificate_renew_at_seconds",
        ("client", "app1"),
    );
    let expires = value(
        &samples,
        "rctl_certificate_not_after_seconds",
        ("client", "app1"),
    );
    let (renew_at, expires) = (renew_at.unwrap(), expires.unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    // A third of its life before its expiry (the default lifetime is far from a minute).
    assert!(renew_at > now && renew_at < expires, "{renew_at} {expires}");
    assert!(((expires - renew_at) - (expires - now) / 3.0).abs() < 120.0);
    for file in ["textfile/sync.prom", "textfile/check.prom"] {
        let mut cmd = std::process::Command::new("promtool");
        cmd.args(["check", "metrics"])
            .stdin(std::fs::File::open(dir.join(file)).unwrap());
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_missing_metrics_folder_is_a_warning_and_a_metrics_file_in_the_state_is_refused() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
        .ok();
    let _server = register_labelled(&dir, Path::new("redis-server"), "r1", &[], &[], "");
    // The folder is not there: the sync still brings the server in line.
    std::fs::remove_file(dir.join("tls/r1.crt")).unwrap();
    let run = dir.rctl(&["redis", "sync", "--all", "--metrics=gone/sync.prom"]);
    let out = run.ok();
    assert!(out.contains("renewed the certificate"), "{out}");
    let stderr = run.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("warning: no metrics written:") && l.contains("gone")),
        "{stderr}"
    );
    assert!(!dir.join("gone").exists());
    // Inside the state (directly, and through a link to it): refused, nothing changed.
    std::os::unix::fs::symlink(dir.state(), dir.join("link")).unwrap();
    let before = crate::util::snapshot(&dir.state());
    for path in ["state/users.jsonl", "link/host_ca.yaml", "state/new.prom"] {
        for command in ["sync", "check"] {
            let metrics = format!("--metrics={path}");
            let run = dir.rctl(&["redis", command, "--all", &metrics]);
            assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
            run.refused("inside the state directory");
        }
    }
    assert_eq!(crate::util::snapshot(&dir.state()), before);
}

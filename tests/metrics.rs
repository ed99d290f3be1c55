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

#[test]
fn sync_and_check_write_prometheus_metrics_that_parse() {
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

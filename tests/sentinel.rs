//! Redis Sentinel over TLS from rctl's output alone: a primary and a replica from `redis
//! config`, three sentinels from `redis config --sentinel` logging in with the built-in
//! `sentinel` role; `SENTINEL FAILOVER` promotes the replica and the old primary rejoins as a
//! replica (it carries its replication login from `--repl-user`); redis-py's `Sentinel` client
//! connects through them with rctl's client certificate.

use std::time::{Duration, Instant};

use crate::acl_servers::servers_dir;
use crate::util::{Creds, RedisServer, TestDir, free_port, password_from};

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sentinels_fail_over_a_tls_primary_and_the_old_one_rejoins() {
    let dir = TestDir::new();
    dir.rctl(&["auth", "init"]).ok();
    let app = password_from(
        &dir.rctl(&["users", "add", "app", "--roles=access", "--db-users=app"])
            .ok(),
    );
    let repl = password_from(
        &dir.rctl(&[
            "users",
            "add",
            "repl",
            "--roles=replication",
            "--db-users=repl",
            "--force",
        ])
        .ok(),
    );
    let sent = password_from(
        &dir.rctl(&[
            "users",
            "add",
            "sent",
            "--roles=sentinel",
            "--db-users=sent",
        ])
        .ok(),
    );
    for name in ["p", "r", "s1", "s2", "s3"] {
        dir.rctl(&["auth", "sign", "--host=127.0.0.1", &format!("--out={name}")])
            .ok();
    }
    dir.rctl(&["auth", "sign", "--user=app", "--db-user=app", "--out=app"])
        .ok();
    dir.rctl(&["acl", "generate", "--out=users.acl"]).ok();
    let config = |args: &[&str], stdin: &str| dir.rctl_stdin(args, stdin).ok();
    // The primary carries the replication login too: after a failover it is a replica.
    let primary = RedisServer::try_start_with(|port| {
        config(
            &[
                "redis",
                "config",
                "--cert-prefix=p",
                "--acl=users.acl",
                &format!("--port={port}"),
                "--repl-user=repl",
            ],
            &repl,
        )
    })
    .unwrap();
    let replica = RedisServer::try_start_with(|port| {
        config(
            &[
                "redis",
                "config",
                "--cert-prefix=r",
                "--acl=users.acl",
                &format!("--port={port}"),
                &format!("--replica-of=127.0.0.1:{}", primary.port),
                "--repl-user=repl",
            ],
            &repl,
        )
    })
    .unwrap();
    let wrapper = dir.write(
        "sentinel.sh",
        "#!/bin/sh\nexec redis-server \"$1\" --sentinel\n",
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sentinels: Vec<RedisServer> = ["s1", "s2", "s3"]
        .iter()
        .map(|name| {
            RedisServer::try_start_program(&wrapper, free_port, |port| {
                let text = config(
                    &[
                        "redis",
                        "config",
                        "--sentinel",
                        &format!("--cert-prefix={name}"),
                        &format!("--port={port}"),
                        "--master-name=cache",
                        &format!("--primary=127.0.0.1:{}", primary.port),
                        "--quorum=2",
                        "--sentinel-user=sent",
                    ],
                    &sent,
                );
                assert!(
                    text.contains("tls-replication yes\n")
                        && text.contains("sentinel auth-user cache sent\n"),
                    "{text}"
                );
                text
            })
            .unwrap_or_else(|log| panic!("the sentinel did not start:\n{log}"))
        })
        .collect();
    let client = Creds::new(dir.join("app"));
    let ask = |port: u16, command: &[&str]| {
        RedisServerRef(port).cli(&dir, &client, Some(app.as_str()), command)
    };
    // Sentinels have their own accounts (default, no password): no AUTH.
    let ask_sentinel =
        |port: u16, command: &[&str]| RedisServerRef(port).cli(&dir, &client, None, command);
    wait_for("the replica links", Duration::from_secs(15), || {
        ask(replica.port, &["INFO", "replication"]).contains("master_link_status:up")
    });
    wait_for(
        "each sentinel knows the other two",
        Duration::from_secs(20),
        || {
            sentinels.iter().all(|s| {
                ask_sentinel(s.port, &["SENTINEL", "MASTER", "cache"])
                    .contains("num-other-sentinels\n2")
            })
        },
    );
    ask(primary.port, &["SET", "k", "before"]);
    // The failover: the replica is promoted, the old primary rejoins as its replica.
    assert_eq!(
        ask_sentinel(sentinels[0].port, &["SENTINEL", "FAILOVER", "cache"]).trim(),
        "OK"
    );
    wait_for(
        "the sentinels name the new primary",
        Duration::from_secs(20),
        || {
            ask(
                sentinels[1].port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cache"],
            )
            .contains(&replica.port.to_string())
        },
    );
    wait_for(
        "the old primary rejoins as a replica",
        Duration::from_secs(40),
        || {
            let info = ask(primary.port, &["INFO", "replication"]);
            info.contains("role:slave") && info.contains("master_link_status:up")
        },
    );
    assert!(ask(replica.port, &["INFO", "replication"]).contains("role:master"));
    // redis-py's Sentinel client through the three sentinels, with rctl's client certificate.
    let script = format!(
        "import sys\nfrom redis.sentinel import Sentinel\n\
         tls = dict(ssl=True, ssl_certfile='app.crt', ssl_keyfile='app.key', ssl_ca_certs='p.cas')\n\
         s = Sentinel([{}], sentinel_kwargs=tls, socket_timeout=5, username='app', password=sys.argv[1], **tls)\n\
         print(s.discover_master('cache')[1])\n\
         m = s.master_for('cache'); m.set('k', 'after'); print(m.execute_command('ACL', 'WHOAMI').decode())\n",
        sentinels
            .iter()
            .map(|s| format!("('127.0.0.1', {})", s.port))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&app)
        .current_dir(dir.path())
        .env("PYTHONPATH", servers_dir().join("python"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [replica.port.to_string().as_str(), "app"]
    );
    wait_for(
        "the write reaches the old primary",
        Duration::from_secs(10),
        || ask(primary.port, &["GET", "k"]).trim() == "after",
    );

    // A registered sentinel: sync renews its bundle and says to restart it (Sentinel has no
    // CONFIG SET and SENTINEL CONFIG SET takes no tls-* setting: tried on 7.0.15 and 8.0.6).
    let addr = format!("--addr=127.0.0.1:{}", sentinels[0].port);
    dir.rctl(&[
        "redis",
        "add",
        "s1",
        &addr,
        "--cert-prefix=s1",
        "--sentinel",
    ])
    .ok();
    let synced = dir
        .rctl(&["redis", "sync", "s1", "--renew-within=8760h"])
        .ok();
    assert!(
        synced.contains("renewed the certificate")
            && synced.contains("restart it to load the new files"),
        "{synced}"
    );
    assert_eq!(dir.rctl(&["redis", "check", "s1"]).ok(), "s1: ok\n");
    let refused = ask_sentinel(sentinels[0].port, &["CONFIG", "SET", "tls-cert-file", "x"]);
    assert!(refused.contains("unknown command"), "{refused}");
}

/// redis-cli against a port with a client certificate, as app (its password in
/// REDISCLI_AUTH) or, without a password, as the default user.
struct RedisServerRef(u16);

impl RedisServerRef {
    fn cli(
        &self,
        dir: &TestDir,
        client: &Creds,
        password: Option<&str>,
        command: &[&str],
    ) -> String {
        let mut cmd = std::process::Command::new("redis-cli");
        cmd.args(["--tls", "-h", "127.0.0.1", "-p", &self.0.to_string()])
            .env_remove("REDISCLI_AUTH")
            .arg("--cacert")
            .arg(dir.join("p.cas"))
            .arg("--cert")
            .arg(client.file(".crt"))
            .arg("--key")
            .arg(client.file(".key"));
        if let Some(pw) = password {
            cmd.args(["--user", "app"]).env("REDISCLI_AUTH", pw);
        }
        let out = cmd.args(command).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

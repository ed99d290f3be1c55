//! For `bench/access.sh`: how long a change that takes access away (a lock, `users rm`) takes
//! to reach every server, as a person holding connections sees it.
//!
//! It holds one connection as USER on each server (TLS with the person's client certificate,
//! AUTH with the password), runs `TAKE` with `sh -c` and times, from the moment it starts,
//! until every held connection is closed by its server (a PING every 5 ms on each); then checks
//! that a new login is refused everywhere, runs `GIVE` (with `TAKE`'s stdout as `$1`) and waits
//! until the person can log in everywhere again. RUNS times; prints the median and the p99 in
//! milliseconds, and each run on stderr.
//!
//! ```text
//! cargo run --release --example access_probe -- PORTS CRT KEY CAS USER PASSWORD_FILE RUNS TAKE GIVE
//! ```
//!
//! With `logins` first, it times per-login accounts instead: each run, `LOGIN` (`sh -c`, the
//! server's name as `$1`) for every server, one connection held as each login (its files,
//! account and one-time password from the profile); then either `END` (`db logout`) timed to
//! the last connection closed, or, with `END` empty, each login's expiry (its notAfter, from
//! the profile) to its connection closed.
//!
//! ```text
//! access_probe logins PROFILE_USER_DIR NAME:PORT,... RUNS LOGIN END
//! ```

use std::time::{Duration, Instant};

struct Person {
    crt: Vec<u8>,
    key: Vec<u8>,
    cas: Vec<u8>,
    user: String,
    password: String,
}

fn connect(port: u16, p: &Person) -> redis::RedisResult<redis::Connection> {
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
            .set_username(&p.user)
            .set_password(&p.password)
            .set_skip_set_lib_name(),
    );
    let tls = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: p.crt.clone(),
            client_key: p.key.clone(),
        }),
        root_cert: Some(p.cas.clone()),
    };
    let mut conn = redis::Client::build_with_tls(info, tls)?
        .get_connection_with_timeout(Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    redis::cmd("PING").query::<String>(&mut conn)?;
    Ok(conn)
}

fn alive(conn: &mut redis::Connection) -> bool {
    redis::cmd("PING").query::<String>(conn).is_ok()
}

fn sh(command: &str, arg: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .arg("sh")
        .arg(arg)
        .output()
        .expect("sh runs");
    if !out.status.success() {
        eprintln!(
            "`{command}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits (up to 60 s) until `done`.
fn until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// One login's connection: its files and account from the profile folder of the user.
fn connect_login(
    dir: &std::path::Path,
    server: &str,
    port: u16,
) -> redis::RedisResult<(redis::Connection, time::OffsetDateTime)> {
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{server}.json"))).unwrap())
            .unwrap();
    let not_after = time::OffsetDateTime::parse(
        record["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let read = |ext: &str| std::fs::read(dir.join(format!("{server}.{ext}"))).unwrap();
    let person = Person {
        crt: read("crt"),
        key: read("key"),
        cas: read("cas"),
        user: record["db_user"].as_str().unwrap().to_string(),
        password: std::fs::read_to_string(dir.join(format!("{server}.password")))
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    Ok((connect(port, &person)?, not_after))
}

/// `logins` mode: see the crate doc.
fn logins(args: &[String]) {
    let [dir, servers, runs, login, end] = args else {
        eprintln!("usage: access_probe logins PROFILE_USER_DIR NAME:PORT,... RUNS LOGIN END");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    let servers: Vec<(String, u16)> = servers
        .split(',')
        .map(|p| {
            let (name, port) = p.split_once(':').unwrap();
            (name.to_string(), port.parse().unwrap())
        })
        .collect();
    let mut times = Vec::new();
    for run in 0..runs.parse::<usize>().unwrap() {
        let mut held = Vec::new();
        for (name, port) in &servers {
            sh(login, name);
            let mut conn = None;
            assert!(
                until(|| {
                    conn = connect_login(dir, name, *port).ok();
                    conn.is_some()
                }),
                "run {run}: the login to {name} does not log in"
            );
            held.push(Some(conn.unwrap()));
        }
        let start = Instant::now();
        let started = time::OffsetDateTime::now_utc();
        let ender = (!end.is_empty()).then(|| {
            let end = end.clone();
            std::thread::spawn(move || sh(&end, ""))
        });
        let mut worst = Duration::ZERO;
        while held.iter().any(Option::is_some) {
            for slot in held.iter_mut() {
                if let Some((conn, not_after)) = slot
                    && !alive(conn)
                {
                    // From the command's start, or from the login's own expiry.
                    let took = if ender.is_some() {
                        start.elapsed()
                    } else {
                        let now = started + start.elapsed();
                        Duration::try_from(now - *not_after).unwrap_or_default()
                    };
                    worst = worst.max(took);
                    *slot = None;
                }
            }
            if start.elapsed() > Duration::from_secs(300) {
                panic!("run {run}: connections still open after 300 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(ender) = ender {
            ender.join().unwrap();
        }
        eprintln!("run {run}: {} ms", worst.as_millis());
        times.push(worst);
    }
    report(times);
}

fn report(mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_millis()
    };
    println!("p50 {} ms, p99 {} ms", at(0.5), at(0.99));
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("logins") {
        return logins(&args[1..]);
    }
    let [ports, crt, key, cas, user, password, runs, take, give] = args.as_slice() else {
        eprintln!("usage: access_probe PORTS CRT KEY CAS USER PASSWORD_FILE RUNS TAKE GIVE");
        std::process::exit(2);
    };
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();
    let read = |path: &String| std::fs::read(path).unwrap();
    let person = Person {
        crt: read(crt),
        key: read(key),
        cas: read(cas),
        user: user.clone(),
        password: std::fs::read_to_string(password)
            .unwrap()
            .trim()
            .to_string(),
    };
    let runs: usize = runs.parse().unwrap();
    let mut times = Vec::new();
    for run in 0..runs {
        assert!(
            until(|| ports.iter().all(|p| connect(*p, &person).is_ok())),
            "the person cannot log in everywhere before run {run}"
        );
        let mut held: Vec<Option<redis::Connection>> = ports
            .iter()
            .map(|p| Some(connect(*p, &person).unwrap()))
            .collect();
        let start = Instant::now();
        let taker = {
            let take = take.clone();
            std::thread::spawn(move || sh(&take, ""))
        };
        let mut last = Duration::ZERO;
        while held.iter().any(Option::is_some) {
            for slot in held.iter_mut() {
                if let Some(conn) = slot
                    && !alive(conn)
                {
                    *slot = None;
                    last = start.elapsed();
                }
            }
            if start.elapsed() > Duration::from_secs(120) {
                panic!("run {run}: connections still open after 120 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let taken = taker.join().unwrap();
        let refused = ports
            .iter()
            .filter(|p| connect(**p, &person).is_err())
            .count();
        assert_eq!(refused, ports.len(), "run {run}: a new login was accepted");
        eprintln!("run {run}: {} ms", last.as_millis());
        times.push(last);
        sh(give, &taken);
    }
    report(times);
}

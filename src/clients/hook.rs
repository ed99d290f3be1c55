//! A client output's reload hook: `sh -c COMMAND` once its files are written, with their paths
//! in the environment, within a deadline. A failed hook is reported; the files stay renewed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::clients::output::ClientOutput;
use crate::error::{Error, Result, shorten};
use crate::pki::bundle::RedisBundle;

/// How much of a hook's stderr a failure quotes.
const STDERR_LIMIT: u64 = 4096;

/// Runs `client`'s hook, if it has one: `RCTL_CLIENT` (its name), `RCTL_CERT`, `RCTL_KEY`,
/// `RCTL_CA` (the files) in its environment, stdin closed, stdout discarded. Fails when it
/// exits non-zero (quoting the first line of its stderr) or runs past `deadline` (then it is
/// killed).
pub fn run_hook(client: &ClientOutput, deadline: Duration) -> Result<()> {
    let Some(command) = &client.exec else {
        return Ok(());
    };
    let [crt, key, cas] = RedisBundle::paths(&client.out);
    let failed = |why: String| Error::Hook {
        client: client.name.to_string(),
        reason: why,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("RCTL_CLIENT", client.name.as_str())
        .env("RCTL_CERT", &crt)
        .env("RCTL_KEY", &key)
        .env("RCTL_CA", &cas)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run sh: {e}")))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr {
            let _ = err.take(STDERR_LIMIT).read_to_string(&mut text);
        }
        text
    });
    let end = Instant::now() + deadline;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "still running after {}; killed",
                    crate::duration::format_std(deadline)
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let text = reader.join().unwrap_or_default();
    let first = text.lines().next().unwrap_or_default();
    Err(failed(format!("{status}: {}", shorten(first))))
}

//! A client output's reload hook: `sh -c COMMAND` once its files are written, with their paths
//! in the environment, within a deadline. A failed hook is reported; the files stay renewed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::path::PathBuf;

use crate::clients::output::{ClientFormat, ClientOutput};
use crate::error::{Error, Result, shorten};

/// How much of a hook's stderr a failure quotes.
const STDERR_LIMIT: u64 = 4096;

/// The variables that name the files `client`'s format wrote: `RCTL_CERT`, `RCTL_KEY` and
/// `RCTL_CA` for `redis`, `RCTL_P12` for `pkcs12`, `RCTL_SECRET` for `kubernetes-secret`.
pub fn hook_files(client: &ClientOutput) -> Vec<(&'static str, PathBuf)> {
    let written = client.outputs();
    let names: &[&'static str] = match client.format {
        ClientFormat::Redis => &["RCTL_CERT", "RCTL_KEY", "RCTL_CA"],
        ClientFormat::Pkcs12 { .. } => &["RCTL_P12"],
        ClientFormat::KubernetesSecret { .. } => &["RCTL_SECRET"],
    };
    names.iter().copied().zip(written).collect()
}

/// True for a variable of rctl's own that may carry a secret or a way to one (a passphrase
/// file, systemd's credentials, etcd's credentials): a hook never inherits those.
fn withheld(name: &str) -> bool {
    name.starts_with("RCTL_") || name.starts_with("ETCDCTL_") || name == "CREDENTIALS_DIRECTORY"
}

/// Runs `client`'s hook, if it has one: `RCTL_CLIENT` (its name), `RCTL_FORMAT` and the
/// variables of [`hook_files`] in its environment (rctl's own variables withheld), stdin
/// closed, stdout discarded, in a process group of its own. Fails when it exits non-zero
/// (quoting the first line of its stderr) or runs past `deadline` (then its whole process
/// group is killed).
pub fn run_hook(client: &ClientOutput, deadline: Duration) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let Some(command) = &client.exec else {
        return Ok(());
    };
    let failed = |why: String| Error::Hook {
        client: client.name.to_string(),
        reason: why,
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(withheld) {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env("RCTL_CLIENT", client.name.as_str())
        .env("RCTL_FORMAT", client.format.name())
        .envs(hook_files(client))
        .process_group(0)
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
                // The group's id is the shell's: whatever it started dies with it.
                let group = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
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

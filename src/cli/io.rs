//! Reading input and writing output: limits on what is read, a password shown only if it can be.

use std::path::Path;

use crate::cli::error::Result;
use rctl::{Error, Password, parse_list};

/// Writes to stdout. A closed pipe (`rctl users ls | head -1`) ends output quietly; any other
/// write error is an error.
pub(super) fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(stdout_error(e).into()),
        _ => Ok(()),
    }
}

/// Stdout written in pieces through one buffer (a long listing): a closed pipe ends the output
/// quietly, as [`emit`] does.
pub(super) struct StreamOut {
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    closed: bool,
}

impl StreamOut {
    pub(super) fn new() -> StreamOut {
        StreamOut {
            out: std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
            closed: false,
        }
    }

    /// Fails with the library's error: it runs inside the library's walk over the state.
    pub(super) fn write(&mut self, text: &str) -> rctl::Result<()> {
        use std::io::Write;
        if self.closed {
            return Ok(());
        }
        match self.out.write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.map_err(stdout_error),
        }
    }

    pub(super) fn finish(mut self) -> Result<()> {
        use std::io::Write;
        match self.out.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(stdout_error(e).into()),
            _ => Ok(()),
        }
    }
}

/// Writes what must be seen (a password shown once) and flushes it: a closed stdout, a broken
/// pipe or a full disk is an error, and the caller then saves nothing.
///
/// It runs inside the library's step that saves (nothing is saved unless it was shown), so it
/// fails with the library's error.
pub(super) fn emit_secret(text: &str) -> rctl::Result<()> {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    // A closed stdout (`>&-`) is /dev/null by the time Rust's runtime starts: a password
    // shown there is lost as surely as to `>/dev/null`, so both are refused.
    use std::os::unix::fs::MetadataExt;
    let out = std::fs::File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(stdout_error)?,
    );
    let null = std::fs::metadata("/dev/null").map(|m| m.rdev()).ok();
    if out
        .metadata()
        .is_ok_and(|m| m.file_type().is_char_device() && Some(m.rdev()) == null)
    {
        return Err(rctl::Invalid::SecretWouldBeLost.into());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

pub(super) fn stdout_error(e: std::io::Error) -> Error {
    Error::Io {
        path: "standard output".into(),
        source: e,
    }
}

/// Reads at most `limit` bytes of UTF-8 from stdin; more is refused, never cut short.
pub(super) fn read_stdin(what: &str, limit: u64) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| crate::cli::error::usage(format!("cannot read {what} from stdin: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(crate::cli::error::usage(format!(
            "{what} on stdin is longer than {limit} bytes"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| crate::cli::error::usage(format!("{what} on stdin is not UTF-8")))
}

/// Reads a password from stdin (one trailing newline stripped).
pub(super) fn read_password() -> Result<Password> {
    Ok(Password::from_input(read_stdin("the password", 4096)?)?)
}

/// A flag given repeatedly, each value possibly comma-separated (tctl takes both).
pub(super) fn repeated_list(flag: &str, values: &[String]) -> Result<Vec<String>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    list(flag, &values.join(","))
}

pub(super) fn optional_list(flag: &str, value: Option<String>) -> Result<Option<Vec<String>>> {
    value.map(|v| list(flag, &v)).transpose()
}

/// Reads a UTF-8 text file of at most `limit` bytes, with errors that name it.
pub(super) fn read_text_file(path: &Path, limit: u64) -> Result<String> {
    // Standard input by its name; anything else must be a regular file, opened without
    // waiting (a FIFO with no writer would hold rctl forever).
    if path.as_os_str() == "-" || path == Path::new("/dev/stdin") {
        return read_stdin("the input", limit);
    }
    let bytes = rctl::read_regular(path, limit).map_err(|e| {
        let text = e.to_string();
        crate::cli::error::usage(match e.kind() {
            std::io::ErrorKind::InvalidInput if path.is_dir() => {
                format!("{} is a directory, not a file", path.display())
            }
            std::io::ErrorKind::InvalidInput if text == "not a regular file" => format!(
                "{} is not a regular file (give a file, or - for standard input)",
                path.display()
            ),
            std::io::ErrorKind::InvalidInput => format!("{} is {text}", path.display()),
            _ => format!("{}: {text}", path.display()),
        })
    })?;
    String::from_utf8(bytes)
        .map_err(|_| crate::cli::error::usage(format!("{} is not UTF-8 text", path.display())))
}

pub(super) fn rctl_shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A comma-separated list given to `flag`: its errors name the flag.
pub(super) fn list(flag: &str, input: &str) -> Result<Vec<String>> {
    parse_list(input).map_err(|e| crate::cli::error::usage(format!("{flag}: {e}")))
}

/// The CA passphrase: from `file` (at most 1 KiB, not readable by group or others unless the
/// options accept it), else typed on the terminal without echo (twice when `confirm`). Never from a
/// pipe: a passphrase on standard input would be the password's input.
pub(crate) fn read_passphrase(
    file: Option<&std::path::Path>,
    options: &rctl::storage::DirOptions,
    confirm: bool,
) -> rctl::Result<rctl::Passphrase> {
    if let Some(path) = file {
        rctl::storage::check_private_file(path, options)?;
        // A passphrase file that cannot be read is the command line's mistake, said as such.
        let bytes = rctl::read_regular(path, 1024).map_err(|source| rctl::Invalid::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| rctl::Invalid::NotUtf8 {
            path: path.to_path_buf(),
        })?;
        return rctl::Passphrase::new(text);
    }
    // Asked only of a person at a terminal: a script (standard input not a terminal) is told
    // to give a file instead of hanging on a prompt.
    use std::io::IsTerminal;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    if tty.is_err() || !std::io::stdin().is_terminal() {
        return Err(rctl::Error::CaPassphraseMissing {
            detail: " (no terminal to ask on)",
        });
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|source| rctl::Error::CaPassphraseUnread { source })
    };
    let first = zeroize::Zeroizing::new(ask("Passphrase for the host CA key: ")?);
    if confirm {
        let again = zeroize::Zeroizing::new(ask("The same passphrase again: ")?);
        if *again != *first {
            return Err(rctl::Error::CaPassphrasesDiffer);
        }
    }
    rctl::Passphrase::new(first.to_string())
}

//! What a failed command prints and the exit code it gives. The library says what went wrong
//! in its own terms; the CLI adds what to type next (flags, commands) and decides the code:
//! 2 when the command line, or a file or standard input it names, is wrong; 1 when the
//! operation is refused or fails.

use std::process::ExitCode;

use rctl::Error;

/// What a command failed with: the library's error, or what only the command line knows (its
/// flags' combinations, and the verdict of `acl check`), as rage keeps its own error beside
/// its library's.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The library refused or failed.
    #[error(transparent)]
    Lib(#[from] Error),
    /// The command line is wrong: a flag's value, or flags that do not go together.
    #[error("{0}")]
    Usage(String),
    /// `auth sign-requests` refused some of the requests (each printed before).
    #[error("access denied: {refused} of {of} signing request(s) refused")]
    RequestsRefused {
        /// How many were refused.
        refused: usize,
        /// How many were judged.
        of: usize,
    },
    /// `certs inspect` read a certificate that is not valid now (its report printed before).
    #[error("access denied: {} {why}", file.display())]
    CertificateRejected {
        /// The file.
        file: std::path::PathBuf,
        /// Why: "expired 2026-...", "was not signed by any key this host CA trusts".
        why: String,
    },
    /// `redis sync` left servers or client outputs not in line (each printed before).
    #[error("{failed} of {of} not in line")]
    NotInLine {
        /// How many failed.
        failed: usize,
        /// How many were synced.
        of: Counted,
    },
    /// `redis check` found problems (each printed before).
    #[error("{problems} problem(s) on {behind} of {of}")]
    Problems {
        /// How many problems.
        problems: usize,
        /// On how many servers or outputs.
        behind: usize,
        /// Of how many checked.
        of: Counted,
    },
    /// `acl check` found problems in a users.acl (each printed on stdout before).
    #[error(
        "{source_name}: {} problem(s) for {target}, the first: {}",
        findings.len(),
        findings.first().map(ToString::to_string).unwrap_or_default()
    )]
    AclProblems {
        /// The file checked.
        source_name: String,
        /// The version it was checked for.
        target: rctl::acl::Target,
        /// Each problem: its line, the rule and why.
        findings: Vec<rctl::acl::Finding>,
    },
}

/// How many servers and client outputs a sync or check went through: `3 server(s)`, or
/// `5 (3 server(s), 2 client output(s))`.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    /// Servers.
    pub servers: usize,
    /// Client outputs.
    pub clients: usize,
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.clients == 0 {
            write!(f, "{} server(s)", self.servers)
        } else {
            write!(
                f,
                "{} ({} server(s), {} client output(s))",
                self.servers + self.clients,
                self.servers,
                self.clients
            )
        }
    }
}

/// A sync's verdict: [`CliError::NotInLine`] when a server or client output is not in line.
pub fn in_line(report: &rctl::fleet::SyncReport) -> Result<()> {
    let failed = report.failed();
    if failed > 0 {
        return Err(CliError::NotInLine {
            failed,
            of: Counted {
                servers: report.servers.len(),
                clients: report.clients.len(),
            },
        });
    }
    Ok(())
}

/// What every command of the binary returns.
pub type Result<T> = std::result::Result<T, CliError>;

/// A refusal of the command line itself (exit 2).
pub fn usage(text: impl Into<String>) -> CliError {
    CliError::Usage(text.into())
}

/// The one line printed for `e` (without the `error: ` prefix), at most about 1,000 bytes.
pub fn message(e: &CliError) -> String {
    match e {
        CliError::Lib(e) => lib_message(e),
        CliError::Usage(text) => one_line(text.clone()),
        CliError::RequestsRefused { .. }
        | CliError::CertificateRejected { .. }
        | CliError::NotInLine { .. }
        | CliError::Problems { .. } => one_line(e.to_string()),
        CliError::AclProblems { findings, .. } => {
            let hint = findings
                .first()
                .and_then(|f| f.exists_in)
                .map(|t| target_hint(t.name()))
                .unwrap_or_default();
            one_line(format!("{e}{hint}"))
        }
    }
}

/// [`message`] of a library error: its text, and what to type next where the CLI knows.
pub fn lib_message(e: &Error) -> String {
    let hint = match e {
        Error::CaExists(_) => " (rotate it with 'rctl auth rotate')".to_string(),
        Error::OutputExists(_) => "; pass --overwrite to replace it".to_string(),
        Error::TtlOutlivesCa { .. } => "; use a shorter --ttl or rotate the CA".to_string(),
        Error::InsecurePermissions { path, want, .. } => format!(
            "; run 'chmod {want:o} {}' or pass --insecure-permissions",
            path.display()
        ),
        Error::MissingRole { user, .. } => {
            format!("; fix it with 'rctl users update {user} --set-roles=...'")
        }
        Error::CaPassphraseMissing { .. } => {
            "; give it with --ca-passphrase-file=FILE or RCTL_CA_PASSPHRASE_FILE".to_string()
        }
        Error::ClearKeyRefused { .. } => " (rctl auth encrypt)".to_string(),
        Error::ServersNotRenewed { .. } | Error::ClientsNotRenewed { .. } => {
            ": run 'rctl redis sync --all' and see what fails, or pass --force".to_string()
        }
        Error::ServersNotTrusting { .. } => {
            ": run 'rctl redis sync' on their hosts (on a fleet, each node's timer does), or pass --force"
                .to_string()
        }
        Error::ServersNotReloaded { .. } => {
            ": run 'rctl redis sync' for them (or restart them), or pass --force".to_string()
        }
        Error::UnfinishedMigration { .. } => {
            "; run the same 'rctl state migrate --to=...' from the source again, which starts it over"
                .to_string()
        }
        Error::EarlierEtcdLayout { .. } => "; copy it out with the rctl that wrote it (state migrate --to=DIR), then into an empty prefix with this one".to_string(),
        Error::AdminPasswordRefused { .. } => {
            "; run 'rctl redis sync --no-reload' and restart it".to_string()
        }
        Error::InvalidAcl {
            exists_in: Some(other),
            ..
        } => target_hint(other),
        Error::LoginMissing { user, server } | Error::LoginExpired { user, server, .. } => {
            format!("; log in with 'rctl db login {server} --user={user}'")
        }
        Error::DbUserAmbiguous { .. } => " with --db-user".to_string(),
        Error::ReplicationRoleUnasked => ": pass --force to give it".to_string(),
        Error::InvalidArgument(rctl::Invalid::SecretWouldBeLost) => {
            "; redirect it to a file, or pass --password-stdin".to_string()
        }
        Error::NoSuchAccount { account } => {
            format!("; create it with 'rctl users add {account} --roles=...'")
        }
        _ => String::new(),
    };
    let text = match e {
        Error::NoStateDir => {
            "no state directory: set --state-dir, RCTL_STATE_DIR, XDG_DATA_HOME or HOME".to_string()
        }
        Error::NoServerSelected => {
            "name the servers, or pass --all for every registered server".to_string()
        }
        Error::NoServerRegistered => {
            "no server is registered; register one with 'rctl redis add'".to_string()
        }
        other => other.to_string(),
    };
    one_line(format!("{text}{hint}"))
}

/// What to type to write users.acl for `target`, the version that has a refused command.
pub fn target_hint(target: &str) -> String {
    format!(": `rctl redis target {target}`")
}

/// One line, whatever the error: scripts read the first line of stderr, and an error may quote
/// input of any size (clap's too).
pub fn one_line(text: String) -> String {
    // What a state, a server or a request holds is printed, never obeyed: a line break is a
    // space, every other control character (ESC, CR, ...) is shown escaped.
    let mut line = super::output::escape_control(&text.replace('\n', " "));
    if line.len() > 1000 {
        let mut end = 1000;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        let full = line.len();
        line.truncate(end);
        line.push_str(&format!("... ({full} bytes)"));
    }
    line
}

/// The exit code for `e`.
pub fn exit_code(e: &CliError) -> ExitCode {
    let e = match e {
        CliError::Usage(_) => return ExitCode::from(2),
        CliError::AclProblems { .. }
        | CliError::RequestsRefused { .. }
        | CliError::CertificateRejected { .. }
        | CliError::NotInLine { .. }
        | CliError::Problems { .. } => return ExitCode::from(1),
        CliError::Lib(e) => e,
    };
    let usage = matches!(
        e,
        Error::InvalidDuration { .. }
            | Error::InvalidHost { .. }
            | Error::InvalidName { .. }
            | Error::InvalidArgument(_)
            | Error::OutputRefused { .. }
            | Error::InvalidAcl { .. }
            | Error::InvalidResource { .. }
            | Error::NoStateDir
            | Error::NoServerSelected
            | Error::NoServerRegistered
            | Error::DbUserAmbiguous { .. }
            | Error::ReplicationRoleUnasked
    );
    ExitCode::from(if usage { 2 } else { 1 })
}

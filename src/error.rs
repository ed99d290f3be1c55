//! The one error type of the library.
//!
//! Every message says what went wrong and, where there is one, what to do next. No message
//! ever holds key material, a password or a password hash.

use std::path::PathBuf;

mod denial;
mod invalid;
mod remote;

pub use denial::Denial;
pub use invalid::{CaKeyProblem, FormatProblem, Invalid};
pub use remote::{MissingCredential, ReplyHint, ServerError, StoreError};

/// A foreign error kept as the cause of one of rctl's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong in rctl.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A duration string is not Go duration syntax, or is out of range.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },

    /// A host name or IP address for a certificate was refused.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given (shortened when very long).
        host: String,
        /// Why it was refused.
        reason: String,
    },

    /// A name (cluster, user, role, database user) was refused.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// What kind of name it is: "user", "role", ...
        what: &'static str,
        /// The name as given (shortened when very long).
        name: String,
        /// Why it was refused.
        reason: String,
    },

    /// Any other argument, or input the caller handed in, that rctl refuses.
    #[error(transparent)]
    InvalidArgument(#[from] Invalid),

    /// The host CA already exists and `init` would replace it.
    #[error("a host CA already exists in {}; rctl never replaces a CA", .0.display())]
    CaExists(PathBuf),

    /// A requested certificate lifetime is longer than a role of the person allows.
    #[error("TTL {ttl} exceeds the max_session_ttl {cap} of role {role:?}")]
    TtlNotAllowed {
        /// The lifetime asked for (Go syntax).
        ttl: String,
        /// The role's cap (Go syntax).
        cap: String,
        /// The role whose cap is the smallest.
        role: String,
    },

    /// A file to write is not one rctl may write: its folder is missing, it is a folder, a
    /// link, a device or FIFO, it sits in a folder anyone may write to, or inside the state.
    #[error("{message}")]
    OutputRefused {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, naming it.
        message: String,
    },

    /// An output file exists and overwriting was not asked for.
    #[error("{} already exists", .0.display())]
    OutputExists(PathBuf),

    /// A certificate would outlive the CA that signs it.
    #[error("TTL {ttl} would outlive the host CA, which expires {ca_not_after}")]
    TtlOutlivesCa {
        /// The lifetime asked for.
        ttl: String,
        /// When the signing CA certificate expires (RFC 3339).
        ca_not_after: String,
    },

    /// No state directory was given and none can be derived from the environment.
    #[error("no state directory: set RCTL_STATE_DIR, XDG_DATA_HOME or HOME")]
    NoStateDir,

    /// A command that acts on registered servers was given none to act on.
    #[error("no server named")]
    NoServerSelected,

    /// No server is registered in the state.
    #[error("no server is registered")]
    NoServerRegistered,

    /// A user holds a role that no longer exists: the state does not hold together.
    #[error("user {user:?} holds role {role:?}, which does not exist")]
    MissingRole {
        /// The user.
        user: String,
        /// The role it names.
        role: String,
    },

    /// A certificate would name a Redis account users.acl does not define.
    #[error(
        "Redis account {account:?} does not exist, so Redis would refuse this certificate's login"
    )]
    NoSuchAccount {
        /// The account the certificate would name.
        account: String,
    },

    /// A record that should exist does not.
    #[error("{what} {name:?} not found")]
    NotFound {
        /// "user", "role", ...
        what: &'static str,
        /// The name looked up.
        name: String,
    },

    /// A record that should be new exists already.
    #[error("{what} {name:?} already exists")]
    AlreadyExists {
        /// "user", "role", ...
        what: &'static str,
        /// The name given.
        name: String,
    },

    /// A client output's reload hook failed (its files were written).
    #[error("the hook of client {client:?} failed: {reason}")]
    Hook {
        /// The client output.
        client: String,
        /// Its exit status and first line of stderr, or why it did not run.
        reason: String,
    },

    /// A person has no login to a server in their profile.
    #[error("user {user:?} has no login to server {server:?}")]
    LoginMissing {
        /// The rctl user.
        user: String,
        /// The registered server.
        server: String,
    },

    /// A person's login to a server has expired.
    #[error("the login of user {user:?} to server {server:?} expired at {not_after}")]
    LoginExpired {
        /// The rctl user.
        user: String,
        /// The registered server.
        server: String,
        /// When its certificate expired (RFC 3339).
        not_after: String,
    },

    /// A person has several accounts on a server and named none.
    #[error("user {user:?} may log in to server {server:?} as {}; choose one", choices.join(", "))]
    DbUserAmbiguous {
        /// The rctl user.
        user: String,
        /// The registered server.
        server: String,
        /// The accounts the user may name.
        choices: Vec<String>,
    },

    /// The operation is not allowed by the roles or the rules of rctl.
    #[error("access denied: {0}")]
    AccessDenied(#[from] Denial),

    /// A person was to be given the built-in `replication` role without saying so: it reads
    /// every key (a replica's `PSYNC ? -1` copies the whole dataset), so it is for a replica's
    /// account.
    #[error(
        "the replication role reads every key (a replica's PSYNC copies the whole dataset), so it is for a replica's account"
    )]
    ReplicationRoleUnasked,

    /// A rotation phase change that the state machine does not allow.
    #[error(
        "cannot move the host CA rotation from phase {from} to {to}; allowed next: {}",
        allowed.join(", ")
    )]
    InvalidRotation {
        /// The phase the rotation is in.
        from: &'static str,
        /// The phase asked for.
        to: &'static str,
        /// The phases it may move to.
        allowed: Vec<&'static str>,
    },

    /// A rotation that holds no second key was asked to swap to it.
    #[error("the rotation has no second key to swap to; roll back and start again")]
    RotationWithoutSecondKey,

    /// A Redis ACL rule, role or users.acl line was refused.
    #[error("{message}")]
    InvalidAcl {
        /// What was refused, and why.
        message: String,
        /// The first other Redis or Valkey version that has the command or category the
        /// refused rule names, where one does: its name as users.acl targets are written
        /// (`valkey-8.1`), which `acl::Target` parses.
        exists_in: Option<&'static str>,
    },

    /// A resource file (YAML role) could not be read.
    #[error("{source_name}: {reason}")]
    InvalidResource {
        /// File name or "stdin".
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The state holds an unfinished `state migrate` (killed halfway): it is not a whole state.
    #[error("{} holds an unfinished state migrate, not a whole state", .location.display())]
    UnfinishedMigration {
        /// The state.
        location: PathBuf,
    },

    /// A rotation would enter `standby` while registered servers still hold certificates the
    /// outgoing key signed: from then on nothing trusts them.
    #[error("registered server(s) {} still hold a certificate the outgoing key signed (their sync in update_servers did not renew it); at standby nothing would trust it", servers.join(", "))]
    ServersNotRenewed {
        /// Their names.
        servers: Vec<String>,
    },

    /// A rotation would leave `init` while registered servers' trust bundles do not hold the
    /// new CA key yet: a client certificate the new key signs (from `update_clients` on) would
    /// be refused by them.
    #[error("registered server(s) {} do not trust the new CA key yet (their trust bundle was not written in init); from update_clients on they would refuse clients the new key signs", servers.join(", "))]
    ServersNotTrusting {
        /// Their names.
        servers: Vec<String>,
    },

    /// A rotation would enter `standby` while registered servers (reachable from here) still
    /// serve a certificate the outgoing key signed: their files are renewed but the server did
    /// not load them (a failed reload), and at `standby` no client would trust them.
    #[error("registered server(s) {} still serve a certificate the outgoing key signed (their files are renewed; the server did not load them); at standby no client would trust them", servers.join(", "))]
    ServersNotReloaded {
        /// Their names.
        servers: Vec<String>,
    },

    /// A rotation would leave `update_clients` (or enter `standby`) while registered client
    /// outputs still hold certificates the outgoing key signed.
    #[error("client output(s) {} still hold a certificate the outgoing key signed (sync renews them from update_clients on); at standby nothing would trust it", clients.join(", "))]
    ClientsNotRenewed {
        /// Their names.
        clients: Vec<String>,
    },

    /// A state file exists but cannot be understood. rctl never repairs it by overwriting.
    #[error("state file {} is corrupt: {reason}; restore it from a backup (rctl will not overwrite it)", path.display())]
    CorruptState {
        /// The file in question.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The state directory or a key file can be read by other users.
    #[error("{} is accessible by group or others (mode {mode:o}, not {want:o})", path.display())]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
        /// The mode rctl wants.
        want: u32,
    },

    /// An operating system error while touching a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A record could not be written out (a serializer failed): rctl's own data, so a bug or
    /// a resource problem, never the caller's input.
    #[error("cannot encode the {what}: {source}")]
    Encode {
        /// What was being written: "audit record", "settings", ...
        what: &'static str,
        /// The serializer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The cryptographic library refused an operation, or a key or sealed secret does not
    /// read.
    #[error("certificate or key operation failed: {what}{}", source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Crypto {
        /// What failed.
        what: &'static str,
        /// The library's error, where it gives one.
        #[source]
        source: Option<BoxError>,
    },

    /// The host CA key is encrypted and no passphrase was given.
    #[error("the host CA key is encrypted and no passphrase was given{detail}")]
    CaPassphraseMissing {
        /// More of the circumstance (` (no terminal to ask on)`), or empty.
        detail: &'static str,
    },

    /// The passphrase given does not decrypt the host CA key.
    #[error("the CA passphrase is wrong (the key does not decrypt)")]
    CaPassphraseWrong,

    /// The host CA key's passphrase could not be read from the terminal.
    #[error("cannot read the passphrase: {source}")]
    CaPassphraseUnread {
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The passphrase typed twice for a new encryption differed.
    #[error("the two passphrases differ")]
    CaPassphrasesDiffer,

    /// A store that keeps CA keys only encrypted (etcd) was handed one in clear.
    #[error("{} keeps a CA key only encrypted; encrypt it first", .location.display())]
    ClearKeyRefused {
        /// The store.
        location: PathBuf,
    },

    /// An etcd prefix holds a state in rctl's first etcd layout, which this rctl does not read.
    #[error("{location}: this prefix holds a state in rctl's earlier etcd layout (m/ and b/ keys)")]
    EarlierEtcdLayout {
        /// The prefix.
        location: String,
    },

    /// A live server refused the password of rctl's own account.
    #[error("{addr}: {reply}: the server refused rctl-admin's password (is its users.acl rctl's?)")]
    AdminPasswordRefused {
        /// The server.
        addr: String,
        /// Its reply (shortened).
        reply: String,
    },

    /// Signing requests were asked of a state that carries none (a directory: there, the
    /// command that needs a certificate signs it with the CA key).
    #[error(
        "signing requests need a shared (etcd) state; on a directory state the CA key signs directly"
    )]
    NoRequestQueue,

    /// A certificate is due and this host has no CA key: its signing request was not answered
    /// in time. The files in place are kept.
    #[error("its certificate is due ({why}) and signing request {id} was not answered within {}; the current files are left in place", format_std(*waited))]
    SigningPending {
        /// Why the certificate is due.
        why: String,
        /// The request.
        id: String,
        /// How long this host waited.
        waited: std::time::Duration,
    },

    /// The signer refused a signing request, or answered with a certificate this host cannot
    /// use.
    #[error("signing request {id}: {reason}")]
    SigningRefused {
        /// The request.
        id: String,
        /// Why.
        reason: String,
    },

    /// A shared state store (etcd) could not be reached or refused a change.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Another rctl changed the shared state (etcd) while this operation ran, so nothing was
    /// saved; running the operation again reads the new state.
    #[error(
        "{location}: the state changed while this command ran (another admin or host); nothing was saved, try again"
    )]
    Conflict {
        /// The state (its etcd URL).
        location: String,
    },

    /// Another rctl has been syncing this server for longer than this one would wait.
    #[error("another sync of server {name:?} still runs after {}", format_std(*waited))]
    ServerBusy {
        /// The server.
        name: String,
        /// How long this one waited.
        waited: std::time::Duration,
    },

    /// A live server was not done within the deadline given for it.
    #[error("no answer within {}: given up", format_std(*deadline))]
    ServerTimeout {
        /// The deadline.
        deadline: std::time::Duration,
    },

    /// A live Redis server could not be reached, refused rctl, or answered unexpectedly.
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// An [`Error::Encode`] for `what`.
    pub(crate) fn encode(
        what: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Encode {
            what,
            source: Box::new(e),
        }
    }
}

impl Error {
    /// An [`Error::Crypto`] with no foreign cause.
    pub(crate) fn crypto(what: &'static str) -> Error {
        Error::Crypto { what, source: None }
    }

    /// An [`Error::Crypto`] caused by `e`.
    pub(crate) fn crypto_by(
        what: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Crypto {
            what,
            source: Some(Box::new(e)),
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::crypto_by("rcgen", e)
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shortens user input for an error message, so that a 1 MiB argument gives a one-line error.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}... ({} bytes)", s.len())
    }
}

/// Go's `Duration.String()` for a non-negative duration: how every message and output of rctl
/// writes a span of time. It lives on the lowest floor, with the errors that print spans;
/// `duration` re-exports it beside the parser.
pub fn format_std(d: std::time::Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_string();
    }
    if total < 1_000_000_000 {
        let (div, unit) = if total < 1_000 {
            (1, "ns")
        } else if total < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", frac(total, div));
    }
    let hours = total / 3_600_000_000_000;
    let minutes = (total / 60_000_000_000) % 60;
    let secs = frac(total % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / div` with the fraction's trailing zeros removed: `1500, 1000` gives `1.5`.
fn frac(value: u128, div: u128) -> String {
    let whole = value / div;
    let rem = value % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

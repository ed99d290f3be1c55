//! [`Invalid`]: what an argument, or a file or request the caller handed in, was refused for.

use std::borrow::Cow;
use std::path::PathBuf;

/// An argument, or an input the caller handed in, that rctl refuses. Each variant is one kind
/// of refusal with its data; the quoted input is shortened, so a 1 MiB argument gives one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// A value does not have its syntax (`what` names the kind: "owner", "label", ...).
    #[error("invalid {what} {value:?}: {want}")]
    Malformed {
        /// What kind of value it is.
        what: &'static str,
        /// The value as given (shortened).
        value: String,
        /// What is wanted instead, or why it is refused.
        want: Cow<'static, str>,
    },

    /// A value is given twice where each may be given once.
    #[error("{what} {value:?} is given twice")]
    Twice {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: String,
    },

    /// A value that must not be empty is.
    #[error("{what} is empty")]
    Empty {
        /// What is empty: "the password", "the CA passphrase", a `KEY=VALUE` list, ...
        what: &'static str,
    },

    /// A password holds a character Redis cannot take in users.acl.
    #[error("the password contains whitespace or a control character")]
    PasswordCharacters,

    /// A file that must be UTF-8 text, or a path rctl keeps as text, is not.
    #[error("{} is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file or path.
        path: PathBuf,
    },

    /// A passphrase file whose first line is empty.
    #[error("{} holds no passphrase (its first line is empty)", path.display())]
    PassphraseFileEmpty {
        /// The file.
        path: PathBuf,
    },

    /// Input larger than rctl reads of its kind.
    #[error("{source_name} is larger than {limit} bytes")]
    TooLarge {
        /// The file, or "standard input".
        source_name: String,
        /// The limit.
        limit: usize,
    },

    /// A file named as input cannot be read (missing, not a regular file, too large).
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A generated secret would be written where nobody reads it (standard output closed or
    /// /dev/null).
    #[error("standard output is closed or /dev/null: the generated password would be lost")]
    SecretWouldBeLost,

    /// No user or group of that name on this system (for `--owner`).
    #[error("no {kind} {name:?} on this system")]
    NoSuchOwner {
        /// "user" or "group".
        kind: &'static str,
        /// The name.
        name: String,
    },

    /// A certificate could not be read from the input.
    #[error("{problem}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Certificate {
        /// What is wrong.
        problem: &'static str,
        /// The parser's own words, where it has some.
        detail: Option<String>,
    },

    /// A certificate signing request was refused.
    #[error("invalid CSR: {problem}")]
    Csr {
        /// What is wrong with it (with the parser's words where it has some).
        problem: Cow<'static, str>,
    },

    /// A request's public key (its CSR's, or its login key) cannot be used.
    #[error("the request's {what} {problem}")]
    RequestKey {
        /// "public key" or "login key".
        what: &'static str,
        /// What is wrong with it.
        problem: Cow<'static, str>,
    },

    /// A certificate needs at least one host name or address.
    #[error("at least one host is needed")]
    NoHost,

    /// An output format cannot hold what is asked of it.
    #[error("{}", format_problem(format, *problem))]
    Format {
        /// The format's name.
        format: &'static str,
        /// What it cannot do.
        problem: FormatProblem,
    },

    /// An output prefix names a folder, not a file prefix.
    #[error("the output prefix {:?} names a folder; give a file prefix such as DIR/server", prefix.display())]
    PrefixIsFolder {
        /// The prefix.
        prefix: PathBuf,
    },

    /// A state directory path that is not a directory.
    #[error("state directory {} is not a directory", path.display())]
    StateNotDirectory {
        /// The path.
        path: PathBuf,
    },

    /// A change to a state opened for reading only.
    #[error("the state in {} is open for reading only", path.display())]
    StateReadOnly {
        /// The state directory.
        path: PathBuf,
    },

    /// A state file name that would leave the state directory.
    #[error("invalid state blob name {name:?}")]
    BlobName {
        /// The name.
        name: String,
    },

    /// `state migrate` into a state that is not empty.
    #[error("{} already holds a state; migrate into an empty one", location.display())]
    MigrateTargetNotEmpty {
        /// The target.
        location: PathBuf,
    },

    /// An etcd URL with a user name or password in it (never quoted back).
    #[error(
        "invalid etcd state: a user name or password in the URL is refused (an etcd user and its password file are given apart from the URL, which messages and status show)"
    )]
    EtcdCredentialsInUrl,

    /// A path is written for another registration already.
    #[error("{} is already written for {owner}", path.display())]
    PathTaken {
        /// The path.
        path: PathBuf,
        /// Who writes it: `server "r1"`, `client "app"`.
        owner: String,
    },

    /// Two registrations of one server address.
    #[error(
        "{addr} is server {server:?}'s address already: two registrations of one server would flip it between their bundles"
    )]
    AddressTaken {
        /// The address.
        addr: String,
        /// The server registered at it.
        server: String,
    },

    /// A server's users.acl path is one of its bundle's files.
    #[error("the users.acl path names one of the certificate bundle's files")]
    AclPathIsBundle,

    /// A sentinel was given a users.acl.
    #[error("a sentinel takes no users.acl: its accounts are its own")]
    SentinelAcl,

    /// A sentinel quorum of 0.
    #[error("a quorum is at least 1 (how many sentinels must agree the primary is down)")]
    Quorum,

    /// Text that redis.conf cannot hold.
    #[error(
        "{value:?} holds a quote, backslash or control character, which redis.conf cannot take"
    )]
    RedisConfText {
        /// The text.
        value: String,
    },

    /// A host, user or password that redis.conf cannot hold.
    #[error(
        "a host, user or password holds white space, a quote, a backslash or a control character, which redis.conf cannot take"
    )]
    RedisConfWord,

    /// The host CA is missing, or already in the state asked for.
    #[error("{}", ca_key_problem(*problem))]
    CaKey {
        /// What is wrong.
        problem: CaKeyProblem,
    },

    /// `users add` with no user.
    #[error("no user to add")]
    NoUser,

    /// A user with no role.
    #[error("a user needs at least one role")]
    NoRole,

    /// A role name the state does not know.
    #[error("unknown role {name:?}; known roles: {}", known.join(", "))]
    UnknownRole {
        /// The name.
        name: String,
        /// The roles the state has.
        known: Vec<String>,
    },

    /// A role resource of another kind or version.
    #[error("{field} {value:?} is not supported; {want}")]
    RoleResource {
        /// "kind" or "role version".
        field: &'static str,
        /// The value.
        value: String,
        /// What rctl reads.
        want: &'static str,
    },

    /// A role's deny.redis_acl, which rctl does not read.
    #[error(
        "deny.redis_acl is not supported: deny commands with '-cmd' or '-@category' in allow.redis_acl"
    )]
    DenyRedisAcl,

    /// A template variable a role field does not know.
    #[error("{field}: unknown variable {value:?}; rctl knows {known}")]
    UnknownVariable {
        /// The field: `allow.db_users`.
        field: String,
        /// The value.
        value: String,
        /// The one variable the field takes.
        known: &'static str,
    },

    /// A role's labels field with a key or value that is not one.
    #[error("{field}: {part} {value:?} {problem}")]
    LabelRule {
        /// The field: `allow.db_labels`.
        field: String,
        /// "key" or "value".
        part: &'static str,
        /// The key or value.
        value: String,
        /// Why it is refused.
        problem: &'static str,
    },

    /// Roles of a user that deny databases another of them allows entirely.
    #[error(
        "user {user:?}: role {denier:?} denies databases {denied} while role {allower:?} allows every database; a database rule lists the databases allowed, so name them in allow.db_names"
    )]
    DatabasesConflict {
        /// The user.
        user: String,
        /// The denying role.
        denier: String,
        /// The denied databases, as a list.
        denied: String,
        /// The role that allows all.
        allower: String,
    },

    /// Certificate login asked of a Redis version without it, or a version without it asked
    /// while it is on.
    #[error("{}", certificate_login_problem(target, have))]
    CertificateLogin {
        /// The version.
        target: String,
        /// The versions that have it (empty: it is on and `target` has none).
        have: Vec<String>,
    },

    /// A signed-from-CSR certificate asked in a format other than redis.
    #[error(
        "a CSR's certificate is written in redis format (its key stays where the CSR was made), not {format}"
    )]
    CsrFormat {
        /// The format asked.
        format: &'static str,
    },

    /// A server name rustls cannot take for a handshake.
    #[error("{addr}: {source}")]
    ServerName {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: rustls_pki_types::InvalidDnsNameError,
    },
}

/// What an output format cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatProblem {
    /// It holds the key, and a certificate signed from a CSR has none here.
    NeedsKey,
    /// It is three files, not one.
    ThreeFiles,
}

fn format_problem(format: &str, problem: FormatProblem) -> String {
    match problem {
        FormatProblem::NeedsKey => format!(
            "the {format} format holds the key; a certificate signed from a CSR has none here"
        ),
        FormatProblem::ThreeFiles => format!("the {format} format is three files"),
    }
}

/// What is wrong with the host CA for `auth encrypt` / `auth decrypt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaKeyProblem {
    /// There is no CA to encrypt.
    NoneToEncrypt,
    /// There is no CA to decrypt.
    NoneToDecrypt,
    /// Its key is encrypted already.
    EncryptedAlready,
    /// Its key is not encrypted.
    NotEncrypted,
}

fn ca_key_problem(problem: CaKeyProblem) -> &'static str {
    match problem {
        CaKeyProblem::NoneToEncrypt => "there is no host CA to encrypt",
        CaKeyProblem::NoneToDecrypt => "there is no host CA to decrypt",
        CaKeyProblem::EncryptedAlready => "the host CA key is encrypted already",
        CaKeyProblem::NotEncrypted => "the host CA key is not encrypted",
    }
}

fn certificate_login_problem(target: &str, have: &[String]) -> String {
    if have.is_empty() {
        format!("certificate login is on and {target} has none: turn certificate login off first")
    } else {
        format!(
            "{target} has no certificate login (tls-auth-clients-user); it exists in {} (and Redis 8.6)",
            have.join(", ")
        )
    }
}

impl Invalid {
    /// An [`Invalid::Malformed`] error for `value` (shortened), of kind `what`.
    pub(crate) fn malformed(
        what: &'static str,
        value: &str,
        want: impl Into<Cow<'static, str>>,
    ) -> super::Error {
        Invalid::Malformed {
            what,
            value: super::shorten(value),
            want: want.into(),
        }
        .into()
    }
}

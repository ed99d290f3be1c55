//! [`ServerError`] and [`StoreError`]: what a live Redis server or the shared store (etcd) did.

/// A live Redis server could not be reached, refused rctl, or answered unexpectedly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The TCP connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The server.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The TLS handshake that reads the served certificate failed.
    #[error("{addr}: {problem}")]
    Handshake {
        /// The server.
        addr: String,
        /// What went wrong (the TLS library's words, shortened).
        problem: String,
    },

    /// The server did not answer within its deadline.
    #[error("{addr}: no answer in time")]
    NoAnswer {
        /// The server.
        addr: String,
    },

    /// The server answered a command with an error (its reply, shortened).
    #[error("{addr}: {reply}{}", hint.map(reply_hint).unwrap_or_default())]
    Reply {
        /// The server.
        addr: String,
        /// Its reply, shortened; never the command sent.
        reply: String,
        /// What the reply suggests.
        hint: Option<ReplyHint>,
    },

    /// The server logged rctl in as an account other than rctl-admin.
    #[error("{addr}: logged in as {account:?}, not \"rctl-admin\"")]
    NotAdmin {
        /// The server.
        addr: String,
        /// The account `ACL WHOAMI` named (shortened).
        account: String,
    },

    /// This host holds no credential to log in to the server with.
    #[error("{addr}: {}", no_credential(*missing))]
    NoCredential {
        /// The server.
        addr: String,
        /// What is missing.
        missing: MissingCredential,
    },

    /// `ACL LIST` gave a line rctl cannot read.
    #[error("ACL LIST gave a line rctl cannot read: {line:?}")]
    AclListLine {
        /// The line (shortened).
        line: String,
    },

    /// The server still serves an old certificate after it was told to reload.
    #[error(
        "{addr}: still presents serial {serving} after CONFIG SET, not {prefix}.crt's {written}"
    )]
    NotReloaded {
        /// The server.
        addr: String,
        /// The serial it serves.
        serving: String,
        /// The certificate prefix.
        prefix: String,
        /// The serial written.
        written: String,
    },

    /// The server's accounts still differ from users.acl after a sync.
    #[error("{addr}: after sync, {first} ({left} difference(s) left)")]
    StillDiffers {
        /// The server.
        addr: String,
        /// The first difference.
        first: String,
        /// How many are left.
        left: usize,
    },

    /// The server presents a certificate that no CA key of the state signed.
    #[error(
        "{addr}: presents a certificate (serial {serial}) no CA key of this state signed; rctl does not log in to it (restart the server to load {prefix}.crt)"
    )]
    ForeignCertificate {
        /// The server.
        addr: String,
        /// Its serial.
        serial: String,
        /// The certificate prefix.
        prefix: String,
    },

    /// The server serves a certificate no client accepts, so it cannot be told to reload.
    #[error(
        "{addr}: serves {when} (serial {serial}), which no client accepts, rctl included, so it cannot be reloaded: restart the server to load {prefix}.crt"
    )]
    Unreloadable {
        /// The server.
        addr: String,
        /// What its certificate is: "a certificate that expired ...".
        when: String,
        /// Its serial.
        serial: String,
        /// The certificate prefix.
        prefix: String,
    },

    /// The server's version cannot load what the state would write for it.
    #[error("{addr}: {reason}; nothing was written for it")]
    VersionRefuses {
        /// The server.
        addr: String,
        /// Why its version refuses.
        reason: String,
    },

    /// A thread to contact a server could not be started, or failed.
    #[error("{}", match source { Some(e) => format!("cannot start a thread: {e}"), None => "internal error: the server's thread failed".to_string() })]
    Thread {
        /// Why it could not start (none: it panicked).
        #[source]
        source: Option<std::io::Error>,
    },
}

/// What a server's error reply suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyHint {
    /// NOPERM: rctl-admin may not run it there.
    NoPermission,
    /// A certificate problem.
    Certificate,
}

fn reply_hint(hint: ReplyHint) -> &'static str {
    match hint {
        ReplyHint::NoPermission => ": rctl-admin may not run that there (is its users.acl rctl's?)",
        ReplyHint::Certificate => " (does the server's certificate chain to this state's CA?)",
    }
}

/// What a host lacks to log in to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingCredential {
    /// A node has no copy of rctl-admin's password yet.
    AdminPassword,
    /// No client certificate: the CA key is locked and the server's own files do not read.
    ClientCertificate,
}

fn no_credential(missing: MissingCredential) -> &'static str {
    match missing {
        MissingCredential::AdminPassword => {
            "this node has no copy of rctl-admin's password yet (the signer seals one to it with its next answer)"
        }
        MissingCredential::ClientCertificate => {
            "no client certificate to log in with: the CA key is locked (no passphrase) and the server's own files do not read"
        }
    }
}

/// A shared state store (etcd) could not be reached or refused a change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// etcd failed: no quorum, no member reachable, TLS refused, a request refused.
    #[error("{location}: {}", shorten_text(&**source))]
    Etcd {
        /// The state (its etcd URL).
        location: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The etcd client could not be started.
    #[error("cannot start the etcd client: {source}")]
    Client {
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The etcd client is still in use by another thread.
    #[error("{location}: the etcd client is still in use")]
    ClientBusy {
        /// The state.
        location: String,
    },

    /// An etcd URL with no member.
    #[error("{location}: no member given")]
    NoMember {
        /// The state.
        location: String,
    },

    /// A value larger than one etcd key holds.
    #[error("{location}{key}: {bytes} bytes is more than one etcd key holds ({limit})")]
    ValueTooLarge {
        /// The state.
        location: String,
        /// The key under the prefix.
        key: String,
        /// Its size.
        bytes: usize,
        /// What a key holds.
        limit: usize,
    },

    /// A change that reads too much to fit in one etcd transaction.
    #[error(
        "{location}: this change read too much of the state to commit it in one etcd transaction"
    )]
    TooManyReads {
        /// The state.
        location: String,
    },

    /// A change to a state opened for reading only.
    #[error("{location} is open for reading only")]
    ReadOnly {
        /// The state.
        location: String,
    },

    /// A user line in the store does not parse.
    #[error("{location}: a user line is invalid: {problem}")]
    UserLine {
        /// The state.
        location: String,
        /// Why.
        problem: String,
    },

    /// A user being added exists already in the store (another admin added it).
    #[error("{location}: a user being added exists")]
    UserExists {
        /// The state.
        location: String,
    },

    /// A signing request id that is queued already.
    #[error("{location}: a signing request {id} exists already")]
    RequestExists {
        /// The state.
        location: String,
        /// The request.
        id: String,
    },

    /// The state holds no host CA.
    #[error("{location}: no host CA")]
    NoCa {
        /// Where the CA would be.
        location: String,
    },

    /// The answers to a node's signing requests could not be read (one failure, every
    /// request's).
    #[error("{source}")]
    Answers {
        /// The failure.
        #[source]
        source: std::sync::Arc<super::Error>,
    },

    /// etcd could not be reached to wait on (its watch failed before).
    #[error("etcd is not reachable")]
    Unreachable,
}

fn shorten_text(e: &(dyn std::error::Error + Send + Sync)) -> String {
    super::shorten(&e.to_string())
}

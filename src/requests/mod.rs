//! Signing requests through a shared (etcd) state: how a node without the CA key gets its
//! certificates, and how the host that has the key signs them. Teleport has an auth server
//! sign for its agents; rctl has no server, so the shared state carries the requests.
//!
//! - A node's `redis sync` finds a certificate due and no CA key to sign it with: it makes the
//!   new private key itself (it never leaves the node), puts a [`SigningRequest`] into the
//!   state's queue (a CSR and the registration it is for) and waits for the answer.
//! - For a renewal, the request also proves possession of the key of the certificate on record
//!   (a second CSR, made with that key, naming the request and the new CSR's digest), as
//!   `step ca renew` authenticates with the certificate being renewed: write access to the
//!   state alone cannot take over a registered name while its certificate is live.
//! - The signer (`StateDir::sign_requests`) signs a request only when it matches its
//!   registration exactly (the node that holds it, the server's names; for a client output,
//!   the user's roles as at its first issue), within the usual lifetimes, and answers every
//!   other with why. Each request is answered once; a request older than [`MAX_AGE`], or one
//!   whose id was answered before, is a replay.
//! - What was signed for each registration is kept in the state ([`Issued`]): the key a
//!   renewal must prove, and which CA key signed it (what a rotation waits for).
//!
//! [`record`] holds the records, [`node`] the node's side, [`judge`] the signer's checks.

pub mod judge;
pub mod node;
pub mod record;
pub mod sealed_box;

pub use record::{Answer, Issued, RequestFor, SigningRequest};

/// A request made longer ago than this is refused as stale (a replay of an old one).
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How long an answer is kept for its node to read (and so how long a replayed id is known).
pub const ANSWER_TTL: std::time::Duration = MAX_AGE;

/// How long a node waits for the signer unless told.
pub const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

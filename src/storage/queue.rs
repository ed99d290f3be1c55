//! The queue of signing requests a shared state carries (see [`crate::requests`]): nodes put
//! requests, the signer answers them. Kept beside the state's records, not in them: a request
//! and its answer are short-lived (each under a lease, gone when it ends), read and written
//! outside the state's transactions, and never part of a snapshot.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Result;

/// The largest request or answer taken from the queue: anything bigger is corrupt.
pub const MAX_RECORD: usize = 64 * 1024;

/// A request waiting in the queue.
#[derive(Clone, Debug)]
pub struct Queued {
    /// Its id (the last part of its key).
    pub id: String,
    /// Where it is kept, for messages (`etcd://…/P/q/ID`).
    pub location: String,
    /// Its value, as stored (at most [`MAX_RECORD`], else `Err` with why).
    pub value: std::result::Result<Vec<u8>, String>,
    /// Its revision: answering it succeeds only while it is still this one.
    pub revision: i64,
}

/// Where signing requests and answers are kept.
pub trait RequestQueue: Send + Sync {
    /// Puts request `id`; it disappears after `ttl` unless answered. Refused if `id` exists.
    fn submit(&self, id: &str, request: &[u8], ttl: Duration) -> Result<()>;
    /// The answers to `ids` given within `wait`, by id (the ones not answered in time are
    /// missing). Each answer's value is at most [`MAX_RECORD`] bytes, else `Err` with why.
    fn answers(
        &self,
        ids: &[String],
        wait: Duration,
    ) -> Result<BTreeMap<String, std::result::Result<Vec<u8>, String>>>;
    /// The `max` oldest waiting requests (by when they were put), and the revision they were
    /// read at. Each is read on its own, so that no size of the queue or of its records
    /// makes a read too large.
    fn pending(&self, max: usize) -> Result<(Vec<Queued>, i64)>;
    /// Answers requests: for each `(id, revision, answer)`, in one step, deletes the request if
    /// it is still at `revision` and keeps `answer` for `ttl`. For each, false (nothing done)
    /// when it was gone or changed.
    fn answer(&self, answers: &[(String, i64, Vec<u8>)], ttl: Duration) -> Result<Vec<bool>>;
    /// Takes back request `id`, answered or not (its node stopped waiting).
    fn withdraw(&self, id: &str) -> Result<()>;
    /// The ids whose answer is still kept (a request seen again is a replay), in one read.
    fn answered(&self) -> Result<std::collections::BTreeSet<String>>;
    /// Returns once a request is put after `revision`, or after `wait`.
    fn wait_for_requests(&self, revision: i64, wait: Duration) -> Result<()>;
}

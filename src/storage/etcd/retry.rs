//! etcd's transient failures, ridden out: while a cluster elects a leader (a member killed, a
//! network blip), every member answers `no leader`, `leader changed` or times out for a second
//! or two. A read is retried with backoff within [`RETRY_FOR`]; a write only where a retry
//! cannot apply it twice: when etcd said it was not applied (`no leader`, `too many
//! requests`), or when the caller can tell afterwards whether it was (see `commit`).

use std::time::{Duration, Instant};

/// How long one call keeps trying.
pub(super) const RETRY_FOR: Duration = Duration::from_secs(10);

/// What a failure says of the request that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// etcd refused it before it was proposed: not applied.
    NotApplied,
    /// It may or may not have been applied (a timeout, a broken connection, a leader change).
    Unknown,
    /// Not transient: a retry would fail the same way.
    Final,
}

/// What `e` says of the request that failed.
pub(super) fn failure(e: &etcd_client::Error) -> Failure {
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            // The client could not reach the member at all: asking it again does not help
            // (another member is tried where several are given).
            if message.contains("connect error") || message.contains("Connection refused") {
                return Failure::Final;
            }
            // gRPC's Unavailable (14) and DeadlineExceeded (4); etcd's own words for the rest.
            let code = status.code() as i32;
            if message.contains("no leader") || message.contains("too many requests") {
                Failure::NotApplied
            } else if code == 14
                || code == 4
                || message.contains("leader changed")
                || message.contains("timed out")
                || message.contains("not capable")
            {
                Failure::Unknown
            } else {
                Failure::Final
            }
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => Failure::Unknown,
        _ => Failure::Final,
    }
}

/// Backoff from 50 ms, doubling to 1 s, until [`RETRY_FOR`] has passed.
pub(super) struct Backoff {
    end: Instant,
    pause: Duration,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff {
            end: Instant::now() + RETRY_FOR,
            pause: Duration::from_millis(50),
        }
    }

    /// Waits before the next try; false when the time is up.
    pub(super) fn wait(&mut self) -> bool {
        if Instant::now() + self.pause > self.end {
            return false;
        }
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Duration::from_secs(1));
        true
    }
}

/// `call` until it succeeds, fails for good, or the time is up; a failure whose request may
/// have been applied is retried only when `idempotent`.
pub(super) fn retried<T, F, Fut>(
    runtime: &tokio::runtime::Runtime,
    idempotent: bool,
    mut call: F,
) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut backoff = Backoff::new();
    loop {
        match runtime.block_on(call()) {
            Err(e) => {
                let again = match failure(&e) {
                    Failure::NotApplied => true,
                    Failure::Unknown => idempotent,
                    Failure::Final => false,
                };
                if !again || !backoff.wait() {
                    return Err(e);
                }
            }
            done => return done,
        }
    }
}

//! `rctl auth sign-requests`: the signer's side of the nodes' signing requests.

use std::time::Duration;

use crate::cli::error::CliError;
use crate::cli::error::Result;

use super::auth_args::SignRequestsArgs;
use super::{Context, with_state, with_state_read};

/// How long one watch waits before the queue is read again anyway (a request whose put the
/// watch missed, say while etcd changed leader, is signed then).
const REREAD: Duration = Duration::from_secs(30);

pub(super) fn auth_sign_requests(ctx: &Context, args: SignRequestsArgs) -> Result<()> {
    if !args.watch {
        let done = with_state(ctx, |state| state.requests().sign_pending())?;
        let refused = show(&done)?;
        if refused > 0 {
            return Err(CliError::RequestsRefused {
                refused,
                of: done.outcomes.len(),
            });
        }
        if done.outcomes.is_empty() {
            errln!("note: no signing request is pending");
        }
        return Ok(());
    }
    let mut queue = Some(with_state_read(ctx, |state| state.requests().queue())?);
    loop {
        // A failure (etcd unreachable a moment, a conflict beyond retries) is said and the
        // watch goes on: a signer stops only when it is stopped.
        let revision = match with_state(ctx, |state| state.requests().sign_pending()) {
            Ok(done) if done.more => {
                // A burst larger than one call takes: on at once, no wait.
                show(&done)?;
                continue;
            }
            Ok(done) => {
                show(&done)?;
                Some(done.revision)
            }
            Err(e) => {
                errln!("error: {}", super::error::message(&e));
                None
            }
        };
        // The watch's member may be the one that failed: a new connection after a failure.
        if queue.is_none() {
            queue = with_state_read(ctx, |state| state.requests().queue()).ok();
        }
        let waited = match (&queue, revision) {
            (Some(queue), Some(revision)) => queue.wait_for_requests(revision, REREAD),
            _ => Err(rctl::StoreError::Unreachable.into()),
        };
        if let Err(e) = waited {
            if revision.is_some() {
                errln!("error: {}", super::error::lib_message(&e));
            }
            queue = None;
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// One line per request; how many were refused.
fn show(done: &rctl::SignedRequests) -> Result<usize> {
    let mut refused = 0;
    for outcome in &done.outcomes {
        let about = match (&outcome.subject, &outcome.node) {
            (Some(subject), Some(node)) => format!("{subject} from node {node}"),
            _ => "an unreadable request".to_string(),
        };
        let gone = if outcome.delivered {
            ""
        } else {
            " (the request was gone before the answer: its node stopped waiting)"
        };
        let line = match &outcome.outcome {
            Ok(serial) => format!("signed {}: {about}, serial {serial}{gone}", outcome.id),
            Err(reason) => {
                refused += 1;
                format!("refused {}: {about}: {reason}{gone}", outcome.id)
            }
        };
        outln!("{}", super::error::one_line(line))?;
    }
    Ok(refused)
}

//! One node's round of signing requests in a sync: a request for each certificate due that
//! this node holds, all put at once, their answers awaited together, each answer checked.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::clients::output::ClientOutput;
use crate::error::{Error, Result};
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::HostCa;
use crate::servers::registered::RegisteredServer;
use crate::state::queue::RequestQueue;

use super::node::NodeRequest;
use super::record::{Answer, RequestFor};

/// A certificate due on this node: what for, why, and the request made for it.
struct Due {
    why: String,
    request: Result<NodeRequest>,
}

/// The outcome of each request, by what it was for.
pub(crate) type Signed = BTreeMap<RequestFor, Result<RedisBundle>>;

/// The servers and client outputs whose renewal is due (with why), held by a node: a request
/// for each, made with a new key and a proof made with the current one, put into `queue`, and
/// answered within `wait`; each answer checked against `ca` ([`NodeRequest::accept`]).
pub(crate) fn request_renewals(
    queue: &dyn RequestQueue,
    servers: Vec<(&RegisteredServer, String)>,
    clients: Vec<(&ClientOutput, String)>,
    ca: &HostCa,
    wait: Duration,
    now: OffsetDateTime,
) -> Signed {
    let algorithm = ca.active().algorithm();
    let mut due: BTreeMap<RequestFor, Due> = BTreeMap::new();
    for (server, why) in servers {
        let Some(node) = &server.node else { continue };
        let [_, key, _] = RedisBundle::paths(&server.cert_prefix);
        let current = read_key(&key);
        let request = NodeRequest::new(
            RequestFor::Server(server.name.clone()),
            node,
            server.key_algorithm.unwrap_or(algorithm),
            &server.hosts,
            current.as_deref().map(String::as_str),
            now,
        );
        due.insert(
            RequestFor::Server(server.name.clone()),
            Due { why, request },
        );
    }
    for (client, why) in clients {
        let Some(node) = &client.node else { continue };
        let current = client
            .bundle_format()
            .ok()
            .and_then(|f| f.read_back(&client.out).ok())
            .and_then(|files| files.key_pem);
        let request = NodeRequest::new(
            RequestFor::Client(client.name.clone()),
            node,
            algorithm,
            &[],
            current.as_deref().map(String::as_str),
            now,
        );
        due.insert(
            RequestFor::Client(client.name.clone()),
            Due { why, request },
        );
    }
    // A proof cannot be made with a key that does not read: the request goes without one,
    // and the signer says whether it needs one.
    let ttl = wait + Duration::from_secs(5);
    let mut ids = Vec::new();
    for item in due.values_mut() {
        if let Ok(request) = &item.request {
            let put = request
                .request
                .to_json()
                .and_then(|json| queue.submit(&request.request.id, &json, ttl));
            match put {
                Ok(()) => ids.push(request.request.id.clone()),
                Err(e) => item.request = Err(e),
            }
        }
    }
    let answers = queue.answers(&ids, wait);
    // A request not answered in time is taken back: its key is gone with this process, so a
    // certificate signed for it later would be of no use to anyone.
    for id in &ids {
        if !answers.as_ref().is_ok_and(|a| a.contains_key(id)) {
            let _ = queue.withdraw(id);
        }
    }
    due.into_iter()
        .map(|(subject, item)| {
            let outcome = item.request.and_then(|request| {
                let id = request.request.id.clone();
                let answer = match &answers {
                    Err(e) => return Err(Error::Store(e.to_string())),
                    Ok(answers) => answers.get(&id),
                };
                match answer {
                    None => Err(Error::SigningPending {
                        why: item.why,
                        id,
                        waited: wait,
                    }),
                    Some(Err(why)) => Err(Error::SigningRefused {
                        id,
                        reason: format!("its answer is corrupt: {why}"),
                    }),
                    Some(Ok(data)) => {
                        let answer =
                            Answer::from_json(data).map_err(|reason| Error::SigningRefused {
                                id: id.clone(),
                                reason,
                            })?;
                        request.accept(answer, ca, OffsetDateTime::now_utc())
                    }
                }
            });
            (subject, outcome)
        })
        .collect()
}

/// The signing requests of a node without the CA key: one for each selected server and client
/// output whose certificate is due (see [`request_renewals`]).
pub(crate) fn request_due(
    queue: &dyn crate::state::queue::RequestQueue,
    servers: &[RegisteredServer],
    clients: &[ClientOutput],
    acl_text: Option<&str>,
    ca: &HostCa,
    options: &crate::servers::live::SyncOptions,
) -> Signed {
    let now = time::OffsetDateTime::now_utc();
    let due_servers = servers
        .iter()
        .filter_map(|server| {
            let plan = crate::servers::live::files::plan_files(
                server,
                ca,
                acl_text,
                options.renew_within,
                now,
            );
            plan.renew.map(|why| (server, why.to_string()))
        })
        .collect();
    let due_clients = clients
        .iter()
        .filter_map(|client| {
            let plan = crate::clients::renewal::plan_client(client, ca, options.renew_within, now);
            plan.renew.map(|why| (client, why.to_string()))
        })
        .collect();
    request_renewals(queue, due_servers, due_clients, ca, options.wait, now)
}

/// A key file's PEM, if it is a regular file that reads.
fn read_key(path: &std::path::Path) -> Option<zeroize::Zeroizing<String>> {
    let data = crate::output::read::read_regular(path, crate::output::read::PEM_LIMIT).ok()?;
    String::from_utf8(data).ok().map(zeroize::Zeroizing::new)
}

//! One node's round of signing requests in a sync: a request for each certificate due that
//! this node holds, all put at once, their answers awaited together, each answer checked.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::clients::output::ClientOutput;
use crate::error::{Error, Result, StoreError};
use crate::pki::bundle::RedisBundle;
use crate::pki::ca::HostCa;
use crate::servers::registered::RegisteredServer;
use crate::storage::queue::RequestQueue;

use crate::requests::node::NodeRequest;
use crate::requests::record::{Answer, RequestFor};

/// A certificate due on this node: what for, why, and the request made for it.
struct Due {
    why: String,
    request: Result<NodeRequest>,
}

/// Where a node's requests go (the state's queue) and the CA its answers are checked against.
#[derive(Clone, Copy)]
pub(crate) struct Signer<'a> {
    pub queue: &'a dyn RequestQueue,
    pub ca: &'a HostCa,
}

/// The outcome of each request, by what it was for.
pub(crate) type Signed = BTreeMap<RequestFor, Result<RedisBundle>>;

/// The servers and client outputs whose renewal is due (with why), held by a node: a request
/// for each, made with a new key and a proof made with the current one, put into the signer's
/// queue, and answered within `wait`; each answer checked against its CA
/// ([`NodeRequest::accept`]).
/// With `login`, the first server's request also asks for rctl-admin's password; the password
/// answered comes back beside the outcomes.
pub(crate) fn request_renewals(
    signer: Signer<'_>,
    servers: Vec<(&RegisteredServer, String)>,
    clients: Vec<(&ClientOutput, String)>,
    wait: Duration,
    login: bool,
    now: OffsetDateTime,
) -> (Signed, Option<crate::accounts::users::Password>) {
    let Signer { queue, ca } = signer;
    let mut due = make_requests(ca, servers, clients, login, now);
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
    // One failure to read the answers is every request's: shared, its cause kept.
    let answers = queue.answers(&ids, wait).map_err(std::sync::Arc::new);
    // A request not answered in time is taken back: its key is gone with this process, so a
    // certificate signed for it later would be of no use to anyone.
    for id in &ids {
        if !answers.as_ref().is_ok_and(|a| a.contains_key(id)) {
            let _ = queue.withdraw(id);
        }
    }
    let mut password = None;
    let signed = due
        .into_iter()
        .map(|(subject, item)| {
            let outcome = item
                .request
                .and_then(|request| accept(request, item.why, &answers, ca, wait))
                .map(|(bundle, login)| {
                    password = password.take().or(login);
                    bundle
                });
            (subject, outcome)
        })
        .collect();
    (signed, password)
}

/// A request for each due server and client output held by a node, with a new key and a
/// proof made with the current one; with `login`, the first server's also asks for
/// rctl-admin's password.
fn make_requests(
    ca: &HostCa,
    servers: Vec<(&RegisteredServer, String)>,
    clients: Vec<(&ClientOutput, String)>,
    login: bool,
    now: OffsetDateTime,
) -> BTreeMap<RequestFor, Due> {
    let algorithm = ca.active().algorithm();
    let mut due: BTreeMap<RequestFor, Due> = BTreeMap::new();
    let mut ask_login = login;
    for (server, why) in servers {
        let Some(node) = &server.node else { continue };
        let [_, key, _] = RedisBundle::paths(&server.cert_prefix);
        let current = crate::output::read::read_text(&key, crate::output::read::PEM_LIMIT);
        let request = NodeRequest::new(
            crate::requests::node::Asked {
                subject: RequestFor::Server(server.name.clone()),
                node,
                algorithm: server.key_algorithm.unwrap_or(algorithm),
                hosts: &server.hosts,
            },
            current.as_deref().map(String::as_str),
            std::mem::take(&mut ask_login),
            now,
        );
        due.insert(
            RequestFor::Server(server.name.clone()),
            Due { why, request },
        );
    }
    for (client, why) in clients {
        let Some(node) = &client.node else { continue };
        let current = client.read_back().ok().and_then(|files| files.key_pem);
        let request = NodeRequest::new(
            crate::requests::node::Asked {
                subject: RequestFor::Client(client.name.clone()),
                node,
                algorithm,
                hosts: &[],
            },
            current.as_deref().map(String::as_str),
            false,
            now,
        );
        due.insert(
            RequestFor::Client(client.name.clone()),
            Due { why, request },
        );
    }
    due
}

/// The answers to a node's requests by id (each a bundle or why not), or the one failure to
/// read them, shared by every request.
type Answers =
    Result<BTreeMap<String, std::result::Result<Vec<u8>, String>>, std::sync::Arc<Error>>;

/// The answer to one request, checked: none within `wait` (pending), corrupt or refused, or
/// the bundle (and rctl-admin's password when asked for and answered).
fn accept(
    request: NodeRequest,
    why: String,
    answers: &Answers,
    ca: &HostCa,
    wait: Duration,
) -> Result<(RedisBundle, Option<crate::accounts::users::Password>)> {
    let id = request.request.id.clone();
    let answer = match answers {
        Err(e) => {
            return Err(StoreError::Answers {
                source: std::sync::Arc::clone(e),
            }
            .into());
        }
        Ok(answers) => answers.get(&id),
    };
    match answer {
        None => Err(Error::SigningPending {
            why,
            id,
            waited: wait,
        }),
        Some(Err(why)) => Err(Error::SigningRefused {
            id,
            reason: format!("its answer is corrupt: {why}"),
        }),
        Some(Ok(data)) => {
            let answer = Answer::from_json(data).map_err(|reason| Error::SigningRefused {
                id: id.clone(),
                reason,
            })?;
            request.accept(answer, ca, OffsetDateTime::now_utc())
        }
    }
}

/// The signing requests of a node without the CA key: one for each selected server and client
/// output whose certificate is due (see [`request_renewals`]). When the node has no copy of
/// rctl-admin's password (`password_hash` is the state's), one server's request also asks for
/// it (that server's certificate renewed for the purpose when none is due), and the copy is
/// written beside each selected server's key (`PREFIX.admin`, mode 0600).
pub(crate) fn request_due(
    signer: Signer<'_>,
    servers: &[RegisteredServer],
    clients: &[ClientOutput],
    wanted: Option<&crate::servers::live::Wanted>,
    password_hash: Option<&crate::accounts::users::PasswordHash>,
    options: &crate::servers::live::SyncOptions,
) -> Signed {
    let ca = signer.ca;
    use crate::servers::live::{node_password, node_password_path};
    let now = time::OffsetDateTime::now_utc();
    let mine: Vec<&RegisteredServer> = servers
        .iter()
        .filter(|s| s.node.is_some() && !s.sentinel)
        .collect();
    let known =
        password_hash.and_then(|hash| mine.iter().find_map(|server| node_password(server, hash)));
    let mut due_servers: Vec<(&RegisteredServer, String)> = servers
        .iter()
        .filter_map(|server| {
            let plan = crate::servers::live::files::plan_files(
                server,
                ca,
                wanted.map(|w| w.for_server(server).acl_text.as_str()),
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
    let login = password_hash.is_some() && known.is_none() && !mine.is_empty();
    if login && !due_servers.iter().any(|(s, _)| s.node.is_some()) {
        due_servers.insert(
            0,
            (
                mine[0],
                "this node has no copy of rctl-admin's password".to_string(),
            ),
        );
    }
    let (signed, answered) =
        request_renewals(signer, due_servers, due_clients, options.wait, login, now);
    // A password answered is kept only if it is the one the state holds the hash of: a
    // planted answer cannot make this node log in with a password of someone else's choosing.
    let answered = answered.filter(|p| password_hash.is_some_and(|hash| p.hash() == *hash));
    // The copy beside each of this node's servers' keys: a server added later finds it there.
    if let Some(password) = answered.or(known) {
        for server in &mine {
            let path = node_password_path(server);
            if password_hash.is_some_and(|hash| node_password(server, hash).is_none()) {
                let _ = crate::output::atomic::write_atomic_owned(
                    &path,
                    password.expose().as_bytes(),
                    crate::output::atomic::Visibility::Secret,
                    true,
                    None,
                );
            }
        }
    }
    signed
}

//! The signer's side of signing requests (see [`crate::requests`]): every pending request
//! judged against its registration, the accepted ones signed with one unlocked CA, audited in
//! one change, then each answered.

use crate::accounts::names::NodeName;
use crate::error::Result;
use crate::pki::hosts::Host;
use crate::requests::judge::check_request;
use crate::requests::{ANSWER_TTL, Answer, Issued, RequestFor, SigningRequest};
use crate::state::audit::AuditEvent;
use crate::state::queue::{Queued, RequestQueue};

use super::StateDir;

/// What the signer did with one request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestOutcome {
    /// The request's id.
    pub id: String,
    /// The node that made it, when it could be read.
    pub node: Option<NodeName>,
    /// What it was for, when it could be read.
    pub subject: Option<RequestFor>,
    /// The serial signed, or why it was refused.
    pub outcome: std::result::Result<String, String>,
    /// False when the request was gone before it could be answered (its node stopped
    /// waiting, or another signer answered it).
    pub delivered: bool,
}

/// What one pass over the queue did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SignedRequests {
    /// Each request seen, in the queue's order.
    pub outcomes: Vec<RequestOutcome>,
    /// The queue's revision when it was read: a watch for more starts after it.
    pub revision: i64,
}

/// A request that passed every check: what to sign.
struct Accepted {
    queued: Queued,
    request: SigningRequest,
    what: Signing,
    /// The rctl user a client certificate is for, for the audit record.
    user: Option<String>,
}

/// What every request of one pass is judged against.
struct Known {
    answered: std::collections::BTreeSet<String>,
    servers: Vec<crate::RegisteredServer>,
    clients: Vec<crate::ClientOutput>,
}

enum Signing {
    Server { hosts: Vec<Host>, ttl: crate::Ttl },
    Client(crate::pki::leaf::ClientCertRequest),
}

impl StateDir {
    /// What was issued last for `subject`, if it is on record.
    pub fn issued(&self, subject: &RequestFor) -> Result<Option<Issued>> {
        self.load(&Issued::blob_name(subject), |data| {
            serde_norway::from_slice(data).map_err(|e| e.to_string())
        })
    }

    /// The state's signing-request queue (a shared state's; refused on a directory).
    pub fn request_queue(&self) -> Result<Box<dyn RequestQueue>> {
        self.store().request_queue()
    }

    /// Signs every pending request that matches its registration exactly and refuses every
    /// other (see [`crate::requests`]). Signed and refused alike are audited; the certificates
    /// and the records of what was issued are saved in one change, and only then is each
    /// request answered. Nothing is answered when that change fails.
    pub fn sign_requests(&mut self) -> Result<SignedRequests> {
        let queue = self.request_queue()?;
        // A password an earlier rctl kept in clear in etcd is sealed by the first signer.
        self.seal_admin_password()?;
        let (pending, revision) = queue.pending()?;
        let mut done = SignedRequests {
            outcomes: Vec::new(),
            revision,
        };
        if pending.is_empty() {
            return Ok(done);
        }
        // Read once for every request: the answers kept, the registrations.
        let known = Known {
            answered: queue.answered()?,
            servers: self.servers()?,
            clients: self.clients()?,
        };
        let mut accepted = Vec::new();
        let mut refused: Vec<(Queued, Option<SigningRequest>, String)> = Vec::new();
        for queued in pending {
            let request = queued
                .value
                .clone()
                .and_then(|data| SigningRequest::from_json(&data, &queued.id));
            match request {
                Err(why) => {
                    let why = format!("{} is corrupt: {why}", queued.location);
                    refused.push((queued, None, why));
                }
                Ok(request) => match self.judge(&request, &known) {
                    Ok((what, user)) => accepted.push(Accepted {
                        queued,
                        request,
                        what,
                        user,
                    }),
                    Err(why) => refused.push((queued, Some(request), why)),
                },
            }
        }
        let mut events = Vec::new();
        // Each answer with its outcome: the serial signed, or why not.
        type Outcome = std::result::Result<String, String>;
        let mut answers: Vec<(Queued, Option<SigningRequest>, Answer, Outcome)> = Vec::new();
        let signer = if accepted.is_empty() {
            None
        } else {
            Some(self.load_ca_unlocked()?)
        };
        if let Some((ca, _)) = &signer {
            let now = self.now();
            for item in accepted {
                let Accepted {
                    queued,
                    request,
                    what,
                    user,
                } = item;
                let signed =
                    crate::pki::csr::parse_any_csr(&request.csr).and_then(|(csr, _)| match &what {
                        Signing::Server { hosts, ttl } => {
                            ca.sign_server_for_key(hosts, &csr.spki_der, csr.rsa, *ttl, now)
                        }
                        Signing::Client(req) => {
                            ca.sign_client_for_key(req, &csr.spki_der, csr.rsa, now)
                        }
                    });
                let bundle = match signed {
                    Ok(bundle) => bundle,
                    Err(e) => {
                        refused.push((queued, Some(request), e.to_string()));
                        continue;
                    }
                };
                let mut event = AuditEvent::issued(bundle.issued(), user.as_deref());
                event.command = format!(
                    "request {} for {} from node {}",
                    request.id, request.subject, request.node
                );
                events.push(event);
                // rctl-admin's password, to a node that asked with a request as good as this
                // one: its names, its node, and its proof of the key on record.
                let admin_password = match &request.login_key {
                    None => None,
                    Some(key) => match self.admin_password()? {
                        Some(password) => Some(crate::requests::sealed_box::seal_to(
                            key,
                            password.expose().as_bytes(),
                        )?),
                        None => None,
                    },
                };
                if admin_password.is_some() {
                    events.push(AuditEvent::about(
                        "user.login_sealed",
                        &format!(
                            "rctl-admin for node {} (request {})",
                            request.node, request.id
                        ),
                    ));
                }
                let answer = Answer::Signed {
                    certificate: bundle.certificate_pem().to_string(),
                    admin_password,
                };
                let serial = bundle.issued().serial.clone();
                answers.push((queued, Some(request), answer, Ok(serial)));
            }
        }
        for (queued, request, reason) in refused {
            let about = match &request {
                Some(r) => format!("{} {} from node {}: {reason}", r.id, r.subject, r.node),
                None => format!("{}: {reason}", queued.id),
            };
            events.push(AuditEvent::about("request.refuse", &about));
            let answer = Answer::Refused {
                reason: reason.clone(),
            };
            answers.push((queued, request, answer, Err(reason)));
        }
        // What was issued is recorded by the node that installs it (the key a renewal must
        // prove is the one on that node): a certificate its node never received (it stopped
        // waiting) is no anchor.
        match signer {
            Some((ca, pending)) => {
                self.commit_ca(&ca, pending, false, events, || Ok(()))?;
            }
            None => self.audited(&events, || Ok(()))?,
        }
        for (queued, request, answer, outcome) in answers {
            let delivered =
                queue.answer(&queued.id, queued.revision, &answer.to_json()?, ANSWER_TTL)?;
            done.outcomes.push(RequestOutcome {
                id: queued.id,
                node: request.as_ref().map(|r| r.node.clone()),
                subject: request.map(|r| r.subject),
                outcome,
                delivered,
            });
        }
        Ok(done)
    }

    /// A request against its registration: what to sign, or why not.
    fn judge(
        &self,
        request: &SigningRequest,
        known: &Known,
    ) -> std::result::Result<(Signing, Option<String>), String> {
        let text = |e: crate::Error| e.to_string();
        if known.answered.contains(&request.id) {
            return Err("its id was answered before: a replayed request".to_string());
        }
        let on_record = self.issued(&request.subject).map_err(text)?;
        let now = self.now();
        let from_node = |held_by: &Option<NodeName>| match held_by {
            Some(node) if node == &request.node => Ok(()),
            Some(node) => Err(format!(
                "{} is held by node {node}, not by node {}",
                request.subject, request.node
            )),
            None => Err(format!(
                "{} is registered without a node: its files are written where it was registered",
                request.subject
            )),
        };
        match &request.subject {
            RequestFor::Server(name) => {
                let server = known
                    .servers
                    .iter()
                    .find(|s| &s.name == name)
                    .ok_or_else(|| format!("no server {name:?} is registered"))?;
                from_node(&server.node)?;
                check_request(request, on_record.as_ref(), Some(&server.hosts), now)?;
                let ttl = server
                    .ttl
                    .or_else(|| on_record.as_ref().and_then(Issued::lifetime));
                let ttl = crate::pki::leaf::leaf_ttl(ttl, None).map_err(text)?;
                Ok((
                    Signing::Server {
                        hosts: server.hosts.clone(),
                        ttl,
                    },
                    None,
                ))
            }
            RequestFor::Client(name) => {
                let client = known
                    .clients
                    .iter()
                    .find(|c| &c.name == name)
                    .ok_or_else(|| format!("no client output {name:?} is registered"))?;
                from_node(&client.node)?;
                check_request(request, on_record.as_ref(), None, now)?;
                let mut login = self.client_login(client);
                if login.ttl.is_none() {
                    login.ttl = on_record.as_ref().and_then(Issued::lifetime);
                }
                // The user's roles, as at the output's first issue.
                let req = self.client_request(&login).map_err(text)?;
                Ok((Signing::Client(req), Some(client.user.to_string())))
            }
        }
    }
}

//! The signer's side of signing requests (see [`crate::requests`]): every pending request
//! judged against its registration, the accepted ones signed with one unlocked CA, audited in
//! one change, then each answered.

use crate::accounts::names::NodeName;
use crate::error::Result;
use crate::pki::hosts::Host;
use crate::requests::judge::check_request;
use crate::requests::{ANSWER_TTL, Answer, Issued, RequestFor, SigningRequest};
use crate::state::audit::AuditEvent;
use crate::storage::queue::{Queued, RequestQueue};

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
    /// True when requests were left for the next call (it took `MAX_PAGES` (64) full pages).
    pub more: bool,
}

/// The most requests one page takes: its audit records and its transaction's comparisons (one
/// record on issue per request) stay well within etcd's limits.
pub const PAGE: usize = 64;

/// The most pages one [`StateDir::sign_requests`] takes (a watching signer comes back at once).
pub const MAX_PAGES: usize = 64;

/// The most requests of one node signed in one call: a node asks for its own registrations,
/// one request each.
pub const PER_NODE: usize = 64;

/// What one call has signed so far, against which each request is also judged: one request per
/// registration and at most `PER_NODE` (64) per node (a flood of requests from one node, or for
/// one name, costs one signature each, and no more).
#[derive(Default)]
struct Budget {
    subjects: std::collections::BTreeSet<RequestFor>,
    per_node: std::collections::BTreeMap<NodeName, usize>,
    /// The ids whose answer is kept (a request seen again is a replay): read once per call,
    /// and each id answered in it added.
    answered: std::collections::BTreeSet<String>,
}

impl Budget {
    /// Refuses a request whose id was answered before.
    fn replayed(&self, request: &SigningRequest) -> std::result::Result<(), String> {
        if self.answered.contains(&request.id) {
            return Err("its id was answered before: a replayed request".to_string());
        }
        Ok(())
    }

    /// Takes `request`'s place in the budget, or says why there is none.
    fn take(&mut self, request: &SigningRequest) -> std::result::Result<(), String> {
        if self.subjects.contains(&request.subject) {
            return Err(format!(
                "another request for {} was judged in this pass (one per registration)",
                request.subject
            ));
        }
        let count = self.per_node.entry(request.node.clone()).or_default();
        if *count >= PER_NODE {
            return Err(format!(
                "node {} has more than {PER_NODE} requests in this pass",
                request.node
            ));
        }
        *count += 1;
        self.subjects.insert(request.subject.clone());
        Ok(())
    }
}

/// A request refused before signing: what it was (if it could be read), and why.
type Refused = (Queued, Option<SigningRequest>, String);

/// A request's answer, ready to be delivered, with what the signer says of it.
struct Answered {
    queued: Queued,
    request: Option<SigningRequest>,
    answer: Answer,
    outcome: std::result::Result<String, String>,
}

impl Answered {
    fn new(
        queued: Queued,
        request: Option<SigningRequest>,
        answer: Answer,
        outcome: std::result::Result<String, String>,
    ) -> Answered {
        Answered {
            queued,
            request,
            answer,
            outcome,
        }
    }

    fn outcome(self, delivered: bool) -> RequestOutcome {
        RequestOutcome {
            id: self.queued.id,
            node: self.request.as_ref().map(|r| r.node.clone()),
            subject: self.request.map(|r| r.subject),
            outcome: self.outcome,
            delivered,
        }
    }
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
#[derive(Default)]
struct Known {
    locks: crate::accounts::locks::InForce,
    servers: Vec<crate::servers::registered::RegisteredServer>,
    clients: Vec<crate::clients::output::ClientOutput>,
}

enum Signing {
    Server {
        hosts: Vec<Host>,
        ttl: crate::duration::Ttl,
    },
    Client(crate::pki::leaf::ClientCertRequest),
}

impl StateDir {
    /// What was issued last for `subject`, if it is on record.
    pub(crate) fn issued(&self, subject: &RequestFor) -> Result<Option<Issued>> {
        self.load(&Issued::blob_name(subject), |data| {
            crate::output::yaml::from_slice(data)
        })
    }

    /// The state's signing-request queue (a shared state's; refused on a directory).
    pub(crate) fn request_queue(&self) -> Result<Box<dyn RequestQueue>> {
        self.store().request_queue()
    }

    /// Signs every pending request that matches its registration exactly and refuses every
    /// other (see [`crate::requests`]), oldest first, in pages of `PAGE` (64) requests: each
    /// page's certificates and audit records (signed and refused alike) are saved in one
    /// change, and only then is each of its requests answered; nothing of a page is answered
    /// when its change fails. A request that cannot be read or judged is refused alone, named
    /// by its key. One call takes at most `MAX_PAGES` (64) pages; what is left waits for the next.
    pub(crate) fn sign_requests(&mut self) -> Result<SignedRequests> {
        let queue = self.request_queue()?;
        // A password an earlier rctl kept in clear in etcd is sealed by the first signer.
        self.seal_admin_password()?;
        let mut done = SignedRequests::default();
        let mut budget = Budget {
            answered: queue.answered()?,
            ..Budget::default()
        };
        for _ in 0..MAX_PAGES {
            let (page, revision) = queue.pending(PAGE)?;
            done.revision = revision;
            let full = page.len() == PAGE;
            done.more = full;
            if page.is_empty() {
                break;
            }
            let answers = self.sign_page(page, &mut budget)?;
            let payloads = answers
                .iter()
                .map(|a| Ok((a.queued.id.clone(), a.queued.revision, a.answer.to_json()?)))
                .collect::<Result<Vec<_>>>()?;
            let delivered = queue.answer(&payloads, ANSWER_TTL)?;
            budget
                .answered
                .extend(payloads.into_iter().map(|(id, _, _)| id));
            for (answer, delivered) in answers.into_iter().zip(delivered) {
                done.outcomes.push(answer.outcome(delivered));
            }
            if !full {
                break;
            }
        }
        Ok(done)
    }

    /// One page: every request judged, the accepted signed, all audited in one change.
    fn sign_page(&mut self, page: Vec<Queued>, budget: &mut Budget) -> Result<Vec<Answered>> {
        // Read once for the page: the registrations (the answers kept are read once a call).
        // The page's registrations and the records of what was issued for them, read ahead in
        // one round trip (not the whole fleet's registrations for each page).
        let subjects: Vec<RequestFor> = page
            .iter()
            .filter_map(|q| SigningRequest::from_json(q.value.as_ref().ok()?, &q.id).ok())
            .map(|request| request.subject)
            .collect();
        let mut blobs = Vec::new();
        for subject in &subjects {
            blobs.push(Issued::blob_name(subject));
            blobs.push(match subject {
                RequestFor::Server(name) => super::servers::server_blob(name.as_str()),
                RequestFor::Client(name) => super::clients::client_blob(name.as_str()),
            });
        }
        self.store().prefetch(&blobs)?;
        let mut known = Known {
            locks: self.locks_in_force()?,
            ..Known::default()
        };
        for subject in &subjects {
            match subject {
                RequestFor::Server(name) => known.servers.extend(self.find_server(name)?),
                RequestFor::Client(name) => known.clients.extend(self.client(name)?),
            }
        }
        // Answered and reported in the queue's order (oldest first), signed or not.
        let order: std::collections::HashMap<String, usize> = page
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id.clone(), i))
            .collect();
        let (accepted, mut refused) = self.judge_page(page, &known, budget);
        let mut events = Vec::new();
        let mut answers = Vec::new();
        let signer = if accepted.is_empty() {
            None
        } else {
            Some(self.load_ca_unlocked()?)
        };
        if let Some((ca, _)) = &signer {
            let admin_password = self.admin_password()?;
            for item in accepted {
                match self.sign_one(ca, &item, admin_password.as_ref()) {
                    Ok((answer, serial, mut audit)) => {
                        events.append(&mut audit);
                        answers.push(Answered::new(
                            item.queued,
                            Some(item.request),
                            answer,
                            Ok(serial),
                        ));
                    }
                    Err(why) => refused.push((item.queued, Some(item.request), why)),
                }
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
            answers.push(Answered::new(queued, request, answer, Err(reason)));
        }
        // What was issued is recorded by the node that installs it (the key a renewal must
        // prove is the one on that node): a certificate its node never received (it stopped
        // waiting) is no anchor.
        match signer {
            Some((ca, pending)) => self.commit_ca(&ca, pending, false, events, || Ok(()))?,
            None => self.audited(&events, || Ok(()))?,
        }
        answers.sort_by_key(|a| order.get(&a.queued.id).copied());
        Ok(answers)
    }

    /// Each request of a page read and judged: the accepted, and the refused with why.
    fn judge_page(
        &self,
        page: Vec<Queued>,
        known: &Known,
        budget: &mut Budget,
    ) -> (Vec<Accepted>, Vec<Refused>) {
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for queued in page {
            let request = queued
                .value
                .clone()
                .and_then(|data| SigningRequest::from_json(&data, &queued.id));
            match request {
                Err(why) => {
                    let why = format!("{} is corrupt: {why}", queued.location);
                    refused.push((queued, None, why));
                }
                // Judged first: only a request that would be signed takes a place, so requests
                // that fail their checks cannot crowd out the honest one for the same name.
                Ok(request) => match budget
                    .replayed(&request)
                    .and_then(|()| self.judge(&request, known))
                    .and_then(|signing| budget.take(&request).map(|()| signing))
                {
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
        (accepted, refused)
    }

    /// Signs one accepted request: its answer, the serial, its audit records; or why not (a
    /// CSR or a login key that does not parse refuses this request alone).
    fn sign_one(
        &self,
        ca: &crate::pki::ca::HostCa,
        item: &Accepted,
        admin_password: Option<&crate::accounts::users::Password>,
    ) -> std::result::Result<(Answer, String, Vec<AuditEvent>), String> {
        let (request, now) = (&item.request, self.now());
        let text = |e: crate::error::Error| e.to_string();
        let (csr, _) = crate::pki::csr::parse_any_csr(&request.csr).map_err(text)?;
        let bundle = match &item.what {
            Signing::Server { hosts, ttl } => {
                ca.sign_server_for_key(hosts, &csr.spki_der, csr.rsa, *ttl, now)
            }
            Signing::Client(req) => ca.sign_client_for_key(req, &csr.spki_der, csr.rsa, now),
        }
        .map_err(text)?;
        // rctl-admin's password, to a node that asked with a request as good as this one: its
        // names, its node, and its proof of the key on record.
        let sealed = match (&request.login_key, admin_password) {
            (Some(key), Some(password)) => Some(
                crate::requests::sealed_box::seal_to(key, password.expose().as_bytes())
                    .map_err(|e| format!("its login key: {e}"))?,
            ),
            _ => None,
        };
        let mut event = AuditEvent::issued(bundle.issued(), item.user.as_deref());
        event.command = format!(
            "request {} for {} from node {}",
            request.id, request.subject, request.node
        );
        let mut events = vec![event];
        if sealed.is_some() {
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
            admin_password: sealed,
        };
        Ok((answer, bundle.issued().serial.clone(), events))
    }

    /// A request against its registration: what to sign, or why not.
    fn judge(
        &self,
        request: &SigningRequest,
        known: &Known,
    ) -> std::result::Result<(Signing, Option<String>), String> {
        let text = |e: crate::error::Error| e.to_string();
        // A locked node is refused whatever it asks.
        if let Some(lock) = known.locks.on_node(&request.node) {
            return Err(text(lock.denial()));
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

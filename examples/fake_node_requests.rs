//! What `bench/requests.sh` times the signer against: the signing requests of many nodes at
//! once, faked from one process. For each registered server held by a node, a new key and a
//! CSR for its names, put into the state's queue as that node's `redis sync` would (first
//! issues: no proof of possession; only servers whose name starts with NAME, when given).
//!
//!     fake_node_requests etcd://HOST:PORT/PREFIX [NAME]
//!     fake_node_requests etcd://HOST:PORT/PREFIX --junk N
//!
//! With `--junk N`: N requests that are no requests at all (a flood a hostile etcd writer could
//! put), which the signer must refuse one by one without stopping for anyone else.

use std::time::Duration;

use rctl::requests::RequestFor;
use rctl::requests::node::NodeRequest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: fake_node_requests etcd://HOST:PORT/PREFIX")?;
    let url = rctl::storage::etcd::EtcdUrl::parse(&url).ok_or("not an etcd:// URL")??;
    let mut state =
        rctl::StateDir::open_etcd(&url, &rctl::storage::etcd::EtcdTls::default(), true)?;
    let queue = state.requests().queue()?;
    let only = std::env::args().nth(2).unwrap_or_default();
    if only == "--junk" {
        let n: usize = std::env::args().nth(3).ok_or("--junk N")?.parse()?;
        let tag = rctl::requests::SigningRequest::new_id();
        for i in 0..n {
            let id = format!("junk-{tag}-{i:06}");
            queue.submit(&id, b"{\"not\": \"a request\"}", Duration::from_secs(600))?;
        }
        eprintln!("{n} junk requests queued");
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    let mut made = 0;
    for server in state.servers().list()? {
        let Some(node) = &server.node else { continue };
        if !server.name.starts_with(only.as_str()) {
            continue;
        }
        let request = NodeRequest::new(
            rctl::requests::node::Asked {
                subject: RequestFor::Server(server.name.clone()),
                node,
                algorithm: rctl::KeyAlgorithm::EcdsaP256,
                hosts: &server.hosts,
            },
            None,
            false,
            now,
        )?;
        let id = request.request.id.clone();
        queue.submit(&id, &request.request.to_json()?, Duration::from_secs(120))?;
        made += 1;
    }
    eprintln!("{made} requests queued");
    Ok(())
}

//! Which registrations each node holds (`nodes/NODE.yaml`), so that a node's sync reads its own
//! registrations and not every one of the fleet's: on etcd the registrations are read only when
//! asked for, so the reads of a node's sync do not grow with the number of nodes.
//!
//! The index is kept a superset of the registrations: a registration is indexed before it is
//! written and forgotten after it is removed, so a failure between the two leaves a name whose
//! registration is missing (passed over), never a registration its node does not see. A name
//! whose registration says another node is passed over too: a node acts only on registrations
//! that name it. A state made before the index has none (no `nodes.yaml`): its node syncs read
//! every registration, as before, until the first change of a registration builds the index
//! for every node, in the same change.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::accounts::names::{ClientName, NodeName, ServerName};
use crate::clients::output::ClientOutput;
use crate::error::Result;
use crate::servers::registered::RegisteredServer;

use super::StateDir;

/// The folder of the node index.
const NODES_DIR: &str = "nodes";
/// Present once the index is complete.
const INDEX_MARK: &str = "nodes.yaml";

/// What one node holds.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct NodeIndex {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    servers: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    clients: BTreeSet<String>,
}

/// A registration, as the index names it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Indexed<'a> {
    Server(&'a ServerName),
    Client(&'a ClientName),
}

impl StateDir {
    /// The servers and client outputs `node` holds, each read alone (not the whole fleet's)
    /// once the state has its index; by reading every registration before.
    pub(crate) fn registrations_of(
        &self,
        node: &NodeName,
    ) -> Result<(Vec<RegisteredServer>, Vec<ClientOutput>)> {
        let mine = |n: &Option<NodeName>| n.as_ref() == Some(node);
        if self.store().read(INDEX_MARK)?.is_none() {
            let servers = self.all_servers()?.into_iter().filter(|s| mine(&s.node));
            let clients = self.all_clients()?.into_iter().filter(|c| mine(&c.node));
            return Ok((servers.collect(), clients.collect()));
        }
        let index = self.node_index(node)?;
        let mut servers = Vec::new();
        for name in &index.servers {
            let Ok(name) = name.parse::<ServerName>() else {
                continue;
            };
            servers.extend(self.find_server(&name)?.filter(|s| mine(&s.node)));
        }
        let mut clients = Vec::new();
        for name in &index.clients {
            let Ok(name) = name.parse::<ClientName>() else {
                continue;
            };
            clients.extend(self.client(&name)?.filter(|c| mine(&c.node)));
        }
        Ok((servers, clients))
    }

    /// Records in this change that `node` holds `what` (`held`) or no longer does. Builds the
    /// index of every node first when the state has none. A registration of no node is not
    /// indexed.
    pub(crate) fn index_registration(
        &self,
        node: Option<&NodeName>,
        what: Indexed<'_>,
        held: bool,
    ) -> Result<()> {
        for (name, data) in self.index_changes(node, what, held)? {
            match data {
                Some(data) => self.store().write(&name, &data)?,
                None => self.store().remove(&name)?,
            }
        }
        Ok(())
    }

    /// The blobs [`index_registration`](Self::index_registration) writes (`None`: removed),
    /// for a change that writes its blobs itself.
    pub(crate) fn index_changes(
        &self,
        node: Option<&NodeName>,
        what: Indexed<'_>,
        held: bool,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let unbuilt = self.store().read(INDEX_MARK)?.is_none();
        let mut all = if unbuilt {
            self.whole_node_index()?
        } else {
            Default::default()
        };
        if let Some(node) = node {
            let (index, changed) = match all.entry(node.clone()) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert((self.node_index(node)?, false))
                }
            };
            let (set, name) = match what {
                Indexed::Server(name) => (&mut index.servers, name.to_string()),
                Indexed::Client(name) => (&mut index.clients, name.to_string()),
            };
            *changed |= if held {
                set.insert(name)
            } else {
                set.remove(&name)
            };
        }
        let mut changes = Vec::new();
        for (node, (index, changed)) in all {
            if changed {
                let name = format!("{NODES_DIR}/{node}.yaml");
                let data = if index == NodeIndex::default() {
                    None
                } else {
                    let yaml = serde_norway::to_string(&index)
                        .map_err(|e| crate::error::Error::encode("node index", e))?;
                    Some(yaml.into_bytes())
                };
                changes.push((name, data));
            }
        }
        if unbuilt {
            changes.push((INDEX_MARK.to_string(), Some(b"version: 1\n".to_vec())));
        }
        Ok(changes)
    }

    /// The index of every node, from every registration (each marked to be written).
    fn whole_node_index(&self) -> Result<std::collections::BTreeMap<NodeName, (NodeIndex, bool)>> {
        let mut all: std::collections::BTreeMap<NodeName, (NodeIndex, bool)> = Default::default();
        for server in self.all_servers()? {
            if let Some(node) = server.node {
                let (index, _) = all
                    .entry(node)
                    .or_insert_with(|| (NodeIndex::default(), true));
                index.servers.insert(server.name.to_string());
            }
        }
        for client in self.all_clients()? {
            if let Some(node) = client.node {
                let (index, _) = all
                    .entry(node)
                    .or_insert_with(|| (NodeIndex::default(), true));
                index.clients.insert(client.name.to_string());
            }
        }
        Ok(all)
    }

    fn node_index(&self, node: &NodeName) -> Result<NodeIndex> {
        let name = format!("{NODES_DIR}/{node}.yaml");
        Ok(self
            .load(&name, |data| {
                crate::output::yaml::from_slice::<NodeIndex>(data).map_err(|e| e.to_string())
            })?
            .unwrap_or_default())
    }
}

//! Rules as the server itself reads them: each wanted account's rules are set on a probe account
//! (`rctl-probe-…`, off, no password), `ACL LIST` renders them beside the live accounts, and
//! the probes are deleted, all in one `MULTI`/`EXEC` that no other client sees into. `redis
//! sync` and `redis check` compare accounts this way; nothing else on the server changes.

use std::collections::BTreeMap;

use super::{Drift, Live, Wanted, accounts, parse_acl_list};
use crate::error::Result;
use crate::servers::registered::RegisteredServer;

pub(super) use crate::accounts::names::PROBE_PREFIX;

/// Every wanted account's rules as the server renders them (set on probe accounts, off and
/// without password, deleted in the same round trip), and the accounts that differ.
pub(super) fn account_drift(
    live: &mut Live,
    server: &RegisteredServer,
    wanted: &Wanted,
) -> Result<(BTreeMap<String, String>, Vec<Drift>)> {
    use rand::Rng;
    let run = format!("{PROBE_PREFIX}{:08x}-", rand::rng().next_u32());
    // One transaction: no other client (another rctl) ever sees the probes.
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut probes = BTreeMap::new();
    let wanted_accounts = &wanted.for_server(server).accounts;
    for (i, (name, account)) in wanted_accounts.iter().enumerate() {
        let probe = format!("{run}{i}");
        pipe.cmd("ACL")
            .arg("SETUSER")
            .arg(&probe)
            .arg(account.probe_args())
            .ignore();
        probes.insert(probe, name.clone());
    }
    pipe.cmd("ACL").arg("LIST");
    if !probes.is_empty() {
        pipe.cmd("ACL")
            .arg("DELUSER")
            .arg(probes.keys().collect::<Vec<_>>())
            .ignore();
    }
    let (lines,): (Vec<String>,) = live.pipeline(&pipe, &server.addr)?;
    let all = parse_acl_list(&lines, wanted.target)?;
    let mut canonical = BTreeMap::new();
    let mut current = BTreeMap::new();
    for (name, account) in all {
        match probes.get(&name) {
            Some(wanted_name) => {
                canonical.insert(wanted_name.clone(), account.rules_text());
            }
            None => {
                current.insert(name, account);
            }
        }
    }
    let drift = accounts::drift(&current, wanted_accounts, Some(&canonical), |n| {
        n.starts_with(&run)
    });
    Ok((canonical, drift))
}

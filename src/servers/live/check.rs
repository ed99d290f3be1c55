//! `redis check` on one server: its files, the certificate it serves, its TLS settings and its
//! accounts, each against the state. It changes nothing.

use std::time::Duration;

use super::reload::other_tls_files;
use super::{Wanted, files, served};
use crate::error::Result;
use crate::pki::inspect::CertReport;
use crate::servers::live::Live;
use crate::servers::registered::RegisteredServer;

/// What `rctl redis check` finds on one server: one line each, empty when all is in line.
pub fn check_server(server: &RegisteredServer, wanted: &Wanted, timeout: Duration) -> Vec<String> {
    let mut findings = Vec::new();
    let plan = files::plan_files(
        server,
        &wanted.ca,
        Some(&wanted.for_server(server).acl_text),
        None,
        wanted.now,
    );
    if let Some(why) = &plan.renew {
        findings.push(format!("certificate file: {why}"));
    }
    if plan.write_cas {
        findings.push(format!(
            "{}.cas does not hold exactly the trusted CA certificates",
            server.cert_prefix.display()
        ));
    }
    if plan.write_acl
        && let Some(path) = &server.acl_file
    {
        findings.push(format!(
            "{} differs from the state's users.acl",
            path.display()
        ));
    }
    match served(server, wanted, timeout) {
        Err(e) => findings.push(e.to_string()),
        Ok(served) => findings.extend(served_findings(
            server,
            wanted,
            &served,
            plan.current.as_ref(),
        )),
    }
    match Live::connect(&server.addr, &wanted.login_for(server), timeout) {
        Err(e) => findings.push(e.to_string()),
        Ok(mut live) => {
            if let Err(e) = live_findings(server, wanted, &mut live, &mut findings) {
                findings.push(e.to_string());
            }
        }
    }
    findings
}

/// The served certificate: trusted, current, names the registered hosts, is the file's.
fn served_findings(
    server: &RegisteredServer,
    wanted: &Wanted,
    r: &CertReport,
    file: Option<&CertReport>,
) -> Vec<String> {
    use crate::pki::inspect::CertStatus;
    let mut findings = Vec::new();
    match r.status {
        CertStatus::Valid => {}
        CertStatus::Expired => findings.push(format!(
            "serves an expired certificate (serial {})",
            r.serial
        )),
        CertStatus::NotYetValid => findings.push(format!(
            "serves a certificate not valid yet (serial {})",
            r.serial
        )),
        CertStatus::Foreign => findings.push(format!(
            "serves a certificate no CA key of this state signed (serial {})",
            r.serial
        )),
    }
    let left = crate::pki::renewal::time_left(r);
    if r.status == CertStatus::Valid && left < crate::pki::renewal::default_window(r) {
        findings.push(format!(
            "serves a certificate due for renewal: {} left",
            crate::duration::format_std(left)
        ));
    }
    if !files::names_hosts(r, &server.hosts) {
        let sorted = |mut names: Vec<String>| {
            names.sort_unstable();
            if names.is_empty() {
                return "no name at all".to_string();
            }
            names.join(",")
        };
        findings.push(format!(
            "serves a certificate for {}, registered for {}",
            sorted(r.sans.clone()),
            sorted(server.hosts.iter().map(ToString::to_string).collect())
        ));
    }
    if r.signed_by.is_some()
        && crate::pki::renewal::replaced_by_rotation(
            &wanted.ca,
            r,
            crate::pki::renewal::Holder::Server,
        )
    {
        findings.push(format!(
            "serves a certificate signed by the key rotation phase {} replaces",
            wanted.ca.rotation().phase
        ));
    }
    if let Some(file) = file
        && file.serial != r.serial
    {
        findings.push(format!(
            "serves serial {}, but {}.crt holds serial {}: not reloaded",
            r.serial,
            server.cert_prefix.display(),
            file.serial
        ));
    }
    findings
}

/// What the server's own settings and accounts say.
fn live_findings(
    server: &RegisteredServer,
    wanted: &Wanted,
    live: &mut Live,
    findings: &mut Vec<String>,
) -> Result<()> {
    // A path the server names is reported, never read: the server could name /dev/zero, a
    // FIFO or /etc/shadow. rctl reads only the files it registered.
    for (setting, value, path) in other_tls_files(live, server)? {
        findings.push(format!(
            "{setting} is {value:?}, not the registered {}",
            path.display()
        ));
    }
    if let Some((have, want)) = super::reload::cert_login_drift(live, server, wanted.cert_login)? {
        findings.push(format!(
            "tls-auth-clients-user is {have}, not the state's {want}"
        ));
    }
    // Rules too, as the server reads them: an account given `+@all ~* &*` by hand is drift.
    let (_, drift) = super::probe::account_drift(live, server, wanted)?;
    findings.extend(drift.iter().map(ToString::to_string));
    Ok(())
}

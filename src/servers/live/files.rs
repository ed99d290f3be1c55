//! A registered server's files against the state: whether its certificate must be signed again,
//! its trust bundle (`.cas`) rewritten, its users.acl rewritten.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use crate::output::read::{ACL_LIMIT, PEM_LIMIT, read_regular};
use crate::pki::bundle::{RedisBundle, key_file_matches};
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_certificate};
use crate::pki::renewal::{Holder, Renewal, due, holds_exactly};
use crate::servers::registered::RegisteredServer;

/// What the files of a server need.
#[derive(Clone, Debug)]
pub struct FilePlan {
    /// The certificate on disk, when it parses.
    pub current: Option<CertReport>,
    /// Why it is signed again, if it is.
    pub renew: Option<Renewal>,
    /// `.cas` does not hold exactly the trusted CA certificates (written with a renewal anyway).
    pub write_cas: bool,
    /// users.acl differs from the state's rendering (or is missing).
    pub write_acl: bool,
}

impl FilePlan {
    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.renew.is_none() && !self.write_cas && !self.write_acl
    }

    /// True when the certificate files (certificate, key or trust bundle) are to be written:
    /// the server must load them again. users.acl is applied account by account instead.
    pub fn changes_bundle(&self) -> bool {
        self.renew.is_some() || self.write_cas
    }
}

/// Looks at `server`'s files: `acl_text` is the state's users.acl (for a server with an
/// `acl_file`).
pub fn plan_files(
    server: &RegisteredServer,
    ca: &HostCa,
    acl_text: Option<&str>,
    renew_within: Option<Duration>,
    now: OffsetDateTime,
) -> FilePlan {
    let [crt, key, cas] = RedisBundle::paths(&server.cert_prefix);
    let mut current = None;
    let renew = match read_regular(&crt, PEM_LIMIT) {
        Err(_) => Some(Renewal::Missing),
        Ok(pem) => match inspect_certificate(&pem, Some(ca), now) {
            Err(e) => Some(Renewal::Unusable(format!("{}: {e}", crt.display()))),
            Ok(report) => {
                let why = renewal(server, ca, &report, &pem, &key, renew_within);
                current = Some(report);
                why
            }
        },
    };
    let write_cas = !holds_exactly(&cas, ca);
    let write_acl = match (&server.acl_file, acl_text) {
        (Some(path), Some(text)) => {
            read_regular(path, ACL_LIMIT).map_or(true, |have| have != text.as_bytes())
        }
        _ => false,
    };
    FilePlan {
        current,
        renew,
        write_cas,
        write_acl,
    }
}

fn renewal(
    server: &RegisteredServer,
    ca: &HostCa,
    report: &CertReport,
    pem: &[u8],
    key: &Path,
    renew_within: Option<Duration>,
) -> Option<Renewal> {
    if !key.exists() {
        return Some(Renewal::Missing);
    }
    if !key_file_matches(&String::from_utf8_lossy(pem), key) {
        return Some(Renewal::Unusable(format!(
            "{} is not the key of its certificate",
            key.display()
        )));
    }
    if let due @ Some(Renewal::Due { .. }) = due(ca, report, renew_within, Holder::Server) {
        return due;
    }
    if !names_hosts(report, &server.hosts) {
        return Some(Renewal::Hosts);
    }
    let want = server
        .key_algorithm
        .unwrap_or(ca.active().algorithm())
        .name()
        .to_string();
    if report.key_algorithm != want {
        return Some(Renewal::KeyAlgorithm {
            have: report.key_algorithm.clone(),
            want,
        });
    }
    due(ca, report, renew_within, Holder::Server)
}

/// True when the certificate names exactly the hosts (in any order).
pub(crate) fn names_hosts(report: &CertReport, hosts: &[crate::pki::hosts::Host]) -> bool {
    let have: BTreeSet<&str> = report.sans.iter().map(String::as_str).collect();
    let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    let want: BTreeSet<&str> = hosts.iter().map(String::as_str).collect();
    have == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ca::tests::{ca, now};
    use crate::pki::hosts::parse_host_list;
    use crate::pki::keys::KeyAlgorithm;
    use crate::pki::leaf::ServerCertRequest;
    use crate::pki::rotation::Phase;

    /// A server registered at `dir/server`, with a bundle signed now for `hosts` and `ttl`.
    fn signed(dir: &Path, ca: &HostCa, hosts: &str, ttl: &str) -> RegisteredServer {
        let prefix = dir.join("server");
        let req =
            ServerCertRequest::new(parse_host_list(hosts).unwrap()).with_ttl(ttl.parse().unwrap());
        ca.sign_redis_server(&req, now())
            .unwrap()
            .write(&prefix, true)
            .unwrap();
        RegisteredServer::new(
            "s".parse().unwrap(),
            "127.0.0.1:6380".parse().unwrap(),
            &prefix,
        )
        .unwrap()
    }

    fn renewal(server: &RegisteredServer, ca: &HostCa, within: Option<&str>) -> Option<Renewal> {
        let within = within.map(|w| w.parse::<crate::duration::Ttl>().unwrap().as_std());
        plan_files(server, ca, None, within, now()).renew
    }

    #[test]
    fn each_reason_to_sign_again_is_found_and_nothing_else_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = ca();
        let server = signed(dir.path(), &ca, "127.0.0.1", "30h");
        let plan = plan_files(&server, &ca, None, None, now());
        assert!(plan.is_empty(), "{plan:?}");
        // A third of its life is the default window: 10h of 30h.
        let later = now() + time::Duration::hours(21);
        let due = plan_files(&server, &ca, None, None, later).renew;
        assert!(matches!(due, Some(Renewal::Due { .. })), "{due:?}");
        assert!(matches!(
            renewal(&server, &ca, Some("31h")),
            Some(Renewal::Due { .. })
        ));
        let hosts = server
            .clone()
            .with_hosts(parse_host_list("redis.internal").unwrap())
            .unwrap();
        assert_eq!(renewal(&hosts, &ca, None), Some(Renewal::Hosts));
        let algo = server.clone().with_key_algorithm(KeyAlgorithm::Ed25519);
        assert!(matches!(
            renewal(&algo, &ca, None),
            Some(Renewal::KeyAlgorithm { .. })
        ));

        // Rotation: signed by the old key, kept until update_servers replaces it.
        for (phase, replaced) in [
            (Phase::Init, false),
            (Phase::UpdateClients, false),
            (Phase::UpdateServers, true),
            (Phase::Standby, true),
        ] {
            ca.rotate(phase, now()).unwrap();
            let why = renewal(&server, &ca, None);
            if phase == Phase::Standby {
                assert_eq!(why, Some(Renewal::Untrusted), "the old key is gone");
            } else {
                assert_eq!(why.is_some(), replaced, "{phase}: {why:?}");
            }
            // The trust bundle is rewritten whenever the trusted keys change.
            assert!(
                plan_files(&server, &ca, None, None, now()).write_cas,
                "{phase}"
            );
        }

        // Signed again by the key that signs now: in line.
        let server = signed(dir.path(), &ca, "127.0.0.1", "30h");
        assert!(plan_files(&server, &ca, None, None, now()).is_empty());
        // Another certificate's key beside it; then no certificate at all.
        let [crt, key, _] = RedisBundle::paths(&server.cert_prefix);
        let other = tempfile::tempdir().unwrap();
        let elsewhere = signed(other.path(), &ca, "127.0.0.1", "30h");
        std::fs::copy(&RedisBundle::paths(&elsewhere.cert_prefix)[1], &key).unwrap();
        assert!(matches!(
            renewal(&server, &ca, None),
            Some(Renewal::Unusable(_))
        ));
        std::fs::remove_file(&crt).unwrap();
        assert_eq!(renewal(&server, &ca, None), Some(Renewal::Missing));
    }

    #[test]
    fn users_acl_is_rewritten_only_when_it_differs() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let acl = dir.path().join("users.acl");
        let server = signed(dir.path(), &ca, "127.0.0.1", "30h")
            .with_acl_file(&acl)
            .unwrap();
        let text = "user default off\n";
        assert!(plan_files(&server, &ca, Some(text), None, now()).write_acl);
        std::fs::write(&acl, text).unwrap();
        assert!(!plan_files(&server, &ca, Some(text), None, now()).write_acl);
        assert!(plan_files(&server, &ca, Some("user a on\n"), None, now()).write_acl);
        assert!(!plan_files(&server, &ca, None, None, now()).write_acl);
    }
}

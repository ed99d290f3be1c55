//! A registered server's files against the state: whether its certificate must be signed again,
//! its trust bundle (`.cas`) rewritten, its users.acl rewritten.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use crate::duration::format_std;
use crate::output::read::{ACL_LIMIT, PEM_LIMIT, read_regular};
use crate::pki::bundle::{RedisBundle, key_file_matches};
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_certificate};
use crate::pki::rotation::Phase;
use crate::servers::registered::RegisteredServer;

/// Why a server's certificate is signed again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Renewal {
    /// `PREFIX.crt` or `PREFIX.key` is missing.
    Missing,
    /// `PREFIX.crt` does not parse, or `PREFIX.key` is not its key.
    Unusable(String),
    /// Less than the renewal window is left (or it has expired).
    Due {
        /// What is left (zero once expired).
        left: Duration,
        /// The window.
        within: Duration,
    },
    /// It names other hosts than the registration.
    Hosts,
    /// Its key is of another algorithm than the registration's.
    KeyAlgorithm {
        /// The certificate's.
        have: String,
        /// The registration's (else the CA's).
        want: String,
    },
    /// It was signed by a CA key this state does not trust.
    Untrusted,
    /// It was signed by the key the rotation phase replaces.
    Rotation(Phase),
}

impl fmt::Display for Renewal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Renewal::Missing => write!(f, "no certificate"),
            Renewal::Unusable(why) => write!(f, "{why}"),
            Renewal::Due { left, within } if left.is_zero() => {
                write!(f, "expired (renewed within {})", format_std(*within))
            }
            Renewal::Due { left, within } => write!(
                f,
                "due: {} left, renewed within {}",
                format_std(*left),
                format_std(*within)
            ),
            Renewal::Hosts => write!(f, "its hosts changed"),
            Renewal::KeyAlgorithm { have, want } => {
                write!(f, "its key is {have}, the registration asks for {want}")
            }
            Renewal::Untrusted => write!(f, "signed by a CA key this state does not trust"),
            Renewal::Rotation(phase) => {
                write!(f, "signed by the key rotation phase {phase} replaces")
            }
        }
    }
}

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

/// The renewal window for a certificate when none is given: a third of its lifetime.
pub fn default_window(cert: &CertReport) -> Duration {
    let life = (cert.not_after - cert.not_before).whole_seconds().max(0) as u64;
    Duration::from_secs(life / 3)
}

/// When a certificate falls due: its expiry less the renewal window (`renew_within`, else
/// [`default_window`]). The one renewal policy of servers, client outputs and the metrics.
pub fn renewal_point(cert: &CertReport, renew_within: Option<Duration>) -> OffsetDateTime {
    let within = renew_within.unwrap_or_else(|| default_window(cert));
    cert.not_after - within
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
    let within = renew_within.unwrap_or_else(|| default_window(report));
    let left = time_left(report);
    if left < within || report.seconds_left <= 0 {
        return Some(Renewal::Due { left, within });
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
    if report.signed_by.is_none() {
        return Some(Renewal::Untrusted);
    }
    if replaced_by_rotation(ca, report) {
        return Some(Renewal::Rotation(ca.rotation().phase));
    }
    None
}

/// What is left of a certificate's life (zero once expired).
pub(crate) fn time_left(report: &CertReport) -> Duration {
    Duration::from_secs(u64::try_from(report.seconds_left).unwrap_or(0))
}

/// True when the certificate names exactly the hosts (in any order).
pub(crate) fn names_hosts(report: &CertReport, hosts: &[crate::pki::hosts::Host]) -> bool {
    let have: BTreeSet<&str> = report.sans.iter().map(String::as_str).collect();
    let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    let want: BTreeSet<&str> = hosts.iter().map(String::as_str).collect();
    have == want
}

/// True when a server certificate was signed by a key other than the one that signs now, in a
/// rotation phase that replaces such certificates (`update_servers`, `rollback`, and
/// `standby`, which trusts one key).
pub(crate) fn replaced_by_rotation(ca: &HostCa, report: &CertReport) -> bool {
    matches!(
        ca.rotation().phase,
        Phase::UpdateServers | Phase::Rollback | Phase::Standby
    ) && report.signed_by.as_deref() != Some(ca.active().pin().as_str())
}

/// True when the PEM file at `path` holds the CA's trusted certificates and no other.
pub(crate) fn holds_exactly(path: &Path, ca: &HostCa) -> bool {
    let n = ca.trusted().count();
    trust_file_counts(path, ca) == Some((n, n))
}

/// The certificates in the PEM file at `path`: how many, and how many distinct ones of them
/// this state trusts. `None` when it cannot be read.
pub(crate) fn trust_file_counts(path: &Path, ca: &HostCa) -> Option<(usize, usize)> {
    use rustls_pki_types::pem::PemObject;
    let data = read_regular(path, PEM_LIMIT).ok()?;
    let want: BTreeSet<&[u8]> = ca.trusted().map(|k| k.certificate_der()).collect();
    let mut total = 0;
    let mut known = BTreeSet::new();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&data) {
        let cert = cert.ok()?;
        total += 1;
        if let Some(k) = want.get(cert.as_ref()) {
            known.insert(*k);
        }
    }
    Some((total, known.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ca::tests::{ca, now};
    use crate::pki::hosts::parse_host_list;
    use crate::pki::keys::KeyAlgorithm;
    use crate::pki::leaf::ServerCertRequest;

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
        let within = within.map(|w| w.parse::<crate::Ttl>().unwrap().as_std());
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

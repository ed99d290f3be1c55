//! When a certificate falls due: the one renewal policy of servers, client outputs and the
//! metrics. A certificate is signed again when less than its renewal window is left (a third
//! of its lifetime unless a window is given), when no trusted CA key signed it, or when the
//! rotation's phase replaces certificates of its kind; the trust bundle beside it is written
//! again when it does not hold exactly the CA's trusted certificates.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use crate::duration::format_std;
use crate::output::read::{PEM_LIMIT, read_regular};
use crate::pki::ca::HostCa;
use crate::pki::inspect::CertReport;
use crate::pki::rotation::Phase;

/// Why a certificate (a server's or a client output's) is signed again.
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

/// What is left of a certificate's life (zero once expired).
pub(crate) fn time_left(report: &CertReport) -> Duration {
    Duration::from_secs(u64::try_from(report.seconds_left).unwrap_or(0))
}

/// Which certificates a rotation phase replaces: a server's from `update_servers` on, a
/// client's from `update_clients` on (the new key signs); both in `rollback` (the old key signs
/// again) and `standby` (one key is trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A Redis server's certificate.
    Server,
    /// A client output's certificate.
    Client,
}

/// True when the certificate was signed by a key other than the one that signs now, in a
/// rotation phase that replaces the certificates of `holder`.
pub fn replaced_by_rotation(ca: &HostCa, report: &CertReport, holder: Holder) -> bool {
    let replaces = match ca.rotation().phase {
        Phase::UpdateServers | Phase::Rollback | Phase::Standby => true,
        Phase::UpdateClients => holder == Holder::Client,
        _ => false,
    };
    replaces && report.signed_by.as_deref() != Some(ca.active().pin().as_str())
}

/// The shared part of the policy, once the certificate parses and its key matches: due by
/// time, signed by no trusted key, or replaced by the rotation's phase.
pub fn due(
    ca: &HostCa,
    report: &CertReport,
    renew_within: Option<Duration>,
    holder: Holder,
) -> Option<Renewal> {
    let within = renew_within.unwrap_or_else(|| default_window(report));
    let left = time_left(report);
    if left < within || report.seconds_left <= 0 {
        return Some(Renewal::Due { left, within });
    }
    if report.signed_by.is_none() {
        return Some(Renewal::Untrusted);
    }
    if replaced_by_rotation(ca, report, holder) {
        return Some(Renewal::Rotation(ca.rotation().phase));
    }
    None
}

/// True when the PEM file at `path` holds the CA's trusted certificates and no other.
pub fn holds_exactly(path: &Path, ca: &HostCa) -> bool {
    let n = ca.trusted().count();
    trust_file_counts(path, ca) == Some((n, n))
}

/// True when `pem` holds exactly the CA's trusted certificates.
pub fn holds_exactly_pem(pem: &[u8], ca: &HostCa) -> bool {
    let n = ca.trusted().count();
    trust_counts(pem, ca) == Some((n, n))
}

/// The certificates in the PEM file at `path`: how many, and how many distinct ones of them
/// this state trusts. `None` when it cannot be read.
pub fn trust_file_counts(path: &Path, ca: &HostCa) -> Option<(usize, usize)> {
    trust_counts(&read_regular(path, PEM_LIMIT).ok()?, ca)
}

/// [`trust_file_counts`] of PEM text; `None` when a certificate in it does not parse.
fn trust_counts(pem: &[u8], ca: &HostCa) -> Option<(usize, usize)> {
    use rustls_pki_types::pem::PemObject;
    let want: BTreeSet<&[u8]> = ca.trusted().map(|k| k.certificate_der()).collect();
    let mut total = 0;
    let mut known = BTreeSet::new();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
        let cert = cert.ok()?;
        total += 1;
        if let Some(k) = want.get(cert.as_ref()) {
            known.insert(*k);
        }
    }
    Some((total, known.len()))
}

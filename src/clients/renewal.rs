//! What a client output's files need, against the host CA: a new certificate (missing, due,
//! from a key the state does not trust, or from the key a rotation phase replaces), or only
//! its trust bundle rewritten (the CA's trusted keys changed).

use std::time::Duration;

use time::OffsetDateTime;

use crate::clients::output::ClientOutput;
use crate::output::read::{PEM_LIMIT, read_regular};
use crate::pki::bundle::{RedisBundle, key_file_matches};
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_certificate};
use crate::pki::rotation::Phase;
use crate::servers::live::files::{Renewal, default_window, holds_exactly, time_left};

/// What a client output's files need.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    /// The certificate on disk, when it parses.
    pub current: Option<CertReport>,
    /// Why it is signed again, if it is.
    pub renew: Option<Renewal>,
    /// `.cas` does not hold exactly the trusted CA certificates (written with a renewal anyway).
    pub write_cas: bool,
}

impl ClientPlan {
    /// True when nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.renew.is_none() && !self.write_cas
    }
}

/// Looks at `client`'s files.
pub fn plan_client(
    client: &ClientOutput,
    ca: &HostCa,
    renew_within: Option<Duration>,
    now: OffsetDateTime,
) -> ClientPlan {
    let [crt, key, cas] = RedisBundle::paths(&client.out);
    let mut current = None;
    let renew = match read_regular(&crt, PEM_LIMIT) {
        Err(_) => Some(Renewal::Missing),
        Ok(pem) => match inspect_certificate(&pem, Some(ca), now) {
            Err(e) => Some(Renewal::Unusable(format!("{}: {e}", crt.display()))),
            Ok(report) => {
                let why = if !key.exists() {
                    Some(Renewal::Missing)
                } else if !key_file_matches(&String::from_utf8_lossy(&pem), &key) {
                    Some(Renewal::Unusable(format!(
                        "{} is not the key of its certificate",
                        key.display()
                    )))
                } else {
                    renewal(ca, &report, renew_within)
                };
                current = Some(report);
                why
            }
        },
    };
    ClientPlan {
        current,
        renew,
        write_cas: !holds_exactly(&cas, ca),
    }
}

fn renewal(ca: &HostCa, report: &CertReport, renew_within: Option<Duration>) -> Option<Renewal> {
    let within = renew_within.unwrap_or_else(|| default_window(report));
    let left = time_left(report);
    if left < within || report.seconds_left <= 0 {
        return Some(Renewal::Due { left, within });
    }
    if report.signed_by.is_none() {
        return Some(Renewal::Untrusted);
    }
    if replaced_by_rotation(ca, report) {
        return Some(Renewal::Rotation(ca.rotation().phase));
    }
    None
}

/// True when a client certificate was signed by a key other than the one that signs now, in a
/// phase that replaces client certificates: from `update_clients` on (the new key signs),
/// `rollback` (the old key signs again), and `standby` (one key is trusted).
pub(crate) fn replaced_by_rotation(ca: &HostCa, report: &CertReport) -> bool {
    matches!(
        ca.rotation().phase,
        Phase::UpdateClients | Phase::UpdateServers | Phase::Rollback | Phase::Standby
    ) && report.signed_by.as_deref() != Some(ca.active().pin().as_str())
}

//! What a client output's files need, against the host CA: a new certificate (missing, due,
//! from a key the state does not trust, or from the key a rotation phase replaces), or only
//! its trust bundle rewritten (the CA's trusted keys changed).

use std::time::Duration;

use time::OffsetDateTime;

use crate::clients::output::{ClientFormat, ClientOutput};
use crate::pki::ca::HostCa;
use crate::pki::inspect::{CertReport, inspect_certificate};
use crate::pki::renewal::{Holder, Renewal, due, holds_exactly_pem};

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

/// Looks at `client`'s files (read back in its format).
pub fn plan_client(
    client: &ClientOutput,
    ca: &HostCa,
    renew_within: Option<Duration>,
    now: OffsetDateTime,
) -> ClientPlan {
    let files = match client.read_back() {
        Ok(files) => files,
        Err(why) => {
            let missing = client.outputs().iter().any(|p| !p.exists());
            return ClientPlan {
                current: None,
                renew: Some(if missing {
                    Renewal::Missing
                } else {
                    Renewal::Unusable(why)
                }),
                write_cas: false,
            };
        }
    };
    let trust_current = holds_exactly_pem(files.ca_pem.as_bytes(), ca);
    let (report, renew) = match inspect_certificate(files.certificate_pem.as_bytes(), Some(ca), now)
    {
        Err(e) => (None, Some(Renewal::Unusable(e.to_string()))),
        Ok(report) => {
            let why = match &files.key_pem {
                None => Some(Renewal::Missing),
                Some(key) if !key_matches(&files.certificate_pem, key) => Some(Renewal::Unusable(
                    "its key is not the key of its certificate".to_string(),
                )),
                // One file holds the key and the CA certificates: new trust is a new file.
                Some(_) if !trust_current && client.format != ClientFormat::Redis => {
                    Some(Renewal::Unusable(
                        "its CA certificates are not the ones trusted now".to_string(),
                    ))
                }
                Some(_) => due(ca, &report, renew_within, Holder::Client),
            };
            (Some(report), why)
        }
    };
    ClientPlan {
        current: report,
        renew,
        write_cas: client.format == ClientFormat::Redis && !trust_current,
    }
}

/// True when the PEM private key is the key of the PEM certificate.
fn key_matches(certificate_pem: &str, key_pem: &str) -> bool {
    crate::pki::bundle::key_pem_matches(certificate_pem, key_pem)
}

/// The certificate `client`'s files hold, read in its format; `None` when they cannot be read.
pub fn on_disk(client: &ClientOutput) -> Option<CertReport> {
    let files = client.read_back().ok()?;
    inspect_certificate(
        files.certificate_pem.as_bytes(),
        None,
        OffsetDateTime::now_utc(),
    )
    .ok()
}

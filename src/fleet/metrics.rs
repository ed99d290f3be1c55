//! What `redis sync` and `redis check` found, in the Prometheus text format, for
//! node_exporter's textfile collector: each certificate's expiry and renewal point (servers
//! and client outputs), the time and outcome of the run, the drift a check found, the host
//! CA's rotation phase and expiry. Every name starts with `rctl_`, and each name has one
//! writer: a check writes only `rctl_check_*`, a sync everything else, so that both files
//! can sit in one textfile folder (node_exporter refuses a series two files hold). Written
//! with the `prometheus-client` crate (its text encoder, without OpenMetrics' `# EOF`).

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fleet::{FleetCheck, SyncReport};
use crate::pki::ca::HostCa;
use crate::pki::formats::BundleFormat;
use crate::pki::inspect::{CertReport, inspect_certificate};
use crate::pki::renewal::renewal_point;
use crate::pki::rotation::Phase;
use crate::servers::registered::RegisteredServer;

type Labels = Vec<(String, String)>;

/// The gauges of one run.
struct Metrics {
    registry: Registry,
    certificates: Option<Certificates>,
    ok: Family<Labels, Gauge>,
}

/// A sync's view of each certificate on disk, under the renewal policy it applied.
struct Certificates {
    not_after: Family<Labels, Gauge>,
    renew_at: Family<Labels, Gauge>,
    renew_within: Option<std::time::Duration>,
}

fn labels(kind: &str, name: &str, node: Option<&str>) -> Labels {
    vec![
        (kind.to_string(), name.to_string()),
        ("node".to_string(), node.unwrap_or_default().to_string()),
    ]
}

impl Metrics {
    fn new(run: &str) -> Metrics {
        let mut registry = Registry::default();
        let ok = Family::<Labels, Gauge>::default();
        registry.register(
            format!("rctl_{run}_ok"),
            format!("1 when the last {run} found the server or client output in line, else 0"),
            ok.clone(),
        );
        Metrics {
            registry,
            certificates: None,
            ok,
        }
    }

    /// With the certificates' expiry and renewal point (a sync's, which applies the policy).
    fn with_certificates(mut self, renew_within: Option<std::time::Duration>) -> Metrics {
        let not_after = Family::<Labels, Gauge>::default();
        self.registry.register(
            "rctl_certificate_not_after_seconds",
            "When the certificate on disk expires (seconds since the epoch), per server or client output",
            not_after.clone(),
        );
        let renew_at = Family::<Labels, Gauge>::default();
        self.registry.register(
            "rctl_certificate_renew_at_seconds",
            "When sync renews the certificate on disk (seconds since the epoch): its expiry less the renewal window",
            renew_at.clone(),
        );
        self.certificates = Some(Certificates {
            not_after,
            renew_at,
            renew_within,
        });
        self
    }

    /// One server's or client output's line: its certificate (read from disk) and `ok`.
    fn item(&self, l: &Labels, on_disk: Option<CertReport>, ok: bool) {
        if let (Some(c), Some(cert)) = (&self.certificates, on_disk) {
            c.not_after
                .get_or_create(l)
                .set(cert.not_after.unix_timestamp());
            let at = renewal_point(&cert, c.renew_within);
            c.renew_at.get_or_create(l).set(at.unix_timestamp());
        }
        self.ok.get_or_create(l).set(i64::from(ok));
    }

    fn gauge(&mut self, name: &str, help: &str, value: i64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        self.registry.register(name, help, gauge);
    }

    fn server(&self, server: &RegisteredServer, ok: bool) {
        let node = server.node.as_ref().map(|n| n.as_str());
        let l = labels("server", server.name.as_str(), node);
        let on_disk = self.certificates.as_ref().and_then(|_| {
            let files = BundleFormat::Redis.read_back(&server.cert_prefix).ok()?;
            inspect_certificate(
                files.certificate_pem.as_bytes(),
                None,
                OffsetDateTime::now_utc(),
            )
            .ok()
        });
        self.item(&l, on_disk, ok);
    }

    /// The host CA: its rotation phase (1 for the current one, 0 for the others) and expiry.
    fn ca(&mut self, ca: Option<&HostCa>) {
        let Some(ca) = ca else { return };
        let phase = Family::<Labels, Gauge>::default();
        for p in [
            Phase::Standby,
            Phase::Init,
            Phase::UpdateClients,
            Phase::UpdateServers,
            Phase::Rollback,
        ] {
            let l = vec![("phase".to_string(), p.name().to_string())];
            phase
                .get_or_create(&l)
                .set(i64::from(ca.rotation().phase == p));
        }
        self.registry.register(
            "rctl_ca_rotation_phase",
            "1 for the host CA's current rotation phase, 0 for the others",
            phase,
        );
        self.gauge(
            "rctl_ca_rotation_started_seconds",
            "When the current rotation started (seconds since the epoch), 0 when none is under way",
            ca.rotation()
                .started
                .map_or(0, OffsetDateTime::unix_timestamp),
        );
        self.gauge(
            "rctl_ca_not_after_seconds",
            "When the host CA's signing certificate expires (seconds since the epoch)",
            ca.active().not_after().unix_timestamp(),
        );
    }

    fn finish(self) -> Result<String> {
        let mut out = String::new();
        encode_registry(&mut out, &self.registry).map_err(|e| Error::encode("metrics", e))?;
        Ok(out)
    }
}

/// A sync's metrics: per server and client output, the certificate's expiry, its renewal
/// point under `renew_within` (the sync's, else a third of its lifetime) and whether it is in
/// line; the run's time and how many were not in line; the host CA.
pub fn sync_metrics(
    report: &SyncReport,
    ca: Option<&HostCa>,
    now: OffsetDateTime,
    renew_within: Option<std::time::Duration>,
) -> Result<String> {
    let mut m = Metrics::new("sync").with_certificates(renew_within);
    for item in &report.servers {
        m.server(&item.server, item.is_in_line());
    }
    for item in &report.clients {
        let node = item.client.node.as_ref().map(|n| n.as_str());
        let l = labels("client", item.client.name.as_str(), node);
        let on_disk = crate::clients::renewal::on_disk(&item.client);
        m.item(&l, on_disk, item.is_in_line());
    }
    m.gauge(
        "rctl_sync_last_run_seconds",
        "When the last sync ran (seconds since the epoch)",
        now.unix_timestamp(),
    );
    m.gauge(
        "rctl_sync_failed",
        "How many servers and client outputs the last sync left not in line",
        i64::try_from(report.failed()).unwrap_or(i64::MAX),
    );
    m.ca(ca);
    m.finish()
}

/// A check's metrics, all named `rctl_check_*` (a sync's file holds the certificates and the
/// CA): per server and client output whether it is in line and how many differences (drift)
/// were found; the run's time.
pub fn check_metrics(check: &FleetCheck, now: OffsetDateTime) -> Result<String> {
    let mut m = Metrics::new("check");
    let drift = Family::<Labels, Gauge>::default();
    let servers = check.servers.iter().map(|c| {
        let node = c.server.node.as_ref().map(|n| n.as_str());
        (labels("server", c.server.name.as_str(), node), &c.findings)
    });
    let clients = check.clients.iter().map(|c| {
        let node = c.client.node.as_ref().map(|n| n.as_str());
        (labels("client", c.client.name.as_str(), node), &c.findings)
    });
    for (l, findings) in servers.chain(clients) {
        m.item(&l, None, findings.is_empty());
        drift
            .get_or_create(&l)
            .set(i64::try_from(findings.len()).unwrap_or(i64::MAX));
    }
    m.registry.register(
        "rctl_check_drift",
        "How many differences from the state the last check found on the server or client output",
        drift,
    );
    m.gauge(
        "rctl_check_last_run_seconds",
        "When the last check ran (seconds since the epoch)",
        now.unix_timestamp(),
    );
    m.finish()
}

//! What `redis sync` and `redis check` found, in the Prometheus text format, for
//! node_exporter's textfile collector: each certificate's expiry (servers and client
//! outputs), the time and outcome of the run, the drift a check found, the host CA's
//! rotation phase and expiry. Every name starts with `rctl_`; written with the
//! `prometheus-client` crate (its text encoder, without OpenMetrics' `# EOF`).

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::pki::ca::HostCa;
use crate::pki::rotation::Phase;
use crate::servers::fleet::{ServerCheck, SyncReport};
use crate::servers::registered::RegisteredServer;

type Labels = Vec<(String, String)>;

/// The gauges of one run.
struct Metrics {
    registry: Registry,
    not_after: Family<Labels, Gauge>,
    ok: Family<Labels, Gauge>,
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
        let not_after = Family::<Labels, Gauge>::default();
        registry.register(
            "rctl_certificate_not_after_seconds",
            "When the certificate on disk expires (seconds since the epoch), per server or client output",
            not_after.clone(),
        );
        let ok = Family::<Labels, Gauge>::default();
        registry.register(
            format!("rctl_{run}_ok"),
            format!("1 when the last {run} found the server or client output in line, else 0"),
            ok.clone(),
        );
        Metrics {
            registry,
            not_after,
            ok,
        }
    }

    fn gauge(&mut self, name: &str, help: &str, value: i64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        self.registry.register(name, help, gauge);
    }

    fn server(&self, server: &RegisteredServer, ok: bool) {
        let node = server.node.as_ref().map(|n| n.as_str());
        let l = labels("server", server.name.as_str(), node);
        if let Some(at) = crate::pki::bundle::RedisBundle::not_after_on_disk(&server.cert_prefix) {
            self.not_after.get_or_create(&l).set(at.unix_timestamp());
        }
        self.ok.get_or_create(&l).set(i64::from(ok));
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

/// A sync's metrics: per server and client output, the certificate's expiry and whether it is
/// in line; the run's time and how many were not in line; the host CA.
pub fn sync_metrics(
    report: &SyncReport,
    ca: Option<&HostCa>,
    now: OffsetDateTime,
) -> Result<String> {
    let mut m = Metrics::new("sync");
    for item in &report.servers {
        m.server(&item.server, item.is_in_line());
    }
    for item in &report.clients {
        let node = item.client.node.as_ref().map(|n| n.as_str());
        let l = labels("client", item.client.name.as_str(), node);
        if let Some(at) = crate::clients::renewal::not_after_on_disk(&item.client) {
            m.not_after.get_or_create(&l).set(at.unix_timestamp());
        }
        m.ok.get_or_create(&l).set(i64::from(item.is_in_line()));
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

/// A check's metrics: per server the certificate's expiry, whether it is in line, and how many
/// differences (drift) were found; the run's time; the host CA.
pub fn check_metrics(
    checks: &[ServerCheck],
    ca: Option<&HostCa>,
    now: OffsetDateTime,
) -> Result<String> {
    let mut m = Metrics::new("check");
    let drift = Family::<Labels, Gauge>::default();
    for check in checks {
        m.server(&check.server, check.findings.is_empty());
        let node = check.server.node.as_ref().map(|n| n.as_str());
        drift
            .get_or_create(&labels("server", check.server.name.as_str(), node))
            .set(i64::try_from(check.findings.len()).unwrap_or(i64::MAX));
    }
    m.registry.register(
        "rctl_check_drift",
        "How many differences from the state the last check found on the server",
        drift,
    );
    m.gauge(
        "rctl_check_last_run_seconds",
        "When the last check ran (seconds since the epoch)",
        now.unix_timestamp(),
    );
    m.ca(ca);
    m.finish()
}

//! What `rctl status` and `auth rotate` print: the host CA, its rotation, and how far the
//! rotation has reached each node's servers and client outputs.

use std::fmt::Write;
use std::path::Path;

use rctl::HostCa;

use super::output::{Format, date, escape_control, serialize};

#[derive(serde::Serialize)]
struct StatusView {
    state_dir: String,
    cluster_name: Option<String>,
    host_ca: Option<CaView>,
    /// Each registered server and client output against the current phase.
    rotation_progress: Vec<ProgressView>,
}

#[derive(serde::Serialize)]
struct ProgressView {
    kind: &'static str,
    name: String,
    node: Option<String>,
    signed_by: Option<String>,
    trusts: Vec<String>,
    applied: bool,
}

#[derive(serde::Serialize)]
struct CaView {
    algorithm: String,
    not_after: String,
    rotation: RotationView,
    keys: Vec<KeyView>,
}

#[derive(serde::Serialize)]
struct RotationView {
    state: &'static str,
    phase: String,
    mode: String,
    started: Option<String>,
    ends: Option<String>,
    last_rotated: Option<String>,
    summary: String,
}

#[derive(serde::Serialize)]
struct KeyView {
    pin: String,
    algorithm: String,
    not_after: String,
    active: bool,
}

/// `rctl status`: the host CA, and during a rotation which node's servers and client outputs
/// have applied its phase (`progress`).
pub fn status(
    ca: Option<&HostCa>,
    state_dir: &Path,
    format: Format,
    progress: &[rctl::Progress],
) -> rctl::Result<String> {
    if format != Format::Text {
        return serialize(
            &status_view(ca, state_dir, progress),
            format == Format::Json,
        );
    }
    let Some(ca) = ca else {
        return Ok(format!(
            "No host CA in {} yet: run 'rctl auth init' or any signing command.\n",
            state_dir.display()
        ));
    };
    let mut s = String::new();
    let _ = writeln!(s, "Cluster:   {}", ca.cluster_name());
    let _ = writeln!(s, "Host CA:");
    let _ = writeln!(s, "  algorithm:  {}", ca.active().algorithm());
    let _ = writeln!(s, "  not after:  {}", date(ca.active().not_after()));
    let _ = writeln!(s, "  rotation:   {}", ca.rotation().describe());
    let _ = writeln!(s, "  keys:");
    for (i, key) in ca.trusted().enumerate() {
        let role = if i == 0 { "active, signing" } else { "trusted" };
        let _ = writeln!(
            s,
            "    {} ({role}, {}, expires {})",
            key.pin(),
            key.algorithm(),
            date(key.not_after())
        );
    }
    let pins: Vec<String> = ca.trusted().map(|k| k.pin().to_string()).collect();
    // As `tctl status` prints them: one line that scripts read with awk.
    let _ = writeln!(s, "CA pins: {}", pins.join(" "));
    if ca.rotation().in_progress() && !progress.is_empty() {
        let _ = writeln!(s, "Phase {} applied, by node:", ca.rotation().phase);
        let mut nodes: std::collections::BTreeMap<String, (usize, Vec<String>)> =
            std::collections::BTreeMap::new();
        for p in progress {
            let node = p
                .node
                .as_ref()
                .map_or("(this host)".to_string(), |n| escape_control(n.as_str()));
            let entry = nodes.entry(node).or_default();
            if p.applied {
                entry.0 += 1;
            } else {
                entry.1.push(format!(
                    "{} {}",
                    p.subject.kind(),
                    escape_control(p.subject.name())
                ));
            }
        }
        for (node, (done, behind)) in nodes {
            let all = done + behind.len();
            let rest = if behind.is_empty() {
                String::new()
            } else {
                format!("; not yet: {}", behind.join(", "))
            };
            let _ = writeln!(s, "  {node}: {done} of {all}{rest}");
        }
    }
    Ok(s)
}

/// What a rotation phase asks of the operator, with the commands that do it.
fn duty(duty: rctl::Duty) -> &'static str {
    use rctl::Duty;
    match duty {
        Duty::TrustNewKey => {
            "the new key is trusted but does not sign yet: refresh every trust bundle now \
             (`rctl auth export` into each Redis server's tls-ca-cert-file, reloaded with \
             CONFIG SET tls-ca-cert-file, and into each client's CA file), so that \
             certificates the new key signs are accepted everywhere"
        }
        Duty::ReissueClients => {
            "the new key signs; both keys are trusted: re-issue every client certificate \
             (`rctl auth sign --user=USER --db-user=ACCOUNT --out=PREFIX --overwrite`)"
        }
        Duty::ReissueServers => {
            "re-issue every Redis server certificate (`rctl auth sign --format=redis \
             --host=HOSTS --out=PREFIX --overwrite`) and reload it on each server \
             (CONFIG SET tls-cert-file PREFIX.crt tls-key-file PREFIX.key)"
        }
        Duty::ReissueSinceUpdateClients => {
            "the old key signs again; both keys are trusted until standby: re-issue every \
             certificate signed since update_clients and reload the servers' certificates"
        }
        Duty::DropOldKey => {
            "one key is trusted: refresh every trust bundle (`rctl auth export` into each \
             server's tls-ca-cert-file, reloaded with CONFIG SET tls-ca-cert-file, and into \
             each client's CA file); until then servers still accept certificates signed by \
             the dropped key"
        }
        _ => "see the rotation section of the README",
    }
}

/// After `auth rotate`: what the phase the CA is now in needs, and how it moves on.
pub fn rotation_steps(rotation: &rctl::Rotation, registered: &Registered) -> String {
    let phase = rotation.phase;
    let mut s = format!("Now: {}.\n", duty(phase.duty()));
    let Registered {
        servers,
        clients,
        nodes,
    } = *registered;
    if servers + clients > 0 {
        let what = format!("Registered: {servers} server(s), {clients} client output(s)");
        if nodes > 0 {
            let _ = writeln!(
                s,
                "{what} on {nodes} node(s): each node's 'rctl redis sync' (its timer) does its part (trust bundles, certificates through the signer, reload, hooks); 'rctl status' shows which nodes have applied this phase, and the next phase waits for them."
            );
        } else {
            let _ = writeln!(
                s,
                "{what}: 'rctl redis sync --all' on this host does their part (trust bundles, certificates, reload, hooks); the next phase waits for it."
            );
        }
    }
    let _ = writeln!(
        s,
        "Bundles signed with 'rctl auth sign' and not registered ('rctl clients add') are yours to sign again."
    );
    if !rotation.in_progress() {
        return s;
    }
    let next = phase.forward();
    match rotation.next_due() {
        Some((next, at)) => {
            let _ = writeln!(
                s,
                "Next: phase {next} is due at {}; the first rctl command run after then enters it.",
                date(at)
            );
        }
        None => {
            let _ = writeln!(s, "Next: rctl auth rotate --manual --phase={next}");
        }
    }
    s
}

/// What a rotation's guidance speaks of: registered servers and client outputs, and how many
/// nodes hold them (0: this host alone).
pub struct Registered {
    pub servers: usize,
    pub clients: usize,
    pub nodes: usize,
}

/// What `status --format=json|yaml` shows.
fn status_view(ca: Option<&HostCa>, state_dir: &Path, progress: &[rctl::Progress]) -> StatusView {
    StatusView {
        rotation_progress: progress
            .iter()
            .map(|p| ProgressView {
                kind: p.subject.kind(),
                name: p.subject.name().to_string(),
                node: p.node.as_ref().map(ToString::to_string),
                signed_by: p.signed_by.clone(),
                trusts: p.trusts.clone(),
                applied: p.applied,
            })
            .collect(),
        state_dir: state_dir.display().to_string(),
        cluster_name: ca.map(|c| c.cluster_name().to_string()),
        host_ca: ca.map(|ca| {
            let r = ca.rotation();
            CaView {
                algorithm: ca.active().algorithm().to_string(),
                not_after: date(ca.active().not_after()),
                rotation: RotationView {
                    state: if r.in_progress() {
                        "in_progress"
                    } else {
                        "standby"
                    },
                    phase: r.phase.to_string(),
                    mode: r.mode.to_string(),
                    started: r.started.map(date),
                    ends: r.scheduled_end().map(date),
                    last_rotated: r.last_rotated.map(date),
                    summary: r.describe(),
                },
                keys: ca
                    .trusted()
                    .enumerate()
                    .map(|(i, k)| KeyView {
                        pin: k.pin(),
                        algorithm: k.algorithm().to_string(),
                        not_after: date(k.not_after()),
                        active: i == 0,
                    })
                    .collect(),
            }
        }),
    }
}

//! What the library noticed that a person may want to hear of; the library never prints.

use std::path::PathBuf;

use crate::pki::rotation::Phase;

/// Something the caller may want to tell a person about. The library never prints.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// No CA existed, so one was created with the defaults.
    CreatedCa {
        /// Its cluster name.
        cluster_name: String,
        /// Where it was stored.
        location: PathBuf,
    },
    /// An automatic rotation entered these phases.
    RotationAdvanced(Vec<Phase>),
    /// These phases of an automatic rotation are due, but the state was open for reading
    /// only: they were applied for this command and not saved.
    RotationNotSaved(Vec<Phase>),
    /// A certificate was signed in phase `init`, by the key the rotation stops trusting at
    /// `standby`: it must be issued again in `reissue_in`.
    SignedWithOutgoingKey {
        /// `update_clients` for a client certificate, `update_servers` for a server's.
        reissue_in: Phase,
    },
}

/// The phases names joined with arrows (`init -> update_clients`).
fn arrows(phases: &[Phase]) -> String {
    let names: Vec<&str> = phases.iter().map(|p| p.name()).collect();
    names.join(" -> ")
}

/// For an automatic rotation that entered several phases at once: a loud warning naming the
/// work of each phase it passed through without stopping; nothing when it entered one.
fn skipped_work(phases: &[Phase]) -> String {
    let Some((_, skipped)) = phases.split_last() else {
        return String::new();
    };
    if skipped.is_empty() {
        return String::new();
    }
    let work: Vec<&str> = skipped.iter().map(|p| p.duty().summary()).collect();
    format!(
        "; WARNING: it crossed {} phases in one step, so the work of {} was never given its time and servers or clients may now refuse each other; do it now: {}",
        phases.len(),
        arrows(skipped),
        work.join("; ")
    )
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::CreatedCa {
                cluster_name,
                location,
            } => write!(
                f,
                "created a new host CA for cluster {cluster_name:?} (ecdsa-p256) in {}",
                location.display()
            ),
            Notice::RotationAdvanced(phases) => write!(
                f,
                "automatic host CA rotation advanced to phase {}{}",
                arrows(phases),
                skipped_work(phases)
            ),
            Notice::RotationNotSaved(phases) => write!(
                f,
                "automatic host CA rotation is due to enter phase {} (not saved: the state is open for reading; any command that writes saves it){}",
                arrows(phases),
                skipped_work(phases)
            ),
            Notice::SignedWithOutgoingKey { reissue_in } => write!(
                f,
                "warning: the host CA is in rotation phase init: this certificate is signed by the outgoing key, which the rotation stops trusting at standby; issue it again in phase {reissue_in}"
            ),
        }
    }
}

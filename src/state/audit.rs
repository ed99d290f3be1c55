//! The audit log: one JSON line per change and per issued certificate, appended to
//! `audit.jsonl` in the state directory. It never holds a key, a password or a hash.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::pki::bundle::IssuedCert;

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The operating-system user that ran rctl.
    pub os_user: String,
    /// The rctl command (`auth sign`, `users add`, or `library` when used as a crate).
    pub command: String,
    /// What happened: `ca.create`, `ca.rotate`, `cert.issue`, `user.create`, `user.update`,
    /// `user.password_reset`, `user.delete`, `role.create`, `role.update`, `role.delete`,
    /// `server.add`, `server.delete`.
    pub action: String,
    /// The user or role concerned, or the rotation phase entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Serial number of an issued certificate (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Subject of an issued certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Subject alternative names of an issued certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// End of validity of an issued certificate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub not_after: Option<OffsetDateTime>,
    /// The files an issued certificate was written to, or that rctl writes for a registered
    /// server (absolute paths), so that a renewal knows where the certificate lives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

impl AuditEvent {
    /// An event about `target` (a user, role or phase).
    pub(crate) fn about(action: &str, target: &str) -> AuditEvent {
        AuditEvent {
            time: OffsetDateTime::UNIX_EPOCH,
            os_user: String::new(),
            command: String::new(),
            action: action.to_string(),
            target: Some(target.to_string()),
            serial: None,
            subject: None,
            sans: Vec::new(),
            not_after: None,
            outputs: Vec::new(),
        }
    }

    /// An issued certificate.
    pub(crate) fn issued(cert: &IssuedCert, target: Option<&str>) -> AuditEvent {
        AuditEvent {
            target: target.map(str::to_string),
            serial: Some(cert.serial.clone()),
            subject: Some(cert.subject.clone()),
            sans: cert.sans.clone(),
            not_after: Some(cert.not_after),
            ..AuditEvent::about("cert.issue", "")
        }
    }

    /// With the files it wrote.
    pub(crate) fn with_outputs(mut self, paths: &[std::path::PathBuf]) -> AuditEvent {
        self.outputs = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        self
    }
}

/// The operating-system user: `$USER`, else `$LOGNAME`, else `uid:N`.
pub(crate) fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
            && !v.chars().any(char::is_control)
        {
            return v;
        }
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Uid:")
                    .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            })
        })
        .unwrap_or_else(|| "?".to_string());
    format!("uid:{uid}")
}

/// Parses `audit.jsonl`, skipping a last line cut short by a crash.
pub(crate) fn parse_audit(data: &[u8]) -> std::result::Result<Vec<AuditEvent>, String> {
    let mut events = Vec::new();
    let ends_clean = data.is_empty() || data.ends_with(b"\n");
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_slice(line) {
            Ok(e) => events.push(e),
            Err(_) if !ends_clean && i + 1 == lines.len() => break,
            // A record cut short by a crash or a full disk (appends after it start on a new
            // line): a JSON object that never closed. Anything else is corruption.
            Err(e) if e.is_eof() && !line.ends_with(b"}") => continue,
            Err(e) => return Err(format!("line {}: {e}", i + 1)),
        }
    }
    Ok(events)
}

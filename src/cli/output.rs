//! What the CLI prints.

use std::fmt::Write;
use std::path::{Path, PathBuf};

pub use super::status_view::{Registered, rotation_steps, status};
use time::OffsetDateTime;

/// RFC 3339, to the second.
pub fn date(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The files written and the redis.conf lines to use them, as `tctl auth sign --format=redis`.
pub fn redis_server_instructions(
    written: &[PathBuf],
    prefix: &Path,
    key_beside: bool,
) -> rctl::Result<String> {
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let mut tls = rctl::RedisTlsConfig::new(prefix);
    let key_written = written
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "key"));
    if !key_beside && !key_written {
        // Signed from a CSR: the key is wherever the Redis host made it.
        tls.key_file = Some("/path/to/the/key/the/csr/was/made/with".into());
    }
    let config = tls.render()?;
    Ok(format!(
        "Database credentials have been written to {}.\n\n\
         To enable mutual TLS on your Redis server, add the following to your redis.conf:\n\n{config}",
        names.join(", ")
    ))
}

/// What `status --format=json|yaml` prints: stable field names.
/// `certs inspect`.
pub fn cert_report(r: &rctl::CertReport, format: Format) -> rctl::Result<String> {
    if format != Format::Text {
        return serialize(r, format == Format::Json);
    }
    let left = if r.seconds_left >= 0 {
        format!(
            "{} left",
            rctl::format_std(std::time::Duration::from_secs(r.seconds_left as u64))
        )
    } else {
        format!(
            "expired {} ago",
            rctl::format_std(std::time::Duration::from_secs(
                r.seconds_left.unsigned_abs()
            ))
        )
    };
    let mut s = String::new();
    // A certificate's names are the signer's text: control characters are escaped, so a
    // certificate cannot forge lines of this report.
    let sans: Vec<String> = r.sans.iter().map(|n| escape_control(n)).collect();
    let subject = if r.subject.is_empty() {
        "(none: the names are the SANs)".to_string()
    } else {
        escape_control(&r.subject)
    };
    let _ = writeln!(s, "Subject:        {subject}");
    let _ = writeln!(s, "Issuer:         {}", escape_control(&r.issuer));
    let _ = writeln!(s, "SANs:           {}", sans.join(", "));
    let _ = writeln!(s, "Key usage:      {}", r.extended_key_usage.join(", "));
    let _ = writeln!(s, "Serial:         {}", r.serial);
    let _ = writeln!(
        s,
        "Valid:          {} to {} ({left})",
        date(r.not_before),
        date(r.not_after)
    );
    let _ = writeln!(s, "Key algorithm:  {}", r.key_algorithm);
    let _ = writeln!(s, "CA:             {}", if r.is_ca { "yes" } else { "no" });
    let signer = match &r.signed_by {
        Some(pin) => format!("this host CA ({pin})"),
        None => "not this host CA".to_string(),
    };
    let _ = writeln!(s, "Signed by:      {signer}");
    let _ = writeln!(s, "Status:         {}", r.status.name());
    Ok(s)
}

/// Text with control characters (newlines, escapes, ...) shown as `\n`, `\u{1b}`, ...
pub(super) fn escape_control(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Output format of listing commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// JSON (stable field names, documented in the README).
    Json,
    /// YAML.
    Yaml,
}

/// JSON when `json`, else YAML.
pub(super) fn serialize<T: serde::Serialize>(value: &T, json: bool) -> rctl::Result<String> {
    let encode = |e: Box<dyn std::error::Error + Send + Sync>| rctl::Error::Encode {
        what: "output",
        source: e,
    };
    if json {
        serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| encode(Box::new(e)))
    } else {
        serde_norway::to_string(value).map_err(|e| encode(Box::new(e)))
    }
}

/// A user as listings show it: never the password hash.
#[derive(serde::Serialize)]
struct UserView<'a> {
    name: &'a str,
    roles: &'a [String],
    db_users: &'a [String],
    db_names: &'a [String],
    created: String,
    updated: String,
}

impl<'a> UserView<'a> {
    fn of(u: &'a rctl::User) -> UserView<'a> {
        UserView {
            name: &u.name,
            roles: &u.roles,
            db_users: &u.db_users,
            db_names: &u.db_names,
            created: date(u.created),
            updated: date(u.updated),
        }
    }
}

/// `users ls --format=json` a user at a time, as `serde_json`'s pretty printer writes the
/// whole list: `[`, each user indented by two spaces, `]`.
pub struct UserJsonStream {
    users: usize,
}

impl UserJsonStream {
    pub fn new() -> UserJsonStream {
        UserJsonStream { users: 0 }
    }

    /// The text for the next user.
    pub fn user(&mut self, user: &rctl::User) -> rctl::Result<String> {
        let one = serialize(&UserView::of(user), true)?;
        let mut text = String::from(if self.users == 0 { "[\n" } else { ",\n" });
        for (i, line) in one.trim_end().lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str("  ");
            text.push_str(line);
        }
        self.users += 1;
        Ok(text)
    }

    /// The text that ends the list.
    pub fn end(&self) -> &'static str {
        if self.users == 0 { "[]\n" } else { "\n]\n" }
    }
}

/// `users ls` / `get users`.
pub fn users(users: &[rctl::User], format: Format) -> rctl::Result<String> {
    let views: Vec<UserView<'_>> = users.iter().map(UserView::of).collect();
    if format != Format::Text {
        return serialize(&views, format == Format::Json);
    }
    let rows: Vec<[String; 4]> = views
        .iter()
        .map(|v| {
            [
                v.name.to_string(),
                v.roles.join(","),
                v.db_users.join(","),
                v.db_names.join(","),
            ]
        })
        .collect();
    Ok(table(["NAME", "ROLES", "DB USERS", "DB NAMES"], &rows))
}

/// Hosts as `--hosts` takes them: `a,b`.
pub fn host_list(hosts: &[rctl::Host]) -> String {
    let names: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    names.join(",")
}

/// `redis ls`.
pub fn servers(servers: &[rctl::RegisteredServer], format: Format) -> rctl::Result<String> {
    if format != Format::Text {
        return serialize(&servers, format == Format::Json);
    }
    let rows: Vec<[String; 5]> = servers
        .iter()
        .map(|s| {
            [
                s.name.to_string(),
                s.addr.to_string(),
                escape_control(&s.cert_prefix.display().to_string()),
                host_list(&s.hosts),
                s.labels.to_string(),
            ]
        })
        .collect();
    Ok(table(
        ["NAME", "ADDR", "CERT PREFIX", "HOSTS", "LABELS"],
        &rows,
    ))
}

/// `get roles`.
pub fn roles(roles: &[rctl::Role], format: Format) -> rctl::Result<String> {
    match format {
        Format::Yaml => {
            let docs: rctl::Result<Vec<String>> =
                roles.iter().map(|r| serialize(r, false)).collect();
            Ok(docs?.join("---\n"))
        }
        Format::Json => serialize(&roles, true),
        Format::Text => {
            let rows: Vec<[String; 4]> = roles
                .iter()
                .map(|r| {
                    [
                        r.metadata.name.clone(),
                        r.spec.allow.db_users.join(","),
                        r.spec.allow.redis_acl.join(" "),
                        r.spec
                            .options
                            .max_session_ttl
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            Ok(table(["NAME", "DB USERS", "REDIS ACL", "MAX TTL"], &rows))
        }
    }
}

pub(super) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:w$}")).collect();
        let _ = writeln!(s, "{}", parts.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    s
}

/// A generated password, shown this once.
pub fn password_once(user: &str, password: &rctl::Password) -> String {
    format!(
        "Redis password for {user:?}: {}\nSave it now: it will not be shown again (rctl keeps only its SHA-256).\n",
        password.expose()
    )
}

/// Files written for a client certificate, and how to connect with them.
pub fn redis_client_instructions(
    [crt, key, cas]: &[PathBuf; 3],
    login: &rctl::ClientLogin,
    issued: &rctl::IssuedCert,
) -> String {
    format!(
        "Client credentials for {:?} as Redis user {:?} have been written to {}, {}, {} (valid until {}).\n\n\
         Connect with:\n\nredis-cli --tls --cacert {} --cert {} --key {} --user {} --askpass -h HOST -p 6379\n",
        login.user,
        login.db_user,
        crt.display(),
        key.display(),
        cas.display(),
        date(issued.not_after),
        absolute(cas).display(),
        absolute(crt).display(),
        absolute(key).display(),
        login.db_user,
    )
}

/// `audit ls`.
pub fn audit(events: &[rctl::AuditEvent], format: Format) -> rctl::Result<String> {
    match format {
        Format::Json => serialize(&events, true),
        Format::Yaml => serialize(&events, false),
        Format::Text => {
            let mut s = String::new();
            for e in events {
                let _ = write!(
                    s,
                    "{}  {}  {}  {}",
                    date(e.time),
                    escape_control(&e.os_user),
                    escape_control(&e.command),
                    escape_control(&e.action)
                );
                if let Some(t) = e.target.as_deref().filter(|t| !t.is_empty()) {
                    let _ = write!(s, "  {}", escape_control(t));
                }
                if let Some(serial) = &e.serial {
                    let _ = write!(s, "  serial={serial}");
                }
                if let Some(subject) = &e.subject {
                    let _ = write!(s, "  subject=\"{}\"", escape_control(subject));
                }
                if !e.sans.is_empty() {
                    let _ = write!(s, "  sans={}", e.sans.join(","));
                }
                if let Some(t) = e.not_after {
                    let _ = write!(s, "  not_after={}", date(t));
                }
                if !e.outputs.is_empty() {
                    let outputs: Vec<String> =
                        e.outputs.iter().map(|o| escape_control(o)).collect();
                    let _ = write!(s, "  outputs={}", outputs.join(","));
                }
                s.push('\n');
            }
            Ok(s)
        }
    }
}

/// One server's or client output's findings in `redis check`.
#[derive(serde::Serialize)]
pub struct CheckReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    pub findings: Vec<String>,
}

/// `redis check`: a line per finding (`NAME: FINDING`), or `NAME: ok`.
pub fn check(reports: &[CheckReport], format: Format) -> rctl::Result<String> {
    match format {
        Format::Json => serialize(&reports, true),
        Format::Yaml => serialize(&reports, false),
        Format::Text => {
            let mut s = String::new();
            for r in reports {
                let name = match (&r.server, &r.client) {
                    (Some(server), _) => escape_control(server),
                    (None, client) => format!(
                        "client {}",
                        escape_control(client.as_deref().unwrap_or_default())
                    ),
                };
                if r.findings.is_empty() {
                    let _ = writeln!(s, "{name}: ok");
                }
                for f in &r.findings {
                    let _ = writeln!(s, "{name}: {}", one_line(f));
                }
            }
            Ok(s)
        }
    }
}

fn one_line(s: &str) -> String {
    super::error::one_line(s.to_string())
}

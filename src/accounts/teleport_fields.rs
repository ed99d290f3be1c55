//! The fields of Teleport's role resource that rctl reads past: a role written for Teleport
//! loads, and a note names what was left out, while a field neither knows is still refused.

/// Fields of Teleport's role resource (api/types: RoleV6, RoleOptions, RoleConditions) that
/// rctl does not use: a role written for Teleport loads, and a note names what was left out.
const TELEPORT_TOP: &[&str] = &["sub_kind"];
const TELEPORT_METADATA: &[&str] = &["labels", "namespace", "expires", "revision", "id"];
const TELEPORT_OPTIONS: &[&str] = &[
    "forward_agent",
    "port_forwarding",
    "ssh_port_forwarding",
    "client_idle_timeout",
    "disconnect_expired_cert",
    "cert_format",
    "enhanced_recording",
    "permit_x11_forwarding",
    "record_session",
    "ssh_file_copy",
    "create_host_user",
    "create_host_user_mode",
    "create_host_user_default_shell",
    "pin_source_ip",
    "create_db_user",
    "create_db_user_mode",
    "desktop_clipboard",
    "desktop_directory_sharing",
    "create_desktop_user",
    "require_session_mfa",
    "mfa_verification_interval",
    "lock",
    "request_access",
    "request_prompt",
    "max_connections",
    "max_sessions",
    "max_kubernetes_connections",
    "device_trust_mode",
    "idp",
    "cert_extensions",
    "bpf",
    "ssh_host_user_mode",
];
const TELEPORT_CONDITIONS: &[&str] = &[
    "logins",
    "node_labels",
    "node_labels_expression",
    "app_labels",
    "app_labels_expression",
    "cluster_labels",
    "cluster_labels_expression",
    "kubernetes_labels",
    "kubernetes_labels_expression",
    "kubernetes_groups",
    "kubernetes_users",
    "kubernetes_resources",
    "db_labels_expression",
    "db_service_labels",
    "db_service_labels_expression",
    "db_roles",
    "db_permissions",
    "windows_desktop_labels",
    "windows_desktop_labels_expression",
    "windows_desktop_logins",
    "rules",
    "request",
    "review_requests",
    "impersonate",
    "host_groups",
    "host_sudoers",
    "desktop_groups",
    "aws_role_arns",
    "azure_identities",
    "gcp_service_accounts",
    "join_sessions",
    "require_session_join",
    "spiffe",
    "account_assignments",
    "group_labels",
    "group_labels_expression",
    "github_permissions",
    "where",
    "workload_identity_labels",
    "workload_identity_labels_expression",
];

/// Removes the fields `known` from the mapping `value` (if it is one), adding each one's path
/// (`path` + name) to `out`: what a Teleport resource has and rctl passes over.
pub(crate) fn strip(
    value: Option<&mut serde_norway::Value>,
    path: &str,
    known: &[&str],
    out: &mut Vec<String>,
) {
    let Some(map) = value.and_then(serde_norway::Value::as_mapping_mut) else {
        return;
    };
    map.retain(|k, _| match k.as_str() {
        Some(name) if known.contains(&name) => {
            out.push(format!("{path}{name}"));
            false
        }
        _ => true,
    });
}

/// Removes the Teleport fields rctl does not use from a parsed role, returning their paths.
pub(crate) fn strip_teleport_fields(value: &mut serde_norway::Value) -> Vec<String> {
    let mut out = Vec::new();
    strip(Some(&mut *value), "", TELEPORT_TOP, &mut out);
    strip(
        value.get_mut("metadata"),
        "metadata.",
        TELEPORT_METADATA,
        &mut out,
    );
    if let Some(spec) = value.get_mut("spec") {
        strip(
            spec.get_mut("options"),
            "spec.options.",
            TELEPORT_OPTIONS,
            &mut out,
        );
        strip(
            spec.get_mut("allow"),
            "spec.allow.",
            TELEPORT_CONDITIONS,
            &mut out,
        );
        strip(
            spec.get_mut("deny"),
            "spec.deny.",
            TELEPORT_CONDITIONS,
            &mut out,
        );
    }
    out
}

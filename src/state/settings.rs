//! Cluster-wide settings kept in the state: today, the Redis version users.acl is written for.

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::acl::{Renderer, Target};
use crate::error::{Error, Invalid, Result};
use crate::state::audit::AuditEvent;

const SETTINGS_FILE: &str = "settings.yaml";

/// What `settings.yaml` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The Redis or Valkey version users.acl and role checks are for.
    #[serde(default)]
    redis_target: Target,
    /// Servers log clients in by their certificate's CN (`tls-auth-clients-user CN`): a
    /// certificate is then the account's password, and signing is stricter.
    #[serde(default)]
    cert_login: bool,
}

impl StateDir {
    fn saved_settings(&self) -> Result<Settings> {
        Ok(self
            .load(SETTINGS_FILE, crate::output::yaml::from_slice)?
            .unwrap_or_default())
    }

    /// The cluster's Redis target (`redis-7.0` until one is set).
    pub(crate) fn redis_target(&self) -> Result<Target> {
        Ok(self.saved_settings()?.redis_target)
    }

    /// The given target, else the cluster's.
    pub(crate) fn target_or_default(&self, target: Option<Target>) -> Result<Target> {
        match target {
            Some(t) => Ok(t),
            None => self.redis_target(),
        }
    }

    /// Whether the cluster's servers log clients in by certificate (see
    /// [`set_cert_login`](Self::set_cert_login)).
    pub(crate) fn cert_login(&self) -> Result<bool> {
        Ok(self.saved_settings()?.cert_login)
    }

    /// Turns certificate login on or off for the cluster. On, a client certificate logs its
    /// holder in as the account its CN names, with no password: `*` in `db_users` then reaches
    /// only a person's own account. Refused unless the cluster's target has it.
    pub(crate) fn set_cert_login(&mut self, on: bool) -> Result<()> {
        let mut settings = self.saved_settings()?;
        if on && !settings.redis_target.has_cert_login() {
            return Err(Invalid::CertificateLogin {
                target: settings.redis_target.to_string(),
                have: Target::ALL
                    .iter()
                    .filter(|t| t.has_cert_login())
                    .map(|t| t.name().to_string())
                    .collect(),
            }
            .into());
        }
        if settings.cert_login == on {
            return Ok(());
        }
        settings.cert_login = on;
        let yaml = serde_norway::to_string(&settings).map_err(|e| Error::encode("settings", e))?;
        let state = if on { "on" } else { "off" };
        self.audited(&[AuditEvent::about("settings.cert_login", state)], || {
            self.store().write(SETTINGS_FILE, yaml.as_bytes())
        })
    }

    /// Sets the cluster's Redis target. Refused (and nothing changed) when a role, or a user's
    /// combination of roles, cannot be written for it.
    pub(crate) fn set_redis_target(&mut self, target: Target) -> Result<()> {
        let roles = self.all_roles()?;
        let renderer = Renderer::new(&roles, target)?;
        self.for_each_user(&mut |user| renderer.line(&user).map(drop))?;
        let mut settings = self.saved_settings()?;
        if settings.cert_login && !target.has_cert_login() {
            return Err(Invalid::CertificateLogin {
                target: target.to_string(),
                have: Vec::new(),
            }
            .into());
        }
        settings.redis_target = target;
        let yaml = serde_norway::to_string(&settings).map_err(|e| Error::encode("settings", e))?;
        self.audited(
            &[AuditEvent::about("settings.redis_target", target.name())],
            || self.store().write(SETTINGS_FILE, yaml.as_bytes()),
        )
    }
}

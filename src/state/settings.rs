//! Cluster-wide settings kept in the state: today, the Redis version users.acl is written for.

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::acl::{Renderer, Target};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};

const SETTINGS_FILE: &str = "settings.yaml";

/// What `settings.yaml` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The Redis or Valkey version users.acl and role checks are for.
    #[serde(default)]
    redis_target: Target,
}

impl StateDir {
    fn settings(&self) -> Result<Settings> {
        Ok(self
            .load(SETTINGS_FILE, |data| {
                serde_norway::from_slice(data).map_err(|e| e.to_string())
            })?
            .unwrap_or_default())
    }

    /// The cluster's Redis target (`redis-7.0` until one is set).
    pub fn redis_target(&self) -> Result<Target> {
        Ok(self.settings()?.redis_target)
    }

    /// The given target, else the cluster's.
    pub(crate) fn target_or_default(&self, target: Option<Target>) -> Result<Target> {
        match target {
            Some(t) => Ok(t),
            None => self.redis_target(),
        }
    }

    /// Sets the cluster's Redis target. Refused (and nothing changed) when a role, or a user's
    /// combination of roles, cannot be written for it.
    pub fn set_redis_target(&mut self, target: Target) -> Result<()> {
        let roles = self.roles()?;
        let renderer = Renderer::new(&roles, target)?;
        self.for_each_user(&mut |user| renderer.line(&user).map(drop))?;
        let mut settings = self.settings()?;
        settings.redis_target = target;
        let yaml = serde_norway::to_string(&settings)
            .map_err(|e| Error::InvalidArgument(format!("settings: {e}")))?;
        self.audited(
            &[AuditEvent::about("settings.redis_target", target.name())],
            || self.store().write(SETTINGS_FILE, yaml.as_bytes()),
        )
    }
}

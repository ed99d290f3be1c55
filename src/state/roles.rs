//! Roles in the state: `roles/NAME.yaml`, one resource per file, beside the built-in ones.

use crate::accounts::admin::ADMIN_ACCOUNT;
use crate::accounts::roles::Role;
use crate::accounts::users::User;
use crate::acl::Target;
use crate::error::{Denial, Error, Result};
use crate::state::audit::AuditEvent;

use super::StateDir;

const ROLES_DIR: &str = "roles";

impl StateDir {
    /// Every role, built-in ones included, sorted by name.
    pub(crate) fn all_roles(&self) -> Result<Vec<Role>> {
        let mut roles = Role::builtins();
        for file in self.store().list(ROLES_DIR)? {
            let Some(stem) = file.strip_suffix(".yaml") else {
                continue;
            };
            let name = format!("{ROLES_DIR}/{file}");
            if Role::is_builtin(stem) {
                // Checks would use the built-in while users.acl used the file: refuse both.
                return Err(self.corrupt(
                    &name,
                    format!("{stem:?} is a built-in role and cannot be defined in a file"),
                ));
            }
            if stem == ADMIN_ACCOUNT {
                return Err(self.corrupt(
                    &name,
                    format!("{stem:?} is reserved for rctl's own account and cannot be defined in a file"),
                ));
            }
            let role = self.load(&name, |data| {
                let text = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
                let role = Role::from_yaml(text, &file).map_err(|e| e.to_string())?;
                if role.name() != stem {
                    return Err(format!("holds role {:?}, not {stem:?}", role.name()));
                }
                Ok(role)
            })?;
            roles.extend(role);
        }
        roles.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(roles)
    }

    /// One role.
    pub(crate) fn role(&self, name: &str) -> Result<Role> {
        self.all_roles()?
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| Error::NotFound {
                what: "role",
                name: name.to_string(),
            })
    }

    /// Creates a role; with `force`, replaces an existing one. Built-in roles cannot be changed.
    /// Returns true when a role was replaced.
    /// The role's Redis ACL rules are checked for `target`, else the cluster's target.
    pub(crate) fn create_role(
        &mut self,
        role: &Role,
        force: bool,
        target: Option<Target>,
    ) -> Result<bool> {
        role.validate()?;
        crate::acl::check_role(role, self.target_or_default(target)?)?;
        if Role::is_builtin(role.name()) {
            return Err(Denial::BuiltInRole {
                role: role.name().to_string(),
                action: "changed",
            }
            .into());
        }
        if role.name() == ADMIN_ACCOUNT {
            return Err(Denial::ReservedRole {
                role: ADMIN_ACCOUNT,
            }
            .into());
        }
        let exists = self.all_roles()?.iter().any(|r| r.name() == role.name());
        if exists && !force {
            return Err(Error::AlreadyExists {
                what: "role",
                name: role.name().to_string(),
            });
        }
        let yaml = serde_norway::to_string(role).map_err(|e| Error::encode("role", e))?;
        let action = if exists { "role.update" } else { "role.create" };
        self.audited(&[AuditEvent::about(action, role.name())], || {
            self.store().write(
                &format!("{ROLES_DIR}/{}.yaml", role.name()),
                yaml.as_bytes(),
            )
        })?;
        Ok(exists)
    }

    /// Removes a role; refused for built-in roles and while a user holds it.
    pub(crate) fn remove_role(&mut self, name: &str) -> Result<()> {
        if Role::is_builtin(name) {
            return Err(Denial::BuiltInRole {
                role: name.to_string(),
                action: "removed",
            }
            .into());
        }
        self.role(name)?;
        if let Some(user) = self
            .all_users()?
            .iter()
            .find(|u| u.roles.iter().any(|r| r == name))
        {
            return Err(Denial::RoleHeld {
                role: name.to_string(),
                user: user.name.to_string(),
            }
            .into());
        }
        self.audited(&[AuditEvent::about("role.delete", name)], || {
            self.store().remove(&format!("{ROLES_DIR}/{name}.yaml"))
        })
    }
}

pub(super) fn missing_role(user: &str, role: &str) -> Error {
    Error::MissingRole {
        user: user.to_string(),
        role: role.to_string(),
    }
}

pub(super) fn user_roles<'a>(user: &User, roles: &'a [Role]) -> Result<Vec<&'a Role>> {
    user.roles
        .iter()
        .map(|name| {
            roles
                .iter()
                .find(|r| r.name() == name)
                .ok_or_else(|| missing_role(&user.name, name))
        })
        .collect()
}

//! users.acl from the state: every user's line for the cluster's Redis target.

use crate::acl::{Renderer, Target};
use crate::error::Result;

use super::StateDir;
use super::users::USERS_FILE;

impl StateDir {
    /// The users.acl for every user: `user NAME on #SHA256 RULES` (the union of the user's
    /// roles, see [`crate::acl::render()`]), sorted by name, then `user default off`; for
    /// `target`, else the cluster's target.
    pub fn render_acl(&self, target: Option<Target>) -> Result<String> {
        let roles = self.roles()?;
        let renderer = Renderer::new(&roles, self.target_or_default(target)?)?;
        // Streamed: each user becomes its line as it is read, so 100,000 users never sit in
        // memory as records.
        let mut lines = Vec::new();
        self.for_each_user(&mut |user| {
            lines.push(renderer.line(&user)?);
            Ok(())
        })?;
        let text = Renderer::finish(lines);
        let mut previous = "";
        for line in text.lines() {
            let name = line.split(' ').nth(1).unwrap_or_default();
            if name == previous {
                return Err(self.corrupt(USERS_FILE, format!("user {name:?} appears twice")));
            }
            previous = name;
        }
        Ok(text)
    }
}

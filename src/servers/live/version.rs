//! Which Redis or Valkey a live server runs (`INFO server`), and whether it can load the
//! users.acl written for a target: a file for a newer version names commands the server does
//! not know, and a server that cannot load its aclfile does not start.

use std::fmt;

use crate::acl::Target;

/// A server's product and version, from `INFO server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    /// Valkey (its `INFO` has `valkey_version`), else Redis.
    pub valkey: bool,
    /// Major, minor, patch.
    pub version: (u32, u32, u32),
}

impl ServerVersion {
    /// From the text of `INFO server`; `None` when it names no version.
    pub fn from_info(info: &str) -> Option<ServerVersion> {
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':'))
                .and_then(parse_version)
        };
        match field("valkey_version") {
            Some(version) => Some(ServerVersion {
                valkey: true,
                version,
            }),
            None => field("redis_version").map(|version| ServerVersion {
                valkey: false,
                version,
            }),
        }
    }

    /// Why this server cannot take a users.acl written for `target`, if it cannot: a target of
    /// a later version, or of the other product (Valkey 8 and later answer as Redis 7.2.4, and
    /// are taken for Redis up to 7.2).
    pub fn refuses(self, target: Target) -> Option<String> {
        let (valkey, major, minor) = target.version();
        let ok = match (valkey, self.valkey) {
            (false, false) => (self.version.0, self.version.1) >= (major, minor),
            (false, true) => (major, minor) <= (7, 2),
            (true, true) => (self.version.0, self.version.1) >= (major, minor),
            (true, false) => false,
        };
        (!ok).then(|| {
            format!(
                "it runs {self}, which cannot load a users.acl for {target} (it would not start on it)"
            )
        })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = self.version;
        let product = if self.valkey { "Valkey" } else { "Redis" };
        write!(f, "{product} {a}.{b}.{c}")
    }
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> ServerVersion {
        ServerVersion::from_info(text).unwrap()
    }

    #[test]
    fn a_server_loads_files_for_its_version_and_older_ones_only() {
        let redis70 = info("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n");
        assert_eq!(redis70.to_string(), "Redis 7.0.15");
        assert!(redis70.refuses(Target::Redis70).is_none());
        assert!(redis70.refuses(Target::Redis62).is_none());
        assert!(
            redis70
                .refuses(Target::Redis74)
                .unwrap()
                .contains("redis-7.4")
        );
        assert!(redis70.refuses(Target::Valkey80).is_some());
        let valkey91 =
            info("redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n");
        assert_eq!(valkey91.to_string(), "Valkey 9.1.2");
        assert!(valkey91.refuses(Target::Valkey91).is_none());
        assert!(valkey91.refuses(Target::Redis72).is_none());
        assert!(valkey91.refuses(Target::Redis74).is_some());
        let valkey80 = info("redis_version:7.2.4\nvalkey_version:8.0.1\n");
        assert!(valkey80.refuses(Target::Valkey81).is_some());
        assert!(ServerVersion::from_info("uptime:3\n").is_none());
    }
}

//! The Redis and Valkey versions rctl writes users.acl for, and what each one has.
//!
//! Each target has its own command table and categories (`src/acl/tables/TARGET.txt`, made by
//! `scripts/acl_tables.py` from the server itself or from its source at the release tag; each
//! file names its source) and its own grammar features, read from `src/acl.c` at that tag.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The grammar features of a target (from its `src/acl.c`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Features {
    /// `&pattern`, `allchannels`, `resetchannels` (6.2+).
    pub channels: bool,
    /// A new user (and selector) starts with all channels (`acl-pubsub-default allchannels`,
    /// the default of 6.2 only).
    pub channels_default_all: bool,
    /// `sanitize-payload`, `skip-sanitize-payload` (6.2+).
    pub sanitize: bool,
    /// Selectors `( ... )`, `clearselectors`, `%R~`/`%W~` (7.0+).
    pub selectors: bool,
    /// `%~pattern` (no R or W) is refused. The 7.0.15 tag's source takes it, but Debian's
    /// 7.0.15 build refuses it, as 7.2+ and Valkey do; the servers decide.
    pub percent_needs_flags: bool,
    /// A bare `%` is taken (as an empty pattern with no access): Valkey 8.0.1 alone among the
    /// servers tried; Redis 7.0.15 (Debian) and Valkey 8.1+ refuse it. Refused where no server
    /// could be run (Redis 7.2/7.4, Valkey 7.2).
    pub bare_percent: bool,
    /// While a selector is open, a token starting with `(` starts it again (7.0 only; 7.2+
    /// appends it).
    pub selector_restarts: bool,
    /// `+cmd|arg` of a command already allowed is refused (6.0's EBUSY).
    pub first_arg_busy: bool,
    /// Command names with `|` are looked up as `container|subcommand` (7.0+); before, only
    /// `+cmd|first-arg` exists and is split at the first `|`.
    pub subcommands: bool,
    /// One `CONFIG SET` takes several settings (7.0+), so the TLS files are reloaded together.
    pub config_set_many: bool,
    /// Certificate login, `tls-auth-clients-user CN` (seen with `CONFIG GET` on valkey-server
    /// 9.0.0 and 9.1.2; Redis has it from 8.6).
    pub cert_login: bool,
    /// Database rules `db=N[,N...]`, `alldbs`, `resetdbs`, in selectors too (Valkey 9.1; seen
    /// with `ACL SETUSER` on valkey-server 9.1.2, refused by 9.0.0).
    pub databases: bool,
    /// Which logged-in connections `ACL LOAD` keeps.
    pub acl_load_keeps: AclLoadKeeps,
}

/// Which connections a server's `ACL LOAD` keeps (measured on the servers, else read from
/// `ACLLoadFromFile` at the tag). `redis sync` never needs it: it sets and deletes only the
/// accounts that differ, in one `MULTI`, which on every version drops the connections of
/// changed and deleted accounts only, so it keeps as many as `ACL LOAD` or more (Redis 7.4's
/// `ACL LOAD` alone also keeps those of changed accounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AclLoadKeeps {
    /// None: every authenticated connection is closed (Redis 6.x to 7.2, Valkey 7.2).
    Nothing,
    /// Those of accounts the file leaves as they were (Redis 8.0+, Valkey 8.0+).
    Unchanged,
    /// Those of every account the file still has (Redis 7.4: only deleted accounts'
    /// connections go, and Pub/Sub ones that lose channels).
    Existing,
}

/// Redis 6.0's grammar: ACLs, no Pub/Sub channel rules, no selectors.
const REDIS_6_0: Features = Features {
    channels: false,
    channels_default_all: false,
    sanitize: false,
    selectors: false,
    percent_needs_flags: false,
    bare_percent: false,
    selector_restarts: false,
    first_arg_busy: true,
    subcommands: false,
    config_set_many: false,
    cert_login: false,
    databases: false,
    acl_load_keeps: AclLoadKeeps::Nothing,
};

/// Redis 6.2: channel rules, new users with all channels, sanitize-payload.
const REDIS_6_2: Features = Features {
    channels: true,
    channels_default_all: true,
    sanitize: true,
    first_arg_busy: false,
    ..REDIS_6_0
};

/// Redis 7.2 and what follows it (Valkey included): selectors, `%R~`/`%W~`, subcommands.
const REDIS_7_2: Features = Features {
    channels_default_all: false,
    selectors: true,
    percent_needs_flags: true,
    subcommands: true,
    config_set_many: true,
    ..REDIS_6_2
};

/// One target: its enum variant, its name, its command table (`tables/NAME.txt`) and its
/// grammar features. Adding a Redis or Valkey version is one row here and one table file.
macro_rules! targets {
    ($( $(#[$attr:meta])* $variant:ident = $name:literal, $features:expr; )*) => {
        /// A Redis or Valkey version family whose ACL grammar and command table rctl knows.
        ///
        /// ```
        /// use rctl::acl::Target;
        /// let t: Target = "valkey-8.0".parse().unwrap();
        /// assert!(t.has_selectors());
        /// assert!(!Target::Redis62.has_selectors());
        /// assert_eq!(Target::default(), Target::Redis70);
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[non_exhaustive]
        pub enum Target {
            $( $(#[$attr])* $variant, )*
        }

        /// Every target's row, in the enum's order (Redis then Valkey, oldest first).
        const ROWS: &[Row] = &[
            $( Row {
                name: $name,
                table: include_str!(concat!("tables/", $name, ".txt")),
                features: $features,
            }, )*
        ];

        impl Target {
            /// Every target, Redis then Valkey, oldest first.
            pub const ALL: [Target; ROWS.len()] = [$( Target::$variant, )*];
        }
    };
}

targets! {
    /// Redis 6.0: ACLs, no Pub/Sub channel rules, no selectors.
    Redis60 = "redis-6.0", REDIS_6_0;
    /// Redis 6.2: channel rules (`&pattern`), new users start with all channels.
    Redis62 = "redis-6.2", REDIS_6_2;
    /// Redis 7.0: selectors, `%R~`/`%W~` key permissions; new users start with no channels.
    #[default]
    Redis70 = "redis-7.0", Features { selector_restarts: true, ..REDIS_7_2 };
    /// Redis 7.2.
    Redis72 = "redis-7.2", REDIS_7_2;
    /// Redis 7.4 (hash field expiry commands).
    Redis74 = "redis-7.4", Features { acl_load_keeps: AclLoadKeeps::Existing, ..REDIS_7_2 };
    /// Redis 8.0 (vector sets, `HGETDEL`/`HGETEX`/`HSETEX`).
    Redis80 = "redis-8.0", Features { acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Redis 8.2 (`XACKDEL`, `XDELEX`, `CLUSTER SLOT-STATS`).
    Redis82 = "redis-8.2", Features { acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Redis 8.6: logs clients in by their certificate's CN (`tls-auth-clients-user CN`).
    Redis86 = "redis-8.6", Features { cert_login: true, acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Valkey 7.2 (forked from Redis 7.2.4).
    Valkey72 = "valkey-7.2", REDIS_7_2;
    /// Valkey 8.0.
    Valkey80 = "valkey-8.0", Features { bare_percent: true, acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Valkey 8.1.
    Valkey81 = "valkey-8.1", Features { acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Valkey 9.0.
    Valkey90 = "valkey-9.0", Features { cert_login: true, acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
    /// Valkey 9.1 (database rules `db=`, `alldbs`, `resetdbs`).
    Valkey91 = "valkey-9.1", Features { cert_login: true, databases: true, acl_load_keeps: AclLoadKeeps::Unchanged, ..REDIS_7_2 };
}

/// A row of the target table.
struct Row {
    name: &'static str,
    table: &'static str,
    features: Features,
}

const ALL: [Target; ROWS.len()] = Target::ALL;

impl Target {
    fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// The target's name: `redis-7.0`, `valkey-8.1`, ...
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The product and the version the target is for, from its name: `(valkey, major, minor)`.
    pub fn version(self) -> (bool, u32, u32) {
        let (product, version) = self.name().split_once('-').unwrap_or(("redis", "0.0"));
        let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
        (
            product == "valkey",
            major.parse().unwrap_or(0),
            minor.parse().unwrap_or(0),
        )
    }

    /// True for Valkey targets.
    pub fn is_valkey(self) -> bool {
        self.name().starts_with("valkey-")
    }

    /// Selectors `( ... )` and `%R~`/`%W~` key permissions (Redis 7.0+, Valkey).
    pub fn has_selectors(self) -> bool {
        self.features().selectors
    }

    /// Pub/Sub channel rules (Redis 6.2+, Valkey).
    pub fn has_channels(self) -> bool {
        self.features().channels
    }

    /// Certificate login, `tls-auth-clients-user CN` (Valkey 9.0+; Redis has it from 8.6,
    /// which rctl has no target for).
    pub fn has_cert_login(self) -> bool {
        self.features().cert_login
    }

    /// Database rules `db=N[,N...]`, `alldbs`, `resetdbs` (Valkey 9.1+).
    pub fn has_databases(self) -> bool {
        self.features().databases
    }

    /// Which connections `ACL LOAD` keeps on this version (see [`AclLoadKeeps`]).
    pub fn acl_load_keeps(self) -> AclLoadKeeps {
        self.features().acl_load_keeps
    }

    pub(crate) fn features(self) -> Features {
        self.row().features
    }

    /// The target's command table and categories, read once.
    pub(crate) fn catalog(self) -> &'static Catalog {
        static CATALOGS: [OnceLock<Catalog>; ROWS.len()] = [const { OnceLock::new() }; ROWS.len()];
        CATALOGS[self as usize].get_or_init(|| Catalog::parse(self.row().table))
    }

    /// Whether the target knows `name` (a command, or `container|subcommand`).
    pub fn has_command(self, name: &str) -> bool {
        self.catalog()
            .index
            .contains_key(name.to_ascii_lowercase().as_str())
    }

    /// The target's commands (subcommands as `container|sub`), sorted.
    pub fn commands(self) -> &'static [&'static str] {
        &self.catalog().names
    }

    /// The target's ACL categories, in the server's order.
    pub fn categories(self) -> &'static [&'static str] {
        &self.catalog().categories
    }

    /// The first target of the same product (Redis or Valkey), else of the other, that has
    /// the command: for "exists from redis-7.4" hints.
    pub(crate) fn first_with_command(self, name: &str) -> Option<Target> {
        self.first_where(|t| t.has_command(name))
    }

    /// As [`first_with_command`](Self::first_with_command), for a category.
    pub(crate) fn first_with_category(self, name: &str) -> Option<Target> {
        self.first_where(|t| t.catalog().category(name).is_some())
    }

    fn first_where(self, has: impl Fn(Target) -> bool) -> Option<Target> {
        let same = |t: &Target| t.is_valkey() == self.is_valkey();
        ALL.iter()
            .filter(|t| same(t))
            .chain(ALL.iter().filter(|t| !same(t)))
            .copied()
            .find(|t| has(*t))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A target name rctl does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL.iter().map(|t| t.name()).collect();
        write!(
            f,
            "unknown Redis target {:?}; known targets: {}",
            crate::error::shorten(&self.0),
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownTarget {}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Target, UnknownTarget> {
        ALL.iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTarget(s.to_string()))
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A target's commands (subcommands as `container|sub`, lower case) and categories, with the
/// categories of each command where the table has them (6.x: from the server or its flags).
pub(crate) struct Catalog {
    /// Command name → index into `names`.
    pub index: HashMap<&'static str, usize>,
    /// Command names, sorted.
    pub names: Vec<&'static str>,
    /// Commands that have subcommands.
    pub containers: HashSet<&'static str>,
    /// Category names, in the server's order.
    pub categories: Vec<&'static str>,
    /// For each category (same order), the indices of its commands.
    pub members: Vec<Vec<usize>>,
}

impl Catalog {
    fn parse(text: &'static str) -> Catalog {
        let mut categories: Vec<&str> = Vec::new();
        let mut rows: Vec<(&str, Vec<&str>)> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split(' ');
            let first = words.next().unwrap_or_default();
            if first == "categories" {
                categories = words.collect();
            } else {
                rows.push((first, words.collect()));
            }
        }
        rows.sort_unstable_by_key(|(n, _)| *n);
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let containers = names
            .iter()
            .filter_map(|n| n.split_once('|').map(|(c, _)| c))
            .collect();
        let mut members = vec![Vec::new(); categories.len()];
        for (i, (_, cats)) in rows.iter().enumerate() {
            for c in cats {
                if let Some(k) = categories.iter().position(|x| x == c) {
                    members[k].push(i);
                }
            }
        }
        Catalog {
            index,
            names,
            containers,
            categories,
            members,
        }
    }

    /// The index of a category (case-insensitive, as `strcasecmp`).
    pub fn category(&self, name: &str) -> Option<usize> {
        self.categories
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether the table says which commands each category holds.
    pub fn has_members(&self) -> bool {
        self.members.iter().any(|m| !m.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_loads_with_commands_and_categories() {
        for t in Target::ALL {
            let c = t.catalog();
            assert!(c.names.len() > 150, "{t}: {} commands", c.names.len());
            assert!(c.categories.len() >= 21, "{t}");
            assert!(
                c.index.contains_key("get") && c.category("read").is_some(),
                "{t}"
            );
            assert_eq!(t.name().parse::<Target>().unwrap(), t);
            let (valkey, major, _) = t.version();
            assert_eq!(valkey, t.is_valkey(), "{t}");
            assert!(major >= 6, "{t}");
        }
        // 6.x tables carry membership (composition without selectors needs it).
        assert!(Target::Redis60.catalog().has_members());
        assert!(Target::Redis62.catalog().has_members());
    }

    #[test]
    fn commands_appear_where_the_servers_have_them() {
        assert!(!Target::Redis70.has_command("hexpire"));
        assert!(Target::Redis74.has_command("hexpire"));
        assert!(Target::Valkey90.has_command("HEXPIRE"));
        assert!(!Target::Valkey81.has_command("hexpire"));
        assert_eq!(
            Target::Redis70.first_with_command("hexpire"),
            Some(Target::Redis74)
        );
        assert!(Target::Redis70.has_command("client|list"));
        assert!(!Target::Redis62.has_command("client|list"));
        assert!("redis-9.9".parse::<Target>().is_err());
    }
}

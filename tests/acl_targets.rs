//! rctl's ACL engine against the real servers of each target: generated users.acl lines get
//! the same verdict from `rctl acl check` as from the server; generated roles that rctl
//! accepts render to lines the server loads, and roles it refuses the server refuses too;
//! users with several roles may run exactly what one of their roles allows (ACL DRYRUN).

use std::collections::BTreeSet;

use rctl::acl::{FindingKind, Target, lint};
use rctl::{Role, RoleConditions, RoleSpec};

use crate::acl_servers::{AclServer, Rng, SERVED};
use crate::util::TestDir;

const WORDS: [&str; 16] = [
    "on",
    "off",
    "nopass",
    "resetpass",
    "reset",
    "allkeys",
    "resetkeys",
    "allchannels",
    "resetchannels",
    "allcommands",
    "nocommands",
    "clearselectors",
    "sanitize-payload",
    "skip-sanitize-payload",
    "bogus",
    "ON",
];
/// Valkey 9.1's database rules, valid and not (as valkey-server 9.1.2 reads them).
const DATABASE_RULES: [&str; 24] = [
    "db=0",
    "db=0,2",
    "db=2,1,2",
    "db=01",
    "db=+1",
    "db=-0",
    "db=-1",
    "db=",
    "db=1,",
    "db=,1",
    "db=1,,2",
    "db=2147483647",
    "db=2147483648",
    "db=99999999999999999999",
    "DB=3",
    "Db=0x1",
    "db=a",
    "db=1.0",
    "alldbs",
    "resetdbs",
    "ALLDBS",
    "alldb",
    "dbs=1",
    "db",
];
const PASSWORDS: [&str; 3] = ["p1", "p2", ""];
const CATEGORIES: [&str; 8] = [
    "read",
    "write",
    "admin",
    "dangerous",
    "all",
    "ALL",
    "nosuch",
    "connection",
];

/// Commands from every target's table, so each target also sees commands it lacks.
fn all_commands() -> Vec<&'static str> {
    let mut set = BTreeSet::new();
    for t in Target::ALL {
        set.extend(t.commands().iter().copied());
    }
    set.into_iter().collect()
}

fn sha(p: &str) -> String {
    use std::fmt::Write;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{p}' | sha256sum"))
        .output()
        .unwrap();
    let mut s = String::new();
    let _ = write!(s, "{}", String::from_utf8_lossy(&out.stdout));
    s.split_whitespace().next().unwrap().to_string()
}

struct Gen {
    rng: Rng,
    commands: Vec<&'static str>,
    hashes: Vec<String>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            commands: all_commands(),
            hashes: PASSWORDS.iter().map(|p| sha(p)).collect(),
        }
    }

    fn pattern(&mut self) -> String {
        const CHARS: &[u8] = b"ab:*?x1(";
        let len = self.rng.below(5);
        (0..len).map(|_| *self.rng.pick(CHARS) as char).collect()
    }

    fn command(&mut self) -> String {
        let c = self.rng.pick(&self.commands).to_string();
        if self.rng.chance(10) {
            c.to_uppercase()
        } else {
            c
        }
    }

    fn plain_command(&mut self) -> String {
        loop {
            let c = self.command();
            if !c.contains('|') {
                return c;
            }
        }
    }

    /// One rule of the kinds a selector takes (and some it does not).
    fn rule(&mut self) -> String {
        let r = &mut self.rng;
        match r.below(32) {
            0..=3 => r.pick(&WORDS).to_string(),
            4..=6 => format!("~{}", self.pattern()),
            7 => "~*".into(),
            8..=9 => {
                let flags = *self
                    .rng
                    .pick(&["R", "W", "RW", "WR", "r", "", "RR", "X", "Rw"]);
                format!("%{flags}~{}", self.pattern())
            }
            10 => format!("%{}", self.rng.pick(&["RW", "", "R"])),
            11..=12 => format!("&{}", self.pattern()),
            13 => "&*".into(),
            14..=17 => format!("+{}", self.command()),
            18..=19 => format!("-{}", self.command()),
            20 => format!(
                "+{}|{}",
                self.plain_command(),
                self.rng.pick(&["0", "x", "get", ""])
            ),
            21 => format!("-{}|x", self.plain_command()),
            22..=23 => format!(
                "{}@{}",
                self.rng.pick(&["+", "-"]),
                self.rng.pick(&CATEGORIES)
            ),
            24 => format!(">{}", self.rng.pick(&PASSWORDS)),
            25 => format!("<{}", self.rng.pick(&PASSWORDS)),
            26 => format!("#{}", self.rng.pick(&self.hashes)),
            27 => format!("!{}", self.rng.pick(&self.hashes)),
            28 => format!("#{}", "A".repeat(64)),
            29..=30 => self.rng.pick(&DATABASE_RULES).to_string(),
            _ => self
                .rng
                .pick(&[
                    "+",
                    "-",
                    "+|",
                    "+get|",
                    "+config|get|x",
                    "+@",
                    "~a)",
                    "%",
                    "bogus",
                ])
                .to_string(),
        }
    }

    /// A token of a users.acl line: a rule, a selector, or something awkward.
    fn token(&mut self) -> String {
        match self.rng.below(20) {
            0..=13 => self.rule(),
            14..=16 => {
                let n = self.rng.below(4);
                let inner: Vec<String> = (0..n).map(|_| self.rule()).collect();
                format!("({})", inner.join(" "))
            }
            17 => {
                let t = self.rule();
                match self.rng.below(3) {
                    0 => format!("{t}\t"),
                    1 => format!("\t{t}"),
                    _ => format!("on\t{t}"),
                }
            }
            18 => self
                .rng
                .pick(&[
                    "(\"~a b\")",
                    "(~\"x y\")",
                    "('~q')",
                    "(\"+get)",
                    "()",
                    "(~a:(x) +get ~b)",
                    "(+get) (~x)",
                    "(~open",
                    "(+get)\t",
                    "(",
                ])
                .to_string(),
            _ => String::new(),
        }
    }

    fn line(&mut self, name: &str) -> String {
        let n = 1 + self.rng.below(5);
        let tokens: Vec<String> = (0..n).map(|_| self.token()).collect();
        format!("user {name} {}", tokens.join(" "))
    }
}

/// A user holding `roles`, with a fresh password.
pub fn user(name: &str, roles: &[&str]) -> rctl::User {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    rctl::User {
        name: name.to_string(),
        roles: roles.iter().map(ToString::to_string).collect(),
        db_users: Vec::new(),
        db_names: Vec::new(),
        password_sha256: rctl::Password::generate().hash(),
        created: now,
        updated: now,
    }
}

/// What `create -f` refuses by rctl's own policy, whatever the server: passwords, the words
/// rctl decides, and anything Redis could split or quote differently inside a selector.
fn outside_role_policy(item: &str) -> bool {
    let selector = item.len() >= 2 && item.starts_with('(') && item.ends_with(')');
    let words: Vec<&str> = if selector {
        item[1..item.len() - 1].split(' ').collect()
    } else {
        vec![item]
    };
    item.is_empty()
        || item.contains(['"', '\'', '\t'])
        || (!selector && (item.contains(' ') || item.starts_with('(') || item.ends_with(')')))
        || words.iter().any(|w| {
            w.is_empty()
                || w.starts_with('(')
                || w.ends_with(')')
                || w.starts_with(['>', '<', '#', '!'])
                || [
                    "on",
                    "off",
                    "nopass",
                    "resetpass",
                    "reset",
                    "clearselectors",
                ]
                .contains(&w.to_ascii_lowercase().as_str())
                // Databases come from a role's db_names.
                || w.to_ascii_lowercase().starts_with("db=")
                || ["alldbs", "resetdbs"].contains(&w.to_ascii_lowercase().as_str())
        })
}

fn grammar_refused(text: &str, target: Target) -> BTreeSet<usize> {
    lint(text, target)
        .into_iter()
        .filter(|f| f.kind == FindingKind::Grammar && f.line > 0)
        .map(|f| f.line)
        .collect()
}

fn target(name: &str) -> Target {
    name.parse().unwrap()
}

/// The linter's verdict on each generated line equals the server's, target by target.
#[test]
fn acl_check_agrees_with_every_server_on_generated_lines() {
    const CASES: usize = 4000;
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (k, name) in SERVED.iter().enumerate() {
        let t = target(name);
        let mut server = AclServer::start(name);
        let mut g = Gen::new(0x5eed_0000 + k as u64);
        let mut lines = Vec::with_capacity(CASES);
        let mut unclosed = 0;
        while lines.len() < CASES {
            // Now and then a name again: 7.0+ refuses a duplicate user, 6.x keeps the last.
            let name = if !lines.is_empty() && g.rng.chance(2) {
                format!("c{}", g.rng.below(lines.len()))
            } else {
                format!("c{}", lines.len())
            };
            let line = g.line(&name);
            // An unclosed selector crashes 7.0+ servers: rctl refuses it (checked below), and
            // it is never sent.
            if lint(&line, t)
                .iter()
                .any(|f| f.message.contains("not closed"))
            {
                unclosed += 1;
                continue;
            }
            lines.push(line);
        }
        let body = lines.join("\n") + "\n";
        let ours = grammar_refused(&body, t);
        let theirs = server.refused_lines(&body);
        // What the server took, it takes again on its own: the verdicts are per line.
        let accepted: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !theirs.contains(&(i + 1)))
            .map(|(_, l)| l.as_str())
            .collect();
        assert!(
            server
                .refused_lines(&(accepted.join("\n") + "\n"))
                .is_empty(),
            "{name}: the accepted lines did not load together"
        );
        let differ: Vec<usize> = ours.symmetric_difference(&theirs).copied().collect();
        for i in differ.iter().take(10) {
            failures.push(format!(
                "{name}: line {i} rctl {} / server {}: {:?}",
                if ours.contains(i) {
                    "refuses"
                } else {
                    "accepts"
                },
                if theirs.contains(i) {
                    "refuses"
                } else {
                    "accepts"
                },
                lines[i - 1]
            ));
        }
        report.push(format!(
            "{name}: {CASES} lines, server refused {}, rctl refused {}, disagreements {} ({unclosed} unclosed selectors refused by rctl, not sent)",
            theirs.len(),
            ours.len(),
            differ.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What crashes a server is refused for every target with selectors; tabs and secrets too.
#[test]
fn acl_check_refuses_unclosed_selectors_tabs_and_never_echoes_secrets() {
    let dir = TestDir::new();
    let file = dir.write(
        "users.acl",
        "user a on ~x (+get\nuser b on\t~x\nuser c on (>Hunter2Secret ~x)\nuser default off\n",
    );
    for t in Target::ALL {
        let run = dir.rctl(&["acl", "check", "--target", t.name(), file.to_str().unwrap()]);
        assert_eq!(run.output.status.code(), Some(1), "{}", run.stderr());
        let out = run.all_output();
        assert!(!out.contains("Hunter2Secret"), "{t}: {out}");
        assert!(out.contains(&format!("for {t}")), "{t}: {out}");
        assert!(out.contains("line 2: invalid ACL rule"), "{t}: {out}");
        if t.has_selectors() {
            assert!(
                out.contains("line 1: a selector '(' is not closed"),
                "{t}: {out}"
            );
        }
    }
}

/// Roles as `create -f` checks them: what rctl accepts renders to a line the server loads;
/// what it refuses (beyond its own policy) the server refuses too.
#[test]
fn role_checks_agree_with_every_server() {
    const ROLES: usize = 600;
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (k, name) in SERVED.iter().enumerate() {
        let t = target(name);
        let mut server = AclServer::start(name);
        let mut g = Gen::new(0xc0de_0000 + k as u64);
        let mut ours = Vec::new();
        let mut lines = Vec::new();
        while lines.len() < ROLES {
            let n = 1 + g.rng.below(4);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    if t.has_selectors() && g.rng.chance(15) {
                        let m = 1 + g.rng.below(3);
                        let inner: Vec<String> = (0..m).map(|_| g.rule()).collect();
                        format!("({})", inner.join(" "))
                    } else {
                        g.rule()
                    }
                })
                .collect();
            // Only what a role may hold by rctl's own policy: the rest is refused for reasons
            // the server does not share.
            let policy = items.iter().any(|i| outside_role_policy(i));
            if policy {
                continue;
            }
            let role = Role::new(
                &format!("r{}", lines.len()),
                RoleSpec {
                    allow: RoleConditions {
                        redis_acl: items.clone(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            );
            let verdict = rctl::acl::check_role(&role, t);
            // 6.2 starts users with every channel; a role means only what it says.
            let prefix = if t == Target::Redis62 {
                " resetchannels"
            } else {
                ""
            };
            lines.push(format!(
                "user u{} on{prefix} {}",
                lines.len(),
                items.join(" ")
            ));
            ours.push((role, verdict));
        }
        let theirs = server.refused_lines(&(lines.join("\n") + "\n"));
        let mut accepted = Vec::new();
        let mut refused = 0;
        for (i, (role, verdict)) in ours.iter().enumerate() {
            let server_ok = !theirs.contains(&(i + 1));
            refused += usize::from(verdict.is_err());
            if verdict.is_ok() != server_ok {
                failures.push(format!(
                    "{name}: role {:?} rctl {} / server {}",
                    role.spec.allow.redis_acl,
                    if verdict.is_ok() {
                        "accepts"
                    } else {
                        "refuses"
                    },
                    if server_ok { "accepts" } else { "refuses" },
                ));
            }
            if verdict.is_ok() {
                accepted.push(role.clone());
            }
        }
        // Each accepted role, as rctl renders it for a user holding it alone, loads.
        let users: Vec<rctl::User> = accepted
            .iter()
            .map(|r| user(&format!("x{}", r.name()), &[r.name()]))
            .collect();
        let text = rctl::acl::render(&users, &accepted, t).unwrap();
        let body = text.replace("user default off\n", "");
        let bad = server.refused_lines(&body);
        for i in bad.iter().take(5) {
            failures.push(format!(
                "{name}: rendered line refused: {}",
                body.lines().nth(i - 1).unwrap_or_default()
            ));
        }
        report.push(format!(
            "{name}: {} roles, rctl refused {refused}, server refused {}, rendered lines refused {}",
            ours.len(),
            theirs.len(),
            bad.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const MEANING_RULES: [&str; 38] = [
    "+get",
    "+set",
    "+del",
    "+hget",
    "+hset",
    "+lpush",
    "+lrange",
    "+publish",
    "+subscribe",
    "+ping",
    "+flushall",
    "+config|get",
    "+client|list",
    "+incr",
    "-get",
    "-set",
    "-flushall",
    "+@read",
    "+@write",
    "+@string",
    "+@hash",
    "+@pubsub",
    "-@write",
    "-@dangerous",
    "+@admin",
    "allcommands",
    "~a:*",
    "~b:*",
    "%R~r:*",
    "%W~w:*",
    "allkeys",
    "&ch:*",
    "&news",
    "allchannels",
    "resetchannels",
    "-@all",
    "(+get ~s:*)",
    "(+set %W~s:*)",
];

/// What each probe sends: a command that touches keys, channels, or the server.
const PROBES: [&str; 22] = [
    "get a:1",
    "get b:1",
    "get r:1",
    "get w:1",
    "get s:1",
    "get z:1",
    "set a:1 v",
    "set w:1 v",
    "set r:1 v",
    "set s:1 v",
    "del b:1",
    "hset a:1 f v",
    "hget b:1 f",
    "lpush z:1 v",
    "lrange a:1 0 1",
    "incr a:1",
    "publish ch:1 m",
    "publish news m",
    "ping",
    "flushall",
    "config get maxmemory",
    "client list",
];

/// Random valid roles for `t`, built from rules whose meaning the probes can see.
fn meaning_roles(g: &mut Gen, t: Target, n: usize) -> Vec<Role> {
    let mut roles = Vec::new();
    while roles.len() < n {
        let k = 1 + g.rng.below(5);
        let items: Vec<String> = (0..k)
            .map(|_| g.rng.pick(&MEANING_RULES).to_string())
            .filter(|r| t.has_selectors() || !(r.starts_with('(') || r.starts_with('%')))
            .collect();
        let role = Role::new(
            &format!("m{}", roles.len()),
            RoleSpec {
                allow: RoleConditions {
                    redis_acl: items,
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        if rctl::acl::check_role(&role, t).is_ok() {
            roles.push(role);
        }
    }
    roles
}

/// For each user and probe: allowed iff one of the user's roles, loaded on its own as the
/// server reads its rules, allows it. Returns (users checked, multi-role users, probes).
fn check_meaning(server: &mut AclServer, t: Target, seed: u64) -> (usize, usize, usize) {
    let mut g = Gen::new(seed);
    let roles = meaning_roles(&mut g, t, 14);
    let mut users = Vec::new();
    let mut multi = 0;
    while users.len() < 60 {
        let k = 1 + g.rng.below(3);
        let picked: Vec<&str> = (0..k).map(|_| g.rng.pick(&roles).name()).collect();
        let mut u = user(&format!("u{}", users.len()), &picked);
        let password = format!("pw-{}", users.len());
        u.password_sha256 = rctl::Password::from_input(password.clone()).unwrap().hash();
        // Without selectors some combinations are refused: those users are left out.
        if rctl::acl::render(std::slice::from_ref(&u), &roles, t).is_ok() {
            multi += usize::from(picked.len() > 1);
            users.push((u, password));
        }
    }
    let records: Vec<rctl::User> = users.iter().map(|(u, _)| u.clone()).collect();
    let rendered = rctl::acl::render(&records, &roles, t).unwrap();
    assert!(
        lint(&rendered, t).is_empty(),
        "{t}: {:?}",
        lint(&rendered, t)
    );
    // The oracle: each role verbatim, as its own user (6.2: starting without channels, as a
    // role means only what it says).
    let prefix = if t == Target::Redis62 {
        " resetchannels"
    } else {
        ""
    };
    let oracle: String = roles
        .iter()
        .map(|r| {
            format!(
                "user o-{} on nopass{prefix} {}\n",
                r.name(),
                r.spec.allow.redis_acl.join(" ")
            )
        })
        .collect();
    let body = rendered.replace("user default off\n", "") + &oracle;
    assert!(
        server.refused_lines(&body).is_empty(),
        "{t}: the file did not load"
    );
    let allowed = |server: &AclServer, name: &str, password: Option<&str>| -> Vec<bool> {
        if t.has_selectors() {
            let cmds: String = PROBES
                .iter()
                .map(|p| format!("ACL DRYRUN {name} {p}\n"))
                .collect();
            let replies = server.pipe(&cmds);
            assert_eq!(replies.len(), PROBES.len(), "{t}: {replies:?}");
            replies
                .iter()
                .map(|r| r.trim().trim_matches('"') == "OK")
                .collect()
        } else {
            // 6.2 has no ACL DRYRUN: run the commands as the user; only NOPERM is a denial.
            let auth = match password {
                Some(p) => format!("AUTH {name} {p}\n"),
                None => format!("AUTH {name} any\n"),
            };
            let cmds: String = std::iter::once(auth)
                .chain(PROBES.iter().map(|p| format!("{p}\n")))
                .collect();
            let replies = server.pipe(&cmds);
            assert_eq!(replies.len(), PROBES.len() + 1, "{t}: {replies:?}");
            assert_eq!(
                replies[0].trim().trim_matches('"'),
                "OK",
                "{t}: AUTH {name}"
            );
            replies[1..]
                .iter()
                .map(|r| !r.starts_with("ERROR,\"NOPERM"))
                .collect()
        }
    };
    let by_role: std::collections::HashMap<&str, Vec<bool>> = roles
        .iter()
        .map(|r| (r.name(), allowed(server, &format!("o-{}", r.name()), None)))
        .collect();
    for (u, password) in &users {
        let got = allowed(server, &u.name, Some(password));
        for (i, probe) in PROBES.iter().enumerate() {
            let want = u.roles.iter().any(|r| by_role[r.as_str()][i]);
            assert_eq!(
                got[i],
                want,
                "{t}: user with roles {:?} {} {probe:?}; the roles: {:?}; the line: {}",
                u.roles,
                if got[i] { "may run" } else { "may not run" },
                u.roles
                    .iter()
                    .map(|r| roles
                        .iter()
                        .find(|x| x.name() == r)
                        .unwrap()
                        .spec
                        .allow
                        .redis_acl
                        .join(" "))
                    .collect::<Vec<_>>(),
                rendered
                    .lines()
                    .find(|l| l.starts_with(&format!("user {} ", u.name)))
                    .unwrap_or_default()
            );
        }
    }
    (users.len(), multi, PROBES.len())
}

/// A user with several roles may run exactly what one of them allows, on every server.
#[test]
fn users_acl_means_the_union_of_the_roles() {
    let mut report = Vec::new();
    for (k, name) in SERVED.iter().enumerate() {
        let t = target(name);
        let mut server = AclServer::start(name);
        let mut totals = (0, 0);
        for round in 0..4 {
            let (users, multi, _) =
                check_meaning(&mut server, t, 0xface_0000 + (k * 16 + round) as u64);
            totals.0 += users;
            totals.1 += multi;
        }
        assert!(
            totals.1 > 20,
            "{name}: only {} users with several roles",
            totals.1
        );
        report.push(format!(
            "{name}: {} users ({} with several roles) x {} probes",
            totals.0,
            totals.1,
            PROBES.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

/// Redis's own ACL tests as users.acl lines (see scripts/acl_tcl_corpus.py): a development
/// check, since rctl does not vendor that corpus. Run with `--ignored` and RCTL_ACL_CORPUS.
#[test]
#[ignore = "needs RCTL_ACL_CORPUS, made from Redis's tests by scripts/acl_tcl_corpus.py"]
fn acl_corpus_agrees_with_every_server() {
    let path = std::env::var("RCTL_ACL_CORPUS").expect("RCTL_ACL_CORPUS");
    let corpus = std::fs::read_to_string(path).unwrap();
    for name in SERVED {
        let t = target(name);
        let lines: Vec<&str> = corpus
            .lines()
            .filter(|l| !lint(l, t).iter().any(|f| f.message.contains("not closed")))
            .collect();
        let body = lines.join("\n") + "\n";
        let ours = grammar_refused(&body, t);
        let mut server = AclServer::start(name);
        let theirs = server.refused_lines(&body);
        let differ: Vec<String> = ours
            .symmetric_difference(&theirs)
            .map(|i| lines[i - 1].to_string())
            .collect();
        eprintln!(
            "{name}: {} lines ({} unclosed left out), server refused {}, disagreements {}",
            lines.len(),
            corpus.lines().count() - lines.len(),
            theirs.len(),
            differ.len()
        );
        assert!(differ.is_empty(), "{name}: {differ:#?}");
    }
}

/// `db_names` become Valkey 9.1's database rules, each role on its own databases, and the
/// server enforces them: an allowed database can be selected and used, another is NOPERM.
#[test]
fn db_names_are_enforced_by_valkey_9_1() {
    let t = Target::Valkey91;
    let mut server = AclServer::start("valkey-9.1");
    let names = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    let mut roles = Role::builtins();
    let role = |name: &str, allow: &[&str], deny: &[&str], rules: &[&str]| {
        Role::new(
            name,
            RoleSpec {
                allow: RoleConditions {
                    db_names: names(allow),
                    redis_acl: names(rules),
                    ..Default::default()
                },
                deny: RoleConditions {
                    db_names: names(deny),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    };
    roles.push(role("reports", &["3"], &[], &["~*", "+@read"]));
    roles.push(role("no-five", &[], &["5"], &[]));
    let password = rctl::Password::from_input("pw-for-the-test-1".into()).unwrap();
    let person = |name: &str, roles: &[&str], db_names: &[&str]| {
        let mut u = user(name, roles);
        u.db_names = names(db_names);
        u.password_sha256 = password.hash();
        u
    };
    let users = [
        person("alice", &["access"], &["0", "2"]),
        person("bob", &["readonly"], &["1"]),
        person("carol", &["access", "reports"], &["0"]),
        person("dave", &["access"], &[]),
        person("erin", &["access", "no-five"], &["4", "5"]),
    ];
    let text = rctl::acl::render(&users, &roles, t).unwrap();
    assert!(lint(&text, t).is_empty(), "{text}: {:?}", lint(&text, t));
    let body = text.replace("user default off\n", "");
    assert!(server.refused_lines(&body).is_empty(), "{body}");
    server.cli(&["SET", "k", "v"]);
    for db in ["1", "2", "3", "4", "5"] {
        server.pipe(&format!("SELECT {db}\nSET k v{db}\n"));
    }
    // (user, commands, the replies expected: OK, a value, or NOPERM).
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "alice",
            "SET k a\nSELECT 2\nGET k\nSELECT 1\nMOVE k 1\nSWAPDB 0 1",
            &["OK", "OK", "v2", "NOPERM", "NOPERM", "NOPERM"],
        ),
        (
            "bob",
            "GET k\nSELECT 1\nGET k\nSET k x\nSELECT 0",
            &["NOPERM", "OK", "v1", "NOPERM", "NOPERM"],
        ),
        (
            "carol",
            "SET k c\nSELECT 3\nGET k\nSET k x\nSELECT 2",
            &["OK", "OK", "v3", "NOPERM", "NOPERM"],
        ),
        ("dave", "SELECT 5\nGET k\nMOVE k 6", &["OK", "v5", "1"]),
        (
            "erin",
            "SELECT 4\nGET k\nSELECT 5\nSELECT 0",
            &["OK", "v4", "NOPERM", "NOPERM"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, commands, want) in cases {
        let replies = server.pipe(&format!("AUTH {name} {}\n{commands}\n", password.expose()));
        assert_eq!(
            replies.first().map(String::as_str),
            Some("\"OK\""),
            "{name}"
        );
        assert_eq!(
            commands.lines().count(),
            want.len(),
            "{name}: one reply per command"
        );
        assert_eq!(replies.len(), want.len() + 1, "{name}: {replies:?}");
        for ((command, reply), want) in commands.lines().zip(&replies[1..]).zip(want) {
            let ok = if *want == "NOPERM" {
                reply.contains("NOPERM")
            } else {
                reply.trim_matches('"') == *want
            };
            if !ok {
                failures.push(format!("{name}: {command} -> {reply} (wanted {want})"));
            }
        }
    }
    assert!(failures.is_empty(), "{}\n{text}", failures.join("\n"));
    // The same users on a target without database rules: no db= rule, every database.
    let text = rctl::acl::render(&users, &roles, Target::Valkey90).unwrap();
    assert!(!text.contains("db="), "{text}");
}

/// What `ACL LOAD` does to logged-in connections, on every served target, is what the
/// target's `acl_load_keeps` says (sync's account-by-account changes never rely on it).
#[test]
fn acl_load_keeps_the_connections_its_target_says() {
    use rctl::acl::AclLoadKeeps;
    use std::io::{Read, Write};
    let before =
        "user keep on >pw ~* +@all\nuser change on >pw ~* +@all\nuser gone on >pw ~* +@all\n";
    let after = "user keep on >pw ~* +@all\nuser change on >pw ~* +@read\n";
    let mut report = Vec::new();
    for name in SERVED {
        let mut server = AclServer::start(name);
        assert!(server.refused_lines(before).is_empty());
        let port = server.port();
        let mut conns: Vec<(&str, std::net::TcpStream)> = ["keep", "change", "gone"]
            .into_iter()
            .map(|u| {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .unwrap();
                write!(s, "*3\r\n$4\r\nAUTH\r\n${}\r\n{u}\r\n$2\r\npw\r\n", u.len()).unwrap();
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"+OK"), "{name}: AUTH {u}");
                (u, s)
            })
            .collect();
        assert!(server.refused_lines(after).is_empty());
        let kept: Vec<&str> = conns
            .iter_mut()
            .filter_map(|(u, s)| {
                let _ = s.write_all(b"*1\r\n$4\r\nPING\r\n");
                let mut buf = [0u8; 16];
                matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG")).then_some(*u)
            })
            .collect();
        let want: &[&str] = match target(name).acl_load_keeps() {
            AclLoadKeeps::Nothing => &[],
            AclLoadKeeps::Unchanged => &["keep"],
            AclLoadKeeps::Existing => &["keep", "change"],
            _ => unreachable!(),
        };
        assert_eq!(kept, want, "{name}");
        report.push(format!("{name}: ACL LOAD kept {kept:?}"));
    }
    eprintln!("{}", report.join("\n"));
}

//! The floors of the library, as ARCHITECTURE.md declares them: a folder (or a top file) of
//! `src/` imports only from the floors below its own, never from above and never sideways, so
//! no two folders import each other, directly or round a circle. Reading the source is the
//! check: every `crate::NAME` path outside comments and test code (a file's `#[cfg(test)]`
//! module, a `tests.rs`) is an import of NAME's floor. `crate::` paths name real modules,
//! never the crate root's re-exports. The binary (`main.rs`, `cli/`) sits above them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. Each floor is one folder or top-level file of `src/`.
const FLOORS: [&str; 12] = [
    "error",    // what goes wrong; imports nothing of the crate
    "duration", // Go durations
    "output",   // files written and read safely
    "storage",  // the Store trait, directory and etcd backends, the request queue
    "accounts", // names, users, roles, labels: the access rules
    "pki",      // keys, the CA, leaves, rotation, the renewal policy
    "requests", // signing requests: records, the node's proof, the judge
    "acl",      // Redis ACL rules and users.acl per version
    "servers",  // registered servers, redis.conf, one live server
    "clients",  // client outputs, people's profiles, their renewal
    "state",    // the state schema: StateDir and its file formats over the store
    "fleet",    // orchestration: redis sync, redis check, the node's request round, metrics
];

/// Each `crate::NAME` a file's code names, with its line (1-based).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        for (i, _) in line.match_indices("crate::") {
            // `$crate::` in a macro, or `foo_crate::`, is not this crate.
            let before = line[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let rest = &line[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::b, c};`: each top-level name of the group (one line).
                let mut depth = 0;
                let mut start = 0;
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            push_name(&group[start..j], n, &mut found);
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            push_name(&group[start..j], n, &mut found);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
            } else {
                push_name(rest, n, &mut found);
            }
        }
    }
    found
}

fn push_name(path: &str, line: usize, found: &mut Vec<(usize, String)>) {
    let name: String = path
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !name.is_empty() {
        found.push((line + 1, name));
    }
}

/// The floor a file of `src/` stands on: its top folder, or its own name for a top file.
fn unit(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every breach of the floors in `files` (path under `src/`, text): imports upward or
/// sideways, `crate::` paths through the root's re-exports, and the circles between folders.
fn breaches(src: &Path, files: &[(PathBuf, String)]) -> Vec<String> {
    let floor = |name: &str| FLOORS.iter().position(|f| *f == name);
    let mut out = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in files {
        let from = unit(src, file);
        let is_test = file.file_name().is_some_and(|n| n == "tests.rs");
        if ["lib", "main", "cli"].contains(&from.as_str()) || is_test {
            continue;
        }
        let Some(here) = floor(&from) else {
            out.push(format!("{}: {from} is on no floor", file.display()));
            continue;
        };
        for (line, name) in crate_paths(text) {
            if name == from {
                continue;
            }
            let at = format!("{}:{line}", file.display());
            match floor(&name) {
                None => out.push(format!(
                    "{at}: crate::{name} is not a module (name the module that defines it)"
                )),
                Some(there) if there >= here => {
                    out.push(format!("{at}: {from} imports {name}, a floor up or beside"));
                    edges.entry(from.clone()).or_default().insert(name);
                }
                Some(_) => {
                    edges.entry(from.clone()).or_default().insert(name);
                }
            }
        }
    }
    for circle in circles(&edges) {
        out.push(format!("import circle: {}", circle.join(" -> ")));
    }
    out
}

/// The import circles between folders (strongly connected parts of more than one).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two folders are in one circle when each reaches the other.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|k| (k, reach(k))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (a, from_a) in &reached {
        if done.contains(*a) || !from_a.contains(*a) {
            continue;
        }
        let circle: Vec<String> = reached
            .iter()
            .filter(|(b, from_b)| from_a.contains(**b) && from_b.contains(*a))
            .map(|(b, _)| (*b).clone())
            .collect();
        done.extend(circle.iter().cloned());
        out.push(circle);
    }
    out
}

fn source() -> (PathBuf, Vec<(PathBuf, String)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    crate::layout::rust_files(&src, &mut paths);
    paths.sort();
    let files = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    (src, files)
}

#[test]
fn every_folder_imports_only_from_the_floors_below_it() {
    let (src, files) = source();
    let found = breaches(&src, &files);
    assert!(
        found.is_empty(),
        "the floors are breached:\n{}",
        found.join("\n")
    );
    // Every folder and top file of src/ is on a floor (or is the root or the binary).
    let units: BTreeSet<String> = files.iter().map(|(f, _)| unit(&src, f)).collect();
    for u in &units {
        assert!(
            FLOORS.contains(&u.as_str()) || ["lib", "main", "cli"].contains(&u.as_str()),
            "{u} is on no floor"
        );
    }
    // error.rs imports nothing of the crate.
    let error = files
        .iter()
        .find(|(f, _)| f.ends_with("error.rs") && f.parent() == Some(&*src));
    assert_eq!(crate_paths(&error.unwrap().1), []);
}

/// The check finds what it looks for: a planted upward import, a sideways one, a path through
/// a re-export, and a circle, each named; test code and comments are not imports.
#[test]
fn a_planted_upward_import_or_circle_is_found() {
    let src = PathBuf::from("/x/src");
    let file = |path: &str, text: &str| (src.join(path), text.to_string());
    let clean = [
        file(
            "pki/ca.rs",
            "use crate::accounts::names::UserName;\nuse crate::{error::Error, output};",
        ),
        file(
            "state/mod.rs",
            "// see crate::fleet\nuse crate::pki::ca::HostCa;",
        ),
        file("state/tests.rs", "use crate::fleet::sync_servers;"),
        file(
            "acl/mod.rs",
            "fn f() {}\n#[cfg(test)]\nmod t { use crate::state::StateDir; }",
        ),
    ];
    assert_eq!(breaches(&src, &clean), Vec::<String>::new());

    let mut planted = clean.to_vec();
    planted.push(file("error.rs", "use crate::acl::Target;"));
    let found = breaches(&src, &planted);
    assert_eq!(
        found,
        ["/x/src/error.rs:1: error imports acl, a floor up or beside"],
        "{found:?}"
    );

    let reexport = [file("pki/leaf.rs", "let c: crate::HostCa;")];
    let found = breaches(&src, &reexport);
    assert!(
        found[0].contains("crate::HostCa is not a module"),
        "{found:?}"
    );

    let circle = [
        file("servers/live.rs", "use crate::fleet::SyncOptions;"),
        file(
            "fleet/mod.rs",
            "use crate::{servers::live, state::StateDir};",
        ),
    ];
    let found = breaches(&src, &circle);
    assert!(
        found.contains(&"import circle: fleet -> servers".to_string()),
        "{found:?}"
    );
    assert!(
        found[0].contains("servers imports fleet, a floor up"),
        "{found:?}"
    );
}

/// Where a library variant is only a message: `Name(String)`, or a variant whose one field is
/// a `String` that is its whole text (`#[error("{reason}")]`). Library errors are typed data (what, which,
/// why as fields; foreign errors as `#[source]`), their text made from them.
fn string_only_variants(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut found = Vec::new();
    let mut whole_field: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(format) = line
            .strip_prefix("#[error(\"{")
            .and_then(|r| r.strip_suffix("}\")]"))
            .filter(|f| f.chars().all(|c| c.is_alphanumeric() || c == '_'))
        {
            whole_field = Some(format.to_string());
            continue;
        }
        if line.starts_with("///") || line.starts_with("#[") || line.is_empty() {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_alphanumeric()).collect();
        let field = whole_field.take();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let rest = &line[name.len()..];
        if rest.starts_with("(String)") {
            found.push(name);
        } else if let Some(field) = field
            && rest.trim() == "{"
        {
            let fields: Vec<&&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with('}'))
                .filter(|l| !l.starts_with("///") && !l.starts_with("#["))
                .collect();
            if let [one] = fields.as_slice()
                && **one == format!("{field}: String,")
            {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn no_library_error_variant_is_only_a_message() {
    let (src, files) = source();
    let mut found = Vec::new();
    for (path, text) in &files {
        let rel = path.strip_prefix(&src).unwrap();
        if rel == Path::new("error.rs") || rel.starts_with("error") {
            found.extend(
                string_only_variants(text)
                    .into_iter()
                    .map(|v| format!("{}: {v}", rel.display())),
            );
        }
    }
    assert_eq!(found, Vec::<String>::new());
    // The check finds what it looks for.
    let planted = "pub enum E {\n    #[error(\"{0}\")]\n    Store(String),\n    #[error(\"{reason}\")]\n    Server {\n        /// Why.\n        reason: String,\n    },\n    #[error(\"{addr}: no answer\")]\n    Typed {\n        addr: String,\n    },\n}";
    assert_eq!(string_only_variants(planted), ["Store", "Server"]);
}

//! The shape of the source itself: the library speaks in its own terms (the binary adds the
//! flags and commands to type), and no file grows past one concept's size.

use std::path::{Path, PathBuf};

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn library_files() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(src.join("cli")) && *f != src.join("main.rs"));
    files.sort();
    files
}

/// The string literals on a line of code (comments are skipped by the caller).
fn literals(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// What a literal says that only the command line can mean: a `--flag`, or `rctl COMMAND`.
fn cli_words(text: &str) -> Option<String> {
    const COMMANDS: [&str; 16] = [
        "auth",
        "users",
        "redis",
        "acl",
        "state",
        "status",
        "certs",
        "create",
        "get",
        "rm",
        "audit",
        "db",
        "clients",
        "man",
        "completion",
        "roles",
    ];
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("--") {
        if bytes.get(i + 2).is_some_and(u8::is_ascii_lowercase) && (i == 0 || bytes[i - 1] == b' ')
        {
            return Some(text[i..].split(' ').next().unwrap_or_default().to_string());
        }
    }
    for (i, _) in text.match_indices("rctl ") {
        let next = text[i + 5..]
            .split([' ', '`', '\''])
            .next()
            .unwrap_or_default();
        if COMMANDS.contains(&next) {
            return Some(format!("rctl {next}"));
        }
    }
    None
}

#[test]
fn library_text_names_no_cli_flag_or_command() {
    let mut found = Vec::new();
    for file in library_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        // Tests may spell commands out; only the code before a file's test module counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for literal in literals(line) {
                if let Some(words) = cli_words(literal) {
                    found.push(format!("{}:{}: {words}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "library text naming the CLI:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_looks_for() {
    assert_eq!(
        cli_words("pass --overwrite to replace it").as_deref(),
        Some("--overwrite")
    );
    assert_eq!(
        cli_words("run 'rctl redis sync' now").as_deref(),
        Some("rctl redis")
    );
    assert_eq!(cli_words("rctl does not sign it"), None);
    assert_eq!(cli_words("a -- b"), None);
    assert_eq!(literals(r#"f("a \"b\" c", "d")"#), [r#"a \"b\" c"#, "d"]);
}

#[test]
fn no_source_file_holds_more_than_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let big: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(big.is_empty(), "split these by concept: {big:?}");
}

/// `rctl completion bash | head -1`, `rctl man | head -1`: a reader that goes away early ends
/// the output quietly, with no panic (exit 0, nothing on stderr).
#[test]
fn completion_and_man_into_a_closed_pipe_end_quietly() {
    use std::process::{Command, Stdio};
    for args in [
        &["completion", "bash"][..],
        &["man"],
        &["man", "auth", "sign"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rctl"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before rctl writes a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The pages rctl(1) lists under its subcommands exist: `rctl man auth sign` is
/// rctl-auth-sign(1); an unknown command is refused in one line.
#[test]
fn man_prints_each_subcommand_page_it_names() {
    use std::process::Command;
    let man = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rctl"))
            .args(args)
            .output()
            .unwrap()
    };
    let top = String::from_utf8(man(&["man"]).stdout).unwrap();
    assert!(top.contains("rctl\\-auth(1)"), "{top}");
    let page = man(&["man", "auth", "sign"]);
    let page = String::from_utf8(page.stdout).unwrap();
    assert!(page.contains("\n.TH rctl-auth-sign 1 "), "{page}");
    assert!(page.contains("\\-\\-format"), "{page}");
    let bad = man(&["man", "auth", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("has no command \"nope\""), "{stderr}");
}

/// `rctl … 2>&1 | head`: an error or a notice written to a closed stderr panicked with exit
/// 101; now the line is lost and the exit code is the command's own.
#[test]
fn a_closed_stderr_loses_the_line_not_the_exit_code() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cases: [(&[&str], i32); 2] = [
        // Refused: exit 2, its error line lost.
        (&["auth", "sign", "--host=bad host", "--out=x"], 2),
        // Done: exit 0, its notice (a CA was created) lost.
        (&["auth", "export"], 0),
    ];
    for (args, code) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rctl"))
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        assert_eq!(child.wait().unwrap().code(), Some(code), "{args:?}");
    }
}

/// No function of `src/` spans more than 80 lines, comments and blank lines included (clippy's
/// `too_many_lines`, switched on in lib.rs and main.rs, counts code lines only). rustfmt closes
/// a function's body with `}` at the indentation its `fn` line has: the span is read from
/// there.
#[test]
fn no_function_spans_more_than_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        long.extend(
            long_functions(&text)
                .into_iter()
                .map(|(line, name, n)| format!("{}:{line}: {name} ({n} lines)", file.display())),
        );
    }
    assert!(
        long.is_empty(),
        "split these into named steps:\n{}",
        long.join("\n")
    );
    // The check sees a long one.
    let planted = format!(
        "    pub fn big() {{\n{}    }}\n",
        "        x();\n".repeat(80)
    );
    assert_eq!(long_functions(&planted), [(1, "big".to_string(), 82)]);
}

/// Each function of `text` longer than 80 lines: its line, name and length.
fn long_functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let head = [
            "pub(crate) fn ",
            "pub(super) fn ",
            "pub fn ",
            "fn ",
            "const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = head else { continue };
        // A declaration without a body (a trait's) ends with `;` before any `{`.
        let end = lines[i..]
            .iter()
            .position(|l| l.contains('{') || l.trim_end().ends_with(';'));
        if end.is_none_or(|e| !lines[i + e].contains('{')) {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(n) = lines[i + 1..].iter().position(|l| *l == close)
            && n + 2 > 80
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((i + 1, name, n + 2));
        }
    }
    out
}

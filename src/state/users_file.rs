//! `users.jsonl`: one JSON object per user, appended to by `users add`, read line by line.

use std::borrow::Cow;

use serde::Deserialize;

use crate::accounts::names::validate_name;
use crate::accounts::names::validate_user_name;
use crate::accounts::users::{User, is_sha256_hex};
use crate::error::{Error, Result};

/// Reads `users.jsonl` line by line (a 100,000-user file is never held whole), handing each
/// user to `f` in file order until `f` returns false. An unterminated last line that does not
/// parse is an append cut short by a crash (its command never reported success) and is
/// skipped; any other bad line is an error that names it.
pub(crate) fn read_users(
    reader: &mut dyn std::io::BufRead,
    f: &mut dyn FnMut(User) -> bool,
) -> std::result::Result<(), String> {
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let terminated = buf.last() == Some(&b'\n');
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.is_empty() {
            continue;
        }
        match parse_user_line(line) {
            Ok(user) => {
                if !f(user) {
                    break;
                }
            }
            Err(_) if !terminated => break,
            Err(e) => return Err(format!("line {line_no}: {e}")),
        }
    }
    Ok(())
}

fn parse_user_line(line: &[u8]) -> std::result::Result<User, String> {
    let user: User = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    user.validate().map_err(|e| e.to_string())?;
    Ok(user)
}

/// Checks every line of `users.jsonl` as strictly as a full load, without building the records
/// (borrowed strings, no allocation per field): enough for `users add` to refuse a duplicate, to
/// refuse a corrupt file, and to append one line. Returns the names and whether the file ends
/// cleanly (with a newline); when it does not, the caller rewrites the file instead of appending.
pub(crate) fn scan_user_names(
    data: &[u8],
) -> std::result::Result<(Vec<Cow<'_, str>>, bool), String> {
    // The part after the last newline is an append cut short (skipped) or a last line whose
    // newline was lost (kept); either way the caller rewrites the file rather than append.
    let body_len = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (body, tail) = data.split_at(body_len);
    // Checking is the whole cost of `users add` on a large file: spread it over the cores.
    let threads = if body.len() < 256 * 1024 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    let chunks = split_at_newlines(body, threads);
    let results: Vec<ChunkCheck<'_>> = if chunks.len() == 1 {
        vec![check_lines(chunks[0])]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|c| scope.spawn(|| check_lines(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| ChunkCheck::failed()))
                .collect()
        })
    };
    let mut names = Vec::new();
    let mut lines_before = 0;
    for result in results {
        if let Some((line, reason)) = result.error {
            return Err(format!("line {}: {reason}", lines_before + line));
        }
        lines_before += result.lines;
        names.extend(result.names);
    }
    if !tail.is_empty()
        && let Ok(name) = check_user_line(tail)
    {
        names.push(name);
    }
    // A name twice is what the full load refuses too.
    let mut sorted: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("user {:?} appears twice", w[0]));
    }
    Ok((names, tail.is_empty()))
}

/// What checking one chunk of lines found.
struct ChunkCheck<'a> {
    names: Vec<Cow<'a, str>>,
    lines: usize,
    /// The first bad line (1-based within the chunk) and why.
    error: Option<(usize, String)>,
}

impl ChunkCheck<'_> {
    fn failed() -> Self {
        ChunkCheck {
            names: Vec::new(),
            lines: 0,
            error: Some((0, "a checking thread panicked".to_string())),
        }
    }
}

fn check_lines(chunk: &[u8]) -> ChunkCheck<'_> {
    let mut out = ChunkCheck {
        names: Vec::new(),
        lines: 0,
        error: None,
    };
    // Every chunk ends with a newline; what follows it is not a line.
    let Some(lines) = chunk.strip_suffix(b"\n") else {
        return out;
    };
    for line in lines.split(|b| *b == b'\n') {
        out.lines += 1;
        if line.is_empty() {
            continue;
        }
        match check_user_line(line) {
            Ok(name) => out.names.push(name),
            Err(e) => {
                out.error = Some((out.lines, e));
                break;
            }
        }
    }
    out
}

/// Splits newline-terminated `data` into at most `n` pieces, each ending with a newline.
fn split_at_newlines(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(n);
    let mut rest = data;
    for left in (1..=n).rev() {
        if left == 1 || rest.is_empty() {
            pieces.push(rest);
            break;
        }
        let target = rest.len() / left;
        let cut = rest[target..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| target + i + 1);
        let (piece, next) = rest.split_at(cut);
        pieces.push(piece);
        rest = next;
    }
    pieces
}

/// [`User`] with borrowed strings, for checking a line without building it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserLine<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    roles: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    db_users: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    db_names: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    password_sha256: Cow<'a, str>,
    #[serde(borrow)]
    created: Cow<'a, str>,
    #[serde(borrow)]
    updated: Cow<'a, str>,
}

/// The name of a valid user line (etcd keeps each under its name).
pub(crate) fn user_line_name(line: &[u8]) -> std::result::Result<String, String> {
    check_user_line(line).map(Cow::into_owned)
}

fn check_user_line(line: &[u8]) -> std::result::Result<Cow<'_, str>, String> {
    let u: UserLine<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    validate_user_name(&u.name).map_err(|e| e.to_string())?;
    for role in &u.roles {
        validate_name("role", role).map_err(|e| e.to_string())?;
    }
    for v in u.db_users.iter().chain(&u.db_names).filter(|v| *v != "*") {
        validate_name("database", v).map_err(|e| e.to_string())?;
    }
    if !is_sha256_hex(&u.password_sha256) {
        return Err("password_sha256 must be 64 lowercase hex characters".to_string());
    }
    // The same parse as the full load: a line `users add` accepts, every command reads.
    for t in [&u.created, &u.updated] {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("bad time {t:?}: {e}"))?;
    }
    Ok(u.name)
}

/// One user as a `users.jsonl` line, newline included.
pub(crate) fn render_user_line(user: &User) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec(user).map_err(|e| Error::encode("user record", e))?;
    out.push(b'\n');
    Ok(out)
}

/// Serializes users (sorted by name) as JSON Lines.
pub(crate) fn render_users(users: &[User]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(users.len() * 256);
    for user in users {
        serde_json::to_writer(&mut out, user).map_err(|e| Error::encode("users", e))?;
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips_and_reports_bad_lines() {
        let users = vec![
            User::new_for_test("a", &["access"], &["*"], &[]),
            User::new_for_test("b", &["readonly"], &["x"], &["0"]),
        ];
        let data = render_users(&users).unwrap();
        let parse = |d: &[u8]| {
            let mut out = Vec::new();
            read_users(&mut &d[..], &mut |u| {
                out.push(u);
                true
            })
            .map(|()| out)
        };
        assert_eq!(parse(&data).unwrap(), users);
        let mut broken = data.clone();
        broken.extend_from_slice(b"{\"name\": \"c\"\n");
        assert!(parse(&broken).unwrap_err().starts_with("line 3:"));
        // An append cut short by a crash: skipped, not an error.
        let mut torn = data.clone();
        torn.extend_from_slice(b"{\"name\":\"c\",\"ro");
        assert_eq!(parse(&torn).unwrap(), users);
        // A complete last line without its newline (hand-edited) is kept.
        let unterminated = &data[..data.len() - 1];
        assert_eq!(parse(unterminated).unwrap(), users);
    }

    #[test]
    fn a_large_file_is_checked_in_pieces_with_the_right_line_numbers() {
        let users: Vec<User> = (0..3000)
            .map(|i| User::new_for_test(&format!("u{i:05}"), &["access"], &["*"], &[]))
            .collect();
        let mut data = render_users(&users).unwrap();
        assert!(data.len() > 256 * 1024);
        let (names, clean) = scan_user_names(&data).unwrap();
        assert_eq!(names.len(), 3000);
        assert!(clean);
        assert_eq!(names[2999], "u02999");
        // A bad line near the end is found and numbered as in the file.
        let at = data.len() - 10;
        data[at] = b'"';
        let err = scan_user_names(&data).unwrap_err();
        assert!(err.starts_with("line 3000: "), "{err}");
        for n in 1..6 {
            let pieces = split_at_newlines(&data, n);
            assert_eq!(pieces.concat(), data);
            assert!(pieces.iter().all(|p| p.is_empty() || p.ends_with(b"\n")));
        }
    }

    #[test]
    fn name_scan_agrees_with_the_full_parse() {
        let users = vec![
            User::new_for_test("a", &["access"], &["*"], &[]),
            User::new_for_test("b.c@d", &["readonly"], &["x"], &["0"]),
        ];
        let data = render_users(&users).unwrap();
        let names = |d: &[u8]| -> (Vec<String>, bool) {
            let (names, clean) = scan_user_names(d).unwrap();
            (names.iter().map(|n| n.to_string()).collect(), clean)
        };
        assert_eq!(
            names(&data),
            (vec!["a".to_string(), "b.c@d".to_string()], true)
        );
        // A line written by hand, with other spacing and an escaped name, is read the same.
        let line = String::from_utf8(render_user_line(&users[0]).unwrap()).unwrap();
        let hand = line.replace("{\"name\":\"a\"", "{ \"name\" : \"\\u007a\"");
        let both = [data.clone(), hand.into_bytes()].concat();
        assert_eq!(names(&both).0, ["a", "b.c@d", "z"]);
        let torn = [data.clone(), b"{\"name\":\"c".to_vec()].concat();
        assert_eq!(
            names(&torn),
            (vec!["a".to_string(), "b.c@d".to_string()], false)
        );
        // What a full load refuses, the scan refuses too.
        assert!(scan_user_names(b"garbage\n").is_err());
        assert!(scan_user_names(b"{\"name\":\"x\"}\n").is_err());
        let bad_hash = line.replace(users[0].password_sha256.as_hex(), "abc");
        assert!(scan_user_names(bad_hash.as_bytes()).is_err());
        let bad_name = line.replace("\"name\":\"a\"", "\"name\":\"a b\"");
        assert!(scan_user_names(bad_name.as_bytes()).is_err());
    }
}

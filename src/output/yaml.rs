//! YAML that comes from outside (a file, etcd, a request): its nesting bounded before a parser
//! sees it. A YAML parser spends far more than linear time on deep nesting (200,000 levels of
//! `[` took minutes), so one linear pass refuses what no rctl document needs: flow
//! collections (`[`, `{`) nested over [`MAX_FLOW`] deep, or a line indented, with its block
//! sequence dashes, past [`MAX_INDENT`] columns.

use serde::de::DeserializeOwned;

/// The deepest flow nesting taken.
pub(crate) const MAX_FLOW: usize = 128;

/// The widest indentation taken (spaces, and two columns per leading `- `).
pub(crate) const MAX_INDENT: usize = 1024;

/// Refuses YAML nested deeper than rctl's documents ever are, in one pass (quoted text and
/// comments skipped).
pub(crate) fn check_nesting(data: &[u8]) -> Result<(), String> {
    let (mut flow, mut quote, mut comment) = (0usize, None::<u8>, false);
    let (mut at_line_start, mut indent) = (true, 0usize);
    let mut prev = b'\n';
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        i += 1;
        if b == b'\n' {
            (comment, at_line_start, indent) = (false, true, 0);
            prev = b;
            continue;
        }
        if comment {
            continue;
        }
        if let Some(q) = quote {
            // '' inside single quotes, \" inside double quotes: not the end.
            let doubled = b == q && q == b'\'' && data.get(i) == Some(&b'\'');
            let escaped = b == b'\\' && q == b'"';
            if doubled || escaped {
                i += 1;
            } else if b == q {
                quote = None;
            }
            prev = b;
            continue;
        }
        if at_line_start {
            match b {
                b' ' => indent += 1,
                b'-' | b'?' if matches!(data.get(i), Some(b' ' | b'\n') | None) => indent += 2,
                _ => at_line_start = false,
            }
            if indent > MAX_INDENT {
                return Err(format!(
                    "it is nested deeper than rctl reads (a line indented past {MAX_INDENT} columns)"
                ));
            }
        }
        let token_start = matches!(
            prev,
            b' ' | b'\t' | b'\n' | b':' | b'[' | b'{' | b',' | b'-'
        );
        match b {
            b'#' if matches!(prev, b' ' | b'\t' | b'\n') => comment = true,
            b'\'' | b'"' if token_start => quote = Some(b),
            b'[' | b'{' => {
                flow += 1;
                if flow > MAX_FLOW {
                    return Err(format!(
                        "it is nested deeper than rctl reads (over {MAX_FLOW} levels of [ or {{)"
                    ));
                }
            }
            b']' | b'}' => flow = flow.saturating_sub(1),
            _ => {}
        }
        prev = b;
    }
    Ok(())
}

/// A value from YAML bytes, its nesting checked first.
pub(crate) fn from_slice<T: DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    check_nesting(data)?;
    serde_norway::from_slice(data).map_err(|e| e.to_string())
}

/// A value from YAML text, its nesting checked first.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    from_slice(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let role = "kind: role\nversion: v7\nmetadata: {name: dev}\nspec:\n  allow:\n    \
                    db_labels: {env: [dev, 'it''s'], team: \"a [ b\"}\n    db_users: ['*']\n\
                    # a comment with [[[[ brackets\n  deny: {}\n";
        assert!(check_nesting(role.as_bytes()).is_ok());
        let v: serde_norway::Value = from_str(role).unwrap();
        assert_eq!(v["metadata"]["name"].as_str(), Some("dev"));
        // An apostrophe inside a plain word opens no quote: the brackets after it count.
        let sneaky = format!("a: it's {}", "[".repeat(200));
        assert!(check_nesting(sneaky.as_bytes()).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_it_is_parsed() {
        for deep in [
            "[".repeat(200_000),
            "{a: ".repeat(200_000),
            "- ".repeat(200_000),
            (0..2000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect(),
        ] {
            let refused = from_slice::<serde_norway::Value>(deep.as_bytes()).unwrap_err();
            assert!(
                refused.contains("nested deeper than rctl reads"),
                "{refused}"
            );
        }
        let edge = format!("{}1{}", "[".repeat(MAX_FLOW), "]".repeat(MAX_FLOW));
        assert!(from_str::<serde_norway::Value>(&edge).is_ok());
    }
}

//! Labels on registered servers (`env=prod`), and the `db_labels` of roles that select them,
//! matched as Teleport matches a role's labels against a database's.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Invalid, Result, shorten};

/// A key or value of a label: letters, digits and `._-/:@`, at most 63 bytes for a value's
/// sake; a key may also be `*` in a role's `db_labels`.
fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@'))
}

/// A server's labels: `KEY=VALUE` pairs, each key once.
///
/// ```
/// let labels: rctl::Labels = "env=prod,team=cache".parse().unwrap();
/// assert_eq!(labels.get("env"), Some("prod"));
/// assert_eq!(labels.to_string(), "env=prod,team=cache");
/// assert!("env".parse::<rctl::Labels>().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// No labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl TryFrom<BTreeMap<String, String>> for Labels {
    type Error = Error;

    fn try_from(map: BTreeMap<String, String>) -> Result<Labels> {
        for (k, v) in &map {
            if !valid_part(k) || !valid_part(v) {
                return Err(Invalid::malformed(
                    "label",
                    &format!("{k}={v}"),
                    "keys and values are letters, digits and ._-/:@",
                ));
            }
        }
        Ok(Labels(map))
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(labels: Labels) -> BTreeMap<String, String> {
        labels.0
    }
}

impl FromStr for Labels {
    type Err = Error;

    fn from_str(s: &str) -> Result<Labels> {
        let mut map = BTreeMap::new();
        for pair in s.split(',').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(Invalid::malformed("label", pair, "want KEY=VALUE"));
            };
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(Invalid::Twice {
                    what: "label",
                    value: shorten(k),
                }
                .into());
            }
        }
        Labels::try_from(map)
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// A role's `db_labels`: each key with the values it accepts (one value or a list in YAML),
/// `*` for any value, and `'*': '*'` for every server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(BTreeMap<String, Vec<String>>);

impl LabelSelector {
    /// `'*': '*'`: every server, labelled or not.
    pub fn everything() -> LabelSelector {
        LabelSelector(BTreeMap::from([("*".to_string(), vec!["*".to_string()])]))
    }

    /// No key: selects nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the selector takes a server with `labels`, as Teleport's `MatchLabels`: an
    /// empty selector takes nothing; `'*': '*'` takes everything; otherwise every key must be
    /// on the server with a value the key accepts (`*`, the value itself, or a glob with `*`).
    pub fn matches(&self, labels: &Labels) -> bool {
        if self.0.is_empty() {
            return false;
        }
        if self.0.get("*").is_some_and(|v| v.len() == 1 && v[0] == "*") {
            return true;
        }
        self.0.iter().all(|(key, values)| match labels.get(key) {
            None => false,
            Some(value) => values.iter().any(|want| glob(want, value)),
        })
    }

    /// Checks keys and values: names as labels have them, globs with `*`, and no regular
    /// expression (`^...$`), which rctl does not read.
    pub fn validate(&self, field: &str) -> Result<()> {
        let bad = |part: &'static str, s: &str, problem: &'static str| {
            Err(Invalid::LabelRule {
                field: field.to_string(),
                part,
                value: shorten(s),
                problem,
            }
            .into())
        };
        for (key, values) in &self.0 {
            if key != "*" && !valid_part(key) {
                return bad(
                    "key",
                    key,
                    "is not a label key (letters, digits and ._-/:@)",
                );
            }
            if values.is_empty() {
                return bad("key", key, "has no value");
            }
            for v in values {
                if v.starts_with('^') && v.ends_with('$') {
                    return bad(
                        "value",
                        v,
                        "is a regular expression, which rctl does not read; use a glob with *",
                    );
                }
                if !valid_part(&v.replace('*', "a")) {
                    return bad("value", v, "is not a label value or a glob with *");
                }
            }
        }
        Ok(())
    }
}

/// `pattern` with `*` as any run of characters, against the whole of `value`.
fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last)
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

impl Serialize for LabelSelector {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum One<'a> {
            One(&'a str),
            Many(&'a [String]),
        }
        let map: BTreeMap<&str, One> = self
            .0
            .iter()
            .map(|(k, v)| {
                let v = match v.as_slice() {
                    [one] => One::One(one),
                    many => One::Many(many),
                };
                (k.as_str(), v)
            })
            .collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LabelSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<LabelSelector, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let map = BTreeMap::<String, OneOrMany>::deserialize(d)?;
        Ok(LabelSelector(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        OneOrMany::One(one) => vec![one],
                        OneOrMany::Many(many) => many,
                    };
                    (k, v)
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(yaml: &str) -> LabelSelector {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn labels_parse_and_refuse_what_they_cannot_hold() {
        let l: Labels = "env=prod,,tier=db".parse().unwrap();
        assert_eq!(l.to_string(), "env=prod,tier=db");
        for bad in ["env", "env=", "=x", "a=b,a=c", "e nv=x", "env=a b"] {
            assert!(bad.parse::<Labels>().is_err(), "{bad}");
        }
        assert!("".parse::<Labels>().unwrap().is_empty());
    }

    #[test]
    fn selectors_match_as_teleport_matches_labels() {
        let prod: Labels = "env=prod,team=cache".parse().unwrap();
        let dev: Labels = "env=dev".parse().unwrap();
        let none = Labels::default();
        let all = selector("'*': '*'");
        assert!(all.matches(&prod) && all.matches(&none));
        assert!(!LabelSelector::default().matches(&prod));
        let env = selector("env: [prod, staging]");
        assert!(env.matches(&prod) && !env.matches(&dev) && !env.matches(&none));
        let both = selector("{env: prod, team: '*'}");
        assert!(both.matches(&prod) && !both.matches(&dev));
        let glob = selector("env: 'pr*d'");
        assert!(glob.matches(&prod) && !glob.matches(&dev));
        assert!(selector("env: '*'").matches(&dev) && !selector("env: '*'").matches(&none));
        assert_eq!(
            serde_norway::to_string(&env).unwrap(),
            "env:\n- prod\n- staging\n"
        );
    }

    #[test]
    fn globs_match_whole_values() {
        for (p, v, want) in [
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("abc", "abcd", false),
        ] {
            assert_eq!(glob(p, v), want, "{p} {v}");
        }
    }

    #[test]
    fn regular_expressions_are_refused() {
        assert!(
            selector("env: '^prod$'")
                .validate("allow.db_labels")
                .is_err()
        );
        assert!(selector("env: []").validate("allow.db_labels").is_err());
        selector("'*': '*'").validate("allow.db_labels").unwrap();
    }
}

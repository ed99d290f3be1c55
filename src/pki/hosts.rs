//! Host lists for server certificates: `--host=redis.example.com,10.0.0.5,::1`.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result, shorten};

/// One subject alternative name of a server certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name, lower-cased; may start with `*.`.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl Host {
    /// Parses one host: an IP literal when it is one (as Go's `net.ParseIP` reads it), otherwise
    /// a DNS name (letters, digits, `-` and `_`, labels of 1 to 63, at most 253 in all, an optional
    /// leading `*.`). A name whose last label is all digits is refused: it is a mistyped address.
    pub fn parse(input: &str) -> Result<Host> {
        if let Ok(ip) = input.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let bad = |reason: &str| Error::InvalidHost {
            host: shorten(input),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(bad("empty host name"));
        }
        if input.len() > 253 {
            return Err(bad("longer than 253 characters"));
        }
        let name = input.strip_prefix("*.").unwrap_or(input);
        if name.is_empty() {
            return Err(bad("a wildcard needs a domain after '*.'"));
        }
        if name.len() != input.len() {
            // `*.com` or `*.co.uk` would cover every name under a public suffix, `*.local`
            // every single-label domain: no CA should sign that (the public suffix list).
            let lower = name.to_ascii_lowercase();
            let suffix = psl::suffix_str(&lower).unwrap_or(&lower);
            if !name.contains('.') || suffix.len() == lower.len() {
                return Err(bad(
                    "a wildcard must cover names under a registrable domain, not a public suffix or a single label",
                ));
            }
        }
        let labels: Vec<&str> = name.split('.').collect();
        for label in &labels {
            if label.is_empty() {
                return Err(bad("empty label (two dots, or a leading or trailing dot)"));
            }
            if label.len() > 63 {
                return Err(bad("a label is longer than 63 characters"));
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(bad(&format!(
                    "character {c:?} is not allowed (letters, digits, '-', '_' and '.' only; use punycode for IDNs)"
                )));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label starts or ends with '-'"));
            }
        }
        if labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("looks like an IP address but is not a valid one"));
        }
        Ok(Host::Dns(input.to_ascii_lowercase()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Parses a comma-separated host list: entries are trimmed, duplicates dropped (first one kept),
/// and an empty list or any bad entry is refused.
///
/// ```
/// use rctl::{Host, parse_host_list};
/// let hosts = parse_host_list("redis-1.internal, 10.0.0.5, ::1").unwrap();
/// assert!(matches!(hosts[0], Host::Dns(_)));
/// assert!(matches!(hosts[1], Host::Ip(_)));
/// assert!(parse_host_list("bad host").is_err());
/// ```
pub fn parse_host_list(input: &str) -> Result<Vec<Host>> {
    let mut hosts: Vec<Host> = Vec::new();
    for part in input.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(Error::InvalidHost {
                host: shorten(input),
                reason: "empty entry in the host list".to_string(),
            });
        }
        let host = Host::parse(part)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dns_names_and_addresses() {
        let hosts =
            parse_host_list(" Redis.Example.com , 127.0.0.1,::1, *.cluster.local,redis_1").unwrap();
        assert_eq!(
            hosts,
            vec![
                Host::Dns("redis.example.com".into()),
                Host::Ip("127.0.0.1".parse().unwrap()),
                Host::Ip("::1".parse().unwrap()),
                Host::Dns("*.cluster.local".into()),
                Host::Dns("redis_1".into()),
            ]
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_is_an_address() {
        assert!(matches!(
            Host::parse("::ffff:10.0.0.1").unwrap(),
            Host::Ip(_)
        ));
    }

    #[test]
    fn drops_duplicates_keeping_order() {
        let hosts = parse_host_list("b,a,B,127.0.0.1,a,127.0.0.1").unwrap();
        let shown: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["b", "a", "127.0.0.1"]);
    }

    #[test]
    fn refuses_bad_hosts() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.com", ["abc"; 70].join("."));
        let cases = [
            ("", "empty entry"),
            ("a,,b", "empty entry"),
            ("a, ", "empty entry"),
            ("has space", "not allowed"),
            ("new\nline", "not allowed"),
            ("a..b", "empty label"),
            (".a", "empty label"),
            ("a.", "empty label"),
            ("-a.com", "starts or ends"),
            ("a-.com", "starts or ends"),
            (long_label.as_str(), "longer than 63"),
            (long_name.as_str(), "longer than 253"),
            ("*.", "wildcard"),
            ("*.com", "public suffix"),
            ("*.co.uk", "public suffix"),
            ("*.local", "single label"),
            ("a.*.com", "not allowed"),
            ("**.com", "not allowed"),
            ("256.1.1.1", "looks like an IP"),
            ("01.2.3.4", "looks like an IP"),
            ("1.2.3", "looks like an IP"),
            ("[::1]", "not allowed"),
            ("fe80::1%eth0", "not allowed"),
            ("ex\u{e4}mple.com", "not allowed"),
        ];
        for (input, want) in cases {
            let err = parse_host_list(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(!err.contains('\n'), "{input:?}: multi-line error");
        }
    }

    #[test]
    fn huge_input_gives_a_short_error() {
        let huge = "x y".repeat(400_000);
        let err = parse_host_list(&huge).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Go's `net.ParseIP` for a dotted quad: four decimal groups 0-255, no leading zeros
    /// (Go 1.17 and later), nothing else.
    fn go_parses_ipv4(s: &str) -> bool {
        let groups: Vec<&str> = s.split('.').collect();
        groups.len() == 4
            && groups.iter().all(|g| {
                !g.is_empty()
                    && g.len() <= 3
                    && g.bytes().all(|b| b.is_ascii_digit())
                    && !(g.len() > 1 && g.starts_with('0'))
                    && g.parse::<u16>().is_ok_and(|n| n <= 255)
            })
    }

    proptest! {
        #[test]
        fn every_ipv4_and_ipv6_is_an_address(v4 in any::<std::net::Ipv4Addr>(), v6 in any::<std::net::Ipv6Addr>()) {
            prop_assert_eq!(Host::parse(&v4.to_string()).unwrap(), Host::Ip(v4.into()));
            prop_assert_eq!(Host::parse(&v6.to_string()).unwrap(), Host::Ip(v6.into()));
            let mapped = format!("::ffff:{v4}");
            prop_assert!(matches!(Host::parse(&mapped).unwrap(), Host::Ip(_)));
        }

        #[test]
        fn dotted_numbers_split_as_go_parses_them(groups in proptest::collection::vec("[0-9]{1,4}", 4)) {
            let s = groups.join(".");
            let ours = matches!(Host::parse(&s), Ok(Host::Ip(_)));
            prop_assert_eq!(ours, go_parses_ipv4(&s), "{}", s);
        }

        #[test]
        fn dns_names_are_names(labels in proptest::collection::vec("[a-z][a-z0-9-]{0,20}[a-z0-9]", 1..5)) {
            let name = labels.join(".");
            prop_assert_eq!(Host::parse(&name).unwrap(), Host::Dns(name.clone()));
            let wildcard = format!("*.{name}.example.com");
            prop_assert_eq!(Host::parse(&wildcard).unwrap(), Host::Dns(wildcard.clone()));
        }

        #[test]
        fn any_input_gives_a_host_or_a_one_line_error(s in ".{0,300}") {
            match parse_host_list(&s) {
                Ok(hosts) => prop_assert!(!hosts.is_empty()),
                Err(e) => prop_assert!(!e.to_string().contains('\n')),
            }
        }
    }
}

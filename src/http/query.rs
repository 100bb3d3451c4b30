//! URL query strings and paths, decoded as Go's `net/url` decodes them.
//!
//! Clients rely on the details: `+` is a space, a repeated key yields its
//! first value, `topic` without `=` is the empty topic, and a `;` or a bad
//! `%` escape anywhere makes the whole query invalid (Go's HTTP API then
//! answers 400 `INVALID_REQUEST`). Values are bytes: Go's strings are, and
//! a name that is not UTF-8 is simply an invalid name.

/// Decoded `key=value` pairs in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(Vec<u8>, Vec<u8>)>);

/// Why a query string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    /// A `;` separator (refused by Go since 1.17).
    Semicolon,
    /// A `%` not followed by two hex digits.
    BadEscape,
}

impl Query {
    /// Parses a raw query string (the part after `?`, without it).
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        let mut error = None;
        for part in raw.split('&') {
            if part.contains(';') {
                error.get_or_insert(QueryError::Semicolon);
                continue;
            }
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match (unescape(k, true), unescape(v, true)) {
                (Ok(k), Ok(v)) => pairs.push((k, v)),
                _ => {
                    error.get_or_insert(QueryError::BadEscape);
                }
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(Query(pairs)),
        }
    }

    /// The first value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// Percent-decodes a URL path (`+` stays a `+`).
pub fn unescape_path(raw: &str) -> Result<Vec<u8>, QueryError> {
    unescape(raw, false)
}

fn unescape(s: &str, plus_is_space: bool) -> Result<Vec<u8>, QueryError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| hex(*c));
                let lo = b.get(i + 2).and_then(|c| hex(*c));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(QueryError::BadEscape),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let q = Query::parse("topic=t%23ephemeral&&node=h%3A1&x=%41%6a").unwrap();
        assert_eq!(q.get("topic"), Some(&b"t#ephemeral"[..]));
        assert_eq!(q.get("node"), Some(&b"h:1"[..]));
        assert_eq!(q.get("x"), Some(&b"Aj"[..]));
        assert_eq!(q.get("missing"), None);
        assert_eq!(Query::parse("").unwrap(), Query::default());
        assert_eq!(Query::parse("a=1=2").unwrap().get("a"), Some(&b"1=2"[..]));
        assert_eq!(
            Query::parse("t%6fpic=x").unwrap().get("topic"),
            Some(&b"x"[..])
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert_eq!(Query::parse("topic=%zz"), Err(QueryError::BadEscape));
        assert_eq!(Query::parse("topic=%4"), Err(QueryError::BadEscape));
        assert_eq!(Query::parse("topic=t;x=1"), Err(QueryError::Semicolon));
        assert_eq!(Query::parse("a=1&b=%"), Err(QueryError::BadEscape));
    }

    #[test]
    fn paths_keep_plus() {
        assert_eq!(unescape_path("/a+b%2F").unwrap(), b"/a+b/");
        assert!(unescape_path("/%G0").is_err());
    }

    #[test]
    fn example_parse() {
        use crate::http::query::Query;
        let q = Query::parse("topic=a+b&topic=c&channel").unwrap();
        assert_eq!(q.get("topic"), Some(&b"a b"[..]));
        assert_eq!(q.get("channel"), Some(&b""[..]));
        assert!(Query::parse("topic=a;b").is_err());
    }
}

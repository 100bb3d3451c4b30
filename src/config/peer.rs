//! A bootstrap peer's HTTP address, as `-bootstrap-from` takes it:
//! `host:port`, or an `http://` or `https://` URL of the peer's root.

use std::fmt;

/// Where a running nsqlookupd answers HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Whether it is spoken to over TLS.
    pub https: bool,
    /// Its host: a name or an IP address (an IPv6 one without brackets).
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl Peer {
    /// Reads `host:port`, `[v6]:port`, `http://host:port[/]` or
    /// `https://host:port[/]`; an URL without a port gets its scheme's.
    pub fn parse(s: &str) -> Result<Peer, String> {
        let bad = |why: &str| format!("bootstrap peer {s:?}: {why}");
        let (https, rest, default_port) = match s.split_once("://") {
            Some(("http", rest)) => (false, rest, Some(80)),
            Some(("https", rest)) => (true, rest, Some(443)),
            Some((scheme, _)) => return Err(bad(&format!("unknown scheme {scheme:?}"))),
            None => (false, s, None),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("give only host and port (no path, query or user)"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
                (host, after.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => return Err(bad("an IPv6 address goes in brackets: [::1]:4161")),
                None => (rest, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("bad port {p:?}")))?,
            (None, Some(d)) => d,
            (None, None) => return Err(bad("no port (host:port)")),
        };
        Ok(Peer {
            https,
            host: host.to_owned(),
            port,
        })
    }

    /// `host:port` as a connection takes it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = Peer::parse("lk1:4161").unwrap();
        assert_eq!((p.https, p.host.as_str(), p.port), (false, "lk1", 4161));
        let p = Peer::parse("https://lk1.example/").unwrap();
        assert_eq!((p.https, p.port), (true, 443));
        assert_eq!(p.to_string(), "https://lk1.example:443");
        let p = Peer::parse("http://[::1]:4161").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 4161));
        assert_eq!(p.authority(), "[::1]:4161");
        for bad in [
            "lk1",
            "lk1:0",
            "lk1:99999",
            "ftp://lk1:21",
            "http://lk1:4161/lookup",
            "::1:4161",
            ":4161",
            "http://user@lk1:1",
        ] {
            assert!(Peer::parse(bad).is_err(), "{bad}");
        }
    }
}

//! Who may talk to lookupd: network allow-lists and the HTTP bearer token.
//!
//! Both are off by default, so nothing changes for existing deployments.
//! The Go original has neither (nsqio/nsq#990): anyone who reaches port
//! 4161 can delete topics or tombstone producers. With a token set,
//! mutating endpoints need `Authorization: Bearer <token>` (what go-nsq
//! sends for `AuthSecret`); with reads protected too, every endpoint but
//! `/ping` does. Tokens are compared in constant time.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// An IP network, `10.0.0.0/8` or `2001:db8::/32`; a bare address is the
/// network of just that host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the network. IPv4 peers of a dual-stack
    /// socket (`::ffff:10.1.2.3`) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Whether `ip` may connect, given an allow-list (empty: everyone).
pub fn allowed(list: &[Cidr], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|n| n.contains(ip))
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// No (or no bearer) credentials: 401.
    Unauthorized,
    /// Wrong credentials: 403.
    Forbidden,
}

/// Checks an `Authorization` header value against the token (if any).
pub fn check_bearer(token: &str, header: Option<&[u8]>) -> Verdict {
    if token.is_empty() {
        return Verdict::Allowed;
    }
    let Some(value) = header else {
        return Verdict::Unauthorized;
    };
    let presented = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii(),
        _ => return Verdict::Unauthorized,
    };
    if bool::from(presented.ct_eq(token.as_bytes())) {
        Verdict::Allowed
    } else {
        Verdict::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let v4: Cidr = "192.168.1.0/24".parse().unwrap();
        assert!(v4.contains(ip("192.168.1.200")));
        assert!(v4.contains(ip("::ffff:192.168.1.7")));
        assert!(!v4.contains(ip("192.168.2.1")));
        assert!(!v4.contains(ip("::1")));
        let host: Cidr = "127.0.0.1".parse().unwrap();
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/x",
            "::/129",
            "host/8",
            "1.2.3.4/33",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.1.0.0/16".parse::<Cidr>().unwrap().to_string(),
            "10.1.0.0/16"
        );
    }

    #[test]
    fn allow_lists() {
        assert!(allowed(&[], ip("1.2.3.4")));
        let list = ["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        assert!(allowed(&list, ip("10.1.1.1")));
        assert!(allowed(&list, ip("::1")));
        assert!(!allowed(&list, ip("127.0.0.1")));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(check_bearer("", None), Verdict::Allowed);
        assert_eq!(check_bearer("s3cret", None), Verdict::Unauthorized);
        assert_eq!(
            check_bearer("s3cret", Some(b"Basic czNjcmV0")),
            Verdict::Unauthorized
        );
        assert_eq!(
            check_bearer("s3cret", Some(b"Bearer s3cret")),
            Verdict::Allowed
        );
        assert_eq!(
            check_bearer("s3cret", Some(b"bearer  s3cret ")),
            Verdict::Allowed
        );
        assert_eq!(
            check_bearer("s3cret", Some(b"Bearer s3cre")),
            Verdict::Forbidden
        );
        assert_eq!(
            check_bearer("s3cret", Some(b"Bearer s3cretX")),
            Verdict::Forbidden
        );
        assert_eq!(
            check_bearer("s3cret", Some(b"Bearer")),
            Verdict::Unauthorized
        );
    }

    #[test]
    fn example_from_str() {
        use crate::access::Cidr;
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.9.8.7".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}

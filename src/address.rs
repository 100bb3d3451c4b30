//! Whether consumers can reach the address an nsqd advertises, judged
//! without any I/O: what a resolved name means, and which address the
//! answers give under each `-producer-address` policy.
//!
//! nsqd advertises its OS hostname unless told otherwise, and lookupd
//! hands that name to every consumer. NSQ's most reported problem is a
//! name the consumers cannot use: a container id that resolves nowhere, or
//! a Debian-style hostname that `/etc/hosts` maps to `127.0.1.1`, so every
//! consumer on another host dials itself. The resolving is done off the
//! serving threads (`crate::reach`); here is only what its result means.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Which address `/lookup`, `/nodes` and `/debug` give for a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AddressPolicy {
    /// The `broadcast_address` the nsqd advertised, as Go does.
    #[default]
    Broadcast,
    /// The source IP of the nsqd's connection, for every producer.
    Remote,
    /// The source IP only for producers whose advertised address failed
    /// the check (does not resolve, or resolves only to loopback while
    /// the nsqd connected from elsewhere); the advertised one otherwise.
    Auto,
}

impl AddressPolicy {
    /// The name `-producer-address` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressPolicy::Broadcast => "broadcast",
            AddressPolicy::Remote => "remote",
            AddressPolicy::Auto => "auto",
        }
    }
}

impl FromStr for AddressPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "broadcast" => Ok(AddressPolicy::Broadcast),
            "remote" => Ok(AddressPolicy::Remote),
            "auto" => Ok(AddressPolicy::Auto),
            _ => Err(format!("{s:?} is not one of broadcast, remote, auto")),
        }
    }
}

impl fmt::Display for AddressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What checking an advertised address found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// It resolves to an address consumers may use.
    Reachable(Vec<IpAddr>),
    /// It does not resolve from here; the resolver's reason.
    Unresolvable(String),
    /// It resolves only to loopback (or unspecified) addresses, while the
    /// nsqd connected from another host.
    LoopbackOnly(Vec<IpAddr>),
    /// It was not checked; why (too many names waiting to be resolved).
    NotChecked(&'static str),
}

impl Finding {
    /// Whether consumers on other hosts would be handed an address they
    /// cannot use.
    pub fn failed(&self) -> bool {
        matches!(self, Finding::Unresolvable(_) | Finding::LoopbackOnly(_))
    }

    /// A word for it, as the HTTP view and logs give it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Finding::Reachable(_) => "ok",
            Finding::Unresolvable(_) => "unresolvable",
            Finding::LoopbackOnly(_) => "loopback",
            Finding::NotChecked(_) => "not_checked",
        }
    }

    /// The addresses it resolved to, if it resolved.
    pub fn resolved(&self) -> &[IpAddr] {
        match self {
            Finding::Reachable(ips) | Finding::LoopbackOnly(ips) => ips,
            _ => &[],
        }
    }
}

/// Judges a resolved (or unresolvable) advertised name for an nsqd that
/// connected from `remote`.
pub fn judge(resolved: Result<&[IpAddr], &str>, remote: IpAddr) -> Finding {
    match resolved {
        Err(why) => Finding::Unresolvable(why.to_owned()),
        Ok([]) => Finding::Unresolvable("no addresses".to_owned()),
        Ok(ips) => {
            let local = |ip: &IpAddr| ip.is_loopback() || ip.is_unspecified();
            if ips.iter().all(local) && !remote.to_canonical().is_loopback() {
                Finding::LoopbackOnly(ips.to_vec())
            } else {
                Finding::Reachable(ips.to_vec())
            }
        }
    }
}

/// The address an advertised `broadcast_address` names without resolving:
/// an IP literal (`10.0.0.7`, `::1`). A bracketed `[::1]` is not one:
/// consumers add the brackets themselves (`net.JoinHostPort`), so they
/// could not use it, and it fails to resolve like any other bad name.
pub fn literal(advertised: &str) -> Option<IpAddr> {
    advertised.parse().ok()
}

/// Splits a `/topic/tombstone` node, `host:port`, into its host and port.
/// Both of Go's spellings of an IPv6 host are taken: nsqadmin's
/// `net.JoinHostPort` form `[::1]:4151`, and nsqlookupd's own
/// `fmt.Sprintf("%s:%d")` form `::1:4151`.
pub fn split_node(node: &str) -> Option<(&str, &str)> {
    if let Some(rest) = node.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    node.rsplit_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn policies_parse_and_print() {
        for p in [
            AddressPolicy::Broadcast,
            AddressPolicy::Remote,
            AddressPolicy::Auto,
        ] {
            assert_eq!(p.as_str().parse::<AddressPolicy>(), Ok(p));
        }
        assert!("Remote".parse::<AddressPolicy>().is_err());
        assert_eq!(AddressPolicy::default(), AddressPolicy::Broadcast);
    }

    #[test]
    fn judging() {
        let remote = ip("10.0.0.2");
        assert_eq!(
            judge(Err("Name or service not known"), remote),
            Finding::Unresolvable("Name or service not known".into())
        );
        assert!(judge(Ok(&[]), remote).failed());
        // The 127.0.1.1 trap, and `localhost`.
        for local in ["127.0.1.1", "::1", "0.0.0.0"] {
            assert_eq!(
                judge(Ok(&[ip(local)]), remote),
                Finding::LoopbackOnly(vec![ip(local)]),
                "{local}"
            );
        }
        // From the same host, loopback is right.
        assert!(!judge(Ok(&[ip("127.0.1.1")]), ip("127.0.0.1")).failed());
        assert!(!judge(Ok(&[ip("127.0.0.1")]), ip("::ffff:127.0.0.1")).failed());
        // One usable address is enough.
        let mixed = [ip("127.0.1.1"), ip("10.0.0.2")];
        assert!(!judge(Ok(&mixed), remote).failed());
        assert_eq!(judge(Ok(&mixed), remote).resolved(), &mixed);
    }

    #[test]
    fn literals() {
        assert_eq!(literal("10.0.0.7"), Some(ip("10.0.0.7")));
        assert_eq!(literal("::1"), Some(ip("::1")));
        assert_eq!(literal("[fe80::1]"), None);
        assert_eq!(literal("nsqd-1"), None);
        assert_eq!(literal("10.0.0.7:4150"), None);
    }

    #[test]
    fn nodes_in_both_ipv6_spellings() {
        assert_eq!(split_node("[::1]:4151"), Some(("::1", "4151")));
        assert_eq!(split_node("::1:4151"), Some(("::1", "4151")));
        assert_eq!(split_node("nsqd-1:4151"), Some(("nsqd-1", "4151")));
        assert_eq!(split_node("[::1]4151"), None);
        assert_eq!(split_node("nsqd-1"), None);
    }
}

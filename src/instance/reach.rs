//! Checking, whenever an nsqd identifies, that consumers can reach the
//! address it advertises, without ever making a connection wait for it.
//!
//! Resolving a name can block for seconds (a DNS server that does not
//! answer), so it never runs on a serving thread: an IDENTIFY whose
//! advertised name is an IP literal, or was resolved less than a minute
//! ago, is judged at once; any other name is handed to a resolver thread.
//! At most `WORKERS` of those run at once, each taking names until none
//! are left and then exiting, and at most `MAX_WAITING` distinct names
//! wait; producers advertising the same name wait on one resolution. A
//! resolver thread holds no part of the instance while it resolves, so an
//! instance stops without waiting for the system's resolver: a name in
//! flight is dropped when it comes back.
//!
//! What a check finds is kept with the producer (for `/reachability`, the
//! metrics and `-producer-address=auto`) and, when it failed, logged once
//! at WARN, naming the nsqd, the address it advertises and the fix.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::address::{judge, literal, AddressPolicy, Finding};
use crate::logging::{logf, Level};
use crate::registry::{Answer, PeerInfo, Producer};
use crate::instance::State;

/// Resolver threads running at once, at most.
const WORKERS: usize = 4;
/// Distinct names waiting to be resolved, at most; a producer advertising
/// another name meanwhile is not checked.
const MAX_WAITING: usize = 1024;
/// How long a resolution is reused.
const TTL: Duration = Duration::from_secs(60);
/// Resolutions kept, at most.
const MAX_CACHED: usize = 4096;

type Resolution = Result<Vec<IpAddr>, String>;

/// The address checks of one instance.
#[derive(Debug)]
pub struct Reach {
    policy: AddressPolicy,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cache: HashMap<Box<str>, (Instant, Resolution)>,
    /// Names queued or being resolved, with the producers waiting on each.
    waiting: HashMap<Box<str>, Vec<Waiter>>,
    /// Names no resolver thread has taken yet.
    queue: VecDeque<Box<str>>,
    workers: usize,
    closed: bool,
}

#[derive(Debug)]
struct Waiter {
    producer: Weak<Producer>,
    remote: IpAddr,
}

impl Reach {
    /// Checks for an instance answering by `policy`.
    pub fn new(policy: AddressPolicy) -> Reach {
        Reach {
            policy,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// The address answers give for an nsqd identifying with `info` from
    /// `remote`, if it is known without resolving anything; `None` while
    /// `auto` waits for the check.
    pub fn answer_at_identify(&self, info: &PeerInfo, remote: IpAddr) -> Option<Answer> {
        match self.policy {
            AddressPolicy::Broadcast => Some(Answer::Advertised),
            AddressPolicy::Remote => Some(instead(remote)),
            AddressPolicy::Auto => self
                .known(&info.broadcast_address, remote)
                .map(|f| auto_answer(&f, remote)),
        }
    }

    /// Checks the address `producer` advertises: at once if that needs no
    /// resolving, otherwise on a resolver thread.
    pub fn check(&self, state: &Arc<State>, producer: &Arc<Producer>, remote: IpAddr) {
        let name = producer.info().broadcast_address.as_str();
        if let Some(finding) = self.known(name, remote) {
            self.settle(state, producer, remote, finding);
            return;
        }
        let waiter = Waiter {
            producer: Arc::downgrade(producer),
            remote,
        };
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        if let Some(list) = inner.waiting.get_mut(name) {
            list.push(waiter);
            return;
        }
        if inner.waiting.len() >= MAX_WAITING {
            drop(inner);
            let busy = Finding::NotChecked("too many names waiting to be resolved");
            self.settle(state, producer, remote, busy);
            return;
        }
        let name: Box<str> = name.into();
        inner.waiting.insert(name.clone(), vec![waiter]);
        if inner.workers >= WORKERS {
            inner.queue.push_back(name);
            return;
        }
        inner.workers += 1;
        drop(inner);
        let weak = Arc::downgrade(state);
        let started = std::thread::Builder::new()
            .name("lookupd-resolve".into())
            .spawn({
                let name = name.clone();
                move || work(weak, name)
            });
        if let Err(e) = started {
            logf!(
                state.log,
                Level::Warn,
                "address check: cannot start a resolver thread - {e}"
            );
            let waiters = {
                let mut inner = self.inner.lock();
                inner.workers -= 1;
                inner.waiting.remove(&name).unwrap_or_default()
            };
            for w in waiters {
                if let Some(p) = w.producer.upgrade() {
                    let finding = Finding::NotChecked("no resolver thread");
                    self.settle(state, &p, w.remote, finding);
                }
            }
        }
    }

    /// Ends the checks: nothing more is resolved, and what comes back is
    /// dropped.
    pub fn close(&self) {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.queue.clear();
        inner.waiting.clear();
    }

    /// What checking `name` finds, if that needs no resolving: an IP
    /// literal, or a name resolved less than [`TTL`] ago.
    fn known(&self, name: &str, remote: IpAddr) -> Option<Finding> {
        if let Some(ip) = literal(name) {
            return Some(judge(Ok(&[ip]), remote));
        }
        let inner = self.inner.lock();
        let (at, resolution) = inner.cache.get(name)?;
        if at.elapsed() > TTL {
            return None;
        }
        Some(judge(resolution.as_deref().map_err(String::as_str), remote))
    }

    /// A resolver thread resolved `name`: keeps the result, settles every
    /// producer waiting on it, and gives the thread its next name.
    fn resolved(&self, state: &State, name: Box<str>, resolution: Resolution) -> Option<Box<str>> {
        let (waiters, next) = {
            let mut inner = self.inner.lock();
            let waiters = inner.waiting.remove(&name).unwrap_or_default();
            if inner.cache.len() >= MAX_CACHED {
                inner.cache.retain(|_, (at, _)| at.elapsed() <= TTL);
                if inner.cache.len() >= MAX_CACHED {
                    inner.cache.clear();
                }
            }
            let judged: Vec<(Waiter, Finding)> = waiters
                .into_iter()
                .map(|w| {
                    let f = judge(resolution.as_deref().map_err(String::as_str), w.remote);
                    (w, f)
                })
                .collect();
            if !inner.closed {
                inner.cache.insert(name, (Instant::now(), resolution));
            }
            let next = inner.queue.pop_front();
            if next.is_none() {
                inner.workers -= 1;
            }
            (judged, next)
        };
        for (w, finding) in waiters {
            if let Some(p) = w.producer.upgrade() {
                self.settle(state, &p, w.remote, finding);
            }
        }
        next
    }

    /// Records what the check of `producer` found; under `auto`, settles
    /// its answered address; when it failed, says so once.
    fn settle(&self, state: &State, producer: &Producer, remote: IpAddr, finding: Finding) {
        let failed = finding.failed();
        let text = describe(&finding);
        let answer = (self.policy == AddressPolicy::Auto).then(|| auto_answer(&finding, remote));
        if !producer.found(finding) {
            return;
        }
        if let Some(answer) = answer {
            producer.settle(answer);
        }
        self.report(state, producer, remote, failed, &text);
        // What answers, the metrics and a snapshot show may have changed
        // (told after the log line, so whoever sees the change sees it).
        state.changes.notify();
    }

    /// Logs what a check found: a failure at WARNING, once per producer.
    fn report(&self, state: &State, producer: &Producer, remote: IpAddr, failed: bool, text: &str) {
        let info = producer.info();
        if !failed {
            logf!(
                state.log,
                Level::Debug,
                "address check: client({}) broadcast address {:?} {}",
                info.remote_address,
                info.broadcast_address,
                text
            );
            return;
        }
        let then = match self.policy {
            AddressPolicy::Broadcast => {
                " (or run lookupd with -producer-address=auto to answer its connection's address)"
                    .to_owned()
            }
            AddressPolicy::Remote | AddressPolicy::Auto => format!(
                "; answering its connection's address {} instead (-producer-address={})",
                remote.to_canonical(),
                self.policy
            ),
        };
        logf!(
            state.log,
            Level::Warn,
            "nsqd {:?} (client {}) advertises broadcast address {:?}, which {}: consumers on other hosts cannot reach it; start that nsqd with -broadcast-address set to an address they can reach{}",
            info.hostname,
            info.remote_address,
            info.broadcast_address,
            text,
            then
        );
    }
}

/// The address `auto` answers for a check that found `finding`.
fn auto_answer(finding: &Finding, remote: IpAddr) -> Answer {
    if finding.failed() {
        instead(remote)
    } else {
        Answer::Advertised
    }
}

fn instead(remote: IpAddr) -> Answer {
    Answer::Instead(remote.to_canonical().to_string().into())
}

/// What a finding means, in words for a log line.
fn describe(finding: &Finding) -> String {
    let ips = |ips: &[IpAddr]| {
        let all: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        all.join(", ")
    };
    match finding {
        Finding::Reachable(found) => format!("resolves to {}", ips(found)),
        Finding::Unresolvable(why) => format!("does not resolve from this lookupd ({why})"),
        Finding::LoopbackOnly(found) => format!(
            "resolves only to loopback ({}) while the nsqd connected from another host",
            ips(found)
        ),
        Finding::NotChecked(why) => format!("was not checked ({why})"),
    }
}

/// A resolver thread: resolves `name`, then whatever is queued, then ends.
fn work(state: Weak<State>, mut name: Box<str>) {
    loop {
        let resolution = resolve(&name);
        let Some(state) = state.upgrade() else {
            return;
        };
        let next = state.reach.resolved(&state, name, resolution);
        drop(state);
        match next {
            Some(n) => name = n,
            None => return,
        }
    }
}

/// Resolves a name with the system's resolver (`getaddrinfo`: the hosts
/// file, DNS, and whatever else the host is set up to ask), as the
/// consumers on this host would.
fn resolve(name: &str) -> Resolution {
    let addrs = (name, 0u16).to_socket_addrs().map_err(|e| {
        let text = e.to_string();
        text.strip_prefix("failed to lookup address information: ")
            .unwrap_or(&text)
            .to_owned()
    })?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_uses_the_system_resolver() {
        assert!(resolve("localhost")
            .unwrap()
            .iter()
            .all(|ip| ip.is_loopback()));
        assert!(resolve("no such host").is_err());
    }

    #[test]
    fn answers_at_identify() {
        let info = |a: &str| PeerInfo {
            broadcast_address: a.into(),
            ..PeerInfo::default()
        };
        let remote: IpAddr = "10.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let broadcast = Reach::new(AddressPolicy::Broadcast);
        assert_eq!(
            broadcast.answer_at_identify(&info("nsqd-1"), remote),
            Some(Answer::Advertised)
        );
        let r = Reach::new(AddressPolicy::Remote);
        assert_eq!(
            r.answer_at_identify(&info("nsqd-1"), mapped),
            Some(Answer::Instead("10.0.0.2".into()))
        );
        let auto = Reach::new(AddressPolicy::Auto);
        assert_eq!(
            auto.answer_at_identify(&info("10.0.0.9"), remote),
            Some(Answer::Advertised)
        );
        assert_eq!(
            auto.answer_at_identify(&info("127.0.1.1"), remote),
            Some(Answer::Instead("10.0.0.2".into()))
        );
        // A name waits for its check.
        assert_eq!(auto.answer_at_identify(&info("nsqd-1"), remote), None);
        auto.inner.lock().cache.insert(
            "nsqd-1".into(),
            (Instant::now(), Err("Name or service not known".into())),
        );
        assert_eq!(
            auto.answer_at_identify(&info("nsqd-1"), remote),
            Some(Answer::Instead("10.0.0.2".into()))
        );
    }
}

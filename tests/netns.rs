//! What only a second host shows: an nsqd whose host vanishes (its link
//! taken down) leaves the answers and loses its connection, TCP keepalive
//! is on as in Go, and an advertised address that resolves only to
//! loopback is caught for an nsqd on another host.
//!
//! Each test makes two network namespaces of its own joined by a veth
//! pair, lookupd in one (10.99.0.1) and a simulated nsqd in the other
//! (10.99.0.2), and removes them at the end. Making namespaces needs root
//! and iproute2; where they cannot be made, the tests say so and skip.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use common::*;
use lookupd::address::AddressPolicy;
use lookupd::{Handle, Options};

const LOOKUPD_IP: &str = "10.99.0.1";
const NSQD_IP: &str = "10.99.0.2";
const WAIT: Duration = Duration::from_secs(30);

/// Two namespaces joined by a veth pair, removed when dropped.
struct Hosts {
    lookupd: String,
    nsqd: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// Makes the namespaces, or says why it cannot.
    fn new(tag: &str) -> Result<Hosts, String> {
        let id = std::process::id();
        let hosts = Hosts {
            lookupd: format!("lookupd-test-{id}-{tag}-l"),
            nsqd: format!("lookupd-test-{id}-{tag}-n"),
        };
        ip(&["netns", "add", &hosts.lookupd])?;
        // From here on, Drop removes whatever was made.
        ip(&["netns", "add", &hosts.nsqd])?;
        ip(&[
            "link",
            "add",
            "veth0",
            "netns",
            &hosts.lookupd,
            "type",
            "veth",
            "peer",
            "name",
            "veth0",
            "netns",
            &hosts.nsqd,
        ])?;
        for (ns, addr) in [(&hosts.lookupd, LOOKUPD_IP), (&hosts.nsqd, NSQD_IP)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "veth0",
            ])?;
            ip(&["-n", ns, "link", "set", "veth0", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// Runs `f` on a thread of its own inside namespace `ns`. Sockets it
    /// makes (and threads it starts) belong to that namespace.
    fn within<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(ns);
                f()
            })
            .join()
            .expect("thread in namespace")
        })
    }

    /// The nsqd's host vanishes: its link goes down.
    fn vanish_nsqd(&self) {
        ip(&["-n", &self.nsqd, "link", "set", "veth0", "down"]).expect("link down");
    }

    /// The established TCP connections in `ns` matching an `ss` filter
    /// (`sport = :4160`), as `ss -tno` shows them (timers included).
    fn connections(&self, ns: &str, filter: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-tnoH", "state", "established"])
            .arg(format!("( {filter} )"))
            .output()
            .expect("ss");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Removing a namespace removes its end of the veth pair, and the
        // pair with it.
        let _ = ip(&["netns", "del", &self.nsqd]);
        let _ = ip(&["netns", "del", &self.lookupd]);
    }
}

/// Moves this thread into network namespace `ns`.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("namespace file");
    // SAFETY: a valid descriptor of a network namespace; only this thread
    // moves.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// The namespaces, or `None` after saying why the test skips.
fn hosts(tag: &str) -> Option<Hosts> {
    match Hosts::new(tag) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("SKIPPED: cannot create network namespaces ({e}); needs root and iproute2");
            None
        }
    }
}

/// Starts lookupd inside the lookupd host, listening on its address.
fn lookupd(hosts: &Hosts, f: impl FnOnce(&mut Options)) -> (Handle, Log) {
    let mut o = test_options();
    o.tcp_address = format!("{LOOKUPD_IP}:0");
    o.http_address = format!("{LOOKUPD_IP}:0");
    f(&mut o);
    let log = Log::default();
    let logger = log.logger(lookupd::logging::Level::Warn);
    let h = hosts.within(&hosts.lookupd, move || {
        Handle::start_with_logger(o, logger).expect("start")
    });
    (h, log)
}

/// A simulated nsqd on the nsqd host.
fn nsqd(hosts: &Hosts, lookupd: SocketAddr) -> Nsqd {
    hosts.within(&hosts.nsqd, || {
        let mut n = Nsqd::connect_raw(lookupd);
        n.send(b"  V1");
        n
    })
}

/// An HTTP GET from the nsqd host.
fn http_get(hosts: &Hosts, h: &Handle, path: &str) -> Response {
    hosts.within(&hosts.nsqd, || get(h, path))
}

#[test]
fn a_vanished_host_leaves_the_answers_and_loses_its_connection() {
    let Some(hosts) = hosts("v") else { return };
    let (h, log) = lookupd(&hosts, |o| {
        o.producer_heartbeat_timeout = Duration::from_secs(1);
    });
    // Two idle clients, TCP and HTTP, connected first: the connections
    // after them are accepted after them.
    let (idle_tcp, idle_http) = hosts.within(&hosts.nsqd, || {
        (
            TcpStream::connect(h.tcp_addr()).unwrap(),
            TcpStream::connect(h.http_addr()).unwrap(),
        )
    });
    let mut n = nsqd(&hosts, h.tcp_addr());
    n.identify_as(NSQD_IP, 4150, 4151);
    assert_eq!(n.command("REGISTER orders"), "OK");
    let lookup = http_get(&hosts, &h, "/lookup?topic=orders").json();
    assert_eq!(lookup["producers"][0]["broadcast_address"], NSQD_IP);
    // Keepalive is on, TCP and HTTP alike, as Go has it (an idle
    // connection shows its keepalive timer; one with data in flight would
    // show the retransmission timer instead).
    for idle in [&idle_tcp, &idle_http] {
        let port = idle.local_addr().unwrap().port();
        let seen = hosts.connections(&hosts.lookupd, &format!("dport = :{port}"));
        assert!(seen.contains("timer:(keepalive"), "{seen}");
    }

    hosts.vanish_nsqd();
    let line = log.wait_for("sent nothing for", WAIT);
    assert!(
        line.contains(&format!("broadcast address {NSQD_IP}")),
        "{line}"
    );
    // Its connection is closed at once, its registrations removed.
    let port = n.stream.local_addr().unwrap().port();
    let tcp = hosts.connections(&hosts.lookupd, &format!("dport = :{port}"));
    assert!(tcp.is_empty(), "still established: {tcp}");
    wait_registry(&h, WAIT, |r| r.counts().producers == 0);
    let lookup = hosts.within(&hosts.lookupd, || get(&h, "/lookup?topic=orders").json());
    assert!(
        lookup["producers"].as_array().unwrap().is_empty(),
        "{lookup}"
    );
    drop((n, idle_tcp, idle_http));
    h.stop();
}

#[test]
fn an_address_resolving_to_loopback_is_caught_for_an_nsqd_on_another_host() {
    let Some(hosts) = hosts("l") else { return };
    // Go's policy: warned about, answered as advertised.
    let (h, log) = lookupd(&hosts, |_| {});
    let mut n = nsqd(&hosts, h.tcp_addr());
    n.identify_as("localhost", 4150, 4151);
    assert_eq!(n.command("REGISTER orders"), "OK");
    let line = log.wait_for("advertises broadcast address", WAIT);
    assert!(line.contains("\"localhost\""), "{line}");
    assert!(line.contains("resolves only to loopback"), "{line}");
    assert!(line.contains("connected from another host"), "{line}");
    let seen = http_get(&hosts, &h, "/reachability").json();
    assert_eq!(seen["producers"][0]["check"], "loopback");
    let metrics = http_get(&hosts, &h, "/metrics").body_str();
    assert!(
        metrics.contains("nsqlookupd_producers_address_unreachable 1"),
        "{metrics}"
    );
    let lookup = http_get(&hosts, &h, "/lookup?topic=orders").json();
    assert_eq!(lookup["producers"][0]["broadcast_address"], "localhost");
    drop(n);
    h.stop();

    // auto: answered at the address it connected from, also for a name
    // that does not resolve from the lookupd host (no DNS there).
    let (h, log) = lookupd(&hosts, |o| o.producer_address = AddressPolicy::Auto);
    let mut a = nsqd(&hosts, h.tcp_addr());
    a.identify_as("localhost", 4150, 4151);
    assert_eq!(a.command("REGISTER orders"), "OK");
    let mut b = nsqd(&hosts, h.tcp_addr());
    b.identify_as("nsqd-b.lookupd-test.invalid", 5150, 5151);
    assert_eq!(b.command("REGISTER orders"), "OK");
    wait_registry(&h, WAIT, |r| {
        r.all_producers().iter().all(|(p, _)| p.finding().is_some())
    });
    assert_eq!(log.matching("advertises broadcast address").len(), 2);
    let lookup = http_get(&hosts, &h, "/lookup?topic=orders").json();
    for p in lookup["producers"].as_array().unwrap() {
        assert_eq!(p["broadcast_address"], NSQD_IP, "{p}");
    }
    let checks: Vec<_> = http_get(&hosts, &h, "/reachability").json()["producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["check"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(checks, ["loopback", "unresolvable"]);
    // nsqadmin tombstones the node it was shown.
    let r = hosts.within(&hosts.nsqd, || {
        post(
            &h,
            &format!("/topic/tombstone?topic=orders&node={NSQD_IP}:4151"),
        )
    });
    assert_eq!(r.status, 200);
    let lookup = http_get(&hosts, &h, "/lookup?topic=orders").json();
    assert_eq!(lookup["producers"].as_array().unwrap().len(), 1);
    assert_eq!(lookup["producers"][0]["http_port"], 5151);
    drop((a, b));
    h.stop();
}

//! The address an nsqd advertises is checked, and the answers give the one
//! `-producer-address` says: what a failed check looks like (the WARN, the
//! metric, `/reachability`), `remote` and `auto` everywhere an address
//! shows (`/lookup`, `/nodes`, `/debug`, tombstones, the snapshot), and
//! both spellings of an IPv6 tombstone node.
//!
//! The checks from another host (the loopback trap) need a second address
//! and are in `tests/netns.rs`.

mod common;

use std::time::Duration;

use common::*;
use lookupd::address::AddressPolicy;

/// A name no resolver knows (RFC 6761 reserves `.invalid`).
const NOWHERE: &str = "nsqd-7f3a.lookupd-test.invalid";
const WARNED: &str = "advertises broadcast address";
const WAIT: Duration = Duration::from_secs(30);

fn lookup(h: &lookupd::Handle, topic: &str) -> serde_json::Value {
    let r = get(h, &format!("/lookup?topic={topic}"));
    assert_eq!(r.status, 200, "{}", r.body_str());
    r.json()
}

fn reachability(h: &lookupd::Handle) -> serde_json::Value {
    let r = get(h, "/reachability");
    assert_eq!(r.status, 200, "{}", r.body_str());
    r.json()["producers"][0].clone()
}

#[test]
fn an_unresolvable_address_is_named_counted_and_shown_and_answered_as_go_does() {
    let (h, log) = start_logged(|_| {});
    let mut n = Nsqd::connect(&h);
    n.identify_as(NOWHERE, 4150, 4151);
    assert_eq!(n.command("REGISTER orders"), "OK");
    let line = log.wait_for(WARNED, WAIT);
    let local = n.stream.local_addr().unwrap().to_string();
    assert!(line.contains("WARNING: "), "{line}");
    assert!(line.contains(&format!("(client {local})")), "{line}");
    assert!(line.contains(&format!("{NOWHERE:?}")), "{line}");
    assert!(
        line.contains("does not resolve from this lookupd"),
        "{line}"
    );
    assert!(line.contains("-broadcast-address"), "{line}");
    assert!(line.contains("-producer-address=auto"), "{line}");
    assert_eq!(metric(&h, "nsqlookupd_producers_address_unreachable"), 1.0);
    let seen = reachability(&h);
    assert_eq!(seen["check"], "unresolvable");
    assert_eq!(seen["broadcast_address"], NOWHERE);
    assert_eq!(seen["answered_address"], NOWHERE);
    assert_eq!(seen["remote_address"], local.as_str());
    assert!(!seen["detail"].as_str().unwrap().is_empty());
    assert_eq!(
        get(&h, "/reachability").json()["producer_address"],
        "broadcast"
    );
    // The default policy keeps Go's bytes: the advertised name.
    let body = get(&h, "/lookup?topic=orders").body_str();
    assert_eq!(
        body,
        format!(
            r#"{{"channels":[],"producers":[{{"remote_address":"{local}","hostname":"fake-nsqd","broadcast_address":"{NOWHERE}","tcp_port":4150,"http_port":4151,"version":"1.3.0","topology_zone":"","topology_region":""}}]}}"#
        )
    );
    // Once per producer.
    assert_eq!(log.matching(WARNED).len(), 1);
    n.disconnect(&h);
    assert_eq!(metric(&h, "nsqlookupd_producers_address_unreachable"), 0.0);
    h.stop();
}

#[test]
fn a_resolvable_address_passes_and_auto_keeps_it() {
    let (h, log) = start_logged(|o| o.producer_address = AddressPolicy::Auto);
    let mut n = Nsqd::connect(&h);
    // From this host, localhost is right.
    n.identify_as("localhost", 4150, 4151);
    assert_eq!(n.command("REGISTER orders"), "OK");
    wait_checked(&h);
    let seen = reachability(&h);
    assert_eq!(seen["check"], "ok");
    assert!(!seen["resolved"].as_array().unwrap().is_empty());
    assert_eq!(
        lookup(&h, "orders")["producers"][0]["broadcast_address"],
        "localhost"
    );
    assert!(log.matching(WARNED).is_empty());
    n.disconnect(&h);
    h.stop();
}

/// Waits until the one producer's check has come back.
fn wait_checked(h: &lookupd::Handle) {
    wait_registry(h, WAIT, |r| {
        r.all_producers().iter().all(|(p, _)| p.finding().is_some())
    });
}

/// `/lookup`, `/nodes` and `/debug` all give `address` for the producer,
/// and the tombstone node is `address:4151`, not `advertised:4151`.
fn answered_everywhere(h: &lookupd::Handle, advertised: &str, address: &str) {
    assert_eq!(
        lookup(h, "orders")["producers"][0]["broadcast_address"],
        address
    );
    let nodes = get(h, "/nodes").json();
    assert_eq!(nodes["producers"][0]["broadcast_address"], address);
    let debug = get(h, "/debug").json();
    for key in ["client::", "topic:orders:", "channel:orders:billing"] {
        assert_eq!(debug[key][0]["broadcast_address"], address, "{key}");
    }
    let tomb = |node: &str| {
        let r = post(h, &format!("/topic/tombstone?topic=orders&node={node}"));
        assert_eq!(r.status, 200);
    };
    tomb(&format!("{advertised}:4151"));
    assert_eq!(
        lookup(h, "orders")["producers"].as_array().unwrap().len(),
        1
    );
    tomb(&format!("{address}:4151"));
    assert!(lookup(h, "orders")["producers"]
        .as_array()
        .unwrap()
        .is_empty());
    let nodes = get(h, "/nodes").json();
    assert_eq!(nodes["producers"][0]["tombstones"][0], true);
}

#[test]
fn remote_answers_the_connection_s_address_everywhere() {
    let (h, log) = start_logged(|o| o.producer_address = AddressPolicy::Remote);
    let mut n = Nsqd::connect(&h);
    n.identify_as("nsqd-a.example", 4150, 4151);
    assert_eq!(n.command("REGISTER orders billing"), "OK");
    answered_everywhere(&h, "nsqd-a.example", "127.0.0.1");
    // What it advertised stays visible where it is asked for.
    wait_checked(&h);
    let seen = reachability(&h);
    assert_eq!(seen["broadcast_address"], "nsqd-a.example");
    assert_eq!(seen["answered_address"], "127.0.0.1");
    drop(log);
    n.disconnect(&h);
    h.stop();
}

#[test]
fn auto_answers_the_connection_s_address_only_after_a_failed_check() {
    let (h, log) = start_logged(|o| o.producer_address = AddressPolicy::Auto);
    let mut n = Nsqd::connect(&h);
    n.identify_as(NOWHERE, 4150, 4151);
    assert_eq!(n.command("REGISTER orders billing"), "OK");
    let line = log.wait_for(WARNED, WAIT);
    assert!(
        line.contains(
            "answering its connection's address 127.0.0.1 instead (-producer-address=auto)"
        ),
        "{line}"
    );
    answered_everywhere(&h, NOWHERE, "127.0.0.1");
    assert_eq!(reachability(&h)["check"], "unresolvable");
    // A second nsqd advertising the same name is answered from the check
    // already made, from its IDENTIFY on.
    let mut m = Nsqd::connect(&h);
    m.identify_as(NOWHERE, 5150, 5151);
    assert_eq!(m.command("REGISTER clicks"), "OK");
    assert_eq!(
        lookup(&h, "clicks")["producers"][0]["broadcast_address"],
        "127.0.0.1"
    );
    assert_eq!(metric(&h, "nsqlookupd_producers_address_unreachable"), 2.0);
    n.disconnect(&h);
    m.disconnect(&h);
    h.stop();
}

#[test]
fn ipv6_nodes_are_tombstoned_in_both_spellings() {
    let h = start();
    let mut n = Nsqd::connect(&h);
    n.identify_as("::1", 4150, 4151);
    assert_eq!(n.command("REGISTER a"), "OK");
    assert_eq!(n.command("REGISTER b"), "OK");
    assert_eq!(n.command("REGISTER c"), "OK");
    let count = |t: &str| lookup(&h, t)["producers"].as_array().unwrap().len();
    // nsqadmin's net.JoinHostPort form, and Go nsqlookupd's own.
    for (topic, node) in [("a", "%5B::1%5D:4151"), ("b", "::1:4151")] {
        let r = post(&h, &format!("/topic/tombstone?topic={topic}&node={node}"));
        assert_eq!(r.status, 200);
        assert_eq!(count(topic), 0, "{node}");
    }
    // Neither spelling with another port, nor a bare host, matches.
    for node in ["%5B::1%5D:4150", "::1:4150", "::1", "%5B::1%5D"] {
        post(&h, &format!("/topic/tombstone?topic=c&node={node}"));
        assert_eq!(count("c"), 1, "{node}");
    }
    n.disconnect(&h);
    h.stop();
}

#[test]
fn the_snapshot_keeps_the_answered_address_and_the_nsqd_takes_it_over() {
    let dir = std::env::temp_dir().join(format!("lookupd-reach-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.to_str().unwrap().to_owned();
    let opts = |o: &mut lookupd::Options| {
        o.producer_address = AddressPolicy::Remote;
        o.data_path = path.clone();
    };
    let h = start_with(opts);
    let n = Nsqd::registered_as(&h, "nsqd-a.example", 4151, &["orders"]);
    h.stop();
    drop(n);
    let h = start_with(opts);
    assert_eq!(
        lookup(&h, "orders")["producers"][0]["broadcast_address"],
        "127.0.0.1",
        "restored with the address it was answered at"
    );
    // Its nsqd comes back: matched by what it advertises, no duplicate.
    let n = Nsqd::registered_as(&h, "nsqd-a.example", 4151, &["orders"]);
    let producers = lookup(&h, "orders")["producers"].clone();
    assert_eq!(producers.as_array().unwrap().len(), 1, "{producers}");
    assert_eq!(producers[0]["broadcast_address"], "127.0.0.1");
    assert_eq!(
        producers[0]["remote_address"],
        n.stream.local_addr().unwrap().to_string().as_str()
    );
    n.disconnect(&h);
    h.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

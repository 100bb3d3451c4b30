//! Time-driven behaviour, with short timeouts: inactive producers,
//! tombstone lifetimes, and the deadlines on unidentified connections.
//! (These follow the Go original's TestTombstoneRecover,
//! TestTombstoneUnregister and TestInactiveNodes.)

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::*;

#[test]
fn inactive_producers_are_hidden_until_they_ping() {
    let h = start_with(|o| o.inactive_producer_timeout = Duration::from_millis(200));
    let mut n = Nsqd::registered(&h, 4151, &["t c"]);
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    let nodes = get(&h, "/nodes").json();
    assert_eq!(strings(&nodes["producers"][0]["topics"]), ["t"]);
    assert_eq!(
        nodes["producers"][0]["tombstones"],
        serde_json::json!([false])
    );
    sleep(Duration::from_millis(300));
    assert!(lookup_ports(&h, "t").is_empty());
    assert_eq!(get(&h, "/nodes").body_str(), r#"{"producers":[]}"#);
    // Still registered: the keys and /debug keep it; a PING revives it.
    assert!(get(&h, "/debug").json().get("topic:t:").is_some());
    assert_eq!(n.command("PING"), "OK");
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    assert_eq!(
        get(&h, "/nodes").json()["producers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn tombstones_expire() {
    let h = start_with(|o| o.tombstone_lifetime = Duration::from_millis(200));
    let _n = Nsqd::registered(&h, 4151, &["t c", "t2 c2"]);
    assert_eq!(
        post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:4151").status,
        200
    );
    assert!(lookup_ports(&h, "t").is_empty());
    assert_eq!(lookup_ports(&h, "t2"), [4151]);
    let d = get(&h, "/debug").json();
    assert_eq!(d["topic:t:"][0]["tombstoned"], true);
    assert!(d["topic:t:"][0]["tombstoned_at"].as_i64().unwrap() > 0);
    sleep(Duration::from_millis(300));
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    let nodes = get(&h, "/nodes").json();
    assert_eq!(
        nodes["producers"][0]["tombstones"],
        serde_json::json!([false, false])
    );
}

#[test]
fn unregister_after_tombstone_stays_gone() {
    let h = start_with(|o| o.tombstone_lifetime = Duration::from_millis(100));
    let mut n = Nsqd::registered(&h, 4151, &["t c"]);
    post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:4151");
    assert!(lookup_ports(&h, "t").is_empty());
    assert_eq!(n.command("UNREGISTER t"), "OK");
    sleep(Duration::from_millis(150));
    assert!(lookup_ports(&h, "t").is_empty());
    // A fresh registration carries no tombstone.
    assert_eq!(n.command("REGISTER t"), "OK");
    assert_eq!(lookup_ports(&h, "t"), [4151]);
}

#[test]
fn reregistering_keeps_the_tombstone() {
    let h = start();
    let mut n = Nsqd::registered(&h, 4151, &["t"]);
    post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:4151");
    assert_eq!(n.command("REGISTER t c"), "OK");
    assert!(
        lookup_ports(&h, "t").is_empty(),
        "as in Go, REGISTER does not lift it"
    );
}

#[test]
fn silent_connections_are_closed_before_identify_only() {
    let h = start_with(|o| {
        o.tcp_handshake_timeout = Duration::from_millis(200);
        o.identify_timeout = Duration::from_millis(300);
    });
    // No magic at all.
    let mut silent = Nsqd::connect_raw(h.tcp_addr());
    // Magic, then nothing.
    let mut unidentified = Nsqd::connect(&h);
    // Magic and half an IDENTIFY body.
    let mut half = Nsqd::connect(&h);
    half.send(b"IDENTIFY\n\x00\x00\x00\x64{\"broad");
    // Identified, then quiet for longer than either timeout.
    let mut identified = Nsqd::registered(&h, 4151, &["t"]);
    let start = std::time::Instant::now();
    silent.assert_closed();
    unidentified.assert_closed();
    assert_eq!(half.read_str(), "E_BAD_BODY IDENTIFY failed to read body");
    half.assert_closed();
    assert!(start.elapsed() < Duration::from_secs(3));
    sleep(Duration::from_millis(400));
    assert_eq!(identified.command("PING"), "OK");
    assert_eq!(lookup_ports(&h, "t"), [4151]);
}

#[test]
fn pinging_keeps_an_unidentified_connection_open() {
    let h = start_with(|o| o.identify_timeout = Duration::from_millis(300));
    let mut n = Nsqd::connect(&h);
    for _ in 0..4 {
        sleep(Duration::from_millis(150));
        assert_eq!(n.command("PING"), "OK");
    }
}

//! Time-driven behaviour: inactive producers and tombstone lifetimes on a
//! manual clock (decided at query time against the instance's clock, so
//! the test moves it past a 5-minute timeout at once, and a loaded machine
//! cannot make it race), and the deadlines on unidentified connections,
//! which are socket timers: those tests wait for the closes they cause,
//! and use the server's own deadline on another connection as the measure
//! of "longer than the timeout", never a sleep.
//! (These follow the Go original's TestTombstoneRecover,
//! TestTombstoneUnregister and TestInactiveNodes.)

mod common;

use std::time::Duration;

use common::*;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn inactive_producers_are_hidden_until_they_ping() {
    let h = start_manual(|o| o.inactive_producer_timeout = Duration::from_secs(300));
    let mut n = Nsqd::registered(&h, 4151, &["t c"]);
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    let nodes = get(&h, "/nodes").json();
    assert_eq!(strings(&nodes["producers"][0]["topics"]), ["t"]);
    assert_eq!(
        nodes["producers"][0]["tombstones"],
        serde_json::json!([false])
    );
    // Silent for exactly the timeout: still active.
    h.state().advance_clock(Duration::from_secs(300));
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    h.state().advance_clock(SECOND);
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
    // The PING restarted its timeout.
    h.state().advance_clock(Duration::from_secs(300));
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    h.state().advance_clock(SECOND);
    assert!(lookup_ports(&h, "t").is_empty());
}

#[test]
fn tombstones_expire() {
    let h = start_manual(|o| o.tombstone_lifetime = Duration::from_secs(45));
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
    h.state().advance_clock(Duration::from_secs(44));
    assert!(lookup_ports(&h, "t").is_empty(), "not yet");
    h.state().advance_clock(Duration::from_secs(2));
    assert_eq!(lookup_ports(&h, "t"), [4151]);
    let nodes = get(&h, "/nodes").json();
    assert_eq!(
        nodes["producers"][0]["tombstones"],
        serde_json::json!([false, false])
    );
}

#[test]
fn unregister_after_tombstone_stays_gone() {
    let h = start_manual(|o| o.tombstone_lifetime = Duration::from_secs(45));
    let mut n = Nsqd::registered(&h, 4151, &["t c"]);
    post(&h, "/topic/tombstone?topic=t&node=127.0.0.1:4151");
    assert!(lookup_ports(&h, "t").is_empty());
    assert_eq!(n.command("UNREGISTER t"), "OK");
    h.state().advance_clock(Duration::from_secs(46));
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
    // Identified, then quiet for longer than either timeout.
    let mut identified = Nsqd::registered(&h, 4151, &["t"]);
    // No magic at all.
    let mut silent = Nsqd::connect_raw(h.tcp_addr());
    // Magic, then nothing.
    let mut unidentified = Nsqd::connect(&h);
    // Magic and half an IDENTIFY body.
    let mut half = Nsqd::connect(&h);
    half.send(b"IDENTIFY\n\x00\x00\x00\x64{\"broad");
    // Each read fails if the server has not closed within the read
    // timeout (5 s).
    silent.assert_closed();
    unidentified.assert_closed();
    assert_eq!(half.read_str(), "E_BAD_BODY IDENTIFY failed to read body");
    half.assert_closed();
    // The measure of "longer than the identify timeout": one more
    // unidentified connection, opened after those closed, closed in turn.
    // The identified one has been quiet since before the first of them.
    Nsqd::connect(&h).assert_closed();
    assert_eq!(identified.command("PING"), "OK");
    assert_eq!(lookup_ports(&h, "t"), [4151]);
}

#[test]
fn pinging_keeps_an_unidentified_connection_open() {
    // The handshake timeout of a connection that sends nothing is the
    // measure of time here: each round lasts at least 100 ms, so six
    // rounds outlast the 500 ms identify timeout, and the PINGs are never
    // more than one round (plus the time to notice a close) apart.
    let h = start_with(|o| {
        o.tcp_handshake_timeout = Duration::from_millis(100);
        o.identify_timeout = Duration::from_millis(500);
    });
    let mut n = Nsqd::connect(&h);
    for _ in 0..6 {
        assert_eq!(n.command("PING"), "OK");
        Nsqd::connect_raw(h.tcp_addr()).assert_closed();
    }
    assert_eq!(n.command("PING"), "OK");
}

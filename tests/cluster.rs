//! Scale-out, NSQ's way: independent instances, every nsqd registered with
//! all of them, consumers asking any. Losing one instance loses nothing.

mod common;

use common::*;

#[test]
fn three_instances_survive_losing_one() {
    let mut lookupds: Vec<lookupd::Handle> = (0..3).map(|_| start()).collect();
    // Two nsqd, each registered with every lookupd (as with nsqd's
    // repeated -lookupd-tcp-address).
    let mut fleet = Vec::new();
    for (http_port, topics) in [
        (4151, ["orders billing", "audit"]),
        (4161, ["orders shipping", "events"]),
    ] {
        for h in &lookupds {
            fleet.push(Nsqd::registered(h, http_port, &topics));
        }
    }
    for h in &lookupds {
        assert_eq!(lookup_ports(h, "orders"), [4151, 4161]);
    }
    // One instance goes away: its connections drop, the others answer.
    lookupds.remove(1).stop();
    for h in &lookupds {
        assert_eq!(lookup_ports(h, "orders"), [4151, 4161]);
        assert_eq!(
            strings(&get(h, "/channels?topic=orders").json()["channels"]),
            ["billing", "shipping"]
        );
        assert_eq!(
            strings(&get(h, "/topics").json()["topics"]),
            ["audit", "events", "orders"]
        );
        assert_eq!(
            get(h, "/nodes").json()["producers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    // The connections to the stopped instance are closed; the rest work.
    let (to_stopped, to_live): (Vec<_>, Vec<_>) =
        fleet.iter_mut().enumerate().partition(|(i, _)| i % 3 == 1);
    for (_, n) in to_stopped {
        n.assert_closed();
    }
    for (_, n) in to_live {
        assert_eq!(n.command("PING"), "OK");
    }
}

//! A dead or hung nsqd is not handed to consumers: an identified
//! connection silent past `producer_heartbeat_timeout` is closed and its
//! registrations removed, while a healthy nsqd, PINGing, never is.

mod common;

use std::time::{Duration, Instant};

use common::*;

const SILENT: &str = "sent nothing for";

#[test]
fn a_hung_nsqd_is_dropped_named_and_counted() {
    // A deadline well above the healthy one's pace (100 ms): a loaded
    // machine stalling the test for most of a second drops nobody wrongly.
    let (h, log) = start_logged(|o| o.producer_heartbeat_timeout = Duration::from_secs(1));
    let mut hung = Nsqd::registered(&h, 4151, &["orders", "orders ch"]);
    let mut healthy = Nsqd::registered(&h, 5151, &["orders"]);
    assert_eq!(lookup_ports(&h, "orders"), vec![4151, 5151]);
    // The hung one sends nothing more; the healthy one keeps pinging
    // until the hung one is gone.
    let line = std::thread::scope(|s| {
        let pinger = s.spawn(|| {
            while log.matching(SILENT).is_empty() {
                assert_eq!(healthy.command("PING"), "OK");
                // Paces the healthy nsqd's heartbeat (the behaviour under
                // test), not synchronisation: the loop ends on the log line.
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let line = log.wait_for(SILENT, Duration::from_secs(10));
        pinger.join().unwrap();
        line
    });
    // The WARN names the nsqd and how long it was silent.
    let local = hung.stream.local_addr().unwrap().to_string();
    assert!(line.contains("WARNING: "), "{line}");
    assert!(line.contains(&format!("client({local})")), "{line}");
    assert!(line.contains("\"fake-nsqd\""), "{line}");
    assert!(
        line.contains("broadcast address 127.0.0.1, TCP 4150, HTTP 4151"),
        "{line}"
    );
    assert!(line.contains("producer-heartbeat-timeout 1s"), "{line}");
    // Its connection is closed, its registrations gone; the other stays.
    hung.assert_closed();
    wait_registry(&h, TIMEOUT, |r| r.counts().producers == 1);
    assert_eq!(lookup_ports(&h, "orders"), vec![5151]);
    assert_eq!(
        metric(
            &h,
            "nsqlookupd_bounds_hit_total{bound=\"producer_heartbeat_timeout\"}"
        ),
        1.0
    );
    assert_eq!(log.matching(SILENT).len(), 1);
    healthy.disconnect(&h);
    h.stop();
}

#[test]
fn a_pinging_nsqd_is_never_dropped() {
    // PINGs a fifth of the deadline apart: a stall of most of a second on
    // a loaded machine is no reason to drop it.
    let timeout = Duration::from_millis(1500);
    let (h, log) = start_logged(|o| o.producer_heartbeat_timeout = timeout);
    let mut n = Nsqd::registered(&h, 4151, &["orders"]);
    // Through four deadlines (nsqd's 15 s against 45 s is a third). The
    // sleeps pace the nsqd's heartbeat, the behaviour under test; nothing
    // waits on them.
    let until = Instant::now() + 4 * timeout;
    while Instant::now() < until {
        assert_eq!(n.command("PING"), "OK");
        std::thread::sleep(timeout / 5);
    }
    assert_eq!(lookup_ports(&h, "orders"), vec![4151]);
    assert!(
        log.matching(SILENT).is_empty(),
        "{:?}",
        log.matching(SILENT)
    );
    // Any traffic counts, not only PING (paced the same way).
    let until = Instant::now() + 2 * timeout;
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        assert_eq!(n.command(&format!("REGISTER t{i}")), "OK");
        std::thread::sleep(timeout / 5);
    }
    assert_eq!(lookup_ports(&h, "orders"), vec![4151]);
    assert!(log.matching(SILENT).is_empty());
    n.disconnect(&h);
    h.stop();
}

#[test]
fn zero_turns_the_deadline_off() {
    // The unidentified connection's identify timeout is the clock: once it
    // has been closed, the silent producer has been silent longer.
    let (h, log) = start_logged(|o| {
        o.producer_heartbeat_timeout = Duration::ZERO;
        o.identify_timeout = Duration::from_millis(300);
    });
    let silent = Nsqd::registered(&h, 4151, &["orders"]);
    let mut clock = Nsqd::connect(&h);
    log.wait_for("not identified and silent", Duration::from_secs(10));
    clock.assert_closed();
    assert_eq!(lookup_ports(&h, "orders"), vec![4151]);
    assert!(log.matching(SILENT).is_empty());
    silent.disconnect(&h);
    h.stop();
}

#[test]
fn a_peer_that_reads_nothing_cannot_hold_its_connection() {
    // It pipelines commands and never reads the replies: once its receive
    // buffer and our send buffer are full, our write waits, within the
    // same deadline.
    let (h, log) = start_logged(|o| o.producer_heartbeat_timeout = Duration::from_millis(300));
    let mut n = Nsqd::connect(&h);
    n.identify(4150, 4151);
    n.stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let pings = b"PING\n".repeat(64 * 1024);
    // Writes until the server stops reading (its write is stuck).
    while std::io::Write::write_all(&mut n.stream, &pings).is_ok() {}
    let line = log.wait_for("read none of our replies for", Duration::from_secs(10));
    assert!(line.contains("producer-heartbeat-timeout 300ms"), "{line}");
    wait_registry(&h, TIMEOUT, |r| r.counts().producers == 0);
    h.stop();
}

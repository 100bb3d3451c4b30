//! Waiting for producers: a wait returns the `/lookup` body once enough
//! producers register (from another thread, after a delay), times out when
//! none do, is woken by a tombstone expiring and by a PING that ends a
//! producer's inactivity (changes no registry write announces), ends when
//! the instance stops, and runs as a future under another executor.
//! No sleep orders anything: a registrar acts once the wait is blocked
//! (`State::waiting`), and lifetimes run on a manual clock except where
//! the wait's own timer is what is tested.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{get, start, start_manual, start_with, test_options, wait_parked, Nsqd};
use lookupd::Lookupd;
use lookupd::WaitError;

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("JSON body")
}

#[test]
fn returns_the_lookup_body_once_enough_producers_register() {
    let h = Arc::new(start());
    let registrar = {
        let h = h.clone();
        thread::spawn(move || {
            // One at a time, once the wait is blocked: the first wakes it
            // to find too few, the second to find enough.
            wait_parked(&h, 1);
            let a = Nsqd::registered(&h, 4151, &["orders billing"]);
            let b = Nsqd::registered(&h, 5151, &["orders"]);
            (a, b)
        })
    };
    let body = h
        .wait_lookup("orders", 2, Duration::from_secs(20))
        .expect("two producers registered");
    let v = json(&body);
    assert_eq!(v["producers"].as_array().unwrap().len(), 2);
    assert_eq!(v["channels"][0], "billing");
    assert_eq!(
        body,
        get(&h, "/lookup?topic=orders").body,
        "exactly the HTTP body"
    );
    let _nsqds = registrar.join().unwrap();
}

#[test]
fn times_out_when_nothing_registers() {
    let h = start();
    let _other = Nsqd::registered(&h, 4151, &["other"]);
    let started = Instant::now();
    assert_eq!(
        h.wait_lookup("orders", 1, Duration::from_millis(300)),
        Err(WaitError::Timeout)
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // A topic that exists with too few producers times out too.
    assert_eq!(
        h.wait_lookup("other", 2, Duration::from_millis(50)),
        Err(WaitError::Timeout)
    );
}

#[test]
fn zero_producers_means_the_topic_exists_and_bad_names_fail_at_once() {
    let h = start();
    assert_eq!(
        h.wait_lookup("*", 0, Duration::from_secs(20)),
        Err(WaitError::InvalidTopic)
    );
    let h = Arc::new(h);
    let creator = {
        let h = h.clone();
        thread::spawn(move || {
            wait_parked(&h, 1);
            common::post(&h, "/topic/create?topic=made");
        })
    };
    let body = h.wait_lookup("made", 0, Duration::from_secs(20)).unwrap();
    assert_eq!(json(&body)["producers"].as_array().unwrap().len(), 0);
    creator.join().unwrap();
}

/// The one test on the wall clock: what it checks is the wait's own timer
/// (no registry write announces a tombstone expiring). The wait must find
/// the producer still hidden and block; then nothing writes, and only the
/// timer can end it with an answer. The lifetime is long enough for the
/// wait to begin in time on a loaded machine; if it did not, the check
/// that it blocked says so.
#[test]
fn a_tombstone_expiring_wakes_the_waiter() {
    let h = Arc::new(start_with(|o| {
        o.tombstone_lifetime = Duration::from_secs(1)
    }));
    let _n = Nsqd::registered(&h, 4151, &["orders"]);
    assert_eq!(
        common::post(&h, "/topic/tombstone?topic=orders&node=127.0.0.1:4151").status,
        200
    );
    let waiter = {
        let h = h.clone();
        thread::spawn(move || h.wait_lookup("orders", 1, Duration::from_secs(20)))
    };
    let mut blocked = false;
    common::spin_until("the wait blocked, or answered first", || {
        blocked = h.state().waiting() == 1;
        blocked || waiter.is_finished()
    });
    assert!(
        blocked,
        "the wait answered before it blocked: the tombstone expired first"
    );
    let body = waiter.join().unwrap().unwrap();
    assert_eq!(json(&body)["producers"].as_array().unwrap().len(), 1);
}

#[test]
fn a_tombstone_expiring_on_a_manual_clock_wakes_the_waiter() {
    let h = Arc::new(start_manual(|o| {
        o.tombstone_lifetime = Duration::from_secs(45)
    }));
    let _n = Nsqd::registered(&h, 4151, &["orders"]);
    common::post(&h, "/topic/tombstone?topic=orders&node=127.0.0.1:4151");
    let waiter = {
        let h = h.clone();
        thread::spawn(move || h.wait_lookup("orders", 1, Duration::from_secs(20)))
    };
    wait_parked(&h, 1);
    h.state().advance_clock(Duration::from_secs(46));
    let body = waiter.join().unwrap().unwrap();
    assert_eq!(json(&body)["producers"].as_array().unwrap().len(), 1);
}

#[test]
fn a_ping_ending_inactivity_wakes_the_waiter() {
    let h = Arc::new(start_manual(|o| {
        o.inactive_producer_timeout = Duration::from_secs(300)
    }));
    let mut n = Nsqd::registered(&h, 4151, &["orders"]);
    h.state().advance_clock(Duration::from_secs(301));
    assert_eq!(
        json(&get(&h, "/lookup?topic=orders").body)["producers"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "inactive"
    );
    let waiter = {
        let h = h.clone();
        thread::spawn(move || h.wait_lookup("orders", 1, Duration::from_secs(20)))
    };
    wait_parked(&h, 1);
    // No registry write: the PING itself must wake the wait.
    assert_eq!(n.command("PING"), "OK");
    let body = waiter.join().unwrap().unwrap();
    assert_eq!(json(&body)["producers"].as_array().unwrap().len(), 1);
}

#[test]
fn the_future_runs_under_another_executor_and_ends_when_the_server_stops() {
    let server = Lookupd::bind(test_options()).expect("bind");
    let state = server.state().clone();
    let tcp = server.tcp_addr();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let serving = thread::spawn(move || {
        futures_executor::block_on(server.run(async move {
            let _ = stopped.recv().await;
        }))
    });
    let waiter = {
        let state = state.clone();
        thread::spawn(move || futures_executor::block_on(state.wait_lookup(b"orders", 1)))
    };
    common::spin_until("the wait blocked", || state.waiting() == 1);
    let mut n = Nsqd::connect_raw(tcp);
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER orders"), "OK");
    let body = waiter.join().unwrap().expect("registered");
    assert_eq!(json(&body)["producers"][0]["tcp_port"], 4150);

    let never = {
        let state = state.clone();
        thread::spawn(move || futures_executor::block_on(state.wait_lookup(b"nobody", 1)))
    };
    common::spin_until("the wait blocked", || state.waiting() == 1);
    stop.close();
    serving.join().unwrap();
    assert_eq!(never.join().unwrap(), Err(WaitError::Stopped));
    assert_eq!(
        futures_executor::block_on(state.wait_lookup(b"orders", 1)),
        Err(WaitError::Stopped),
        "a wait begun after the stop ends at once"
    );
}

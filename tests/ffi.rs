//! The C ABI, exercised from Rust exactly as a C host calls it: lifecycle
//! without leaks, independent handles, hostile arguments, and concurrent
//! queries while nsqd clients are served.

mod common;

use std::ffi::{c_char, CStr, CString};
use std::io::Read;
use std::net::TcpStream;
use std::ptr;
use std::time::Duration;

use ::lookupd::ffi::*;
use common::{get, HttpConn, Nsqd};

const CONFIG: &str = r#"{"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0","broadcast_address":"127.0.0.1","log_level":"fatal","threads":2}"#;

struct H(*mut lookupd);

// SAFETY (test): the ABI promises a handle may be used from many threads.
unsafe impl Send for H {}
unsafe impl Sync for H {}

impl H {
    fn start(config: &str) -> H {
        let c = CString::new(config).unwrap();
        let mut h = ptr::null_mut();
        let rc = unsafe { lookupd_start(c.as_ptr(), &mut h) };
        assert_eq!(rc, lookupd_result::LOOKUPD_OK, "{}", last_error());
        assert!(!h.is_null());
        H(h)
    }

    fn ports(&self) -> (u16, u16) {
        let (mut t, mut p) = (0u16, 0u16);
        unsafe {
            assert_eq!(lookupd_tcp_port(self.0, &mut t), lookupd_result::LOOKUPD_OK);
            assert_eq!(
                lookupd_http_port(self.0, &mut p),
                lookupd_result::LOOKUPD_OK
            );
        }
        (t, p)
    }

    fn query(
        &self,
        f: unsafe extern "C" fn(*const lookupd, *mut *mut c_char) -> lookupd_result,
    ) -> String {
        let mut out = ptr::null_mut();
        let rc = unsafe { f(self.0, &mut out) };
        assert_eq!(rc, lookupd_result::LOOKUPD_OK);
        take(out)
    }

    fn lookup(&self, topic: &str) -> Result<String, lookupd_result> {
        let t = CString::new(topic).unwrap();
        let mut out = ptr::null_mut();
        match unsafe { lookupd_query_lookup(self.0, t.as_ptr(), &mut out) } {
            lookupd_result::LOOKUPD_OK => Ok(take(out)),
            rc => {
                assert!(out.is_null(), "out written on failure");
                Err(rc)
            }
        }
    }

    fn stop(self) {
        assert_eq!(unsafe { lookupd_stop(self.0) }, lookupd_result::LOOKUPD_OK);
    }

    /// How many waits are blocked on the handle (`lookupd_waiting`).
    fn waiting(&self) -> u32 {
        let mut n = u32::MAX;
        assert_eq!(
            unsafe { lookupd_waiting(self.0, &mut n) },
            lookupd_result::LOOKUPD_OK
        );
        n
    }

    /// Returns once `n` waits are blocked on the handle: each has begun,
    /// found too few producers, and listens for changes and for the stop.
    fn wait_parked(&self, n: u32) {
        common::spin_until("lookupd_waiting", || self.waiting() >= n);
    }
}

fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    unsafe { lookupd_string_free(p) };
    s
}

fn last_error() -> String {
    let p = lookupd_last_error();
    if p.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn http(port: u16, path: &str) -> (u16, String) {
    let mut c = HttpConn::open(([127, 0, 0, 1], port).into());
    c.send(&format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ));
    let r = c.read(false);
    (r.status, r.body_str())
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The names of this process's threads, as `/proc` shows them (15
/// bytes), but for the threads libtest runs this binary's other tests on:
/// those come and go while a test runs (a test that ends lets the harness
/// start the next one, which then waits for [`serial`]). A thread spawned
/// by lookupd is named `lookupd-*`, or inherits the name of the thread
/// that spawned it: a serving thread's or the calling test's, never
/// another test's, so it is always counted.
fn thread_names() -> Vec<String> {
    static TESTS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let short = |name: &str| name.chars().take(15).collect::<String>();
    let tests = TESTS.get_or_init(|| {
        let list = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--list", "--format", "terse"])
            .output()
            .unwrap();
        String::from_utf8(list.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(short)
            .collect()
    });
    let me = short(std::thread::current().name().unwrap_or_default());
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_owned())
        .filter(|name| *name == me || !tests.contains(name))
        .collect()
}

/// The thread count once it reaches `expected`, or after a second. A
/// joined thread can linger in `/proc/self/task` for a few milliseconds
/// (the kernel wakes the joiner before it has finished reaping the thread;
/// seen up to 10 ms on a busy machine); a leaked thread stays for good.
/// No event announces the kernel's reaping, so this looks again every
/// millisecond: the one poll in this file.
fn settled_thread_count(expected: usize) -> usize {
    let start = std::time::Instant::now();
    loop {
        let n = thread_names().len();
        if n == expected || start.elapsed() > std::time::Duration::from_secs(1) {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn lookupd_threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with("lookupd-"))
        .count()
}

/// Process-wide descriptor and thread counts are shared by all tests in
/// this binary, so the tests that count them run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn queries_are_byte_for_byte_the_http_bodies() {
    let _s = serial();
    let h = H::start(CONFIG);
    let (tcp, http_port) = h.ports();
    let mut n = Nsqd::connect_raw(([127, 0, 0, 1], tcp).into());
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER orders billing"), "OK");
    assert_eq!(n.command("REGISTER audit"), "OK");

    assert_eq!(
        h.lookup("orders").unwrap(),
        http(http_port, "/lookup?topic=orders").1
    );
    assert_eq!(h.query(lookupd_query_topics), http(http_port, "/topics").1);
    assert_eq!(h.query(lookupd_query_nodes), http(http_port, "/nodes").1);
    let t = CString::new("orders").unwrap();
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { lookupd_query_channels(h.0, t.as_ptr(), &mut out) },
        lookupd_result::LOOKUPD_OK
    );
    assert_eq!(take(out), http(http_port, "/channels?topic=orders").1);

    assert_eq!(
        h.lookup("missing"),
        Err(lookupd_result::LOOKUPD_ERR_TOPIC_NOT_FOUND)
    );
    assert!(last_error().contains("missing"));
    assert_eq!(
        h.lookup("*"),
        Err(lookupd_result::LOOKUPD_ERR_TOPIC_NOT_FOUND)
    );
    assert_eq!(http(http_port, "/lookup?topic=missing").0, 404);
    h.stop();
}

#[test]
fn start_stop_200_times_leaks_no_descriptors_or_threads() {
    let _s = serial();
    // The first start creates async-io's one process-wide reactor thread.
    H::start(CONFIG).stop();
    let baseline = thread_names().len() - lookupd_threads();
    let threads = settled_thread_count(baseline);
    let fds = fd_count();
    for _ in 0..200 {
        let h = H::start(CONFIG);
        assert_eq!(
            thread_names().len(),
            threads + 2,
            "two serving threads: {:?}",
            thread_names()
        );
        h.stop();
        assert_eq!(
            settled_thread_count(threads),
            threads,
            "stop joins every thread it started: {:?}",
            thread_names()
        );
        assert_eq!(lookupd_threads(), 0);
    }
    assert_eq!(fd_count(), fds, "open descriptors grew");
    assert_eq!(
        thread_names().len(),
        threads,
        "threads grew: {:?}",
        thread_names()
    );
}

/// Stop does not wait for clients to leave (these never would): it
/// returns, and every connection is closed. (How fast is a benchmark's
/// question.)
#[test]
fn stop_closes_100_open_clients() {
    let _s = serial();
    let h = H::start(CONFIG);
    let (tcp, http_port) = h.ports();
    let mut clients: Vec<Nsqd> = (0..100)
        .map(|i| {
            let mut n = Nsqd::connect_raw(([127, 0, 0, 1], tcp).into());
            n.send(b"  V1");
            n.identify(5000 + i, 6000 + i);
            assert_eq!(n.command("REGISTER t"), "OK");
            n
        })
        .collect();
    let mut idle_http = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    idle_http
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        h.lookup("t").unwrap().matches("remote_address").count(),
        100
    );

    h.stop();
    for c in &mut clients {
        c.assert_closed();
    }
    let mut buf = [0u8; 1];
    assert_eq!(
        idle_http.read(&mut buf).unwrap_or(0),
        0,
        "HTTP client closed too"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", tcp)).is_err(),
        "listener closed"
    );
}

#[test]
fn two_handles_are_independent() {
    let _s = serial();
    let a = H::start(CONFIG);
    let b = H::start(CONFIG);
    let (a_tcp, _) = a.ports();
    let (_, b_http) = b.ports();
    let mut n = Nsqd::connect_raw(([127, 0, 0, 1], a_tcp).into());
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER only-a"), "OK");
    assert!(a.lookup("only-a").is_ok());
    assert_eq!(
        b.lookup("only-a"),
        Err(lookupd_result::LOOKUPD_ERR_TOPIC_NOT_FOUND)
    );
    a.stop();
    n.assert_closed();
    assert_eq!(http(b_http, "/ping"), (200, "OK".into()));
    assert_eq!(b.query(lookupd_query_topics), r#"{"topics":[]}"#);
    b.stop();
}

#[test]
fn hostile_arguments_are_errors_not_crashes() {
    let _s = serial();
    use lookupd_result::*;
    let mut h = ptr::null_mut();
    unsafe {
        assert_eq!(
            lookupd_start(ptr::null(), ptr::null_mut()),
            LOOKUPD_ERR_NULL
        );
        assert!(last_error().contains("out"));
        let bad_utf8 = b"{\"log_prefix\":\"\xff\"}\0";
        assert_eq!(
            lookupd_start(bad_utf8.as_ptr().cast(), &mut h),
            LOOKUPD_ERR_UTF8
        );
        assert!(h.is_null());
        for (json, key) in [
            ("{", "<json>"),
            ("[]", "<json>"),
            (r#"{"nope":1}"#, "nope"),
            (r#"{"tombstone_lifetime":"forever"}"#, "tombstone_lifetime"),
            (
                r#"{"tcp_address":"127.0.0.1:0","http_address":"nonsense"}"#,
                "http_address",
            ),
        ] {
            let c = CString::new(json).unwrap();
            assert_eq!(
                lookupd_start(c.as_ptr(), &mut h),
                LOOKUPD_ERR_CONFIG,
                "{json}"
            );
            assert!(last_error().contains(key), "{json}: {}", last_error());
            assert!(h.is_null());
        }
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = CString::new(format!(
            r#"{{"tcp_address":"{}","http_address":"127.0.0.1:0","log_level":"fatal"}}"#,
            taken.local_addr().unwrap()
        ))
        .unwrap();
        assert_eq!(lookupd_start(c.as_ptr(), &mut h), LOOKUPD_ERR_BIND);
        assert!(last_error().contains("failed"), "{}", last_error());

        let live = H::start(CONFIG);
        let mut port = 0u16;
        let mut out: *mut c_char = ptr::null_mut();
        let topic = CString::new("t").unwrap();
        assert_eq!(lookupd_tcp_port(ptr::null(), &mut port), LOOKUPD_ERR_NULL);
        assert_eq!(lookupd_http_port(live.0, ptr::null_mut()), LOOKUPD_ERR_NULL);
        assert_eq!(
            lookupd_query_lookup(ptr::null(), topic.as_ptr(), &mut out),
            LOOKUPD_ERR_NULL
        );
        assert_eq!(
            lookupd_query_lookup(live.0, ptr::null(), &mut out),
            LOOKUPD_ERR_NULL
        );
        assert!(last_error().contains("topic"));
        assert_eq!(
            lookupd_query_lookup(live.0, topic.as_ptr(), ptr::null_mut()),
            LOOKUPD_ERR_NULL
        );
        assert_eq!(
            lookupd_query_topics(live.0, ptr::null_mut()),
            LOOKUPD_ERR_NULL
        );
        assert_eq!(lookupd_query_nodes(ptr::null(), &mut out), LOOKUPD_ERR_NULL);
        assert_eq!(
            lookupd_query_channels(live.0, ptr::null(), &mut out),
            LOOKUPD_ERR_NULL
        );
        let bad = b"t\xff\0";
        assert_eq!(
            lookupd_query_lookup(live.0, bad.as_ptr().cast(), &mut out),
            LOOKUPD_ERR_UTF8
        );
        assert_eq!(
            lookupd_query_channels(live.0, bad.as_ptr().cast(), &mut out),
            LOOKUPD_ERR_UTF8
        );
        assert!(out.is_null(), "never written on failure");
        lookupd_string_free(ptr::null_mut());
        assert_eq!(lookupd_stop(ptr::null_mut()), LOOKUPD_OK);
        live.stop();
        let v = CStr::from_ptr(lookupd_version()).to_str().unwrap();
        assert!(v.contains("nsq 1.3.0"), "{v}");
    }
    assert_eq!(get_ok_after_errors(), "OK");
}

/// A failed call leaves nothing behind: a fresh instance still works.
fn get_ok_after_errors() -> String {
    let h = ::lookupd::Handle::start(common::test_options()).unwrap();
    get(&h, "/ping").body_str()
}

#[test]
fn eight_threads_query_while_nsqd_clients_are_served() {
    let _s = serial();
    let h = H::start(CONFIG);
    let (tcp, _) = h.ports();
    std::thread::scope(|s| {
        for i in 0..4u16 {
            s.spawn(move || {
                let mut n = Nsqd::connect_raw(([127, 0, 0, 1], tcp).into());
                n.send(b"  V1");
                n.identify(7000 + i, 8000 + i);
                for j in 0..200 {
                    assert_eq!(n.command(&format!("REGISTER topic{} ch", j % 20)), "OK");
                    assert_eq!(n.command("PING"), "OK");
                }
            });
        }
        for _ in 0..8 {
            let h = &h;
            s.spawn(move || {
                for j in 0..300 {
                    match h.lookup(&format!("topic{}", j % 20)) {
                        Ok(json) => {
                            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                            assert_eq!(v["channels"][0], "ch");
                        }
                        Err(rc) => assert_eq!(rc, lookupd_result::LOOKUPD_ERR_TOPIC_NOT_FOUND),
                    }
                    let topics: serde_json::Value =
                        serde_json::from_str(&h.query(lookupd_query_topics)).unwrap();
                    assert!(topics["topics"].as_array().unwrap().len() <= 20);
                    h.query(lookupd_query_nodes);
                }
            });
        }
    });
    let topics: serde_json::Value = serde_json::from_str(&h.query(lookupd_query_topics)).unwrap();
    assert_eq!(topics["topics"].as_array().unwrap().len(), 20);
    h.stop();
}

fn wait(h: &H, topic: &str, min: u32, timeout_ms: u32) -> Result<String, lookupd_result> {
    let t = CString::new(topic).unwrap();
    let mut out = ptr::null_mut();
    match unsafe { lookupd_wait_lookup(h.0, t.as_ptr(), min, timeout_ms, &mut out) } {
        lookupd_result::LOOKUPD_OK => Ok(take(out)),
        rc => {
            assert!(out.is_null(), "out written on failure");
            Err(rc)
        }
    }
}

#[test]
fn wait_lookup_returns_the_body_once_a_producer_registers() {
    let _s = serial();
    let h = std::sync::Arc::new(H::start(CONFIG));
    let (tcp, _) = h.ports();
    let registrar = {
        let h = h.clone();
        std::thread::spawn(move || {
            // Registers once the wait is blocked: the registration wakes it.
            h.wait_parked(1);
            let mut n = Nsqd::connect_raw(format!("127.0.0.1:{tcp}").parse().unwrap());
            n.send(b"  V1");
            n.identify(4150, 4151);
            assert_eq!(n.command("REGISTER orders"), "OK");
            n
        })
    };
    let body = wait(&h, "orders", 1, 20_000).expect("registered");
    assert_eq!(body, h.lookup("orders").unwrap());
    let _n = registrar.join().unwrap();
    assert_eq!(
        wait(&h, "orders", 2, 100),
        Err(lookupd_result::LOOKUPD_ERR_TIMEOUT)
    );
    assert!(last_error().contains("within 100 ms"), "{}", last_error());
    assert_eq!(
        wait(&h, "*", 1, 100),
        Err(lookupd_result::LOOKUPD_ERR_INVALID_ARG)
    );
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { lookupd_wait_lookup(h.0, ptr::null(), 1, 1, &mut out) },
        lookupd_result::LOOKUPD_ERR_NULL
    );
    let h = std::sync::Arc::into_inner(h).unwrap();
    h.stop();
}

/// `lookupd_stop` while waits are in progress: they end with
/// `LOOKUPD_ERR_STOPPED`, and the handle is freed only after they have
/// returned. The ABI allows calls *in progress* when `lookupd_stop` is
/// called, never one that begins after it: so the stop comes only once
/// `lookupd_waiting` shows all three waits blocked inside their calls (a
/// host that cannot know that follows `lookupd_shutdown`, join, stop, as
/// the next test does).
#[test]
fn stop_ends_waits_in_progress_and_frees_after_they_return() {
    let _s = serial();
    for _ in 0..20 {
        let h = H::start(CONFIG);
        let raw = h.0 as usize;
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(move || {
                    // H has no Drop: this borrows the handle, stopped by
                    // the main thread while the wait is in progress.
                    wait(&H(raw as *mut lookupd), "never", 1, 60_000)
                })
            })
            .collect();
        h.wait_parked(3);
        h.stop();
        for w in waiters {
            // Not LOOKUPD_ERR_TIMEOUT: the stop ended them.
            assert_eq!(w.join().unwrap(), Err(lookupd_result::LOOKUPD_ERR_STOPPED));
        }
    }
}

#[test]
fn a_cancel_token_ends_waits_before_and_during() {
    let _s = serial();
    let h = std::sync::Arc::new(H::start(CONFIG));
    let mut token = ptr::null_mut();
    assert_eq!(
        unsafe { lookupd_cancel_new(&mut token) },
        lookupd_result::LOOKUPD_OK
    );
    let token_addr = token as usize;
    let waiter = {
        let h = h.clone();
        std::thread::spawn(move || {
            let t = CString::new("never").unwrap();
            let mut out = ptr::null_mut();
            let rc = unsafe {
                lookupd_wait_lookup_cancellable(
                    h.0,
                    t.as_ptr(),
                    1,
                    60_000,
                    token_addr as *const lookupd_cancel,
                    &mut out,
                )
            };
            (rc, out.is_null())
        })
    };
    // Fired during the wait: once it is blocked.
    h.wait_parked(1);
    assert_eq!(
        unsafe { lookupd_cancel_fire(token) },
        lookupd_result::LOOKUPD_OK
    );
    assert_eq!(
        waiter.join().unwrap(),
        (lookupd_result::LOOKUPD_ERR_CANCELLED, true)
    );
    assert_eq!(h.waiting(), 0);
    // Fired before the wait begins: the wait ends at once, and the token
    // wins over an expired timeout and over an answer already there.
    let t = CString::new("never").unwrap();
    let mut out = ptr::null_mut();
    assert_eq!(
        unsafe { lookupd_wait_lookup_cancellable(h.0, t.as_ptr(), 1, 60_000, token, &mut out) },
        lookupd_result::LOOKUPD_ERR_CANCELLED
    );
    assert_eq!(
        unsafe { lookupd_wait_lookup_cancellable(h.0, t.as_ptr(), 1, 0, token, &mut out) },
        lookupd_result::LOOKUPD_ERR_CANCELLED
    );
    let (tcp, _) = h.ports();
    let mut n = Nsqd::connect_raw(format!("127.0.0.1:{tcp}").parse().unwrap());
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER ready"), "OK");
    let ready = CString::new("ready").unwrap();
    assert_eq!(
        unsafe { lookupd_wait_lookup_cancellable(h.0, ready.as_ptr(), 1, 0, token, &mut out) },
        lookupd_result::LOOKUPD_ERR_CANCELLED
    );
    assert!(out.is_null());
    assert_eq!(
        wait(&h, "ready", 1, 0).map(|b| b.contains("4150")),
        Ok(true),
        "a zero timeout looks once"
    );
    unsafe { lookupd_cancel_free(token) };
    unsafe { lookupd_cancel_free(ptr::null_mut()) };
    assert_eq!(
        unsafe { lookupd_cancel_fire(ptr::null()) },
        lookupd_result::LOOKUPD_ERR_NULL
    );
    std::sync::Arc::into_inner(h).unwrap().stop();
}

/// The ABI's rule for a host whose threads wait on a handle:
/// `lookupd_shutdown`, join those threads, then `lookupd_stop`. Waits
/// blocked when the shutdown runs end, and so do waits that had not begun
/// yet (no sleep orders the late ones: whenever they begin, before or
/// after the shutdown, they end with `LOOKUPD_ERR_STOPPED`, and the handle
/// is freed only after they are joined).
#[test]
fn shutdown_ends_waits_and_keeps_the_handle_for_queries() {
    let _s = serial();
    let h = H::start(CONFIG);
    let (tcp, http_port) = h.ports();
    let raw = h.0 as usize;
    let spawn = || std::thread::spawn(move || wait(&H(raw as *mut lookupd), "never", 1, 60_000));
    let mut waiters: Vec<_> = (0..3).map(|_| spawn()).collect();
    h.wait_parked(3);
    waiters.extend((0..3).map(|_| spawn()));
    assert_eq!(unsafe { lookupd_shutdown(h.0) }, lookupd_result::LOOKUPD_OK);
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(lookupd_result::LOOKUPD_ERR_STOPPED));
    }
    assert_eq!(h.waiting(), 0, "every wait has returned");
    assert_eq!(
        wait(&h, "never", 0, 60_000),
        Err(lookupd_result::LOOKUPD_ERR_STOPPED)
    );
    assert_eq!(unsafe { lookupd_shutdown(h.0) }, lookupd_result::LOOKUPD_OK);
    assert!(
        h.query(lookupd_query_topics).contains("topics"),
        "queries still answer"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", tcp)).is_err(),
        "listener closed"
    );
    assert!(TcpStream::connect(("127.0.0.1", http_port)).is_err());
    assert_eq!(lookupd_threads(), 0, "serving threads joined");
    h.stop();
    assert_eq!(
        unsafe { lookupd_shutdown(ptr::null()) },
        lookupd_result::LOOKUPD_ERR_NULL
    );
}

#[test]
fn waiting_counts_the_waits_blocked_now() {
    let _s = serial();
    let h = std::sync::Arc::new(H::start(CONFIG));
    assert_eq!(h.waiting(), 0);
    // A wait answered at its first look, or refused, is never counted.
    let (tcp, _) = h.ports();
    let mut n = Nsqd::connect_raw(([127, 0, 0, 1], tcp).into());
    n.send(b"  V1");
    n.identify(4150, 4151);
    assert_eq!(n.command("REGISTER ready"), "OK");
    assert!(wait(&h, "ready", 1, 60_000).is_ok());
    assert_eq!(
        wait(&h, "*", 1, 60_000),
        Err(lookupd_result::LOOKUPD_ERR_INVALID_ARG)
    );
    assert_eq!(
        wait(&h, "never", 1, 0),
        Err(lookupd_result::LOOKUPD_ERR_TIMEOUT)
    );
    assert_eq!(h.waiting(), 0);
    // Two blocked waits, for two topics; each leaves the count as it ends.
    let spawn = |topic: &'static str| {
        let h = h.clone();
        std::thread::spawn(move || wait(&h, topic, 1, 60_000))
    };
    let a = spawn("a");
    let b = spawn("b");
    h.wait_parked(2);
    assert_eq!(h.waiting(), 2);
    assert_eq!(n.command("REGISTER a"), "OK");
    assert!(a.join().unwrap().unwrap().contains("4150"));
    assert_eq!(h.waiting(), 1, "b still blocked");
    // A timeout ends a blocked wait too.
    assert_eq!(
        wait(&h, "c", 1, 1),
        Err(lookupd_result::LOOKUPD_ERR_TIMEOUT)
    );
    assert_eq!(h.waiting(), 1);
    assert_eq!(n.command("REGISTER b"), "OK");
    assert!(b.join().unwrap().is_ok());
    assert_eq!(h.waiting(), 0);
    use lookupd_result::*;
    let mut count = 0u32;
    unsafe {
        assert_eq!(lookupd_waiting(ptr::null(), &mut count), LOOKUPD_ERR_NULL);
        assert_eq!(lookupd_waiting(h.0, ptr::null_mut()), LOOKUPD_ERR_NULL);
    }
    std::sync::Arc::into_inner(h).unwrap().stop();
}

#[test]
fn https_port_is_zero_without_https() {
    let _s = serial();
    use lookupd_result::*;
    let h = H::start(CONFIG);
    let mut port = u16::MAX;
    unsafe {
        assert_eq!(lookupd_https_port(h.0, &mut port), LOOKUPD_OK);
        assert_eq!(port, 0, "no https_address: HTTPS is not served");
        assert_eq!(lookupd_https_port(ptr::null(), &mut port), LOOKUPD_ERR_NULL);
        assert_eq!(lookupd_https_port(h.0, ptr::null_mut()), LOOKUPD_ERR_NULL);
    }
    assert_eq!(port, 0, "not written on failure");
    h.stop();
}

#[test]
fn https_port_is_the_bound_https_port() {
    let _s = serial();
    let cert = common::TestCert::new("ffi");
    let config = serde_json::json!({
        "tcp_address": "127.0.0.1:0",
        "http_address": "127.0.0.1:0",
        "https_address": "127.0.0.1:0",
        "tls_cert": cert.cert,
        "tls_key": cert.key,
        "log_level": "fatal",
    });
    let h = H::start(&config.to_string());
    let mut port = 0u16;
    assert_eq!(
        unsafe { lookupd_https_port(h.0, &mut port) },
        lookupd_result::LOOKUPD_OK
    );
    let (tcp, http) = h.ports();
    assert_ne!(port, 0);
    assert!(port != tcp && port != http, "{port} {tcp} {http}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "listening");
    h.stop();
}

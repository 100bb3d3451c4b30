//! Hostile input and faults. Each test attacks a running instance, then
//! checks that it still answers `/ping` and that a producer registered
//! before the attack is still in `/lookup` (the Go original crashes, or
//! empties its database, or holds resources forever, on most of these).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use lookupd::Handle;

/// An instance with a producer registered before the attack.
fn victim(f: impl FnOnce(&mut lookupd::Options)) -> (Handle, Nsqd) {
    let h = start_with(f);
    let n = Nsqd::registered(&h, 4151, &["survivor keep"]);
    (h, n)
}

fn assert_survived(h: &Handle, n: &mut Nsqd) {
    assert_eq!(get(h, "/ping").body, b"OK");
    assert_eq!(lookup_ports(h, "survivor"), [4151]);
    assert_eq!(
        n.command("PING"),
        "OK",
        "the survivor's connection still works"
    );
}

#[test]
fn negative_identify_length() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    a.send(b"IDENTIFY\n\xff\xff\xff\xff");
    assert_eq!(a.read_str(), "E_BAD_BODY IDENTIFY invalid body size -1");
    a.assert_closed();
    assert_survived(&h, &mut n);
}

#[test]
fn huge_identify_length_is_refused_before_allocating() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    a.send(b"IDENTIFY\n\x7f\xff\xff\xff");
    assert_eq!(
        a.read_str(),
        "E_BAD_BODY IDENTIFY body too big 2147483647 > 65536"
    );
    a.assert_closed();
    assert_survived(&h, &mut n);
}

#[test]
fn endless_command_line_is_cut_off() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    let mut writer = a.stream.try_clone().unwrap();
    // 64 MiB without a newline; the server stops reading long before.
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..64 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    assert_eq!(a.read_str(), "E_INVALID command longer than 4096 bytes");
    a.assert_closed();
    flood.join().unwrap();
    assert_survived(&h, &mut n);
}

#[test]
fn long_bad_command_is_echoed_only_in_part() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    a.send(format!("{}\n", "Z".repeat(4000)).as_bytes());
    let reply = a.read_str();
    assert!(
        reply.starts_with("E_INVALID invalid command ZZZ"),
        "{reply}"
    );
    assert!(reply.len() <= 200, "echoed {} bytes", reply.len());
    assert_survived(&h, &mut n);
}

#[test]
fn wildcard_topic_deletes_and_dumps_nothing() {
    let (h, mut n) = victim(|_| {});
    post(&h, "/channel/create?topic=other&channel=c");
    for (method, path, status) in [
        ("POST", "/topic/delete?topic=*", 400),
        ("POST", "/channel/delete?topic=*&channel=*", 400),
        ("POST", "/channel/delete?topic=survivor&channel=*", 400),
        ("POST", "/topic/tombstone?topic=*&node=127.0.0.1:4151", 400),
        ("GET", "/lookup?topic=*", 404),
    ] {
        assert_eq!(request(&h, method, path).status, status, "{method} {path}");
    }
    assert_eq!(
        get(&h, "/channels?topic=*").body_str(),
        r#"{"channels":[]}"#
    );
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["other", "survivor"]
    );
    assert_eq!(
        strings(&get(&h, "/channels?topic=survivor").json()["channels"]),
        ["keep"]
    );
    assert_survived(&h, &mut n);
}

#[test]
fn silent_clients_are_dropped() {
    let (h, mut n) = victim(|o| {
        o.tcp_handshake_timeout = Duration::from_millis(200);
        o.identify_timeout = Duration::from_millis(200);
    });
    let mut no_magic = Nsqd::connect_raw(h.tcp_addr());
    let mut no_identify = Nsqd::connect(&h);
    no_magic.assert_closed();
    no_identify.assert_closed();
    assert_survived(&h, &mut n);
}

#[test]
fn odd_bytes_in_commands_have_defined_outcomes() {
    let (h, mut n) = victim(|_| {});
    let cases: &[(&[u8], &str)] = &[
        (
            b"REGISTER \xff\xfe\n",
            "E_BAD_TOPIC REGISTER topic name '\u{fffd}\u{fffd}' is not valid",
        ),
        (
            b"REGISTER t\x00x\n",
            "E_BAD_TOPIC REGISTER topic name 't\u{0}x' is not valid",
        ),
        (b"REGISTER\tt\n", "E_INVALID invalid command REGISTER\tt"),
        (
            b"REGISTER t\tc\n",
            "E_BAD_TOPIC REGISTER topic name 't\tc' is not valid",
        ),
        (b"\x00\n", "E_INVALID invalid command \u{0}"),
        (b"\xff\n", "E_INVALID invalid command \u{fffd}"),
    ];
    for (line, expected) in cases {
        let mut a = Nsqd::connect(&h);
        a.identify(4160, 4161);
        a.send(line);
        assert_eq!(
            a.read_str(),
            *expected,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        a.assert_closed();
    }
    // Extra spaces and CRLF behave as in Go.
    let mut a = Nsqd::connect(&h);
    a.identify(4160, 4161);
    a.send(b"  REGISTER t2 c2 extra  \r\n");
    assert_eq!(a.read_str(), "OK");
    assert_eq!(lookup_ports(&h, "t2"), [4161]);
    assert_survived(&h, &mut n);
}

#[test]
fn odd_identify_bodies_have_defined_outcomes() {
    let (h, mut n) = victim(|_| {});
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"broadcast_address":"b","tcp_port":0,"http_port":1,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY missing fields",
        ),
        (
            br#"{"broadcast_address":"b","tcp_port":-5,"http_port":1,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY invalid tcp_port -5",
        ),
        (
            br#"{"broadcast_address":"b","tcp_port":1,"http_port":99999,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY invalid http_port 99999",
        ),
        (
            br#"{"broadcast_address":["b"],"tcp_port":1,"http_port":1,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            br#"{"broadcast_address":"b","tcp_port":true,"http_port":1,"version":"v"}"#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            b"\x00\x01\x02",
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
        (
            br#"{"broadcast_address":"b","tcp_port":1,"http_port":1,"version":"v""#,
            "E_BAD_BODY IDENTIFY failed to decode JSON body",
        ),
    ];
    for (body, expected) in cases {
        let mut a = Nsqd::connect(&h);
        assert_eq!(
            a.identify_body(body),
            *expected,
            "{}",
            String::from_utf8_lossy(body)
        );
        a.assert_closed();
    }
    // Invalid UTF-8 and NULs inside strings are accepted, as Go accepts them.
    let mut a = Nsqd::connect(&h);
    let reply = a.identify_body(b"{\"broadcast_address\":\"b\\u0000\xff\",\"tcp_port\":1,\"http_port\":7,\"version\":\"v\"}");
    assert!(reply.starts_with('{'), "{reply}");
    assert_eq!(a.command("REGISTER odd"), "OK");
    let p = &get(&h, "/lookup?topic=odd").json()["producers"][0];
    assert_eq!(p["broadcast_address"], "b\u{0}\u{fffd}");
    assert_survived(&h, &mut n);
}

#[test]
fn odd_bytes_in_http_arguments() {
    let (h, mut n) = victim(|_| {});
    assert_eq!(get(&h, "/lookup?topic=%ff").status, 404);
    assert_eq!(get(&h, "/lookup?topic=surv%00ivor").status, 404);
    assert_eq!(post(&h, "/topic/create?topic=%00").status, 400);
    assert_eq!(post(&h, "/topic/create?topic=a%0d%0ab").status, 400);
    assert_eq!(
        post(&h, "/topic/tombstone?topic=survivor&node=%ff%00").status,
        200
    );
    assert_eq!(
        get(&h, "/lookup?topic=survivor&topic=*").status,
        200,
        "first value wins"
    );
    let long = "a".repeat(5000);
    assert_eq!(get(&h, &format!("/lookup?topic={long}")).status, 404);
    assert_survived(&h, &mut n);
}

#[test]
fn connection_limits_refuse_the_excess_and_count_it() {
    let (h, mut n) = victim(|o| {
        o.max_tcp_connections = 3;
        o.max_http_connections = 2;
    });
    let mut a = Nsqd::registered(&h, 4161, &["a"]);
    let _b = Nsqd::registered(&h, 4171, &["b"]);
    let mut refused = Nsqd::connect(&h);
    refused.assert_closed();
    assert_eq!(h.state().conns.tcp.refused_limit.load(Ordering::Relaxed), 1);
    assert_eq!(a.command("PING"), "OK");
    a.disconnect(&h);
    // Its producer is gone; its place in the count is given back just
    // after, as its task ends (no event marks that).
    let open = |c: &lookupd::metrics::ProtoStats| c.open.load(Ordering::Relaxed);
    spin_until("a's TCP connection uncounted", || {
        open(&h.state().conns.tcp) == 2
    });
    let _c = Nsqd::registered(&h, 4181, &["c"]);

    // The queries above closed their connections; the server counts each
    // until its task has ended, so wait for that before filling the limit.
    spin_until("earlier HTTP connections uncounted", || {
        open(&h.state().conns.http) == 0
    });
    let mut held = [HttpConn::open(h.http_addr()), HttpConn::open(h.http_addr())];
    for c in &mut held {
        c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.read(false).body, b"OK");
    }
    let mut over = HttpConn::open(h.http_addr());
    assert!(over.is_closed());
    assert!(h.state().conns.http.refused_limit.load(Ordering::Relaxed) >= 1);
    drop(held);
    spin_until("the held HTTP connections uncounted", || {
        open(&h.state().conns.http) == 0
    });
    assert_survived(&h, &mut n);
}

#[test]
fn slow_http_headers_are_timed_out() {
    let (h, mut n) = victim(|o| o.http_header_timeout = Duration::from_millis(300));
    let mut slow = TcpStream::connect(h.http_addr()).unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Closed by the server (EOF or a reset), not by our read timeout.
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed by the server: {e}"),
    }
    assert_survived(&h, &mut n);
}

#[test]
fn oversized_http_requests_are_refused() {
    let (h, mut n) = victim(|o| o.max_http_request_size = 8192);
    let mut c = HttpConn::open(h.http_addr());
    c.send(&format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20_000)
    ));
    let r = c.read(false);
    assert!(r.status == 431 || r.status == 400, "{}", r.status);
    let mut c = HttpConn::open(h.http_addr());
    c.send(&format!(
        "POST /topic/create?topic=big HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n{}",
        "b".repeat(20_000)
    ));
    let r = c.read(false);
    assert_eq!(r.status, 413);
    assert_eq!(r.message(), "REQUEST_TOO_LARGE");
    assert_eq!(
        get(&h, "/lookup?topic=big").status,
        404,
        "nothing was created"
    );
    assert_survived(&h, &mut n);
}

#[test]
fn clients_vanishing_mid_frame() {
    let (h, mut n) = victim(|_| {});
    // Mid IDENTIFY length, mid body, mid line, and a reset after registering.
    let mut a = Nsqd::connect(&h);
    a.send(b"IDENTIFY\n\x00\x00");
    drop(a);
    let mut b = Nsqd::connect(&h);
    b.send(b"IDENTIFY\n\x00\x00\x00\x40{\"broadcast_");
    drop(b);
    let mut c = Nsqd::registered(&h, 4161, &["gone"]);
    c.send(b"REGISTER gone ch");
    drop(c);
    let d = Nsqd::registered(&h, 4171, &["reset"]);
    let sock = socket_ref(&d.stream);
    set_linger_zero(sock);
    drop(d);
    // Only the survivor is left.
    wait_registry(&h, TIMEOUT, |r| r.counts().producers == 1);
    assert!(lookup_ports(&h, "gone").is_empty());
    assert!(lookup_ports(&h, "reset").is_empty());
    assert_survived(&h, &mut n);
}

#[test]
fn half_closed_client_still_gets_its_replies() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    a.send(b"PING\nPING\n");
    a.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(a.read_str(), "OK");
    assert_eq!(a.read_str(), "OK");
    a.assert_closed();
    assert_survived(&h, &mut n);
}

#[test]
fn client_that_never_reads_only_blocks_itself() {
    let (h, mut n) = victim(|_| {});
    let mut a = Nsqd::connect(&h);
    a.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let burst = "PING\n".repeat(20_000);
    // Keep writing until the kernel buffers on both sides are full.
    for _ in 0..100 {
        if a.stream.write_all(burst.as_bytes()).is_err() {
            break;
        }
    }
    assert_survived(&h, &mut n);
    drop(a);
}

#[test]
fn full_accept_backlog_is_drained() {
    raise_fd_limit();
    let (h, mut n) = victim(|o| o.tcp_handshake_timeout = Duration::from_millis(500));
    let flood: Vec<TcpStream> = (0..1500)
        .filter_map(|_| TcpStream::connect(h.tcp_addr()).ok())
        .collect();
    assert!(flood.len() > 500, "opened {}", flood.len());
    assert_survived(&h, &mut n);
    // Every one of them was accepted, and closed when its handshake
    // timed out.
    for mut s in flood {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        match s.read(&mut [0u8; 1]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a flood connection was not closed: {other:?}"),
        }
    }
    let mut late = Nsqd::connect(&h);
    assert_eq!(late.command("PING"), "OK");
    assert_survived(&h, &mut n);
}

fn socket_ref(s: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

/// SO_LINGER 0: closing sends a reset instead of a FIN.
fn set_linger_zero(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[test]
fn slow_http_bodies_are_timed_out() {
    let (h, mut n) = victim(|o| o.http_header_timeout = Duration::from_millis(300));
    // Announces a body it never finishes sending.
    let mut c = HttpConn::open(h.http_addr());
    c.send("POST /topic/create?topic=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    // Answered by the server's timer (our read would fail after 5 s).
    let r = c.read(false);
    assert_eq!(r.status, 408);
    assert_eq!(r.message(), "REQUEST_TIMEOUT");
    assert!(c.is_closed());
    assert_eq!(
        get(&h, "/lookup?topic=x").status,
        404,
        "nothing was created"
    );
    assert_survived(&h, &mut n);
}

#[test]
fn idle_keep_alive_outlives_the_header_timeout() {
    let (h, mut n) = victim(|o| {
        o.http_header_timeout = Duration::from_millis(200);
        o.http_idle_timeout = Duration::from_millis(1500);
    });
    let mut c = HttpConn::open(h.http_addr());
    c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    // Idle past the header timeout: a pooled connection (nsqadmin keeps
    // them 90 s) is still good. The measure of "past": another connection
    // that began a head after this one went idle, closed by the header
    // timeout.
    let mut witness = HttpConn::open(h.http_addr());
    witness.send("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    assert!(witness.is_closed(), "closed by the header timeout");
    c.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read(false).status, 200);
    // Past the idle timeout it is closed (our read would fail after 5 s).
    assert!(c.is_closed());
    assert_survived(&h, &mut n);
}

#[test]
fn malformed_chunked_body_is_invalid_request() {
    let (h, mut n) = victim(|_| {});
    let mut c = HttpConn::open(h.http_addr());
    c.send(
        "POST /topic/create?topic=chunky HTTP/1.1\r\nHost: x\r\n\
         Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    let r = c.read(false);
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "INVALID_REQUEST");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.is_closed());
    assert_not_created(&h);
    assert_survived(&h, &mut n);
}

fn assert_not_created(h: &Handle) {
    let topics = strings(&get(h, "/topics").json()["topics"]);
    assert!(!topics.iter().any(|t| t == "chunky"), "{topics:?}");
}

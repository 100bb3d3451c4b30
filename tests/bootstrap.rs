//! A new instance is complete at once (`-bootstrap-from`): it reads
//! running peers' registries (ours, and Go 1.3.0's as recorded in
//! `tests/fixtures/go-1.3.0`) before serving; returning nsqd take their
//! producers over without duplicates; the grace window ends for those that
//! do not; unreachable, slow, garbage, oversized and refusing peers are
//! named and the start goes on; several peers and a snapshot merge; and
//! the binary tells systemd `READY=1` once serving.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use lookupd::{Handle, Options};

const WAIT: Duration = Duration::from_secs(10);

fn lookup(h: &Handle, topic: &str) -> serde_json::Value {
    let r = get(h, &format!("/lookup?topic={topic}"));
    assert_eq!(r.status, 200, "/lookup?topic={topic}: {}", r.body_str());
    r.json()
}

fn sorted(v: &serde_json::Value) -> Vec<String> {
    let mut s = strings(v);
    s.sort();
    s
}

/// An instance of ours that bootstraps from `peers`.
fn booted(peers: &[String], f: impl FnOnce(&mut Options)) -> (Handle, Log) {
    let peers = peers.to_vec();
    start_logged(move |o| {
        o.bootstrap_from = peers;
        o.bootstrap_timeout = Duration::from_secs(2);
        f(o);
    })
}

/// The peer: two nsqd, channels, keys created over HTTP, a tombstone and
/// ephemeral keys.
fn populated_peer() -> (Handle, Nsqd, Nsqd) {
    let h = start();
    let a = Nsqd::registered(&h, 4151, &["orders billing", "scratch#ephemeral"]);
    let b = Nsqd::registered(&h, 5151, &["orders archive", "clicks"]);
    assert_eq!(post(&h, "/topic/create?topic=ahead").status, 200);
    assert_eq!(
        post(&h, "/channel/create?topic=ahead&channel=waiting").status,
        200
    );
    assert_eq!(
        post(&h, "/channel/create?topic=orders&channel=audit").status,
        200
    );
    assert_eq!(
        post(&h, "/topic/tombstone?topic=clicks&node=127.0.0.1:5151").status,
        200
    );
    (h, a, b)
}

#[test]
fn a_new_instance_answers_at_once_what_a_peer_of_ours_holds() {
    let (peer, a, b) = populated_peer();
    let (h, log) = booted(&[peer.http_addr().to_string()], |_| {});
    assert!(
        log.matching("BOOTSTRAP").is_empty(),
        "{:?}",
        log.matching("")
    );
    assert_eq!(lookup_ports(&h, "orders"), [4151, 5151]);
    assert_eq!(
        sorted(&lookup(&h, "orders")["channels"]),
        ["archive", "audit", "billing"]
    );
    assert_eq!(
        sorted(&get(&h, "/topics").json()["topics"]),
        ["ahead", "clicks", "orders"],
        "no ephemeral topic"
    );
    assert_eq!(
        strings(&get(&h, "/channels?topic=ahead").json()["channels"]),
        ["waiting"]
    );
    assert!(lookup_ports(&h, "clicks").is_empty(), "tombstoned");
    assert_eq!(
        metric(&h, "nsqlookupd_bootstrap_restored{kind=\"producers\"}"),
        2.0
    );
    assert_eq!(metric(&h, "nsqlookupd_bootstrap_peers_failed"), 0.0);
    assert!(metric(&h, "nsqlookupd_bootstrap_duration_seconds") > 0.0);

    // The nsqd come back to the new instance: taken over, no duplicate.
    let a2 = Nsqd::registered(&h, 4151, &["orders billing"]);
    let b2 = Nsqd::registered(&h, 5151, &["orders archive", "clicks"]);
    let v = lookup(&h, "orders");
    assert_eq!(producer_ports(&v), [4151, 5151], "{v}");
    let locals = [&a2, &b2].map(|n| n.stream.local_addr().unwrap().to_string());
    for p in v["producers"].as_array().unwrap() {
        assert!(locals.contains(&p["remote_address"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        get(&h, "/nodes").json()["producers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        lookup_ports(&h, "clicks").is_empty(),
        "the tombstone stays with the registration"
    );
    for n in [a2, b2] {
        n.disconnect(&h);
    }
    h.stop();
    drop((a, b));
    peer.stop();
}

#[test]
fn producers_whose_nsqd_do_not_come_back_leave_when_the_grace_window_ends() {
    let (peer, a, b) = populated_peer();
    let from = vec![peer.http_addr().to_string()];
    // On a manual clock: the window ends when the test moves the clock.
    let (h, log) = start_logged_manual(lookupd::Level::Info, move |o| {
        o.bootstrap_from = from;
        o.restart_grace = Duration::from_secs(45);
    });
    // Only 4151 comes back.
    let n = Nsqd::registered(&h, 4151, &["orders billing"]);
    assert_eq!(lookup_ports(&h, "orders"), [4151, 5151]);
    h.state().advance_clock(Duration::from_secs(45));
    log.wait_for("grace window over", WAIT);
    assert_eq!(lookup_ports(&h, "orders"), [4151]);
    n.disconnect(&h);
    h.stop();
    drop((a, b));
    peer.stop();
}

/// A peer that serves canned answers, or misbehaves, on 127.0.0.1; stopped
/// when dropped.
struct FakePeer {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePeer {
    /// Answers each request `answer(path)` gives (status, body), keeping
    /// the connection alive and answering pipelined requests in order.
    fn serving(answer: impl Fn(&str) -> (u16, Vec<u8>) + Send + Sync + 'static) -> FakePeer {
        let answer = Arc::new(answer);
        Self::with(move |mut s| {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while let Some(end) = find(&buf, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let (status, body) = answer(&path);
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&body);
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
    }

    /// Hands each accepted connection to `serve`, on a thread of its own.
    fn with(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> FakePeer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                for s in l.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(s) = s else { continue };
                    let serve = serve.clone();
                    std::thread::spawn(move || serve(s));
                }
            }
        });
        FakePeer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

const GO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/go-1.3.0");

fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Go 1.3.0's recorded answers, served with their times moved to now (as
/// if captured a moment ago).
fn go_peer() -> (FakePeer, serde_json::Value) {
    let capture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{GO}/capture.json")).unwrap()).unwrap();
    let shift = unix_nanos() - capture["captured_at_unix_ns"].as_i64().unwrap();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for e in std::fs::read_dir(GO).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            files.insert(stem.to_owned(), std::fs::read(&path).unwrap());
        }
    }
    let mut debug: serde_json::Value = serde_json::from_slice(&files["debug"]).unwrap();
    for list in debug.as_object_mut().unwrap().values_mut() {
        for p in list.as_array_mut().unwrap() {
            for field in ["last_update", "tombstoned_at"] {
                let t = p[field].as_i64().unwrap();
                if t != -6795364578871345152 {
                    p[field] = (t + shift).into();
                }
            }
        }
    }
    files.insert("debug".into(), serde_json::to_vec(&debug).unwrap());
    let peer = FakePeer::serving(move |path| {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let name = match route {
            "/channels" => {
                let topic = query
                    .strip_prefix("topic=")
                    .unwrap_or("")
                    .replace("%23", "_");
                format!("channels-{topic}")
            }
            other => other.trim_start_matches('/').to_owned(),
        };
        match files.get(&name) {
            Some(body) => (200, body.clone()),
            // Go's router: 404 with this body.
            None => (404, br#"{"message":"NOT_FOUND"}"#.to_vec()),
        }
    });
    (peer, capture)
}

#[test]
fn go_1_3_0_s_registry_is_answered_at_once_and_taken_over_without_duplicates() {
    let (go, capture) = go_peer();
    let (h, log) = booted(&[format!("http://{}/", go.addr)], |_| {});
    assert!(
        log.matching("BOOTSTRAP").is_empty(),
        "{:?}",
        log.matching("")
    );
    let port = |n: &str| capture[n]["http_port"].as_u64().unwrap();
    let (a, b) = (port("nsqd_a"), port("nsqd_b"));
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(lookup_ports(&h, "orders"), both);
    assert_eq!(
        sorted(&lookup(&h, "orders")["channels"]),
        ["archive", "audit", "billing"]
    );
    // B's registration of payments is tombstoned, as on the Go side.
    assert!(lookup_ports(&h, "payments").is_empty());
    let topics = sorted(&get(&h, "/topics").json()["topics"]);
    assert_eq!(topics, ["ahead", "clicks", "orders", "payments"]);
    assert_eq!(
        strings(&get(&h, "/channels?topic=ahead").json()["channels"]),
        ["waiting"]
    );
    // The nsqd reconnect to the new instance, with their ports.
    let tcp = |n: &str| capture[n]["tcp_port"].as_u64().unwrap() as u16;
    let mut na = Nsqd::connect(&h);
    na.identify_as("127.0.0.1", tcp("nsqd_a"), a as u16);
    assert_eq!(na.command("REGISTER orders billing"), "OK");
    let mut nb = Nsqd::connect(&h);
    nb.identify_as("127.0.0.1", tcp("nsqd_b"), b as u16);
    assert_eq!(nb.command("REGISTER orders billing"), "OK");
    assert_eq!(lookup_ports(&h, "orders"), both, "no duplicate");
    assert_eq!(
        get(&h, "/nodes").json()["producers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    na.disconnect(&h);
    nb.disconnect(&h);
    h.stop();
}

#[test]
fn unreachable_slow_garbage_and_oversized_peers_are_named_and_the_start_goes_on() {
    // Nothing listens there any more.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // Accepts, and never answers.
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slow = FakePeer::with({
        let held = held.clone();
        move |s| held.lock().unwrap().push(s)
    });
    let garbage = FakePeer::serving(|_| (200, b"<html>hello</html>".to_vec()));
    let not_http = FakePeer::with(|mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
    });
    let oversized = FakePeer::with(|mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{");
    });
    let peers = [
        closed.clone(),
        slow.addr.clone(),
        garbage.addr.clone(),
        not_http.addr.clone(),
        oversized.addr.clone(),
    ];
    let (h, log) = start_logged({
        let peers = peers.to_vec();
        move |o| {
            o.bootstrap_from = peers;
            o.bootstrap_timeout = Duration::from_millis(500);
        }
    });
    let warned = log.matching("BOOTSTRAP: peer ");
    assert_eq!(warned.len(), 5, "{warned:#?}");
    let said = |peer: &str, why: &str| {
        assert!(
            warned.iter().any(|l| l.contains(peer) && l.contains(why)),
            "{peer}: {why}: {warned:#?}"
        );
    };
    said(&closed, "refused");
    said(&slow.addr, "no answer within the bootstrap timeout");
    said(&garbage.addr, "not an nsqlookupd answer");
    said(&not_http.addr, "not an nsqlookupd answer");
    said(&oversized.addr, "larger than");
    // Serving, empty.
    assert_eq!(get(&h, "/topics").json()["topics"], serde_json::json!([]));
    assert_eq!(metric(&h, "nsqlookupd_bootstrap_peers_failed"), 5.0);
    h.stop();
    drop(held);
}

#[test]
fn a_peer_cut_short_by_the_deadline_gives_what_it_gave() {
    // It answers /topics, then never answers again.
    let peer = FakePeer::with(|mut s| {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while find(&buf, b"\r\n\r\n").is_none() {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = br#"{"topics":["orders","ahead"]}"#;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body);
        // Reads what comes, answers nothing, until the client gives up.
        while matches!(s.read(&mut chunk), Ok(n) if n > 0) {}
    });
    let (h, log) = start_logged({
        let from = vec![peer.addr.clone()];
        move |o| {
            o.bootstrap_from = from;
            o.bootstrap_timeout = Duration::from_millis(500);
        }
    });
    let line = log.wait_for("BOOTSTRAP: read peer", WAIT);
    assert!(
        line.contains("the channels of 2 topics were not read"),
        "{line}"
    );
    assert_eq!(
        sorted(&get(&h, "/topics").json()["topics"]),
        ["ahead", "orders"]
    );
    assert_eq!(metric(&h, "nsqlookupd_bootstrap_channels_unread"), 2.0);
    assert_eq!(metric(&h, "nsqlookupd_bootstrap_peers_failed"), 0.0);
    h.stop();
}

#[test]
fn several_peers_and_a_snapshot_merge_into_one_registry() {
    // Peer 1: nsqd 4151 and 5151; peer 2: nsqd 5151 (the same nsqd,
    // registered with both, as every nsqd is) and 6151.
    let p1 = start();
    let _a = Nsqd::registered(&p1, 4151, &["orders billing"]);
    let _b1 = Nsqd::registered(&p1, 5151, &["orders archive"]);
    let p2 = start();
    let _b2 = Nsqd::registered(&p2, 5151, &["orders archive", "clicks"]);
    let _c = Nsqd::registered(&p2, 6151, &["clicks"]);
    assert_eq!(post(&p2, "/topic/create?topic=ahead").status, 200);
    // A snapshot that knows 6151 too, and a topic of its own.
    let dir = std::env::temp_dir().join(format!("lookupd-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.to_str().unwrap().to_owned();
    {
        let s = start_with({
            let path = path.clone();
            move |o| o.data_path = path
        });
        let _c = Nsqd::registered(&s, 6151, &["clicks", "legacy"]);
        s.stop();
    }
    let from = vec![p1.http_addr().to_string(), p2.http_addr().to_string()];
    let (h, _log) = booted(&from, move |o| o.data_path = path);
    assert_eq!(lookup_ports(&h, "orders"), [4151, 5151]);
    assert_eq!(lookup_ports(&h, "clicks"), [5151, 6151]);
    assert_eq!(
        sorted(&get(&h, "/topics").json()["topics"]),
        ["ahead", "clicks", "legacy", "orders"]
    );
    assert_eq!(
        get(&h, "/nodes").json()["producers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        metric(&h, "nsqlookupd_producers_restored_awaiting"),
        3.0,
        "each nsqd once"
    );
    h.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_peer_that_requires_a_token_for_reads_is_sent_one() {
    let peer = start_with(|o| {
        o.http_auth_token = "s3cret".into();
        o.http_auth_reads = true;
    });
    let _a = Nsqd::registered(&peer, 4151, &["orders"]);
    let from = vec![peer.http_addr().to_string()];
    let (h, log) = booted(&from, |_| {});
    let line = log.wait_for("BOOTSTRAP: peer", WAIT);
    assert!(line.contains("-bootstrap-token"), "{line}");
    assert_eq!(lookup_status(&h, "orders"), 404);
    h.stop();
    let (h, log) = booted(&from, |o| o.bootstrap_token = "s3cret".into());
    assert!(log.matching("BOOTSTRAP: peer").is_empty());
    assert_eq!(lookup_ports(&h, "orders"), [4151]);
    h.stop();
}

fn lookup_status(h: &Handle, topic: &str) -> u16 {
    get(h, &format!("/lookup?topic={topic}")).status
}

#[test]
fn the_binary_tells_systemd_it_is_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = std::env::temp_dir().join(format!("lookupd-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args([
            "-tcp-address=127.0.0.1:0",
            "-http-address=127.0.0.1:0",
            "-log-level=warn",
        ])
        .env("NOTIFY_SOCKET", &path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within the timeout");
    assert_eq!(&buf[..n], b"READY=1");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let n = socket
        .recv(&mut buf)
        .expect("STOPPING=1 within the timeout");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_peers_are_verified_against_the_ca_file() {
    let cert = TestCert::new("bootstrap");
    let peer = start_with({
        let (c, k) = (cert.cert.clone(), cert.key.clone());
        move |o| {
            o.https_address = "127.0.0.1:0".into();
            o.tls_cert = c.to_str().unwrap().into();
            o.tls_key = k.to_str().unwrap().into();
        }
    });
    let _a = Nsqd::registered(&peer, 4151, &["orders"]);
    let from = vec![format!("https://{}", peer.https_addr().unwrap())];
    let ca = cert.cert.to_str().unwrap().to_owned();
    let (h, log) = booted(&from, move |o| o.bootstrap_ca_file = ca);
    assert!(
        log.matching("BOOTSTRAP").is_empty(),
        "{:?}",
        log.matching("")
    );
    assert_eq!(lookup_ports(&h, "orders"), [4151]);
    h.stop();
    // Against the system's CAs the certificate is nobody's.
    let (h, log) = booted(&from, |_| {});
    let line = log.wait_for("BOOTSTRAP: peer", WAIT);
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert_eq!(lookup_status(&h, "orders"), 404);
    h.stop();
    peer.stop();
}

//! Restarts that lose nothing (`-data-path`): what an instance held is
//! answered at once by the next one; an nsqd that comes back takes its
//! restored producer over without a duplicate; one that never comes back
//! is gone after the grace window; a damaged snapshot is moved aside and
//! the start is empty; SIGKILL during a storm never leaves an unreadable
//! snapshot; an unwritable data path is an error before anything is bound.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{get, post, start_logged_manual, start_with, strings, Daemon, Nsqd, BIN, TIMEOUT};
use lookupd::Handle;

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("lookupd-persist-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn snapshot(&self) -> PathBuf {
        self.0.join("lookupd.snapshot")
    }

    /// The files moved aside as damaged.
    fn damaged(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.0)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains(".damaged-"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn with_data(dir: &TempDir, grace: Duration) -> Handle {
    let path = dir.path().to_owned();
    start_with(move |o| {
        o.data_path = path;
        o.restart_grace = grace;
    })
}

fn lookup(h: &Handle, topic: &str) -> serde_json::Value {
    let r = get(h, &format!("/lookup?topic={topic}"));
    assert_eq!(r.status, 200, "/lookup?topic={topic}: {}", r.body_str());
    r.json()
}

fn producer_ports(v: &serde_json::Value) -> Vec<u64> {
    v["producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["http_port"].as_u64().unwrap())
        .collect()
}

/// An instance holding two nsqd, channels, keys created over HTTP, a
/// tombstone and ephemeral keys, stopped gracefully.
fn populate(dir: &TempDir) {
    let h = with_data(dir, Duration::from_secs(45));
    let _a = Nsqd::registered(&h, 4151, &["orders billing", "scratch#ephemeral"]);
    let _b = Nsqd::registered(&h, 5151, &["orders archive", "clicks"]);
    assert_eq!(post(&h, "/topic/create?topic=ahead").status, 200);
    assert_eq!(
        post(&h, "/channel/create?topic=ahead&channel=waiting").status,
        200
    );
    assert_eq!(
        post(&h, "/topic/tombstone?topic=clicks&node=127.0.0.1:5151").status,
        200
    );
    h.stop();
}

#[test]
fn a_restart_answers_at_once_what_the_last_instance_held() {
    let dir = TempDir::new("restart");
    populate(&dir);
    assert!(dir.snapshot().exists(), "written on a graceful stop");
    let h = with_data(&dir, Duration::from_secs(45));
    assert_eq!(producer_ports(&lookup(&h, "orders")), [4151, 5151]);
    assert_eq!(
        strings(&lookup(&h, "orders")["channels"]),
        ["archive", "billing"]
    );
    assert_eq!(
        strings(&get(&h, "/topics").json()["topics"]),
        ["ahead", "clicks", "orders"],
        "no ephemeral topic"
    );
    assert_eq!(
        strings(&get(&h, "/channels?topic=ahead").json()["channels"]),
        ["waiting"]
    );
    assert!(
        producer_ports(&lookup(&h, "clicks")).is_empty(),
        "still tombstoned"
    );
    let nodes = get(&h, "/nodes").json();
    assert_eq!(nodes["producers"].as_array().unwrap().len(), 2);
    let metrics = get(&h, "/metrics").body_str();
    assert!(
        metrics.contains("nsqlookupd_producers_restored_awaiting 2"),
        "{metrics}"
    );
    h.stop();
}

#[test]
fn a_returning_nsqd_replaces_its_restored_registrations_and_the_rest_expire() {
    let dir = TempDir::new("return");
    populate(&dir);
    let path = dir.path().to_owned();
    // The grace window runs on the instance's clock: it ends when the test
    // moves the clock past it, after the nsqd came back.
    let (h, log) = start_logged_manual(lookupd::Level::Info, move |o| {
        o.data_path = path;
        o.restart_grace = Duration::from_secs(45);
    });
    // nsqd 4151 comes back, holding only `orders` now (no billing channel).
    let n = Nsqd::registered(&h, 4151, &["orders"]);
    let local = n.stream.local_addr().unwrap().to_string();
    let v = lookup(&h, "orders");
    assert_eq!(producer_ports(&v), [4151, 5151], "no duplicate");
    assert_eq!(v["producers"][0]["remote_address"], local.as_str());
    let nodes = get(&h, "/nodes").json();
    assert_eq!(nodes["producers"].as_array().unwrap().len(), 2);
    // After the grace window (its end is logged once all is removed):
    // 5151 never came back, and the billing registration 4151 did not
    // make again is gone.
    h.state().advance_clock(Duration::from_secs(45));
    let over = log.wait_for("RESTORE: grace window over", TIMEOUT);
    assert!(
        over.contains("1 restored producers removed, 1 restored registrations"),
        "{over}"
    );
    assert_eq!(producer_ports(&lookup(&h, "orders")), [4151]);
    assert!(!get(&h, "/debug")
        .body_str()
        .contains("channel:orders:billing"));
    assert_eq!(
        strings(&lookup(&h, "orders")["channels"]),
        ["archive", "billing"],
        "keys outlive producers, as in Go"
    );
    // From now on its liveness is the connection's.
    n.disconnect(&h);
    assert!(producer_ports(&lookup(&h, "orders")).is_empty());
    h.stop();
}

#[test]
fn a_damaged_snapshot_is_moved_aside_and_the_start_is_empty() {
    let dir = TempDir::new("damaged");
    populate(&dir);
    let good = std::fs::read(dir.snapshot()).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", b"definitely not a snapshot".to_vec()),
    ];
    let mut flipped = good.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x5a;
    cases.push(("flipped", flipped));
    let mut version = good.clone();
    version[8] = 99;
    cases.push(("version", version));
    for (what, bytes) in cases {
        std::fs::write(dir.snapshot(), &bytes).unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let mut o = common::test_options();
        o.data_path = dir.path().to_owned();
        o.log_level = lookupd::logging::Level::Warn;
        let log = lookupd::logging::Logger::with_sink(
            o.log_level,
            "",
            std::sync::Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
        );
        let h = Handle::start_with_logger(o, log).expect("starts anyway");
        let warned = lines.lock().unwrap().join("");
        assert!(warned.contains("unreadable"), "{what}: {warned}");
        assert_eq!(
            strings(&get(&h, "/topics").json()["topics"]),
            Vec::<String>::new(),
            "{what}: empty"
        );
        let aside = dir.damaged();
        assert_eq!(aside.len(), 1, "{what}: {aside:?}");
        assert_eq!(
            std::fs::read(&aside[0]).unwrap(),
            bytes,
            "{what}: kept as it was"
        );
        std::fs::remove_file(&aside[0]).unwrap();
        h.stop();
    }
}

#[test]
fn an_unwritable_data_path_exits_1_before_binding() {
    let dir = TempDir::new("unwritable");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "-tcp-address=127.0.0.1:0",
            "-http-address=127.0.0.1:0",
            &format!("-data-path={}", file.display()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("data_path"), "{stderr}");
    assert!(!stderr.contains("listening"), "nothing bound: {stderr}");
}

/// Kills the daemon with SIGKILL at random points of a REGISTER storm,
/// many times, and restarts it each time on the same data path: every
/// restart reads a whole snapshot (the last one written before the kill).
#[test]
fn sigkill_during_a_storm_never_leaves_an_unreadable_snapshot() {
    let dir = TempDir::new("sigkill");
    let data = format!("-data-path={}", dir.path());
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut restored = 0;
    let mut had_snapshot = false;
    for round in 0..12 {
        let mut d = Daemon::spawn(&[
            "-tcp-address=127.0.0.1:0",
            "-http-address=127.0.0.1:0",
            "-log-level=debug",
            &data,
        ]);
        let start = d.wait_line("SNAPSHOT:");
        assert!(
            !start.contains("unreadable") && !start.contains("cannot"),
            "round {round}: {start}"
        );
        if start.contains("restored") {
            restored += 1;
        }
        let tcp = d.port("TCP");
        // A storm: several nsqd registering many topics, while the
        // snapshot writer keeps writing.
        let storm = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for p in 0..4u16 {
                let Ok(mut n) = std::net::TcpStream::connect(("127.0.0.1", tcp)) else {
                    break;
                };
                let body = format!(
                    r#"{{"broadcast_address":"10.0.0.{p}","tcp_port":4150,"http_port":4151,"version":"1.3.0"}}"#
                );
                let mut msg = b"  V1IDENTIFY\n".to_vec();
                msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
                msg.extend_from_slice(body.as_bytes());
                for t in 0..10_000 {
                    msg.extend_from_slice(
                        format!("REGISTER r{round}-t{t} c{}\n", t % 3).as_bytes(),
                    );
                }
                use std::io::Write;
                if n.write_all(&msg).is_err() {
                    break;
                }
                conns.push(n);
            }
            conns
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // These sleeps are the test's subject, not synchronisation: a kill
        // at a random moment, or a random instant into a write.
        if round % 2 == 0 {
            // At a random moment.
            std::thread::sleep(Duration::from_millis(100 + seed % 700));
        } else {
            // As a write begins (the writer logs it just before), when a
            // snapshot written in place would be half there.
            d.wait_line(&format!("r{round}-"));
            d.wait_line_after("SNAPSHOT: writing");
            std::thread::sleep(Duration::from_micros(seed % 1500));
        }
        d.signal(libc::SIGKILL);
        let _ = d.wait();
        let _ = storm.join();
        assert!(dir.damaged().is_empty(), "round {round}");
        // Before the first write completes there is no snapshot (a kill
        // then leaves at most a temporary file, and the next start is
        // empty); once there is one, no kill takes it away.
        if had_snapshot {
            assert!(
                dir.snapshot().exists(),
                "round {round}: the snapshot is always there once written"
            );
        }
        had_snapshot = dir.snapshot().exists();
    }
    assert!(restored >= 5, "most restarts found a snapshot ({restored})");
    // The last snapshot reads back whole.
    let bytes = std::fs::read(dir.snapshot()).unwrap();
    assert!(lookupd::persist::format::check(&bytes).is_ok());
}

/// The snapshot fuzz target's seeds are snapshots this version reads (the
/// target appends the checksum to a body): real files written by
/// instances holding three nsqd (channels shared across topics, ephemeral
/// keys, a tombstone; advertised and `-producer-address=remote` answers),
/// one turned into format version 1, and one whole file.
#[test]
fn the_fuzz_seeds_are_readable_snapshots() {
    use lookupd::persist::format::{check, crc32};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/snapshot");
    let mut bodies = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if path.to_str().unwrap().ends_with("-body") {
            let crc = crc32(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            bodies += 1;
        }
        assert!(
            check(&bytes).is_ok(),
            "{}: {:?}",
            path.display(),
            check(&bytes)
        );
    }
    assert!(bodies >= 3);
}

//! The `nsqlookupd` binary as an operator meets it: Go's flags and config
//! file, Go's log lines, exit codes and signals.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{raise_fd_limit, Daemon, BIN};

const SIGINT: i32 = libc::SIGINT;
const SIGTERM: i32 = libc::SIGTERM;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn http_get(port: u16, path: &str) -> String {
    http_request(port, "GET", path)
}

fn http_request(port: u16, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

const LOOPBACK: [&str; 2] = ["-tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"];

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["-version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("nsqlookupd v1.3.0 "), "{out}");
    let (code, _, err) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(err.starts_with("Usage of nsqlookupd:\n"), "{err}");
    for flag in [
        "-config",
        "-log-level",
        "-log-prefix",
        "-tcp-address",
        "-http-address",
        "-broadcast-address",
        "-inactive-producer-timeout",
        "-tombstone-lifetime",
        "-version",
    ] {
        assert!(err.contains(&format!("  {flag}")), "usage lacks {flag}");
    }
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    for (args, needle) in [
        (&["-bogus"][..], "flag provided but not defined: -bogus"),
        (&["-tombstone-lifetime=5"][..], "-tombstone-lifetime"),
        (&["--log-level", "loud"][..], "-log-level"),
        (
            &["-tcp-address"][..],
            "flag needs an argument: -tcp-address",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.contains("Usage of nsqlookupd:"));
    }
}

#[test]
fn serves_and_stops_on_sigterm_and_sigint() {
    for sig in [SIGTERM, SIGINT] {
        let mut d = Daemon::spawn(&LOOPBACK);
        let port = d.port("HTTP");
        assert_eq!(http_get(port, "/ping"), "OK");
        d.signal(sig);
        assert_eq!(d.wait(), 0);
    }
}

#[test]
fn log_lines_have_the_go_shape_and_honour_the_level() {
    let mut d = Daemon::spawn(&[LOOPBACK[0], LOOPBACK[1], "-log-prefix=[test] "]);
    let line = d.wait_line("TCP: listening on");
    // [test] 2026/11/24 17:55:32.123456 INFO: TCP: listening on …
    let rest = line.strip_prefix("[test] ").expect("prefix");
    let (date, rest) = rest.split_at(26);
    assert_eq!(date.len(), 26);
    assert_eq!(&date[4..5], "/");
    assert_eq!(&date[19..20], ".");
    assert!(
        rest.starts_with(" INFO: TCP: listening on 127.0.0.1:"),
        "{line}"
    );
    // Go logs both keys a channel creation adds.
    let http = d.port("HTTP");
    http_request(http, "POST", "/channel/create?topic=logt&channel=logc");
    d.wait_line("INFO: DB: adding channel(logc) in topic(logt)");
    d.wait_line("INFO: DB: adding topic(logt)");

    // At warn, the start-up INFO lines are filtered and the FATAL is not.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("-http-address={}", taken.local_addr().unwrap());
    let (code, _, err) = run(&[LOOPBACK[0], &addr, "-log-level=warn"]);
    assert_eq!(code, 1);
    assert!(!err.contains("INFO"), "{err}");
    assert!(err.contains("FATAL: "), "{err}");
}

#[test]
fn config_file_with_go_keys_and_flag_override() {
    let dir = std::env::temp_dir().join(format!("lookupd-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("nsqlookupd.cfg");
    std::fs::write(
        &cfg,
        r#"
## as in Go's contrib/nsqlookupd.cfg.example
log_level = "info"
tcp_address = "127.0.0.1:0"
http_address = "127.0.0.1:1"
broadcast_address = "from-config"
inactive_producer_timeout = "300s"
tombstone_lifetime = 45000
some_future_key = true
"#,
    )
    .unwrap();
    let cfg_arg = format!("-config={}", cfg.display());
    let mut d = Daemon::spawn(&[&cfg_arg, "--http-address", "127.0.0.1:0"]);
    d.wait_line("unknown option \"some_future_key\" ignored");
    let tcp = d.port("TCP");
    let mut s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let body = br#"{"broadcast_address":"x","tcp_port":1,"http_port":2,"version":"v"}"#;
    s.write_all(b"  V1IDENTIFY\n").unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut reply = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["broadcast_address"], "from-config");
    assert_ne!(reply["http_port"], 1, "the flag overrides the file");
    d.signal(SIGTERM);
    assert_eq!(d.wait(), 0);

    std::fs::write(&cfg, "tombstone_lifetime = \"forever\"\n").unwrap();
    let (code, _, err) = run(&[&cfg_arg]);
    assert_eq!(code, 1);
    assert!(err.contains("tombstone_lifetime"), "{err}");
    std::fs::write(&cfg, "tcp_address = [1, 2]\n").unwrap();
    let (code, _, err) = run(&[&cfg_arg]);
    assert_eq!(code, 1);
    assert!(err.contains("tcp_address"), "{err}");
    std::fs::write(&cfg, "this is not toml\n").unwrap();
    let (code, _, err) = run(&[&cfg_arg]);
    assert_eq!(code, 1);
    assert!(err.contains("failed to load config file"), "{err}");
    let (code, _, err) = run(&["-config=/nonexistent/lookupd.cfg"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/lookupd.cfg"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn port_in_use_exits_1_with_a_clear_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("-http-address={}", taken.local_addr().unwrap());
    let (code, _, err) = run(&[LOOPBACK[0], &addr]);
    assert_eq!(code, 1);
    assert!(
        err.contains("FATAL: failed to instantiate nsqlookupd - listen (127.0.0.1:"),
        "{err}"
    );
    // Go's words, which operators' scripts look for.
    assert!(err.contains(": bind: address already in use"), "{err}");
}

#[test]
fn sigterm_with_1000_open_connections_exits_0() {
    raise_fd_limit();
    let mut d = Daemon::spawn(&LOOPBACK);
    let tcp = d.port("TCP");
    let http = d.port("HTTP");
    let mut conns = Vec::new();
    for i in 0..1000u32 {
        // Half are identified nsqd with a registration, half HTTP clients
        // holding keep-alive connections.
        if i % 2 == 0 {
            let mut s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
            let body = format!(
                r#"{{"broadcast_address":"h{i}","tcp_port":1,"http_port":2,"version":"v"}}"#
            );
            let mut msg = b"  V1IDENTIFY\n".to_vec();
            msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
            msg.extend_from_slice(body.as_bytes());
            msg.extend_from_slice(b"REGISTER t\n");
            s.write_all(&msg).unwrap();
            conns.push(s);
        } else {
            let mut s = TcpStream::connect(("127.0.0.1", http)).unwrap();
            s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            conns.push(s);
        }
    }
    // Every connection has been served once (replies are waiting).
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).unwrap();
    }
    // It exits without waiting for these clients to leave (they never
    // would); how fast is a benchmark's question.
    d.signal(SIGTERM);
    assert_eq!(d.wait(), 0);
    for s in &mut conns {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
}

//! Running out of file descriptors: accept fails with EMFILE, the daemon
//! logs a warning, waits without spinning, and accepts again once
//! descriptors are free. Runs the binary with a small descriptor limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nsqlookupd");

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name: state is field 3; utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn accept_survives_running_out_of_descriptors() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "-tcp-address=127.0.0.1:0",
        "-http-address=127.0.0.1:0",
        "-log-level=warn",
        "-identify-timeout=60s",
        "-threads=1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Reaped(cmd.spawn().unwrap());
    let pid = child.0.id();
    let (tx, lines) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    // Find the ports: the listening lines are INFO, so ask /proc instead.
    let ports = wait_for_listeners(pid);
    let (tcp, http) = (ports[0], ports[1]);
    let tcp_port = |p: u16| ("127.0.0.1", p);

    // Exhaust the daemon's descriptors with connections that stay open.
    let mut held = Vec::new();
    for _ in 0..80 {
        let mut s = TcpStream::connect(tcp_port(tcp)).unwrap();
        s.write_all(b"  V1").unwrap();
        held.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("EMFILE warning");
        if l.contains("WARNING: TCP: temporary Accept() failure") {
            assert!(l.to_lowercase().contains("too many open files"), "{l}");
            break;
        }
    }
    // Waiting out EMFILE must not spin: well under a tenth of a CPU.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 10,
        "daemon used {used} ticks in 1 s while out of descriptors"
    );

    // Free the descriptors: the backlog drains and new clients are served.
    drop(held);
    let mut s = TcpStream::connect(tcp_port(tcp)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"  V1PING\n").unwrap();
    let mut reply = [0u8; 6];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"\0\0\0\x02OK");
    let mut h = TcpStream::connect(tcp_port(http)).unwrap();
    h.write_all(b"GET /ping HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    h.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("OK"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lines
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("recovery logged")
        .contains("TCP: accepting again")
    {}

    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert!(child.0.wait().unwrap().success());
}

/// Kills the daemon if the test fails half-way.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon's two listening ports, TCP first (bound first), from
/// /proc/net/tcp entries owned by its socket inodes.
fn wait_for_listeners(pid: u32) -> Vec<u16> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter_map(|p| {
                        let s = p.to_string_lossy().into_owned();
                        s.strip_prefix("socket:[")?
                            .strip_suffix(']')
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let mut listening: Vec<(u64, u16)> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
                if *state != "0A" || !inodes.iter().any(|i| i == inode) {
                    return None;
                }
                let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
                Some((inode.parse().ok()?, port))
            })
            .collect();
        if listening.len() == 2 {
            listening.sort();
            return listening.into_iter().map(|(_, p)| p).collect();
        }
        assert!(Instant::now() < deadline, "daemon did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
        "-log-level=info",
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
    let wait_line = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let l = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no line with {needle:?}"));
            if l.contains(needle) {
                return l;
            }
        }
    };
    let port = |line: String| -> u16 { line.rsplit(':').next().unwrap().parse().unwrap() };
    let tcp = port(wait_line("TCP: listening on "));
    let http = port(wait_line("HTTP: listening on "));
    let tcp_port = |p: u16| ("127.0.0.1", p);

    // Exhaust the daemon's descriptors with connections that stay open.
    let mut held = Vec::new();
    for _ in 0..80 {
        let mut s = TcpStream::connect(tcp_port(tcp)).unwrap();
        s.write_all(b"  V1").unwrap();
        held.push(s);
    }
    let l = wait_line("WARNING: TCP: temporary Accept() failure");
    assert!(l.to_lowercase().contains("too many open files"), "{l}");
    // Waiting out EMFILE must not spin: well under a tenth of a CPU. The
    // sleep is the window the CPU use is measured over, not
    // synchronisation.
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
    wait_line("WARNING: TCP: accepting again");

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

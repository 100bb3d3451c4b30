//! Helpers for the black-box tests: an instance on loopback port 0, a fake
//! nsqd speaking raw V1 bytes, and a raw HTTP/1 client that can pipeline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use lookupd::logging::Level;
use lookupd::{Handle, Options};

/// Options for a test instance: loopback, port 0, quiet.
pub fn test_options() -> Options {
    let mut o = Options::default();
    o.tcp_address = "127.0.0.1:0".into();
    o.http_address = "127.0.0.1:0".into();
    o.broadcast_address = "127.0.0.1".into();
    o.log_level = Level::Fatal;
    o.threads = 2;
    o
}

/// Starts an instance with the default test options.
pub fn start() -> Handle {
    Handle::start(test_options()).expect("start")
}

/// Starts an instance with options adjusted by `f`.
pub fn start_with(f: impl FnOnce(&mut Options)) -> Handle {
    let mut o = test_options();
    f(&mut o);
    Handle::start(o).expect("start")
}

/// Starts an instance on a manual clock (moved only by
/// `state().advance_clock`), with options adjusted by `f`: inactivity and
/// tombstone lifetimes are then decided without the wall clock.
pub fn start_manual(f: impl FnOnce(&mut Options)) -> Handle {
    let mut o = test_options();
    f(&mut o);
    let log = lookupd::Logger::stderr(o.log_level, &o.log_prefix);
    Handle::start_with_clock(o, log, lookupd::instance::clock::Clock::manual()).expect("start")
}

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A fake nsqd: raw V1 over TCP.
pub struct Nsqd {
    pub stream: TcpStream,
}

impl Nsqd {
    /// Connects and sends the magic.
    pub fn connect(h: &Handle) -> Nsqd {
        let mut n = Self::connect_raw(h.tcp_addr());
        n.send(b"  V1");
        n
    }

    /// Connects without sending anything.
    pub fn connect_raw(addr: SocketAddr) -> Nsqd {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Nsqd { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one reply frame.
    pub fn read(&mut self) -> Vec<u8> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).expect("read frame length");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).expect("read frame body");
        body
    }

    pub fn read_str(&mut self) -> String {
        String::from_utf8(self.read()).unwrap()
    }

    /// Sends a command line and reads its reply.
    pub fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.read_str()
    }

    /// Sends IDENTIFY with `body` and returns the reply.
    pub fn identify_body(&mut self, body: &[u8]) -> String {
        let mut msg = b"IDENTIFY\n".to_vec();
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
        msg.extend_from_slice(body);
        self.send(&msg);
        self.read_str()
    }

    /// Identifies as an nsqd at 127.0.0.1 with these ports.
    pub fn identify(&mut self, tcp_port: u16, http_port: u16) -> serde_json::Value {
        self.identify_as("127.0.0.1", tcp_port, http_port)
    }

    /// Identifies as an nsqd advertising `broadcast` with these ports.
    pub fn identify_as(
        &mut self,
        broadcast: &str,
        tcp_port: u16,
        http_port: u16,
    ) -> serde_json::Value {
        let body = serde_json::json!({
            "broadcast_address": broadcast,
            "hostname": "fake-nsqd",
            "tcp_port": tcp_port,
            "http_port": http_port,
            "version": "1.3.0",
        });
        let reply = self.identify_body(body.to_string().as_bytes());
        serde_json::from_str(&reply).unwrap_or_else(|_| panic!("IDENTIFY reply {reply}"))
    }

    /// Connects, identifies and registers `topic [channel]` pairs.
    pub fn registered(h: &Handle, http_port: u16, regs: &[&str]) -> Nsqd {
        Self::registered_as(h, "127.0.0.1", http_port, regs)
    }

    /// As [`Nsqd::registered`], advertising `broadcast`.
    pub fn registered_as(h: &Handle, broadcast: &str, http_port: u16, regs: &[&str]) -> Nsqd {
        let mut n = Nsqd::connect(h);
        n.identify_as(broadcast, http_port - 1, http_port);
        for r in regs {
            assert_eq!(n.command(&format!("REGISTER {r}")), "OK");
        }
        n
    }

    /// Asserts the server closed the connection.
    pub fn assert_closed(&mut self) {
        let mut buf = [0u8; 1];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(_) => panic!("unexpected data instead of close"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected close, got {e}"),
        }
    }

    /// Closes the connection and waits until the server has dropped the
    /// producer (woken by the registry's changes).
    pub fn disconnect(self, h: &Handle) {
        let local = self.stream.local_addr().unwrap().to_string();
        self.stream.shutdown(Shutdown::Both).ok();
        drop(self);
        wait_registry(h, TIMEOUT, |r| {
            !r.all_producers()
                .iter()
                .any(|(p, _)| p.info().remote_address == local)
        });
    }
}

/// Waits until `cond` holds, looking again after each yield of the CPU
/// (never a sleep). Only for the conditions no event announces, each named
/// by `what` at its call: the count of waits for producers blocked now
/// (`State::waiting`, `lookupd_waiting`), and a connection's place in the
/// open-connection counters, given back just after its socket closed.
/// Everything else waits for its event: [`wait_registry`],
/// [`Log::wait_for`], a connection's close.
pub fn spin_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not reached in time");
        std::thread::yield_now();
    }
}

/// Waits until `n` waits for producers are blocked on the instance (each
/// has looked, found too few producers and is listening for changes, so
/// any change from now on reaches it).
pub fn wait_parked(h: &Handle, n: usize) {
    spin_until("waits blocked", || h.state().waiting() >= n);
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", self.body_str()))
    }

    /// The V1 error message.
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap().to_owned()
    }
}

/// An HTTP/1 connection that sends raw requests and reads responses.
pub struct HttpConn {
    reader: BufReader<TcpStream>,
}

impl HttpConn {
    pub fn open(addr: SocketAddr) -> HttpConn {
        let s = TcpStream::connect(addr).expect("connect http");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        HttpConn {
            reader: BufReader::new(s),
        }
    }

    pub fn send(&mut self, raw: &str) {
        self.reader.get_mut().write_all(raw.as_bytes()).unwrap();
    }

    /// Reads one response; `head` when it answers a HEAD request.
    pub fn read(&mut self, head: bool) -> Response {
        read_response(&mut self.reader, head)
    }

    /// Whether the server closed the connection (EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }
}

/// Reads one HTTP/1 response from `reader` (any stream: plain TCP or
/// TLS); `head` when it answers a HEAD request.
pub fn read_response(reader: &mut impl BufRead, head: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').expect("header colon");
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    let mut r = Response {
        version,
        status,
        headers,
        body: Vec::new(),
    };
    if !head {
        if let Some(len) = r.header("content-length") {
            let mut body = vec![0; len.parse().unwrap()];
            reader.read_exact(&mut body).unwrap();
            r.body = body;
        } else {
            reader.read_to_end(&mut r.body).unwrap();
        }
    }
    r
}

/// One request on its own connection.
pub fn request(h: &Handle, method: &str, path: &str) -> Response {
    let mut c = HttpConn::open(h.http_addr());
    c.send(&format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    ));
    c.read(method == "HEAD")
}

pub fn get(h: &Handle, path: &str) -> Response {
    request(h, "GET", path)
}

pub fn post(h: &Handle, path: &str) -> Response {
    request(h, "POST", path)
}

/// `/lookup` producers' `http_port`s, sorted.
pub fn lookup_ports(h: &Handle, topic: &str) -> Vec<u64> {
    let r = get(h, &format!("/lookup?topic={topic}"));
    assert_eq!(r.status, 200, "{}", r.body_str());
    producer_ports(&r.json())
}

/// The `http_port`s of an answer's producers, sorted.
pub fn producer_ports(answer: &serde_json::Value) -> Vec<u64> {
    let mut ports: Vec<u64> = answer["producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["http_port"].as_u64().unwrap())
        .collect();
    ports.sort();
    ports
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A self-signed certificate for 127.0.0.1 (and localhost) and its key,
/// made by the `openssl` command line in a directory of their own,
/// removed when dropped. Not a CA: a client that trusts this certificate
/// accepts the server that presents it, and no other.
pub struct TestCert {
    dir: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl TestCert {
    pub fn new(tag: &str) -> TestCert {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("lookupd-tls-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("openssl.cnf");
        // Each its own subject, so a client trusting another one finds no
        // issuer for it.
        std::fs::write(
            &config,
            format!(
                "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n\
                 [dn]\nCN = lookupd test {tag} {n}\n\
                 [ext]\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n\
                 basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
            ),
        )
        .unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-config"])
            .arg(&config)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("the openssl command line (Debian: apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TestCert { dir, cert, key }
    }

    /// The certificate, as rustls takes it.
    pub fn der(&self) -> futures_rustls::rustls::pki_types::CertificateDer<'static> {
        use futures_rustls::rustls::pki_types::pem::PemObject as _;
        futures_rustls::rustls::pki_types::CertificateDer::from_pem_file(&self.cert).unwrap()
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Raises this process's open-file soft limit to the hard limit, for tests
/// that hold many connections.
pub fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The `nsqlookupd` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nsqlookupd");

/// A running daemon whose stderr lines are collected.
pub struct Daemon {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    pub fn spawn(args: &[&str]) -> Daemon {
        let mut child = Command::new(BIN)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn nsqlookupd");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle` and returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        self.wait_line_after(needle)
    }

    /// Waits for a new stderr line (one not seen yet) containing `needle`.
    pub fn wait_line_after(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no new line with {needle:?}; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn port(&mut self, proto: &str) -> u16 {
        let line = self.wait_line(&format!("{proto}: listening on "));
        line.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    /// Waits for the daemon to exit (its stderr closes as it does), and
    /// returns its exit code (-1 for a signal).
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("daemon did not exit"),
            }
        }
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Log lines an instance wrote, collected in memory, and a way to wait for
/// one without polling.
#[derive(Clone, Default)]
pub struct Log {
    lines: std::sync::Arc<(std::sync::Mutex<Vec<String>>, std::sync::Condvar)>,
}

impl Log {
    /// A logger at `level` writing here.
    pub fn logger(&self, level: Level) -> lookupd::logging::Logger {
        let lines = self.lines.clone();
        lookupd::logging::Logger::with_sink(
            level,
            "[nsqlookupd] ",
            std::sync::Arc::new(move |l: &str| {
                lines
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(l.to_owned());
                lines.1.notify_all();
            }),
        )
    }

    /// Waits (up to `within`) for a line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut lines = self.lines.0.lock().unwrap();
        let mut seen = 0;
        loop {
            if let Some(l) = lines[seen..].iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            seen = lines.len();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no log line with {needle:?}; saw {lines:#?}"
            );
            lines = self.lines.1.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Every line so far containing `needle`.
    pub fn matching(&self, needle: &str) -> Vec<String> {
        let lines = self.lines.0.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

/// Starts an instance logging warnings and errors into a [`Log`].
pub fn start_logged(f: impl FnOnce(&mut Options)) -> (Handle, Log) {
    start_logged_at(Level::Warn, f)
}

/// Starts an instance logging at `level` into a [`Log`].
/// As [`start_logged_at`], on a manual clock (`h.state().advance_clock`).
pub fn start_logged_manual(level: Level, f: impl FnOnce(&mut Options)) -> (Handle, Log) {
    let mut o = test_options();
    f(&mut o);
    let log = Log::default();
    let clock = lookupd::instance::clock::Clock::manual();
    let h = Handle::start_with_clock(o, log.logger(level), clock).expect("start");
    (h, log)
}

pub fn start_logged_at(level: Level, f: impl FnOnce(&mut Options)) -> (Handle, Log) {
    let mut o = test_options();
    f(&mut o);
    let log = Log::default();
    let h = Handle::start_with_logger(o, log.logger(level)).expect("start");
    (h, log)
}

/// Waits (up to `within`) until `cond` holds of the instance's registry,
/// woken by its changes, never by polling.
pub fn wait_registry(
    h: &Handle,
    within: Duration,
    mut cond: impl FnMut(&lookupd::registry::Registry) -> bool,
) {
    use event_listener::Listener as _;
    let state = h.state();
    let deadline = Instant::now() + within;
    let waiter = state.changes.waiter();
    loop {
        let changed = waiter.listen();
        if cond(&state.read()) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "registry condition not met in time");
        changed.wait_timeout(left);
    }
}

/// The value of a `/metrics` sample, by its full name with labels.
pub fn metric(h: &Handle, sample: &str) -> f64 {
    let text = get(h, "/metrics").body_str();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {sample} in\n{text}"))
}

//! Just enough of an HTTP/1.1 client to read a peer's answers: `GET` over
//! one kept-alive connection (plain or TLS), bodies sized by
//! `Content-Length`, chunked or read to the close, each bounded in size,
//! and every read bounded by the bootstrap's deadline.
//!
//! It runs before anything is served, on threads of the bootstrap's own,
//! so it is blocking and small rather than async and general.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::config::Peer;

/// Longest response head read.
const MAX_HEAD: usize = 64 * 1024;

/// Why a peer's answer could not be had.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The deadline passed first.
    Timeout,
    /// Connecting, reading or writing failed.
    Io(io::Error),
    /// Not a status the bootstrap can use.
    Status(u16),
    /// A body over its bound.
    TooLarge(usize),
    /// Not HTTP, or not the JSON expected.
    Garbage(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer within the bootstrap timeout"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Status(401 | 403) => {
                f.write_str("refused (HTTP 401/403): set -bootstrap-token for a peer run with -http-auth-reads")
            }
            Failure::Status(s) => write!(f, "answered HTTP {s}"),
            Failure::TooLarge(limit) => write!(f, "a body larger than {limit} bytes"),
            Failure::Garbage(why) => write!(f, "not an nsqlookupd answer ({why})"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Io(e),
        }
    }
}

/// What every request to the peers carries and is bounded by.
#[derive(Clone)]
pub(crate) struct Settings {
    /// Sent as `Authorization: Bearer`, when not empty.
    pub(crate) token: String,
    /// For `https://` peers.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    /// When everything must be done.
    pub(crate) deadline: Instant,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One kept-alive connection to a peer.
pub(crate) struct Conn {
    peer: Peer,
    settings: Settings,
    /// To move the socket's read timeout to the deadline.
    socket: TcpStream,
    stream: Box<dyn Stream>,
    /// Bytes read but not consumed.
    buf: Vec<u8>,
    closed: bool,
}

/// An answer: its status and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Conn {
    /// Connects (each address the peer's name resolves to, in turn, until
    /// the deadline).
    pub(crate) fn open(peer: &Peer, settings: &Settings) -> Result<Conn, Failure> {
        let addrs = (peer.host.as_str(), peer.port).to_socket_addrs()?;
        let mut last = Failure::Garbage(format!("{} resolves to no address", peer.host));
        for addr in addrs {
            let left = left(settings.deadline)?;
            match TcpStream::connect_timeout(&addr, left) {
                Ok(socket) => return Conn::over(peer, settings, socket),
                Err(e) => last = e.into(),
            }
        }
        Err(last)
    }

    fn over(peer: &Peer, settings: &Settings, socket: TcpStream) -> Result<Conn, Failure> {
        socket.set_nodelay(true)?;
        let plain = socket.try_clone()?;
        let stream: Box<dyn Stream> = match (&settings.tls, peer.https) {
            (Some(config), true) => {
                let name = ServerName::try_from(peer.host.clone())
                    .map_err(|e| Failure::Garbage(format!("server name: {e}")))?;
                let tls = ClientConnection::new(config.clone(), name)
                    .map_err(|e| Failure::Garbage(format!("TLS: {e}")))?;
                Box::new(StreamOwned::new(tls, plain))
            }
            (None, true) => return Err(Failure::Garbage("no TLS configuration".into())),
            (_, false) => Box::new(plain),
        };
        Ok(Conn {
            peer: peer.clone(),
            settings: settings.clone(),
            socket,
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    /// Whether the peer closed the connection after the last answer.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// `GET path`, with a body of at most `max_body` bytes.
    pub(crate) fn get(&mut self, path: &str, max_body: usize) -> Result<Response, Failure> {
        let mut answers = self.get_many(&[path.to_owned()], max_body)?;
        answers
            .pop()
            .ok_or_else(|| Failure::Garbage("no answer".into()))
    }

    /// `GET` each of `paths`, pipelined (every request sent before the
    /// answers are read, which come back in order): a peer's round trips
    /// overlap. Each body is bounded by `max_body`.
    pub(crate) fn get_many(
        &mut self,
        paths: &[String],
        max_body: usize,
    ) -> Result<Vec<Response>, Failure> {
        if self.closed {
            return Err(Failure::Io(io::ErrorKind::NotConnected.into()));
        }
        let mut out = String::new();
        for path in paths {
            out.push_str(&format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.nsq; version=1.0\r\nUser-Agent: lookupd-bootstrap\r\n",
                self.peer.authority()
            ));
            if !self.settings.token.is_empty() {
                out.push_str(&format!("Authorization: Bearer {}\r\n", self.settings.token));
            }
            out.push_str("\r\n");
        }
        self.socket
            .set_write_timeout(Some(left(self.settings.deadline)?))?;
        self.stream.write_all(out.as_bytes())?;
        self.stream.flush()?;
        let mut answers = Vec::with_capacity(paths.len());
        for _ in paths {
            if self.closed {
                return Err(Failure::Garbage("the peer closed a pipelined connection".into()));
            }
            answers.push(self.receive(max_body)?);
        }
        Ok(answers)
    }

    /// Reads one answer.
    fn receive(&mut self, max_body: usize) -> Result<Response, Failure> {
        let head_end = self.fill_until(|b| find(b, b"\r\n\r\n"), MAX_HEAD)?;
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let (status, length, chunked, close) = parse_head(&head)?;
        self.closed = close;
        let body = match (chunked, length) {
            (true, _) => self.chunked(max_body)?,
            (false, Some(n)) => {
                if n > max_body {
                    return Err(Failure::TooLarge(max_body));
                }
                self.fill_until(|b| (b.len() >= n).then_some(n), n)?;
                self.buf.drain(..n).collect()
            }
            (false, None) => {
                self.closed = true;
                self.until_close(max_body)?
            }
        };
        Ok(Response { status, body })
    }

    /// Reads until `done` finds what it needs in the buffer (returning a
    /// position), or `limit` bytes are buffered without it.
    fn fill_until(
        &mut self,
        mut done: impl FnMut(&[u8]) -> Option<usize>,
        limit: usize,
    ) -> Result<usize, Failure> {
        loop {
            if let Some(at) = done(&self.buf) {
                return Ok(at);
            }
            if self.buf.len() > limit {
                return Err(Failure::TooLarge(limit));
            }
            if self.read_some()? == 0 {
                return Err(Failure::Garbage("the connection closed mid-answer".into()));
            }
        }
    }

    /// One read into the buffer, bounded by the deadline. 0 at the close.
    fn read_some(&mut self) -> Result<usize, Failure> {
        self.socket.set_read_timeout(Some(left(self.settings.deadline)?))?;
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// A chunked body.
    fn chunked(&mut self, max_body: usize) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        loop {
            let line_end = self.fill_until(|b| find(b, b"\r\n"), 1024)?;
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| Failure::Garbage(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let end = self.fill_until(|b| find(b, b"\r\n"), MAX_HEAD)?;
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > max_body {
                return Err(Failure::TooLarge(max_body));
            }
            self.fill_until(|b| (b.len() >= size + 2).then_some(size), size + 2)?;
            body.extend_from_slice(&self.buf[..size]);
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(Failure::Garbage("chunk not followed by CRLF".into()));
            }
            self.buf.drain(..size + 2);
        }
    }

    /// A body that ends with the connection.
    fn until_close(&mut self, max_body: usize) -> Result<Vec<u8>, Failure> {
        loop {
            if self.buf.len() > max_body {
                return Err(Failure::TooLarge(max_body));
            }
            if self.read_some()? == 0 {
                return Ok(std::mem::take(&mut self.buf));
            }
        }
    }
}

/// The time left before `deadline`, or a timeout.
fn left(deadline: Instant) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::Timeout)
    } else {
        Ok(left)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The status, `Content-Length`, whether chunked, whether the peer closes.
fn parse_head(head: &str) -> Result<(u16, Option<usize>, bool, bool), Failure> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        let shown: String = status_line.chars().take(40).collect();
        return Err(Failure::Garbage(format!("status line {shown:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Garbage("no status code".into()))?;
    let (mut length, mut chunked, mut close) = (None, false, version == "HTTP/1.0");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse()
                        .map_err(|_| Failure::Garbage(format!("Content-Length {value:?}")))?,
                )
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Ok((status, length, chunked, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A peer that answers each request with the next canned response.
    fn canned(responses: Vec<&'static [u8]>) -> (Peer, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            for r in responses {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(r).unwrap();
            }
        });
        let peer = Peer::parse(&format!("127.0.0.1:{port}")).unwrap();
        (peer, t)
    }

    fn settings() -> Settings {
        Settings {
            token: "t0ken".into(),
            tls: None,
            deadline: Instant::now() + Duration::from_secs(10),
        }
    }

    #[test]
    fn lengths_chunks_and_keep_alive() {
        let (peer, t) = canned(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        ]);
        let mut c = Conn::open(&peer, &settings()).unwrap();
        let r = c.get("/a", 100).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = c.get("/b", 100).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        let r = c.get("/c", 100).unwrap();
        assert_eq!(r.status, 404);
        assert!(c.is_closed());
        t.join().unwrap();
    }

    #[test]
    fn bounds_and_garbage() {
        let (peer, t) = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"]);
        let mut c = Conn::open(&peer, &settings()).unwrap();
        assert!(matches!(c.get("/", 100), Err(Failure::TooLarge(100))));
        t.join().unwrap();
        let (peer, t) = canned(vec![b"SSH-2.0-OpenSSH\r\n\r\n"]);
        let mut c = Conn::open(&peer, &settings()).unwrap();
        assert!(matches!(c.get("/", 100), Err(Failure::Garbage(_))));
        t.join().unwrap();
    }

    #[test]
    fn a_silent_peer_times_out_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = Peer::parse(&l.local_addr().unwrap().to_string()).unwrap();
        let mut s = settings();
        s.deadline = Instant::now() + Duration::from_millis(200);
        let mut c = Conn::open(&peer, &s).unwrap();
        assert!(matches!(c.get("/", 100), Err(Failure::Timeout)));
        drop(l);
    }
}

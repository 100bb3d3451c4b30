//! A minimal HTTP/1.1 keep-alive client over raw TCP: one request at a
//! time per connection, `Content-Length` and chunked bodies (Go's
//! net/http answers anything over 2 KiB that its handler did not size in
//! chunks).

use std::io::{self, Write};
use std::net::SocketAddr;

use std::io::Read;
use std::net::TcpStream;

use smol::io::AsyncWriteExt;
use smol::Async;

const BUF: usize = 64 * 1024;

/// One keep-alive connection.
pub struct HttpConn {
    stream: Async<TcpStream>,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    req: Vec<u8>,
    /// A request was just sent: its answer cannot be there yet, so wait for
    /// readability before the first read instead of trying (saves a
    /// failing recv per request).
    awaiting: bool,
    /// The server said `Connection: close`; open a new connection.
    pub closed: bool,
}

/// What came back.
#[derive(Debug, Clone, Copy)]
pub struct Response {
    pub status: u16,
    pub body_len: usize,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            awaiting: false,
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            req: Vec::with_capacity(128),
            closed: false,
        })
    }

    /// Reads more bytes, keeping the unconsumed ones.
    async fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        } else if self.len == self.buf.len() {
            if self.pos == 0 {
                return Err(bad("response line or header longer than 64 KiB"));
            }
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if std::mem::take(&mut self.awaiting) {
            self.stream.readable().await?;
        }
        let n = loop {
            match self.stream.get_ref().read(&mut self.buf[self.len..]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stream.readable().await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.len += n;
        Ok(())
    }

    /// The next line, without its line ending, as a range of `buf` valid
    /// until the next read.
    async fn line(&mut self) -> io::Result<(usize, usize)> {
        let mut scanned = 0;
        loop {
            let from = self.pos + scanned;
            if let Some(i) = self.buf[from..self.len].iter().position(|&b| b == b'\n') {
                let start = self.pos;
                let mut end = from + i;
                self.pos = end + 1;
                if end > start && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                return Ok((start, end));
            }
            scanned = self.len - self.pos;
            self.fill().await?;
        }
    }

    /// Consumes `n` body bytes, copying them to `out` if given.
    async fn body(&mut self, mut n: usize, mut out: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            let take = n.min(self.len - self.pos);
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            }
            self.pos += take;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// `GET path`; the body is appended to `out` when given, else skipped.
    pub async fn get(&mut self, path: &str, mut out: Option<&mut Vec<u8>>) -> io::Result<Response> {
        self.req.clear();
        write!(self.req, "GET {path} HTTP/1.1\r\nHost: b\r\n\r\n")?;
        self.stream.write_all(&self.req).await?;
        self.awaiting = self.pos == self.len;

        let (s, e) = self.line().await?;
        let status = self.buf[s..e]
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let (s, e) = self.line().await?;
            if s == e {
                break;
            }
            let h = &self.buf[s..e];
            let Some(colon) = h.iter().position(|&b| b == b':') else {
                return Err(bad("bad header line"));
            };
            let name = &h[..colon];
            let value = std::str::from_utf8(&h[colon + 1..])
                .map_err(|_| bad("bad header value"))?
                .trim();
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(value.parse::<usize>().map_err(|_| bad("bad length"))?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                self.closed = value.eq_ignore_ascii_case("close");
            }
        }
        let mut body_len = 0;
        if chunked {
            loop {
                let (s, e) = self.line().await?;
                let size = std::str::from_utf8(&self.buf[s..e])
                    .ok()
                    .map(|l| l.split(';').next().unwrap_or("").trim())
                    .and_then(|h| usize::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        let (s, e) = self.line().await?;
                        if s == e {
                            break;
                        }
                    }
                    break;
                }
                self.body(size, out.as_deref_mut()).await?;
                body_len += size;
                let (s, e) = self.line().await?;
                if s != e {
                    return Err(bad("chunk not followed by CRLF"));
                }
            }
        } else if let Some(n) = length {
            self.body(n, out).await?;
            body_len = n;
        } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
            return Err(bad("response without length"));
        }
        Ok(Response { status, body_len })
    }
}

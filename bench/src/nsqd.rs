//! The nsqd side of the V1 TCP protocol, and a fleet of simulated nsqds.
//!
//! Each simulated nsqd is one connection: the magic `"  V1"`, IDENTIFY,
//! then REGISTERs written back to back while a reader collects the `OK`s
//! (true pipelining, so neither side's socket buffer can fill up and
//! deadlock), and PINGs.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use smol::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::Timer;

use crate::rt;

/// Who registers what. Producer `p` registers `topics` topics, each with
/// `channels` channels (none: topic only). `shared`: every producer
/// registers the same topics `t0..t{topics-1}`, so each `/lookup` answer
/// lists every producer; otherwise producer `p` owns its own topics.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub producers: usize,
    pub topics: usize,
    pub channels: usize,
    pub shared: bool,
}

impl Layout {
    /// How many distinct topic names exist.
    pub fn topic_space(&self) -> usize {
        if self.shared {
            self.topics
        } else {
            self.producers * self.topics
        }
    }

    /// The topic indexes producer `p` registers.
    pub fn producer_topics(&self, p: usize) -> Range<usize> {
        if self.shared {
            0..self.topics
        } else {
            p * self.topics..(p + 1) * self.topics
        }
    }

    /// REGISTER commands one producer sends.
    pub fn commands_per_producer(&self) -> usize {
        self.topics * self.channels.max(1)
    }

    /// Registrations in all: producers x topics x channels (x 1 with no
    /// channels).
    pub fn registrations(&self) -> usize {
        self.producers * self.commands_per_producer()
    }

    pub fn name(&self) -> &'static str {
        if self.shared {
            "shared"
        } else {
            "disjoint"
        }
    }

    /// Producer `p`'s REGISTER commands, back to back.
    pub fn commands(&self, p: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.commands_per_producer() * 24);
        for t in self.producer_topics(p) {
            if self.channels == 0 {
                out.extend_from_slice(format!("REGISTER t{t}\n").as_bytes());
            } else {
                for c in 0..self.channels {
                    out.extend_from_slice(format!("REGISTER t{t} c{c}\n").as_bytes());
                }
            }
        }
        out
    }
}

fn proto_err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One identified nsqd connection.
pub struct Nsqd {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl Nsqd {
    /// Connects, sends the magic and IDENTIFY, and reads the answer.
    pub async fn connect(addr: SocketAddr, idx: usize) -> io::Result<Nsqd> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Nsqd {
            stream,
            buf: vec![0; 16 * 1024],
            pos: 0,
            len: 0,
        };
        let body = format!(
            r#"{{"broadcast_address":"nsqd-{idx}.bench.invalid","hostname":"nsqd-{idx}","tcp_port":4150,"http_port":4151,"version":"1.3.0"}}"#
        );
        let mut msg = b"  V1IDENTIFY\n".to_vec();
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes());
        msg.extend_from_slice(body.as_bytes());
        conn.stream.write_all(&msg).await?;
        let reply = conn.frame().await?;
        if !reply.starts_with(b"{") {
            return Err(proto_err(format!(
                "IDENTIFY answered {:?}",
                String::from_utf8_lossy(reply)
            )));
        }
        Ok(conn)
    }

    async fn fill(&mut self, need: usize) -> io::Result<()> {
        while self.len - self.pos < need {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
            }
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
            let n = self.stream.read(&mut self.buf[self.len..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.len += n;
        }
        Ok(())
    }

    /// The next reply: 4-byte big-endian length, then the payload.
    async fn frame(&mut self) -> io::Result<&[u8]> {
        self.fill(4).await?;
        let n = u32::from_be_bytes(self.buf[self.pos..self.pos + 4].try_into().unwrap()) as usize;
        if n > 1 << 20 {
            return Err(proto_err(format!("reply of {n} bytes")));
        }
        self.fill(4 + n).await?;
        let start = self.pos + 4;
        self.pos = start + n;
        Ok(&self.buf[start..start + n])
    }

    async fn expect_ok(&mut self, what: &str) -> io::Result<()> {
        let reply = self.frame().await?;
        if reply != b"OK" {
            return Err(proto_err(format!(
                "{what} answered {:?}",
                String::from_utf8_lossy(reply)
            )));
        }
        Ok(())
    }

    /// Writes `commands` (`n` newline-terminated commands) while reading
    /// their `n` replies, each of which must be `OK`. With `rate`
    /// (commands per second), writes in chunks of 100 commands on that
    /// schedule instead of all at once.
    pub async fn pipeline(
        &mut self,
        commands: &[u8],
        n: usize,
        rate: Option<f64>,
    ) -> io::Result<()> {
        let mut writer = self.stream.clone();
        let write = async move {
            match rate {
                None => writer.write_all(commands).await?,
                Some(rate) => {
                    let start = Instant::now();
                    let mut from = 0;
                    for (k, chunk_end) in chunk_ends(commands, 100).into_iter().enumerate() {
                        let due = Duration::from_secs_f64(k as f64 * 100.0 / rate);
                        Timer::at(start + due).await;
                        writer.write_all(&commands[from..chunk_end]).await?;
                        from = chunk_end;
                    }
                }
            }
            writer.flush().await
        };
        let read = async {
            for _ in 0..n {
                self.expect_ok("REGISTER").await?;
            }
            Ok(())
        };
        future::try_zip(write, read).await.map(|_| ())
    }

    /// Sends one command and reads its `OK`.
    pub async fn command(&mut self, line: &str) -> io::Result<()> {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        self.expect_ok(line).await
    }

    /// One PING round trip.
    pub async fn ping(&mut self) -> io::Result<()> {
        self.stream.write_all(b"PING\n").await?;
        self.expect_ok("PING").await
    }
}

/// Ends (exclusive) of successive chunks of `lines` lines each.
fn chunk_ends(commands: &[u8], lines: usize) -> Vec<usize> {
    let mut seen = 0;
    let mut ends: Vec<usize> = commands
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .filter_map(|(i, _)| {
            seen += 1;
            (seen % lines == 0).then_some(i + 1)
        })
        .collect();
    if ends.last() != Some(&commands.len()) && !commands.is_empty() {
        ends.push(commands.len());
    }
    ends
}

/// Handshakes in flight at once when opening many connections: below the
/// 128-connection listen backlog that Rust's std (and so our server)
/// uses, so a burst of SYNs is not dropped (see bench/README.md).
pub const DEFAULT_BURST: usize = 100;

/// Opens `n` identified connections, at most `burst` handshakes at a
/// time. Producer indexes start at `first`.
pub async fn connect_many(
    addr: SocketAddr,
    first: usize,
    n: usize,
    burst: usize,
) -> io::Result<Vec<Nsqd>> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch = (n - i).min(burst.max(1));
        let tasks: Vec<_> = (i..i + batch)
            .map(|k| rt::spawn(Nsqd::connect(addr, first + k)))
            .collect();
        for t in tasks {
            out.push(t.await?);
        }
        i += batch;
    }
    Ok(out)
}

/// A connected, identified fleet of simulated nsqds.
pub struct Fleet {
    pub layout: Layout,
    conns: Vec<Nsqd>,
}

impl Fleet {
    pub async fn connect(addr: SocketAddr, layout: Layout) -> io::Result<Fleet> {
        Ok(Fleet {
            layout,
            conns: connect_many(addr, 0, layout.producers, DEFAULT_BURST).await?,
        })
    }

    /// Every producer pipelines its REGISTERs, all in parallel (at
    /// `rate` registrations per second in all, if given). Returns the time
    /// from the first write to the last `OK`.
    pub async fn register_all(&mut self, rate: Option<f64>) -> io::Result<Duration> {
        let per_producer_rate = rate.map(|r| r / self.conns.len().max(1) as f64);
        let per = self.layout.commands_per_producer();
        let commands: Vec<Vec<u8>> = (0..self.conns.len())
            .map(|p| self.layout.commands(p))
            .collect();
        let start = Instant::now();
        let tasks: Vec<_> = self
            .conns
            .drain(..)
            .zip(commands)
            .map(|(mut c, cmds)| {
                rt::spawn(async move {
                    c.pipeline(&cmds, per, per_producer_rate).await?;
                    io::Result::Ok(c)
                })
            })
            .collect();
        let mut first_err = None;
        for t in tasks {
            match t.await {
                Ok(c) => self.conns.push(c),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        let took = start.elapsed();
        match first_err {
            Some(e) => Err(e),
            None => Ok(took),
        }
    }

    /// One PING on every connection (nsqd's heartbeat), in parallel.
    pub async fn ping_all(&mut self) -> io::Result<()> {
        let tasks: Vec<_> = self
            .conns
            .drain(..)
            .map(|mut c| {
                rt::spawn(async move {
                    c.ping().await?;
                    io::Result::Ok(c)
                })
            })
            .collect();
        for t in tasks {
            self.conns.push(t.await?);
        }
        Ok(())
    }

    /// Closes every connection, back to back.
    pub fn close(self) {
        drop(self.conns);
    }
}

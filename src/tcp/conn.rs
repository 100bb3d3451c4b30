//! One nsqd connection: the handshake, the command loop and its reads and
//! writes, each bounded by the options.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use smol::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use super::codec::{self, echo, parse_command, Command, ProtocolError, MAGIC_V1};
use super::identified::Identified;
use super::identify::{self, parse_identify};
use crate::config::duration;
use crate::instance::State;
use crate::logging::{logf, Level};
use crate::metrics::{Bound, TcpCommand, TcpError};
use crate::registry::Producer;

type Stream = Arc<Async<std::net::TcpStream>>;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// Serves one accepted TCP connection until it closes or fails.
pub(crate) async fn serve(state: Arc<State>, stream: Stream, remote: SocketAddr) {
    let peer = canonical(remote);
    let remote = peer.to_string();
    logf!(state.log, Level::Info, "TCP: new client({remote})");
    let mut conn = Conn {
        state,
        stream,
        peer,
        remote,
        heard: Instant::now(),
        silence: None,
        input: Vec::new(),
        pos: 0,
        line: Vec::new(),
        out: Vec::new(),
        producer: None,
    };
    match conn.handshake().await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            logf!(
                conn.state.log,
                Level::Error,
                "failed to read protocol version - {}",
                e
            );
            return;
        }
    }
    let end = conn.command_loop().await;
    logf!(
        conn.state.log,
        Level::Info,
        "PROTOCOL(V1): [{}] exiting ioloop",
        conn.remote
    );
    match end {
        End::Eof => logf!(conn.state.log, Level::Info, "client({}) - EOF", conn.remote),
        End::Io(e) => logf!(
            conn.state.log,
            Level::Error,
            "client({}) - {}",
            conn.remote,
            e
        ),
        End::Fatal(e) => logf!(
            conn.state.log,
            Level::Error,
            "client({}) - {}",
            conn.remote,
            e
        ),
        End::Silent => {}
    }
    if let Some(identified) = conn.producer.take() {
        identified.remove_gradually().await;
        conn.state.trimmer.soon();
    }
}

/// Commands executed back to back before a connection yields its thread.
const YIELD_EVERY: u32 = 4;

/// IPv4 peers of a dual-stack listener show as `1.2.3.4:5`, as in Go.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

enum End {
    Eof,
    Io(io::Error),
    Fatal(ProtocolError),
    /// Closed for silence (already logged).
    Silent,
}

/// Why more input could not be had.
enum ReadError {
    Eof,
    TimedOut,
    /// Our replies could not be written within the limit: the peer reads
    /// nothing.
    Unread,
    Io(io::Error),
}

struct Conn {
    state: Arc<State>,
    stream: Stream,
    /// Where it connected from, IPv4 unmapped.
    peer: SocketAddr,
    /// `peer`, as logs and `remote_address` show it.
    remote: String,
    /// When its last bytes arrived.
    heard: Instant,
    /// The timer bounding its silence, and the limit it was set for.
    silence: Option<(Duration, Timer)>,
    /// Bytes read; those before `pos` are consumed.
    input: Vec<u8>,
    pos: usize,
    /// The command line being executed (reused).
    line: Vec<u8>,
    /// Replies not yet written.
    out: Vec<u8>,
    producer: Option<Identified>,
}

impl Conn {
    /// Reads the magic. Ok(false): refused or gone, already handled.
    async fn handshake(&mut self) -> io::Result<bool> {
        let deadline = self.state.opts.tcp_handshake_timeout;
        match self.fill_to(4, Some(deadline)).await {
            Ok(()) => {}
            Err(ReadError::Eof) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"));
            }
            Err(ReadError::TimedOut | ReadError::Unread) => {
                self.state.metrics.bound_hit(Bound::TcpHandshakeTimeout);
                logf!(
                    self.state.log,
                    Level::Error,
                    "client({}) sent no protocol magic within {}",
                    self.remote,
                    duration::format(deadline)
                );
                return Ok(false);
            }
            Err(ReadError::Io(e)) => return Err(e),
        }
        let magic = self.take(4);
        logf!(
            self.state.log,
            Level::Info,
            "CLIENT({}): desired protocol magic '{}'",
            self.remote,
            echo(&magic)
        );
        if magic != MAGIC_V1 {
            let code = TcpError::BadProtocol;
            self.state.metrics.tcp_error(code);
            codec::frame(&mut self.out, code.label().as_bytes());
            let _ = self.flush().await;
            logf!(
                self.state.log,
                Level::Error,
                "client({}) bad protocol magic '{}'",
                self.remote,
                echo(&magic)
            );
            return Ok(false);
        }
        Ok(true)
    }

    async fn command_loop(&mut self) -> End {
        let mut executed: u32 = 0;
        loop {
            while let Some(end) = self.buffered().iter().position(|&b| b == b'\n') {
                // A client pipelining thousands of commands would otherwise
                // keep this thread from everyone else (HTTP readers above
                // all) until its socket drained: take turns.
                executed = executed.wrapping_add(1);
                if executed % YIELD_EVERY == 0 {
                    future::yield_now().await;
                }
                if end > self.state.opts.max_command_size {
                    return self.fail(self.too_long()).await;
                }
                let mut line = std::mem::take(&mut self.line);
                line.clear();
                line.extend_from_slice(&self.buffered()[..end]);
                self.pos += end + 1;
                let result = self.exec(&line).await;
                self.line = line;
                if let Err(e) = result {
                    return self.fail(e).await;
                }
            }
            if self.buffered().len() > self.state.opts.max_command_size {
                return self.fail(self.too_long()).await;
            }
            match self.read_more(self.idle_limit()).await {
                Ok(()) => {}
                Err(ReadError::Eof) => return End::Eof,
                Err(ReadError::Io(e)) => return End::Io(e),
                Err(ReadError::TimedOut) => return self.silent(false),
                Err(ReadError::Unread) => return self.silent(true),
            }
        }
    }

    /// Closes a connection that was silent past its limit (or `unread`:
    /// read none of our replies), saying why.
    fn silent(&self, unread: bool) -> End {
        let silent = duration::format(self.heard.elapsed());
        let what = if unread {
            "read none of our replies"
        } else {
            "sent nothing"
        };
        // Closed before its registrations go, which may take a while.
        let _ = self.stream.get_ref().shutdown(std::net::Shutdown::Both);
        match &self.producer {
            None => {
                self.state.metrics.bound_hit(Bound::IdentifyTimeout);
                logf!(
                    self.state.log,
                    Level::Warn,
                    "client({}) closed: not identified and {} for {}",
                    self.remote,
                    if unread { what } else { "silent" },
                    silent
                );
            }
            Some(p) => {
                self.state
                    .metrics
                    .bound_hit(Bound::ProducerHeartbeatTimeout);
                let i = p.producer.info();
                logf!(
                    self.state.log,
                    Level::Warn,
                    "client({}) closed: nsqd {:?} (broadcast address {}, TCP {}, HTTP {}) {what} for {} (producer-heartbeat-timeout {}; nsqd PINGs every 15s): its host is gone or the nsqd hung; removing its registrations",
                    self.remote,
                    i.hostname,
                    p.producer.address(),
                    i.tcp_port,
                    i.http_port,
                    silent,
                    duration::format(self.state.opts.producer_heartbeat_timeout)
                );
            }
        }
        End::Silent
    }

    fn too_long(&self) -> ProtocolError {
        self.state.metrics.bound_hit(Bound::CommandSize);
        ProtocolError::invalid(format!(
            "command longer than {} bytes",
            self.state.opts.max_command_size
        ))
    }

    /// How long the connection may stay silent: until IDENTIFY, the
    /// identify timeout; after it, the heartbeat deadline (nsqd PINGs
    /// every 15 s; Go waits forever, so a vanished host's registrations
    /// stay until TCP keepalive gives up, and a hung nsqd's forever).
    fn idle_limit(&self) -> Option<Duration> {
        let limit = match self.producer {
            None => self.state.opts.identify_timeout,
            Some(_) => self.state.opts.producer_heartbeat_timeout,
        };
        (!limit.is_zero()).then_some(limit)
    }

    /// Sends the error, logs it, and ends the connection: every protocol
    /// error of lookupd is fatal.
    async fn fail(&mut self, e: ProtocolError) -> End {
        self.state.metrics.tcp_error(e.code);
        logf!(self.state.log, Level::Error, "[{}] - {}", self.remote, e);
        codec::frame(&mut self.out, &e.to_bytes());
        match self.flush().await {
            Ok(()) => End::Fatal(e),
            Err(io) => End::Io(io),
        }
    }

    async fn exec(&mut self, line: &[u8]) -> Result<(), ProtocolError> {
        let command = parse_command(line);
        self.state.metrics.tcp_command(match &command {
            Ok(Command::Ping) => TcpCommand::Ping,
            Ok(Command::Identify) => TcpCommand::Identify,
            Ok(Command::Register(_)) => TcpCommand::Register,
            Ok(Command::Unregister(_)) => TcpCommand::Unregister,
            Err(_) => TcpCommand::Invalid,
        });
        let reply: &[u8] = match command? {
            Command::Ping => {
                if let Some(p) = &self.producer {
                    let now = self.state.now();
                    let last = p.producer.last_update();
                    let timeout = self.state.opts.inactive_producer_timeout;
                    let was_inactive = !p.producer.is_active(now, timeout);
                    logf!(
                        self.state.log,
                        Level::Info,
                        "CLIENT({}): pinged (last ping {})",
                        self.remote,
                        duration::format(now.since(last))
                    );
                    p.producer.touch(now);
                    // Back from inactivity: it shows in /lookup again
                    // without a registry write, so waiters are told here.
                    if was_inactive {
                        self.state.changes.notify();
                    }
                }
                b"OK"
            }
            Command::Identify => {
                let reply = self.identify().await?;
                codec::frame(&mut self.out, &reply);
                return Ok(());
            }
            Command::Register(params) => {
                let producer = self.identified()?;
                let (topic, channel) = params.topic_channel()?;
                let added = self
                    .state
                    .write()
                    .register(producer.id(), &topic, channel.as_ref());
                for key in added {
                    logf!(
                        self.state.log,
                        Level::Info,
                        "DB: client({}) REGISTER {}",
                        self.remote,
                        key
                    );
                }
                b"OK"
            }
            Command::Unregister(params) => {
                let producer = self.identified()?;
                let (topic, channel) = params.topic_channel()?;
                let removed =
                    self.state
                        .write()
                        .unregister(producer.id(), &topic, channel.as_ref());
                for key in removed {
                    // Go warns when a topic UNREGISTER had to drop channels.
                    let unexpected = channel.is_none() && key.subkey() != "";
                    if unexpected {
                        logf!(
                            self.state.log,
                            Level::Warn,
                            "client({}) unexpected UNREGISTER {}",
                            self.remote,
                            key
                        );
                    } else {
                        logf!(
                            self.state.log,
                            Level::Info,
                            "DB: client({}) UNREGISTER {}",
                            self.remote,
                            key
                        );
                    }
                }
                b"OK"
            }
        };
        codec::frame(&mut self.out, reply);
        Ok(())
    }

    fn identified(&self) -> Result<Arc<Producer>, ProtocolError> {
        self.producer
            .as_ref()
            .map(|p| p.producer.clone())
            .ok_or_else(|| ProtocolError::invalid("client must IDENTIFY"))
    }

    async fn identify(&mut self) -> Result<Vec<u8>, ProtocolError> {
        if self.producer.is_some() {
            return Err(ProtocolError::invalid("cannot IDENTIFY again"));
        }
        let limit = self.idle_limit();
        self.fill_to(4, limit)
            .await
            .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to read body size"))?;
        let b = self.buffered();
        let header = [b[0], b[1], b[2], b[3]];
        let len = codec::identify_body_len(header, self.state.opts.max_identify_body_size)
            .inspect_err(|_| self.state.metrics.bound_hit(Bound::IdentifyBodySize))?;
        self.pos += 4;
        self.fill_to(len, limit)
            .await
            .map_err(|_| ProtocolError::bad_body("IDENTIFY failed to read body"))?;
        let body = self.take(len);
        let info = parse_identify(&body, self.remote.clone())?;
        logf!(
            self.state.log,
            Level::Info,
            "CLIENT({}): IDENTIFY Address:{} TCP:{} HTTP:{} Version:{}",
            self.remote,
            info.broadcast_address,
            info.tcp_port,
            info.http_port,
            info.version
        );
        let now = self.state.now();
        let remote = self.peer.ip();
        let answer = self.state.reach.answer_at_identify(&info, remote);
        let producer = self.state.write().identify_answering(info, now, answer);
        self.state.reach.check(&self.state, &producer, remote);
        logf!(
            self.state.log,
            Level::Info,
            "DB: client({}) REGISTER category:client key: subkey:",
            self.remote
        );
        self.producer = Some(Identified {
            state: self.state.clone(),
            producer,
        });
        Ok(identify::reply(
            &self.state.opts.broadcast_address,
            &self.state.hostname,
            self.state.tcp_port,
            self.state.http_port,
        ))
    }

    /// Input not yet consumed.
    fn buffered(&self) -> &[u8] {
        &self.input[self.pos..]
    }

    /// Consumes and returns `n` buffered bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let bytes = self.buffered()[..n].to_vec();
        self.pos += n;
        bytes
    }

    /// Reads until at least `n` bytes are buffered.
    async fn fill_to(&mut self, n: usize, limit: Option<Duration>) -> Result<(), ReadError> {
        while self.buffered().len() < n {
            self.read_more(limit).await?;
        }
        Ok(())
    }

    /// Writes pending replies, then waits for and reads more input; both
    /// within `limit` (a peer that reads nothing cannot hold the
    /// connection by leaving replies unsent).
    async fn read_more(&mut self, limit: Option<Duration>) -> Result<(), ReadError> {
        // The write is bounded too; its timer is made only when the write
        // has to wait (a peer that reads nothing), so the usual path
        // touches no timer.
        let flushed = future::or(async { Some(self.flush().await) }, async {
            match limit {
                Some(d) => {
                    Timer::after(d).await;
                }
                None => future::pending::<()>().await,
            }
            None
        })
        .await;
        match flushed {
            None => return Err(ReadError::Unread),
            Some(Err(e)) => return Err(ReadError::Io(e)),
            Some(Ok(())) => {}
        }
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        if self.input.is_empty() && self.input.capacity() > 0 {
            // Idle connections hold no buffer.
            self.input = Vec::new();
        }
        self.wait_readable(limit).await?;
        let len = self.input.len();
        self.input.resize(len + READ_CHUNK, 0);
        let read = (&*self.stream).read(&mut self.input[len..]).await;
        match read {
            Ok(0) => {
                self.input.truncate(len);
                Err(ReadError::Eof)
            }
            Ok(n) => {
                self.input.truncate(len + n);
                self.heard = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.input.truncate(len);
                Err(ReadError::Io(e))
            }
        }
    }

    /// Waits for input, at most `limit` after the last bytes heard. One
    /// timer serves the connection's whole life: armed once, and moved on
    /// only when it fires early (bytes came since), so a read costs no
    /// timer of its own (a PING round trip would otherwise register and
    /// remove one in the reactor).
    async fn wait_readable(&mut self, limit: Option<Duration>) -> Result<(), ReadError> {
        let Some(limit) = limit else {
            return self.stream.readable().await.map_err(ReadError::Io);
        };
        loop {
            let due = self.heard + limit;
            let timer = match &mut self.silence {
                Some((armed, timer)) if *armed == limit => timer,
                slot => &mut slot.insert((limit, Timer::at(due))).1,
            };
            let ready = future::or(async { Some(self.stream.readable().await) }, async {
                (&mut *timer).await;
                None
            })
            .await;
            match ready {
                Some(r) => return r.map_err(ReadError::Io),
                // Fired: silent for `limit`, or heard from since it was set.
                None if Instant::now() >= due => return Err(ReadError::TimedOut),
                None => timer.set_at(due),
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = (&*self.stream).write_all(&self.out).await;
        self.out.clear();
        if self.out.capacity() > READ_CHUNK {
            self.out = Vec::new();
        }
        result
    }
}

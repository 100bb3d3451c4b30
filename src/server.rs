//! Binding and serving: the runtime-agnostic heart of an instance.
//!
//! [`Lookupd::bind`] opens every listener (TCP, HTTP, and HTTPS when
//! configured) up front, so a bad address or a
//! port in use is an error before anything is served, and the real ports
//! (port 0 allowed) are known. [`Lookupd::run`] then serves until a
//! shutdown future completes. It owns an [`Executor`] for its connection
//! tasks and drives it itself, so it runs under any executor's `block_on`
//! (smol, async-std, tokio, `futures::executor`); library code never uses a
//! global executor. Other threads may help drive the same executor (see
//! [`Lookupd::executor`]); `crate::handle` does.
//!
//! When `run` returns and the last holder of the executor drops it, every
//! connection task is dropped: sockets close and the connections'
//! registrations are removed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use async_net::{TcpListener, TcpStream};
use futures_rustls::TlsAcceptor;
use smol::future::{self, FutureExt};
use smol::Executor;

use crate::logf;
use crate::logging::{Level, Logger};
use crate::metrics::Bound;
use crate::options::{listen_addr, OptionError, Options};
use crate::state::State;
use crate::{access, http, tcp, tls};

/// Why an instance could not start.
#[derive(Debug)]
pub enum StartError {
    /// An option is invalid.
    Options(OptionError),
    /// A listener could not be opened.
    Bind {
        /// The address as configured.
        address: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A serving thread could not be started.
    Thread(io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Options(e) => e.fmt(f),
            StartError::Bind { address, source } => {
                write!(
                    f,
                    "listen ({address}) failed - {}",
                    os_error_text(address, source)
                )
            }
            StartError::Thread(e) => write!(f, "failed to start a serving thread - {e}"),
        }
    }
}

/// A bind error as Go words it (`listen tcp 0.0.0.0:4160: bind: address
/// already in use`), not as Rust does (`Address already in use (os error
/// 98)`): operators and their scripts look for Go's words.
fn os_error_text(address: &str, e: &io::Error) -> String {
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let text = e.to_string();
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = text.chars();
    let lower: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("listen tcp {address}: bind: {lower}")
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Options(e) => Some(e),
            StartError::Bind { source, .. } => Some(source),
            StartError::Thread(e) => Some(e),
        }
    }
}

impl From<OptionError> for StartError {
    fn from(e: OptionError) -> Self {
        StartError::Options(e)
    }
}

/// Connection counters of one protocol, kept outside any lock.
#[derive(Debug, Default)]
pub struct ProtoStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections accepted since start.
    pub accepted: AtomicU64,
    /// Connections refused because the limit was reached.
    pub refused_limit: AtomicU64,
    /// Connections refused because the peer is not on the allow-list.
    pub refused_network: AtomicU64,
}

/// Connection counters.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// nsqd connections.
    pub tcp: ProtoStats,
    /// HTTP connections.
    pub http: ProtoStats,
    /// HTTPS connections.
    pub https: ProtoStats,
    /// Failed accept() calls.
    pub accept_errors: AtomicU64,
    /// Connection tasks that panicked (and were contained).
    pub panics: AtomicU64,
}

/// A bound, not yet serving, instance.
pub struct Lookupd {
    state: Arc<State>,
    tcp: TcpListener,
    http: TcpListener,
    https: Option<(TcpListener, TlsAcceptor)>,
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    executor: Arc<Executor<'static>>,
}

impl Lookupd {
    /// Validates the options and opens the listeners, logging to stderr.
    pub fn bind(opts: Options) -> Result<Lookupd, StartError> {
        let log = Logger::stderr(opts.log_level, &opts.log_prefix);
        Self::bind_with_logger(opts, log)
    }

    /// As [`Lookupd::bind`], with a logger of the caller's choosing.
    pub fn bind_with_logger(opts: Options, log: Logger) -> Result<Lookupd, StartError> {
        opts.validate()?;
        let token = opts.auth_token()?;
        let tls = if opts.https_address.is_empty() {
            None
        } else {
            Some(
                tls::acceptor(&opts.tls_cert, &opts.tls_key).map_err(|message| {
                    StartError::Options(OptionError {
                        key: "tls_cert".into(),
                        message,
                    })
                })?,
            )
        };
        // As Go, the line `-version` prints.
        logf!(log, Level::Info, "{}", crate::cli::version_line());
        let tcp = listen(&opts.tcp_address)?;
        let http = listen(&opts.http_address)?;
        let tcp_addr = local_addr(&tcp, &opts.tcp_address)?;
        let http_addr = local_addr(&http, &opts.http_address)?;
        let (https, https_addr) = match tls {
            Some(acceptor) => {
                let l = listen(&opts.https_address)?;
                let addr = local_addr(&l, &opts.https_address)?;
                (Some((l, acceptor)), Some(addr))
            }
            None => (None, None),
        };
        let mut state = State::new(opts, log, tcp_addr.port(), http_addr.port());
        state.auth_token = token;
        Ok(Lookupd {
            state: Arc::new(state),
            tcp,
            http,
            https,
            tcp_addr,
            http_addr,
            https_addr,
            executor: Arc::new(Executor::new()),
        })
    }

    /// The address the TCP listener is bound to.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The address the HTTP listener is bound to.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The address the HTTPS listener is bound to, if HTTPS is on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The instance's shared state: its registry and its answers.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The executor connection tasks run on. Other threads may run it
    /// (`executor.run(stop)`) to serve connections in parallel.
    pub fn executor(&self) -> Arc<Executor<'static>> {
        self.executor.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting. Connection
    /// tasks end when the executor is dropped by its last holder (at the
    /// end of this future, if nobody else holds it).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Lookupd {
            state,
            tcp,
            http,
            https,
            tcp_addr,
            http_addr,
            https_addr,
            executor,
        } = self;
        logf!(state.log, Level::Info, "TCP: listening on {tcp_addr}");
        logf!(state.log, Level::Info, "HTTP: listening on {http_addr}");
        if let Some(addr) = https_addr {
            logf!(state.log, Level::Info, "HTTPS: listening on {addr}");
        }
        let ex = &executor;
        let accepting = future::zip(
            future::zip(
                accept_loop(&state, &tcp, ex, Protocol::Tcp),
                accept_loop(&state, &http, ex, Protocol::Http),
            ),
            async {
                match &https {
                    Some((l, acceptor)) => {
                        accept_loop(&state, l, ex, Protocol::Https(acceptor.clone())).await
                    }
                    None => future::pending().await,
                }
            },
        );
        ex.run(future::or(shutdown, async {
            future::zip(accepting, state.trimmer.run()).await;
        }))
        .await;
        logf!(state.log, Level::Info, "TCP: closing {tcp_addr}");
        logf!(state.log, Level::Info, "HTTP: closing {http_addr}");
        if let Some(addr) = https_addr {
            logf!(state.log, Level::Info, "HTTPS: closing {addr}");
        }
    }
}

/// The listen backlog asked for; the kernel caps it at `somaxconn`.
const LISTEN_BACKLOG: libc::c_int = 4096;

fn listen(address: &str) -> Result<TcpListener, StartError> {
    let bind_err = |source| StartError::Bind {
        address: address.to_owned(),
        source,
    };
    let addr = listen_addr(address)
        .map_err(|m| bind_err(io::Error::new(io::ErrorKind::InvalidInput, m)))?;
    let std_listener = bind_dual_stack(addr).map_err(bind_err)?;
    // std listens with a backlog of 128; Go uses the system maximum. When
    // a fleet of nsqd reconnects at once (after a restart), 128 drops SYNs
    // and costs them a 1 s retransmission. Listening again on a listening
    // socket only changes its backlog (Linux and the BSDs allow it).
    // SAFETY: the descriptor is a valid, bound socket we own.
    let _ = unsafe {
        libc::listen(
            std::os::fd::AsRawFd::as_raw_fd(&std_listener),
            LISTEN_BACKLOG,
        )
    };
    TcpListener::try_from(std_listener).map_err(bind_err)
}

/// Binds `addr`; for `0.0.0.0` (and `:port`), as Go does, all of IPv6 too:
/// a dual-stack `[::]` socket that also takes IPv4 clients (seen as
/// `1.2.3.4`, the mapped form is undone where addresses are shown). Where
/// the host has no IPv6, or its sockets are IPv6-only, that is `0.0.0.0`
/// alone.
fn bind_dual_stack(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    if addr.ip() == std::net::Ipv4Addr::UNSPECIFIED {
        let v6 = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), addr.port());
        match std::net::TcpListener::bind(v6) {
            Ok(l) if !v6_only(&l) => return Ok(l),
            // In use is in use for IPv4 too: say so rather than bind half.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
            _ => {}
        }
    }
    std::net::TcpListener::bind(addr)
}

/// Whether an IPv6 socket refuses IPv4 peers (`net.ipv6.bindv6only`).
fn v6_only(l: &std::net::TcpListener) -> bool {
    let mut v: libc::c_int = 1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket, and `v`/`len` describe a c_int we own.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(l),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc != 0 || v != 0
}

fn local_addr(l: &TcpListener, address: &str) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|source| StartError::Bind {
        address: address.to_owned(),
        source,
    })
}

#[derive(Clone)]
enum Protocol {
    Tcp,
    Http,
    Https(TlsAcceptor),
}

impl Protocol {
    fn name(&self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Http => "HTTP",
            Protocol::Https(_) => "HTTPS",
        }
    }

    fn stats<'a>(&self, c: &'a ConnStats) -> &'a ProtoStats {
        match self {
            Protocol::Tcp => &c.tcp,
            Protocol::Http => &c.http,
            Protocol::Https(_) => &c.https,
        }
    }
}

/// Decrements an open-connection gauge when a connection task ends,
/// however it ends.
struct OpenGuard<'a>(&'a AtomicUsize);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    state: &Arc<State>,
    listener: &TcpListener,
    ex: &Executor<'static>,
    proto: Protocol,
) {
    let name = proto.name();
    let stats = proto.stats(&state.conns);
    let (limit, allow) = match proto {
        Protocol::Tcp => (state.opts.max_tcp_connections, &state.opts.tcp_allow),
        _ => (state.opts.max_http_connections, &state.opts.http_allow),
    };
    // While accept keeps failing (out of descriptors, say), one warning is
    // logged when it starts and one line when it recovers.
    let mut failing = false;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                state.conns.accept_errors.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    logf!(
                        state.log,
                        Level::Warn,
                        "{name}: temporary Accept() failure - {e}"
                    );
                }
                failing = true;
                accept_failed(&e).await;
                continue;
            }
        };
        if failing {
            failing = false;
            logf!(state.log, Level::Warn, "{name}: accepting again");
        }
        if !access::allowed(allow, remote.ip()) {
            stats.refused_network.fetch_add(1, Ordering::Relaxed);
            logf!(
                state.log,
                Level::Warn,
                "{name}: refused client({remote}): not in the allowed networks"
            );
            continue;
        }
        if stats.open.load(Ordering::Relaxed) >= limit {
            stats.refused_limit.fetch_add(1, Ordering::Relaxed);
            logf!(
                state.log,
                Level::Warn,
                "{name}: refused client({remote}): {limit} connections open (the limit)"
            );
            continue;
        }
        stats.open.fetch_add(1, Ordering::Relaxed);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let conn_state = state.clone();
        let proto = proto.clone();
        let task = async move {
            let guard_state = conn_state.clone();
            let _open = OpenGuard(&proto.stats(&guard_state.conns).open);
            // Boxed per protocol, so an idle nsqd connection's task is as
            // small as its own future, not as large as a TLS one.
            let serve: Pin<Box<dyn Future<Output = ()> + Send + '_>> = match &proto {
                Protocol::Tcp => {
                    let stream: Arc<Async<std::net::TcpStream>> = stream.into();
                    Box::pin(tcp::serve(conn_state.clone(), stream, remote))
                }
                Protocol::Http => Box::pin(http::serve(conn_state.clone(), stream, remote)),
                Protocol::Https(acceptor) => {
                    Box::pin(serve_https(&conn_state, acceptor, stream, remote))
                }
            };
            contained(&conn_state, name, remote, serve).await;
        };
        ex.spawn(task).detach();
    }
}

/// The TLS handshake, bounded by the header timeout, then HTTP as usual.
async fn serve_https(
    state: &Arc<State>,
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let handshake = future::or(async { Some(acceptor.accept(stream).await) }, async {
        Timer::after(state.opts.http_header_timeout).await;
        None
    })
    .await;
    match handshake {
        Some(Ok(tls)) => http::serve(state.clone(), tls, remote).await,
        Some(Err(e)) => logf!(
            state.log,
            Level::Debug,
            "HTTPS: client({remote}) - TLS handshake failed: {e}"
        ),
        None => {
            state.metrics.bound_hit(Bound::HttpHeaderTimeout);
            logf!(
                state.log,
                Level::Debug,
                "HTTPS: client({remote}) - TLS handshake timed out"
            );
        }
    }
}

/// Runs one connection's future so that a panic in it ends that
/// connection only: it is logged and counted, and the executor thread goes
/// on serving everyone else. (The connection's registrations are removed
/// by its guard while unwinding.)
async fn contained(state: &State, name: &str, remote: SocketAddr, serve: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(serve).catch_unwind().await {
        state.conns.panics.fetch_add(1, Ordering::Relaxed);
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        logf!(
            state.log,
            Level::Error,
            "{name}: client({remote}) - connection task panicked: {what}"
        );
    }
}

/// Waits before accepting again. Running out of descriptors or memory is
/// waited out without spinning (the pending connection stays in the
/// backlog, so retrying at once would fail at once) until connections close.
async fn accept_failed(e: &io::Error) {
    let exhausted = matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    let pause = if exhausted {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(5)
    };
    Timer::after(pause).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn quiet() -> Options {
        Options {
            tcp_address: "127.0.0.1:0".into(),
            http_address: "127.0.0.1:0".into(),
            log_level: Level::Fatal,
            ..Options::default()
        }
    }

    fn ping(addr: SocketAddr) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_panicking_connection_task_does_not_take_the_server_down() {
        let server = Lookupd::bind(quiet()).unwrap();
        let (state, ex, http_addr) = (
            server.state().clone(),
            server.executor(),
            server.http_addr(),
        );
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            async_io::block_on(server.run(async move {
                let _ = stopped.recv().await;
            }))
        });
        let remote: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for _ in 0..3 {
            let st = state.clone();
            ex.spawn(async move {
                contained(&st, "TCP", remote, async { panic!("injected fault") }).await;
            })
            .detach();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while state.conns.panics.load(Ordering::Relaxed) < 3 {
            assert!(std::time::Instant::now() < deadline, "panics not contained");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(ping(http_addr).ends_with("OK"), "still serving");
        stop.close();
        thread.join().expect("serving thread ended normally");
    }
}

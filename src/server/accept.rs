//! Accepting connections: the allow-lists and connection limits checked
//! at accept, a task per connection on the instance's executor, and every
//! connection's future run so that a panic in it ends that connection
//! only.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use async_net::{TcpListener, TcpStream};
use futures_rustls::TlsAcceptor;
use smol::future::{self, FutureExt};
use smol::Executor;

use crate::logging::{logf, Level};
use crate::metrics::{Bound, ConnStats, ProtoStats};
use crate::instance::State;
use crate::{access, http, os, tcp};

/// TCP keepalive idle time and probe interval on accepted connections: Go's
/// (`net.ListenConfig`'s default since Go 1.13).
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub(super) enum Protocol {
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

pub(super) async fn accept_loop(
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
        // Go's period: a peer whose host vanished is given up by the
        // kernel after about 2.5 minutes even if nothing else notices.
        if let Err(e) = os::keepalive(&stream, KEEPALIVE, KEEPALIVE) {
            logf!(
                state.log,
                Level::Debug,
                "{name}: client({remote}) - cannot turn on keepalive: {e}"
            );
        }
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
                Protocol::Http => Box::pin(http::serve(conn_state.clone(), stream, remote, true)),
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
        Some(Ok(tls)) => http::serve(state.clone(), tls, remote, false).await,
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
    use crate::config::Options;
    use crate::server::Lookupd;
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

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
//! `Lookupd::executor`); `crate::handle` does. Opening the sockets is
//! `listen`'s job; accepting, refusing and containing connections is
//! `accept`'s.
//!
//! When `run` returns and the last holder of the executor drops it, every
//! connection task is dropped: sockets close and the connections'
//! registrations are removed.

mod accept;
mod listen;
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use crate::clock::Timestamp;

use async_net::TcpListener;
use futures_rustls::TlsAcceptor;
use smol::future;
use smol::Executor;

use crate::bootstrap;
use crate::config::{OptionError, Options};
use crate::logging::{logf, Level, Logger};
use crate::persist;
use crate::queries::Queries;
use crate::instance::clock::Clock;
use crate::instance::State;
use crate::version::version_line;
use accept::{accept_loop, Protocol};
use listen::{bind_error_text, listen, local_addr};

/// Why an instance could not start.
#[derive(Debug)]
#[non_exhaustive]
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
                    bind_error_text(address, source)
                )
            }
            StartError::Thread(e) => write!(f, "failed to start a serving thread - {e}"),
        }
    }
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

/// A bound, not yet serving, instance.
pub struct Lookupd {
    state: Arc<State>,
    /// When the producers restored from the snapshot stop being answered
    /// without their nsqd, if any were restored.
    grace_until: Option<Timestamp>,
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
        Self::bind_with_clock(opts, log, Clock::system())
    }

    /// As [`Lookupd::bind_with_logger`], reading the time from `clock`
    /// (for this repository's tests: a manual clock).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn bind_with_clock(opts: Options, log: Logger, clock: Clock) -> Result<Lookupd, StartError> {
        Self::bind_inner(opts, log, clock)
    }

    #[cfg(not(feature = "internals"))]
    fn bind_with_clock(opts: Options, log: Logger, clock: Clock) -> Result<Lookupd, StartError> {
        Self::bind_inner(opts, log, clock)
    }

    fn bind_inner(opts: Options, log: Logger, clock: Clock) -> Result<Lookupd, StartError> {
        opts.validate()?;
        let token = opts.auth_token()?;
        let bootstrap_token = opts.bootstrap_token()?;
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
        if !opts.data_path.is_empty() {
            persist::file::prepare(Path::new(&opts.data_path)).map_err(|message| {
                StartError::Options(OptionError {
                    key: "data_path".into(),
                    message,
                })
            })?;
        }
        // As Go, the line `-version` prints.
        logf!(log, Level::Info, "{}", version_line());
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
        let mut state = State::with_clock(opts, log, tcp_addr.port(), http_addr.port(), clock);
        state.auth_token = token;
        // Before serving: restored producers are answered from the first
        // request on. The snapshot first, then the peers' views merged in
        // (a producer both know is one producer).
        let restored = if state.opts.data_path.is_empty() {
            None
        } else {
            persist::restore(&state)
        };
        let booted = bootstrap::bootstrap(&state, &bootstrap_token);
        let grace_until = restored.max(booted);
        Ok(Lookupd {
            grace_until,
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

    /// The instance's answers, without HTTP; usable before, while and
    /// after it serves.
    pub fn queries(&self) -> Queries {
        Queries::new(self.state.clone())
    }

    /// The instance's shared state (for this repository's tests).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    #[cfg(not(feature = "internals"))]
    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The executor connection tasks run on. Other threads may run it
    /// (`executor.run(stop)`) to serve connections in parallel.
    pub(crate) fn executor(&self) -> Arc<Executor<'static>> {
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
            grace_until,
        } = self;
        let writer = if state.opts.data_path.is_empty() {
            None
        } else {
            match persist::Writer::start(state.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    logf!(
                        state.log,
                        Level::Error,
                        "SNAPSHOT: cannot start the writer thread - {e}; no snapshots will be written"
                    );
                    None
                }
            }
        };
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
        let grace = async {
            if let Some(until) = grace_until {
                persist::end_grace(state.clone(), until).await;
            }
        };
        ex.run(future::or(shutdown, async {
            future::zip(accepting, future::zip(state.trimmer.run(), grace)).await;
        }))
        .await;
        // The last snapshot, while the connections (closed when the
        // executor goes) still hold their registrations.
        if let Some(w) = writer {
            w.stop();
        }
        // Waits for producers end here: nothing will register any more.
        state.changes.close();
        state.reach.close();
        logf!(state.log, Level::Info, "TCP: closing {tcp_addr}");
        logf!(state.log, Level::Info, "HTTP: closing {http_addr}");
        if let Some(addr) = https_addr {
            logf!(state.log, Level::Info, "HTTPS: closing {addr}");
        }
    }
}

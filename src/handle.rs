//! A running instance on threads of its own: what embedding hosts and the
//! binary use.
//!
//! [`Handle::start`] binds, then starts `threads` named threads that drive
//! the instance's executor; it returns once the ports are known.
//! [`Handle::stop`] signals shutdown, which closes every connection, and
//! joins every thread it started. Dropping a handle stops it too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use smol::future;

use crate::config::Options;
use crate::logging::Logger;
use crate::server::{Lookupd, StartError};
use crate::instance::State;
use crate::instance::wait::WaitError;
use crate::queries::Queries;

/// A running instance.
#[derive(Debug)]
pub struct Handle {
    state: Arc<State>,
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    stop: smol::channel::Sender<()>,
    /// The serving threads, joined by the first shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Handle {
    /// Starts an instance logging to stderr.
    ///
    /// ```
    /// use lookupd::{Handle, Options};
    /// let mut opts = Options::default();
    /// opts.tcp_address = "127.0.0.1:0".into();
    /// opts.http_address = "127.0.0.1:0".into();
    /// opts.log_level = lookupd::Level::Error;
    /// let handle = Handle::start(opts).unwrap();
    /// assert_ne!(handle.http_addr().port(), 0);
    /// handle.stop();
    /// ```
    pub fn start(opts: Options) -> Result<Handle, StartError> {
        let log = Logger::stderr(opts.log_level, &opts.log_prefix);
        Self::start_with_logger(opts, log)
    }

    /// As [`Handle::start`], with a logger of the caller's choosing.
    pub fn start_with_logger(opts: Options, log: Logger) -> Result<Handle, StartError> {
        Self::start_server(opts.threads, Lookupd::bind_with_logger(opts, log)?)
    }

    /// As [`Handle::start_with_logger`], reading the time from `clock` (for
    /// this repository's tests: a manual clock, moved with
    /// `state().advance_clock`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn start_with_clock(
        opts: Options,
        log: Logger,
        clock: crate::instance::clock::Clock,
    ) -> Result<Handle, StartError> {
        Self::start_server(opts.threads, Lookupd::bind_with_clock(opts, log, clock)?)
    }

    fn start_server(threads: usize, server: Lookupd) -> Result<Handle, StartError> {
        let threads = threads.max(1);
        let state = server.state().clone();
        let (tcp_addr, http_addr, https_addr) =
            (server.tcp_addr(), server.http_addr(), server.https_addr());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let handle = Handle {
            state,
            tcp_addr,
            http_addr,
            https_addr,
            stop,
            threads: Mutex::new(Vec::with_capacity(threads)),
        };
        for i in 1..threads {
            let ex = server.executor();
            let stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("lookupd-{i}"))
                .spawn(move || {
                    async_io::block_on(ex.run(async {
                        let _ = stopped.recv().await;
                    }))
                })
                .map_err(StartError::Thread)?;
            handle.threads.lock().push(thread);
        }
        let thread = std::thread::Builder::new()
            .name("lookupd-0".into())
            .spawn(move || {
                async_io::block_on(server.run(async {
                    let _ = stopped.recv().await;
                }))
            })
            .map_err(StartError::Thread)?;
        handle.threads.lock().push(thread);
        Ok(handle)
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound HTTPS address, if HTTPS is served.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The instance's answers, without HTTP.
    pub fn queries(&self) -> Queries {
        Queries::new(self.state.clone())
    }

    /// The instance's state (for this repository's tests).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    #[cfg(not(feature = "internals"))]
    #[cfg_attr(not(feature = "capi"), allow(dead_code))]
    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Blocks until `GET /lookup?topic=` lists at least `min` producers and
    /// returns that body, or fails after `timeout` ([`WaitError::Timeout`]).
    /// Woken by registry changes, never by polling.
    ///
    /// ```
    /// # use lookupd::{Handle, Options};
    /// # use std::time::Duration;
    /// # let mut opts = Options::default();
    /// # opts.tcp_address = "127.0.0.1:0".into();
    /// # opts.http_address = "127.0.0.1:0".into();
    /// # opts.log_level = lookupd::Level::Error;
    /// # let handle = Handle::start(opts).unwrap();
    /// let waited = handle.wait_lookup("orders", 1, Duration::from_millis(50));
    /// assert_eq!(waited, Err(lookupd::WaitError::Timeout));
    /// # handle.stop();
    /// ```
    pub fn wait_lookup(
        &self,
        topic: &str,
        min: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, WaitError> {
        async_io::block_on(self.state.wait_lookup_for(
            topic.as_bytes(),
            min,
            timeout,
            future::pending::<()>(),
        ))
    }

    /// Stops serving, closes every connection and joins every thread.
    pub fn stop(self) {
        self.shutdown();
    }

    /// What [`Handle::stop`] does, through a shared reference: stops
    /// serving, closes every connection, ends every wait for producers
    /// ([`WaitError::Stopped`]) and joins every thread. The handle stays
    /// usable for queries, which answer from what is left. Any thread may
    /// call it, any number of times; later calls return once the first
    /// has finished.
    pub fn shutdown(&self) {
        self.stop.close();
        self.state.changes.close();
        let mut threads = self.threads.lock();
        for t in threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

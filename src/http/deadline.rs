//! Read deadlines of one HTTP connection: how long a client may take to
//! send a request head, and how long an idle keep-alive connection is kept.
//!
//! hyper has a single timer for this, its header read timeout, and it runs
//! from the moment hyper starts waiting for a request head, so it also
//! closes every keep-alive connection that sits idle that long. Go's
//! nsqlookupd bounds neither, and clients pool connections (nsqadmin keeps
//! idle ones for 90 s): closing them at a short header deadline makes a
//! pooled request race the close, and a POST lost that way is not retried.
//! This wrapper tells the two cases apart. The service marks where each
//! request begins and ends ([`Activity`]); bytes received after a request
//! ended mean a head is arriving (`http_header_timeout`, counted from its
//! first byte), none mean the connection is idle (`http_idle_timeout`).
//!
//! One timer per connection, moved lazily: every request pushes the idle
//! deadline forward, but the timer is only re-armed when it fires early,
//! so a busy keep-alive connection costs no timer work per request.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use smol::future::Future;
use smol::io::{AsyncRead, AsyncWrite};

/// What the service and the stream know of each other: where the
/// connection's requests are, and which deadline, if any, closed it.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Request starts and ends: odd while a request is being handled (its
    /// body, if any, has a deadline of its own).
    count: AtomicU64,
    /// 0, or 1 + the `Expired` that closed the connection.
    expired: AtomicU8,
}

impl Activity {
    /// A request head has been parsed and is being handled.
    pub(crate) fn begin(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Its response has been produced.
    pub(crate) fn end(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Which deadline closed the connection, if one did.
    pub(crate) fn expired(&self) -> Option<Expired> {
        match self.expired.load(Ordering::Relaxed) {
            1 => Some(Expired::Header),
            2 => Some(Expired::Idle),
            _ => None,
        }
    }

    fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn set_expired(&self, which: Expired) {
        let v = match which {
            Expired::Header => 1,
            Expired::Idle => 2,
        };
        self.expired.store(v, Ordering::Relaxed);
    }
}

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// A request head did not arrive in time.
    Header,
    /// The connection sat idle between requests too long.
    Idle,
}

/// A stream whose reads fail with `TimedOut` once a deadline passes.
pub(crate) struct Deadlines<S> {
    inner: S,
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// The `activity` count last seen.
    seen: u64,
    /// When the first byte of the request head being received arrived.
    head_since: Option<Instant>,
    /// When the connection last became idle.
    idle_since: Instant,
    timer: Option<(Timer, Instant)>,
    /// Set when a deadline closed the connection.
    expired: Option<Expired>,
}

impl<S> Deadlines<S> {
    /// Wraps `inner`, whose requests `activity` follows.
    pub(crate) fn new(
        inner: S,
        activity: Arc<Activity>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Deadlines {
            inner,
            activity,
            header_timeout,
            idle_timeout,
            seen: 0,
            head_since: None,
            idle_since: Instant::now(),
            timer: None,
            expired: None,
        }
    }

    /// Catches up with the service: a request began or ended since the
    /// last read. Returns whether one is being handled now.
    fn sync(&mut self, now: Instant) -> bool {
        let count = self.activity.get();
        if count != self.seen {
            self.seen = count;
            self.head_since = None;
            self.idle_since = now;
        }
        count % 2 == 1
    }

    /// Arms (or lazily moves) the timer for `deadline`; true once it has
    /// passed.
    fn wait_until(&mut self, deadline: Instant, now: Instant, cx: &mut Context<'_>) -> bool {
        if now >= deadline {
            return true;
        }
        let (timer, armed) = self
            .timer
            .get_or_insert_with(|| (Timer::at(deadline), deadline));
        if *armed > deadline {
            timer.set_at(deadline);
            *armed = deadline;
        }
        if Pin::new(&mut *timer).poll(cx).is_ready() {
            // Fired for an earlier deadline that has since moved on.
            timer.set_at(deadline);
            *armed = deadline;
            // Registers the waker; cannot be ready, the deadline is ahead.
            let _ = Pin::new(&mut *timer).poll(cx);
        }
        false
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadlines<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(which) = this.expired {
            return Poll::Ready(Err(timed_out(which)));
        }
        let now = Instant::now();
        let busy = this.sync(now);
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 && !busy && this.head_since.is_none() {
                    this.head_since = Some(now);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if busy => Poll::Pending,
            Poll::Pending => {
                let (which, deadline) = match this.head_since {
                    Some(t) => (Expired::Header, t + this.header_timeout),
                    None => (Expired::Idle, this.idle_since + this.idle_timeout),
                };
                if this.wait_until(deadline, now, cx) {
                    this.expired = Some(which);
                    this.timer = None;
                    this.activity.set_expired(which);
                    return Poll::Ready(Err(timed_out(which)));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadlines<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

fn timed_out(which: Expired) -> io::Error {
    let what = match which {
        Expired::Header => "request head not received in time",
        Expired::Idle => "idle keep-alive connection timed out",
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::{AsyncReadExt, AsyncWriteExt};

    fn pair() -> (async_net::TcpStream, async_net::TcpStream) {
        smol::block_on(async {
            let l = async_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let (a, b) = smol::future::zip(async_net::TcpStream::connect(addr), l.accept()).await;
            (a.unwrap(), b.unwrap().0)
        })
    }

    #[test]
    fn idle_and_head_deadlines_are_told_apart() {
        smol::block_on(async {
            let (mut client, server) = pair();
            let activity = Arc::new(Activity::default());
            let header = Duration::from_millis(100);
            let idle = Duration::from_millis(400);
            let mut s = Deadlines::new(server, activity.clone(), header, idle);
            let mut buf = [0u8; 16];

            // Idle for longer than the header timeout: still open.
            let t0 = Instant::now();
            let reader = async { s.read(&mut buf).await };
            let writer = async {
                Timer::after(Duration::from_millis(250)).await;
                client.write_all(b"GET").await.unwrap();
            };
            let (n, ()) = smol::future::zip(reader, writer).await;
            assert_eq!(n.unwrap(), 3);
            assert!(t0.elapsed() >= Duration::from_millis(250));

            // A head begun and not finished: the header deadline.
            let t1 = Instant::now();
            let e = s.read(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(t1.elapsed() < idle, "closed by the header deadline");
            assert_eq!(activity.expired(), Some(Expired::Header));
            // It stays closed.
            assert!(s.read(&mut buf).await.is_err());
        });
    }

    #[test]
    fn a_request_in_progress_has_no_read_deadline_and_idle_ends_it() {
        smol::block_on(async {
            let (mut client, server) = pair();
            let activity = Arc::new(Activity::default());
            let (header, idle) = (Duration::from_millis(50), Duration::from_millis(150));
            let mut s = Deadlines::new(server, activity.clone(), header, idle);
            let mut buf = [0u8; 64];
            client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            assert!(s.read(&mut buf).await.unwrap() > 0);
            activity.begin();
            // While it is handled, reads (of a body) wait past both timeouts.
            let reader = async { s.read(&mut buf).await };
            let writer = async {
                Timer::after(Duration::from_millis(200)).await;
                client.write_all(b"body").await.unwrap();
            };
            let (n, ()) = smol::future::zip(reader, writer).await;
            assert_eq!(n.unwrap(), 4);
            activity.end();
            let t = Instant::now();
            let e = s.read(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(t.elapsed() >= idle, "idle, not a head: {:?}", t.elapsed());
            assert_eq!(activity.expired(), Some(Expired::Idle));
        });
    }
}

//! Waiting until a topic has producers: the first thing every test that
//! starts a real nsqd needs, without a sleep loop.
//!
//! The wait looks at the registry, and if `/lookup` does not list enough
//! producers yet, sleeps until the registry changes (`crate::changes`),
//! or until a tombstone hiding one of the topic's producers expires (the
//! one change no write announces). It never polls. Stopping the instance
//! ends every wait with [`WaitError::Stopped`].

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_io::Timer;
use smol::future;

use crate::instance::answers::lookup_body;
use crate::names::Name;
use crate::instance::State;

/// Why a wait for producers ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The topic is not a valid name, so nothing can ever register it.
    InvalidTopic,
    /// The time allowed passed first.
    Timeout,
    /// The caller cancelled the wait.
    Cancelled,
    /// The instance stopped.
    Stopped,
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WaitError::InvalidTopic => "not a valid topic name",
            WaitError::Timeout => "timed out waiting for producers",
            WaitError::Cancelled => "the wait was cancelled",
            WaitError::Stopped => "the instance stopped",
        })
    }
}

impl std::error::Error for WaitError {}

/// Counts a wait as blocked for as long as it lives.
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn new(count: &'a AtomicUsize) -> Parked<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Parked(count)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    /// How many waits for producers are blocked now: begun, not answered
    /// at their first look, and not ended yet. (A host stopping an
    /// instance, or a test, knows from it that its waiters are in place.)
    pub fn waiting(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }

    /// Resolves to the body `GET /lookup?topic=` returns, as soon as it
    /// lists at least `min` producers (as `/lookup` filters them: active
    /// and not tombstoned). With `min` 0, as soon as the topic exists.
    ///
    /// Runs under any executor. It has no time limit of its own: combine
    /// it with your runtime's timeout, or use [`State::wait_lookup_for`].
    pub async fn wait_lookup(&self, topic: &[u8], min: usize) -> Result<Vec<u8>, WaitError> {
        let name = Name::new(topic).ok_or(WaitError::InvalidTopic)?;
        let waiter = self.changes.waiter();
        let mut parked = None;
        loop {
            // Listening before looking: a change after the look wakes us.
            let changed = waiter.listen();
            if self.changes.is_closed() {
                return Err(WaitError::Stopped);
            }
            let now = self.now();
            let timeouts = self.timeouts();
            let wake_at = {
                let registry = self.read();
                let answer = registry.lookup(&name, now, timeouts);
                match answer {
                    Some(a) if a.producers.len() >= min => {
                        drop(registry);
                        return Ok(lookup_body(&a));
                    }
                    Some(_) => registry.next_unhidden(&name, now, timeouts),
                    None => None,
                }
            };
            // Blocked from now on, until the future ends or is dropped.
            parked.get_or_insert_with(|| Parked::new(&self.parked));
            match wake_at {
                Some(at) => {
                    future::or(changed, self.until(at))
                    .await
                }
                None => changed.await,
            }
        }
    }

    /// [`State::wait_lookup`] within `timeout`, ended early by `cancel`
    /// when it completes. A cancel that has already completed wins over an
    /// answer that is already there, and an answer over the timeout: a
    /// zero timeout looks once.
    pub async fn wait_lookup_for(
        &self,
        topic: &[u8],
        min: usize,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<Vec<u8>, WaitError> {
        let deadline = Instant::now().checked_add(timeout);
        // Polled in this order: a cancel already fired wins over an answer
        // already there, which wins over a time limit already passed (a
        // zero timeout is one look).
        future::or(
            async {
                cancel.await;
                Err(WaitError::Cancelled)
            },
            future::or(self.wait_lookup(topic, min), async {
                match deadline {
                    Some(at) => Timer::at(at).await,
                    None => future::pending().await,
                };
                Err(WaitError::Timeout)
            }),
        )
        .await
    }
}

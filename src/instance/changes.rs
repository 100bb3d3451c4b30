//! How waiters learn that the registry changed, without polling.
//!
//! A host waiting for producers (`lookupd_wait_lookup`, a test's
//! `wait_for_producers`) listens here; every registry write, and a PING
//! that brings a producer back from inactivity, notifies. Nobody is
//! notified while nobody waits: a write costs one counter increment, one
//! fence and one load, so a storm of REGISTERs pays next to nothing for a
//! feature it does not use.
//! Closing (the instance stopping) wakes every waiter for good. The
//! snapshot writer (`crate::persist`) is a waiter too, and reads the
//! change count to know whether the registry moved since its last write.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

use event_listener::{Event, EventListener};

/// The change notifications of one instance.
#[derive(Debug, Default)]
pub struct Changes {
    event: Event,
    waiters: AtomicUsize,
    closed: AtomicBool,
    /// Counts the changes, so a reader can tell whether any happened.
    version: AtomicU64,
}

impl Changes {
    /// Wakes every waiter, if there is any. Call after the change is
    /// visible to readers (after the write lock is released).
    pub fn notify(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
        // Pairs with the SeqCst increment in `waiter`: either the waiter
        // is counted here, or its first look at the registry comes after
        // this change.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            self.event.notify(usize::MAX);
        }
    }

    /// Marks the instance stopped and wakes every waiter; waiters see
    /// [`Changes::is_closed`] from then on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    /// How many changes there have been: equal readings mean nothing
    /// changed in between.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Whether the instance has stopped.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers a waiter for as long as the guard lives.
    pub fn waiter(&self) -> Waiter<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiter(self)
    }
}

/// A registered waiter. Listen before each look at the registry, so a
/// change made after the look wakes the listener.
#[derive(Debug)]
pub struct Waiter<'a>(&'a Changes);

impl Waiter<'_> {
    /// A listener for the next change (or the close).
    pub fn listen(&self) -> EventListener {
        self.0.event.listen()
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

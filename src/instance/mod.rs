//! One running instance: what its connections share, and everything it
//! answers and does of its own, apart from any protocol.
//!
//! [`State`] holds the options, the registry behind its lock, the logger,
//! the counters and the ports the listeners got. Around it: the answers
//! of the HTTP API as bytes, which the C ABI returns too (`answers`); how
//! waiters learn of registry changes (`changes`) and wait for producers
//! (`wait`); the check of each nsqd's advertised address (`reach`); the
//! memory given back after producers leave (`trim`); and the instance's
//! clock (`clock`), which tests can drive by hand.
//!
//! Readers take the lock briefly: most copy out their answer (a few `Arc`
//! clones) and serialise after releasing it; `/topics` and `/nodes`, which
//! grow with the database, write theirs a page of topics per hold. So a
//! large answer holds writers up for one page at most, and a slow client
//! never does (its bytes are sent after the last hold).
//!
//! The lock is parking_lot's: it is eventually fair (a thread waiting more
//! than about half a millisecond is handed the lock), where std's lets a
//! thread that releases the write lock take it again at once. During a
//! storm of disconnects or pipelined REGISTERs that starved readers on the
//! other thread for the whole storm (measured: `/lookup` p99 100 ms while
//! 100 producers holding 1,000 topics each dropped). No poisoning either:
//! registry methods do not panic, and a connection task that does is
//! contained without leaving a lock behind.

pub mod answers;
pub mod changes;
pub mod clock;
pub mod reach;
pub(crate) mod trim;
pub mod wait;

use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use changes::Changes;
use clock::Clock;
use crate::clock::Timestamp;
use crate::config::{hostname, Options};
use crate::logging::Logger;
use crate::metrics::{ConnStats, Gauges, Metrics};
use reach::Reach;
use crate::registry::{Registry, Timeouts};
use trim::Trimmer;

/// Shared state of one running instance.
#[derive(Debug)]
pub struct State {
    /// The options it was started with.
    pub opts: Options,
    /// Where log lines go.
    pub log: Logger,
    /// The bound TCP port (what IDENTIFY reports).
    pub tcp_port: u16,
    /// The bound HTTP port (what IDENTIFY reports).
    pub http_port: u16,
    /// The OS hostname (what IDENTIFY reports).
    pub hostname: String,
    /// Connection counters.
    pub conns: ConnStats,
    /// Request, command and bound counters for `/metrics`.
    pub metrics: Metrics,
    /// The bearer token HTTP requests must carry (empty: none).
    pub auth_token: String,
    registry: RwLock<Registry>,
    /// The last `/topics` answer and the topic-set generation it is of.
    pub(crate) topics_answer: Mutex<Option<(u64, Bytes)>>,
    /// Gives freed memory back once departed producers are removed.
    pub(crate) trimmer: Trimmer,
    /// Wakes hosts waiting for producers when the registry changes.
    pub changes: Changes,
    /// Checks the addresses nsqd advertise.
    pub reach: Reach,
    /// Where it reads the time.
    clock: Clock,
    /// Waits for producers blocked now (`wait`).
    parked: std::sync::atomic::AtomicUsize,
}

impl State {
    /// State for an instance with these options and bound ports, on the
    /// system's clock.
    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn new(opts: Options, log: Logger, tcp_port: u16, http_port: u16) -> State {
        State::with_clock(opts, log, tcp_port, http_port, Clock::system())
    }

    /// As [`State::new`], reading the time from `clock`.
    pub fn with_clock(
        opts: Options,
        log: Logger,
        tcp_port: u16,
        http_port: u16,
        clock: Clock,
    ) -> State {
        let reach = Reach::new(opts.producer_address);
        State {
            reach,
            opts,
            log,
            tcp_port,
            http_port,
            hostname: hostname(),
            conns: ConnStats::default(),
            metrics: Metrics::default(),
            auth_token: String::new(),
            registry: RwLock::new(Registry::new()),
            topics_answer: Mutex::new(None),
            trimmer: Trimmer::default(),
            changes: Changes::default(),
            clock,
            parked: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The registry, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    /// The registry, for writing. Waiters are notified when the guard is
    /// dropped, after the lock is released.
    pub fn write(&self) -> RegistryWrite<'_> {
        RegistryWrite {
            guard: Some(self.registry.write()),
            changes: &self.changes,
        }
    }

    /// The inactivity and tombstone durations in force.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            inactive_producer: self.opts.inactive_producer_timeout,
            tombstone_lifetime: self.opts.tombstone_lifetime,
        }
    }

    /// The current time, on the instance's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Resolves once the instance's clock reads `at` or later: a timer on
    /// the system's clock; on a manual one, when a test moves it there
    /// (so nothing waits on real time that the test's clock has not
    /// reached, nor spins once real time has passed it).
    pub async fn until(&self, at: Timestamp) {
        if !self.clock.is_manual() {
            async_io::Timer::at(at.instant()).await;
            return;
        }
        let waiter = self.changes.waiter();
        loop {
            let moved = waiter.listen();
            if self.now() >= at || self.changes.is_closed() {
                return;
            }
            moved.await;
        }
    }

    #[cfg(any(test, feature = "internals"))]
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    /// Moves a manual clock forward, and tells waiters, whose answers may
    /// have changed (a producer gone inactive, a tombstone expired).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.clock.advance(by);
        self.changes.notify();
    }

    /// The text of a `/metrics` scrape. The registry's read lock is held
    /// only to count; the text is encoded after it is released.
    pub fn scrape(&self) -> String {
        let now = self.now();
        let gauges = {
            let registry = self.read();
            Gauges {
                counts: registry.counts(),
                inactive: registry.inactive_producers(now, self.opts.inactive_producer_timeout),
                tombstoned: registry.tombstoned(now, self.opts.tombstone_lifetime),
                restored_awaiting: registry.restored_awaiting(),
                address_unreachable: registry.unreachable_producers(),
            }
        };
        self.metrics.render(&gauges, &self.conns)
    }
}

/// The registry's write lock; releasing it notifies waiters of the change.
pub struct RegistryWrite<'a> {
    guard: Option<RwLockWriteGuard<'a, Registry>>,
    changes: &'a Changes,
}

impl Deref for RegistryWrite<'_> {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        // Present until drop.
        self.guard.as_deref().expect("registry guard held")
    }
}

impl DerefMut for RegistryWrite<'_> {
    fn deref_mut(&mut self) -> &mut Registry {
        self.guard.as_deref_mut().expect("registry guard held")
    }
}

impl Drop for RegistryWrite<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.changes.notify();
    }
}

//! `GET /metrics`: what an operator needs to watch lookupd, in the
//! Prometheus text format (encoded by the `prometheus-client` crate).
//!
//! The Go original has no metrics (nsqio/nsq#732). Everything counted on a
//! hot path is a plain atomic in a fixed array: a request or a command adds
//! one to a slot chosen by index, with no lock and no label lookup. Gauges
//! (registrations, topics, inactive and tombstoned producers, open
//! connections) are computed when scraped, from counters the registry and
//! the accept loops keep anyway, so scraping costs no work on the request
//! path and holds the registry's read lock only briefly.

mod labels;
mod render;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::clock::nanos;
use crate::registry::Counts;
pub use labels::{Bound, HttpRoute, TcpCommand, TcpError};
pub use render::CONTENT_TYPE;

/// The `code` label of HTTP metrics: every status lookupd answers with,
/// then `other`.
pub const HTTP_CODES: &[u16] = &[200, 301, 307, 400, 401, 403, 404, 405, 408, 413, 500];

/// Slots per route of the HTTP request counts: one per code, and `other`.
const CODE_SLOTS: usize = HTTP_CODES.len() + 1;

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

/// What the registry looks like at a scrape: computed under its read
/// lock by the caller, encoded here after the lock is released.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Sizes of the registry.
    pub counts: Counts,
    /// Identified producers silent past the inactive producer timeout.
    pub inactive: usize,
    /// Topic registrations hidden by a live tombstone.
    pub tombstoned: usize,
    /// Producers restored from a snapshot whose nsqd has not come back.
    pub restored_awaiting: usize,
    /// Producers whose advertised address failed the check.
    pub address_unreachable: usize,
}

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// What the bootstrap from running peers (`-bootstrap-from`) brought in.
#[derive(Debug, Default)]
pub struct BootstrapStats {
    /// How long it took, in nanoseconds (0: none ran).
    pub nanos: AtomicU64,
    /// Producers restored.
    pub producers: AtomicU64,
    /// Topic keys added.
    pub topics: AtomicU64,
    /// Channel keys added.
    pub channels: AtomicU64,
    /// Registrations added.
    pub registrations: AtomicU64,
    /// Tombstones set.
    pub tombstones: AtomicU64,
    /// Peers that gave nothing.
    pub peers_failed: AtomicU64,
    /// Topics whose channels were not read before the deadline.
    pub channels_unread: AtomicU64,
}

/// How the snapshots of the registry (`-data-path`) are going.
#[derive(Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots written.
    pub writes: AtomicU64,
    /// Snapshots that could not be written.
    pub failures: AtomicU64,
    /// How long the last one took, from image to rename, in nanoseconds.
    pub last_nanos: AtomicU64,
    /// Its size in bytes.
    pub last_bytes: AtomicU64,
    /// When it was written: Unix seconds (0: never).
    pub last_success_unix: AtomicU64,
    /// How long reading the snapshot back at start took, in nanoseconds.
    pub restore_nanos: AtomicU64,
}

/// Counters and histograms updated as lookupd works: each counter a slot
/// of a fixed array, at the index of the enum variant it counts.
#[derive(Debug)]
pub struct Metrics {
    http_requests: [[AtomicU64; CODE_SLOTS]; HttpRoute::COUNT],
    http_latency: [Histogram; HttpRoute::COUNT],
    tcp_commands: [AtomicU64; TcpCommand::COUNT],
    tcp_errors: [AtomicU64; TcpError::COUNT],
    bounds: [AtomicU64; Bound::COUNT],
    /// The snapshot writer's figures.
    pub snapshots: SnapshotStats,
    /// The bootstrap's figures.
    pub bootstrap: BootstrapStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http_requests: [const { [const { AtomicU64::new(0) }; CODE_SLOTS] }; HttpRoute::COUNT],
            http_latency: [const { Histogram::new() }; HttpRoute::COUNT],
            tcp_commands: [const { AtomicU64::new(0) }; TcpCommand::COUNT],
            tcp_errors: [const { AtomicU64::new(0) }; TcpError::COUNT],
            bounds: [const { AtomicU64::new(0) }; Bound::COUNT],
            snapshots: SnapshotStats::default(),
            bootstrap: BootstrapStats::default(),
        }
    }
}

impl Metrics {
    /// Counts an HTTP request by route and status, and its latency.
    pub fn http_request(&self, route: HttpRoute, status: u16, elapsed: Duration) {
        let code = HTTP_CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(HTTP_CODES.len());
        self.http_requests[route.index()][code].fetch_add(1, Ordering::Relaxed);
        self.http_latency[route.index()].observe(elapsed);
    }

    /// Counts a TCP command.
    pub fn tcp_command(&self, command: TcpCommand) {
        self.tcp_commands[command.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a TCP error reply.
    pub fn tcp_error(&self, code: TcpError) {
        self.tcp_errors[code.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a bound hit.
    pub fn bound_hit(&self, bound: Bound) {
        self.bounds[bound.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram of durations kept in atomics.
#[derive(Debug)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos(d), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(9));
        let counts: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[5], 1, "3 ms falls in the 5 ms bucket");
        assert_eq!(counts[13], 1, "+Inf");
    }
}

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

mod render;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::nanos;
use crate::registry::Counts;
pub use render::CONTENT_TYPE;

/// The `route` label of HTTP metrics, indexed by the HTTP router's `Route`
/// (in its declaration order), then the requests no route handled.
pub const HTTP_ROUTES: &[&str] = &[
    "ping",
    "info",
    "debug",
    "lookup",
    "topics",
    "channels",
    "nodes",
    "topic_create",
    "topic_delete",
    "channel_create",
    "channel_delete",
    "topic_tombstone",
    "metrics",
    "reachability",
    "not_found",
    "method_not_allowed",
    "redirect",
    "options",
    "bad_request",
];

/// The `code` label of HTTP metrics: every status lookupd answers with.
pub const HTTP_CODES: &[u16] = &[200, 301, 307, 400, 401, 403, 404, 405, 408, 413, 500];

/// The `command` label of TCP command counts.
pub const TCP_COMMANDS: &[&str] = &["PING", "IDENTIFY", "REGISTER", "UNREGISTER", "invalid"];

/// The `code` label of TCP error counts.
pub const TCP_ERRORS: &[&str] = &[
    "E_INVALID",
    "E_BAD_TOPIC",
    "E_BAD_CHANNEL",
    "E_BAD_BODY",
    "E_BAD_PROTOCOL",
];

/// A bound or timeout a client ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// An IDENTIFY body over `max_identify_body_size` (or negative).
    IdentifyBodySize,
    /// A command line over `max_command_size`.
    CommandSize,
    /// No magic within `tcp_handshake_timeout`.
    TcpHandshakeTimeout,
    /// Silent and unidentified past `identify_timeout`.
    IdentifyTimeout,
    /// HTTP headers not in within `http_header_timeout`.
    HttpHeaderTimeout,
    /// An idle keep-alive connection closed after `http_idle_timeout`.
    HttpIdleTimeout,
    /// An HTTP body not in within `http_header_timeout`.
    HttpBodyTimeout,
    /// An HTTP request over `max_http_request_size`.
    HttpRequestSize,
    /// An identified nsqd silent past `producer_heartbeat_timeout`.
    ProducerHeartbeatTimeout,
}

const BOUNDS: &[&str] = &[
    "identify_body_size",
    "command_size",
    "tcp_handshake_timeout",
    "identify_timeout",
    "http_header_timeout",
    "http_idle_timeout",
    "http_body_timeout",
    "http_request_size",
    "producer_heartbeat_timeout",
];

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

fn counters(n: usize) -> Arc<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
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

/// Counters and histograms updated as lookupd works.
#[derive(Debug)]
pub struct Metrics {
    http_requests: Arc<[AtomicU64]>,
    http_latency: Arc<[Histogram]>,
    tcp_commands: Arc<[AtomicU64]>,
    tcp_errors: Arc<[AtomicU64]>,
    bounds: Arc<[AtomicU64]>,
    /// The snapshot writer's figures.
    pub snapshots: SnapshotStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http_requests: counters(HTTP_ROUTES.len() * (HTTP_CODES.len() + 1)),
            http_latency: (0..HTTP_ROUTES.len())
                .map(|_| Histogram::default())
                .collect(),
            tcp_commands: counters(TCP_COMMANDS.len()),
            tcp_errors: counters(TCP_ERRORS.len()),
            bounds: counters(BOUNDS.len()),
            snapshots: SnapshotStats::default(),
        }
    }
}

impl Metrics {
    /// Counts an HTTP request by route index and status, and its latency.
    pub fn http_request(&self, route: usize, status: u16, elapsed: Duration) {
        let route = route.min(HTTP_ROUTES.len() - 1);
        let code = HTTP_CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(HTTP_CODES.len());
        self.http_requests[route * (HTTP_CODES.len() + 1) + code].fetch_add(1, Ordering::Relaxed);
        self.http_latency[route].observe(elapsed);
    }

    /// Counts a TCP command (index into [`TCP_COMMANDS`]).
    pub fn tcp_command(&self, index: usize) {
        if let Some(c) = self.tcp_commands.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a TCP error reply by its code.
    pub fn tcp_error(&self, code: &str) {
        if let Some(i) = TCP_ERRORS.iter().position(|c| *c == code) {
            self.tcp_errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a bound hit.
    pub fn bound_hit(&self, bound: Bound) {
        self.bounds[bound as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram of durations kept in atomics.
#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    buckets: [AtomicU64; 14],
    sum_nanos: AtomicU64,
}

impl Histogram {
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
        let h = Histogram::default();
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

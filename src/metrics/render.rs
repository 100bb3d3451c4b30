//! The Prometheus text of a scrape: every counter, gauge and histogram of
//! [`Metrics`], labelled, encoded by the `prometheus-client` crate from
//! values read at scrape time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{
    Bound, ConnStats, Gauges, Histogram, HttpRoute, Metrics, ProtoStats, TcpCommand, TcpError,
    BUCKETS, HTTP_CODES,
};

impl Metrics {
    /// The text of a scrape, from the registry's gauges and the
    /// connection counters.
    pub fn render(&self, gauges: &Gauges, c: &ConnStats) -> String {
        let Gauges {
            counts,
            inactive,
            tombstoned,
            restored_awaiting,
            address_unreachable,
        } = *gauges;
        let mut r = Registry::with_prefix("nsqlookupd");
        let gauge = |v: usize| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        r.register(
            "producers",
            "Identified nsqd connections",
            gauge(counts.producers),
        );
        r.register(
            "producers_inactive",
            "Identified producers silent past the inactive producer timeout",
            gauge(inactive),
        );
        r.register(
            "tombstoned_registrations",
            "Topic registrations hidden by a live tombstone",
            gauge(tombstoned),
        );
        r.register(
            "producers_restored_awaiting",
            "Producers restored from the snapshot whose nsqd has not identified again",
            gauge(restored_awaiting),
        );
        r.register(
            "producers_address_unreachable",
            "Producers whose advertised broadcast address does not resolve, or resolves only to loopback while they connected from another host",
            gauge(address_unreachable),
        );
        r.register("topics", "Topic keys", gauge(counts.topics));
        r.register("channels", "Channel keys", gauge(counts.channels));
        r.register(
            "registrations",
            "Producer registrations by category",
            Labeled::gauges(
                "category",
                vec![
                    ("client", counts.producers as u64),
                    ("topic", counts.topic_registrations as u64),
                    ("channel", counts.channel_registrations as u64),
                ],
            ),
        );
        let per_proto = |f: fn(&ProtoStats) -> u64| {
            vec![
                ("tcp", f(&c.tcp)),
                ("http", f(&c.http)),
                ("https", f(&c.https)),
            ]
        };
        r.register(
            "connections",
            "Connections open now",
            Labeled::gauges(
                "protocol",
                per_proto(|p| p.open.load(Ordering::Relaxed) as u64),
            ),
        );
        r.register(
            "connections_accepted",
            "Connections accepted",
            Labeled::counters(
                "protocol",
                per_proto(|p| p.accepted.load(Ordering::Relaxed)),
            ),
        );
        r.register(
            "connections_refused_limit",
            "Connections refused because the connection limit was reached",
            Labeled::counters(
                "protocol",
                per_proto(|p| p.refused_limit.load(Ordering::Relaxed)),
            ),
        );
        r.register(
            "connections_refused_network",
            "Connections refused because the peer is outside the allow-list",
            Labeled::counters(
                "protocol",
                per_proto(|p| p.refused_network.load(Ordering::Relaxed)),
            ),
        );
        r.register(
            "accept_errors",
            "Failed accept() calls (e.g. out of file descriptors)",
            ConstCounter::new(c.accept_errors.load(Ordering::Relaxed)),
        );
        r.register(
            "panics",
            "Connection tasks that panicked (and were contained)",
            ConstCounter::new(c.panics.load(Ordering::Relaxed)),
        );
        r.register(
            "http_requests",
            "HTTP requests by route and status code",
            HttpRequests::read(&self.http_requests),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request handling time by route",
            Latency::read(&self.http_latency),
        );
        r.register(
            "tcp_commands",
            "TCP commands received by verb",
            Labeled::counters(
                "command",
                read(TcpCommand::ALL.map(TcpCommand::label), &self.tcp_commands),
            ),
        );
        r.register(
            "tcp_errors",
            "TCP error replies by code",
            Labeled::counters(
                "code",
                read(TcpError::ALL.map(TcpError::label), &self.tcp_errors),
            ),
        );
        r.register(
            "bounds_hit",
            "Requests and connections stopped by a bound or timeout",
            Labeled::counters("bound", read(Bound::ALL.map(Bound::label), &self.bounds)),
        );
        let snap = &self.snapshots;
        r.register(
            "snapshot_writes",
            "Snapshots of the registry written to the data path",
            ConstCounter::new(snap.writes.load(Ordering::Relaxed)),
        );
        r.register(
            "snapshot_failures",
            "Snapshots that could not be written",
            ConstCounter::new(snap.failures.load(Ordering::Relaxed)),
        );
        r.register(
            "snapshot_last_duration_seconds",
            "How long the last snapshot took to take and write",
            ConstGauge::new(snap.last_nanos.load(Ordering::Relaxed) as f64 / 1e9),
        );
        r.register(
            "snapshot_restore_duration_seconds",
            "How long reading the snapshot back at start took",
            ConstGauge::new(snap.restore_nanos.load(Ordering::Relaxed) as f64 / 1e9),
        );
        r.register(
            "snapshot_last_bytes",
            "The size of the last snapshot",
            gauge(snap.last_bytes.load(Ordering::Relaxed) as usize),
        );
        r.register(
            "snapshot_last_success_timestamp_seconds",
            "When the last snapshot was written (Unix seconds; 0: never)",
            gauge(snap.last_success_unix.load(Ordering::Relaxed) as usize),
        );
        let boot = &self.bootstrap;
        let load = |a: &std::sync::atomic::AtomicU64| gauge(a.load(Ordering::Relaxed) as usize);
        r.register(
            "bootstrap_duration_seconds",
            "How long the bootstrap from running peers took at start (0: none ran)",
            ConstGauge::new(boot.nanos.load(Ordering::Relaxed) as f64 / 1e9),
        );
        r.register(
            "bootstrap_restored",
            "What the bootstrap from running peers brought in",
            Labeled::gauges(
                "kind",
                vec![
                    ("producers", boot.producers.load(Ordering::Relaxed)),
                    ("topics", boot.topics.load(Ordering::Relaxed)),
                    ("channels", boot.channels.load(Ordering::Relaxed)),
                    ("registrations", boot.registrations.load(Ordering::Relaxed)),
                    ("tombstones", boot.tombstones.load(Ordering::Relaxed)),
                ],
            ),
        );
        r.register(
            "bootstrap_peers_failed",
            "Bootstrap peers that could not be read (unreachable, slow, refusing or answering garbage)",
            load(&boot.peers_failed),
        );
        r.register(
            "bootstrap_channels_unread",
            "Topics whose channels the bootstrap could not read before its deadline",
            load(&boot.channels_unread),
        );
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &r);
        out
    }
}

/// Each label with its counter's value now.
fn read<const N: usize>(
    labels: [&'static str; N],
    counters: &[AtomicU64; N],
) -> Vec<(&'static str, u64)> {
    labels
        .into_iter()
        .zip(counters)
        .map(|(label, c)| (label, c.load(Ordering::Relaxed)))
        .collect()
}

/// The content type of a scrape.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type NoExemplar<'a> = Option<&'a Exemplar<NoLabelSet, u64>>;

/// A family of counters or gauges with one label, values fixed at scrape.
#[derive(Debug)]
struct Labeled {
    label: &'static str,
    values: Vec<(&'static str, u64)>,
    kind: MetricType,
}

impl Labeled {
    fn counters(label: &'static str, values: Vec<(&'static str, u64)>) -> Labeled {
        Labeled {
            label,
            values,
            kind: MetricType::Counter,
        }
    }

    fn gauges(label: &'static str, values: Vec<(&'static str, u64)>) -> Labeled {
        Labeled {
            label,
            values,
            kind: MetricType::Gauge,
        }
    }
}

impl EncodeMetric for Labeled {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        for (value_label, v) in &self.values {
            let labels = [(self.label, *value_label)];
            let mut e = encoder.encode_family(&labels)?;
            match self.kind {
                MetricType::Counter => e.encode_counter(v, NoExemplar::None)?,
                _ => e.encode_gauge(v)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// The HTTP request counts that are not zero, read at scrape: route,
/// code (`None`: `other`), count.
#[derive(Debug)]
struct HttpRequests(Vec<(HttpRoute, Option<u16>, u64)>);

impl HttpRequests {
    fn read(counts: &[[AtomicU64; HTTP_CODES.len() + 1]; HttpRoute::COUNT]) -> HttpRequests {
        let mut out = Vec::new();
        for (route, per_code) in HttpRoute::ALL.into_iter().zip(counts) {
            for (i, count) in per_code.iter().enumerate() {
                let v = count.load(Ordering::Relaxed);
                if v != 0 {
                    out.push((route, HTTP_CODES.get(i).copied(), v));
                }
            }
        }
        HttpRequests(out)
    }
}

impl EncodeMetric for HttpRequests {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        for (route, code, v) in &self.0 {
            let code = code.map_or_else(|| "other".to_owned(), |c| c.to_string());
            let labels = [("route", route.label().to_owned()), ("code", code)];
            encoder
                .encode_family(&labels)?
                .encode_counter(v, NoExemplar::None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// One route's latency histogram, read at scrape.
#[derive(Debug)]
struct RouteLatency {
    route: HttpRoute,
    /// Per bucket (not cumulative), with its upper bound; +Inf last.
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum_seconds: f64,
}

/// The latency histograms of the routes that served a request.
#[derive(Debug)]
struct Latency(Vec<RouteLatency>);

impl Latency {
    fn read(histograms: &[Histogram; HttpRoute::COUNT]) -> Latency {
        let mut out = Vec::new();
        for (route, h) in HttpRoute::ALL.into_iter().zip(histograms) {
            let buckets: Vec<(f64, u64)> = BUCKETS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.buckets.iter())
                .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
                .collect();
            let count = buckets.iter().map(|(_, n)| n).sum();
            if count == 0 {
                continue;
            }
            let sum_seconds = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            out.push(RouteLatency {
                route,
                buckets,
                count,
                sum_seconds,
            });
        }
        Latency(out)
    }
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), fmt::Error> {
        for h in &self.0 {
            let labels = [("route", h.route.label())];
            // prometheus-client takes per-bucket counts and accumulates
            // them itself.
            encoder
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

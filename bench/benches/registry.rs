//! Micro-benchmarks of the registration database itself, at 10^2, 10^4 and
//! 10^6 registrations (10 producers x T topics x 1 channel, every producer
//! holding every topic). The point: each operation costs in proportion to
//! what it touches or answers, so the per-operation (or per-answered-item)
//! time stays flat as the database grows.
//!
//! - `register`: one new registration (a new topic with a channel, for an
//!   existing producer). Timed in batches of 64; the batch is deleted again
//!   untimed, so the database keeps its size.
//! - `lookup`: `/lookup` of one existing topic; the answer is always 10
//!   producers and 1 channel. Strides through the topics, so at 10^6 most
//!   of what it reads is not in cache.
//! - `lookup_hot`: the same over 64 topics spread through the database,
//!   whose memory stays in cache: the cost of the work itself.
//! - `nodes`: `/nodes`; its answer grows with the database (every producer
//!   with all its topics), so criterion reports the time per answered
//!   topic registration (`Throughput::Elements`).
//! - `disconnect`: removing one producer that holds a fixed 100 topic and
//!   100 channel registrations (set up untimed before each removal).
//!
//! `cargo bench -p lookupd-bench --bench registry` (add `-- --quick` for a
//! fast pass).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lookupd::clock::Timestamp;
use lookupd::names::Name;
use lookupd::registry::PeerInfo;
use lookupd::registry::{Registry, Timeouts};

const PRODUCERS: usize = 10;
/// Total registrations (producers x topics x 1 channel).
const SIZES: [usize; 3] = [100, 10_000, 1_000_000];
/// Registrations the disconnecting producer holds.
const DISCONNECT_TOPICS: usize = 100;

const TIMEOUTS: Timeouts = Timeouts {
    inactive_producer: Duration::from_secs(300),
    tombstone_lifetime: Duration::from_secs(45),
};

fn name(s: &str) -> Name {
    Name::new(s.as_bytes()).expect("valid name")
}

fn peer(i: usize) -> PeerInfo {
    PeerInfo {
        remote_address: format!("127.0.0.1:{}", 20_000 + i),
        hostname: format!("nsqd-{i}"),
        broadcast_address: format!("nsqd-{i}.bench.invalid"),
        tcp_port: 4150,
        http_port: 4151,
        version: "1.3.0".into(),
        ..PeerInfo::default()
    }
}

struct Db {
    reg: Registry,
    ids: Vec<u64>,
    topics: Vec<Name>,
    channel: Name,
    now: Timestamp,
}

fn build(total: usize) -> Db {
    let now = Timestamp::now();
    let mut reg = Registry::new();
    let topics: Vec<Name> = (0..total / PRODUCERS)
        .map(|t| name(&format!("t{t}")))
        .collect();
    let channel = name("c0");
    let ids: Vec<u64> = (0..PRODUCERS)
        .map(|p| reg.identify(peer(p), now).id())
        .collect();
    for &id in &ids {
        for t in &topics {
            reg.register(id, t, Some(&channel));
        }
    }
    assert_eq!(reg.counts().channel_registrations, total);
    Db {
        reg,
        ids,
        topics,
        channel,
        now,
    }
}

fn registry(c: &mut Criterion) {
    let dbs: Vec<(usize, Db)> = SIZES.iter().map(|&n| (n, build(n))).collect();
    let mut dbs = dbs;

    let mut g = c.benchmark_group("register");
    g.throughput(Throughput::Elements(1));
    let fresh: Vec<Name> = (0..64).map(|i| name(&format!("new{i}"))).collect();
    for (size, db) in dbs.iter_mut() {
        g.bench_with_input(BenchmarkId::from_parameter(*size), size, |b, _| {
            b.iter_custom(|iters| {
                let id = db.ids[0];
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let k = (iters - done).min(fresh.len() as u64) as usize;
                    let start = Instant::now();
                    for t in &fresh[..k] {
                        black_box(db.reg.register(id, t, Some(&db.channel)));
                    }
                    total += start.elapsed();
                    for t in &fresh[..k] {
                        db.reg.delete_topic(t);
                    }
                    done += k as u64;
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(1));
    for (size, db) in dbs.iter() {
        g.bench_with_input(BenchmarkId::from_parameter(*size), size, |b, _| {
            // Stride through the topics so a large database is not all in
            // cache.
            let n = db.topics.len();
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % n;
                let l = db.reg.lookup(&db.topics[i], db.now, TIMEOUTS).unwrap();
                debug_assert_eq!(l.producers.len(), PRODUCERS);
                black_box(l)
            })
        });
    }
    g.finish();

    // The same lookups over a hot set of 64 topics spread through the
    // database: what an operation costs once its memory is in cache. Set
    // beside `lookup`, it tells the work done (flat) from the cache misses
    // of a database far larger than the CPU's caches.
    let mut g = c.benchmark_group("lookup_hot");
    g.throughput(Throughput::Elements(1));
    for (size, db) in dbs.iter() {
        g.bench_with_input(BenchmarkId::from_parameter(*size), size, |b, _| {
            let n = db.topics.len();
            let hot: Vec<&Name> = (0..64).map(|k| &db.topics[k * n / 64]).collect();
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % hot.len();
                let l = db.reg.lookup(hot[i], db.now, TIMEOUTS).unwrap();
                debug_assert_eq!(l.producers.len(), PRODUCERS);
                black_box(l)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("nodes");
    g.sample_size(10);
    for (size, db) in dbs.iter() {
        // Elements: the topic registrations listed in the answer.
        g.throughput(Throughput::Elements(*size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(*size), size, |b, _| {
            b.iter(|| {
                let nodes = db.reg.nodes(db.now, TIMEOUTS);
                debug_assert_eq!(nodes.len(), PRODUCERS);
                black_box(nodes)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("disconnect");
    g.throughput(Throughput::Elements(1));
    let own: Vec<Name> = (0..DISCONNECT_TOPICS)
        .map(|i| name(&format!("d{i}")))
        .collect();
    for (size, db) in dbs.iter_mut() {
        g.bench_with_input(BenchmarkId::from_parameter(*size), size, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let id = db.reg.identify(peer(PRODUCERS), db.now).id();
                    for t in &own {
                        db.reg.register(id, t, Some(&db.channel));
                    }
                    let start = Instant::now();
                    black_box(db.reg.remove_producer(id));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = registry
}
criterion_main!(benches);

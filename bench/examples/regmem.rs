//! Where the registry's bytes go: builds a registry of P producers x T
//! distinct topics x 1 channel through its public API, in stages, under a
//! counting allocator, and prints the live heap bytes and allocations each
//! stage adds, per topic.
//!
//! `cargo run --release -p lookupd-bench --example regmem -- [P] [T]`
//! (defaults 1000 x 1000, 10^6 registrations).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use lookupd::clock::Timestamp;
use lookupd::names::Name;
use lookupd::registry::{PeerInfo, Registry, Timeouts};

struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// counts what it hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> (isize, isize) {
    (
        BYTES.load(Ordering::Relaxed),
        ALLOCS.load(Ordering::Relaxed),
    )
}

fn name(s: &str) -> Name {
    Name::new(s.as_bytes()).expect("valid name")
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let producers = args.first().copied().unwrap_or(1000);
    let topics = args.get(1).copied().unwrap_or(1000);
    let n = (producers * topics) as f64;
    let now = Timestamp(1);
    let mut r = Registry::new();
    let mut last = live();
    let report = |last: &mut (isize, isize), stage: &str, took: Duration| {
        let (b, a) = live();
        println!(
            "{stage:<34} {:>+8.1} MiB  {:>+9} allocs  {:>+6.1} B/topic  {:>+5.2} allocs/topic  {:>7.0} ms",
            (b - last.0) as f64 / 1048576.0,
            a - last.1,
            (b - last.0) as f64 / n,
            (a - last.1) as f64 / n,
            took.as_secs_f64() * 1e3
        );
        *last = (b, a);
    };
    let t = Instant::now();
    let ids: Vec<_> = (0..producers)
        .map(|p| {
            r.identify(
                PeerInfo {
                    remote_address: format!("127.0.0.1:{}", 10_000 + p),
                    hostname: format!("nsqd-{p}"),
                    broadcast_address: format!("nsqd-{p}.bench.invalid"),
                    tcp_port: 4150,
                    http_port: 4151,
                    version: "1.3.0".into(),
                    ..PeerInfo::default()
                },
                now,
            )
            .id()
        })
        .collect();
    report(&mut last, "producers identified", t.elapsed());
    let t = Instant::now();
    for i in 0..producers * topics {
        r.create_topic(&name(&format!("t{i}")));
    }
    report(&mut last, "topic keys (POST /topic/create)", t.elapsed());
    let t = Instant::now();
    for (p, id) in ids.iter().enumerate() {
        for i in p * topics..(p + 1) * topics {
            r.register(*id, &name(&format!("t{i}")), None);
        }
    }
    report(&mut last, "topic registrations", t.elapsed());
    let c0 = name("c0");
    let t = Instant::now();
    for (p, id) in ids.iter().enumerate() {
        for i in p * topics..(p + 1) * topics {
            r.register(*id, &name(&format!("t{i}")), Some(&c0));
        }
    }
    report(&mut last, "channel keys + registrations", t.elapsed());
    let timeouts = Timeouts {
        inactive_producer: Duration::from_secs(300),
        tombstone_lifetime: Duration::from_secs(45),
    };
    let t = Instant::now();
    let topics_list = r.topics();
    report(&mut last, "(a /topics copy, transient)", t.elapsed());
    drop(topics_list);
    last = live();
    let t = Instant::now();
    let nodes = r.nodes(now, timeouts);
    report(&mut last, "(a /nodes copy, transient)", t.elapsed());
    drop(nodes);
    last = live();
    let (b, a) = live();
    println!(
        "total live: {:.1} MiB in {} allocations ({:.1} B and {:.2} allocations per registration)",
        b as f64 / 1048576.0,
        a,
        b as f64 / n,
        a as f64 / n
    );
    let t = Instant::now();
    for id in ids {
        r.remove_producer(id);
    }
    report(&mut last, "all producers removed", t.elapsed());
}

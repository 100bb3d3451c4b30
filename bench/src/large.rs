//! `large`: one fleet of the size the largest clusters reach (by default
//! 1,000 producers x 1,000 distinct topics x 1 channel, 10^6
//! registrations), and what it costs: the time to register it all, the
//! memory held, the first `/topics` (nothing cached yet), `/nodes`, and
//! `/lookup` against `/ping` on the same server in the same run, of one
//! topic and of random topics (a registry that slows lookups down shows
//! as a ratio below 1; random topics add the cache misses of a large
//! database).

use std::time::{Duration, Instant};

use serde_json::json;
use smol::future;

use crate::args::Args;
use crate::http::HttpConn;
use crate::load::{http_load, PathFn};
use crate::scenarios::{
    emit, io, layout_args, layout_case, layout_params, load_args, load_figures, load_params,
    registered_fleet, report_errors, window, Common, Figures, LoadArgs, Res,
};
use crate::stats;
use crate::sys::rss_kib;

pub async fn large(c: Common, a: Args) -> Res<()> {
    let mut layout = layout_args(&a, 1000, 1000)?;
    if a.get("layout", String::new())?.is_empty() {
        layout.shared = false;
    }
    let l = load_args(&a)?;
    let nodes_requests: usize = a.get("nodes-requests", 3usize)?;
    let rounds: usize = a.get("rounds", 3usize)?.max(1);
    let timeout = Duration::from_secs_f64(a.get("request-timeout", 120.0f64)?);
    a.finish()?;
    let mut f = Figures::default();
    let fleet = registered_fleet(&c, layout, &mut f).await?;

    // The first /topics renders every name; later ones may be cached.
    let first = timed_get(c.http, "/topics", timeout).await?;
    f.opt("first_topics_ms", first.map(|(ms, _)| ms));
    f.opt("topics_bytes", first.map(|(_, b)| b as f64));
    let mut nodes = Vec::new();
    let mut nodes_bytes = None;
    for _ in 0..nodes_requests {
        match timed_get(c.http, "/nodes", timeout).await? {
            Some((ms, bytes)) => {
                nodes.push(ms);
                nodes_bytes = Some(bytes as f64);
            }
            None => break,
        }
    }
    f.opt("nodes_ms", stats::median(nodes));
    f.opt("nodes_bytes", nodes_bytes);
    if let Some(pid) = c.pid {
        f.opt("rss_kib_after_queries", rss_kib(pid).map(|k| k as f64));
    }

    // /ping, /lookup of one topic and of random topics, one after the
    // other, in several rounds: each ratio is taken within a round (the
    // loads next to each other in time), then the median over rounds, so
    // the VM's drift does not land on one side of it.
    let space = layout.topic_space();
    let one = format!("/lookup?topic=t{}", space / 2);
    let round = LoadArgs {
        concurrency: l.concurrency,
        duration: l.duration / rounds as u32,
        warmup: l.warmup,
    };
    let (mut ping, mut lookup_one, mut lookup) = (Vec::new(), Vec::new(), Vec::new());
    let mut errors = 0.0;
    for _ in 0..rounds {
        let p = measure(&c, &round, "ping", |_| "/ping".to_string()).await;
        let one = one.clone();
        let o = measure(&c, &round, "lookup one", move |_| one.clone()).await;
        let r = measure(&c, &round, "lookup", move |r| {
            format!("/lookup?topic=t{}", r.usize(..space))
        })
        .await;
        errors += p.get("errors") + o.get("errors") + r.get("errors");
        ping.push(p);
        lookup_one.push(o);
        lookup.push(r);
    }
    fleet.close();
    let med = |runs: &[Figures], k: &str| {
        stats::median(runs.iter().map(|f| f.get(k)).collect()).unwrap_or(f64::NAN)
    };
    let ratio = |runs: &[Figures]| {
        let r = ping
            .iter()
            .zip(runs)
            .map(|(p, x)| x.get("req_per_s") / p.get("req_per_s"))
            .collect();
        stats::median(r).unwrap_or(f64::NAN)
    };
    let ping_rate = med(&ping, "req_per_s");
    let one_rate = med(&lookup_one, "req_per_s");
    let lookup_rate = med(&lookup, "req_per_s");
    f.put("ping_req_per_s", ping_rate);
    f.put("ping_p99_ms", med(&ping, "p99_ms"));
    f.put("lookup_one_req_per_s", one_rate);
    f.put("lookup_one_p99_ms", med(&lookup_one, "p99_ms"));
    f.put("lookup_one_to_ping", ratio(&lookup_one));
    f.put("lookup_req_per_s", lookup_rate);
    f.put("lookup_p99_ms", med(&lookup, "p99_ms"));
    f.put("lookup_to_ping", ratio(&lookup));
    f.put("errors", errors);

    let mut params = layout_params(&layout);
    load_params(&mut params, &l, &c);
    params["nodes_requests"] = json!(nodes_requests);
    params["rounds"] = json!(rounds);
    let ms = |k: &str| {
        let v = f.get(k);
        if v.is_nan() {
            format!("over {:.0} s", timeout.as_secs_f64())
        } else {
            format!("{v:.1} ms")
        }
    };
    let human = format!(
        "registered in {:.2} s, RSS {:.1} MiB; first /topics {}, /nodes {}; /ping {:.0} req/s, /lookup of one topic {:.0} req/s (x{:.2}), of random topics {:.0} req/s (x{:.2}, p99 {:.2} ms)",
        f.get("register_s"),
        f.get("rss_kib") / 1024.0,
        ms("first_topics_ms"),
        ms("nodes_ms"),
        ping_rate,
        one_rate,
        f.get("lookup_one_to_ping"),
        lookup_rate,
        f.get("lookup_to_ping"),
        f.get("lookup_p99_ms"),
    );
    let case = format!("large {}", layout_case(&layout));
    emit(&c, "large", case, params, &f, human);
    Ok(())
}

/// One GET on a fresh connection, timed: `None` when it takes longer than
/// `timeout` (the Go original's `/nodes` at 10^6 registrations does).
async fn timed_get(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
) -> Res<Option<(f64, usize)>> {
    let mut conn = HttpConn::connect(addr).await.map_err(io("HTTP connect"))?;
    let t = Instant::now();
    let got = future::or(async { Some(conn.get(path, None).await) }, async {
        smol::Timer::after(timeout).await;
        None
    })
    .await;
    match got {
        None => Ok(None),
        Some(Err(e)) => Err(format!("GET {path}: {e}")),
        Some(Ok(r)) if r.status != 200 => Err(format!("GET {path} answered {}", r.status)),
        Some(Ok(r)) => Ok(Some((t.elapsed().as_secs_f64() * 1e3, r.body_len))),
    }
}

/// A closed-loop load of `path` for the load window: its figures.
async fn measure(
    c: &Common,
    l: &LoadArgs,
    what: &str,
    path: impl Fn(&mut fastrand::Rng) -> String + Send + Sync + 'static,
) -> Figures {
    let t0 = Instant::now();
    let path: PathFn = std::sync::Arc::new(path);
    let load = http_load(c.http, l.concurrency, t0, path);
    let w = window(t0, l.warmup, l.duration, c.pid).await;
    let out = load.finish().await;
    let mut f = Figures::default();
    load_figures(&mut f, &out, &w, "req_per_s", l.concurrency);
    if out.errors > 0 {
        eprintln!("  {what}:");
        report_errors(&out);
    }
    f
}

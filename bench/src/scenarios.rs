//! The scenarios. Each prints one JSON object line to stdout and one human
//! line to stderr.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use smol::Timer;

use crate::args::Args;
use crate::http::HttpConn;
use crate::load::{http_load, ns_since, ping_load, Outcome, PathFn};
use crate::nsqd::{connect_many, Fleet, Layout, DEFAULT_BURST};
use crate::rt;
use crate::stats::{self, ended_within, latency_of, overlapping, Latency, Sample};
use crate::sys::{rss_kib, CpuSample};

pub(crate) type Res<T> = Result<T, String>;

/// Options every scenario takes.
pub struct Common {
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    pub pid: Option<u32>,
    /// Which implementation is measured (`ours`, `go`), as given.
    pub label: String,
    /// Free-form grouping tag (run.sh uses `scaling`).
    pub tag: Option<String>,
    pub threads: usize,
}

impl Common {
    pub fn from_args(a: &Args) -> Res<Common> {
        let addr = |k: &str| -> Res<SocketAddr> {
            let v: String = a.req(k)?;
            v.parse().map_err(|_| format!("--{k}: bad address {v:?}"))
        };
        Ok(Common {
            tcp: addr("tcp")?,
            http: addr("http")?,
            pid: a
                .str("pid")
                .map(|p| p.parse())
                .transpose()
                .map_err(|_| "--pid: bad pid")?,
            label: a.get("label", "unlabelled".to_string())?,
            tag: a.str("tag"),
            threads: a.get("threads", 1usize)?,
        })
    }
}

/// Figures of one run, in the order given.
#[derive(Default)]
pub(crate) struct Figures(Vec<(&'static str, f64)>);

impl Figures {
    pub(crate) fn put(&mut self, k: &'static str, v: impl Into<f64>) {
        let v = v.into();
        if v.is_finite() {
            self.0.push((k, v));
        }
    }
    pub(crate) fn opt(&mut self, k: &'static str, v: Option<f64>) {
        if let Some(v) = v {
            self.put(k, v);
        }
    }
    pub(crate) fn latency(&mut self, prefix: &'static str, l: &Latency) {
        let names: [&'static str; 4] = match prefix {
            "" => ["p50_ms", "p99_ms", "max_ms", "mean_ms"],
            "storm" => [
                "storm_p50_ms",
                "storm_p99_ms",
                "storm_max_ms",
                "storm_mean_ms",
            ],
            "pre" => ["pre_p50_ms", "pre_p99_ms", "pre_max_ms", "pre_mean_ms"],
            "before" => [
                "before_p50_ms",
                "before_p99_ms",
                "before_max_ms",
                "before_mean_ms",
            ],
            _ => unreachable!("latency prefix {prefix}"),
        };
        if l.n > 0 {
            self.put(names[0], l.p50);
            self.put(names[1], l.p99);
            self.put(names[2], l.max);
            self.put(names[3], l.mean);
        }
    }
    pub(crate) fn get(&self, k: &str) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| *n == k)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

pub(crate) fn emit(
    c: &Common,
    scenario: &str,
    case: String,
    params: Value,
    f: &Figures,
    human: String,
) {
    let mut figures = Map::new();
    for (k, v) in &f.0 {
        figures.insert((*k).to_string(), json!(v));
    }
    let line = json!({
        "scenario": scenario,
        "case": case,
        "impl": c.label,
        "tag": c.tag,
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "params": params,
        "figures": figures,
    });
    println!("{line}");
    eprintln!("[{}] {case}: {human}", c.label);
}

pub(crate) fn layout_args(a: &Args, producers: usize, topics: usize) -> Res<Layout> {
    let shared = match a.get("layout", "shared".to_string())?.as_str() {
        "shared" => true,
        "disjoint" => false,
        other => return Err(format!("--layout: shared or disjoint, not {other:?}")),
    };
    let l = Layout {
        producers: a.get("producers", producers)?,
        topics: a.get("topics", topics)?,
        channels: a.get("channels", 1usize)?,
        shared,
    };
    if l.producers == 0 || l.topics == 0 {
        return Err("--producers and --topics must be at least 1".into());
    }
    Ok(l)
}

pub(crate) fn layout_params(l: &Layout) -> Value {
    json!({
        "producers": l.producers,
        "topics": l.topics,
        "channels": l.channels,
        "layout": l.name(),
        "registrations": l.registrations(),
    })
}

pub(crate) fn layout_case(l: &Layout) -> String {
    format!(
        "P={} T={} C={} {}",
        l.producers,
        l.topics,
        l.channels,
        l.name()
    )
}

fn secs(a: &Args, k: &str, default: f64) -> Res<Duration> {
    let s: f64 = a.get(k, default)?;
    if !(0.0..=3600.0).contains(&s) {
        return Err(format!("--{k}: 0 to 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

pub(crate) fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A measurement window of a closed-loop load: its bounds (ns since t0)
/// and the CPU used meanwhile (loadgen, server; % of one core).
pub(crate) struct Window {
    from: u64,
    to: u64,
    cpu: (Option<f64>, Option<f64>),
}

impl Window {
    fn secs(&self) -> f64 {
        (self.to - self.from) as f64 / 1e9
    }
}

pub(crate) async fn window(
    t0: Instant,
    warmup: Duration,
    duration: Duration,
    pid: Option<u32>,
) -> Window {
    Timer::at(t0 + warmup).await;
    let a = CpuSample::now(pid);
    let from = ns_since(t0);
    Timer::at(t0 + warmup + duration).await;
    let b = CpuSample::now(pid);
    Window {
        from,
        to: ns_since(t0),
        cpu: a.percent_until(&b),
    }
}

/// Throughput, latency, errors and CPU of the requests that ended in `w`.
pub(crate) fn load_figures(
    f: &mut Figures,
    out: &Outcome,
    w: &Window,
    rate_name: &'static str,
    conns: usize,
) {
    let s = ended_within(&out.samples, w.from, w.to);
    let (fewest, most) = stats::per_conn_spread(&s, conns);
    f.put("conn_req_min", fewest as f64);
    f.put("conn_req_max", most as f64);
    f.put(rate_name, s.len() as f64 / w.secs());
    f.latency("", &latency_of(&s));
    f.put("requests", s.len() as f64);
    let bad = s
        .iter()
        .filter(|x| x.status != 200 && x.status != 0)
        .count();
    f.put("non_200", bad as f64);
    f.put("errors", out.errors as f64);
    f.opt("loadgen_cpu_pct", w.cpu.0);
    f.opt("server_cpu_pct", w.cpu.1);
}

pub(crate) fn human_load(f: &Figures, rate_name: &str, unit: &str) -> String {
    format!(
        "{:.0} {unit}, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, per-connection requests {}..{}, errors {}, non-200 {}, cpu server {:.0}% loadgen {:.0}%",
        f.get(rate_name),
        f.get("p50_ms"),
        f.get("p99_ms"),
        f.get("max_ms"),
        f.get("conn_req_min"),
        f.get("conn_req_max"),
        f.get("errors"),
        f.get("non_200"),
        f.get("server_cpu_pct"),
        f.get("loadgen_cpu_pct"),
    )
}

/// Producers listed in a `/lookup` or `/nodes` answer (either the bare
/// object or one wrapped in `data`).
pub(crate) fn producers_in(body: &[u8]) -> Res<usize> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "answer is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    let list = v
        .get("producers")
        .or_else(|| v.get("data").and_then(|d| d.get("producers")));
    match list {
        Some(Value::Array(a)) => Ok(a.len()),
        Some(Value::Null) => Ok(0),
        _ => Err(format!(
            "no producers in answer: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

/// One GET on a fresh connection: (status, body).
pub(crate) async fn get_once(addr: SocketAddr, path: &str) -> Res<(u16, Vec<u8>)> {
    let mut c = HttpConn::connect(addr).await.map_err(io("HTTP connect"))?;
    let mut body = Vec::new();
    let r = c
        .get(path, Some(&mut body))
        .await
        .map_err(io(&format!("GET {path}")))?;
    Ok((r.status, body))
}

/// Registers a fleet, pings it once, and checks `/lookup?topic=t0`.
pub(crate) async fn registered_fleet(c: &Common, layout: Layout, f: &mut Figures) -> Res<Fleet> {
    let mut fleet = Fleet::connect(c.tcp, layout)
        .await
        .map_err(io("connecting the fleet"))?;
    let took = fleet.register_all(None).await.map_err(io("registering"))?;
    fleet.ping_all().await.map_err(io("PING"))?;
    f.put("registrations", layout.registrations() as f64);
    f.put("register_s", took.as_secs_f64());
    f.put(
        "reg_per_s",
        layout.registrations() as f64 / took.as_secs_f64(),
    );
    if let Some(pid) = c.pid {
        f.opt("rss_kib", rss_kib(pid).map(|k| k as f64));
    }
    let (status, body) = get_once(c.http, "/lookup?topic=t0").await?;
    if status != 200 {
        return Err(format!(
            "/lookup?topic=t0 answered {status} after registering"
        ));
    }
    let want = if layout.shared { layout.producers } else { 1 };
    let got = producers_in(&body)?;
    if got != want {
        return Err(format!(
            "/lookup?topic=t0 lists {got} producers after registering, expected {want}"
        ));
    }
    Ok(fleet)
}

fn lookup_path(space: usize) -> PathFn {
    Arc::new(move |r: &mut fastrand::Rng| format!("/lookup?topic=t{}", r.usize(..space)))
}

pub(crate) struct LoadArgs {
    pub(crate) concurrency: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
}

pub(crate) fn load_args(a: &Args) -> Res<LoadArgs> {
    let l = LoadArgs {
        concurrency: a.get("concurrency", 64usize)?,
        duration: secs(a, "duration", 10.0)?,
        warmup: secs(a, "warmup", 1.0)?,
    };
    if l.concurrency == 0 || l.duration.is_zero() {
        return Err("--concurrency and --duration must be positive".into());
    }
    Ok(l)
}

pub(crate) fn load_params(p: &mut Value, l: &LoadArgs, c: &Common) {
    p["concurrency"] = json!(l.concurrency);
    p["duration_s"] = json!(l.duration.as_secs_f64());
    p["warmup_s"] = json!(l.warmup.as_secs_f64());
    p["loadgen_threads"] = json!(c.threads);
}

/// `lookup`: GET /lookup on random registered topics. With
/// `--scrape-ms N`, GET /metrics every N ms on a connection of its own
/// during the load (does a scrape stall readers?).
pub async fn lookup(c: Common, a: Args) -> Res<()> {
    let layout = layout_args(&a, 1, 1)?;
    let l = load_args(&a)?;
    let scrape_ms: u64 = a.get("scrape-ms", 0u64)?;
    let churn_ms: u64 = a.get("churn-ms", 0u64)?;
    a.finish()?;
    let mut f = Figures::default();
    let fleet = registered_fleet(&c, layout, &mut f).await?;
    let t0 = Instant::now();
    let load = http_load(c.http, l.concurrency, t0, lookup_path(layout.topic_space()));
    let stop_scraping = Arc::new(AtomicBool::new(false));
    let scraper =
        (scrape_ms > 0).then(|| rt::spawn(scrape(c.http, scrape_ms, stop_scraping.clone())));
    let churner = (churn_ms > 0).then(|| rt::spawn(churn(c.tcp, churn_ms, stop_scraping.clone())));
    let w = window(t0, l.warmup, l.duration, c.pid).await;
    let out = load.finish().await;
    stop_scraping.store(true, Ordering::Relaxed);
    if let Some(task) = churner {
        f.put("churn_changes", task.await? as f64);
    }
    if let Some(task) = scraper {
        let times = task.await;
        f.put("scrapes", times.len() as f64);
        f.put("scrape_ms_p50", stats::median(times).unwrap_or(f64::NAN));
    }
    fleet.close();
    load_figures(&mut f, &out, &w, "req_per_s", l.concurrency);
    let mut params = layout_params(&layout);
    params["scrape_ms"] = json!(scrape_ms);
    params["churn_ms"] = json!(churn_ms);
    load_params(&mut params, &l, &c);
    let human = human_load(&f, "req_per_s", "req/s");
    let case = format!("lookup {} c={}", layout_case(&layout), l.concurrency);
    emit(&c, "lookup", case, params, &f, human);
    report_errors(&out);
    Ok(())
}

/// A producer of its own registering and unregistering a topic every
/// `every_ms` until stopped, so the registry keeps changing (and, with a
/// data path, the server keeps writing snapshots). How many changes.
async fn churn(addr: SocketAddr, every_ms: u64, stop: Arc<AtomicBool>) -> Res<u64> {
    let mut n = crate::nsqd::Nsqd::connect(addr, 999_999)
        .await
        .map_err(io("churn connect"))?;
    let mut changes = 0;
    while !stop.load(Ordering::Relaxed) {
        let verb = if changes % 2 == 0 {
            "REGISTER"
        } else {
            "UNREGISTER"
        };
        n.command(&format!("{verb} churn"))
            .await
            .map_err(io("churn"))?;
        changes += 1;
        Timer::after(Duration::from_millis(every_ms)).await;
    }
    Ok(changes)
}

/// GET /metrics every `every_ms` until stopped; the scrape times in ms.
async fn scrape(addr: SocketAddr, every_ms: u64, stop: Arc<AtomicBool>) -> Vec<f64> {
    let mut times = Vec::new();
    let mut conn = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = HttpConn::connect(addr).await.ok();
        }
        if let Some(cn) = conn.as_mut() {
            let t = Instant::now();
            match cn.get("/metrics", None).await {
                Ok(r) if r.status == 200 => times.push(t.elapsed().as_secs_f64() * 1e3),
                _ => conn = None,
            }
            if conn.as_ref().is_some_and(|c| c.closed) {
                conn = None;
            }
        }
        Timer::after(Duration::from_millis(every_ms)).await;
    }
    times
}

pub(crate) fn report_errors(out: &Outcome) {
    if let Some(e) = &out.first_error {
        eprintln!("  {} errors; first: {e}", out.errors);
    }
}

/// Sequential GETs on one connection: the median time of one request and
/// the size of the last answer.
async fn sequential(addr: SocketAddr, path: &PathFn, count: usize) -> Res<(f64, usize)> {
    let mut conn = HttpConn::connect(addr).await.map_err(io("HTTP connect"))?;
    let mut rng = fastrand::Rng::new();
    let mut times = Vec::with_capacity(count);
    let mut size = 0;
    let started = Instant::now();
    for i in 0..count {
        let p = path(&mut rng);
        let t = Instant::now();
        let r = conn.get(&p, None).await.map_err(io(&format!("GET {p}")))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if r.status != 200 {
            return Err(format!("GET {p} answered {}", r.status));
        }
        size = r.body_len;
        if conn.closed {
            conn = HttpConn::connect(addr).await.map_err(io("HTTP connect"))?;
        }
        // Slow servers: stop after 10 s, with at least 5 requests.
        if i >= 4 && started.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    Ok((stats::median(times).unwrap_or(f64::NAN), size))
}

/// `query --endpoint nodes|topics|channels`.
pub async fn query(c: Common, a: Args) -> Res<()> {
    let endpoint = a.get("endpoint", "nodes".to_string())?;
    let layout = layout_args(&a, 100, 100)?;
    let l = load_args(&a)?;
    let count: usize = a.get("sequential", 21usize)?;
    a.finish()?;
    let space = layout.topic_space();
    let path: PathFn = match endpoint.as_str() {
        "nodes" => Arc::new(|_: &mut fastrand::Rng| "/nodes".to_string()),
        "topics" => Arc::new(|_: &mut fastrand::Rng| "/topics".to_string()),
        "channels" => {
            Arc::new(move |r: &mut fastrand::Rng| format!("/channels?topic=t{}", r.usize(..space)))
        }
        other => {
            return Err(format!(
                "--endpoint: nodes, topics or channels, not {other:?}"
            ))
        }
    };
    let mut f = Figures::default();
    let fleet = registered_fleet(&c, layout, &mut f).await?;
    if endpoint == "nodes" {
        let (_, body) = get_once(c.http, "/nodes").await?;
        let n = producers_in(&body)?;
        if n != layout.producers {
            return Err(format!(
                "/nodes lists {n} producers, expected {}",
                layout.producers
            ));
        }
    }
    let (single, size) = sequential(c.http, &path, count.max(1)).await?;
    f.put("single_ms", single);
    f.put("answer_bytes", size as f64);
    let t0 = Instant::now();
    let load = http_load(c.http, l.concurrency, t0, path);
    let w = window(t0, l.warmup, l.duration, c.pid).await;
    let out = load.finish().await;
    fleet.close();
    load_figures(&mut f, &out, &w, "req_per_s", l.concurrency);
    let mut params = layout_params(&layout);
    params["endpoint"] = json!(endpoint);
    load_params(&mut params, &l, &c);
    let human = format!(
        "single request {:.3} ms ({} bytes); {}",
        single,
        size,
        human_load(&f, "req_per_s", "req/s")
    );
    let case = format!(
        "query /{endpoint} {} c={}",
        layout_case(&layout),
        l.concurrency
    );
    emit(&c, "query", case, params, &f, human);
    report_errors(&out);
    Ok(())
}

/// `register`: REGISTER throughput, every producer pipelining at once.
pub async fn register(c: Common, a: Args) -> Res<()> {
    let layout = layout_args(&a, 100, 1000)?;
    let hold = secs(&a, "hold", 0.0)?;
    a.finish()?;
    let mut fleet = Fleet::connect(c.tcp, layout)
        .await
        .map_err(io("connecting the fleet"))?;
    let mut f = Figures::default();
    let before = CpuSample::now(c.pid);
    let took = fleet.register_all(None).await.map_err(io("registering"))?;
    let after = CpuSample::now(c.pid);
    let (own, server) = before.percent_until(&after);
    let n = layout.registrations() as f64;
    f.put("reg_per_s", n / took.as_secs_f64());
    f.put("registrations", n);
    f.put("register_s", took.as_secs_f64());
    if let Some(pid) = c.pid {
        f.opt("rss_kib", rss_kib(pid).map(|k| k as f64));
    }
    f.opt("loadgen_cpu_pct", own);
    f.opt("server_cpu_pct", server);
    let human = format!(
        "{:.0} registrations/s ({} in {:.3} s), cpu server {:.0}% loadgen {:.0}%",
        f.get("reg_per_s"),
        n,
        took.as_secs_f64(),
        f.get("server_cpu_pct"),
        f.get("loadgen_cpu_pct")
    );
    let case = format!("register {}", layout_case(&layout));
    emit(&c, "register", case, layout_params(&layout), &f, human);
    // Connected a while longer, registrations held (for a snapshot).
    Timer::after(hold).await;
    fleet.close();
    Ok(())
}

/// `ping`: PING round trips on identified connections.
pub async fn ping(c: Common, a: Args) -> Res<()> {
    let n: usize = a.get("connections", 50usize)?;
    let mut l = load_args(&a)?;
    l.concurrency = n;
    a.finish()?;
    let conns = connect_many(c.tcp, 0, n, DEFAULT_BURST)
        .await
        .map_err(io("connecting"))?;
    let t0 = Instant::now();
    let load = ping_load(conns, t0);
    let w = window(t0, l.warmup, l.duration, c.pid).await;
    let out = load.finish().await;
    let mut f = Figures::default();
    load_figures(&mut f, &out, &w, "rt_per_s", n);
    let mut params = json!({ "connections": n });
    load_params(&mut params, &l, &c);
    let human = human_load(&f, "rt_per_s", "round trips/s");
    emit(&c, "ping", format!("ping n={n}"), params, &f, human);
    report_errors(&out);
    Ok(())
}

/// `idle`: server memory per idle identified connection.
pub async fn idle(c: Common, a: Args) -> Res<()> {
    let n: usize = a.get("connections", 10_000usize)?;
    let settle = secs(&a, "settle", 1.0)?;
    let burst: usize = a.get("burst", DEFAULT_BURST)?;
    a.finish()?;
    let pid = c.pid.ok_or("idle needs --pid")?;
    let limit = crate::sys::raise_nofile_limit();
    if (limit as usize) < n + 64 {
        return Err(format!(
            "open-file limit {limit} is too low for {n} connections"
        ));
    }
    Timer::after(settle).await;
    let before = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let started = Instant::now();
    let conns = connect_many(c.tcp, 0, n, burst)
        .await
        .map_err(io("connecting"))?;
    let connect_s = started.elapsed().as_secs_f64();
    Timer::after(settle).await;
    let after = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    // Still serving, and it sees them all?
    let (status, body) = get_once(c.http, "/nodes").await?;
    let seen = if status == 200 {
        producers_in(&body)?
    } else {
        0
    };
    drop(conns);
    let mut f = Figures::default();
    let per = (after as f64 - before as f64) / n as f64;
    f.put("kib_per_conn", per);
    f.put("rss_before_kib", before as f64);
    f.put("rss_after_kib", after as f64);
    f.put("connect_s", connect_s);
    f.put("nodes_seen", seen as f64);
    let human = format!(
        "{per:.2} KiB per connection (RSS {before} -> {after} KiB), {n} connections opened in {connect_s:.2} s, /nodes lists {seen}"
    );
    let params = json!({ "connections": n, "settle_s": settle.as_secs_f64(), "burst": burst });
    emit(&c, "idle", format!("idle n={n}"), params, &f, human);
    if seen != n {
        eprintln!("  warning: /nodes lists {seen} producers, {n} connected");
    }
    Ok(())
}

/// `disconnect-storm`: every producer disconnects at once under /lookup
/// load.
pub async fn disconnect_storm(c: Common, a: Args) -> Res<()> {
    let layout = layout_args(&a, 100, 1000)?;
    let l = load_args(&a)?;
    let sample: usize = a.get("sample", 20usize)?;
    let timeout = secs(&a, "timeout", 60.0)?;
    a.finish()?;
    let mut f = Figures::default();
    let fleet = registered_fleet(&c, layout, &mut f).await?;
    let space = layout.topic_space();
    let sample: Vec<usize> = (0..sample.clamp(1, space))
        .map(|i| i * space / sample.clamp(1, space))
        .collect();
    // One probe connection per sampled topic plus one for /nodes, opened
    // now; after the close each polls its path until the producers are
    // gone, so the clear time resolves to about one request.
    let mut paths: Vec<String> = sample
        .iter()
        .map(|t| format!("/lookup?topic=t{t}"))
        .collect();
    paths.push("/nodes".to_string());
    let mut probes = Vec::with_capacity(paths.len());
    for p in paths {
        let conn = HttpConn::connect(c.http)
            .await
            .map_err(io("HTTP connect"))?;
        probes.push((p, conn));
    }

    let t0 = Instant::now();
    let load = http_load(c.http, l.concurrency, t0, lookup_path(space));
    Timer::at(t0 + l.warmup).await;
    let cpu_a = CpuSample::now(c.pid);
    let from = ns_since(t0);
    Timer::at(t0 + l.warmup + l.duration / 2).await;

    let close = ns_since(t0);
    fleet.close();
    let timeout_ns = timeout.as_nanos() as u64;
    let tasks: Vec<_> = probes
        .into_iter()
        .map(|(path, mut conn)| {
            crate::rt::spawn(async move { probe(&mut conn, &path, t0, close, timeout_ns).await })
        })
        .collect();
    let mut clear = Some(0u64);
    let mut last_seen = None;
    let mut rounds = 0u64;
    for t in tasks {
        let p = t.await?;
        rounds += p.requests;
        clear = clear.zip(p.clean_at).map(|(a, b)| a.max(b));
        last_seen = last_seen.max(p.dirty_at);
    }
    let clear = clear.map(|at| at - close);
    let last_seen = last_seen.map(|at| at.saturating_sub(close));
    let clear_at = clear.map_or(ns_since(t0), |d| close + d);
    // Keep the load on for the rest of the duration, or until clear.
    Timer::at((t0 + l.warmup + l.duration).max(Instant::now())).await;
    let cpu_b = CpuSample::now(c.pid);
    let to = ns_since(t0);
    let out = load.finish().await;

    let ms = |ns: u64| ns as f64 / 1e6;
    f.opt("clear_ms", clear.map(ms));
    f.put("last_seen_ms", last_seen.map_or(0.0, ms));
    f.put("probe_requests", rounds as f64);
    let storm: Vec<Sample> = overlapping(&out.samples, close, clear_at);
    f.latency("storm", &latency_of(&storm));
    f.put("storm_requests", storm.len() as f64);
    let pre = ended_within(&out.samples, from, close);
    f.latency("pre", &latency_of(&pre));
    f.put(
        "pre_req_per_s",
        pre.len() as f64 / ((close - from) as f64 / 1e9),
    );
    if to > clear_at + 100_000_000 {
        let post = ended_within(&out.samples, clear_at, to);
        f.put(
            "post_req_per_s",
            post.len() as f64 / ((to - clear_at) as f64 / 1e9),
        );
    }
    let all = ended_within(&out.samples, from, to);
    let bad = all.iter().filter(|x| x.status != 200).count();
    f.put("non_200", bad as f64);
    f.put("errors", out.errors as f64);
    let (own, server) = cpu_a.percent_until(&cpu_b);
    f.opt("loadgen_cpu_pct", own);
    f.opt("server_cpu_pct", server);

    let mut params = layout_params(&layout);
    params["sample_topics"] = json!(sample.len());
    load_params(&mut params, &l, &c);
    let human = format!(
        "clear after {} (last seen {:.3} ms, {} probe requests); /lookup during the storm: {} requests, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; before: p50 {:.3} ms, p99 {:.3} ms; errors {}",
        clear.map_or("NEVER (timeout)".to_string(), |d| format!("{:.3} ms", ms(d))),
        f.get("last_seen_ms"),
        rounds,
        storm.len(),
        f.get("storm_p50_ms"),
        f.get("storm_p99_ms"),
        f.get("storm_max_ms"),
        f.get("pre_p50_ms"),
        f.get("pre_p99_ms"),
        out.errors,
    );
    let case = format!(
        "disconnect-storm {} c={}",
        layout_case(&layout),
        l.concurrency
    );
    emit(&c, "disconnect-storm", case, params, &f, human);
    report_errors(&out);
    Ok(())
}

/// What one disconnect-storm probe saw (times in ns since t0).
struct Probe {
    /// End of the first answer without producers.
    clean_at: Option<u64>,
    /// Start of the last answer that still listed producers.
    dirty_at: Option<u64>,
    requests: u64,
}

/// Polls `path` until its answer lists no producer (a 404 counts as
/// none), or `timeout_ns` after `close`.
async fn probe(
    conn: &mut HttpConn,
    path: &str,
    t0: Instant,
    close: u64,
    timeout_ns: u64,
) -> Res<Probe> {
    let mut body = Vec::new();
    let mut p = Probe {
        clean_at: None,
        dirty_at: None,
        requests: 0,
    };
    while ns_since(t0) - close < timeout_ns {
        body.clear();
        let start = ns_since(t0);
        let r = conn
            .get(path, Some(&mut body))
            .await
            .map_err(io(&format!("GET {path}")))?;
        p.requests += 1;
        let listed = match r.status {
            200 => producers_in(&body)?,
            404 => 0,
            s => return Err(format!("GET {path} answered {s}")),
        };
        if listed == 0 {
            p.clean_at = Some(ns_since(t0));
            return Ok(p);
        }
        p.dirty_at = Some(start);
    }
    Ok(p)
}

/// `register-stream`: /lookup latency while REGISTERs stream in.
pub async fn register_stream(c: Common, a: Args) -> Res<()> {
    let total: usize = a.get("registrations", 100_000usize)?;
    let producers: usize = a.get("producers", 100usize)?;
    let channels: usize = a.get("channels", 1usize)?;
    if producers == 0 || total < producers * channels.max(1) {
        return Err("--registrations must be at least producers x channels".into());
    }
    let topics = total / (producers * channels.max(1));
    let layout = layout_args(&a, producers, topics)?;
    let l = load_args(&a)?;
    let rate: f64 = a.get("rate", 0.0)?;
    let rate = (rate > 0.0).then_some(rate);
    let timeout = secs(&a, "timeout", 60.0)?;
    a.finish()?;
    let mut fleet = Fleet::connect(c.tcp, layout)
        .await
        .map_err(io("connecting the fleet"))?;
    let t0 = Instant::now();
    let load = http_load(c.http, l.concurrency, t0, lookup_path(layout.topic_space()));
    Timer::at(t0 + l.warmup).await;
    let cpu_a = CpuSample::now(c.pid);
    let start = ns_since(t0);
    // A server that cannot keep up (the Go original, scanning its whole
    // database for every /lookup meanwhile) is given `--timeout` seconds.
    let took = smol::future::or(async { Some(fleet.register_all(rate).await) }, async {
        Timer::after(timeout).await;
        None
    })
    .await;
    let timed_out = took.is_none();
    let took = match took {
        Some(t) => t.map_err(io("registering"))?,
        None => timeout,
    };
    let end = ns_since(t0);
    let cpu_b = CpuSample::now(c.pid);
    let out = load.finish().await;
    fleet.close();

    let mut f = Figures::default();
    let during = ended_within(&out.samples, start, end);
    f.latency("", &latency_of(&during));
    f.put("requests", during.len() as f64);
    f.put("req_per_s", during.len() as f64 / took.as_secs_f64());
    let count = |st: u16| during.iter().filter(|s| s.status == st).count() as f64;
    f.put("lookup_200", count(200));
    f.put("lookup_404", count(404));
    f.put(
        "non_200",
        during
            .iter()
            .filter(|s| s.status != 200 && s.status != 404)
            .count() as f64,
    );
    f.put("registrations", layout.registrations() as f64);
    f.put("timed_out", if timed_out { 1.0 } else { 0.0 });
    f.put("stream_s", took.as_secs_f64());
    f.put(
        "reg_per_s",
        layout.registrations() as f64 / took.as_secs_f64(),
    );
    let before = ended_within(&out.samples, l.warmup.as_nanos() as u64 / 2, start);
    f.latency("before", &latency_of(&before));
    f.put("errors", out.errors as f64);
    let (own, server) = cpu_a.percent_until(&cpu_b);
    f.opt("loadgen_cpu_pct", own);
    f.opt("server_cpu_pct", server);

    let mut params = layout_params(&layout);
    params["rate"] = json!(rate);
    load_params(&mut params, &l, &c);
    let human = format!(
        "{}{} registrations in {:.3} s ({:.0}/s); /lookup meanwhile: {} requests ({} found, {} not yet), p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; errors {}",
        if timed_out { "NOT DONE: " } else { "" },
        layout.registrations(),
        took.as_secs_f64(),
        f.get("reg_per_s"),
        during.len(),
        f.get("lookup_200"),
        f.get("lookup_404"),
        f.get("p50_ms"),
        f.get("p99_ms"),
        f.get("max_ms"),
        out.errors,
    );
    let case = format!(
        "register-stream R={} {} c={}",
        layout.registrations(),
        layout_case(&layout),
        l.concurrency
    );
    emit(&c, "register-stream", case, params, &f, human);
    report_errors(&out);
    Ok(())
}

/// `wait-ready --http ADDR`: waits until `GET /ping` answers 200.
pub async fn wait_ready(http: SocketAddr, timeout: Duration) -> Res<()> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = get_once(http, "/ping").await {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(format!("{http} not ready after {timeout:?}"));
        }
        Timer::after(Duration::from_millis(20)).await;
    }
}

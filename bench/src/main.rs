//! `loadgen`: load generator, scenarios, summaries and plots for lookupd
//! (and any nsqlookupd). See bench/README.md.

mod args;
mod http;
mod large;
mod load;
mod nsqd;
mod plot;
mod rt;
mod scenarios;
mod stats;
mod summarize;
mod sys;

use std::time::Duration;

use args::Args;
use scenarios::Common;

const USAGE: &str = "\
usage: loadgen SCENARIO --tcp ADDR --http ADDR [--pid PID] [--label NAME] [--tag TAG] [--threads N] [options]
       loadgen summarize [--all] RESULT_FILES...
       loadgen plot --out FILE.png RESULT_FILES...
       loadgen free-ports N
       loadgen wait-ready --http ADDR [--timeout SECONDS]

Scenarios (each prints one JSON line to stdout and a human line to stderr):
  lookup            [--producers 1 --topics 1 --channels 1 --layout shared|disjoint]
                    [--scrape-ms N: GET /metrics every N ms during the load]
                    [--churn-ms N: REGISTER/UNREGISTER a topic every N ms during the load]
                    [--concurrency 64 --duration 10 --warmup 1]
  query             --endpoint nodes|topics|channels  [fleet and load options as lookup;
                    fleet defaults 100 x 100] [--sequential 21]
  register          [--producers 100 --topics 1000 --channels 1 --layout shared]
                    [--hold S: keep the fleet connected S seconds after registering]
  ping              [--connections 50 --duration 10 --warmup 1]
  idle              --pid PID [--connections 10000 --settle 1]
  disconnect-storm  [--producers 100 --topics 1000 --channels 1] [load options]
                    [--sample 20 --timeout 60]
  register-stream   [--registrations 100000 --producers 100 --channels 1 --timeout 60] [load options]
  large             [--producers 1000 --topics 1000 --channels 1 --layout disjoint]
                    [--nodes-requests 3 --request-timeout 120] [--rounds 3]
                    [load options: /ping, /lookup of one topic, of random ones, in rounds]

--threads: threads of the generator's executor (default 1).
--layout shared: every producer registers the same topics t0..t{T-1};
         disjoint: producer p registers its own T topics.";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(argv) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

fn run(argv: Vec<String>) -> Result<(), String> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err(USAGE.to_string());
    };
    sys::raise_nofile_limit();
    // `summarize --all` is a bare flag.
    let all = cmd == "summarize" && rest.iter().any(|r| r == "--all");
    let rest: Vec<String> = rest
        .iter()
        .filter(|r| !all || *r != "--all")
        .cloned()
        .collect();
    let a = Args::parse(&rest)?;
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "summarize" => {
            a.finish()?;
            if a.positional.is_empty() {
                return Err("summarize: name some result files".into());
            }
            print!("{}", summarize::summarize(&a.positional, all)?);
            Ok(())
        }
        "plot" => {
            let out: String = a.req("out")?;
            a.finish()?;
            if a.positional.is_empty() {
                return Err("plot: name some result files".into());
            }
            plot::plot(&out, &a.positional)?;
            eprintln!("wrote {out}");
            Ok(())
        }
        "free-ports" => {
            let n: usize = a
                .positional
                .first()
                .map_or(Ok(1), |s| s.parse())
                .map_err(|_| "free-ports N")?;
            a.finish()?;
            let listeners = (0..n)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("bind: {e}"))?;
            let ports: Vec<String> = listeners
                .iter()
                .map(|l| l.local_addr().map(|a| a.port().to_string()))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            println!("{}", ports.join(" "));
            Ok(())
        }
        "wait-ready" => {
            let http: String = a.req("http")?;
            let http = http
                .parse()
                .map_err(|_| format!("--http: bad address {http:?}"))?;
            let timeout: f64 = a.get("timeout", 10.0)?;
            a.finish()?;
            rt::run(
                1,
                scenarios::wait_ready(http, Duration::from_secs_f64(timeout)),
            )
        }
        scenario => {
            let c = Common::from_args(&a)?;
            let threads = c.threads;
            let fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>> =
                match scenario {
                    "lookup" => Box::pin(scenarios::lookup(c, a)),
                    "query" => Box::pin(scenarios::query(c, a)),
                    "register" => Box::pin(scenarios::register(c, a)),
                    "ping" => Box::pin(scenarios::ping(c, a)),
                    "idle" => Box::pin(scenarios::idle(c, a)),
                    "disconnect-storm" => Box::pin(scenarios::disconnect_storm(c, a)),
                    "register-stream" => Box::pin(scenarios::register_stream(c, a)),
                    "large" => Box::pin(large::large(c, a)),
                    other => return Err(format!("unknown command {other:?}\n{USAGE}")),
                };
            rt::run(threads, fut)
        }
    }
}

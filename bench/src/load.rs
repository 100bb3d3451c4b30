//! Closed-loop load: a fixed number of connections, each sending its next
//! request as soon as the previous answer is read, timing every request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::{future, Task, Timer};

use crate::http::HttpConn;
use crate::nsqd::Nsqd;
use crate::rt;
use crate::stats::Sample;

/// How long [`Load::finish`] waits for a worker's request in flight before
/// it gives the worker up as stuck (a per-request timer would cost the
/// generator a timer registration per request).
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// What the workers saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub samples: Vec<Sample>,
    /// Connection errors, protocol errors and timeouts.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Workers still waiting for an answer `STUCK_AFTER` after the stop;
    /// their samples are lost.
    pub stuck: u64,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
        self.stuck += other.stuck;
        self.first_error = self.first_error.take().or(other.first_error);
    }

    fn error(&mut self, e: impl ToString) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

/// Running workers; [`Load::finish`] stops them and merges their figures.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<Task<Outcome>>,
}

impl Load {
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + STUCK_AFTER;
        let mut out = Outcome::default();
        for t in self.tasks {
            let stuck = async {
                Timer::at(deadline).await;
                Outcome {
                    stuck: 1,
                    ..Outcome::default()
                }
            };
            let o = future::or(t, stuck).await;
            if o.stuck > 0 {
                out.error("a worker got no answer within 30 s of the stop");
            }
            out.merge(o);
        }
        out
    }
}

/// Nanoseconds since `t0`.
pub fn ns_since(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// A path to request next, given a per-worker random source.
pub type PathFn = Arc<dyn Fn(&mut fastrand::Rng) -> String + Send + Sync>;

/// Starts `concurrency` keep-alive connections each sending `GET path()`
/// back to back. Sample times are relative to `t0`.
pub fn http_load(addr: SocketAddr, concurrency: usize, t0: Instant, path: PathFn) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = (0..concurrency)
        .map(|conn_idx| {
            let stop = stop.clone();
            let path = path.clone();
            rt::spawn(async move {
                let mut rng = fastrand::Rng::new();
                let mut out = Outcome::default();
                let mut conn: Option<HttpConn> = None;
                while !stop.load(Ordering::Relaxed) {
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match HttpConn::connect(addr).await {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                out.error(format!("connect: {e}"));
                                Timer::after(Duration::from_millis(10)).await;
                                continue;
                            }
                        },
                    };
                    let p = path(&mut rng);
                    let start = ns_since(t0);
                    match c.get(&p, None).await {
                        Ok(r) => {
                            let end = ns_since(t0);
                            out.samples.push(Sample {
                                start,
                                lat: end - start,
                                status: r.status,
                                conn: conn_idx as u32,
                            });
                            if c.closed {
                                conn = None;
                            }
                        }
                        Err(e) => {
                            out.error(format!("GET {p}: {e}"));
                            conn = None;
                        }
                    }
                }
                out
            })
        })
        .collect();
    Load { stop, tasks }
}

/// Starts one PING loop on each identified connection.
pub fn ping_load(conns: Vec<Nsqd>, t0: Instant) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = conns
        .into_iter()
        .enumerate()
        .map(|(conn_idx, mut c)| {
            let stop = stop.clone();
            rt::spawn(async move {
                let mut out = Outcome::default();
                while !stop.load(Ordering::Relaxed) {
                    let start = ns_since(t0);
                    match c.ping().await {
                        Ok(()) => {
                            let end = ns_since(t0);
                            out.samples.push(Sample {
                                start,
                                lat: end - start,
                                status: 0,
                                conn: conn_idx as u32,
                            });
                        }
                        Err(e) => {
                            out.error(format!("PING: {e}"));
                            break;
                        }
                    }
                }
                out
            })
        })
        .collect();
    Load { stop, tasks }
}

//! What /proc says about the server and about us, and the open-file limit.

use std::time::Instant;

/// Raises this process's open-file soft limit to the hard limit; returns
/// the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time of a process (`self` for us), in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU used so far by us and by the server, at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    own: Option<u64>,
    server: Option<u64>,
}

impl CpuSample {
    /// Samples now; the server's share only when its pid is known.
    pub fn now(server: Option<u32>) -> CpuSample {
        CpuSample {
            at: Instant::now(),
            own: cpu_ticks("self"),
            server: server.and_then(|p| cpu_ticks(&p.to_string())),
        }
    }

    /// CPU use between `self` and `later`, in percent of one core:
    /// (loadgen, server). None for spans under half a second, which the
    /// kernel's clock ticks cannot resolve.
    pub fn percent_until(&self, later: &CpuSample) -> (Option<f64>, Option<f64>) {
        let wall = later.at.duration_since(self.at).as_secs_f64();
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if wall >= 0.5 => {
                Some(b.saturating_sub(a) as f64 / ticks_per_second() / wall * 100.0)
            }
            _ => None,
        };
        (pct(self.own, later.own), pct(self.server, later.server))
    }
}

//! Latency samples and their percentiles.

/// One timed operation: when it started and how long it took, in
/// nanoseconds from the scenario's start.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub start: u64,
    pub lat: u64,
    /// HTTP status, or 0 for a PING's `OK`.
    pub status: u16,
    /// Which connection (worker) made the request.
    pub conn: u32,
}

impl Sample {
    pub fn end(&self) -> u64 {
        self.start + self.lat
    }
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Nearest-rank percentiles of `lat` (nanoseconds).
pub fn latency(mut lat: Vec<u64>) -> Latency {
    if lat.is_empty() {
        return Latency::default();
    }
    lat.sort_unstable();
    let n = lat.len();
    let rank = |q: f64| lat[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let ms = |ns: u64| ns as f64 / 1e6;
    Latency {
        n,
        p50: ms(rank(0.50)),
        p99: ms(rank(0.99)),
        max: ms(lat[n - 1]),
        mean: lat.iter().map(|&x| x as f64).sum::<f64>() / n as f64 / 1e6,
    }
}

/// The samples that ended within `[from, to]` (ns).
pub fn ended_within(samples: &[Sample], from: u64, to: u64) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.end() >= from && s.end() <= to)
        .copied()
        .collect()
}

/// The samples that overlap `[from, to]` (ns) at all.
pub fn overlapping(samples: &[Sample], from: u64, to: u64) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.end() >= from && s.start <= to)
        .copied()
        .collect()
}

/// Latency percentiles of some samples.
pub fn latency_of(samples: &[Sample]) -> Latency {
    latency(samples.iter().map(|s| s.lat).collect())
}

/// Requests per connection among `samples`, over `conns` connections:
/// (fewest, most). A closed loop where the server serves connections
/// fairly gives each about the same number.
pub fn per_conn_spread(samples: &[Sample], conns: usize) -> (u64, u64) {
    let mut counts = vec![0u64; conns.max(1)];
    for s in samples {
        if let Some(c) = counts.get_mut(s.conn as usize) {
            *c += 1;
        }
    }
    (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    )
}

/// The median of some values (the mean of the middle two when even).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let l = latency((1..=100).map(|i| i * 1_000_000).collect());
        assert_eq!(l.n, 100);
        assert_eq!(l.p50, 50.0);
        assert_eq!(l.p99, 99.0);
        assert_eq!(l.max, 100.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}

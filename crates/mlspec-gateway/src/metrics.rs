//! What the gateway counts for `/metrics` and `/varz`: requests by route and status, a latency
//! histogram per route, requests in flight, and why the gateway itself answered (upstream
//! refused, timed out, body too large…). Updated with atomics on the request path; read
//! whole when a page is rendered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use mlspec_server::exposition::HistogramSnapshot;

use crate::route::Route;

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// A latency histogram updated without locks.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    count: AtomicU64,
    micros: AtomicU64,
}

impl Histogram {
    /// Adds one observation.
    pub fn observe(&self, seconds: f64) {
        if let Some(i) = LATENCY_BOUNDS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Cumulative counts, as Prometheus wants them.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let buckets = LATENCY_BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                total += n.load(Ordering::Relaxed);
                (*bound, total)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// Requests answered per second over the last seconds: a ring of per-second counts.
#[derive(Default)]
pub struct Rate {
    /// (second since the epoch, requests in it), by second modulo the ring's length.
    seconds: [(AtomicU64, AtomicU64); 16],
}

impl Rate {
    /// Counts one request answered at `second`.
    pub fn tick(&self, second: u64) {
        let (at, count) = &self.seconds[(second % 16) as usize];
        if at.swap(second, Ordering::Relaxed) != second {
            count.store(0, Ordering::Relaxed);
        }
        count.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests per second over the 10 whole seconds before `now`.
    pub fn per_second(&self, now: u64) -> f64 {
        let counted: u64 = (now.saturating_sub(10)..now)
            .filter_map(|second| {
                let (at, count) = &self.seconds[(second % 16) as usize];
                (at.load(Ordering::Relaxed) == second).then(|| count.load(Ordering::Relaxed))
            })
            .sum();
        counted as f64 / 10.0
    }
}

/// Bytes that may wait in a queue at once: bodies handed to the monitor or the capture wait
/// there, and a slow consumer must not make the gateway hold them without bound.
pub struct ByteBudget {
    used: AtomicU64,
    limit: u64,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: u64) -> ByteBudget {
        ByteBudget {
            used: AtomicU64::new(0),
            limit,
        }
    }

    /// Takes `bytes` from the budget; false (and nothing taken) when they do not fit.
    pub fn take(&self, bytes: u64) -> bool {
        let taken = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if taken > self.limit {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Gives `bytes` back once they left the queue.
    pub fn give_back(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Every counter of the gateway.
#[derive(Default)]
pub struct Metrics {
    /// Requests answered, by route and status.
    pub responses: Mutex<BTreeMap<(Route, u16), u64>>,
    /// Why the gateway answered instead of the upstream, by reason (`refused`, `timeout`…).
    pub gateway_errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Latency per route.
    pub latency: [Histogram; Route::COUNT],
    /// Requests being answered.
    pub in_flight: AtomicI64,
    /// Monitoring samples dropped because the monitor was behind.
    pub samples_dropped: AtomicU64,
    /// Bodies not captured because the capture's queue was full.
    pub captures_dropped: AtomicU64,
    /// Requests answered per second, lately.
    pub rate: Rate,
}

impl Metrics {
    /// Counts an answered request.
    pub fn answered(&self, route: Route, status: u16, seconds: f64) {
        if let Ok(mut responses) = self.responses.lock() {
            *responses.entry((route, status)).or_default() += 1;
        }
        self.latency[route as usize].observe(seconds);
        self.rate.tick(now_second());
    }

    /// Counts an answer the gateway made itself.
    pub fn gateway_error(&self, reason: &'static str) {
        if let Ok(mut errors) = self.gateway_errors.lock() {
            *errors.entry(reason).or_default() += 1;
        }
    }

    /// Requests answered so far, by route and status.
    pub fn responses(&self) -> BTreeMap<(Route, u16), u64> {
        self.responses.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Gateway-made answers so far, by reason.
    pub fn gateway_errors(&self) -> BTreeMap<&'static str, u64> {
        self.gateway_errors.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Seconds since the Unix epoch.
pub fn now_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_what_does_not_fit_and_takes_again_what_was_given_back() {
        let budget = ByteBudget::new(100);
        assert!(budget.take(60));
        assert!(!budget.take(41), "61 + 41 > 100");
        assert!(budget.take(40));
        budget.give_back(60);
        assert!(budget.take(55));
        assert!(!budget.take(6));
    }

    #[test]
    fn the_rate_counts_the_last_ten_whole_seconds_and_forgets_older_ones() {
        let rate = Rate::default();
        for second in [100, 100, 101, 105, 109, 110] {
            rate.tick(second);
        }
        assert_eq!(rate.per_second(110), 0.5, "100..110: 5 requests");
        assert_eq!(rate.per_second(111), 0.4, "101..111");
        // Second 116 reuses 100's slot: the old count is gone.
        rate.tick(116);
        assert_eq!(rate.per_second(117), 0.3, "107..117: 109, 110, 116");
    }

    #[test]
    fn a_histogram_is_cumulative_and_counts_what_exceeds_every_bound() {
        let histogram = Histogram::default();
        for seconds in [0.0001, 0.0007, 0.003, 100.0] {
            histogram.observe(seconds);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets[0], (0.0005, 1));
        assert_eq!(snapshot.buckets[1], (0.001, 2));
        assert_eq!(snapshot.buckets[3], (0.005, 3));
        assert_eq!(snapshot.buckets.last(), Some(&(60.0, 3)));
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum - 100.0038).abs() < 1e-6);
    }
}

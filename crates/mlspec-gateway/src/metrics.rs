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
}

impl Metrics {
    /// Counts an answered request.
    pub fn answered(&self, route: Route, status: u16, seconds: f64) {
        if let Ok(mut responses) = self.responses.lock() {
            *responses.entry((route, status)).or_default() += 1;
        }
        self.latency[route as usize].observe(seconds);
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

#[cfg(test)]
mod tests {
    use super::*;

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

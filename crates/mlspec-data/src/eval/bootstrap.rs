//! The seeded Poisson bootstrap behind the confidence intervals.
//!
//! A resample gives each row a weight drawn from Poisson(1) (the Poisson bootstrap: the same
//! large-sample behaviour as drawing n rows with replacement, and resamples independent of one
//! another, so they spread over threads). Resample r draws from Xoshiro256++ seeded with
//! SplitMix64 of (seed, stream, r): the intervals depend on the seed only, not on the thread
//! count. For metrics of a confusion matrix, a cell of count c gets Poisson(c) — the sum of c
//! Poisson(1) weights — so a resample costs one draw per cell, not per row.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Poisson};

use super::EvalOptions;
use super::metrics::Confusion;

/// P(Poisson(1) ≤ k) for k = 0, 1, …, 11: the inverse-CDF table of a row weight (the rest of
/// the tail, below 10⁻⁹, counts as 12).
fn poisson_one_cdf() -> [f64; 12] {
    let mut table = [0.0; 12];
    let (mut term, mut sum) = ((-1.0f64).exp(), 0.0);
    for (k, entry) in table.iter_mut().enumerate() {
        sum += term;
        *entry = sum;
        term /= (k + 1) as f64;
    }
    table
}

/// A generator for resample `r` of a stream.
fn generator(seed: u64, stream: u64, r: usize) -> Xoshiro256PlusPlus {
    let mut z = seed ^ stream.rotate_left(17) ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

/// The row weights of one resample, drawn as they are asked for: two per 64 random bits,
/// each from 32 (the inverse CDF at 2⁻³² resolution).
pub struct Weights {
    rng: Xoshiro256PlusPlus,
    cdf: [u64; 12],
    spare: Option<u32>,
}

impl Weights {
    fn new(rng: Xoshiro256PlusPlus) -> Weights {
        Weights {
            rng,
            cdf: poisson_one_cdf().map(|c| (c * 4_294_967_296.0) as u64),
            spare: None,
        }
    }

    /// The next row's weight: a Poisson(1) draw.
    #[inline]
    pub fn next(&mut self) -> f64 {
        let u = match self.spare.take() {
            Some(u) => u,
            None => {
                let bits = self.rng.next_u64();
                self.spare = Some(bits as u32);
                (bits >> 32) as u32
            }
        };
        let u = u64::from(u);
        self.cdf.iter().position(|c| u < *c).unwrap_or(self.cdf.len()) as f64
    }

    /// The summed weight of `count` rows: a Poisson(count) draw.
    pub fn of(&mut self, count: f64) -> f64 {
        if count == 1.0 {
            return self.next();
        }
        Poisson::new(count).map_or(0.0, |d| d.sample(&mut self.rng))
    }
}

/// Percentile intervals of the metrics over resamples of the `n` rows: `metrics(weights)`
/// gives the (key, value) pairs of one resample, asking `weights` for each row's weight in
/// turn. `progress` gets the share done.
pub fn row_intervals(
    n: usize,
    options: &EvalOptions,
    progress: &(impl Fn(f64) + Sync),
    metrics: impl Fn(&mut Weights) -> Vec<(String, f64)> + Sync,
) -> Vec<(String, f64, f64)> {
    if options.resamples == 0 || n == 0 {
        return Vec::new();
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let done = AtomicUsize::new(0);
    let resamples: Vec<Vec<(String, f64)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (metrics, done) = (&metrics, &done);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for r in (t..options.resamples).step_by(threads) {
                        let mut weights = Weights::new(generator(options.seed, 0, r));
                        out.push((r, metrics(&mut weights)));
                        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if t == 0 {
                            progress(finished as f64 / options.resamples as f64);
                        }
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<(usize, Vec<(String, f64)>)> =
            workers.into_iter().filter_map(|w| w.join().ok()).flatten().collect();
        all.sort_by_key(|(r, _)| *r);
        all.into_iter().map(|(_, values)| values).collect()
    });
    intervals(&resamples, options.confidence)
}

/// Percentile intervals of confusion-matrix metrics, resampling the cells.
pub fn confusion_intervals(
    confusion: &Confusion,
    options: &EvalOptions,
    stream: u64,
    metrics: impl Fn(&Confusion) -> Vec<(String, f64)>,
) -> Vec<(String, f64, f64)> {
    let cells: Vec<Vec<Option<Poisson<f64>>>> = confusion
        .cells
        .iter()
        .map(|row| row.iter().map(|&c| Poisson::new(c).ok()).collect())
        .collect();
    let resamples: Vec<Vec<(String, f64)>> = (0..options.resamples)
        .map(|r| {
            let mut rng = generator(options.seed, stream, r);
            let resampled = Confusion {
                cells: cells
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|d| d.as_ref().map_or(0.0, |d| d.sample(&mut rng)))
                            .collect()
                    })
                    .collect(),
            };
            metrics(&resampled)
        })
        .collect();
    intervals(&resamples, options.confidence)
}

/// For each key, the percentiles (1 − c)/2 and (1 + c)/2 of its values over the resamples that
/// define it (linear interpolation, as NumPy's default).
fn intervals(resamples: &[Vec<(String, f64)>], confidence: f64) -> Vec<(String, f64, f64)> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<f64>> = std::collections::BTreeMap::new();
    for values in resamples {
        for (key, value) in values {
            by_key.entry(key.as_str()).or_default().push(*value);
        }
    }
    let tail = (1.0 - confidence) / 2.0;
    by_key
        .into_iter()
        .map(|(key, mut values)| {
            values.sort_by(f64::total_cmp);
            (
                key.to_owned(),
                percentile(&values, tail),
                percentile(&values, 1.0 - tail),
            )
        })
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len().saturating_sub(1)) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let (a, b) = (
        sorted.get(low).copied().unwrap_or(f64::NAN),
        sorted.get(high).copied().unwrap_or(f64::NAN),
    );
    a + (b - a) * (position - low as f64)
}

/// The stream of a slice, from its name.
pub fn stream_of(name: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(name.as_bytes())
}

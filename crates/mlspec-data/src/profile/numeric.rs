//! One numeric column's statistics in one pass, mergeable: count, mean and variance (Welford's
//! update, Chan's merge), min, max, zeros, a KLL quantile sketch, and the most extreme values
//! with their row numbers (outlier examples).
//!
//! Every statistic describes the finite values only and is itself finite: NaN and ±Infinity
//! are counted apart ([`NonFinite`]), the mean is updated in a form that cannot overflow, and a
//! sum of squares beyond the largest float (values beyond about ±1e154) saturates at it.

use datasketches::common::SearchCriteria;
use datasketches::kll::{KllFloat, KllSketch};
use mlspec_spec::kinds::{Bucket, FeatureSketch, NumericStats, Outliers, Quantile, RowValue};
use mlspec_spec::newtypes::ShortText;

/// The KLL sketch's size parameter: a normalized rank error of about 1.65% (reported in every
/// profile as `rankError`).
pub const KLL_K: u16 = 200;

/// Extreme values kept at each end: outlier counts are exact while fewer values than this lie
/// beyond a fence on that side (else counted in a second pass over the data, or estimated from
/// the sketch when there is no data to pass over), and examples come from them.
const EXTREMES: usize = 256;

/// Example rows reported per outlier method.
const EXAMPLES: usize = 10;

/// The ranks reported as quantiles.
const RANKS: &[f64] = &[0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

/// Buckets of the equal-width histogram.
const BUCKETS: usize = 10;

/// Outlier thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierRules {
    /// Tukey's fences: outside `[Q1 − k·IQR, Q3 + k·IQR]`.
    pub iqr: f64,
    /// `|x − mean| > z·std`.
    pub zscore: f64,
}

impl Default for OutlierRules {
    fn default() -> Self {
        OutlierRules { iqr: 1.5, zscore: 3.0 }
    }
}

/// One outlier method's bounds: values below `low` or above `high` are outliers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fence {
    /// `iqr` or `zscore`.
    pub method: &'static str,
    /// The rule's threshold.
    pub threshold: f64,
    /// Values below this are outliers.
    pub low: f64,
    /// Values above this are outliers.
    pub high: f64,
}

impl Fence {
    /// Whether `value` lies outside.
    pub fn excludes(&self, value: f64) -> bool {
        value < self.low || value > self.high
    }
}

/// Outlier counts made by passing over the data with the fences of these rules.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CountedOutliers {
    rules: OutlierRules,
    /// Per fence, in [`NumericAcc::fences`] order.
    counts: [u64; 2],
}

/// The values a numeric column holds that are not finite numbers: counted, never described.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonFinite {
    /// NaN values (missing values of the feature).
    pub nan: u64,
    /// `+Infinity` values.
    pub positive: u64,
    /// `-Infinity` values.
    pub negative: u64,
}

impl NonFinite {
    /// The infinite values, either sign.
    pub fn infinite(&self) -> u64 {
        self.positive + self.negative
    }
}

/// The running statistics of one numeric column.
#[derive(Clone, Debug)]
pub struct NumericAcc {
    /// Finite values added.
    count: u64,
    non_finite: NonFinite,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    zeros: u64,
    sketch: KllSketch<KllFloat<f64>>,
    /// The smallest values with their rows, ascending.
    lows: Vec<(f64, u64)>,
    /// The largest values with their rows, descending.
    highs: Vec<(f64, u64)>,
    /// Whether `lows` and `highs` hold the extremes (a profile document may leave them out to
    /// stay within its size limit; outlier counts are then estimates, without examples).
    extremes_kept: bool,
    /// Exact outlier counts of exactly these values, when a pass over them made some.
    counted: Option<CountedOutliers>,
}

impl Default for NumericAcc {
    fn default() -> Self {
        NumericAcc {
            count: 0,
            non_finite: NonFinite::default(),
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zeros: 0,
            sketch: new_sketch(),
            lows: Vec::new(),
            highs: Vec::new(),
            extremes_kept: true,
            counted: None,
        }
    }
}

// KLL_K is a constant within the library's range (8..=65535), so construction cannot fail.
#[allow(clippy::expect_used)]
fn new_sketch() -> KllSketch<KllFloat<f64>> {
    KllSketch::new(KLL_K).expect("KLL_K is a valid k")
}

impl NumericAcc {
    /// Adds a value seen at `row`: a finite one to the statistics, NaN and ±Infinity to their
    /// counts.
    pub fn add(&mut self, value: f64, row: u64) {
        if value.is_nan() {
            self.non_finite.nan += 1;
            return;
        }
        if value.is_infinite() {
            if value > 0.0 {
                self.non_finite.positive += 1;
            } else {
                self.non_finite.negative += 1;
            }
            return;
        }
        let Ok(item) = KllFloat::<f64>::new(value) else { return };
        self.count += 1;
        let n = self.count as f64;
        let before = self.mean;
        // value/n − mean/n rather than (value − mean)/n: the difference of two finite values
        // can overflow, their shares cannot.
        self.mean += value / n - before / n;
        self.m2 = saturated(self.m2 + (value - before) * (value - self.mean));
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.zeros += u64::from(value == 0.0);
        self.sketch.update(item);
        keep_extreme(&mut self.lows, (value, row), |a, b| a < b);
        keep_extreme(&mut self.highs, (value, row), |a, b| a > b);
        self.counted = None;
    }

    /// Finite values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The NaN and infinite values added.
    pub fn non_finite(&self) -> NonFinite {
        self.non_finite
    }

    /// The mergeable state, for a profile document.
    pub fn sketch(&self) -> FeatureSketch {
        let pairs = |kept: &[(f64, u64)]| kept.iter().map(|&(value, row)| RowValue { row, value }).collect();
        FeatureSketch {
            m2: Some(self.m2),
            kll: Some(super::encode(&self.sketch.serialize())),
            lows: pairs(&self.lows),
            highs: pairs(&self.highs),
            ..FeatureSketch::default()
        }
    }

    /// The accumulator of a profile document's feature without finite values: its counts of
    /// NaN and infinite values only.
    pub fn non_finite_only(non_finite: NonFinite) -> NumericAcc {
        NumericAcc {
            non_finite,
            ..NumericAcc::default()
        }
    }

    /// The accumulator a profile document describes (its statistics and sketch); `count` is
    /// the number of finite values. Err: why it cannot be, which [`super::Profiler::restore`]
    /// reports with the file.
    pub(crate) fn restore(
        count: u64,
        non_finite: NonFinite,
        stats: &NumericStats,
        sketch: &FeatureSketch,
    ) -> Result<NumericAcc, String> {
        let kll = sketch.kll.as_deref().ok_or("the numeric sketch has no `kll`")?;
        let pairs = |kept: &[RowValue]| kept.iter().map(|p| (p.value, p.row)).collect();
        Ok(NumericAcc {
            count,
            non_finite,
            mean: stats.mean,
            m2: sketch.m2.ok_or("the numeric sketch has no `m2`")?,
            min: stats.min,
            max: stats.max,
            zeros: stats.zeros,
            sketch: KllSketch::deserialize(&super::decode(kll)?)
                .map_err(|e| format!("the KLL sketch cannot be read: {e}"))?,
            lows: pairs(&sketch.lows),
            highs: pairs(&sketch.highs),
            extremes_kept: count == 0 || !(sketch.lows.is_empty() && sketch.highs.is_empty()),
            counted: restored_counts(&stats.outliers),
        })
    }

    /// Shifts the rows of the kept extremes (when these rows follow `offset` others).
    pub fn shift_rows(&mut self, offset: u64) {
        for pair in self.lows.iter_mut().chain(self.highs.iter_mut()) {
            pair.1 += offset;
        }
    }

    /// Folds `other` in, as if its values had been added here.
    pub fn merge(&mut self, other: &NumericAcc) {
        self.non_finite.nan += other.non_finite.nan;
        self.non_finite.positive += other.non_finite.positive;
        self.non_finite.negative += other.non_finite.negative;
        if other.count == 0 {
            return;
        }
        let total = self.count + other.count;
        let (mine, theirs) = (self.count as f64 / total as f64, other.count as f64 / total as f64);
        // Chan's update, with the squared difference of the means scaled before it is
        // squared, and the mean as a weighted sum: neither can overflow on finite inputs.
        let spread = (other.mean - self.mean) * (mine * theirs).sqrt();
        self.m2 = saturated(self.m2 + other.m2 + spread * spread * total as f64);
        self.mean = self.mean * mine + other.mean * theirs;
        self.count = total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.zeros += other.zeros;
        self.extremes_kept &= other.extremes_kept;
        // Two sketches of the same k always merge.
        let _ = self.sketch.merge(&other.sketch);
        for &pair in &other.lows {
            keep_extreme(&mut self.lows, pair, |a, b| a < b);
        }
        for &pair in &other.highs {
            keep_extreme(&mut self.highs, pair, |a, b| a > b);
        }
        self.counted = None;
    }

    /// The population standard deviation.
    pub fn std_dev(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
    }

    /// The value at `rank`, from the sketch.
    pub fn quantile(&self, rank: f64) -> Option<f64> {
        self.sketch
            .quantile(rank, SearchCriteria::Inclusive)
            .ok()
            .flatten()
            .map(KllFloat::into_inner)
    }

    /// The fraction of values at or below `x`, from the sketch.
    pub fn cdf(&self, x: f64) -> f64 {
        KllFloat::<f64>::new(x)
            .ok()
            .and_then(|item| self.sketch.rank(&item, SearchCriteria::Inclusive))
            .unwrap_or(0.0)
    }

    /// The fraction strictly below `x`.
    fn below(&self, x: f64) -> f64 {
        KllFloat::<f64>::new(x)
            .ok()
            .and_then(|item| self.sketch.rank(&item, SearchCriteria::Exclusive))
            .unwrap_or(0.0)
    }

    /// The statistics, with quantiles, histograms and outliers derived from the sketch.
    pub fn stats(&self, rules: OutlierRules) -> Option<NumericStats> {
        if self.count == 0 {
            return None;
        }
        let quantiles = RANKS
            .iter()
            .filter_map(|&q| self.quantile(q).map(|value| Quantile { q, value }))
            .collect();
        Some(NumericStats {
            mean: self.mean,
            std_dev: self.std_dev(),
            min: self.min,
            max: self.max,
            zeros: self.zeros,
            quantiles,
            rank_error: Some(self.sketch.normalized_rank_error()),
            histogram: self.equal_width_histogram(),
            outliers: self.outliers(rules),
        })
    }

    /// Ten equal-width buckets over [min, max]; counts from the sketch's CDF (exact while the
    /// sketch holds every value, else within its rank error).
    fn equal_width_histogram(&self) -> Vec<Bucket> {
        // max/B − min/B: the extent itself can overflow.
        let width = self.max / BUCKETS as f64 - self.min / BUCKETS as f64;
        if width.is_nan() || width <= 0.0 {
            return vec![Bucket {
                low: self.min,
                high: self.max,
                count: self.count,
            }];
        }
        let n = self.count as f64;
        let mut buckets = Vec::with_capacity(BUCKETS);
        let mut previous = 0u64;
        for i in 1..=BUCKETS {
            let high = if i == BUCKETS { self.max } else { self.edge(width, i) };
            let upto = if i == BUCKETS {
                self.count
            } else {
                (self.below(high) * n).round() as u64
            };
            buckets.push(Bucket {
                low: self.edge(width, i - 1),
                high,
                count: upto.saturating_sub(previous),
            });
            previous = upto.max(previous);
        }
        buckets
    }

    /// The `i`th bucket edge: `min + i × width`, or — where that product overflows, with
    /// extremes near ±f64::MAX — the same point as `min × (1 − t) + max × t`, `t = i / B`.
    fn edge(&self, width: f64, i: usize) -> f64 {
        let edge = self.min + width * i as f64;
        if edge.is_finite() {
            return edge;
        }
        let t = i as f64 / BUCKETS as f64;
        self.min * (1.0 - t) + self.max * t
    }

    /// The IQR and z-score fences of these rules (none without quartiles).
    pub fn fences(&self, rules: OutlierRules) -> Option<[Fence; 2]> {
        let (q1, q3) = (self.quantile(0.25)?, self.quantile(0.75)?);
        let iqr = q3 - q1;
        let std = self.std_dev();
        Some([
            Fence {
                method: "iqr",
                threshold: rules.iqr,
                low: q1 - rules.iqr * iqr,
                high: q3 + rules.iqr * iqr,
            },
            Fence {
                method: "zscore",
                threshold: rules.zscore,
                low: self.mean - rules.zscore * std,
                high: self.mean + rules.zscore * std,
            },
        ])
    }

    /// Whether some outlier count of these rules would be an estimate: more values lie beyond a
    /// fence than the kept extremes hold, and no pass has counted them.
    pub fn needs_count(&self, rules: OutlierRules) -> bool {
        self.counted.is_none_or(|c| c.rules != rules)
            && self
                .fences(rules)
                .is_some_and(|fences| fences.iter().any(|f| self.tail_counts(f).1))
    }

    /// Records the exact outlier counts (per fence of [`NumericAcc::fences`]) a pass over these
    /// values made.
    pub fn set_counts(&mut self, rules: OutlierRules, counts: [u64; 2]) {
        self.counted = Some(CountedOutliers { rules, counts });
    }

    fn outliers(&self, rules: OutlierRules) -> Vec<Outliers> {
        let Some(fences) = self.fences(rules) else {
            return Vec::new();
        };
        let counted = self.counted.filter(|c| c.rules == rules).map(|c| c.counts);
        fences
            .iter()
            .enumerate()
            .filter_map(|(i, fence)| {
                let (count, estimated) = match counted.and_then(|counts| counts.get(i).copied()) {
                    Some(count) => (count, false),
                    None => self.tail_counts(fence),
                };
                Some(Outliers {
                    method: ShortText::new(fence.method).ok()?,
                    threshold: fence.threshold,
                    count,
                    estimated,
                    example_rows: self.farthest_rows(fence),
                })
            })
            .collect()
    }

    /// The rows of the values farthest beyond the fence, in row order.
    fn farthest_rows(&self, fence: &Fence) -> Vec<u64> {
        let mut farthest: Vec<(f64, u64)> = self
            .lows
            .iter()
            .filter(|(v, _)| *v < fence.low)
            .map(|(v, row)| (fence.low - v, *row))
            .chain(
                self.highs
                    .iter()
                    .filter(|(v, _)| *v > fence.high)
                    .map(|(v, row)| (v - fence.high, *row)),
            )
            .collect();
        farthest.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut rows: Vec<u64> = farthest.iter().take(EXAMPLES).map(|(_, row)| *row).collect();
        rows.sort_unstable();
        rows
    }

    /// The values beyond the fence, and whether that is an estimate: exact when the kept
    /// extremes hold all of them on each side (fewer beyond than kept, or every value kept),
    /// else the sketch's estimate of the tail.
    fn tail_counts(&self, fence: &Fence) -> (u64, bool) {
        if !self.extremes_kept {
            let below = (self.below(fence.low) * self.count as f64).round() as u64;
            let above = ((1.0 - self.cdf(fence.high)) * self.count as f64).round() as u64;
            return (below + above, true);
        }
        let all_kept = self.count as usize <= EXTREMES;
        let low_kept = self.lows.iter().filter(|(v, _)| *v < fence.low).count();
        let high_kept = self.highs.iter().filter(|(v, _)| *v > fence.high).count();
        let side = |kept: usize, fraction: f64| {
            if all_kept || kept < EXTREMES {
                (kept as u64, false)
            } else {
                (((fraction * self.count as f64).round() as u64).max(kept as u64), true)
            }
        };
        let (low, low_estimated) = side(low_kept, self.below(fence.low));
        let (high, high_estimated) = side(high_kept, 1.0 - self.cdf(fence.high));
        (low + high, low_estimated || high_estimated)
    }
}

/// The exact counts a profile document's outliers carry (both methods, neither estimated).
fn restored_counts(outliers: &[Outliers]) -> Option<CountedOutliers> {
    let exact = |method: &str| outliers.iter().find(|o| o.method.as_str() == method && !o.estimated);
    let (iqr, zscore) = (exact("iqr")?, exact("zscore")?);
    Some(CountedOutliers {
        rules: OutlierRules {
            iqr: iqr.threshold,
            zscore: zscore.threshold,
        },
        counts: [iqr.count, zscore.count],
    })
}

/// `x`, or the largest finite float when it overflowed (a sum of squares of values beyond
/// about ±1e154).
fn saturated(x: f64) -> f64 {
    if x.is_finite() { x } else { f64::MAX }
}

/// Keeps the `EXTREMES` most extreme (value, row) pairs, ordered by `before`; ties keep the
/// earlier row.
fn keep_extreme(kept: &mut Vec<(f64, u64)>, pair: (f64, u64), before: fn(f64, f64) -> bool) {
    if kept.len() == EXTREMES && kept.last().is_some_and(|last| !before(pair.0, last.0)) {
        return;
    }
    let at = kept
        .iter()
        .position(|k| before(pair.0, k.0) || (pair.0 == k.0 && pair.1 < k.1))
        .unwrap_or(kept.len());
    kept.insert(at, pair);
    kept.truncate(EXTREMES);
}

//! One string column's statistics in one pass, mergeable: exact value counts while the column
//! has at most [`EXACT_LIMIT`] distinct values, then a HyperLogLog distinct count and a
//! frequent-items sketch for the top values; lengths in characters.
//!
//! An estimated distinct count never exceeds the values counted, nor falls below the distinct
//! values known when exact counting stopped. When no value repeats, no top values are listed
//! (ten arbitrary values each seen once are not "the most frequent").

use std::collections::HashMap;

use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::hll::{HllSketch, HllType, HllUnion};
use mlspec_spec::kinds::{FeatureSketch, StringStats, ValueCount};

/// Distinct values counted exactly before switching to sketches (per column, and per slice):
/// memory for the exact counts stays below about 100,000 × (the values' length + 60 bytes).
pub const EXACT_LIMIT: usize = 100_000;

/// HyperLogLog's log2 of its register count: a relative standard error of about 1.6%.
const HLL_LG_K: u8 = 12;

/// The frequent-items sketch's map size.
const FREQUENT_MAP: usize = 1024;

/// Top values reported.
pub const TOP: usize = 10;

/// The running statistics of one string column.
#[derive(Clone, Debug)]
pub struct StringAcc {
    count: u64,
    /// Exact counts, until there are more than `EXACT_LIMIT` distinct values.
    exact: Option<HashMap<String, u64>>,
    /// Without exact counts: the distinct values known to be there (the estimate's floor).
    at_least: u64,
    hll: HllSketch,
    frequent: FrequentItemsSketch<String>,
    min_length: u64,
    max_length: u64,
    total_length: u64,
}

impl Default for StringAcc {
    fn default() -> Self {
        StringAcc {
            count: 0,
            exact: Some(HashMap::new()),
            at_least: 0,
            hll: new_hll(),
            frequent: new_frequent(),
            min_length: u64::MAX,
            max_length: 0,
            total_length: 0,
        }
    }
}

// The sketch parameters are constants within the library's ranges (lg_k 4..=21, a map size
// that is a power of two ≥ 8), so construction cannot fail.
#[allow(clippy::expect_used)]
fn new_hll() -> HllSketch {
    HllSketch::new(HLL_LG_K, HllType::Hll8).expect("HLL_LG_K is a valid lg_k")
}

#[allow(clippy::expect_used)]
fn new_union() -> HllUnion {
    HllUnion::new(HLL_LG_K).expect("HLL_LG_K is a valid lg_k")
}

#[allow(clippy::expect_used)]
fn new_frequent() -> FrequentItemsSketch<String> {
    FrequentItemsSketch::new(FREQUENT_MAP).expect("FREQUENT_MAP is a power of two")
}

impl StringAcc {
    /// Adds a value.
    pub fn add(&mut self, value: &str) {
        self.count += 1;
        let length = value.chars().count() as u64;
        self.min_length = self.min_length.min(length);
        self.max_length = self.max_length.max(length);
        self.total_length += length;
        self.hll.update(value);
        self.frequent.update_ref(value);
        if let Some(exact) = &mut self.exact {
            if let Some(n) = exact.get_mut(value) {
                *n += 1;
            } else if exact.len() < EXACT_LIMIT {
                exact.insert(value.to_owned(), 1);
            } else {
                self.at_least = EXACT_LIMIT as u64 + 1;
                self.exact = None;
            }
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mergeable state, for a profile document.
    pub fn sketch(&self) -> FeatureSketch {
        FeatureSketch {
            total_length: Some(self.total_length),
            values: self.exact.as_ref().map(|exact| {
                let mut values: Vec<ValueCount> = exact
                    .iter()
                    .map(|(value, &count)| ValueCount {
                        value: value.clone(),
                        count,
                    })
                    .collect();
                values.sort_by(|a, b| a.value.cmp(&b.value));
                values
            }),
            hll: Some(super::encode(&self.hll.serialize())),
            frequent: Some(super::encode(&self.frequent.serialize())),
            ..FeatureSketch::default()
        }
    }

    /// The accumulator a profile document describes. Err: why it cannot be, which
    /// [`super::Profiler::restore`] reports with the file.
    pub(crate) fn restore(count: u64, stats: &StringStats, sketch: &FeatureSketch) -> Result<StringAcc, String> {
        let hll = sketch.hll.as_deref().ok_or("the string sketch has no `hll`")?;
        let frequent = sketch
            .frequent
            .as_deref()
            .ok_or("the string sketch has no `frequent`")?;
        let exact: Option<HashMap<String, u64>> = sketch
            .values
            .as_ref()
            .map(|values| values.iter().map(|v| (v.value.clone(), v.count)).collect());
        // A document whose exact counts were left out (to fit its size limit) still says how
        // many distinct values there were.
        let at_least = match &exact {
            None if !stats.distinct_estimated => stats.distinct,
            _ => 0,
        };
        Ok(StringAcc {
            count,
            exact,
            at_least,
            hll: HllSketch::deserialize(&super::decode(hll)?)
                .map_err(|e| format!("the HLL sketch cannot be read: {e}"))?,
            frequent: FrequentItemsSketch::deserialize(&super::decode(frequent)?)
                .map_err(|e| format!("the frequent-items sketch cannot be read: {e}"))?,
            min_length: stats.min_length.unwrap_or(u64::MAX),
            max_length: stats.max_length.unwrap_or(0),
            total_length: sketch.total_length.ok_or("the string sketch has no `totalLength`")?,
        })
    }

    /// Each value's share of the values: exact while counted exactly, else the frequent-items
    /// sketch's estimates (the values it does not list share the rest). The flag says whether
    /// the shares are exact.
    pub fn shares(&self) -> (Vec<(String, f64)>, bool) {
        let total = self.count.max(1) as f64;
        match &self.exact {
            Some(exact) => (
                exact.iter().map(|(v, &n)| (v.clone(), n as f64 / total)).collect(),
                true,
            ),
            None => (
                self.frequent
                    .frequent_items(ErrorType::NoFalsePositives)
                    .into_iter()
                    .map(|row| (row.item().clone(), row.estimate() as f64 / total))
                    .collect(),
                false,
            ),
        }
    }

    /// Folds `other` in.
    pub fn merge(&mut self, other: &StringAcc) {
        self.count += other.count;
        self.min_length = self.min_length.min(other.min_length);
        self.max_length = self.max_length.max(other.max_length);
        self.total_length += other.total_length;
        let mut union = new_union();
        union.update(&self.hll);
        union.update(&other.hll);
        self.hll = union.to_sketch(HllType::Hll8);
        self.frequent.merge(&other.frequent);
        self.exact = match (self.exact.take(), &other.exact) {
            (Some(mut mine), Some(theirs)) => {
                for (value, n) in theirs {
                    *mine.entry(value.clone()).or_insert(0) += n;
                }
                if mine.len() <= EXACT_LIMIT {
                    Some(mine)
                } else {
                    self.at_least = mine.len() as u64;
                    None
                }
            }
            (mine, theirs) => {
                let known = |exact: Option<&HashMap<String, u64>>, floor: u64| exact.map_or(floor, |e| e.len() as u64);
                self.at_least = known(mine.as_ref(), self.at_least).max(known(theirs.as_ref(), other.at_least));
                None
            }
        };
    }

    /// The statistics: exact when the column stayed under the limit, else estimated.
    pub fn stats(&self) -> Option<StringStats> {
        if self.count == 0 {
            return None;
        }
        let (distinct, estimated, mut top) = match &self.exact {
            Some(exact) => {
                let mut ranked: Vec<(&String, u64)> = exact.iter().map(|(value, &count)| (value, count)).collect();
                let order = |a: &(&String, u64), b: &(&String, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
                if ranked.len() > TOP {
                    ranked.select_nth_unstable_by(TOP, order);
                    ranked.truncate(TOP);
                }
                let top: Vec<ValueCount> = ranked
                    .into_iter()
                    .map(|(value, count)| ValueCount {
                        value: value.clone(),
                        count,
                    })
                    .collect();
                (exact.len() as u64, false, top)
            }
            None => {
                let top = self
                    .frequent
                    .frequent_items(ErrorType::NoFalsePositives)
                    .into_iter()
                    .map(|row| ValueCount {
                        value: row.item().clone(),
                        count: row.estimate(),
                    })
                    .collect();
                let estimate = self.hll.estimate().round() as u64;
                (estimate.max(self.at_least).min(self.count), true, top)
            }
        };
        top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        top.truncate(TOP);
        if top.first().is_some_and(|most| most.count <= 1) {
            top.clear();
        }
        Some(StringStats {
            distinct,
            distinct_estimated: estimated,
            top_values: top,
            min_length: Some(self.min_length),
            max_length: Some(self.max_length),
            mean_length: Some(self.total_length as f64 / self.count as f64),
        })
    }
}

//! `fit`: one pass over the training data, one accumulator per feature and per outlier rule.
//!
//! What each step keeps, and what that costs:
//! - mean imputation: a compensated (Neumaier) sum and a count — exact to rounding;
//! - median imputation, quantile buckets and IQR rules: every present value of the column
//!   (8 bytes a value), the few ranks needed selected at the end — exact, as numpy computes
//!   them;
//! - most-frequent imputation and vocabularies: a count per distinct value — exact;
//! - standardize and z-score rules: per batch the mean and the sum of squared deviations
//!   (two passes over the batch), merged across batches with Chan's formula; min-max: the
//!   extremes.
//!
//! Numeric statistics of a chain describe its values as `apply` feeds them to the encoding:
//! after imputation, clipping and the logarithm. The missing values a chain imputes join them
//! at the end as that many copies of the (clipped, logged) fill value, so a standardized,
//! imputed feature has exactly the mean and variance scikit-learn's SimpleImputer →
//! StandardScaler pipeline finds.

use foldhash::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Schema};

use super::spec::{Constant, Encoding, FeaturePlan, Impute, OutlierMethod, OutlierPlan, Strategy, VocabularyOptions};
use super::steps::{Chain, Fill, Step, clip, log};
use crate::error::{DataError, ErrorKind};

/// Count, mean and the sum of squared deviations from it; mergeable.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moments {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// The moments of `values` (no missing among them), by two passes over them.
    fn of(values: &[f64]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        let n = values.len() as f64;
        let mean = neumaier(values.iter().copied()) / n;
        let m2 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        Moments {
            count: values.len() as u64,
            mean,
            m2,
        }
    }

    /// `count` copies of `value`.
    fn constant(value: f64, count: u64) -> Moments {
        Moments {
            count,
            mean: value,
            m2: 0.0,
        }
    }

    /// Adds another part's moments (Chan et al.).
    fn merge(&mut self, other: Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        let total = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        let (a, b) = (self.count as f64, other.count as f64);
        self.mean += delta * b / total;
        self.m2 += other.m2 + delta * delta * a * b / total;
        self.count += other.count;
    }

    /// The population standard deviation.
    fn std_dev(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2 / self.count as f64).max(0.0).sqrt()
        }
    }
}

/// A compensated sum (Neumaier's variant of Kahan's).
fn neumaier(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            compensation += (sum - t) + v;
        } else {
            compensation += (v - t) + sum;
        }
        sum = t;
    }
    sum + compensation
}

/// The q-quantile of values by linear interpolation, as numpy's default `linear` method
/// computes it (including its two-sided interpolation); the values at the ranks it reads
/// ([`quantile_ranks`]) must be where sorting puts them ([`place_ranks`]).
pub(crate) fn quantile(ordered: &[f64], q: f64) -> Option<f64> {
    let [below, above] = quantile_ranks(ordered.len(), q);
    let position = q * ordered.len().checked_sub(1)? as f64;
    let t = position - below as f64;
    let a = *ordered.get(below)?;
    let b = *ordered.get(above)?;
    let difference = b - a;
    Some(if t >= 0.5 {
        b - difference * (1.0 - t)
    } else {
        a + difference * t
    })
}

/// The ranks (positions in sorted order) [`quantile`] reads among `len` values.
fn quantile_ranks(len: usize, q: f64) -> [usize; 2] {
    let last = len.saturating_sub(1);
    let below = ((q * last as f64).floor() as usize).min(last);
    [below, (below + 1).min(last)]
}

/// The median: the middle value, or the mean of the middle two; the values at those ranks
/// must be where sorting puts them ([`median_ranks`]).
fn median(ordered: &[f64]) -> Option<f64> {
    let n = ordered.len();
    let upper = *ordered.get(n / 2)?;
    if n % 2 == 1 {
        Some(upper)
    } else {
        ordered.get(n / 2 - 1).map(|lower| (lower + upper) / 2.0)
    }
}

/// The ranks [`median`] reads among `len` values.
fn median_ranks(len: usize) -> [usize; 2] {
    [(len / 2).saturating_sub(1), len / 2]
}

/// Puts the values of `ranks` where sorting would, leaving the others around them in no
/// order: a selection per rank, each on what lies above the last, costs far less than
/// sorting a million values for a median or ten quantiles.
fn place_ranks(values: &mut [f64], mut ranks: Vec<usize>) {
    ranks.sort_unstable();
    ranks.dedup();
    let mut from = 0;
    for rank in ranks {
        if let Some(above) = values.get_mut(from..)
            && rank >= from
            && rank < from + above.len()
        {
            above.select_nth_unstable_by(rank - from, f64::total_cmp);
            from = rank + 1;
        }
    }
}

/// The quantiles `qs` of `values` (reordered in the process).
fn quantiles(values: &mut [f64], qs: &[f64]) -> Vec<Option<f64>> {
    let len = values.len();
    place_ranks(values, qs.iter().flat_map(|q| quantile_ranks(len, *q)).collect());
    qs.iter().map(|q| quantile(values, *q)).collect()
}

/// A column's values as f64, NaN for missing ones.
pub(crate) fn numbers(array: &ArrayRef) -> Result<Vec<f64>, arrow::error::ArrowError> {
    let floats = cast(array, &DataType::Float64)?;
    let floats = floats.as_primitive::<Float64Type>();
    Ok(if floats.null_count() == 0 {
        floats.values().to_vec()
    } else {
        floats.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    })
}

/// A column's values as text, `None` for missing ones.
pub(crate) fn texts(array: &ArrayRef) -> Result<arrow::array::StringArray, arrow::error::ArrowError> {
    let strings = cast(array, &DataType::Utf8)?;
    Ok(strings.as_string::<i32>().clone())
}

/// What a numeric chain accumulates.
#[derive(Default)]
struct NumberAcc {
    missing: u64,
    present: u64,
    /// Per batch, the sum of the present raw values (mean imputation).
    raw_sum: Vec<f64>,
    /// The present raw values (median imputation).
    raw_values: Vec<f64>,
    raw_counts: HashMap<u64, u64>,
    /// The values fed to the encoding.
    moments: Moments,
    min: f64,
    max: f64,
    values: Vec<f64>,
}

/// What a text chain accumulates.
#[derive(Default)]
struct TextAcc {
    missing: u64,
    counts: HashMap<String, u64>,
}

enum Acc {
    Numbers(Box<NumberAcc>),
    Texts(TextAcc),
}

/// One feature being fitted.
pub(crate) struct FeatureFit {
    plan: FeaturePlan,
    column: usize,
    numeric_order: bool,
    acc: Acc,
}

impl FeatureFit {
    pub(crate) fn new(plan: &FeaturePlan, schema: &Schema) -> FeatureFit {
        let column = schema.index_of(&plan.feature).unwrap_or_default();
        let data_type = schema.field(column).data_type();
        let acc = if plan.textual(data_type) {
            Acc::Texts(TextAcc::default())
        } else {
            Acc::Numbers(Box::new(NumberAcc {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..NumberAcc::default()
            }))
        };
        FeatureFit {
            plan: plan.clone(),
            column,
            numeric_order: super::spec::numeric(data_type),
            acc,
        }
    }

    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<(), arrow::error::ArrowError> {
        let array = batch.column(self.column);
        match &mut self.acc {
            Acc::Texts(acc) => {
                let values = texts(array)?;
                acc.missing += values.null_count() as u64;
                for value in values.iter().flatten() {
                    match acc.counts.get_mut(value) {
                        Some(count) => *count += 1,
                        None => {
                            acc.counts.insert(value.to_owned(), 1);
                        }
                    }
                }
            }
            Acc::Numbers(acc) => add_numbers(acc, &self.plan, &numbers(array)?),
        }
        Ok(())
    }

    /// The fitted chain.
    pub(crate) fn finish(self) -> Chain {
        let plan = self.plan;
        let steps = match self.acc {
            Acc::Texts(acc) => text_steps(&plan, acc, self.numeric_order),
            Acc::Numbers(acc) => number_steps(&plan, *acc),
        };
        Chain {
            feature: plan.feature,
            output: None,
            steps,
        }
    }
}

fn add_numbers(acc: &mut NumberAcc, plan: &FeaturePlan, values: &[f64]) {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    acc.missing += (values.len() - present.len()) as u64;
    acc.present += present.len() as u64;
    match plan.impute {
        Some(Impute::Learned(Strategy::Mean)) => acc.raw_sum.push(neumaier(present.iter().copied())),
        Some(Impute::Learned(Strategy::Median)) => acc.raw_values.extend_from_slice(&present),
        Some(Impute::Learned(Strategy::MostFrequent)) => {
            for v in &present {
                *acc.raw_counts.entry((v + 0.0).to_bits()).or_default() += 1;
            }
        }
        _ => {}
    }
    let fed: Vec<f64> = present.iter().map(|&v| feed(plan, v)).filter(|v| !v.is_nan()).collect();
    record_fed(acc, &plan.encoding, &fed);
}

/// Adds values fed to the encoding.
fn record_fed(acc: &mut NumberAcc, encoding: &Encoding, fed: &[f64]) {
    match encoding {
        Encoding::Standardize => acc.moments.merge(Moments::of(fed)),
        Encoding::MinMax => {
            for &v in fed {
                acc.min = acc.min.min(v);
                acc.max = acc.max.max(v);
            }
        }
        Encoding::Quantiles(_) => acc.values.extend_from_slice(fed),
        _ => {}
    }
}

/// A present raw value after clipping and the logarithm.
fn feed(plan: &FeaturePlan, v: f64) -> f64 {
    let clipped = plan.clip.map_or(v, |c| clip(v, c.min, c.max));
    plan.log.map_or(clipped, |offset| log(clipped, offset))
}

fn number_steps(plan: &FeaturePlan, mut acc: NumberAcc) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(impute) = &plan.impute {
        let (strategy, fill) = match impute {
            Impute::Learned(Strategy::Mean) => ("mean", neumaier(acc.raw_sum.iter().copied()) / acc.present as f64),
            Impute::Learned(Strategy::Median) => {
                let ranks = median_ranks(acc.raw_values.len()).to_vec();
                place_ranks(&mut acc.raw_values, ranks);
                ("median", median(&acc.raw_values).unwrap_or(f64::NAN))
            }
            Impute::Learned(Strategy::MostFrequent) => ("mostFrequent", most_frequent_number(&acc.raw_counts)),
            Impute::Constant {
                constant: Constant::Number(v),
            } => ("constant", *v),
            Impute::Constant { .. } => ("constant", f64::NAN),
        };
        // A column with no value at all has nothing to learn from: 0, as a constant would.
        let fill = if fill.is_nan() { 0.0 } else { fill };
        let fed = feed(plan, fill);
        if !fed.is_nan() && acc.missing > 0 {
            match plan.encoding {
                Encoding::Standardize => acc.moments.merge(Moments::constant(fed, acc.missing)),
                Encoding::Quantiles(_) => acc
                    .values
                    .extend(std::iter::repeat_n(fed, usize::try_from(acc.missing).unwrap_or(0))),
                _ => record_fed(&mut acc, &plan.encoding, &[fed]),
            }
        }
        steps.push(Step::Impute {
            strategy: strategy.to_owned(),
            fill: Fill::Number(fill),
        });
    }
    if let Some(bounds) = plan.clip {
        steps.push(Step::Clip {
            min: bounds.min,
            max: bounds.max,
        });
    }
    if let Some(offset) = plan.log {
        steps.push(Step::Log { offset });
    }
    match &plan.encoding {
        Encoding::Standardize => steps.push(Step::Standardize {
            mean: if acc.moments.count == 0 { 0.0 } else { acc.moments.mean },
            std_dev: acc.moments.std_dev(),
        }),
        Encoding::MinMax => {
            let (min, max) = if acc.min <= acc.max {
                (acc.min, acc.max)
            } else {
                (0.0, 0.0)
            };
            steps.push(Step::MinMax { min, max });
        }
        Encoding::Bucketize(boundaries) => steps.push(Step::Bucketize {
            boundaries: boundaries.clone(),
            quantiles: None,
        }),
        Encoding::Quantiles(buckets) => {
            let qs: Vec<f64> = (1..*buckets).map(|i| f64::from(i) / f64::from(*buckets)).collect();
            let mut boundaries: Vec<f64> = quantiles(&mut acc.values, &qs).into_iter().flatten().collect();
            boundaries.dedup();
            steps.push(Step::Bucketize {
                boundaries,
                quantiles: Some(*buckets),
            });
        }
        Encoding::Plain | Encoding::Vocabulary(_) | Encoding::OneHot(_) => {}
    }
    steps
}

/// The most frequent number; the smallest of equally frequent ones (as scikit-learn).
fn most_frequent_number(counts: &HashMap<u64, u64>) -> f64 {
    counts
        .iter()
        .map(|(bits, count)| (f64::from_bits(*bits), *count))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0)))
        .map_or(f64::NAN, |(value, _)| value)
}

/// Compares category values: numerically for a numeric column, else by their bytes (as
/// Python sorts strings, which is how scikit-learn orders categories).
fn category_order(numeric: bool) -> impl Fn(&str, &str) -> std::cmp::Ordering {
    move |a, b| {
        if numeric && let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
            return x.total_cmp(&y);
        }
        a.cmp(b)
    }
}

fn text_steps(plan: &FeaturePlan, mut acc: TextAcc, numeric_order: bool) -> Vec<Step> {
    let order = category_order(numeric_order);
    let mut steps = Vec::new();
    if let Some(impute) = &plan.impute {
        let (strategy, fill) = match impute {
            Impute::Constant {
                constant: Constant::Text(t),
            } => ("constant", t.clone()),
            Impute::Constant {
                constant: Constant::Number(v),
            } => ("constant", v.to_string()),
            Impute::Learned(_) => (
                "mostFrequent",
                acc.counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(order(b.0, a.0)))
                    .map_or_else(String::new, |(value, _)| value.clone()),
            ),
        };
        if acc.missing > 0 {
            *acc.counts.entry(fill.clone()).or_default() += acc.missing;
        }
        steps.push(Step::Impute {
            strategy: strategy.to_owned(),
            fill: Fill::Text(fill),
        });
    }
    match &plan.encoding {
        Encoding::Vocabulary(options) => {
            let kept = vocabulary(acc.counts, options, &order);
            steps.push(Step::Vocabulary {
                codes: kept.into_iter().zip(0i64..).collect(),
                oov_buckets: options.oov_buckets,
            });
        }
        Encoding::OneHot(options) => steps.push(Step::OneHot {
            values: vocabulary(acc.counts, options, &order),
        }),
        _ => {}
    }
    steps
}

/// The values a vocabulary keeps, in code order: those seen at least `minFrequency` times,
/// the `topK` most frequent of them (ties: the smaller value), sorted.
fn vocabulary(
    counts: HashMap<String, u64>,
    options: &VocabularyOptions,
    order: &impl Fn(&str, &str) -> std::cmp::Ordering,
) -> Vec<String> {
    let mut kept: Vec<(String, u64)> = counts
        .into_iter()
        .filter(|(_, count)| *count >= options.min_frequency)
        .collect();
    if let Some(k) = options.top_k {
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(order(&a.0, &b.0)));
        kept.truncate(k);
    }
    let mut values: Vec<String> = kept.into_iter().map(|(value, _)| value).collect();
    values.sort_by(|a, b| order(a, b));
    values
}

/// One outlier rule being fitted.
pub(crate) struct OutlierFit {
    rule: OutlierPlan,
    column: usize,
    values: Vec<f64>,
    moments: Moments,
}

impl OutlierFit {
    pub(crate) fn new(rule: &OutlierPlan, schema: &Schema) -> OutlierFit {
        OutlierFit {
            rule: rule.clone(),
            column: schema.index_of(&rule.feature).unwrap_or_default(),
            values: Vec::new(),
            moments: Moments::default(),
        }
    }

    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<(), arrow::error::ArrowError> {
        if self.rule.method == OutlierMethod::Range {
            return Ok(());
        }
        let present: Vec<f64> = numbers(batch.column(self.column))?
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect();
        match self.rule.method {
            OutlierMethod::Iqr => self.values.extend_from_slice(&present),
            _ => self.moments.merge(Moments::of(&present)),
        }
        Ok(())
    }

    /// The rule with its learned bounds: rows with a value below `min` or above `max` go.
    pub(crate) fn finish(mut self, file: &str) -> Result<OutlierPlan, DataError> {
        let empty = || {
            DataError::new(
                ErrorKind::Empty,
                file,
                format!(
                    "`{}` has no values to learn the {} rule's bounds from",
                    self.rule.feature,
                    self.rule.method.name()
                ),
            )
            .with_column(&self.rule.feature)
        };
        match self.rule.method {
            OutlierMethod::Range => {}
            OutlierMethod::Iqr => {
                let threshold = self.rule.threshold.unwrap_or(1.5);
                let [Some(q1), Some(q3)] = quantiles(&mut self.values, &[0.25, 0.75])[..] else {
                    return Err(empty());
                };
                self.rule.threshold = Some(threshold);
                self.rule.min = Some(q1 - threshold * (q3 - q1));
                self.rule.max = Some(q3 + threshold * (q3 - q1));
            }
            OutlierMethod::Zscore => {
                let threshold = self.rule.threshold.unwrap_or(3.0);
                if self.moments.count == 0 {
                    return Err(empty());
                }
                let (mean, std_dev) = (self.moments.mean, self.moments.std_dev());
                self.rule.threshold = Some(threshold);
                self.rule.min = Some(mean - threshold * std_dev);
                self.rule.max = Some(mean + threshold * std_dev);
            }
        }
        Ok(self.rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [25, 50, 75, 90]) = [2, 3, 4, 7.6]
        let sorted = [1.0, 2.0, 3.0, 4.0, 10.0];
        let got: Vec<f64> = [0.25, 0.5, 0.75, 0.9]
            .iter()
            .filter_map(|q| quantile(&sorted, *q))
            .collect();
        assert_eq!(got[..3], [2.0, 3.0, 4.0]);
        assert!((got[3] - 7.6).abs() < 1e-15);
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(median(&[1.0, 2.0, 4.0, 8.0]), Some(3.0));
        assert_eq!(median(&[5.0]), Some(5.0));
    }

    #[test]
    fn selected_ranks_give_the_quantiles_of_the_sorted_values() {
        let values: Vec<f64> = (0..1001).map(|i| (f64::from(i) * 0.61).sin() * 1e3).collect();
        let qs: Vec<f64> = (1..10)
            .map(|i| f64::from(i) / 10.0)
            .chain([0.25, 0.75, 0.0, 1.0])
            .collect();
        for len in [0, 1, 2, 10, 1000, 1001] {
            let mut sorted = values[..len].to_vec();
            sorted.sort_unstable_by(f64::total_cmp);
            let mut selected = values[..len].to_vec();
            let expected: Vec<Option<f64>> = qs.iter().map(|q| quantile(&sorted, *q)).collect();
            assert_eq!(quantiles(&mut selected, &qs), expected, "{len} values");
            let mut selected = values[..len].to_vec();
            place_ranks(&mut selected, median_ranks(len).to_vec());
            assert_eq!(median(&selected), median(&sorted), "{len} values");
        }
    }

    #[test]
    fn merged_moments_equal_the_moments_of_the_whole() {
        let values: Vec<f64> = (0..1000).map(|i| (f64::from(i) * 0.37).sin() * 1e3 + 5e6).collect();
        let mut merged = Moments::default();
        for part in values.chunks(77) {
            merged.merge(Moments::of(part));
        }
        merged.merge(Moments::constant(5e6, 10));
        let mut whole = values.clone();
        whole.extend([5e6; 10]);
        let direct = Moments::of(&whole);
        assert_eq!(merged.count, direct.count);
        assert!((merged.mean - direct.mean).abs() <= 1e-9);
        assert!((merged.std_dev() - direct.std_dev()).abs() <= 1e-9 * direct.std_dev());
    }

    #[test]
    fn vocabularies_keep_frequent_values_in_sorted_order() {
        let counts: HashMap<String, u64> = [("b", 5), ("10", 5), ("2", 1), ("a", 3)]
            .iter()
            .map(|(v, c)| ((*v).to_owned(), *c))
            .collect();
        let options = VocabularyOptions {
            top_k: Some(2),
            ..VocabularyOptions::default()
        };
        assert_eq!(
            vocabulary(counts.clone(), &options, &category_order(false)),
            ["10", "b"]
        );
        let options = VocabularyOptions {
            min_frequency: 3,
            ..VocabularyOptions::default()
        };
        assert_eq!(vocabulary(counts, &options, &category_order(false)), ["10", "a", "b"]);
        let numbers: HashMap<String, u64> = [("10", 1), ("9", 1), ("-1", 1)]
            .iter()
            .map(|(v, c)| ((*v).to_owned(), *c))
            .collect();
        assert_eq!(
            vocabulary(numbers, &VocabularyOptions::default(), &category_order(true)),
            ["-1", "9", "10"]
        );
    }
}

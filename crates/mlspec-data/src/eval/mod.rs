//! Evaluation: metrics of predictions against labels, overall and per slice, with bootstrap
//! confidence intervals and fairness summaries — what scikit-learn and fairlearn compute,
//! checked against them in the test suite.
//!
//! **Classification** (labels and predictions as class names): accuracy, balanced accuracy,
//! precision, recall and F1 per class and their macro, micro and support-weighted averages,
//! the confusion matrix; with a score column on a binary task, ROC AUC, average precision (PR
//! AUC), log loss and the expected calibration error. **Regression**: MAE, RMSE, R², MAPE.
//! A metric that a sample does not define (recall of a class that never occurs, AUC with one
//! class, R² of constant labels, MAPE with a zero label) is reported as undefined with the
//! reason — never as a silent 0; averages leave undefined classes out (scikit-learn's
//! `zero_division=np.nan`).
//!
//! **Confidence intervals** are percentile intervals of a seeded Poisson bootstrap (each row's
//! weight in a resample is a Poisson(1) draw; Xoshiro256++ seeded from `--seed`): for the
//! confusion-matrix metrics each cell's resampled count is drawn as Poisson(count), which is
//! the same distribution at a cost per resample independent of the rows, so every slice gets
//! them; the score-based and regression metrics resample the rows, overall.
//!
//! **Fairness**, per sensitive attribute on a binary task: demographic parity difference and
//! ratio of the groups' selection rates, and the equalized odds difference (the larger of the
//! groups' TPR and FPR spreads), as fairlearn defines them.
//!
//! The outcome gives its spec form too ([`Evaluation::spec_parts`], in [`spec`]): the metrics,
//! undefined metrics, slices and fairness summaries of an Evaluation or TestReport document.

pub mod metrics;
pub mod spec;

mod bootstrap;
mod load;

pub use load::{Loaded, MAX_CLASSES, load};
pub use spec::SpecParts;

/// YAML nodes (parser events) the metric sets of one Evaluation may take: 80% of the 1,000,000
/// a reader accepts (`mlspec_spec::validate::Limits`), the rest left for the document's other
/// parts. Slices × the size of a metric set beyond it are refused before anything is computed.
pub const MAX_METRIC_NODES: u64 = 800_000;

/// The tasks evaluated: the spec's, but ranking, whose metrics are not computed here.
pub const TASKS: [Task; 2] = [Task::Classification, Task::Regression];

/// The YAML nodes one metric set takes in an Evaluation, at most: a metric is six (a mapping of
/// `key` and `value`), a confusion-matrix cell two (its key and count). Classification: the
/// confusion matrix (classes² cells and a mapping per row), per class precision, recall, F1
/// and support (and up to three undefined ones), and some 35 averages and intervals;
/// regression: a dozen metrics and intervals.
pub fn metric_set_nodes(task: Task, classes: usize) -> u64 {
    let c = classes as u64;
    if task == Task::Classification {
        2 * c * c + 45 * c + 250
    } else {
        100
    }
}

use metrics::{Confusion, RegressionMetrics, ScoreMetrics, Value};
use mlspec_spec::kinds::Task;

use crate::error::{DataError, ErrorKind};

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The label column.
    pub label: String,
    /// The prediction column.
    pub prediction: String,
    /// The score column (the positive class's probability or score), binary tasks.
    pub score: Option<String>,
    /// The positive class (default: `1` or `true` when the classes are those).
    pub positive: Option<String>,
    /// The task, one of [`TASKS`] (default: regression for float labels, else classification).
    pub task: Option<Task>,
    /// Slice column sets: each column alone and their crossings.
    pub slices: Vec<Vec<String>>,
    /// Sensitive attributes for the fairness summaries (default: the slice columns).
    pub sensitive: Vec<String>,
    /// Bootstrap resamples (0: no intervals).
    pub resamples: usize,
    /// The bootstrap's seed.
    pub seed: u64,
    /// The intervals' confidence level.
    pub confidence: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            label: "label".into(),
            prediction: "prediction".into(),
            score: None,
            positive: None,
            task: None,
            slices: Vec::new(),
            sensitive: Vec::new(),
            resamples: 1000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

/// A set of metrics: values, intervals, and the metrics left undefined with why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSet {
    /// (key, value).
    pub values: Vec<(String, f64)>,
    /// (key, low, high).
    pub intervals: Vec<(String, f64, f64)>,
    /// (key, reason).
    pub undefined: Vec<(String, String)>,
    /// The confusion matrix (classification): class names and counts.
    pub confusion: Option<Confusion>,
}

impl MetricSet {
    fn put(&mut self, key: impl Into<String>, value: Value) {
        match value {
            Ok(v) if v.is_finite() => self.values.push((key.into(), v)),
            Ok(_) => self.undefined.push((key.into(), "not finite".into())),
            Err(reason) => self.undefined.push((key.into(), reason.into())),
        }
    }

    /// The value of `key`, when defined.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// One slice's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceResult {
    /// `col=value[,col=value]`.
    pub name: String,
    /// The (column, value) pairs.
    pub filter: Vec<(String, String)>,
    /// Rows in the slice.
    pub rows: u64,
    /// Its metrics.
    pub metrics: MetricSet,
}

/// One group of a sensitive attribute: value, rows, selection rate, TPR, FPR.
pub type GroupRates = (String, u64, Value, Value, Value);

/// A fairness summary for one sensitive attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessResult {
    /// The attribute.
    pub attribute: String,
    /// Per group: value, rows, selection rate, TPR, FPR.
    pub groups: Vec<GroupRates>,
    /// Largest minus smallest selection rate.
    pub demographic_parity_difference: Value,
    /// Smallest over largest selection rate.
    pub demographic_parity_ratio: Value,
    /// The larger of the TPR and FPR spreads across groups.
    pub equalized_odds_difference: Value,
}

/// An evaluation's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The predictions file, as errors name it.
    pub file: String,
    /// The task: classification or regression.
    pub task: Task,
    /// Rows evaluated.
    pub rows: u64,
    /// The classes (classification), sorted.
    pub classes: Vec<String>,
    /// Overall metrics.
    pub overall: MetricSet,
    /// Per slice.
    pub slices: Vec<SliceResult>,
    /// Per sensitive attribute.
    pub fairness: Vec<FairnessResult>,
}

/// Evaluates loaded predictions; `progress` is called with the share of the bootstrap done.
pub fn evaluate(data: &Loaded, options: &EvalOptions, progress: impl Fn(f64) + Sync) -> Result<Evaluation, DataError> {
    let slice_rows = data.slices(&options.slices)?;
    let per_set = metric_set_nodes(data.task(), data.classes().len());
    let sets = 1 + slice_rows.len() as u64;
    if sets.saturating_mul(per_set) > MAX_METRIC_NODES {
        let message = format!(
            "{} slices of {} classes make an Evaluation of about {} YAML nodes, more than the {MAX_METRIC_NODES} \
             its metrics may take (a document is read back with at most 1,000,000); slice by fewer or coarser \
             columns (at most {} slices with {} classes)",
            slice_rows.len(),
            data.classes().len(),
            sets.saturating_mul(per_set),
            (MAX_METRIC_NODES / per_set).saturating_sub(1),
            data.classes().len()
        );
        return Err(DataError::new(ErrorKind::LimitExceeded, data.file(), message));
    }
    let all: Vec<usize> = (0..data.rows()).collect();
    let mut overall = metrics_of(data, &all, options, None, &progress);
    if let Some(confusion) = &mut overall.confusion {
        confusion.cells.iter_mut().flatten().for_each(|c| *c = c.round());
    }
    let slices = slice_rows
        .into_iter()
        .map(|(filter, rows)| {
            let name = filter
                .iter()
                .map(|(c, v)| format!("{c}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            SliceResult {
                rows: rows.len() as u64,
                metrics: metrics_of(data, &rows, options, Some(&name), &|_| {}),
                name,
                filter,
            }
        })
        .collect();
    let sensitive: Vec<String> = if options.sensitive.is_empty() {
        let mut columns: Vec<String> = options.slices.iter().flatten().cloned().collect();
        columns.dedup();
        columns
    } else {
        options.sensitive.clone()
    };
    let fairness = sensitive.iter().filter_map(|a| fairness(data, a)).collect();
    Ok(Evaluation {
        file: data.file().to_owned(),
        task: data.task(),
        rows: data.rows() as u64,
        classes: data.classes().to_vec(),
        overall,
        slices,
        fairness,
    })
}

/// The metrics of these rows: of the whole (`slice` none), whose score and regression metrics
/// get intervals too (resampling the rows), or of a slice.
fn metrics_of(
    data: &Loaded,
    rows: &[usize],
    options: &EvalOptions,
    slice: Option<&str>,
    progress: &(impl Fn(f64) + Sync),
) -> MetricSet {
    let row_bootstrap = slice.is_none();
    let mut set = MetricSet::default();
    if data.task() == Task::Classification {
        let confusion = data.confusion(rows);
        put_confusion_metrics(&mut set, &confusion, data.classes());
        let stream = bootstrap::stream_of(slice.unwrap_or(""));
        set.intervals
            .extend(bootstrap::confusion_intervals(&confusion, options, stream, |c| {
                let mut s = MetricSet::default();
                put_confusion_metrics(&mut s, c, &[]);
                s.values
            }));
        if let Some(scored) = data.scored(rows) {
            put_score_metrics(&mut set, &scored.metrics(|count| count));
            if row_bootstrap {
                set.intervals
                    .extend(bootstrap::row_intervals(rows.len(), options, progress, |w| {
                        let mut s = MetricSet::default();
                        put_score_metrics(&mut s, &scored.metrics(|count| w.of(count)));
                        s.values
                    }));
            }
        }
        set.confusion = Some(confusion);
    } else {
        let pairs = data.pairs(rows);
        put_regression_metrics(&mut set, &metrics::regression(&pairs, |_| 1.0));
        if row_bootstrap {
            set.intervals
                .extend(bootstrap::row_intervals(pairs.len(), options, progress, |w| {
                    let mut s = MetricSet::default();
                    put_regression_metrics(&mut s, &metrics::regression(&pairs, |_| w.next()));
                    s.values
                }));
        }
    }
    set
}

/// Accuracy, balanced accuracy and the averages; per class too when `classes` are named.
fn put_confusion_metrics(set: &mut MetricSet, confusion: &Confusion, classes: &[String]) {
    set.put("accuracy", confusion.accuracy());
    set.put("balanced_accuracy", confusion.balanced_accuracy());
    type PerClass = fn(&Confusion, usize) -> Value;
    let per_class: [(&str, PerClass); 3] = [
        ("precision", Confusion::precision),
        ("recall", Confusion::recall),
        ("f1", Confusion::f1),
    ];
    for (name, metric) in per_class {
        set.put(format!("{name}_macro"), confusion.macro_average(metric));
        // Single-label classification: micro precision, recall and F1 all equal accuracy.
        set.put(format!("{name}_micro"), confusion.accuracy());
        set.put(format!("{name}_weighted"), confusion.support_weighted(metric));
        for (k, class) in classes.iter().enumerate() {
            set.put(format!("{name}/{class}"), metric(confusion, k));
        }
    }
    for (k, class) in classes.iter().enumerate() {
        set.put(format!("support/{class}"), Ok(confusion.support(k)));
    }
}

fn put_score_metrics(set: &mut MetricSet, m: &ScoreMetrics) {
    set.put("roc_auc", m.roc_auc);
    set.put("average_precision", m.average_precision);
    set.put("log_loss", m.log_loss);
    set.put("expected_calibration_error", m.calibration_error);
}

fn put_regression_metrics(set: &mut MetricSet, m: &RegressionMetrics) {
    set.put("mae", m.mae);
    set.put("rmse", m.rmse);
    set.put("r2", m.r2);
    set.put("mape", m.mape);
}

/// The fairness summary of one attribute (binary tasks only).
fn fairness(data: &Loaded, attribute: &str) -> Option<FairnessResult> {
    let positive = data.positive()?;
    let groups = data.groups(attribute)?;
    let mut rows = Vec::new();
    for (value, members) in groups {
        let confusion = data.confusion(&members);
        let n = members.len() as f64;
        let negative = 1 - positive.min(1);
        let selected = confusion.predicted(positive);
        let tpr = confusion.recall(positive);
        let false_positives = confusion
            .cells
            .get(negative)
            .and_then(|r| r.get(positive))
            .copied()
            .unwrap_or(0.0);
        let fpr = if confusion.support(negative) == 0.0 {
            Err("no negative label in the group")
        } else {
            Ok(false_positives / confusion.support(negative))
        };
        rows.push((value, members.len() as u64, Ok(selected / n), tpr, fpr));
    }
    // The smallest and largest of a rate over the groups that define it (two at least).
    let extent = |pick: fn(&GroupRates) -> Value| {
        let values: Vec<f64> = rows.iter().filter_map(|r| pick(r).ok()).collect();
        if values.len() < 2 {
            return Err("fewer than two groups define it");
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok((min, max))
    };
    let spread = |pick: fn(&GroupRates) -> Value| extent(pick).map(|(min, max)| max - min);
    let ratio = extent(|r| r.2).and_then(|(min, max)| {
        if max == 0.0 {
            Err("no group is ever selected")
        } else {
            Ok(min / max)
        }
    });
    let tpr_spread = spread(|r| r.3);
    let fpr_spread = spread(|r| r.4);
    let equalized_odds = match (tpr_spread, fpr_spread) {
        (Ok(a), Ok(b)) => Ok(a.max(b)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    Some(FairnessResult {
        attribute: attribute.to_owned(),
        demographic_parity_difference: spread(|r| r.2),
        demographic_parity_ratio: ratio,
        equalized_odds_difference: equalized_odds,
        groups: rows,
    })
}

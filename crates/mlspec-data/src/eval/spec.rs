//! An evaluation in the spec's terms: the metrics, undefined metrics, slices and fairness
//! summaries that an Evaluation and a TestReport document hold. Intervals become two metrics,
//! `<key>_ci_low` and `<key>_ci_high`; the confusion matrix one object metric,
//! `confusion_matrix` (actual class → predicted class → count); a metric whose key is not a
//! valid metric key (a class name with unusual characters) is listed as undefined with that
//! reason.

use std::collections::BTreeMap;

use mlspec_spec::kinds::{Fairness, SliceMetrics, UndefinedMetric};
use mlspec_spec::newtypes::{InvalidValue, Key, ShortText};
use mlspec_spec::values::{Metric, MetricValue, Tags};

use super::{Evaluation, FairnessResult, MetricSet, SliceResult};
use crate::error::{DataError, ErrorKind};

/// The parts of an Evaluation (or TestReport) spec that an evaluation fills.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecParts {
    /// The overall metrics, intervals and confusion matrix.
    pub metrics: Vec<Metric>,
    /// The overall metrics left undefined, with why.
    pub undefined: Vec<UndefinedMetric>,
    /// Per slice.
    pub slices: Vec<SliceMetrics>,
    /// Per sensitive attribute.
    pub fairness: Vec<Fairness>,
}

impl Evaluation {
    /// The evaluation as the spec's parts. A slice whose name the spec refuses (a value with a
    /// control character, a name longer than 1,024 characters) is an InvalidArgument.
    pub fn spec_parts(&self) -> Result<SpecParts, DataError> {
        let (metrics, undefined) = spec_metrics(&self.overall, &self.classes);
        Ok(SpecParts {
            metrics,
            undefined,
            slices: self
                .slices
                .iter()
                .map(|slice| self.slice_metrics(slice))
                .collect::<Result<_, _>>()?,
            fairness: self
                .fairness
                .iter()
                .map(|f| self.spec_fairness(f))
                .collect::<Result<_, _>>()?,
        })
    }

    fn slice_metrics(&self, slice: &SliceResult) -> Result<SliceMetrics, DataError> {
        let (metrics, undefined) = spec_metrics(&slice.metrics, &self.classes);
        let filter = slice
            .filter
            .iter()
            .map(|(column, value)| Ok((self.column_key(column)?, value.clone())))
            .collect::<Result<Tags, DataError>>()?;
        Ok(SliceMetrics {
            name: ShortText::new(slice.name.as_str()).map_err(|e| self.refused(ErrorKind::InvalidArgument, e))?,
            filter,
            rows: slice.rows,
            metrics,
            undefined,
        })
    }

    fn spec_fairness(&self, fairness: &FairnessResult) -> Result<Fairness, DataError> {
        Ok(Fairness {
            attribute: self.column_key(&fairness.attribute)?,
            demographic_parity_difference: fairness.demographic_parity_difference.ok(),
            demographic_parity_ratio: fairness.demographic_parity_ratio.ok(),
            equalized_odds_difference: fairness.equalized_odds_difference.ok(),
        })
    }

    /// A column's name as a key: the readers name every column so, and an error is a bug.
    fn column_key(&self, column: &str) -> Result<Key, DataError> {
        Key::new(column).map_err(|e| self.refused(ErrorKind::Internal, e))
    }

    fn refused(&self, kind: ErrorKind, error: InvalidValue) -> DataError {
        DataError::new(kind, &self.file, error.to_string())
    }
}

/// A metric set as the spec's metrics (values, `<key>_ci_low`/`_ci_high`, the confusion matrix)
/// and undefined metrics. Keys that are not valid metric keys (a class name with unusual
/// characters) are listed as undefined with that reason.
fn spec_metrics(set: &MetricSet, classes: &[String]) -> (Vec<Metric>, Vec<UndefinedMetric>) {
    let mut metrics = Vec::new();
    let mut undefined = Vec::new();
    let mut put = |key: String, value: MetricValue| match Key::new(key.as_str()) {
        Ok(key) => metrics.push(Metric {
            key,
            value,
            step: None,
            timestamp: None,
        }),
        Err(_) => undefined.push((key, "its name is not a valid metric key".to_owned())),
    };
    for (key, value) in &set.values {
        put(key.clone(), MetricValue::Scalar(*value));
    }
    for (key, low, high) in &set.intervals {
        put(format!("{key}_ci_low"), MetricValue::Scalar(*low));
        put(format!("{key}_ci_high"), MetricValue::Scalar(*high));
    }
    if let Some(confusion) = &set.confusion {
        let matrix: BTreeMap<String, MetricValue> = classes
            .iter()
            .zip(&confusion.cells)
            .map(|(actual, row)| {
                let counts = classes
                    .iter()
                    .zip(row)
                    .map(|(predicted, count)| (predicted.clone(), MetricValue::Scalar(*count)))
                    .collect();
                (actual.clone(), MetricValue::Object(counts))
            })
            .collect();
        put("confusion_matrix".into(), MetricValue::Object(matrix));
    }
    let undefined = set
        .undefined
        .iter()
        .cloned()
        .chain(undefined)
        .filter_map(|(key, reason)| {
            Some(UndefinedMetric {
                key: Key::new(key.as_str()).ok()?,
                reason: ShortText::new(reason.as_str()).ok()?,
            })
        })
        .collect();
    (metrics, undefined)
}

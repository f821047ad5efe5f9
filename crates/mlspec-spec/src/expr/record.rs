//! The values a criterion reads: a document's metrics (overall and per slice), parameters and
//! labels, indexed once so that every lookup is constant-time and a whole check stays linear in
//! the number of slices.

use std::collections::{BTreeMap, HashMap};

use crate::document::{Document, Spec};
use crate::kinds::SliceMetrics;
use crate::values::{Metric, MetricValue, ParamValue};

use super::ast::SliceKey;

/// A parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
}

/// One slice's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceRecord {
    /// The slice's name, e.g. `gender=F`.
    pub name: String,
    /// The columns and values that define it.
    pub filter: BTreeMap<String, String>,
    /// Its scalar metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// What a document recorded, as criteria see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// The document, for messages (`Evaluation/churn-eval`).
    pub label: String,
    /// Overall scalar metrics; for a metric recorded at several steps, the value of the latest
    /// step (the last one written among equal steps).
    pub metrics: BTreeMap<String, f64>,
    /// Slices.
    pub slices: Vec<SliceRecord>,
    /// Parameters.
    pub params: BTreeMap<String, Scalar>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    by_selector: HashMap<String, usize>,
    by_column: HashMap<String, Vec<usize>>,
}

impl Record {
    /// A record of these values.
    pub fn new(
        label: String,
        metrics: BTreeMap<String, f64>,
        slices: Vec<SliceRecord>,
        params: BTreeMap<String, Scalar>,
        labels: BTreeMap<String, String>,
    ) -> Record {
        let mut by_selector = HashMap::with_capacity(slices.len());
        let mut by_column: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, slice) in slices.iter().enumerate() {
            let filter = slice_filter(slice);
            by_selector.entry(selector_key(filter.iter())).or_insert(i);
            if let [(column, _)] = filter.iter().collect::<Vec<_>>()[..] {
                by_column.entry(column.clone()).or_default().push(i);
            }
        }
        Record {
            label,
            metrics,
            slices,
            params,
            labels,
            by_selector,
            by_column,
        }
    }

    /// The record of an Evaluation, TestReport, Run or Training document; `None` for other kinds.
    pub fn from_document(document: &Document) -> Option<Record> {
        let (metrics, slices, params): (&[Metric], &[SliceMetrics], _) = match &document.spec {
            Spec::Evaluation(s) => (&s.metrics, &s.slices, None),
            Spec::TestReport(s) => (&s.metrics, &s.slices, None),
            Spec::Run(s) => (&s.metrics, &[], Some(&s.params)),
            Spec::Training(s) => (&s.metrics, &[], Some(&s.params)),
            _ => return None,
        };
        let params = params
            .map(|p| p.iter().map(|(k, v)| (k.as_str().to_owned(), scalar(v))).collect())
            .unwrap_or_default();
        let labels = document
            .metadata
            .labels
            .0
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
            .collect();
        let slices = slices
            .iter()
            .map(|s| SliceRecord {
                name: s.name.as_str().to_owned(),
                filter: s
                    .filter
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect(),
                metrics: latest_metrics(&s.metrics),
            })
            .collect();
        let label = format!("{}/{}", document.kind(), document.metadata.name);
        Some(Record::new(label, latest_metrics(metrics), slices, params, labels))
    }

    /// The slice a selector names.
    pub fn slice(&self, selector: &[SliceKey]) -> Option<&SliceRecord> {
        let key = selector_key(selector.iter().map(|k| (&k.column, &k.value)));
        self.by_selector.get(&key).and_then(|&i| self.slices.get(i))
    }

    /// The slices defined by one value of `column` alone, in recorded order.
    pub fn groups(&self, column: &str) -> impl Iterator<Item = &SliceRecord> {
        self.by_column
            .get(column)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.slices.get(i))
    }

    /// Every metric key, overall and of slices, for "did you mean" hints.
    pub fn metric_keys(&self) -> impl Iterator<Item = &str> {
        self.metrics
            .keys()
            .chain(self.slices.iter().flat_map(|s| s.metrics.keys()))
            .map(String::as_str)
    }

    /// Every slice column, for hints.
    pub fn slice_columns(&self) -> impl Iterator<Item = &str> {
        self.by_column.keys().map(String::as_str)
    }
}

/// A slice's filter; a slice recorded without one is read from its name (`gender=F,age=30`).
fn slice_filter(slice: &SliceRecord) -> BTreeMap<String, String> {
    if !slice.filter.is_empty() {
        return slice.filter.clone();
    }
    slice
        .name
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The canonical text of a selector: `column=value` pairs sorted by column.
fn selector_key<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let mut pairs: Vec<_> = pairs.collect();
    pairs.sort();
    let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}\u{1f}{v}")).collect();
    parts.join("\u{1e}")
}

/// The scalar value of each metric key; the latest step wins, and among equal steps the value
/// written last.
pub fn latest_metrics(metrics: &[Metric]) -> BTreeMap<String, f64> {
    let mut latest: BTreeMap<String, (Option<u64>, f64)> = BTreeMap::new();
    for metric in metrics {
        let MetricValue::Scalar(value) = metric.value else {
            continue;
        };
        let key = metric.key.as_str();
        match latest.get(key) {
            Some((step, _)) if *step > metric.step => {}
            _ => {
                latest.insert(key.to_owned(), (metric.step, value));
            }
        }
    }
    latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

fn scalar(value: &ParamValue) -> Scalar {
    match value {
        ParamValue::Number(n) => Scalar::Num(*n),
        ParamValue::String(s) => Scalar::Str(s.clone()),
    }
}

//! `apply`: the fitted chains and outlier rules on any file, batch by batch. Outlier rules
//! look at the raw values first (a row goes when its value lies outside a rule's [min, max];
//! it is counted against the first rule that removes it; a missing value removes nothing);
//! the kept rows' columns then go through their chains. Columns without a chain pass through
//! unchanged, in place.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int8Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::fit::{numbers, texts};
use super::spec::OutlierPlan;
use super::steps::{Chain, Fill, Step, prefix};
use crate::error::{DataError, ErrorKind};

/// A chain bound to its input column, counting values outside its vocabulary.
pub(crate) struct Bound<'a> {
    chain: &'a Chain,
    column: usize,
    /// A vocabulary's codes, or one-hot values' columns, by value.
    lookup: foldhash::HashMap<&'a str, i64>,
    /// Values outside the vocabulary (sent to the out-of-vocabulary bucket, or all zeros).
    pub(crate) unseen: u64,
}

/// The output schema: each input column in place, replaced by its chain's column(s).
pub(crate) fn output_schema(
    input: &Schema,
    chains: &[Chain],
    file: &str,
) -> Result<(SchemaRef, Vec<Option<usize>>), DataError> {
    let mut fields = Vec::new();
    let mut chain_of = Vec::new();
    for field in input.fields() {
        let chain = chains.iter().position(|c| c.feature == *field.name());
        chain_of.push(chain);
        match chain.and_then(|i| chains.get(i)) {
            None => fields.push(field.as_ref().clone()),
            Some(chain) => fields.extend(chain_fields(chain)),
        }
    }
    let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(DataError::new(
            ErrorKind::InvalidArgument,
            file,
            format!("two output columns would be named `{}`", twice[0]),
        )
        .with_hint("rename the input column, or give the mapping another `output` name"));
    }
    Ok((Arc::new(Schema::new(fields)), chain_of))
}

/// The columns a chain writes.
fn chain_fields(chain: &Chain) -> Vec<Field> {
    let name = chain.output_name();
    match chain.steps.last() {
        Some(Step::OneHot { values }) => values
            .iter()
            .map(|v| Field::new(format!("{name}_{v}"), DataType::Int8, true))
            .collect(),
        Some(Step::Vocabulary { .. } | Step::Bucketize { .. }) => vec![Field::new(name, DataType::Int64, true)],
        _ if chain.textual() => vec![Field::new(name, DataType::Utf8, true)],
        _ => vec![Field::new(name, DataType::Float64, true)],
    }
}

impl<'a> Bound<'a> {
    pub(crate) fn new(chain: &'a Chain, schema: &Schema, file: &str, fitted: &str) -> Result<Bound<'a>, DataError> {
        let column = schema.index_of(&chain.feature).map_err(|_| {
            DataError::new(
                ErrorKind::NoSuchColumn,
                file,
                format!("there is no column `{}`, which {fitted} transforms", chain.feature),
            )
            .with_column(&chain.feature)
            .with_hint("apply the transformation to data with the columns it was fitted on")
        })?;
        let data_type = schema.field(column).data_type();
        let fits = if chain.textual() {
            data_type.is_integer()
                || matches!(
                    data_type,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
                )
        } else {
            super::spec::numeric(data_type)
        };
        if !fits {
            return Err(DataError::new(
                ErrorKind::WrongType,
                file,
                format!(
                    "`{}` is {data_type}, and {fitted} treats it as {}",
                    chain.feature,
                    if chain.textual() { "categories" } else { "numbers" }
                ),
            )
            .with_column(&chain.feature)
            .with_hint("read the column with the type it had when fitted (--type COL=…)"));
        }
        Ok(Bound {
            chain,
            column,
            lookup: lookup(chain),
            unseen: 0,
        })
    }

    /// The chain's output columns for a batch.
    pub(crate) fn columns(&mut self, batch: &RecordBatch) -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
        let array = batch.column(self.column);
        if self.chain.textual() {
            self.text_columns(&texts(array)?)
        } else {
            Ok(vec![number_column(&self.chain.steps, numbers(array)?)])
        }
    }

    fn text_columns(&mut self, values: &StringArray) -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
        let fill = self.chain.steps.iter().find_map(|s| match s {
            Step::Impute {
                fill: Fill::Text(t), ..
            } => Some(t.as_str()),
            _ => None,
        });
        let filled = values.iter().map(|v| v.or(fill));
        Ok(match self.chain.steps.last() {
            Some(Step::Vocabulary { codes, oov_buckets }) => {
                let first_oov = Step::first_oov(codes);
                let codes: Vec<Option<i64>> = filled
                    .map(|v| {
                        v.map(|v| match self.lookup.get(v) {
                            Some(code) => *code,
                            None => {
                                self.unseen += 1;
                                first_oov + oov_bucket(v, *oov_buckets)
                            }
                        })
                    })
                    .collect();
                vec![Arc::new(Int64Array::from(codes))]
            }
            Some(Step::OneHot { values: kept }) => {
                let hits: Vec<Option<Option<i64>>> = filled
                    .map(|v| {
                        v.map(|v| {
                            let hit = self.lookup.get(v).copied();
                            if hit.is_none() {
                                self.unseen += 1;
                            }
                            hit
                        })
                    })
                    .collect();
                (0..kept.len() as i64)
                    .map(|column| {
                        let indicators: Int8Array = hits
                            .iter()
                            .map(|hit| hit.map(|hit| i8::from(hit == Some(column))))
                            .collect();
                        Arc::new(indicators) as ArrayRef
                    })
                    .collect()
            }
            _ => vec![Arc::new(filled.collect::<StringArray>())],
        })
    }
}

/// What a chain's encoding looks values up in: a vocabulary's codes, one-hot values' columns.
fn lookup(chain: &Chain) -> foldhash::HashMap<&str, i64> {
    match chain.steps.last() {
        Some(Step::Vocabulary { codes, .. }) => codes.iter().map(|(value, code)| (value.as_str(), *code)).collect(),
        Some(Step::OneHot { values }) => values.iter().map(String::as_str).zip(0..).collect(),
        _ => foldhash::HashMap::default(),
    }
}

/// The out-of-vocabulary bucket of a value: 0 with one bucket, else a stable hash (XXH3-64).
fn oov_bucket(value: &str, buckets: u32) -> i64 {
    if buckets <= 1 {
        return 0;
    }
    (twox_hash::XxHash3_64::oneshot(value.as_bytes()) % u64::from(buckets)) as i64
}

/// A numeric chain on a column's values (NaN missing).
fn number_column(steps: &[Step], mut values: Vec<f64>) -> ArrayRef {
    let encoding = steps.last();
    let prefix_steps = match encoding {
        Some(Step::Standardize { .. } | Step::MinMax { .. } | Step::Bucketize { .. }) => &steps[..steps.len() - 1],
        _ => steps,
    };
    for v in values.iter_mut() {
        *v = prefix(prefix_steps, *v);
    }
    match encoding {
        Some(Step::Standardize { mean, std_dev }) => {
            let scale = if *std_dev == 0.0 { 1.0 } else { *std_dev };
            for v in values.iter_mut() {
                *v = (*v - mean) / scale;
            }
        }
        Some(Step::MinMax { min, max }) => {
            // As scikit-learn's MinMaxScaler: x · scale + (−min · scale).
            let range = max - min;
            let scale = if range == 0.0 { 1.0 } else { 1.0 / range };
            let offset = -min * scale;
            for v in values.iter_mut() {
                *v = *v * scale + offset;
            }
        }
        Some(Step::Bucketize { boundaries, .. }) => {
            let buckets: Int64Array = values
                .iter()
                .map(|v| (!v.is_nan()).then(|| boundaries.partition_point(|b| b <= v) as i64))
                .collect();
            return Arc::new(buckets);
        }
        _ => {}
    }
    let array: Float64Array = values.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect();
    Arc::new(array)
}

/// The rows the outlier rules keep, counting each removed row against the first rule that
/// removes it.
pub(crate) fn keep(
    batch: &RecordBatch,
    rules: &[(usize, &OutlierPlan)],
    removed: &mut [u64],
) -> Result<Option<BooleanArray>, arrow::error::ArrowError> {
    if rules.is_empty() {
        return Ok(None);
    }
    let mut kept = vec![true; batch.num_rows()];
    for (rule_index, (column, rule)) in rules.iter().enumerate() {
        let values = numbers(batch.column(*column))?;
        let (min, max) = (rule.min.unwrap_or(f64::NEG_INFINITY), rule.max.unwrap_or(f64::INFINITY));
        let mut count = 0u64;
        for (keep, v) in kept.iter_mut().zip(values) {
            if *keep && (v < min || v > max) {
                *keep = false;
                count += 1;
            }
        }
        if let Some(total) = removed.get_mut(rule_index) {
            *total += count;
        }
    }
    Ok(Some(BooleanArray::from(kept)))
}

/// The batch's kept rows, transformed.
pub(crate) fn transform_batch(
    batch: &RecordBatch,
    kept: Option<&BooleanArray>,
    schema: &SchemaRef,
    chain_of: &[Option<usize>],
    bound: &mut [Bound<'_>],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let batch = match kept {
        Some(kept) => filter_record_batch(batch, kept)?,
        None => batch.clone(),
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (index, chain) in chain_of.iter().enumerate() {
        match chain.and_then(|c| bound.get_mut(c)) {
            Some(bound) => columns.extend(bound.columns(&batch)?),
            None => columns.push(batch.column(index).clone()),
        }
    }
    RecordBatch::try_new(schema.clone(), columns)
}

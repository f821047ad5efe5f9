//! # Fitted feature transformations
//!
//! A model sees features as numbers on a known scale: categories as integers, amounts
//! standardized, skewed values logged, missing values filled. Each of those mappings has
//! parameters that must be *learned once, on the training data* — the vocabulary, the mean,
//! the quartiles — and then *reused unchanged* on every other split and on serving data;
//! learning them again on test or serving data leaks it into the model and skews its inputs.
//! This module is that discipline as two functions:
//!
//! - [`fit`] reads the training data once, following a [`Plan`] (the user's transform spec),
//!   and returns [`Fitted`]: per feature a [`Chain`] of [`Step`]s with every learned value
//!   (the vocabulary itself, bucket boundaries, mean and standard deviation, the fill value),
//!   and the outlier rules with their learned bounds. [`Fitted::mappings`] and
//!   [`Fitted::outlier_rules`] write it as a Transformation document's mappings — one per step,
//!   in the order applied — and [`Fitted::from_spec`] reads it back.
//! - [`apply`] runs those chains on any file, batch by batch, and writes the result (Parquet,
//!   CSV or JSON Lines, chosen by the output's name), deterministically: the same input and
//!   document give the same bytes. It counts the rows each outlier rule removed and the values
//!   outside each vocabulary ([`Applied`]).
//! - [`fit_spooling`] and [`Spool::apply`] do both to the training data itself with one read
//!   of it: the fitting pass keeps the batches it parsed in a temporary Arrow spool, which the
//!   applying pass reads instead of the file (see the `spool` module).
//!
//! Per feature, steps run in a fixed order: **impute → clip → log → one encoding**
//! (standardize, min-max, bucketize, vocabulary or one-hot). Outlier rules look at the raw
//! values, before any mapping, and remove whole rows. The numbers agree with scikit-learn's
//! SimpleImputer, StandardScaler, MinMaxScaler, KBinsDiscretizer (with given edges),
//! OrdinalEncoder and OneHotEncoder to 1e-12 (tested against scikit-learn itself); what each
//! accumulator keeps in memory is in [`fit`]'s module.

mod apply;
mod fit;
mod spec;
mod spool;
mod steps;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use arrow::array::RecordBatch;

use mlspec_spec::kinds::{FeatureMapping, OutlierRule, TransformationSpec};
use mlspec_spec::newtypes::{Key, ShortText};

pub use spec::{
    Bounds, Constant, Encoding, FeaturePlan, Impute, OutlierMethod, OutlierPlan, Plan, Strategy, VocabularyOptions,
};
pub use spool::Spool;
pub use steps::{Chain, Fill, Step};

use crate::error::{DataError, ErrorKind};
use crate::read::{Batches, Format, ReadOptions, detect, open};
use crate::split::Writer;

/// What `fit` learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// Rows of the training data.
    pub rows: u64,
    /// Per feature, its fitted chain, in the spec's order.
    pub chains: Vec<Chain>,
    /// The outlier rules, with their bounds (`min`, `max`) learned.
    pub outliers: Vec<OutlierPlan>,
}

impl Fitted {
    /// The chains as a Transformation's mappings.
    pub fn mappings(&self) -> Result<Vec<FeatureMapping>, DataError> {
        let mut mappings = Vec::new();
        for chain in &self.chains {
            mappings.extend(chain.mappings()?);
        }
        Ok(mappings)
    }

    /// The outlier rules as a Transformation's, each with the rows it `removed` (none given:
    /// 0, as in a fitted document, which removes nothing).
    pub fn outlier_rules(&self, removed: &[u64]) -> Result<Vec<OutlierRule>, DataError> {
        self.outliers
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let recordable = |e: mlspec_spec::newtypes::InvalidValue| {
                    DataError::new(ErrorKind::InvalidArgument, "the Transformation document", e.to_string())
                        .with_column(&rule.feature)
                };
                Ok(OutlierRule {
                    feature: Key::new(rule.feature.as_str()).map_err(recordable)?,
                    method: ShortText::new(rule.method.name()).map_err(recordable)?,
                    threshold: rule.threshold,
                    min: rule.min,
                    max: rule.max,
                    removed: removed.get(i).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// What a Transformation document (written by `fit`) recorded; `file` is named in errors.
    pub fn from_spec(spec: &TransformationSpec, file: &str) -> Result<Fitted, DataError> {
        let chains = steps::chains(&spec.mappings, file)?;
        let outliers = spec
            .outlier_rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let method = match rule.method.as_str() {
                    "iqr" => OutlierMethod::Iqr,
                    "zscore" => OutlierMethod::Zscore,
                    "range" => OutlierMethod::Range,
                    other => {
                        return Err(DataError::new(
                            ErrorKind::InvalidArgument,
                            file,
                            format!("`{other}` is not an outlier method (iqr, zscore, range)"),
                        )
                        .at(format!("outlierRules[{i}]")));
                    }
                };
                if rule.min.is_none() && rule.max.is_none() {
                    return Err(DataError::new(
                        ErrorKind::InvalidArgument,
                        file,
                        "the outlier rule has no bounds (`min`, `max`) to apply",
                    )
                    .at(format!("outlierRules[{i}]"))
                    .with_column(rule.feature.as_str())
                    .with_hint("write the document with `mlspec data transform fit`, which learns them"));
                }
                Ok(OutlierPlan {
                    feature: rule.feature.as_str().to_owned(),
                    method,
                    threshold: rule.threshold,
                    min: rule.min,
                    max: rule.max,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Fitted {
            rows: spec.rows_in.unwrap_or(0),
            chains,
            outliers,
        })
    }
}

/// The schema of the file at `path`, and its batches reading only `columns` (all when `None`
/// is returned by `pick`).
fn open_columns(
    path: &Path,
    read: &ReadOptions,
    pick: impl FnOnce(&arrow::datatypes::Schema) -> Result<Option<Vec<usize>>, DataError>,
) -> Result<crate::read::Batches, DataError> {
    let schema = open(path, read)?.schema();
    let only = pick(&schema)?;
    open(
        path,
        &ReadOptions {
            only_columns: only,
            ..read.clone()
        },
    )
}

fn internal_stop(file: &str) -> DataError {
    DataError::new(ErrorKind::Internal, file, "the writing thread stopped")
}

fn internal(file: &str, error: arrow::error::ArrowError) -> DataError {
    DataError::new(ErrorKind::Internal, file, error.to_string())
}

/// Learns the plan's chains and outlier bounds from the training data at `path`, in one pass;
/// `progress` is called after each batch with the bytes read.
pub fn fit(path: &Path, read: &ReadOptions, plan: &Plan, progress: impl FnMut(u64)) -> Result<Fitted, DataError> {
    let file = path.display().to_string();
    let batches = open_columns(path, read, |schema| {
        plan.resolve(schema, &file)?;
        Ok(Some(plan.columns(schema)))
    })?;
    fit_batches(batches, &file, plan, progress, |_| Ok(()))
}

/// Learns the plan from the training data at `path` as [`fit`] does, and spools every batch
/// read (all columns) beside `out`, so that [`Spool::apply`] writes the transformed data to
/// `out` without reading `path` again. `out` is checked first, as [`apply`] checks it.
pub fn fit_spooling(
    path: &Path,
    read: &ReadOptions,
    plan: &Plan,
    out: &Path,
    progress: impl FnMut(u64),
) -> Result<(Fitted, Spool), DataError> {
    let file = path.display().to_string();
    let format = check_output(path, out)?;
    let batches = open(path, read)?;
    plan.resolve(&batches.schema(), &file)?;
    let mut spooling = spool::Spooling::create(&file, out, format, &batches.schema())?;
    let fitted = fit_batches(batches, &file, plan, progress, |batch| spooling.write(batch))?;
    Ok((fitted, spooling.finish()?))
}

/// Fits the plan on `batches` (of `file`, named in errors), handing each batch to `also` too.
fn fit_batches(
    batches: Batches,
    file: &str,
    plan: &Plan,
    mut progress: impl FnMut(u64),
    mut also: impl FnMut(&RecordBatch) -> Result<(), DataError>,
) -> Result<Fitted, DataError> {
    let schema = batches.schema();
    let mut features: Vec<fit::FeatureFit> = plan.features.iter().map(|f| fit::FeatureFit::new(f, &schema)).collect();
    let mut outliers: Vec<fit::OutlierFit> = plan.outliers.iter().map(|o| fit::OutlierFit::new(o, &schema)).collect();
    let mut rows = 0u64;
    pipelined(batches, file, |batch, bytes| {
        for feature in &mut features {
            feature.add(&batch).map_err(|e| internal(file, e))?;
        }
        for rule in &mut outliers {
            rule.add(&batch).map_err(|e| internal(file, e))?;
        }
        also(&batch)?;
        rows += batch.num_rows() as u64;
        progress(bytes);
        Ok(())
    })?;
    Ok(Fitted {
        rows,
        chains: features.into_iter().map(fit::FeatureFit::finish).collect(),
        outliers: outliers.into_iter().map(|o| o.finish(file)).collect::<Result<_, _>>()?,
    })
}

/// Reads `batches` on a thread of its own, so that parsing the next batch overlaps the work on
/// this one, and calls `work` with each batch and the bytes read so far; stops at the first
/// error, the reader's or the work's.
fn pipelined(
    batches: Batches,
    file: &str,
    mut work: impl FnMut(RecordBatch, u64) -> Result<(), DataError>,
) -> Result<(), DataError> {
    std::thread::scope(|scope| {
        let (send, receive) = mpsc::sync_channel(4);
        let reader = scope.spawn(move || {
            let mut batches = batches;
            while let Some(batch) = batches.next() {
                let bytes = batches.bytes_read();
                let failed = batch.is_err();
                if send.send(batch.map(|b| (b, bytes))).is_err() || failed {
                    break;
                }
            }
        });
        let mut outcome = Ok(());
        for item in &receive {
            if let Err(error) = item.and_then(|(batch, bytes)| work(batch, bytes)) {
                outcome = Err(error);
                break;
            }
        }
        // The reader stops at its next send.
        drop(receive);
        reader
            .join()
            .map_err(|_| DataError::new(ErrorKind::Internal, file, "the reading thread failed"))?;
        outcome
    })
}

/// What `apply` did.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Rows each outlier rule removed (a row removed by several rules counts for the first).
    pub removed: Vec<u64>,
    /// Per vocabulary or one-hot feature, the values outside its vocabulary.
    pub unseen: Vec<(String, u64)>,
}

/// Applies `fitted` (read from `fitted_file`, named in errors) to the file at `path`, writing
/// the result to `out` in the format its name says; `progress` is called after each batch with
/// the bytes read. The output is written beside `out` first and renamed when complete.
pub fn apply(
    path: &Path,
    read: &ReadOptions,
    fitted: &Fitted,
    fitted_file: &str,
    out: &Path,
    progress: impl FnMut(u64),
) -> Result<Applied, DataError> {
    let format = check_output(path, out)?;
    let batches = open(path, read)?;
    apply_batches(
        batches,
        &path.display().to_string(),
        fitted,
        fitted_file,
        (out, format),
        progress,
    )
}

/// The format of `out`, which must not be the input at `path`.
fn check_output(path: &Path, out: &Path) -> Result<Format, DataError> {
    let format = output_format(out)?;
    if same_file(path, out) {
        return Err(DataError::new(
            ErrorKind::InvalidArgument,
            &out.display().to_string(),
            "the output would overwrite the input",
        )
        .with_hint("write the transformed data to another file"));
    }
    Ok(format)
}

/// Applies `fitted` to `batches` (of `file`, named in errors), writing them to `out` in
/// `format`.
fn apply_batches(
    batches: Batches,
    file: &str,
    fitted: &Fitted,
    fitted_file: &str,
    (out, format): (&Path, Format),
    mut progress: impl FnMut(u64),
) -> Result<Applied, DataError> {
    let target = out.display().to_string();
    let input = batches.schema();
    let mut bound = fitted
        .chains
        .iter()
        .map(|chain| apply::Bound::new(chain, &input, file, fitted_file))
        .collect::<Result<Vec<_>, _>>()?;
    let rules = fitted
        .outliers
        .iter()
        .map(|rule| match input.index_of(&rule.feature) {
            Ok(column) if spec::numeric(input.field(column).data_type()) => Ok((column, rule)),
            _ => Err(DataError::new(
                ErrorKind::NoSuchColumn,
                file,
                format!(
                    "there is no numeric column `{}` for {fitted_file}'s outlier rule",
                    rule.feature
                ),
            )
            .with_column(&rule.feature)
            .with_hint("apply the transformation to data with the columns it was fitted on")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (schema, chain_of) = apply::output_schema(&input, &fitted.chains, fitted_file)?;
    let partial = partial_path(out);
    let partial_name = partial.display().to_string();
    let mut writer = Writer::create(&partial, format, &schema, Some(output_properties()))?;
    let mut removed = vec![0u64; rules.len()];
    let (mut rows_in, mut rows_out) = (0u64, 0u64);
    // Three stages on three threads: reading, transforming, writing (here).
    let written = std::thread::scope(|scope| {
        let (send, receive) = mpsc::sync_channel::<(RecordBatch, u64)>(4);
        let (schema, chain_of, rules) = (&schema, &chain_of, &rules);
        let (bound, removed, rows_in) = (&mut bound, &mut removed, &mut rows_in);
        let transformer = scope.spawn(move || {
            pipelined(batches, file, |batch, bytes| {
                let kept = apply::keep(&batch, rules, removed).map_err(|e| internal(file, e))?;
                let result = apply::transform_batch(&batch, kept.as_ref(), schema, chain_of, bound)
                    .map_err(|e| internal(file, e))?;
                *rows_in += batch.num_rows() as u64;
                // A closed channel: the writer failed, and says why.
                send.send((result, bytes)).map_err(|_| internal_stop(file))
            })
        });
        let mut outcome = Ok(());
        for (result, bytes) in &receive {
            rows_out += result.num_rows() as u64;
            if let Err(error) = writer.write(&result, &partial_name) {
                outcome = Err(error);
                break;
            }
            progress(bytes);
        }
        drop(receive);
        let transformed = transformer
            .join()
            .map_err(|_| DataError::new(ErrorKind::Internal, file, "the transforming thread failed"))?;
        outcome.and(transformed)
    })
    .and_then(|()| {
        writer.finish(&partial_name)?;
        std::fs::rename(&partial, out).map_err(|e| DataError::new(ErrorKind::Io, &target, format!("cannot write: {e}")))
    });
    if let Err(error) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    let unseen = bound
        .iter()
        .zip(&fitted.chains)
        .filter(|(_, chain)| chain.steps.last().is_some_and(Step::categorical))
        .map(|(b, chain)| (chain.feature.clone(), b.unseen))
        .collect();
    Ok(Applied {
        rows_in,
        rows_out,
        removed,
        unseen,
    })
}

/// How transformed data is written to Parquet: with small dictionaries (64 KiB a page, 1 MiB
/// by default). Codes, buckets and indicators take a few values and keep their dictionaries;
/// scaled and logged numbers are nearly all distinct, and interning 128 Ki of them per column
/// before giving up on the dictionary took a fifth of the writing time for nothing.
fn output_properties() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder()
        .set_dictionary_page_size_limit(64 << 10)
        .build()
}

/// The format of the output file, which must not be compressed.
fn output_format(out: &Path) -> Result<Format, DataError> {
    match detect(out) {
        Some((format, crate::read::Compression::None)) => Ok(format),
        Some(_) => Err(DataError::new(
            ErrorKind::Unsupported,
            &out.display().to_string(),
            "transformed data is not written compressed",
        )
        .with_hint("write .parquet (compressed inside), .csv or .jsonl")),
        None => Err(DataError::new(
            ErrorKind::Unsupported,
            &out.display().to_string(),
            "cannot tell the output format from the file name",
        )
        .with_hint("name the output .parquet, .csv or .jsonl")),
    }
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where the output is written until it is complete.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

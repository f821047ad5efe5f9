//! # The MLSpec data engine
//!
//! Statistics over real data, fast and in bounded memory, for the analysis (DataProfile),
//! validation (DataSchema, ValidationReport) and monitoring stages. Everything is built on
//! Apache Arrow: a file is read as a stream of columnar record batches, and every computation
//! consumes batches one at a time, so memory follows the batch size and the sketches, not the
//! file.
//!
//! - [`read`]: CSV (header, delimiter, quoting; types inferred from a sample, with overrides),
//!   Parquet and JSON Lines, plain or gzip/zstd-compressed, as record batches; what is fatal and
//!   what is not is decided there and documented.
//! - [`profile`]: one pass, per column, mergeable accumulators (moments, a KLL quantile sketch,
//!   exact-then-HyperLogLog distinct counts, frequent values, extremes for outlier examples),
//!   spread over threads and merged.
//! - [`schema`]: the first DataSchema from a profile of a sample.
//! - [`validate`]: data against a DataSchema, with exact counts and examples per anomaly.
//! - [`drift`]: a baseline against current data, numeric features binned by the baseline's
//!   deciles (Jensen–Shannon, PSI, Kolmogorov–Smirnov), categorical ones by L-infinity; the
//!   features past a DataSchema's thresholds as a ValidationReport's Anomalies.
//! - [`rowhash`]: canonical row hashes, independent of column order and number formatting.
//! - [`split`]: deterministic splits (stable key hash, seeded random, time) with per-split
//!   profiles, digests and a leakage check.
//! - [`transform`]: fitted feature transformations — vocabularies, standardization, min-max
//!   scaling, logarithms, buckets, imputation, clipping, one-hot — and outlier rules, learned
//!   on training data in one pass and applied unchanged to any other data, as scikit-learn's
//!   preprocessing computes them.
//! - [`eval`]: classification and regression metrics overall and per slice, bootstrap
//!   intervals and fairness summaries, as scikit-learn and fairlearn compute them, for the
//!   spec's tasks but ranking; the outcome as an Evaluation's metrics, slices and fairness.
//! - [`leakage`]: rows, keys and near-duplicates shared between inputs, with a re-checkable
//!   proof of disjointness, and the Split document's LeakageCheck.
//! - [`ingest`]: a source — files, a database query, a command's output — as a
//!   content-addressed snapshot of Parquet shards with per-shard profiles merged into one.
//! - [`error`]: every problem has a kind to branch on, and names the file, the line or row,
//!   and the column.

pub mod drift;
pub mod error;
pub mod eval;
pub mod ingest;
pub mod leakage;
pub mod profile;
pub mod read;
pub mod rowhash;
pub mod schema;
pub mod split;
pub mod transform;
pub mod validate;

pub use error::{DataError, ErrorKind};
pub use read::{
    BATCH_BYTES, BATCH_CELLS, Batches, Compression, CsvOptions, DEFAULT_NULL_VALUES, Format, Limits, ReadOptions,
    detect, open, parquet_rows,
};

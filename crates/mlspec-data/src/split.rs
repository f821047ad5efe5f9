//! Deterministic splits: every row of a file goes to exactly one part (train, validation,
//! test, holdback, debug), each part is written to its own file, profiled, and checked for
//! leakage against the others — all in one pass over the input (two for a time split).
//!
//! How a row's part is chosen, from a number u in [0, 1) and the parts' cumulative fractions:
//! - **hash** (`--by KEY_COLS`): u is the canonical hash of the key columns
//!   ([`crate::rowhash`], XXH3-128), so a key lands in the same part in every run, on every
//!   machine, whatever the file's row order or batch size. Keys with a null are refused unless
//!   [`NullKeys::Together`] puts them all in the part of the null key.
//! - **random** (`--seed N`): u is SplitMix64 of the seed and the row number — repeatable for
//!   the same file and seed, independent of batch size.
//! - **time** (`--time COL`): a first pass reads the time column alone and finds the cut
//!   points at the cumulative fractions; earlier rows go to the earlier parts, in the order the
//!   parts are given (train, validation, test, then holdback, then debug), and rows with equal
//!   times always share a part. Null times are refused.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use mlspec_spec::kinds::SplitRole;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::error::{DataError, ErrorKind};
use crate::leakage::{HashedRows, Hashers, LeakageOptions, LeakageReport, compare};
use crate::profile::Profiler;
use crate::read::{Batches, Format, ReadOptions, open};
use crate::rowhash::{Normalization, RowHasher};

/// What to do with rows whose key has a null.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NullKeys {
    /// Refuse the file, naming the first such row.
    #[default]
    Refuse,
    /// Treat null as a value: all rows with the same nulls go to the same part.
    Together,
}

/// How rows are assigned to parts.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// By a stable hash of these key columns.
    Hash {
        /// The key columns.
        keys: Vec<String>,
        /// Keys with nulls.
        nulls: NullKeys,
    },
    /// By a seeded pseudo-random draw per row.
    Random {
        /// The seed.
        seed: u64,
    },
    /// By this time column: earlier rows to earlier parts.
    Time {
        /// The time column.
        column: String,
    },
}

/// The parts and their fractions of the whole: `holdback` and `debug` are carved out of the
/// whole first, and `ratios` (which must sum to 1) share the rest. Ratios or shares out of
/// range are an InvalidArgument of `--ratios`.
pub fn parts(ratios: &[(SplitRole, f64)], holdback: f64, debug: f64) -> Result<Vec<(SplitRole, f64)>, DataError> {
    checked_parts(ratios, holdback, debug).map_err(|why| DataError::new(ErrorKind::InvalidArgument, "--ratios", why))
}

fn checked_parts(ratios: &[(SplitRole, f64)], holdback: f64, debug: f64) -> Result<Vec<(SplitRole, f64)>, String> {
    let sum: f64 = ratios.iter().map(|(_, r)| r).sum();
    if ratios.is_empty() || (sum - 1.0).abs() > 1e-9 {
        return Err(format!("the ratios sum to {sum}, not 1"));
    }
    for (role, ratio) in ratios {
        if !(*ratio > 0.0 && *ratio <= 1.0) {
            return Err(format!(
                "the ratio of {} is {ratio}; ratios are in (0, 1]",
                role_name(*role)
            ));
        }
        if matches!(role, SplitRole::Holdback | SplitRole::Debug) {
            return Err(format!(
                "{} is not a ratio: use --{}",
                role_name(*role),
                role_name(*role)
            ));
        }
        if ratios.iter().filter(|(r, _)| r == role).count() > 1 {
            return Err(format!("{} appears twice", role_name(*role)));
        }
    }
    for (name, share) in [("holdback", holdback), ("debug", debug)] {
        if !(0.0..1.0).contains(&share) {
            return Err(format!("--{name} is {share}; it is in [0, 1)"));
        }
    }
    let rest = 1.0 - holdback - debug;
    if rest <= 0.0 {
        return Err("--holdback and --debug leave nothing to split".into());
    }
    let mut parts: Vec<(SplitRole, f64)> = ratios.iter().map(|(role, r)| (*role, r * rest)).collect();
    for (role, share) in [(SplitRole::Holdback, holdback), (SplitRole::Debug, debug)] {
        if share > 0.0 {
            parts.push((role, share));
        }
    }
    Ok(parts)
}

/// The role's name as the spec writes it.
pub fn role_name(role: SplitRole) -> &'static str {
    match role {
        SplitRole::Train => "train",
        SplitRole::Validation => "validation",
        SplitRole::Test => "test",
        SplitRole::Holdback => "holdback",
        SplitRole::Debug => "debug",
    }
}

/// How to split.
#[derive(Clone, Debug)]
pub struct SplitOptions {
    /// How rows are assigned.
    pub method: Method,
    /// The parts and their fractions of the whole ([`parts`]).
    pub parts: Vec<(SplitRole, f64)>,
    /// Where the parts are written, as `<stem>-<role>.<ext>` in the input's format.
    pub out_dir: PathBuf,
    /// The parts' file name stem.
    pub stem: String,
    /// Columns left out of the leakage check's row hashes (e.g. a row id).
    pub ignore: Vec<String>,
}

/// One written part.
#[derive(Debug)]
pub struct Part {
    /// Its role.
    pub role: SplitRole,
    /// Its fraction of the whole, as asked.
    pub fraction: f64,
    /// Rows that landed in it.
    pub rows: u64,
    /// Its file.
    pub path: PathBuf,
    /// Its profile.
    pub profile: Profiler,
}

/// A split's outcome.
#[derive(Debug)]
pub struct Split {
    /// Rows in the input.
    pub rows: u64,
    /// The parts, in the order of [`SplitOptions::parts`].
    pub parts: Vec<Part>,
    /// The parts checked against each other.
    pub leakage: LeakageReport,
}

/// What the workers learn of one part: its profile and its row hashes.
#[derive(Clone)]
struct Analysis {
    profile: Profiler,
    hashed: HashedRows,
}

impl Analysis {
    fn merge(&mut self, other: Analysis) {
        self.profile.merge(&other.profile);
        self.hashed.merge(other.hashed);
    }
}

/// A piece of a batch for one part, and the part's row number of its first row.
type Piece = (usize, RecordBatch, u64);

/// A data file being written, in any of the formats the engine reads.
pub(crate) enum Writer {
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<File>>),
    Parquet(Box<ArrowWriter<File>>),
}

impl Writer {
    /// Creates the file at `path`, with the schema's header for CSV; a Parquet file is written
    /// with `parquet` (the defaults when `None`).
    pub(crate) fn create(
        path: &Path,
        format: Format,
        schema: &SchemaRef,
        parquet: Option<WriterProperties>,
    ) -> Result<Writer, DataError> {
        let file = path.display().to_string();
        let handle =
            File::create(path).map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot create: {e}")))?;
        let mut writer = match format {
            Format::Csv => Writer::Csv(Box::new(arrow::csv::Writer::new(BufWriter::new(handle)))),
            Format::JsonLines => Writer::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(handle))),
            Format::Parquet => Writer::Parquet(Box::new(
                ArrowWriter::try_new(handle, schema.clone(), parquet)
                    .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot write Parquet: {e}")))?,
            )),
        };
        // An empty batch first, so that a part no row lands in still has its CSV header.
        writer.write(&RecordBatch::new_empty(schema.clone()), &file)?;
        Ok(writer)
    }

    /// Writes a batch to the part's `file` (named in errors).
    pub(crate) fn write(&mut self, batch: &RecordBatch, file: &str) -> Result<(), DataError> {
        match self {
            Writer::Csv(w) => w.write(batch).map_err(|e| cannot_write(file, e)),
            Writer::Json(w) => w.write(batch).map_err(|e| cannot_write(file, e)),
            Writer::Parquet(w) => w.write(batch).map_err(|e| cannot_write(file, e)),
        }
    }

    /// Flushes and closes the part's `file` (named in errors).
    pub(crate) fn finish(self, file: &str) -> Result<(), DataError> {
        match self {
            Writer::Csv(w) => w.into_inner().into_inner().map(drop).map_err(|e| cannot_write(file, e)),
            Writer::Json(mut w) => {
                w.finish().map_err(|e| cannot_write(file, e))?;
                w.into_inner().into_inner().map(drop).map_err(|e| cannot_write(file, e))
            }
            Writer::Parquet(w) => w.close().map(drop).map_err(|e| cannot_write(file, e)),
        }
    }
}

fn cannot_write(file: &str, why: impl std::fmt::Display) -> DataError {
    DataError::new(ErrorKind::Io, file, format!("cannot write: {why}"))
}

/// The extension a part's file takes.
fn extension(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Parquet => "parquet",
        Format::JsonLines => "jsonl",
    }
}

/// Splits the file at `path`; `progress` is called after each batch with the bytes read.
pub fn split(
    path: &Path,
    read: &ReadOptions,
    options: &SplitOptions,
    mut progress: impl FnMut(u64),
) -> Result<Split, DataError> {
    let file = path.display().to_string();
    let format = match (read.format, crate::read::detect(path)) {
        (Some(format), _) | (None, Some((format, _))) => format,
        (None, None) => {
            return Err(DataError::new(
                ErrorKind::Unsupported,
                &file,
                "cannot tell the format from the file name",
            ));
        }
    };
    let mut batches = open(path, read)?;
    let schema = batches.schema();
    let cumulative: Vec<f64> = options
        .parts
        .iter()
        .scan(0.0, |sum, (_, f)| {
            *sum += f;
            Some(*sum)
        })
        .collect();
    let chooser = Chooser::new(&file, path, read, &schema, &options.method, &cumulative)?;
    let keys = match &options.method {
        Method::Hash { keys, .. } => keys.clone(),
        _ => Vec::new(),
    };
    let leakage = LeakageOptions {
        keys: keys.clone(),
        ignore: options.ignore.clone(),
        near: None,
    };
    let hashers = Hashers::new(&file, &schema, &leakage)?;
    std::fs::create_dir_all(&options.out_dir).map_err(|e| {
        DataError::new(
            ErrorKind::Io,
            &options.out_dir.display().to_string(),
            format!("cannot create: {e}"),
        )
    })?;
    let mut writers = Vec::new();
    let mut paths = Vec::new();
    let mut empty = Vec::new();
    for (role, _) in &options.parts {
        let path = options
            .out_dir
            .join(format!("{}-{}.{}", options.stem, role_name(*role), extension(format)));
        writers.push(Writer::create(&path, format, &schema, None)?);
        empty.push(Analysis {
            profile: Profiler::new(&schema, &[])?,
            hashed: HashedRows::new(role_name(*role)),
        });
        paths.push(path);
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // The reading thread assigns rows and writes the parts in order; workers profile and hash.
    let (rows, analyses) = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (send, receive) = mpsc::sync_channel::<Piece>(4);
            senders.push(send);
            let mut mine = empty.clone();
            let hashers = &hashers;
            workers.push(scope.spawn(move || {
                for (part, piece, first_row) in receive {
                    if let Some(analysis) = mine.get_mut(part) {
                        analysis.profile.add(&piece, first_row)?;
                        analysis.hashed.add(hashers, &piece, first_row);
                    }
                }
                Ok::<Vec<Analysis>, DataError>(mine)
            }));
        }
        let written = write_parts(&mut batches, &chooser, &mut writers, &paths, &senders, &mut progress);
        drop(senders);
        let mut total = empty.clone();
        for worker in workers {
            let analyses = worker
                .join()
                .map_err(|_| DataError::new(ErrorKind::Internal, &file, "a profiling thread failed"))??;
            for (mine, theirs) in total.iter_mut().zip(analyses) {
                mine.merge(theirs);
            }
        }
        written.map(|rows| (rows, total))
    })?;
    let row_columns = hashers.row_columns();
    let mut parts = Vec::new();
    let mut hashed = Vec::new();
    for ((((role, fraction), writer), analysis), path) in options.parts.iter().zip(writers).zip(analyses).zip(paths) {
        writer.finish(&path.display().to_string())?;
        hashed.push(analysis.hashed);
        parts.push(Part {
            role: *role,
            fraction: *fraction,
            rows: analysis.profile.rows(),
            path,
            profile: analysis.profile,
        });
    }
    Ok(Split {
        rows,
        parts,
        leakage: compare(hashed, row_columns, keys),
    })
}

/// Reads every batch, assigns its rows, writes each part's rows to its file and hands them to
/// the workers (in turn); the rows read.
fn write_parts(
    batches: &mut Batches,
    chooser: &Chooser,
    writers: &mut [Writer],
    paths: &[PathBuf],
    workers: &[mpsc::SyncSender<Piece>],
    progress: &mut impl FnMut(u64),
) -> Result<u64, DataError> {
    let mut rows = 0u64;
    let mut written = vec![0u64; writers.len()];
    let mut turn = 0usize;
    while let Some(batch) = batches.next() {
        let batch = batch?;
        let assigned = chooser.assign(&batch, rows)?;
        for (part, writer) in writers.iter_mut().enumerate() {
            let indexes: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|&r| assigned.get(r as usize) == Some(&part))
                .collect();
            if indexes.is_empty() {
                continue;
            }
            let file = paths.get(part).map(|p| p.display().to_string()).unwrap_or_default();
            let piece = take_record_batch(&batch, &UInt32Array::from(indexes))
                .map_err(|e| DataError::new(ErrorKind::Internal, &file, e.to_string()))?;
            writer.write(&piece, &file)?;
            let first_row = written.get(part).copied().unwrap_or_default();
            if let Some(count) = written.get_mut(part) {
                *count += piece.num_rows() as u64;
            }
            turn = (turn + 1) % workers.len().max(1);
            if let Some(worker) = workers.get(turn) {
                let _ = worker.send((part, piece, first_row));
            }
        }
        rows += batch.num_rows() as u64;
        progress(batches.bytes_read());
    }
    Ok(rows)
}

/// Picks each row's part.
enum Chooser {
    Hash {
        hasher: RowHasher,
        nulls: NullKeys,
        keys: Vec<String>,
        cumulative: Vec<f64>,
        file: String,
    },
    Random {
        seed: u64,
        cumulative: Vec<f64>,
    },
    Time {
        column: usize,
        cuts: Vec<i64>,
    },
}

impl Chooser {
    fn new(
        file: &str,
        path: &Path,
        read: &ReadOptions,
        schema: &SchemaRef,
        method: &Method,
        cumulative: &[f64],
    ) -> Result<Chooser, DataError> {
        Ok(match method {
            Method::Hash { keys, nulls } => Chooser::Hash {
                hasher: RowHasher::new(file, schema, keys, &[], Normalization::default())?,
                nulls: *nulls,
                keys: keys.clone(),
                cumulative: cumulative.to_vec(),
                file: file.to_owned(),
            },
            Method::Random { seed } => Chooser::Random {
                seed: *seed,
                cumulative: cumulative.to_vec(),
            },
            Method::Time { column } => {
                let index = schema.index_of(column).map_err(|_| {
                    DataError::new(
                        ErrorKind::NoSuchColumn,
                        file,
                        format!("there is no column `{column}` to split by time"),
                    )
                    .with_column(column)
                })?;
                let times = read_times(path, read, index, column)?;
                Chooser::Time {
                    column: index,
                    cuts: cut_points(times, cumulative),
                }
            }
        })
    }

    /// The part of each row of the batch, whose first row is row `first_row` of the input.
    fn assign(&self, batch: &RecordBatch, first_row: u64) -> Result<Vec<usize>, DataError> {
        match self {
            Chooser::Hash {
                hasher,
                nulls,
                keys,
                cumulative,
                file,
            } => hasher
                .hashes(batch, *nulls == NullKeys::Together)
                .into_iter()
                .enumerate()
                .map(|(i, hash)| match hash {
                    Some(hash) => Ok(part_of(unit_of_hash(hash), cumulative)),
                    None => Err(DataError::new(
                        ErrorKind::MissingValue,
                        file,
                        format!("a key ({}) has a null", keys.join(", ")),
                    )
                    .at(format!("row {}", first_row + i as u64))
                    .with_hint("fill the key, or pass --null-keys together to keep all null keys in one part")),
                })
                .collect(),
            Chooser::Random { seed, cumulative } => Ok((0..batch.num_rows() as u64)
                .map(|i| part_of(unit_of_row(*seed, first_row + i), cumulative))
                .collect()),
            Chooser::Time { column, cuts } => {
                let micros = time_micros(batch.column(*column)).unwrap_or_default();
                Ok(micros
                    .iter()
                    .map(|t| t.map_or(0, |t| cuts.partition_point(|c| *c <= t)))
                    .collect())
            }
        }
    }
}

/// The part whose cumulative range holds `u`.
fn part_of(u: f64, cumulative: &[f64]) -> usize {
    cumulative
        .iter()
        .position(|c| u < *c)
        .unwrap_or(cumulative.len().saturating_sub(1))
}

/// A 128-bit hash as a number in [0, 1), from its top 53 bits.
fn unit_of_hash(hash: u128) -> f64 {
    ((hash >> 75) as u64) as f64 / (1u64 << 53) as f64
}

/// SplitMix64 of the seed and the row, as a number in [0, 1).
fn unit_of_row(seed: u64, row: u64) -> f64 {
    let mut z = seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (((z ^ (z >> 31)) >> 11) as f64) / (1u64 << 53) as f64
}

/// A time column as microseconds since the epoch.
fn time_micros(array: &arrow::array::ArrayRef) -> Option<Vec<Option<i64>>> {
    let as_time = match array.data_type() {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?
        }
        t if t.is_integer() => array.clone(),
        _ => return None,
    };
    let micros = cast(&as_time, &DataType::Int64).ok()?;
    Some(micros.as_primitive::<Int64Type>().iter().collect())
}

/// Every value of the time column (the first pass of a time split); nulls are refused.
fn read_times(path: &Path, read: &ReadOptions, index: usize, column: &str) -> Result<Vec<i64>, DataError> {
    let file = path.display().to_string();
    let only = ReadOptions {
        only_columns: Some(vec![index]),
        ..read.clone()
    };
    let batches: Batches = open(path, &only)?;
    let mut times = Vec::new();
    for batch in batches {
        let batch = batch?;
        let micros = time_micros(batch.column(index)).ok_or_else(|| {
            DataError::new(
                ErrorKind::WrongType,
                &file,
                format!("`{column}` is not a time (or integer) column"),
            )
            .with_column(column)
            .with_hint("split by time on a timestamp, date or integer column, or use --type COL=timestamp")
        })?;
        for t in micros {
            match t {
                Some(t) => times.push(t),
                None => {
                    return Err(
                        DataError::new(ErrorKind::MissingValue, &file, format!("`{column}` has a null time"))
                            .at(format!("row {}", times.len()))
                            .with_column(column)
                            .with_hint("fill the times, or split by --by or --seed"),
                    );
                }
            }
        }
    }
    Ok(times)
}

/// The time at which each part but the last ends: rows before `cuts[k]` are in parts ≤ k.
fn cut_points(mut times: Vec<i64>, cumulative: &[f64]) -> Vec<i64> {
    times.sort_unstable();
    let n = times.len();
    cumulative
        .iter()
        .take(cumulative.len().saturating_sub(1))
        .map(|c| {
            let at = ((c * n as f64).round() as usize).min(n.saturating_sub(1));
            times.get(at).copied().unwrap_or(i64::MAX)
        })
        .collect()
}

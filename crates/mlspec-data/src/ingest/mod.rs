//! # Ingestion: a source's rows as a content-addressed snapshot of Parquet shards
//!
//! Stage 2 of MLSpec records how data was brought in. Ingesting reads a source as a stream of
//! Arrow record batches — files ([`crate::open`]), a database query ([`sql`]) or the output of
//! a command — and writes them, in order, into Parquet shards (Snappy-compressed, the Arrow
//! schema kept in each file's metadata, so Spark, DuckDB and polars read them as written):
//!
//! - [`Sharding::Rows`]: a new shard every N rows;
//! - [`Sharding::Bytes`]: a new shard once a shard's encoded size reaches B bytes;
//! - [`Sharding::By`]: one shard per value of a column, in the order values first appear.
//!
//! Each shard is profiled as it is written, and the shards' profiles are appended in order into
//! the profile of the whole snapshot. The output is deterministic: the same rows in the same
//! order give the same bytes, so re-ingesting an unchanged source gives the same shard digests
//! and the same snapshot digest (the digest of the shard manifest, see `mlspec data sign`).
//!
//! Shards are written into a directory that becomes the snapshot only when every row was read:
//! a source that fails half-way (a query error, a dropped connection) leaves no snapshot that
//! looks complete.

pub mod sql;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{DataError, ErrorKind};
use crate::profile::Profiler;

/// The most shards one column's values may make.
pub const MAX_SHARDS_BY_VALUE: usize = 1_000;

/// Rows written at a time when shards are sized in bytes: how finely a shard's size follows
/// the limit.
const BYTES_STEP_ROWS: usize = 1_024;

/// How rows are dealt into shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sharding {
    /// A new shard every N rows (N ≥ 1).
    Rows(u64),
    /// A new shard once a shard holds at least B encoded bytes (B ≥ 1).
    Bytes(u64),
    /// One shard per value of this column (nulls in a shard of their own).
    By(String),
}

/// A shard as written.
#[derive(Debug)]
pub struct WrittenShard {
    /// Its file name in the snapshot directory (`shard-00000.parquet`).
    pub file: String,
    /// The value of the `--shard-by` column its rows share (`None` for the other strategies
    /// and for the shard of nulls).
    pub value: Option<String>,
    /// Rows in it.
    pub rows: u64,
    /// Its profile.
    pub profile: Profiler,
}

/// What a source became.
#[derive(Debug)]
pub struct Written {
    /// The shards, in file-name order.
    pub shards: Vec<WrittenShard>,
    /// Rows read.
    pub rows: u64,
    /// The columns.
    pub schema: SchemaRef,
}

impl Written {
    /// The profile of the whole snapshot: the shards' profiles appended in order.
    pub fn profile(&self) -> Result<Profiler, DataError> {
        let mut whole = Profiler::new(&self.schema, &[])?;
        for shard in &self.shards {
            whole.append(shard.profile.clone(), &shard.file)?;
        }
        Ok(whole)
    }
}

/// Writes every batch into shards in `dir` (which must exist and be empty), dealt by
/// `sharding`; `progress` is called with the rows written so far. `source` names the input in
/// errors.
pub fn write_shards(
    batches: impl Iterator<Item = Result<RecordBatch, DataError>>,
    schema: SchemaRef,
    dir: &Path,
    sharding: &Sharding,
    mut progress: impl FnMut(u64),
) -> Result<Written, DataError> {
    let mut shards = Shards::new(dir, schema.clone(), sharding)?;
    let mut rows = 0u64;
    for batch in batches {
        let batch = batch?;
        shards.write(&batch)?;
        rows += batch.num_rows() as u64;
        progress(rows);
    }
    Ok(Written {
        shards: shards.finish()?,
        rows,
        schema,
    })
}

/// One open shard.
struct Open {
    file: String,
    value: Option<String>,
    writer: ArrowWriter<File>,
    rows: u64,
    profile: Profiler,
}

/// The shards being written.
struct Shards<'a> {
    dir: &'a Path,
    schema: SchemaRef,
    sharding: &'a Sharding,
    /// The column `Sharding::By` reads.
    by: Option<usize>,
    /// Open shards: one at a time, or one per value.
    open: Vec<Open>,
    /// For `By`: a value's shard in `open`.
    by_value: HashMap<Option<String>, usize>,
    done: Vec<WrittenShard>,
    next_index: usize,
}

impl<'a> Shards<'a> {
    fn new(dir: &'a Path, schema: SchemaRef, sharding: &'a Sharding) -> Result<Shards<'a>, DataError> {
        let by = match sharding {
            Sharding::By(column) => Some(schema.index_of(column).map_err(|_| {
                DataError::new(
                    ErrorKind::NoSuchColumn,
                    &dir.display().to_string(),
                    format!("there is no column `{column}` to shard by"),
                )
                .with_column(column)
                .with_hint(format!("the columns are: {}", column_names(&schema)))
            })?),
            Sharding::Rows(0) | Sharding::Bytes(0) => {
                return Err(DataError::new(
                    ErrorKind::InvalidArgument,
                    &dir.display().to_string(),
                    "a shard holds at least one row or byte",
                ));
            }
            _ => None,
        };
        Ok(Shards {
            dir,
            schema,
            sharding,
            by,
            open: Vec::new(),
            by_value: HashMap::new(),
            done: Vec::new(),
            next_index: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        match (self.sharding, self.by) {
            (Sharding::By(_), Some(column)) => self.write_by_value(batch, column),
            (Sharding::Rows(limit), _) => self.write_by_rows(batch, *limit),
            (Sharding::Bytes(limit), _) => self.write_by_bytes(batch, *limit),
            (Sharding::By(_), None) => Ok(()),
        }
    }

    fn write_by_rows(&mut self, batch: &RecordBatch, limit: u64) -> Result<(), DataError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.open.first().is_some_and(|shard| shard.rows >= limit) {
                self.close_all()?;
            }
            if self.open.is_empty() {
                self.start(None)?;
            }
            let room = limit.saturating_sub(self.open[0].rows);
            let take = (batch.num_rows() - offset).min(usize::try_from(room).unwrap_or(usize::MAX));
            self.append(0, &batch.slice(offset, take))?;
            offset += take;
        }
        Ok(())
    }

    /// Writes the batch in pieces of [`BYTES_STEP_ROWS`] rows, starting a new shard once the
    /// open one's encoded size (written plus buffered) reaches `limit`.
    fn write_by_bytes(&mut self, batch: &RecordBatch, limit: u64) -> Result<(), DataError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.open.is_empty() {
                self.start(None)?;
            }
            let take = (batch.num_rows() - offset).min(BYTES_STEP_ROWS);
            self.append(0, &batch.slice(offset, take))?;
            offset += take;
            let shard = &self.open[0];
            if (shard.writer.bytes_written() + shard.writer.in_progress_size()) as u64 >= limit {
                self.close_all()?;
            }
        }
        Ok(())
    }

    fn write_by_value(&mut self, batch: &RecordBatch, column: usize) -> Result<(), DataError> {
        let values = cast(batch.column(column), &DataType::Utf8).map_err(|e| {
            self.error(
                ErrorKind::WrongType,
                format!(
                    "cannot shard by a column of type {}: {e}",
                    batch.column(column).data_type()
                ),
            )
        })?;
        let values = values
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .ok_or_else(|| self.error(ErrorKind::WrongType, "cannot read the shard column as text"))?;
        // Rows of each value, in the order values first appear.
        let mut groups: Vec<(Option<String>, Vec<u32>)> = Vec::new();
        let mut group_of: HashMap<Option<&str>, usize> = HashMap::new();
        for row in 0..values.len() {
            let value = values.is_valid(row).then(|| values.value(row));
            let group = *group_of.entry(value).or_insert_with(|| {
                groups.push((value.map(str::to_owned), Vec::new()));
                groups.len() - 1
            });
            groups[group].1.push(u32::try_from(row).unwrap_or(u32::MAX));
        }
        for (value, rows) in groups {
            let shard = match self.by_value.get(&value) {
                Some(&shard) => shard,
                None => {
                    if self.by_value.len() >= MAX_SHARDS_BY_VALUE {
                        return Err(self
                            .error(
                                ErrorKind::LimitExceeded,
                                format!("the shard column has more than {MAX_SHARDS_BY_VALUE} values"),
                            )
                            .with_hint("shard by a column with fewer values, or by --shard-rows/--shard-bytes"));
                    }
                    self.start(value.clone())?;
                    let index = self.open.len() - 1;
                    self.by_value.insert(value, index);
                    index
                }
            };
            let indices = UInt32Array::from(rows);
            let columns = batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.error(ErrorKind::Malformed, format!("cannot deal rows into shards: {e}")))?;
            let part = RecordBatch::try_new(self.schema.clone(), columns)
                .map_err(|e| self.error(ErrorKind::Malformed, format!("cannot deal rows into shards: {e}")))?;
            self.append(shard, &part)?;
        }
        Ok(())
    }

    /// Opens the next shard file.
    fn start(&mut self, value: Option<String>) -> Result<(), DataError> {
        let file = format!("shard-{:05}.parquet", self.next_index);
        self.next_index += 1;
        let path = self.dir.join(&file);
        let handle = File::create(&path).map_err(|e| {
            DataError::new(
                ErrorKind::Io,
                &path.display().to_string(),
                format!("cannot create: {e}"),
            )
        })?;
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(handle, self.schema.clone(), Some(properties)).map_err(|e| {
            DataError::new(
                ErrorKind::Io,
                &path.display().to_string(),
                format!("cannot write Parquet: {e}"),
            )
        })?;
        self.open.push(Open {
            file,
            value,
            writer,
            rows: 0,
            profile: Profiler::new(&self.schema, &[])?,
        });
        Ok(())
    }

    fn append(&mut self, shard: usize, batch: &RecordBatch) -> Result<(), DataError> {
        let dir = self.dir;
        let open = &mut self.open[shard];
        let file = dir.join(&open.file).display().to_string();
        open.writer
            .write(batch)
            .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot write: {e}")))?;
        open.profile.add(batch, open.rows)?;
        open.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn close_all(&mut self) -> Result<(), DataError> {
        for open in self.open.drain(..) {
            let file = self.dir.join(&open.file).display().to_string();
            open.writer
                .close()
                .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot write: {e}")))?;
            self.done.push(WrittenShard {
                file: open.file,
                value: open.value,
                rows: open.rows,
                profile: open.profile,
            });
        }
        self.by_value.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<WrittenShard>, DataError> {
        if self.open.is_empty() && self.done.is_empty() {
            // No row at all: one empty shard keeps the schema.
            self.start(None)?;
        }
        self.close_all()?;
        self.done.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(self.done)
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> DataError {
        let mut error = DataError::new(kind, &self.dir.display().to_string(), message);
        if let Sharding::By(column) = self.sharding {
            error = error.with_column(column);
        }
        error
    }
}

fn column_names(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The path a snapshot is assembled in before it is complete: `DIR.partial` beside `DIR`.
pub fn partial_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

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
//! Each shard is profiled as it is written — on a thread of its own, beside the Parquet
//! encoding — and the shards' profiles are appended in order into the profile of the whole
//! snapshot. The output is deterministic: the same rows in the same
//! order give the same bytes, so re-ingesting an unchanged source gives the same shard digests
//! and the same snapshot digest (the digest of the shard manifest, see `mlspec data sign`).
//!
//! Shards are written into a directory that becomes the snapshot only when every row was read:
//! a source that fails half-way (a query error, a dropped connection) leaves no snapshot that
//! looks complete.

pub mod pgcopy;
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
    /// Its size in bytes.
    pub bytes: u64,
    /// The lowercase hex SHA-256 of its bytes, computed as they were written.
    pub sha256: String,
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
    /// The shard's number, in the order shards were started.
    index: usize,
    file: String,
    value: Option<String>,
    writer: ArrowWriter<HashingFile>,
    rows: u64,
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
    /// Closed shards, without their profiles yet.
    done: Vec<Closed>,
    next_index: usize,
    profiles: ProfileWorker,
}

impl<'a> Shards<'a> {
    fn new(dir: &'a Path, schema: SchemaRef, sharding: &'a Sharding) -> Result<Shards<'a>, DataError> {
        let schema_for_profiles = schema.clone();
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
            profiles: ProfileWorker::start(schema_for_profiles)?,
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
        let index = self.next_index;
        let file = format!("shard-{index:05}.parquet");
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
        let writer =
            ArrowWriter::try_new(HashingFile::new(handle), self.schema.clone(), Some(properties)).map_err(|e| {
                DataError::new(
                    ErrorKind::Io,
                    &path.display().to_string(),
                    format!("cannot write Parquet: {e}"),
                )
            })?;
        self.open.push(Open {
            index,
            file,
            value,
            writer,
            rows: 0,
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
        self.profiles.add(open.index, batch, open.rows)?;
        open.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn close_all(&mut self) -> Result<(), DataError> {
        for open in self.open.drain(..) {
            let file = self.dir.join(&open.file).display().to_string();
            let written = open
                .writer
                .into_inner()
                .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot write: {e}")))?;
            let (bytes, sha256) = written
                .finish()
                .map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot write: {e}")))?;
            self.done.push(Closed {
                index: open.index,
                file: open.file,
                value: open.value,
                rows: open.rows,
                bytes,
                sha256,
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
        let mut profiles = self.profiles.finish()?;
        self.done.sort_by_key(|closed| closed.index);
        self.done
            .into_iter()
            .map(|closed| {
                // A shard no row reached (the one empty shard of an empty source) has the profile
                // of nothing.
                let profile = match profiles.get_mut(closed.index).and_then(Option::take) {
                    Some(profile) => profile,
                    None => Profiler::new(&self.schema, &[])?,
                };
                Ok(WrittenShard {
                    file: closed.file,
                    value: closed.value,
                    rows: closed.rows,
                    bytes: closed.bytes,
                    sha256: closed.sha256,
                    profile,
                })
            })
            .collect()
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> DataError {
        let mut error = DataError::new(kind, &self.dir.display().to_string(), message);
        if let Sharding::By(column) = self.sharding {
            error = error.with_column(column);
        }
        error
    }
}

/// A closed shard, before its profile is back from the profiling thread.
struct Closed {
    index: usize,
    file: String,
    value: Option<String>,
    rows: u64,
    bytes: u64,
    sha256: String,
}

/// A shard file that hashes its bytes as they are written, so that no shard is read again to
/// be digested.
struct HashingFile {
    file: std::io::BufWriter<File>,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl HashingFile {
    fn new(file: File) -> HashingFile {
        HashingFile {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: sha2::Digest::new(),
            bytes: 0,
        }
    }

    /// Flushes the file; its size and lowercase hex SHA-256.
    fn finish(mut self) -> std::io::Result<(u64, String)> {
        use std::io::Write as _;
        self.file.flush()?;
        let digest = sha2::Digest::finalize(self.hasher);
        Ok((self.bytes, digest.iter().map(|b| format!("{b:02x}")).collect()))
    }
}

impl std::io::Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Profiles the shards' batches on a thread of its own, beside the Parquet encoding.
struct ProfileWorker {
    sender: Option<std::sync::mpsc::SyncSender<(usize, RecordBatch, u64)>>,
    thread: Option<std::thread::JoinHandle<Result<Vec<Option<Profiler>>, DataError>>>,
}

impl ProfileWorker {
    /// Batches waiting to be profiled (bounded memory).
    const QUEUE: usize = 8;

    fn start(schema: SchemaRef) -> Result<ProfileWorker, DataError> {
        let empty = Profiler::new(&schema, &[])?;
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, RecordBatch, u64)>(Self::QUEUE);
        let thread = std::thread::Builder::new()
            .name("mlspec-ingest-profile".into())
            .spawn(move || {
                let mut profiles: Vec<Option<Profiler>> = Vec::new();
                for (shard, batch, first_row) in receiver {
                    if profiles.len() <= shard {
                        profiles.resize_with(shard + 1, || None);
                    }
                    profiles[shard]
                        .get_or_insert_with(|| empty.clone())
                        .add(&batch, first_row)?;
                }
                // A shard no row reached still has a profile, of nothing.
                Ok(profiles
                    .into_iter()
                    .map(|p| Some(p.unwrap_or_else(|| empty.clone())))
                    .collect())
            })
            .map_err(|e| {
                DataError::new(
                    ErrorKind::Internal,
                    "",
                    format!("cannot start the profiling thread: {e}"),
                )
            })?;
        Ok(ProfileWorker {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    fn add(&mut self, shard: usize, batch: &RecordBatch, first_row: u64) -> Result<(), DataError> {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|s| s.send((shard, batch.clone(), first_row)).is_ok());
        if sent {
            return Ok(());
        }
        // The worker stopped: its error says why.
        Err(self
            .join()
            .err()
            .unwrap_or_else(|| DataError::new(ErrorKind::Internal, "", "the profiling thread stopped")))
    }

    fn finish(&mut self) -> Result<Vec<Option<Profiler>>, DataError> {
        self.join()
    }

    fn join(&mut self) -> Result<Vec<Option<Profiler>>, DataError> {
        self.sender = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(DataError::new(ErrorKind::Internal, "", "the profiling thread panicked")),
            None => Err(DataError::new(
                ErrorKind::Internal,
                "",
                "the profiling thread was already stopped",
            )),
        }
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

//! Readers: CSV, Parquet and JSON Lines files — plain, gzip or zstd — as a stream of Arrow
//! record batches. Memory is bounded by a few batches (one for Parquet and JSON Lines, a few per
//! core for CSV, which is parsed on every core: [`parallel`]; and, for CSV and JSON Lines, the
//! sample read to infer the schema), never by the file: a batch holds at most [`BATCH_CELLS`]
//! values and about [`BATCH_BYTES`] of input, and one record (a CSV record, a JSON Lines line)
//! at most [`Limits::max_record_bytes`].
//!
//! The format comes from the file name (`.csv`, `.tsv`, `.parquet`/`.pq`, `.jsonl`/`.ndjson`,
//! each optionally followed by `.gz` or `.zst`) unless the options name one. CSV column types are
//! inferred from the first rows (`infer_rows`, default 1,000) and can be overridden per column;
//! year-first dates such as `2012/01/01` are dates ([`dates`]); the CSV fields listed in
//! [`CsvOptions::null_values`] (by default [`DEFAULT_NULL_VALUES`]) are missing.
//!
//! Column names are made unique, non-empty feature keys, each change a warning ([`names`]).
//!
//! What is fatal: a row with the wrong number of fields, a value that does not parse as its
//! column's type (a column whose type changes after the sample), invalid UTF-8, a compressed
//! stream that ends early, a corrupt Parquet file, a JSON Lines line that is not one object or
//! repeats a key, a file over a [`Limits`]. Each stops the read with an error naming the file
//! and where: the physical line a record starts on (blank lines and line breaks inside quoted
//! fields counted) for text, the row group and its bytes for Parquet; nothing is skipped
//! silently.

mod csv;
mod dates;
mod ends;
mod json;
mod names;
mod parallel;
mod parquet;
mod scan;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{DataError, ErrorKind};

use self::dates::Layout;

/// A file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma- (or otherwise) separated values.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line.
    JsonLines,
}

/// How a file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.gz`), including several concatenated members.
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

/// The CSV fields that are missing values by default: empty, R's `NA`, `N/A`/`n/a`, SQL's
/// `NULL`/`null`, Excel's `#N/A` and pandas' `<NA>`. pandas' other defaults are left out on
/// purpose: `NaN`/`nan`/`-NaN` are numbers (non-finite values, counted as such), `None` and
/// `1.#IND`-style spellings are rarer than the real values they would swallow.
pub const DEFAULT_NULL_VALUES: [&str; 8] = ["", "NA", "N/A", "n/a", "NULL", "null", "#N/A", "<NA>"];

/// CSV dialect and typing.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// The first line names the columns (else they are `column_1`, …).
    pub header: bool,
    /// The field separator (`,`; `\t` for `.tsv` files).
    pub delimiter: Option<u8>,
    /// The quote character.
    pub quote: u8,
    /// The escape character inside quotes, if any (quotes are otherwise doubled).
    pub escape: Option<u8>,
    /// Rows read to infer the column types.
    pub infer_rows: usize,
    /// Column types that override the inferred ones.
    pub types: Vec<(String, DataType)>,
    /// Fields that are missing values (exactly, case-sensitive); an empty field is missing only
    /// when `""` is listed.
    pub null_values: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: None,
            quote: b'"',
            escape: None,
            infer_rows: 1000,
            types: Vec::new(),
            null_values: DEFAULT_NULL_VALUES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// What one file may ask of memory: past these, the read stops with an error that names the
/// limit, its value, the place, and the flag or variable that raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Columns per file.
    pub max_columns: usize,
    /// Bytes per record: a CSV record (every field in it), a JSON Lines line.
    pub max_record_bytes: usize,
}

impl Limits {
    /// 10,000 columns: wider than any table the profile is meant for (every column keeps
    /// sketches of its own), far fewer than a hostile 80,000-column header asks for.
    pub const DEFAULT_MAX_COLUMNS: usize = 10_000;
    /// 16 MiB per record: room for long text fields, while a batch of records stays small.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_columns: Limits::DEFAULT_MAX_COLUMNS,
            max_record_bytes: Limits::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Values per batch at most: many columns mean fewer rows per batch, so a batch's buffers stay
/// near 8 MB of offsets however wide the file.
pub const BATCH_CELLS: usize = 1 << 20;

/// Input bytes after which a batch is cut short (CSV and JSON Lines; Parquet from its footer's
/// sizes), so long records cannot multiply by the batch size.
pub const BATCH_BYTES: usize = 32 << 20;

/// How to read a file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The format; from the file name when absent.
    pub format: Option<Format>,
    /// Rows per batch (fewer for wide files, see [`BATCH_CELLS`]).
    pub batch_size: usize,
    /// CSV settings.
    pub csv: CsvOptions,
    /// Parse only these columns (indexes into the file's schema); the others come back as
    /// nulls, so batches keep the file's schema. For a pass that needs a few columns: CSV and
    /// Parquet skip the rest, JSON Lines reads them all.
    pub only_columns: Option<Vec<usize>>,
    /// The reading limits.
    pub limits: Limits,
    /// Where warnings go (a renamed column); nowhere when `None`.
    pub warn: Option<fn(&str)>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            batch_size: 8192,
            csv: CsvOptions::default(),
            only_columns: None,
            limits: Limits::default(),
            warn: None,
        }
    }
}

/// The rows a Parquet file holds, from its footer (no data is read); `None` for other files.
pub fn parquet_rows(path: &Path) -> Option<u64> {
    if !matches!(detect(path), Some((Format::Parquet, Compression::None))) {
        return None;
    }
    let builder =
        ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(path).ok()?).ok()?;
    u64::try_from(builder.metadata().file_metadata().num_rows()).ok()
}

/// The format and compression a file name implies.
pub fn detect(path: &Path) -> Option<(Format, Compression)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, compression) = if let Some(stem) = name.strip_suffix(".gz") {
        (stem, Compression::Gzip)
    } else if let Some(stem) = name.strip_suffix(".zst") {
        (stem, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let format = match stem.rsplit_once('.')?.1 {
        "csv" | "tsv" | "txt" => Format::Csv,
        "parquet" | "pq" => Format::Parquet,
        "jsonl" | "ndjson" => Format::JsonLines,
        _ => return None,
    };
    Some((format, compression))
}

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, DataError>> + Send>;

/// A format's reader: the next batch of a file, `None` at its end.
trait BatchSource: Send {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError>;
}

/// A reader's batches, ending after the first error: past a bad record a reader has no defined
/// place to resume.
struct UntilError<S> {
    source: S,
    failed: bool,
}

impl<S: BatchSource> Iterator for UntilError<S> {
    type Item = Result<RecordBatch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.source.batch();
        self.failed = next.is_err();
        next.transpose()
    }
}

fn until_error(source: impl BatchSource + 'static) -> BatchIter {
    Box::new(UntilError { source, failed: false })
}

/// The record batches of one file, in order.
pub struct Batches {
    schema: SchemaRef,
    inner: BatchIter,
    rows: u64,
    bytes_read: Arc<AtomicU64>,
    size: u64,
}

impl Batches {
    /// The columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of the file read so far (compressed bytes for compressed files), for progress.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Batches {
    /// At most the first `limit` rows.
    pub fn limit(self, limit: u64) -> impl Iterator<Item = Result<RecordBatch, DataError>> {
        let mut left = limit;
        self.map_while(move |batch| {
            if left == 0 {
                return None;
            }
            Some(batch.map(|b| {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(b.num_rows());
                left -= take as u64;
                b.slice(0, take)
            }))
        })
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.next()?;
        if let Ok(batch) = &next {
            self.rows += batch.num_rows() as u64;
        }
        Some(next)
    }
}

/// Opens `path` for reading as record batches.
pub fn open(path: &Path, options: &ReadOptions) -> Result<Batches, DataError> {
    let mut options = options.clone();
    if let Some(columns) = &mut options.only_columns {
        columns.sort_unstable();
        columns.dedup();
    }
    let options = &options;
    let file = path.display().to_string();
    let (format, compression) = match (options.format, detect(path)) {
        (Some(format), detected) => (format, detected.map_or(Compression::None, |(_, c)| c)),
        (None, Some(detected)) => detected,
        (None, None) => {
            return Err(DataError::new(
                ErrorKind::Unsupported,
                &file,
                "cannot tell the format from the file name",
            )
            .with_hint("name it .csv, .tsv, .parquet, .jsonl or .ndjson (optionally .gz or .zst)"));
        }
    };
    let metadata =
        std::fs::metadata(path).map_err(|e| DataError::new(ErrorKind::Io, &file, format!("cannot read: {e}")))?;
    if !metadata.is_file() {
        // A FIFO would block, a device never end, a directory is not data.
        return Err(DataError::new(ErrorKind::Io, &file, "is not a regular file").with_hint("give a data file"));
    }
    let size = metadata.len();
    let source = Source {
        path: path.to_owned(),
        file,
        compression,
        read: Arc::new(AtomicU64::new(0)),
    };
    let bytes_read = source.read.clone();
    let (schema, inner) = match format {
        Format::Parquet => {
            if compression != Compression::None {
                return Err(DataError::new(
                    ErrorKind::Unsupported,
                    &source.file,
                    "Parquet files are compressed inside; read it without .gz/.zst",
                ));
            }
            parquet::batches(source, options)?
        }
        Format::Csv => csv::batches(source, options)?,
        Format::JsonLines => json::batches(source, options)?,
    };
    if schema.fields().is_empty() {
        return Err(
            DataError::new(ErrorKind::Empty, &path.display().to_string(), "the file has no columns")
                .with_hint("is it empty?"),
        );
    }
    Ok(Batches {
        schema,
        inner,
        rows: 0,
        bytes_read,
        size,
    })
}

/// Opens an Arrow IPC stream written by this program (a spool of batches already read from
/// `file`, named in errors) as record batches: the batches come back as written, with the
/// stream's bytes read counted for progress.
pub(crate) fn open_ipc_stream(path: &Path, file: &str) -> Result<Batches, DataError> {
    let spool_error = |e: &dyn std::fmt::Display| {
        DataError::new(
            ErrorKind::Io,
            file,
            format!("cannot read back the spooled batches ({}): {e}", path.display()),
        )
    };
    let raw = File::open(path).map_err(|e| spool_error(&e))?;
    let size = raw.metadata().map_or(0, |m| m.len());
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counting = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            count: bytes_read.clone(),
        },
    );
    let reader = arrow::ipc::reader::StreamReader::try_new(counting, None).map_err(|e| spool_error(&e))?;
    let schema = reader.schema();
    let file = file.to_owned();
    let mut failed = false;
    let inner = reader.map_while(move |batch| {
        if failed {
            return None;
        }
        failed = batch.is_err();
        Some(batch.map_err(|e| {
            DataError::new(
                ErrorKind::Io,
                &file,
                format!("cannot read back the spooled batches: {e}"),
            )
        }))
    });
    Ok(Batches {
        schema,
        inner: Box::new(inner),
        rows: 0,
        bytes_read,
        size,
    })
}

/// Where a record starts: its physical line (1-based) and the byte offset of its first byte in
/// the (decompressed) data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub line: u64,
    pub byte: u64,
}

impl Place {
    fn at(self) -> String {
        format!("line {}", self.line)
    }
}

/// A file being read: its name, compression, and the raw bytes read so far.
#[derive(Clone)]
struct Source {
    path: PathBuf,
    file: String,
    compression: Compression,
    read: Arc<AtomicU64>,
}

impl Source {
    /// The file's bytes, decompressed; the raw bytes read are counted when `counted`.
    fn decoded(&self, counted: bool) -> Result<Box<dyn BufRead + Send>, DataError> {
        let raw = File::open(&self.path)
            .map_err(|e| DataError::new(ErrorKind::Io, &self.file, format!("cannot open: {e}")))?;
        let count = if counted {
            self.read.clone()
        } else {
            Arc::new(AtomicU64::new(0))
        };
        let counting = BufReader::with_capacity(1 << 16, Counting { inner: raw, count });
        Ok(match self.compression {
            Compression::None => Box::new(counting),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                1 << 16,
                flate2::read::MultiGzDecoder::new(counting),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                1 << 16,
                zstd::Decoder::with_buffer(counting)
                    .map_err(|e| DataError::new(ErrorKind::Malformed, &self.file, format!("not a zstd stream: {e}")))?,
            )),
        })
    }

    /// An error of `kind` at `place`.
    fn error(&self, kind: ErrorKind, place: Place, message: impl Into<String>) -> DataError {
        DataError::new(kind, &self.file, message).at(place.at())
    }

    /// A read error (a truncated or corrupt compressed stream, an I/O failure) at `place`,
    /// with the compressed bytes read so far for a compressed file.
    fn io_error(&self, place: Place, error: &std::io::Error) -> DataError {
        let mut at = place.at();
        if self.compression != Compression::None {
            at.push_str(&format!(
                ", {} bytes decompressed from {} compressed bytes read",
                place.byte,
                self.read.load(Ordering::Relaxed)
            ));
        }
        let text = error.to_string();
        let damaged = self.compression != Compression::None
            && (error.kind() == std::io::ErrorKind::UnexpectedEof
                || ["unexpected end of file", "incomplete", "corrupt", "invalid"]
                    .iter()
                    .any(|m| text.contains(m)));
        let kind = if damaged { ErrorKind::Malformed } else { ErrorKind::Io };
        let result = DataError::new(kind, &self.file, format!("cannot read: {error}")).at(at);
        match damaged {
            true => result.with_hint("the compressed file ends early or is damaged: it was truncated or corrupted"),
            false => result,
        }
    }

    /// The error for a broken limit.
    fn limit_error(&self, place: Place, limit: scan::Limit) -> DataError {
        match limit {
            scan::Limit::Columns(max) => self
                .error(ErrorKind::LimitExceeded, place, format!("more than {max} columns (the limit on columns per file)"))
                .with_hint(
                    "raise it with --max-columns N or MLSPEC_MAX_COLUMNS=N if the file really has more (memory grows with every column)",
                ),
            scan::Limit::RecordBytes(max) => self
                .error(
                    ErrorKind::LimitExceeded,
                    place,
                    format!("a record longer than {max} bytes (the limit on bytes per record, line or field)"),
                )
                .with_hint(
                    "raise it with --max-record-bytes N or MLSPEC_MAX_RECORD_BYTES=N if records are really this long; \
                     an unclosed quote also makes the rest of the file one record",
                ),
            scan::Limit::FieldCount(found, expected) => self
                .error(ErrorKind::Malformed, place, format!("a record of {found} fields; the header has {expected}"))
                .with_hint("every row needs as many fields as the header; check quoting and delimiters"),
        }
    }

    /// Tells the user about a warning.
    fn warn(&self, options: &ReadOptions, warnings: &[String]) {
        if let Some(warn) = options.warn {
            warnings.iter().for_each(|w| warn(w));
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Rows per batch for a file of `columns` columns: the requested size, fewer when wide.
fn batch_rows(requested: usize, columns: usize) -> usize {
    requested.min(BATCH_CELLS / columns.max(1)).max(1)
}

/// Refuses a file with more columns than the limit.
fn check_columns(source: &Source, columns: usize, limits: &Limits, place: Place) -> Result<(), DataError> {
    if columns > limits.max_columns {
        return Err(source.limit_error(place, scan::Limit::Columns(limits.max_columns)));
    }
    Ok(())
}

/// How the batches a decoder gives become the batches a reader returns: the columns not read
/// filled with nulls, dates converted, names made unique.
struct Shape {
    /// What the decoder reads (the file's names).
    decoded: SchemaRef,
    /// The columns read, when not all.
    columns: Option<Vec<usize>>,
    /// Text columns that hold dates, and their layout.
    dates: Vec<(usize, Layout)>,
    /// What the reader returns.
    schema: SchemaRef,
}

impl Shape {
    /// The shape of a file whose decoder reads `decoded` (types overridden already) and whose
    /// columns are named `names`.
    fn new(decoded: SchemaRef, names: &[String], dates: Vec<(usize, Layout)>, columns: Option<Vec<usize>>) -> Shape {
        let fields: Vec<Field> = decoded
            .fields()
            .iter()
            .zip(names)
            .enumerate()
            .map(|(i, (field, name))| {
                let data_type = dates
                    .iter()
                    .find(|(c, _)| *c == i)
                    .map_or_else(|| field.data_type().clone(), |(_, layout)| layout.data_type());
                Field::new(name, data_type, true)
            })
            .collect();
        Shape {
            decoded,
            columns,
            dates,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// The returned batch for a decoded one; a date that does not parse is `(row, column, why)`.
    fn finish(&self, batch: &RecordBatch) -> Result<RecordBatch, (usize, usize, String)> {
        let mut arrays: Vec<_> = match &self.columns {
            None => batch.columns().to_vec(),
            Some(columns) => self
                .decoded
                .fields()
                .iter()
                .enumerate()
                .map(|(i, field)| match columns.binary_search(&i) {
                    Ok(at) if at < batch.num_columns() => batch.column(at).clone(),
                    _ => new_null_array(field.data_type(), batch.num_rows()),
                })
                .collect(),
        };
        for (column, layout) in &self.dates {
            if let Some(array) = arrays.get_mut(*column) {
                *array = layout.convert(array).map_err(|(row, why)| (row, *column, why))?;
            }
        }
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| (0, 0, e.to_string()))
    }
}

/// The file's schema with the `--type` overrides (by the columns' new names) applied.
fn override_types(
    file: &str,
    inferred: &Schema,
    names: &[String],
    types: &[(String, DataType)],
) -> Result<Schema, DataError> {
    for (name, _) in types {
        if !names.contains(name) {
            return Err(DataError::new(
                ErrorKind::NoSuchColumn,
                file,
                format!("--type names the column `{name}`, which the file does not have"),
            )
            .with_column(name)
            .with_hint(format!("columns: {}", names.join(", "))));
        }
    }
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .zip(names)
        .map(|(f, name)| match types.iter().find(|(wanted, _)| wanted == name) {
            Some((_, data_type)) => Field::new(f.name(), data_type.clone(), true),
            None => f.as_ref().clone(),
        })
        .collect();
    Ok(Schema::new(fields))
}

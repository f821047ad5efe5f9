//! Readers: CSV, Parquet and JSON Lines files — plain, gzip or zstd — as a stream of Arrow
//! record batches. Memory is bounded by one batch (and, for CSV and JSON Lines, the sample read
//! to infer the schema), never by the file.
//!
//! The format comes from the file name (`.csv`, `.tsv`, `.parquet`/`.pq`, `.jsonl`/`.ndjson`,
//! each optionally followed by `.gz` or `.zst`) unless the options name one. CSV column types are
//! inferred from the first rows (`infer_rows`, default 1,000) and can be overridden per column.
//!
//! What is fatal: a row with the wrong number of fields, a value that does not parse as its
//! column's type (a column whose type changes after the sample), invalid UTF-8, a compressed
//! stream that ends early, a corrupt Parquet file. Each stops the read with an error naming the
//! file and, where the format tells, the line or row and the column; nothing is skipped silently.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::DataError;

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
        }
    }
}

/// How to read a file.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The format; from the file name when absent.
    pub format: Option<Format>,
    /// Rows per batch.
    pub batch_size: usize,
    /// CSV settings.
    pub csv: CsvOptions,
    /// Parse only these columns (indexes into the file's schema); the others come back as
    /// nulls, so batches keep the file's schema. For a pass that needs a few columns: CSV and
    /// Parquet skip the rest, JSON Lines reads them all.
    pub only_columns: Option<Vec<usize>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            batch_size: 8192,
            csv: CsvOptions::default(),
            only_columns: None,
        }
    }
}

/// The rows a Parquet file holds, from its footer (no data is read); `None` for other files.
pub fn parquet_rows(path: &Path) -> Option<u64> {
    if !matches!(detect(path), Some((Format::Parquet, Compression::None))) {
        return None;
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).ok()?).ok()?;
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

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// The record batches of one file, in order.
pub struct Batches {
    file: String,
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
        Some(match next {
            Ok(batch) => {
                self.rows += batch.num_rows() as u64;
                Ok(batch)
            }
            Err(error) => Err(DataError::from_arrow(&self.file, self.rows, &self.schema, error)),
        })
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
            return Err(DataError::new(&file, "cannot tell the format from the file name")
                .with_hint("name it .csv, .tsv, .parquet, .jsonl or .ndjson (optionally .gz or .zst)"));
        }
    };
    let metadata = std::fs::metadata(path).map_err(|e| DataError::new(&file, format!("cannot read: {e}")))?;
    if !metadata.is_file() {
        // A FIFO would block, a device never end, a directory is not data.
        return Err(DataError::new(&file, "is not a regular file").with_hint("give a data file"));
    }
    let size = metadata.len();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (schema, inner) = match format {
        Format::Parquet => {
            if compression != Compression::None {
                return Err(DataError::new(
                    &file,
                    "Parquet files are compressed inside; read it without .gz/.zst",
                ));
            }
            parquet_batches(path, &file, options, &bytes_read)?
        }
        Format::Csv => csv_batches(path, &file, compression, options, &bytes_read)?,
        Format::JsonLines => json_batches(path, &file, compression, options, &bytes_read)?,
    };
    if schema.fields().is_empty() {
        return Err(DataError::new(&file, "the file has no columns").with_hint("is it empty?"));
    }
    Ok(Batches {
        file,
        schema,
        inner,
        rows: 0,
        bytes_read,
        size,
    })
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

/// The file's bytes, decompressed, counting the raw bytes read into `count`.
fn decoded(
    path: &Path,
    file: &str,
    compression: Compression,
    count: &Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, DataError> {
    let raw = File::open(path).map_err(|e| DataError::new(file, format!("cannot open: {e}")))?;
    let counted = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            count: count.clone(),
        },
    );
    Ok(match compression {
        Compression::None => Box::new(counted),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(
            zstd::Decoder::with_buffer(counted).map_err(|e| DataError::new(file, format!("not a zstd stream: {e}")))?,
        ),
    })
}

fn csv_format(path: &Path, options: &CsvOptions) -> arrow::csv::reader::Format {
    let tsv = path.to_string_lossy().to_ascii_lowercase().contains(".tsv");
    let delimiter = options.delimiter.unwrap_or(if tsv { b'\t' } else { b',' });
    let mut format = arrow::csv::reader::Format::default()
        .with_header(options.header)
        .with_delimiter(delimiter)
        .with_quote(options.quote);
    if let Some(escape) = options.escape {
        format = format.with_escape(escape);
    }
    format
}

fn csv_batches(
    path: &Path,
    file: &str,
    compression: Compression,
    options: &ReadOptions,
    count: &Arc<AtomicU64>,
) -> Result<(SchemaRef, BatchIter), DataError> {
    let format = csv_format(path, &options.csv);
    let schema = sampled_schema(path, file, compression, &options.csv, |sample, rows| {
        format.infer_schema(sample, Some(rows)).map(|(schema, _)| schema)
    })?;
    let mut builder = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(options.batch_size);
    if let Some(columns) = &options.only_columns {
        builder = builder.with_projection(columns.clone());
    }
    let reader = builder
        .build(decoded(path, file, compression, count)?)
        .map_err(|e| DataError::from_arrow(file, 0, &schema, e))?;
    Ok((schema.clone(), widened(reader, schema, options.only_columns.clone())))
}

/// The schema `infer` reads from the first `infer_rows` rows (a read of its own), with the
/// `--type` overrides applied.
fn sampled_schema(
    path: &Path,
    file: &str,
    compression: Compression,
    options: &CsvOptions,
    infer: impl FnOnce(Box<dyn Read + Send>, usize) -> Result<Schema, ArrowError>,
) -> Result<SchemaRef, DataError> {
    let sample = decoded(path, file, compression, &Arc::new(AtomicU64::new(0)))?;
    let inferred = infer(sample, options.infer_rows.max(1))
        .map_err(|e| DataError::from_arrow(file, 0, &Arc::new(Schema::empty()), e))?;
    Ok(Arc::new(override_types(file, inferred, &options.types)?))
}

fn override_types(file: &str, inferred: Schema, types: &[(String, DataType)]) -> Result<Schema, DataError> {
    for (name, _) in types {
        if inferred.field_with_name(name).is_err() {
            let names: Vec<&str> = inferred.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(DataError::new(
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
        .map(|f| match types.iter().find(|(name, _)| name == f.name()) {
            Some((_, data_type)) => Field::new(f.name(), data_type.clone(), true),
            None => f.as_ref().clone(),
        })
        .collect();
    Ok(Schema::new(fields))
}

fn json_batches(
    path: &Path,
    file: &str,
    compression: Compression,
    options: &ReadOptions,
    count: &Arc<AtomicU64>,
) -> Result<(SchemaRef, BatchIter), DataError> {
    let schema = sampled_schema(path, file, compression, &options.csv, |sample, rows| {
        arrow::json::reader::infer_json_schema(BufReader::new(sample), Some(rows)).map(|(schema, _)| schema)
    })?;
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(options.batch_size)
        .build(BufReader::new(decoded(path, file, compression, count)?))
        .map_err(|e| DataError::from_arrow(file, 0, &schema, e))?;
    Ok((schema, Box::new(reader)))
}

fn parquet_batches(
    path: &Path,
    file: &str,
    options: &ReadOptions,
    count: &Arc<AtomicU64>,
) -> Result<(SchemaRef, BatchIter), DataError> {
    let raw = File::open(path).map_err(|e| DataError::new(file, format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(raw).map_err(|e| {
        DataError::new(file, format!("not a readable Parquet file: {e}"))
            .with_hint("the file may be truncated or corrupt; check its size and digest")
    })?;
    let schema = builder.schema().clone();
    let total = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let mut builder = builder.with_batch_size(options.batch_size);
    if let Some(columns) = &options.only_columns {
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        builder = builder.with_projection(mask);
    }
    let reader = builder
        .build()
        .map_err(|e| DataError::new(file, format!("cannot read the Parquet file: {e}")))?;
    // Parquet reads by column chunk; progress follows the rows instead.
    let progress = count.clone();
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let mut seen = 0u64;
    let batches = reader.inspect(move |batch| {
        if let Ok(b) = batch {
            seen += b.num_rows() as u64;
            if let Some(done) = size.saturating_mul(seen).checked_div(total) {
                progress.store(done, Ordering::Relaxed);
            }
        }
    });
    Ok((schema.clone(), widened(batches, schema, options.only_columns.clone())))
}

/// The batches of a reader that parsed only `columns` (all when `None`), given back with the
/// file's whole schema: the columns not read are all nulls.
fn widened(
    batches: impl Iterator<Item = Result<RecordBatch, ArrowError>> + Send + 'static,
    schema: SchemaRef,
    columns: Option<Vec<usize>>,
) -> BatchIter {
    let Some(columns) = columns else {
        return Box::new(batches);
    };
    // The readers return the columns read in file order.
    Box::new(batches.map(move |batch| {
        let batch = batch?;
        let arrays = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| match columns.binary_search(&i) {
                Ok(at) if at < batch.num_columns() => batch.column(at).clone(),
                _ => new_null_array(field.data_type(), batch.num_rows()),
            })
            .collect();
        RecordBatch::try_new(schema.clone(), arrays)
    }))
}

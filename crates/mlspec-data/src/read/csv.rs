//! CSV and TSV: the scanner finds each record's place and enforces the limits, Arrow's decoder
//! parses the values of the same bytes; a batch ends at the batch size, at [`BATCH_BYTES`] of
//! input, or at the end of the file.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use regex::Regex;

use super::dates::Layout;
use super::ends::RecordEnds;
use super::parallel::{Blocks, ParallelCsv};
use super::scan::{Broken, Scanner};
use super::{
    BATCH_BYTES, BatchIter, BatchSource, CsvOptions, Place, ReadOptions, Shape, Source, batch_rows, names,
    override_types, until_error,
};
use crate::error::{DataError, ErrorKind};

/// The CSV dialect, shared by the scanner and the decoder so that both see the same records.
#[derive(Clone)]
pub(super) struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
    /// The first record names the columns.
    pub header: bool,
    nulls: Regex,
}

impl Dialect {
    fn of(source: &Source, options: &CsvOptions) -> Result<Dialect, DataError> {
        let tsv = is_tsv(&source.path);
        Ok(Dialect {
            delimiter: options.delimiter.unwrap_or(if tsv { b'\t' } else { b',' }),
            quote: options.quote,
            escape: options.escape,
            header: options.header,
            nulls: null_regex(&options.null_values).map_err(|e| {
                DataError::new(
                    ErrorKind::InvalidArgument,
                    &source.file,
                    format!("the null values cannot be matched: {e}"),
                )
            })?,
        })
    }

    /// Arrow's view of the dialect; `header` when Arrow itself reads the header line.
    pub(super) fn arrow(&self, header: bool) -> arrow::csv::reader::Format {
        self.arrow_empty_missing(header).with_null_regex(self.nulls.clone())
    }

    /// Arrow's view of the dialect where only empty fields are missing (Arrow's default, which
    /// skips matching every field against the null values).
    pub(super) fn arrow_empty_missing(&self, header: bool) -> arrow::csv::reader::Format {
        let format = arrow::csv::reader::Format::default()
            .with_header(header)
            .with_delimiter(self.delimiter)
            .with_quote(self.quote);
        match self.escape {
            Some(escape) => format.with_escape(escape),
            None => format,
        }
    }
}

fn is_tsv(path: &Path) -> bool {
    path.to_string_lossy().to_ascii_lowercase().contains(".tsv")
}

/// Matches exactly the null values (and nothing when there are none).
fn null_regex(values: &[String]) -> Result<Regex, regex::Error> {
    if values.is_empty() {
        return Regex::new(r"[^\s\S]");
    }
    let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
    Regex::new(&format!("^(?:{})$", alternatives.join("|")))
}

pub(super) fn batches(source: Source, options: &ReadOptions) -> Result<(SchemaRef, BatchIter), DataError> {
    let (dialect, shape) = prepare(&source, options)?;
    let schema = shape.schema.clone();
    let reader = match RecordEnds::new(&dialect) {
        Some(ends) => until_error(ParallelCsv::new(
            source,
            dialect,
            ends,
            shape,
            options,
            Blocks::default(),
        )),
        None => {
            let input = source.decoded(true)?;
            until_error(CsvBatches::new(source, input, &dialect, shape, options, None))
        }
    };
    Ok((schema, reader))
}

/// The file's dialect, and the shape of its batches from the columns inferred (names made
/// unique, types overridden, dates found).
pub(super) fn prepare(source: &Source, options: &ReadOptions) -> Result<(Dialect, Arc<Shape>), DataError> {
    let dialect = Dialect::of(source, &options.csv)?;
    let (inferred, header) = infer(source, &dialect, options)?;
    let raw: Vec<String> = inferred.fields().iter().map(|f| f.name().clone()).collect();
    let (names, warnings) = names::unique(&raw, &format!("{} ({})", source.file, header.at()));
    source.warn(options, &warnings);
    let decoded = Arc::new(override_types(&source.file, &inferred, &names, &options.csv.types)?);
    let overridden: Vec<&String> = options.csv.types.iter().map(|(name, _)| name).collect();
    let text_columns: Vec<usize> = (0..names.len())
        .filter(|&i| decoded.field(i).data_type() == &DataType::Utf8 && !overridden.contains(&&names[i]))
        .collect();
    let dates = if text_columns.is_empty() {
        Vec::new()
    } else {
        date_layouts(source, &dialect, options, &decoded, &text_columns)?
    };
    let shape = Arc::new(Shape::new(decoded, &names, dates, options.only_columns.clone()));
    Ok((dialect, shape))
}

/// The file's columns and their types from the first `infer_rows` rows (Arrow's inference, the
/// scanner guarding the limits), and where the first record starts.
fn infer(source: &Source, dialect: &Dialect, options: &ReadOptions) -> Result<(Schema, Place), DataError> {
    let mut guarded = Guarded {
        inner: source.decoded(false)?,
        scanner: Scanner::new(dialect, options.limits),
        broken: None,
        first: None,
    };
    let inferred = dialect
        .arrow(dialect.header)
        .infer_schema(&mut guarded, Some(options.csv.infer_rows.max(1)));
    if let Some(broken) = guarded.broken {
        return Err(source.limit_error(broken.place, broken.what));
    }
    let first = guarded.first.unwrap_or(Place { line: 1, byte: 0 });
    // The csv crate Arrow infers with numbers physical lines.
    let (schema, _) = inferred.map_err(|e| {
        let at = number_after(&e.to_string(), " at line ").map_or_else(|| first.at(), |line| format!("line {line}"));
        DataError::from_arrow(&source.file, at, &Arc::new(Schema::empty()), e)
    })?;
    Ok((schema, first))
}

/// The layout of each text column whose sampled values are all year-first dates.
fn date_layouts(
    source: &Source,
    dialect: &Dialect,
    options: &ReadOptions,
    decoded: &SchemaRef,
    columns: &[usize],
) -> Result<Vec<(usize, Layout)>, DataError> {
    let raw: Vec<String> = decoded.fields().iter().map(|f| f.name().clone()).collect();
    let shape = Arc::new(Shape::new(decoded.clone(), &raw, Vec::new(), None));
    let sample_source = Source {
        read: Arc::new(Default::default()),
        ..source.clone()
    };
    let input = sample_source.decoded(false)?;
    let mut candidates: Vec<Option<Vec<Layout>>> = vec![None; columns.len()];
    let mut left = options.csv.infer_rows.max(1);
    for batch in until_error(CsvBatches::new(sample_source, input, dialect, shape, options, None)) {
        let batch = batch?;
        let take = left.min(batch.num_rows());
        for (candidates, &column) in candidates.iter_mut().zip(columns) {
            for value in batch.column(column).as_string::<i32>().iter().take(take).flatten() {
                Layout::narrow(candidates, value);
            }
        }
        left -= take;
        if left == 0 {
            break;
        }
    }
    Ok(columns
        .iter()
        .zip(candidates)
        .filter_map(|(&column, candidates)| Some((column, *candidates?.first()?)))
        .collect())
}

/// A reader that runs the scanner over the bytes passing through it, for Arrow's inference.
struct Guarded {
    inner: Box<dyn BufRead + Send>,
    scanner: Scanner,
    broken: Option<Broken>,
    first: Option<Place>,
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut at = 0;
        loop {
            let scanned = self.scanner.scan(&buf[at..n]).map_err(|broken| {
                self.broken = Some(broken);
                std::io::Error::other("a reading limit was reached")
            })?;
            at += scanned.consumed;
            if let Some(record) = scanned.record
                && self.first.is_none()
            {
                self.first = Some(record.place);
                self.scanner.expect_fields(record.fields);
            }
            if at >= n || (scanned.consumed == 0 && scanned.record.is_none()) {
                return Ok(n);
            }
        }
    }
}

/// The batches of a CSV file, or of a block of its records, read in order on one thread: the
/// scanner places every record (for errors) and checks the limits before the decoder parses it.
pub(super) struct CsvBatches {
    source: Source,
    input: Box<dyn BufRead + Send>,
    scanner: Scanner,
    decoder: arrow::csv::reader::Decoder,
    shape: Arc<Shape>,
    /// The header line has yet to be passed.
    in_header: bool,
    /// Where each record of the batch being decoded starts.
    places: Vec<Place>,
    /// Input bytes of the batch being decoded.
    pending_bytes: usize,
    /// Data rows returned before this batch.
    rows_before: u64,
    batch_rows: usize,
    end_of_input: bool,
}

/// Arrow's decoder for batches of up to `rows` records of the shape's columns, without a header,
/// in `format` (the dialect's).
pub(super) fn arrow_decoder(
    shape: &Shape,
    format: arrow::csv::reader::Format,
    rows: usize,
) -> arrow::csv::reader::Decoder {
    let mut builder = arrow::csv::ReaderBuilder::new(shape.decoded.clone())
        .with_format(format)
        .with_batch_size(rows);
    if let Some(projection) = &shape.columns {
        builder = builder.with_projection(projection.clone());
    }
    builder.build_decoder()
}

impl CsvBatches {
    /// Reads `input`: the whole file (`start` is `None`: its header, if any, is passed), or a
    /// block of it that starts at a record boundary at `start`.
    pub(super) fn new(
        source: Source,
        input: Box<dyn BufRead + Send>,
        dialect: &Dialect,
        shape: Arc<Shape>,
        options: &ReadOptions,
        start: Option<Place>,
    ) -> CsvBatches {
        let columns = shape.decoded.fields().len();
        let rows = batch_rows(options.batch_size, columns);
        let mut scanner = Scanner::new(dialect, options.limits);
        scanner.expect_fields(columns);
        if let Some(place) = start {
            scanner.resume_at(place);
        }
        CsvBatches {
            input,
            source,
            scanner,
            decoder: arrow_decoder(&shape, dialect.arrow(false), rows),
            shape,
            in_header: dialect.header && start.is_none(),
            places: Vec::with_capacity(rows),
            pending_bytes: 0,
            rows_before: 0,
            batch_rows: rows,
            end_of_input: false,
        }
    }

    /// Scans the rest of the input for the limits only, and names where the scan stopped: for
    /// input that ends in a read failure, which is reported there unless a record before it
    /// breaks a limit.
    pub(super) fn scan_to_end(&mut self) -> Result<Place, DataError> {
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| self.source.io_error(self.scanner.place(), &e))?;
            if buf.is_empty() {
                return Ok(self.scanner.place());
            }
            let mut consumed = 0;
            while consumed < buf.len() {
                let scanned = self
                    .scanner
                    .scan(&buf[consumed..])
                    .map_err(|broken| self.source.limit_error(broken.place, broken.what))?;
                if scanned.consumed == 0 {
                    return Ok(self.scanner.place());
                }
                consumed += scanned.consumed;
            }
            self.input.consume(consumed);
        }
    }

    /// Reads records into the decoder until the batch is full or the input ends.
    fn fill(&mut self) -> Result<(), DataError> {
        while !self.end_of_input && self.places.len() < self.batch_rows && self.pending_bytes < BATCH_BYTES {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) => return Err(self.source.io_error(self.scanner.place(), &e)),
            };
            if buf.is_empty() {
                self.end_of_input = true;
                if let Some(record) = self
                    .scanner
                    .scan(&[])
                    .map_err(|b| self.source.limit_error(b.place, b.what))?
                    .record
                    && !std::mem::take(&mut self.in_header)
                {
                    self.places.push(record.place);
                }
                self.decoder.decode(&[]).map_err(|e| self.arrow_error(e))?;
                break;
            }
            let mut consumed = 0;
            let mut feed_from = 0;
            while consumed < buf.len()
                && self.places.len() < self.batch_rows
                && self.pending_bytes + consumed < BATCH_BYTES
            {
                let scanned = match self.scanner.scan(&buf[consumed..]) {
                    Ok(scanned) => scanned,
                    Err(broken) => return Err(self.source.limit_error(broken.place, broken.what)),
                };
                consumed += scanned.consumed;
                if let Some(record) = scanned.record {
                    if self.in_header {
                        self.in_header = false;
                        feed_from = consumed;
                    } else {
                        self.places.push(record.place);
                    }
                }
            }
            if self.in_header {
                feed_from = consumed;
            }
            let mut fed = feed_from;
            while fed < consumed {
                match self.decoder.decode(&buf[fed..consumed]) {
                    Ok(0) => break,
                    Ok(n) => fed += n,
                    Err(e) => {
                        let error = self.arrow_error(e);
                        return Err(error);
                    }
                }
            }
            self.pending_bytes += consumed;
            self.input.consume(consumed);
        }
        Ok(())
    }

    /// The next batch: its records read, decoded and shaped.
    pub(super) fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        self.fill()?;
        self.pending_bytes = 0;
        let decoded = self.decoder.flush().map_err(|e| self.arrow_error(e))?;
        let places = std::mem::take(&mut self.places);
        let Some(decoded) = decoded else { return Ok(None) };
        let batch = self.shape.finish(&decoded).map_err(|(row, column, why)| {
            let place = places.get(row).copied().unwrap_or_else(|| self.scanner.place());
            let name = self.shape.schema.field(column).name().clone();
            self.source
                .error(ErrorKind::Malformed, place, why)
                .with_column(&name)
                .with_hint(format!(
                    "read the column as text with --type {name}=string, or fix the value"
                ))
        })?;
        self.rows_before += batch.num_rows() as u64;
        self.places = places;
        self.places.clear();
        Ok(Some(batch))
    }

    /// An error of Arrow's decoder, placed: its messages number the data records from 0
    /// (a value that does not parse) or 1 (invalid UTF-8); the record's place is the scanner's.
    fn arrow_error(&self, error: ArrowError) -> DataError {
        let full = error.to_string();
        // The value Arrow quotes comes before the line number; the row's data after it.
        let text = full.split(". Row data:").next().unwrap_or(&full);
        let index =
            number_after(text, " at line ").or_else(|| number_after(text, "for line ").map(|n| n.saturating_sub(1)));
        let place = index
            .and_then(|n| usize::try_from(n.checked_sub(self.rows_before)?).ok())
            .and_then(|i| self.places.get(i).copied())
            .unwrap_or_else(|| self.scanner.place());
        let mut placed = DataError::from_arrow(&self.source.file, place.at(), &self.shape.schema, error);
        placed.message = without_record_number(&placed.message);
        placed
    }
}

/// Arrow's message without its record number ("… at line 50", "… for line 4 and field 2"),
/// which counts records from where its decoder started, not lines of the file: the error's
/// place says where.
fn without_record_number(message: &str) -> String {
    for (marker, joint) in [(" at line ", ""), (" for line ", " in")] {
        if let Some(start) = message.rfind(marker) {
            let after = &message[start + marker.len()..];
            let rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
            if rest.len() < after.len() {
                let rest = rest
                    .strip_prefix(" and")
                    .map_or_else(|| rest.to_owned(), |r| format!("{joint}{r}"));
                return format!("{}{rest}", &message[..start]);
            }
        }
    }
    message.to_owned()
}

/// The number that follows the last `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.rfind(marker)? + marker.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl BatchSource for CsvBatches {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        CsvBatches::batch(self)
    }
}

//! The parallel CSV reader. Parsing is nearly all the work of reading CSV, and one thread
//! parses about 200 MB a second with Arrow; this reader spreads the parsing over the machine's
//! cores and still gives exactly what the sequential reader ([`CsvBatches`]) gives:
//!
//! - one thread, the splitter, reads (and decompresses) the file and cuts it into blocks of
//!   whole records, as many as one batch holds, finding where records end with [`RecordEnds`]
//!   — about one vectorized search per record rather than a parse;
//! - workers, one per core, each parse whole blocks into batches with Arrow's decoder (with the
//!   default null values, matched after decoding rather than field by field:
//!   [`spellings_after`]);
//! - the blocks go to the workers in turn and their batches are taken back in the same turn, so
//!   batches come out in file order, however the threads are scheduled: the sequential reader's
//!   batches, row for row, when the batch size ends them (a batch ended by its bytes,
//!   [`BATCH_BYTES`], may end a record earlier or later than the sequential reader's, whose
//!   cut depends on its read buffer).
//!
//! Errors stay exact. A block whose fast parse fails (a value of the wrong type, a record with
//! the wrong number of fields, invalid UTF-8), or that the splitter marks (a record near the
//! length limit, a read that failed), is read again by the sequential reader started at the
//! block's place: it names the same line and reports the same error as a sequential read of
//! the whole file, because up to that block the file was fine. Memory stays bounded: each
//! channel holds one block or batch, so a few blocks per worker are in flight at most, and the
//! threads start with the first batch asked for and stop when the reader is dropped.

use std::io::{BufRead, Cursor};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::DataType;

use super::csv::{CsvBatches, Dialect, arrow_decoder};
use super::ends::{RecordEnds, is_line_break};
use super::{BATCH_BYTES, BatchSource, DEFAULT_NULL_VALUES, Place, ReadOptions, Shape, Source, batch_rows};
use crate::error::{DataError, ErrorKind};

/// How the parallel reader cuts and parses a file (tests make everything tiny).
#[derive(Clone, Copy, Debug)]
pub(super) struct Blocks {
    /// Threads that parse blocks.
    pub workers: usize,
    /// Bytes taken from the input at a time, at most.
    pub read_size: usize,
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks {
            workers: std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 16),
            read_size: usize::MAX,
        }
    }
}

/// Whole records cut from the file, for one batch.
struct Block {
    bytes: Vec<u8>,
    /// Where its first byte is.
    start: Place,
    /// The records in it.
    records: usize,
    /// For the sequential reader: a record in it is near the length limit, or it ends where
    /// reading failed.
    exact: bool,
    /// The read failure the block ends at.
    failure: Option<std::io::Error>,
}

/// What the splitter sends a worker.
enum Job {
    Block(Block),
    /// The file has no more records.
    End,
}

/// What a worker sends back.
enum Parsed {
    Batch(RecordBatch),
    Failed(DataError),
    End,
}

/// A CSV file's batches, parsed in parallel; threads start with the first batch asked for.
pub(super) struct ParallelCsv {
    state: State,
}

enum State {
    Ready(Box<Plan>),
    Running {
        /// The file, named in errors.
        file: String,
        results: Vec<Receiver<Parsed>>,
        turn: usize,
    },
    Done,
}

/// What the threads need to read a file.
struct Plan {
    ends: RecordEnds,
    parsing: Parsing,
    blocks: Blocks,
}

impl ParallelCsv {
    pub(super) fn new(
        source: Source,
        dialect: Dialect,
        ends: RecordEnds,
        shape: Arc<Shape>,
        options: &ReadOptions,
        blocks: Blocks,
    ) -> ParallelCsv {
        ParallelCsv {
            state: State::Ready(Box::new(Plan {
                ends,
                parsing: Parsing {
                    spellings: spellings_after(options, &shape),
                    source,
                    dialect,
                    shape,
                    options: options.clone(),
                },
                blocks,
            })),
        }
    }

    fn next(&mut self) -> Result<Option<RecordBatch>, DataError> {
        let State::Running { file, results, turn } = &mut self.state else {
            return Ok(None);
        };
        let parsed = results[*turn % results.len()].recv();
        *turn += 1;
        match parsed {
            Ok(Parsed::Batch(batch)) => Ok(Some(batch)),
            Ok(Parsed::End) => {
                self.state = State::Done;
                Ok(None)
            }
            Ok(Parsed::Failed(error)) => {
                self.state = State::Done;
                Err(error)
            }
            Err(_) => {
                let error = DataError::new(
                    ErrorKind::Internal,
                    file,
                    "a reading thread stopped before the end of the file",
                );
                self.state = State::Done;
                Err(error)
            }
        }
    }
}

impl BatchSource for ParallelCsv {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        if matches!(self.state, State::Ready(_))
            && let State::Ready(plan) = std::mem::replace(&mut self.state, State::Done)
        {
            self.state = State::Running {
                file: plan.parsing.source.file.clone(),
                results: plan.start()?,
                turn: 0,
            };
        }
        self.next()
    }
}

impl Plan {
    /// Starts the splitter and the workers; returns where each worker's batches arrive.
    fn start(self) -> Result<Vec<Receiver<Parsed>>, DataError> {
        let Plan { ends, parsing, blocks } = self;
        let file = parsing.source.file.clone();
        let splitter = Splitter {
            input: parsing.source.decoded(true)?,
            ends,
            pending: Vec::new(),
            start: Place { line: 1, byte: 0 },
            in_header: parsing.dialect.header,
            rows: batch_rows(parsing.options.batch_size, parsing.shape.decoded.fields().len()),
            max_record_bytes: parsing.options.limits.max_record_bytes,
            read_size: blocks.read_size.max(1),
            at_end: false,
            finished: false,
        };
        let parsing = Arc::new(parsing);
        let (mut jobs, mut results) = (Vec::new(), Vec::new());
        for _ in 0..blocks.workers.max(1) {
            let (job_sender, job_receiver) = sync_channel(1);
            let (result_sender, result_receiver) = sync_channel(1);
            let parsing = parsing.clone();
            spawn(&file, "mlspec-csv-parse", move || {
                work(&parsing, &job_receiver, &result_sender)
            })?;
            jobs.push(job_sender);
            results.push(result_receiver);
        }
        spawn(&file, "mlspec-csv-split", move || split(splitter, &jobs))?;
        Ok(results)
    }
}

fn spawn(file: &str, name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), DataError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(run)
        .map(drop)
        .map_err(|e| DataError::new(ErrorKind::Internal, file, format!("cannot start a reading thread: {e}")))
}

/// Cuts the input into blocks and hands them to the workers in turn, then the end, unless a
/// worker is gone first (the reader was dropped).
fn split(mut splitter: Splitter, jobs: &[SyncSender<Job>]) {
    for turn in 0.. {
        let job = splitter.next_block().map_or(Job::End, Job::Block);
        let end = matches!(job, Job::End);
        if jobs[turn % jobs.len()].send(job).is_err() || end {
            return;
        }
    }
}

/// Parses the blocks that arrive, in order, until there are no more or no one takes the
/// batches.
fn work(parsing: &Parsing, jobs: &Receiver<Job>, results: &SyncSender<Parsed>) {
    for job in jobs {
        let parsed = match job {
            Job::Block(block) => match parsing.parse(block) {
                Ok(batch) => Parsed::Batch(batch),
                Err(error) => Parsed::Failed(error),
            },
            Job::End => Parsed::End,
        };
        if results.send(parsed).is_err() {
            return;
        }
    }
}

/// Finds whole records in the input and cuts blocks of them.
struct Splitter {
    input: Box<dyn BufRead + Send>,
    ends: RecordEnds,
    /// Bytes read and not yet in a block; the first is at `start`.
    pending: Vec<u8>,
    start: Place,
    /// The header has yet to be passed.
    in_header: bool,
    /// Records per block.
    rows: usize,
    max_record_bytes: usize,
    read_size: usize,
    /// The input has no more bytes.
    at_end: bool,
    /// The last block was cut: the input ended or failed, or holds an over-long record (a
    /// block the sequential reader fails on).
    finished: bool,
}

impl Splitter {
    /// The next block of records; `None` when there are no more.
    fn next_block(&mut self) -> Option<Block> {
        if self.finished {
            return None;
        }
        let (mut at, mut records, mut exact) = (0, 0, false);
        loop {
            while self.pending.get(at).is_some_and(|b| is_line_break(*b)) {
                at += 1;
            }
            let end = match self.ends.end(&self.pending, at) {
                Some(end) => end,
                // The last record ends with the input.
                None if self.at_end && at < self.pending.len() => self.pending.len(),
                None if self.at_end => {
                    self.finished = true;
                    return (records > 0).then(|| self.cut(self.pending.len(), records, exact, None));
                }
                None if self.pending.len() - at > self.max_record_bytes.saturating_add(2) => {
                    // Longer than any record may be: the sequential reader says where and why.
                    self.finished = true;
                    return Some(self.cut(self.pending.len(), records, true, None));
                }
                None => {
                    if let Err(failure) = self.read_more(self.pending.len() - at) {
                        self.finished = true;
                        return Some(self.cut(self.pending.len(), records, true, Some(failure)));
                    }
                    continue;
                }
            };
            let record_bytes = end - at;
            at = end;
            if std::mem::take(&mut self.in_header) {
                self.pass(at);
                at = 0;
                continue;
            }
            records += 1;
            // The sequential reader counts a CR LF's LF too.
            exact |= record_bytes.saturating_add(1) > self.max_record_bytes;
            if records == self.rows || at >= BATCH_BYTES {
                return Some(self.cut(at, records, exact, None));
            }
        }
    }

    /// Reads at least `wanted` more bytes (so that a long record is searched a few times, not
    /// once per read), or up to the end of the input.
    fn read_more(&mut self, wanted: usize) -> std::io::Result<()> {
        let mut added = 0;
        while added < wanted.max(1) {
            let available = self.input.fill_buf()?;
            if available.is_empty() {
                self.at_end = true;
                return Ok(());
            }
            let taken = available.len().min(self.read_size);
            self.pending.extend_from_slice(&available[..taken]);
            self.input.consume(taken);
            added += taken;
        }
        Ok(())
    }

    /// The first `len` pending bytes as a block.
    fn cut(&mut self, len: usize, records: usize, exact: bool, failure: Option<std::io::Error>) -> Block {
        let rest = self.pending.split_off(len);
        let bytes = std::mem::replace(&mut self.pending, rest);
        let start = self.start;
        self.advance(&bytes);
        Block {
            bytes,
            start,
            records,
            exact,
            failure,
        }
    }

    /// Drops the first `len` pending bytes (the header).
    fn pass(&mut self, len: usize) {
        let passed: Vec<u8> = self.pending.drain(..len).collect();
        self.advance(&passed);
    }

    fn advance(&mut self, bytes: &[u8]) {
        self.start = Place {
            line: self.start.line + memchr::memchr_iter(b'\n', bytes).count() as u64,
            byte: self.start.byte + bytes.len() as u64,
        };
    }
}

/// What a worker needs to parse blocks into the reader's batches.
struct Parsing {
    source: Source,
    dialect: Dialect,
    shape: Arc<Shape>,
    options: ReadOptions,
    /// The null values matched after decoding, when that is safe ([`spellings_after`]).
    spellings: Option<Spellings>,
}

/// The null values to match after Arrow's decoder rather than by it, which saves matching every
/// field against them (about a seventh of the parse): the decoder then treats only empty fields
/// as missing, so the empty field must be a null value; text columns lose the other spellings
/// afterwards ([`Spellings::remove`]); and in every other column those spellings must fail to
/// parse — as the default ones (`NA`, `NULL`, …) do in every type listed here — so that a block
/// holding one fails and is decoded again with the null values matched by the decoder.
fn spellings_after(options: &ReadOptions, shape: &Shape) -> Option<Spellings> {
    let nulls = &options.csv.null_values;
    let others: Vec<String> = nulls.iter().filter(|v| !v.is_empty()).cloned().collect();
    let safe_spellings = nulls.len() > others.len() && others.iter().all(|v| DEFAULT_NULL_VALUES.contains(&v.as_str()));
    let safe_types = shape.decoded.fields().iter().all(|field| {
        matches!(
            field.data_type(),
            DataType::Null
                | DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
                | DataType::Utf8
        )
    });
    (safe_spellings && safe_types).then(|| Spellings::new(others))
}

/// Null values to find among text fields, quickly: most fields differ from all of them in
/// their length or their first byte.
struct Spellings {
    values: Vec<String>,
    longest: usize,
    first_bytes: [bool; 256],
}

impl Spellings {
    fn new(values: Vec<String>) -> Spellings {
        let mut first_bytes = [false; 256];
        for value in &values {
            if let Some(&first) = value.as_bytes().first() {
                first_bytes[usize::from(first)] = true;
            }
        }
        Spellings {
            longest: values.iter().map(String::len).max().unwrap_or(0),
            values,
            first_bytes,
        }
    }

    fn contains(&self, field: &str) -> bool {
        field.len() <= self.longest
            && field
                .as_bytes()
                .first()
                .is_some_and(|&b| self.first_bytes[usize::from(b)])
            && self.values.iter().any(|v| v == field)
    }

    /// The batch with the text fields that are null values made missing; `None` if it cannot
    /// be rebuilt.
    fn remove(&self, batch: &RecordBatch) -> Option<RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .map(|column| match column.as_string_opt::<i32>() {
                Some(texts) if texts.iter().flatten().any(|v| self.contains(v)) => Arc::new(
                    texts
                        .iter()
                        .map(|v| v.filter(|v| !self.contains(v)))
                        .collect::<StringArray>(),
                ) as ArrayRef,
                _ => column.clone(),
            })
            .collect();
        RecordBatch::try_new(batch.schema(), columns).ok()
    }
}

impl Parsing {
    /// The block's batch: parsed fast, or by the sequential reader when that fails or the
    /// block is marked, which places the error exactly.
    fn parse(&self, block: Block) -> Result<RecordBatch, DataError> {
        let (records, start) = (block.records, block.start);
        let batch = match self.parse_fast(&block) {
            Some(batch) => batch,
            None => self.parse_exactly(block)?,
        };
        if batch.num_rows() != records {
            return Err(DataError::new(
                ErrorKind::Internal,
                &self.source.file,
                format!(
                    "the parallel CSV reader cut a block of {records} records that parses as {} \
                     (a bug in mlspec: please report it)",
                    batch.num_rows()
                ),
            )
            .at(start.at()));
        }
        Ok(batch)
    }

    /// Arrow's decoder on the whole block; `None` when it fails (the caller reads the block
    /// again to place the error).
    fn parse_fast(&self, block: &Block) -> Option<RecordBatch> {
        if block.exact {
            return None;
        }
        let decoded = match &self.spellings {
            Some(spellings) => self
                .decode(block, self.dialect.arrow_empty_missing(false))
                .and_then(|batch| spellings.remove(&batch))
                .or_else(|| self.decode(block, self.dialect.arrow(false))),
            None => self.decode(block, self.dialect.arrow(false)),
        }?;
        self.shape.finish(&decoded).ok()
    }

    /// The block's records decoded in `format`; `None` when they do not decode.
    fn decode(&self, block: &Block, format: arrow::csv::reader::Format) -> Option<RecordBatch> {
        // One row more than the block should hold, so that a miscount shows.
        let mut decoder = arrow_decoder(&self.shape, format, block.records + 1);
        let mut fed = 0;
        while fed < block.bytes.len() {
            match decoder.decode(&block.bytes[fed..]).ok()? {
                0 => break,
                n => fed += n,
            }
        }
        decoder.decode(&[]).ok()?;
        decoder.flush().ok()?
    }

    /// The block read by the sequential reader, started at the block's place: its batch, or
    /// the error a sequential read of the file would report in it.
    fn parse_exactly(&self, block: Block) -> Result<RecordBatch, DataError> {
        let mut reader = CsvBatches::new(
            self.source.clone(),
            Box::new(Cursor::new(block.bytes)),
            &self.dialect,
            self.shape.clone(),
            &self.options,
            Some(block.start),
        );
        if let Some(failure) = block.failure {
            let place = reader.scan_to_end()?;
            return Err(self.source.io_error(place, &failure));
        }
        let mut batches = Vec::new();
        while let Some(batch) = reader.batch()? {
            batches.push(batch);
        }
        arrow::compute::concat_batches(&self.shape.schema, &batches)
            .map_err(|e| DataError::new(ErrorKind::Internal, &self.source.file, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::csv::prepare;
    use super::super::{Compression, CsvOptions, Limits, detect, until_error};
    use super::*;

    /// Tiny reads and two workers, so that blocks and reads end everywhere.
    const TINY: Blocks = Blocks {
        workers: 2,
        read_size: 3,
    };

    type Read = Result<Vec<RecordBatch>, DataError>;

    fn source(path: &std::path::Path) -> Source {
        Source {
            path: path.to_owned(),
            file: path.display().to_string(),
            compression: detect(path).map_or(Compression::None, |(_, c)| c),
            read: Arc::default(),
        }
    }

    /// The file read by the sequential reader and by the parallel one.
    fn both_ways(path: &std::path::Path, options: &ReadOptions, blocks: Blocks) -> (Read, Read) {
        let sequential = (|| {
            let source = source(path);
            let (dialect, shape) = prepare(&source, options)?;
            let input = source.decoded(true)?;
            until_error(CsvBatches::new(source, input, &dialect, shape, options, None)).collect()
        })();
        let parallel = (|| {
            let source = source(path);
            let (dialect, shape) = prepare(&source, options)?;
            let ends = RecordEnds::new(&dialect).unwrap();
            until_error(ParallelCsv::new(source, dialect, ends, shape, options, blocks)).collect()
        })();
        (sequential, parallel)
    }

    /// Reads `bytes` as the file `name` both ways; they must agree (batch for batch, or on the
    /// error); returns what they read.
    fn agree(name: &str, bytes: &[u8], options: &ReadOptions, blocks: Blocks) -> Read {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (sequential, parallel) = both_ways(&path, options, blocks);
        assert_eq!(parallel, sequential, "{name}: {:?}", String::from_utf8_lossy(bytes));
        parallel
    }

    fn batched(rows: usize) -> ReadOptions {
        ReadOptions {
            batch_size: rows,
            ..ReadOptions::default()
        }
    }

    fn rows(read: &Read) -> usize {
        read.as_ref().unwrap().iter().map(RecordBatch::num_rows).sum()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// `count` records, every third with a quoted field across lines.
    fn multiline(count: usize, line_break: &str) -> String {
        let mut text = format!("id,note,score{line_break}");
        for i in 0..count {
            let note = match i % 3 {
                0 => format!("\"line one{line_break}line \"\"two\"\", {i}\""),
                1 => format!("plain {i}"),
                _ => String::new(),
            };
            text.push_str(&format!("{i},{note},{}.5{line_break}", i * 7 % 13));
            if i % 10 == 9 {
                text.push_str(line_break);
            }
        }
        text
    }

    #[test]
    fn quoted_line_breaks_across_blocks_and_reads_give_the_same_batches() {
        for line_break in ["\n", "\r\n"] {
            let text = multiline(100, line_break);
            for rows in [1, 2, 3, 7, 8192] {
                for blocks in [TINY, Blocks::default()] {
                    let read = agree("m.csv", text.as_bytes(), &batched(rows), blocks);
                    assert_eq!(self::rows(&read), 100);
                }
            }
            let read = agree("m.csv.gz", &gzip(text.as_bytes()), &batched(3), TINY);
            assert_eq!(rows(&read), 100);
            let read = agree(
                "m.tsv.zst",
                &zstd::encode_all(text.replace(',', "\t").as_bytes(), 3).unwrap(),
                &batched(4),
                TINY,
            );
            assert_eq!(rows(&read), 100);
        }
        let no_header = ReadOptions {
            csv: CsvOptions {
                header: false,
                ..CsvOptions::default()
            },
            ..batched(2)
        };
        let read = agree("n.csv", b"1,\"a\nb\"\n2,c\n3,d", &no_header, TINY);
        assert_eq!(rows(&read), 3);
    }

    #[test]
    fn empty_and_header_only_files_have_no_batches() {
        for bytes in [&b""[..], b"a,b\n", b"a,b", b"\n\na,b\r\n\r\n"] {
            assert_eq!(agree("e.csv", bytes, &batched(2), TINY).unwrap().len(), 0);
        }
    }

    #[test]
    fn errors_name_the_same_line() {
        let sampled = ReadOptions {
            csv: CsvOptions {
                infer_rows: 1,
                ..CsvOptions::default()
            },
            ..batched(3)
        };
        let mut text = multiline(50, "\n");
        text.push_str("50,\"x\ny\",nope\n51,z,1\n");
        let error = agree("t.csv", text.as_bytes(), &sampled, TINY).unwrap_err();
        assert_eq!(
            (error.kind, error.column.as_deref()),
            (ErrorKind::Malformed, Some("score"))
        );
        let line = 1 + text.matches('\n').count() - 3;
        assert_eq!(error.at, Some(format!("line {line}")), "{error}");

        let mut ragged = multiline(40, "\r\n");
        ragged.push_str("40,\"a\r\nb\"\r\n41,c,2\r\n");
        let error = agree("r.csv", ragged.as_bytes(), &sampled, TINY).unwrap_err();
        let line = 1 + ragged.matches('\n').count() - 3;
        assert_eq!(error.at, Some(format!("line {line}")), "{error}");
        assert!(error.message.contains("a record of 2 fields"), "{error}");

        let utf8 = agree("u.csv", b"a,b\n1,x\n2,\"\n\"\n3,\xff\n", &batched(1), TINY).unwrap_err();
        assert_eq!(utf8.at.as_deref(), Some("line 5"), "{utf8}");

        let small = ReadOptions {
            limits: Limits {
                max_record_bytes: 100,
                ..Limits::default()
            },
            ..batched(2)
        };
        let long = format!("a,b\n1,x\n2,\"{}\"\n3,y\n", "z".repeat(99));
        let error = agree("l.csv", long.as_bytes(), &small, TINY).unwrap_err();
        assert_eq!(
            (error.kind, error.at.as_deref()),
            (ErrorKind::LimitExceeded, Some("line 3"))
        );
        let unclosed = format!("a,b\n1,x\n2,\"{}", "3,y\n".repeat(100));
        let error = agree("q.csv", unclosed.as_bytes(), &small, TINY).unwrap_err();
        assert_eq!(
            (error.kind, error.at.as_deref()),
            (ErrorKind::LimitExceeded, Some("line 3"))
        );
        // Just under the limit, a long record is read.
        let fits = format!("a,b\n1,\"{}\"\n", "z".repeat(93));
        assert_eq!(rows(&agree("f.csv", fits.as_bytes(), &small, TINY)), 1);
    }

    #[test]
    fn null_spellings_are_missing_whether_matched_by_arrow_or_after_it() {
        let mut text = String::from("n,t,day\n");
        for i in 0..40 {
            // "NA" in the number column only in the last blocks: those decode twice.
            let number = if i > 30 && i % 4 == 0 {
                "NA".to_owned()
            } else {
                i.to_string()
            };
            let label = ["NULL", "a", "", "n/a", "<NA>"][i % 5];
            let day = if i % 7 == 0 { "#N/A" } else { "2024-01-02" };
            text.push_str(&format!("{number},{label},{day}\n"));
        }
        let read = agree("s.csv", text.as_bytes(), &batched(4), TINY).unwrap();
        let nulls = |column: usize| read.iter().map(|b| b.column(column).null_count()).sum::<usize>();
        assert_eq!((nulls(0), nulls(1), nulls(2)), (2, 32, 6));
        assert_eq!(read[0].schema().field(2).data_type(), &DataType::Date32);
        // Spellings that could be numbers are left to Arrow.
        let numeric_nulls = ReadOptions {
            csv: CsvOptions {
                null_values: vec!["".into(), "-1".into()],
                ..CsvOptions::default()
            },
            ..batched(3)
        };
        let read = agree("m.csv", b"a,b\n1,x\n-1,-1\n,\n", &numeric_nulls, TINY).unwrap();
        assert_eq!(read.iter().map(|b| b.column(0).null_count()).sum::<usize>(), 2);
    }

    #[test]
    fn a_truncated_stream_fails_at_the_same_place() {
        let text = multiline(3000, "\n");
        let mut packed = gzip(text.as_bytes());
        packed.truncate(packed.len() * 2 / 3);
        let error = agree("t.csv.gz", &packed, &batched(100), Blocks::default()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Malformed, "{error}");
    }

    #[test]
    fn dropping_the_reader_early_stops_its_threads() {
        let text = multiline(1000, "\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, text).unwrap();
        let options = batched(10);
        let source = source(&path);
        let (dialect, shape) = prepare(&source, &options).unwrap();
        let ends = RecordEnds::new(&dialect).unwrap();
        let mut reader = until_error(ParallelCsv::new(source, dialect, ends, shape, &options, TINY));
        assert_eq!(reader.next().unwrap().unwrap().num_rows(), 10);
        drop(reader);
    }

    fn csvish_row() -> impl Strategy<Value = String> {
        let field = prop::sample::select(vec![
            "1",
            "2.5",
            "-3",
            "x",
            "NA",
            "",
            "NULL",
            "n/a",
            "true",
            "\"q\"",
            "\"a,b\"",
            "\"l1\nl2\"",
            "\"r\r\nn\"",
            "\"d\"\"q\"",
            "2024-01-02",
            "\"",
            "y\"z",
        ]);
        // Mostly the header's three fields.
        let fields =
            prop_oneof![9 => prop::collection::vec(field.clone(), 3..4), 1 => prop::collection::vec(field, 1..5)];
        (fields, prop::sample::select(vec!["\n", "\r\n", "\n\n", "\r"]))
            .prop_map(|(fields, end)| format!("{}{end}", fields.join(",")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random CSV-ish files (quotes, line breaks in quotes, ragged rows, values that change
        /// type) read the same both ways: the same batches, or the same error.
        #[test]
        fn random_files_read_the_same_both_ways(
            rows in prop::collection::vec(csvish_row(), 0..40),
            batch in 1usize..6,
            read_size in 1usize..40,
            infer_rows in 1usize..5,
            last_line_break in any::<bool>(),
            null_values in prop::sample::select(vec![vec!["", "NA", "NULL", "n/a"], vec!["", "x"], vec!["NA"]]),
        ) {
            let mut text = format!("a,b,c{}", if rows.is_empty() { "" } else { "\n" });
            text.extend(rows);
            if !last_line_break {
                text = text.trim_end_matches(['\r', '\n']).to_owned();
            }
            let options = ReadOptions {
                csv: CsvOptions {
                    infer_rows,
                    null_values: null_values.into_iter().map(String::from).collect(),
                    ..CsvOptions::default()
                },
                ..batched(batch)
            };
            let _read = agree("p.csv", text.as_bytes(), &options, Blocks { workers: 3, read_size });
        }
    }
}

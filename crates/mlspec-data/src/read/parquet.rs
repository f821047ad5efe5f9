//! Parquet: the footer is read once, then the row groups one after another, so an error names
//! its row group, the rows it holds and its bytes in the file. Rows per batch follow the
//! footer's sizes, so wide or long rows make smaller batches.

use std::fs::File;
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{BATCH_BYTES, BatchIter, BatchSource, ReadOptions, Shape, Source, batch_rows, names, until_error};
use crate::error::{DataError, ErrorKind};

pub(super) fn batches(source: Source, options: &ReadOptions) -> Result<(SchemaRef, BatchIter), DataError> {
    let file = File::open(&source.path)
        .map_err(|e| DataError::new(ErrorKind::Io, &source.file, format!("cannot open: {e}")))?;
    let metadata = ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| {
        DataError::new(
            ErrorKind::Malformed,
            &source.file,
            format!("not a readable Parquet file: {e}"),
        )
        .with_hint("the file may be truncated or corrupt; check its size and digest")
    })?;
    let decoded = metadata.schema().clone();
    let columns = decoded.fields().len();
    if columns > options.limits.max_columns {
        return Err(DataError::new(ErrorKind::LimitExceeded,
            &source.file,
            format!(
                "{columns} columns, more than {} (the limit on columns per file)",
                options.limits.max_columns
            ),
        )
        .at("the footer")
        .with_hint("raise it with --max-columns N or MLSPEC_MAX_COLUMNS=N if you need them all (memory grows with every column)"));
    }
    let raw: Vec<String> = decoded.fields().iter().map(|f| f.name().clone()).collect();
    let (names, warnings) = names::unique(&raw, &format!("{} (the footer's schema)", source.file));
    source.warn(options, &warnings);
    let total_rows = u64::try_from(metadata.metadata().file_metadata().num_rows()).unwrap_or(0);
    let total_bytes: i64 = metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.total_byte_size())
        .sum();
    let row_bytes = u64::try_from(total_bytes).unwrap_or(0) / total_rows.max(1);
    let by_bytes = usize::try_from((BATCH_BYTES as u64) / row_bytes.max(1)).unwrap_or(usize::MAX);
    let rows = batch_rows(options.batch_size, columns).min(by_bytes).max(1);
    let mask = options
        .only_columns
        .as_ref()
        .map(|columns| ProjectionMask::roots(metadata.parquet_schema(), columns.iter().copied()));
    let shape = Shape::new(decoded, &names, Vec::new(), options.only_columns.clone());
    let schema = shape.schema.clone();
    let size = std::fs::metadata(&source.path).map_or(0, |m| m.len());
    Ok((
        schema,
        until_error(ParquetBatches {
            source,
            file,
            metadata,
            mask,
            shape,
            rows,
            group: 0,
            reader: None,
            seen: 0,
            total_rows,
            size,
        }),
    ))
}

struct ParquetBatches {
    source: Source,
    file: File,
    metadata: ArrowReaderMetadata,
    mask: Option<ProjectionMask>,
    shape: Shape,
    rows: usize,
    /// The next row group to open.
    group: usize,
    reader: Option<ParquetRecordBatchReader>,
    /// Rows read, for progress (Parquet reads by column chunk; progress follows the rows).
    seen: u64,
    total_rows: u64,
    size: u64,
}

impl ParquetBatches {
    /// Where row group `group` is: its rows and bytes.
    fn place(&self, group: usize) -> String {
        let groups = self.metadata.metadata().row_groups();
        let first: i64 = groups.iter().take(group).map(|g| g.num_rows()).sum();
        let Some(this) = groups.get(group) else {
            return format!("row group {}", group + 1);
        };
        let (start, end) = this
            .columns()
            .iter()
            .map(|c| c.byte_range())
            .fold((u64::MAX, 0), |(s, e), (at, len)| (s.min(at), e.max(at + len)));
        format!(
            "row group {} of {}: rows {}–{}, bytes {}–{}",
            group + 1,
            groups.len(),
            first + 1,
            first + this.num_rows(),
            start,
            end
        )
    }

    fn open_group(&mut self, group: usize) -> Result<ParquetRecordBatchReader, DataError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| DataError::new(ErrorKind::Io, &self.source.file, format!("cannot read: {e}")))?;
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
            .with_row_groups(vec![group])
            .with_batch_size(self.rows);
        if let Some(mask) = &self.mask {
            builder = builder.with_projection(mask.clone());
        }
        builder.build().map_err(|e| {
            DataError::new(
                ErrorKind::Malformed,
                &self.source.file,
                format!("cannot read the Parquet file: {e}"),
            )
            .at(self.place(group))
        })
    }

    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        loop {
            if self.reader.is_none() {
                if self.group >= self.metadata.metadata().num_row_groups() {
                    return Ok(None);
                }
                self.reader = Some(self.open_group(self.group)?);
                self.group += 1;
            }
            let Some(reader) = &mut self.reader else { continue };
            match reader.next() {
                None => self.reader = None,
                Some(Err(e)) => {
                    return Err(DataError::new(
                        ErrorKind::Malformed,
                        &self.source.file,
                        format!("cannot read the Parquet file: {e}"),
                    )
                    .at(self.place(self.group - 1))
                    .with_hint("the file may be truncated or corrupt; check its size and digest"));
                }
                Some(Ok(decoded)) => {
                    self.seen += decoded.num_rows() as u64;
                    if let Some(done) = self.size.saturating_mul(self.seen).checked_div(self.total_rows) {
                        self.source.read.store(done, Ordering::Relaxed);
                    }
                    let batch = self
                        .shape
                        .finish(&decoded)
                        .map_err(|(_, _, why)| DataError::new(ErrorKind::Malformed, &self.source.file, why))?;
                    return Ok(Some(batch));
                }
            }
        }
    }
}

impl BatchSource for ParquetBatches {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        ParquetBatches::batch(self)
    }
}

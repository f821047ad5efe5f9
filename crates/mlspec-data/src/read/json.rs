//! JSON Lines: one JSON object per line, each line read whole up to the record limit and checked
//! (one object, no key twice) before Arrow's decoder parses it; blank lines are skipped and
//! counted. A key the sampled lines did not have stops the read (strict mode) rather than being
//! dropped.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::scan::Limit;
use super::{
    BATCH_BYTES, BatchIter, BatchSource, Place, ReadOptions, Shape, Source, batch_rows, check_columns, names,
    override_types, until_error,
};
use crate::error::{DataError, ErrorKind};

pub(super) fn batches(source: Source, options: &ReadOptions) -> Result<(SchemaRef, BatchIter), DataError> {
    let inferred = infer(&source, options)?;
    check_columns(
        &source,
        inferred.fields().len(),
        &options.limits,
        Place { line: 1, byte: 0 },
    )?;
    let raw: Vec<String> = inferred.fields().iter().map(|f| f.name().clone()).collect();
    let (names, warnings) = names::unique(&raw, &source.file);
    source.warn(options, &warnings);
    let decoded = Arc::new(override_types(&source.file, &inferred, &names, &options.csv.types)?);
    let rows = batch_rows(options.batch_size, names.len());
    let decoder =
        decoder(&decoded, rows).map_err(|e| DataError::new(ErrorKind::Internal, &source.file, e.to_string()))?;
    let shape = Shape::new(decoded, &names, Vec::new(), None);
    let schema = shape.schema.clone();
    Ok((
        schema,
        until_error(JsonBatches {
            lines: Lines::new(source.decoded(true)?, options.limits.max_record_bytes),
            source,
            decoder,
            shape,
            pending: Vec::new(),
            starts: Vec::with_capacity(rows),
            batch_rows: rows,
        }),
    ))
}

fn decoder(schema: &SchemaRef, rows: usize) -> Result<arrow::json::reader::Decoder, ArrowError> {
    arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows)
        .with_strict_mode(true)
        .build_decoder()
}

/// The columns and types of the first `infer_rows` lines, parsed one at a time.
fn infer(source: &Source, options: &ReadOptions) -> Result<Schema, DataError> {
    let mut lines = Lines::new(source.decoded(false)?, options.limits.max_record_bytes);
    let mut failure = None;
    let mut left = options.csv.infer_rows.max(1);
    let values = std::iter::from_fn(|| {
        if left == 0 || failure.is_some() {
            return None;
        }
        left -= 1;
        let place = match lines.next(source) {
            Ok(place) => place?,
            Err(e) => {
                failure = Some(e);
                return None;
            }
        };
        let value = check_object(&lines.line)
            .and_then(|()| serde_json::from_slice::<serde_json::Value>(&lines.line).map_err(|e| without_position(&e)));
        match value {
            Ok(value) => Some(Ok(value)),
            Err(why) => {
                failure = Some(source.error(ErrorKind::Malformed, place, why));
                None
            }
        }
    });
    let inferred = arrow::json::reader::infer_json_schema_from_iterator(values)
        .map_err(|e| DataError::new(ErrorKind::Malformed, &source.file, e.to_string()));
    match failure {
        Some(failure) => Err(failure),
        None => inferred,
    }
}

/// Lines of at most `max` bytes, blank ones skipped.
struct Lines {
    input: Box<dyn BufRead + Send>,
    max: usize,
    /// The line read last, without its line break.
    line: Vec<u8>,
    /// The place of the next byte.
    next: Place,
}

impl Lines {
    fn new(input: Box<dyn BufRead + Send>, max: usize) -> Lines {
        Lines {
            input,
            max,
            line: Vec::new(),
            next: Place { line: 1, byte: 0 },
        }
    }

    /// Reads the next line that is not blank into `line`; its place, or `None` at the end.
    fn next(&mut self, source: &Source) -> Result<Option<Place>, DataError> {
        loop {
            self.line.clear();
            let place = self.next;
            let mut ended = false;
            loop {
                let chunk = self.input.fill_buf().map_err(|e| source.io_error(place, &e))?;
                if chunk.is_empty() {
                    ended = true;
                    break;
                }
                let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                let content = take - usize::from(newline);
                if self.line.len() + content > self.max {
                    return Err(source.limit_error(place, Limit::RecordBytes(self.max)));
                }
                self.line.extend_from_slice(&chunk[..content]);
                self.input.consume(take);
                self.next.byte += take as u64;
                if newline {
                    self.next.line += 1;
                    break;
                }
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                if ended {
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some(place));
        }
    }
}

/// The batches of a JSON Lines file.
struct JsonBatches {
    source: Source,
    lines: Lines,
    decoder: arrow::json::reader::Decoder,
    shape: Shape,
    /// The lines of the batch being decoded, one after another, and where each starts.
    pending: Vec<u8>,
    starts: Vec<(Place, usize)>,
    batch_rows: usize,
}

impl JsonBatches {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        self.pending.clear();
        self.starts.clear();
        while self.starts.len() < self.batch_rows && self.pending.len() < BATCH_BYTES {
            let Some(place) = self.lines.next(&self.source)? else {
                break;
            };
            let line = self.lines.line.trim_ascii();
            check_object(line).map_err(|why| self.source.error(ErrorKind::Malformed, place, why))?;
            self.decoder
                .decode(line)
                .map_err(|e| DataError::from_arrow(&self.source.file, place.at(), &self.shape.schema, e))?;
            self.starts.push((place, self.pending.len()));
            self.pending.extend_from_slice(line);
        }
        let decoded = match self.decoder.flush() {
            Ok(decoded) => decoded,
            Err(error) => return Err(self.locate(error)),
        };
        let Some(decoded) = decoded else { return Ok(None) };
        let batch = self
            .shape
            .finish(&decoded)
            .map_err(|(_, _, why)| DataError::new(ErrorKind::Malformed, &self.source.file, why))?;
        Ok(Some(batch))
    }

    /// The error of a batch, at the first of its lines that fails on its own.
    fn locate(&self, error: ArrowError) -> DataError {
        let ends = self
            .starts
            .iter()
            .skip(1)
            .map(|(_, start)| *start)
            .chain([self.pending.len()]);
        for ((place, start), end) in self.starts.iter().zip(ends) {
            let alone = decoder(&self.shape.decoded, 1).and_then(|mut d| {
                d.decode(&self.pending[*start..end])?;
                d.flush()
            });
            if let Err(e) = alone {
                return DataError::from_arrow(&self.source.file, place.at(), &self.shape.schema, e).with_hint(
                    "the column's type was inferred from the first lines (a key they lacked is refused too); \
                     set it with --type COL=TYPE or read more lines with --infer-rows N",
                );
            }
        }
        let first = self.starts.first().map_or(self.lines.next, |(place, _)| *place);
        DataError::from_arrow(&self.source.file, first.at(), &self.shape.schema, error)
    }
}

impl BatchSource for JsonBatches {
    fn batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        JsonBatches::batch(self)
    }
}

/// Checks that `line` is one JSON object whose keys are all different.
fn check_object(line: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<Object>(line)
        .map(|_| ())
        .map_err(|e| format!("not one JSON object: {}", without_position(&e)))
}

/// serde_json's message with the column instead of "line 1 column N" (each line is parsed alone).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    format!("{message} (column {})", error.column())
}

/// One JSON object, its keys checked for repeats, its values skipped.
struct Object;

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let mut seen = HashSet::new();
        while let Some(KeyText(key)) = map.next_key()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears twice (which value counts is undefined)"
                )));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(Object)
    }
}

/// A key, borrowed from the line when it has no escapes.
struct KeyText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyText<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

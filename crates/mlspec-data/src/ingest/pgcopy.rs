//! PostgreSQL's binary `COPY` format, decoded into Arrow columns as the bytes stream in.
//!
//! The format (PostgreSQL documentation, "COPY — Binary Format"): the signature
//! `PGCOPY\n\xff\r\n\0`, a 32-bit flags field and a 32-bit header-extension length (and that many
//! bytes); then one tuple per row — a 16-bit field count (−1 ends the data), and per field a
//! 32-bit length (−1 for NULL) followed by the value in the type's binary send format. All
//! integers are big-endian. Only the send formats of the types [`PgType`] names are read; the
//! query wraps every other column in `::text` (and `numeric` in `::float8`), whose binary form is
//! the text's UTF-8 bytes. Dates count days and timestamps microseconds from 2000-01-01.
//!
//! Hand-written: no maintained crate decodes binary COPY into Arrow (connectorx does it inside
//! its own Python-facing pipeline), and the format is small and fixed. Binary COPY spares the
//! server formatting every number as text and spares us parsing it back.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const EPOCH_MICROS: i64 = 946_684_800_000_000;
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// How a column is sent, and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Date,
    Timestamp,
    TimestampTz,
    Text,
}

impl PgType {
    /// The type a column of PostgreSQL type `name` (upper case, e.g. `INT8`) is read as.
    pub fn of(name: &str) -> PgType {
        match name {
            "INT2" => PgType::Int2,
            "INT4" => PgType::Int4,
            "INT8" => PgType::Int8,
            "FLOAT4" => PgType::Float4,
            "FLOAT8" | "NUMERIC" => PgType::Float8,
            "BOOL" => PgType::Bool,
            "DATE" => PgType::Date,
            "TIMESTAMP" => PgType::Timestamp,
            "TIMESTAMPTZ" => PgType::TimestampTz,
            _ => PgType::Text,
        }
    }

    /// The Arrow type it becomes.
    pub fn arrow(self) -> DataType {
        match self {
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Bool => DataType::Boolean,
            PgType::Date => DataType::Date32,
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            PgType::Text => DataType::Utf8,
        }
    }

    /// The select-list expression that sends `column` in the form this decoder reads.
    pub fn select(self, name: &str, column: &str) -> String {
        match (self, name) {
            (PgType::Float8, "NUMERIC") => format!("{column}::float8"),
            (PgType::Text, _) => format!("{column}::text"),
            _ => column.to_owned(),
        }
    }
}

/// One column being built.
enum Builder {
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Float4(Float32Builder),
    Float8(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
    Text(StringBuilder),
}

impl Builder {
    fn new(ty: PgType) -> Builder {
        match ty {
            PgType::Int2 => Builder::Int2(Int16Builder::new()),
            PgType::Int4 => Builder::Int4(Int32Builder::new()),
            PgType::Int8 => Builder::Int8(Int64Builder::new()),
            PgType::Float4 => Builder::Float4(Float32Builder::new()),
            PgType::Float8 => Builder::Float8(Float64Builder::new()),
            PgType::Bool => Builder::Bool(BooleanBuilder::new()),
            PgType::Date => Builder::Date(Date32Builder::new()),
            PgType::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new(), None),
            PgType::TimestampTz => Builder::Timestamp(TimestampMicrosecondBuilder::new(), Some("+00:00".into())),
            PgType::Text => Builder::Text(StringBuilder::new()),
        }
    }

    fn null(&mut self) {
        match self {
            Builder::Int2(b) => b.append_null(),
            Builder::Int4(b) => b.append_null(),
            Builder::Int8(b) => b.append_null(),
            Builder::Float4(b) => b.append_null(),
            Builder::Float8(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Timestamp(b, _) => b.append_null(),
            Builder::Text(b) => b.append_null(),
        }
    }

    /// Appends a value from its send format; Err names what was wrong with it.
    fn value(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Builder::Int2(b) => b.append_value(i16::from_be_bytes(fixed(bytes)?)),
            Builder::Int4(b) => b.append_value(i32::from_be_bytes(fixed(bytes)?)),
            Builder::Int8(b) => b.append_value(i64::from_be_bytes(fixed(bytes)?)),
            Builder::Float4(b) => b.append_value(f32::from_be_bytes(fixed(bytes)?)),
            Builder::Float8(b) => b.append_value(f64::from_be_bytes(fixed(bytes)?)),
            Builder::Bool(b) => b.append_value(u8::from_be_bytes(fixed(bytes)?) != 0),
            Builder::Date(b) => {
                let days = i32::from_be_bytes(fixed(bytes)?);
                b.append_value(
                    days.checked_add(EPOCH_DAYS)
                        .ok_or("a date out of range (e.g. infinity)")?,
                );
            }
            Builder::Timestamp(b, _) => {
                let micros = i64::from_be_bytes(fixed(bytes)?);
                b.append_value(
                    micros
                        .checked_add(EPOCH_MICROS)
                        .ok_or("a timestamp out of range (e.g. infinity)")?,
                );
            }
            Builder::Text(b) => b.append_value(std::str::from_utf8(bytes).map_err(|_| "text that is not UTF-8")?),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int2(b) => Arc::new(b.finish()),
            Builder::Int4(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Float4(b) => Arc::new(b.finish()),
            Builder::Float8(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Timestamp(b, zone) => Arc::new(b.finish().with_timezone_opt(zone.clone())),
            Builder::Text(b) => Arc::new(b.finish()),
        }
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("a value of {} bytes where {N} were expected", bytes.len()))
}

/// Where the decoder is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Tuples,
    Done,
}

/// Decodes binary COPY bytes, fed in any pieces, into batches of the given schema.
pub struct Decoder {
    schema: SchemaRef,
    columns: Vec<Builder>,
    state: State,
    rows: usize,
    /// Rows decoded before this batch.
    pub rows_before: u64,
}

impl Decoder {
    /// A decoder for columns of these types, in the schema's order.
    pub fn new(schema: SchemaRef, types: &[PgType]) -> Decoder {
        Decoder {
            schema,
            columns: types.iter().map(|t| Builder::new(*t)).collect(),
            state: State::Header,
            rows: 0,
            rows_before: 0,
        }
    }

    /// Rows decoded into the current batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the end-of-data marker was read.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes whole tuples from `buf`, at most `max_rows` of them; returns the bytes used (a
    /// partial tuple at the end is left for the next call, with more bytes).
    pub fn decode(&mut self, buf: &[u8], max_rows: usize) -> Result<usize, String> {
        let mut used = 0;
        if self.state == State::Header {
            match header_length(buf)? {
                Some(length) => {
                    used = length;
                    self.state = State::Tuples;
                }
                None => return Ok(0),
            }
        }
        while self.state == State::Tuples && self.rows < max_rows {
            match self.tuple(&buf[used..])? {
                Some(length) => used += length,
                None => break,
            }
        }
        Ok(used)
    }

    /// Reads one tuple at the start of `buf`: its length, or none when it is not all there.
    fn tuple(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        let Some(count) = buf.get(..2) else { return Ok(None) };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            self.state = State::Done;
            return Ok(Some(2));
        }
        if usize::try_from(count).ok() != Some(self.columns.len()) {
            return Err(format!(
                "a row of {count} fields where {} were expected",
                self.columns.len()
            ));
        }
        // Find every field's extent first, so that a tuple split across pieces appends nothing.
        let mut fields: Vec<Option<(usize, usize)>> = Vec::with_capacity(self.columns.len());
        let mut at = 2;
        for _ in 0..self.columns.len() {
            let Some(length) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            at += 4;
            if length < 0 {
                fields.push(None);
                continue;
            }
            let end = at + length as usize;
            if end > buf.len() {
                return Ok(None);
            }
            fields.push(Some((at, end)));
            at = end;
        }
        for (column, field) in self.columns.iter_mut().zip(fields) {
            match field {
                None => column.null(),
                Some((start, end)) => column.value(&buf[start..end])?,
            }
        }
        self.rows += 1;
        Ok(Some(at))
    }

    /// The rows decoded since the last flush, as a batch (none when there are none).
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, String> {
        if self.rows == 0 {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Builder::finish).collect();
        self.rows_before += self.rows as u64;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map(Some)
            .map_err(|e| format!("cannot assemble rows: {e}"))
    }
}

/// The header's length, when all of it is in `buf`.
fn header_length(buf: &[u8]) -> Result<Option<usize>, String> {
    let fixed_part = SIGNATURE.len() + 8;
    if buf.len() < fixed_part {
        return Ok(None);
    }
    if &buf[..SIGNATURE.len()] != SIGNATURE {
        return Err("the data does not start with the binary COPY signature".into());
    }
    let extension = &buf[SIGNATURE.len() + 4..fixed_part];
    let extension = u32::from_be_bytes([extension[0], extension[1], extension[2], extension[3]]) as usize;
    let total = fixed_part + extension;
    Ok((buf.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Schema};

    fn stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        for row in rows {
            out.extend((row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    None => out.extend((-1i32).to_be_bytes()),
                    Some(bytes) => {
                        out.extend((bytes.len() as i32).to_be_bytes());
                        out.extend(bytes);
                    }
                }
            }
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    #[test]
    fn decodes_rows_fed_one_byte_at_a_time() {
        let types = [
            PgType::Int8,
            PgType::Text,
            PgType::Date,
            PgType::TimestampTz,
            PgType::Bool,
        ];
        let schema = Arc::new(Schema::new(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}"), t.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let bytes = stream(&[
            vec![
                Some(7i64.to_be_bytes().to_vec()),
                Some(b"caf\xc3\xa9".to_vec()),
                Some(1i32.to_be_bytes().to_vec()),
                Some(0i64.to_be_bytes().to_vec()),
                Some(vec![1]),
            ],
            vec![None, Some(Vec::new()), None, None, Some(vec![0])],
        ]);
        let mut decoder = Decoder::new(schema, &types);
        let mut pending = Vec::new();
        for byte in bytes {
            pending.push(byte);
            let used = decoder.decode(&pending, 100).unwrap();
            pending.drain(..used);
        }
        assert!(decoder.done() && pending.is_empty());
        let batch = decoder.flush().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0),
            7
        );
        assert!(batch.column(0).is_null(1));
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "café");
        assert_eq!(
            batch.column(1).as_string::<i32>().value(1),
            "",
            "an empty string is not a null"
        );
        assert_eq!(
            batch.column(2).as_primitive::<arrow::datatypes::Date32Type>().value(0),
            EPOCH_DAYS + 1
        );
        assert_eq!(
            batch
                .column(3)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            EPOCH_MICROS
        );
        assert!(batch.column(4).as_boolean().value(0) && !batch.column(4).as_boolean().value(1));
    }

    fn int_text_schema() -> (SchemaRef, [PgType; 2]) {
        let types = [PgType::Int8, PgType::Text];
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        (schema, types)
    }

    /// Feeds `bytes` in pieces cut at `cuts`, as a stream would; the decoded rows.
    /// Decoded rows of the (int8, text) test schema.
    type Rows = Vec<(Option<i64>, Option<String>)>;

    fn feed(bytes: &[u8], cuts: &[usize]) -> Result<Rows, String> {
        let (schema, types) = int_text_schema();
        let mut decoder = Decoder::new(schema, &types);
        let mut pending = Vec::new();
        let mut rows = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        ends.push(bytes.len());
        ends.sort_unstable();
        for end in ends {
            pending.extend_from_slice(&bytes[start..end.max(start)]);
            start = end.max(start);
            loop {
                let used = decoder.decode(&pending, 3)?;
                pending.drain(..used);
                if decoder.rows() < 3 {
                    break;
                }
                collect(&mut decoder, &mut rows)?;
            }
        }
        collect(&mut decoder, &mut rows)?;
        Ok(rows)
    }

    fn collect(decoder: &mut Decoder, rows: &mut Rows) -> Result<(), String> {
        if let Some(batch) = decoder.flush()? {
            let numbers = batch.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let texts = batch.column(1).as_string::<i32>();
            for i in 0..batch.num_rows() {
                rows.push((
                    numbers.is_valid(i).then(|| numbers.value(i)),
                    texts.is_valid(i).then(|| texts.value(i).to_owned()),
                ));
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_in_any_pieces_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), cuts in proptest::collection::vec(0usize..400, 0..6)) {
            let mut with_header = SIGNATURE.to_vec();
            with_header.extend([0u8; 8]);
            with_header.extend(&bytes);
            let _ = feed(&bytes, &cuts);
            let _ = feed(&with_header, &cuts);
        }

        #[test]
        fn rows_decode_the_same_however_the_stream_is_cut(
            rows in proptest::collection::vec((proptest::option::of(proptest::num::i64::ANY), proptest::option::of(".{0,12}")), 0..20),
            cuts in proptest::collection::vec(0usize..2000, 0..8),
        ) {
            let encoded: Vec<Vec<Option<Vec<u8>>>> = rows
                .iter()
                .map(|(n, s)| vec![n.map(|n| n.to_be_bytes().to_vec()), s.as_ref().map(|s| s.as_bytes().to_vec())])
                .collect();
            let decoded = feed(&stream(&encoded), &cuts).unwrap();
            proptest::prop_assert_eq!(decoded, rows);
        }
    }

    #[test]
    fn refuses_what_is_not_binary_copy() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let mut decoder = Decoder::new(schema.clone(), &[PgType::Int4]);
        assert!(decoder.decode(b"id,name\n1,ann\n2,bob\n", 10).is_err());
        let mut decoder = Decoder::new(schema, &[PgType::Int4]);
        let bytes = stream(&[vec![Some(vec![1, 2])]]);
        assert!(decoder.decode(&bytes, 10).unwrap_err().contains("2 bytes where 4"));
    }
}

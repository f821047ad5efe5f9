//! Canonical row hashes: the identity of a row, independent of column order and of how its
//! numbers were written, for leakage checks and stable hash splits.
//!
//! A row is encoded as its columns sorted by name, each as `name`, a type tag and the value:
//! integers, and floats with an integral value below 2^53, as the integer (`3`, `3.0` and
//! `3.00` are one value); other floats by their shortest round-trip decimal (so `0.1` and
//! `0.10` agree); strings with their length; booleans; timestamps and dates as microseconds
//! since the epoch; nulls (and NaN) as null. The encoding is hashed with XXH3-128 (seed 0), an
//! algorithm with a published specification, so a row has the same hash on every machine and
//! in every release. Normalisation (for near-duplicates) lowercases strings, trims and
//! collapses their whitespace, and rounds floats to a number of decimals before encoding.

use std::io::Write as _;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, TimeUnit};
use twox_hash::XxHash3_128;

use crate::error::{DataError, ErrorKind};

/// How values are normalised before hashing (near-duplicate detection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Normalization {
    /// Compare strings case-insensitively.
    pub case: bool,
    /// Trim strings and collapse runs of whitespace into one space.
    pub whitespace: bool,
    /// Round floats to this many decimals.
    pub decimals: Option<u32>,
}

/// Hashes the rows of batches over a fixed set of columns.
#[derive(Clone, Debug)]
pub struct RowHasher {
    /// (column index, name), sorted by name.
    columns: Vec<(usize, String)>,
    normalization: Normalization,
}

/// One column of a batch, ready to encode.
enum Column {
    Integers(arrow::array::PrimitiveArray<Int64Type>),
    Floats(arrow::array::PrimitiveArray<Float64Type>),
    Booleans(arrow::array::BooleanArray),
    Micros(arrow::array::PrimitiveArray<Int64Type>),
    Strings(arrow::array::StringArray),
}

impl RowHasher {
    /// Hashes `columns` of tables with this schema (all but `ignore` when `columns` is empty).
    /// `file` names the input in errors.
    pub fn new(
        file: &str,
        schema: &Schema,
        columns: &[String],
        ignore: &[String],
        normalization: Normalization,
    ) -> Result<RowHasher, DataError> {
        let known = |name: &String| {
            schema.index_of(name).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                DataError::new(ErrorKind::NoSuchColumn, file, format!("there is no column `{name}`"))
                    .with_column(name)
                    .with_hint(format!("columns: {}", names.join(", ")))
            })
        };
        for name in ignore {
            known(name)?;
        }
        let mut chosen = Vec::new();
        if columns.is_empty() {
            for (i, field) in schema.fields().iter().enumerate() {
                if !ignore.contains(field.name()) {
                    chosen.push((i, field.name().clone()));
                }
            }
        } else {
            for name in columns {
                chosen.push((known(name)?, name.clone()));
            }
        }
        if chosen.is_empty() {
            return Err(DataError::new(
                ErrorKind::InvalidArgument,
                file,
                "no columns are left to compare rows by",
            )
            .with_hint("ignore fewer columns"));
        }
        chosen.sort_by(|a, b| a.1.cmp(&b.1));
        chosen.dedup_by(|a, b| a.1 == b.1);
        Ok(RowHasher {
            columns: chosen,
            normalization,
        })
    }

    /// The names of the columns hashed, sorted.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|(_, name)| name.as_str()).collect()
    }

    /// The hash of each row; `None` for a row where a hashed column is null (when
    /// `nulls_are_values` is false), so that keys with nulls can be told apart.
    pub fn hashes(&self, batch: &RecordBatch, nulls_are_values: bool) -> Vec<Option<u128>> {
        let columns: Vec<(&str, Option<Column>)> = self
            .columns
            .iter()
            .map(|(i, name)| (name.as_str(), batch.columns().get(*i).and_then(prepare)))
            .collect();
        let mut buffer = Vec::with_capacity(256);
        (0..batch.num_rows())
            .map(|row| {
                buffer.clear();
                for (name, column) in &columns {
                    buffer.extend_from_slice(name.as_bytes());
                    buffer.push(0);
                    let present = column.as_ref().is_some_and(|c| self.encode(c, row, &mut buffer));
                    if !present {
                        if !nulls_are_values {
                            return None;
                        }
                        buffer.push(b'n');
                    }
                    buffer.push(0);
                }
                Some(XxHash3_128::oneshot(&buffer))
            })
            .collect()
    }

    /// Appends the value's encoding; false when it is null (or NaN).
    fn encode(&self, column: &Column, row: usize, out: &mut Vec<u8>) -> bool {
        match column {
            Column::Integers(a) if a.is_valid(row) => push_integer(out, a.value(row)),
            Column::Micros(a) if a.is_valid(row) => {
                out.push(b't');
                let _ = write!(out, "{}", a.value(row));
            }
            Column::Booleans(a) if a.is_valid(row) => out.extend_from_slice(if a.value(row) { b"b1" } else { b"b0" }),
            Column::Floats(a) if a.is_valid(row) && !a.value(row).is_nan() => {
                let mut value = a.value(row);
                if let Some(decimals) = self.normalization.decimals {
                    let scale = 10f64.powi(decimals.min(300) as i32);
                    value = (value * scale).round() / scale;
                }
                push_float(out, value);
            }
            Column::Strings(a) if a.is_valid(row) => {
                let text = a.value(row);
                let text = self.normalize(text);
                out.push(b's');
                let _ = write!(out, "{}", text.len());
                out.push(b':');
                out.extend_from_slice(text.as_bytes());
            }
            _ => return false,
        }
        true
    }

    fn normalize<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let n = self.normalization;
        if !n.case && !n.whitespace {
            return text.into();
        }
        let mut text: String = if n.whitespace {
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            text.to_owned()
        };
        if n.case {
            text = text.to_lowercase();
        }
        text.into()
    }
}

fn push_integer(out: &mut Vec<u8>, value: i64) {
    out.push(b'i');
    let _ = write!(out, "{value}");
}

/// Integral floats within f64's exact integer range encode as integers; others by their
/// shortest round-trip decimal (Rust's `Display` for f64; −0 is integral, so 0).
fn push_float(out: &mut Vec<u8>, value: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() < EXACT {
        push_integer(out, value as i64);
    } else {
        out.push(b'f');
        let _ = write!(out, "{value}");
    }
}

/// The column as one of the encodable forms; `None` for types rows are not compared by
/// (lists, structs, binary), which then count as null.
fn prepare(array: &ArrayRef) -> Option<Column> {
    let data_type = array.data_type();
    Some(match data_type {
        t if t.is_integer() => Column::Integers(cast(array, &DataType::Int64).ok()?.as_primitive().clone()),
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            Column::Floats(cast(array, &DataType::Float64).ok()?.as_primitive().clone())
        }
        DataType::Boolean => Column::Booleans(array.as_boolean().clone()),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?;
            Column::Micros(cast(&micros, &DataType::Int64).ok()?.as_primitive().clone())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            Column::Strings(cast(array, &DataType::Utf8).ok()?.as_string::<i32>().clone())
        }
        _ => return None,
    })
}

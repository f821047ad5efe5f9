//! One column's accumulator: picks the statistics by the column's Arrow type, reads a batch's
//! array into them, merges with another accumulator of the same column, and reports a
//! [`FeatureStats`].
//!
//! Integers and floats are numeric (NaN counts as missing, as does an empty CSV field; ±Infinity
//! is present but counted apart from the finite values the statistics describe); Utf8,
//! LargeUtf8 and Utf8View are strings; booleans count their `true`s; timestamps and dates keep
//! their range. Other types (lists, structs, binary) are counted but not described.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use mlspec_spec::kinds::{FeatureSketch, FeatureStats, FeatureType};
use mlspec_spec::newtypes::{Key, ShortText};

use super::numeric::{NonFinite, NumericAcc, OutlierRules};
use super::strings::StringAcc;

/// The input's row numbers of a batch's rows.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Consecutive, from this row.
    From(u64),
    /// These rows (a slice's rows, taken out of a batch).
    Listed(&'a [u64]),
}

impl Rows<'_> {
    /// The input row of the batch's row `i`.
    pub fn at(&self, i: usize) -> u64 {
        match self {
            Rows::From(first) => first + i as u64,
            Rows::Listed(rows) => rows.get(i).copied().unwrap_or_default(),
        }
    }
}

/// What a column holds, as profiled.
#[derive(Clone, Debug)]
enum Values {
    Numeric(NumericAcc),
    Strings(StringAcc),
    Booleans {
        count: u64,
        trues: u64,
    },
    Times {
        count: u64,
        earliest: i64,
        latest: i64,
        gcd: u64,
    },
    Other {
        count: u64,
    },
}

/// The running profile of one column.
#[derive(Clone, Debug)]
pub struct ColumnAcc {
    name: String,
    feature_type: FeatureType,
    rows: u64,
    values: Values,
}

/// The feature type of an Arrow type.
pub(crate) fn feature_type(data_type: &DataType) -> FeatureType {
    match data_type {
        t if t.is_integer() => FeatureType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => FeatureType::Float,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => FeatureType::String,
        DataType::Boolean => FeatureType::Boolean,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => FeatureType::Timestamp,
        _ => FeatureType::Bytes,
    }
}

impl ColumnAcc {
    /// An empty accumulator for a column of this name and type.
    pub fn new(name: &str, data_type: &DataType) -> ColumnAcc {
        let feature_type = feature_type(data_type);
        let values = match feature_type {
            FeatureType::Integer | FeatureType::Float => Values::Numeric(NumericAcc::default()),
            FeatureType::String => Values::Strings(StringAcc::default()),
            FeatureType::Boolean => Values::Booleans { count: 0, trues: 0 },
            FeatureType::Timestamp => Values::Times {
                count: 0,
                earliest: i64::MAX,
                latest: i64::MIN,
                gcd: 0,
            },
            FeatureType::Bytes => Values::Other { count: 0 },
        };
        ColumnAcc {
            name: name.to_owned(),
            feature_type,
            rows: 0,
            values,
        }
    }

    /// Adds a batch's column; `rows` numbers its rows in the input.
    pub fn add(&mut self, array: &ArrayRef, rows: &Rows<'_>) {
        self.rows += array.len() as u64;
        match &mut self.values {
            Values::Numeric(acc) => add_numbers(acc, array, rows),
            Values::Strings(acc) => add_strings(acc, array),
            Values::Booleans { count, trues } => {
                let array = array.as_boolean();
                *count += (array.len() - array.null_count()) as u64;
                *trues += array.true_count() as u64;
            }
            Values::Times {
                count,
                earliest,
                latest,
                gcd,
            } => {
                if let Ok(micros) = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                    .and_then(|a| cast(&a, &DataType::Int64))
                {
                    for value in micros.as_primitive::<Int64Type>().iter().flatten() {
                        *count += 1;
                        *earliest = (*earliest).min(value);
                        *latest = (*latest).max(value);
                        *gcd = greatest_common_divisor(*gcd, value.unsigned_abs());
                    }
                }
            }
            Values::Other { count } => *count += (array.len() - array.null_count()) as u64,
        }
    }

    /// Folds in another accumulator of the same column.
    pub fn merge(&mut self, other: &ColumnAcc) {
        self.rows += other.rows;
        match (&mut self.values, &other.values) {
            (Values::Numeric(a), Values::Numeric(b)) => a.merge(b),
            (Values::Strings(a), Values::Strings(b)) => a.merge(b),
            (Values::Booleans { count, trues }, Values::Booleans { count: c, trues: t }) => {
                *count += c;
                *trues += t;
            }
            (
                Values::Times {
                    count,
                    earliest,
                    latest,
                    gcd,
                },
                Values::Times {
                    count: c,
                    earliest: e,
                    latest: l,
                    gcd: g,
                },
            ) => {
                *count += c;
                *earliest = (*earliest).min(*e);
                *latest = (*latest).max(*l);
                *gcd = greatest_common_divisor(*gcd, *g);
            }
            (Values::Other { count }, Values::Other { count: c }) => *count += c,
            _ => {}
        }
    }

    /// The accumulator a profile document's feature describes. Err: why it cannot be, which
    /// [`super::Profiler::restore`] reports with the file.
    pub(crate) fn restore(feature: &FeatureStats) -> Result<ColumnAcc, String> {
        let empty = FeatureSketch::default();
        let sketch = feature.sketch.as_ref().unwrap_or(&empty);
        let count = feature.count;
        let values = match feature.feature_type {
            FeatureType::Integer | FeatureType::Float => {
                let non_finite = NonFinite {
                    nan: feature.nan_count.unwrap_or(0),
                    positive: feature.positive_infinity_count.unwrap_or(0),
                    negative: feature.negative_infinity_count.unwrap_or(0),
                };
                let finite = count
                    .checked_sub(non_finite.infinite())
                    .ok_or("the infinity counts exceed the count")?;
                Values::Numeric(match &feature.numeric {
                    Some(stats) => NumericAcc::restore(finite, non_finite, stats, sketch)?,
                    None if finite == 0 => NumericAcc::non_finite_only(non_finite),
                    None => return Err("numeric statistics are missing".into()),
                })
            }
            FeatureType::String => Values::Strings(match &feature.string {
                Some(stats) => StringAcc::restore(count, stats, sketch)?,
                None if count == 0 => StringAcc::default(),
                None => return Err("string statistics are missing".into()),
            }),
            FeatureType::Boolean => Values::Booleans {
                count,
                trues: feature.true_count.unwrap_or(0),
            },
            FeatureType::Timestamp => Values::Times {
                count,
                earliest: feature.earliest.map_or(i64::MAX, |t| t.timestamp_micros()),
                latest: feature.latest.map_or(i64::MIN, |t| t.timestamp_micros()),
                // The unit stands for the values' common divisor: merging keeps the coarsest
                // unit both profiles' values are multiples of.
                gcd: feature
                    .granularity
                    .as_ref()
                    .and_then(|g| GRANULARITIES.iter().find(|(name, _)| *name == g.as_str()))
                    .map_or(0, |(_, micros)| *micros),
            },
            FeatureType::Bytes => Values::Other { count },
        };
        Ok(ColumnAcc {
            name: feature.name.as_str().to_owned(),
            feature_type: feature.feature_type,
            rows: count + feature.missing,
            values,
        })
    }

    /// The numeric accumulator, for a numeric column.
    pub fn numeric(&self) -> Option<&NumericAcc> {
        match &self.values {
            Values::Numeric(acc) => Some(acc),
            _ => None,
        }
    }

    /// The numeric accumulator, to record outlier counts in.
    pub fn numeric_mut(&mut self) -> Option<&mut NumericAcc> {
        match &mut self.values {
            Values::Numeric(acc) => Some(acc),
            _ => None,
        }
    }

    /// The string accumulator, for a string column.
    pub fn strings(&self) -> Option<&StringAcc> {
        match &self.values {
            Values::Strings(acc) => Some(acc),
            _ => None,
        }
    }

    /// The share of `true` among present values, for a boolean column.
    pub fn true_share(&self) -> Option<f64> {
        match &self.values {
            Values::Booleans { count, trues } => Some(*trues as f64 / (*count).max(1) as f64),
            _ => None,
        }
    }

    /// The time range in microseconds, for a timestamp column with values.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        match &self.values {
            Values::Times {
                count,
                earliest,
                latest,
                ..
            } if *count > 0 => Some((*earliest, *latest)),
            _ => None,
        }
    }

    /// The share of rows with no value.
    pub fn missing_share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            (self.rows - self.present()) as f64 / self.rows as f64
        }
    }

    /// The share of rows holding ±Infinity (numeric columns; 0 for others).
    pub fn infinite_share(&self) -> f64 {
        match &self.values {
            Values::Numeric(acc) if self.rows > 0 => acc.non_finite().infinite() as f64 / self.rows as f64,
            _ => 0.0,
        }
    }

    /// The column's name and type, which two profiles must share to merge.
    pub fn signature(&self) -> (&str, FeatureType) {
        (&self.name, self.feature_type)
    }

    /// Shifts the row numbers it keeps (when these rows follow `offset` others).
    pub fn shift_rows(&mut self, offset: u64) {
        if let Values::Numeric(acc) = &mut self.values {
            acc.shift_rows(offset);
        }
    }

    fn present(&self) -> u64 {
        match &self.values {
            Values::Numeric(acc) => acc.count() + acc.non_finite().infinite(),
            Values::Strings(acc) => acc.count(),
            Values::Booleans { count, .. } | Values::Times { count, .. } | Values::Other { count } => *count,
        }
    }

    /// The feature's statistics; `None` when its name is not a valid feature key.
    pub fn stats(&self, rules: OutlierRules) -> Option<FeatureStats> {
        let count = self.present();
        let mut stats = FeatureStats {
            name: Key::new(self.name.as_str()).ok()?,
            feature_type: self.feature_type,
            count,
            missing: self.rows - count,
            nan_count: None,
            positive_infinity_count: None,
            negative_infinity_count: None,
            numeric: None,
            string: None,
            true_count: None,
            earliest: None,
            latest: None,
            granularity: None,
            sketch: None,
        };
        match &self.values {
            Values::Numeric(acc) => {
                let non_finite = acc.non_finite();
                let counted = |n: u64| (n > 0).then_some(n);
                stats.nan_count = counted(non_finite.nan);
                stats.positive_infinity_count = counted(non_finite.positive);
                stats.negative_infinity_count = counted(non_finite.negative);
                stats.numeric = acc.stats(rules);
                stats.sketch = stats.numeric.as_ref().map(|_| acc.sketch());
            }
            Values::Strings(acc) => {
                stats.string = acc.stats();
                stats.sketch = stats.string.as_ref().map(|_| acc.sketch());
            }
            Values::Booleans { trues, .. } => stats.true_count = Some(*trues),
            Values::Times {
                count,
                earliest,
                latest,
                gcd,
            } if *count > 0 => {
                stats.earliest = chrono::DateTime::from_timestamp_micros(*earliest);
                stats.latest = chrono::DateTime::from_timestamp_micros(*latest);
                stats.granularity = granularity(*gcd);
            }
            Values::Times { .. } | Values::Other { .. } => {}
        }
        Some(stats)
    }
}

/// A numeric column's values as floats (nulls as nulls; NaN and infinities as they are); `None`
/// for other columns.
pub(crate) fn numbers(array: &ArrayRef) -> Option<Float64Array> {
    let floats = cast(array, &DataType::Float64).ok()?;
    Some(floats.as_primitive::<Float64Type>().clone())
}

fn add_numbers(acc: &mut NumericAcc, array: &ArrayRef, rows: &Rows<'_>) {
    let Some(floats) = numbers(array) else {
        return;
    };
    if floats.null_count() == 0 {
        for (i, value) in floats.values().iter().enumerate() {
            acc.add(*value, rows.at(i));
        }
    } else {
        for (i, value) in floats.iter().enumerate() {
            if let Some(value) = value {
                acc.add(value, rows.at(i));
            }
        }
    }
}

fn add_strings(acc: &mut StringAcc, array: &ArrayRef) {
    let Ok(strings) = cast(array, &DataType::Utf8) else {
        return;
    };
    for value in strings.as_string::<i32>().iter().flatten() {
        acc.add(value);
    }
}

/// Time units, coarsest first, in microseconds.
const GRANULARITIES: &[(&str, u64)] = &[
    ("day", 86_400_000_000),
    ("hour", 3_600_000_000),
    ("minute", 60_000_000),
    ("second", 1_000_000),
    ("millisecond", 1_000),
    ("microsecond", 1),
];

/// The coarsest unit that divides `gcd` (the values' greatest common divisor, in µs); a gcd of 0
/// (every value at the epoch) is a day.
fn granularity(gcd: u64) -> Option<ShortText> {
    let (name, _) = GRANULARITIES.iter().find(|(_, unit)| gcd.is_multiple_of(*unit))?;
    ShortText::new(*name).ok()
}

fn greatest_common_divisor(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { greatest_common_divisor(b, a % b) }
}

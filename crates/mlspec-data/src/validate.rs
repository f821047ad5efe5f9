//! Validation: data against a DataSchema, in one pass, with exact counts and example values.
//!
//! | anomaly | severity | when |
//! |---|---|---|
//! | missing column | error (warning for a deprecated feature) | a required feature has no column |
//! | unexpected column | error, or none with `allowUnknownFeatures` | a column the schema does not list |
//! | type mismatch | error | the column's values are not of the feature's type (integers are accepted as floats) |
//! | too many missing | error | the present fraction is below `presence.minFraction` (NaN is missing, as in profiles) |
//! | out of domain | error | numbers outside `[domain.min, domain.max]` (±Infinity too); NaN with `disallowNan`, ±Infinity with `disallowInfinity` |
//! | new category | error | strings outside `domain.values` |
//! | deprecated data | warning | a deprecated feature is present |
//!
//! Drift and skew anomalies against a baseline come from the drift module (`mlspec data validate
//! --baseline`).

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Schema};
use mlspec_spec::kinds::{Anomaly, AnomalyKind, DataSchemaSpec, FeatureSchema, FeatureType, IssueSeverity};
use mlspec_spec::newtypes::{Key, Text};

use crate::error::{DataError, ErrorKind};
use crate::profile::column::feature_type;

/// Example values kept per anomaly.
const EXAMPLES: usize = 5;

/// Checks one schema feature's column as batches go by.
struct ColumnCheck {
    feature: FeatureSchema,
    index: usize,
    present: u64,
    outside: u64,
    outside_examples: Vec<String>,
    /// NaN values, when the domain disallows them.
    nan: u64,
    /// Infinite values within the bounds, when the domain disallows them.
    infinite: u64,
    new_values: BTreeMap<String, u64>,
    allowed: HashSet<String>,
}

/// The running validation of a table against a schema.
pub struct Validator {
    rows: u64,
    checks: Vec<ColumnCheck>,
    /// Anomalies known from the columns alone (missing, unexpected, type).
    structural: Vec<Anomaly>,
}

/// An anomaly; `None` only if the description cannot be a Text (it is cleaned and cut first, so
/// in practice never).
fn anomaly(feature: Option<&str>, kind: AnomalyKind, severity: IssueSeverity, description: String) -> Option<Anomaly> {
    let cleaned: String = description
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(4096)
        .collect();
    Some(Anomaly {
        feature: feature.and_then(|f| Key::new(f).ok()),
        kind,
        severity,
        description: Text::new(cleaned.as_str()).ok()?,
        count: None,
        value: None,
        threshold: None,
        examples: Vec::new(),
    })
}

/// Whether values of `actual` type are acceptable for a feature of `expected` type.
fn type_fits(expected: FeatureType, actual: FeatureType) -> bool {
    expected == actual || (expected == FeatureType::Float && actual == FeatureType::Integer)
}

impl Validator {
    /// A validator of tables with `columns` against `schema`.
    pub fn new(columns: &Schema, schema: &DataSchemaSpec) -> Validator {
        let mut structural = Vec::new();
        let mut checks = Vec::new();
        for feature in &schema.features {
            let name = feature.name.as_str();
            let Ok(index) = columns.index_of(name) else {
                let required = feature.presence.as_ref().is_none_or(|p| p.required);
                if required {
                    let severity = if feature.deprecated {
                        IssueSeverity::Warning
                    } else {
                        IssueSeverity::Error
                    };
                    structural.extend(anomaly(
                        Some(name),
                        AnomalyKind::MissingColumn,
                        severity,
                        format!("the required column `{name}` is absent"),
                    ));
                }
                continue;
            };
            if feature.deprecated {
                structural.extend(anomaly(
                    Some(name),
                    AnomalyKind::DeprecatedData,
                    IssueSeverity::Warning,
                    format!("`{name}` is deprecated in the schema but present"),
                ));
            }
            let actual = feature_type(columns.field(index).data_type());
            if !type_fits(feature.feature_type, actual) {
                structural.extend(anomaly(
                    Some(name),
                    AnomalyKind::TypeMismatch,
                    IssueSeverity::Error,
                    format!(
                        "`{name}` holds {actual:?} values; the schema says {:?}",
                        feature.feature_type
                    )
                    .to_lowercase(),
                ));
                continue;
            }
            checks.push(ColumnCheck {
                feature: feature.clone(),
                index,
                present: 0,
                outside: 0,
                outside_examples: Vec::new(),
                nan: 0,
                infinite: 0,
                new_values: BTreeMap::new(),
                allowed: feature.domain.iter().flat_map(|d| d.values.iter().cloned()).collect(),
            });
        }
        if !schema.allow_unknown_features {
            for field in columns.fields() {
                if !schema.features.iter().any(|f| f.name.as_str() == field.name()) {
                    structural.extend(anomaly(
                        Some(field.name()),
                        AnomalyKind::UnexpectedColumn,
                        IssueSeverity::Error,
                        format!("the column `{}` is not in the schema", field.name()),
                    ));
                }
            }
        }
        Validator {
            rows: 0,
            checks,
            structural,
        }
    }

    /// Checks a batch.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.rows += batch.num_rows() as u64;
        for check in &mut self.checks {
            let column = batch.column(check.index);
            check.present += present(column);
            check.add(column)?;
        }
        Ok(())
    }

    /// Rows checked.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Every anomaly found.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut found = self.structural.clone();
        for check in &self.checks {
            found.extend(check.anomalies(self.rows));
        }
        found
    }
}

/// The values of a column that are present: not null and, in a float column, not NaN (as a
/// profile counts them).
fn present(column: &ArrayRef) -> u64 {
    let valid = (column.len() - column.null_count()) as u64;
    let nan = match column.data_type() {
        DataType::Float64 => column
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .filter(|v| v.is_nan())
            .count(),
        DataType::Float32 => column
            .as_primitive::<arrow::datatypes::Float32Type>()
            .iter()
            .flatten()
            .filter(|v| v.is_nan())
            .count(),
        DataType::Float16 => column
            .as_primitive::<arrow::datatypes::Float16Type>()
            .iter()
            .flatten()
            .filter(|v| v.is_nan())
            .count(),
        _ => 0,
    };
    valid - nan as u64
}

impl ColumnCheck {
    fn add(&mut self, column: &ArrayRef) -> Result<(), DataError> {
        let Some(domain) = &self.feature.domain else {
            return Ok(());
        };
        let bounded = domain.min.is_some() || domain.max.is_some();
        match self.feature.feature_type {
            FeatureType::Integer | FeatureType::Float if bounded || domain.disallow_nan || domain.disallow_infinity => {
                let numbers = cast(column, &DataType::Float64)
                    .map_err(|e| DataError::new(ErrorKind::WrongType, "validate", e.to_string()))?;
                let (low, high) = (
                    domain.min.unwrap_or(f64::NEG_INFINITY),
                    domain.max.unwrap_or(f64::INFINITY),
                );
                for value in numbers.as_primitive::<Float64Type>().iter().flatten() {
                    if value.is_nan() {
                        self.nan += u64::from(domain.disallow_nan);
                    } else if value < low || value > high {
                        self.outside += 1;
                        if self.outside_examples.len() < EXAMPLES {
                            self.outside_examples.push(value.to_string());
                        }
                    } else if value.is_infinite() && domain.disallow_infinity {
                        self.infinite += 1;
                    }
                }
            }
            FeatureType::String if !domain.values.is_empty() => {
                let strings = cast(column, &DataType::Utf8)
                    .map_err(|e| DataError::new(ErrorKind::WrongType, "validate", e.to_string()))?;
                for value in strings.as_string::<i32>().iter().flatten() {
                    if !self.allowed.contains(value) {
                        *self.new_values.entry(value.to_owned()).or_insert(0) += 1;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn anomalies(&self, rows: u64) -> Vec<Anomaly> {
        let name = self.feature.name.as_str();
        let mut found = Vec::new();
        if let Some(min) = self.feature.presence.as_ref().and_then(|p| p.min_fraction) {
            let fraction = if rows == 0 {
                1.0
            } else {
                self.present as f64 / rows as f64
            };
            if fraction < min {
                let Some(mut a) = anomaly(
                    Some(name),
                    AnomalyKind::TooManyMissing,
                    IssueSeverity::Error,
                    format!(
                        "`{name}` is present in {:.3}% of rows; the schema requires {:.3}%",
                        fraction * 100.0,
                        min * 100.0
                    ),
                ) else {
                    return found;
                };
                a.count = Some(rows - self.present);
                a.value = Some(fraction);
                a.threshold = Some(min);
                found.push(a);
            }
        }
        if self.outside > 0 {
            let domain = self.feature.domain.as_ref();
            let range = format!(
                "[{}, {}]",
                domain.and_then(|d| d.min).map_or("-inf".into(), |v| v.to_string()),
                domain.and_then(|d| d.max).map_or("inf".into(), |v| v.to_string())
            );
            let Some(mut a) = anomaly(
                Some(name),
                AnomalyKind::OutOfDomain,
                IssueSeverity::Error,
                format!("{} values of `{name}` lie outside {range}", self.outside),
            ) else {
                return found;
            };
            a.count = Some(self.outside);
            a.examples = self.outside_examples.clone();
            found.push(a);
        }
        for (count, what, field) in [
            (self.nan, "NaN", "disallowNan"),
            (self.infinite, "infinite", "disallowInfinity"),
        ] {
            if count == 0 {
                continue;
            }
            if let Some(mut a) = anomaly(
                Some(name),
                AnomalyKind::OutOfDomain,
                IssueSeverity::Error,
                format!("{count} values of `{name}` are {what}; the schema's domain says {field}"),
            ) {
                a.count = Some(count);
                found.push(a);
            }
        }
        if !self.new_values.is_empty() {
            let total: u64 = self.new_values.values().sum();
            let mut frequent: Vec<(&String, &u64)> = self.new_values.iter().collect();
            frequent.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let Some(mut a) = anomaly(
                Some(name),
                AnomalyKind::NewCategory,
                IssueSeverity::Error,
                format!(
                    "{total} values of `{name}` are not in its domain ({} new categories)",
                    self.new_values.len()
                ),
            ) else {
                return found;
            };
            a.count = Some(total);
            a.examples = frequent.iter().take(EXAMPLES).map(|(v, _)| (*v).clone()).collect();
            found.push(a);
        }
        found
    }
}

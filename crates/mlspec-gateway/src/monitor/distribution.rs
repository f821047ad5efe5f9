//! Drift of one feature's values over a window, measured as `mlspec data drift` measures it: the
//! window's values become a one-column arrow batch typed as the baseline types the feature, are
//! profiled, and the profile is compared with the baseline's ([`mlspec_data::drift::compare`]).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use mlspec_data::drift::{self, FeatureDrift, Thresholds};
use mlspec_data::profile::Profiler;
use mlspec_spec::kinds::{FeatureType, MAX_OBSERVATION_EXAMPLES};

use crate::protocol::Scalar;

use super::measure::Outcome;
use super::policy::{Distance, is_numeric};

/// What the window is compared with: the baseline profile, or a reference window of the route.
#[derive(Clone, Debug)]
pub(super) struct Reference {
    pub profile: Arc<Profiler>,
    pub feature_type: FeatureType,
    /// The mean of the feature (numeric features), for evidence.
    pub mean: Option<f64>,
}

impl Reference {
    /// The reference made of a window's `values`, typed as most of its values are.
    pub(super) fn of_window(feature: &str, values: &[Scalar]) -> Result<Reference, String> {
        let feature_type = inferred_type(values);
        Ok(Reference {
            profile: Arc::new(profile(feature, feature_type, values)?),
            feature_type,
            mean: mean(feature_type, values),
        })
    }
}

/// The window's `values` of `feature` against `reference`, as `metric` (by type when `None`).
pub(super) fn compare(feature: &str, values: &[Scalar], reference: &Reference, metric: Option<Distance>) -> Outcome {
    let numeric = is_numeric(reference.feature_type);
    let metric = metric.unwrap_or(Distance::default_for(numeric));
    if !metric.fits(numeric) {
        return Outcome::Skipped(format!(
            "`{}` does not apply to `{feature}`, whose reference values are {}",
            metric.name(),
            if numeric { "numeric" } else { "categorical" }
        ));
    }
    let current = match profile(feature, reference.feature_type, values) {
        Ok(current) => current,
        Err(why) => return Outcome::Skipped(why),
    };
    let found = drift::compare(&reference.profile, &current, Thresholds::default(), |_| None)
        .into_iter()
        .find(|d| d.feature == feature);
    let Some(found) = found else {
        return Outcome::Skipped(format!(
            "the reference profile of `{feature}` cannot be compared with the window's"
        ));
    };
    let value = match metric {
        Distance::Jsd | Distance::Linf => Some(found.distance),
        Distance::Psi => found.psi,
        Distance::Ks => found.ks,
        Distance::Missing => Some((found.missing_after - found.missing_before).abs()),
    };
    match value.filter(|v| v.is_finite()) {
        Some(value) => Outcome::Observed {
            value,
            samples: values.len() as u64,
            examples: evidence(&found, reference, mean(reference.feature_type, values)),
        },
        None => Outcome::Skipped(format!("no value of `{feature}` was present in the window")),
    }
}

/// New categories, the move of the mean, the move of the missing share.
fn evidence(found: &FeatureDrift, reference: &Reference, mean_now: Option<f64>) -> Vec<String> {
    let mut examples: Vec<String> = Vec::new();
    if let (Some(before), Some(after)) = (reference.mean, mean_now) {
        examples.push(format!("mean {} → {}", rounded(before), rounded(after)));
    }
    if found.missing_before != found.missing_after {
        examples.push(format!(
            "missing {:.1}% → {:.1}%",
            found.missing_before * 100.0,
            found.missing_after * 100.0
        ));
    }
    let room = MAX_OBSERVATION_EXAMPLES.saturating_sub(examples.len());
    examples.extend(
        found
            .new_categories
            .iter()
            .take(room)
            .map(|c| format!("new category `{c}`")),
    );
    examples
}

/// The type a reference window's values are read as: numbers when most present values are
/// numbers, booleans when most are booleans, text otherwise.
fn inferred_type(values: &[Scalar]) -> FeatureType {
    let count = |f: fn(&Scalar) -> bool| values.iter().filter(|v| f(v)).count();
    let (numbers, texts, booleans) = (
        count(|v| matches!(v, Scalar::Number(_))),
        count(|v| matches!(v, Scalar::Text(_))),
        count(|v| matches!(v, Scalar::Bool(_))),
    );
    if numbers >= texts && numbers >= booleans {
        FeatureType::Float
    } else if booleans > texts {
        FeatureType::Boolean
    } else {
        FeatureType::String
    }
}

/// The profile of one feature's values, cast to `feature_type`.
fn profile(feature: &str, feature_type: FeatureType, values: &[Scalar]) -> Result<Profiler, String> {
    let column = typed(feature_type, values);
    let schema = Arc::new(Schema::new(vec![Field::new(feature, column.data_type().clone(), true)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![column])
        .map_err(|e| format!("cannot build the window's batch of `{feature}`: {e}"))?;
    let mut profiler = Profiler::new(&schema, &[]).map_err(|e| format!("cannot profile `{feature}`: {e}"))?;
    profiler
        .add(&batch, 0)
        .map_err(|e| format!("cannot profile `{feature}`: {e}"))?;
    Ok(profiler)
}

/// The values as an arrow array of the baseline's type; a value that cannot be cast is null.
fn typed(feature_type: FeatureType, values: &[Scalar]) -> ArrayRef {
    match feature_type {
        FeatureType::Integer => Arc::new(values.iter().map(integer).collect::<Int64Array>()),
        FeatureType::Float => Arc::new(values.iter().map(float).collect::<Float64Array>()),
        FeatureType::Boolean => Arc::new(values.iter().map(boolean).collect::<BooleanArray>()),
        _ => Arc::new(values.iter().map(text).collect::<StringArray>()),
    }
}

/// A number (a numeric text, a boolean as 0/1); NaN and infinities are kept for the profile to
/// count.
fn float(value: &Scalar) -> Option<f64> {
    match value {
        Scalar::Number(n) => Some(*n),
        Scalar::Text(t) => t.trim().parse().ok(),
        Scalar::Bool(b) => Some(f64::from(u8::from(*b))),
        Scalar::Missing => None,
    }
}

/// A whole number: a number rounded to the nearest (JSON carries `41` as `41.0` in FP64 tensors).
fn integer(value: &Scalar) -> Option<i64> {
    let n = float(value)?.round();
    // `as` saturates; the range check keeps values beyond i64 out rather than clamped.
    (n.is_finite() && n.abs() < 9.2e18).then_some(n as i64)
}

fn boolean(value: &Scalar) -> Option<bool> {
    match value {
        Scalar::Bool(b) => Some(*b),
        Scalar::Number(n) if *n == 0.0 || *n == 1.0 => Some(*n == 1.0),
        Scalar::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn text(value: &Scalar) -> Option<String> {
    match value {
        Scalar::Text(t) => Some(t.clone()),
        Scalar::Number(n) => Some(format!("{n}")),
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Missing => None,
    }
}

/// The mean of the finite values as typed (integers rounded), for numeric types.
fn mean(feature_type: FeatureType, values: &[Scalar]) -> Option<f64> {
    let numbers: Vec<f64> = match feature_type {
        FeatureType::Integer => values.iter().filter_map(integer).map(|n| n as f64).collect(),
        FeatureType::Float => values.iter().filter_map(float).filter(|n| n.is_finite()).collect(),
        _ => return None,
    };
    (!numbers.is_empty()).then(|| numbers.iter().sum::<f64>() / numbers.len() as f64)
}

/// A number to three decimals, without trailing zeros, for evidence.
fn rounded(value: f64) -> String {
    format!("{}", (value * 1_000.0).round() / 1_000.0)
}

//! MLflow's limits (`mlflow/utils/validation.py`), checked before anything is written, each a
//! 400 INVALID_PARAMETER_VALUE naming the value and the limit — MLflow's own server once
//! answered oversized values with a 5xx that made clients retry for minutes (mlflow#1870).

use mlspec_spec::newtypes::Key;

use crate::error::{MlflowError, Result};
use crate::wire::Int64;

/// Longest param value.
pub const PARAM_VALUE: usize = 6000;
/// Longest tag value.
pub const TAG_VALUE: usize = 8000;
/// Longest experiment name.
pub const EXPERIMENT_NAME: usize = 500;
/// Longest dataset name.
pub const DATASET_NAME: usize = 500;
/// Longest dataset digest.
pub const DATASET_DIGEST: usize = 36;
/// Longest dataset source, schema or profile.
pub const DATASET_SOURCE: usize = 65_536;
/// Most metrics in one log-batch.
pub const BATCH_METRICS: usize = 1000;
/// Most params in one log-batch.
pub const BATCH_PARAMS: usize = 100;
/// Most tags in one log-batch.
pub const BATCH_TAGS: usize = 100;
/// Most entities in one log-batch.
pub const BATCH_TOTAL: usize = 1000;

/// A metric, param or tag key, as an MLSpec key (MLflow's rule: at most 250 characters from
/// letters, digits and `_ - . / : space`).
pub fn key(key: &str, what: &str) -> Result<Key> {
    Key::new(key).map_err(|_| {
        MlflowError::invalid(format!(
            "Invalid {what} name: '{}'. Names may only contain alphanumerics, underscores (_), dashes (-), \
             periods (.), spaces ( ), colons (:) and slashes (/), and be at most 250 characters long.",
            shorten(key)
        ))
    })
}

/// A tag value within MLflow's limit.
pub fn tag_value(value: &str) -> Result<String> {
    text(value, TAG_VALUE, "tag value").map(str::to_owned)
}

/// `value` if it has at most `max` characters.
pub fn text<'a>(value: &'a str, max: usize, what: &str) -> Result<&'a str> {
    let length = value.chars().count();
    if length > max {
        return Err(MlflowError::invalid(format!(
            "{what} '{}' had length {length}, which exceeded length limit of {max}",
            shorten(value)
        )));
    }
    Ok(value)
}

/// A page size: `default` when absent, at least 1 and at most `max`.
pub fn max_results(given: Option<Int64>, default: usize, max: usize) -> Result<usize> {
    match given {
        None => Ok(default),
        Some(Int64(n)) if n >= 1 && (n as u64) <= max as u64 => Ok(n as usize),
        Some(Int64(n)) => Err(MlflowError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be between 1 and {max}."
        ))),
    }
}

/// The first 100 characters of `text`, for messages.
pub fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_400s() {
        assert!(key("val/loss: top 1", "metric").is_ok());
        assert!(key("a\u{0}b", "metric").is_err());
        assert!(key(&"k".repeat(251), "param").is_err());
        assert!(tag_value(&"v".repeat(8001)).is_err());
        assert!(max_results(Some(Int64(0)), 10, 100).is_err());
        assert_eq!(max_results(None, 10, 100).unwrap(), 10);
    }
}

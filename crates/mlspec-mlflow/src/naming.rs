//! Names, ids and times between MLflow and MLSpec, and lookups by key in a document's tags and
//! labels.
//!
//! MLflow names are free text ("my experiment/v2"), case-sensitive; an MLSpec name is
//! `[A-Za-z0-9][A-Za-z0-9_-]*`, unique ignoring case. An MLflow name becomes the document name
//! itself when it already is a valid MLSpec name, else (or when another case of it is taken) its
//! sanitized form plus 8 hex digits of the SHA-256 of the exact text — so a name maps to at most
//! two candidates, both found without a scan, and the exact text is kept in the document.
//!
//! Ids: MLflow's run ids are 32 hex digits and its logged-model ids `m-` and 32 hex digits;
//! both are valid MLSpec object ids and are used as such (a run's document is named by its id,
//! as MLflow run names repeat). Experiment ids are decimal in MLflow (`"0"` is the Default
//! experiment); new ones here are the creation time in microseconds, decimal too.

use chrono::{DateTime, Utc};
use mlspec_spec::document::Labels;
use mlspec_spec::values::Tags;
use mlspec_spec::{Name, ObjectId};
use sha2::{Digest as _, Sha256};

use crate::error::{MlflowError, Result};

/// The document names an MLflow name may be stored under, the plain one first.
pub fn candidate_names(text: &str) -> Vec<Name> {
    let mut names = Vec::with_capacity(2);
    if let Ok(plain) = Name::new(text) {
        names.push(plain);
    }
    names.extend(hashed_name(text));
    names
}

/// The sanitized form of `text` with 8 hex digits of its SHA-256 appended.
pub fn hashed_name(text: &str) -> Option<Name> {
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let stem = Name::sanitized_text(text, 200);
    let stem = stem.trim_end_matches(['-', '_']);
    let name = if stem.is_empty() {
        format!("x-{}", &hash[..8])
    } else {
        format!("{stem}-{}", &hash[..8])
    };
    Name::new(name).ok()
}

/// The value of the tag `key`.
pub fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v.as_str())
}

/// The value of the label `key`.
pub fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v.as_str())
}

/// A name or id as an object id, or a 404 saying nothing has it (an id MLSpec cannot hold was
/// never handed out).
pub fn object_id(id: &str, what: &str) -> Result<ObjectId> {
    ObjectId::new(id).map_err(|_| MlflowError::not_found(format!("{what} with id={id} not found")))
}

/// A new run id: 32 hex digits, time-ordered.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A new logged-model id: `m-` and 32 hex digits.
pub fn new_model_id() -> String {
    format!("m-{}", uuid::Uuid::now_v7().simple())
}

/// A new experiment id: decimal, from the clock in microseconds.
pub fn new_experiment_id() -> String {
    Utc::now().timestamp_micros().to_string()
}

/// Milliseconds since the epoch as a time, or a 400 naming the field.
pub fn time_of(ms: i64, field: &str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| MlflowError::invalid(format!("`{field}` {ms} is not a time")))
}

/// A time as milliseconds since the epoch.
pub fn millis(time: &DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// An RFC 3339 time as milliseconds since the epoch (0 when it cannot be read).
pub fn millis_of_text(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp_millis())
}

/// Now, in milliseconds since the epoch.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_map_to_themselves_first() {
        let names = candidate_names("exp-1");
        assert_eq!(names[0].as_str(), "exp-1");
        assert!(names[1].as_str().starts_with("exp-1-"));
    }

    #[test]
    fn free_text_is_sanitized_and_hashed() {
        let names = candidate_names("/Users/ann/my experiment");
        assert_eq!(names.len(), 1);
        assert!(
            names[0].as_str().starts_with("Users-ann-my-experiment-"),
            "{}",
            names[0]
        );
        assert_ne!(candidate_names("a b")[0], candidate_names("a-b")[1]);
        assert!(hashed_name("///").is_some_and(|n| n.as_str().starts_with("x-")));
    }

    #[test]
    fn ids_are_valid_object_ids() {
        assert!(ObjectId::new(new_run_id()).is_ok());
        assert!(ObjectId::new(new_model_id()).is_ok());
        assert!(ObjectId::new(new_experiment_id()).is_ok());
        assert_eq!(new_run_id().len(), 32);
    }
}

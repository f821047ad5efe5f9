//! The queryable fields of an object, kept in the `fields` table so that `list --where` and
//! `--order-by` read an index instead of parsing documents. Like labels and edges, the table is
//! derived from the events and rebuilt the same way by `store verify`'s replay.
//!
//! | key             | value                                                              |
//! |-----------------|--------------------------------------------------------------------|
//! | `metrics.KEY`   | the scalar metric, of the latest step (as criteria read it)         |
//! | `params.KEY`    | a parameter: a number, or text                                     |
//! | `spec.FIELD`    | a top-level scalar of the spec: a number, or text (`true`/`false`) |
//!
//! Metrics and parameters come from the kinds that record results: Run, Training, Evaluation
//! and TestReport. A field an update drops keeps its row with both values NULL (rows are never
//! deleted), which no comparison matches.

use mlspec_spec::Document;
use mlspec_spec::expr::Record;
use mlspec_spec::expr::record::Scalar;
use serde_json::Value;

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldValue {
    Num(f64),
    Text(String),
}

/// The fields of one object: (key, value), keys unique.
pub(crate) type Fields = Vec<(String, FieldValue)>;

/// Every queryable field of `document`.
pub(crate) fn fields_of(document: &Document) -> Fields {
    let mut fields = Fields::new();
    if let Some(record) = Record::from_document(document) {
        for (key, value) in &record.metrics {
            fields.push((format!("metrics.{key}"), FieldValue::Num(*value)));
        }
        for (key, value) in &record.params {
            let value = match value {
                Scalar::Num(n) => FieldValue::Num(*n),
                Scalar::Str(s) => FieldValue::Text(s.clone()),
            };
            fields.push((format!("params.{key}"), value));
        }
    }
    if let Ok(Value::Object(spec)) = serde_json::to_value(&document.spec) {
        for (key, value) in spec {
            let value = match value {
                Value::Number(n) => n.as_f64().map(FieldValue::Num),
                Value::String(s) => Some(FieldValue::Text(s)),
                Value::Bool(b) => Some(FieldValue::Text(b.to_string())),
                _ => None,
            };
            if let Some(value) = value {
                fields.push((format!("spec.{key}"), value));
            }
        }
    }
    fields
}

impl FieldValue {
    /// The value the (num, text) columns hold.
    pub(crate) fn from_columns(num: Option<f64>, text: Option<String>) -> FieldValue {
        match (num, text) {
            (Some(n), _) => FieldValue::Num(n),
            (None, t) => FieldValue::Text(t.unwrap_or_default()),
        }
    }

    /// The (num, text) columns.
    pub(crate) fn columns(&self) -> (Option<f64>, Option<String>) {
        match self {
            FieldValue::Num(n) => (Some(*n), None),
            FieldValue::Text(t) => (None, Some(t.clone())),
        }
    }
}

//! The published JSON Schemas (draft 2020-12), one per kind, generated from the Rust types.
//!
//! Each schema describes a whole document of its kind, has a stable `$id`
//! (`https://mlspec.org/schemas/v1/<slug>.json`) and is committed under `schemas/v1/`; a test
//! fails when the committed files drift from the types.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::document::Metadata;
use crate::kind::Kind;

/// The base of every schema `$id`.
pub const SCHEMA_BASE: &str = "https://mlspec.org/schemas/v1/";

/// The `$id` of a kind's schema.
pub fn schema_id(kind: Kind) -> String {
    format!("{SCHEMA_BASE}{}.json", kind.slug())
}

/// The JSON Schema of a whole document of `kind`.
pub fn document_schema(kind: Kind) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let metadata = generator.subschema_for::<Metadata>();
    let spec = kind.spec_schema(&mut generator);
    let definitions = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id(kind),
        "title": kind.as_str(),
        "description": kind.summary(),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": "mlspec/v1", "description": "The document format version."},
            "kind": {"const": kind.as_str()},
            "metadata": metadata,
            "spec": spec,
        },
        "$defs": definitions,
    })
}

/// A compiled schema with the source it was compiled from.
pub struct CompiledSchema {
    /// The schema document.
    pub source: Value,
    /// Its validator.
    pub validator: jsonschema::Validator,
}

/// The compiled schema of `kind` (compiled once per process).
pub fn compiled(kind: Kind) -> Result<&'static CompiledSchema, String> {
    static COMPILED: OnceLock<Result<Vec<CompiledSchema>, String>> = OnceLock::new();
    let all = COMPILED.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|&kind| {
                let source = document_schema(kind);
                jsonschema::validator_for(&source)
                    .map(|validator| CompiledSchema { source, validator })
                    .map_err(|e| format!("internal error: the {kind} schema does not compile: {e}"))
            })
            .collect()
    });
    let all = all.as_ref().map_err(Clone::clone)?;
    let index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    all.get(index)
        .ok_or_else(|| format!("internal error: no schema for {kind}"))
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn to_pretty_json(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

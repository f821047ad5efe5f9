//! The reference page of each kind (`docs/spec/kinds/<slug>.md`), generated from the published
//! schema so that it cannot drift from the types: summary, rules, fields and the example.

use std::fmt::Write as _;

use serde_json::Value;

use crate::kind::Kind;
use crate::schema::{document_schema, schema_id};

/// The Markdown page of `kind`, embedding `example` (the kind's example document).
pub fn kind_page(kind: Kind, example: &str) -> String {
    let schema = document_schema(kind);
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let spec_ref = schema
        .pointer("/properties/spec/$ref")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = resolve(&defs, spec_ref).cloned().unwrap_or(Value::Null);
    let stage = match kind.stage() {
        0 => "all stages".to_owned(),
        n => format!("stage {n}"),
    };
    let mut page = String::new();
    let _ = writeln!(
        page,
        "<!-- Generated from the Rust types by `MLSPEC_UPDATE_SCHEMAS=1 cargo test`; do not edit. -->"
    );
    let _ = writeln!(page, "# {kind}\n\n{}\n", kind.summary());
    let _ = writeln!(
        page,
        "Lifecycle: {stage}. Schema: [`{}`](../../../schemas/v1/{}.json). Template: `mlspec new {kind}`.\n",
        schema_id(kind),
        kind.slug()
    );
    let description = spec.get("description").and_then(Value::as_str).unwrap_or("");
    let (about, rules) = description.split_once("Rules:").unwrap_or((description, ""));
    if !about.trim().is_empty() {
        let _ = writeln!(page, "{}\n", about.trim());
    }
    if !rules.trim().is_empty() {
        let _ = writeln!(
            page,
            "## Rules\n\nBesides its schema, a {kind} must satisfy: {}\n",
            rules.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let _ = writeln!(page, "## Fields of `spec`\n");
    fields_table(&mut page, &defs, &spec, "", 0);
    let _ = writeln!(
        page,
        "\n`metadata` is common to every kind; see [the overview](../overview.md#metadata).\n"
    );
    let _ = writeln!(page, "## Example\n\n```yaml\n{}```", example);
    page
}

fn resolve<'a>(defs: &'a Value, reference: &str) -> Option<&'a Value> {
    defs.get(reference.strip_prefix("#/$defs/")?)
}

/// The type of a property, for people: `string (Name)`, `list of Port`, …
fn type_label(property: &Value) -> String {
    if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
        return reference.trim_start_matches("#/$defs/").to_owned();
    }
    if let Some(alternatives) = property.get("anyOf").and_then(Value::as_array) {
        let labels: Vec<String> = alternatives
            .iter()
            .filter(|a| a.get("type") != Some(&Value::from("null")))
            .map(type_label)
            .collect();
        return labels.join(" or ");
    }
    match property.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!("list of {}", property.get("items").map(type_label).unwrap_or_default())
        }
        Some(Value::String(t)) if t == "object" => match property.get("additionalProperties") {
            Some(values) if values.is_object() => format!("map to {}", type_label(values)),
            _ => "map".to_owned(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    }
}

/// One row per property; nested object types are expanded below their field (two levels).
fn fields_table(page: &mut String, defs: &Value, object: &Value, prefix: &str, depth: usize) {
    if depth == 0 {
        let _ = writeln!(page, "| field | type | required | description |\n|---|---|---|---|");
    }
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let description = property
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        let path = format!("{prefix}{name}");
        let required = if required.contains(&name.as_str()) { "yes" } else { "" };
        let _ = writeln!(
            page,
            "| `{path}` | {} | {required} | {description} |",
            type_label(property).replace('|', "\\|")
        );
        let nested = property
            .get("$ref")
            .or_else(|| property.pointer("/items/$ref"))
            .and_then(Value::as_str)
            .and_then(|r| resolve(defs, r))
            .filter(|d| d.get("properties").is_some());
        if let Some(nested) = nested.filter(|_| depth < 2) {
            let marker = if property.get("items").is_some() { "[]." } else { "." };
            fields_table(page, defs, nested, &format!("{path}{marker}"), depth + 1);
        }
    }
}

//! The committed schemas and kind pages equal what the types generate; every example is valid,
//! round-trips, and validates against the published schema with an independent validator.

use std::path::{Path, PathBuf};

use mlspec_spec::Kind;
use mlspec_spec::docs::kind_page;
use mlspec_spec::schema::{document_schema, to_pretty_json};
use mlspec_spec::validate::{Format, Limits, validate_text};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(kind: Kind) -> String {
    let path = workspace().join(format!("docs/spec/examples/{}.yaml", kind.slug()));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares a committed file with its generated content; `MLSPEC_UPDATE_SCHEMAS=1` rewrites it.
fn check_current(path: PathBuf, generated: &str) -> Option<String> {
    if std::env::var_os("MLSPEC_UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(path.parent()?).ok()?;
        std::fs::write(&path, generated).ok()?;
        return None;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    (committed != generated).then(|| path.display().to_string())
}

#[test]
fn committed_schemas_and_pages_are_current() {
    let mut stale = Vec::new();
    for &kind in Kind::ALL {
        let schema = to_pretty_json(&document_schema(kind));
        stale.extend(check_current(
            workspace().join(format!("schemas/v1/{}.json", kind.slug())),
            &schema,
        ));
        let page = kind_page(kind, &example(kind));
        stale.extend(check_current(
            workspace().join(format!("docs/spec/kinds/{}.md", kind.slug())),
            &page,
        ));
    }
    assert!(
        stale.is_empty(),
        "out of date (run `MLSPEC_UPDATE_SCHEMAS=1 cargo test`): {stale:?}"
    );
}

#[test]
fn every_example_is_valid_round_trips_and_matches_the_published_schema() {
    for &kind in Kind::ALL {
        let text = example(kind);
        let outcome = validate_text(&text, Format::Yaml, &Limits::default());
        assert!(outcome.diagnostics.is_empty(), "{kind}: {:#?}", outcome.diagnostics);
        assert_eq!(outcome.documents.len(), 1, "{kind}");
        let document = &outcome.documents[0];
        assert_eq!(document.kind(), kind);

        let json = serde_json::to_value(document).unwrap();
        let validator = jsonschema::validator_for(&document_schema(kind)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{kind}: the published schema rejects the example: {errors:?}"
        );

        let again: mlspec_spec::Document = serde_json::from_value(json).unwrap();
        assert_eq!(&again, document, "{kind} does not round-trip through JSON");
        let yaml = serde_saphyr::to_string(document).unwrap();
        let reparsed = validate_text(&yaml, Format::Yaml, &Limits::default());
        assert_eq!(
            reparsed.documents.first(),
            Some(document),
            "{kind} does not round-trip through YAML"
        );
    }
}

#[test]
fn every_schema_has_a_stable_id_and_is_a_valid_2020_12_schema() {
    for &kind in Kind::ALL {
        let schema = document_schema(kind);
        assert_eq!(
            schema["$id"],
            format!("https://mlspec.org/schemas/v1/{}.json", kind.slug())
        );
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{kind} schema is not a valid JSON Schema"
        );
    }
}

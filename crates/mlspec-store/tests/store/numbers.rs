//! Numbers at the document boundary, on both backends: a document of any kind with any number in
//! any numeric field (non-finite, ±0, subnormal, 1e308, integers beyond i64/u64/f64 precision)
//! is either refused by `validate` and by `apply` with the same error, or passes `validate` and
//! round-trips through the store byte for byte, with `store verify` clean.

use mlspec_spec::{Document, Format, Limits, validate_text};
use mlspec_store::{ApplyAction, Selector};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::support::*;

/// Cases per backend.
const CASES: usize = 96;

/// The documents of every file in a directory of the repository, in file order.
fn documents_in(dir: &str) -> Vec<Document> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|path| docs(&std::fs::read_to_string(path).unwrap()))
        .collect()
}

/// JSON Pointers of every number in a document.
fn number_pointers(value: &Value, pointer: String, found: &mut Vec<String>) {
    match value {
        Value::Number(_) => found.push(pointer),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                number_pointers(item, format!("{pointer}/{i}"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                number_pointers(
                    item,
                    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1")),
                    found,
                );
            }
        }
        _ => {}
    }
}

/// A number as YAML writes it: any f64 (NaN and infinities as `.nan`, `.inf`, `-.inf`), the
/// extremes, and integers no machine type holds exactly.
fn number_literal() -> impl Strategy<Value = String> {
    let float = any::<f64>().prop_map(|v| {
        if v.is_nan() {
            ".nan".to_owned()
        } else if v.is_infinite() {
            if v > 0.0 { ".inf" } else { "-.inf" }.to_owned()
        } else {
            format!("{v:e}")
        }
    });
    prop_oneof![
        float,
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        prop::sample::select(vec![
            ".nan",
            ".inf",
            "-.inf",
            "1e308",
            "-1e308",
            "1.7976931348623157e308",
            "1e309",
            "-0.0",
            "0.0",
            "5e-324",
            "2.2250738585072014e-308",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
        ])
        .prop_map(str::to_owned),
    ]
}

/// The document's text with the number at `pointer` replaced by `literal`.
fn with_number(document: &Document, pointer: &str, literal: &str) -> String {
    let mut value = serde_json::to_value(document).unwrap();
    *value.pointer_mut(pointer).unwrap() = Value::String("@@NUMBER@@".into());
    // JSON is YAML: the literal is spliced in as a plain YAML scalar.
    serde_json::to_string(&value)
        .unwrap()
        .replace("\"@@NUMBER@@\"", literal)
}

conformance! {
async fn every_number_is_refused_by_validate_and_apply_or_round_trips(store) {
    // The quickstart applies as a whole: its documents round-trip. The per-kind examples cover
    // every kind, but refer to objects outside their set: the store may refuse them for that.
    let base = documents_in("examples/quickstart");
    store.apply(&base, "test").await.unwrap();
    let examples = documents_in("docs/spec/examples");
    let candidates: Vec<(bool, &Document)> = base
        .iter()
        .map(|d| (true, d))
        .chain(examples.iter().map(|d| (false, d)))
        .collect();
    let mut runner = TestRunner::deterministic();
    let (mut refused_by_both, mut round_tripped) = (0, 0);
    for case in 0..CASES {
        let (resolvable, document) = candidates[case % candidates.len()];
        let mut pointers = Vec::new();
        number_pointers(&serde_json::to_value(document).unwrap(), String::new(), &mut pointers);
        if pointers.is_empty() {
            continue;
        }
        let pick = (0..pointers.len()).new_tree(&mut runner).unwrap().current();
        let literal = number_literal().new_tree(&mut runner).unwrap().current();
        let text = with_number(document, &pointers[pick], &literal);
        let shown = format!("{} at {} = {literal}", document.kind(), pointers[pick]);
        let outcome = validate_text(&text, Format::Yaml, &Limits::default());
        // What a program could hand the store without validating: the typed parse.
        let typed: Option<Document> = serde_saphyr::from_str(&text).ok();
        if outcome.has_errors() {
            let Some(typed) = typed else { continue };
            let error = store.apply(&[typed], "test").await.expect_err(&shown);
            if !resolvable && !error.message.contains("cannot be recorded") {
                continue;
            }
            let said = outcome.diagnostics.iter().any(|d| {
                let at = d.path.as_deref().map(|p| format!(" at {p}")).unwrap_or_default();
                error.message.ends_with(&format!("{at}: {}", d.message))
            });
            assert!(said, "{shown}: the store said {error}, validate said {:#?}", outcome.diagnostics);
            refused_by_both += 1;
            continue;
        }
        let valid = outcome.documents.into_iter().next().expect(&shown);
        let report = match store.apply(std::slice::from_ref(&valid), "test").await {
            Ok(report) => report,
            Err(error) if !resolvable && !error.message.contains("cannot be recorded") => continue,
            Err(error) => panic!("{shown}: validate accepted it, the store refused it: {error}"),
        };
        let id = mlspec_spec::ObjectId::new(report.results[0].id.as_str()).unwrap();
        let stored = store.get(&Selector::Id(id)).await.expect(&shown).document;
        let mut expected = valid.clone();
        expected.metadata.id = stored.metadata.id.clone();
        expected.metadata.created_at = stored.metadata.created_at;
        expected.metadata.created_by = stored.metadata.created_by.clone();
        assert_eq!(
            serde_json::to_string(&stored).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "{shown}"
        );
        assert_eq!(
            mlspec_store::content_digest(&stored).unwrap(),
            mlspec_store::content_digest(&expected).unwrap()
        );
        let again = store.apply(&[stored], "test").await.expect(&shown);
        assert_eq!(again.results[0].action, ApplyAction::Unchanged, "{shown}");
        round_tripped += 1;
    }
    assert!(refused_by_both > 5 && round_tripped > 5, "{refused_by_both} refused, {round_tripped} round-tripped");
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

// Documents too large for `validate` are refused by `apply` with validate's error.
async fn apply_refuses_documents_over_the_validate_limit(store) {
    let limit = Limits::default().max_bytes as usize;
    let mut value = serde_json::to_value(&docs(&run_with("big", "params: {blob: x}"))[0]).unwrap();
    value["spec"]["params"]["blob"] = Value::String("x".repeat(limit));
    let typed: Document = serde_json::from_value(value).unwrap();
    let error = store.apply(&[typed], "test").await.unwrap_err();
    let expected = mlspec_spec::validate::too_large(0, &Limits::default()).message;
    let expected_tail = expected.split("; ").nth(1).unwrap();
    assert!(error.message.contains("the input is") && error.message.ends_with(expected_tail), "{error}");
    assert_eq!(store.scalar("SELECT COUNT(*) FROM objects WHERE kind = 'Run' AND name = 'big'").await, 0);
}
}

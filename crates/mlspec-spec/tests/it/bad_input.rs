//! Bad input is refused with a located message, bounded memory and no panic.

use mlspec_spec::validate::{Format, Limits, validate_bytes, validate_text};

fn messages(text: &str, format: Format) -> Vec<String> {
    let outcome = validate_text(text, format, &Limits::default());
    assert!(outcome.has_errors(), "accepted: {text}");
    outcome.diagnostics.into_iter().map(|d| d.message).collect()
}

const VALID: &str = "apiVersion: mlspec/v1\nkind: Experiment\nmetadata: {name: e}\nspec: {}\n";

#[test]
fn empty_and_comment_only_inputs_hold_no_document() {
    for text in ["", "   \n", "# only a comment\n", "---\n"] {
        assert_eq!(
            messages(text, Format::Yaml),
            ["the input holds no document"],
            "{text:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_located() {
    let mut bytes = VALID.as_bytes().to_vec();
    bytes.splice(27..27, [0xff, 0xfe]);
    let outcome = validate_bytes(&bytes, None, Some("x.yaml"), &Limits::default());
    let d = &outcome.diagnostics[0];
    assert_eq!(d.message, "invalid UTF-8 at byte offset 27");
    assert_eq!(d.position.map(|p| (p.line, p.column)), Some((2, 6)));
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = (b'a' + (i - 1) as u8) as char;
        let name = (b'a' + i as u8) as char;
        text.push_str(&format!(
            "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    let m = messages(&text, Format::Yaml);
    assert!(m[0].starts_with("invalid YAML"), "{m:?}");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(messages(&deep, Format::Yaml)[0].starts_with("invalid YAML"));
    assert!(messages(&deep, Format::Json)[0].starts_with("invalid JSON"));
}

#[test]
fn duplicate_keys_are_refused_in_yaml_and_json() {
    let yaml = "apiVersion: mlspec/v1\nkind: Experiment\nkind: Run\nmetadata: {name: e}\nspec: {}\n";
    assert!(messages(yaml, Format::Yaml)[0].contains("duplicate"));
    let json = r#"{"apiVersion":"mlspec/v1","kind":"Experiment","metadata":{"name":"e","labels":{"a":"1","a":"2"}},"spec":{}}"#;
    assert!(
        messages(json, Format::Json).iter().any(|m| m.contains("duplicate")),
        "{:?}",
        messages(json, Format::Json)
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let outcome = validate_text(VALID, Format::Yaml, &limits);
    assert!(
        outcome.diagnostics[0].message.starts_with("the input is"),
        "{:?}",
        outcome.diagnostics
    );
}

#[test]
fn json_syntax_errors_carry_line_and_column() {
    let outcome = validate_text(
        "{\n  \"apiVersion\": \"mlspec/v1\",\n  \"kind\": }",
        Format::Json,
        &Limits::default(),
    );
    let d = &outcome.diagnostics[0];
    assert!(d.message.starts_with("invalid JSON: expected value"), "{}", d.message);
    assert_eq!(d.position.map(|p| (p.line, p.column)), Some((3, 11)));
}

#[test]
fn every_problem_in_a_document_is_reported_in_one_pass() {
    let text = "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  nmae: x\n  name: ok\nspec:\n  status: Runing\n  exitCode: many\n";
    let outcome = validate_text(text, Format::Yaml, &Limits::default());
    let found: Vec<(String, Option<u64>)> = outcome
        .diagnostics
        .iter()
        .map(|d| (d.path.clone().unwrap_or_default(), d.position.map(|p| p.line)))
        .collect();
    assert_eq!(found.len(), 3, "{:#?}", outcome.diagnostics);
    assert!(found.contains(&("/metadata/nmae".into(), Some(4))));
    assert!(found.contains(&("/spec/status".into(), Some(7))));
    assert!(found.contains(&("/spec/exitCode".into(), Some(8))));
}

#[test]
fn documents_after_a_bad_one_are_still_checked() {
    let text =
        format!("{VALID}---\napiVersion: mlspec/v1\nkind: Nope\nmetadata: {{name: x}}\nspec: {{}}\n---\n{VALID}");
    let outcome = validate_text(&text, Format::Yaml, &Limits::default());
    assert_eq!(outcome.document_count, 3);
    assert_eq!(outcome.documents.len(), 2);
    assert_eq!(outcome.diagnostics[0].document, Some(1));
    assert_eq!(outcome.diagnostics[0].position.map(|p| p.line), Some(7));
}

#[test]
fn non_documents_and_unknown_versions_are_explained() {
    assert!(messages("42", Format::Yaml)[0].starts_with("expected a document (a mapping)"));
    assert_eq!(
        messages(
            "apiVersion: mlspec/v9\nkind: Run\nmetadata: {name: r}\nspec: {status: Running}\n",
            Format::Yaml
        ),
        ["unsupported apiVersion `mlspec/v9`; supported: mlspec/v1"]
    );
    assert!(messages("schema_version: 0.0.1\nschema_type: base\n", Format::Yaml)[0].contains("original MLSpec format"));
}

#[test]
fn non_finite_numbers_are_refused() {
    let text = "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: r}\nspec:\n  status: Running\n  metrics: [{key: loss, value: .nan}]\n";
    let outcome = validate_text(text, Format::Yaml, &Limits::default());
    let d = &outcome.diagnostics[0];
    assert_eq!(
        d.message,
        "`.nan` is not a finite number; MLSpec documents never carry NaN or infinity"
    );
    assert_eq!(d.path.as_deref(), Some("/spec/metrics/0/value"));
    assert!(d.hint.as_deref().is_some_and(|h| h.contains("count such values")));
    assert_eq!(d.position.map(|p| (p.line, p.column)), Some((6, 32)));
}

/// Every way a non-finite number can be written, in every kind of field (typed `f64` fields,
/// metric and parameter values, optional numbers, strings, sequences, keys), YAML and JSON: one
/// error at the field's path, and no valid document.
#[test]
fn every_spelling_of_a_non_finite_number_is_refused_at_its_path() {
    let profile = |value: &str| {
        format!(
            "apiVersion: mlspec/v1\nkind: DataProfile\nmetadata: {{name: p}}\nspec:\n  dataset: Dataset/d\n  rows: 3\n  features:\n  - name: x\n    type: float\n    count: 3\n    missing: 0\n    numeric: {{mean: 1.0, stdDev: {value}, min: 0.0, max: 2.0}}\n"
        )
    };
    for (spelling, shown) in [
        (".nan", ".nan"),
        (".NaN", ".nan"),
        (".inf", ".inf"),
        ("+.inf", ".inf"),
        ("-.inf", "-.inf"),
        (".Inf", ".inf"),
        ("1e999", ".inf"),
        ("-1e999", "-.inf"),
    ] {
        let outcome = validate_text(&profile(spelling), Format::Yaml, &Limits::default());
        assert!(outcome.documents.is_empty(), "{spelling}");
        assert_eq!(outcome.diagnostics.len(), 1, "{spelling}: {:#?}", outcome.diagnostics);
        let d = &outcome.diagnostics[0];
        assert_eq!(d.path.as_deref(), Some("/spec/features/0/numeric/stdDev"), "{spelling}");
        assert_eq!(
            d.message,
            format!("`{shown}` is not a finite number; MLSpec documents never carry NaN or infinity")
        );
        assert_eq!(d.position.map(|p| p.line), Some(12), "{spelling}");
    }
    let run = |spec: &str| {
        format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: r}}\nspec: {{status: Running, {spec}}}\n")
    };
    for (spec, path) in [
        ("params: {lr: .inf}", "/spec/params/lr"),
        ("metrics: [{key: m, value: [1, -.inf]}]", "/spec/metrics/0/value/1"),
        ("metrics: [{key: m, value: {a: .nan}}]", "/spec/metrics/0/value/a"),
    ] {
        let outcome = validate_text(&run(spec), Format::Yaml, &Limits::default());
        assert!(outcome.documents.is_empty(), "{spec}");
        let paths: Vec<_> = outcome.diagnostics.iter().map(|d| d.path.as_deref()).collect();
        assert_eq!(paths, [Some(path)], "{spec}: {:#?}", outcome.diagnostics);
    }
    // JSON cannot spell NaN; a number beyond f64 is infinity, reported at its path.
    let json = r#"{"apiVersion": "mlspec/v1", "kind": "Run", "metadata": {"name": "r"}, "spec": {"status": "Running", "params": {"lr": 1e400}}}"#;
    let outcome = validate_text(json, Format::Json, &Limits::default());
    assert_eq!(outcome.diagnostics.len(), 1, "{:#?}", outcome.diagnostics);
    assert_eq!(outcome.diagnostics[0].path.as_deref(), Some("/spec/params/lr"));
    // Finite extremes are numbers like any other.
    for finite in ["1e308", "-0.0", "5e-324", "1.7976931348623157e308"] {
        let outcome = validate_text(&profile(finite), Format::Yaml, &Limits::default());
        assert_eq!(outcome.documents.len(), 1, "{finite}: {:#?}", outcome.diagnostics);
    }
}

//! The expression language: a fixture corpus of valid expressions (their trees) and invalid
//! ones (their rendered diagnostics), snapshot-tested; evaluation against exact expected
//! verdicts, including missing values, NaN-free arithmetic and division by zero; and bounds
//! on size and nesting.

use std::collections::BTreeMap;

use mlspec_spec::expr::record::{Scalar, SliceRecord};
use mlspec_spec::expr::{Context, Record, Scope, Status, compile, evaluate, parse};

fn corpus(name: &str) -> Vec<&'static str> {
    let text: &'static str = match name {
        "valid" => include_str!("../fixtures/expr/valid.txt"),
        _ => include_str!("../fixtures/expr/invalid.txt"),
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

#[test]
fn valid_expressions_parse_into_these_trees() {
    let mut out = String::new();
    for line in corpus("valid") {
        let (expr, diagnostics) = compile(line, &Scope::detached(Context::Criterion));
        assert!(diagnostics.is_empty(), "{line}: {diagnostics:#?}");
        out.push_str(&format!("{line}\n  => {}\n", expr.unwrap()));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn invalid_expressions_get_located_diagnostics() {
    let mut out = String::new();
    for line in corpus("invalid") {
        let (expr, diagnostics) = compile(line, &Scope::detached(Context::Criterion));
        assert!(expr.is_none(), "{line} was accepted");
        out.push_str(&format!("==== {line}\n"));
        for d in &diagnostics {
            out.push_str(&d.render("criterion", line, false));
        }
    }
    insta::assert_snapshot!(out);
}

fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn slice(column: &str, value: &str, pairs: &[(&str, f64)]) -> SliceRecord {
    SliceRecord {
        name: format!("{column}={value}"),
        filter: BTreeMap::from([(column.to_owned(), value.to_owned())]),
        metrics: metrics(pairs),
    }
}

fn evaluation() -> Record {
    Record::new(
        "Evaluation/churn".into(),
        metrics(&[
            ("accuracy", 0.91),
            ("auc", 0.85),
            ("p99_latency_ms", 42.0),
            ("zero", 0.0),
        ]),
        vec![
            slice("gender", "F", &[("recall", 0.80)]),
            slice("gender", "M", &[("recall", 0.86)]),
            slice("region", "eu", &[("recall", 0.9)]),
        ],
        BTreeMap::from([("lr".to_owned(), Scalar::Num(0.05))]),
        BTreeMap::from([("team".to_owned(), "risk".to_owned())]),
    )
}

fn baseline() -> Record {
    Record::new(
        "Evaluation/old".into(),
        metrics(&[("auc", 0.84), ("zero", 0.0)]),
        vec![],
        BTreeMap::new(),
        BTreeMap::new(),
    )
}

fn verdict(text: &str, with_baseline: bool) -> (Status, Option<String>) {
    let (current, base) = (evaluation(), baseline());
    let base = with_baseline.then_some(&base);
    let scope = Scope {
        context: Context::Criterion,
        current: Some(&current),
        baseline: base,
        has_baseline: with_baseline,
    };
    let (expr, diagnostics) = compile(text, &scope);
    let expr = expr.unwrap_or_else(|| panic!("{text}: {diagnostics:#?}"));
    let v = evaluate(&expr, &current, base);
    (v.status, v.reason)
}

#[test]
fn criteria_evaluate_to_exact_verdicts() {
    let cases: &[(&str, Status)] = &[
        ("accuracy >= 0.9", Status::Met),
        ("accuracy >= 0.95", Status::NotMet),
        ("metrics.auc > 0.8 and labels.team = \"risk\"", Status::Met),
        ("p99_latency_ms < 50ms", Status::Met),
        ("p99_latency_ms < 0.04s", Status::NotMet),
        ("gap(recall, by=gender) <= 0.06 + 1e-12", Status::Met),
        ("gap(recall, by=gender) < 0.05", Status::NotMet),
        ("ratio(recall, by=gender) > 0.93", Status::Met),
        ("recall[gender=\"F\"] >= 0.8", Status::Met),
        ("delta(auc) > 0.0099", Status::Met),
        ("auc >= baseline.auc", Status::Met),
        ("params.lr < 0.1", Status::Met),
        ("min(accuracy, auc) = 0.85 and max(accuracy, auc) = 0.91", Status::Met),
        ("abs(0 - accuracy) = accuracy", Status::Met),
        // Kleene: a false conjunct decides; a true disjunct decides.
        ("accuracy > 0.99 and recall[gender=\"X\"] > 0.5", Status::NotMet),
        ("accuracy > 0.5 or recall[gender=\"X\"] > 0.5", Status::Met),
        // Missing values never pass, even negated.
        ("recall[gender=\"X\"] > 0.5", Status::Unknown),
        ("not (recall[gender=\"X\"] > 0.5)", Status::Unknown),
        ("accuracy > 0.5 and f1 > 0.5", Status::Unknown),
        ("gap(recall, by=region) < 1", Status::Unknown),
        // Division by zero is an error, not infinity.
        ("accuracy / zero > 1", Status::Error),
        ("rel_delta(zero) > 0", Status::Error),
        ("1e308 * 10 > 1", Status::Error),
    ];
    for (text, expected) in cases {
        assert_eq!(verdict(text, true).0, *expected, "{text}");
    }
}

#[test]
fn reasons_name_what_was_not_recorded() {
    assert_eq!(
        verdict("recall[gender=\"F\"] > 0.5 and recall[gender=\"X\"] > 0.5", true)
            .1
            .unwrap(),
        "metric `recall[gender=X]` was not recorded"
    );
    assert_eq!(verdict("delta(auc) > 0", false).1.unwrap(), "no baseline was given");
    assert_eq!(
        verdict("accuracy / zero > 1", true).1.unwrap(),
        "division by zero: 0.91 / 0"
    );
}

#[test]
fn unknown_names_are_warned_with_a_suggestion() {
    let current = evaluation();
    let scope = Scope {
        context: Context::Criterion,
        current: Some(&current),
        baseline: None,
        has_baseline: false,
    };
    let (expr, diagnostics) = compile("acuracy > 0.9 and gap(recall, by=gendr) < 0.1", &scope);
    assert!(expr.is_some());
    let messages: Vec<String> = diagnostics
        .iter()
        .map(|d| format!("{} | {}", d.message, d.help.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        messages,
        [
            "metric `acuracy` was not recorded in Evaluation/churn | did you mean `accuracy`?",
            "Evaluation/churn has no slices by `gendr` alone | did you mean `gender`?",
        ]
    );
}

#[test]
fn nesting_and_size_are_bounded_without_overflowing_the_stack() {
    let deep = format!("{}accuracy{}", "(".repeat(20_000), ")".repeat(20_000));
    let (_, diagnostics) = parse::parse(&deep);
    assert!(
        diagnostics.iter().any(|d| d.message.contains("nests deeper")),
        "{diagnostics:?}"
    );
    let nots = format!("{}true", "not ".repeat(10_000));
    let (_, diagnostics) = parse::parse(&nots);
    assert!(diagnostics.iter().any(|d| d.message.contains("nests deeper")));
    let chain = vec!["a"; 5000].join(" + ") + " > 1";
    let (_, diagnostics) = parse::parse(&chain);
    assert!(diagnostics.iter().any(|d| d.message.contains("nests deeper")));
    let huge = "a".repeat(parse::MAX_LEN + 1);
    let (_, diagnostics) = parse::parse(&huge);
    assert!(diagnostics[0].message.contains("bytes long"));
}

#[test]
fn evaluation_is_linear_in_slices() {
    let slices: Vec<SliceRecord> = (0..1000)
        .map(|i| slice("group", &i.to_string(), &[("recall", 0.5 + f64::from(i) / 4000.0)]))
        .collect();
    let record = Record::new(
        "Evaluation/big".into(),
        metrics(&[("accuracy", 0.9)]),
        slices,
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let (expr, _) = compile(
        "gap(recall, by=group) < 0.3 and recall[group=\"999\"] > 0.7",
        &Scope::detached(Context::Criterion),
    );
    let v = evaluate(&expr.unwrap(), &record, None);
    assert_eq!(v.status, Status::Met, "{v:?}");
}

#[test]
fn nan_never_passes() {
    let record = Record::new(
        "Evaluation/nan".into(),
        metrics(&[("x", f64::NAN)]),
        vec![],
        BTreeMap::new(),
        BTreeMap::new(),
    );
    for text in ["x > 0", "x <= 0", "x != 1", "not (x > 0)", "x = x"] {
        let (expr, _) = compile(text, &Scope::detached(Context::Criterion));
        let v = evaluate(&expr.unwrap(), &record, None);
        assert_eq!(v.status, Status::Error, "{text}");
        assert_eq!(v.reason.as_deref(), Some("a value is not a number (NaN)"), "{text}");
    }
}

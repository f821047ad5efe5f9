//! Any bytes as an expression: parsed, checked and (when it checks) evaluated against a small
//! evaluation, as a criterion and as a store query. It must never panic or overflow the stack,
//! every diagnostic's span must lie inside the text, and an accepted criterion must evaluate.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use mlspec_spec::expr::record::{Scalar, SliceRecord};
use mlspec_spec::expr::{Context, Record, Scope, compile, evaluate, query};

fn record() -> Record {
    let slice = |value: &str, recall: f64| SliceRecord {
        name: format!("gender={value}"),
        filter: BTreeMap::from([("gender".to_owned(), value.to_owned())]),
        metrics: BTreeMap::from([("recall".to_owned(), recall)]),
    };
    Record::new(
        "Evaluation/fuzz".into(),
        BTreeMap::from([
            ("accuracy".to_owned(), 0.9),
            ("zero".to_owned(), 0.0),
            ("p99_latency_ms".to_owned(), 12.5),
            ("big".to_owned(), 1e308),
        ]),
        vec![slice("F", 0.8), slice("M", 0.85)],
        BTreeMap::from([("lr".to_owned(), Scalar::Num(0.1)), ("opt".to_owned(), Scalar::Str("adam".into()))]),
        BTreeMap::from([("team".to_owned(), "risk".to_owned())]),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let current = record();
    let baseline = record();
    let scope = Scope { context: Context::Criterion, current: Some(&current), baseline: Some(&baseline), has_baseline: true };
    let (expr, diagnostics) = compile(text, &scope);
    for d in &diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?} outside {}", text.len());
        let _ = d.render("fuzz", text, false);
    }
    if let Some(expr) = expr {
        let _ = evaluate(&expr, &current, Some(&baseline));
        let _ = evaluate(&expr, &current, None);
    }
    let _ = query::parse_filter(text);
    let _ = query::parse_order(text);
});

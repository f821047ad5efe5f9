//! The expression language's costs: parse + check per criterion (the valid fixture corpus), and
//! a check of three criteria over Evaluations of 1,000, 10,000 and 100,000 slices (building the
//! slice index included), which must grow linearly.
//!
//! ```sh
//! cargo bench -p mlspec-spec --bench expr
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Instant;

use mlspec_spec::expr::record::SliceRecord;
use mlspec_spec::expr::{Context, Record, Scope, compile, evaluate};

fn per_criterion_parse_and_check() {
    let corpus: Vec<&str> = include_str!("../tests/fixtures/expr/valid.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let scope = Scope::detached(Context::Criterion);
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        for text in &corpus {
            std::hint::black_box(compile(text, &scope));
        }
    }
    let each = started.elapsed().as_secs_f64() / (rounds * corpus.len()) as f64;
    println!(
        "parse + check: {:.2} µs per criterion ({} criteria × {rounds})",
        each * 1e6,
        corpus.len()
    );
}

fn evaluation(slices: usize) -> Record {
    let slices = (0..slices)
        .map(|i| SliceRecord {
            name: format!("group={i}"),
            filter: BTreeMap::from([("group".to_owned(), i.to_string())]),
            metrics: BTreeMap::from([("recall".to_owned(), 0.5 + (i % 1000) as f64 / 4000.0)]),
        })
        .collect();
    Record::new(
        "Evaluation/big".into(),
        BTreeMap::from([("accuracy".to_owned(), 0.9)]),
        slices,
        BTreeMap::new(),
        BTreeMap::new(),
    )
}

fn check_over_slices(count: usize) {
    let criteria = [
        "gap(recall, by=group) < 0.3",
        "ratio(recall, by=group) > 0.5 and accuracy >= 0.9",
        "recall[group=\"999\"] > 0.7",
    ];
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        let record = evaluation(count);
        let scope = Scope {
            context: Context::Criterion,
            current: Some(&record),
            baseline: None,
            has_baseline: false,
        };
        for text in criteria {
            let (expr, _) = compile(text, &scope);
            std::hint::black_box(evaluate(&expr.unwrap(), &record, None));
        }
    }
    let each = started.elapsed().as_secs_f64() / rounds as f64;
    println!(
        "check 3 criteria over {count} slices (index built): {:.2} ms = {:.0} ns per slice",
        each * 1e3,
        each * 1e9 / count as f64
    );
}

fn main() {
    per_criterion_parse_and_check();
    for count in [1_000, 10_000, 100_000] {
        check_over_slices(count);
    }
}

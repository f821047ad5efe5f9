//! The `list --where` benchmark: a store of 100,000 Runs with metrics, parameters and labels,
//! and filters of several selectivities, timed end to end through `Store::list` (parse excluded,
//! rows decoded). Prints each query's plan once, to show the indexes it reads.
//!
//! ```sh
//! cargo bench -p mlspec-store --bench query
//! MLSPEC_BENCH_POSTGRES=postgres://postgres@127.0.0.1:54329/postgres cargo bench -p mlspec-store --bench query
//! ```
//!
//! `BENCH_RUNS` (default 100000) sets the store's size, `BENCH_REPEAT` (default 30) the timed
//! repetitions of each query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{env_usize, fresh_postgres, percentile};

use std::time::Instant;

use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::{Document, Format, Kind, Limits, Name, validate_text};
use mlspec_store::{ListQuery, Location, SqlStore, Store};

/// A deterministic pseudo-random number in [0, 1) for run `i` and stream `s` (SplitMix64).
fn unit(i: usize, s: u64) -> f64 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ s.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs with accuracy and loss metrics, lr/depth/solver parameters and a team label, spread so
/// that filters of known selectivity exist.
fn runs(count: usize) -> Vec<Document> {
    (0..count)
        .map(|i| {
            let team = ["risk", "ops", "growth", "search"][i % 4];
            let solver = ["lbfgs", "adam", "sgd"][i % 3];
            let yaml = format!(
                "apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: run-{i}, labels: {{team: {team}}}}}\n\
                 spec:\n  status: Finished\n  startTime: 2026-11-30T10:00:00Z\n  endTime: 2026-11-30T10:04:00Z\n  \
                 params: {{lr: {lr}, depth: {depth}, solver: {solver}}}\n  \
                 metrics: [{{key: accuracy, value: {acc}}}, {{key: loss, value: {loss}}}]\n",
                lr = (unit(i, 1) * 0.5 * 1e4).round() / 1e4,
                depth = 2 + i % 10,
                acc = (unit(i, 2) * 1e6).round() / 1e6,
                loss = (unit(i, 3) * 1e6).round() / 1e6,
            );
            let mut outcome = validate_text(&yaml, Format::Yaml, &Limits::default());
            assert!(outcome.diagnostics.is_empty(), "{:?}", outcome.diagnostics);
            let mut document = outcome.documents.remove(0);
            document.metadata.name = Name::new(format!("run-{i}")).unwrap();
            document
        })
        .collect()
}

/// The columns of a runs table (the web UI's runs page shows five).
const COLUMNS: &[&str] = &[
    "metrics.accuracy",
    "metrics.loss",
    "params.lr",
    "params.depth",
    "params.solver",
];

/// (filter, order, limit, with the [`COLUMNS`]).
const QUERIES: &[(&str, Option<&str>, Option<u32>, bool)] = &[
    ("metrics.accuracy > 0.999", None, None, false),
    ("metrics.accuracy > 0.99", None, None, false),
    ("metrics.accuracy > 0.99 and labels.team = \"risk\"", None, None, false),
    (
        "metrics.accuracy > 0.9 and (labels.team = \"risk\" or params.lr < 0.1)",
        None,
        None,
        false,
    ),
    (
        "params.solver = \"adam\" and metrics.loss < 0.01 and not (params.depth > 5)",
        None,
        None,
        false,
    ),
    ("metrics.accuracy > 0.9", Some("metrics.accuracy desc"), Some(20), false),
    ("metrics.accuracy > 0.9", Some("metrics.accuracy desc"), Some(50), true),
    ("labels.team = \"risk\"", Some("metrics.loss"), Some(50), true),
    ("", Some("metrics.accuracy desc"), Some(50), true),
    ("metrics.accuracy > 0.5", None, Some(100), false),
    ("metrics.accuracy > 0.5", None, None, false),
];

async fn time_queries(store: &dyn Store, backend: &str, repeat: usize) {
    for (filter, order, limit, with_columns) in QUERIES {
        let columns = if *with_columns { COLUMNS } else { &[] };
        let query = ListQuery {
            filter: (!filter.is_empty()).then(|| parse_filter(filter).unwrap()),
            order: order.map(|o| parse_order(o).unwrap()),
            limit: *limit,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            ..ListQuery::new(Kind::Run)
        };
        let plan = store.explain_list(&query).await.unwrap();
        let rows = store.list(&query).await.unwrap().len();
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let started = Instant::now();
            std::hint::black_box(store.list(&query).await.unwrap());
            times.push(started.elapsed());
        }
        times.sort();
        let mut shown = if filter.is_empty() {
            String::from("(no filter)")
        } else {
            format!("--where '{filter}'")
        };
        if let Some(order) = order {
            shown.push_str(&format!(" --order-by '{order}'"));
        }
        if let Some(limit) = limit {
            shown.push_str(&format!(" --limit {limit}"));
        }
        if *with_columns {
            shown.push_str(&format!(" + {} columns", COLUMNS.len()));
        }
        println!(
            "{backend}: {shown}: {rows} rows, median {:.1} ms, p95 {:.1} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3
        );
        if std::env::var_os("BENCH_PLANS").is_some() {
            for line in plan {
                println!("    {line}");
            }
        }
    }
}

async fn fill(store: &dyn Store, documents: &[Document]) {
    for batch in documents.chunks(2000) {
        store.apply(batch, "bench").await.unwrap();
    }
}

async fn bench() {
    let count = env_usize("BENCH_RUNS", 100_000);
    let repeat = env_usize("BENCH_REPEAT", 30);
    let documents = runs(count);
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
    let started = Instant::now();
    fill(&store, &documents).await;
    println!(
        "sqlite: stored {count} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    time_queries(&store, "sqlite", repeat).await;
    if let Ok(admin) = std::env::var("MLSPEC_BENCH_POSTGRES") {
        let (pg, _) = SqlStore::init(&fresh_postgres(&admin).await).await.unwrap();
        fill(&pg, &documents).await;
        time_queries(&pg, "postgres", repeat).await;
    } else {
        println!("postgres: skipped (set MLSPEC_BENCH_POSTGRES)");
    }
}

fn main() {
    support::block_on(bench());
}

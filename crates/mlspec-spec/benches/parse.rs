//! Parse + validate throughput on one core: a Run with 20 params and 50 metrics, a Dataset with
//! 5 versions, a DataProfile with 30 features, each as YAML and as JSON, through the full
//! `validate_text` path (parse, typed model, semantic rules).
//!
//! Side by side, the anchors: serde-saphyr parsing the YAML into the typed model (the general
//! YAML parser, without validation), and serde_json parsing the JSON into the typed model
//! without validation (the ceiling of the JSON path).
//!
//! Run: `cargo bench -p mlspec-spec --bench parse` (numbers in docs/benchmarks.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use mlspec_spec::Document;
use mlspec_spec::validate::{Format, Limits, validate_text};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn run_doc() -> String {
    let mut s = String::from(
        "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  name: train-0001\n  labels: {team: risk}\nspec:\n  experiment: Experiment/churn\n  status: Finished\n  startTime: 2026-11-30T10:00:00Z\n  endTime: 2026-11-30T10:04:12Z\n  params:\n",
    );
    for i in 0..20 {
        let _ = writeln!(
            s,
            "    param_{i}: {}",
            if i % 2 == 0 {
                format!("{}.5", i)
            } else {
                format!("value-{i}")
            }
        );
    }
    s.push_str("  metrics:\n");
    for i in 0..50 {
        let _ = writeln!(s, "    - {{key: metric_{}, value: 0.{i}31, step: {i}}}", i % 10);
    }
    s.push_str("  inputs: [Dataset/churn@3]\n  outputs: [Artifact/model]\n");
    s
}

fn dataset_doc() -> String {
    let mut s = String::from(
        "apiVersion: mlspec/v1\nkind: Dataset\nmetadata:\n  name: churn\n  description: Customer churn snapshots.\nspec:\n  versions:\n",
    );
    for v in 1..=5 {
        let _ = write!(
            s,
            "    - version: \"{v}\"\n      status: {}\n      definition: {{datastore: lake, path: churn/v{v}/data.parquet}}\n      digest: {DIGEST}\n      rows: {}\n      bytes: {}\n      profile: DataProfile/churn-v{v}\n      createdAt: 2026-11-0{v}T08:00:00Z\n",
            if v < 3 { "Deprecated" } else { "Active" },
            100_000 * v,
            8_000_000 * v
        );
    }
    s
}

fn profile_doc() -> String {
    let mut s = String::from(
        "apiVersion: mlspec/v1\nkind: DataProfile\nmetadata:\n  name: churn-v5\nspec:\n  dataset: Dataset/churn@5\n  rows: 500000\n  features:\n",
    );
    for f in 0..30 {
        if f % 3 == 0 {
            let _ = write!(
                s,
                "    - name: category_{f}\n      type: string\n      count: 499000\n      missing: 1000\n      string:\n        distinct: 12\n        topValues:\n          - {{value: a, count: 200000}}\n          - {{value: b, count: 150000}}\n          - {{value: c, count: 90000}}\n"
            );
        } else {
            let _ = write!(
                s,
                "    - name: numeric_{f}\n      type: float\n      count: 500000\n      missing: 0\n      numeric:\n        mean: 42.5\n        stdDev: 7.25\n        min: 0.5\n        max: 99.5\n        zeros: 12\n        quantiles:\n          - {{q: 0.25, value: 37.1}}\n          - {{q: 0.5, value: 42.2}}\n          - {{q: 0.75, value: 47.9}}\n"
            );
        }
    }
    s
}

fn to_json(yaml: &str) -> String {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).unwrap_or_default();
    serde_json::to_string(&value).unwrap_or_default()
}

/// Runs `work` repeatedly for about `budget`; returns runs per second.
fn rate(budget: Duration, work: impl Fn()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            work();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Full validation of `text`, in documents per second.
fn measure(text: &str, format: Format, budget: Duration) -> f64 {
    let limits = Limits::default();
    let check = validate_text(text, format, &limits);
    assert!(
        check.diagnostics.is_empty() && check.documents.len() == 1,
        "benchmark document is invalid: {:?}",
        check.diagnostics
    );
    rate(budget, || {
        black_box(validate_text(black_box(text), format, &limits));
    })
}

/// Harmonic mean: the rate of a corpus with equal numbers of each document.
fn mixed(rates: &[f64]) -> f64 {
    rates.len() as f64 / rates.iter().map(|r| 1.0 / r).sum::<f64>()
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let docs = [
        ("Run (20 params, 50 metrics)", run_doc()),
        ("Dataset (5 versions)", dataset_doc()),
        ("DataProfile (30 features)", profile_doc()),
    ];
    println!(
        "{:<28} {:>6} {:>12} {:>14} {:>6} {:>12} {:>14}",
        "document", "YAML B", "mlspec YAML", "serde-saphyr", "JSON B", "mlspec JSON", "serde_json"
    );
    let mut columns = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for (name, yaml) in &docs {
        let json = to_json(yaml);
        let rates = [
            measure(yaml, Format::Yaml, budget),
            rate(budget, || {
                black_box(serde_saphyr::from_str::<Document>(black_box(yaml)).ok());
            }),
            measure(&json, Format::Json, budget),
            rate(budget, || {
                black_box(serde_json::from_str::<Document>(black_box(&json)).ok());
            }),
        ];
        println!(
            "{name:<28} {:>6} {:>12.0} {:>14.0} {:>6} {:>12.0} {:>14.0}",
            yaml.len(),
            rates[0],
            rates[1],
            json.len(),
            rates[2],
            rates[3]
        );
        for (column, r) in columns.iter_mut().zip(rates) {
            column.push(r);
        }
    }
    let m: Vec<f64> = columns.iter().map(|c| mixed(c)).collect();
    println!(
        "{:<28} {:>6} {:>12.0} {:>14.0} {:>6} {:>12.0} {:>14.0}",
        "mixed (equal parts)", "", m[0], m[1], "", m[2], m[3]
    );
    println!("docs/s on one thread; mlspec = full parse + validation; serde-saphyr and serde_json = typed parse only");
}

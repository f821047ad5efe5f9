//! The metric series benchmark: appending a 1,000,000-point series in appends of 10,000, then
//! reading its whole range as a 2,000-point curve; then 20 runs × 10 keys × 100,000 points and
//! a 2,000-point curve of each key of each run (what a compare page of 20 runs draws). Times
//! are end to end through `Store` (points encoded, rows decoded).
//!
//! ```sh
//! cargo bench -p mlspec-store --bench series
//! MLSPEC_BENCH_POSTGRES=postgres://postgres@127.0.0.1:54329/postgres cargo bench -p mlspec-store --bench series
//! ```
//!
//! `BENCH_POINTS` (default 1000000) sets the long series' length, `BENCH_REPEAT` (default 30)
//! the timed reads, `BENCH_COMPARE_RUNS` (default 20; 0 skips) and `BENCH_COMPARE_POINTS`
//! (default 100000) the compare store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{env_usize, fresh_postgres, percentile};

use std::time::{Duration, Instant};

use mlspec_spec::{Document, Format, Limits, validate_text};
use mlspec_store::{Location, MAX_APPEND_POINTS, Selector, SeriesPoint, SeriesQuery, SqlStore, Store};

/// A training curve with noise and a spike: loss-like, decreasing.
fn value(step: u64, key: usize) -> f64 {
    let noise = ((step as f64 * 12.9898 + key as f64 * 78.233).sin() * 43_758.547).fract() * 0.02;
    let spike = if step % 99_991 == 7 { 5.0 } else { 0.0 };
    1.0 / (1.0 + step as f64 / 1_000.0) + noise + spike
}

fn points(key: &str, key_index: usize, steps: std::ops::Range<u64>) -> Vec<SeriesPoint> {
    steps
        .map(|step| SeriesPoint {
            key: key.parse().unwrap(),
            value: value(step, key_index),
            step,
            timestamp_us: Some(1_796_000_000_000_000 + step as i64 * 1_500),
        })
        .collect()
}

fn run(name: &str) -> Document {
    let yaml = format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}}}\nspec: {{status: Running}}\n");
    validate_text(&yaml, Format::Yaml, &Limits::default())
        .documents
        .remove(0)
}

async fn run_ids(store: &dyn Store, names: &[String]) -> Vec<Selector> {
    let documents: Vec<Document> = names.iter().map(|n| run(n)).collect();
    let report = store.apply(&documents, "bench").await.unwrap();
    report
        .results
        .iter()
        .map(|r| Selector::Id(mlspec_spec::ObjectId::new(r.id.as_str()).unwrap()))
        .collect()
}

/// Appends `total` points of one key in appends of the most one takes; returns the time taken.
async fn append_series(store: &dyn Store, run: &Selector, key: &str, key_index: usize, total: u64) -> Duration {
    let mut spent = Duration::ZERO;
    let mut step = 0;
    while step < total {
        let end = (step + MAX_APPEND_POINTS as u64).min(total);
        let batch = points(key, key_index, step..end);
        let started = Instant::now();
        store.append_metrics(run, &batch).await.unwrap();
        spent += started.elapsed();
        step = end;
    }
    spent
}

/// Median and p95 of `repeat` runs of `read`, in milliseconds.
async fn timed<F, Fut>(repeat: usize, mut read: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let started = Instant::now();
        read().await;
        times.push(started.elapsed());
    }
    times.sort();
    (
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
    )
}

async fn long_series(store: &dyn Store, backend: &str, total: u64, repeat: usize) {
    let run = run_ids(store, &["long".to_owned()]).await.remove(0);
    let spent = append_series(store, &run, "train/loss", 0, total).await;
    println!(
        "{backend}: appended {total} points in {:.2} s ({:.0} points/s, {:.1} ms per append of {MAX_APPEND_POINTS})",
        spent.as_secs_f64(),
        total as f64 / spent.as_secs_f64(),
        spent.as_secs_f64() * 1e3 / total.div_ceil(MAX_APPEND_POINTS as u64) as f64
    );
    let whole = SeriesQuery::default();
    let curve = store.metric_series(&run, "train/loss", &whole).await.unwrap();
    let (median, p95) = timed(repeat, || async {
        std::hint::black_box(store.metric_series(&run, "train/loss", &whole).await.unwrap());
    })
    .await;
    println!(
        "{backend}: whole {total}-point series as {} points (max_points 2000): median {median:.1} ms, p95 {p95:.1} ms",
        curve.x.len()
    );
    let zoom = SeriesQuery {
        range: Some((total as f64 / 2.0, total as f64 / 2.0 + 50_000.0)),
        ..SeriesQuery::default()
    };
    let (median, p95) = timed(repeat, || async {
        std::hint::black_box(store.metric_series(&run, "train/loss", &zoom).await.unwrap());
    })
    .await;
    println!("{backend}: a 50,000-step range of it (decoded points): median {median:.1} ms, p95 {p95:.1} ms");
}

async fn compare(store: &dyn Store, backend: &str, runs: usize, per_key: u64, repeat: usize) {
    const KEYS: usize = 10;
    let names: Vec<String> = (0..runs).map(|i| format!("cmp-{i}")).collect();
    let ids = run_ids(store, &names).await;
    let keys: Vec<String> = (0..KEYS).map(|k| format!("metric/{k}")).collect();
    let mut spent = Duration::ZERO;
    for run in &ids {
        for (k, key) in keys.iter().enumerate() {
            spent += append_series(store, run, key, k, per_key).await;
        }
    }
    let total = runs as u64 * KEYS as u64 * per_key;
    println!(
        "{backend}: appended {runs} runs × {KEYS} keys × {per_key} points ({total}) in {:.1} s ({:.0} points/s)",
        spent.as_secs_f64(),
        total as f64 / spent.as_secs_f64()
    );
    let whole = SeriesQuery::default();
    let (median, p95) = timed(repeat.min(10), || async {
        for key in &keys {
            for run in &ids {
                std::hint::black_box(store.metric_series(run, key, &whole).await.unwrap());
            }
        }
    })
    .await;
    println!(
        "{backend}: all {} curves (max_points 2000), one after another: median {median:.0} ms, p95 {p95:.0} ms ({:.2} ms a curve)",
        runs * KEYS,
        median / (runs * KEYS) as f64
    );
}

/// The SQLite file's size, in bytes per point stored.
fn bytes_per_point(dir: &std::path::Path, points: u64) -> f64 {
    let size: u64 = std::fs::read_dir(dir.join(".mlspec"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    size as f64 / points as f64
}

async fn bench() {
    let total = env_usize("BENCH_POINTS", 1_000_000) as u64;
    let repeat = env_usize("BENCH_REPEAT", 30);
    let runs = env_usize("BENCH_COMPARE_RUNS", 20);
    let per_key = env_usize("BENCH_COMPARE_POINTS", 100_000) as u64;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
    long_series(&store, "sqlite", total, repeat).await;
    println!(
        "sqlite: {:.1} bytes a point on disk (the database and its write-ahead log)",
        bytes_per_point(dir.path(), total)
    );
    if runs > 0 {
        compare(&store, "sqlite", runs, per_key, repeat).await;
    }
    if let Ok(admin) = std::env::var("MLSPEC_BENCH_POSTGRES") {
        let (pg, _) = SqlStore::init(&fresh_postgres(&admin).await).await.unwrap();
        long_series(&pg, "postgres", total, repeat).await;
        if runs > 0 {
            compare(&pg, "postgres", runs, per_key, repeat).await;
        }
    } else {
        println!("postgres: skipped (set MLSPEC_BENCH_POSTGRES)");
    }
}

fn main() {
    support::block_on(bench());
}

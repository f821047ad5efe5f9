//! The store benchmark: ingest into SQLite (and PostgreSQL when `MLSPEC_BENCH_POSTGRES` names a
//! server), and upstream lineage queries on a store of 1,000,000 artifacts and executions.
//!
//! ```sh
//! cargo bench -p mlspec-store --bench store
//! MLSPEC_BENCH_POSTGRES=postgres://postgres@127.0.0.1:54329/postgres cargo bench -p mlspec-store --bench store
//! ```
//!
//! `BENCH_DOCS` (default 200000) sets the ingest size, `BENCH_OBJECTS` (default 1000000) the
//! lineage store's size, `BENCH_QUERIES` (default 200) the number of lineage queries;
//! `BENCH_STORE_DIR` keeps the lineage store in that directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{env_usize, fresh_postgres, percentile};

use std::time::Instant;

use mlspec_spec::{Document, Format, Kind, Limits, Name, Ref, Spec, validate_text};
use mlspec_store::{Direction, Location, Selector, SqlStore, Store};

const BATCH: usize = 1000;

fn parse(yaml: &str) -> Document {
    let mut outcome = validate_text(yaml, Format::Yaml, &Limits::default());
    assert!(outcome.diagnostics.is_empty(), "{:?}", outcome.diagnostics);
    outcome.documents.remove(0)
}

fn reference(text: &str) -> Ref {
    text.parse().unwrap()
}

/// A small Run: three params, two metrics, a label.
fn small_runs(count: usize) -> Vec<Document> {
    let template = parse(
        "apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: r, labels: {team: risk}}\n\
         spec:\n  status: Finished\n  startTime: 2026-11-30T10:00:00Z\n  endTime: 2026-11-30T10:04:00Z\n  \
         params: {lr: 0.01, depth: 6, solver: lbfgs}\n  metrics: [{key: accuracy, value: 0.97}, {key: loss, value: 0.12}]\n",
    );
    (0..count)
        .map(|i| {
            let mut doc = template.clone();
            doc.metadata.name = Name::new(format!("run-{i}")).unwrap();
            doc
        })
        .collect()
}

async fn ingest(store: &dyn Store, documents: &[Document]) -> f64 {
    let started = Instant::now();
    for batch in documents.chunks(BATCH) {
        store.apply(batch, "bench").await.unwrap();
    }
    documents.len() as f64 / started.elapsed().as_secs_f64()
}

/// One pipeline run: a parent run and four steps (ingest, prepare, train, evaluate), each with
/// its output artifact; training warm-starts from the previous pipeline's model.
struct Templates {
    run: Document,
    artifact: Document,
}

impl Templates {
    fn new() -> Templates {
        Templates {
            run: parse("apiVersion: mlspec/v1\nkind: Run\nmetadata: {name: r}\nspec: {status: Running}\n"),
            artifact: parse(&format!(
                "apiVersion: mlspec/v1\nkind: Artifact\nmetadata: {{name: a}}\nspec:\n  run: Run/r\n  type: data\n  \
                 path: {{datastore: lake, path: p}}\n  digest: sha256:{}\n  size: 1\n  mediaType: application/octet-stream\n",
                "ab".repeat(32)
            )),
        }
    }

    fn run(&self, name: String, parent: Option<String>, module: &str, inputs: Vec<String>) -> Document {
        let mut doc = self.run.clone();
        doc.metadata.name = Name::new(name).unwrap();
        let Spec::Run(spec) = &mut doc.spec else { unreachable!() };
        spec.parent = parent.map(|p| reference(&format!("Run/{p}")));
        spec.module = Some(reference(&format!("Module/{module}@1")));
        spec.inputs = inputs.iter().map(|i| reference(&format!("Artifact/{i}"))).collect();
        doc
    }

    fn artifact(&self, name: String, run: &str) -> Document {
        let mut doc = self.artifact.clone();
        doc.metadata.name = Name::new(name).unwrap();
        let Spec::Artifact(spec) = &mut doc.spec else {
            unreachable!()
        };
        spec.run = reference(&format!("Run/{run}"));
        doc
    }

    /// The nine documents of pipeline `i`.
    fn pipeline(&self, i: usize) -> Vec<Document> {
        let p = format!("pipeline-{i}");
        let mut model_inputs = vec![format!("features-{i}")];
        if i > 0 {
            model_inputs.push(format!("model-{}", i - 1));
        }
        vec![
            self.run(p.clone(), None, "orchestrate", vec![]),
            self.run(format!("ingest-{i}"), Some(p.clone()), "ingest", vec![]),
            self.artifact(format!("raw-{i}"), &format!("ingest-{i}")),
            self.run(
                format!("prepare-{i}"),
                Some(p.clone()),
                "prepare",
                vec![format!("raw-{i}")],
            ),
            self.artifact(format!("features-{i}"), &format!("prepare-{i}")),
            self.run(format!("train-{i}"), Some(p.clone()), "train", model_inputs),
            self.artifact(format!("model-{i}"), &format!("train-{i}")),
            self.run(
                format!("evaluate-{i}"),
                Some(p),
                "evaluate",
                vec![format!("model-{i}"), format!("features-{i}")],
            ),
            self.artifact(format!("report-{i}"), &format!("evaluate-{i}")),
        ]
    }
}

fn modules() -> Vec<Document> {
    ["orchestrate", "ingest", "prepare", "train", "evaluate"]
        .iter()
        .map(|m| {
            parse(&format!(
                "apiVersion: mlspec/v1\nkind: Module\nmetadata: {{name: {m}}}\nspec:\n  version: '1'\n  implementation: {{command: [run, {m}]}}\n"
            ))
        })
        .collect()
}

async fn build_lineage_store(store: &dyn Store, objects: usize) -> usize {
    store.apply(&modules(), "bench").await.unwrap();
    let templates = Templates::new();
    let pipelines = objects / 9;
    let per_batch = BATCH / 9;
    let started = Instant::now();
    let mut i = 0;
    while i < pipelines {
        let batch: Vec<Document> = (i..(i + per_batch).min(pipelines))
            .flat_map(|p| templates.pipeline(p))
            .collect();
        store.apply(&batch, "bench").await.unwrap();
        i += per_batch;
    }
    let elapsed = started.elapsed();
    println!(
        "lineage store: {} pipelines, {} objects in {:.1} s ({:.0} docs/s)",
        pipelines,
        pipelines * 9 + 5,
        elapsed.as_secs_f64(),
        (pipelines * 9) as f64 / elapsed.as_secs_f64()
    );
    pipelines
}

async fn lineage_queries(store: &dyn Store, pipelines: usize, queries: usize) {
    let mut timings = Vec::with_capacity(queries);
    let (mut nodes, mut edges) = (0, 0);
    for q in 0..queries {
        // Spread over the second half of the store, deterministically.
        let i = pipelines / 2 + (q * 7919) % (pipelines / 2);
        let selector = Selector::Name {
            kind: Kind::Artifact,
            name: Name::new(format!("model-{i}")).unwrap(),
            version: None,
        };
        let started = Instant::now();
        let graph = store.lineage(&selector, Direction::Upstream, 10).await.unwrap();
        timings.push(started.elapsed());
        (nodes, edges) = (graph.nodes.len(), graph.edges.len());
    }
    timings.sort();
    println!(
        "lineage upstream depth 10 ({nodes} nodes, {edges} edges per answer): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over {queries} queries",
        percentile(&timings, 0.5).as_secs_f64() * 1e3,
        percentile(&timings, 0.95).as_secs_f64() * 1e3,
        timings.last().unwrap().as_secs_f64() * 1e3
    );
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Ingest targets in documents per second, as restated in docs/benchmarks.md (issue 15).
const SQLITE_INGEST_TARGET: f64 = 15_000.0;
const POSTGRES_INGEST_TARGET: f64 = 7_000.0;

fn against_target(rate: f64, target: f64) -> String {
    let verdict = if rate >= target { "met" } else { "NOT MET" };
    format!("target >= {target:.0}: {verdict}")
}

async fn bench() {
    let docs = env_usize("BENCH_DOCS", 200_000);
    let objects = env_usize("BENCH_OBJECTS", 1_000_000);
    let queries = env_usize("BENCH_QUERIES", 200);
    let documents = small_runs(docs);

    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
    let rate = ingest(&store, &documents).await;
    println!(
        "ingest sqlite: {rate:.0} docs/s ({docs} small Run documents, batches of {BATCH}); {}",
        against_target(rate, SQLITE_INGEST_TARGET)
    );

    if let Ok(admin) = std::env::var("MLSPEC_BENCH_POSTGRES") {
        let (pg, _) = SqlStore::init(&fresh_postgres(&admin).await).await.unwrap();
        let rate = ingest(&pg, &documents).await;
        println!(
            "ingest postgres: {rate:.0} docs/s ({docs} small Run documents, batches of {BATCH}); {}",
            against_target(rate, POSTGRES_INGEST_TARGET)
        );
    } else {
        println!("ingest postgres: skipped (set MLSPEC_BENCH_POSTGRES)");
    }

    // BENCH_STORE_DIR keeps the lineage store for inspection; by default it is temporary.
    let temporary = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("BENCH_STORE_DIR").map_or_else(|| temporary.path().to_path_buf(), Into::into);
    let location = Location::in_project(&dir);
    let (store, _) = SqlStore::init(&location).await.unwrap();
    let pipelines = build_lineage_store(&store, objects).await;
    store.close().await;
    let bytes = dir_size(&dir.join(".mlspec"));
    let store = SqlStore::open(&location).await.unwrap();
    let events = store.info().await.unwrap().events;
    println!(
        "store size: {:.1} MiB for {events} events = {:.0} MiB per 1M events",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / (events as f64 / 1e6)
    );
    lineage_queries(&store, pipelines, queries).await;
}

fn main() {
    support::block_on(bench());
}

//! The real PyPI MLflow client, unchanged, against the MLflow API on an in-process server with a
//! SQLite store: the Python scripts in `tests/python/` assert what the client reads back, and
//! these tests then check the MLSpec documents the calls left in the store. The venv is named by
//! MLSPEC_INTEROP_PYTHON (scripts/interop-setup installs mlflow-skinny, scikit-learn and pandas).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mlspec_spec::expr::query::parse_filter;
use mlspec_spec::{Kind, Spec};
use mlspec_store::{Direction, ListQuery, Location, Selector, SqlStore, Store};
use serde_json::Value;

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes a venv with mlflow")
    })
}

struct Server {
    store: Arc<dyn Store>,
    url: String,
    _dir: tempfile::TempDir,
    artifacts: PathBuf,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::parse(&format!("sqlite:{}", dir.path().join("store.db").display())).unwrap();
    let (store, _) = SqlStore::init(&location).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let artifacts = dir.path().join("artifacts");
    let app = mlspec_mlflow::router(store.clone(), artifacts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        store,
        url,
        _dir: dir,
        artifacts,
    }
}

/// Runs a script with the tracking URI set; returns its last line of output, as JSON.
async fn run_script(server: &Server, script: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let url = server.url.clone();
    let home = server.artifacts.parent().unwrap().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(&script)
            .env("MLFLOW_TRACKING_URI", url)
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            .env("HOME", home)
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the MLflow client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
}

async fn document(store: &Arc<dyn Store>, id: &str) -> mlspec_spec::Document {
    store
        .get(&Selector::Id(mlspec_spec::ObjectId::new(id).unwrap()))
        .await
        .unwrap()
        .document
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mlflow_client_logs_mlspec_documents() {
    let server = start().await;
    let made = run_script(&server, "mlflow_flow.py").await;
    let store = &server.store;
    let run_id = made["run"].as_str().unwrap();

    // The run: params, every metric step, tags, the parent link and the dataset input.
    let Spec::Run(run) = document(store, run_id).await.spec else {
        panic!("not a Run")
    };
    let steps: Vec<u64> = run
        .metrics
        .iter()
        .filter(|m| m.key.as_str() == "acc")
        .filter_map(|m| m.step)
        .collect();
    assert_eq!(steps, [0, 1, 2, 3, 4]);
    assert_eq!(run.params.len(), 3);
    assert_eq!(run.inputs.len(), 1);
    assert_eq!(run.outputs.len(), 1);
    let source = run.source.unwrap();
    assert!(source.entry_point.unwrap().as_str().ends_with("mlflow_flow.py"));
    // Named by their MLflow names (the child was renamed), unique by the id's last digits.
    let parent = document(store, run_id).await;
    assert_eq!(parent.metadata.name.as_str(), format!("parent-{}", &run_id[24..]));
    let child = document(store, made["child"].as_str().unwrap()).await;
    assert!(
        child.metadata.name.as_str().starts_with("child-renamed-"),
        "{}",
        child.metadata.name
    );
    let Spec::Run(child) = child.spec else { panic!() };
    assert_eq!(child.parent.unwrap().to_string(), run_id);

    // `mlspec list runs --where` sees them.
    let mut query = ListQuery::new(Kind::Run);
    query.filter = Some(parse_filter("metrics.acc > 0.8 and params.optimizer = \"adam\"").unwrap());
    let listed = store.list(&query).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [run_id]);

    // Lineage: the dataset upstream of the run; its files, the logged model and the registered
    // version downstream.
    let selector = Selector::Id(mlspec_spec::ObjectId::new(run_id).unwrap());
    let lineage = store.lineage(&selector, Direction::Both, 2).await.unwrap();
    let kinds: Vec<Kind> = lineage.nodes.iter().map(|n| n.kind).collect();
    for kind in [Kind::Dataset, Kind::Artifact, Kind::ModelPackage, Kind::Run] {
        assert!(kinds.contains(&kind), "no {kind} in the run's lineage: {lineage:?}");
    }
    let files = store.list(&ListQuery::new(Kind::Artifact)).await.unwrap();
    assert!(files.len() >= 5, "{files:?}");
    let package = store
        .get(&Selector::KindText {
            kind: Kind::ModelPackage,
            text: "mlspec-registered-v1".into(),
        })
        .await
        .unwrap();
    let Spec::ModelPackage(package) = package.document.spec else {
        panic!()
    };
    assert!(
        package.files.iter().any(|f| f.path.as_str() == "MLmodel"),
        "{:?}",
        package.files
    );
    let Spec::Artifact(model) = document(store, made["model"].as_str().unwrap()).await.spec else {
        panic!()
    };
    assert!(model.size > 0);

    // The files' datastore is the artifact root.
    let datastore = store
        .get(&Selector::KindText {
            kind: Kind::Datastore,
            text: "mlflow-artifacts".into(),
        })
        .await
        .unwrap();
    let Spec::Datastore(datastore) = datastore.document.spec else {
        panic!()
    };
    assert_eq!(datastore.uri.as_str(), format!("file://{}", server.artifacts.display()));

    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_logging_at_once_lose_nothing() {
    let server = start().await;
    let made = run_script(&server, "mlflow_concurrency.py").await;
    let Spec::Run(shared) = document(&server.store, made["shared"].as_str().unwrap()).await.spec else {
        panic!()
    };
    assert_eq!(shared.metrics.len(), 500);
    let report = server.store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

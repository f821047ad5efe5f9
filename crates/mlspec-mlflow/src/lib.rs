//! MLflow's tracking REST API over the MLSpec store: point `MLFLOW_TRACKING_URI` at a server
//! that mounts [`router`], and the unchanged MLflow client logs experiments, runs, datasets,
//! artifacts, logged models and registered models — as MLSpec documents, so that
//! `mlspec list runs --where …`, `mlspec lineage` and `mlspec history` see them.
//!
//! # How MLflow's model maps onto MLSpec documents
//!
//! | MLflow                          | MLSpec                                                     |
//! |---------------------------------|------------------------------------------------------------|
//! | experiment                      | an Experiment document ([`experiments`])                   |
//! | run: params, metrics, tags      | a Run document ([`runs`])                                  |
//! | nested run (`mlflow.parentRunId`) | the Run's `parent`: a lineage edge                       |
//! | `log_input` dataset             | a version of a Dataset document, the Run's input ([`inputs`]) |
//! | artifact file of a run          | a file under the artifact root and an Artifact document of the run ([`artifacts`]) |
//! | logged model (MLflow 3)         | an Artifact document of type model of its source run, the Run's output ([`models`]) |
//! | registered model version        | a ModelPackage document, its files pinned by digest ([`registry`]) |
//!
//! Every write checks the document against its kind's rules before the store applies it, and
//! every change of a run is a read-modify-write under the run's lock ([`state`]): fifty clients
//! logging at once lose nothing.
//!
//! # Errors
//!
//! One error type, [`MlflowError`], with MLflow's codes and statuses: a wrong request is always
//! a 4xx (RESOURCE_ALREADY_EXISTS is 400, RESOURCE_DOES_NOT_EXIST 404), an unreachable store a
//! 503, so the client never retries a deterministic error for minutes.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn mlspec_store::Store>) -> std::io::Result<()> {
//! let app = mlspec_mlflow::router(store, "artifacts".into());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod artifacts;
pub mod error;
pub mod experiments;
pub mod filter;
pub mod inputs;
pub mod limits;
pub mod models;
pub mod naming;
pub mod registry;
pub mod runs;
pub mod state;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use mlspec_store::Store;
use serde_json::{Value, json};

pub use error::{ErrorKind, MlflowError, Result};
pub use state::MlflowState;

/// The extractor of the shared state.
pub(crate) type AppState = State<Arc<MlflowState>>;

/// The MLflow routes (`/api/2.0/mlflow/…`, `/api/2.0/mlflow-artifacts/…`,
/// `/api/3.0/mlflow/server-info`) over `store`, with artifact files under `artifacts`.
pub fn router(store: Arc<dyn Store>, artifacts: PathBuf) -> Router {
    router_with_state(Arc::new(MlflowState::new(store, artifacts)))
}

/// [`router`] over an existing state.
pub fn router_with_state(state: Arc<MlflowState>) -> Router {
    let artifact_files = Router::new()
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifacts::download).put(artifacts::upload),
        )
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .merge(tracking_routes())
        .merge(model_routes())
        .route("/api/2.0/mlflow-artifacts/artifacts", get(artifacts::list))
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .layer(DefaultBodyLimit::max(wire::MAX_JSON_BODY))
        .merge(artifact_files)
        .layer(axum::middleware::from_fn(state::with_actor))
        .with_state(state)
}

fn tracking_routes() -> Router<Arc<MlflowState>> {
    const API: &str = "/api/2.0/mlflow";
    let path = |p: &str| format!("{API}/{p}");
    Router::new()
        .route(&path("experiments/get-by-name"), get(experiments::get_by_name))
        .route(&path("experiments/create"), post(experiments::create_handler))
        .route(&path("experiments/get"), get(experiments::get_handler))
        .route(
            &path("experiments/search"),
            post(experiments::search).get(experiments::search_by_get),
        )
        .route(&path("experiments/update"), post(experiments::update))
        .route(&path("experiments/delete"), post(experiments::delete))
        .route(&path("experiments/restore"), post(experiments::restore))
        .route(&path("experiments/set-experiment-tag"), post(experiments::set_tag))
        .route(&path("runs/create"), post(runs::create))
        .route(&path("runs/get"), get(runs::get))
        .route(&path("runs/update"), post(runs::update_handler))
        .route(&path("runs/delete"), post(runs::delete))
        .route(&path("runs/restore"), post(runs::restore))
        .route(&path("runs/log-parameter"), post(runs::log_param))
        .route(&path("runs/log-metric"), post(runs::log_metric))
        .route(&path("runs/log-batch"), post(runs::log_batch))
        .route(&path("runs/set-tag"), post(runs::set_tag))
        .route(&path("runs/delete-tag"), post(runs::delete_tag))
        .route(&path("runs/search"), post(runs::search))
        .route(&path("runs/log-inputs"), post(inputs::log_inputs))
        .route(&path("runs/outputs"), post(inputs::log_outputs))
        .route(&path("metrics/get-history"), get(runs::metric_history))
}

fn model_routes() -> Router<Arc<MlflowState>> {
    const API: &str = "/api/2.0/mlflow";
    let path = |p: &str| format!("{API}/{p}");
    Router::new()
        .route(&path("logged-models"), post(models::create))
        .route(&path("logged-models/search"), post(models::search))
        .route(
            &path("logged-models/{model_id}"),
            get(models::get).patch(models::finalize),
        )
        .route(
            &path("logged-models/{model_id}/tags"),
            axum::routing::patch(models::set_tags),
        )
        .route(&path("registered-models/create"), post(registry::create_model))
        .route(&path("registered-models/get"), get(registry::get_model))
        .route(&path("registered-models/search"), get(registry::search_models))
        .route(&path("registered-models/rename"), post(registry::rename_model))
        .route(
            &path("registered-models/get-latest-versions"),
            post(registry::latest_versions),
        )
        .route(
            &path("registered-models/alias"),
            get(registry::get_by_alias)
                .post(registry::set_alias)
                .delete(registry::delete_alias),
        )
        .route(&path("model-versions/create"), post(registry::create_version))
        .route(&path("model-versions/get"), get(registry::get_version))
        .route(&path("model-versions/search"), get(registry::search_versions))
        .route(&path("model-versions/get-download-uri"), get(registry::download_uri))
}

/// `GET /api/3.0/mlflow/server-info`: what the client checks before a download.
async fn server_info() -> Json<Value> {
    Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
    }))
}

//! Pages rendered by the UI's router over a real store (SQLite in a temporary directory),
//! checked for the values they must show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use mlspec_store::{Location, SqlStore, Store};
use tower::ServiceExt as _;

/// A store holding `documents` (YAML), and the UI over it.
async fn ui_over(documents: &[&str]) -> (axum::Router, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SqlStore::init(&Location::in_project(dir.path())).await.unwrap();
    for text in documents {
        let parsed = mlspec_spec::validate_text(text, mlspec_spec::Format::Yaml, &Default::default());
        assert!(!parsed.documents.is_empty(), "{text}");
        store.apply(&parsed.documents, "test").await.unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(store);
    let router = mlspec_ui::router(mlspec_ui::UiConfig {
        store: store.clone(),
        request_timeout: Duration::from_secs(30),
        trust: Default::default(),
    });
    (router, store, dir)
}

async fn get(router: &axum::Router, path: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn id_of(store: &Arc<dyn Store>, kind: mlspec_spec::Kind, name: &str) -> String {
    let selector = mlspec_store::Selector::Name {
        kind,
        name: mlspec_spec::Name::new(name).unwrap(),
        version: None,
    };
    store.get(&selector).await.unwrap().summary.id
}

#[tokio::test]
async fn a_pipeline_run_shows_each_step_in_the_pipelines_order() {
    // The spec's example record, without the runs and data it names (not in this store).
    let record: String = include_str!("../../../docs/spec/examples/workflow-record.yaml")
        .lines()
        .filter(|line| !line.trim_start().starts_with("run: Run/pipeline"))
        .collect::<Vec<_>>()
        .join("\n");
    let (router, store, _dir) = ui_over(&[include_str!("../../../docs/spec/examples/pipeline.yaml"), &record]).await;
    let record = id_of(
        &store,
        mlspec_spec::Kind::WorkflowRecord,
        "penguins-training-2026-11-30",
    )
    .await;
    let (status, html) = get(&router, &format!("/ui/objects/{record}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    // Two steps recorded, joined as the pipeline orders them (train binds split's output).
    assert!(html.contains("data-nodes=\"2\""), "{html}");
    assert_eq!(html.matches("<path class=\"edge\"").count(), 1, "{html}");
    assert_eq!(
        html.matches("<span class=\"pass\">finished</span>").count(),
        2,
        "{html}"
    );
    assert!(html.contains("sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"));
    // The pipeline is in the store: a link; the runs are not: said so.
    let pipeline = id_of(&store, mlspec_spec::Kind::Pipeline, "penguins-training").await;
    assert!(html.contains(&format!("href=\"/ui/objects/{pipeline}\"")), "{html}");
    assert!(
        html.contains("Run/split-2026-11-30</span> <span class=\"meta\">(not in the store)"),
        "{html}"
    );

    let (_, html) = get(&router, &format!("/ui/objects/{pipeline}")).await;
    assert!(html.contains("data-nodes=\"4\""), "{html}");
    // validate → split → train → evaluate, and split → evaluate.
    assert_eq!(html.matches("<path class=\"edge\"").count(), 4, "{html}");
}

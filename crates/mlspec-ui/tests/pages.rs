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

/// A step's endpoints as the step runtime serves them, for the Run `run_id`, in `phase`.
async fn step_endpoints(run_id: &str, phase: mlspec_server::Phase) -> String {
    let state = Arc::new(mlspec_server::StepState::new(mlspec_server::StepInfo {
        name: "split".into(),
        run_id: run_id.into(),
        module: None,
        params: Default::default(),
        command: vec!["sleep".into()],
        host: "here".into(),
        env: Default::default(),
    }));
    state.set_phase(phase);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let limits = mlspec_server::ServeLimits::from_env().unwrap();
    tokio::spawn(mlspec_server::serve::serve(
        listener,
        mlspec_server::router(state),
        limits,
    ));
    endpoint
}

fn pipeline_run(id: &str, status: &str, tags: &[(&str, String)]) -> String {
    let end = if status == "Running" {
        ""
    } else {
        "\n  endTime: 2026-12-06T10:01:00Z"
    };
    let tags: String = match tags {
        [] => " {}".to_owned(),
        tags => tags.iter().map(|(k, v)| format!("\n    {k}: \"{v}\"")).collect(),
    };
    format!(
        "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  name: penguins-training\n  id: {id}\nspec:\n  \
         pipeline: Pipeline/penguins-training\n  status: {status}\n  startTime: 2026-12-06T10:00:00Z{end}\n  tags:{tags}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pipeline_shows_each_steps_state_from_the_store_and_its_endpoints() {
    let [pipeline_id, validate, split, train] = std::array::from_fn(|_| mlspec_spec::ObjectId::generate().to_string());
    let live = step_endpoints(&split, mlspec_server::Phase::Running).await;
    // train's tag names a loopback endpoint that answers for another Run: not trusted.
    let tags = [
        ("mlspec.step/validate", format!("{validate} http://127.0.0.1:9")),
        ("mlspec.step/split", format!("{split} {live}")),
        ("mlspec.step/train", format!("{train} {live}")),
    ];
    let validated = format!(
        "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  name: validate\n  id: {validate}\nspec:\n  parent: {pipeline_id}\n  \
         status: Finished\n  startTime: 2026-12-06T10:00:00Z\n  endTime: 2026-12-06T10:00:04.5Z\n"
    );
    let (router, store, _dir) = ui_over(&[
        include_str!("../../../docs/spec/examples/pipeline.yaml"),
        &pipeline_run(&pipeline_id, "Running", &tags),
        &validated,
    ])
    .await;

    let (status, body) = get(&router, &format!("/ui/pipelines/{pipeline_id}/state")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["running"], true);
    let steps: Vec<(&str, &str)> = answer["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("validate", "finished"),
            ("split", "running"),
            ("train", "unreachable"),
            ("evaluate", "waiting")
        ]
    );
    assert_eq!(answer["steps"][0]["detail"], "in 4.5 s");
    assert_eq!(answer["steps"][0]["href"], format!("/ui/objects/{validate}"));
    assert!(
        answer["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .ends_with(&format!("at {live}"))
    );

    let (status, html) = get(&router, &format!("/ui/objects/{pipeline_id}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Steps, live"), "{html}");
    assert!(html.contains("data-nodes=\"4\""), "{html}");
    assert!(
        html.contains("<td data-step-state=\"split\" class=\"busy\">running</td>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("\"state\":\"/ui/pipelines/{pipeline_id}/state\"")),
        "{html}"
    );

    // Ended: the page is the Run's own, and the state says so (the script then reloads).
    let ended = mlspec_spec::validate_text(
        &pipeline_run(&pipeline_id, "Finished", &[]),
        mlspec_spec::Format::Yaml,
        &Default::default(),
    );
    assert_eq!(ended.documents.len(), 1, "{:?}", ended.diagnostics);
    store.apply(&ended.documents, "test").await.unwrap();
    let (_, body) = get(&router, &format!("/ui/pipelines/{pipeline_id}/state")).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["running"],
        false
    );
    let (_, html) = get(&router, &format!("/ui/objects/{pipeline_id}")).await;
    assert!(!html.contains("Steps, live"), "{html}");
    // Not a pipeline's run: no state to ask.
    let (status, _) = get(&router, &format!("/ui/pipelines/{validate}/state")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

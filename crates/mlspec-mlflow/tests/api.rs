//! The MLflow API's answers to faults and bad input, over HTTP requests to the router: MLflow's
//! error codes and statuses, proto3's non-finite doubles, limits, artifact paths that try to
//! leave the root, and hostile bodies on every route — which must never get a 5xx (the client
//! retries those for minutes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use mlspec_store::{Location, SqlStore, Store};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Api {
    app: Router,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::parse(&format!("sqlite:{}", dir.path().join("store.db").display())).unwrap();
    let (store, _) = SqlStore::init(&location).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let app = mlspec_mlflow::router(store.clone(), dir.path().join("artifacts"));
    Api { app, store, dir }
}

impl Api {
    async fn send(
        &self,
        method: Method,
        uri: impl AsRef<str>,
        content_type: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri.as_ref());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let uri = format!("/api/2.0/mlflow/{path}");
        self.send(
            Method::POST,
            &uri,
            Some("application/json"),
            Body::from(body.to_string()),
        )
        .await
    }

    async fn get(&self, path_and_query: &str) -> (StatusCode, Value) {
        self.send(
            Method::GET,
            &format!("/api/2.0/mlflow/{path_and_query}"),
            None,
            Body::empty(),
        )
        .await
    }

    /// A run in a new experiment; returns its id.
    async fn run(&self) -> String {
        let (_, created) = self.post("experiments/create", json!({"name": "faults"})).await;
        let experiment = created["experiment_id"].as_str().unwrap().to_owned();
        let (status, run) = self
            .post("runs/create", json!({"experiment_id": experiment, "start_time": 1000}))
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        run["run"]["info"]["run_id"].as_str().unwrap().to_owned()
    }
}

fn code(body: &Value) -> &str {
    body["error_code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn mlflow_error_codes_and_statuses() {
    let api = api().await;
    let (status, body) = api.get("experiments/get-by-name?experiment_name=nope").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
    api.post("experiments/create", json!({"name": "x"})).await;
    let (status, body) = api.post("experiments/create", json!({"name": "x"})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS")
    );
    let (status, body) = api.get("runs/get?run_id=0123456789abcdef0123456789abcdef").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
    let (status, body) = api.get("runs/get").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    // The Default experiment exists from the start, as on MLflow's server.
    let (status, body) = api.get("experiments/get?experiment_id=0").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiment"]["name"], "Default");
}

#[tokio::test]
async fn experiments_keep_exact_names_through_renames() {
    let api = api().await;
    let (_, first) = api.post("experiments/create", json!({"name": "my exp/1"})).await;
    let id = first["experiment_id"].as_str().unwrap().to_owned();
    let (_, other) = api.post("experiments/create", json!({"name": "My-Exp"})).await;
    let (status, _) = api.post("experiments/create", json!({"name": "my-exp"})).await;
    assert_eq!(status, StatusCode::OK, "names differing in case are distinct in MLflow");
    let (status, _) = api
        .post(
            "experiments/update",
            json!({"experiment_id": id, "new_name": "renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, found) = api.get("experiments/get-by-name?experiment_name=renamed").await;
    assert_eq!(found["experiment"]["experiment_id"], json!(id));
    let (status, _) = api.get("experiments/get-by-name?experiment_name=my%20exp%2F1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .post(
            "experiments/update",
            json!({"experiment_id": other["experiment_id"], "new_name": "renamed"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS")
    );
    let (_, found) = api.get("experiments/get-by-name?experiment_name=my-exp").await;
    assert_eq!(found["experiment"]["name"], "my-exp");
}

#[tokio::test]
async fn experiments_search_by_get_takes_the_query_string() {
    let api = api().await;
    for name in ["b-exp", "a-exp", "c-exp"] {
        api.post("experiments/create", json!({"name": name})).await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, posted) = api
        .post(
            "experiments/search",
            json!({"filter": "name LIKE '%-exp'", "order_by": ["name DESC"], "max_results": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, got) = api
        .get("experiments/search?filter=name%20LIKE%20%27%25-exp%27&order_by=name%20DESC&order_by=creation_time&max_results=2")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&got), ["c-exp", "b-exp"]);
    assert_eq!(names(&got), names(&posted));
    let (_, next) = api
        .get(&format!(
            "experiments/search?filter=name%20LIKE%20%27%25-exp%27&order_by=name%20DESC&max_results=2&page_token={}",
            got["next_page_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(names(&next), ["a-exp"]);
    let (status, body) = api.get("experiments/search?max_results=many").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
}

#[tokio::test]
async fn a_run_whose_name_is_taken_is_named_by_its_whole_id() {
    let api = api().await;
    let run = api.run().await;
    let taken = format!("taken-{}", &run[24..]);
    let document: mlspec_spec::Document = serde_json::from_value(json!({
        "apiVersion": "mlspec/v1", "kind": "Run",
        "metadata": {"name": taken}, "spec": {"status": "Running"}
    }))
    .unwrap();
    api.store.apply(&[document], "test").await.unwrap();
    let (status, body) = api
        .post("runs/update", json!({"run_id": run, "run_name": "taken"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let selector = mlspec_store::Selector::Id(mlspec_spec::ObjectId::new(run.as_str()).unwrap());
    let stored = api.store.get(&selector).await.unwrap();
    assert_eq!(stored.summary.name, format!("taken-{run}"));
    // Later changes keep that name.
    let (status, _) = api
        .post("runs/set-tag", json!({"run_id": run, "key": "k", "value": "v"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.store.get(&selector).await.unwrap().summary.name,
        format!("taken-{run}")
    );
}

#[tokio::test]
async fn registered_models_differing_in_case_each_start_at_version_1() {
    let api = api().await;
    let run = api.run().await;
    let (_, found) = api.get(&format!("runs/get?run_id={run}")).await;
    let experiment = found["run"]["info"]["experiment_id"].as_str().unwrap().to_owned();
    let uri = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model/MLmodel");
    let (status, _) = api
        .send(Method::PUT, uri, Some("text/plain"), Body::from("flavors: {}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    for name in ["Reg", "reg"] {
        api.post("registered-models/create", json!({"name": name})).await;
        let source = format!("runs:/{run}/model");
        let (status, body) = api
            .post(
                "model-versions/create",
                json!({"name": name, "source": source, "run_id": run}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["model_version"]["version"], "1");
        assert_eq!(body["model_version"]["status"], "READY");
    }
    let (status, body) = api
        .post(
            "model-versions/create",
            json!({"name": "reg", "source": "s3://bucket/model"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    let (status, body) = api.get("model-versions/get?name=reg&version=7").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
}

#[tokio::test]
async fn wrong_content_types_and_malformed_json_are_400s() {
    let api = api().await;
    let uri = "/api/2.0/mlflow/experiments/create";
    let (status, body) = api
        .send(Method::POST, uri, Some("text/plain"), Body::from(r#"{"name": "x"}"#))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    assert!(body["message"].as_str().unwrap().contains("application/json"));
    let (status, body) = api
        .send(Method::POST, uri, Some("application/json"), Body::from("{\"name\": "))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    assert!(body["message"].as_str().unwrap().contains("malformed JSON"), "{body}");
}

#[tokio::test]
async fn run_uuid_and_proto3_doubles() {
    let api = api().await;
    let run = api.run().await;
    for (value, step) in [
        (json!("NaN"), 0),
        (json!("Infinity"), 1),
        (json!("-Infinity"), 2),
        (json!(0.5), 3),
    ] {
        let (status, body) = api
            .post(
                "runs/log-metric",
                json!({"run_uuid": run, "key": "m", "value": value, "timestamp": "1700000000000", "step": step}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, history) = api
        .get(&format!("metrics/get-history?run_uuid={run}&metric_key=m"))
        .await;
    let values: Vec<&Value> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["value"])
        .collect();
    assert_eq!(
        values,
        [&json!("NaN"), &json!("Infinity"), &json!("-Infinity"), &json!(0.5)]
    );
    let (_, found) = api.get(&format!("runs/get?run_uuid={run}")).await;
    assert_eq!(found["run"]["info"]["run_uuid"], json!(run));
    assert_eq!(found["run"]["info"]["run_id"], json!(run));
}

#[tokio::test]
async fn history_pages() {
    let api = api().await;
    let run = api.run().await;
    let metrics: Vec<Value> = (0..7)
        .map(|s| json!({"key": "k", "value": s, "timestamp": 1, "step": s}))
        .collect();
    api.post("runs/log-batch", json!({"run_id": run, "metrics": metrics}))
        .await;
    let mut steps = Vec::new();
    let mut token = String::new();
    loop {
        let (_, page) = api
            .get(&format!(
                "metrics/get-history?run_id={run}&metric_key=k&max_results=3&page_token={token}"
            ))
            .await;
        steps.extend(
            page["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["step"].as_i64().unwrap()),
        );
        match page["next_page_token"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(steps, [0, 1, 2, 3, 4, 5, 6]);
}

/// Every page of a runs/search, concatenated.
async fn search_all(api: &Api, experiment: &str, filter: &str, order_by: Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = Value::Null;
    loop {
        let (status, page) = api
            .post(
                "runs/search",
                json!({"experiment_ids": [experiment], "filter": filter, "max_results": 2,
                       "page_token": token, "order_by": order_by}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let runs = page["runs"].as_array().cloned().unwrap_or_default();
        ids.extend(runs.iter().map(|r| r["info"]["run_id"].as_str().unwrap().to_owned()));
        match &page["next_page_token"] {
            Value::String(next) => token = json!(next),
            _ => return ids,
        }
    }
}

#[tokio::test]
async fn run_search_pages_newest_first_by_index_or_by_document() {
    let api = api().await;
    let (_, created) = api.post("experiments/create", json!({"name": "paging"})).await;
    let experiment = created["experiment_id"].as_str().unwrap().to_owned();
    let mut made = Vec::new();
    for i in 0..5 {
        let (_, run) = api.post("runs/create", json!({"experiment_id": experiment})).await;
        let id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
        let metric = json!({"run_id": id, "key": "acc", "value": i, "timestamp": 1, "step": 0});
        api.post("runs/log-metric", metric).await;
        api.post(
            "runs/set-tag",
            json!({"run_id": id, "key": "even", "value": (i % 2 == 0).to_string()}),
        )
        .await;
        made.push(id);
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();
    // The index decides: the store pages.
    assert_eq!(search_all(&api, &experiment, "", json!([])).await, newest_first);
    assert_eq!(
        search_all(&api, &experiment, "metrics.acc >= 1", json!([])).await,
        newest_first[..4]
    );
    // Tags and order_by: the documents decide.
    let even: Vec<String> = newest_first.iter().step_by(2).cloned().collect();
    assert_eq!(
        search_all(&api, &experiment, "tags.even = 'true'", json!([])).await,
        even
    );
    let by_acc = search_all(&api, &experiment, "", json!(["metrics.acc ASC"])).await;
    assert_eq!(by_acc, made);
}

#[tokio::test]
async fn limits_and_bad_filters_are_400s_that_say_why() {
    let api = api().await;
    let run = api.run().await;
    let metrics: Vec<Value> = (0..1001)
        .map(|s| json!({"key": "k", "value": 1, "timestamp": 1, "step": s}))
        .collect();
    let (status, body) = api
        .post("runs/log-batch", json!({"run_id": run, "metrics": metrics}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    let (status, _) = api
        .post(
            "runs/set-tag",
            json!({"run_id": run, "key": "t", "value": "v".repeat(8001)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .post(
            "runs/search",
            json!({"experiment_ids": ["0"], "filter": "metrics.acc > 0.5 or params.x = 'y'"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
    );
    assert!(body["message"].as_str().unwrap().contains("at position 18"), "{body}");
    let (status, _) = api
        .post(
            "runs/log-parameter",
            json!({"run_id": run, "key": "bad\u{7}key", "value": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn artifact_paths_stay_under_the_root() {
    let api = api().await;
    let put = |path: &str| {
        let uri = format!("/api/2.0/mlflow-artifacts/artifacts/{path}");
        api.send(Method::PUT, uri, Some("text/plain"), Body::from("x"))
    };
    for path in [
        "1/../../escape.txt",
        "1/%2e%2e/x",
        "/etc/x",
        ".mlspec/registry/x.json",
        "a//b",
    ] {
        let (status, body) = put(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    assert!(!api.dir.path().join("escape.txt").exists());
    let (status, _) = put("1/run/artifacts/ok.txt").await;
    assert_eq!(status, StatusCode::OK);
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), api.dir.path().join("artifacts/1/link")).unwrap();
        let (status, _) = put("1/link/planted.txt").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(!outside.path().join("planted.txt").exists());
    }
    let list = |path: &str| {
        let uri = format!("/api/2.0/mlflow-artifacts/artifacts?path={path}");
        api.send(Method::GET, uri, None, Body::empty())
    };
    let (status, _) = list("../").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = list("1/run/artifacts").await;
    assert_eq!((status, &body["files"][0]["path"]), (StatusCode::OK, &json!("ok.txt")));
    let (status, body) = list("1/run/artifacts/ok.txt").await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let (status, _) = api
        .send(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/missing",
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Every JSON route, with its method.
const ROUTES: &[&str] = &[
    "experiments/create",
    "experiments/search",
    "experiments/update",
    "experiments/delete",
    "experiments/restore",
    "experiments/set-experiment-tag",
    "runs/create",
    "runs/update",
    "runs/delete",
    "runs/restore",
    "runs/log-parameter",
    "runs/log-metric",
    "runs/log-batch",
    "runs/set-tag",
    "runs/delete-tag",
    "runs/search",
    "runs/log-inputs",
    "runs/outputs",
    "logged-models",
    "logged-models/search",
    "registered-models/create",
    "registered-models/rename",
    "registered-models/get-latest-versions",
    "registered-models/alias",
    "model-versions/create",
];

fn hostile_bodies(run: &str) -> Vec<String> {
    let mut bodies: Vec<String> = ["", "[]", "null", "\"x\"", "{", "{\"a\":1}", "1e999", "{\"run_id\": 5}"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for value in [
        json!(""),
        json!("../../x"),
        json!("\u{0}"),
        json!(-1),
        json!("x".repeat(70_000)),
        json!(null),
    ] {
        let fields = [
            "run_id",
            "experiment_id",
            "name",
            "key",
            "value",
            "filter",
            "status",
            "source",
            "new_name",
            "alias",
            "version",
            "model_id",
            "source_run_id",
            "page_token",
            "max_results",
            "step",
            "timestamp",
        ];
        let mut body = serde_json::Map::new();
        for field in fields {
            body.insert(field.to_owned(), value.clone());
        }
        bodies.push(Value::Object(body.clone()).to_string());
        body.insert("run_id".to_owned(), json!(run));
        bodies.push(Value::Object(body).to_string());
    }
    bodies.push(json!({"run_id": run, "datasets": [{"dataset": {"name": "", "digest": "\u{0}"}}]}).to_string());
    bodies.push(json!({"run_id": run, "metrics": [{"key": "k", "value": "nope"}]}).to_string());
    bodies.push(json!({"run_id": run, "models": [{"model_id": "m-none"}]}).to_string());
    bodies.push(json!({"name": "reg", "source": "runs:/../x"}).to_string());
    bodies
}

#[tokio::test]
async fn hostile_bodies_never_get_a_5xx() {
    let api = api().await;
    let run = api.run().await;
    for route in ROUTES {
        for body in hostile_bodies(&run) {
            let uri = format!("/api/2.0/mlflow/{route}");
            let (status, answer) = api
                .send(Method::POST, &uri, Some("application/json"), Body::from(body.clone()))
                .await;
            assert!(
                !status.is_server_error(),
                "{route} answered {status} to {}: {answer}",
                &body[..body.len().min(200)]
            );
        }
    }
}

#[test]
fn arbitrary_filters_and_tokens_never_get_a_5xx() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = runtime.block_on(api());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    let strategy = ("\\PC{0,40}", "\\PC{0,12}");
    runner
        .run(&strategy, |(filter, token)| {
            let (status, _) = runtime.block_on(api.post(
                "runs/search",
                json!({"experiment_ids": ["0"], "filter": filter, "page_token": token, "order_by": [filter]}),
            ));
            prop_assert!(!status.is_server_error());
            let (status, _) = runtime.block_on(api.post("logged-models/search", json!({"filter": filter})));
            prop_assert!(!status.is_server_error());
            Ok(())
        })
        .unwrap();
}

//! The step endpoints, driven through the router without a network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mlspec_server::{Phase, StepInfo, StepState, router};
use tower::ServiceExt;

fn step() -> Arc<StepState> {
    Arc::new(StepState::new(StepInfo {
        name: "train".into(),
        run_id: "run-1".into(),
        module: Some("Module/train@1".into()),
        params: BTreeMap::from([("lr".to_owned(), serde_json::json!(0.1))]),
        command: vec!["python".into(), "train.py".into()],
        host: "host".into(),
        env: BTreeMap::new(),
    }))
}

async fn call(state: &Arc<StepState>, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(state: &Arc<StepState>, path: &str) -> (StatusCode, String) {
    let (status, _, body) = call(state, Request::get(path).body(Body::empty()).unwrap()).await;
    (status, body)
}

async fn post(state: &Arc<StepState>, body: &str) -> (StatusCode, String) {
    let request = Request::post("/api/v1/metrics")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let (status, _, body) = call(state, request).await;
    (status, body)
}

#[tokio::test]
async fn health_follows_the_phase() {
    let state = step();
    for path in ["/ok", "/readyz", "/v2/health/ready", "/healthz", "/v2/health/live"] {
        assert_eq!(get(&state, path).await, (StatusCode::OK, "ok\n".to_owned()), "{path}");
    }
    state.started(42);
    state.exited(
        Some(3),
        Phase::Failed {
            reason: "the command exited with code 3".into(),
        },
    );
    for path in ["/ok", "/readyz", "/v2/health/ready"] {
        let (status, body) = get(&state, path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(body, "failed: the command exited with code 3\n");
    }
    assert_eq!(
        get(&state, "/healthz").await.0,
        StatusCode::OK,
        "a failed step is still alive"
    );
    state.set_phase(Phase::ShuttingDown {
        reason: "SIGTERM".into(),
    });
    assert_eq!(
        get(&state, "/v2/health/live").await,
        (StatusCode::SERVICE_UNAVAILABLE, "shutting_down: SIGTERM\n".to_owned())
    );
    state.set_phase(Phase::Running);
    assert_eq!(
        get(&state, "/ok").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting down is final"
    );
}

#[tokio::test]
async fn varz_describes_the_step() {
    let state = step();
    state.started(4242);
    let (status, body) = get(&state, "/varz").await;
    assert_eq!(status, StatusCode::OK);
    let varz: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(varz["name"], "train");
    assert_eq!(varz["runId"], "run-1");
    assert_eq!(varz["module"], "Module/train@1");
    assert_eq!(varz["params"]["lr"], 0.1);
    assert_eq!(varz["childPid"], 4242);
    assert_eq!(varz["pid"], std::process::id());
    assert_eq!(varz["state"]["state"], "running");
    assert!(varz["uptimeSeconds"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn varz_never_shows_secrets() {
    let secrets = ["hunter2", "ak_live_1", "tok_2", "pw3", "sig4", "s3cr3t", "12345"];
    let state = Arc::new(StepState::new(StepInfo {
        name: "train".into(),
        run_id: "run-1".into(),
        module: None,
        params: BTreeMap::from([
            ("lr".to_owned(), serde_json::json!(0.1)),
            ("db_password".to_owned(), serde_json::json!("s3cr3t")),
            ("api_key".to_owned(), serde_json::json!(12345)),
            ("tokenizer".to_owned(), serde_json::json!("bpe")),
        ]),
        command: [
            "python",
            "train.py",
            "--api-key",
            "ak_live_1",
            "--token=tok_2",
            "--epochs",
            "3",
        ]
        .map(String::from)
        .to_vec(),
        host: "host".into(),
        env: BTreeMap::from([
            ("MLSPEC_STORE".to_owned(), "postgres://ml:hunter2@db:5432/ml".to_owned()),
            ("MLSPEC_DB_PASSWORD".to_owned(), "pw3".to_owned()),
            (
                "MLSPEC_DATA".to_owned(),
                "https://b.s3.amazonaws.com/x?X-Amz-Signature=sig4".to_owned(),
            ),
            ("PWD".to_owned(), "/home/ada".to_owned()),
        ]),
    }));
    let (_, body) = get(&state, "/varz").await;
    for secret in secrets {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    let varz: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(varz["env"]["MLSPEC_STORE"], "postgres://ml:***@db:5432/ml");
    assert_eq!(varz["env"]["MLSPEC_DB_PASSWORD"], "***");
    assert_eq!(varz["env"]["PWD"], "/home/ada");
    assert_eq!(varz["params"]["tokenizer"], "bpe");
    assert_eq!(varz["params"]["lr"], 0.1);
    assert_eq!(
        varz["command"],
        serde_json::json!(["python", "train.py", "--api-key", "***", "--token=***", "--epochs", "3"])
    );
}

#[tokio::test]
async fn metrics_in_both_formats() {
    let state = step();
    state.started(std::process::id());
    assert_eq!(
        post(
            &state,
            r#"[{"key":"loss","value":0.31,"step":120},{"key":"val/acc","value":[0.9,0.8]}]"#
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let text = call(&state, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(text.1, "text/plain; version=0.0.4; charset=utf-8");
    for line in [
        "# TYPE process_cpu_seconds_total counter",
        "mlspec_step_state{state=\"running\"} 1",
        "mlspec_step_state{state=\"failed\"} 0",
        "# TYPE loss gauge",
        "loss 0.31",
        "val_acc{index=\"1\"} 0.8",
    ] {
        assert!(text.2.lines().any(|l| l == line), "missing `{line}` in\n{}", text.2);
    }
    assert!(!text.2.contains("# EOF"));
    let request = Request::get("/metrics")
        .header(header::ACCEPT, "application/openmetrics-text; version=1.0.0")
        .body(Body::empty())
        .unwrap();
    let om = call(&state, request).await;
    assert_eq!(om.1, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.2.ends_with("# EOF\n"));
    assert!(om.2.lines().any(|l| l == "# TYPE process_cpu_seconds counter"));
    assert!(om.2.lines().any(|l| l.starts_with("process_cpu_seconds_total ")));
}

#[tokio::test]
async fn keys_mapping_to_one_name_keep_their_key() {
    let state = step();
    post(&state, r#"[{"key":"val/loss","value":1},{"key":"val_loss","value":2}]"#).await;
    let (_, body) = get(&state, "/metrics").await;
    assert!(body.contains("val_loss{key=\"val/loss\"} 1\n"), "{body}");
    assert!(body.contains("val_loss{key=\"val_loss\"} 2\n"), "{body}");
    assert_eq!(body.matches("# TYPE val_loss gauge").count(), 1);
}

#[tokio::test]
async fn bad_posts_are_refused_with_the_reason() {
    let state = step();
    let cases = [
        ("not json", "the body is not JSON"),
        (r#"{"key":"loss"}"#, "missing field `value`"),
        (r#"{"key":"loss","value":"high"}"#, "the metric"),
        (r#"{"key":"loss","value":1e999}"#, "the body is not JSON"),
        (r#"[{"key":"a","value":1},{"key":"","value":2}]"#, "metric 1"),
        ("42", "expected a metric object or an array"),
    ];
    for (body, reason) in cases {
        let (status, answer) = post(&state, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer.contains(reason), "{body}: {answer}");
    }
    assert!(state.latest().is_empty(), "nothing of a refused post is kept");
    assert_eq!(get(&state, "/ok").await.0, StatusCode::OK, "the step keeps running");
}

#[tokio::test]
async fn history_keeps_one_value_per_key_and_step() {
    let state = step();
    post(
        &state,
        r#"[{"key":"loss","value":3,"step":1},{"key":"loss","value":2,"step":2},{"key":"loss","value":1,"step":2}]"#,
    )
    .await;
    let history = state.history();
    let values: Vec<(Option<u64>, String)> = history.iter().map(|m| (m.step, format!("{:?}", m.value))).collect();
    assert_eq!(
        values,
        [(Some(1), "Scalar(3.0)".to_owned()), (Some(2), "Scalar(1.0)".to_owned())]
    );
    assert_eq!(state.latest()["loss"].count, 3);
}

#[tokio::test]
async fn posts_past_a_limit_get_413_and_non_finite_values_400_with_a_json_reason() {
    let state = step();
    let oversized = format!("[{}]", " ".repeat(mlspec_server::MAX_POST_BYTES));
    let (status, answer) = post(&state, &oversized).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("the body is over 1048576 bytes"),
        "{answer}"
    );
    for body in [
        r#"{"key":"x","value":NaN}"#,
        r#"{"key":"x","value":{"a":Infinity}}"#,
        r#"[{"key":"x","value":-Infinity}]"#,
    ] {
        let (status, answer) = post(&state, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer.contains("NaN and infinite values cannot be recorded"),
            "{body}: {answer}"
        );
    }
    let keys: Vec<String> = (0..1_000).map(|i| format!(r#"{{"key":"k{i}","value":1}}"#)).collect();
    assert_eq!(
        post(&state, &format!("[{}]", keys.join(","))).await.0,
        StatusCode::ACCEPTED
    );
    let (status, answer) = post(&state, r#"[{"key":"k1","value":2},{"key":"new","value":1}]"#).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("already has 1000 metric keys"),
        "{answer}"
    );
    let wide = format!(r#"{{"key":"w","value":[{}]}}"#, vec!["1"; 1_000].join(","));
    let (status, answer) = post(&state, &wide).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer.contains("holds more than 1000 numbers, arrays and objects"),
        "{answer}"
    );
    assert_eq!(state.history().len(), 1_000);
}

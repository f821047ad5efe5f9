//! MLSpec's HTTP side. For now: the standard endpoints every pipeline step serves, so that any
//! orchestrator, prober or scraper can watch any step the same way.
//!
//! | endpoint | answers |
//! |---|---|
//! | `GET /ok`, `/readyz`, `/v2/health/ready` | **readiness**: 200 `ok` while the step is starting, running or finished well; 503 with the reason once it failed or is shutting down |
//! | `GET /healthz`, `/v2/health/live` | **liveness**: 200 `ok` while the step serves, even after its command failed (restarting would not help; the failure is in `/ok`); 503 once it is shutting down |
//! | `GET /varz` | JSON: name, run id, module, params, command, start time, uptime, pids, host, mlspec version, state, allow-listed environment (secrets redacted) |
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics 1.0 when the Accept header asks for it ([`exposition`]) |
//! | `POST /api/v1/metrics` | records one metric `{"key":"loss","value":0.31,"step":120}` or an array of them; 400 with the reason for anything else |
//! | `GET /v2` | Open Inference Protocol server metadata, for OIP clients |
//!
//! The `/v2/...` paths are the Open Inference Protocol's, so KServe and Triton clients and
//! Kubernetes probes work unchanged. [`router`] gives the endpoints to any Rust program.

pub mod exposition;
pub mod probe;
pub mod process;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mlspec_spec::values::Metric;
use serde_json::{Value, json};

pub use state::{Phase, StepInfo, StepState};

/// How long a rendered `/metrics` page is served again while nothing reported changes: its
/// process CPU and memory figures are at most this old. Reported metrics and state changes
/// show at once.
pub const PAGE_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(500);

/// The largest metric post accepted, in bytes.
pub const MAX_POST_BYTES: usize = 4 * 1024 * 1024;

/// The standard step endpoints over `state`.
pub fn router(state: Arc<StepState>) -> Router {
    Router::new()
        .route("/ok", get(ready))
        .route("/readyz", get(ready))
        .route("/v2/health/ready", get(ready))
        .route("/healthz", get(live))
        .route("/v2/health/live", get(live))
        .route("/varz", get(varz))
        .route("/metrics", get(metrics))
        .route("/api/v1/metrics", axum::routing::post(post_metrics))
        .route("/v2", get(server_metadata))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POST_BYTES))
        .with_state(state)
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn ready(State(state): State<Arc<StepState>>) -> Response {
    let phase = state.phase();
    match phase.reason() {
        None => text(StatusCode::OK, "ok\n".to_owned()),
        Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{}: {reason}\n", phase.name())),
    }
}

async fn live(State(state): State<Arc<StepState>>) -> Response {
    match state.phase() {
        Phase::ShuttingDown { reason } => text(StatusCode::SERVICE_UNAVAILABLE, format!("shutting_down: {reason}\n")),
        _ => text(StatusCode::OK, "ok\n".to_owned()),
    }
}

async fn varz(State(state): State<Arc<StepState>>) -> Response {
    let info = &state.info;
    axum::Json(json!({
        "name": info.name,
        "runId": info.run_id,
        "module": info.module,
        "params": info.params,
        "command": info.command,
        "startTime": state.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "uptimeSeconds": state.uptime_seconds(),
        "pid": std::process::id(),
        "childPid": state.child_pid(),
        "host": info.host,
        "mlspecVersion": env!("CARGO_PKG_VERSION"),
        "state": state.phase(),
        "exitCode": state.exit_code(),
        "env": info.env,
    }))
    .into_response()
}

async fn metrics(State(state): State<Arc<StepState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = exposition::Format::negotiate(accept);
    let page = state.page(format as u8, PAGE_MAX_AGE, || {
        let own = process::stats("self").unwrap_or_default();
        let child = state.child_pid().and_then(|pid| process::stats(&pid.to_string()));
        exposition::render(&state, &own, child.as_ref(), format)
    });
    ([(header::CONTENT_TYPE, format.content_type())], page).into_response()
}

async fn post_metrics(State(state): State<Arc<StepState>>, body: Bytes) -> Response {
    match parse_metrics(&body) {
        Ok(metrics) => {
            let accepted = metrics.len();
            state.report(metrics);
            (StatusCode::ACCEPTED, axum::Json(json!({ "accepted": accepted }))).into_response()
        }
        Err(reason) => (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": reason }))).into_response(),
    }
}

async fn server_metadata() -> Response {
    axum::Json(json!({ "name": "mlspec-step", "version": env!("CARGO_PKG_VERSION"), "extensions": [] })).into_response()
}

/// Parses a metric post: one metric object or an array of them, each
/// `{"key": K, "value": NUMBER|ARRAY|OBJECT, "step"?: N, "timestamp"?: RFC3339}`.
pub fn parse_metrics(body: &[u8]) -> Result<Vec<Metric>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let one = |value: Value, at: &str| {
        serde_json::from_value::<Metric>(value)
            .map_err(|e| format!("{at}: {e}; expected {{\"key\": \"loss\", \"value\": 0.31, \"step\": 120}}"))
    };
    match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| one(item, &format!("metric {i}")))
            .collect(),
        Value::Object(_) => Ok(vec![one(value, "the metric")?]),
        _ => Err("expected a metric object or an array of them".to_owned()),
    }
}

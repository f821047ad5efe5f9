//! MLSpec's HTTP side: the standard endpoints every pipeline step serves, so that any
//! orchestrator, prober or scraper can watch any step the same way; the store's REST API
//! ([`api`]); and `mlspec server`, which serves both over one store ([`server`]).
//!
//! | endpoint | answers |
//! |---|---|
//! | `GET /ok`, `/readyz`, `/v2/health/ready` | **readiness**: 200 `ok` while the step is starting, running or finished well; 503 with the reason once it failed or is shutting down |
//! | `GET /healthz`, `/v2/health/live` | **liveness**: 200 `ok` while the step serves, even after its command failed (restarting would not help; the failure is in `/ok`); 503 once it is shutting down |
//! | `GET /varz` | JSON: name, run id, module, params, command, start time, uptime, pids, host, mlspec version, state, allow-listed environment (secrets redacted) |
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics 1.0 when the Accept header asks for it ([`exposition`]) |
//! | `POST /api/v1/metrics` | records one metric `{"key":"loss","value":0.31,"step":120}` or an array of them; 400 with the reason for anything malformed (NaN and infinities included), 413 past a limit ([`history`], [`MAX_POST_BYTES`], [`MAX_METRICS_PER_POST`]) |
//! | `GET /v2` | Open Inference Protocol server metadata, for OIP clients |
//!
//! The `/v2/...` paths are the Open Inference Protocol's, so KServe and Triton clients and
//! Kubernetes probes work unchanged. [`router`] gives the endpoints to any Rust program
//! ([`probes`]: the five every mlspec process serves), and [`serve::serve`] serves them with
//! bounded connections.

pub mod api;
pub mod auth;
pub mod exposition;
pub mod history;
pub mod probe;
pub mod process;
pub mod serve;
pub mod server;
pub mod state;

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt as _;
use mlspec_spec::values::Metric;
use serde_json::{Value, json};

pub use serve::{BodyTimeout, ServeLimits};
pub use state::{Phase, StepInfo, StepState};

/// How long a rendered `/metrics` page is served again while nothing reported changes: its
/// process CPU and memory figures are at most this old. Reported metrics and state changes
/// show at once.
pub const PAGE_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(500);

/// The largest metric post accepted, in bytes; also the longest line of a metrics file.
pub const MAX_POST_BYTES: usize = 1 << 20;
/// The most metrics in one post (or one metrics-file line).
pub const MAX_METRICS_PER_POST: usize = 10_000;

/// The standard step endpoints over `state`.
pub fn router(state: Arc<StepState>) -> Router {
    Router::new()
        .route("/v2/health/ready", get(ready))
        .route("/v2/health/live", get(live))
        .route("/api/v1/metrics", axum::routing::post(post_metrics))
        .route("/v2", get(server_metadata))
        .with_state(state.clone())
        .merge(probes(state))
}

/// The endpoints every mlspec process that serves HTTP answers, a step or `mlspec server`:
/// `/ok`, `/readyz`, `/healthz`, `/varz` and `/metrics`, over `state`.
pub fn probes(state: Arc<StepState>) -> Router {
    Router::new()
        .route("/ok", get(ready))
        .route("/readyz", get(ready))
        .route("/healthz", get(live))
        .route("/varz", get(varz))
        .route("/metrics", get(metrics))
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

async fn post_metrics(
    State(state): State<Arc<StepState>>,
    timeout: Option<Extension<BodyTimeout>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let BodyTimeout(limit) = timeout.map(|Extension(t)| t).unwrap_or_default();
    let body = match read_body(&headers, body, MAX_POST_BYTES, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, too_large_body(), 0),
        Err(BodyError::Unreadable(reason)) => return refuse(StatusCode::BAD_REQUEST, reason, 0),
        Err(BodyError::TooSlow(reason)) => return refuse(StatusCode::REQUEST_TIMEOUT, reason, 0),
    };
    let metrics = match parse_metrics(&body) {
        Ok(metrics) => metrics,
        Err(PostError::Malformed(reason)) => return refuse(StatusCode::BAD_REQUEST, reason, 0),
        Err(PostError::OverLimit(reason)) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, reason, 0),
    };
    match state.report(metrics) {
        Ok(accepted) => (StatusCode::ACCEPTED, axum::Json(json!({ "accepted": accepted }))).into_response(),
        Err((accepted, refused)) => refuse(StatusCode::PAYLOAD_TOO_LARGE, refused.0, accepted),
    }
}

/// Why a request's body could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// It is (or says it is) over the limit (413).
    TooLarge,
    /// The connection failed while it arrived (400).
    Unreadable(String),
    /// It did not arrive in time (408).
    TooSlow(String),
}

/// Reads a request's body whole, refusing one whose declared length or actual size is over
/// `max` bytes (without reading past the limit) or that does not arrive within `limit`.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    limit: std::time::Duration,
) -> Result<axum::body::Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(limit, http_body_util::Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(error)) => Err(BodyError::Unreadable(format!("cannot read the body: {error}"))),
        Err(_) => Err(BodyError::TooSlow(format!(
            "the body did not arrive within {} s",
            limit.as_secs_f64()
        ))),
    }
}

fn too_large_body() -> String {
    format!("the body is over {MAX_POST_BYTES} bytes, the most one post may carry; send fewer metrics per post")
}

/// A refused post: the status, the reason and how many of its metrics were recorded before it.
fn refuse(status: StatusCode, reason: String, accepted: usize) -> Response {
    (status, axum::Json(json!({ "error": reason, "accepted": accepted }))).into_response()
}

async fn server_metadata() -> Response {
    axum::Json(json!({ "name": "mlspec-step", "version": env!("CARGO_PKG_VERSION"), "extensions": [] })).into_response()
}

/// Why a metric post (or metrics-file line) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostError {
    /// Not a metric or an array of metrics (400).
    Malformed(String),
    /// Over a limit (413).
    OverLimit(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Malformed(reason) | PostError::OverLimit(reason) => f.write_str(reason),
        }
    }
}

/// Parses a metric post: one metric object or an array of at most [`MAX_METRICS_PER_POST`],
/// each `{"key": K, "value": NUMBER|ARRAY|OBJECT, "step"?: N, "timestamp"?: RFC3339}` with a
/// finite value within [`history::check_value`]'s limits.
pub fn parse_metrics(body: &[u8]) -> Result<Vec<Metric>, PostError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| PostError::Malformed(not_json(body, &e)))?;
    let one = |value: Value, at: &str| {
        let metric = serde_json::from_value::<Metric>(value).map_err(|e| {
            PostError::Malformed(format!(
                "{at}: {e}; expected {{\"key\": \"loss\", \"value\": 0.31, \"step\": 120}}"
            ))
        })?;
        history::check_value(&metric.value)
            .map_err(|reason| PostError::OverLimit(format!("{at} (`{}`): {reason}", metric.key)))?;
        Ok(metric)
    };
    match value {
        Value::Array(items) if items.len() > MAX_METRICS_PER_POST => Err(PostError::OverLimit(format!(
            "{} metrics in one post; the limit is {MAX_METRICS_PER_POST}",
            items.len()
        ))),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| one(item, &format!("metric {i}")))
            .collect(),
        Value::Object(_) => Ok(vec![one(value, "the metric")?]),
        _ => Err(PostError::Malformed(
            "expected a metric object or an array of them".to_owned(),
        )),
    }
}

/// Why the body is not JSON; NaN and infinities (which Python's `json` writes) named as such.
fn not_json(body: &[u8], error: &serde_json::Error) -> String {
    let line_start = body
        .split_inclusive(|b| *b == b'\n')
        .take(error.line().saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    let at = line_start + error.column().saturating_sub(1);
    let near = body
        .get(at.saturating_sub(1)..(at + 9).min(body.len()))
        .unwrap_or_default();
    let near = String::from_utf8_lossy(near);
    if ["NaN", "Infinity", "inf"].iter().any(|token| near.contains(token)) {
        return format!(
            "the body is not JSON: {error}: NaN and infinite values cannot be recorded (JSON cannot carry them); send a finite number or leave the point out"
        );
    }
    format!("the body is not JSON: {error}")
}

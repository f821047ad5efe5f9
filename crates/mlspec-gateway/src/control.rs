//! The gateway's control endpoints and the decisions behind them: `GET /_mlspec/rollout`,
//! `POST /_mlspec/rollout/promote` and `/abort` (from loopback clients only), the timer that
//! ends planned steps, and what every decision does to the routes, the log and the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use chrono::Utc;
use mlspec_attest::log::{BindingId, Request as LogRequest};
use mlspec_spec::Document;
use mlspec_spec::kinds::Decider;
use mlspec_spec::reference::Ref;
use serde_json::json;

use crate::Gateway;
use crate::logger::Item;
use crate::proxy::gateway_answer as refuse;
use crate::rollout::{Counts, Next};
use crate::route::{Arm, Canary, Route, Routes};

/// What an operator or the monitor decided about the rollout.
pub enum Decision {
    /// The step went well: on to the next.
    Promote(Decider),
    /// The step failed: back to the previous package.
    Abort(Decider, Vec<Ref>, String),
}

/// Applies a decision: the rollout's record, the routes, a log line, the store. None when
/// there is no rollout in progress (none, or over: nothing changes).
pub fn decide(gateway: &Gateway, decision: Decision) -> Option<serde_json::Value> {
    let counts = counts(gateway);
    let mut slot = gateway.rollout.lock().ok()?;
    let rollout = slot.as_mut().filter(|r| !r.is_over())?;
    let next = match decision {
        Decision::Promote(by) => rollout.advance(by, counts),
        Decision::Abort(by, reports, reason) => rollout.abort(by, counts, reports, &reason),
    };
    apply(gateway, next);
    gateway.record(rollout.document());
    Some(rollout.status())
}

/// Changes the routes as the rollout says.
pub fn apply(gateway: &Gateway, next: Next) {
    let routes = gateway.routes.get();
    let Some(canary) = routes.canary.clone() else {
        return;
    };
    let (changed, event) = match next {
        Next::Unchanged => return,
        Next::Share(basis_points) => (
            Routes {
                primary: routes.primary.clone(),
                canary: Some(Canary {
                    basis_points,
                    ..canary.clone()
                }),
            },
            None,
        ),
        Next::Promoted => (
            Routes {
                primary: canary.arm.clone(),
                canary: None,
            },
            Some(("promote", &routes.primary, &canary.arm)),
        ),
        Next::RolledBack => (
            Routes {
                primary: routes.primary.clone(),
                canary: None,
            },
            Some(("rollout-abort", &canary.arm, &routes.primary)),
        ),
    };
    gateway.routes.set(changed.clone());
    if let Some((event, from, to)) = event {
        log_event(gateway, event, from, to, "");
    }
}

/// Appends an event line (`POST /_mlspec/events/EVENT`, status 200) bound to the package
/// that answers from now on, so that the log says when traffic moved and why — and every
/// Combined reader still reads it as a request.
pub fn log_event(gateway: &Gateway, event: &str, from: &Arm, to: &Arm, reason: &str) {
    let mut record = LogRequest {
        client: gateway.listen.ip().to_string(),
        time: Some(Utc::now()),
        method: "POST".into(),
        path: format!("/_mlspec/events/{event}"),
        status: 200,
        request_id: gateway.next_request_id(),
        ..LogRequest::default()
    };
    record.extra.insert("event".into(), event.into());
    record.extra.insert("from".into(), from.binding.model.clone());
    record.extra.insert("to".into(), to.binding.model.clone());
    if !reason.is_empty() {
        record.extra.insert("reason".into(), reason.chars().take(512).collect());
    }
    send_line(gateway, record, to.binding_id);
}

fn send_line(gateway: &Gateway, record: LogRequest, binding: BindingId) {
    let item = Item::Line(Box::new(record), binding, None);
    // From a runtime thread: wait for room without blocking it; elsewhere (the monitor's
    // thread), block until there is room.
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let log = gateway.log.clone();
            handle.spawn(async move { log.send(item).await });
        }
        Err(_) => {
            let _ = gateway.log.blocking_send(item);
        }
    }
}

/// The canary's (or in shadow mode, the shadow copies') counters now.
pub fn counts(gateway: &Gateway) -> Counts {
    let shadow = gateway
        .routes
        .get()
        .canary
        .as_ref()
        .is_some_and(|c| c.mode == crate::route::CanaryMode::Shadow);
    let route = if shadow { Route::Shadow } else { Route::Canary };
    let mut counts = Counts::default();
    for ((r, status), n) in gateway.metrics.responses() {
        if r == route {
            counts.requests += n;
            if status >= 500 {
                counts.errors += n;
            }
        }
    }
    counts.latency_seconds = gateway.metrics.latency[route as usize].snapshot().sum;
    counts
}

/// Ends planned steps when their duration elapses.
pub async fn drive(gateway: Arc<Gateway>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticks.tick().await;
        let due = gateway
            .rollout
            .lock()
            .is_ok_and(|r| r.as_ref().is_some_and(|r| r.is_due()));
        if due {
            decide(&gateway, Decision::Promote(Decider::Schedule));
        }
    }
}

/// `GET /_mlspec/rollout`.
pub async fn status(State(gateway): State<Arc<Gateway>>) -> Response {
    let status = gateway.rollout.lock().ok().and_then(|r| r.as_ref().map(|r| r.status()));
    match status {
        Some(status) => axum::Json(status).into_response(),
        None => refuse(StatusCode::NOT_FOUND, NO_ROLLOUT),
    }
}

const NO_ROLLOUT: &str = "no rollout: the gateway serves one package";

/// Whether the request came from the gateway's own host.
fn from_loopback(request: &axum::extract::Request) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback())
}

/// `POST /_mlspec/rollout/promote`.
pub async fn promote(State(gateway): State<Arc<Gateway>>, request: axum::extract::Request) -> Response {
    operator(&gateway, &request, Decision::Promote(Decider::Operator))
}

/// `POST /_mlspec/rollout/abort`.
pub async fn abort(State(gateway): State<Arc<Gateway>>, request: axum::extract::Request) -> Response {
    let decision = Decision::Abort(Decider::Operator, Vec::new(), "aborted by an operator".into());
    operator(&gateway, &request, decision)
}

fn operator(gateway: &Gateway, request: &axum::extract::Request, decision: Decision) -> Response {
    if !from_loopback(request) {
        let reason = "rollout control is only accepted from the gateway's own host (loopback)";
        return refuse(StatusCode::FORBIDDEN, reason);
    }
    let over = gateway
        .rollout
        .lock()
        .is_ok_and(|r| r.as_ref().is_some_and(|r| r.is_over()));
    if over {
        return refuse(StatusCode::CONFLICT, "the rollout is over");
    }
    match decide(gateway, decision) {
        Some(status) => axum::Json(status).into_response(),
        None => refuse(StatusCode::NOT_FOUND, NO_ROLLOUT),
    }
}

/// A document for the store (dropped and counted when the store is far behind).
pub fn record(
    sink: Option<&tokio::sync::mpsc::Sender<Document>>,
    document: Document,
    dropped: &std::sync::atomic::AtomicU64,
) {
    if let Some(sink) = sink
        && sink.try_send(document).is_err()
    {
        dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The most labels one feedback post may carry.
const MAX_FEEDBACK_BYTES: usize = 64 << 20;

/// `POST /_mlspec/feedback` (loopback only): delayed labels, `{"labels": [{"rid": …, "label":
/// …}]}`, joined by request id to the predictions the monitor keeps. Answers how many matched
/// and up to 20 ids that matched none.
pub async fn feedback(State(gateway): State<Arc<Gateway>>, request: axum::extract::Request) -> Response {
    if !from_loopback(&request) {
        return refuse(
            StatusCode::FORBIDDEN,
            "feedback is only accepted from the gateway's own host (loopback)",
        );
    }
    let Some(monitor) = gateway.monitor.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "the gateway watches no policy (serve it with --policy)",
        );
    };
    let (parts, body) = request.into_parts();
    let body =
        match mlspec_server::read_body(&parts.headers, body, MAX_FEEDBACK_BYTES, gateway.settings.body_timeout).await {
            Ok(body) => body,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, &format!("cannot read the labels: {e:?}")),
        };
    let labels = match parse_labels(&body) {
        Ok(labels) => labels,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, &reason),
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if monitor.try_send(crate::watcher::Input::Labels(labels, reply)).is_err() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the monitor is busy; send the labels again",
        );
    }
    match answer.await {
        Ok((matched, unmatched)) => {
            axum::Json(json!({ "matched": matched, "unmatchedExamples": unmatched })).into_response()
        }
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "the monitor stopped"),
    }
}

/// `{"labels": [{"rid": "…", "label": 1}, …]}` as (request id, label) pairs.
pub fn parse_labels(body: &[u8]) -> Result<Vec<(String, crate::protocol::Scalar)>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Labels {
        labels: Vec<Label>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Label {
        rid: String,
        label: serde_json::Value,
    }
    let parsed: Labels = serde_json::from_slice(body)
        .map_err(|e| format!("the labels are not {{\"labels\": [{{\"rid\", \"label\"}}]}}: {e}"))?;
    Ok(parsed.labels.into_iter().map(|l| (l.rid, scalar(l.label))).collect())
}

/// A JSON label as a value.
pub fn scalar(value: serde_json::Value) -> crate::protocol::Scalar {
    use crate::protocol::Scalar;
    match value {
        serde_json::Value::Number(n) => n.as_f64().map_or(Scalar::Missing, Scalar::Number),
        serde_json::Value::String(s) => Scalar::Text(s),
        serde_json::Value::Bool(b) => Scalar::Bool(b),
        _ => Scalar::Missing,
    }
}

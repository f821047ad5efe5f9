//! The request path: read the body, choose the package, forward, stream the answer back while
//! hashing it, and hand one log line to the log thread when the answer is complete — or when
//! the client goes away, or the upstream fails.
//!
//! Answers the gateway makes itself carry a JSON body `{"error": …}` and say why in the line's
//! `gateway=` field: `unavailable` (503: the upstream refuses connections, or the log cannot be
//! written), `bad-gateway` (502: the upstream broke the connection or answered something that
//! is not HTTP), `timeout` (504: no answer head within `--upstream-timeout`), `too-large`
//! (413), `body-timeout` (408). A client that leaves before its answer is complete (or whose
//! body breaks off) is logged with `aborted=client` — status 499 when no answer had started.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::Utc;
use http_body_util::Full;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use mlspec_attest::log::Request as LogRequest;
use mlspec_server::BodyError;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc::OwnedPermit;

use crate::Gateway;
use crate::capture::Record;
use crate::logger::Item;
use crate::monitor::Sample;
use crate::route::{Arm, Route};

/// Hop-by-hop headers (RFC 9110 §7.6.1), not forwarded either way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// The most of an answer kept for the monitor (its predictions).
const OUTPUT_PREFIX: usize = 256 << 10;

/// The longest request id, path or header value a log line keeps (longer ones are cut, and the
/// line says `truncated=1`).
const ID_LIMIT: usize = 256;
const PATH_LIMIT: usize = 8 << 10;
const HEADER_LIMIT: usize = 1 << 10;

/// The root cause of a client error, for people.
pub fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    deepest.to_string()
}

/// Forwards one request.
pub async fn forward(State(gateway): State<Arc<Gateway>>, request: axum::extract::Request) -> Response {
    let arrival = Instant::now();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (parts, body) = request.into_parts();
    let routes = gateway.routes.get();
    let choice = routes.choose(parts.headers.get("x-mlspec-route").map(HeaderValue::as_bytes), client);
    let Ok(permit) = gateway.log.clone().reserve_owned().await else {
        return gateway_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the inference log is closed: the gateway is stopping",
        );
    };
    let mut pending = Pending::new(&gateway, &parts, client, &choice.arm, choice.route, arrival, permit);
    if let Some(failure) = gateway.log_status.failure() {
        let reason = format!("the inference log cannot be written ({failure}); nothing is served unlogged");
        return pending.refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &reason);
    }
    let body = match mlspec_server::read_body(
        &parts.headers,
        Body::new(body),
        gateway.settings.max_body,
        gateway.settings.body_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let reason = format!(
                "the request body is over {} bytes (--max-body)",
                gateway.settings.max_body
            );
            return pending.refuse(StatusCode::PAYLOAD_TOO_LARGE, "too-large", &reason);
        }
        Err(BodyError::TooSlow(reason)) => return pending.refuse(StatusCode::REQUEST_TIMEOUT, "body-timeout", &reason),
        Err(BodyError::Unreadable(reason)) => return pending.client_left(&reason),
    };
    pending.input(&body);
    if let Some(shadow) = choice.shadow {
        mirror(&gateway, &parts, client, shadow, body.clone());
    }
    let upstream = match upstream_request(&parts, &choice.arm, client, &pending.record.request_id, body) {
        Ok(request) => request,
        Err(reason) => return pending.refuse(StatusCode::BAD_REQUEST, "bad-request", &reason),
    };
    let answer = tokio::time::timeout(gateway.settings.upstream_timeout, gateway.client.request(upstream)).await;
    match answer {
        Ok(Ok(response)) => pending.stream(response),
        Ok(Err(error)) => {
            let (status, kind) = match error.is_connect() {
                true => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                false => (StatusCode::BAD_GATEWAY, "bad-gateway"),
            };
            let reason = format!("upstream {} failed: {}", choice.arm.upstream, cause(&error));
            pending.refuse(status, kind, &reason)
        }
        Err(_) => {
            let reason = format!(
                "upstream {} sent no answer within {} ms (--upstream-timeout)",
                choice.arm.upstream,
                gateway.settings.upstream_timeout.as_millis()
            );
            pending.refuse(StatusCode::GATEWAY_TIMEOUT, "timeout", &reason)
        }
    }
}

/// The request to send upstream: the same method, path, headers (but hop-by-hop ones and
/// Host) and body, with `x-forwarded-for` and `x-request-id` added.
fn upstream_request(
    parts: &axum::http::request::Parts,
    arm: &Arm,
    client: Option<IpAddr>,
    request_id: &str,
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = arm
        .upstream
        .uri(path)
        .map_err(|e| format!("cannot forward {path}: {e}"))?;
    let mut request = hyper::Request::builder().method(parts.method.clone()).uri(uri);
    let headers = request.headers_mut().ok_or("cannot build the upstream request")?;
    copy_end_to_end(&parts.headers, headers);
    if let Ok(host) = HeaderValue::from_str(arm.upstream.authority()) {
        headers.insert(header::HOST, host);
    }
    if let Some(ip) = client {
        let forwarded = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    request
        .body(Full::new(body))
        .map_err(|e| format!("cannot forward {path}: {e}"))
}

/// Copies the end-to-end headers (not hop-by-hop ones, nor those the Connection header names).
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    if !from.contains_key(header::CONNECTION) {
        for (name, value) in from {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != header::HOST {
                to.append(name.clone(), value.clone());
            }
        }
        return;
    }
    let named: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in from {
        let name_text = name.as_str();
        if HOP_BY_HOP.contains(&name_text) || name == header::HOST || named.iter().any(|n| n == name_text) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// Sends a copy to the shadow package in the background (at most `shadow_slots` at once; a
/// copy that finds none free is dropped and counted, never delaying the request).
fn mirror(
    gateway: &Arc<Gateway>,
    parts: &axum::http::request::Parts,
    client: Option<IpAddr>,
    arm: Arc<Arm>,
    body: Bytes,
) {
    let (Ok(slot), Ok(permit)) = (
        gateway.shadow_slots.clone().try_acquire_owned(),
        gateway.log.clone().try_reserve_owned(),
    ) else {
        gateway.metrics.gateway_error("shadow-dropped");
        return;
    };
    let mut pending = Pending::new(gateway, parts, client, &arm, Route::Shadow, Instant::now(), permit);
    pending.input(&body);
    let Ok(request) = upstream_request(parts, &arm, client, &pending.record.request_id, body) else {
        return;
    };
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let answer = tokio::time::timeout(gateway.settings.upstream_timeout, gateway.client.request(request)).await;
        match answer {
            Ok(Ok(response)) => {
                use http_body_util::BodyExt as _;
                let _ = pending.stream(response).into_body().collect().await;
            }
            Ok(Err(error)) => drop(pending.refuse(StatusCode::BAD_GATEWAY, "bad-gateway", &cause(&error))),
            Err(_) => drop(pending.refuse(StatusCode::GATEWAY_TIMEOUT, "timeout", "no answer")),
        }
    });
}

/// A JSON error answer made by the gateway.
pub(crate) fn gateway_answer(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": reason }))).into_response()
}

/// A request on its way: the log line being filled in, and the place reserved for it in the
/// log's channel. Whoever ends the request — the answer's last byte, an error answer, or the
/// client leaving (this value dropped) — sends the line.
struct Pending {
    gateway: Arc<Gateway>,
    permit: Option<OwnedPermit<Item>>,
    record: LogRequest,
    binding: mlspec_attest::log::BindingId,
    route: Route,
    arrival: Instant,
    input: Option<Bytes>,
    path: String,
    content_type: Option<String>,
    /// Whether the answer's head was sent (a client leaving after it keeps the status).
    answering: bool,
    /// Whether the request is one whose bodies are captured (not a GET or HEAD).
    method_has_body: bool,
    /// The request's and the answer's `Inference-Header-Content-Length`.
    header_lengths: (Option<usize>, Option<usize>),
}

impl Pending {
    fn new(
        gateway: &Arc<Gateway>,
        parts: &axum::http::request::Parts,
        client: Option<IpAddr>,
        arm: &Arm,
        route: Route,
        arrival: Instant,
        permit: OwnedPermit<Item>,
    ) -> Pending {
        gateway
            .metrics
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let header = |name: HeaderName| {
            parts
                .headers
                .get(name)
                .map(|v| truncated(&String::from_utf8_lossy(v.as_bytes()), HEADER_LIMIT))
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let request_id = header(HeaderName::from_static("x-request-id"))
            .filter(|id| !id.is_empty())
            .map(|id| truncated(&id, ID_LIMIT))
            .unwrap_or_else(|| gateway.next_request_id());
        let mut record = LogRequest {
            client: client.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            time: Some(Utc::now()),
            method: parts.method.to_string(),
            path: truncated(path, PATH_LIMIT),
            protocol: Some(protocol_name(parts.version).to_owned()),
            referer: header(header::REFERER),
            user_agent: header(header::USER_AGENT),
            request_id,
            ..LogRequest::default()
        };
        record.extra.insert("route".into(), route.name().into());
        if path.len() > PATH_LIMIT {
            record.extra.insert("truncated".into(), "1".into());
        }
        Pending {
            gateway: gateway.clone(),
            permit: Some(permit),
            record,
            binding: arm.binding_id,
            route,
            arrival,
            input: None,
            path: parts.uri.path().to_owned(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            answering: false,
            method_has_body: !matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD),
            header_lengths: (inference_header_length(&parts.headers), None),
        }
    }

    /// The request's body arrived.
    fn input(&mut self, body: &Bytes) {
        if !body.is_empty() {
            self.record.input_digest = Some(digest_text(Sha256::digest(body).into()));
        }
        self.input = Some(body.clone());
    }

    /// Answers with the gateway's own error, and logs it.
    fn refuse(mut self, status: StatusCode, kind: &'static str, reason: &str) -> Response {
        self.gateway.metrics.gateway_error(kind);
        self.record.extra.insert("gateway".into(), kind.into());
        let response = gateway_answer(status, reason);
        let bytes = serde_json::json!({ "error": reason }).to_string().len() as u64;
        self.record.status = status.as_u16();
        self.finish(bytes, None, None, false);
        response
    }

    /// The request's body stopped arriving (the client left, or sent a broken body): logged
    /// as 499 with `aborted=client`; the 400 answer reaches a client still listening.
    fn client_left(mut self, reason: &str) -> Response {
        self.record.extra.insert("aborted".into(), "client".into());
        self.record
            .extra
            .insert("error".into(), truncated(reason, HEADER_LIMIT));
        self.record.status = 499;
        self.finish(0, None, None, false);
        gateway_answer(StatusCode::BAD_REQUEST, reason)
    }

    /// Streams the upstream's answer back, logging it when its last byte is sent.
    fn stream(mut self, response: hyper::Response<Incoming>) -> Response {
        let (mut parts, body) = response.into_parts();
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        copy_end_to_end(&parts.headers, &mut headers);
        parts.headers = headers;
        self.record.status = parts.status.as_u16();
        self.answering = true;
        self.header_lengths.1 = inference_header_length(&parts.headers);
        let tap = Tap {
            inner: body,
            hasher: Sha256::new(),
            bytes: 0,
            prefix: Vec::new(),
            pending: Some(self),
        };
        Response::from_parts(parts, Body::new(tap))
    }

    /// Sends the line (and the monitor's sample, and the capture); `output` is the start of
    /// the answer, `truncated` whether there was more.
    fn finish(&mut self, bytes: u64, digest: Option<String>, output: Option<Bytes>, truncated: bool) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let elapsed = self.arrival.elapsed();
        self.record.bytes = bytes;
        self.record.output_digest = digest;
        self.record.latency_ms = elapsed.as_secs_f64() * 1e3;
        let gateway = &self.gateway;
        gateway
            .metrics
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        gateway
            .metrics
            .answered(self.route, self.record.status, elapsed.as_secs_f64());
        let sample = Sample {
            time: self.record.time.unwrap_or_else(Utc::now),
            route: self.route,
            status: self.record.status,
            latency_ms: self.record.latency_ms,
            request_id: self.record.request_id.clone(),
            path: std::mem::take(&mut self.path),
            content_type: self.content_type.take(),
            input: self.input.take(),
            output,
            input_header_length: self.header_lengths.0,
            output_header_length: self.header_lengths.1,
        };
        let captured = (gateway.capturing && self.method_has_body)
            .then(|| Box::new(Record::of(&sample, truncated)))
            .filter(|record| {
                let fits = gateway.capture_bytes.take(record.body_bytes());
                if !fits {
                    gateway
                        .metrics
                        .captures_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                fits
            });
        gateway.sample(sample);
        let record = std::mem::take(&mut self.record);
        permit.send(Item::Line(Box::new(record), self.binding, captured));
    }
}

impl Drop for Pending {
    /// The client went away before the answer was complete.
    fn drop(&mut self) {
        if self.permit.is_some() {
            self.record.extra.insert("aborted".into(), "client".into());
            if !self.answering {
                self.record.status = 499;
            }
            self.finish(0, None, None, false);
        }
    }
}

/// The upstream's answer on its way to the client, hashed and counted as it passes.
struct Tap {
    inner: Incoming,
    hasher: Sha256,
    bytes: u64,
    prefix: Vec<u8>,
    pending: Option<Pending>,
}

impl Tap {
    fn end(&mut self, broken: Option<String>) {
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        if let Some(reason) = broken {
            pending.record.extra.insert("gateway".into(), "bad-gateway".into());
            pending.gateway.metrics.gateway_error("upstream-broke-answer");
            pending
                .record
                .extra
                .insert("error".into(), truncated(&reason, HEADER_LIMIT));
        }
        let digest = digest_text(std::mem::take(&mut self.hasher).finalize().into());
        let output = Bytes::from(std::mem::take(&mut self.prefix));
        let truncated = self.bytes > output.len() as u64;
        pending.finish(self.bytes, Some(digest), Some(output), truncated);
    }
}

impl hyper::body::Body for Tap {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.hasher.update(data);
                    self.bytes += data.len() as u64;
                    let room = OUTPUT_PREFIX.saturating_sub(self.prefix.len());
                    let take = room.min(data.len());
                    self.prefix.extend_from_slice(&data[..take]);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                let reason = format!("the upstream broke off its answer: {}", cause(error));
                self.end(Some(reason));
            }
            Poll::Ready(None) => self.end(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tap {
    /// The answer is dropped before its end was polled: the client left mid-answer (or the
    /// answer was empty and hyper never polled it — not an abort).
    fn drop(&mut self) {
        if let Some(pending) = &mut self.pending {
            if !self.inner.is_end_stream() {
                pending.record.extra.insert("aborted".into(), "client".into());
            }
            self.end(None);
        }
    }
}

/// The Open Inference Protocol's `Inference-Header-Content-Length`: how much of a body is JSON
/// before its binary tensors.
fn inference_header_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("inference-header-content-length")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The request line's protocol.
fn protocol_name(version: axum::http::Version) -> &'static str {
    match version {
        axum::http::Version::HTTP_09 => "HTTP/0.9",
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        axum::http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `sha256:` and the hex of a SHA-256 (written into a buffer: `hex::encode`'s char iterator
/// showed in the request path's profile).
fn digest_text(digest: [u8; 32]) -> String {
    let mut text = [0u8; 7 + 64];
    text[..7].copy_from_slice(b"sha256:");
    let _ = hex::encode_to_slice(digest, &mut text[7..]);
    String::from_utf8_lossy(&text).into_owned()
}

/// `text` cut to at most `limit` bytes at a character boundary.
fn truncated(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

//! What every UI answer gets: a time limit (a page the store cannot answer in time is a 503
//! page, not a hung tab) and the security headers — a Content-Security-Policy that allows
//! scripts, styles and connections from this server only and no inline script at all (so
//! even an escaping mistake could not run injected code), no sniffing of media types, no
//! referrer leaving the page, and no framing.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::UiError;

/// The policy: nothing from elsewhere, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Answers a 503 page for a request not done within the timeout.
pub(crate) async fn within(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => UiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the page took longer than {} s and was stopped", timeout.as_secs_f64()),
            hint: Some("reload; if it keeps happening, narrow the query (a filter, fewer columns or runs)".into()),
        }
        .into_response(),
    }
}

/// Adds the security headers to every answer.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

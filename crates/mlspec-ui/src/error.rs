//! The UI's one error type: what went wrong, shown as a page with the HTTP status it means
//! (404 for an unknown id or address, 400 for a bad query, 503 when the store does not
//! answer), never a bare 500 and never a stack trace.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use mlspec_store::{ErrorKind, StoreError};

use crate::page::{Section, shell};

/// A page that could not be shown, and why.
#[derive(Debug)]
pub struct UiError {
    /// The answer's status.
    pub status: StatusCode,
    /// What went wrong, in a sentence.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl UiError {
    /// Nothing at this address, or no object with this id.
    pub fn not_found(message: impl Into<String>) -> UiError {
        UiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            hint: None,
        }
    }

    /// A request the page cannot answer as asked (a bad parameter).
    pub fn bad_request(message: impl Into<String>) -> UiError {
        UiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error, with what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> UiError {
        self.hint = Some(hint.into());
        self
    }
}

impl From<StoreError> for UiError {
    fn from(error: StoreError) -> UiError {
        let status = match error.kind {
            // A store that lost data or broke is the server's fault, but the page says so in
            // words: 503 keeps clients retrying a store that comes back.
            ErrorKind::DataLoss | ErrorKind::Internal | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            kind => StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        };
        UiError {
            status,
            message: error.message,
            hint: error.hint,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            _ => "Cannot show this page",
        };
        let body = html! {
            h1 { (title) }
            p.error role="alert" { (self.message) }
            @if let Some(hint) = &self.hint { p.hint { (hint) } }
            p { a href="/" { "Back to the start page" } }
        };
        (self.status, shell(title, Section::None, body)).into_response()
    }
}

/// The fallback: an HTML 404 for any address no page answers.
pub(crate) async fn not_found() -> UiError {
    UiError::not_found("there is no page at this address").with_hint("the start page links to every kind of object")
}

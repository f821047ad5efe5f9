//! The API's errors: every refusal is JSON, `{"error": {"kind", "message", "hint"?,
//! "diagnostics"?}}`, with the status its [`ErrorKind`] maps to
//! ([`ErrorKind::http_status`]) — or, for a problem with the request's form rather than its
//! content, 413 (too large), 415 (wrong content type), 405 or 408. The kind is the store's own,
//! so a client ([`mlspec_store::HttpStore`]) raises exactly the error the server's store did.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mlspec_spec::validate::Diagnostic;
use mlspec_store::{ErrorKind, StoreError};
use serde::Serialize;

/// A refused request.
#[derive(Debug)]
pub struct ApiError {
    /// The status; [`ErrorKind::http_status`] unless the request's form was wrong.
    pub status: StatusCode,
    /// The error, as the store (or the request's check) raised it.
    pub error: StoreError,
    /// Located problems in submitted documents (line, column, JSON Pointer).
    pub diagnostics: Vec<Diagnostic>,
}

/// The JSON of an error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorAnswer {
    /// The error.
    #[schema(inline)]
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// The class of failure, the same on every backend.
    #[schema(value_type = String, example = "NotFound")]
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Located problems in the submitted documents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Diagnostic>,
}

impl ApiError {
    /// A refusal of the request's form (413, 415, …), as InvalidArgument.
    pub fn form(status: StatusCode, message: impl Into<String>, hint: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: StoreError::invalid(message).with_hint(hint),
            diagnostics: Vec::new(),
        }
    }

    /// A 400 for a bad request.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::from(StoreError::invalid(message))
    }

    /// A 400 listing the problems found in submitted documents.
    pub fn invalid_documents(message: String, diagnostics: Vec<Diagnostic>) -> ApiError {
        ApiError {
            diagnostics,
            ..ApiError::invalid(message)
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.error = self.error.with_hint(hint);
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError {
            status: status_of(error.kind),
            error,
            diagnostics: Vec::new(),
        }
    }
}

fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError {
            status,
            error,
            diagnostics,
        } = self;
        let answer = ErrorAnswer {
            error: ErrorDetail {
                kind: error.kind,
                message: error.message,
                hint: error.hint,
                diagnostics,
            },
        };
        (status, Json(answer)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_status_and_back() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::Conflict,
            ErrorKind::InvalidArgument,
            ErrorKind::FailedPrecondition,
            ErrorKind::Unavailable,
            ErrorKind::DataLoss,
            ErrorKind::Internal,
            ErrorKind::Unauthenticated,
            ErrorKind::PermissionDenied,
        ] {
            let error = StoreError::new(kind, "m").with_hint("h");
            let api = ApiError::from(error.clone());
            let deterministic = !matches!(kind, ErrorKind::Unavailable | ErrorKind::DataLoss | ErrorKind::Internal);
            assert_eq!(api.status.is_server_error(), !deterministic, "{kind:?}");
            let body = serde_json::to_vec(&ErrorAnswer {
                error: ErrorDetail {
                    kind,
                    message: "m".into(),
                    hint: Some("h".into()),
                    diagnostics: Vec::new(),
                },
            })
            .unwrap();
            let back = mlspec_store::wire::error_from_answer(api.status.as_u16(), &body, "http://h");
            assert_eq!(back, error);
        }
    }
}

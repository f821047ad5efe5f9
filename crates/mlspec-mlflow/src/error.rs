//! The one error type of the MLflow API, and how it goes over the wire.
//!
//! MLflow's client branches on the `error_code` string of a JSON body
//! (`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}`), and it retries 408, 429 and
//! every 5xx for minutes. So a mistake in the request is always a 4xx here, whatever layer found
//! it, and only a store that cannot be reached is a 503. The HTTP statuses follow MLflow's own
//! server (`mlflow/exceptions.py`): RESOURCE_ALREADY_EXISTS is 400, not 409.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mlspec_store::StoreError;

/// What class of failure an error is: one of MLflow's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule (a limit, an immutable param, a bad filter).
    InvalidParameterValue,
    /// What the request names does not exist.
    ResourceDoesNotExist,
    /// What the request creates exists already.
    ResourceAlreadyExists,
    /// The store cannot be reached now; retrying may help.
    TemporarilyUnavailable,
    /// No credentials, or unknown ones (the server's token check, or the server's own store
    /// behind another server with tokens).
    Unauthenticated,
    /// Credentials whose scope does not allow the request.
    PermissionDenied,
    /// A bug or damaged data.
    Internal,
}

impl ErrorKind {
    /// MLflow's `error_code`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorKind::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorKind::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorKind::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status MLflow's server sends with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidParameterValue | ErrorKind::ResourceAlreadyExists => StatusCode::BAD_REQUEST,
            ErrorKind::ResourceDoesNotExist => StatusCode::NOT_FOUND,
            ErrorKind::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error of the MLflow API: its kind and a message that says what and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct MlflowError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// What went wrong, for the person who reads the client's exception.
    pub message: String,
}

/// The result of an MLflow API operation.
pub type Result<T, E = MlflowError> = std::result::Result<T, E>;

impl MlflowError {
    /// A 400 INVALID_PARAMETER_VALUE.
    pub fn invalid(message: impl Into<String>) -> Self {
        MlflowError {
            kind: ErrorKind::InvalidParameterValue,
            message: message.into(),
        }
    }

    /// A 404 RESOURCE_DOES_NOT_EXIST.
    pub fn not_found(message: impl Into<String>) -> Self {
        MlflowError {
            kind: ErrorKind::ResourceDoesNotExist,
            message: message.into(),
        }
    }

    /// A 400 RESOURCE_ALREADY_EXISTS.
    pub fn exists(message: impl Into<String>) -> Self {
        MlflowError {
            kind: ErrorKind::ResourceAlreadyExists,
            message: message.into(),
        }
    }

    /// A 500 INTERNAL_ERROR: a bug or damaged data, never the request's fault.
    pub fn internal(message: impl Into<String>) -> Self {
        MlflowError {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
}

impl From<StoreError> for MlflowError {
    fn from(error: StoreError) -> Self {
        use mlspec_store::ErrorKind as S;
        let kind = match error.kind {
            S::NotFound => ErrorKind::ResourceDoesNotExist,
            S::AlreadyExists => ErrorKind::ResourceAlreadyExists,
            S::Conflict | S::InvalidArgument | S::FailedPrecondition => ErrorKind::InvalidParameterValue,
            S::Unavailable => ErrorKind::TemporarilyUnavailable,
            S::Unauthenticated => ErrorKind::Unauthenticated,
            S::PermissionDenied => ErrorKind::PermissionDenied,
            S::DataLoss | S::Internal => ErrorKind::Internal,
        };
        let message = match &error.hint {
            Some(hint) => format!("{} ({hint})", error.message),
            None => error.message,
        };
        MlflowError { kind, message }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.kind.code(), "message": self.message});
        (self.kind.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_store_errors_are_never_5xx() {
        use mlspec_store::ErrorKind as S;
        for kind in [
            S::NotFound,
            S::AlreadyExists,
            S::Conflict,
            S::InvalidArgument,
            S::FailedPrecondition,
            S::Unauthenticated,
            S::PermissionDenied,
        ] {
            let error = MlflowError::from(StoreError::new(kind, "x"));
            assert!(error.kind.status().is_client_error(), "{kind:?} → {:?}", error.kind);
        }
        assert_eq!(ErrorKind::ResourceAlreadyExists.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorKind::ResourceDoesNotExist.status(), StatusCode::NOT_FOUND);
    }
}

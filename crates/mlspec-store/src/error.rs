//! The store's errors: a kind that callers branch on (the same on every backend) and a message
//! that says what went wrong and what to do.

use std::fmt;

/// What class of failure an error is; identical on SQLite and PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorKind {
    /// The object, version or store does not exist.
    NotFound,
    /// An object with that identity already exists (names are unique case-insensitively among
    /// the non-archived objects of a kind).
    AlreadyExists,
    /// The request contradicts the store's state, e.g. an ambiguous name or a concurrent change.
    Conflict,
    /// The request itself is wrong: a malformed URL, reference or document.
    InvalidArgument,
    /// The request is valid but the object's state forbids it, e.g. using an archived version or
    /// a store whose schema needs upgrading.
    FailedPrecondition,
    /// The database cannot be reached or the connection was lost.
    Unavailable,
    /// The stored data is damaged or was altered outside mlspec.
    DataLoss,
    /// A bug or an unexpected database error.
    Internal,
    /// The request carries no credentials, or ones the server does not know (a server with
    /// tokens: see `mlspec server token`).
    Unauthenticated,
    /// The credentials are valid but their scope does not allow the request (a read token
    /// asked to write).
    PermissionDenied,
}

impl ErrorKind {
    /// The kind's name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::FailedPrecondition => "FailedPrecondition",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::DataLoss => "DataLoss",
            ErrorKind::Internal => "Internal",
            ErrorKind::Unauthenticated => "Unauthenticated",
            ErrorKind::PermissionDenied => "PermissionDenied",
        }
    }

    /// The HTTP status the REST API answers an error of this kind with. Only [`Unavailable`]
    /// (retrying may help) and [`DataLoss`]/[`Internal`] (the server's fault) are 5xx: a
    /// deterministic refusal is never one, so clients do not retry it.
    ///
    /// [`Unavailable`]: ErrorKind::Unavailable
    /// [`DataLoss`]: ErrorKind::DataLoss
    /// [`Internal`]: ErrorKind::Internal
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict | ErrorKind::FailedPrecondition => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::DataLoss | ErrorKind::Internal => 500,
        }
    }

    /// The kind an HTTP status most likely means, for an answer that carries no error body of
    /// the API's own (a proxy's, say): [`ErrorKind::http_status`] reversed, 409 read as a
    /// conflict, and the statuses the API adds for a request's form (413, 415) read as invalid.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::PermissionDenied,
            404 | 410 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            502..=504 | 408 | 429 => ErrorKind::Unavailable,
            400..=499 => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

/// A store error: its kind, what happened, and (when there is one) what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// An error of `kind` with `message`. Secrets in the message (a store URL's password, a
    /// driver's message quoting a connection string) are redacted: errors are printed.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: redacted(message.into()),
            hint: None,
        }
    }

    /// Adds what to do about it (secrets redacted, as in the message).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(redacted(hint.into()));
        self
    }

    /// A NotFound error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// An InvalidArgument error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// A FailedPrecondition error.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::FailedPrecondition, message)
    }

    /// True for a lock timeout that a retry may get past.
    pub fn is_busy(&self) -> bool {
        self.kind == ErrorKind::Unavailable && self.message.starts_with(BUSY)
    }

    /// A DataLoss error: stored data that cannot be read back.
    pub fn data_loss(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DataLoss, message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &error {
            E::Database(db) => {
                let message = db.message().to_owned();
                if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                    StoreError::new(ErrorKind::AlreadyExists, message)
                } else if db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
                {
                    StoreError::new(
                        ErrorKind::Unavailable,
                        format!("lost the connection to the store: {message}"),
                    )
                    .with_hint("the database server closed the connection; nothing of this command was kept — retry")
                } else if db.code().is_some_and(|code| code == STATEMENT_TIMEOUT_CODE) {
                    StoreError::new(
                        ErrorKind::Unavailable,
                        format!("a statement took longer than the store's statement timeout: {message}"),
                    )
                    .with_hint(format!(
                        "nothing of this command was kept; retry, or allow longer with {}=SECONDS",
                        crate::STATEMENT_TIMEOUT_VAR
                    ))
                } else if is_not_a_database(&message) {
                    StoreError::invalid(format!("the file is not an mlspec store: {message}"))
                        .with_hint("point --store at a database made by `mlspec init`")
                } else if is_busy(&message) {
                    StoreError::new(ErrorKind::Unavailable, format!("{BUSY}: {message}")).with_hint(format!(
                        "another process held the write lock longer than the busy timeout ({}); retry",
                        crate::STATEMENT_TIMEOUT_VAR
                    ))
                } else {
                    StoreError::new(ErrorKind::Internal, format!("database error: {message}"))
                }
            }
            E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::new(
                    ErrorKind::Unavailable,
                    format!("lost the connection to the store: {error}"),
                )
                .with_hint("check that the database server is running and reachable, then retry")
            }
            E::Configuration(_) => StoreError::invalid(format!("bad store configuration: {error}")),
            E::RowNotFound => StoreError::not_found("no such row"),
            _ => StoreError::new(ErrorKind::Internal, format!("database error: {error}")),
        }
    }
}

fn redacted(text: String) -> String {
    match mlspec_spec::redact::redact(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(redacted) => redacted,
    }
}

const BUSY: &str = "the store is busy";

/// PostgreSQL's `query_canceled`, which `statement_timeout` raises.
const STATEMENT_TIMEOUT_CODE: &str = "57014";

fn is_not_a_database(message: &str) -> bool {
    message.contains("file is not a database") || message.contains("database disk image is malformed")
}

/// SQLite's lock errors, once its busy timeout has run out.
pub(crate) fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_as_the_kind_that_answers_it() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::InvalidArgument,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
            ErrorKind::Unauthenticated,
            ErrorKind::PermissionDenied,
        ] {
            assert_eq!(ErrorKind::from_http_status(kind.http_status()), kind, "{kind:?}");
        }
    }
}

//! Errors: a kind that callers branch on, and what went wrong, with the file or field
//! concerned and what to do.

use std::fmt;

/// What class of problem an error is. It is not printed: the message says it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A file cannot be read, written, listed, created or locked, or is not a regular file.
    Io,
    /// Text is not what it should be: a DSSE envelope, a PEM key, a model-signing bundle, an
    /// in-toto statement, an `Expires:` time, an mlspec log or lock file, a package document.
    Malformed,
    /// What would be written exists already: a key, or the checkpoints of a log that is not
    /// there.
    AlreadyExists,
    /// Another writer holds the log.
    Busy,
    /// A log does not verify, or ends in unsigned lines: appending would sign over them. A
    /// package is not signed.
    Unverified,
    /// A model directory holds what is not digested: a symbolic link, a special file.
    Unsupported,
    /// A file changed while it was hashed.
    Changed,
    /// A request or an option is wrong: a log request missing a field, a key of the wrong
    /// algorithm for the format, a line number a log does not have.
    InvalidArgument,
    /// A file is larger than such a file can be (a key file, a package document).
    LimitExceeded,
    /// A bug, or the system failed (its random source, an encoder).
    Internal,
}

/// A problem with a file, a key or an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestError {
    /// The class of problem.
    pub kind: ErrorKind,
    /// The file or thing concerned.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl AttestError {
    /// An error of `kind` about `subject`.
    pub fn new(kind: ErrorKind, subject: impl Into<String>, message: impl Into<String>) -> AttestError {
        AttestError {
            kind,
            subject: subject.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> AttestError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AttestError {}

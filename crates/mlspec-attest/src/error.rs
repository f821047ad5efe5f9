//! Errors: what went wrong, with the file or field concerned and what to do.

use std::fmt;

/// A problem with a file, a key or an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestError {
    /// The file or thing concerned.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl AttestError {
    /// An error about `subject`.
    pub fn new(subject: impl Into<String>, message: impl Into<String>) -> AttestError {
        AttestError {
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

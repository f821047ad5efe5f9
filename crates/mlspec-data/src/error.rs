//! Errors of the data engine: a kind that callers branch on, and what went wrong, in which
//! file, where (line, row or byte offset) and in which column, and what to do.

use std::fmt;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

/// What class of problem an error is. It is not printed: the message says it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file cannot be opened, read, created or written, or is not a regular file.
    Io,
    /// The format cannot be told from the file's name, or is not read that way (a Parquet file
    /// compressed from outside).
    Unsupported,
    /// The data does not parse: a ragged record, a value that does not fit its column's type,
    /// text that is not UTF-8, a truncated or corrupt file. `at` says where.
    Malformed,
    /// The data breaks a limit: columns per file, bytes per record, slices, classes.
    LimitExceeded,
    /// A column named by the caller (`--type`, `--slice`, `--label`, a key) is not in the data.
    NoSuchColumn,
    /// A column's type does not suit its use: not a number, not a time, not readable as text.
    WrongType,
    /// A value the task needs (a label, a key, a time) is null.
    MissingValue,
    /// A number that must be finite is NaN or infinite.
    NonFinite,
    /// There is nothing to work on: no columns, or no rows.
    Empty,
    /// The options contradict each other or the data, e.g. `--positive` names no class.
    InvalidArgument,
    /// The data changed between two passes over it.
    Changed,
    /// A bug: a worker thread failed, or Arrow refused what the engine built.
    Internal,
}

/// A problem reading or analysing data.
#[derive(Clone, Debug, PartialEq)]
pub struct DataError {
    /// The class of problem.
    pub kind: ErrorKind,
    /// The file.
    pub file: String,
    /// Where in it, when known: `line 1005`, `row 12000`, `byte 4096`.
    pub at: Option<String>,
    /// The column, when one is concerned.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do (a boxed `str`, which keeps the error small enough to return by value).
    pub hint: Option<Box<str>>,
}

impl DataError {
    /// An error of `kind` about `file` as a whole.
    pub fn new(kind: ErrorKind, file: &str, message: impl Into<String>) -> DataError {
        DataError {
            kind,
            file: file.to_owned(),
            at: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds the place.
    pub fn at(mut self, at: impl Into<String>) -> Self {
        self.at = Some(at.into());
        self
    }

    /// Adds the column.
    pub fn with_column(mut self, column: &str) -> Self {
        self.column = Some(column.to_owned());
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into().into_boxed_str());
        self
    }

    /// An Arrow reader's error at `at` (the reader knows the place; Arrow's own line numbers
    /// count records, not lines), a Malformed one: a column number in its text becomes the
    /// column's name.
    pub fn from_arrow(file: &str, at: String, schema: &SchemaRef, error: ArrowError) -> DataError {
        let text = match &error {
            ArrowError::CsvError(t) | ArrowError::ParseError(t) | ArrowError::JsonError(t) => t.clone(),
            ArrowError::IoError(t, e) => format!("{t}: {e}"),
            ArrowError::ExternalError(e) => e.to_string(),
            other => other.to_string(),
        };
        let message = text.split(". Row data:").next().unwrap_or(&text).trim().to_owned();
        let mut result = DataError::new(ErrorKind::Malformed, file, message.clone()).at(at);
        if let Some(index) = number_after(&message, "for column ")
            && let Some(field) = usize::try_from(index).ok().and_then(|i| schema.fields().get(i))
        {
            result = result.with_column(field.name());
            result = result.with_hint(format!(
                "the column's type was inferred from the first rows; read it as text with --type {}=string, or fix the value",
                field.name()
            ));
        } else if message.contains("unequal lengths") || message.contains("incorrect number of fields") {
            result = result.with_hint("every row needs as many fields as the header; check quoting and delimiters");
        } else if message.contains("UTF-8") || message.contains("utf-8") || message.contains("utf8") {
            result = result.with_hint("save the file as UTF-8");
        } else if [
            "unexpected end of file",
            "UnexpectedEof",
            "incomplete deflate",
            "incomplete frame",
        ]
        .iter()
        .any(|m| message.contains(m))
        {
            result = result.with_hint("the compressed file ends early: it was truncated");
        }
        result
    }
}

/// The number that follows `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(at) = &self.at {
            write!(f, " ({at})")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

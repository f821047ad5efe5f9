//! Diagnostics of the expression language: a message, the span it is about, and a hint —
//! rendered like rustc, with a caret under the offending text.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity};
use serde::Serialize;

/// A byte range of the expression's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The range `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span that covers both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// Whether a diagnostic makes the expression unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The expression cannot be evaluated.
    Error,
    /// The expression can be evaluated, but probably does not say what was meant.
    Warning,
}

/// One problem in an expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExprDiagnostic {
    /// Error or warning.
    pub level: Level,
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// The text under the caret.
    pub label: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl ExprDiagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        ExprDiagnostic {
            level: Level::Error,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        ExprDiagnostic {
            level: Level::Warning,
            ..ExprDiagnostic::error(span, message, label)
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders the diagnostic over `source` (the expression's text) named `name`, with a caret
    /// under the span, as rustc does. `color` adds ANSI colours.
    pub fn render(&self, name: &str, source: &str, color: bool) -> String {
        let severity = match self.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        };
        let (source, start, end) = caret_span(source, self.span);
        let mut diagnostic = MietteDiagnostic::new(self.message.clone())
            .with_severity(severity)
            .with_label(LabeledSpan::at(start..end, self.label.clone()));
        if let Some(help) = &self.help {
            diagnostic = diagnostic.with_help(help.clone());
        }
        let report = miette::Report::new(diagnostic).with_source_code(NamedSource::new(name, source));
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out = format!("{}: {} (at {})\n", level_word(self.level), self.message, self.span);
        }
        out
    }
}

/// The span to draw, widened to one character when empty so that the caret shows (past the
/// end of the text, under an added space).
fn caret_span(source: &str, span: Span) -> (String, usize, usize) {
    let end = span.end.min(source.len());
    let start = span.start.min(end);
    if start < end {
        return (source.to_owned(), start, end);
    }
    match source.get(start..).and_then(|rest| rest.chars().next()) {
        Some(c) => (source.to_owned(), start, start + c.len_utf8()),
        None => (format!("{source} "), start, start + 1),
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
    }
}

/// Whether any diagnostic is an error.
pub fn has_errors(diagnostics: &[ExprDiagnostic]) -> bool {
    diagnostics.iter().any(|d| d.level == Level::Error)
}

//! Printing diagnostics: readable text with the offending source line, or JSON.

use std::fmt::Write as _;

use mlspec_spec::rules::Severity;
use mlspec_spec::validate::{Diagnostic, Omitted};
use serde::Serialize;

/// The diagnostics of one input, ready to print.
#[derive(Serialize)]
pub struct FileReport {
    /// The input's name.
    pub path: String,
    /// Documents it holds.
    pub documents: usize,
    /// Documents that are valid.
    pub valid: usize,
    /// Problems reported (at most `--max-diagnostics`).
    pub diagnostics: Vec<Diagnostic>,
    /// Problems found past `--max-diagnostics`, only counted.
    #[serde(skip_serializing_if = "nothing_omitted")]
    pub omitted_diagnostics: Omitted,
    /// The input text, for source excerpts.
    #[serde(skip)]
    pub text: Option<String>,
}

fn nothing_omitted(omitted: &Omitted) -> bool {
    omitted.total() == 0
}

/// Characters of a source line shown before and after the column of a diagnostic.
const EXCERPT_BEFORE: usize = 40;
const EXCERPT_AFTER: usize = 80;

/// The part of `line` around character `column` (1-based) that is shown, with `…` where it was
/// cut, and the column inside it: a line that fits is shown whole, a long one (a one-line
/// document) never is.
fn excerpt(line: &str, column: usize) -> (String, usize) {
    if line.chars().nth(EXCERPT_BEFORE + EXCERPT_AFTER).is_none() {
        return (line.to_owned(), column);
    }
    let skip = column.saturating_sub(1).saturating_sub(EXCERPT_BEFORE);
    let mut chars = line.chars().skip(skip);
    let mut shown: String = chars.by_ref().take(EXCERPT_BEFORE + EXCERPT_AFTER).collect();
    let mut column = column - skip;
    if skip > 0 {
        shown.insert(0, '…');
        column += 1;
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    (shown, column)
}

/// Renders one diagnostic the way compilers do:
///
/// ```text
/// error: unknown field `nmae`
///   --> run.yaml:4:3 (document 1, at /metadata/nmae)
///    |
///  4 |   nmae: x
///    |   ^
///    = hint: did you mean `name`?
/// ```
pub fn render_human(file: &FileReport, d: &Diagnostic) -> String {
    let mut out = String::new();
    let label = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{label}: {}", d.message);
    let mut location = file.path.clone();
    if let Some(p) = d.position {
        let _ = write!(location, ":{}:{}", p.line, p.column);
    }
    let context: Vec<String> = [
        d.document.map(|i| format!("document {}", i + 1)),
        d.path.as_ref().map(|p| format!("at {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if context.is_empty() {
        let _ = writeln!(out, "  --> {location}");
    } else {
        let _ = writeln!(out, "  --> {location} ({})", context.join(", "));
    }
    if let (Some(p), Some(text)) = (d.position, &file.text)
        && let Some(line) = text.lines().nth(p.line.saturating_sub(1) as usize)
    {
        let (line, column) = excerpt(line, usize::try_from(p.column).unwrap_or(usize::MAX).max(1));
        let number = p.line.to_string();
        let pad = " ".repeat(number.len());
        let caret_pad: String = line
            .chars()
            .take(column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, " {pad} |");
        let _ = writeln!(out, " {number} | {line}");
        let _ = writeln!(out, " {pad} | {caret_pad}^");
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "   = hint: {hint}");
    }
    out
}

/// The line that says how many diagnostics of a file were not shown.
pub fn render_omitted(file: &FileReport) -> Option<String> {
    let omitted = file.omitted_diagnostics;
    (omitted.total() > 0).then(|| {
        format!(
            "note: {}: {} more diagnostic(s) not shown ({} error(s), {} warning(s)); raise the limit with --max-diagnostics N",
            file.path,
            omitted.total(),
            omitted.errors,
            omitted.warnings
        )
    })
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn long_lines_are_cut_around_the_column() {
        assert_eq!(excerpt("short", 3), ("short".to_owned(), 3));
        let line = "x".repeat(1000);
        let (shown, column) = excerpt(&line, 500);
        assert_eq!(shown.chars().count(), 1 + 120 + 1);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(column, 42);
        let (shown, column) = excerpt(&line, 1);
        assert_eq!((shown.chars().count(), column), (121, 1));
    }
}

//! Printing diagnostics: readable text with the offending source line, or JSON.

use std::fmt::Write as _;

use mlspec_spec::rules::Severity;
use mlspec_spec::validate::Diagnostic;
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
    /// Problems found.
    pub diagnostics: Vec<Diagnostic>,
    /// The input text, for source excerpts.
    #[serde(skip)]
    pub text: Option<String>,
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
        let number = p.line.to_string();
        let pad = " ".repeat(number.len());
        let caret_pad: String = line
            .chars()
            .take(p.column.saturating_sub(1) as usize)
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

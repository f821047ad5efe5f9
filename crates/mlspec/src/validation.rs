//! Validating inputs: every file, directory (recursively) or `-` named is read within the size
//! limit, each document is checked against the schemas and rules, and the rules across all of
//! them (unique names, holdback data) are added; the result is one [`FileReport`] per input and
//! a [`Summary`]. `validate` prints it, `apply` stores what passed, and reading one document
//! ([`crate::documents::read_one`]) is this on one file.

use mlspec_spec::Document;
use mlspec_spec::batch::{BatchFinding, check_batch};
use mlspec_spec::rules::Severity;
use mlspec_spec::validate::{Diagnostic, Limits, Omitted, too_large, validate_bytes};
use serde::Serialize;

use crate::inputs::{self, Content, Source};
use crate::report::{FileReport, render_human, render_omitted};

/// The counts over every input.
#[derive(Serialize)]
pub struct Summary {
    pub valid: bool,
    pub files: usize,
    pub documents: usize,
    pub invalid_documents: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// Everything validating a set of inputs found.
pub struct Checked {
    pub files: Vec<FileReport>,
    pub summary: Summary,
    /// The valid documents, in input order.
    pub documents: Vec<Document>,
    /// Inputs that could not be read.
    pub read_failures: Vec<String>,
}

/// Reads and validates every input, with the rules across them, under the default limits.
pub fn check_paths(paths: &[String]) -> anyhow::Result<Checked> {
    check_paths_within(paths, &Limits::default())
}

/// Reads and validates every input, with the rules across them.
pub fn check_paths_within(paths: &[String], limits: &Limits) -> anyhow::Result<Checked> {
    let sources = inputs::expand(paths).map_err(anyhow::Error::msg)?;
    let mut files = Vec::new();
    let mut read_failures = Vec::new();
    // Every valid document, with the index of the file it came from.
    let mut documents = Vec::new();
    for source in &sources {
        match check_input(source, limits) {
            Ok((report, valid)) => {
                documents.extend(valid.into_iter().map(|d| (files.len(), d)));
                files.push(report);
            }
            Err(message) => read_failures.push(message),
        }
    }
    add_batch_findings(&mut files, &documents, limits.max_diagnostics);
    let summary = summarize(&files);
    Ok(Checked {
        files,
        summary,
        documents: documents.into_iter().map(|(_, d)| d).collect(),
        read_failures,
    })
}

/// Reads and validates one input; `Err` when it cannot be read.
fn check_input(source: &Source, limits: &Limits) -> Result<(FileReport, Vec<Document>), String> {
    let path = source.display_name();
    let bytes = match inputs::read(source, limits.max_bytes)? {
        Content::Bytes(bytes) => bytes,
        Content::TooLarge(size) => {
            let diagnostics = vec![too_large(size, limits)];
            return Ok((
                FileReport {
                    path,
                    documents: 0,
                    valid: 0,
                    diagnostics,
                    omitted_diagnostics: Omitted::default(),
                    text: None,
                },
                Vec::new(),
            ));
        }
    };
    let outcome = validate_bytes(&bytes, None, Some(&path), limits);
    let report = FileReport {
        path,
        documents: outcome.document_count,
        valid: outcome.documents.len(),
        diagnostics: outcome.diagnostics,
        omitted_diagnostics: outcome.omitted,
        text: String::from_utf8(bytes).ok(),
    };
    Ok((report, outcome.documents))
}

/// Adds the rules across all inputs (unique names, holdback data) to the files they concern,
/// counting those past `max_diagnostics` per file.
fn add_batch_findings(files: &mut [FileReport], documents: &[(usize, Document)], max_diagnostics: usize) {
    let refs: Vec<&Document> = documents.iter().map(|(_, d)| d).collect();
    for BatchFinding {
        document,
        related,
        finding,
    } in check_batch(&refs)
    {
        let related_file = files[documents[related].0].path.clone();
        let file = &mut files[documents[document].0];
        file.valid = file
            .valid
            .saturating_sub(usize::from(finding.severity == Severity::Error));
        if file.diagnostics.len() >= max_diagnostics {
            file.omitted_diagnostics.count(finding.severity);
            continue;
        }
        file.diagnostics.push(Diagnostic {
            severity: finding.severity,
            document: None,
            position: None,
            path: Some(finding.path),
            message: format!("{} (in {related_file})", finding.message),
            hint: finding.hint,
        });
    }
}

fn summarize(files: &[FileReport]) -> Summary {
    let count = |severity| {
        let omitted: usize = files
            .iter()
            .map(|f| match severity {
                Severity::Error => f.omitted_diagnostics.errors,
                Severity::Warning => f.omitted_diagnostics.warnings,
            })
            .sum();
        let shown = files
            .iter()
            .flat_map(|f| &f.diagnostics)
            .filter(|d| d.severity == severity)
            .count();
        shown + omitted
    };
    let documents = files.iter().map(|f| f.documents).sum();
    let valid: usize = files.iter().map(|f| f.valid).sum();
    let errors = count(Severity::Error);
    Summary {
        valid: errors == 0,
        files: files.len(),
        documents,
        invalid_documents: documents - valid.min(documents),
        errors,
        warnings: count(Severity::Warning),
    }
}

pub fn print_human(files: &[FileReport], summary: &Summary) {
    for file in files {
        for diagnostic in &file.diagnostics {
            errln!("{}", render_human(file, diagnostic));
        }
        if let Some(note) = render_omitted(file) {
            errln!("{note}");
        }
    }
    let verdict = if summary.valid { "ok" } else { "invalid" };
    errln!(
        "{verdict}: {} file(s), {} document(s), {} invalid; {} error(s), {} warning(s)",
        summary.files,
        summary.documents,
        summary.invalid_documents,
        summary.errors,
        summary.warnings
    );
}

//! `mlspec validate PATH...`: check documents against the MLSpec v1 schemas and rules.

use std::process::ExitCode;

use mlspec_spec::batch::check_batch;
use mlspec_spec::rules::Severity;
use mlspec_spec::validate::{Diagnostic, Limits, too_large, validate_bytes};
use serde::Serialize;

use super::OutputFormat;
use crate::inputs::{self, Content};
use crate::report::{FileReport, render_human};

/// Check MLSpec documents: files, directories (recursively: *.yaml, *.yml, *.json) or `-` for
/// standard input. Exit 0 when every document is valid, 1 when any is not, 2 when an input
/// cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories or `-` (standard input).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "human")]
    format: OutputFormat,
}

#[derive(Serialize)]
struct Summary {
    valid: bool,
    files: usize,
    documents: usize,
    invalid_documents: usize,
    errors: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct Report {
    summary: Summary,
    files: Vec<FileReport>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = inputs::expand(&args.paths).map_err(anyhow::Error::msg)?;
    let limits = Limits::default();
    let mut files = Vec::new();
    let mut read_failures = Vec::new();
    let mut documents = Vec::new();
    for source in &sources {
        let name = source.display_name();
        let bytes = match inputs::read(source, limits.max_bytes) {
            Ok(Content::Bytes(bytes)) => bytes,
            Ok(Content::TooLarge(size)) => {
                files.push(FileReport {
                    path: name,
                    documents: 0,
                    valid: 0,
                    diagnostics: vec![too_large(size, &limits)],
                    text: None,
                });
                continue;
            }
            Err(message) => {
                read_failures.push(message);
                continue;
            }
        };
        let outcome = validate_bytes(&bytes, None, Some(&name), &limits);
        let index = files.len();
        let valid = outcome.documents.len();
        documents.extend(outcome.documents.into_iter().map(|d| (index, d)));
        files.push(FileReport {
            path: name,
            documents: outcome.document_count,
            valid,
            diagnostics: outcome.diagnostics,
            text: String::from_utf8(bytes).ok(),
        });
    }
    let refs: Vec<_> = documents.iter().map(|(_, d)| d).collect();
    for (i, finding) in check_batch(&refs) {
        let file = &mut files[documents[i].0];
        file.valid = file
            .valid
            .saturating_sub(usize::from(finding.severity == Severity::Error));
        file.diagnostics.push(Diagnostic {
            severity: finding.severity,
            document: None,
            position: None,
            path: Some(finding.path),
            message: finding.message,
            hint: finding.hint,
        });
    }
    let summary = summarize(&files);
    let code = if !read_failures.is_empty() {
        ExitCode::from(2)
    } else if summary.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    match args.format {
        OutputFormat::Human => print_human(&files, &summary),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&Report { summary, files })?),
    }
    for message in &read_failures {
        eprintln!("error: {message}");
    }
    Ok(code)
}

fn summarize(files: &[FileReport]) -> Summary {
    let count = |severity| {
        files
            .iter()
            .flat_map(|f| &f.diagnostics)
            .filter(|d| d.severity == severity)
            .count()
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

fn print_human(files: &[FileReport], summary: &Summary) {
    for file in files {
        for diagnostic in &file.diagnostics {
            eprintln!("{}", render_human(file, diagnostic));
        }
    }
    let verdict = if summary.valid { "ok" } else { "invalid" };
    eprintln!(
        "{verdict}: {} file(s), {} document(s), {} invalid; {} error(s), {} warning(s)",
        summary.files, summary.documents, summary.invalid_documents, summary.errors, summary.warnings
    );
}

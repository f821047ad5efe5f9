//! `mlspec validate PATH...`: check documents against the MLSpec v1 schemas and rules.

use std::process::ExitCode;

use mlspec_spec::validate::Limits;
use serde::Serialize;

use crate::output::{Format, HUMAN_OR_JSON, formats};
use crate::report::FileReport;
use crate::validation::{Checked, Summary, check_paths_within, print_human};

/// Check MLSpec documents: files, directories (recursively: *.yaml, *.yml, *.json) or `-` for
/// standard input. Exit 0 when every document is valid, 1 when any is not, 2 when an input
/// cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories or `-` (standard input).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    /// How to print the result.
    #[arg(long, value_parser = formats(HUMAN_OR_JSON), default_value = "human")]
    format: Format,
    /// Most diagnostics reported per file; the rest are counted ("N more diagnostics not shown").
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_diagnostics)]
    max_diagnostics: usize,
}

#[derive(Serialize)]
struct Report {
    summary: Summary,
    files: Vec<FileReport>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Checked {
        files,
        summary,
        read_failures,
        ..
    } = check_paths_within(
        &args.paths,
        &Limits {
            max_diagnostics: args.max_diagnostics,
            ..Limits::default()
        },
    )?;
    let code = if !read_failures.is_empty() {
        ExitCode::from(2)
    } else if summary.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    match args.format {
        Format::Json => crate::output::json(&Report { summary, files })?,
        _ => print_human(&files, &summary),
    }
    for message in &read_failures {
        errln!("error: {message}");
    }
    Ok(code)
}

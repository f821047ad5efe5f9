//! `mlspec apply FILE...`: validate documents, then create or update them in the store.

use std::process::ExitCode;

use mlspec_store::{ApplyAction, ApplyReport};

use crate::output::{Format, HUMAN_OR_JSON, formats};
use crate::store::{StoreChoice, actor, block_on};
use crate::validation::{Checked, check_paths, print_human};

/// Validate documents (files, directories or `-`), then create or update them in the store in
/// one transaction: all or nothing. The same content again writes nothing. Exit 0 when applied,
/// 1 when a document is invalid (nothing is applied), 2 when the store refuses the batch or an
/// input cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// Files, directories or `-` (standard input).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
    /// How to print the result.
    #[arg(long, value_parser = formats(HUMAN_OR_JSON), default_value = "human")]
    format: Format,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let Checked {
        files,
        summary,
        documents,
        read_failures,
    } = check_paths(&args.paths)?;
    if let Some(first) = read_failures.first() {
        anyhow::bail!("{first}; nothing was applied");
    }
    if summary.errors > 0 {
        print_human(&files, &summary);
        errln!("nothing was applied");
        return Ok(ExitCode::from(1));
    }
    let report = block_on(async {
        let store = choice.open().await?;
        Ok(store.apply(&documents, &actor()).await?)
    })?;
    match args.format {
        Format::Json => crate::output::json(&report)?,
        _ => print_report(&report),
    }
    for warning in &report.warnings {
        errln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &ApplyReport) {
    let mut counts = [0usize; 3];
    for applied in &report.results {
        let (verb, slot) = match applied.action {
            ApplyAction::Created => ("created", 0),
            ApplyAction::Updated => ("updated", 1),
            ApplyAction::Unchanged => ("unchanged", 2),
        };
        counts[slot] += 1;
        outln!("{verb:<9}  {}/{}  {}", applied.kind, applied.name, applied.id);
    }
    outln!("{} created, {} updated, {} unchanged", counts[0], counts[1], counts[2]);
}

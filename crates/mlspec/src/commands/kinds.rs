//! `mlspec kinds`: the document kinds with a one-line description.

use std::process::ExitCode;

use mlspec_spec::Kind;
use serde::Serialize;

use crate::output::{Format, HUMAN_OR_JSON, formats};

/// List the document kinds, in lifecycle order.
#[derive(clap::Args)]
pub struct Args {
    /// How to print the list.
    #[arg(long, value_parser = formats(HUMAN_OR_JSON), default_value = "human")]
    format: Format,
}

#[derive(Serialize)]
struct KindInfo {
    kind: &'static str,
    stage: u8,
    schema: String,
    summary: &'static str,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kinds: Vec<KindInfo> = Kind::ALL
        .iter()
        .map(|&k| KindInfo {
            kind: k.as_str(),
            stage: k.stage(),
            schema: mlspec_spec::schema::schema_id(k),
            summary: k.summary(),
        })
        .collect();
    match args.format {
        Format::Json => crate::output::json(&kinds)?,
        _ => {
            let width = kinds.iter().map(|k| k.kind.len()).max().unwrap_or(0);
            for k in &kinds {
                let stage = if k.stage == 0 {
                    "all".to_owned()
                } else {
                    k.stage.to_string()
                };
                outln!("{:width$}  {stage:>5}  {}", k.kind, k.summary);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

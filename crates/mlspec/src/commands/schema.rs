//! `mlspec schema KIND` / `mlspec schema --export DIR`: the published JSON Schemas.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlspec_spec::Kind;
use mlspec_spec::schema::{document_schema, to_pretty_json};

/// Print the JSON Schema (draft 2020-12) of a kind, or write every kind's schema to a directory.
#[derive(clap::Args)]
#[command(arg_required_else_help = true)]
pub struct Args {
    /// The kind, e.g. `Dataset` or `data-profile`.
    #[arg(conflicts_with = "export")]
    kind: Option<String>,
    /// Write `<kind>.json` for every kind into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.export {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for &kind in Kind::ALL {
            let path = dir.join(format!("{}.json", kind.slug()));
            let text = to_pretty_json(&document_schema(kind));
            crate::files::write_whole(&path, text.as_bytes(), Some(&crate::files::SCHEMA))?;
        }
        errln!("wrote {} schemas to {}", Kind::ALL.len(), dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.kind.unwrap_or_default();
    let kind = Kind::lookup(&name).map_err(|e| anyhow::anyhow!("{e}; `mlspec kinds` lists them"))?;
    out!("{}", to_pretty_json(&document_schema(kind)));
    Ok(ExitCode::SUCCESS)
}

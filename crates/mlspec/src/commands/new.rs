//! `mlspec new KIND [--name N]`: a valid, commented template of a kind.

use std::process::ExitCode;

use mlspec_spec::Kind;
use mlspec_spec::newtypes::Name;

/// Print a valid, commented template of a kind (its example from docs/spec/examples).
#[derive(clap::Args)]
pub struct Args {
    /// The kind, e.g. `Dataset` or `data-profile`.
    kind: String,
    /// The document's name.
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kind = Kind::lookup(&args.kind).map_err(|e| anyhow::anyhow!("{e}; `mlspec kinds` lists them"))?;
    let template = crate::examples::example(kind);
    let Some(name) = args.name else {
        out!("{template}");
        return Ok(ExitCode::SUCCESS);
    };
    let name = Name::new(name)?;
    out!("{}", with_name(template, &name));
    Ok(ExitCode::SUCCESS)
}

/// The template with its `metadata.name` replaced (the first `  name:` line).
fn with_name(template: &str, name: &Name) -> String {
    let mut replaced = false;
    let mut out = String::with_capacity(template.len());
    for line in template.lines() {
        if !replaced && line.starts_with("  name: ") {
            out.push_str(&format!("  name: {name}"));
            replaced = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

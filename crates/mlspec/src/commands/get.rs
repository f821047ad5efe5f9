//! `mlspec get KIND NAME|ID`: print one stored document.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::output::{Format, YAML_OR_JSON, formats};
use crate::store::{ObjectArg, StoreChoice, block_on};

/// Print an object's current document. Names find Active and Deprecated objects; ids find any,
/// archived ones included. `name@version` selects a Dataset or Module version.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    object: ObjectArg,
    /// The output format.
    #[arg(short = 'o', long = "output", value_parser = formats(YAML_OR_JSON), default_value = "yaml")]
    output: Format,
}

/// How a document is printed.
pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let selector = args.object.selector()?;
    let object = block_on(async { Ok(choice.open().await?.get(&selector).await?) })?;
    if let Some(version) = &object.version {
        errln!("version {} is {:?}", version.version, version.status);
    }
    match args.output {
        Format::Json => crate::output::json(&object.document)?,
        _ => out!(
            "{}",
            serde_saphyr::to_string(&object.document).context("cannot write YAML")?
        ),
    }
    Ok(ExitCode::SUCCESS)
}

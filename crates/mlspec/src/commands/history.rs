//! `mlspec history`: an object's events.

use std::process::ExitCode;

use mlspec_store::Event;

use crate::output::{Format, TEXT_OR_JSON, formats};
use crate::store::{ObjectArg, StoreChoice, block_on};

/// Show every change to an object, oldest first: when, who, what, and each field's previous and
/// new value.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    object: ObjectArg,
    /// How to print the history.
    #[arg(long, value_parser = formats(TEXT_OR_JSON), default_value = "text")]
    format: Format,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let selector = args.object.selector()?;
    let events = block_on(async { Ok(choice.open().await?.history(&selector).await?) })?;
    match args.format {
        Format::Json => crate::output::json(&events)?,
        _ => events.iter().for_each(print_event),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(event: &Event) {
    outln!(
        "#{} {} {} by {}: {} ({:?})",
        event.seq,
        event.at,
        event.action,
        event.actor,
        event.name,
        event.status
    );
    for change in &event.changes {
        let show = |v: &Option<serde_json::Value>| v.as_ref().map_or("(absent)".to_owned(), |v| v.to_string());
        outln!(
            "    {}: {} → {}",
            change.path,
            show(&change.previous),
            show(&change.new)
        );
    }
}

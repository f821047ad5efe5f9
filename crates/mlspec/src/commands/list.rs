//! `mlspec list KIND`: the stored objects of a kind.

use std::process::ExitCode;

use mlspec_spec::{Kind, Status};
use mlspec_store::{ListQuery, ObjectSummary};

use crate::store::{StoreChoice, block_on};
use crate::table;

/// List the objects of a kind in name order: Active ones unless --status or --all says
/// otherwise.
#[derive(clap::Args)]
pub struct Args {
    /// The kind, e.g. `Run`, `runs` or `dataset`.
    kind: String,
    /// Show objects with this status (repeatable): active, deprecated, archived.
    #[arg(long, value_enum)]
    status: Vec<StatusArg>,
    /// Show every status.
    #[arg(long, conflicts_with = "status")]
    all: bool,
    /// Only objects carrying this label (repeatable): KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    label: Vec<(String, String)>,
    /// At most this many.
    #[arg(long)]
    limit: Option<u32>,
    /// How to print the list.
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Active,
    Deprecated,
    Archived,
}

impl From<StatusArg> for Status {
    fn from(status: StatusArg) -> Status {
        match status {
            StatusArg::Active => Status::Active,
            StatusArg::Deprecated => Status::Deprecated,
            StatusArg::Archived => Status::Archived,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let kind = crate::store::parse_kind(&args.kind)?;
    let statuses = if args.all {
        vec![Status::Active, Status::Deprecated, Status::Archived]
    } else {
        args.status.iter().map(|s| Status::from(*s)).collect()
    };
    let query = ListQuery {
        kind,
        statuses,
        labels: args.label,
        limit: args.limit,
    };
    let objects = block_on(async { Ok(choice.open().await?.list(&query).await?) })?;
    match args.format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&objects)?),
        ListFormat::Table if objects.is_empty() => eprintln!("no {kind} objects match"),
        ListFormat::Table => print!("{}", render_table(kind, &objects)),
    }
    Ok(ExitCode::SUCCESS)
}

fn render_table(kind: Kind, objects: &[ObjectSummary]) -> String {
    let scope = match kind {
        Kind::Module => Some("VERSION"),
        Kind::Artifact => Some("RUN"),
        _ => None,
    };
    let mut header = vec!["NAME"];
    header.extend(scope);
    header.extend(["STATUS", "UPDATED", "ID"]);
    let rows: Vec<Vec<String>> = objects
        .iter()
        .map(|o| {
            let mut row = vec![o.name.clone()];
            if scope.is_some() {
                row.push(o.scope.clone());
            }
            let updated = o.updated_at.get(..19).unwrap_or(&o.updated_at).replace('T', " ");
            row.extend([format!("{:?}", o.status), updated, o.id.clone()]);
            row
        })
        .collect();
    table::render(&header, &rows)
}

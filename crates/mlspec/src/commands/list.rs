//! `mlspec list KIND`: the stored objects of a kind.

use std::process::ExitCode;

use std::io::IsTerminal as _;

use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::{Kind, Status};
use mlspec_store::{ListQuery, ObjectSummary};

use crate::store::{StoreChoice, block_on};
use crate::table;

/// List the objects of a kind: Active ones unless --status or --all says otherwise, those
/// matching --where, in name order or --order-by, a page at a time with --limit and --offset.
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
    /// Only objects for which this expression holds, e.g.
    /// `metrics.accuracy > 0.9 and (labels.team = "risk" or params.lr < 0.1)`. Fields:
    /// metrics.KEY, params.KEY, labels.KEY, spec.FIELD, name. An object without a field matches
    /// no comparison of it (nor its negation).
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// Sort by a field: `metrics.accuracy desc`, `params.lr`, `name`, `created`, `updated asc`.
    /// Objects without the field come last.
    #[arg(long, value_name = "FIELD [asc|desc]")]
    order_by: Option<String>,
    /// At most this many.
    #[arg(long)]
    limit: Option<u32>,
    /// Skip this many first (the next page starts at --offset + --limit).
    #[arg(long, default_value_t = 0)]
    offset: u32,
    /// Print the database's plan for the query (which indexes it reads) instead of the list.
    #[arg(long)]
    explain: bool,
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
    let filter = match &args.filter {
        Some(text) => match parse_filter(text) {
            Ok(filter) => Some(filter),
            Err(diagnostics) => {
                let color = std::io::stderr().is_terminal();
                for d in &diagnostics {
                    err!("{}", d.render("--where", text, color));
                }
                anyhow::bail!("the --where expression has {} error(s)", diagnostics.len());
            }
        },
        None => None,
    };
    let order = args
        .order_by
        .as_deref()
        .map(parse_order)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let query = ListQuery {
        statuses,
        labels: args.label,
        filter,
        order,
        limit: args.limit,
        offset: args.offset,
        ..ListQuery::new(kind)
    };
    if args.explain {
        let plan = block_on(async { Ok(choice.open().await?.explain_list(&query).await?) })?;
        outln!("{}", plan.join("\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let objects = block_on(async { Ok(choice.open().await?.list(&query).await?) })?;
    match args.format {
        ListFormat::Json => outln!("{}", serde_json::to_string_pretty(&objects)?),
        ListFormat::Table if objects.is_empty() => errln!("no {kind} objects match"),
        ListFormat::Table => out!("{}", render_table(kind, &objects)),
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

//! `mlspec list KIND`: the stored objects of a kind.

use std::process::ExitCode;

use mlspec_spec::expr::query::{parse_filter, parse_order};
use mlspec_spec::kinds::RunStatus;
use mlspec_spec::{Kind, Spec, Status};
use mlspec_store::{ListQuery, ObjectSummary, Selector, Store};

use crate::output::{Format, TABLE_OR_JSON, formats};
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
    #[arg(long, value_parser = formats(TABLE_OR_JSON), default_value = "table")]
    format: Format,
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
                for d in &diagnostics {
                    crate::output::diagnostic(|colour| d.render("--where", text, colour));
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
    let table_of_runs = kind == Kind::Run && args.format == Format::Text;
    let (objects, runs) = block_on(async {
        let store = choice.open().await?;
        let objects = store.list(&query).await?;
        let runs = if table_of_runs {
            Some(run_columns(store.as_ref(), &objects).await?)
        } else {
            None
        };
        Ok((objects, runs))
    })?;
    match args.format {
        Format::Json => crate::output::json(&objects)?,
        _ if objects.is_empty() => errln!("no {kind} objects match"),
        _ => out!("{}", render_table(kind, &objects, runs.as_deref())),
    }
    Ok(ExitCode::SUCCESS)
}

/// What a user of runs looks for, as MLflow's run list shows it: the run's state, when it
/// started and how long it took (or has been running).
async fn run_columns(store: &dyn Store, objects: &[ObjectSummary]) -> anyhow::Result<Vec<[String; 3]>> {
    let now = chrono::Utc::now();
    let mut columns = Vec::with_capacity(objects.len());
    for object in objects {
        let stored = store
            .get(&Selector::Id(mlspec_spec::ObjectId::new(object.id.as_str())?))
            .await?;
        let Spec::Run(run) = &stored.document.spec else {
            columns.push([String::new(), String::new(), String::new()]);
            continue;
        };
        let (start, end) = (run.start_time, run.end_time);
        let duration = match (start, end, run.status) {
            (Some(start), Some(end), _) => human_duration(end - start),
            (Some(start), None, RunStatus::Running) => format!("{} so far", human_duration(now - start)),
            _ => "-".to_owned(),
        };
        let start = start.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        columns.push([format!("{:?}", run.status), start, duration]);
    }
    Ok(columns)
}

/// `850ms`, `42.1s`, `12m 05s`, `3h 02m`, `2d 04h`.
fn human_duration(duration: chrono::TimeDelta) -> String {
    let ms = duration.num_milliseconds().max(0);
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

fn render_table(kind: Kind, objects: &[ObjectSummary], runs: Option<&[[String; 3]]>) -> String {
    let scope = match kind {
        Kind::Module => Some("VERSION"),
        Kind::Artifact => Some("RUN"),
        _ => None,
    };
    let mut header = vec!["NAME"];
    header.extend(scope);
    if runs.is_some() {
        header.extend(["STATE", "START", "DURATION"]);
    }
    header.extend(["STATUS", "UPDATED", "ID"]);
    let rows: Vec<Vec<String>> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut row = vec![o.name.clone()];
            if scope.is_some() {
                row.push(o.scope.clone());
            }
            if let Some(run) = runs.and_then(|runs| runs.get(i)) {
                row.extend(run.iter().cloned());
            }
            let updated = o.updated_at.get(..19).unwrap_or(&o.updated_at).replace('T', " ");
            row.extend([format!("{:?}", o.status), updated, o.id.clone()]);
            row
        })
        .collect();
    table::render(&header, &rows)
}

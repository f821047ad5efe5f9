//! `mlspec lineage`: what an object came from and what came from it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use mlspec_store::{Direction, LineageGraph, LineageNode};

use crate::output::{Choice, Format, formats};
use crate::store::{ObjectArg, StoreChoice, block_on};
use crate::table;

/// Show the lineage subgraph around an object: runs and the data, models and code they
/// consumed and produced, parent runs, derivations.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    object: ObjectArg,
    /// What the object came from.
    #[arg(long, conflicts_with_all = ["downstream", "both"])]
    upstream: bool,
    /// What came from the object.
    #[arg(long, conflicts_with = "both")]
    downstream: bool,
    /// Both directions (the default).
    #[arg(long)]
    both: bool,
    /// At most this many edges from the object.
    #[arg(long, default_value_t = 10)]
    depth: u32,
    /// How to print the graph.
    #[arg(long, value_parser = formats(GRAPH_FORMATS), default_value = "text")]
    format: Format,
}

/// The formats of a lineage graph.
const GRAPH_FORMATS: &[Choice] = &[
    ("text", Format::Text, ""),
    ("json", Format::Json, ""),
    ("dot", Format::Dot, ""),
    ("mermaid", Format::Mermaid, ""),
];

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let selector = args.object.selector()?;
    let direction = match (args.upstream, args.downstream) {
        (true, _) => Direction::Upstream,
        (_, true) => Direction::Downstream,
        _ => Direction::Both,
    };
    let graph = block_on(async { Ok(choice.open().await?.lineage(&selector, direction, args.depth).await?) })?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&graph)? + "\n",
        Format::Dot => graph.to_dot(),
        Format::Mermaid => graph.to_mermaid(),
        _ => text(&graph),
    };
    out!("{text}");
    if graph.truncated {
        errln!(
            "note: the graph goes on past depth {}; raise --depth to see more",
            args.depth
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn label(node: &LineageNode) -> String {
    mlspec_store::object_label(node.kind, &node.name, &node.scope)
}

fn text(graph: &LineageGraph) -> String {
    let rows: Vec<Vec<String>> = graph
        .nodes
        .iter()
        .map(|n| vec![n.depth.to_string(), label(n), format!("{:?}", n.status), n.id.clone()])
        .collect();
    let mut out = table::render(&["DEPTH", "OBJECT", "STATUS", "ID"], &rows);
    let names: HashMap<&str, String> = graph.nodes.iter().map(|n| (n.id.as_str(), label(n))).collect();
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
    out.push_str("\nEDGES\n");
    for edge in &graph.edges {
        let _ = writeln!(
            out,
            "{} --{}--> {}",
            name(&edge.source),
            edge.relation,
            name(&edge.target)
        );
    }
    out
}

//! `mlspec lineage`: what an object came from and what came from it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use mlspec_spec::Kind;
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
        Format::Dot => dot(&graph),
        Format::Mermaid => mermaid(&graph),
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

/// Graphviz: executions (runs) as boxes, everything else as ellipses.
fn dot(graph: &LineageGraph) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n");
    for node in &graph.nodes {
        let shape = if node.kind == Kind::Run { "box" } else { "ellipse" };
        let _ = writeln!(out, "  \"{}\" [label=\"{}\", shape={shape}];", node.id, label(node));
    }
    for edge in &graph.edges {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"];",
            edge.source, edge.target, edge.relation
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart: nodes numbered in graph order, runs as rounded boxes.
fn mermaid(graph: &LineageGraph) -> String {
    let index: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        let text = label(node);
        let _ = if node.kind == Kind::Run {
            writeln!(out, "  n{i}([\"{text}\"])")
        } else {
            writeln!(out, "  n{i}[\"{text}\"]")
        };
    }
    for edge in &graph.edges {
        if let (Some(s), Some(t)) = (index.get(edge.source.as_str()), index.get(edge.target.as_str())) {
            let _ = writeln!(out, "  n{s} -->|{}| n{t}", edge.relation);
        }
    }
    out
}

//! `/ui/lineage/{id}`: the lineage graph around an object — what it came from, what came from
//! it, or both, to a depth — laid out left to right ([`crate::layout`]) and drawn as SVG: each
//! node a link to its object's page, coloured by the kind's stage of the lifecycle, marked when
//! deprecated or archived; each edge titled with its relation. Beneath it the same nodes as a
//! list, for screen readers and keyboards.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use mlspec_spec::Kind;
use mlspec_store::{Direction, LineageGraph, Selector};
use serde::Deserialize;

use crate::format::{object_href, query, status};
use crate::layout::{NODE_HEIGHT, NODE_WIDTH, layout, path};
use crate::objects::object_id;
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// The deepest walk a page asks for.
pub const MAX_DEPTH: u32 = 10;

/// The most nodes a page draws: the nearest ones (the store lists nodes root first, then by
/// distance). An experiment with 100,000 runs would otherwise be a drawing no one can read.
pub const MAX_NODES: usize = 1_000;

/// The graph cut to its nearest [`MAX_NODES`] nodes and the edges between them; the number of
/// nodes left out.
fn nearest(mut graph: LineageGraph) -> (LineageGraph, usize) {
    let left_out = graph.nodes.len().saturating_sub(MAX_NODES);
    if left_out > 0 {
        graph.nodes.truncate(MAX_NODES);
        let kept: std::collections::HashSet<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
        let edges = graph
            .edges
            .iter()
            .filter(|e| kept.contains(e.source.as_str()) && kept.contains(e.target.as_str()))
            .cloned()
            .collect();
        graph.edges = edges;
    }
    (graph, left_out)
}

#[derive(Deserialize)]
pub(crate) struct Params {
    direction: Option<String>,
    depth: Option<u32>,
}

fn direction(text: Option<&str>) -> Result<Direction, UiError> {
    match text.unwrap_or("both") {
        "both" => Ok(Direction::Both),
        "upstream" => Ok(Direction::Upstream),
        "downstream" => Ok(Direction::Downstream),
        other => Err(UiError::bad_request(format!(
            "`{other}` is not a direction: write upstream, downstream or both"
        ))),
    }
}

/// `GET /ui/lineage/{id}?direction=both&depth=3`.
pub(crate) async fn page(
    State(ui): State<Ui>,
    Path(id): Path<String>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Markup, UiError> {
    let params = query(params)?;
    let chosen = params.direction.as_deref().unwrap_or("both").to_owned();
    let direction = direction(Some(&chosen))?;
    let depth = params.depth.unwrap_or(3).clamp(1, MAX_DEPTH);
    let selector = Selector::Id(object_id(&id)?);
    let (graph, left_out) = nearest(ui.store.lineage(&selector, direction, depth).await?);
    let root = graph.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
    let body = html! {
        h1 { "Lineage of " (root) }
        form.controls method="get" {
            label { "Direction "
                select name="direction" {
                    @for option in ["both", "upstream", "downstream"] {
                        option value=(option) selected[option == chosen] { (option) }
                    }
                }
            }
            label { "Depth " input type="number" name="depth" min="1" max=(MAX_DEPTH) value=(depth); }
            button type="submit" { "Show" }
        }
        @if left_out > 0 {
            p.notice { "Showing the nearest " (MAX_NODES) " objects; " (left_out) " more are linked within this depth. Lower the depth or open a node to look further." }
        }
        @if graph.truncated {
            p.notice { "More objects lie beyond depth " (depth) "; raise the depth to see them." }
        }
        (graph_svg(&graph))
        details.node-list {
            summary { "The " (graph.nodes.len()) " objects in this graph" }
            ul {
                @for node in &graph.nodes {
                    li { a href=(object_href(&node.id)) { (node.kind.as_str()) " " (node.name) } " — " (status(node.status)) }
                }
            }
        }
    };
    Ok(shell(&format!("Lineage of {root}"), Section::Lineage, body))
}

/// The colour group of a kind: its stage of the lifecycle.
fn group(kind: Kind) -> &'static str {
    match kind.stage() {
        2..=6 => "g-data",
        1 | 8 | 9 => "g-check",
        10..=13 => "g-serve",
        _ => "g-train",
    }
}

/// At most this many characters of a name inside a node's box; the whole name is its title.
const LABEL_CHARS: usize = 24;

fn label(name: &str) -> String {
    let short: String = name.chars().take(LABEL_CHARS).collect();
    match name.chars().count() > LABEL_CHARS {
        true => format!("{short}…"),
        false => short,
    }
}

/// One node of a drawn graph.
pub struct GraphNode {
    /// Where clicking it leads.
    pub href: String,
    /// Its CSS classes (colour group, status).
    pub classes: String,
    /// The small first line (a kind, a status).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The whole description, for the tooltip.
    pub title: String,
}

/// The lineage graph's nodes as drawn, the root marked.
fn lineage_nodes(graph: &LineageGraph) -> Vec<GraphNode> {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| GraphNode {
            href: object_href(&node.id),
            classes: format!(
                "{} status-{}{}",
                group(node.kind),
                status(node.status),
                if i == 0 { " root" } else { "" }
            ),
            kind: node.kind.as_str().to_owned(),
            name: node.name.clone(),
            title: format!("{} {} ({})", node.kind.as_str(), node.name, status(node.status)),
        })
        .collect()
}

/// The lineage graph as SVG.
pub fn graph_svg(graph: &LineageGraph) -> Markup {
    let index: std::collections::HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let edges: Vec<(usize, usize, &str)> = graph
        .edges
        .iter()
        .filter_map(|e| {
            Some((
                *index.get(e.source.as_str())?,
                *index.get(e.target.as_str())?,
                e.relation.as_str(),
            ))
        })
        .collect();
    draw(&lineage_nodes(graph), &edges, "Lineage graph")
}

/// A left-to-right drawing of `nodes` joined by `edges` (source, target, relation).
pub fn draw(nodes: &[GraphNode], edges: &[(usize, usize, &str)], what: &str) -> Markup {
    let pairs: Vec<(usize, usize)> = edges.iter().map(|&(s, t, _)| (s, t)).collect();
    let placed = layout(nodes.len(), &pairs);
    let (width, height) = (placed.width + 16.0, placed.height + 16.0);
    html! {
        div.graph data-graph {
            div.graph-tools {
                button type="button" data-zoom="in" aria-label="Zoom in" { "+" }
                button type="button" data-zoom="out" aria-label="Zoom out" { "−" }
                button type="button" data-zoom="reset" { "Fit" }
            }
            svg.lineage xmlns="http://www.w3.org/2000/svg" role="group"
                aria-label=(format!("{what}: {} nodes, {} links", nodes.len(), edges.len()))
                viewBox=(format!("-8 -8 {width:.0} {height:.0}")) width=(format!("{width:.0}")) height=(format!("{height:.0}"))
                data-nodes=(nodes.len()) {
                g.edges {
                    @for (points, (_, _, relation)) in placed.edges.iter().zip(edges) {
                        path.edge d=(path(points)) { title { (relation) } }
                    }
                }
                g.nodes {
                    @for (node, &(x, y)) in nodes.iter().zip(&placed.nodes) {
                        a href=(node.href) class=(format!("node {}", node.classes)) {
                            title { (node.title) }
                            rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(NODE_WIDTH) height=(NODE_HEIGHT) rx="6" {}
                            text x=(format!("{:.1}", x + 8.0)) y=(format!("{:.1}", y + 13.0)) class="kind" { (node.kind) }
                            text x=(format!("{:.1}", x + 8.0)) y=(format!("{:.1}", y + 26.0)) { (label(&node.name)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mlspec_store::{LineageEdge, LineageNode};

    use super::*;

    fn node(i: usize) -> LineageNode {
        LineageNode {
            id: format!("n{i}"),
            kind: Kind::Run,
            name: format!("<b>run {i}</b>"),
            scope: String::new(),
            status: mlspec_spec::Status::Active,
            depth: u32::from(i > 0),
        }
    }

    #[test]
    fn a_huge_graph_is_cut_to_its_nearest_nodes() {
        let graph = LineageGraph {
            root: "n0".into(),
            nodes: (0..MAX_NODES + 5).map(node).collect(),
            edges: (1..MAX_NODES + 5)
                .map(|i| LineageEdge {
                    source: format!("n{i}"),
                    target: "n0".into(),
                    relation: "uses".into(),
                })
                .collect(),
            truncated: false,
        };
        let (cut, left_out) = nearest(graph);
        assert_eq!(
            (cut.nodes.len(), cut.edges.len(), left_out),
            (MAX_NODES, MAX_NODES - 1, 5)
        );
        let svg = graph_svg(&cut).into_string();
        assert_eq!(svg.matches("<rect ").count(), MAX_NODES);
        assert!(
            svg.contains("&lt;b&gt;run 1&lt;/b&gt;") && !svg.contains("<b>"),
            "names are text"
        );
    }
}

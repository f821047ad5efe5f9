//! `/ui/lineage/{id}`: the lineage graph around an object — what it came from, what came from
//! it, or both, to a depth — laid out left to right ([`crate::layout`]) and drawn as SVG: each
//! node a link to its object's page, coloured by the kind's stage of the lifecycle, marked when
//! deprecated or archived; each edge titled with its relation. Beneath it the same nodes as a
//! list, for screen readers and keyboards.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use mlspec_spec::Kind;
use mlspec_store::{Direction, LineageGraph, LineageNode, Selector};
use serde::Deserialize;

use crate::format::{object_href, query, status};
use crate::layout::{NODE_HEIGHT, NODE_WIDTH, layout, path};
use crate::objects::object_id;
use crate::page::{Section, shell};
use crate::{Ui, UiError};

/// The deepest walk a page asks for.
pub const MAX_DEPTH: u32 = 10;

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
    let graph = ui.store.lineage(&selector, direction, depth).await?;
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

fn label(node: &LineageNode) -> String {
    let name: String = node.name.chars().take(LABEL_CHARS).collect();
    match node.name.chars().count() > LABEL_CHARS {
        true => format!("{name}…"),
        false => name,
    }
}

/// The graph as SVG, the root marked.
pub fn graph_svg(graph: &LineageGraph) -> Markup {
    let index: std::collections::HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let edges: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .filter_map(|e| Some((*index.get(e.source.as_str())?, *index.get(e.target.as_str())?)))
        .collect();
    let relations: Vec<&str> = graph
        .edges
        .iter()
        .filter(|e| index.contains_key(e.source.as_str()) && index.contains_key(e.target.as_str()))
        .map(|e| e.relation.as_str())
        .collect();
    let placed = layout(graph.nodes.len(), &edges);
    let (width, height) = (placed.width + 16.0, placed.height + 16.0);
    html! {
        div.graph data-graph="lineage" {
            div.graph-tools {
                button type="button" data-zoom="in" aria-label="Zoom in" { "+" }
                button type="button" data-zoom="out" aria-label="Zoom out" { "−" }
                button type="button" data-zoom="reset" { "Fit" }
            }
            svg.lineage xmlns="http://www.w3.org/2000/svg" role="group"
                aria-label=(format!("Lineage graph: {} objects, {} links", graph.nodes.len(), edges.len()))
                viewBox=(format!("-8 -8 {width:.0} {height:.0}")) width=(format!("{width:.0}")) height=(format!("{height:.0}"))
                data-nodes=(graph.nodes.len()) {
                g.edges {
                    @for (points, relation) in placed.edges.iter().zip(&relations) {
                        path.edge d=(path(points)) { title { (relation) } }
                    }
                }
                g.nodes {
                    @for (i, (node, &(x, y))) in graph.nodes.iter().zip(&placed.nodes).enumerate() {
                        a href=(object_href(&node.id))
                            class=(format!("node {} status-{}{}", group(node.kind), status(node.status), if i == 0 { " root" } else { "" }))
                            data-id=(node.id) {
                            title { (node.kind.as_str()) " " (node.name) " (" (status(node.status)) ")" }
                            rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(NODE_WIDTH) height=(NODE_HEIGHT) rx="6" {}
                            text x=(format!("{:.1}", x + 8.0)) y=(format!("{:.1}", y + 13.0)) class="kind" { (node.kind.as_str()) }
                            text x=(format!("{:.1}", x + 8.0)) y=(format!("{:.1}", y + 26.0)) { (label(node)) }
                        }
                    }
                }
            }
        }
    }
}

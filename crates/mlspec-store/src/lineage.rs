//! Lineage queries: the subgraph upstream (what an object came from) and/or downstream (what
//! came from it) of one object, walked breadth-first over the `edges` table.
//!
//! Index design: `edges` names objects by their keys (`objects.created_seq`, the sequence number
//! of the event that created them), with the primary key `(target, source, relation, owner)` and
//! the index `(source, target)`. An upstream step looks up the frontier's keys as `target` (a
//! prefix of the primary key), a downstream step as `source` (a prefix of the index), so each
//! step is one indexed range read per frontier node, independent of the store's size; keys are
//! read in chunks of at most 500 per statement. The walk stops at `depth` edges from the root;
//! the reached objects are then described, by key, through `objects_by_created_seq`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use mlspec_spec::Kind;

use sqlx::{AnyConnection, Row};

use crate::current::{parse_kind, parse_status};
use crate::error::{Result, StoreError};
use crate::model::{Direction, LineageEdge, LineageGraph, LineageNode, Selector};
use crate::resolve::Resolver;

const CHUNK: usize = 500;

/// An edge between object keys: (source, target, relation).
type KeyEdge = (i64, i64, String);

/// The lineage subgraph around the object `selector` names.
pub(crate) async fn lineage(
    conn: &mut AnyConnection,
    selector: &Selector,
    direction: Direction,
    depth: u32,
) -> Result<LineageGraph> {
    let root = Resolver::default().resolve(conn, selector).await?.object;
    let root_key = root.order;
    let mut depths: HashMap<i64, u32> = HashMap::from([(root_key, 0)]);
    let mut edges = BTreeSet::new();
    let mut truncated = false;
    if matches!(direction, Direction::Upstream | Direction::Both) {
        truncated |= walk(conn, root_key, true, depth, &mut depths, &mut edges).await?;
    }
    if matches!(direction, Direction::Downstream | Direction::Both) {
        truncated |= walk(conn, root_key, false, depth, &mut depths, &mut edges).await?;
    }
    let (nodes, ids) = describe(conn, &root.id, &depths).await?;
    let id = |key: &i64| {
        ids.get(key)
            .cloned()
            .ok_or_else(|| StoreError::data_loss(format!("a lineage edge names object key {key}, which has no object")))
    };
    let edges = edges
        .iter()
        .map(|(source, target, relation)| {
            Ok(LineageEdge {
                source: id(source)?,
                target: id(target)?,
                relation: relation.clone(),
            })
        })
        .collect::<Result<BTreeSet<_>>>()?;
    Ok(LineageGraph {
        root: root.id,
        nodes,
        edges: edges.into_iter().collect(),
        truncated,
    })
}

/// Walks one direction; returns true when edges remained past `depth`.
async fn walk(
    conn: &mut AnyConnection,
    root: i64,
    upstream: bool,
    depth: u32,
    depths: &mut HashMap<i64, u32>,
    edges: &mut BTreeSet<KeyEdge>,
) -> Result<bool> {
    let reached = |edge: &KeyEdge| if upstream { edge.0 } else { edge.1 };
    let mut frontier = vec![root];
    let mut seen: HashSet<i64> = HashSet::from([root]);
    for level in 1..=depth {
        let mut next = Vec::new();
        for edge in step(conn, &frontier, upstream).await? {
            let key = reached(&edge);
            if seen.insert(key) {
                let entry = depths.entry(key).or_insert(level);
                *entry = (*entry).min(level);
                next.push(key);
            }
            edges.insert(edge);
        }
        if next.is_empty() {
            return Ok(false);
        }
        frontier = next;
    }
    Ok(!step(conn, &frontier, upstream)
        .await?
        .iter()
        .all(|e| seen.contains(&reached(e))))
}

/// The live edges into (upstream) or out of (downstream) the frontier.
async fn step(conn: &mut AnyConnection, frontier: &[i64], upstream: bool) -> Result<Vec<KeyEdge>> {
    let column = if upstream { "target" } else { "source" };
    let mut found = Vec::new();
    for chunk in frontier.chunks(CHUNK) {
        let sql = format!(
            "SELECT DISTINCT source, target, relation FROM edges WHERE {column} IN ({}) AND removed_seq IS NULL",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for key in chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(found)
}

/// Kind, name and status of every reached object, root first, then by depth and name; and the
/// id of each key.
async fn describe(
    conn: &mut AnyConnection,
    root: &str,
    depths: &HashMap<i64, u32>,
) -> Result<(Vec<LineageNode>, HashMap<i64, String>)> {
    let keys: Vec<i64> = depths.keys().copied().collect();
    let mut nodes = Vec::with_capacity(keys.len());
    let mut ids = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let sql = format!(
            "SELECT created_seq, id, kind, name, status, scope FROM objects WHERE created_seq IN ({})",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for key in chunk {
            query = query.bind(*key);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key: i64 = row.try_get(0)?;
            let id: String = row.try_get(1)?;
            let kind: String = row.try_get(2)?;
            let status: String = row.try_get(4)?;
            nodes.push(LineageNode {
                depth: depths.get(&key).copied().unwrap_or_default(),
                id: id.clone(),
                kind: parse_kind(&kind)?,
                name: row.try_get(3)?,
                scope: row.try_get(5)?,
                status: parse_status(&status)?,
            });
            ids.insert(key, id);
        }
    }
    nodes.sort_by(|a, b| (a.id != root, a.depth, &a.name, &a.id).cmp(&(b.id != root, b.depth, &b.name, &b.id)));
    Ok((nodes, ids))
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Drawings of a graph, for `mlspec lineage --format` and the API's `format=`.
impl LineageGraph {
    /// Graphviz: executions (runs) as boxes, everything else as ellipses.
    pub fn to_dot(&self) -> String {
        let graph = self;
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
    pub fn to_mermaid(&self) -> String {
        let graph = self;
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
}

fn label(node: &LineageNode) -> String {
    crate::current::display(node.kind, &node.name, &node.scope)
}

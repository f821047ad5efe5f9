//! Lineage queries: the subgraph upstream (what an object came from) and/or downstream (what
//! came from it) of one object, walked breadth-first over the `edges` table.
//!
//! Index design: `edges` has the primary key `(target, source, relation, owner)` and the index
//! `(source, target)`. An upstream step looks up the frontier's ids as `target` (a prefix of the
//! primary key), a downstream step as `source` (a prefix of the index), so each step is one
//! indexed range read per frontier node, independent of the store's size; ids are read in chunks
//! of at most 500 per statement. The walk stops at `depth` edges from the root.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{AnyConnection, Row};

use crate::current::{parse_kind, parse_status};
use crate::error::Result;
use crate::model::{Direction, LineageEdge, LineageGraph, LineageNode, Selector};
use crate::resolve::Resolver;

const CHUNK: usize = 500;

/// The lineage subgraph around the object `selector` names.
pub(crate) async fn lineage(
    conn: &mut AnyConnection,
    selector: &Selector,
    direction: Direction,
    depth: u32,
) -> Result<LineageGraph> {
    let root = Resolver::default().resolve(conn, selector).await?.object.id;
    let mut depths: HashMap<String, u32> = HashMap::from([(root.clone(), 0)]);
    let mut edges = BTreeSet::new();
    let mut truncated = false;
    if matches!(direction, Direction::Upstream | Direction::Both) {
        truncated |= walk(conn, &root, true, depth, &mut depths, &mut edges).await?;
    }
    if matches!(direction, Direction::Downstream | Direction::Both) {
        truncated |= walk(conn, &root, false, depth, &mut depths, &mut edges).await?;
    }
    let nodes = describe(conn, &root, &depths).await?;
    Ok(LineageGraph {
        root,
        nodes,
        edges: edges.into_iter().collect(),
        truncated,
    })
}

/// Walks one direction; returns true when edges remained past `depth`.
async fn walk(
    conn: &mut AnyConnection,
    root: &str,
    upstream: bool,
    depth: u32,
    depths: &mut HashMap<String, u32>,
    edges: &mut BTreeSet<LineageEdge>,
) -> Result<bool> {
    let mut frontier = vec![root.to_owned()];
    let mut seen: HashSet<String> = HashSet::from([root.to_owned()]);
    for level in 1..=depth {
        let mut next = Vec::new();
        for edge in step(conn, &frontier, upstream).await? {
            let reached = if upstream {
                edge.source.clone()
            } else {
                edge.target.clone()
            };
            if seen.insert(reached.clone()) {
                let entry = depths.entry(reached.clone()).or_insert(level);
                *entry = (*entry).min(level);
                next.push(reached);
            }
            edges.insert(edge);
        }
        if next.is_empty() {
            return Ok(false);
        }
        frontier = next;
    }
    Ok(!step(conn, &frontier, upstream).await?.iter().all(|e| {
        let reached = if upstream { &e.source } else { &e.target };
        seen.contains(reached)
    }))
}

/// The live edges into (upstream) or out of (downstream) the frontier.
async fn step(conn: &mut AnyConnection, frontier: &[String], upstream: bool) -> Result<Vec<LineageEdge>> {
    let column = if upstream { "target" } else { "source" };
    let mut found = Vec::new();
    for chunk in frontier.chunks(CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT source, target, relation FROM edges WHERE {column} IN ({}) AND removed_seq IS NULL",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(LineageEdge {
                source: row.try_get(0)?,
                target: row.try_get(1)?,
                relation: row.try_get(2)?,
            });
        }
    }
    Ok(found)
}

/// Kind, name and status of every reached object, root first, then by depth and name.
async fn describe(conn: &mut AnyConnection, root: &str, depths: &HashMap<String, u32>) -> Result<Vec<LineageNode>> {
    let ids: Vec<&String> = depths.keys().collect();
    let mut nodes = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, kind, name, status, scope FROM objects WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get(0)?;
            let kind: String = row.try_get(1)?;
            let status: String = row.try_get(3)?;
            nodes.push(LineageNode {
                depth: depths.get(&id).copied().unwrap_or_default(),
                id,
                kind: parse_kind(&kind)?,
                name: row.try_get(2)?,
                scope: row.try_get(4)?,
                status: parse_status(&status)?,
            });
        }
    }
    nodes.sort_by(|a, b| (a.id != root, a.depth, &a.name, &a.id).cmp(&(b.id != root, b.depth, &b.name, &b.id)));
    Ok(nodes)
}

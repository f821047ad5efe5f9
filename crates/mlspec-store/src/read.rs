//! Reading: one object, lists, and an object's history with what each event changed.

use mlspec_spec::{Kind, ObjectId, Status};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::current::{Current, SUMMARY_COLUMNS, fetch_current, parse_status, rfc3339, status_str, summary_from_row};
use crate::error::{Result, StoreError};
use crate::filter::{Bind, Sql};
use crate::model::{Event, FieldChange, ListQuery, ObjectSummary, Selector, StoredObject};
use crate::resolve::Resolver;
use crate::sql::Backend;
use mlspec_spec::expr::ast::BinOp;
use mlspec_spec::expr::query::{Field, Filter, Literal, OrderKey};

/// The object `selector` names, as stored now.
pub(crate) async fn get(conn: &mut AnyConnection, selector: &Selector) -> Result<StoredObject> {
    let resolved = Resolver::default().resolve(conn, selector).await?;
    let current = current_by_id(conn, &resolved.object.id).await?;
    Ok(StoredObject {
        summary: current.summary(),
        version: resolved.version,
        document: current.parse_document()?,
    })
}

/// The objects with these ids, as stored now, in the order given: a few queries of many ids
/// each, instead of one lookup per object.
pub(crate) async fn get_many(conn: &mut AnyConnection, ids: &[ObjectId]) -> Result<Vec<StoredObject>> {
    const IDS_PER_QUERY: usize = 500;
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let params: Vec<&str> = chunk.iter().map(ObjectId::as_str).collect();
        let filter = format!("o.id IN ({})", placeholders.join(", "));
        for current in fetch_current(conn, &filter, &params).await? {
            found.insert(current.id.clone(), current);
        }
    }
    ids.iter()
        .map(|id| {
            let current = found
                .get(id.as_str())
                .ok_or_else(|| StoreError::not_found(format!("no object has the id `{id}`")))?;
            Ok(StoredObject {
                summary: current.summary(),
                version: None,
                document: current.parse_document()?,
            })
        })
        .collect()
}

/// The object with this id, as stored now.
pub(crate) async fn current_by_id(conn: &mut AnyConnection, id: &str) -> Result<Current> {
    fetch_current(conn, "o.id = $1", &[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::not_found(format!("no object has the id `{id}`")))
}

/// The objects of a kind, filtered by status, labels and the query's filter, in its order.
///
/// A filtered page in creation order, or any page sorted by a numeric field, is first looked for among
/// the first objects of that order only (the newest, or the highest values in the field's
/// index), walking them in order and probing the filter's indexes at each ([`Window`]); when a
/// dense filter fills the page there, no key set is read. Otherwise, the filter's key sets
/// drive the listing ([`Sql::keys`]), whose cost follows the matching rows.
///
/// Each listed object then gets the values of the query's columns ([`crate::columns`]).
pub(crate) async fn list(conn: &mut AnyConnection, query: &ListQuery) -> Result<Vec<ObjectSummary>> {
    crate::columns::check_columns(&query.columns)?;
    let mut summaries = list_summaries(conn, query).await?;
    crate::columns::fill(conn, query.kind, &query.columns, &mut summaries).await?;
    Ok(summaries)
}

async fn list_summaries(conn: &mut AnyConnection, query: &ListQuery) -> Result<Vec<ObjectSummary>> {
    let persistent = Backend::of(conn).keeps_plans();
    if let Some(window) = Window::for_query(query) {
        let edge = window.edge(conn, query.kind).await?;
        let (text, params) = window.statement(query, edge, Backend::of(conn));
        let rows = bound(&text, params, persistent).fetch_all(&mut *conn).await?;
        if window.answers(edge, rows.len(), query) {
            return rows.iter().map(summary_from_row).collect();
        }
    }
    let (text, params) = list_statement(query);
    let rows = bound(&text, params, persistent).fetch_all(conn).await?;
    rows.iter().map(summary_from_row).collect()
}

/// The database's plan for `list` (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN), one line
/// per step: how a query shows that it reads an index. A listing that first walks a window
/// shows that walk's plan, then the one it falls back to.
pub(crate) async fn explain_list(conn: &mut AnyConnection, query: &ListQuery) -> Result<Vec<String>> {
    let mut statements = Vec::new();
    if let Some(window) = Window::for_query(query) {
        let edge = window.edge(conn, query.kind).await?;
        statements.push(window.statement(query, edge, Backend::of(conn)));
    }
    statements.push(list_statement(query));
    let backend = Backend::of(conn);
    let (prefix, column) = backend.explain();
    let mut plan = Vec::new();
    for (text, params) in statements {
        let rows = bound(&format!("{prefix}{text}"), params, backend.keeps_plans())
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            plan.push(row.try_get::<String, _>(column)?);
        }
    }
    Ok(plan)
}

/// The first objects of the listing's order — the newest (or oldest), or those with the
/// highest (or lowest) value of the numeric field it sorts by — walked in that order to find a
/// filtered page among them: enough objects to fill the page at one match in twenty, within
/// bounds, so a sparse filter wastes little before the key sets answer it.
struct Window {
    walk: Walk,
    descending: bool,
    objects: u32,
}

/// What a [`Window`] walks.
enum Walk {
    /// The objects, in creation order.
    Created,
    /// The numbers of one field (`metrics.accuracy`) in the `fields_by_number` index.
    Field(String),
}

/// Where a window ends: its last object's key, or its last value of the field.
#[derive(Clone, Copy)]
enum Edge {
    Key(i64),
    Num(f64),
}

impl Window {
    const FEWEST: u32 = 1_000;
    const MOST: u32 = 20_000;

    /// A window for a limited listing by a metric, parameter or spec field, or a filtered one in
    /// creation order; none for any other.
    fn for_query(query: &ListQuery) -> Option<Window> {
        let order = query.order.as_ref()?;
        let limit = query.limit?;
        let filtered = query.filter.is_some() || !query.labels.is_empty();
        let walk = match &order.key {
            OrderKey::Created => Walk::Created,
            OrderKey::Field(field @ (Field::Metric(_) | Field::Param(_) | Field::Spec(_))) => {
                Walk::Field(field.index_key()?)
            }
            _ => return None,
        };
        // Unfiltered, creation order walks the objects' own key anyway.
        if !filtered && matches!(walk, Walk::Created) {
            return None;
        }
        let page_end = limit.saturating_add(query.offset);
        Some(Window {
            walk,
            descending: order.descending,
            objects: page_end.saturating_mul(20).clamp(Self::FEWEST, Self::MOST),
        })
    }

    fn direction(&self) -> &'static str {
        if self.descending { "DESC" } else { "ASC" }
    }

    /// The key (or value) of the window's last object, or none when there are fewer objects
    /// (then the window holds them all).
    async fn edge(&self, conn: &mut AnyConnection, kind: Kind) -> Result<Option<Edge>> {
        let direction = self.direction();
        let offset = self.objects;
        Ok(match &self.walk {
            Walk::Created => {
                let text =
                    format!("SELECT created_seq FROM objects ORDER BY created_seq {direction} LIMIT 1 OFFSET {offset}");
                sqlx::query_scalar(sqlx::AssertSqlSafe(text))
                    .fetch_optional(conn)
                    .await?
                    .map(Edge::Key)
            }
            Walk::Field(key) => {
                let text = format!(
                    "SELECT num FROM fields WHERE key_id = (SELECT id FROM field_keys WHERE kind = $1 AND key = $2) \
                     AND num IS NOT NULL ORDER BY num {direction} LIMIT 1 OFFSET {offset}"
                );
                sqlx::query_scalar(sqlx::AssertSqlSafe(text))
                    .bind(kind.as_str())
                    .bind(key.as_str())
                    .fetch_optional(conn)
                    .await?
                    .map(Edge::Num)
            }
        })
    }

    /// The page among the window's objects (among all objects when `edge` is none). SQLite is
    /// told to walk the table itself (`NOT INDEXED`): by the index on kind and status, it would
    /// read every object of the kind and sort them. A field's window holds every object whose
    /// value lies strictly before the edge, ties included, so a full page from it is the page.
    fn statement(&self, query: &ListQuery, edge: Option<Edge>, backend: Backend) -> (String, Vec<Bind>) {
        let mut sql = Sql {
            probe_tail: if backend == Backend::Postgres { " OFFSET 0" } else { "" },
            ..Sql::default()
        };
        let (mut conditions, parts) = scope(query, &mut sql);
        let side = if self.descending { ">" } else { "<" };
        let direction = self.direction();
        let (source, order) = match &self.walk {
            Walk::Created => {
                let not_indexed = if backend == Backend::Sqlite { " NOT INDEXED" } else { "" };
                (format!("objects o{not_indexed}"), format!("o.created_seq {direction}"))
            }
            Walk::Field(key) => {
                let kind = sql.bind(Bind::Text(query.kind.as_str().to_owned()));
                let key = sql.bind(Bind::Text(key.clone()));
                conditions.push(format!(
                    "w.key_id = (SELECT id FROM field_keys WHERE kind = {kind} AND key = {key}) AND w.num IS NOT NULL"
                ));
                (
                    "fields w CROSS JOIN objects o".to_owned(),
                    format!("w.num {direction}, o.name_key, o.scope, o.id"),
                )
            }
        };
        match (&self.walk, edge) {
            (Walk::Created, Some(Edge::Key(key))) => {
                let edge = sql.bind(Bind::Key(key));
                conditions.push(format!("o.created_seq {side} {edge}"));
            }
            (Walk::Field(_), Some(Edge::Num(num))) => {
                let edge = sql.bind(Bind::Num(num));
                conditions.push(format!("w.num {side} {edge}"));
            }
            _ => {}
        }
        if matches!(self.walk, Walk::Field(_)) {
            conditions.push("o.created_seq = w.object_key".to_owned());
        }
        conditions.push(sql.holds(&Filter::All(parts), query.kind));
        let text = format!(
            "SELECT {SUMMARY_COLUMNS} FROM {source} WHERE {} ORDER BY {order}{}",
            conditions.join(" AND "),
            page(query)
        );
        (text, sql.params)
    }

    /// Whether the window's page is the listing's page: the window held every object, or the
    /// page is full. (A field's window never holds the objects without a number, which sort
    /// after; so it answers only when full.)
    fn answers(&self, edge: Option<Edge>, rows: usize, query: &ListQuery) -> bool {
        let full = Some(rows) == query.limit.map(|l| l as usize);
        full || (edge.is_none() && matches!(self.walk, Walk::Created))
    }
}

fn bound(
    text: &str,
    params: Vec<Bind>,
    persistent: bool,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(text.to_owned())).persistent(persistent);
    for param in params {
        statement = match param {
            Bind::Text(v) => statement.bind(v),
            Bind::Num(v) => statement.bind(v),
            Bind::Key(v) => statement.bind(v),
        };
    }
    statement
}

/// The conditions every listing of `query` has (kind and statuses), and the filter's parts
/// (the labels asked for, then the filter).
fn scope(query: &ListQuery, sql: &mut Sql) -> (Vec<String>, Vec<Filter>) {
    let statuses = if query.statuses.is_empty() {
        vec![Status::Active]
    } else {
        query.statuses.clone()
    };
    let kind = sql.bind(Bind::Text(query.kind.as_str().to_owned()));
    let status_list: Vec<String> = statuses
        .iter()
        .map(|s| sql.bind(Bind::Text(status_str(*s).to_owned())))
        .collect();
    let mut parts: Vec<Filter> = query
        .labels
        .iter()
        .map(|(key, value)| Filter::Compare {
            field: Field::Label(key.clone()),
            op: BinOp::Eq,
            value: Literal::Text(value.clone()),
        })
        .collect();
    parts.extend(query.filter.clone());
    let conditions = vec![
        format!("o.kind = {kind}"),
        format!("o.status IN ({})", status_list.join(", ")),
    ];
    (conditions, parts)
}

/// The LIMIT and OFFSET clause of `query`, if it pages.
fn page(query: &ListQuery) -> String {
    if query.limit.is_none() && query.offset == 0 {
        return String::new();
    }
    let limit = query.limit.map_or(i64::MAX, i64::from);
    format!(" LIMIT {limit} OFFSET {}", query.offset)
}

/// The SQL of a listing driven by the filter's key sets, and its parameters.
fn list_statement(query: &ListQuery) -> (String, Vec<Bind>) {
    let mut sql = Sql::default();
    let (mut conditions, parts) = scope(query, &mut sql);
    // The filter's keys drive the join (CROSS JOIN keeps SQLite from scanning the kind instead).
    let source = if parts.is_empty() {
        "objects o".to_owned()
    } else {
        conditions.push("o.created_seq = f.k".to_owned());
        format!(
            "({}) AS f CROSS JOIN objects o",
            sql.keys(&Filter::All(parts), query.kind)
        )
    };
    let (join, order) = sql.order(query.order.as_ref());
    let text = format!(
        "SELECT {SUMMARY_COLUMNS} FROM {source}{join} WHERE {} ORDER BY {order}{}",
        conditions.join(" AND "),
        page(query)
    );
    (text, sql.params)
}

/// Every event of the object `selector` names, oldest first.
pub(crate) async fn history(conn: &mut AnyConnection, selector: &Selector) -> Result<Vec<Event>> {
    let id = Resolver::default().resolve(conn, selector).await?.object.id;
    // The object's events, found by following each event's link to the one before it.
    let rows = sqlx::query(
        "WITH RECURSIVE chain (seq) AS (SELECT head_seq FROM objects WHERE id = $1 \
         UNION ALL SELECT e.prev_event FROM events e JOIN chain c ON e.seq = c.seq WHERE e.prev_event IS NOT NULL) \
         SELECT e.seq, e.at_us, e.body, e.hash FROM events e \
         JOIN chain c ON e.seq = c.seq ORDER BY e.seq",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    let mut previous: Option<Value> = None;
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let texts = crate::body::unpack(&row.try_get::<Vec<u8>, _>(2)?, seq)?;
        let document: Value = serde_json::from_str(&texts.document)
            .map_err(|e| StoreError::data_loss(format!("event {seq} holds an unreadable document: {e}")))?;
        let changes = match &previous {
            Some(before) => diff(before, &document),
            None => Vec::new(),
        };
        events.push(Event {
            seq,
            at: rfc3339(row.try_get(1)?),
            actor: texts.actor,
            action: texts.action,
            object_id: id.clone(),
            name: texts.name,
            status: parse_status(&texts.status)?,
            changes,
            document: document.clone(),
            hash: hex::encode(row.try_get::<Vec<u8>, _>(3)?),
        });
        previous = Some(document);
    }
    Ok(events)
}

/// The fields that differ between two documents, as JSON Pointers.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    diff_at(String::new(), Some(before), Some(after), &mut changes);
    changes
}

fn diff_at(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, value) in a {
                diff_at(format!("{path}/{}", escape(key)), Some(value), b.get(key), out);
            }
            for (key, value) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                diff_at(format!("{path}/{}", escape(key)), None, Some(value), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                diff_at(format!("{path}/{i}"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            path,
            previous: a.cloned(),
            new: b.cloned(),
        }),
        _ => {}
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_field() {
        let before = json!({"metadata": {"name": "a", "labels": {"x/y": "1"}}, "spec": {"v": [1, 2]}});
        let after = json!({"metadata": {"name": "b", "labels": {}}, "spec": {"v": [1, 3], "w": true}});
        let paths: Vec<String> = diff(&before, &after).into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            ["/metadata/name", "/metadata/labels/x~1y", "/spec/v/1", "/spec/w"]
        );
    }
}

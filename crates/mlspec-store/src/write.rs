//! Appending events: every change to an object becomes one event in the hash chain, and the
//! derived tables (objects, labels, fields, edges) follow it — all within the caller's transaction, so
//! a batch is all there or not at all.

use std::collections::{BTreeSet, HashMap};

use mlspec_spec::validate::Encoding;
use mlspec_spec::{Document, Kind, Status};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::chain::{EventRecord, EventTexts};
use crate::current::{name_key, status_str};
use crate::error::{ErrorKind, Result, StoreError};
use crate::fields::Fields;

/// The JSON the store keeps for a document, through the spec's one writer
/// ([`mlspec_spec::validate::encode`]). Refused, before anything is written, when it could not
/// be read back as the same valid document: a non-finite number (serde_json writes NaN and
/// infinity as `null`, which no number field reads, so the event could never be read again and
/// `store verify` would report it forever), an inline credential or any other broken rule, or a
/// size over what `validate` reads. The error is the diagnostic `validate` reports, at its path.
pub(crate) fn encode(document: &Document) -> Result<String> {
    mlspec_spec::validate::encode(document, Encoding::Json).map_err(|d| {
        let at = d.path.map(|p| format!(" at {p}")).unwrap_or_default();
        let error = StoreError::invalid(format!(
            "{}/{} cannot be recorded{at}: {}",
            document.kind(),
            document.metadata.name,
            d.message
        ));
        match d.hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    })
}

/// One lineage edge: `source` flowed into `target`.
pub(crate) type Link = (String, String, String);

/// Parameters per statement, below SQLite's limit of 32766.
const MAX_PARAMS: usize = 30_000;

/// The new state of an object, to be recorded as an event.
pub(crate) struct NewState {
    pub object_id: String,
    pub kind: Kind,
    pub name: String,
    pub scope: String,
    pub status: Status,
    /// The document's JSON.
    pub document: String,
    pub labels: Vec<(String, String)>,
    pub fields: Fields,
    /// The edges the document makes, as (relation, source, target).
    pub links: BTreeSet<Link>,
    pub action: &'static str,
    pub previous: Option<Previous>,
}

/// What the object was before, for the event's back-link and the derived tables.
pub(crate) struct Previous {
    pub head_seq: i64,
    pub created_seq: i64,
    pub labels: Vec<(String, String)>,
    pub fields: Fields,
    pub links: BTreeSet<Link>,
}

pub(crate) enum Param {
    Text(String),
    Bytes(Vec<u8>),
    MaybeText(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
    MaybeReal(Option<f64>),
}

/// Rows to write, in order.
#[derive(Default)]
struct Rows {
    events: Vec<Vec<Param>>,
    objects: Vec<Vec<Param>>,
    labels: Vec<Vec<Param>>,
    fields: Vec<FieldChange>,
    edges: Vec<EdgeChange>,
}

/// A field an event sets, or clears (both values `None`).
struct FieldChange {
    object_key: i64,
    kind: String,
    key: String,
    num: Option<f64>,
    text: Option<String>,
}

/// An edge an event adds or removes.
struct EdgeChange {
    seq: i64,
    link: Link,
    owner: String,
    added: bool,
}

/// Collects a transaction's events and writes them, with the derived rows, at [`Writer::finish`].
pub(crate) struct Writer {
    seq: i64,
    hash: String,
    at_us: i64,
    actor: String,
    rows: Rows,
    /// The key (`created_seq`) of every object recorded, by id.
    keys: HashMap<String, i64>,
}

impl Writer {
    /// Locks the head of the chain (writers queue here) and starts appending after it.
    pub async fn begin(conn: &mut AnyConnection, actor: &str) -> Result<Writer> {
        lock_head(conn).await?;
        let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::data_loss("the chain_head row is missing").with_hint("run `mlspec store verify`"));
        };
        Ok(Writer {
            seq: row.try_get(0)?,
            hash: row.try_get(1)?,
            at_us: chrono::Utc::now().timestamp_micros(),
            actor: actor.to_owned(),
            rows: Rows::default(),
            keys: HashMap::new(),
        })
    }

    /// The time every event of this transaction carries.
    pub fn at_us(&self) -> i64 {
        self.at_us
    }

    /// The actor, as a document's `createdBy`.
    pub fn actor_text(&self) -> Option<mlspec_spec::newtypes::ShortText> {
        mlspec_spec::newtypes::ShortText::new(self.actor.as_str()).ok()
    }

    /// Records a new state; returns its event's sequence number.
    pub fn record(&mut self, state: NewState) -> Result<i64> {
        self.seq += 1;
        let seq = self.seq;
        let links_json = serde_json::to_string(&state.links.iter().collect::<Vec<_>>()).unwrap_or_default();
        let record = EventRecord {
            seq,
            at_us: self.at_us,
            texts: EventTexts {
                actor: self.actor.clone(),
                action: state.action.to_owned(),
                object_id: state.object_id.clone(),
                kind: state.kind.as_str().to_owned(),
                name: state.name.clone(),
                scope: state.scope.clone(),
                status: status_str(state.status).to_owned(),
                document: state.document,
                links: links_json,
            },
            prev_event: state.previous.as_ref().map(|p| p.head_seq),
            prev_hash: std::mem::take(&mut self.hash),
        };
        self.hash = record.hash();
        let created_seq = state.previous.as_ref().map_or(seq, |p| p.created_seq);
        self.keys.insert(state.object_id.clone(), created_seq);
        self.add_label_rows(created_seq, &state.labels, state.previous.as_ref());
        self.add_edges(seq, &state.object_id, &state.links, state.previous.as_ref());
        let texts = &record.texts;
        self.add_field_rows(created_seq, &texts.kind, &state.fields, state.previous.as_ref());
        self.rows.objects.push(vec![
            Param::Text(texts.object_id.clone()),
            Param::Text(texts.kind.clone()),
            Param::Text(texts.name.clone()),
            Param::Text(name_key(&texts.name)),
            Param::Text(texts.scope.clone()),
            Param::Text(texts.status.clone()),
            Param::Int(seq),
            Param::Int(created_seq),
            Param::Int(self.at_us),
            Param::Int(self.at_us),
        ]);
        self.rows.events.push(event_params(record, &self.hash)?);
        Ok(seq)
    }

    /// Upserts the labels that are new or changed; a label the document dropped gets NULL.
    fn add_label_rows(&mut self, object_key: i64, labels: &[(String, String)], previous: Option<&Previous>) {
        let old_labels = previous.map(|p| p.labels.as_slice()).unwrap_or_default();
        for (key, value) in labels {
            if !old_labels.iter().any(|(k, v)| k == key && v == value) {
                self.rows.labels.push(vec![
                    Param::Int(object_key),
                    Param::Text(key.clone()),
                    Param::MaybeText(Some(value.clone())),
                ]);
            }
        }
        for (key, _) in old_labels {
            if !labels.iter().any(|(k, _)| k == key) {
                self.rows.labels.push(vec![
                    Param::Int(object_key),
                    Param::Text(key.clone()),
                    Param::MaybeText(None),
                ]);
            }
        }
    }

    /// The edges the event adds and removes.
    fn add_edges(&mut self, seq: i64, id: &str, links: &BTreeSet<Link>, previous: Option<&Previous>) {
        let empty = BTreeSet::new();
        let old_links = previous.map_or(&empty, |p| &p.links);
        let added = links.difference(old_links).map(|link| (link, true));
        let removed = old_links.difference(links).map(|link| (link, false));
        for (link, added) in added.chain(removed) {
            self.rows.edges.push(EdgeChange {
                seq,
                link: link.clone(),
                owner: id.to_owned(),
                added,
            });
        }
    }

    /// Upserts the fields that are new or changed; a field the document dropped gets NULLs.
    fn add_field_rows(&mut self, object_key: i64, kind: &str, fields: &Fields, previous: Option<&Previous>) {
        let old_fields = previous.map(|p| p.fields.as_slice()).unwrap_or_default();
        for (key, value) in fields {
            if !old_fields.iter().any(|(k, v)| k == key && v == value) {
                self.rows
                    .fields
                    .push(FieldChange::new(object_key, kind, key, value.columns()));
            }
        }
        for (key, _) in old_fields {
            if !fields.iter().any(|(k, _)| k == key) {
                self.rows
                    .fields
                    .push(FieldChange::new(object_key, kind, key, (None, None)));
            }
        }
    }

    /// Writes everything recorded and moves the head; the caller commits.
    pub async fn finish(self, conn: &mut AnyConnection) -> Result<()> {
        if self.rows.events.is_empty() {
            return Ok(());
        }
        let mut keys = self.keys;
        let rows = self.rows;
        insert(conn, INSERT_EVENT, "", rows.events).await?;
        insert(
            conn,
            "INSERT INTO objects (id, kind, name, name_key, scope, status, head_seq, created_seq, created_us, updated_us)",
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, \
              scope = excluded.scope, status = excluded.status, head_seq = excluded.head_seq, \
              updated_us = excluded.updated_us",
            rows.objects,
        )
        .await?;
        insert(
            conn,
            "INSERT INTO labels (object_key, key, value)",
            " ON CONFLICT (object_key, key) DO UPDATE SET value = excluded.value",
            rows.labels,
        )
        .await?;
        write_fields(conn, rows.fields).await?;
        write_edges(conn, rows.edges, &mut keys).await?;
        sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.seq)
            .bind(self.hash)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// The statement that appends events, for rows of [`event_params`]' shape.
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (seq, at_us, body, prev_event, hash)";

/// Adds and removes edges; an edge names its objects by their keys (`created_seq`), looked up
/// for the objects this transaction did not record.
async fn write_edges(conn: &mut AnyConnection, edges: Vec<EdgeChange>, keys: &mut HashMap<String, i64>) -> Result<()> {
    let unknown: BTreeSet<&str> = edges
        .iter()
        .flat_map(|e| [e.link.1.as_str(), e.link.2.as_str()])
        .filter(|id| !keys.contains_key(*id))
        .collect();
    let unknown: Vec<&str> = unknown.into_iter().collect();
    for row in select_in(conn, "SELECT id, created_seq FROM objects WHERE id", &unknown).await? {
        keys.insert(row.try_get(0)?, row.try_get(1)?);
    }
    let key = |id: &str| {
        keys.get(id)
            .copied()
            .ok_or_else(|| StoreError::data_loss(format!("lineage names object {id}, which has no objects row")))
    };
    let mut added = Vec::new();
    for edge in &edges {
        let (relation, source, target) = &edge.link;
        let (source, target, owner) = (key(source)?, key(target)?, key(&edge.owner)?);
        if edge.added {
            added.push(vec![
                Param::Int(source),
                Param::Int(target),
                Param::Text(relation.clone()),
                Param::Int(owner),
                Param::Int(edge.seq),
                Param::MaybeInt(None),
            ]);
        } else {
            sqlx::query(
                "UPDATE edges SET removed_seq = $1 WHERE target = $2 AND source = $3 AND relation = $4 AND owner = $5",
            )
            .bind(edge.seq)
            .bind(target)
            .bind(source)
            .bind(relation.as_str())
            .bind(owner)
            .execute(&mut *conn)
            .await?;
        }
    }
    insert(
        conn,
        "INSERT INTO edges (source, target, relation, owner, added_seq, removed_seq)",
        " ON CONFLICT (target, source, relation, owner) DO UPDATE SET added_seq = excluded.added_seq, removed_seq = NULL",
        added,
    )
    .await
}

/// Upserts the fields; a field names its kind and key by their id in `field_keys`.
async fn write_fields(conn: &mut AnyConnection, changes: Vec<FieldChange>) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let ids = field_key_ids(conn, &changes).await?;
    let mut rows = Vec::with_capacity(changes.len());
    for change in changes {
        let id = ids
            .get(&(change.kind, change.key))
            .copied()
            .ok_or_else(|| StoreError::new(ErrorKind::Internal, "a field key was not given an id".to_owned()))?;
        rows.push(vec![
            Param::Int(change.object_key),
            Param::Int(id),
            Param::MaybeReal(change.num),
            Param::MaybeText(change.text),
        ]);
    }
    insert(
        conn,
        "INSERT INTO fields (object_key, key_id, num, text)",
        " ON CONFLICT (object_key, key_id) DO UPDATE SET num = excluded.num, text = excluded.text",
        rows,
    )
    .await
}

/// The id of every (kind, key) the changes name; pairs `field_keys` does not hold yet are
/// added after its highest id (the transaction holds the head's lock, so no one else adds).
async fn field_key_ids(conn: &mut AnyConnection, changes: &[FieldChange]) -> Result<HashMap<(String, String), i64>> {
    let wanted: BTreeSet<(&str, &str)> = changes.iter().map(|c| (c.kind.as_str(), c.key.as_str())).collect();
    let keys: Vec<&str> = wanted
        .iter()
        .map(|(_, key)| *key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut ids = HashMap::new();
    for row in select_in(conn, "SELECT kind, key, id FROM field_keys WHERE key", &keys).await? {
        let (kind, key): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if wanted.contains(&(kind.as_str(), key.as_str())) {
            ids.insert((kind, key), row.try_get(2)?);
        }
    }
    let missing: Vec<(&str, &str)> = wanted
        .into_iter()
        .filter(|(kind, key)| !ids.contains_key(&((*kind).to_owned(), (*key).to_owned())))
        .collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    let highest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM field_keys")
        .fetch_one(&mut *conn)
        .await?;
    let mut rows = Vec::with_capacity(missing.len());
    for (id, (kind, key)) in (highest + 1..).zip(missing) {
        ids.insert((kind.to_owned(), key.to_owned()), id);
        rows.push(vec![
            Param::Int(id),
            Param::Text(kind.to_owned()),
            Param::Text(key.to_owned()),
        ]);
    }
    insert(conn, "INSERT INTO field_keys (id, kind, key)", "", rows).await?;
    Ok(ids)
}

/// The rows of `select`, which ends in a column to match, for every one of `values`: `select IN
/// (…)`, in statements of at most 500 parameters.
async fn select_in(conn: &mut AnyConnection, select: &str, values: &[&str]) -> Result<Vec<AnyRow>> {
    let mut rows = Vec::new();
    for chunk in values.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{select} IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for value in chunk {
            query = query.bind(*value);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

impl FieldChange {
    fn new(object_key: i64, kind: &str, key: &str, (num, text): (Option<f64>, Option<String>)) -> FieldChange {
        FieldChange {
            object_key,
            kind: kind.to_owned(),
            key: key.to_owned(),
            num,
            text,
        }
    }
}

/// Takes the write lock of the store for the rest of the transaction: a row lock on PostgreSQL,
/// the database write lock on SQLite. Every writing transaction starts here, before reading, so
/// that writers queue instead of failing on a stale snapshot.
pub(crate) async fn lock_head(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE chain_head SET seq = seq WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The columns of an event's row: its texts packed into one body, the hash as bytes (the
/// previous event's hash is that row's own).
fn event_params(record: EventRecord, hash: &str) -> Result<Vec<Param>> {
    let hash = hex::decode(hash).map_err(|e| StoreError::data_loss(format!("the head hash is not hex: {e}")))?;
    Ok(vec![
        Param::Int(record.seq),
        Param::Int(record.at_us),
        Param::Bytes(crate::body::pack(&record.texts)?),
        Param::MaybeInt(record.prev_event),
        Param::Bytes(hash),
    ])
}

/// Inserts `rows` with as few multi-row statements as the parameter limit allows.
pub(crate) async fn insert(conn: &mut AnyConnection, head: &str, tail: &str, rows: Vec<Vec<Param>>) -> Result<()> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let per_statement = (MAX_PARAMS / width).max(1);
    let positional = crate::sql::Backend::of(conn).binds_by_position();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Param>> = rows.by_ref().take(per_statement).collect();
        let mut sql = String::with_capacity(head.len() + tail.len() + chunk.len() * width * 5);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (j, param) in row.iter().enumerate() {
                if j > 0 {
                    sql.push_str(", ");
                }
                if matches!(param, Param::MaybeReal(None)) {
                    // A NULL float is written, not bound: sqlx's Any driver binds it as a
                    // float4 NULL, which PostgreSQL rejects for a float8 column.
                    sql.push_str("NULL");
                } else if positional {
                    sql.push('?');
                } else {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
            sql.push(')');
        }
        sql.push_str(tail);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for param in chunk.into_iter().flatten() {
            query = match param {
                Param::Text(v) => query.bind(v),
                Param::Bytes(v) => query.bind(v),
                Param::MaybeText(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
                Param::MaybeInt(v) => query.bind(v),
                Param::MaybeReal(Some(v)) => query.bind(v),
                Param::MaybeReal(None) => query,
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

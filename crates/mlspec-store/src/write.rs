//! Appending events: every change to an object becomes one event in the hash chain, and the
//! derived tables (objects, labels, fields, edges) follow it — all within the caller's transaction, so
//! a batch is all there or not at all.

use std::collections::BTreeSet;

use mlspec_spec::validate::Encoding;
use mlspec_spec::{Document, Kind, Status};
use sqlx::{AnyConnection, Row};

use crate::chain::EventRecord;
use crate::current::{name_key, status_str};
use crate::error::{Result, StoreError};
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
    fields: Vec<Vec<Param>>,
    edges: Vec<Vec<Param>>,
    removed_edges: Vec<(i64, String, String, String, String)>,
}

/// Collects a transaction's events and writes them, with the derived rows, at [`Writer::finish`].
pub(crate) struct Writer {
    seq: i64,
    hash: String,
    at_us: i64,
    actor: String,
    rows: Rows,
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
    pub fn record(&mut self, state: NewState) -> i64 {
        self.seq += 1;
        let seq = self.seq;
        let links_json = serde_json::to_string(&state.links.iter().collect::<Vec<_>>()).unwrap_or_default();
        let record = EventRecord {
            seq,
            at_us: self.at_us,
            actor: self.actor.clone(),
            action: state.action.to_owned(),
            object_id: state.object_id.clone(),
            kind: state.kind.as_str().to_owned(),
            name: state.name.clone(),
            scope: state.scope.clone(),
            status: status_str(state.status).to_owned(),
            document: state.document,
            links: links_json,
            prev_event: state.previous.as_ref().map(|p| p.head_seq),
            prev_hash: std::mem::take(&mut self.hash),
        };
        self.hash = record.hash();
        self.add_derived_rows(
            seq,
            &state.object_id,
            &state.labels,
            &state.links,
            state.previous.as_ref(),
        );
        self.add_field_rows(&state.object_id, &record.kind, &state.fields, state.previous.as_ref());
        let created_seq = state.previous.as_ref().map_or(seq, |p| p.created_seq);
        self.rows.objects.push(vec![
            Param::Text(record.object_id.clone()),
            Param::Text(record.kind.clone()),
            Param::Text(record.name.clone()),
            Param::Text(name_key(&record.name)),
            Param::Text(record.scope.clone()),
            Param::Text(record.status.clone()),
            Param::Int(seq),
            Param::Int(created_seq),
            Param::Int(self.at_us),
            Param::Int(self.at_us),
        ]);
        self.rows.events.push(event_params(record, self.hash.clone()));
        seq
    }

    fn add_derived_rows(
        &mut self,
        seq: i64,
        id: &str,
        labels: &[(String, String)],
        links: &BTreeSet<Link>,
        previous: Option<&Previous>,
    ) {
        let old_labels = previous.map(|p| p.labels.as_slice()).unwrap_or_default();
        for (key, value) in labels {
            if !old_labels.iter().any(|(k, v)| k == key && v == value) {
                self.rows.labels.push(vec![
                    Param::Text(id.to_owned()),
                    Param::Text(key.clone()),
                    Param::MaybeText(Some(value.clone())),
                ]);
            }
        }
        for (key, _) in old_labels {
            if !labels.iter().any(|(k, _)| k == key) {
                self.rows.labels.push(vec![
                    Param::Text(id.to_owned()),
                    Param::Text(key.clone()),
                    Param::MaybeText(None),
                ]);
            }
        }
        let empty = BTreeSet::new();
        let old_links = previous.map_or(&empty, |p| &p.links);
        for (relation, source, target) in links.difference(old_links) {
            self.rows.edges.push(vec![
                Param::Text(source.clone()),
                Param::Text(target.clone()),
                Param::Text(relation.clone()),
                Param::Text(id.to_owned()),
                Param::Int(seq),
                Param::MaybeInt(None),
            ]);
        }
        for (relation, source, target) in old_links.difference(links) {
            self.rows
                .removed_edges
                .push((seq, target.clone(), source.clone(), relation.clone(), id.to_owned()));
        }
    }

    /// Upserts the fields that are new or changed; a field the document dropped gets NULLs.
    fn add_field_rows(&mut self, id: &str, kind: &str, fields: &Fields, previous: Option<&Previous>) {
        let old_fields = previous.map(|p| p.fields.as_slice()).unwrap_or_default();
        for (key, value) in fields {
            if !old_fields.iter().any(|(k, v)| k == key && v == value) {
                self.rows.fields.push(field_row(id, kind, key, value.columns()));
            }
        }
        for (key, _) in old_fields {
            if !fields.iter().any(|(k, _)| k == key) {
                self.rows.fields.push(field_row(id, kind, key, (None, None)));
            }
        }
    }

    /// Writes everything recorded and moves the head; the caller commits.
    pub async fn finish(self, conn: &mut AnyConnection) -> Result<()> {
        if self.rows.events.is_empty() {
            return Ok(());
        }
        let rows = self.rows;
        insert(conn, "INSERT INTO events (seq, at_us, actor, action, object_id, kind, name, scope, status, document, links, prev_event, prev_hash, hash)", "", rows.events).await?;
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
            "INSERT INTO labels (object_id, key, value)",
            " ON CONFLICT (object_id, key) DO UPDATE SET value = excluded.value",
            rows.labels,
        )
        .await?;
        insert_fields(conn, rows.fields).await?;
        insert(
            conn,
            "INSERT INTO edges (source, target, relation, owner, added_seq, removed_seq)",
            " ON CONFLICT (target, source, relation, owner) DO UPDATE SET added_seq = excluded.added_seq, removed_seq = NULL",
            rows.edges,
        )
        .await?;
        for (seq, target, source, relation, owner) in rows.removed_edges {
            sqlx::query(
                "UPDATE edges SET removed_seq = $1 WHERE target = $2 AND source = $3 AND relation = $4 AND owner = $5",
            )
            .bind(seq)
            .bind(target)
            .bind(source)
            .bind(relation)
            .bind(owner)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(self.seq)
            .bind(self.hash)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// Upserts rows of (object_id, kind, key, num, text) into `fields`.
pub(crate) async fn insert_fields(conn: &mut AnyConnection, rows: Vec<Vec<Param>>) -> Result<()> {
    insert(
        conn,
        "INSERT INTO fields (object_id, kind, key, num, text)",
        " ON CONFLICT (object_id, key) DO UPDATE SET num = excluded.num, text = excluded.text",
        rows,
    )
    .await
}

/// One row of `fields`.
pub(crate) fn field_row(id: &str, kind: &str, key: &str, (num, text): (Option<f64>, Option<String>)) -> Vec<Param> {
    vec![
        Param::Text(id.to_owned()),
        Param::Text(kind.to_owned()),
        Param::Text(key.to_owned()),
        Param::MaybeReal(num),
        Param::MaybeText(text),
    ]
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

fn event_params(record: EventRecord, hash: String) -> Vec<Param> {
    vec![
        Param::Int(record.seq),
        Param::Int(record.at_us),
        Param::Text(record.actor),
        Param::Text(record.action),
        Param::Text(record.object_id),
        Param::Text(record.kind),
        Param::Text(record.name),
        Param::Text(record.scope),
        Param::Text(record.status),
        Param::Text(record.document),
        Param::Text(record.links),
        Param::MaybeInt(record.prev_event),
        Param::Text(record.prev_hash),
        Param::Text(hash),
    ]
}

/// Inserts `rows` with as few multi-row statements as the parameter limit allows.
pub(crate) async fn insert(conn: &mut AnyConnection, head: &str, tail: &str, rows: Vec<Vec<Param>>) -> Result<()> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(());
    };
    let per_statement = (MAX_PARAMS / width).max(1);
    // SQLite looks a `$n` parameter up by name in a list, which makes binding quadratic in the
    // parameter count; plain `?` parameters bind by position.
    let positional = crate::current::is_sqlite(conn);
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

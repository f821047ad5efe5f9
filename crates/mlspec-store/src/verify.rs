//! `store verify`: recompute the hash chain and check that every derived table agrees with the
//! event log, so that any row edited, deleted, inserted or reordered directly in the database is
//! reported; then recompute every metric series from its chunks ([`crate::series::verify`]).

use std::collections::{BTreeSet, HashMap};

use futures_util::TryStreamExt;
use mlspec_spec::Document;
use sqlx::{AnyConnection, Row};

use crate::apply::{labels_of, parse_links};
use crate::chain::{EventRecord, EventTexts, GENESIS};
use crate::error::Result;
use crate::fields::{FieldValue, fields_of};
use crate::model::VerifyReport;
use crate::write::Link;

/// The latest state of an object according to its events.
struct Replayed {
    seq: i64,
    created_seq: i64,
    updated_us: i64,
    created_us: i64,
    kind: String,
    name: String,
    scope: String,
    status: String,
    links: String,
}

/// Reports stop listing individual problems past this many.
const MAX_PROBLEMS: usize = 100;

/// The problems found, the first [`MAX_PROBLEMS`] of them listed.
pub(crate) struct Problems(Vec<String>);

impl Problems {
    pub(crate) fn add(&mut self, problem: String) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(problem);
        } else if self.0.len() == MAX_PROBLEMS {
            self.0.push("… further problems not listed".to_owned());
        }
    }
}

pub(crate) async fn verify(conn: &mut AnyConnection) -> Result<VerifyReport> {
    let mut problems = Problems(Vec::new());
    let (objects, events, head_seq, head_hash) = replay(conn, &mut problems).await?;
    check_head(conn, head_seq, &head_hash, &mut problems).await?;
    check_objects(conn, &objects, &mut problems).await?;
    check_edges(conn, &objects, &mut problems).await?;
    check_indexes(conn, &mut problems).await?;
    crate::series::verify(conn, &mut problems).await?;
    Ok(VerifyReport {
        events,
        objects: objects.len() as u64,
        head_seq,
        head_hash,
        problems: problems.0,
    })
}

/// Walks the log in order, checking sequence, links between events and hashes.
async fn replay(
    conn: &mut AnyConnection,
    problems: &mut Problems,
) -> Result<(HashMap<String, Replayed>, u64, i64, String)> {
    let mut objects: HashMap<String, Replayed> = HashMap::new();
    let mut expected_seq = 1;
    let mut last_hash = GENESIS.to_owned();
    let mut count = 0;
    let mut rows = sqlx::query("SELECT seq, at_us, body, prev_event, hash FROM events ORDER BY seq").fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        count += 1;
        let seq: i64 = row.try_get(0)?;
        let texts = match crate::body::unpack(&row.try_get::<Vec<u8>, _>(2)?, seq) {
            Ok(texts) => texts,
            Err(error) => {
                problems.add(format!("{}: the row was edited", error.message));
                EventTexts {
                    links: "[]".to_owned(),
                    ..EventTexts::default()
                }
            }
        };
        let record = EventRecord {
            seq,
            at_us: row.try_get(1)?,
            texts,
            prev_event: row.try_get(3)?,
            prev_hash: std::mem::take(&mut last_hash),
        };
        let stored_hash = hex::encode(row.try_get::<Vec<u8>, _>(4)?);
        if seq != expected_seq {
            problems.add(format!(
                "event sequence jumps from {} to {seq}: events were deleted or renumbered",
                expected_seq - 1
            ));
        }
        if record.hash() != stored_hash {
            problems.add(format!(
                "event {seq}: its content does not match its hash (the row was edited, or an event before it was deleted, inserted or reordered)"
            ));
        }
        let previous = objects.get(&record.texts.object_id);
        if record.prev_event != previous.map(|p| p.seq) {
            problems.add(format!("event {seq}: it does not follow the object's previous event"));
        }
        if previous.is_some_and(|p| p.kind != record.texts.kind) {
            problems.add(format!(
                "event {seq}: it changes the kind of object {}",
                record.texts.object_id
            ));
        }
        let created_seq = previous.map_or(seq, |p| p.created_seq);
        let created_us = previous.map_or(record.at_us, |p| p.created_us);
        let texts = record.texts;
        objects.insert(
            texts.object_id,
            Replayed {
                seq,
                created_seq,
                updated_us: record.at_us,
                created_us,
                kind: texts.kind,
                name: texts.name,
                scope: texts.scope,
                status: texts.status,
                links: texts.links,
            },
        );
        expected_seq = seq + 1;
        last_hash = stored_hash;
    }
    Ok((objects, count, expected_seq - 1, last_hash))
}

async fn check_head(conn: &mut AnyConnection, seq: i64, hash: &str, problems: &mut Problems) -> Result<()> {
    let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => problems.add("the chain_head row is missing".to_owned()),
        Some(row) => {
            let head_seq: i64 = row.try_get(0)?;
            let head_hash: String = row.try_get(1)?;
            if head_seq != seq || head_hash != hash {
                problems.add(format!(
                    "the recorded head is event {head_seq} but the log ends at event {seq}: events were removed from the end or the head was altered"
                ));
            }
        }
    }
    Ok(())
}

async fn check_objects(
    conn: &mut AnyConnection,
    objects: &HashMap<String, Replayed>,
    problems: &mut Problems,
) -> Result<()> {
    let mut seen = 0usize;
    let mut rows =
        sqlx::query("SELECT id, kind, name, scope, status, head_seq, created_seq, updated_us, created_us FROM objects")
            .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let id: String = row.try_get(0)?;
        let Some(expected) = objects.get(&id) else {
            problems.add(format!("object {id} has no events: the row was inserted directly"));
            continue;
        };
        seen += 1;
        let actual: (String, String, String, String, i64, i64) = (
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
            row.try_get(6)?,
        );
        let wanted = (
            expected.kind.clone(),
            expected.name.clone(),
            expected.scope.clone(),
            expected.status.clone(),
            expected.seq,
            expected.created_seq,
        );
        if actual != wanted {
            problems.add(format!(
                "object {id}: the objects row ({} {} {}, event {}) disagrees with its last event ({} {} {}, event {})",
                actual.0, actual.1, actual.3, actual.4, wanted.0, wanted.1, wanted.3, wanted.4
            ));
        }
        let times: (Option<i64>, Option<i64>) = (row.try_get(7)?, row.try_get(8)?);
        if times != (Some(expected.updated_us), Some(expected.created_us)) {
            problems.add(format!(
                "object {id}: the objects row's times disagree with its events' times"
            ));
        }
    }
    if seen < objects.len() {
        problems.add(format!(
            "{} objects recorded in the log have no objects row: rows were deleted",
            objects.len() - seen
        ));
    }
    Ok(())
}

async fn check_edges(
    conn: &mut AnyConnection,
    objects: &HashMap<String, Replayed>,
    problems: &mut Problems,
) -> Result<()> {
    let mut expected: BTreeSet<(Link, String)> = BTreeSet::new();
    for (id, object) in objects {
        for link in parse_links(&object.links)? {
            expected.insert((link, id.clone()));
        }
    }
    let mut actual = BTreeSet::new();
    // An edge whose key names no object shows the key instead of an id.
    let mut rows = sqlx::query(
        "SELECT e.relation, COALESCE(s.id, CAST(e.source AS TEXT)), COALESCE(t.id, CAST(e.target AS TEXT)), \
         COALESCE(o.id, CAST(e.owner AS TEXT)) FROM edges e \
         LEFT JOIN objects s ON s.created_seq = e.source LEFT JOIN objects t ON t.created_seq = e.target \
         LEFT JOIN objects o ON o.created_seq = e.owner WHERE e.removed_seq IS NULL",
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        actual.insert((
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
            row.try_get::<String, _>(3)?,
        ));
    }
    for ((relation, source, target), owner) in actual.difference(&expected) {
        problems.add(format!(
            "lineage edge {source} -{relation}-> {target} (of {owner}) is not in the log: it was added directly"
        ));
    }
    for ((relation, source, target), owner) in expected.difference(&actual) {
        problems.add(format!(
            "lineage edge {source} -{relation}-> {target} (of {owner}) is missing: it was removed directly"
        ));
    }
    Ok(())
}

/// Compares the `labels` and `fields` indexes with the labels and fields of every object's
/// current document.
async fn check_indexes(conn: &mut AnyConnection, problems: &mut Problems) -> Result<()> {
    let mut labels = BTreeSet::new();
    let mut fields = BTreeSet::new();
    let mut rows =
        sqlx::query("SELECT o.id, e.seq, e.body FROM objects o JOIN events e ON e.seq = o.head_seq").fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let id: String = row.try_get(0)?;
        let body: Vec<u8> = row.try_get(2)?;
        // An unreadable document is reported by the replay; here it just has no labels or fields.
        let Ok(texts) = crate::body::unpack(&body, row.try_get(1)?) else {
            continue;
        };
        let Ok(document) = serde_json::from_str::<Document>(&texts.document) else {
            continue;
        };
        for (key, value) in labels_of(&document) {
            labels.insert((id.clone(), key, value));
        }
        for (key, value) in fields_of(&document) {
            fields.insert((id.clone(), key, format!("{value:?}")));
        }
    }
    drop(rows);
    let mut actual = BTreeSet::new();
    // A row whose key names no object shows the key instead of an id.
    let mut rows = sqlx::query(
        "SELECT COALESCE(o.id, CAST(l.object_key AS TEXT)), l.key, l.value FROM labels l \
         LEFT JOIN objects o ON o.created_seq = l.object_key WHERE l.value IS NOT NULL",
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        actual.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
    }
    drop(rows);
    for (id, key, value) in actual.symmetric_difference(&labels) {
        problems.add(format!(
            "label {key}={value} of object {id} disagrees with the object's document"
        ));
    }
    let mut actual = BTreeSet::new();
    let mut rows = sqlx::query(
        "SELECT COALESCE(o.id, CAST(f.object_key AS TEXT)), COALESCE(fk.key, CAST(f.key_id AS TEXT)), f.num, f.text, \
         CASE WHEN fk.kind = o.kind THEN 1 ELSE 0 END FROM fields f LEFT JOIN field_keys fk ON fk.id = f.key_id \
         LEFT JOIN objects o ON o.created_seq = f.object_key WHERE f.num IS NOT NULL OR f.text IS NOT NULL",
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let value = FieldValue::from_columns(row.try_get(2)?, row.try_get(3)?);
        let key: String = row.try_get(1)?;
        // A key of another kind than its object's is no field the document has.
        let key = if row.try_get::<i64, _>(4)? == 1 {
            key
        } else {
            format!("{key} (of another kind)")
        };
        actual.insert((row.try_get(0)?, key, format!("{value:?}")));
    }
    for (id, key, value) in actual.symmetric_difference(&fields) {
        problems.add(format!(
            "field {key} = {value} of object {id} disagrees with the object's document"
        ));
    }
    Ok(())
}

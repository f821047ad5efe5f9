//! The columns of a listing: the current values of chosen fields (`metrics.accuracy`,
//! `params.lr`) for the objects of one page, and which field keys a kind's objects have, for a
//! table whose columns a person picks.
//!
//! Both read the `fields` index ([`crate::fields`]) and nothing else: a page's values are
//! found by primary key (`object_key`, `key_id`), a few statements for the whole page rather
//! than one per row, so adding columns to a page costs little whatever the store's size.

use std::collections::{BTreeMap, HashMap};

use mlspec_spec::Kind;
use sqlx::{AnyConnection, Row};

use crate::error::{Result, StoreError};
use crate::fields::FieldValue;
use crate::model::{MAX_COLUMNS, MAX_FIELD_KEYS, ObjectSummary};

/// Objects whose values one statement reads.
const OBJECTS_PER_QUERY: usize = 500;

/// Refuses more columns than [`MAX_COLUMNS`].
pub(crate) fn check_columns(columns: &[String]) -> Result<()> {
    if columns.len() > MAX_COLUMNS {
        return Err(StoreError::invalid(format!(
            "{} columns were asked for; a listing shows at most {MAX_COLUMNS}",
            columns.len()
        ))
        .with_hint("ask for fewer columns"));
    }
    Ok(())
}

/// Sets each summary's [`ObjectSummary::fields`] to the current values of `columns` (field
/// keys of `kind`); keys no object of the kind has are left out.
pub(crate) async fn fill(
    conn: &mut AnyConnection,
    kind: Kind,
    columns: &[String],
    summaries: &mut [ObjectSummary],
) -> Result<()> {
    check_columns(columns)?;
    if columns.is_empty() || summaries.is_empty() {
        return Ok(());
    }
    let keys = key_ids(conn, kind, columns).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<i64, BTreeMap<String, serde_json::Value>> = HashMap::new();
    for page in summaries.chunks(OBJECTS_PER_QUERY) {
        read_values(conn, page, &keys, &mut values).await?;
    }
    for summary in summaries {
        if let Some(fields) = values.remove(&summary.created_seq) {
            summary.fields = fields;
        }
    }
    Ok(())
}

/// The ids of the `field_keys` rows of `kind` named in `columns`, with their keys.
async fn key_ids(conn: &mut AnyConnection, kind: Kind, columns: &[String]) -> Result<HashMap<i64, String>> {
    let placeholders = placeholders(2, columns.len());
    let text = format!("SELECT id, key FROM field_keys WHERE kind = $1 AND key IN ({placeholders})");
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(text)).bind(kind.as_str());
    for column in columns {
        statement = statement.bind(column.as_str());
    }
    let rows = statement.fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
}

/// Reads the values of `keys` for the objects of `page` into `values`, by object key.
async fn read_values(
    conn: &mut AnyConnection,
    page: &[ObjectSummary],
    keys: &HashMap<i64, String>,
    values: &mut HashMap<i64, BTreeMap<String, serde_json::Value>>,
) -> Result<()> {
    let text = format!(
        "SELECT object_key, key_id, num, text FROM fields WHERE object_key IN ({}) AND key_id IN ({})",
        placeholders(1, page.len()),
        placeholders(1 + page.len(), keys.len())
    );
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(text));
    for summary in page {
        statement = statement.bind(summary.created_seq);
    }
    for id in keys.keys() {
        statement = statement.bind(*id);
    }
    for row in statement.fetch_all(&mut *conn).await? {
        let (num, text): (Option<f64>, Option<String>) = (row.try_get(2)?, row.try_get(3)?);
        if num.is_none() && text.is_none() {
            // A field the current document dropped.
            continue;
        }
        let Some(key) = keys.get(&row.try_get::<i64, _>(1)?) else {
            continue;
        };
        values
            .entry(row.try_get(0)?)
            .or_default()
            .insert(key.clone(), json_value(FieldValue::from_columns(num, text)));
    }
    Ok(())
}

fn json_value(value: FieldValue) -> serde_json::Value {
    match value {
        FieldValue::Num(n) => {
            serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        FieldValue::Text(t) => serde_json::Value::String(t),
    }
}

/// `$from, $from+1, …`, `count` of them.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The field keys that Active objects of `kind` hold a value for, in key order, at most
/// [`MAX_FIELD_KEYS`]. Each key is probed in the value indexes until one Active object has it,
/// so the cost follows the number of keys, not of objects.
pub(crate) async fn field_keys(conn: &mut AnyConnection, kind: Kind) -> Result<Vec<String>> {
    let held = |column: &str| {
        format!(
            "EXISTS (SELECT 1 FROM fields f JOIN objects o ON o.created_seq = f.object_key \
             WHERE f.key_id = fk.id AND f.{column} IS NOT NULL AND o.status = 'Active')"
        )
    };
    let text = format!(
        "SELECT fk.key FROM field_keys fk WHERE fk.kind = $1 AND ({} OR {}) ORDER BY fk.key LIMIT {MAX_FIELD_KEYS}",
        held("num"),
        held("text")
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(text))
        .bind(kind.as_str())
        .fetch_all(conn)
        .await?)
}

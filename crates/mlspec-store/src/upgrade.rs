//! Upgrading a store's data from one schema version to the next, where the DDL of
//! `migrations/<dialect>/` cannot do it alone: `SqlStore::upgrade` (`mlspec db upgrade`) runs
//! each step after its DDL, in the same transaction.

use futures_util::TryStreamExt as _;
use mlspec_spec::Document;
use sqlx::{AnyConnection, Row};

use crate::chain::EventTexts;
use crate::error::{Result, StoreError};
use crate::fields::fields_of;
use crate::write::{Param, insert};

/// Fills in what the DDL that made schema version `to` left empty.
pub(crate) async fn fill(conn: &mut AnyConnection, to: i64) -> Result<()> {
    match to {
        2 => backfill_fields(conn).await,
        3 => compact_events(conn).await,
        _ => Ok(()),
    }
}

/// Events copied per round of [`compact_events`].
const PAGE: i64 = 5_000;

/// Copies every event of `events_v2` into the compact `events` (schema 3), then drops
/// `events_v2`. Only the encoding changes: the texts are the same, packed into the body, and the
/// previous hash is the previous row's, so every hash, and the chain's head, stays as it was.
async fn compact_events(conn: &mut AnyConnection) -> Result<()> {
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at_us, actor, action, object_id, kind, name, scope, status, document, links, prev_event, prev_hash, hash \
             FROM events_v2 WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let mut copies = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let texts = EventTexts {
                actor: row.try_get(2)?,
                action: row.try_get(3)?,
                object_id: row.try_get(4)?,
                kind: row.try_get(5)?,
                name: row.try_get(6)?,
                scope: row.try_get(7)?,
                status: row.try_get(8)?,
                document: row.try_get(9)?,
                links: row.try_get(10)?,
            };
            let hash: String = row.try_get(13)?;
            copies.push(vec![
                Param::Int(seq),
                Param::Int(row.try_get(1)?),
                Param::Bytes(crate::body::pack(&texts)?),
                Param::MaybeInt(row.try_get(11)?),
                Param::Bytes(hash_bytes(&hash, seq)?),
            ]);
        }
        insert(conn, crate::write::INSERT_EVENT, "", copies).await?;
    }
    sqlx::raw_sql("DROP TABLE events_v2").execute(&mut *conn).await?;
    Ok(())
}

/// A hex hash of schema 2 as the bytes schema 3 keeps.
fn hash_bytes(hex_hash: &str, seq: i64) -> Result<Vec<u8>> {
    hex::decode(hex_hash).map_err(|e| {
        StoreError::data_loss(format!("event {seq} holds a hash that is not hex: {e}"))
            .with_hint("run `mlspec store verify` with the previous mlspec")
    })
}

/// Fills `fields` from every object's current document (schema 2, where `fields` names objects
/// by id).
async fn backfill_fields(conn: &mut AnyConnection) -> Result<()> {
    let mut rows = Vec::new();
    let mut current = sqlx::query("SELECT o.id, o.kind, e.document FROM objects o JOIN events e ON e.seq = o.head_seq")
        .fetch(&mut *conn);
    while let Some(row) = current.try_next().await? {
        let (id, kind, json): (String, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let document: Document = serde_json::from_str(&json).map_err(|e| {
            StoreError::data_loss(format!("the stored document of {kind} {id} cannot be read: {e}"))
                .with_hint("run `mlspec store verify`")
        })?;
        for (key, value) in fields_of(&document) {
            let (num, text) = value.columns();
            rows.push(vec![
                Param::Text(id.clone()),
                Param::Text(kind.clone()),
                Param::Text(key),
                Param::MaybeReal(num),
                Param::MaybeText(text),
            ]);
        }
    }
    drop(current);
    insert(conn, "INSERT INTO fields (object_id, kind, key, num, text)", "", rows).await
}

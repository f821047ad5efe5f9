//! Reading objects as they are now: the `objects` row joined with its latest event.

use mlspec_spec::{Document, Kind, Status};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::{Result, StoreError};
use crate::model::ObjectSummary;
use crate::sql::Backend;

/// The columns every object read selects, in [`Current::from_row`]'s order.
pub(crate) const SELECT_CURRENT: &str = "SELECT o.id, o.kind, o.name, o.scope, o.status, o.head_seq, o.created_seq, \
     e.body, e.at_us, c.at_us FROM objects o \
     JOIN events e ON e.seq = o.head_seq JOIN events c ON c.seq = o.created_seq";

/// The columns a listing selects from `objects o`, in [`summary_from_row`]'s order.
pub(crate) const SUMMARY_COLUMNS: &str =
    "o.id, o.kind, o.name, o.scope, o.status, o.head_seq, o.created_seq, o.updated_us, o.created_us";

/// A listing row as an [`ObjectSummary`].
pub(crate) fn summary_from_row(row: &AnyRow) -> Result<ObjectSummary> {
    let kind: String = row.try_get(1)?;
    let status: String = row.try_get(4)?;
    Ok(ObjectSummary {
        id: row.try_get(0)?,
        kind: parse_kind(&kind)?,
        name: row.try_get(2)?,
        scope: row.try_get(3)?,
        status: parse_status(&status)?,
        updated_seq: row.try_get(5)?,
        created_seq: row.try_get(6)?,
        updated_at: rfc3339(row.try_get(7)?),
        created_at: rfc3339(row.try_get(8)?),
        fields: Default::default(),
    })
}

/// An object as stored now.
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub scope: String,
    pub status: Status,
    pub head_seq: i64,
    pub created_seq: i64,
    /// The document's JSON, as hashed into the head event.
    pub document: String,
    /// The head event's links JSON.
    pub links: String,
    pub updated_us: i64,
    pub created_us: i64,
}

impl Current {
    pub fn from_row(row: &AnyRow) -> Result<Current> {
        let kind: String = row.try_get(1)?;
        let status: String = row.try_get(4)?;
        let head_seq = row.try_get(5)?;
        let texts = crate::body::unpack(&row.try_get::<Vec<u8>, _>(7)?, head_seq)?;
        Ok(Current {
            id: row.try_get(0)?,
            kind: parse_kind(&kind)?,
            name: row.try_get(2)?,
            scope: row.try_get(3)?,
            status: parse_status(&status)?,
            head_seq,
            created_seq: row.try_get(6)?,
            document: texts.document,
            links: texts.links,
            updated_us: row.try_get(8)?,
            created_us: row.try_get(9)?,
        })
    }

    /// The stored document, parsed.
    pub fn parse_document(&self) -> Result<Document> {
        serde_json::from_str(&self.document).map_err(|e| {
            StoreError::data_loss(format!(
                "the stored document of {} {} cannot be read: {e}",
                self.kind, self.id
            ))
            .with_hint("run `mlspec store verify`")
        })
    }

    pub fn summary(&self) -> ObjectSummary {
        ObjectSummary {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            scope: self.scope.clone(),
            status: self.status,
            created_seq: self.created_seq,
            created_at: rfc3339(self.created_us),
            updated_seq: self.head_seq,
            updated_at: rfc3339(self.updated_us),
            fields: Default::default(),
        }
    }

    /// `Kind/name`, for messages (with `@version` for a Module).
    pub fn display(&self) -> String {
        crate::current::display(self.kind, &self.name, &self.scope)
    }
}

/// `Kind/name` for messages, with `@version` for a Module (whose scope is its version).
pub fn display(kind: Kind, name: &str, scope: &str) -> String {
    if kind == Kind::Module {
        format!("{kind}/{name}@{scope}")
    } else {
        format!("{kind}/{name}")
    }
}

/// Reads the current state of the objects matching `filter` (SQL after `WHERE`), binding
/// `params` as text in order.
pub(crate) async fn fetch_current(conn: &mut AnyConnection, filter: &str, params: &[&str]) -> Result<Vec<Current>> {
    let sql = format!("{SELECT_CURRENT} WHERE {filter}");
    let persistent = Backend::of(conn).keeps_plans();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(persistent);
    for param in params {
        query = query.bind(*param);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(Current::from_row).collect()
}

pub(crate) fn parse_kind(text: &str) -> Result<Kind> {
    Kind::lookup(text).map_err(|_| StoreError::data_loss(format!("the store holds an unknown kind `{text}`")))
}

pub(crate) fn parse_status(text: &str) -> Result<Status> {
    match text {
        "Active" => Ok(Status::Active),
        "Deprecated" => Ok(Status::Deprecated),
        "Archived" => Ok(Status::Archived),
        other => Err(StoreError::data_loss(format!(
            "the store holds an unknown status `{other}`"
        ))),
    }
}

pub(crate) fn status_str(status: Status) -> &'static str {
    match status {
        Status::Active => "Active",
        Status::Deprecated => "Deprecated",
        Status::Archived => "Archived",
    }
}

/// Microseconds since the epoch as RFC 3339 (UTC, microsecond precision).
pub(crate) fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| micros.to_string())
}

/// The case-insensitive key of a name.
pub(crate) fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Microseconds since the epoch as a document timestamp.
pub(crate) fn timestamp(micros: i64) -> Option<mlspec_spec::values::Timestamp> {
    chrono::DateTime::from_timestamp_micros(micros)
}

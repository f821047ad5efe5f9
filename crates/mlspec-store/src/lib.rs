//! The MLSpec metadata store: where every stage's documents are kept, found, related and
//! trusted.
//!
//! # The model
//!
//! - **Objects** are MLSpec documents with a system id. A name is unique, ignoring case, among the
//!   non-archived objects of a kind (a Module's version and an Artifact's producing run are part
//!   of its identity). Objects are *deprecated* (still usable, with a warning), *archived*
//!   (retired: using one is an error, its name is free again, it stays readable by id) and
//!   *reactivated* — never deleted: no operation, and no SQL statement the store issues, removes
//!   a row (a schema upgrade that changes how events are kept copies them all, then drops the
//!   old table, in one transaction).
//! - **Events**: every change (create, update, deprecate, archive, reactivate, rename) is an
//!   immutable event holding who, when, what, the whole new document and a link to the object's
//!   previous event (its previous value). Applying the same content again writes nothing. An
//!   event's texts — who, what, the document and its resolved links — are stored together,
//!   compressed (zstd with a fixed dictionary of MLSpec's common JSON), and read back byte for
//!   byte.
//! - **The hash chain**: each event's hash covers its fields and the previous event's hash
//!   ([`chain`]) — over the document's canonical JSON, not its compressed form — and the head is
//!   recorded separately, so [`Store::verify`] detects any row edited, deleted, inserted or
//!   reordered directly in the database. The derived tables (objects, labels, fields, lineage
//!   edges) are checked against a replay of the log.
//! - **Queries**: each object's metrics, parameters and spec scalars are indexed in a `fields`
//!   table, so that [`Store::list`] with a filter in the expression language
//!   (`metrics.accuracy > 0.9 and labels.team = "risk"`) reads only the matching index ranges;
//!   the filter becomes parameterized SQL, never spliced text.
//! - **Metric series**: a run's metric histories are kept beside its document, in compressed
//!   chunks of 1024 points with min/max envelopes, hash-chained and append-only, so that a
//!   curve of a million points is stored in about 12 MB and drawn from a thousand small rows
//!   ([`Store::append_metrics`], [`Store::metric_series`]; see `series.rs`).
//! - **Lineage**: references between documents become edges (inputs and outputs of runs, parent
//!   runs, code used, derivations: see [`links`]); [`Store::lineage`] walks them upstream or
//!   downstream.
//!
//! # Backends
//!
//! One SQL implementation ([`SqlStore`]) over sqlx's `Any` driver serves SQLite (embedded, the
//! default: `.mlspec/store.db`, found by walking up from the working directory) and PostgreSQL
//! (for teams and many server processes); only the DDL and connection settings differ. The
//! third backend, [`HttpStore`], is a client of `mlspec server` (`http://HOST:PORT`), which
//! serves one of the other two over a REST API ([`wire`]). All three run the same conformance
//! suite.
//!
//! ```no_run
//! # async fn demo(docs: Vec<mlspec_spec::Document>) -> Result<(), mlspec_store::StoreError> {
//! use mlspec_store::{Location, Store};
//! let store = mlspec_store::open(&Location::parse("sqlite:.mlspec/store.db")?).await?;
//! let report = store.apply(&docs, "ann").await?;
//! println!("{} documents applied", report.results.len());
//! # Ok(()) }
//! ```

mod admin;
mod apply;
mod body;
pub mod chain;
mod chunk;
mod columns;
mod current;
mod downsample;
mod error;
mod fields;
mod filter;
mod http;
mod lineage;
pub mod links;
mod location;
mod model;
mod read;
mod resolve;
mod series;
mod sql;
mod upgrade;
mod verify;
pub mod wire;
mod write;

use std::time::Duration;

use async_trait::async_trait;
use mlspec_spec::{Document, Kind, Name, ObjectId, Status, Version};
use sqlx::AnyConnection;

pub use current::display as object_label;
pub use error::{ErrorKind, Result, StoreError};
pub use http::{HttpStore, TOKEN_VAR};
pub use location::{Location, STORE_DIR, STORE_FILE};
pub use model::*;
pub use read::diff;
pub use resolve::STEP_LABEL;
pub use sql::{Backend, CONNECT_TIMEOUT_VAR, SCHEMA_VERSION, STATEMENT_TIMEOUT_VAR, SqlStore, Timeouts};

/// A metadata store.
///
/// Contract, for every implementation:
/// - Each method is one transaction: it happens entirely or not at all, also when the process
///   dies half-way. Batches are explicit methods ([`Store::apply`] takes many documents).
/// - Writers are serialized by the head of the hash chain; readers never block them.
/// - Nothing is ever deleted. Errors carry an [`ErrorKind`] that is the same on every backend.
/// - `actor` is recorded as who made the change.
#[async_trait]
pub trait Store: Send + Sync {
    /// Where the store is.
    fn location(&self) -> &Location;

    /// Its backend, id, schema version and size.
    async fn info(&self) -> Result<StoreInfo>;

    /// Creates or updates every document, in one transaction; unchanged documents write no
    /// event. Every reference must resolve, to a stored object or one in the batch.
    async fn apply(&self, documents: &[Document], actor: &str) -> Result<ApplyReport>;

    /// The object a selector names, as stored now.
    async fn get(&self, selector: &Selector) -> Result<StoredObject>;

    /// The objects with these ids, as stored now, in the order given (a page of a listing read
    /// at once). An id that is not stored is NotFound.
    async fn get_many(&self, ids: &[ObjectId]) -> Result<Vec<StoredObject>> {
        let mut objects = Vec::with_capacity(ids.len());
        for id in ids {
            objects.push(self.get(&Selector::Id(id.clone())).await?);
        }
        Ok(objects)
    }

    /// The objects of a kind (Active only unless statuses are given), in name order; each with
    /// the current values of the query's columns ([`ListQuery::columns`]), read for the listed
    /// objects only.
    async fn list(&self, query: &ListQuery) -> Result<Vec<ObjectSummary>>;

    /// The field keys (`metrics.KEY`, `params.KEY`, `spec.FIELD`) that Active objects of a kind
    /// hold a value for — the columns [`Store::list`] can show — in key order, at most
    /// [`MAX_FIELD_KEYS`].
    async fn field_keys(&self, kind: Kind) -> Result<Vec<String>>;

    /// The database's plan for [`Store::list`], one line per step (to see the indexes it reads).
    async fn explain_list(&self, query: &ListQuery) -> Result<Vec<String>>;

    /// Deprecates, archives or reactivates an object, or one version of a Dataset.
    async fn set_status(&self, selector: &Selector, status: Status, actor: &str) -> Result<Change>;

    /// Renames an object; the name must be free among the kind's non-archived objects.
    async fn rename(&self, selector: &Selector, new_name: &Name, actor: &str) -> Result<Change>;

    /// Makes an Artifact a new version of a Dataset (created if needed), with lineage back to it.
    async fn promote(
        &self,
        artifact: &Selector,
        dataset: &Name,
        version: Option<&Version>,
        actor: &str,
    ) -> Result<Change>;

    /// Every event of an object, oldest first.
    async fn history(&self, selector: &Selector) -> Result<Vec<Event>>;

    /// The lineage subgraph around an object, at most `depth` edges away.
    async fn lineage(&self, selector: &Selector, direction: Direction, depth: u32) -> Result<LineageGraph>;

    /// Appends points to the metric series of a Run, one series per key, each key's points in
    /// the order given (duplicate steps are kept, in that order). At most
    /// [`MAX_APPEND_POINTS`] points, every value a finite number (NaN and infinities are
    /// InvalidArgument: nothing is appended); an archived Run is FailedPrecondition. The Run's
    /// document is not changed.
    async fn append_metrics(&self, run: &Selector, points: &[SeriesPoint]) -> Result<AppendReport>;

    /// The metric keys of a Run with their summaries, in key order: its series, and the
    /// scalar metrics of its document that have no series.
    async fn metric_keys(&self, run: &Selector) -> Result<Vec<SeriesSummary>>;

    /// The curve of one metric of a Run on an axis, within an optional range: the points
    /// themselves when the range holds at most `max_points`, else the first, smallest, largest
    /// and last value of each of `max_points / 4` buckets. A key with no series is read from
    /// the document's points; a key neither has is NotFound.
    async fn metric_series(&self, run: &Selector, key: &str, query: &SeriesQuery) -> Result<Series>;

    /// Recomputes the hash chain and checks every derived table against it, and every metric
    /// series against its chunks.
    async fn verify(&self) -> Result<VerifyReport>;
}

/// Opens an existing store: a database, or the server at an http(s) URL.
pub async fn open(location: &Location) -> Result<Box<dyn Store>> {
    Ok(match location {
        Location::Http(_) => Box::new(HttpStore::open(location).await?),
        Location::Sqlite(_) | Location::Postgres(_) => Box::new(SqlStore::open(location).await?),
    })
}

/// The digest that pins one version of a stored document: `sha256:` and the hex SHA-256 of the
/// document's JSON exactly as the store keeps it (and hashes into the event chain) — compact
/// serde_json, fields in document order, with `metadata.id` and `metadata.status` set.
pub fn content_digest(document: &mlspec_spec::Document) -> Result<mlspec_spec::newtypes::Digest> {
    let json = serde_json::to_string(document)
        .map_err(|e| StoreError::new(ErrorKind::Internal, format!("cannot encode the document: {e}")))?;
    Ok(mlspec_spec::newtypes::Digest::sha256_of(json))
}

/// Attempts at a write that found the database locked (SQLite, past its busy timeout).
const WRITE_ATTEMPTS: u32 = 5;

/// Runs `$body` (an expression using `$conn: &mut AnyConnection`) in a transaction, retrying
/// when SQLite reports the database locked.
macro_rules! in_transaction {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut attempt = 1;
        loop {
            let mut tx = $store.pool.begin().await?;
            let result = {
                let $conn: &mut AnyConnection = &mut *tx;
                $body.await
            };
            let result = match result {
                Ok(value) => tx.commit().await.map(|()| value).map_err(StoreError::from),
                Err(error) => Err(error),
            };
            match result {
                Err(error) if error.is_busy() && attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

/// Runs `$body` on a pooled connection.
macro_rules! with_connection {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut pooled = $store.pool.acquire().await?;
        let $conn: &mut AnyConnection = &mut *pooled;
        $body.await
    }};
}

#[async_trait]
impl Store for SqlStore {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn info(&self) -> Result<StoreInfo> {
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        let objects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects")
            .fetch_one(&self.pool)
            .await?;
        Ok(StoreInfo {
            backend: self.backend.as_str().to_owned(),
            store_id: self.meta("store_id").await?,
            schema_version: self.schema_version().await?,
            events,
            objects,
        })
    }

    async fn apply(&self, documents: &[Document], actor: &str) -> Result<ApplyReport> {
        let report = in_transaction!(self, |conn| apply::apply(conn, documents, actor))?;
        self.refresh_statistics().await?;
        Ok(report)
    }

    async fn get(&self, selector: &Selector) -> Result<StoredObject> {
        with_connection!(self, |conn| read::get(conn, selector))
    }

    async fn get_many(&self, ids: &[ObjectId]) -> Result<Vec<StoredObject>> {
        with_connection!(self, |conn| read::get_many(conn, ids))
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<ObjectSummary>> {
        with_connection!(self, |conn| read::list(conn, query))
    }

    async fn field_keys(&self, kind: Kind) -> Result<Vec<String>> {
        with_connection!(self, |conn| columns::field_keys(conn, kind))
    }

    async fn explain_list(&self, query: &ListQuery) -> Result<Vec<String>> {
        with_connection!(self, |conn| read::explain_list(conn, query))
    }

    async fn set_status(&self, selector: &Selector, status: Status, actor: &str) -> Result<Change> {
        in_transaction!(self, |conn| admin::set_status(conn, selector, status, actor))
    }

    async fn rename(&self, selector: &Selector, new_name: &Name, actor: &str) -> Result<Change> {
        in_transaction!(self, |conn| admin::rename(conn, selector, new_name, actor))
    }

    async fn promote(
        &self,
        artifact: &Selector,
        dataset: &Name,
        version: Option<&Version>,
        actor: &str,
    ) -> Result<Change> {
        in_transaction!(self, |conn| admin::promote(conn, artifact, dataset, version, actor))
    }

    async fn history(&self, selector: &Selector) -> Result<Vec<Event>> {
        with_connection!(self, |conn| read::history(conn, selector))
    }

    async fn lineage(&self, selector: &Selector, direction: Direction, depth: u32) -> Result<LineageGraph> {
        with_connection!(self, |conn| lineage::lineage(conn, selector, direction, depth))
    }

    async fn append_metrics(&self, run: &Selector, points: &[SeriesPoint]) -> Result<AppendReport> {
        in_transaction!(self, |conn| series::append(conn, run, points))
    }

    async fn metric_keys(&self, run: &Selector) -> Result<Vec<SeriesSummary>> {
        with_connection!(self, |conn| series::keys(conn, run))
    }

    async fn metric_series(&self, run: &Selector, key: &str, query: &SeriesQuery) -> Result<Series> {
        with_connection!(self, |conn| series::read(conn, run, key, query))
    }

    async fn verify(&self) -> Result<VerifyReport> {
        with_connection!(self, |conn| verify::verify(conn))
    }
}

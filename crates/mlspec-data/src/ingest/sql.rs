//! A database query's result as a stream of record batches, never all in memory.
//!
//! - **PostgreSQL** (`postgres://…`): the query's columns are described first (their types
//!   become the Arrow schema: `int2/4/8` → Int16/32/64, `float4/8` → Float32/64, `numeric` →
//!   Float64, `bool` → Boolean, `date` → Date32, `timestamp` → Timestamp(µs),
//!   `timestamptz` → Timestamp(µs, +00:00), anything else → Utf8 as PostgreSQL prints it), then the
//!   rows arrive through `COPY (SELECT …) TO STDOUT` in the binary format — the server's fastest
//!   way out — and are decoded as they come ([`super::pgcopy`]).
//! - **SQLite** (`sqlite:PATH`, opened read-only): rows are fetched one by one; a column's type
//!   comes from its declared type, or, for an expression, from its first non-null value
//!   (INTEGER → Int64, REAL → Float64, TEXT → Utf8, BLOB → Binary). A later value of another
//!   kind that does not convert exactly (a real in an integer column, text in a number column)
//!   is an error naming the row and column: cast it in the query.
//!
//! - **ODBC** (`odbc:DSN` or `odbc:DRIVER=…;…`): through the unixODBC driver manager built into
//!   mlspec, which loads the named driver; arrow-odbc maps the driver's column types to Arrow's.
//!   Text and binary values are at most [`ODBC_MAX_VALUE_BYTES`] long.
//!
//! The database runs on a thread of its own and hands batches over a small bounded channel, so
//! reading, parsing and writing overlap and memory stays bounded. Errors carry the database's
//! own message. The source is named in errors by its URL with any password replaced by `***`.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow::array::{ArrayRef, BinaryBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures_util::StreamExt as _;
use sqlx::{Column as _, Connection as _, Row as _, Statement as _, TypeInfo as _, ValueRef as _};

use super::pgcopy::{self, PgType};
use crate::error::{DataError, ErrorKind};

/// Rows per batch.
pub const BATCH_ROWS: usize = 8_192;

/// Batches in flight between the database thread and the reader.
const IN_FLIGHT: usize = 4;

/// A query's rows, as they arrive.
pub struct QueryBatches {
    schema: SchemaRef,
    receiver: Receiver<Result<Option<RecordBatch>, DataError>>,
    failed: bool,
    source: String,
}

impl QueryBatches {
    /// The columns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for QueryBatches {
    type Item = Result<RecordBatch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = match self.receiver.recv() {
            Ok(Ok(Some(batch))) => Ok(batch),
            Ok(Ok(None)) => return None,
            Ok(Err(error)) => Err(error),
            // The reader went away without saying the data was all there.
            Err(_) => Err(DataError::new(
                ErrorKind::Internal,
                &self.source,
                "the database reader stopped before the end of the data",
            )),
        };
        self.failed = next.is_err();
        Some(next)
    }
}

/// A database URL with any password replaced by `***` (the one secret redactor,
/// [`mlspec_spec::redact`]): what documents and messages show.
pub fn redacted(url: &str) -> String {
    match url.strip_prefix("odbc:") {
        Some(connection) => format!("odbc:{}", redacted_odbc(connection)),
        None => mlspec_spec::redact::redact(url).into_owned(),
    }
}

/// Runs `query` against the database at `url` (`postgres://…`, `sqlite:PATH` or `odbc:…`) and streams
/// its rows. Returns once the columns are known, or with the database's error.
pub fn query(url: &str, query: &str) -> Result<QueryBatches, DataError> {
    let source = redacted(url);
    let query = query.trim().trim_end_matches(';').trim().to_owned();
    if query.is_empty() {
        return Err(DataError::new(
            ErrorKind::InvalidArgument,
            &source,
            "the query is empty",
        ));
    }
    let (schema_tx, schema_rx) = sync_channel::<Result<SchemaRef, DataError>>(1);
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let url = url.to_owned();
    let thread_source = source.clone();
    std::thread::Builder::new()
        .name("mlspec-ingest-sql".into())
        .spawn(move || run_on_thread(&url, &query, &thread_source, schema_tx, tx))
        .map_err(|e| {
            DataError::new(
                ErrorKind::Internal,
                &source,
                format!("cannot start the reader thread: {e}"),
            )
        })?;
    let schema = schema_rx.recv().map_err(|_| {
        DataError::new(
            ErrorKind::Internal,
            &source,
            "the reader thread ended before the columns were known",
        )
    })??;
    Ok(QueryBatches {
        schema,
        receiver: rx,
        failed: false,
        source,
    })
}

type SchemaSender = SyncSender<Result<SchemaRef, DataError>>;
/// Batches, then `None` once every row was sent.
type BatchSender = SyncSender<Result<Option<RecordBatch>, DataError>>;

/// The database thread's side of the stream: the columns once, then batches and the end; an
/// error goes to whichever the reader waits on.
struct Handoff {
    schema: Option<SchemaSender>,
    batches: BatchSender,
}

impl Handoff {
    /// Sends the columns; false when the reader is gone.
    fn columns(&mut self, schema: SchemaRef) -> bool {
        self.schema.take().is_some_and(|tx| tx.send(Ok(schema)).is_ok())
    }

    /// Sends a batch; false when the reader is gone.
    fn batch(&self, batch: RecordBatch) -> bool {
        self.batches.send(Ok(Some(batch))).is_ok()
    }

    /// Says every row was sent.
    fn end(self) {
        let _ = self.batches.send(Ok(None));
    }

    fn fail(mut self, error: DataError) {
        match self.schema.take() {
            Some(tx) => drop(tx.send(Err(error))),
            None => drop(self.batches.send(Err(error))),
        }
    }
}

fn run_on_thread(url: &str, query: &str, source: &str, schema: SchemaSender, batches: BatchSender) {
    let mut handoff = Handoff {
        schema: Some(schema),
        batches,
    };
    // A driver or a conversion library may panic on data it does not expect; that is an error
    // of this source, not the end of its rows.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(url, query, source, &mut handoff)));
    match outcome {
        Ok(Ok(())) => handoff.end(),
        Ok(Err(error)) => handoff.fail(error),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("an unexpected failure");
            handoff.fail(
                DataError::new(
                    ErrorKind::Malformed,
                    source,
                    format!("the rows could not be read: {why}"),
                )
                .with_hint("select fewer or other columns, or cast the unusual ones (e.g. to text) in the query"),
            );
        }
    }
}

/// Reads the rows of `query` into `handoff`.
fn read(url: &str, query: &str, source: &str, handoff: &mut Handoff) -> Result<(), DataError> {
    if let Some(connection) = url.strip_prefix("odbc:") {
        return odbc(connection, query, source, handoff);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DataError::new(ErrorKind::Internal, source, format!("cannot start: {e}")))?;
    runtime.block_on(async {
        if url.starts_with("sqlite:") {
            sqlite(url, query, source, handoff).await
        } else {
            postgres(url, query, source, handoff).await
        }
    })
}

fn database_error(source: &str, error: &sqlx::Error) -> DataError {
    let message = match error {
        sqlx::Error::Database(e) => format!("the database refused the query: {}", e.message()),
        sqlx::Error::Io(e) => format!("the connection to the database was lost: {e}"),
        other => format!("the database failed: {other}"),
    };
    DataError::new(ErrorKind::Io, source, message)
}

fn connect_error(source: &str, error: &sqlx::Error) -> DataError {
    let why = match error {
        sqlx::Error::Database(e) => e.message().to_owned(),
        other => other.to_string(),
    };
    DataError::new(ErrorKind::Io, source, format!("cannot connect: {why}"))
        .with_hint("check the URL (postgres://USER@HOST:PORT/DB, sqlite:PATH) and that the database is up")
}

// --- PostgreSQL ---------------------------------------------------------------------------

async fn postgres(url: &str, query: &str, source: &str, handoff: &mut Handoff) -> Result<(), DataError> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| connect_error(source, &e))?;
    let columns = describe(&mut conn, query, source).await?;
    let types: Vec<PgType> = columns.iter().map(|(_, ty)| PgType::of(ty)).collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .zip(&types)
            .map(|((name, _), ty)| Field::new(name, ty.arrow(), true))
            .collect::<Vec<_>>(),
    ));
    let copy = copy_statement(query, &columns);
    let mut decoder = pgcopy::Decoder::new(schema.clone(), &types);
    let mut stream = conn.copy_out_raw(&copy).await.map_err(|e| database_error(source, &e))?;
    if !handoff.columns(schema) {
        return Ok(());
    }
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| database_error(source, &e))?;
        pending.extend_from_slice(&chunk);
        let mut used = 0;
        loop {
            used += decoder
                .decode(&pending[used..], BATCH_ROWS)
                .map_err(|e| copy_error(source, &decoder, &e))?;
            if decoder.rows() < BATCH_ROWS {
                break;
            }
            if !send_batch(&mut decoder, handoff, source)? {
                return Ok(());
            }
        }
        pending.drain(..used);
    }
    if !decoder.done() || !pending.is_empty() {
        return Err(DataError::new(
            ErrorKind::Io,
            source,
            "the data ended before its end marker: the connection was lost",
        )
        .at(format!("after row {}", decoder.rows_before + decoder.rows() as u64)));
    }
    send_batch(&mut decoder, handoff, source)?;
    Ok(())
}

/// Sends the decoder's rows; false when the reader is gone.
fn send_batch(decoder: &mut pgcopy::Decoder, handoff: &Handoff, source: &str) -> Result<bool, DataError> {
    match decoder.flush().map_err(|e| copy_error(source, decoder, &e))? {
        Some(batch) => Ok(handoff.batch(batch)),
        None => Ok(true),
    }
}

fn copy_error(source: &str, decoder: &pgcopy::Decoder, why: &str) -> DataError {
    DataError::new(
        ErrorKind::Malformed,
        source,
        format!("cannot read a row PostgreSQL sent: {why}"),
    )
    .at(format!("row {}", decoder.rows_before + decoder.rows() as u64 + 1))
}

/// The query's columns, as the database describes them before running it: each name with its
/// type's name in upper case. Two columns of one name are refused.
async fn describe<'c, E: sqlx::Executor<'c>>(
    conn: E,
    query: &str,
    source: &str,
) -> Result<Vec<(String, String)>, DataError> {
    let described = conn
        .prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(query.to_owned())))
        .await
        .map_err(|e| database_error(source, &e))?;
    let columns: Vec<(String, String)> = described
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_info().name().to_ascii_uppercase()))
        .collect();
    refuse_repeated_names(columns.iter().map(|(name, _)| name.as_str()), source)?;
    Ok(columns)
}

fn refuse_repeated_names<'a>(names: impl Iterator<Item = &'a str>, source: &str) -> Result<(), DataError> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(DataError::new(
                ErrorKind::InvalidArgument,
                source,
                format!("two columns of the query are named `{name}`"),
            )
            .with_hint("give each column its own name with AS"));
        }
    }
    Ok(())
}

/// `COPY (SELECT …) TO STDOUT (FORMAT binary)` over the query, each column sent in a form
/// [`pgcopy`] reads: numbers, booleans, dates and timestamps in their own binary form, `numeric`
/// as float8, anything else as text.
fn copy_statement(query: &str, columns: &[(String, String)]) -> String {
    let select: Vec<String> = columns
        .iter()
        .map(|(name, ty)| PgType::of(ty).select(ty, &format!("q.{}", quote_identifier(name))))
        .collect();
    format!(
        "COPY (SELECT {} FROM ({query}) AS q) TO STDOUT WITH (FORMAT binary)",
        select.join(", ")
    )
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// --- ODBC -----------------------------------------------------------------------------------

/// The longest text or binary value an ODBC column may hold (longer values stop the ingestion
/// with the column named).
pub const ODBC_MAX_VALUE_BYTES: usize = 65_536;

/// The most bytes one batch's fetch buffers may take (fewer rows per batch for wide columns).
const ODBC_MAX_BATCH_BYTES: usize = 64 << 20;

/// Runs the query through the ODBC driver manager built into mlspec (unixODBC), which loads the
/// driver the connection string or the DSN names, and hands the rows over as Arrow batches
/// (arrow-odbc maps the driver's column types to Arrow's).
fn odbc(connection: &str, query: &str, source: &str, handoff: &mut Handoff) -> Result<(), DataError> {
    let failed =
        |e: &dyn std::fmt::Display| DataError::new(ErrorKind::Io, source, format!("the ODBC source refused: {e}"));
    let connection = odbc_connection_string(connection);
    let environment = arrow_odbc::odbc_api::Environment::new().map_err(|e| failed(&e))?;
    let conn = environment
        .connect_with_connection_string(&connection, arrow_odbc::odbc_api::ConnectionOptions::default())
        .map_err(|e| {
            DataError::new(ErrorKind::Io, source, format!("cannot connect: {e}"))
                .with_hint("give odbc:DSN (a data source in odbc.ini) or odbc:DRIVER=…;… (a connection string); is the driver installed?")
        })?;
    let Some(cursor) = conn.execute(query, (), None).map_err(|e| failed(&e))? else {
        return Err(
            DataError::new(ErrorKind::InvalidArgument, source, "the statement returns no rows")
                .with_hint("give a SELECT"),
        );
    };
    let reader = arrow_odbc::OdbcReaderBuilder::new()
        .with_max_num_rows_per_batch(BATCH_ROWS)
        .with_max_bytes_per_batch(ODBC_MAX_BATCH_BYTES)
        .with_max_text_size(ODBC_MAX_VALUE_BYTES)
        .with_max_binary_size(ODBC_MAX_VALUE_BYTES)
        .build(cursor)
        .map_err(|e| failed(&e))?;
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    refuse_repeated_names(schema.fields().iter().map(|f| f.name().as_str()), source)?;
    if !handoff.columns(schema) {
        return Ok(());
    }
    let mut rows = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| failed(&e).at(format!("after row {rows}")))?;
        rows += batch.num_rows() as u64;
        if !handoff.batch(batch) {
            return Ok(());
        }
    }
    Ok(())
}

/// `odbc:DSN` names a data source; anything with `=` is a connection string already.
fn odbc_connection_string(text: &str) -> String {
    if text.contains('=') {
        text.to_owned()
    } else {
        format!("DSN={text}")
    }
}

/// An ODBC connection string with the values of its secret attributes (`PWD`, `PASSWORD`, and
/// anything the secret redactor finds) replaced by `***`.
pub fn redacted_odbc(connection: &str) -> String {
    let pairs: Vec<String> = connection
        .split(';')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if ["pwd", "password"].contains(&key.trim().to_ascii_lowercase().as_str()) => {
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    mlspec_spec::redact::redact(&pairs.join(";")).into_owned()
}

// --- SQLite ---------------------------------------------------------------------------------

async fn sqlite(url: &str, query: &str, source: &str, handoff: &mut Handoff) -> Result<(), DataError> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| DataError::new(ErrorKind::InvalidArgument, source, format!("not a SQLite URL: {e}")))?
        .read_only(true)
        .create_if_missing(false);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| connect_error(source, &e))?;
    let declared = describe(&mut conn, query, source).await?;
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned())).fetch(&mut conn);
    let mut buffered = Vec::with_capacity(BATCH_ROWS);
    let mut columns: Option<SqliteColumns> = None;
    let mut row_number = 0u64;
    loop {
        let next = rows.next().await;
        let done = next.is_none();
        if let Some(row) = next {
            buffered.push(row.map_err(|e| database_error(source, &e))?);
        }
        if buffered.len() < BATCH_ROWS && !done {
            continue;
        }
        let columns = match &mut columns {
            Some(columns) => columns,
            None => {
                let decided = SqliteColumns::decide(&declared, &buffered);
                if !handoff.columns(decided.schema.clone()) {
                    return Ok(());
                }
                columns.insert(decided)
            }
        };
        if !buffered.is_empty() {
            let batch = columns.batch(&buffered, row_number, source)?;
            row_number += buffered.len() as u64;
            buffered.clear();
            if !handoff.batch(batch) {
                return Ok(());
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// The kind of Arrow column a SQLite column becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Affinity {
    Integer,
    Real,
    Text,
    Blob,
}

struct SqliteColumns {
    schema: SchemaRef,
    affinities: Vec<Affinity>,
}

impl SqliteColumns {
    /// The columns' kinds: declared, or from the first non-null value among `rows`.
    fn decide(declared: &[(String, String)], rows: &[sqlx::sqlite::SqliteRow]) -> SqliteColumns {
        let affinities: Vec<Affinity> = declared
            .iter()
            .enumerate()
            .map(|(i, (_, type_name))| {
                declared_affinity(type_name)
                    .or_else(|| rows.iter().find_map(|row| value_affinity(row, i)))
                    .unwrap_or(Affinity::Text)
            })
            .collect();
        let fields: Vec<Field> = declared
            .iter()
            .zip(&affinities)
            .map(|((name, _), affinity)| Field::new(name, arrow_type(*affinity), true))
            .collect();
        SqliteColumns {
            schema: Arc::new(Schema::new(fields)),
            affinities,
        }
    }

    fn batch(&self, rows: &[sqlx::sqlite::SqliteRow], first_row: u64, source: &str) -> Result<RecordBatch, DataError> {
        let arrays = self
            .affinities
            .iter()
            .enumerate()
            .map(|(i, affinity)| column_array(rows, i, *affinity, first_row, self.schema.field(i).name(), source))
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| DataError::new(ErrorKind::Internal, source, format!("cannot assemble rows: {e}")))
    }
}

fn declared_affinity(declared: &str) -> Option<Affinity> {
    let declared = declared.to_ascii_uppercase();
    // SQLite's own affinity rules (section 3.1 of its datatype documentation), in order.
    if declared.contains("INT") {
        Some(Affinity::Integer)
    } else if declared.contains("CHAR") || declared.contains("CLOB") || declared.contains("TEXT") {
        Some(Affinity::Text)
    } else if declared.contains("BLOB") {
        Some(Affinity::Blob)
    } else if declared.contains("REAL") || declared.contains("FLOA") || declared.contains("DOUB") {
        Some(Affinity::Real)
    } else if declared == "BOOLEAN" {
        Some(Affinity::Integer)
    } else {
        None
    }
}

fn value_affinity(row: &sqlx::sqlite::SqliteRow, index: usize) -> Option<Affinity> {
    let value = row.try_get_raw(index).ok()?;
    if value.is_null() {
        return None;
    }
    declared_affinity(value.type_info().name())
}

fn arrow_type(affinity: Affinity) -> DataType {
    match affinity {
        Affinity::Integer => DataType::Int64,
        Affinity::Real => DataType::Float64,
        Affinity::Text => DataType::Utf8,
        Affinity::Blob => DataType::Binary,
    }
}

fn column_array(
    rows: &[sqlx::sqlite::SqliteRow],
    index: usize,
    affinity: Affinity,
    first_row: u64,
    name: &str,
    source: &str,
) -> Result<ArrayRef, DataError> {
    let misfit = |row: usize, found: &str| {
        DataError::new(
            ErrorKind::Malformed,
            source,
            format!("a {found} value in a column of {} values", arrow_type(affinity)),
        )
        .at(format!("row {}", first_row + row as u64 + 1))
        .with_column(name)
        .with_hint("cast the column in the query (CAST(… AS REAL) or AS TEXT)")
    };
    let values = rows.iter().map(|row| {
        row.try_get_raw(index)
            .ok()
            .filter(|v| !v.is_null())
            .map(|v| v.type_info().name().to_ascii_uppercase())
    });
    Ok(match affinity {
        Affinity::Integer => {
            let mut builder = Int64Builder::with_capacity(rows.len());
            for (i, (row, kind)) in rows.iter().zip(values).enumerate() {
                match kind.as_deref() {
                    None => builder.append_null(),
                    Some("INTEGER") => builder.append_value(
                        row.try_get_unchecked::<i64, _>(index)
                            .map_err(|_| misfit(i, "integer"))?,
                    ),
                    Some("REAL") => {
                        let real: f64 = row.try_get_unchecked(index).map_err(|_| misfit(i, "real"))?;
                        if real.fract() != 0.0 || !real.is_finite() || real.abs() > 9.0e15 {
                            return Err(misfit(i, "real"));
                        }
                        builder.append_value(real as i64);
                    }
                    Some(other) => return Err(misfit(i, &other.to_ascii_lowercase())),
                }
            }
            Arc::new(builder.finish())
        }
        Affinity::Real => {
            let mut builder = Float64Builder::with_capacity(rows.len());
            for (i, (row, kind)) in rows.iter().zip(values).enumerate() {
                match kind.as_deref() {
                    None => builder.append_null(),
                    Some("INTEGER" | "REAL") => {
                        builder.append_value(row.try_get_unchecked::<f64, _>(index).map_err(|_| misfit(i, "real"))?)
                    }
                    Some(other) => return Err(misfit(i, &other.to_ascii_lowercase())),
                }
            }
            Arc::new(builder.finish())
        }
        Affinity::Text => {
            let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
            for (i, (row, kind)) in rows.iter().zip(values).enumerate() {
                match kind.as_deref() {
                    None => builder.append_null(),
                    Some("INTEGER") => builder.append_value(
                        row.try_get_unchecked::<i64, _>(index)
                            .map_err(|_| misfit(i, "integer"))?
                            .to_string(),
                    ),
                    Some("REAL") => builder.append_value(
                        row.try_get_unchecked::<f64, _>(index)
                            .map_err(|_| misfit(i, "real"))?
                            .to_string(),
                    ),
                    Some("TEXT") => builder.append_value(
                        row.try_get_unchecked::<String, _>(index)
                            .map_err(|_| misfit(i, "text"))?,
                    ),
                    Some(other) => return Err(misfit(i, &other.to_ascii_lowercase())),
                }
            }
            Arc::new(builder.finish())
        }
        Affinity::Blob => {
            let mut builder = BinaryBuilder::with_capacity(rows.len(), rows.len() * 8);
            for (i, (row, kind)) in rows.iter().zip(values).enumerate() {
                match kind.as_deref() {
                    None => builder.append_null(),
                    Some(_) => builder.append_value(
                        row.try_get_unchecked::<Vec<u8>, _>(index)
                            .map_err(|_| misfit(i, "blob"))?,
                    ),
                }
            }
            Arc::new(builder.finish())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_stops_without_the_end_marker_is_an_error() {
        let schema: SchemaRef = Arc::new(Schema::empty());
        let (tx, rx) = sync_channel(4);
        let batches = QueryBatches {
            schema: schema.clone(),
            receiver: rx,
            failed: false,
            source: "db".into(),
        };
        tx.send(Ok(Some(RecordBatch::new_empty(schema.clone())))).unwrap();
        drop(tx);
        let items: Vec<_> = batches.collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(
            items[1]
                .as_ref()
                .unwrap_err()
                .message
                .contains("stopped before the end")
        );

        let (tx, rx) = sync_channel(4);
        let finished = QueryBatches {
            schema,
            receiver: rx,
            failed: false,
            source: "db".into(),
        };
        tx.send(Ok(None)).unwrap();
        drop(tx);
        assert_eq!(finished.count(), 0, "the end marker ends the rows");
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redacted("postgres://ann:s3cr%40t@db:5432/x"),
            "postgres://ann:***@db:5432/x"
        );
        assert_eq!(
            redacted("postgres://ann@db/x?sslmode=require&password=p"),
            "postgres://ann@db/x?sslmode=require&password=***"
        );
        assert_eq!(redacted("postgres://db/x"), "postgres://db/x");
        assert_eq!(redacted("sqlite:/tmp/a.db"), "sqlite:/tmp/a.db");
        assert_eq!(redacted("postgres://a:b@c@host/x"), "postgres://a:***@host/x");
        assert_eq!(
            redacted("odbc:Driver=/x/psqlodbcw.so;Server=db;UID=ann;PWD=s3cret;Database=d"),
            "odbc:Driver=/x/psqlodbcw.so;Server=db;UID=ann;PWD=***;Database=d"
        );
        assert_eq!(redacted("odbc:warehouse"), "odbc:warehouse");
    }

    #[test]
    fn copy_sends_each_type_as_the_decoder_reads_it() {
        let columns = vec![
            ("b".to_owned(), "BOOL".to_owned()),
            ("t \"x\"".to_owned(), "NUMERIC".to_owned()),
            ("u".to_owned(), "UUID".to_owned()),
        ];
        assert_eq!(
            copy_statement("select 1", &columns),
            "COPY (SELECT q.\"b\", q.\"t \"\"x\"\"\"::float8, q.\"u\"::text \
             FROM (select 1) AS q) TO STDOUT WITH (FORMAT binary)"
        );
    }
}

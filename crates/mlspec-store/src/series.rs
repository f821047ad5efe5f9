//! Metric series: a run's metric histories kept beside its document, so that a key logged a
//! million times costs about 12 bytes a point instead of a 98-byte JSON object inside a document
//! that every change rewrites.
//!
//! # Tables (schema 4)
//!
//! - `metric_series`: one row per (run, key) — the run by its key, `objects.created_seq` —
//!   with the series' summary (points, step and time extent, smallest, largest and last value)
//!   and `head_hash`, the hash of its last sealed chunk.
//! - `metric_chunks`: the points, [`CHUNK_POINTS`] to a chunk in logged order, each with its
//!   extent, its envelopes ([`crate::chunk`]) and its compressed body. Only the last chunk of a
//!   series is open: appends rewrite it until it is full, then it is *sealed* — its hash
//!   chains it to the series' previous sealed chunk, and triggers refuse to change it. No chunk
//!   is ever deleted.
//!
//! # Reading
//!
//! [`read`] answers a chart: with no more points in the range than asked for, the points
//! themselves; else the min/max envelope of `max_points / 4` buckets ([`crate::downsample`]),
//! from the chunks' envelopes alone when a bucket holds at least two of them (128 points),
//! else from the decoded points. A run whose writer kept no series (an older store, or a
//! document applied whole) is read from its document's `metrics` instead.
//!
//! # Trust
//!
//! `store verify` decodes every chunk and checks its summary, envelopes and hash chain, and
//! each series' summary and head ([`verify`]). The open chunk (under 1024 points) is not in the
//! chain yet: verify checks that it agrees with itself and with the series, which an edit that
//! rewrites all of them consistently would pass.

use std::collections::HashMap;

use futures_util::TryStreamExt as _;
use mlspec_spec::values::MetricValue;
use mlspec_spec::{Kind, Spec, Status};
use sqlx::{AnyConnection, Row};

use crate::chunk::{
    CHUNK_POINTS, Envelope, Point, SERIES_GENESIS, decode_body, decode_envelopes, encode_body, encode_envelopes,
    seal_hash,
};
use crate::downsample::{Cell, XAxis, m4};
use crate::error::{Result, StoreError};
use crate::model::{
    AppendReport, Axis, MAX_APPEND_POINTS, MAX_SERIES_POINTS, Selector, Series, SeriesPoint, SeriesQuery, SeriesSummary,
};
use crate::resolve::{Candidate, Resolver};
use crate::verify::Problems;
use crate::write::lock_head;

/// Points of a bucket below which downsampling decodes the points rather than combine
/// envelopes: two sub-buckets, so that a bucket's edges move by at most half of it — a bucket
/// being a pixel column, by under a pixel.
const ENVELOPE_BUCKET_POINTS: u64 = 2 * crate::chunk::SUB_POINTS as u64;

/// A series row: its id, how many points it has, their envelope and the last sealed hash.
struct SeriesRow {
    id: i64,
    points: i64,
    envelope: Option<Envelope>,
    head_hash: Vec<u8>,
}

const SERIES_COLUMNS: &str =
    "series_id, points, min_step, max_step, min_us, max_us, first_value, min_value, max_value, last_value, head_hash";

impl SeriesRow {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<SeriesRow> {
        let points: i64 = row.try_get(1)?;
        let envelope = if points > 0 {
            let (min_us, max_us): (Option<i64>, Option<i64>) = (row.try_get(4)?, row.try_get(5)?);
            Some(Envelope {
                lo_step: row.try_get(2)?,
                hi_step: row.try_get(3)?,
                us: min_us.zip(max_us),
                first: row.try_get(6)?,
                min: row.try_get(7)?,
                max: row.try_get(8)?,
                last: row.try_get(9)?,
            })
        } else {
            None
        };
        Ok(SeriesRow {
            id: row.try_get(0)?,
            points,
            envelope,
            head_hash: row.try_get(10)?,
        })
    }
}

/// Appends `points` to the run's series, one series per key, in one transaction.
pub(crate) async fn append(conn: &mut AnyConnection, run: &Selector, points: &[SeriesPoint]) -> Result<AppendReport> {
    let by_key = group_by_key(points)?;
    lock_head(conn).await?;
    let run = resolve_run(conn, run).await?;
    if run.status == Status::Archived {
        return Err(
            StoreError::precondition(format!("{} is archived; its metrics are final", run.display()))
                .with_hint("reactivate the run to log more metrics to it"),
        );
    }
    let mut report = AppendReport::default();
    for (key, points) in by_key {
        report.appended += points.len() as u64;
        if append_key(conn, run.order, &key, &points).await? {
            report.created.push(key);
        }
    }
    Ok(report)
}

/// Refuses what [`append`] would refuse in the points themselves.
pub(crate) fn check_points(points: &[SeriesPoint]) -> Result<()> {
    group_by_key(points).map(drop)
}

/// The points by key, keys in order of first appearance, each key's points in logged order;
/// refuses more than [`MAX_APPEND_POINTS`], values that are not finite and steps past `i64`.
fn group_by_key(points: &[SeriesPoint]) -> Result<Vec<(String, Vec<Point>)>> {
    if points.len() > MAX_APPEND_POINTS {
        return Err(StoreError::invalid(format!(
            "{} points were sent at once; one append takes at most {MAX_APPEND_POINTS}",
            points.len()
        ))
        .with_hint("send the points in several appends"));
    }
    let mut order: Vec<(String, Vec<Point>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, point) in points.iter().enumerate() {
        if !point.value.is_finite() {
            return Err(StoreError::invalid(format!(
                "point {} (metric `{}`) has the value {}, which is not a finite number",
                i + 1,
                point.key,
                point.value
            ))
            .with_hint("log only finite numbers; drop or replace NaN and infinite values before logging"));
        }
        let step = i64::try_from(point.step).map_err(|_| {
            StoreError::invalid(format!(
                "point {} (metric `{}`) has the step {}, past the largest step kept ({})",
                i + 1,
                point.key,
                point.step,
                i64::MAX
            ))
        })?;
        let slot = *index.entry(point.key.as_str()).or_insert_with(|| {
            order.push((point.key.to_string(), Vec::new()));
            order.len() - 1
        });
        order[slot].1.push(Point {
            step,
            us: point.timestamp_us,
            value: point.value,
        });
    }
    Ok(order)
}

/// The Run `selector` names.
async fn resolve_run(conn: &mut AnyConnection, selector: &Selector) -> Result<Candidate> {
    let object = Resolver::default().resolve(conn, selector).await?.object;
    if object.kind != Kind::Run {
        return Err(StoreError::invalid(format!(
            "{} is a {}; metric series belong to Runs",
            object.display(),
            object.kind
        )));
    }
    Ok(object)
}

/// Appends one key's points: rewrites the open chunk with the first of them, adds chunks for
/// the rest, sealing each full one. Returns whether the series is new.
async fn append_key(conn: &mut AnyConnection, run_key: i64, key: &str, points: &[Point]) -> Result<bool> {
    let (mut series, created) = match load_series(conn, run_key, key).await? {
        Some(series) => (series, false),
        None => (insert_series(conn, run_key, key).await?, true),
    };
    let mut chunk_no = series.points / CHUNK_POINTS as i64;
    let mut pending = open_chunk(conn, series.id, chunk_no).await?;
    let rewrite_open = !pending.is_empty();
    pending.extend_from_slice(points);
    for (i, piece) in pending.chunks(CHUNK_POINTS).enumerate() {
        let body = encode_body(piece)?;
        let hash = (piece.len() == CHUNK_POINTS).then(|| seal_hash(&series.head_hash, &body));
        write_chunk(
            conn,
            series.id,
            chunk_no,
            piece,
            body,
            hash.as_deref(),
            rewrite_open && i == 0,
        )
        .await?;
        if let Some(hash) = hash {
            series.head_hash = hash;
        }
        chunk_no += 1;
    }
    series.points += points.len() as i64;
    series.envelope = points
        .iter()
        .map(Envelope::of_point)
        .fold(series.envelope, |acc, next| Some(acc.map_or(next, |a| a.then(next))));
    update_series(conn, &series).await?;
    Ok(created)
}

async fn load_series(conn: &mut AnyConnection, run_key: i64, key: &str) -> Result<Option<SeriesRow>> {
    let text = format!("SELECT {SERIES_COLUMNS} FROM metric_series WHERE run_key = $1 AND key = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(text))
        .bind(run_key)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(SeriesRow::from_row).transpose()
}

async fn insert_series(conn: &mut AnyConnection, run_key: i64, key: &str) -> Result<SeriesRow> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO metric_series (run_key, key, points, head_hash) VALUES ($1, $2, 0, $3) RETURNING series_id",
    )
    .bind(run_key)
    .bind(key)
    .bind(SERIES_GENESIS.to_vec())
    .fetch_one(&mut *conn)
    .await?;
    Ok(SeriesRow {
        id,
        points: 0,
        envelope: None,
        head_hash: SERIES_GENESIS.to_vec(),
    })
}

/// The points of the series' open chunk `chunk_no`, if it has one.
async fn open_chunk(conn: &mut AnyConnection, series_id: i64, chunk_no: i64) -> Result<Vec<Point>> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM metric_chunks WHERE series_id = $1 AND chunk_no = $2 AND sealed = 0")
            .bind(series_id)
            .bind(chunk_no)
            .fetch_optional(&mut *conn)
            .await?;
    match body {
        Some(body) => decode_body(&body, &format!("{series_id}/{chunk_no}")),
        None => Ok(Vec::new()),
    }
}

/// Inserts a chunk, or rewrites the open one (`rewrite`); sealed when `hash` is given.
async fn write_chunk(
    conn: &mut AnyConnection,
    series_id: i64,
    chunk_no: i64,
    points: &[Point],
    body: Vec<u8>,
    hash: Option<&[u8]>,
    rewrite: bool,
) -> Result<()> {
    let Some(envelope) = Envelope::of(points) else {
        return Ok(());
    };
    let (min_us, max_us) = (envelope.us.map(|u| u.0), envelope.us.map(|u| u.1));
    // A NULL hash is written, not bound (see `write::insert` on binding NULLs).
    let hash_sql = if hash.is_some() { "$11" } else { "NULL" };
    let text = if rewrite {
        format!(
            "UPDATE metric_chunks SET sealed = $3, points = $4, min_step = $5, max_step = $6, min_us = $7, max_us = $8, \
             envelope = $9, body = $10, hash = {hash_sql} WHERE series_id = $1 AND chunk_no = $2"
        )
    } else {
        format!(
            "INSERT INTO metric_chunks (series_id, chunk_no, sealed, points, min_step, max_step, min_us, max_us, envelope, body, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {hash_sql})"
        )
    };
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(text))
        .bind(series_id)
        .bind(chunk_no)
        .bind(i64::from(hash.is_some()))
        .bind(points.len() as i64)
        .bind(envelope.lo_step)
        .bind(envelope.hi_step)
        .bind(min_us)
        .bind(max_us)
        .bind(encode_envelopes(points))
        .bind(body);
    if let Some(hash) = hash {
        statement = statement.bind(hash.to_vec());
    }
    statement.execute(&mut *conn).await?;
    Ok(())
}

async fn update_series(conn: &mut AnyConnection, series: &SeriesRow) -> Result<()> {
    let Some(envelope) = series.envelope else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE metric_series SET points = $2, min_step = $3, max_step = $4, min_us = $5, max_us = $6, \
         first_value = $7, min_value = $8, max_value = $9, last_value = $10, head_hash = $11 WHERE series_id = $1",
    )
    .bind(series.id)
    .bind(series.points)
    .bind(envelope.lo_step)
    .bind(envelope.hi_step)
    .bind(envelope.us.map(|u| u.0))
    .bind(envelope.us.map(|u| u.1))
    .bind(envelope.first)
    .bind(envelope.min)
    .bind(envelope.max)
    .bind(envelope.last)
    .bind(series.head_hash.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The run's metric keys with their summaries, in key order: its series, and the keys its
/// document holds points of that have no series.
pub(crate) async fn keys(conn: &mut AnyConnection, run: &Selector) -> Result<Vec<SeriesSummary>> {
    let run = resolve_run(conn, run).await?;
    let text = format!("SELECT {SERIES_COLUMNS}, key FROM metric_series WHERE run_key = $1 AND points > 0");
    let rows = sqlx::query(sqlx::AssertSqlSafe(text))
        .bind(run.order)
        .fetch_all(&mut *conn)
        .await?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in &rows {
        let series = SeriesRow::from_row(row)?;
        if let Some(envelope) = series.envelope {
            summaries.push(summary(row.try_get(11)?, series.points as u64, &envelope, false));
        }
    }
    for (key, points) in document_points(&run)? {
        if !summaries.iter().any(|s| s.key == key)
            && let Some(envelope) = Envelope::of(&points)
        {
            summaries.push(summary(key, points.len() as u64, &envelope, true));
        }
    }
    summaries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(summaries)
}

fn summary(key: String, points: u64, envelope: &Envelope, from_document: bool) -> SeriesSummary {
    SeriesSummary {
        key,
        points,
        min_step: u64::try_from(envelope.lo_step).unwrap_or(0),
        max_step: u64::try_from(envelope.hi_step).unwrap_or(0),
        min_us: envelope.us.map(|u| u.0),
        max_us: envelope.us.map(|u| u.1),
        min: envelope.min,
        max: envelope.max,
        last: envelope.last,
        from_document,
    }
}

/// The scalar points of each metric key in the run's document, in document order (a point
/// without a step is at step 0).
fn document_points(run: &Candidate) -> Result<Vec<(String, Vec<Point>)>> {
    let document = run.parse_document()?;
    let Spec::Run(spec) = &document.spec else {
        return Ok(Vec::new());
    };
    let mut by_key: Vec<(String, Vec<Point>)> = Vec::new();
    for metric in &spec.metrics {
        let MetricValue::Scalar(value) = metric.value else {
            continue;
        };
        let point = Point {
            step: metric.step.and_then(|s| i64::try_from(s).ok()).unwrap_or(0),
            us: metric.timestamp.map(|t| t.timestamp_micros()),
            value,
        };
        match by_key.iter_mut().find(|(key, _)| key.as_str() == metric.key.as_str()) {
            Some((_, points)) => points.push(point),
            None => by_key.push((metric.key.to_string(), vec![point])),
        }
    }
    Ok(by_key)
}

/// Refuses a query that asks for too few or too many points, or a range that is not one.
fn check_query(query: &SeriesQuery) -> Result<()> {
    if !(4..=MAX_SERIES_POINTS).contains(&query.max_points) {
        return Err(StoreError::invalid(format!(
            "max_points is {}; a series read returns 4 to {MAX_SERIES_POINTS} points",
            query.max_points
        )));
    }
    if let Some((from, to)) = query.range
        && !(from.is_finite() && to.is_finite() && from <= to)
    {
        return Err(StoreError::invalid(format!(
            "the range {from} to {to} is not a range: give two finite numbers, the first not above the second"
        )));
    }
    Ok(())
}

/// The curve of the run's metric `key` for a chart.
pub(crate) async fn read(conn: &mut AnyConnection, run: &Selector, key: &str, query: &SeriesQuery) -> Result<Series> {
    check_query(query)?;
    let run = resolve_run(conn, run).await?;
    let axis = x_axis(query.axis);
    let Some(series) = load_series(conn, run.order, key).await?.filter(|s| s.points > 0) else {
        return read_document(&run, key, query);
    };
    let chunks = chunk_envelopes(conn, series.id, axis, query.range).await?;
    let cells: Vec<(i64, Cell, usize)> = chunks
        .iter()
        .flat_map(|(chunk_no, envelopes)| {
            envelopes
                .iter()
                .filter_map(move |(e, n)| Cell::of_envelope(e, axis).map(|c| (*chunk_no, c, *n)))
        })
        .collect();
    let Some((from, to)) = query.range.or_else(|| extent(cells.iter().map(|(_, c, _)| c))) else {
        return Ok(curve(key, query, series.points, false, false, (Vec::new(), Vec::new())));
    };
    let within: Vec<&(i64, Cell, usize)> = cells.iter().filter(|(_, c, _)| c.overlaps(from, to)).collect();
    let estimate: u64 = within.iter().map(|(_, _, n)| *n as u64).sum();
    let buckets = (query.max_points / 4) as usize;
    if estimate >= ENVELOPE_BUCKET_POINTS * buckets as u64 {
        let shape = m4(within.iter().map(|(_, c, _)| *c), from, to, buckets);
        return Ok(curve(key, query, series.points, true, false, shape));
    }
    let chunk_range = within
        .iter()
        .map(|(n, _, _)| *n)
        .fold(None, |range: Option<(i64, i64)>, n| {
            Some(range.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))))
        });
    let points = match chunk_range {
        Some((first, last)) => chunk_points(conn, series.id, first, last).await?,
        None => Vec::new(),
    };
    Ok(shape_points(key, query, series.points, false, &points, from, to))
}

fn x_axis(axis: Axis) -> XAxis {
    match axis {
        Axis::Step => XAxis::Step,
        Axis::Time => XAxis::Time,
    }
}

/// The lowest and highest x of `cells`.
fn extent<'a>(cells: impl Iterator<Item = &'a Cell>) -> Option<(f64, f64)> {
    cells.fold(None, |range, c| {
        Some(range.map_or((c.lo, c.hi), |(lo, hi): (f64, f64)| (lo.min(c.lo), hi.max(c.hi))))
    })
}

/// `points` within `[from, to]` on the query's axis: themselves when few enough, else their
/// downsampled curve.
fn shape_points(
    key: &str,
    query: &SeriesQuery,
    total: i64,
    from_document: bool,
    points: &[Point],
    from: f64,
    to: f64,
) -> Series {
    let axis = x_axis(query.axis);
    let cells: Vec<Cell> = points
        .iter()
        .filter_map(|p| Cell::of_point(p, axis))
        .filter(|c| c.overlaps(from, to))
        .collect();
    if cells.len() <= query.max_points as usize {
        let shape = cells.iter().map(|c| (c.lo, c.first)).unzip();
        return curve(key, query, total, false, from_document, shape);
    }
    let shape = m4(cells, from, to, (query.max_points / 4) as usize);
    curve(key, query, total, true, from_document, shape)
}

fn curve(
    key: &str,
    query: &SeriesQuery,
    total: i64,
    downsampled: bool,
    from_document: bool,
    (x, y): (Vec<f64>, Vec<f64>),
) -> Series {
    Series {
        key: key.to_owned(),
        axis: query.axis,
        total_points: u64::try_from(total).unwrap_or(0),
        downsampled,
        from_document,
        x,
        y,
    }
}

/// The curve of a key from the run's document, for a run without that series.
fn read_document(run: &Candidate, key: &str, query: &SeriesQuery) -> Result<Series> {
    let points = document_points(run)?
        .into_iter()
        .find_map(|(k, points)| (k == key).then_some(points))
        .ok_or_else(|| {
            StoreError::not_found(format!("{} has no metric `{key}`", run.display()))
                .with_hint("list the run's metric keys with GET …/series")
        })?;
    let axis = x_axis(query.axis);
    let all: Vec<Cell> = points.iter().filter_map(|p| Cell::of_point(p, axis)).collect();
    let (from, to) = query.range.or_else(|| extent(all.iter())).unwrap_or((0.0, 0.0));
    Ok(shape_points(key, query, points.len() as i64, true, &points, from, to))
}

/// The envelopes of the chunks that may hold points in `range` on `axis`, by chunk number.
async fn chunk_envelopes(
    conn: &mut AnyConnection,
    series_id: i64,
    axis: XAxis,
    range: Option<(f64, f64)>,
) -> Result<Vec<(i64, Vec<(Envelope, usize)>)>> {
    let (lo, hi) = match axis {
        XAxis::Step => ("min_step", "max_step"),
        XAxis::Time => ("min_us", "max_us"),
    };
    let (from, to) = range.map_or((i64::MIN, i64::MAX), |(from, to)| {
        (
            from.floor().max(i64::MIN as f64) as i64,
            to.ceil().min(i64::MAX as f64) as i64,
        )
    });
    let text = format!(
        "SELECT chunk_no, points, envelope FROM metric_chunks WHERE series_id = $1 AND {hi} >= $2 AND {lo} <= $3 ORDER BY chunk_no"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(text))
        .bind(series_id)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let chunk_no: i64 = row.try_get(0)?;
            let points: i64 = row.try_get(1)?;
            let bytes: Vec<u8> = row.try_get(2)?;
            let envelopes = decode_envelopes(
                &bytes,
                usize::try_from(points).unwrap_or(0),
                &format!("{series_id}/{chunk_no}"),
            )?;
            Ok((chunk_no, envelopes))
        })
        .collect()
}

/// The points of chunks `first` to `last` of a series, in logged order.
async fn chunk_points(conn: &mut AnyConnection, series_id: i64, first: i64, last: i64) -> Result<Vec<Point>> {
    let rows = sqlx::query(
        "SELECT chunk_no, body FROM metric_chunks WHERE series_id = $1 AND chunk_no >= $2 AND chunk_no <= $3 ORDER BY chunk_no",
    )
    .bind(series_id)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *conn)
    .await?;
    let mut points = Vec::with_capacity(rows.len() * CHUNK_POINTS);
    for row in rows {
        let chunk_no: i64 = row.try_get(0)?;
        points.extend(decode_body(
            &row.try_get::<Vec<u8>, _>(1)?,
            &format!("{series_id}/{chunk_no}"),
        )?);
    }
    Ok(points)
}

/// What verify expects of a series while walking its chunks.
struct Walk {
    name: String,
    row: SeriesRow,
    next_chunk: i64,
    open_seen: bool,
    points: i64,
    envelope: Option<Envelope>,
    hash: Vec<u8>,
}

/// Recomputes every series from its chunks: each chunk's summary, envelopes and hash chain,
/// each series' summary and head; and that each series belongs to a Run.
pub(crate) async fn verify(conn: &mut AnyConnection, problems: &mut Problems) -> Result<()> {
    let mut walks = series_to_check(conn, problems).await?;
    let mut rows = sqlx::query(
        "SELECT series_id, chunk_no, sealed, points, min_step, max_step, min_us, max_us, envelope, body, hash \
         FROM metric_chunks ORDER BY series_id, chunk_no",
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let series_id: i64 = row.try_get(0)?;
        let Some(walk) = walks.get_mut(&series_id) else {
            problems.add(format!(
                "metric chunk {series_id}/{} belongs to no series: it was inserted directly",
                row.try_get::<i64, _>(1)?
            ));
            continue;
        };
        check_chunk(walk, &row, problems)?;
    }
    drop(rows);
    let mut walks: Vec<Walk> = walks.into_values().collect();
    walks.sort_by_key(|w| w.row.id);
    for walk in walks {
        check_series_summary(&walk, problems);
    }
    Ok(())
}

async fn series_to_check(conn: &mut AnyConnection, problems: &mut Problems) -> Result<HashMap<i64, Walk>> {
    let text = format!(
        "SELECT {}, s.key, COALESCE(o.id, CAST(s.run_key AS TEXT)), o.kind FROM metric_series s \
         LEFT JOIN objects o ON o.created_seq = s.run_key",
        SERIES_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(text)).fetch_all(&mut *conn).await?;
    let mut walks = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: String = row.try_get(11)?;
        let run: String = row.try_get(12)?;
        let kind: Option<String> = row.try_get(13)?;
        let name = format!("metric `{key}` of run {run}");
        if kind.as_deref() != Some(Kind::Run.as_str()) {
            problems.add(format!(
                "{name}: the series names no Run: it was inserted or edited directly"
            ));
        }
        let series = SeriesRow::from_row(row)?;
        walks.insert(
            series.id,
            Walk {
                name,
                row: series,
                next_chunk: 0,
                open_seen: false,
                points: 0,
                envelope: None,
                hash: SERIES_GENESIS.to_vec(),
            },
        );
    }
    Ok(walks)
}

/// Checks one chunk against its body and its place in the series' chain.
fn check_chunk(walk: &mut Walk, row: &sqlx::any::AnyRow, problems: &mut Problems) -> Result<()> {
    let chunk_no: i64 = row.try_get(1)?;
    let at = format!("{}, chunk {chunk_no}", walk.name);
    if chunk_no != walk.next_chunk {
        problems.add(format!(
            "{at}: expected chunk {}: chunks were deleted, inserted or renumbered",
            walk.next_chunk
        ));
    }
    if walk.open_seen {
        problems.add(format!("{at}: it follows an open chunk: chunks were edited directly"));
    }
    walk.next_chunk = chunk_no + 1;
    let body: Vec<u8> = row.try_get(9)?;
    let points = match decode_body(&body, &at) {
        Ok(points) => points,
        Err(error) => {
            problems.add(format!("{}: the row was edited", error.message));
            return Ok(());
        }
    };
    let sealed = row.try_get::<i64, _>(2)? == 1;
    walk.open_seen = !sealed;
    let envelope = Envelope::of(&points);
    let stored_envelope: Vec<u8> = row.try_get(8)?;
    let columns: (i64, i64, i64, Option<i64>, Option<i64>) = (
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
    );
    let expected = envelope.map(|e| {
        (
            points.len() as i64,
            e.lo_step,
            e.hi_step,
            e.us.map(|u| u.0),
            e.us.map(|u| u.1),
        )
    });
    if Some(columns) != expected || stored_envelope != encode_envelopes(&points) {
        problems.add(format!(
            "{at}: its summary or envelope disagrees with its points: the row was edited"
        ));
    }
    if sealed != (points.len() == CHUNK_POINTS) {
        problems.add(format!(
            "{at}: it holds {} points but is {}: the row was edited",
            points.len(),
            if sealed { "sealed" } else { "open" }
        ));
    }
    let hash: Option<Vec<u8>> = row.try_get(10)?;
    if sealed {
        let expected = seal_hash(&walk.hash, &body);
        if hash.as_deref() != Some(expected.as_slice()) {
            problems.add(format!(
                "{at}: its points do not match its hash (the chunk was edited, or one before it was replaced)"
            ));
        }
        walk.hash = hash.unwrap_or(expected);
    } else if hash.is_some() {
        problems.add(format!("{at}: an open chunk has a hash: the row was edited"));
    }
    walk.points += points.len() as i64;
    walk.envelope = match (walk.envelope, envelope) {
        (Some(a), Some(b)) => Some(a.then(b)),
        (a, b) => a.or(b),
    };
    Ok(())
}

fn check_series_summary(walk: &Walk, problems: &mut Problems) {
    if walk.points != walk.row.points || walk.envelope != walk.row.envelope {
        problems.add(format!(
            "{}: its summary ({} points) disagrees with its chunks ({} points): the row was edited",
            walk.name, walk.row.points, walk.points
        ));
    }
    if walk.hash != walk.row.head_hash {
        problems.add(format!(
            "{}: its head hash is not its last sealed chunk's: chunks were removed or the head was altered",
            walk.name
        ));
    }
}

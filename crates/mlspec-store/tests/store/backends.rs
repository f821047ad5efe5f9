//! What differs per backend: files and URLs, schema versions, the DDL, lost connections, and
//! tampering with the SQLite file's bytes.

use std::time::{Duration, Instant};

use mlspec_spec::expr::query::parse_filter;
use mlspec_spec::{Kind, ObjectId};
use mlspec_store::{Direction, ErrorKind, ListQuery, Location, Selector, SeriesPoint, SeriesQuery, SqlStore, Store};
use sqlx::Connection;

use crate::support::*;

#[tokio::test]
async fn edited_sqlite_file_bytes_are_detected() {
    let fixture = Fixture::sqlite().await;
    fixture
        .apply_yaml(&join(&[run_with("a", "params: {lr: 0.125}"), run("b")]))
        .await
        .unwrap();
    let mut conn = fixture.raw().await;
    let body: Vec<u8> = sqlx::query_scalar("SELECT body FROM events WHERE seq = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // Everything written so far into the database file itself, not left in the write-ahead log
    // (closing the last connection checkpoints too, but not when another is still closing).
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    fixture.store.close().await;
    // One byte in the middle of event 1's compressed document, changed in the file.
    let path = fixture.sqlite_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(body.len())
        .position(|w| w == body.as_slice())
        .expect("the body is in the file");
    bytes[at + body.len() / 2] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let store = SqlStore::open(&fixture.location).await.unwrap();
    let problems = store.verify().await.unwrap().problems;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("event 1: its content does not match its hash")
                || p.starts_with("event 1 holds an unreadable body")),
        "{problems:#?}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    let error = assert_kind(
        SqlStore::open(&Location::Sqlite(junk.clone())).await,
        ErrorKind::InvalidArgument,
    );
    assert!(error.message.contains("not an mlspec store"), "{error}");
    assert_eq!(std::fs::read(&junk).unwrap(), vec![7u8; 8192]);

    let other = dir.path().join("other.db");
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=rwc", other.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let before = std::fs::read(&other).unwrap();
    let error = assert_kind(
        SqlStore::open(&Location::Sqlite(other.clone())).await,
        ErrorKind::InvalidArgument,
    );
    assert!(error.message.contains("not an mlspec store"), "{error}");
    let error = assert_kind(
        SqlStore::init(&Location::Sqlite(other.clone())).await,
        ErrorKind::AlreadyExists,
    );
    assert!(error.message.contains("nothing was changed"), "{error}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[tokio::test]
async fn a_missing_store_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let error = assert_kind(
        SqlStore::open(&Location::in_project(dir.path())).await,
        ErrorKind::NotFound,
    );
    assert!(error.hint.unwrap().contains("mlspec init"));
    let error = assert_kind(Location::discover(dir.path()), ErrorKind::NotFound);
    assert!(error.hint.unwrap().contains("mlspec init"));
}

#[tokio::test]
async fn discovery_walks_up_from_subdirectories() {
    let fixture = Fixture::sqlite().await;
    let project = fixture.sqlite_path().parent().unwrap().parent().unwrap().to_path_buf();
    let deep = project.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    assert_eq!(Location::discover(&deep).unwrap(), fixture.location);
}

#[tokio::test]
async fn init_twice_keeps_the_store() {
    let fixture = Fixture::sqlite().await;
    fixture.apply_yaml(&run("a")).await.unwrap();
    let (store, created) = SqlStore::init(&fixture.location).await.unwrap();
    assert!(!created);
    assert_eq!(store.info().await.unwrap().objects, 1);
}

async fn schema_versions_are_checked(fixture: Fixture) {
    fixture
        .exec("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
        .await;
    let error = assert_kind(SqlStore::open(&fixture.location).await, ErrorKind::FailedPrecondition);
    assert!(
        error.message.contains("newer") && error.message.contains("not touched"),
        "{error}"
    );
    assert_kind(
        SqlStore::upgrade(&fixture.location).await,
        ErrorKind::FailedPrecondition,
    );
    assert_eq!(
        fixture
            .scalar("SELECT COUNT(*) FROM store_meta WHERE value = '99'")
            .await,
        1
    );

    fixture
        .exec("UPDATE store_meta SET value = '0' WHERE key = 'schema_version'")
        .await;
    let error = assert_kind(SqlStore::open(&fixture.location).await, ErrorKind::FailedPrecondition);
    let expected = format!("run `mlspec db upgrade --store {}`", fixture.location);
    assert_eq!(error.hint.as_deref(), Some(expected.as_str()));
}

/// A store mlspec wrote at schema 2 (tests/fixtures/store-v2.sql: its rows, as INSERTs), made
/// at `location` by the DDL of schema versions 1 and 2; `version` 1 takes away what schema 2
/// added.
async fn old_store(location: &Location, version: i64) {
    sqlx::any::install_default_drivers();
    let dialect = if matches!(location, Location::Sqlite(_)) {
        "sqlite"
    } else {
        "postgres"
    };
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut sql = String::new();
    for file in ["0001_init.sql", "0002_fields.sql"] {
        sql.push_str(&std::fs::read_to_string(migrations.join(file)).unwrap());
    }
    sql.push_str(include_str!("../fixtures/store-v2.sql"));
    if version == 1 {
        sql.push_str(
            "DROP TABLE fields; ALTER TABLE objects DROP COLUMN created_us; ALTER TABLE objects DROP COLUMN updated_us; \
             UPDATE store_meta SET value = '1' WHERE key = 'schema_version';",
        );
    }
    let url = match location {
        Location::Sqlite(path) => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            format!("sqlite://{}?mode=rwc", path.display())
        }
        Location::Postgres(url) | Location::Http(url) => url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The current document of every object, by id, as a schema-2 store holds it.
async fn documents_of_schema_2(location: &Location) -> Vec<(String, String)> {
    let mut conn = raw_connection(location).await;
    let documents =
        sqlx::query_as("SELECT o.id, e.document FROM objects o JOIN events e ON e.seq = o.head_seq ORDER BY o.id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    documents
}

/// The hash recorded as the chain's head.
async fn recorded_head(location: &Location) -> String {
    let mut conn = raw_connection(location).await;
    let head = sqlx::query_scalar("SELECT hash FROM chain_head")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    head
}

/// Upgrading keeps every event's hash (the head is the same, and verify recomputes them all
/// from the compacted events) and gives back the same documents, history and lineage.
async fn old_stores_upgrade_in_place(location: Location, version: i64) {
    old_store(&location, version).await;
    let documents = documents_of_schema_2(&location).await;
    let head = recorded_head(&location).await;
    assert_kind(SqlStore::open(&location).await, ErrorKind::FailedPrecondition);
    let (store, from) = SqlStore::upgrade(&location).await.unwrap();
    assert_eq!(from, version);
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!((report.events, report.head_hash.as_str()), (16, head.as_str()));
    assert_eq!(documents.len(), 12);
    for (id, json) in &documents {
        let object = store
            .get(&Selector::Id(ObjectId::new(id.as_str()).unwrap()))
            .await
            .unwrap();
        assert_eq!(&serde_json::to_string(&object.document).unwrap(), json);
    }
    let history = store.history(&named(Kind::Run, "train-1")).await.unwrap();
    let changed: Vec<&str> = history[1].changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(changed, ["/spec/params/C", "/spec/inputs"]);
    let lineage = store
        .lineage(&named(Kind::Artifact, "model"), Direction::Upstream, 10)
        .await
        .unwrap();
    let names: Vec<&str> = lineage.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["model", "train-1", "pipeline-one", "train"]);
    let query = ListQuery {
        filter: Some(parse_filter("metrics.accuracy > 0.5 and params.C = 10").unwrap()),
        ..ListQuery::new(Kind::Run)
    };
    let found: Vec<String> = store.list(&query).await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(found, ["train-1"]);
    assert_eq!(recorded_head(&location).await, head);
    upgraded_runs_keep_their_metrics_and_take_series(&store).await;
}

/// A run of an upgraded store has no series: its document's metrics answer, until a writer
/// appends (schema 4).
async fn upgraded_runs_keep_their_metrics_and_take_series(store: &SqlStore) {
    let train = named(Kind::Run, "train-1");
    let keys = store.metric_keys(&train).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.key.as_str(), k.from_document))
            .collect::<Vec<_>>(),
        [("accuracy", true)]
    );
    let points: Vec<SeriesPoint> = (0..1_500)
        .map(|step| SeriesPoint {
            key: "loss".parse().unwrap(),
            value: 1.0 / (1.0 + step as f64),
            step,
            timestamp_us: None,
        })
        .collect();
    store.append_metrics(&train, &points).await.unwrap();
    let loss = store
        .metric_series(&train, "loss", &SeriesQuery::default())
        .await
        .unwrap();
    assert_eq!(
        (loss.total_points, loss.downsampled, loss.from_document),
        (1_500, false, false)
    );
    let report = store.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

#[tokio::test]
async fn sqlite_stores_of_schema_2_upgrade_in_place() {
    let dir = tempfile::tempdir().unwrap();
    old_stores_upgrade_in_place(Location::in_project(dir.path()), 2).await;
}

#[tokio::test]
async fn sqlite_stores_of_schema_1_upgrade_in_place() {
    let dir = tempfile::tempdir().unwrap();
    old_stores_upgrade_in_place(Location::in_project(dir.path()), 1).await;
}

#[tokio::test]
async fn postgres_stores_of_schema_2_upgrade_in_place() {
    old_stores_upgrade_in_place(Location::parse(&fresh_postgres_database().await).unwrap(), 2).await;
}

#[tokio::test]
async fn postgres_stores_of_schema_1_upgrade_in_place() {
    old_stores_upgrade_in_place(Location::parse(&fresh_postgres_database().await).unwrap(), 1).await;
}

#[tokio::test]
async fn sqlite_schema_versions_are_checked() {
    schema_versions_are_checked(Fixture::sqlite().await).await;
}

#[tokio::test]
async fn postgres_schema_versions_are_checked() {
    schema_versions_are_checked(Fixture::postgres().await).await;
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error() {
    let started = Instant::now();
    let location = Location::parse("postgres://postgres@127.0.0.1:1/nothing").unwrap();
    let error = assert_kind(SqlStore::open(&location).await, ErrorKind::Unavailable);
    assert!(error.message.contains("cannot reach the store"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_postgres_connection_lost_mid_batch_is_a_clear_error() {
    let fixture = Fixture::postgres().await;
    let documents = many_runs(50_000);
    let store = fixture.store.clone();
    let task = tokio::spawn(async move { store.apply(&documents, "t").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admin = sqlx::AnyConnection::connect(&postgres_admin_url()).await.unwrap();
    let database = match &fixture.location {
        Location::Postgres(url) => url.rsplit('/').next().unwrap().to_owned(),
        Location::Sqlite(_) | Location::Http(_) => unreachable!(),
    };
    sqlx::query("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1")
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("no hang")
        .unwrap();
    let error = assert_kind(result, ErrorKind::Unavailable);
    assert!(error.message.contains("connection"), "{error}");
    let store = SqlStore::open(&fixture.location).await.unwrap();
    assert_eq!(store.info().await.unwrap().events, 0, "nothing of the batch was kept");
    assert!(store.verify().await.unwrap().problems.is_empty());
}

/// The DDL each dialect ends up with, compared with a golden file (MLSPEC_UPDATE_GOLDEN=1
/// rewrites it).
async fn ddl_matches_golden(fixture: Fixture, golden: &str, catalog: &str) {
    let mut conn = fixture.raw().await;
    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(catalog.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let actual: String = rows.into_iter().map(|(line,)| line + "\n").collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(golden);
    if std::env::var_os("MLSPEC_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "the {golden} DDL changed: add a migration, then MLSPEC_UPDATE_GOLDEN=1"
    );
}

#[tokio::test]
async fn sqlite_ddl_matches_golden() {
    let catalog = "SELECT sql || ';' FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC, name";
    ddl_matches_golden(Fixture::sqlite().await, "sqlite.sql", catalog).await;
}

#[tokio::test]
async fn postgres_ddl_matches_golden() {
    let catalog = "SELECT line FROM ( \
        SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END AS line, 1 AS o, table_name AS t, ordinal_position AS p \
          FROM information_schema.columns WHERE table_schema = current_schema() \
        UNION ALL SELECT indexdef, 2, indexname, 0 FROM pg_indexes WHERE schemaname = current_schema() \
        UNION ALL SELECT 'trigger ' || trigger_name || ' ' || action_timing || ' ' || event_manipulation || ' ON ' || event_object_table, 3, trigger_name, 0 \
          FROM information_schema.triggers WHERE trigger_schema = current_schema() \
        ) ddl ORDER BY o, t, p, line";
    ddl_matches_golden(Fixture::postgres().await, "postgres.txt", catalog).await;
}

/// What a schema upgrade drops after copying it into a new layout (schema 3: the events,
/// edges, labels and fields, and the indexes and triggers that went with the old tables).
const UPGRADE_DROPS: &[(&str, &str)] = &[
    ("src/upgrade.rs", "drop table events_v2"),
    ("migrations/sqlite/0003_compact.sql", "drop index events_by_object"),
    (
        "migrations/sqlite/0003_compact.sql",
        "drop trigger events_refuse_update",
    ),
    (
        "migrations/sqlite/0003_compact.sql",
        "drop trigger events_refuse_delete",
    ),
    ("migrations/sqlite/0003_compact.sql", "drop index edges_by_source"),
    ("migrations/sqlite/0003_compact.sql", "drop table edges_v2"),
    ("migrations/postgres/0003_compact.sql", "drop index events_by_object"),
    (
        "migrations/postgres/0003_compact.sql",
        "drop trigger events_refuse_change on events",
    ),
    (
        "migrations/postgres/0003_compact.sql",
        "drop trigger events_refuse_truncate on events",
    ),
    ("migrations/postgres/0003_compact.sql", "drop index edges_by_source"),
    ("migrations/postgres/0003_compact.sql", "drop table edges_v2"),
    ("migrations/sqlite/0003_compact.sql", "drop index objects_live_name"),
    ("migrations/sqlite/0003_compact.sql", "drop index objects_by_kind"),
    (
        "migrations/sqlite/0003_compact.sql",
        "drop trigger objects_refuse_delete",
    ),
    ("migrations/sqlite/0003_compact.sql", "drop table objects_v2"),
    ("migrations/sqlite/0003_compact.sql", "drop index labels_by_value"),
    ("migrations/sqlite/0003_compact.sql", "drop table labels_v2"),
    ("migrations/sqlite/0003_compact.sql", "drop index fields_by_number"),
    ("migrations/sqlite/0003_compact.sql", "drop index fields_by_text"),
    ("migrations/sqlite/0003_compact.sql", "drop table fields_v2"),
    ("migrations/postgres/0003_compact.sql", "drop index labels_by_value"),
    ("migrations/postgres/0003_compact.sql", "drop table labels_v2"),
    ("migrations/postgres/0003_compact.sql", "drop index fields_by_number"),
    ("migrations/postgres/0003_compact.sql", "drop index fields_by_text"),
    ("migrations/postgres/0003_compact.sql", "drop table fields_v2"),
];

/// No SQL the store issues deletes anything, except what a schema upgrade has copied
/// ([`UPGRADE_DROPS`]).
#[test]
fn the_store_issues_no_delete() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let forbidden = [
        "delete from",
        "drop table",
        "drop index",
        "drop trigger",
        "truncate table",
        "truncate events",
        "truncate objects",
    ];
    let mut files = Vec::new();
    for dir in ["src", "migrations/sqlite", "migrations/postgres"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    assert!(files.len() > 10);
    for file in files {
        let mut text = std::fs::read_to_string(&file).unwrap().to_lowercase();
        for (allowed_in, statement) in UPGRADE_DROPS {
            if file.ends_with(allowed_in) {
                assert!(
                    text.contains(statement),
                    "{} no longer has `{statement}`",
                    file.display()
                );
                text = text.replace(statement, "");
            }
        }
        for word in forbidden {
            assert!(!text.contains(word), "{} contains `{word}`", file.display());
        }
    }
}

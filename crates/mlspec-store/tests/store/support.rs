//! Test fixtures: a fresh store per test on either backend, documents from YAML, and raw SQL
//! access for tampering.

use std::ops::Deref;
use std::path::PathBuf;

use mlspec_spec::{Document, Format, Kind, Limits, Name, validate_text};
use mlspec_store::{ErrorKind, HttpStore, Location, Selector, SqlStore, Store, StoreError};
use sqlx::{AnyConnection, Connection};

/// The PostgreSQL server the suite uses: `MLSPEC_TEST_POSTGRES` (scripts/test sets it).
pub fn postgres_admin_url() -> String {
    match std::env::var("MLSPEC_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "MLSPEC_TEST_POSTGRES is not set: run the suite with scripts/test, which starts a private PostgreSQL, \
             or export MLSPEC_TEST_POSTGRES=$(scripts/postgres-test-server start)"
        ),
    }
}

/// A fresh, empty store; its files or database live as long as the fixture. With `served`,
/// the tests reach it through `mlspec server`'s API (an in-process server on 127.0.0.1:0)
/// with the http backend; the raw SQL helpers still reach the database behind it.
pub struct Fixture {
    pub store: SqlStore,
    pub location: Location,
    served: Option<Served>,
    _dir: Option<tempfile::TempDir>,
}

/// A store served over HTTP, and the client that reaches it.
struct Served {
    client: HttpStore,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Deref for Fixture {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        match &self.served {
            Some(served) => &served.client,
            None => &self.store,
        }
    }
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::in_project(dir.path());
        let (store, created) = SqlStore::init(&location).await.unwrap();
        assert!(created);
        Fixture {
            store,
            location,
            served: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Fixture {
        let location = Location::parse(&fresh_postgres_database().await).unwrap();
        let (store, created) = SqlStore::init(&location).await.unwrap();
        assert!(created);
        Fixture {
            store,
            location,
            served: None,
            _dir: None,
        }
    }

    /// A SQLite store behind an in-process `mlspec server`, reached with the http backend.
    pub async fn http_sqlite() -> Fixture {
        Fixture::sqlite().await.served().await
    }

    /// A PostgreSQL store behind an in-process `mlspec server`, reached with the http backend.
    pub async fn http_postgres() -> Fixture {
        Fixture::postgres().await.served().await
    }

    async fn served(mut self) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(self.store.clone());
        let router = mlspec_server::api::router(store, std::time::Duration::from_secs(60));
        let server = tokio::spawn(mlspec_server::serve::serve(listener, router, Default::default()));
        let location = Location::parse(&format!("http://{address}")).unwrap();
        let client = HttpStore::open(&location).await.unwrap();
        self.served = Some(Served { client, server });
        self
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.location, Location::Sqlite(_))
    }

    /// A raw connection to the same database, for tampering.
    pub async fn raw(&self) -> AnyConnection {
        raw_connection(&self.location).await
    }

    /// Runs SQL directly, bypassing the store.
    pub async fn exec(&self, sql: &str) {
        let mut conn = self.raw().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// Drops the triggers that refuse changes to events and objects, as an attacker with
    /// database access would.
    pub async fn drop_guards(&self) {
        if self.is_sqlite() {
            self.exec(
                "DROP TRIGGER events_refuse_update; DROP TRIGGER events_refuse_delete; DROP TRIGGER objects_refuse_delete;",
            )
            .await;
        } else {
            self.exec(
                "DROP TRIGGER events_refuse_change ON events; DROP TRIGGER events_refuse_truncate ON events; \
                 DROP TRIGGER objects_refuse_delete ON objects;",
            )
            .await;
        }
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = self.raw().await;
        let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        value
    }

    pub async fn apply_yaml(&self, yaml: &str) -> Result<mlspec_store::ApplyReport, StoreError> {
        self.apply(&docs(yaml), "tester").await
    }

    pub fn sqlite_path(&self) -> PathBuf {
        match &self.location {
            Location::Sqlite(path) => path.clone(),
            Location::Postgres(_) | Location::Http(_) => panic!("not a SQLite store"),
        }
    }
}

pub async fn raw_connection(location: &Location) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let url = match location {
        Location::Sqlite(path) => format!("sqlite://{}", path.display()),
        Location::Postgres(url) | Location::Http(url) => url.clone(),
    };
    AnyConnection::connect(&url).await.unwrap()
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    sqlx::any::install_default_drivers();
    let admin = postgres_admin_url();
    let name = format!("mlspec_t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = AnyConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap();
    format!("{base}/{name}")
}

/// Parses and validates YAML documents (separated by `---`), panicking on any problem.
pub fn docs(yaml: &str) -> Vec<Document> {
    let outcome = validate_text(yaml, Format::Yaml, &Limits::default());
    assert!(outcome.diagnostics.is_empty(), "{:#?}", outcome.diagnostics);
    outcome.documents
}

/// `count` Run documents named r0, r1, …
pub fn many_runs(count: usize) -> Vec<Document> {
    let template = docs(&run("r0")).remove(0);
    (0..count)
        .map(|i| {
            let mut document = template.clone();
            document.metadata.name = Name::new(format!("r{i}")).unwrap();
            document
        })
        .collect()
}

pub fn run(name: &str) -> String {
    format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}}}\nspec: {{status: Running}}\n")
}

pub fn run_with(name: &str, spec: &str) -> String {
    format!("apiVersion: mlspec/v1\nkind: Run\nmetadata: {{name: {name}}}\nspec: {{status: Running, {spec}}}\n")
}

pub fn artifact(name: &str, run: &str) -> String {
    format!(
        "apiVersion: mlspec/v1\nkind: Artifact\nmetadata: {{name: {name}}}\nspec:\n  run: {run}\n  type: model\n  \
         path: {{datastore: lake, path: runs/{name}}}\n  digest: sha256:{}\n  size: 42\n  mediaType: application/octet-stream\n",
        "ab".repeat(32)
    )
}

pub fn dataset(name: &str, versions: &[(&str, &str)]) -> String {
    let mut yaml = format!("apiVersion: mlspec/v1\nkind: Dataset\nmetadata: {{name: {name}}}\nspec:\n  versions:\n");
    for (version, status) in versions {
        yaml.push_str(&format!(
            "    - {{version: '{version}', status: {status}, definition: {{datastore: lake, path: {name}/{version}}}}}\n"
        ));
    }
    yaml
}

pub fn module(name: &str, version: &str) -> String {
    format!(
        "apiVersion: mlspec/v1\nkind: Module\nmetadata: {{name: {name}}}\nspec:\n  version: '{version}'\n  implementation: {{command: [python, train.py]}}\n"
    )
}

pub fn join(parts: &[String]) -> String {
    parts.join("---\n")
}

pub fn named(kind: Kind, name: &str) -> Selector {
    Selector::Name {
        kind,
        name: Name::new(name).unwrap(),
        version: None,
    }
}

pub fn text(kind: Kind, text: &str) -> Selector {
    Selector::KindText {
        kind,
        text: text.to_owned(),
    }
}

#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(result: Result<T, StoreError>, kind: ErrorKind) -> StoreError {
    match result {
        Err(error) => {
            assert_eq!(error.kind, kind, "{error}");
            error
        }
        Ok(value) => panic!("expected {kind:?}, got {value:?}"),
    }
}

//! The SQL implementation of [`Store`](crate::Store), over sqlx's `Any` driver so that one body of
//! SQL (`$1` placeholders, portable types: TEXT, BIGINT, binary) serves both SQLite and
//! PostgreSQL. The backends differ only in their DDL (`migrations/<dialect>/`), connection
//! settings, catalog queries and a few habits of statements (keeping plans, binding by position,
//! EXPLAIN: [`Backend`]), all in this file.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::chain::GENESIS;
use crate::error::{ErrorKind, Result, StoreError};
use crate::location::Location;

/// The schema version this build of mlspec reads and writes.
pub const SCHEMA_VERSION: i64 = 4;

/// The DDL of each schema version, per dialect: entry 0 creates version 1 (`init`), entry `i`
/// upgrades version `i` to `i + 1` (`db upgrade`, then [`crate::upgrade::fill`] moves the data
/// the DDL cannot).
const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_fields.sql"),
    include_str!("../migrations/sqlite/0003_compact.sql"),
    include_str!("../migrations/sqlite/0004_metric_series.sql"),
];
const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_fields.sql"),
    include_str!("../migrations/postgres/0003_compact.sql"),
    include_str!("../migrations/postgres/0004_metric_series.sql"),
];

/// The tables a store consists of.
pub(crate) const TABLES: &[&str] = &[
    "store_meta",
    "chain_head",
    "events",
    "objects",
    "labels",
    "fields",
    "field_keys",
    "edges",
    "metric_series",
    "metric_chunks",
];

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn migrations(self) -> &'static [&'static str] {
        match self {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// The backend a connection talks to.
    pub(crate) fn of(conn: &AnyConnection) -> Backend {
        if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// Whether a statement that varies with the data should stay prepared: yes on SQLite;
    /// PostgreSQL plans it afresh each time, since a cached generic plan made while the tables
    /// were small would go on scanning them as they grow.
    pub(crate) fn keeps_plans(self) -> bool {
        self == Backend::Sqlite
    }

    /// Whether multi-row statements bind `?` by position: SQLite looks a `$n` parameter up by
    /// name in a list, which makes binding quadratic in the parameter count.
    pub(crate) fn binds_by_position(self) -> bool {
        self == Backend::Sqlite
    }

    /// What turns a query into its plan, and the column of the plan's text: SQLite's
    /// `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN`.
    pub(crate) fn explain(self) -> (&'static str, usize) {
        match self {
            Backend::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
            Backend::Postgres => ("EXPLAIN ", 0),
        }
    }

    /// How many of `names` exist as tables.
    fn count_tables_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }
}

/// A connection pool to one store.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) location: Location,
}

/// Whether opening may create the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    Yes,
    No,
}

impl SqlStore {
    /// Opens an existing store, refusing a database that is not an mlspec store or whose schema
    /// version differs from [`SCHEMA_VERSION`] (an older one names the upgrade command; a newer
    /// one is left untouched).
    pub async fn open(location: &Location) -> Result<SqlStore> {
        Self::open_with(location, Timeouts::from_env()?).await
    }

    /// [`SqlStore::open`] with the given timeouts instead of the environment's.
    pub async fn open_with(location: &Location, timeouts: Timeouts) -> Result<SqlStore> {
        let store = Self::connect(location, Create::No, timeouts).await?;
        let version = store.schema_version().await?;
        store.check_version(version)?;
        Ok(store)
    }

    /// Creates the store (the SQLite file and its directory, or the tables in an existing
    /// PostgreSQL database). Returns the store and whether it was created (false: it existed).
    pub async fn init(location: &Location) -> Result<(SqlStore, bool)> {
        if let Location::Sqlite(path) = location
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::new(ErrorKind::Unavailable, format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let store = Self::connect(location, Create::Yes, Timeouts::from_env()?).await?;
        if store.is_store().await? {
            let version = store.schema_version().await?;
            store.check_version(version)?;
            return Ok((store, false));
        }
        store.refuse_foreign_tables().await?;
        if store.backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&store.pool).await?;
        }
        store.migrate(0).await?;
        Ok((store, true))
    }

    /// Upgrades an older store to [`SCHEMA_VERSION`]; returns the version it had.
    pub async fn upgrade(location: &Location) -> Result<(SqlStore, i64)> {
        let store = Self::connect(location, Create::No, Timeouts::from_env()?).await?;
        let version = store.schema_version().await?;
        if version < 1 {
            return Err(StoreError::data_loss(format!(
                "{location} records the impossible schema version {version}"
            )));
        }
        if version > SCHEMA_VERSION {
            store.check_version(version)?;
        }
        if version < SCHEMA_VERSION {
            store.migrate(version).await?;
        }
        Ok((store, version))
    }

    async fn connect(location: &Location, create: Create, timeouts: Timeouts) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match location {
            Location::Sqlite(path) => {
                if path.exists() && !path.is_file() {
                    return Err(StoreError::invalid(format!("{} is not a regular file", path.display()))
                        .with_hint("a SQLite store is a file; give its path, or a new one for `mlspec init`"));
                }
                if create == Create::No && !path.is_file() {
                    return Err(StoreError::not_found(format!("no store at {}", path.display()))
                        .with_hint("run `mlspec init` to create one, or check --store / MLSPEC_STORE"));
                }
                (sqlite_url(path, create), Backend::Sqlite)
            }
            Location::Postgres(url) => (url.clone(), Backend::Postgres),
            Location::Http(_) => {
                return Err(StoreError::invalid(format!("{location} is a server, not a database"))
                    .with_hint("a server's store is made and upgraded where it runs, with its own --store"));
            }
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e| StoreError::invalid(format!("bad store URL {location}: {e}")))?;
        let probed = tokio::time::timeout(timeouts.connect, probe(&options, location, backend, timeouts))
            .await
            .map_err(|_| timeouts.no_answer(location))??;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            // A pinged SQLite connection is a round trip to its worker thread that cannot find
            // anything wrong with a file; a server's connection can have gone away.
            .test_before_acquire(backend != Backend::Sqlite)
            .acquire_timeout(timeouts.connect)
            .after_connect(move |conn, _| Box::pin(async move { configure(conn, backend, timeouts).await }))
            .connect_with(options)
            .await
            .map_err(|e| unreachable_store(location, e, timeouts))?;
        let _ = probed.close().await;
        Ok(SqlStore {
            pool,
            backend,
            location: location.clone(),
        })
    }

    async fn table_exists(&self, name: &str) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(self.backend.count_tables_sql())
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.not_a_store(e))?;
        Ok(count > 0)
    }

    async fn is_store(&self) -> Result<bool> {
        self.table_exists("store_meta").await
    }

    fn not_a_store(&self, error: sqlx::Error) -> StoreError {
        let error = StoreError::from(error);
        if error.kind == ErrorKind::Internal || error.kind == ErrorKind::InvalidArgument {
            StoreError::invalid(format!("{} is not an mlspec store: {}", self.location, error.message))
                .with_hint("point --store at a database made by `mlspec init`")
        } else {
            error
        }
    }

    async fn refuse_foreign_tables(&self) -> Result<()> {
        let count: i64 = match self.backend {
            Backend::Sqlite => sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.not_a_store(e))?,
            Backend::Postgres => {
                let mut found = 0;
                for table in TABLES {
                    found += i64::from(self.table_exists(table).await?);
                }
                found
            }
        };
        if count > 0 {
            return Err(StoreError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} already holds tables but is not an mlspec store; nothing was changed",
                    self.location
                ),
            )
            .with_hint("use an empty database or a new file"));
        }
        Ok(())
    }

    /// The store's schema version, or an error when the database is not an mlspec store.
    pub async fn schema_version(&self) -> Result<i64> {
        if !self.is_store().await? {
            return Err(StoreError::invalid(format!(
                "{} is not an mlspec store (it has no store_meta table)",
                self.location
            ))
            .with_hint("point --store at a database made by `mlspec init`, or run `mlspec init` in an empty place"));
        }
        let text: Option<String> = sqlx::query_scalar("SELECT value FROM store_meta WHERE key = 'schema_version'")
            .fetch_optional(&self.pool)
            .await?;
        text.and_then(|t| t.parse().ok())
            .ok_or_else(|| StoreError::data_loss(format!("{} has no readable schema_version", self.location)))
    }

    fn check_version(&self, version: i64) -> Result<()> {
        if version < SCHEMA_VERSION {
            return Err(StoreError::precondition(format!(
                "the store at {} has schema version {version}; this mlspec needs {SCHEMA_VERSION}",
                self.location
            ))
            .with_hint(format!("run `mlspec db upgrade --store {}`", self.location)));
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::precondition(format!(
                "the store at {} has schema version {version}, newer than this mlspec's {SCHEMA_VERSION}; it was not touched",
                self.location
            ))
            .with_hint("use a newer mlspec"));
        }
        Ok(())
    }

    /// Applies the DDL from `from` to [`SCHEMA_VERSION`] in one transaction.
    async fn migrate(&self, from: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let steps = self.backend.migrations();
        for (to, ddl) in (1..).zip(steps).skip(usize::try_from(from).unwrap_or(usize::MAX)) {
            sqlx::raw_sql(*ddl).execute(&mut *tx).await?;
            crate::upgrade::fill(&mut tx, to).await?;
        }
        if from == 0 {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            for (key, value) in [
                ("store", "mlspec".to_owned()),
                ("store_id", uuid::Uuid::now_v7().to_string()),
                ("created_at", now),
                ("schema_version", "0".to_owned()),
            ] {
                sqlx::query("INSERT INTO store_meta (key, value) VALUES ($1, $2)")
                    .bind(key)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, $1)")
                .bind(GENESIS)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE store_meta SET value = $1 WHERE key = 'schema_version'")
            .bind(SCHEMA_VERSION.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A store-meta value.
    pub(crate) async fn meta(&self, key: &str) -> Result<String> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        value.ok_or_else(|| StoreError::data_loss(format!("store_meta has no `{key}`")))
    }

    /// On PostgreSQL, analyzes the tables listings read once a fifth of their rows changed
    /// since the last analysis (as autovacuum would, but at once): without fresh statistics
    /// right after a bulk load, the planner takes the filter's id set for large and the objects
    /// of a kind for tiny, and a selective `--where` goes from milliseconds to seconds.
    pub(crate) async fn refresh_statistics(&self) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let stale: bool = sqlx::query_scalar(
            "SELECT COALESCE(bool_or(n_mod_since_analyze > 1000 + n_live_tup / 5), false) FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname IN ('objects', 'fields', 'labels')",
        )
        .fetch_one(&self.pool)
        .await?;
        if stale {
            sqlx::raw_sql("ANALYZE objects, fields, labels")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How long connecting to the store, and one statement, may take: `MLSPEC_STORE_CONNECT_TIMEOUT`
/// and `MLSPEC_STORE_STATEMENT_TIMEOUT` (seconds; defaults 10 and 300).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// Reaching the server, logging in and the first query; also how long to wait for a pooled
    /// connection.
    pub connect: Duration,
    /// One statement: PostgreSQL's `statement_timeout`, SQLite's `busy_timeout` (how long a
    /// statement waits for another writer's lock).
    pub statement: Duration,
}

/// The variables that set [`Timeouts`].
pub const CONNECT_TIMEOUT_VAR: &str = "MLSPEC_STORE_CONNECT_TIMEOUT";
/// See [`CONNECT_TIMEOUT_VAR`].
pub const STATEMENT_TIMEOUT_VAR: &str = "MLSPEC_STORE_STATEMENT_TIMEOUT";

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            statement: Duration::from_secs(300),
        }
    }
}

impl Timeouts {
    /// The defaults, overridden by the environment; a value that is not a number of seconds
    /// between 0.001 and 86,400 is an error naming the variable.
    pub fn from_env() -> Result<Timeouts> {
        let defaults = Timeouts::default();
        Ok(Timeouts {
            connect: seconds_from_env(CONNECT_TIMEOUT_VAR, defaults.connect)?,
            statement: seconds_from_env(STATEMENT_TIMEOUT_VAR, defaults.statement)?,
        })
    }

    /// A client-side bound on one store operation: the server should have ended a statement
    /// by `statement`; `connect` more covers a pooled connection and the answer's way back.
    pub fn operation(&self) -> Duration {
        self.connect + self.statement
    }

    fn no_answer(&self, location: &Location) -> StoreError {
        StoreError::new(
            ErrorKind::Unavailable,
            format!(
                "cannot reach the store at {location}: no answer within {} s",
                self.connect.as_secs_f64()
            ),
        )
        .with_hint(format!(
            "check the URL and that the database server runs and answers; {CONNECT_TIMEOUT_VAR}=SECONDS waits longer"
        ))
    }
}

fn seconds_from_env(var: &str, default: Duration) -> Result<Duration> {
    let Some(text) = std::env::var_os(var) else {
        return Ok(default);
    };
    let text = text.to_string_lossy();
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (0.001..=86_400.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            StoreError::invalid(format!("{var}=`{text}` is not a number of seconds"))
                .with_hint(format!("set {var} to seconds between 0.001 and 86400, e.g. {var}=30"))
        })
}

/// Settings every connection gets: the statement timeout; on SQLite also durability.
async fn configure(conn: &mut AnyConnection, backend: Backend, timeouts: Timeouts) -> Result<(), sqlx::Error> {
    let millis = timeouts.statement.as_millis().max(1);
    match backend {
        Backend::Sqlite => {
            // Writers wait for each other instead of failing; FULL makes every committed batch
            // durable across power loss, not only process crashes.
            // A number formatted here, never user text.
            let busy = sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {millis}"));
            sqlx::raw_sql(busy).execute(&mut *conn).await?;
            conn.execute("PRAGMA synchronous = FULL").await?;
            // Statement journals and sorts of a large batch stay in memory instead of a
            // temporary file created (and synced) per transaction.
            conn.execute("PRAGMA temp_store = MEMORY").await?;
        }
        Backend::Postgres => {
            let statement = sqlx::AssertSqlSafe(format!("SET statement_timeout = {millis}"));
            sqlx::raw_sql(statement).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Connects once without the pool, so that an unreachable server or a file that is not a
/// database fails at once with its own error instead of the pool's retries and timeout (the
/// caller bounds it by the connect timeout). Returns the connection, for the caller to close
/// once the pool has one of its own: closing the last connection to a SQLite database
/// checkpoints its whole write-ahead log, which this process has no reason to wait for.
async fn probe(
    options: &AnyConnectOptions,
    location: &Location,
    backend: Backend,
    timeouts: Timeouts,
) -> Result<AnyConnection> {
    let mut conn = AnyConnection::connect_with(options)
        .await
        .map_err(|e| unreachable_store(location, e, timeouts))?;
    let checked = sqlx::query_scalar::<_, i64>(backend.count_tables_sql())
        .bind("store_meta")
        .fetch_one(&mut conn)
        .await;
    let Err(error) = checked else { return Ok(conn) };
    let _ = conn.close().await;
    let detail = match &error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    Err(match StoreError::from(error) {
        e if e.kind == ErrorKind::Unavailable => e,
        _ => StoreError::invalid(format!("{location} is not an mlspec store: {detail}"))
            .with_hint("point --store at a database made by `mlspec init`"),
    })
}

fn sqlite_url(path: &Path, create: Create) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let encoded = absolute
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    let mode = if create == Create::Yes { "rwc" } else { "rw" };
    format!("sqlite://{encoded}?mode={mode}")
}

fn unreachable_store(location: &Location, error: sqlx::Error, timeouts: Timeouts) -> StoreError {
    if matches!(error, sqlx::Error::PoolTimedOut) {
        return timeouts.no_answer(location);
    }
    let detail = error.to_string();
    let base = StoreError::from(error);
    match base.kind {
        ErrorKind::Unavailable | ErrorKind::Internal => StoreError::new(
            ErrorKind::Unavailable,
            format!("cannot reach the store at {location}: {detail}"),
        )
        .with_hint("check the URL, that the server runs and accepts connections, and the credentials"),
        _ => base,
    }
}

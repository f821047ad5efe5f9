//! What the store benchmarks share: sizes from the environment, percentiles, and a fresh
//! PostgreSQL database per run.

use std::time::Duration;

use mlspec_store::Location;
use sqlx::Connection;

/// A size from the environment variable `name`, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A new, empty database on the server `admin` names, for one benchmark run.
pub async fn fresh_postgres(admin: &str) -> Location {
    sqlx::any::install_default_drivers();
    let name = format!("mlspec_bench_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    Location::parse(&format!("{base}/{name}")).unwrap()
}

/// Runs a benchmark on a single-threaded runtime.
pub fn block_on(future: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future);
}

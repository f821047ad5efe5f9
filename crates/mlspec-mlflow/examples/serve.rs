//! Serves the MLflow API alone, for trying the client by hand or benchmarking it before
//! `mlspec server` mounts it:
//!
//! ```text
//! cargo run -p mlspec-mlflow --example serve -- sqlite:/tmp/mlflow/store.db /tmp/mlflow/artifacts 127.0.0.1:5000
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py
//! ```

use std::sync::Arc;

use mlspec_store::{Location, SqlStore, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: serve STORE-URL ARTIFACT-DIR [ADDRESS]";
    let store = args.next().ok_or(usage)?;
    let artifacts = args.next().ok_or(usage)?;
    let address = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let (store, _) = SqlStore::init(&Location::parse(&store)?).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("MLflow API on http://{}", listener.local_addr()?);
    axum::serve(listener, mlspec_mlflow::router(store, artifacts.into())).await?;
    Ok(())
}

//! `mlspec server`: serve the store over HTTP — its REST API (`/api/v1/…`) and the standard
//! probes — until SIGINT or SIGTERM, then finish the requests in progress and exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mlspec_server::server::{DEFAULT_REQUEST_TIMEOUT, ServerConfig, server_info};
use mlspec_server::{ServeLimits, StepState};
use tokio::signal::unix::{SignalKind, signal};

use crate::store::StoreChoice;

/// Serve the store (--store, else the project's) over HTTP: the REST API at /api/v1 (its
/// OpenAPI document at /api/v1/openapi.json) and /ok /healthz /readyz /varz /metrics. Other
/// machines then use it with `--store http://HOST:PORT`. See docs/server.md.
#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on; loopback only until tokens are supported.
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "ADDR")]
    listen: SocketAddr,
    /// The longest one API request may take before it is stopped and answered 503.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_REQUEST_TIMEOUT.as_secs_f64(), value_parser = seconds)]
    request_timeout: f64,
    /// Where the MLflow artifact routes keep artifacts (default: `artifacts/` in the project's
    /// state directory, `.mlspec/`).
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// The file of hashed API tokens the auth layer will read. Not supported yet: refused.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

fn seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.001..=86_400.0).contains(s))
        .ok_or_else(|| format!("`{text}` is not a number of seconds between 0.001 and 86400"))
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, choice))
}

async fn serve(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let location = choice.location()?;
    let store: Arc<dyn mlspec_store::Store> = Arc::from(mlspec_store::open(&location).await?);
    let artifacts = args
        .artifacts
        .unwrap_or_else(|| crate::step::spool::state_dir().join("artifacts"));
    let config = ServerConfig {
        store: store.clone(),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        limits: ServeLimits::from_env().map_err(anyhow::Error::msg)?,
        extra: mlspec_mlflow::router(store, artifacts.clone()),
        artifacts,
        token_file: args.token_file,
    };
    config.check(&args.listen).map_err(anyhow::Error::msg)?;
    // Listening for the signals before the address is known, so that none sent after is lost.
    let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is the address in use? choose another with --listen",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let state = Arc::new(StepState::new(server_info(
        &addr,
        &location.redacted(),
        std::env::args().collect(),
    )));
    errln!("mlspec server: serving http://{addr}/api/v1 (the store at {location}); stop with Ctrl-C");
    let shutdown = async {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT received".to_owned(),
            _ = terminate.recv() => "SIGTERM received".to_owned(),
        }
    };
    mlspec_server::server::run(listener, config, state, shutdown).await;
    errln!("mlspec server: stopped");
    Ok(ExitCode::SUCCESS)
}

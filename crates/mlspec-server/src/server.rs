//! `mlspec server`: one process that many machines, pods and people write to and read from.
//! It serves the standard probes every mlspec process answers ([`crate::probes`]: `/ok`,
//! `/readyz`, `/healthz`, `/varz`, `/metrics`) and the store's REST API ([`crate::api`]) over
//! one store, with the connection bounds of [`crate::serve`], a timeout on every API request,
//! and a graceful shutdown: on SIGINT or SIGTERM readiness turns 503, the listener closes, and
//! the requests in progress are finished and answered before the process exits.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mlspec_store::Store;
use tokio::net::TcpListener;

use crate::serve::{ServeLimits, serve_until};
use crate::{Phase, StepInfo, StepState};

/// How long requests in progress at shutdown may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The default limit on one API request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What `mlspec server` serves, and how.
pub struct ServerConfig {
    /// The store served.
    pub store: Arc<dyn Store>,
    /// The longest one API request may take.
    pub request_timeout: Duration,
    /// Bounds on connections.
    pub limits: ServeLimits,
    /// Where artifacts are kept (`--artifacts`), for the routes in `extra`.
    pub artifacts: PathBuf,
    /// Routes served beside the API over the same store: the MLflow tracking API.
    pub extra: Router,
    /// The tokens file (`--token-file`): for the auth layer, not yet here.
    pub token_file: Option<PathBuf>,
}

impl ServerConfig {
    /// Refuses what this build cannot honour yet, rather than accept it and do nothing: tokens
    /// (the auth layer). And without tokens the API is open to whoever reaches it, so it
    /// listens on loopback only.
    pub fn check(&self, listen: &SocketAddr) -> Result<(), String> {
        if self.token_file.is_some() {
            return Err("--token-file is not supported yet: this build has no token authentication".to_owned());
        }
        if !listen.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {listen}: without tokens the API lets anyone who reaches it write to the store, so it listens on loopback only (127.0.0.1 or ::1)"
            ));
        }
        Ok(())
    }
}

/// What `/varz` reports for the server.
pub fn server_info(listen: &SocketAddr, store: &str, command: Vec<String>) -> StepInfo {
    StepInfo {
        name: "mlspec-server".to_owned(),
        run_id: String::new(),
        module: None,
        params: [
            ("listen".to_owned(), serde_json::json!(listen.to_string())),
            ("store".to_owned(), serde_json::json!(store)),
        ]
        .into_iter()
        .collect(),
        command,
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        env: Default::default(),
    }
}

/// The server's routes: the probes over `state`, the API over the store, and the extra routes.
pub fn app(config: &ServerConfig, state: Arc<StepState>) -> Router {
    crate::api::router(config.store.clone(), config.request_timeout)
        .merge(config.extra.clone())
        .merge(crate::probes(state))
}

/// Serves until `shutdown` completes, then shuts down gracefully (see the module docs).
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    state: Arc<StepState>,
    shutdown: impl Future<Output = String>,
) {
    state.set_phase(Phase::Running);
    let router = app(&config, state.clone());
    let stopping = async {
        let reason = shutdown.await;
        state.set_phase(Phase::ShuttingDown { reason });
    };
    serve_until(listener, router, config.limits, stopping, SHUTDOWN_GRACE).await;
}

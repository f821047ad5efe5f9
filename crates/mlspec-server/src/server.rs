//! `mlspec server`: one process that many machines, pods and people write to and read from.
//! It serves the standard probes every mlspec process answers ([`crate::probes`]: `/ok`,
//! `/readyz`, `/healthz`, `/varz`, `/metrics`) and the store's REST API ([`crate::api`]) over
//! one store, with the connection bounds of [`crate::serve`], a timeout on every API request,
//! and a graceful shutdown: on SIGINT or SIGTERM readiness turns 503, the listener closes, and
//! the requests in progress are finished and answered before the process exits.
//!
//! With a token file, the API, the web UI and `/varz` are behind the token check
//! ([`crate::auth`]); the other probes stay open. Without one, whoever reaches the server may
//! read and write, so it listens on loopback only — and answers only requests addressed to a
//! loopback name (`Host: 127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`): a web page the user
//! visits could otherwise point a DNS name of its own at 127.0.0.1 ("DNS rebinding") and read
//! the open store through the user's browser.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mlspec_store::Store;
use tokio::net::TcpListener;

use crate::auth::{Auth, Policy, protect};
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
    /// Routes served beside the API over the same store: the MLflow tracking API, checked as
    /// MLflow's routes ([`Policy::MLFLOW`]) when there are tokens.
    pub extra: Router,
    /// The web UI (`mlspec_ui::router`), checked as pages ([`Policy::UI`]); it owns the
    /// fallback, so an unknown address is its 404 page.
    pub ui: Router,
    /// The token check (`--token-file`, or the default file when it exists); `None`: no
    /// tokens, everything open, loopback only.
    pub auth: Option<Arc<Auth>>,
}

impl ServerConfig {
    /// Without tokens the API is open to whoever reaches it, so it listens on loopback only.
    pub fn check(&self, listen: &SocketAddr) -> Result<(), String> {
        if self.auth.is_none() && !listen.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {listen}: without tokens the API lets anyone who reaches it write to the store, so it listens on loopback only (127.0.0.1 or ::1); create a token first (`mlspec server token create --name NAME --scope write`)"
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

/// The server's routes: the probes over `state`, the API over the store, the
/// extra routes and the UI, each behind the token check when there is one, else behind the
/// loopback `Host` check.
pub fn app(config: &ServerConfig, state: Arc<StepState>) -> Router {
    let auth = config.auth.as_ref();
    let api = crate::api::router(config.store.clone(), config.request_timeout);
    let routes = protect(api, auth, Policy::API)
        .merge(protect(config.extra.clone(), auth, Policy::MLFLOW))
        .merge(protect(config.ui.clone(), auth, Policy::UI))
        .merge(protect(crate::probes(state), auth, Policy::PROBES));
    match auth {
        Some(_) => routes,
        None => routes.layer(axum::middleware::from_fn(only_loopback_hosts)),
    }
}

/// Whether a `Host` header names this machine's loopback: `127.0.0.1`, `localhost` or
/// `[::1]`, with any port or none (a rebinding page comes with a DNS name of its own).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host.as_str(),
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// Refuses (421, Misdirected Request) a request whose `Host` is not a loopback name, or that
/// has none.
async fn only_loopback_hosts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .map(|h| h.to_str().unwrap_or("?"));
    if host.is_some_and(is_loopback_host) {
        return next.run(request).await;
    }
    let message = format!(
        "this server has no tokens, so it answers only requests addressed to 127.0.0.1, localhost or [::1] (this one: {}); create a token (`mlspec server token create`) to serve other names",
        host.map_or_else(
            || "no Host header".to_owned(),
            |h| format!("`{}`", h.chars().take(100).collect::<String>())
        )
    );
    let error = mlspec_store::StoreError::new(mlspec_store::ErrorKind::PermissionDenied, message);
    let mut response = crate::api::error::ApiError::from(error).into_response();
    *response.status_mut() = axum::http::StatusCode::MISDIRECTED_REQUEST;
    response
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
    let watching = tokio::spawn(watch_store(config.store.clone(), state.clone()));
    let stopping = async {
        let reason = shutdown.await;
        watching.abort();
        state.set_phase(Phase::ShuttingDown { reason });
    };
    serve_until(listener, router, config.limits, stopping, SHUTDOWN_GRACE).await;
}

/// How often readiness asks the store whether it answers, and how long it waits.
pub const STORE_CHECK: Duration = Duration::from_secs(2);

/// Keeps readiness (`/ok`, `/readyz`) true to the store: 503 with the reason while the store
/// does not answer a one-object query within [`STORE_CHECK`], 200 again once it does. Liveness
/// (`/healthz`) stays 200: restarting the server would not bring the database back.
async fn watch_store(store: Arc<dyn Store>, state: Arc<StepState>) {
    let mut tick = tokio::time::interval(STORE_CHECK);
    let probe = mlspec_store::ListQuery {
        limit: Some(1),
        ..mlspec_store::ListQuery::new(mlspec_spec::Kind::Experiment)
    };
    loop {
        tick.tick().await;
        let failure = match tokio::time::timeout(STORE_CHECK, store.list(&probe)).await {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(format!("the store does not answer: {}", error.message)),
            Err(_) => Some(format!(
                "the store did not answer within {} s",
                STORE_CHECK.as_secs_f64()
            )),
        };
        match (failure, state.phase()) {
            (Some(reason), _) => state.set_phase(Phase::Failed { reason }),
            (None, Phase::Failed { .. }) => state.set_phase(Phase::Running),
            (None, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: Option<Arc<Auth>>, store: Arc<dyn Store>) -> ServerConfig {
        ServerConfig {
            store,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            limits: ServeLimits::default(),
            artifacts: PathBuf::from("artifacts"),
            extra: Router::new(),
            ui: Router::new(),
            auth,
        }
    }

    #[tokio::test]
    async fn a_public_address_needs_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let location = mlspec_store::Location::Sqlite(dir.path().join("store.db"));
        let store: Arc<dyn Store> = Arc::new(mlspec_store::SqlStore::init(&location).await.unwrap().0);
        let public: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let open = config(None, store.clone());
        assert!(open.check(&public).unwrap_err().contains("loopback only"));
        assert!(open.check(&loopback).is_ok());

        let file = dir.path().join(crate::auth::DEFAULT_FILE_NAME);
        std::fs::write(&file, crate::auth::TokenFile::default().to_bytes()).unwrap();
        let auth = Arc::new(Auth::open(file, false).unwrap());
        assert!(config(Some(auth), store).check(&public).is_ok());
    }

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for host in [
            "127.0.0.1:5000",
            "localhost:80",
            "LOCALHOST",
            "[::1]:5000",
            "[::1]",
            "127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:5000",
            "127.0.0.1.evil.example",
            "localhost.evil:1",
            "",
            "[::2]:1",
            ":5000",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

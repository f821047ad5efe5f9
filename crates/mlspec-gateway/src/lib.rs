//! The serving gateway (stages 11–13 of MLSpec, in the request path).
//!
//! `mlspec serve` puts this crate between clients and any HTTP model server (the Open
//! Inference Protocol of KServe, Triton and MLServer, TF Serving's REST API, MLflow's
//! `/invocations`, plain JSON): every request is forwarded, its answer streamed back unchanged,
//! and one chained line appended to the inference log — NCSA Combined plus the model, the
//! signed package's digest, the pipeline and training-data digests, the latency, the digests
//! of the request and answer bodies, and the route it took — binding each answer to the
//! package that gave it. The log is written on its own thread ([`logger`]), after the answer
//! is sent: logging never adds to a request's latency, and no request is answered that cannot
//! be logged.
//!
//! - [`proxy`]: the request path, and the answers the gateway makes itself (502/503/504…).
//! - [`route`]: which package answers — primary, a weighted sticky canary, or a shadow copy.
//! - [`rollout`] and [`control`]: the canary's steps, promote/abort, and their record.
//! - [`upstream`]: the pooled client and the health poller behind `/readyz`.
//! - [`metrics`]: counters and latency histograms for `/metrics` and `/varz`.
//! - [`monitor`]: the samples, and the policy's signals evaluated over windows of them
//!   ([`monitor::Watch`]).
//! - [`watcher`]: the monitor thread — windows evaluated, reports recorded, rollbacks done.
//! - [`capture`]: the bodies, kept beside the log for monitoring offline; [`replay`]: a
//!   recorded log monitored offline with the same signals.
//! - [`protocol`]: the tabular features and predictions read from each protocol's bodies.

pub mod capture;
pub mod control;
pub mod error;
pub mod logger;
pub mod metrics;
pub mod monitor;
pub mod protocol;
pub mod proxy;
pub mod replay;
pub mod rollout;
pub mod route;
pub mod upstream;
pub mod watcher;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use mlspec_attest::keys::SigningKey;
use mlspec_attest::log::{Binding, LogOptions, LogWriter};
use mlspec_server::exposition::{Format, Page, escape_label};
use mlspec_server::serve::ServeLimits;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

pub use error::GatewayError;
use logger::{Item, LogStatus};
use metrics::Metrics;
use monitor::Sample;
use route::{Arm, Canary, CanaryMode, Route, Routes};
use upstream::{Address, HealthCheck, HttpClient};

/// Mirrored requests in flight at once, at most.
const SHADOW_SLOTS: usize = 64;

/// The most body bytes waiting for the monitor, and for the capture file, each.
pub const QUEUED_BODY_BYTES: u64 = 64 << 20;

/// How the gateway behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest request body forwarded (larger: 413).
    pub max_body: usize,
    /// How long a request body may take to arrive (slower: 408).
    pub body_timeout: Duration,
    /// How long the upstream may take to start its answer (slower: 504).
    pub upstream_timeout: Duration,
    /// How each upstream's health is checked.
    pub health: HealthCheck,
    /// How often.
    pub health_interval: Duration,
    /// The bounds on client connections.
    pub limits: ServeLimits,
    /// How long requests in progress may take to finish at shutdown.
    pub grace: Duration,
}

/// A package to serve and its model server.
#[derive(Clone, Debug)]
pub struct Package {
    /// Its reference in the store (`ModelPackage/churn@1.0.0`).
    pub reference: String,
    /// What log lines answered by it are bound to.
    pub binding: Binding,
    /// Where its server answers.
    pub upstream: Address,
}

/// Everything the gateway is started with.
pub struct Config {
    /// The package in service.
    pub primary: Package,
    /// A package rolled out beside it: its share in hundredths of a percent, and the mode.
    pub canary: Option<(Package, u32, CanaryMode)>,
    /// The inference log.
    pub log: PathBuf,
    /// The capture file for the bodies, if any.
    pub capture: Option<PathBuf>,
    /// The key its checkpoints are signed with.
    pub key: SigningKey,
    /// How it is written.
    pub log_options: LogOptions,
    /// The rollout of the canary (which then starts at its first step's share).
    pub rollout: Option<rollout::Rollout>,
    /// Where the documents the gateway makes go (Rollouts, MonitoringReports): the caller
    /// records them in its store.
    pub sink: Option<mpsc::Sender<mlspec_spec::Document>>,
    /// The policy watched, if any.
    pub monitoring: Option<watcher::Monitoring>,
    /// The rest.
    pub settings: Settings,
}

/// The running gateway, shared by every request.
pub struct Gateway {
    routes: route::Table,
    client: HttpClient,
    log: mpsc::Sender<Item>,
    log_status: Arc<LogStatus>,
    log_path: PathBuf,
    metrics: Metrics,
    settings: Settings,
    monitor: Option<std::sync::mpsc::SyncSender<watcher::Input>>,
    latest: watcher::Latest,
    shadow_slots: Arc<Semaphore>,
    nonce: String,
    next_id: AtomicU64,
    started: Instant,
    listen: SocketAddr,
    rollout: std::sync::Mutex<Option<rollout::Rollout>>,
    sink: Option<mpsc::Sender<mlspec_spec::Document>>,
    documents_dropped: AtomicU64,
    /// Whether bodies go to the capture file.
    capturing: bool,
    /// Body bytes waiting for the monitor thread.
    monitor_bytes: Arc<metrics::ByteBudget>,
    /// Body bytes waiting for the capture file.
    capture_bytes: Arc<metrics::ByteBudget>,
}

impl Gateway {
    /// Hands a document to the store's recorder.
    fn record(&self, document: mlspec_spec::Document) {
        control::record(self.sink.as_ref(), document, &self.documents_dropped);
    }

    /// A request id for a request that brought none: unique to this gateway's run.
    fn next_request_id(&self) -> String {
        format!("{}-{}", self.nonce, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Hands a sample to the monitor, if one runs (dropped and counted when it is behind: its
    /// queue full, or the bodies waiting in it over [`QUEUED_BODY_BYTES`]).
    fn sample(&self, sample: Sample) {
        let Some(monitor) = &self.monitor else {
            return;
        };
        let bytes = sample.body_bytes();
        if !self.monitor_bytes.take(bytes) {
            self.metrics.samples_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if monitor.try_send(watcher::Input::Sample(Box::new(sample))).is_err() {
            self.monitor_bytes.give_back(bytes);
            self.metrics.samples_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Why the gateway is not ready, if it is not.
    fn unready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(failure) = self.log_status.failure() {
            reasons.push(format!("the inference log cannot be written: {failure}"));
        }
        let routes = self.routes.get();
        if let Some(reason) = routes.primary.health.reason() {
            reasons.push(format!("the primary upstream is down: {reason}"));
        }
        reasons
    }
}

/// What the gateway did, when it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Lines in the log, all signed.
    pub lines: u64,
}

/// Runs the gateway on `listener` until `shutdown` completes: then it stops accepting, lets the
/// requests in progress finish (at most `grace`), writes their lines, and closes the log with
/// a signed checkpoint.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Stopped, GatewayError> {
    let listen = listener.local_addr().map_err(|e| GatewayError::Io(e.to_string()))?;
    let Config {
        primary,
        canary,
        log,
        capture,
        key,
        log_options,
        rollout,
        sink,
        monitoring,
        settings,
    } = config;
    let (monitor, monitor_inputs) = match monitoring.is_some() {
        true => {
            let (sender, receiver) = std::sync::mpsc::sync_channel(watcher::CAPACITY);
            (Some(sender), Some(receiver))
        }
        false => (None, None),
    };
    let capturing = capture.is_some();
    let capture = capture.as_deref().map(capture::Writer::open).transpose()?;
    let path = log.clone();
    let first = primary.binding.clone();
    let (mut writer, _) = tokio::task::spawn_blocking(move || LogWriter::open(&path, first, key, log_options))
        .await
        .map_err(|e| GatewayError::Io(format!("cannot open the log: {e}")))??;
    let primary_arm = arm(&mut writer, primary);
    let canary = canary.map(|(package, basis_points, mode)| Canary {
        arm: Arc::new(arm(&mut writer, package)),
        basis_points,
        mode,
    });
    let log_status = Arc::new(LogStatus::default());
    let (monitor_bytes, capture_bytes) = (
        Arc::new(metrics::ByteBudget::new(QUEUED_BODY_BYTES)),
        Arc::new(metrics::ByteBudget::new(QUEUED_BODY_BYTES)),
    );
    let capture = capture.map(|writer| (writer, capture_bytes.clone()));
    let (log_sender, log_thread) = logger::start(writer, capture, log_status.clone());
    let gateway = Arc::new(Gateway {
        routes: route::Table::new(Routes {
            primary: Arc::new(primary_arm),
            canary,
        }),
        client: upstream::client(),
        log: log_sender.clone(),
        log_status,
        log_path: log,
        metrics: Metrics::default(),
        settings,
        monitor,
        latest: watcher::Latest::default(),
        shadow_slots: Arc::new(Semaphore::new(SHADOW_SLOTS)),
        nonce: nonce(),
        next_id: AtomicU64::new(1),
        started: Instant::now(),
        listen,
        rollout: std::sync::Mutex::new(rollout),
        sink,
        documents_dropped: AtomicU64::new(0),
        capturing,
        monitor_bytes: monitor_bytes.clone(),
        capture_bytes: capture_bytes.clone(),
    });
    start_rollout(&gateway);
    if let (Some(monitoring), Some(inputs)) = (monitoring, monitor_inputs) {
        let queue = watcher::Queue {
            inputs,
            bytes: monitor_bytes,
        };
        watcher::start(
            Arc::downgrade(&gateway),
            monitoring,
            queue,
            tokio::runtime::Handle::current(),
        )?;
    }
    let mut background = tokio::task::JoinSet::new();
    background.spawn(control::drive(gateway.clone()));
    for arm in arms(&gateway.routes.get()) {
        background.spawn(upstream::poll(
            gateway.client.clone(),
            arm.upstream.clone(),
            gateway.settings.health.clone(),
            gateway.settings.health_interval,
            arm.health.clone(),
        ));
    }
    let router = router(gateway.clone());
    let (limits, grace) = (gateway.settings.limits, gateway.settings.grace);
    mlspec_server::serve::serve_until(listener, router, limits, shutdown, grace).await;
    background.abort_all();
    // Mirrored requests still under way finish (or are cut at the grace period) first.
    let _ = tokio::time::timeout(grace, gateway.shadow_slots.acquire_many(SHADOW_SLOTS as u32)).await;
    let _ = log_sender.send(Item::Close).await;
    drop(log_sender);
    let lines = tokio::task::spawn_blocking(move || log_thread.join())
        .await
        .map_err(|e| GatewayError::Io(format!("the log thread failed: {e}")))?
        .map_err(|_| GatewayError::Io("the log thread panicked".into()))??;
    Ok(Stopped { lines })
}

/// Starts the rollout's first step, if there is a rollout.
fn start_rollout(gateway: &Gateway) {
    let Ok(mut slot) = gateway.rollout.lock() else {
        return;
    };
    if let Some(rollout) = slot.as_mut() {
        let basis_points = rollout.start(control::counts(gateway));
        control::apply(gateway, rollout::Next::Share(basis_points));
        gateway.record(rollout.document());
    }
}

fn arm(writer: &mut LogWriter, package: Package) -> Arm {
    Arm {
        binding_id: writer.add_binding(package.binding.clone()),
        package: package.reference,
        binding: package.binding,
        upstream: package.upstream,
        health: Arc::new(upstream::Health::new()),
    }
}

fn arms(routes: &Routes) -> Vec<Arc<Arm>> {
    let mut arms = vec![routes.primary.clone()];
    arms.extend(routes.canary.as_ref().map(|c| c.arm.clone()));
    arms
}

/// A random prefix for generated request ids.
fn nonce() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    format!("gw-{}", hex::encode(bytes))
}

/// The gateway's own endpoints; everything else is forwarded.
fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ok", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/varz", axum::routing::get(varz))
        .route("/metrics", axum::routing::get(metrics_page))
        .route("/_mlspec/rollout", axum::routing::get(control::status))
        .route("/_mlspec/rollout/promote", axum::routing::post(control::promote))
        .route("/_mlspec/rollout/abort", axum::routing::post(control::abort))
        .route("/_mlspec/feedback", axum::routing::post(control::feedback))
        .fallback(proxy::forward)
        .with_state(gateway)
}

async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let reasons = gateway.unready();
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({ "ready": reasons.is_empty(), "reasons": reasons })),
    )
        .into_response()
}

async fn varz(State(gateway): State<Arc<Gateway>>) -> Response {
    axum::Json(varz_json(&gateway)).into_response()
}

fn varz_json(gateway: &Gateway) -> serde_json::Value {
    let routes = gateway.routes.get();
    let packages: Vec<serde_json::Value> = [
        (Route::Primary, Some(&routes.primary)),
        (Route::Canary, routes.canary.as_ref().map(|c| &c.arm)),
    ]
    .into_iter()
    .filter_map(|(route, arm)| Some((route, arm?)))
    .map(|(route, arm)| {
        json!({
            "route": route.name(),
            "package": arm.package,
            "model": arm.binding.model,
            "packageDigest": arm.binding.package,
            "upstream": arm.upstream.to_string(),
            "upstreamUp": arm.health.is_up(),
            "upstreamProblem": arm.health.reason(),
        })
    })
    .collect();
    let responses: Vec<serde_json::Value> = gateway
        .metrics
        .responses()
        .into_iter()
        .map(|((route, status), count)| json!({ "route": route.name(), "status": status, "count": count }))
        .collect();
    let mode = routes.canary.as_ref().map(|c| match c.mode {
        CanaryMode::Split => "split",
        CanaryMode::Shadow => "shadow",
    });
    json!({
        "gateway": {
            "listen": gateway.listen.to_string(),
            "uptimeSeconds": gateway.started.elapsed().as_secs_f64(),
            "version": env!("CARGO_PKG_VERSION"),
        },
        "packages": packages,
        "traffic": { "canaryPercent": routes.canary_percent(), "canaryMode": mode },
        "requestsPerSecond": gateway.metrics.rate.per_second(metrics::now_second()),
        "responses": responses,
        "gatewayErrors": gateway.metrics.gateway_errors(),
        "inFlight": gateway.metrics.in_flight.load(Ordering::Relaxed),
        "rollout": gateway.rollout.lock().ok().and_then(|r| r.as_ref().map(|r| r.status())),
        "documentsDropped": gateway.documents_dropped.load(Ordering::Relaxed),
        "monitoring": monitoring_json(gateway),
        "log": {
            "path": gateway.log_path.display().to_string(),
            "lines": gateway.log_status.lines.load(Ordering::Relaxed),
            "failure": gateway.log_status.failure(),
        },
        "ready": gateway.unready().is_empty(),
    })
}

fn monitoring_json(gateway: &Gateway) -> serde_json::Value {
    if gateway.monitor.is_none() {
        return serde_json::Value::Null;
    }
    let signals: Vec<serde_json::Value> = gateway
        .latest
        .signals
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|((route, signal), (value, breached))| json!({ "route": route, "signal": signal, "value": value, "breached": breached }))
        .collect();
    let actions = gateway.latest.actions.lock().map(|a| a.clone()).unwrap_or_default();
    json!({
        "reports": gateway.latest.reports.load(Ordering::Relaxed),
        "signals": signals,
        "actions": actions,
        "samplesDropped": gateway.metrics.samples_dropped.load(Ordering::Relaxed),
        "capturesDropped": gateway.metrics.captures_dropped.load(Ordering::Relaxed),
    })
}

async fn metrics_page(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = render_metrics(&gateway, format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

fn render_metrics(gateway: &Gateway, format: Format) -> String {
    let mut page = Page::new(format);
    if let Some(own) = mlspec_server::process::stats("self") {
        page.process(&own);
    }
    let responses: Vec<(String, f64)> = gateway
        .metrics
        .responses()
        .into_iter()
        .map(|((route, status), n)| (format!("{{route=\"{}\",code=\"{status}\"}}", route.name()), n as f64))
        .collect();
    page.counter(
        "mlspec_gateway_requests",
        "Requests answered, by route and status code.",
        &responses,
    );
    let latency: Vec<_> = [Route::Primary, Route::Canary, Route::Shadow]
        .into_iter()
        .map(|route| {
            (
                format!("route=\"{}\"", route.name()),
                gateway.metrics.latency[route as usize].snapshot(),
            )
        })
        .filter(|(_, snapshot)| snapshot.count > 0)
        .collect();
    page.histogram(
        "mlspec_gateway_request_duration_seconds",
        "Time from a request's arrival to its answer's last byte.",
        &latency,
    );
    let errors: Vec<(String, f64)> = gateway
        .metrics
        .gateway_errors()
        .into_iter()
        .map(|(reason, n)| (format!("{{reason=\"{reason}\"}}"), n as f64))
        .collect();
    page.counter(
        "mlspec_gateway_errors",
        "Answers the gateway made itself, or answers cut off, by reason.",
        &errors,
    );
    page.gauge(
        "mlspec_gateway_in_flight_requests",
        "Requests being answered.",
        &[(String::new(), gateway.metrics.in_flight.load(Ordering::Relaxed) as f64)],
    );
    let routes = gateway.routes.get();
    let up: Vec<(String, f64)> = arms(&routes)
        .iter()
        .map(|arm| {
            (
                format!("{{upstream=\"{}\"}}", escape_label(&arm.upstream.to_string())),
                f64::from(u8::from(arm.health.is_up())),
            )
        })
        .collect();
    page.gauge(
        "mlspec_gateway_upstream_up",
        "1 when the upstream answered its last health check.",
        &up,
    );
    page.gauge(
        "mlspec_gateway_canary_traffic_percent",
        "The share of requests the canary answers.",
        &[(String::new(), routes.canary_percent())],
    );
    page.counter(
        "mlspec_gateway_log_lines",
        "Lines written to the inference log.",
        &[(String::new(), gateway.log_status.lines.load(Ordering::Relaxed) as f64)],
    );
    let signals = gateway.latest.signals.lock().map(|s| s.clone()).unwrap_or_default();
    let label = |route: &str, signal: &str| {
        format!(
            "{{route=\"{}\",signal=\"{}\"}}",
            escape_label(route),
            escape_label(signal)
        )
    };
    let values: Vec<(String, f64)> = signals.iter().map(|((r, s), (v, _))| (label(r, s), *v)).collect();
    let breached: Vec<(String, f64)> = signals
        .iter()
        .map(|((r, s), (_, b))| (label(r, s), f64::from(u8::from(*b))))
        .collect();
    page.gauge(
        "mlspec_gateway_signal_value",
        "The monitoring policy's signals, as the last window found them.",
        &values,
    );
    page.gauge(
        "mlspec_gateway_signal_breached",
        "1 when the signal breached its threshold in the last window.",
        &breached,
    );
    page.counter(
        "mlspec_gateway_monitor_samples_dropped",
        "Requests the monitor skipped because it was behind.",
        &[(
            String::new(),
            gateway.metrics.samples_dropped.load(Ordering::Relaxed) as f64,
        )],
    );
    page.counter(
        "mlspec_gateway_captures_dropped",
        "Requests whose bodies were not captured because the capture file was behind.",
        &[(
            String::new(),
            gateway.metrics.captures_dropped.load(Ordering::Relaxed) as f64,
        )],
    );
    page.finish()
}

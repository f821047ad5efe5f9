//! Serving a router over HTTP/1 with every connection bounded, so that slow or idle clients
//! cannot make the endpoints unreachable:
//!
//! - **header timeout**: a request's head (request line and headers) must be complete within it
//!   once the server waits for one, even when bytes trickle in (hyper's `header_read_timeout`);
//!   a metric post's body gets the same time again;
//! - **idle timeout**: a connection on which no byte moves in either direction for this long is
//!   closed — an idle keep-alive connection, a half-sent request, a stalled body, a client that
//!   stops reading its response;
//! - **connection cap**: at most this many connections are open; a new one past the cap (or
//!   when the process is out of file descriptors) closes the connection that has waited longest
//!   without a request in progress, so a prober's fresh connection is always served. When every
//!   connection is busy with a request, the new one is closed.
//!
//! Each request carries its client's address as `axum::extract::ConnectInfo<SocketAddr>`.
//!
//! [`serve_until`] also shuts down gracefully: once its shutdown future completes it stops
//! accepting, lets every request in progress finish and be answered (closing idle keep-alive
//! connections at once), and returns when all are done or the grace period is over.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// The bounds on the server's connections; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServeLimits {
    /// How long a request's head (and a metric post's body) may take to arrive.
    pub header_timeout: Duration,
    /// How long a connection may stay without traffic.
    pub idle_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
}

/// The variables that set [`ServeLimits`].
pub const HEADER_TIMEOUT_VAR: &str = "MLSPEC_STEP_HEADER_TIMEOUT";
/// See [`HEADER_TIMEOUT_VAR`].
pub const IDLE_TIMEOUT_VAR: &str = "MLSPEC_STEP_IDLE_TIMEOUT";
/// See [`HEADER_TIMEOUT_VAR`].
pub const MAX_CONNECTIONS_VAR: &str = "MLSPEC_STEP_MAX_CONNECTIONS";

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_connections: 512,
        }
    }
}

impl ServeLimits {
    /// The defaults, overridden by `MLSPEC_STEP_HEADER_TIMEOUT`, `MLSPEC_STEP_IDLE_TIMEOUT`
    /// (seconds) and `MLSPEC_STEP_MAX_CONNECTIONS`; a bad value is an error naming the variable.
    pub fn from_env() -> Result<ServeLimits, String> {
        let defaults = ServeLimits::default();
        let seconds = |var: &str, default: Duration| {
            from_env(var, default, |text| {
                text.parse::<f64>()
                    .ok()
                    .filter(|s| (0.001..=86_400.0).contains(s))
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| "a number of seconds between 0.001 and 86400".to_owned())
            })
        };
        Ok(ServeLimits {
            header_timeout: seconds(HEADER_TIMEOUT_VAR, defaults.header_timeout)?,
            idle_timeout: seconds(IDLE_TIMEOUT_VAR, defaults.idle_timeout)?,
            max_connections: from_env(MAX_CONNECTIONS_VAR, defaults.max_connections, |text| {
                text.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| "a whole number between 1 and 1000000".to_owned())
            })?,
        })
    }
}

fn from_env<T>(var: &str, default: T, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, String> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{var} is not UTF-8")),
        Ok(text) => parse(text.trim()).map_err(|expected| format!("{var}=`{text}` is not {expected}")),
    }
}

/// Serves `router` on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, router: Router, limits: ServeLimits) {
    serve_until(listener, router, limits, std::future::pending(), Duration::MAX).await;
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// (at most `grace`) for the requests in progress to be answered.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let router = router.layer(axum::Extension(BodyTimeout(limits.header_timeout)));
    let connections = Arc::new(Connections::default());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, or a transient failure: free the longest-idle
                // connection and try again (at once when one was freed).
                let pause = if connections.evict_oldest_idle() { 5 } else { 50 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        if connections.len() >= limits.max_connections && !connections.evict_oldest_idle() {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let connection = connections.add();
        tasks.spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            connection,
            connections.clone(),
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ServeLimits,
    connection: Arc<Connection>,
    connections: Arc<Connections>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let busy = connection.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        if let Some(peer) = peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        let router = router.clone();
        let busy = busy.clone();
        busy.in_request.store(true, Ordering::Relaxed);
        async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            busy.in_request.store(false, Ordering::Relaxed);
            response
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, service);
    let mut served = std::pin::pin!(served);
    let idle = || activity.idle_for(limits.idle_timeout, &connection.in_request);
    tokio::select! {
        _ = served.as_mut() => {}
        () = idle() => {}
        () = connection.evicted.notified() => {}
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            // Answer the request in progress, if any, then close.
            served.as_mut().graceful_shutdown();
            tokio::select! {
                _ = served.as_mut() => {}
                () = idle() => {}
            }
        }
    }
    connections.remove(connection.id);
}

/// How long a request body may take to arrive: the header timeout again.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

impl Default for BodyTimeout {
    fn default() -> Self {
        BodyTimeout(ServeLimits::default().header_timeout)
    }
}

/// One open connection, as the cap sees it.
struct Connection {
    id: u64,
    /// True while a request is being answered: such a connection is not evicted.
    in_request: AtomicBool,
    evicted: Notify,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn add(&self) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            in_request: AtomicBool::new(false),
            evicted: Notify::new(),
        });
        self.lock().insert(connection.id, connection.clone());
        connection
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the oldest connection without a request in progress; false when there is none.
    fn evict_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let Some(id) = open
            .values()
            .find(|c| !c.in_request.load(Ordering::Relaxed))
            .map(|c| c.id)
        else {
            return false;
        };
        if let Some(connection) = open.remove(&id) {
            connection.evicted.notify_one();
        }
        true
    }
}

/// When bytes last moved on a connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Completes once nothing moved for `limit` while no request was in progress (a request
    /// being answered — a slow store query — is not idleness).
    async fn idle_for(&self, limit: Duration, in_request: &AtomicBool) {
        loop {
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() < deadline {
                tokio::time::sleep_until(deadline.into()).await;
            } else if in_request.load(Ordering::Relaxed) {
                self.touch();
            } else {
                return;
            }
        }
    }
}

/// A stream that records its traffic in an [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

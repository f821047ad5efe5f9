//! The model servers behind the gateway: where each one is, the pooled HTTP/1 client that
//! talks to it, and a poller that keeps its liveness current.
//!
//! An upstream is `http://HOST:PORT[/PREFIX]`; a request for `/v2/models/m/infer` goes to
//! `PREFIX/v2/models/m/infer`. Connections are kept alive and reused, but dropped after 2 s
//! idle — below the 5 s after which uvicorn (MLServer, MLflow) closes an idle connection, so
//! a request is never sent down a connection the server is closing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::GatewayError;

/// The client every upstream request goes through.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client with a keep-alive pool sized for a busy gateway.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Where a model server answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// `http://host:port`.
    origin: String,
    /// The path prefix, without a trailing `/` (often empty).
    prefix: String,
}

impl Address {
    /// Parses `http://HOST:PORT[/PREFIX]`.
    pub fn parse(text: &str) -> Result<Address, GatewayError> {
        let bad = |why: &str| GatewayError::Config(format!("upstream `{text}` {why}; give http://HOST:PORT[/PREFIX]"));
        let uri: Uri = text.parse().map_err(|_| bad("is not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "is https, which the gateway does not speak to upstreams (put it on a private http address)",
                ));
            }
            _ => return Err(bad("has no http:// scheme")),
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if uri.query().is_some() {
            return Err(bad("has a query"));
        }
        Ok(Address {
            origin: format!("http://{authority}"),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The upstream URI of a request's path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, hyper::http::Error> {
        Ok(format!("{}{}{}", self.origin, self.prefix, path_and_query).parse::<Uri>()?)
    }

    /// `host:port`, for the Host header.
    pub fn authority(&self) -> &str {
        self.origin.trim_start_matches("http://")
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin, self.prefix)
    }
}

/// How the gateway learns whether an upstream is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheck {
    /// `GET PATH` answers 2xx.
    Get(String),
    /// A TCP connection opens.
    Connect,
}

/// An upstream's last known liveness.
#[derive(Debug)]
pub struct Health {
    up: AtomicBool,
    /// Why it is down (or was last down).
    reason: Mutex<Option<String>>,
}

impl Health {
    /// Unknown counts as down until the first check answers.
    pub fn new() -> Health {
        Health {
            up: AtomicBool::new(false),
            reason: Mutex::new(Some("not checked yet".into())),
        }
    }

    /// Whether the last check succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Why it is down, if it is.
    pub fn reason(&self) -> Option<String> {
        if self.is_up() {
            return None;
        }
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn set(&self, result: Result<(), String>) {
        self.up.store(result.is_ok(), Ordering::Relaxed);
        if let (Err(reason), Ok(mut slot)) = (result, self.reason.lock()) {
            *slot = Some(reason);
        }
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

/// Checks once: `Ok` when up, else why not.
pub async fn check(client: &HttpClient, address: &Address, how: &HealthCheck, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        match how {
            HealthCheck::Connect => tokio::net::TcpStream::connect(address.authority())
                .await
                .map(drop)
                .map_err(|e| format!("{address} refuses connections: {e}")),
            HealthCheck::Get(path) => {
                let uri = address.uri(path).map_err(|e| format!("{address}{path}: {e}"))?;
                let request = hyper::Request::get(uri)
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| format!("GET {address}{path} failed: {}", crate::proxy::cause(&e)))?;
                let status = response.status();
                // Drain the body so the connection goes back to the pool.
                let _ = response.into_body().collect().await;
                match status.is_success() {
                    true => Ok(()),
                    false => Err(format!("GET {address}{path} answered {status}")),
                }
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "{address} did not answer its health check within {} ms",
            timeout.as_millis()
        )),
    }
}

/// Keeps `health` current, checking every `interval` until the task is dropped.
pub async fn poll(
    client: HttpClient,
    address: Address,
    how: HealthCheck,
    interval: Duration,
    health: std::sync::Arc<Health>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        health.set(check(&client, &address, &how, interval.max(Duration::from_millis(500))).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_keeps_its_prefix_and_refuses_what_it_cannot_reach() {
        let address = Address::parse("http://127.0.0.1:8080/serving/").unwrap();
        assert_eq!(
            address.uri("/v2/models/m/infer?x=1").unwrap().to_string(),
            "http://127.0.0.1:8080/serving/v2/models/m/infer?x=1"
        );
        assert_eq!(address.authority(), "127.0.0.1:8080");
        for bad in [
            "https://h:1",
            "127.0.0.1:8080",
            "http:///x",
            "http://h:1/?a=b",
            "not a url",
        ] {
            let error = Address::parse(bad).unwrap_err().to_string();
            assert!(error.contains("http://HOST:PORT"), "{bad}: {error}");
        }
    }
}

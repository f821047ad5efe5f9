//! Live monitoring: every answered request becomes a [`Sample`] for the monitor thread, which
//! evaluates the policy's signals over windows of them.

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::route::Route;

/// Room for samples the monitor has not taken yet; past it, samples are dropped and counted.
pub const CAPACITY: usize = 16_384;

/// One answered request, as the monitor sees it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it arrived.
    pub time: DateTime<Utc>,
    /// The route it took.
    pub route: Route,
    /// The status answered.
    pub status: u16,
    /// Time to the answer's last byte.
    pub latency_ms: f64,
    /// Its id.
    pub request_id: String,
    /// The request path (no query).
    pub path: String,
    /// The request's Content-Type.
    pub content_type: Option<String>,
    /// The request body.
    pub input: Option<Bytes>,
    /// The start of the answer (up to 256 KiB).
    pub output: Option<Bytes>,
}

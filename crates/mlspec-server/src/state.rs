//! What a step is and how it is doing: the identity `/varz` reports, the phase the health
//! endpoints answer from, and the metrics the step has reported.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mlspec_spec::values::{Metric, MetricValue};

use crate::history::{History, Refused};
use serde::Serialize;

/// Where a step is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Phase {
    /// The command is being started.
    Starting,
    /// The command runs.
    Running,
    /// The command exited with status 0.
    Finished,
    /// The command failed: a non-zero exit, a signal, or it could not start.
    Failed {
        /// Why, for people.
        reason: String,
    },
    /// The step is stopping (a signal was received); it will not become healthy again.
    ShuttingDown {
        /// Why.
        reason: String,
    },
}

impl Phase {
    /// The phase's name, as `/metrics` and `/ok` report it.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Finished => "finished",
            Phase::Failed { .. } => "failed",
            Phase::ShuttingDown { .. } => "shutting_down",
        }
    }

    /// All phase names, for the `mlspec_step_state` state set.
    pub const NAMES: [&'static str; 5] = ["starting", "running", "finished", "failed", "shutting_down"];

    /// Ready: the step is starting, running or has finished well.
    pub fn is_ready(&self) -> bool {
        matches!(self, Phase::Starting | Phase::Running | Phase::Finished)
    }

    /// Why the step is not ready, when it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Phase::Failed { reason } | Phase::ShuttingDown { reason } => Some(reason),
            _ => None,
        }
    }
}

/// The step's identity, fixed when it starts.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepInfo {
    /// The step's name.
    pub name: String,
    /// The id of the Run that records it.
    pub run_id: String,
    /// The module it runs (`Module/name@version`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Its parameters (secret-looking ones redacted).
    pub params: BTreeMap<String, serde_json::Value>,
    /// The command (secrets in its arguments redacted).
    pub command: Vec<String>,
    /// The host it runs on.
    pub host: String,
    /// Environment variables on the allow-list, secrets redacted.
    pub env: BTreeMap<String, String>,
}

impl StepInfo {
    /// The identity as it may be shown: secrets in the command's arguments, in parameters and
    /// in the environment redacted (see `mlspec_spec::redact`).
    fn redacted(self) -> StepInfo {
        use mlspec_spec::redact::{MASK, is_secret_variable, redact_args, redact_env};
        let params = self
            .params
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::String(text) => serde_json::Value::String(redact_env(&name, &text)),
                    serde_json::Value::Number(_) if is_secret_variable(&name) => MASK.into(),
                    other => other,
                };
                (name, value)
            })
            .collect();
        let env = self
            .env
            .into_iter()
            .map(|(name, value)| {
                let value = redact_env(&name, &value);
                (name, value)
            })
            .collect();
        StepInfo {
            command: redact_args(&self.command),
            params,
            env,
            ..self
        }
    }
}

/// A reported metric's latest value.
#[derive(Clone, Debug, PartialEq)]
pub struct Latest {
    /// The value.
    pub value: MetricValue,
    /// The step it was reported for.
    pub step: Option<u64>,
    /// How many times the key was reported.
    pub count: u64,
}

/// Everything about a running step, shared by the endpoints and the process that runs it.
#[derive(Debug)]
pub struct StepState {
    /// Identity.
    pub info: StepInfo,
    /// When it started.
    pub started_at: DateTime<Utc>,
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    child_pid: Option<u32>,
    exit_code: Option<i32>,
    ended: Option<Instant>,
    latest: BTreeMap<String, Latest>,
    /// What the Run will record: bounded, see [`History`].
    history: History,
    /// Bumped by every change a `/metrics` page shows.
    version: u64,
    /// Rendered pages by format: (version, when, page).
    pages: BTreeMap<u8, (u64, Instant, Bytes)>,
}

impl StepState {
    /// A step that is starting now. Its identity is kept with secrets redacted: `/varz` shows it.
    pub fn new(info: StepInfo) -> StepState {
        StepState {
            info: info.redacted(),
            started_at: Utc::now(),
            started: Instant::now(),
            inner: Mutex::new(Inner {
                phase: Phase::Starting,
                child_pid: None,
                exit_code: None,
                ended: None,
                latest: BTreeMap::new(),
                history: History::default(),
                version: 0,
                pages: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the data half-written: every update is one assignment.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.lock().phase.clone()
    }

    /// Moves to `phase`; once shutting down, a step stays so.
    pub fn set_phase(&self, phase: Phase) {
        let mut inner = self.lock();
        if !matches!(inner.phase, Phase::ShuttingDown { .. }) {
            if !matches!(phase, Phase::Starting | Phase::Running) {
                inner.ended.get_or_insert_with(Instant::now);
            }
            inner.phase = phase;
            inner.version += 1;
        }
    }

    /// Records that the command started as process `pid`.
    pub fn started(&self, pid: u32) {
        let mut inner = self.lock();
        inner.child_pid = Some(pid);
        inner.version += 1;
        if inner.phase == Phase::Starting {
            inner.phase = Phase::Running;
        }
    }

    /// Records the command's exit code.
    pub fn exited(&self, code: Option<i32>, phase: Phase) {
        {
            let mut inner = self.lock();
            inner.exit_code = code;
            inner.version += 1;
        }
        self.set_phase(phase);
    }

    /// The command's process id, while known.
    pub fn child_pid(&self) -> Option<u32> {
        self.lock().child_pid
    }

    /// The command's exit code, once it exited normally.
    pub fn exit_code(&self) -> Option<i32> {
        self.lock().exit_code
    }

    /// Seconds since the step started (frozen when it ended).
    pub fn duration_seconds(&self) -> f64 {
        let end = self.lock().ended.unwrap_or_else(Instant::now);
        end.duration_since(self.started).as_secs_f64()
    }

    /// Seconds since the step started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Records reported metrics, in order, until one is refused: the number recorded, or that
    /// number and why the next was refused (the rest were not looked at).
    pub fn report(&self, metrics: Vec<Metric>) -> Result<usize, (usize, Refused)> {
        let count = metrics.len();
        let mut inner = self.lock();
        inner.version += 1;
        for (recorded, metric) in metrics.into_iter().enumerate() {
            let key = metric.key.as_str().to_owned();
            let (value, step) = (metric.value.clone(), metric.step);
            inner.history.record(metric).map_err(|refused| (recorded, refused))?;
            let entry = inner.latest.entry(key).or_insert_with(|| Latest {
                value: value.clone(),
                step,
                count: 0,
            });
            entry.value = value;
            entry.step = step;
            entry.count += 1;
        }
        Ok(count)
    }

    /// The page for `slot` (a format), rendered anew when the state changed or the cached one is
    /// older than `max_age` (its process figures age); concurrent scrapes share one rendering.
    pub fn page(&self, slot: u8, max_age: Duration, render: impl FnOnce() -> String) -> Bytes {
        let version = {
            let inner = self.lock();
            if let Some((v, at, page)) = inner.pages.get(&slot)
                && *v == inner.version
                && at.elapsed() < max_age
            {
                return page.clone();
            }
            inner.version
        };
        let page = Bytes::from(render());
        self.lock().pages.insert(slot, (version, Instant::now(), page.clone()));
        page
    }

    /// The latest value of every reported metric, by key.
    pub fn latest(&self) -> BTreeMap<String, Latest> {
        self.lock().latest.clone()
    }

    /// The metric history for the Run: at most one value per key and step, in key order.
    pub fn history(&self) -> Vec<Metric> {
        self.lock().history.metrics()
    }
}

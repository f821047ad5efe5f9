//! What the watch retains between windows: the samples (with the features and predictions read
//! from their bodies), the upstream health checks, and the predictions awaiting labels — each
//! bounded.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::protocol::{self, Body, Protocol, Scalar, Table};
use crate::route::Route;

use super::Sample;

/// Samples retained at most, by default; past it the oldest are dropped (and counted).
pub const MAX_SAMPLES: usize = 200_000;
/// Feature and prediction values retained at most (over all samples); past it the oldest
/// samples are dropped (and counted).
pub const MAX_VALUES: usize = 4_000_000;
/// Predictions awaiting a label, at most; past it the oldest are forgotten.
pub const MAX_PENDING: usize = 1_000_000;
/// How long a prediction waits for its label.
pub const PENDING_MS: i64 = 24 * 3_600_000;

/// A body read for the monitor.
#[derive(Clone, Debug)]
pub(super) enum Read {
    /// Not needed by the policy, or the request carried no body.
    Absent,
    Table(Table),
    /// Why it could not be read.
    Unreadable(String),
}

/// One retained sample.
#[derive(Clone, Debug)]
pub(super) struct Record {
    pub route: Route,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: String,
    pub inputs: Read,
    pub outputs: Read,
}

/// The columns of a body the policy needs; the others are not retained.
#[derive(Clone, Debug, Default)]
pub(super) struct Wanted {
    pub names: Vec<String>,
    /// The body's first column too (the prediction a performance signal names no output for).
    pub first: bool,
}

impl Wanted {
    fn any(&self) -> bool {
        self.first || !self.names.is_empty()
    }

    /// The table with only the wanted columns, in its order.
    fn keep(&self, mut table: Table) -> Table {
        let mut index = 0;
        table.columns.retain(|column| {
            let keep = (self.first && index == 0) || self.names.contains(&column.name);
            index += 1;
            keep
        });
        table
    }
}

/// How bodies are read.
#[derive(Clone, Debug)]
pub(super) struct Reader {
    pub inputs: Wanted,
    pub outputs: Wanted,
    /// Forced protocol; else detected from the path, JSON when the path says nothing.
    pub protocol: Option<Protocol>,
    /// Names of a single 2-D input's columns.
    pub columns: Vec<String>,
}

impl Reader {
    pub(super) fn record<'a>(&self, sample: &'a Sample) -> Record {
        let protocol = self
            .protocol
            .or_else(|| Protocol::detect(&sample.path))
            .unwrap_or(Protocol::Json);
        let body = |bytes: &'a Option<axum::body::Bytes>| bytes.as_deref().filter(|b| !b.is_empty());
        let inputs = match body(&sample.input) {
            Some(bytes) if self.inputs.any() => {
                let body = Body {
                    bytes,
                    content_type: sample.content_type.as_deref(),
                    inference_header_length: sample.input_header_length,
                };
                read(protocol::inputs(protocol, &body, &self.columns), &self.inputs)
            }
            _ => Read::Absent,
        };
        let outputs = match body(&sample.output) {
            Some(bytes) if self.outputs.any() && sample.status < 300 => {
                let body = Body {
                    inference_header_length: sample.output_header_length,
                    ..Body::new(bytes)
                };
                read(protocol::outputs(protocol, &body), &self.outputs)
            }
            _ => Read::Absent,
        };
        Record {
            route: sample.route,
            status: sample.status,
            latency_ms: sample.latency_ms,
            request_id: sample.request_id.clone(),
            inputs,
            outputs,
        }
    }
}

impl Record {
    /// The values it holds, for the retention budget.
    pub(super) fn values(&self) -> usize {
        let values = |read: &Read| match read {
            Read::Table(table) => table.rows * table.columns.len(),
            _ => 0,
        };
        1 + values(&self.inputs) + values(&self.outputs)
    }
}

fn read(table: Result<Table, protocol::ExtractError>, wanted: &Wanted) -> Read {
    match table {
        Ok(table) => Read::Table(wanted.keep(table)),
        Err(error) => Read::Unreadable(error.to_string()),
    }
}

/// Items keyed by time (ms since the epoch), oldest first: at most `limit` of them, weighing
/// at most `budget` together.
#[derive(Clone, Debug)]
pub(super) struct Timeline<T> {
    items: BTreeMap<(i64, u64), (T, usize)>,
    next: u64,
    limit: usize,
    budget: usize,
    weight: usize,
    /// Dropped because a bound was reached.
    pub dropped: u64,
}

impl<T> Timeline<T> {
    pub(super) fn new(limit: usize, budget: usize) -> Self {
        Timeline {
            items: BTreeMap::new(),
            next: 0,
            limit: limit.max(1),
            budget,
            weight: 0,
            dropped: 0,
        }
    }

    pub(super) fn push(&mut self, time: i64, item: T, weight: usize) {
        self.items.insert((time, self.next), (item, weight));
        self.next += 1;
        self.weight = self.weight.saturating_add(weight);
        while self.items.len() > self.limit || (self.weight > self.budget && self.items.len() > 1) {
            if let Some((_, (_, weight))) = self.items.pop_first() {
                self.weight -= weight;
                self.dropped += 1;
            }
        }
    }

    /// The items in `[start, end)`.
    pub(super) fn between(&self, start: i64, end: i64) -> impl Iterator<Item = &T> {
        self.items.range((start, 0)..(end, 0)).map(|(_, (item, _))| item)
    }

    /// The time of the first item at or after `time`.
    pub(super) fn first_from(&self, time: i64) -> Option<i64> {
        self.items.range((time, 0)..).next().map(|((t, _), _)| *t)
    }

    /// Forgets the items before `time`.
    pub(super) fn forget_before(&mut self, time: i64) {
        let kept = self.items.split_off(&(time, 0));
        let forgotten = std::mem::replace(&mut self.items, kept);
        self.weight -= forgotten.values().map(|(_, weight)| weight).sum::<usize>();
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }
}

/// A single-row prediction, waiting for its label.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub time: i64,
    pub route: Route,
    /// Each output column's value.
    pub prediction: Vec<(String, Scalar)>,
}

/// A labelled prediction, at the time it counts for in each window group.
#[derive(Clone, Debug)]
pub(super) struct Labelled {
    pub route: Route,
    pub prediction: Vec<(String, Scalar)>,
    pub label: Scalar,
    /// Per window group, the time the label counts at.
    pub counts_at: Vec<i64>,
}

impl Labelled {
    /// The prediction of `output` (the first output when `None`).
    pub(super) fn predicted(&self, output: Option<&str>) -> Option<&Scalar> {
        match output {
            Some(name) => self.prediction.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            None => self.prediction.first().map(|(_, v)| v),
        }
    }
}

/// Predictions by request id (bounded by [`MAX_PENDING`] and [`PENDING_MS`]), and the labels
/// received for them.
#[derive(Clone, Debug, Default)]
pub(super) struct Feedback {
    pending: HashMap<String, Pending>,
    order: VecDeque<(i64, String)>,
    /// Labels by request id.
    pub labelled: BTreeMap<String, Labelled>,
}

impl Feedback {
    /// Keeps a single-row prediction of `record` (answered at `time`) for a label to come.
    pub(super) fn expect(&mut self, time: i64, record: &Record) {
        let Read::Table(table) = &record.outputs else {
            return;
        };
        if table.rows != 1 || record.request_id.is_empty() {
            return;
        }
        let prediction = table
            .columns
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.values.first()?.clone())))
            .collect();
        self.pending.insert(
            record.request_id.clone(),
            Pending {
                time,
                route: record.route,
                prediction,
            },
        );
        self.order.push_back((time, record.request_id.clone()));
        self.forget_stale(time);
    }

    /// Forgets the predictions older than a day before `now`, or beyond the bound.
    fn forget_stale(&mut self, now: i64) {
        while let Some((time, id)) = self.order.front() {
            let stale = *time < now.saturating_sub(PENDING_MS) || self.order.len() > MAX_PENDING;
            if !stale {
                break;
            }
            if self.pending.get(id).is_some_and(|p| p.time == *time) {
                self.pending.remove(id);
            }
            self.order.pop_front();
        }
    }

    pub(super) fn pending(&self, request_id: &str) -> Option<&Pending> {
        self.pending.get(request_id)
    }

    /// Forgets the labels that count before `time` in every group.
    pub(super) fn forget_labels_before(&mut self, time: i64) {
        self.labelled.retain(|_, l| l.counts_at.iter().any(|t| *t >= time));
    }
}

//! Live monitoring: every answered request becomes a [`Sample`] for the monitor thread, which
//! evaluates the policy's signals over windows of them.
//!
//! The evaluation itself is [`Watch`]: a MonitoringPolicy compiled against the training profile,
//! fed samples, health checks and labels, and asked for the windows that closed. It is pure and
//! synchronous — it reads no clock, only the times it is given — so the gateway's monitor
//! thread and `mlspec monitor LOG` (a recorded log replayed) get the same reports from the same
//! requests.
//!
//! # Windows
//!
//! Each signal has a `window` and an `interval` (by default the window: tumbling windows; a
//! shorter interval gives sliding ones). Windows **end on multiples of the interval since the
//! Unix epoch** — a `1m` signal closes at every whole minute, a `1s` one on whole seconds — and
//! the window ending at `E` holds the samples whose time (the request's arrival) is in
//! `[E − window, E)`. Signals with the same window and interval share one report per route per
//! end; [`Watch::evaluate`]`(now)` returns every window that ended at or before `now`, ordered
//! by end, then route name. The first window to close is the first end after the first time the
//! watch is given (a sample's, a health check's, or `evaluate`'s `now`); until then
//! [`Watch::next_due`] is in the distant past, so a caller's first `evaluate` starts the clock.
//! After three windows in a row in which nothing happened (no request, no health check), the
//! watch jumps to the next window with something in it, or to the last one due: an idle night
//! or a gap in a replayed log gives a few empty reports, not one per interval of it.
//!
//! Samples are kept only as long as the longest window needs them — with only the feature and
//! output columns the signals read — and at most [`MAX_SAMPLES`] of them (by default;
//! [`Watch::retain_at_most`]) holding at most [`MAX_VALUES`] values: past that the oldest are
//! dropped and counted ([`Watch::dropped`]), so memory stays bounded however heavy the traffic.
//! A sample arriving for a window already evaluated is not counted in it.
//!
//! # Routes
//!
//! A signal with `route: primary` or `route: canary` is evaluated on that route's samples;
//! `route: all` on every sample together, reported as route `all`. A signal without `route` is
//! evaluated on each route separately: `primary`, `canary`, and `shadow` (the canary's answers
//! to mirrored requests — in shadow mode, the only traffic the new package gets). A route is
//! reported for a window only when it had samples in it, except `primary`, which is reported
//! every window: an idle window still says whether the upstream was live, and lists its other
//! signals as skipped, "no requests".
//!
//! # Signals and metrics (the default first)
//!
//! - **liveness** — `up`: the share (0–1) of the window's health checks of the route's upstream
//!   that found it up ([`Watch::health`]). Skipped when there were none. `minRequests` does not
//!   apply: it counts requests, and liveness counts checks.
//! - **latency** — `p99_latency_ms`, `p50_latency_ms`, `p90_latency_ms`, `p95_latency_ms`,
//!   `p999_latency_ms`: exact quantiles of the window's latencies by nearest rank (the smallest
//!   latency with at least that share of the requests at or below it; no interpolation);
//!   `mean_latency_ms`, `max_latency_ms`. Evidence: the 5 slowest request ids.
//! - **errorRate** — `error_rate`: the share of requests answered 500–599; `client_error_rate`:
//!   400–498. 499 (the client left before the answer) is neither. Evidence: the failed
//!   requests' ids (at most 20).
//! - **drift** and **skew** — the request feature `feature` against the baseline DataProfile:
//!   `jsd` (Jensen–Shannon divergence over the baseline's deciles; the default for integer and
//!   float features), `linf` (L∞ distance of category shares; the default for string and
//!   boolean features), `psi` and `ks` (numeric features only), `missing` (the absolute change
//!   of the share of missing values). The window's values are typed as the baseline types the
//!   feature — a JSON `41.0` of an integer feature is the integer 41 (rounded to the nearest
//!   whole number), a numeric text is a number, a value that cannot be read as the type is
//!   missing — profiled, and compared as `mlspec data drift` compares. Evidence: the move of the
//!   mean (`mean 41.2 → 63.0`) or of the missing share, new categories. Bodies are read per
//!   protocol ([`crate::protocol`], by the request path; plain JSON when the path names none),
//!   the policy's `columns` naming the columns of a single unnamed 2-D input; unreadable bodies
//!   are counted, never an error, and a window with no readable feature is skipped, saying why.
//! - **predictionDrift** — the same metrics, on the answer's output `feature` (as
//!   [`crate::protocol::outputs`] names it; answers are read from 2xx responses only). It is compared with the baseline's column of that
//!   name when the baseline has one; otherwise with a **reference window**: the route's first
//!   window with at least `minRequests` (or one) requests, reported as skipped, "reference
//!   window".
//! - **performance** — `accuracy`, `precision`, `recall`, `f1` (binary: the positive class is
//!   `1`, `true` or `"1"`), `mae`, `rmse`: the labelled predictions of the window, the
//!   prediction being the answer's output `feature`, or its first output. `minRequests` counts
//!   labels here; skipped "no labels yet" without any.
//! - **custom** — refused: the gateway cannot compute it.
//!
//! # Labels
//!
//! Ground truth arrives late ([`Watch::label`]). The watch keeps the prediction of every answered
//! single-row request with a request id (at most [`MAX_PENDING`], at most a day) to join labels
//! to. A label counts in the window its request fell in only if that window has not been
//! evaluated yet; otherwise it counts in the window in which the label arrived. So a window's
//! performance is **performance over the labels received in time for it**, and no window is
//! ever revised after it was reported. A second label for a request replaces the first.
//!
//! # Rollback trigger
//!
//! The policy's `rollback.trigger` is judged on the `primary` route's reports (a trigger signal
//! of route `canary` or `all` is refused). At each window end where any trigger signal was
//! reported on the primary route, the trigger holds when `any` (or `all`) of its signals were
//! breached in their latest report — a skipped signal is not breached. When it has held at
//! `consecutive` such ends in a row, that end's primary report has `rollback_due`; the count
//! then starts again.

mod distribution;
mod measure;
mod policy;
mod store;
mod trigger;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use mlspec_data::profile::Profiler;
use mlspec_spec::kinds::{
    DataProfileSpec, MonitoringPolicySpec, MonitoringReportSpec, SignalObservation, SignalRoute, SkippedSignal,
};
use mlspec_spec::newtypes::{Name, ShortText, Text};
use mlspec_spec::{Kind, Ref};

use crate::protocol::{Protocol, Scalar};
use crate::route::Route;

use distribution::Reference;
use measure::Outcome;
use policy::{Check, Distance, Measure, Side};
use store::{Feedback, Labelled, Read, Reader, Record, Timeline, Wanted};
use trigger::Trigger;

pub use policy::Problem;
pub use store::{MAX_PENDING, MAX_SAMPLES, MAX_VALUES, PENDING_MS};

/// Room for samples the monitor has not taken yet; past it, samples are dropped and counted.
pub const CAPACITY: usize = 16_384;

/// Empty windows in a row after which a window group skips ahead.
const MAX_EMPTY_RUN: u32 = 3;

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
    /// The request's `Inference-Header-Content-Length` (the Open Inference Protocol's binary
    /// tensors follow that much JSON).
    pub input_header_length: Option<usize>,
    /// The answer's.
    pub output_header_length: Option<usize>,
}

impl Sample {
    /// The bytes of the bodies it holds (what it costs while it waits in a queue).
    pub fn body_bytes(&self) -> u64 {
        let length = |body: &Option<Bytes>| body.as_ref().map_or(0, |b| b.len() as u64);
        length(&self.input) + length(&self.output)
    }
}

/// One evaluated window of one route.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowReport {
    /// `primary`, `canary`, `shadow` or `all`.
    pub route: String,
    /// The report; `package`, `source` and `rollout` are the caller's to fill in.
    pub report: MonitoringReportSpec,
    /// The names of the breached signals.
    pub breached: Vec<String>,
    /// The rollback trigger has held for `consecutive` window ends, as of this (primary) report.
    pub rollback_due: bool,
}

/// Whose samples a report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Scope {
    Primary,
    Canary,
    Shadow,
    All,
}

impl Scope {
    const EACH: [Scope; 4] = [Scope::All, Scope::Canary, Scope::Primary, Scope::Shadow];

    /// As reports name it (and order by it).
    fn name(self) -> &'static str {
        match self {
            Scope::Primary => Route::Primary.name(),
            Scope::Canary => Route::Canary.name(),
            Scope::Shadow => Route::Shadow.name(),
            Scope::All => "all",
        }
    }

    fn covers(self, route: Route) -> bool {
        match self {
            Scope::Primary => route == Route::Primary,
            Scope::Canary => route == Route::Canary,
            Scope::Shadow => route == Route::Shadow,
            Scope::All => true,
        }
    }

    /// Whether a signal of this `route` is evaluated on this scope.
    fn evaluates(self, route: Option<SignalRoute>) -> bool {
        match route {
            None => self != Scope::All,
            Some(SignalRoute::Primary) => self == Scope::Primary,
            Some(SignalRoute::Canary) => self == Scope::Canary,
            Some(SignalRoute::All) => self == Scope::All,
        }
    }
}

/// Signals evaluated together: the same window and interval.
#[derive(Clone, Debug)]
struct Group {
    window_ms: i64,
    interval_ms: i64,
    /// Indexes into the checks.
    checks: Vec<usize>,
    /// The next window end (valid once the clock started).
    next_end: i64,
    /// The last end evaluated (`i64::MIN` before the first).
    last_end: i64,
    /// Empty windows evaluated in a row.
    empty_run: u32,
}

/// A compiled MonitoringPolicy, fed samples, health checks and labels.
#[derive(Clone, Debug)]
pub struct Watch {
    policy: Ref,
    checks: Vec<Check>,
    groups: Vec<Group>,
    reader: Reader,
    /// Per check, the baseline's profile of its feature, when it is compared with the baseline.
    baselines: Vec<Option<Reference>>,
    /// Reference windows of prediction drift without a baseline column, per check and scope.
    references: HashMap<(usize, Scope), Reference>,
    samples: Timeline<Record>,
    checks_up: Timeline<(Route, bool)>,
    feedback: Feedback,
    trigger: Option<Trigger>,
    started: bool,
}

impl Watch {
    /// Compiles the policy. `baseline`: the training DataProfile drift and skew signals compare
    /// with (and prediction drift, when it has the output's column). Refuses, with every problem
    /// located by JSON pointer, a drift or skew signal whose feature the baseline lacks or with
    /// no baseline at all, a metric the signal type does not know, a `custom` signal, a window
    /// or interval it cannot use, and a rollback trigger on signals not judged on the primary
    /// route.
    pub fn new(
        policy_name: &str,
        policy: &MonitoringPolicySpec,
        baseline: Option<&DataProfileSpec>,
    ) -> Result<Watch, Vec<Problem>> {
        let name = Name::new(policy_name);
        let checks = policy::compile(policy, baseline);
        let (name, checks) = match (name, checks) {
            (Ok(name), Ok(checks)) => (name, checks),
            (name, checks) => {
                let mut problems = checks.err().unwrap_or_default();
                if let Err(why) = name {
                    problems.insert(
                        0,
                        Problem {
                            pointer: "/metadata/name".into(),
                            message: format!("`{policy_name}` is not a policy name: {why}"),
                        },
                    );
                }
                return Err(problems);
            }
        };
        let baselines = baseline_references(&checks, baseline)?;
        let (inputs, outputs) = wanted_columns(&checks);
        Ok(Watch {
            policy: Ref::named(Kind::MonitoringPolicy, name),
            groups: groups(&checks),
            reader: Reader {
                inputs,
                outputs,
                protocol: None,
                columns: policy.columns.iter().map(|c| c.as_str().to_owned()).collect(),
            },
            baselines,
            references: HashMap::new(),
            samples: Timeline::new(MAX_SAMPLES, MAX_VALUES),
            checks_up: Timeline::new(MAX_SAMPLES, MAX_SAMPLES),
            feedback: Feedback::default(),
            trigger: policy.rollback.as_ref().map(|r| Trigger::new(&r.trigger)),
            started: false,
            checks,
        })
    }

    /// Reads every body as `protocol` instead of detecting it from the path.
    pub fn with_protocol(mut self, protocol: Protocol) -> Watch {
        self.reader.protocol = Some(protocol);
        self
    }

    /// Keeps at most `samples` samples (and as many health checks); the oldest are dropped.
    pub fn retain_at_most(mut self, samples: usize) -> Watch {
        self.samples = Timeline::new(samples, MAX_VALUES);
        self.checks_up = Timeline::new(samples, samples);
        self
    }

    /// Samples dropped because more were retained than the bound allows.
    pub fn dropped(&self) -> u64 {
        self.samples.dropped
    }

    /// Samples retained now.
    pub fn retained(&self) -> usize {
        self.samples.len()
    }

    /// Takes an answered request: its features and predictions are read now (unreadable
    /// bodies are counted in the windows' skip reasons, never an error).
    pub fn add(&mut self, sample: &Sample) {
        let time = sample.time.timestamp_millis();
        self.start(time);
        let record = self.reader.record(sample);
        if self.has_performance() {
            self.feedback.expect(time, &record);
        }
        let weight = record.values();
        self.samples.push(time, record, weight);
    }

    /// Takes an upstream health check's result, for liveness.
    pub fn health(&mut self, route: Route, up: bool, at: DateTime<Utc>) {
        let time = at.timestamp_millis();
        self.start(time);
        self.checks_up.push(time, (route, up), 1);
    }

    /// Takes a request's ground truth, received at `at`; false when no retained prediction has
    /// that id (unknown, forgotten, not a single-row answer, or no performance signal).
    pub fn label(&mut self, request_id: &str, label: Scalar, at: DateTime<Utc>) -> bool {
        let Some(pending) = self.feedback.pending(request_id) else {
            return false;
        };
        let at = at.timestamp_millis();
        let counts_at = self
            .groups
            .iter()
            .map(|g| {
                if pending.time >= g.last_end {
                    pending.time
                } else {
                    at.max(g.last_end)
                }
            })
            .collect();
        let labelled = Labelled {
            route: pending.route,
            prediction: pending.prediction.clone(),
            label,
            counts_at,
        };
        self.feedback.labelled.insert(request_id.to_owned(), labelled);
        true
    }

    /// When the next window closes (the distant past before the watch was given any time).
    pub fn next_due(&self) -> DateTime<Utc> {
        if !self.started {
            return DateTime::<Utc>::MIN_UTC;
        }
        self.groups
            .iter()
            .map(|g| g.next_end)
            .min()
            .map_or(DateTime::<Utc>::MAX_UTC, time_of)
    }

    /// Every window that closed at or before `now`, by end time, then route name.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> Vec<WindowReport> {
        let now = now.timestamp_millis();
        self.start(now);
        let mut reports = Vec::new();
        while let Some(end) = self.groups.iter().map(|g| g.next_end).min().filter(|end| *end <= now) {
            let mut at_end = Vec::new();
            for g in 0..self.groups.len() {
                if self.groups[g].next_end == end {
                    at_end.extend(self.evaluate_group(g, end));
                    self.advance(g, end, now);
                }
            }
            at_end.sort_by(|a, b| a.route.cmp(&b.route));
            if let Some(trigger) = &mut self.trigger {
                trigger.judge(&mut at_end);
            }
            reports.extend(at_end);
        }
        self.forget_old();
        reports
    }

    /// Starts the windows' clock at the first time given.
    fn start(&mut self, time: i64) {
        if self.started {
            return;
        }
        self.started = true;
        for group in &mut self.groups {
            group.next_end = end_after(time, group.interval_ms);
        }
    }

    fn has_performance(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.measure, Measure::Performance { .. }))
    }

    /// Moves a group past `end`, skipping ahead after a run of empty windows.
    fn advance(&mut self, g: usize, end: i64, now: i64) {
        let group = &self.groups[g];
        let start = end.saturating_sub(group.window_ms);
        let empty =
            self.samples.between(start, end).next().is_none() && self.checks_up.between(start, end).next().is_none();
        let interval = group.interval_ms;
        let empty_run = if empty { group.empty_run.saturating_add(1) } else { 0 };
        let mut next = end.saturating_add(interval);
        if empty_run >= MAX_EMPTY_RUN {
            let last_due = now.div_euclid(interval).saturating_mul(interval);
            let first_event = [self.samples.first_from(end), self.checks_up.first_from(end)]
                .into_iter()
                .flatten()
                .min();
            let wanted = first_event.map_or(last_due, |t| end_after(t, interval).min(last_due));
            next = next.max(wanted);
        }
        let group = &mut self.groups[g];
        group.empty_run = empty_run;
        group.last_end = end;
        group.next_end = next;
    }

    /// Forgets what no window still to be evaluated needs.
    fn forget_old(&mut self) {
        let Some(horizon) = self.groups.iter().map(|g| g.next_end.saturating_sub(g.window_ms)).min() else {
            return;
        };
        self.samples.forget_before(horizon);
        self.checks_up.forget_before(horizon);
        self.feedback.forget_labels_before(horizon);
    }

    /// The reports of one group's window ending at `end`, one per scope that has something.
    fn evaluate_group(&mut self, g: usize, end: i64) -> Vec<WindowReport> {
        let group = &self.groups[g];
        let start = end.saturating_sub(group.window_ms);
        let window = Window { start, end };
        let all: Vec<&Record> = self.samples.between(start, end).collect();
        let mut evaluator = Evaluator {
            policy: &self.policy,
            checks: &self.checks,
            baselines: &self.baselines,
            references: &mut self.references,
        };
        let mut reports = Vec::new();
        for scope in Scope::EACH {
            let checks: Vec<usize> = group
                .checks
                .iter()
                .copied()
                .filter(|c| scope.evaluates(self.checks[*c].route))
                .collect();
            let records: Vec<&Record> = all.iter().copied().filter(|r| scope.covers(r.route)).collect();
            if checks.is_empty() || (scope != Scope::Primary && records.is_empty()) {
                continue;
            }
            let evidence = Evidence {
                records,
                checks_up: self
                    .checks_up
                    .between(start, end)
                    .filter(|(route, _)| scope.covers(*route))
                    .map(|(_, up)| *up)
                    .collect(),
                labelled: self
                    .feedback
                    .labelled
                    .values()
                    .filter(|l| scope.covers(l.route) && l.counts_at.get(g).is_some_and(|t| (start..end).contains(t)))
                    .collect(),
            };
            reports.push(evaluator.report(&window, scope, &checks, &evidence));
        }
        reports
    }
}

/// A window of a group.
struct Window {
    start: i64,
    end: i64,
}

/// What a scope's window holds.
struct Evidence<'a> {
    records: Vec<&'a Record>,
    checks_up: Vec<bool>,
    labelled: Vec<&'a Labelled>,
}

/// The parts of a watch that evaluate checks.
struct Evaluator<'a> {
    policy: &'a Ref,
    checks: &'a [Check],
    baselines: &'a [Option<Reference>],
    references: &'a mut HashMap<(usize, Scope), Reference>,
}

impl Evaluator<'_> {
    fn report(&mut self, window: &Window, scope: Scope, checks: &[usize], evidence: &Evidence) -> WindowReport {
        let mut signals = Vec::new();
        let mut skipped = Vec::new();
        for &c in checks {
            let name = self.checks[c].name.clone();
            match self.outcome(c, scope, evidence) {
                Outcome::Observed {
                    value,
                    samples,
                    examples,
                } => {
                    let threshold = self.checks[c].threshold.clone();
                    signals.push(SignalObservation {
                        breached: threshold.op.holds(value, threshold.value),
                        name,
                        value,
                        threshold,
                        samples: Some(samples),
                        examples: examples.iter().filter_map(|e| text(e)).collect(),
                    });
                }
                Outcome::Skipped(reason) => {
                    if let Some(reason) = text(&reason).or_else(|| text("skipped")) {
                        skipped.push(SkippedSignal { name, reason });
                    }
                }
            }
        }
        WindowReport {
            route: scope.name().to_owned(),
            breached: signals
                .iter()
                .filter(|s| s.breached)
                .map(|s| s.name.as_str().to_owned())
                .collect(),
            report: MonitoringReportSpec {
                policy: self.policy.clone(),
                package: None,
                route: ShortText::new(scope.name()).ok(),
                source: None,
                rollout: None,
                window_start: time_of(window.start),
                window_end: time_of(window.end),
                requests: Some(evidence.records.len() as u64),
                signals,
                skipped,
                actions: Vec::new(),
            },
            rollback_due: false,
        }
    }

    /// One check over one scope's window.
    fn outcome(&mut self, c: usize, scope: Scope, evidence: &Evidence) -> Outcome {
        let checks = self.checks;
        let check = &checks[c];
        let records = evidence.records.as_slice();
        let too_few_requests = || too_few("requests", records.len(), check.min_requests);
        match &check.measure {
            Measure::Liveness => measure::liveness(&evidence.checks_up),
            Measure::Performance { output, metric } => match evidence.labelled.len() {
                0 => Outcome::Skipped("no labels yet".into()),
                labels => too_few("labels", labels, check.min_requests)
                    .unwrap_or_else(|| measure::performance(&evidence.labelled, output.as_deref(), *metric)),
            },
            Measure::Latency(statistic) => too_few_requests().unwrap_or_else(|| measure::latency(records, *statistic)),
            Measure::Errors(failures) => too_few_requests().unwrap_or_else(|| measure::errors(records, *failures)),
            Measure::Distribution {
                feature, side, metric, ..
            } => too_few_requests().unwrap_or_else(|| self.distribution(c, scope, feature, *side, *metric, records)),
        }
    }

    fn distribution(
        &mut self,
        c: usize,
        scope: Scope,
        feature: &str,
        side: Side,
        metric: Option<Distance>,
        records: &[&Record],
    ) -> Outcome {
        let values = match values_of(records, feature, side, metric == Some(Distance::Missing)) {
            Ok(values) => values,
            Err(why) => return Outcome::Skipped(why),
        };
        if let Some(reference) = self.baselines[c].as_ref().or_else(|| self.references.get(&(c, scope))) {
            return distribution::compare(feature, &values, reference, metric);
        }
        match Reference::of_window(feature, &values) {
            Ok(reference) => {
                self.references.insert((c, scope), reference);
                Outcome::Skipped(format!(
                    "reference window: later windows of this route are compared with its {} values of `{feature}`",
                    values.len()
                ))
            }
            Err(why) => Outcome::Skipped(why),
        }
    }
}

/// Skipped when a window has fewer than `min` of `what` (or none).
fn too_few(what: &str, count: usize, min: u64) -> Option<Outcome> {
    if count == 0 {
        Some(Outcome::Skipped(format!("no {what}")))
    } else if (count as u64) < min {
        Some(Outcome::Skipped(format!(
            "{count} {what} in the window, fewer than minRequests {min}"
        )))
    } else {
        None
    }
}

/// Report text: control characters (but newlines and tabs) dropped, at most 4,096 characters.
fn text(s: &str) -> Option<Text> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .take(4_096)
        .collect();
    Text::new(clean).ok()
}

/// The first window end after `time` on a grid of `interval`.
fn end_after(time: i64, interval: i64) -> i64 {
    time.div_euclid(interval)
        .saturating_mul(interval)
        .saturating_add(interval)
}

/// Milliseconds since the epoch as a time (clamped to what chrono represents).
fn time_of(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The signals grouped by (window, interval), in the policy's order.
fn groups(checks: &[Check]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| (g.window_ms, g.interval_ms) == (check.window_ms, check.interval_ms))
        {
            Some(group) => group.checks.push(i),
            None => groups.push(Group {
                window_ms: check.window_ms,
                interval_ms: check.interval_ms,
                checks: vec![i],
                next_end: i64::MAX,
                last_end: i64::MIN,
                empty_run: 0,
            }),
        }
    }
    groups
}

/// The input and output columns the checks read.
fn wanted_columns(checks: &[Check]) -> (Wanted, Wanted) {
    let (mut inputs, mut outputs) = (Wanted::default(), Wanted::default());
    for check in checks {
        match &check.measure {
            Measure::Distribution { feature, side, .. } => {
                let wanted = if *side == Side::Input {
                    &mut inputs
                } else {
                    &mut outputs
                };
                wanted.names.push(feature.clone());
            }
            Measure::Performance { output: Some(name), .. } => outputs.names.push(name.clone()),
            Measure::Performance { output: None, .. } => outputs.first = true,
            Measure::Liveness | Measure::Latency(_) | Measure::Errors(_) => {}
        }
    }
    (inputs, outputs)
}

/// For each check compared with the baseline, the baseline's profile of its feature.
fn baseline_references(
    checks: &[Check],
    baseline: Option<&DataProfileSpec>,
) -> Result<Vec<Option<Reference>>, Vec<Problem>> {
    let wanted = checks
        .iter()
        .any(|c| matches!(c.measure, Measure::Distribution { baseline: Some(_), .. }));
    let profile = match baseline {
        Some(spec) if wanted => Some(Arc::new(Profiler::restore(spec, "the baseline").map_err(|e| {
            vec![Problem {
                pointer: "/spec/baseline".into(),
                message: format!("the baseline DataProfile cannot be compared with: {e}"),
            }]
        })?)),
        _ => None,
    };
    Ok(checks
        .iter()
        .map(|check| {
            let Measure::Distribution {
                feature,
                baseline: Some(feature_type),
                ..
            } = &check.measure
            else {
                return None;
            };
            let stats = baseline?.features.iter().find(|f| f.name.as_str() == feature)?;
            Some(Reference {
                profile: profile.clone()?,
                feature_type: *feature_type,
                mean: stats.numeric.as_ref().map(|n| n.mean),
            })
        })
        .collect())
}

/// The values of `feature` in the window's bodies (`side`): a readable body without the column
/// gives missing values; a window without a readable body, or without any present value of it,
/// is an error saying why.
fn values_of(
    records: &[&Record],
    feature: &str,
    side: Side,
    all_missing_is_a_value: bool,
) -> Result<Vec<Scalar>, String> {
    let mut values = Vec::new();
    let (mut unreadable, mut absent) = (0usize, 0usize);
    let mut first_problem: Option<&str> = None;
    let mut columns_seen: Vec<&str> = Vec::new();
    for record in records {
        let read = match side {
            Side::Input => &record.inputs,
            Side::Output => &record.outputs,
        };
        match read {
            Read::Table(table) => match table.columns.iter().find(|c| c.name == feature) {
                Some(column) => values.extend(column.values.iter().cloned()),
                None => {
                    values.extend(std::iter::repeat_n(Scalar::Missing, table.rows));
                    for column in &table.columns {
                        if !columns_seen.contains(&column.name.as_str()) && columns_seen.len() < 10 {
                            columns_seen.push(&column.name);
                        }
                    }
                }
            },
            Read::Unreadable(why) => {
                unreadable += 1;
                first_problem.get_or_insert(why);
            }
            Read::Absent => absent += 1,
        }
    }
    if values.iter().any(|v| *v != Scalar::Missing) || (all_missing_is_a_value && !values.is_empty()) {
        return Ok(values);
    }
    let what = match side {
        Side::Input => "request",
        Side::Output => "answer",
    };
    let mut why = format!(
        "no {what} of the {} in the window had a value of `{feature}`",
        records.len()
    );
    if unreadable > 0 {
        why.push_str(&format!(
            "; {unreadable} could not be read (first: {})",
            first_problem.unwrap_or("")
        ));
    }
    if absent > 0 {
        why.push_str(&format!("; {absent} had no body"));
    }
    if !columns_seen.is_empty() {
        why.push_str(&format!("; columns found: {}", columns_seen.join(", ")));
    }
    Err(why)
}

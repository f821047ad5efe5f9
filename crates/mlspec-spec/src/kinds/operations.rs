//! Kinds of serving and operations: Rollout, MonitoringPolicy, MonitoringReport and the
//! inference-log record.
//!
//! They fit together the way a serving gateway uses them: a **MonitoringPolicy** names the
//! signals watched on a served package (latency, error rate, drift of an input feature or of a
//! prediction), each with a threshold and a window, and whose traffic (`route`) each watches.
//! Over every window the gateway writes a **MonitoringReport**: each signal's value and whether
//! it was breached, the signals it skipped (too few requests, no labels yet) and the actions
//! taken — an alert, or a rollback that moved traffic to the policy's rollback target (or was
//! refused). A **Rollout** records how a new package took traffic step by step, and for each
//! step when it ended, what decided it (the schedule, monitoring, an operator) and the reports
//! it was judged on.

use foldhash::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::Kind;
use crate::newtypes::{Digest, DurationText, Key, Name, ShortText, Text};
use crate::reference::Ref;
use crate::rules::{Findings, Rules};
use crate::values::{Timestamp, UniqueMap};

/// How traffic moves to the new model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RolloutStrategy {
    /// Growing shares of traffic.
    Canary,
    /// A full switch between two environments.
    BlueGreen,
    /// The new model sees copies of requests; its answers are not served.
    Shadow,
    /// All traffic at once.
    AllAtOnce,
}

/// The result of a rollout step, or of the rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StepResult {
    /// Not started.
    Pending,
    /// Under way.
    InProgress,
    /// Met its checks.
    Succeeded,
    /// Failed its checks.
    Failed,
    /// Traffic went back to the previous model.
    RolledBack,
}

/// What ended a rollout step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Decider {
    /// The step's duration elapsed.
    Schedule,
    /// A monitoring signal was breached.
    Monitoring,
    /// An operator promoted or aborted the rollout.
    Operator,
}

/// One step of a rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutStep {
    /// Share of traffic sent to the new model, 0 to 100.
    pub traffic_percent: f64,
    /// How long the step holds before the next.
    pub duration: DurationText,
    /// How it went.
    pub result: StepResult,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// What ended it: its duration elapsed (`schedule`), a monitoring breach (`monitoring`), or an
    /// operator's promote or abort (`operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decider>,
    /// The MonitoringReports that decided it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<Ref>,
    /// Observations that decided the result.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub observations: UniqueMap<Key, f64>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Text>,
}

/// A rollout of a model package.
///
/// Rules: traffic shares lie in [0, 100] and never decrease from step to step (except in a
/// rolled-back rollout); a `rolledBack` outcome names the `previous` package it returned to;
/// `package` and `previous` refer to ModelPackages; a `succeeded` rollout ends at 100% (except
/// `shadow`); `policy` refers to a MonitoringPolicy and a step's `reports` to
/// MonitoringReports; a step does not end before it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutSpec {
    /// The package rolled out.
    pub package: Ref,
    /// The package it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Ref>,
    /// Where, e.g. `production/eu-west`.
    pub environment: ShortText,
    /// The serving endpoint: where clients send requests (with a gateway, the gateway's
    /// address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<ShortText>,
    /// Where the new package's own server answers, behind the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_endpoint: Option<ShortText>,
    /// How traffic moves.
    pub strategy: RolloutStrategy,
    /// The MonitoringPolicy that judged the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Ref>,
    /// The steps.
    pub steps: Vec<RolloutStep>,
    /// The overall result.
    pub outcome: StepResult,
}

impl Rules for RolloutSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/package", &self.package, &[Kind::ModelPackage]);
        if let Some(r) = &self.previous {
            f.ref_kind("/spec/previous", r, &[Kind::ModelPackage]);
        }
        if let Some(r) = &self.policy {
            f.ref_kind("/spec/policy", r, &[Kind::MonitoringPolicy]);
        }
        if self.steps.is_empty() {
            f.error("/spec/steps", "a rollout has at least one step");
        }
        for (i, s) in self.steps.iter().enumerate() {
            s.check(f, &format!("/spec/steps/{i}"));
        }
        let rolled_back = self.outcome == StepResult::RolledBack;
        if !rolled_back {
            for (i, w) in self.steps.windows(2).enumerate() {
                if w[1].traffic_percent < w[0].traffic_percent {
                    f.error(
                        format!("/spec/steps/{}/trafficPercent", i + 1),
                        "traffic decreases, but the rollout was not rolled back",
                    );
                }
            }
        }
        if rolled_back && self.previous.is_none() {
            f.error(
                "/spec/outcome",
                "a rolled-back rollout names the `previous` package it returned to",
            );
        }
        let last = self.steps.last().map(|s| s.traffic_percent);
        if self.outcome == StepResult::Succeeded && self.strategy != RolloutStrategy::Shadow && last != Some(100.0) {
            f.error(
                "/spec/outcome",
                "a succeeded rollout ends with 100% of traffic on the new model",
            );
        }
    }
}

impl RolloutStep {
    /// The rules of one step, found at `at`.
    fn check(&self, f: &mut Findings, at: &str) {
        if !(0.0..=100.0).contains(&self.traffic_percent) {
            f.error(format!("{at}/trafficPercent"), "a traffic share lies between 0 and 100");
        }
        f.ordered(
            format!("{at}/endedAt"),
            self.started_at.as_ref(),
            self.ended_at.as_ref(),
            "the step ends before it starts",
        );
        for (i, r) in self.reports.iter().enumerate() {
            f.ref_kind(format!("{at}/reports/{i}"), r, &[Kind::MonitoringReport]);
        }
    }
}

/// What a signal watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SignalType {
    /// Whether the server answers health checks.
    Liveness,
    /// Request latency.
    Latency,
    /// Share of failed requests.
    ErrorRate,
    /// Distribution change of a feature against the training profile.
    Drift,
    /// Distribution change of a model output against a baseline.
    PredictionDrift,
    /// Training/serving difference of a feature.
    Skew,
    /// A model-quality metric on labelled feedback.
    Performance,
    /// Any other metric.
    Custom,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Comparison {
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
}

impl Comparison {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
        }
    }
}

/// When a signal is breached: `value op threshold`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Threshold {
    /// The comparison that means a breach.
    pub op: Comparison,
    /// The value compared with.
    pub value: f64,
}

/// Whose traffic a signal watches, on a gateway that splits traffic between packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SignalRoute {
    /// The traffic the current (primary) package answers.
    Primary,
    /// The traffic the new (canary) package answers.
    Canary,
    /// All traffic, as one.
    All,
}

/// A watched signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Signal {
    /// The signal's name, unique in the policy.
    pub name: Name,
    /// What it watches.
    #[serde(rename = "type")]
    pub signal_type: SignalType,
    /// The metric (e.g. `p99_latency_ms`, `accuracy`) or distance (`jsd`, `linf`, `psi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Key>,
    /// The feature, for drift and skew; the model output's name, for prediction drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<Key>,
    /// When it is breached.
    pub threshold: Threshold,
    /// The window it is computed over.
    pub window: DurationText,
    /// How often it is computed (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationText>,
    /// The fewest requests a window needs for the signal to be evaluated; with fewer, the
    /// signal is reported as skipped (at least 1; default: no minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// Whose traffic it watches (default: every route, each evaluated separately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<SignalRoute>,
}

/// When the rollback happens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollbackTrigger {
    /// The signals that count.
    pub signals: Vec<Name>,
    /// `any` breach or `all` of them.
    pub when: TriggerMode,
    /// Consecutive breached windows before acting.
    #[serde(default = "one")]
    pub consecutive: u32,
}

fn one() -> u32 {
    1
}

/// Any or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TriggerMode {
    /// One breached signal suffices.
    Any,
    /// Every listed signal must be breached.
    All,
}

/// Where to roll back to, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rollback {
    /// The package to return to.
    pub target: Ref,
    /// The trigger.
    pub trigger: RollbackTrigger,
    /// True: on a trigger the gateway moves all traffic to the target. False: it records an
    /// alert for an operator to act on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

/// What is watched on a served model.
///
/// Rules: signal names are unique; drift, skew and prediction-drift signals name a `feature`; a
/// signal's `minRequests` is at least 1; `columns` are unique; the rollback trigger names
/// existing signals; `target` and `rollback.target` refer to ModelPackages (or a Rollout for
/// `target`); `baseline` refers to a DataProfile; the rollback target is not the watched package
/// itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringPolicySpec {
    /// The package or rollout watched.
    pub target: Ref,
    /// The training profile drift is measured against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Ref>,
    /// The signals.
    pub signals: Vec<Signal>,
    /// The feature names of the columns of a single 2-D input tensor (an Open Inference Protocol
    /// input shaped `[N, F]`), in order, for requests that do not name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Key>,
    /// The rollback target and trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
}

impl Rules for MonitoringPolicySpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/target", &self.target, &[Kind::ModelPackage, Kind::Rollout]);
        if let Some(r) = &self.baseline {
            f.ref_kind("/spec/baseline", r, &[Kind::DataProfile]);
        }
        if self.signals.is_empty() {
            f.error("/spec/signals", "a policy watches at least one signal");
        }
        f.unique("/spec/signals", "name", &self.signals, |s| &s.name);
        for (i, s) in self.signals.iter().enumerate() {
            s.check(f, &format!("/spec/signals/{i}"));
        }
        f.unique_values("/spec/columns", "column", &self.columns);
        if let Some(rollback) = &self.rollback {
            f.ref_kind("/spec/rollback/target", &rollback.target, &[Kind::ModelPackage]);
            if rollback.target == self.target {
                f.error(
                    "/spec/rollback/target",
                    "the rollback target is the watched package itself",
                );
            }
            let names: HashSet<&Name> = self.signals.iter().map(|s| &s.name).collect();
            for (i, name) in rollback.trigger.signals.iter().enumerate() {
                if !names.contains(name) {
                    f.error(
                        format!("/spec/rollback/trigger/signals/{i}"),
                        format!("no signal is named `{name}`"),
                    );
                }
            }
            if rollback.trigger.signals.is_empty() {
                f.error(
                    "/spec/rollback/trigger/signals",
                    "the trigger names at least one signal",
                );
            }
            if rollback.trigger.consecutive == 0 {
                f.error("/spec/rollback/trigger/consecutive", "at least 1");
            }
        }
    }
}

impl Signal {
    /// The rules of one signal, found at `at`.
    fn check(&self, f: &mut Findings, at: &str) {
        let of_a_feature = matches!(
            self.signal_type,
            SignalType::Drift | SignalType::Skew | SignalType::PredictionDrift
        );
        if of_a_feature && self.feature.is_none() {
            f.error(at, "a drift, skew or prediction-drift signal names its `feature`");
        }
        if self.window.as_millis() == 0 {
            f.error(format!("{at}/window"), "the window is empty");
        }
        if self.min_requests == Some(0) {
            f.error(format!("{at}/minRequests"), "at least 1")
                .hint("leave `minRequests` out to evaluate every window");
        }
    }
}

/// A signal's observed value over the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignalObservation {
    /// The policy's signal.
    pub name: Name,
    /// The observed value.
    pub value: f64,
    /// The threshold it was compared with.
    pub threshold: Threshold,
    /// Whether it was breached.
    pub breached: bool,
    /// How many values it was computed from (requests, rows or labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Short evidence, at most 20: request ids of failures, new categories, the worst values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<Text>,
}

/// The most examples a signal observation carries.
pub const MAX_OBSERVATION_EXAMPLES: usize = 20;

/// A signal of the policy that was not evaluated in the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SkippedSignal {
    /// The policy's signal.
    pub name: Name,
    /// Why it was not evaluated, e.g. too few requests, no labels yet.
    pub reason: Text,
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionType {
    /// A person was alerted.
    Alert,
    /// Traffic went back to the rollback target.
    Rollback,
    /// Retraining was started.
    Retrain,
}

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionResult {
    /// It was carried out.
    Done,
    /// It was refused, e.g. the rollback target did not verify, so traffic did not move;
    /// `detail` says why.
    Refused,
}

/// An action taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringAction {
    /// What was done.
    #[serde(rename = "type")]
    pub action_type: ActionType,
    /// When.
    pub at: Timestamp,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Text>,
    /// The package traffic moved to, for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Ref>,
    /// The breached signals that triggered it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Name>,
    /// Whether it was carried out or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ActionResult>,
}

/// Observed signals over one window.
///
/// Rules: the window ends after it starts; signal names are unique across `signals` and
/// `skipped`; `breached` agrees with the threshold (`value op threshold`); an observation has at
/// most 20 `examples`; `policy` refers to a MonitoringPolicy, `rollout` to a Rollout, `package`
/// and an action's `target` to ModelPackages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringReportSpec {
    /// The policy applied.
    pub policy: Ref,
    /// The package whose traffic the window covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Ref>,
    /// The route whose traffic the window covers: `primary`, `canary`, `shadow` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<ShortText>,
    /// Where it was computed: a gateway's address (`http://127.0.0.1:8080`), or a log and its
    /// lines (`serve.log:1-5000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ShortText>,
    /// The rollout the window belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Ref>,
    /// Window start.
    pub window_start: Timestamp,
    /// Window end.
    pub window_end: Timestamp,
    /// Requests seen in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// The observations.
    pub signals: Vec<SignalObservation>,
    /// The policy's signals not evaluated in the window, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedSignal>,
    /// Actions taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<MonitoringAction>,
}

impl Rules for MonitoringReportSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/policy", &self.policy, &[Kind::MonitoringPolicy]);
        if let Some(r) = &self.package {
            f.ref_kind("/spec/package", r, &[Kind::ModelPackage]);
        }
        if let Some(r) = &self.rollout {
            f.ref_kind("/spec/rollout", r, &[Kind::Rollout]);
        }
        if self.window_end <= self.window_start {
            f.error("/spec/windowEnd", "the window ends before or when it starts");
        }
        for (i, s) in self.signals.iter().enumerate() {
            s.check(f, &format!("/spec/signals/{i}"));
        }
        self.check_signal_names(f);
        for (i, a) in self.actions.iter().enumerate() {
            if let Some(r) = &a.target {
                f.ref_kind(format!("/spec/actions/{i}/target"), r, &[Kind::ModelPackage]);
            }
        }
    }
}

impl MonitoringReportSpec {
    /// A signal is observed or skipped, once.
    fn check_signal_names(&self, f: &mut Findings) {
        f.unique("/spec/signals", "name", &self.signals, |s| &s.name);
        f.unique("/spec/skipped", "name", &self.skipped, |s| &s.name);
        let observed: HashSet<&Name> = self.signals.iter().map(|s| &s.name).collect();
        for (i, s) in self.skipped.iter().enumerate() {
            if observed.contains(&s.name) {
                f.error(
                    format!("/spec/skipped/{i}/name"),
                    format!("signal `{}` is both observed and skipped", s.name),
                );
            }
        }
    }
}

impl SignalObservation {
    /// The rules of one observation, found at `at`.
    fn check(&self, f: &mut Findings, at: &str) {
        if self.threshold.op.holds(self.value, self.threshold.value) != self.breached {
            f.error(
                format!("{at}/breached"),
                "`breached` disagrees with the value and threshold",
            );
        }
        if self.examples.len() > MAX_OBSERVATION_EXAMPLES {
            f.error(
                format!("{at}/examples"),
                format!(
                    "at most {MAX_OBSERVATION_EXAMPLES} examples, found {}",
                    self.examples.len()
                ),
            )
            .hint("keep the most telling ones: the evidence is a sample, not a log");
        }
    }
}

/// The application that served the request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApplicationInfo {
    /// The application's id.
    pub application_id: ShortText,
    /// The endpoint called.
    pub endpoint: ShortText,
}

/// The request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestInfo {
    /// The request id.
    pub request_id: ShortText,
    /// When it arrived.
    pub timestamp: Timestamp,
    /// Time to answer in milliseconds.
    pub latency_ms: f64,
    /// Client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ShortText>,
    /// Authenticated user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ShortText>,
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ShortText>,
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<ShortText>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResultInfo {
    /// HTTP status code.
    pub status: u16,
    /// Response size in bytes.
    pub bytes: u64,
}

/// The model that answered, bound to its signed package and training data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelInfo {
    /// The ModelPackage, as `ModelPackage/NAME@VERSION`.
    pub package: Ref,
    /// Digest of the package's attestation, binding this line to the signed pipeline.
    pub package_digest: Digest,
    /// Digest of the pipeline (workflow record) that produced the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_digest: Option<Digest>,
    /// Digest of the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_digest: Option<Digest>,
}

/// One inference request.
///
/// Rules: `package` refers to a ModelPackage; the status is a valid HTTP status (100–599);
/// the latency is not negative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InferenceLogRecordSpec {
    /// The application.
    pub application_info: ApplicationInfo,
    /// The request.
    pub request_info: RequestInfo,
    /// The answer.
    pub result_info: ResultInfo,
    /// The model.
    pub model_info: ModelInfo,
    /// Digest of the request's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_digest: Option<Digest>,
    /// Digest of the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_digest: Option<Digest>,
    /// The hash chain value: digest of the previous record's chain value and this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Digest>,
}

impl Rules for InferenceLogRecordSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind(
            "/spec/modelInfo/package",
            &self.model_info.package,
            &[Kind::ModelPackage],
        );
        if !(100..=599).contains(&self.result_info.status) {
            f.error("/spec/resultInfo/status", "an HTTP status lies between 100 and 599");
        }
        if self.request_info.latency_ms < 0.0 {
            f.error("/spec/requestInfo/latencyMs", "latency cannot be negative");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::{Format, Limits, validate_text};

    /// The `(path, message)` of every problem of a document of `kind` with `spec` (YAML lines
    /// indented by two spaces).
    fn problems(kind: &str, spec: &str) -> Vec<(String, String)> {
        let text = format!("apiVersion: mlspec/v1\nkind: {kind}\nmetadata: {{name: x}}\nspec:\n{spec}");
        validate_text(&text, Format::Yaml, &Limits::default())
            .diagnostics
            .into_iter()
            .map(|d| (d.path.unwrap_or_default(), d.message))
            .collect()
    }

    fn paths(problems: &[(String, String)]) -> Vec<&str> {
        problems.iter().map(|(path, _)| path.as_str()).collect()
    }

    #[test]
    fn documents_without_the_gateway_fields_stay_valid() {
        let rollout = "  package: ModelPackage/p@2
  environment: local
  strategy: allAtOnce
  steps: [{trafficPercent: 100, duration: 1h, result: succeeded}]
  outcome: succeeded
";
        let policy = "  target: ModelPackage/p@2
  signals: [{name: s, type: drift, feature: f, threshold: {op: '>', value: 0.1}, window: 1h}]
  rollback: {target: ModelPackage/p@1, trigger: {signals: [s], when: all}}
";
        let report = "  policy: MonitoringPolicy/p
  windowStart: 2026-12-06T08:00:00Z
  windowEnd: 2026-12-06T09:00:00Z
  signals: [{name: s, value: 0.2, threshold: {op: '>', value: 0.1}, breached: true}]
  actions: [{type: alert, at: 2026-12-06T09:00:00Z}]
";
        assert_eq!(problems("Rollout", rollout), []);
        assert_eq!(problems("MonitoringPolicy", policy), []);
        assert_eq!(problems("MonitoringReport", report), []);
    }

    fn rollout(step: &str, policy: &str) -> String {
        format!(
            "  package: ModelPackage/p@2
  previous: ModelPackage/p@1
  environment: local
  endpoint: http://127.0.0.1:8080
  canaryEndpoint: http://127.0.0.1:9001
  strategy: canary
  policy: {policy}
  steps:
    - {step}
  outcome: rolledBack
"
        )
    }

    const STEP: &str = "{trafficPercent: 10, duration: 10m, result: failed, decidedBy: monitoring";

    #[test]
    fn a_rollout_step_records_when_and_why_it_ended() {
        let step = format!(
            "{STEP}, startedAt: 2026-12-06T08:00:00Z, endedAt: 2026-12-06T08:05:00Z, \
             reports: [MonitoringReport/w1]}}"
        );
        assert_eq!(problems("Rollout", &rollout(&step, "MonitoringPolicy/p")), []);
        let same_instant = format!("{STEP}, startedAt: 2026-12-06T08:00:00Z, endedAt: 2026-12-06T08:00:00Z}}");
        assert_eq!(problems("Rollout", &rollout(&same_instant, "MonitoringPolicy/p")), []);
    }

    #[test]
    fn a_rollout_step_does_not_end_before_it_starts() {
        let step = format!("{STEP}, startedAt: 2026-12-06T08:00:00Z, endedAt: 2026-12-06T07:59:59Z}}");
        let found = problems("Rollout", &rollout(&step, "MonitoringPolicy/p"));
        assert_eq!(
            found,
            [("/spec/steps/0/endedAt".into(), "the step ends before it starts".into())]
        );
    }

    #[test]
    fn a_rollout_names_its_policy_and_reports_by_kind() {
        let step = format!("{STEP}, reports: [MonitoringReport/w1, MonitoringPolicy/p]}}");
        let found = problems("Rollout", &rollout(&step, "Rollout/other"));
        assert_eq!(paths(&found), ["/spec/policy", "/spec/steps/0/reports/1"]);
        assert!(found[0].1.contains("expected MonitoringPolicy"), "{found:?}");
        assert!(found[1].1.contains("expected MonitoringReport"), "{found:?}");
    }

    #[test]
    fn a_rollout_step_decider_is_one_of_three() {
        let step = format!("{}}}", STEP.replace("monitoring", "timer"));
        let found = problems("Rollout", &rollout(&step, "MonitoringPolicy/p"));
        assert_eq!(paths(&found), ["/spec/steps/0/decidedBy"], "{found:?}");
    }

    fn policy(signal: &str, columns: &str) -> String {
        format!(
            "  target: ModelPackage/p@2
  signals:
    - {signal}
  columns: {columns}
  rollback:
    target: ModelPackage/p@1
    trigger: {{signals: [s], when: any}}
    automatic: true
"
        )
    }

    #[test]
    fn a_prediction_drift_signal_names_the_output_it_watches() {
        let named = "{name: s, type: predictionDrift, feature: species, metric: jsd, \
                     threshold: {op: '>', value: 0.1}, window: 1m, minRequests: 50, route: canary}";
        assert_eq!(problems("MonitoringPolicy", &policy(named, "[a, b]")), []);
        let unnamed = "{name: s, type: predictionDrift, threshold: {op: '>', value: 0.1}, window: 1m}";
        assert_eq!(
            problems("MonitoringPolicy", &policy(unnamed, "[a, b]")),
            [(
                "/spec/signals/0".into(),
                "a drift, skew or prediction-drift signal names its `feature`".into()
            )]
        );
    }

    #[test]
    fn a_signal_needs_at_least_one_request_when_it_sets_a_minimum() {
        let signal = |min: u64| {
            format!("{{name: s, type: errorRate, threshold: {{op: '>', value: 0.1}}, window: 1m, minRequests: {min}}}")
        };
        assert_eq!(problems("MonitoringPolicy", &policy(&signal(1), "[]")), []);
        assert_eq!(
            problems("MonitoringPolicy", &policy(&signal(0), "[]")),
            [("/spec/signals/0/minRequests".into(), "at least 1".into())]
        );
    }

    #[test]
    fn a_signal_route_is_primary_canary_or_all() {
        let signal = |route: &str| {
            format!("{{name: s, type: latency, threshold: {{op: '>', value: 50}}, window: 1m, route: {route}}}")
        };
        for route in ["primary", "canary", "all"] {
            assert_eq!(problems("MonitoringPolicy", &policy(&signal(route), "[]")), []);
        }
        let found = problems("MonitoringPolicy", &policy(&signal("shadow"), "[]"));
        assert_eq!(paths(&found), ["/spec/signals/0/route"], "{found:?}");
    }

    #[test]
    fn policy_columns_are_unique() {
        let signal = "{name: s, type: liveness, threshold: {op: '<', value: 1}, window: 1m}";
        assert_eq!(problems("MonitoringPolicy", &policy(signal, "[a, b, c]")), []);
        assert_eq!(
            problems("MonitoringPolicy", &policy(signal, "[a, b, a]")),
            [(
                "/spec/columns/2".into(),
                "duplicate column; each must be unique in this list".into()
            )]
        );
    }

    fn report(extra: &str, examples: usize) -> String {
        let examples: Vec<String> = (0..examples).map(|i| format!("req-{i}")).collect();
        format!(
            "  policy: MonitoringPolicy/p
  package: ModelPackage/p@2
  route: canary
  source: serve.log:1-5000
  rollout: Rollout/p-2
  windowStart: 2026-12-06T08:00:00Z
  windowEnd: 2026-12-06T08:01:00Z
  requests: 120
  signals:
    - {{name: errors, value: 0.2, threshold: {{op: '>', value: 0.1}}, breached: true, samples: 120, examples: [{}]}}
  actions:
    - {{type: rollback, at: 2026-12-06T08:01:00Z, target: ModelPackage/p@1, evidence: [errors], result: refused, detail: the target did not verify}}
{extra}",
            examples.join(", ")
        )
    }

    #[test]
    fn a_report_says_which_signals_it_skipped() {
        let skipped = "  skipped:\n    - {name: accuracy, reason: no labels yet}\n";
        assert_eq!(problems("MonitoringReport", &report(skipped, 3)), []);
        let twice = "  skipped:\n    - {name: errors, reason: too few requests}\n";
        assert_eq!(
            problems("MonitoringReport", &report(twice, 3)),
            [(
                "/spec/skipped/0/name".into(),
                "signal `errors` is both observed and skipped".into()
            )]
        );
        let repeated = "  skipped:\n    - {name: a, reason: r}\n    - {name: a, reason: r}\n";
        let found = problems("MonitoringReport", &report(repeated, 3));
        assert_eq!(paths(&found), ["/spec/skipped/1/name"], "{found:?}");
    }

    #[test]
    fn an_observation_carries_at_most_twenty_examples() {
        assert_eq!(problems("MonitoringReport", &report("", 20)), []);
        let found = problems("MonitoringReport", &report("", 21));
        assert_eq!(
            found,
            [(
                "/spec/signals/0/examples".into(),
                "at most 20 examples, found 21".into()
            )]
        );
    }

    #[test]
    fn a_report_names_its_package_rollout_and_action_target_by_kind() {
        let text = report("", 1)
            .replace("package: ModelPackage/p@2", "package: Rollout/p-2")
            .replace("rollout: Rollout/p-2", "rollout: ModelPackage/p@2")
            .replace("target: ModelPackage/p@1", "target: MonitoringPolicy/p");
        let found = problems("MonitoringReport", &text);
        assert_eq!(
            paths(&found),
            ["/spec/package", "/spec/rollout", "/spec/actions/0/target"],
            "{found:?}"
        );
    }

    #[test]
    fn an_action_result_is_done_or_refused() {
        let found = problems("MonitoringReport", &report("", 1).replace("refused", "failed"));
        assert_eq!(paths(&found), ["/spec/actions/0/result"], "{found:?}");
    }
}

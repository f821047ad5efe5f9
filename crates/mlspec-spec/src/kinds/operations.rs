//! Kinds of serving and operations: Rollout, MonitoringPolicy, MonitoringReport and the
//! inference-log record.

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
/// `shadow`).
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
    /// The serving endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<ShortText>,
    /// How traffic moves.
    pub strategy: RolloutStrategy,
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
        if self.steps.is_empty() {
            f.error("/spec/steps", "a rollout has at least one step");
        }
        for (i, s) in self.steps.iter().enumerate() {
            if !(0.0..=100.0).contains(&s.traffic_percent) {
                f.error(
                    format!("/spec/steps/{i}/trafficPercent"),
                    "a traffic share lies between 0 and 100",
                );
            }
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
    /// The feature, for drift and skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<Key>,
    /// When it is breached.
    pub threshold: Threshold,
    /// The window it is computed over.
    pub window: DurationText,
    /// How often it is computed (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<DurationText>,
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
}

/// What is watched on a served model.
///
/// Rules: signal names are unique; drift and skew signals name a `feature`; the rollback trigger
/// names existing signals; `target` and `rollback.target` refer to ModelPackages (or a Rollout
/// for `target`); `baseline` refers to a DataProfile; the rollback target is not the watched
/// package itself.
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
            if matches!(s.signal_type, SignalType::Drift | SignalType::Skew) && s.feature.is_none() {
                f.error(
                    format!("/spec/signals/{i}"),
                    "a drift or skew signal names its `feature`",
                );
            }
            if s.window.as_millis() == 0 {
                f.error(format!("/spec/signals/{i}/window"), "the window is empty");
            }
        }
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
}

/// Observed signals over one window.
///
/// Rules: the window ends after it starts; signal names are unique; `breached` agrees with the
/// threshold (`value op threshold`); `policy` refers to a MonitoringPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringReportSpec {
    /// The policy applied.
    pub policy: Ref,
    /// Window start.
    pub window_start: Timestamp,
    /// Window end.
    pub window_end: Timestamp,
    /// Requests seen in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// The observations.
    pub signals: Vec<SignalObservation>,
    /// Actions taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<MonitoringAction>,
}

impl Rules for MonitoringReportSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/policy", &self.policy, &[Kind::MonitoringPolicy]);
        if self.window_end <= self.window_start {
            f.error("/spec/windowEnd", "the window ends before or when it starts");
        }
        f.unique("/spec/signals", "name", &self.signals, |s| &s.name);
        for (i, s) in self.signals.iter().enumerate() {
            if s.threshold.op.holds(s.value, s.threshold.value) != s.breached {
                f.error(
                    format!("/spec/signals/{i}/breached"),
                    "`breached` disagrees with the value and threshold",
                );
            }
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

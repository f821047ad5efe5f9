//! Kinds of the model stages: Objectives, Training, Evaluation, TestReport and ModelPackage.

use foldhash::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::Kind;
use crate::kinds::data::Outcome;
use crate::newtypes::{ByteSize, Digest, Key, Name, RelativePath, ShortText, Text, Version};
use crate::reference::Ref;
use crate::rules::{Findings, Rules};
use crate::values::{Metric, ParamValue, Params, Tags, UniqueMap};

/// The type of a model output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OutputType {
    /// One of a set of classes.
    Class,
    /// A probability in [0, 1].
    Probability,
    /// A real number.
    Number,
    /// Text.
    Text,
    /// A vector of numbers.
    Embedding,
}

/// One output of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelOutput {
    /// The output's name.
    pub name: Key,
    /// Its type.
    #[serde(rename = "type")]
    pub output_type: OutputType,
    /// The classes, for `class` outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// The least value, for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The greatest value, for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The unit, e.g. `USD` or `ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<ShortText>,
}

/// How bad an error or a failed criterion is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorSeverity {
    /// Minor.
    Low,
    /// Noticeable.
    Medium,
    /// Serious.
    High,
    /// Unacceptable.
    Critical,
}

/// An error the model can make.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PossibleError {
    /// The error's name, e.g. `false-negative`.
    pub name: Name,
    /// What it is and whom it hurts.
    pub description: Text,
    /// How bad it is.
    pub severity: ErrorSeverity,
    /// Its cost per occurrence, in the unit of `costUnit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// The unit of `cost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_unit: Option<ShortText>,
}

/// Whether a failed criterion stops deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Gate {
    /// Deployment is blocked until the criterion is met.
    Block,
    /// Reported; does not block.
    Warn,
}

/// A launch criterion: an expression over metrics that must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Criterion {
    /// The criterion's name, unique in the document.
    pub name: Name,
    /// The expression, in the MLSpec expression language (docs/spec/expressions.md), e.g.
    /// `accuracy >= 0.9 and gap(recall, by=gender) < 5%`; it must parse and type-check.
    pub expression: Text,
    /// Whether failing it blocks deployment.
    pub severity: Gate,
    /// Why it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// What the model must achieve, written before training.
///
/// Rules: output, error and criterion names are unique; expressions are not blank; class outputs
/// list at least two classes; `min <= max`; at least one criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectivesSpec {
    /// The model's outputs.
    pub outputs: Vec<ModelOutput>,
    /// The errors it can make.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<PossibleError>,
    /// The launch criteria.
    pub criteria: Vec<Criterion>,
    /// How many times the holdback set may be read by test stages (none: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdback_read_budget: Option<u32>,
}

impl Rules for ObjectivesSpec {
    fn check(&self, f: &mut Findings) {
        f.unique("/spec/outputs", "name", &self.outputs, |o| &o.name);
        f.unique("/spec/errors", "name", &self.errors, |o| {
            o.name.as_str().to_ascii_lowercase()
        });
        f.unique("/spec/criteria", "name", &self.criteria, |o| {
            o.name.as_str().to_ascii_lowercase()
        });
        if self.criteria.is_empty() {
            f.error("/spec/criteria", "objectives need at least one criterion");
        }
        for (i, c) in self.criteria.iter().enumerate() {
            let at = format!("/spec/criteria/{i}/expression");
            if c.expression.as_str().trim().is_empty() {
                f.error(at, "the expression is blank");
                continue;
            }
            let scope = crate::expr::Scope::detached(crate::expr::Context::Criterion);
            let text = c.expression.as_str();
            for d in crate::expr::compile(text, &scope).1 {
                let offset = text.get(..d.span.start).map_or(0, |t| t.chars().count());
                let finding = f.error(&*at, d.message).at_character(offset);
                if let Some(help) = d.help {
                    finding.hint(help);
                }
            }
        }
        for (i, o) in self.outputs.iter().enumerate() {
            if o.output_type == OutputType::Class && o.classes.len() < 2 {
                f.error(
                    format!("/spec/outputs/{i}/classes"),
                    "a class output lists at least two classes",
                );
            }
            f.ordered(
                format!("/spec/outputs/{i}/max"),
                o.min.as_ref(),
                o.max.as_ref(),
                "the output's max is less than its min",
            );
        }
    }
}

/// The search algorithm of hyperparameter tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SearchAlgorithm {
    /// Every combination.
    Grid,
    /// Random draws.
    Random,
    /// Bayesian optimisation.
    Bayesian,
    /// Hyperband / successive halving.
    Hyperband,
    /// Population-based training.
    PopulationBased,
}

/// The values one hyperparameter may take: a list of choices, or a range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchDomain {
    /// Discrete choices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<ParamValue>,
    /// Range lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Range upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Sample the range on a log scale.
    #[serde(default)]
    pub log: bool,
    /// Step for integer or quantized ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
}

/// Minimize or maximize.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Goal {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
}

/// Hyperparameter search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Search {
    /// The algorithm.
    pub algorithm: SearchAlgorithm,
    /// The space: each hyperparameter's domain.
    pub space: UniqueMap<Key, SearchDomain>,
    /// The metric optimised.
    pub metric: Key,
    /// Its direction.
    pub goal: Goal,
    /// The trial budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trials: Option<u32>,
    /// The random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The sampler that implements the algorithm, and its settings, e.g. `tpe (10 random
    /// startup trials)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<ShortText>,
    /// The rule that stopped unpromising trials early, e.g. `median (after 5 trials)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruner: Option<ShortText>,
}

/// The state of a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrialStatus {
    /// Ran to the end.
    Completed,
    /// Stopped early by the algorithm.
    Pruned,
    /// Errored.
    Failed,
}

/// One trial of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Trial {
    /// The trial's id, unique in the document.
    pub id: Key,
    /// The hyperparameters it tried.
    pub params: Params,
    /// What it achieved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// How it ended.
    pub status: TrialStatus,
    /// Why it failed or was pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ShortText>,
    /// Its run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
}

/// How training was spread over devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DistributionStrategy {
    /// One process.
    Single,
    /// Replicas on one machine.
    Mirrored,
    /// Data-parallel across machines (e.g. DDP, Horovod).
    DataParallel,
    /// Model split across devices.
    ModelParallel,
    /// Pipeline-parallel.
    PipelineParallel,
    /// Parameter servers.
    ParameterServer,
    /// Sharded data parallelism (ZeRO / FSDP).
    FullySharded,
}

/// The distribution of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Distribution {
    /// The strategy.
    pub strategy: DistributionStrategy,
    /// Worker processes.
    pub workers: u32,
    /// Accelerators per worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices_per_worker: Option<u32>,
    /// Parameter servers, for that strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_servers: Option<u32>,
}

/// A check that a converted or compressed model still behaves like the original.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConversionCheck {
    /// The compared metric or output (e.g. `max_abs_diff`, `accuracy`).
    pub metric: Key,
    /// The original's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
    /// The converted model's value.
    pub after: f64,
    /// The largest acceptable difference.
    pub tolerance: f64,
    /// Whether the difference was within tolerance.
    pub passed: bool,
}

/// A conversion of the model to another format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Conversion {
    /// The target format, e.g. `onnx`, `tflite`, `torchscript`.
    pub format: ShortText,
    /// The converter and version, e.g. `tf2onnx 1.16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ShortText>,
    /// The converted model.
    pub output: Ref,
    /// Checks of the converted model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<ConversionCheck>,
}

/// A compression method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CompressionMethod {
    /// Lower-precision weights (e.g. int8).
    Quantize,
    /// Removing weights.
    Prune,
    /// Training a smaller student model.
    Distill,
    /// Low-rank factorization.
    LowRank,
}

/// A compression of the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Compression {
    /// The method.
    pub method: CompressionMethod,
    /// Its settings (e.g. `dtype: int8`, `sparsity: 0.5`).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub parameters: Params,
    /// The compressed model.
    pub output: Ref,
    /// Size before, in bytes.
    pub size_before: u64,
    /// Size after, in bytes.
    pub size_after: u64,
    /// Change of each metric (after − before).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub metric_deltas: UniqueMap<Key, f64>,
}

/// How a model was trained.
///
/// Rules: a Training without a `search` names its `model` and at least one dataset; trial ids
/// are unique; `bestTrial` names a trial; every trial's params are keys of the search space; choices or a `min`/`max` range are given for each domain, `min <= max`; failed
/// conversion checks must not be marked passed (`|after − before| <= tolerance`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrainingSpec {
    /// The training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
    /// The data trained on (usually the train split); a search may leave it to its trials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Ref>,
    /// The trained model; a search whose trials keep no model names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Ref>,
    /// The framework, e.g. `scikit-learn 1.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<ShortText>,
    /// The final hyperparameters.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub params: Params,
    /// The final metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Hyperparameter search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
    /// The trials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<Trial>,
    /// The chosen trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_trial: Option<Key>,
    /// How training was distributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Format conversions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<Conversion>,
    /// Compressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compression: Vec<Compression>,
}

impl Rules for TrainingSpec {
    fn check(&self, f: &mut Findings) {
        if self.search.is_none() {
            if self.datasets.is_empty() {
                f.error("/spec/datasets", "training reads at least one dataset");
            }
            if self.model.is_none() {
                f.error("/spec/model", "name the trained model (only a search may leave it out)");
            }
        }
        f.unique("/spec/trials", "id", &self.trials, |t| &t.id);
        if let Some(best) = &self.best_trial
            && !self.trials.iter().any(|t| &t.id == best)
        {
            f.error("/spec/bestTrial", format!("no trial has id `{best}`"));
        }
        if let Some(search) = &self.search {
            for (key, domain) in search.space.iter() {
                let at = format!("/spec/search/space/{key}");
                let range = domain.min.is_some() && domain.max.is_some();
                if domain.choices.is_empty() != range {
                    f.error(&*at, "give either `choices` or both `min` and `max`");
                }
                f.ordered(
                    at,
                    domain.min.as_ref(),
                    domain.max.as_ref(),
                    "the range's max is less than its min",
                );
            }
            for (i, trial) in self.trials.iter().enumerate() {
                for key in trial.params.keys().filter(|k| !search.space.contains_key(*k)) {
                    f.error(
                        format!("/spec/trials/{i}/params/{key}"),
                        format!("`{key}` is not in the search space"),
                    );
                }
            }
        }
        for (i, c) in self.conversions.iter().enumerate() {
            for (j, check) in c.validation.iter().enumerate() {
                let within = check.before.is_none_or(|b| (check.after - b).abs() <= check.tolerance);
                if check.passed && !within {
                    f.error(
                        format!("/spec/conversions/{i}/validation/{j}/passed"),
                        "the difference exceeds the tolerance, yet the check is marked passed",
                    );
                }
            }
        }
    }
}

/// The metrics of one slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SliceMetrics {
    /// The slice's name, e.g. `gender=F`.
    pub name: ShortText,
    /// The column values that define it (empty: the whole dataset).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub filter: Tags,
    /// Rows in the slice.
    pub rows: u64,
    /// Its metrics.
    pub metrics: Vec<Metric>,
    /// Metrics the slice does not define, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<UndefinedMetric>,
}

/// A metric the data does not define (recall of a class that never occurs, AUC with one
/// class), reported with the reason instead of a value — never as a silent 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UndefinedMetric {
    /// The metric's key.
    pub key: Key,
    /// Why it has no value.
    pub reason: ShortText,
}

/// A fairness summary for one sensitive attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fairness {
    /// The sensitive attribute, e.g. `gender`.
    pub attribute: Key,
    /// Largest minus smallest selection rate across groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographic_parity_difference: Option<f64>,
    /// Smallest over largest selection rate across groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographic_parity_ratio: Option<f64>,
    /// Largest gap in true- or false-positive rate across groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalized_odds_difference: Option<f64>,
}

/// How one criterion came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CriterionStatus {
    /// The expression is true.
    Met,
    /// The expression is false.
    NotMet,
    /// A value it needs was not recorded (not met).
    Unknown,
    /// It could not be computed, e.g. a division by zero (not met).
    Error,
}

/// A value a criterion read, as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObservedValue {
    /// What was read, as written: `recall[gender=F]`, `gap(recall, by=gender)`.
    pub what: ShortText,
    /// Its value, or `not recorded`.
    pub value: ShortText,
}

/// The verdict of one criterion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CriterionResult {
    /// The criterion's name.
    pub name: Name,
    /// Whether it was met.
    pub met: bool,
    /// Its gate.
    pub severity: Gate,
    /// Why (the values compared, or why it could not be evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// The expression evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<Text>,
    /// Met, not met, unknown (a value was not recorded) or error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CriterionStatus>,
    /// The values the expression read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<ObservedValue>,
}

/// The verdict against the objectives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Verdict {
    /// The objectives (version) judged against.
    pub objectives: Ref,
    /// Passed when every `block` criterion is met.
    pub result: Outcome,
    /// Per-criterion results.
    pub criteria: Vec<CriterionResult>,
}

impl Verdict {
    fn check(&self, f: &mut Findings, at: &str) {
        check_verdict(f, at, &self.objectives, self.result, &self.criteria);
    }
}

/// The rules every verdict follows: it names Objectives, its criteria are unique and agree with
/// their status, and it fails exactly when a `block` criterion is not met.
fn check_verdict(f: &mut Findings, at: &str, objectives: &Ref, result: Outcome, criteria: &[CriterionResult]) {
    f.ref_kind(format!("{at}/objectives"), objectives, &[Kind::Objectives]);
    f.unique(&format!("{at}/criteria"), "name", criteria, |c| &c.name);
    for (i, c) in criteria.iter().enumerate() {
        if let Some(status) = c.status
            && (status == CriterionStatus::Met) != c.met
        {
            f.error(format!("{at}/criteria/{i}/met"), "`met` disagrees with `status`");
        }
    }
    let blocked = criteria.iter().any(|c| !c.met && c.severity == Gate::Block);
    let expected = if blocked { Outcome::Failed } else { Outcome::Passed };
    if result != expected {
        f.error(
            format!("{at}/result"),
            format!("result must be `{expected:?}`").to_lowercase(),
        )
        .hint("a verdict fails exactly when a `block` criterion is not met");
    }
}

/// The recorded outcome of `mlspec objectives check`: which objectives (pinned to the checked
/// version by digest), which document's results and which baseline, and each criterion's values
/// and verdict.
///
/// Rules: `objectives` refers to Objectives; `subject` and `baseline` to an Evaluation,
/// TestReport, Run or Training; criteria are unique and agree with their status; the result
/// fails exactly when a `block` criterion is not met.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectivesCheckSpec {
    /// The objectives checked against.
    pub objectives: Ref,
    /// The document whose results were checked.
    pub subject: Ref,
    /// The baseline compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Ref>,
    /// Passed when every `block` criterion is met.
    pub result: Outcome,
    /// Per-criterion results.
    pub criteria: Vec<CriterionResult>,
}

/// The kinds whose results criteria can be checked against.
pub const RESULT_KINDS: &[Kind] = &[Kind::Evaluation, Kind::TestReport, Kind::Run, Kind::Training];

impl Rules for ObjectivesCheckSpec {
    fn check(&self, f: &mut Findings) {
        check_verdict(f, "/spec", &self.objectives, self.result, &self.criteria);
        f.ref_kind("/spec/subject", &self.subject, RESULT_KINDS);
        if let Some(r) = &self.baseline {
            f.ref_kind("/spec/baseline", r, RESULT_KINDS);
        }
    }
}

/// Metrics of a model on a dataset.
///
/// Rules: `model` refers to a ModelPackage, Artifact or Training, `dataset` to a Dataset or
/// Artifact, `baseline` to an Evaluation; slice names are unique; the verdict is consistent with
/// its criteria.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EvaluationSpec {
    /// The model evaluated.
    pub model: Ref,
    /// The data it was evaluated on.
    pub dataset: Ref,
    /// The task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// Overall metrics.
    pub metrics: Vec<Metric>,
    /// Overall metrics the data does not define, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<UndefinedMetric>,
    /// Per-slice metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceMetrics>,
    /// Fairness across groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<Fairness>,
    /// The baseline Evaluation compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Ref>,
    /// Metric changes against the baseline (this − baseline).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub deltas: UniqueMap<Key, f64>,
    /// The verdict against the objectives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The run that evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
}

/// The learning task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Task {
    /// Predicting a class.
    Classification,
    /// Predicting a number.
    Regression,
    /// Ordering items.
    Ranking,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 3] = [Task::Classification, Task::Regression, Task::Ranking];

    /// The task as documents write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Ranking => "ranking",
        }
    }
}

const MODEL_KINDS: &[Kind] = &[Kind::ModelPackage, Kind::Artifact, Kind::Training];
const DATA_KINDS: &[Kind] = &[Kind::Dataset, Kind::Artifact];

impl Rules for EvaluationSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/model", &self.model, MODEL_KINDS);
        f.ref_kind("/spec/dataset", &self.dataset, DATA_KINDS);
        if let Some(r) = &self.baseline {
            f.ref_kind("/spec/baseline", r, &[Kind::Evaluation]);
        }
        f.unique("/spec/slices", "name", &self.slices, |s| &s.name);
        f.unique("/spec/fairness", "attribute", &self.fairness, |s| &s.attribute);
        if let Some(v) = &self.verdict {
            v.check(f, "/spec/verdict");
        }
    }
}

/// The final check on holdback data, a separate step from evaluation.
///
/// Rules: `dataset` (the holdback set) is not `evaluationDataset`, nor any of the
/// `trainingDatasets` — and, when the referenced Evaluation is validated together with this
/// report, not that Evaluation's dataset either; `holdbackReads` is at least 1; the verdict is
/// consistent with its criteria.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestReportSpec {
    /// The model tested.
    pub model: Ref,
    /// The holdback data.
    pub dataset: Ref,
    /// The Evaluation this test follows.
    pub evaluation: Ref,
    /// The data that Evaluation used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_dataset: Option<Ref>,
    /// The data the model was trained on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training_datasets: Vec<Ref>,
    /// Overall metrics on the holdback data.
    pub metrics: Vec<Metric>,
    /// Overall metrics the holdback data does not define, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<UndefinedMetric>,
    /// Per-slice metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<SliceMetrics>,
    /// The holdback rows' identity: `sha256:` of their sorted row hashes (as a Split's
    /// `rowHashDigests`), by which reads are counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdback_digest: Option<Digest>,
    /// How many times the holdback set has been read, this read included.
    pub holdback_reads: u32,
    /// The read budget from the Objectives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdback_read_budget: Option<u32>,
    /// The verdict against the objectives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

impl Rules for TestReportSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/model", &self.model, MODEL_KINDS);
        f.ref_kind("/spec/dataset", &self.dataset, DATA_KINDS);
        f.ref_kind("/spec/evaluation", &self.evaluation, &[Kind::Evaluation]);
        if self.evaluation_dataset.as_ref() == Some(&self.dataset) {
            f.error("/spec/dataset", "the holdback dataset is the evaluation's dataset; the test stage needs data the model was never judged on")
                .hint("test on the holdback split");
        }
        if self.training_datasets.contains(&self.dataset) {
            f.error("/spec/dataset", "the holdback dataset is one the model was trained on");
        }
        if self.holdback_reads == 0 {
            f.error(
                "/spec/holdbackReads",
                "a test report counts its own read, so at least 1",
            );
        }
        if let Some(budget) = self.holdback_read_budget
            && self.holdback_reads > budget
        {
            f.error(
                "/spec/holdbackReads",
                format!("{} reads exceed the budget of {budget}", self.holdback_reads),
            );
        }
        f.unique("/spec/slices", "name", &self.slices, |s| &s.name);
        if let Some(v) = &self.verdict {
            v.check(f, "/spec/verdict");
        }
    }
}

/// A file in a package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageFile {
    /// Path relative to the package root.
    pub path: RelativePath,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// One tensor or field of the IO signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TensorSpec {
    /// Its name.
    pub name: Key,
    /// Element type, e.g. `float32`, `int64`, `string`.
    pub dtype: ShortText,
    /// Shape; -1 marks a variable dimension.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shape: Vec<i64>,
}

/// What the model takes and returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IoSignature {
    /// Inputs.
    pub inputs: Vec<TensorSpec>,
    /// Outputs.
    pub outputs: Vec<TensorSpec>,
}

/// Accelerators needed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Accelerator {
    /// The type, e.g. `nvidia-a100`.
    #[serde(rename = "type")]
    pub accelerator_type: ShortText,
    /// How many.
    pub count: u32,
    /// Memory each must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
}

/// Infrastructure needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// CPU cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Accelerators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Accelerator>,
}

/// Network access the model server needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NetworkPolicy {
    /// No network except serving.
    None,
    /// Outbound access to `allowedHosts` only.
    Restricted,
    /// Unrestricted.
    Open,
}

/// Security constraints for running the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Security {
    /// Run as a non-root user.
    #[serde(default)]
    pub run_as_non_root: bool,
    /// Mount the file system read-only.
    #[serde(default)]
    pub read_only_filesystem: bool,
    /// Network access.
    pub network: NetworkPolicy,
    /// Hosts reachable under `restricted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<ShortText>,
    /// Whether the model may load code (e.g. pickles) at load time.
    #[serde(default)]
    pub allow_code_execution: bool,
    /// Data classification the model may process, e.g. `pii`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<Key>,
}

/// A monitoring agent that runs beside the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringAgent {
    /// The agent's name.
    pub name: Name,
    /// What it exposes or where it sends, e.g. `/metrics`.
    pub endpoint: ShortText,
    /// The signals it provides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Key>,
}

/// A signature over the package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageSignature {
    /// The signing key's id.
    pub keyid: ShortText,
    /// The algorithm, e.g. `ed25519` or `ecdsa-p256`.
    pub algorithm: ShortText,
    /// The attestation (a DSSE envelope) file, relative to the package.
    pub envelope: RelativePath,
}

/// A deployable model.
///
/// Rules: file paths are unique; at least one file; `model` refers to an Artifact or Training;
/// `training` to a Training or Run; `datasets` to Datasets; `testReport` to a TestReport;
/// `restricted` network needs `allowedHosts`; signature envelopes are listed in no `files` entry
/// (a signature cannot sign itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelPackageSpec {
    /// The package version.
    pub version: Version,
    /// The model packaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Ref>,
    /// The model's format, e.g. `onnx`, `sklearn-pickle`, `safetensors`.
    pub format: ShortText,
    /// Every file with its digest.
    pub files: Vec<PackageFile>,
    /// The IO signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<IoSignature>,
    /// Infrastructure needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Security constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Monitoring agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitoring_agents: Vec<MonitoringAgent>,
    /// The training that produced the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<Ref>,
    /// The data it was trained on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<Ref>,
    /// The verdict against the objectives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The final test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_report: Option<Ref>,
    /// Signatures (attestations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<PackageSignature>,
}

impl Rules for ModelPackageSpec {
    fn check(&self, f: &mut Findings) {
        if self.files.is_empty() {
            f.error("/spec/files", "a package has at least one file");
        }
        f.unique("/spec/files", "path", &self.files, |x| &x.path);
        if let Some(r) = &self.model {
            f.ref_kind("/spec/model", r, &[Kind::Artifact, Kind::Training]);
        }
        if let Some(r) = &self.training {
            f.ref_kind("/spec/training", r, &[Kind::Training, Kind::Run]);
        }
        for (i, r) in self.datasets.iter().enumerate() {
            f.ref_kind(format!("/spec/datasets/{i}"), r, DATA_KINDS);
        }
        if let Some(r) = &self.test_report {
            f.ref_kind("/spec/testReport", r, &[Kind::TestReport]);
        }
        if let Some(s) = &self.security
            && s.network == NetworkPolicy::Restricted
            && s.allowed_hosts.is_empty()
        {
            f.error(
                "/spec/security/allowedHosts",
                "restricted network access needs `allowedHosts`",
            );
        }
        let files: HashSet<&RelativePath> = self.files.iter().map(|x| &x.path).collect();
        for (i, sig) in self.signatures.iter().enumerate() {
            if files.contains(&sig.envelope) {
                f.error(
                    format!("/spec/signatures/{i}/envelope"),
                    "the signature envelope is listed among the signed files",
                );
            }
        }
        if let Some(v) = &self.verdict {
            v.check(f, "/spec/verdict");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Task;

    #[test]
    fn a_task_is_named_as_documents_write_it() {
        for task in Task::ALL {
            assert_eq!(serde_json::to_value(task).ok(), Some(task.as_str().into()));
        }
    }
}

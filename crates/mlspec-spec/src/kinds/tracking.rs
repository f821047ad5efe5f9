//! Kinds of experiment tracking and pipelines: Experiment, Run, Module, Pipeline and the
//! workflow metadata file (WorkflowRecord).

use foldhash::{HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::Kind;
use crate::newtypes::{Digest, Key, Name, ShortText, Text, Version};
use crate::reference::Ref;
use crate::rules::{Findings, Rules};
use crate::template::{self, Slot};
use crate::values::{DataPath, Metric, ParamValue, Params, Tags, Timestamp, UniqueMap};

/// A group of runs that pursue one question.
///
/// Rules: `objectives` refers to an Objectives document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExperimentSpec {
    /// The question or hypothesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Text>,
    /// The Objectives the experiment's models are judged by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<Ref>,
    /// Who owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ShortText>,
    /// Where its runs' artifacts go by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<DataPath>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub tags: Tags,
}

impl Rules for ExperimentSpec {
    fn check(&self, f: &mut Findings) {
        if let Some(r) = &self.objectives {
            f.ref_kind("/spec/objectives", r, &[Kind::Objectives]);
        }
    }
}

/// The state of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunStatus {
    /// Waiting to start.
    Scheduled,
    /// Running now.
    Running,
    /// Ended with success.
    Finished,
    /// Ended with an error (see `exitCode`).
    Failed,
    /// Stopped by a signal or a person (see `signal`).
    Killed,
    /// Not recorded by the source (imported records, e.g. from `mlspec migrate`).
    Unknown,
}

/// The code a run executed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceCode {
    /// The repository or location, e.g. `git+https://example.com/repo.git`.
    pub uri: ShortText,
    /// The commit or revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<ShortText>,
    /// The entry point, e.g. `train.py`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<ShortText>,
    /// Digest of the code tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// Resources a run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceUsage {
    /// CPU time in seconds (user + system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

/// One execution.
///
/// Rules: a Finished, Failed or Killed run has an `endTime` not before its `startTime`; a
/// Scheduled or Running run has none; `exitCode` is given only for Failed runs and is not 0;
/// `signal` only for Killed runs; metric keys may repeat only with distinct steps; a run with
/// `cachedFrom` has a `cacheKey`;
/// `experiment` refers to an Experiment, `parent` to a Run, `module` to a Module and `pipeline`
/// to a Pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunSpec {
    /// The experiment it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Ref>,
    /// The parent run (a pipeline run, for a step run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Ref>,
    /// The pipeline it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Ref>,
    /// The module it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Ref>,
    /// Its state.
    pub status: RunStatus,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    /// The exit code of a Failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that killed a Killed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<ShortText>,
    /// The command, as run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The code it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceCode>,
    /// Parameters; immutable once recorded.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub params: Params,
    /// Metric values, possibly several per key at different steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// What it read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Ref>,
    /// What it wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Ref>,
    /// Its logs (stdout, stderr).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<DataPath>,
    /// Resources used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceUsage>,
    /// Free-form tags (mutable, unlike params).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub tags: Tags,
    /// For a pipeline step: its cache key, the digest of what determines its outputs (module,
    /// command, parameters, allow-listed environment and the content of its inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<Digest>,
    /// For a step answered from the cache: the run that produced the outputs it reuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<Ref>,
}

impl RunSpec {
    /// A run with `status` and nothing else recorded yet.
    pub fn with_status(status: RunStatus) -> RunSpec {
        RunSpec {
            experiment: None,
            parent: None,
            pipeline: None,
            module: None,
            status,
            start_time: None,
            end_time: None,
            exit_code: None,
            signal: None,
            command: Vec::new(),
            source: None,
            params: Params::default(),
            metrics: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            logs: Vec::new(),
            resources: None,
            tags: Tags::default(),
            cache_key: None,
            cached_from: None,
        }
    }
}

impl Rules for RunSpec {
    fn check(&self, f: &mut Findings) {
        let refs = [
            ("experiment", &self.experiment, Kind::Experiment),
            ("parent", &self.parent, Kind::Run),
            ("pipeline", &self.pipeline, Kind::Pipeline),
            ("module", &self.module, Kind::Module),
        ];
        for (field, r, kind) in refs {
            if let Some(r) = r {
                f.ref_kind(format!("/spec/{field}"), r, &[kind]);
            }
        }
        let ended = matches!(self.status, RunStatus::Finished | RunStatus::Failed | RunStatus::Killed);
        if ended && self.end_time.is_none() {
            f.error("/spec/status", format!("a {:?} run needs an `endTime`", self.status));
        }
        if matches!(self.status, RunStatus::Scheduled | RunStatus::Running) && self.end_time.is_some() {
            f.error("/spec/endTime", format!("a {:?} run has not ended", self.status));
        }
        f.ordered(
            "/spec/endTime",
            self.start_time.as_ref(),
            self.end_time.as_ref(),
            "the run ends before it starts",
        );
        match (self.status, self.exit_code) {
            (RunStatus::Failed, Some(0)) => {
                f.error("/spec/exitCode", "a Failed run's exit code is not 0");
            }
            (RunStatus::Failed, _) | (_, None) => {}
            (_, Some(_)) => {
                f.error("/spec/exitCode", "only a Failed run has an exit code");
            }
        }
        if self.signal.is_some() && self.status != RunStatus::Killed {
            f.error("/spec/signal", "only a Killed run has a signal");
        }
        if let Some(original) = &self.cached_from {
            f.ref_kind("/spec/cachedFrom", original, &[Kind::Run]);
            if self.cache_key.is_none() {
                f.error("/spec/cachedFrom", "a run answered from the cache names its `cacheKey`");
            }
        }
        let mut seen = HashSet::default();
        for (i, m) in self.metrics.iter().enumerate() {
            if !seen.insert((m.key.as_str(), m.step)) {
                f.error(
                    format!("/spec/metrics/{i}"),
                    format!("metric `{}` is recorded twice at the same step", m.key),
                )
                .hint("give each value of a repeated metric its own `step`");
            }
        }
    }
}

/// The type of a module port or parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PortType {
    /// A Dataset (version).
    Dataset,
    /// A model artifact.
    Model,
    /// Any artifact or file.
    Artifact,
    /// A directory.
    Directory,
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A real number.
    Float,
    /// True/false.
    Boolean,
}

/// A typed input or output of a module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    /// The port's name, unique among the module's inputs (or outputs).
    pub name: Key,
    /// Its type.
    #[serde(rename = "type")]
    pub port_type: PortType,
    /// Whether it may be left unbound.
    #[serde(default)]
    pub optional: bool,
    /// The default value, for parameter-like ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ParamValue>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// For an output: the file name it is written under in the step's directory, e.g.
    /// `predictions.csv` for tools that tell a format from the extension (default: the port's
    /// name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ShortText>,
}

impl Port {
    /// The file name an output is written under: `file`, else the port's name.
    pub fn file_name(&self) -> &str {
        self.file.as_ref().map_or(self.name.as_str(), ShortText::as_str)
    }
}

/// How a module runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Implementation {
    /// A container image, pinned by digest for reproducibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ShortText>,
    /// The command; `{inputs.NAME}`, `{outputs.NAME}`, `{params.NAME}` and
    /// `{artifacts.NAME}` are substituted (see docs/pipelines.md).
    pub command: Vec<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub env: UniqueMap<Key, String>,
    /// The tools it depends on, each with the command that prints its version (e.g. `python3
    /// --version`): a pipeline run records each version in its WorkflowRecord's environment
    /// and in the step's cache key, so that a new version runs the step again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
}

/// A tool a module depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tool {
    /// Its name, as the record lists it.
    pub name: ShortText,
    /// The command that prints its version (the first line of its output is kept).
    pub version_command: Vec<String>,
}

/// A reusable, versioned computation. Each version is its own object with its own status: the
/// name is unique per version, and `Module/name` refers to the newest non-archived version.
///
/// Rules: input, output and parameter names are unique; outputs' file names are unique plain
/// names (no `/`), and only outputs have one; the command is not empty; every placeholder in
/// the command names a declared input, output or parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModuleSpec {
    /// The module's version.
    pub version: Version,
    /// Inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Port>,
    /// Outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Port>,
    /// Parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Port>,
    /// How it runs.
    pub implementation: Implementation,
    /// The code it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceCode>,
}

impl Rules for ModuleSpec {
    fn check(&self, f: &mut Findings) {
        f.unique("/spec/inputs", "name", &self.inputs, |p| &p.name);
        f.unique("/spec/outputs", "name", &self.outputs, |p| &p.name);
        f.unique("/spec/parameters", "name", &self.parameters, |p| &p.name);
        for (j, later) in self.outputs.iter().enumerate() {
            let clash = self.outputs[..j]
                .iter()
                .find(|earlier| earlier.name != later.name && earlier.file_name() == later.file_name());
            if let Some(earlier) = clash {
                f.error(
                    format!("/spec/outputs/{j}/file"),
                    format!(
                        "output `{}` would be written under `{}`, as output `{}` is",
                        later.name,
                        later.file_name(),
                        earlier.name
                    ),
                );
            }
        }
        for (i, port) in self.outputs.iter().enumerate() {
            let name = port.file_name();
            if name.contains('/') || name == "." || name == ".." {
                f.error(
                    format!("/spec/outputs/{i}/file"),
                    format!(
                        "`{name}` is not a file name; an output is one file (or directory) in the step's directory"
                    ),
                );
            }
        }
        for (field, ports) in [("inputs", &self.inputs), ("parameters", &self.parameters)] {
            for (i, _) in ports.iter().enumerate().filter(|(_, p)| p.file.is_some()) {
                f.error(
                    format!("/spec/{field}/{i}/file"),
                    "only an output names the file it is written under",
                );
            }
        }
        if self.implementation.command.is_empty() {
            f.error("/spec/implementation/command", "the command is empty");
        }
        f.unique("/spec/implementation/tools", "name", &self.implementation.tools, |t| {
            &t.name
        });
        for (i, tool) in self.implementation.tools.iter().enumerate() {
            if tool.version_command.is_empty() {
                f.error(
                    format!("/spec/implementation/tools/{i}/versionCommand"),
                    "the command is empty",
                );
            }
        }
        self.check_placeholders(f);
    }
}

impl ModuleSpec {
    /// The ports (or parameters) a placeholder of `slot` may name.
    pub fn ports(&self, slot: Slot) -> &[Port] {
        match slot {
            Slot::Input | Slot::Artifact => &self.inputs,
            Slot::Output => &self.outputs,
            Slot::Param => &self.parameters,
        }
    }

    /// Every placeholder in the command names a declared input, output or parameter.
    fn check_placeholders(&self, f: &mut Findings) {
        for (i, argument) in self.implementation.command.iter().enumerate() {
            for placeholder in template::placeholders(argument) {
                let declared = self.ports(placeholder.slot);
                if declared.iter().all(|p| p.name.as_str() != placeholder.name) {
                    let prefix = placeholder.slot.prefix();
                    let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
                    f.error(
                        format!("/spec/implementation/command/{i}"),
                        format!(
                            "`{{{prefix}.{}}}` names no declared {}",
                            placeholder.name,
                            declared_field(placeholder.slot)
                        ),
                    )
                    .at_character(argument[..placeholder.range.0].chars().count())
                    .hint(if names.is_empty() {
                        format!("declare it under `spec.{}`", declared_field(placeholder.slot))
                    } else {
                        format!("declared: {}", names.join(", "))
                    });
                }
            }
        }
    }
}

fn declared_field(slot: Slot) -> &'static str {
    match slot {
        Slot::Input | Slot::Artifact => "inputs",
        Slot::Output => "outputs",
        Slot::Param => "parameters",
    }
}

/// One step of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Step {
    /// The step's name, unique in the pipeline.
    pub name: Name,
    /// The module it runs.
    pub module: Ref,
    /// Input bindings: `inputs.NAME` (a pipeline input), `steps.STEP.outputs.PORT` (another
    /// step's output, which makes this step depend on it) or a reference to a document.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub inputs: UniqueMap<Key, ShortText>,
    /// Parameter values.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub params: Params,
    /// Steps that must finish first, besides those whose outputs are bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Name>,
    /// Compute to run on (a named target or resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<ShortText>,
}

/// A DAG of steps.
///
/// Rules: step names are unique; every `dependsOn` names a step; every binding
/// `steps.S.outputs.P` names a step S, every `inputs.N` a pipeline input N; no step depends on
/// itself, directly or through others (the steps form a DAG); each step's `module` refers to a
/// Module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PipelineSpec {
    /// Inputs the pipeline takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Port>,
    /// Parameters the pipeline takes, with defaults.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub params: Params,
    /// The steps.
    pub steps: Vec<Step>,
}

impl PipelineSpec {
    /// The steps each step depends on, by step index: explicit `dependsOn` plus bound outputs,
    /// each once, in ascending order. Names that match no step are left out (the rules report
    /// them).
    pub fn step_dependencies(&self) -> Vec<Vec<usize>> {
        let mut deps = self.dependencies(&mut Findings::default());
        for list in &mut deps {
            list.sort_unstable();
            list.dedup();
        }
        deps
    }

    /// The steps each step depends on, by step index: explicit `dependsOn` plus bound outputs.
    /// Unknown names are reported into `f` and left out.
    fn dependencies(&self, f: &mut Findings) -> Vec<Vec<usize>> {
        let index: HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let inputs: HashSet<&str> = self.inputs.iter().map(|p| p.name.as_str()).collect();
        let mut deps = vec![Vec::new(); self.steps.len()];
        for (i, step) in self.steps.iter().enumerate() {
            for (j, dep) in step.depends_on.iter().enumerate() {
                match index.get(dep.as_str()) {
                    Some(&d) => deps[i].push(d),
                    None => {
                        f.error(
                            format!("/spec/steps/{i}/dependsOn/{j}"),
                            format!("no step is named `{dep}`"),
                        );
                    }
                }
            }
            for (port, binding) in step.inputs.iter() {
                let at = format!("/spec/steps/{i}/inputs/{port}");
                let binding = binding.as_str();
                if let Some(rest) = binding.strip_prefix("steps.") {
                    match rest.split_once(".outputs.").and_then(|(s, _)| index.get(s)) {
                        Some(&d) => deps[i].push(d),
                        None => {
                            f.error(at, format!("`{binding}` does not name a step's output"))
                                .hint("write steps.STEP.outputs.PORT with an existing step");
                        }
                    }
                } else if let Some(name) = binding.strip_prefix("inputs.") {
                    if !inputs.contains(name) {
                        f.error(at, format!("the pipeline has no input `{name}`"));
                    }
                } else if binding.parse::<Ref>().is_err() {
                    f.error(
                        at,
                        format!("`{binding}` is neither inputs.NAME, steps.STEP.outputs.PORT nor a reference"),
                    );
                }
            }
        }
        deps
    }
}

/// The first step found on a dependency cycle, if any (depth-first search with colours).
fn step_on_cycle(deps: &[Vec<usize>]) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; deps.len()];
    for start in 0..deps.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge to follow).
        let mut stack = vec![(start, 0)];
        marks[start] = Mark::Open;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            match deps[node].get(*edge) {
                Some(&next) => {
                    *edge += 1;
                    match marks[next] {
                        Mark::Open => return Some(next),
                        Mark::New => {
                            marks[next] = Mark::Open;
                            stack.push((next, 0));
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    marks[node] = Mark::Done;
                    stack.pop();
                }
            }
        }
    }
    None
}

impl Rules for PipelineSpec {
    fn check(&self, f: &mut Findings) {
        if self.steps.is_empty() {
            f.error("/spec/steps", "a pipeline has at least one step");
        }
        f.unique("/spec/steps", "name", &self.steps, |s| {
            s.name.as_str().to_ascii_lowercase()
        });
        for (i, step) in self.steps.iter().enumerate() {
            f.ref_kind(format!("/spec/steps/{i}/module"), &step.module, &[Kind::Module]);
        }
        let deps = self.dependencies(f);
        if let Some(step) = step_on_cycle(&deps) {
            f.error(
                format!("/spec/steps/{step}"),
                format!(
                    "step `{}` depends on itself through a cycle; pipeline steps must form a DAG",
                    self.steps[step].name
                ),
            );
        }
    }
}

/// A module as resolved for one workflow run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResolvedModule {
    /// The module, as referenced by the pipeline.
    pub module: Ref,
    /// The version resolved.
    pub version: Version,
    /// Digest of its code or image.
    pub digest: Digest,
}

/// A pinned input of a workflow run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PinnedInput {
    /// The pipeline input's name.
    pub name: Key,
    /// What was bound to it.
    pub source: Ref,
    /// Its content digest.
    pub digest: Digest,
}

/// A package in the environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageVersion {
    /// Package name.
    pub name: ShortText,
    /// Its version.
    pub version: ShortText,
}

/// The environment a workflow ran in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    /// Operating system, e.g. `linux`.
    pub os: ShortText,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: ShortText,
    /// The mlspec version that ran it.
    pub mlspec_version: ShortText,
    /// Container image, pinned by digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ShortText>,
    /// Language runtimes and libraries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageVersion>,
    /// Allow-listed environment variables (never secrets).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub variables: UniqueMap<Key, String>,
}

/// An output of a step with its digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutputDigest {
    /// The module output's name.
    pub name: Key,
    /// Its content digest.
    pub digest: Digest,
    /// Where it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<DataPath>,
}

/// How a step of a workflow run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StepStatus {
    /// It ran and wrote every declared output.
    Finished,
    /// Its outputs were reused from an earlier run with the same cache key.
    Cached,
    /// It failed: its command exited non-zero or could not start, or an output is missing.
    Failed,
    /// A signal stopped it.
    Killed,
    /// It never started: a step it depends on did not finish, or the pipeline was stopped.
    Skipped,
}

/// What one step of a workflow run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepRecord {
    /// The pipeline step's name.
    pub name: Name,
    /// How it ended.
    pub status: StepStatus,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// The step's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
    /// The module it ran (as listed in `modules`).
    pub module: Ref,
    /// The command as run, placeholders filled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Its cache key (see Run `cacheKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<Digest>,
    /// For a Cached step: the run whose outputs it reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<Ref>,
    /// Its outputs with digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputDigest>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

/// The metadata file of a workflow run, from which the workflow can be recreated and checked
/// digest by digest.
///
/// Rules: step names are unique; every step's module is one of `modules`; input names are unique;
/// output names are unique within a step; a step is Cached exactly when it names `cachedFrom`;
/// `pipeline` refers to a Pipeline and `run` to a Run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkflowRecordSpec {
    /// The pipeline, pinned by digest.
    pub pipeline: Ref,
    /// The pipeline run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Ref>,
    /// Every module as resolved.
    pub modules: Vec<ResolvedModule>,
    /// The parameters used.
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub params: Params,
    /// The inputs with their digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<PinnedInput>,
    /// The environment.
    pub environment: Environment,
    /// Per-step records.
    pub steps: Vec<StepRecord>,
}

impl Rules for WorkflowRecordSpec {
    fn check(&self, f: &mut Findings) {
        f.ref_kind("/spec/pipeline", &self.pipeline, &[Kind::Pipeline]);
        if let Some(r) = &self.run {
            f.ref_kind("/spec/run", r, &[Kind::Run]);
        }
        f.unique("/spec/steps", "name", &self.steps, |s| &s.name);
        f.unique("/spec/inputs", "name", &self.inputs, |s| &s.name);
        let modules: HashSet<&Ref> = self.modules.iter().map(|m| &m.module).collect();
        for (i, step) in self.steps.iter().enumerate() {
            if !modules.contains(&step.module) {
                f.error(
                    format!("/spec/steps/{i}/module"),
                    format!("module `{}` is not among the resolved modules", step.module),
                );
            }
            f.unique(&format!("/spec/steps/{i}/outputs"), "name", &step.outputs, |o| &o.name);
            if (step.status == StepStatus::Cached) != step.cached_from.is_some() {
                f.error(
                    format!("/spec/steps/{i}/cachedFrom"),
                    "a Cached step names the run it reused in `cachedFrom`, and only a Cached step does",
                );
            }
            f.ordered(
                format!("/spec/steps/{i}/finishedAt"),
                step.started_at.as_ref(),
                step.finished_at.as_ref(),
                "the step finishes before it starts",
            );
        }
    }
}

//! A [`Plan`] compiled to an Argo Workflow (or WorkflowTemplate), to run on Kubernetes.
//!
//! [Argo Workflows](https://argo-workflows.readthedocs.io/) runs a DAG of containers. The
//! pipeline maps onto it one to one, and what has no faithful Argo form is refused, naming the
//! step, rather than compiled into a different workflow:
//!
//! - the pipeline is one **DAG template** (the entrypoint, named `pipeline`), and each step one
//!   **task** running a **container template** of its own; a step's `after` steps are the task's
//!   `dependencies`;
//! - pipeline parameters are **workflow parameters** (`spec.arguments.parameters`, overridable
//!   with `argo submit -p NAME=VALUE`); a step parameter written `{params.X}` becomes
//!   `{{workflow.parameters.X}}`, so the override reaches the step;
//! - pipeline inputs are **artifact arguments**, each at a key of the cluster's artifact
//!   repository ([`ArgoOptions::inputs`]) — Argo refuses an artifact argument without a location;
//! - step outputs are **output artifacts** at `/mlspec/outputs/PORT`, passed to the steps that
//!   read them with `from: "{{tasks.STEP.outputs.artifacts.PORT}}"` and placed at
//!   `/mlspec/inputs/PORT`;
//! - every container runs its module's command through `mlspec step run`, which serves `/ok`,
//!   `/healthz`, `/varz` and `/metrics` on port [`STEP_PORT`] (the readiness and liveness
//!   probes, and a Prometheus scrape annotation) and records the step's Run to the store named
//!   by `MLSPEC_STORE` ([`PodStore`]);
//! - a step's `compute` is its container's resources ([`COMPUTE_SYNTAX`]).
//!
//! The names Argo gives pods come from template names and must be lowercase without `_`, so a
//! step's task and template are named after it lowercased with `_` as `-`; the step keeps its
//! own name in the Run it records (`--name`) and in the `mlspec.io/step` annotation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use mlspec_spec::newtypes::Key;
use mlspec_spec::template::{self, Filled, Slot};
use mlspec_spec::values::ParamValue;
use mlspec_spec::{Spec, redact};
use serde_json::{Value, json};

use crate::plan::{Plan, Source, param_text};

/// The port each step's `mlspec step run` serves `/ok`, `/varz` and `/metrics` on.
pub const STEP_PORT: u16 = 9797;
/// How a step's `compute` is written for Argo.
pub const COMPUTE_SYNTAX: &str = "cpu=QUANTITY,memory=QUANTITY,gpu=COUNT (any of them, e.g. cpu=2,memory=4Gi,gpu=1)";

/// The name of the DAG template every task belongs to.
const ENTRYPOINT: &str = "pipeline";
/// The name of the container port the step serves on.
const PORT_NAME: &str = "mlspec";
const INPUTS_DIR: &str = "/mlspec/inputs";
const OUTPUTS_DIR: &str = "/mlspec/outputs";
/// An empty directory mounted at [`OUTPUTS_DIR`], so that a command can write its outputs there
/// whatever its image holds.
const OUTPUTS_VOLUME: &str = "mlspec-outputs";
/// The variable `mlspec step run` reads the store's URL from (`mlspec`'s `env::STORE`).
const STORE_VARIABLE: &str = "MLSPEC_STORE";
/// The longest task or template name Argo accepts.
const MAX_TASK_NAME: usize = 128;
/// The longest Workflow or WorkflowTemplate name Argo accepts.
const MAX_OBJECT_NAME: usize = 63;
/// What `generateName` may be: Kubernetes appends five characters, and Argo admits 63 in all.
const MAX_GENERATE_NAME: usize = MAX_OBJECT_NAME - 5;

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct ArgoOptions {
    /// The image for the modules that name none (`implementation.image`). It must hold the
    /// module's command and `mlspec`.
    pub image: Option<String>,
    /// The store the steps record their Runs to. Without one, each pod keeps its Run in its
    /// own spool, which is lost with the pod.
    pub store: Option<PodStore>,
    /// For each pipeline input, its key in the cluster's artifact repository (Argo's
    /// "key-only" artifacts: the bucket and credentials are the repository's).
    pub inputs: BTreeMap<Key, String>,
    /// A WorkflowTemplate named after the pipeline, instead of a Workflow.
    pub template: bool,
}

/// Where the pods record their Runs: a PostgreSQL URL without a password, or a key of a
/// Kubernetes Secret holding the whole URL. Parsed from `postgres://USER@HOST/DB` or
/// `secret:NAME/KEY`; a URL with a password is refused, so that no credential is written into
/// the workflow, where everyone who can read workflows would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodStore(StoreSource);

#[derive(Clone, Debug, PartialEq, Eq)]
enum StoreSource {
    Url(String),
    Secret { name: String, key: String },
}

impl FromStr for PodStore {
    type Err = ArgoError;

    fn from_str(text: &str) -> Result<PodStore, ArgoError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("secret:") {
            return secret_store(rest).map(PodStore);
        }
        let shown = redact::redact(text);
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(ArgoError::general(
                format!("the pods cannot record their Runs to `{shown}`"),
                "give a PostgreSQL URL every pod can reach (postgres://USER@HOST:PORT/DATABASE), or \
                 secret:NAME/KEY for a Kubernetes Secret holding it; a SQLite file would be inside each pod \
                 and lost with it",
            ));
        }
        if let Some(secret) = redact::find(text).first() {
            return Err(ArgoError::general(
                format!(
                    "`{shown}` holds {}, which would be readable in the workflow",
                    secret.what
                ),
                "put the URL in a Kubernetes Secret (kubectl create secret generic mlspec-store \
                 --from-literal=url=postgres://…) and give secret:mlspec-store/url",
            ));
        }
        Ok(PodStore(StoreSource::Url(text.to_owned())))
    }
}

fn secret_store(rest: &str) -> Result<StoreSource, ArgoError> {
    let usage = "write secret:NAME/KEY: NAME a Secret in the workflow's namespace (lowercase letters, digits, \
                 `-` and `.`), KEY one of its keys (letters, digits, `-`, `_` and `.`)";
    let Some((name, key)) = rest.split_once('/') else {
        return Err(ArgoError::general(
            format!("`secret:{rest}` names no key of the Secret"),
            usage,
        ));
    };
    let name_ok = is_dns_subdomain(name);
    let key_ok =
        !key.is_empty() && key.len() <= 253 && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !(name_ok && key_ok) {
        return Err(ArgoError::general(
            format!("`secret:{rest}` is not a Secret's name and key"),
            usage,
        ));
    }
    Ok(StoreSource::Secret {
        name: name.to_owned(),
        key: key.to_owned(),
    })
}

/// A Kubernetes object name: at most 253 characters, lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit.
fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= 253
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
}

/// Why a pipeline has no faithful Argo form: the step it is about (when it is about one), what
/// is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgoError {
    /// The step's name, as the pipeline writes it.
    pub step: Option<String>,
    /// What cannot be compiled.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl ArgoError {
    fn at_step(step: &str, message: impl Into<String>, hint: impl Into<String>) -> ArgoError {
        ArgoError {
            step: Some(step.to_owned()),
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn general(message: impl Into<String>, hint: impl Into<String>) -> ArgoError {
        ArgoError {
            step: None,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for ArgoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step `{step}`: {}", self.message)?,
            None => f.write_str(&self.message)?,
        }
        if self.hint.is_empty() {
            Ok(())
        } else {
            write!(f, "\n  hint: {}", self.hint)
        }
    }
}

impl std::error::Error for ArgoError {}

/// The Argo Workflow (or WorkflowTemplate, with [`ArgoOptions::template`]) that runs `plan`,
/// as JSON (YAML is a superset: serialize it either way).
pub fn compile(plan: &Plan, options: &ArgoOptions) -> Result<Value, ArgoError> {
    let tasks = task_names(plan)?;
    let parameters = workflow_parameters(plan)?;
    let artifacts = workflow_artifacts(plan, options)?;
    let mut templates = vec![dag_template(plan, &tasks, &artifacts)?];
    for &step in &plan.order {
        templates.push(step_template(plan, step, &tasks, options)?);
    }
    let mut spec = json!({ "entrypoint": ENTRYPOINT });
    let mut arguments = serde_json::Map::new();
    if !parameters.is_empty() {
        arguments.insert("parameters".into(), Value::Array(parameters));
    }
    if !artifacts.is_empty() {
        arguments.insert("artifacts".into(), Value::Array(artifacts));
    }
    if !arguments.is_empty() {
        spec["arguments"] = Value::Object(arguments);
    }
    spec["templates"] = Value::Array(templates);
    let pipeline = plan.pipeline.metadata.name.as_str();
    let metadata = workflow_metadata(pipeline, options.template)?;
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": if options.template { "WorkflowTemplate" } else { "Workflow" },
        "metadata": metadata,
        "spec": spec,
    }))
}

/// The Workflow's `generateName` (a prefix, shortened as needed) or the WorkflowTemplate's
/// `name` (which must fit as it is), with the pipeline's own name as an annotation.
fn workflow_metadata(pipeline: &str, template: bool) -> Result<Value, ArgoError> {
    let name = kubernetes_name(pipeline);
    let annotations = json!({ "mlspec.io/pipeline": pipeline });
    if !template {
        let prefix: String = name.chars().take(MAX_GENERATE_NAME - 1).collect();
        return Ok(json!({ "generateName": format!("{}-", prefix.trim_end_matches('-')), "annotations": annotations }));
    }
    if name.len() > MAX_OBJECT_NAME || name.ends_with('-') {
        return Err(ArgoError::general(
            format!(
                "`{pipeline}` cannot name a WorkflowTemplate: Argo takes at most {MAX_OBJECT_NAME} characters ending with a letter or digit"
            ),
            "rename the pipeline, or compile a Workflow (without --template), whose name is generated",
        ));
    }
    Ok(json!({ "name": name, "annotations": annotations }))
}

/// `text` lowercased with `_` as `-`: what Kubernetes names (and so Argo's pod names) allow of
/// an MLSpec name.
fn kubernetes_name(text: &str) -> String {
    text.chars()
        .map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() })
        .collect()
}

/// Each step's task (and template) name, by step index; two steps may not share one, nor take
/// the entrypoint's, and a name in a dependency may not start with a digit (Argo evaluates
/// dependencies as expressions, where it would be a number).
fn task_names(plan: &Plan) -> Result<Vec<String>, ArgoError> {
    let depended_on: BTreeSet<usize> = plan.steps.iter().flat_map(|s| s.after.iter().copied()).collect();
    let mut taken: BTreeMap<String, &str> = BTreeMap::new();
    let mut names = Vec::with_capacity(plan.steps.len());
    for (index, step) in plan.steps.iter().enumerate() {
        let step_name = step.name.as_str();
        let name = kubernetes_name(step_name);
        let rename = "rename the step (letters, digits and `-`; names are lowercased for Argo)";
        if name.len() > MAX_TASK_NAME {
            return Err(ArgoError::at_step(
                step_name,
                format!("the name is longer than the {MAX_TASK_NAME} characters Argo allows a task"),
                rename,
            ));
        }
        if name == ENTRYPOINT {
            return Err(ArgoError::at_step(
                step_name,
                format!("`{ENTRYPOINT}` is the name of the workflow's DAG template"),
                rename,
            ));
        }
        if let Some(other) = taken.insert(name.clone(), step_name) {
            return Err(ArgoError::at_step(
                step_name,
                format!("step `{other}` has the same Argo name `{name}` (lowercase, `_` as `-`)"),
                rename,
            ));
        }
        let in_dependency = !step.after.is_empty() || depended_on.contains(&index);
        if in_dependency && name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ArgoError::at_step(
                step_name,
                "Argo refuses a task name that starts with a digit in a DAG with dependencies",
                "rename the step to start with a letter",
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Argo's rule for parameter and artifact names.
fn is_argo_item_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The pipeline's parameters as workflow parameters, each with its value (the plan's: the
/// pipeline's default, or the request's override).
fn workflow_parameters(plan: &Plan) -> Result<Vec<Value>, ArgoError> {
    plan.params
        .iter()
        .map(|(name, value)| {
            if !is_argo_item_name(name.as_str()) {
                return Err(ArgoError::general(
                    format!("the pipeline parameter `{name}` cannot be an Argo parameter, whose names are letters, digits, `-` and `_`"),
                    "rename the parameter",
                ));
            }
            let text = param_text(value);
            refuse_argo_expression(None, &format!("the value of parameter `{name}`"), &text)?;
            Ok(json!({ "name": name.as_str(), "value": text }))
        })
        .collect()
}

/// The pipeline inputs given a location, as artifact arguments at their keys; every input a
/// step reads must have one.
fn workflow_artifacts(plan: &Plan, options: &ArgoOptions) -> Result<Vec<Value>, ArgoError> {
    let Spec::Pipeline(pipeline) = &plan.pipeline.spec else {
        return Err(ArgoError::general(
            format!("`{}` is not a Pipeline", plan.pipeline.metadata.name),
            "compile a Pipeline",
        ));
    };
    for name in options.inputs.keys() {
        if pipeline.inputs.iter().all(|port| port.name != *name) {
            return Err(ArgoError::general(
                format!("the pipeline has no input `{name}`"),
                "give --input only for the pipeline's inputs",
            ));
        }
    }
    for step in &plan.steps {
        for source in step.inputs.values() {
            if let Source::PipelineInput(name) = source
                && !options.inputs.contains_key(name)
            {
                return Err(ArgoError::at_step(
                    step.name.as_str(),
                    format!("it reads the pipeline input `{name}`, which has no location"),
                    format!("give its key in the cluster's artifact repository: --input {name}=KEY"),
                ));
            }
        }
    }
    options
        .inputs
        .iter()
        .map(|(name, key)| {
            if !is_argo_item_name(name.as_str()) {
                return Err(ArgoError::general(
                    format!("the pipeline input `{name}` cannot be an Argo artifact, whose names are letters, digits, `-` and `_`"),
                    "rename the input",
                ));
            }
            if key.trim().is_empty() {
                return Err(ArgoError::general(
                    format!("the pipeline input `{name}` is given an empty key"),
                    format!("give its key in the cluster's artifact repository: --input {name}=KEY"),
                ));
            }
            refuse_argo_expression(None, &format!("the key of input `{name}`"), key)?;
            // Key-only: Argo takes the rest of the location (whatever the repository's type)
            // from the artifact repository.
            Ok(json!({ "name": name.as_str(), "s3": { "key": key } }))
        })
        .collect()
}

/// The entrypoint: one task per step, with its dependencies and the artifacts it reads.
fn dag_template(plan: &Plan, tasks: &[String], artifacts: &[Value]) -> Result<Value, ArgoError> {
    let tasks = plan
        .order
        .iter()
        .map(|&step| dag_task(plan, step, tasks))
        .collect::<Result<Vec<_>, _>>()?;
    let mut template = json!({ "name": ENTRYPOINT });
    if !artifacts.is_empty() {
        // The workflow's arguments are the entrypoint's inputs; tasks take them from there.
        let names: Vec<Value> = artifacts.iter().map(|a| json!({ "name": a["name"] })).collect();
        template["inputs"] = json!({ "artifacts": names });
    }
    template["dag"] = json!({ "tasks": tasks });
    Ok(template)
}

fn dag_task(plan: &Plan, step: usize, tasks: &[String]) -> Result<Value, ArgoError> {
    let planned = &plan.steps[step];
    let mut task = json!({ "name": tasks[step], "template": tasks[step] });
    if !planned.after.is_empty() {
        let dependencies: Vec<&str> = planned.after.iter().map(|&d| tasks[d].as_str()).collect();
        task["dependencies"] = json!(dependencies);
    }
    let mut artifacts = Vec::new();
    for (port, source) in &planned.inputs {
        let from = match source {
            Source::PipelineInput(name) => format!("{{{{inputs.artifacts.{name}}}}}"),
            Source::StepOutput(producer, output) => {
                format!("{{{{tasks.{}.outputs.artifacts.{output}}}}}", tasks[*producer])
            }
            Source::Reference(reference) => {
                return Err(ArgoError::at_step(
                    planned.name.as_str(),
                    format!("input `{port}` is bound to the stored document `{reference}`, which a pod cannot read"),
                    "bind it to a pipeline input and give the document's file as its artifact (--input NAME=KEY), \
                     or run the pipeline with `mlspec pipeline run`",
                ));
            }
        };
        artifacts.push(json!({ "name": port.as_str(), "from": from }));
    }
    if !artifacts.is_empty() {
        task["arguments"] = json!({ "artifacts": artifacts });
    }
    Ok(task)
}

/// One step's container template: the container, the artifacts it reads and writes, and
/// annotations naming the step and its module and inviting Prometheus to scrape it.
fn step_template(plan: &Plan, step: usize, tasks: &[String], options: &ArgoOptions) -> Result<Value, ArgoError> {
    let planned = &plan.steps[step];
    let spec = plan.module_of(step).spec();
    check_port_names(plan, step)?;
    let mut container = step_container(plan, step, options)?;
    let mut template = json!({
        "name": tasks[step],
        "metadata": { "annotations": {
            "mlspec.io/step": planned.name.as_str(),
            "mlspec.io/module": plan.module_of(step).reference().to_string(),
            "prometheus.io/scrape": "true",
            "prometheus.io/port": STEP_PORT.to_string(),
            "prometheus.io/path": "/metrics",
        }},
    });
    if !planned.inputs.is_empty() {
        let inputs: Vec<Value> = planned
            .inputs
            .iter()
            .map(|(port, source)| json!({ "name": port.as_str(), "path": input_path(plan, port, source, options) }))
            .collect();
        template["inputs"] = json!({ "artifacts": inputs });
    }
    if !spec.outputs.is_empty() {
        let outputs: Vec<Value> = spec
            .outputs
            .iter()
            .map(|port| {
                let mut artifact = json!({ "name": port.name.as_str(), "path": output_path(port.file_name()) });
                if port.optional {
                    artifact["optional"] = json!(true);
                }
                artifact
            })
            .collect();
        template["outputs"] = json!({ "artifacts": outputs });
        template["volumes"] = json!([{ "name": OUTPUTS_VOLUME, "emptyDir": {} }]);
        container["volumeMounts"] = json!([{ "name": OUTPUTS_VOLUME, "mountPath": OUTPUTS_DIR }]);
    }
    template["container"] = container;
    Ok(template)
}

/// The module's ports become artifacts, so their names must be Argo's.
fn check_port_names(plan: &Plan, step: usize) -> Result<(), ArgoError> {
    let module = plan.module_of(step);
    let spec = module.spec();
    match spec
        .inputs
        .iter()
        .chain(&spec.outputs)
        .find(|p| !is_argo_item_name(p.name.as_str()))
    {
        Some(port) => Err(ArgoError::at_step(
            plan.steps[step].name.as_str(),
            format!(
                "port `{}` of module `{}` cannot be an Argo artifact, whose names are letters, digits, `-` and `_`",
                port.name, module.document.metadata.name
            ),
            "rename the port in the module",
        )),
        None => Ok(()),
    }
}

/// The container: image, command, environment, the step's port with probes on `/ok`, and
/// resources.
fn step_container(plan: &Plan, step: usize, options: &ArgoOptions) -> Result<Value, ArgoError> {
    let planned = &plan.steps[step];
    let mut container = json!({
        "image": step_image(plan, step, options)?,
        "command": step_command(plan, step, options)?,
    });
    let env = container_env(plan, step, options.store.as_ref())?;
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
    container["ports"] = json!([{ "name": PORT_NAME, "containerPort": STEP_PORT }]);
    // Readiness is `/ok` (503 once the command failed); liveness is `/healthz`, which stays 200
    // while the step serves: a failed command is reported, not restarted. The port by number:
    // Kubernetes also takes its name, but Hera's model of a probe does not.
    container["readinessProbe"] = json!({ "httpGet": { "path": "/ok", "port": STEP_PORT }, "periodSeconds": 5 });
    container["livenessProbe"] =
        json!({ "httpGet": { "path": "/healthz", "port": STEP_PORT }, "periodSeconds": 10, "failureThreshold": 6 });
    if let Some(compute) = &planned.compute {
        container["resources"] = resources(planned.name.as_str(), compute.as_str())?;
    }
    Ok(container)
}

/// The module's own image, else the default one.
fn step_image(plan: &Plan, step: usize, options: &ArgoOptions) -> Result<String, ArgoError> {
    let step_name = plan.steps[step].name.as_str();
    let module = plan.module_of(step);
    let image = module
        .spec()
        .implementation
        .image
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .or_else(|| options.image.clone())
        .ok_or_else(|| {
            ArgoError::at_step(
                step_name,
                format!("module `{}` names no image to run in", module.document.metadata.name),
                "give one with --image IMAGE (it must hold the command and mlspec), or set implementation.image in the module",
            )
        })?;
    refuse_argo_expression(Some(step_name), "the image", &image)?;
    Ok(image)
}

/// Where an input artifact is placed: `/mlspec/inputs/PORT/FILE`, FILE being the file name it
/// had where it came from (the producing output's, or the last part of the input's key), so
/// that a tool telling a format from the extension still can.
fn input_path(plan: &Plan, port: &Key, source: &Source, options: &ArgoOptions) -> String {
    let file = match source {
        Source::StepOutput(producer, output) => plan
            .module_of(*producer)
            .spec()
            .outputs
            .iter()
            .find(|p| p.name == *output)
            .map(|p| p.file_name().to_owned()),
        Source::PipelineInput(name) => options
            .inputs
            .get(name)
            .and_then(|key| key.rsplit('/').next())
            .filter(|file| !file.is_empty())
            .map(str::to_owned),
        Source::Reference(_) => None,
    };
    format!("{INPUTS_DIR}/{port}/{}", file.as_deref().unwrap_or(port.as_str()))
}

/// Where an output is written: `/mlspec/outputs/FILE` (the port's file name).
fn output_path(file: &str) -> String {
    format!("{OUTPUTS_DIR}/{file}")
}

/// `mlspec step run` with the step's name, module, parameters and outputs, serving on
/// [`STEP_PORT`], then the module's command with inputs and outputs at their artifact paths and
/// parameters as written for Argo ([`argo_param`]).
fn step_command(plan: &Plan, step: usize, options: &ArgoOptions) -> Result<Vec<String>, ArgoError> {
    let planned = &plan.steps[step];
    let step_name = planned.name.as_str();
    let module = plan.module_of(step);
    for argument in &module.spec().implementation.command {
        refuse_argo_expression(Some(step_name), "the module's command", argument)?;
        if let Some(placeholder) = template::placeholders(argument)
            .into_iter()
            .find(|p| p.slot == Slot::Artifact)
        {
            return Err(ArgoError {
                step: Some(step_name.to_owned()),
                message: format!(
                    "module `{}` gives its command the stored Artifact of input `{}` ({{artifacts.{}}}), which a compiled workflow cannot know",
                    module.document.metadata.name, placeholder.name, placeholder.name
                ),
                hint: "pass the input's path ({inputs.NAME}) instead, or run the pipeline with `mlspec pipeline run`"
                    .to_owned(),
            });
        }
    }
    let mut command: Vec<String> = ["mlspec", "step", "run", "--name", step_name, "--module"]
        .map(str::to_owned)
        .into();
    command.push(module.reference().to_string());
    command.extend(["--listen".to_owned(), format!("0.0.0.0:{STEP_PORT}")]);
    let params = planned
        .params
        .iter()
        .map(|(name, value)| Ok((name, argo_param(plan, step, name, value)?)))
        .collect::<Result<BTreeMap<&Key, String>, ArgoError>>()?;
    for (name, text) in &params {
        command.extend(["--param".to_owned(), format!("{name}={text}")]);
    }
    for port in &module.spec().outputs {
        command.extend(["--output".to_owned(), output_path(port.file_name())]);
    }
    command.push("--".to_owned());
    // Two ports bound to one source are two artifacts with the same content: the command may
    // read either path.
    let input = |source: &Source, _: Slot| {
        planned
            .inputs
            .iter()
            .find(|(_, s)| *s == source)
            .map(|(port, _)| input_path(plan, port, source, options))
            .unwrap_or_default()
    };
    let output = |name: &str| {
        let port = module.spec().outputs.iter().find(|p| p.name.as_str() == name);
        output_path(port.map_or(name, |p| p.file_name()))
    };
    let param = |name: &Key, _: &ParamValue| params.get(name).cloned().unwrap_or_default();
    command.extend(plan.command_with(step, input, output, param));
    Ok(command)
}

/// How step parameter `name` is written into the workflow: the step's own text with each
/// `{params.X}` as `{{workflow.parameters.X}}` (so that `argo submit -p X=…` reaches it), or
/// the plan's value when the step gives a constant or the module's default applies.
fn argo_param(plan: &Plan, step: usize, name: &Key, value: &ParamValue) -> Result<String, ArgoError> {
    let step_name = plan.steps[step].name.as_str();
    let given = match &plan.pipeline.spec {
        Spec::Pipeline(pipeline) => pipeline
            .steps
            .iter()
            .find(|s| s.name.as_str() == step_name)
            .and_then(|s| s.params.0.get(name)),
        _ => None,
    };
    let Some(ParamValue::String(text)) = given else {
        return Ok(param_text(value));
    };
    refuse_argo_expression(Some(step_name), &format!("parameter `{name}`"), text)?;
    let filled = template::fill(text, |slot, placeholder| {
        Some(match slot {
            Slot::Param => format!("{{{{workflow.parameters.{placeholder}}}}}"),
            other => format!("{{{}.{placeholder}}}", other.prefix()),
        })
    });
    Ok(match filled {
        Filled::Text(text) => text,
        Filled::Dropped => param_text(value),
    })
}

/// Refuses text that Argo would read as one of its own expressions (`{{…}}`): there is no way
/// to write it literally.
fn refuse_argo_expression(step: Option<&str>, what: &str, text: &str) -> Result<(), ArgoError> {
    if !text.contains("{{") {
        return Ok(());
    }
    let message = format!("{what} contains `{{{{`, which Argo would read as one of its expressions");
    let hint = "Argo has no way to write `{{` literally; change the text";
    Err(match step {
        Some(step) => ArgoError::at_step(step, message, hint),
        None => ArgoError::general(message, hint),
    })
}

/// The module's environment, then `MLSPEC_STORE` when a store is given.
fn container_env(plan: &Plan, step: usize, store: Option<&PodStore>) -> Result<Vec<Value>, ArgoError> {
    let step_name = plan.steps[step].name.as_str();
    let module = plan.module_of(step);
    let mut env = Vec::new();
    for (name, value) in module.spec().implementation.env.0.iter() {
        let valid = name
            .as_str()
            .starts_with(|c: char| c.is_ascii_alphabetic() || "-._".contains(c))
            && name
                .as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if !valid {
            return Err(ArgoError::at_step(
                step_name,
                format!(
                    "`{name}` in module `{}`'s env is not a container environment variable name",
                    module.document.metadata.name
                ),
                "use letters, digits, `_`, `-` and `.`, not starting with a digit",
            ));
        }
        if store.is_some() && name.as_str() == STORE_VARIABLE {
            return Err(ArgoError::at_step(
                step_name,
                format!(
                    "module `{}` sets {STORE_VARIABLE}, and so does --store",
                    module.document.metadata.name
                ),
                "leave the store to --store",
            ));
        }
        refuse_argo_expression(Some(step_name), &format!("env `{name}`"), value)?;
        env.push(json!({ "name": name.as_str(), "value": value }));
    }
    match store.map(|s| &s.0) {
        Some(StoreSource::Url(url)) => env.push(json!({ "name": STORE_VARIABLE, "value": url })),
        Some(StoreSource::Secret { name, key }) => env.push(json!({
            "name": STORE_VARIABLE,
            "valueFrom": { "secretKeyRef": { "name": name, "key": key } },
        })),
        None => {}
    }
    Ok(env)
}

/// The container's resources from `compute` ([`COMPUTE_SYNTAX`]): each one both requested and
/// the limit, `gpu` as `nvidia.com/gpu`. A named compute target has no Argo form.
fn resources(step: &str, compute: &str) -> Result<Value, ArgoError> {
    let refuse = |message: String| ArgoError::at_step(step, message, format!("write compute as {COMPUTE_SYNTAX}"));
    let mut amounts = serde_json::Map::new();
    for item in compute.split(',').map(str::trim) {
        let Some((name, amount)) = item.split_once('=') else {
            return Err(refuse(format!(
                "compute `{compute}` is not a list of resources (a named compute target has no Argo form)"
            )));
        };
        let (resource, valid) = match name.trim() {
            "cpu" => ("cpu", is_quantity(amount.trim())),
            "memory" => ("memory", is_quantity(amount.trim())),
            "gpu" => ("nvidia.com/gpu", amount.trim().parse::<u32>().is_ok_and(|n| n > 0)),
            other => {
                return Err(refuse(format!(
                    "compute names `{other}`, which is not cpu, memory or gpu"
                )));
            }
        };
        if !valid {
            return Err(refuse(format!(
                "`{item}` in compute is not an amount of {}",
                name.trim()
            )));
        }
        if amounts.insert(resource.to_owned(), json!(amount.trim())).is_some() {
            return Err(refuse(format!("compute gives {} twice", name.trim())));
        }
    }
    Ok(json!({ "requests": amounts.clone(), "limits": amounts }))
}

/// A Kubernetes quantity as people write them: a positive decimal number and an optional
/// suffix (`500m`, `2`, `1.5`, `4Gi`, `1G`).
fn is_quantity(text: &str) -> bool {
    const SUFFIXES: [&str; 14] = [
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number_ok = number.parse::<f64>().is_ok_and(|n| n > 0.0) && number.matches('.').count() <= 1;
    number_ok && SUFFIXES.contains(&suffix)
}

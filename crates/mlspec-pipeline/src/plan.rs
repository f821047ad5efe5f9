//! A Pipeline checked against its Modules, the parameters and the inputs given, before anything
//! runs: every step's module found, every required port bound to something of a compatible
//! type, every parameter given or defaulted and of its declared type, the steps ordered.

use std::collections::{BTreeMap, BTreeSet};

use mlspec_spec::kinds::{ModuleSpec, PipelineSpec, Port, PortType};
use mlspec_spec::newtypes::{Digest, Key, Name, ShortText};
use mlspec_spec::rules::Findings;
use mlspec_spec::template::{self, Slot};
use mlspec_spec::values::{ParamValue, Params};
use mlspec_spec::{Document, Kind, Ref, RefTarget, Spec};

use crate::definition_digest;

/// One version of a module, as a pipeline run uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleVersion {
    /// The Module document.
    pub document: Document,
    /// Its definition digest ([`definition_digest`]).
    pub digest: Digest,
}

impl ModuleVersion {
    /// `document` when it is a Module.
    pub fn new(document: Document) -> Result<ModuleVersion, String> {
        if document.kind() != Kind::Module {
            return Err(format!(
                "`{}` is a {}, not a Module",
                document.metadata.name,
                document.kind()
            ));
        }
        let digest = definition_digest(&document);
        Ok(ModuleVersion { document, digest })
    }

    /// The module's spec.
    pub fn spec(&self) -> &ModuleSpec {
        match &self.document.spec {
            Spec::Module(spec) => spec,
            _ => unreachable!("ModuleVersion::new admits only Modules"),
        }
    }

    /// `Module/NAME@VERSION`.
    pub fn reference(&self) -> Ref {
        Ref {
            target: RefTarget::Named {
                kind: Kind::Module,
                name: self.document.metadata.name.clone(),
                version: Some(self.spec().version.clone()),
            },
            digest: None,
        }
    }

    /// Whether `reference` (as a pipeline step writes it) names this version.
    pub fn answers(&self, reference: &Ref) -> bool {
        match &reference.target {
            RefTarget::Named { kind, name, version } => {
                *kind == Kind::Module
                    && *name == self.document.metadata.name
                    && version.as_ref().is_none_or(|v| *v == self.spec().version)
            }
            RefTarget::Id(id) => self.document.metadata.id.as_ref() == Some(id),
        }
    }
}

/// What a step's input is bound to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A pipeline input, by name.
    PipelineInput(Key),
    /// An output of an earlier step: (step index, output name).
    StepOutput(usize, Key),
    /// A stored document.
    Reference(Ref),
}

/// One step, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedStep {
    /// The step's name.
    pub name: Name,
    /// Its module, an index into [`Plan::modules`].
    pub module: usize,
    /// What each bound input of the module is bound to.
    pub inputs: BTreeMap<Key, Source>,
    /// A value for every module parameter that has one (given, or the module's default).
    pub params: BTreeMap<Key, ParamValue>,
    /// The steps that must finish first, ascending.
    pub after: Vec<usize>,
    /// The compute it asks for.
    pub compute: Option<ShortText>,
}

/// What the caller of a run supplies besides the pipeline.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `--param` values, overriding the pipeline's defaults.
    pub params: BTreeMap<Key, String>,
    /// The pipeline inputs that are bound.
    pub inputs: BTreeSet<Key>,
}

/// A pipeline ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The Pipeline document.
    pub pipeline: Document,
    /// Every module version the steps use, each once.
    pub modules: Vec<ModuleVersion>,
    /// The pipeline's parameters, defaults overridden by the request.
    pub params: Params,
    /// The steps, in the pipeline's order.
    pub steps: Vec<PlannedStep>,
    /// The step indexes in an order where every step comes after those it depends on (the
    /// pipeline's order among independent steps).
    pub order: Vec<usize>,
}

impl Plan {
    /// Checks `pipeline` (which must already be valid on its own) against `modules` (the module
    /// version resolved for each step's `module` reference) and `request`. Problems are reported
    /// at JSON Pointers into the pipeline document, like validation's.
    pub fn new(pipeline: Document, modules: &[ModuleVersion], request: &Request) -> Result<Plan, Findings> {
        let Spec::Pipeline(spec) = &pipeline.spec else {
            let mut findings = Findings::default();
            findings.error("/kind", format!("this is a {}, not a Pipeline", pipeline.kind()));
            return Err(findings);
        };
        let mut findings = Findings::default();
        let params = pipeline_params(spec, &request.params, &mut findings);
        check_pipeline_inputs(spec, &request.inputs, &mut findings);
        let mut used: Vec<ModuleVersion> = Vec::new();
        let deps = spec.step_dependencies();
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (i, step) in spec.steps.iter().enumerate() {
            let Some(module) = modules.iter().find(|m| m.answers(&step.module)) else {
                findings
                    .error(
                        format!("/spec/steps/{i}/module"),
                        format!("module `{}` was not found", step.module),
                    )
                    .hint("give its file with -f, or apply it to the store");
                continue;
            };
            let index = match used.iter().position(|m| m.digest == module.digest) {
                Some(index) => index,
                None => {
                    used.push(module.clone());
                    used.len() - 1
                }
            };
            steps.push(PlannedStep {
                name: step.name.clone(),
                module: index,
                inputs: BTreeMap::new(),
                params: BTreeMap::new(),
                after: deps[i].clone(),
                compute: step.compute.clone(),
            });
        }
        if findings.has_errors() || steps.len() != spec.steps.len() {
            return Err(findings);
        }
        let mut plan = Plan {
            order: topological_order(&deps),
            pipeline: pipeline.clone(),
            modules: used,
            params,
            steps,
        };
        for i in 0..spec.steps.len() {
            plan.bind_inputs(spec, i, &mut findings);
            plan.bind_params(spec, i, &mut findings);
        }
        if findings.has_errors() { Err(findings) } else { Ok(plan) }
    }

    /// The module of step `step`.
    pub fn module_of(&self, step: usize) -> &ModuleVersion {
        &self.modules[self.steps[step].module]
    }

    /// Step `step`'s command with its placeholders filled: inputs by `input`, outputs by
    /// `output`, parameters by their values. An optional input left unbound is absent
    /// ([`template::fill`]).
    pub fn command(
        &self,
        step: usize,
        input: impl FnMut(&Source, Slot) -> String,
        output: impl FnMut(&str) -> String,
    ) -> Vec<String> {
        self.command_with(step, input, output, |_, value| param_text(value))
    }

    /// [`Plan::command`] with parameters written by `param(name, value)` instead of their
    /// values, e.g. as a reference a workflow engine fills in at run time.
    pub fn command_with(
        &self,
        step: usize,
        mut input: impl FnMut(&Source, Slot) -> String,
        mut output: impl FnMut(&str) -> String,
        mut param: impl FnMut(&Key, &ParamValue) -> String,
    ) -> Vec<String> {
        let planned = &self.steps[step];
        let command = &self.module_of(step).spec().implementation.command;
        template::fill_command(command, |slot, name| match slot {
            Slot::Input | Slot::Artifact => planned
                .inputs
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, s)| input(s, slot)),
            Slot::Output => Some(output(name)),
            Slot::Param => planned
                .params
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(k, v)| param(k, v)),
        })
    }

    fn bind_inputs(&mut self, spec: &PipelineSpec, i: usize, findings: &mut Findings) {
        let step = &spec.steps[i];
        let module = self.module_of(i).spec().clone();
        let module_name = &self.module_of(i).document.metadata.name;
        let mut bound = BTreeMap::new();
        for (port_name, binding) in step.inputs.iter() {
            let at = format!("/spec/steps/{i}/inputs/{port_name}");
            let Some(port) = module.inputs.iter().find(|p| p.name == *port_name) else {
                findings
                    .error(at, format!("module `{module_name}` has no input `{port_name}`"))
                    .hint(declared(&module.inputs));
                continue;
            };
            if let Some(source) = self.source(spec, binding.as_str(), port, &at, findings) {
                bound.insert(port_name.clone(), source);
            }
        }
        for port in module
            .inputs
            .iter()
            .filter(|p| !p.optional && !bound.contains_key(&p.name))
        {
            findings
                .error(
                    format!("/spec/steps/{i}/inputs"),
                    format!("input `{}` of module `{module_name}` is not bound", port.name),
                )
                .hint("bind it to inputs.NAME, steps.STEP.outputs.PORT or a reference");
        }
        self.steps[i].inputs = bound;
    }

    /// What `binding` names, checked against the port it is bound to.
    fn source(
        &self,
        spec: &PipelineSpec,
        binding: &str,
        port: &Port,
        at: &str,
        findings: &mut Findings,
    ) -> Option<Source> {
        let (source, produced) = if let Some(name) = binding.strip_prefix("inputs.") {
            let input = spec.inputs.iter().find(|p| p.name.as_str() == name)?;
            (Source::PipelineInput(input.name.clone()), input.port_type)
        } else if let Some(rest) = binding.strip_prefix("steps.") {
            let (step_name, output) = rest.split_once(".outputs.")?;
            let producer = spec.steps.iter().position(|s| s.name.as_str() == step_name)?;
            let module = self.module_of(producer);
            let Some(out) = module.spec().outputs.iter().find(|p| p.name.as_str() == output) else {
                findings
                    .error(
                        at,
                        format!(
                            "step `{step_name}` (module `{}`) has no output `{output}`",
                            module.document.metadata.name
                        ),
                    )
                    .hint(declared(&module.spec().outputs));
                return None;
            };
            (Source::StepOutput(producer, out.name.clone()), out.port_type)
        } else {
            return binding.parse::<Ref>().ok().map(Source::Reference);
        };
        if !compatible(produced, port.port_type) {
            findings.error(
                at,
                format!(
                    "`{binding}` is {}, but input `{}` takes {}",
                    type_name(produced),
                    port.name,
                    type_name(port.port_type)
                ),
            );
        }
        Some(source)
    }

    fn bind_params(&mut self, spec: &PipelineSpec, i: usize, findings: &mut Findings) {
        let step = &spec.steps[i];
        let module = self.module_of(i).spec().clone();
        let module_name = self.module_of(i).document.metadata.name.clone();
        let mut values = BTreeMap::new();
        for (key, given) in step.params.iter() {
            let at = format!("/spec/steps/{i}/params/{key}");
            let Some(port) = module.parameters.iter().find(|p| p.name == *key) else {
                findings
                    .error(at, format!("module `{module_name}` has no parameter `{key}`"))
                    .hint(declared(&module.parameters));
                continue;
            };
            let value = self.resolve_param(given, &at, findings);
            if let Some(value) = value {
                check_type(&value, port, &at, findings);
                values.insert(key.clone(), value);
            }
        }
        for port in &module.parameters {
            if values.contains_key(&port.name) {
                continue;
            }
            match &port.default {
                Some(default) => {
                    values.insert(port.name.clone(), default.clone());
                }
                None if !port.optional => {
                    findings
                        .error(
                            format!("/spec/steps/{i}/params"),
                            format!(
                                "parameter `{}` of module `{module_name}` has no value and no default",
                                port.name
                            ),
                        )
                        .hint(format!("give it under this step's params: {}: VALUE", port.name));
                }
                None => {}
            }
        }
        self.steps[i].params = values;
    }

    /// A step's parameter value: `{params.NAME}` alone is the pipeline parameter's value (its
    /// type kept); inside a longer string, its text.
    fn resolve_param(&self, given: &ParamValue, at: &str, findings: &mut Findings) -> Option<ParamValue> {
        let ParamValue::String(text) = given else {
            return Some(given.clone());
        };
        let mut missing = Vec::new();
        let lookup = |name: &str| {
            self.params
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        if let [only] = template::placeholders(text).as_slice()
            && only.range == (0, text.len())
            && only.slot == Slot::Param
        {
            let value = lookup(only.name);
            if value.is_none() {
                findings.error(at, format!("the pipeline has no parameter `{}`", only.name));
            }
            return value;
        }
        let filled = template::fill(text, |slot, name| {
            if slot != Slot::Param {
                return Some(format!("{{{}.{name}}}", slot.prefix()));
            }
            let value = lookup(name).map(|v| param_text(&v));
            if value.is_none() {
                missing.push(name.to_owned());
            }
            value
        });
        for name in missing {
            findings.error(at, format!("the pipeline has no parameter `{name}`"));
        }
        match filled {
            template::Filled::Text(text) => Some(ParamValue::String(text)),
            template::Filled::Dropped => None,
        }
    }
}

/// The pipeline's parameters with `--param` overrides, each parsed as its default's type.
fn pipeline_params(spec: &PipelineSpec, given: &BTreeMap<Key, String>, findings: &mut Findings) -> Params {
    let mut params = spec.params.clone();
    for (key, text) in given {
        let Some(default) = params.0.get_mut(key) else {
            let known: Vec<&str> = spec.params.0.keys().map(Key::as_str).collect();
            findings
                .error(
                    "/spec/params",
                    format!("--param {key}: the pipeline has no parameter `{key}`"),
                )
                .hint(if known.is_empty() {
                    "this pipeline takes no parameters".to_owned()
                } else {
                    format!("its parameters: {}", known.join(", "))
                });
            continue;
        };
        match default {
            ParamValue::String(_) => *default = ParamValue::String(text.clone()),
            ParamValue::Number(_) => match text.trim().parse::<f64>() {
                Ok(number) if number.is_finite() => *default = ParamValue::Number(number),
                _ => {
                    findings.error(
                        format!("/spec/params/{key}"),
                        format!("--param {key}={text}: `{key}` is a number (its default is one)"),
                    );
                }
            },
        }
    }
    params
}

fn check_pipeline_inputs(spec: &PipelineSpec, given: &BTreeSet<Key>, findings: &mut Findings) {
    for (i, input) in spec.inputs.iter().enumerate() {
        if !input.optional && !given.contains(&input.name) {
            findings
                .error(
                    format!("/spec/inputs/{i}"),
                    format!("pipeline input `{}` is not given", input.name),
                )
                .hint(format!(
                    "pass --input {}=PATH or --input {}=REF",
                    input.name, input.name
                ));
        }
    }
    for name in given {
        if spec.inputs.iter().all(|p| p.name != *name) {
            findings
                .error(
                    "/spec/inputs",
                    format!("--input {name}: the pipeline has no input `{name}`"),
                )
                .hint(declared(&spec.inputs));
        }
    }
}

/// Whether an output of type `produced` may feed an input of type `wanted`: the same type, or
/// any file-like type into `artifact`.
fn compatible(produced: PortType, wanted: PortType) -> bool {
    produced == wanted || (wanted == PortType::Artifact && matches!(produced, PortType::Dataset | PortType::Model))
}

fn check_type(value: &ParamValue, port: &Port, at: &str, findings: &mut Findings) {
    let fits = match (port.port_type, value) {
        (PortType::Integer, ParamValue::Number(n)) => n.fract() == 0.0,
        (PortType::Float, ParamValue::Number(_)) => true,
        (PortType::Boolean, ParamValue::String(s)) => matches!(s.as_str(), "true" | "false"),
        (PortType::String, ParamValue::String(_)) => true,
        (PortType::Dataset | PortType::Model | PortType::Artifact | PortType::Directory, _) => true,
        _ => false,
    };
    if !fits {
        findings
            .error(
                at,
                format!(
                    "parameter `{}` takes {}, not {}",
                    port.name,
                    type_name(port.port_type),
                    describe(value)
                ),
            )
            .hint(match port.port_type {
                PortType::String => "quote the value to make it text",
                PortType::Boolean => "write \"true\" or \"false\"",
                _ => "give a number",
            });
    }
}

fn describe(value: &ParamValue) -> String {
    match value {
        ParamValue::Number(n) => format!("the number {n}"),
        ParamValue::String(s) => format!("the text `{s}`"),
    }
}

fn type_name(port_type: PortType) -> &'static str {
    match port_type {
        PortType::Dataset => "a dataset",
        PortType::Model => "a model",
        PortType::Artifact => "an artifact",
        PortType::Directory => "a directory",
        PortType::String => "text",
        PortType::Integer => "an integer",
        PortType::Float => "a number",
        PortType::Boolean => "a boolean",
    }
}

fn declared(ports: &[Port]) -> String {
    if ports.is_empty() {
        "it declares none".to_owned()
    } else {
        let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        format!("declared: {}", names.join(", "))
    }
}

/// How a parameter value is written into a command: integers without a fraction.
pub fn param_text(value: &ParamValue) -> String {
    match value {
        ParamValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        ParamValue::Number(n) => n.to_string(),
        ParamValue::String(s) => s.clone(),
    }
}

/// Kahn's algorithm, taking the lowest ready index first; `deps` is acyclic (the pipeline's
/// rules refuse cycles).
fn topological_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); deps.len()];
    for (step, list) in deps.iter().enumerate() {
        for &dep in list {
            dependents[dep].push(step);
        }
    }
    let mut ready: BTreeSet<usize> = (0..deps.len()).filter(|&s| waiting[s] == 0).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(step) = ready.pop_first() {
        order.push(step);
        for &next in &dependents[step] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.insert(next);
            }
        }
    }
    order
}

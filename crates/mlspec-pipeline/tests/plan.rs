//! Plans: what a pipeline run refuses before anything starts, and what it fills in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use mlspec_pipeline::{ModuleVersion, Plan, Request, Source, definition_digest};
use mlspec_spec::Document;
use mlspec_spec::values::ParamValue;

fn key(text: &str) -> mlspec_spec::newtypes::Key {
    text.parse().unwrap()
}

fn document(yaml: &str) -> Document {
    serde_saphyr::from_str(yaml).unwrap()
}

fn modules() -> Vec<ModuleVersion> {
    let texts = [
        r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: prepare}
spec:
  version: "1"
  inputs: [{name: raw, type: dataset}]
  outputs: [{name: features, type: dataset}]
  parameters: [{name: seed, type: integer, default: 1}, {name: mode, type: string, default: fast}]
  implementation:
    command: [prep, "{inputs.raw}", "{outputs.features}", "--seed={params.seed}", "{params.mode}"]
"#,
        r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: train}
spec:
  version: "2"
  inputs: [{name: train, type: dataset}, {name: init, type: model, optional: true}]
  outputs: [{name: model, type: model}]
  parameters: [{name: C, type: float}]
  implementation:
    command: [train, "{inputs.train}", "{inputs.init}", "{outputs.model}", "{params.C}"]
"#,
    ];
    texts.iter().map(|t| ModuleVersion::new(document(t)).unwrap()).collect()
}

fn pipeline(steps: &str) -> Document {
    document(&format!(
        r#"
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: p}}
spec:
  inputs: [{{name: raw, type: dataset}}]
  params: {{seed: 7, tag: run}}
  steps:
{steps}"#
    ))
}

const GOOD: &str = r#"
    - {name: train, module: Module/train@2, inputs: {train: steps.prep.outputs.features}, params: {C: 0.5}}
    - {name: prep, module: Module/prep, inputs: {raw: inputs.raw}, params: {seed: "{params.seed}", mode: "x-{params.tag}"}}
"#;

fn request() -> Request {
    Request {
        params: BTreeMap::new(),
        inputs: BTreeSet::from(["raw".parse().unwrap()]),
    }
}

fn messages(pipeline: Document, request: &Request) -> Vec<(String, String)> {
    let findings = Plan::new(pipeline, &modules(), request).unwrap_err();
    findings.items.into_iter().map(|f| (f.path, f.message)).collect()
}

#[test]
fn a_good_pipeline_plans_in_dependency_order_with_parameters_resolved() {
    let mut modules = modules();
    modules[0].document.metadata.name = "prep".parse().unwrap();
    modules[0].digest = definition_digest(&modules[0].document);
    let plan = Plan::new(pipeline(GOOD), &modules, &request()).unwrap();
    assert_eq!(plan.order, [1, 0]);
    assert_eq!(plan.steps[0].after, [1]);
    assert_eq!(
        plan.steps[0].inputs[&key("train")],
        Source::StepOutput(1, "features".parse().unwrap())
    );
    assert_eq!(plan.steps[1].params[&key("seed")], ParamValue::Number(7.0));
    assert_eq!(plan.steps[1].params[&key("mode")], ParamValue::String("x-run".into()));
    let command = plan.command(0, |source, _| format!("<{source:?}>"), |name| format!("/out/{name}"));
    assert_eq!(
        command,
        ["train", "<StepOutput(1, Key(\"features\"))>", "/out/model", "0.5"]
    );
}

#[test]
fn overrides_are_parsed_as_their_default_and_unknown_ones_are_refused() {
    let mut modules = modules();
    modules[0].document.metadata.name = "prep".parse().unwrap();
    let mut request = request();
    request.params.insert("seed".parse().unwrap(), "11".into());
    let plan = Plan::new(pipeline(GOOD), &modules, &request).unwrap();
    assert_eq!(plan.steps[1].params[&key("seed")], ParamValue::Number(11.0));

    request.params.insert("seed".parse().unwrap(), "eleven".into());
    request.params.insert("sede".parse().unwrap(), "1".into());
    let found: Vec<_> = Plan::new(pipeline(GOOD), &modules, &request)
        .unwrap_err()
        .items
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert!(
        found.iter().any(|m| m.contains("the pipeline has no parameter `sede`")),
        "{found:?}"
    );
    assert!(found.iter().any(|m| m.contains("`seed` is a number")), "{found:?}");
}

#[test]
fn unbound_ports_wrong_types_and_missing_modules_are_located() {
    let steps = r#"
    - {name: a, module: Module/prepare@1, inputs: {raw: inputs.raw, extra: inputs.raw}, params: {seed: 1.5, mode: 3}}
    - {name: b, module: Module/train@2, inputs: {train: steps.a.outputs.nope}}
    - {name: c, module: Module/train@2, inputs: {train: steps.a.outputs.features, init: steps.a.outputs.features}, params: {C: 1}}
"#;
    let found = messages(pipeline(steps), &request());
    let expected = [
        ("/spec/steps/0/inputs/extra", "module `prepare` has no input `extra`"),
        (
            "/spec/steps/0/params/seed",
            "parameter `seed` takes an integer, not the number 1.5",
        ),
        (
            "/spec/steps/0/params/mode",
            "parameter `mode` takes text, not the number 3",
        ),
        (
            "/spec/steps/1/inputs/train",
            "step `a` (module `prepare`) has no output `nope`",
        ),
        ("/spec/steps/1/inputs", "input `train` of module `train` is not bound"),
        (
            "/spec/steps/1/params",
            "parameter `C` of module `train` has no value and no default",
        ),
        (
            "/spec/steps/2/inputs/init",
            "`steps.a.outputs.features` is a dataset, but input `init` takes a model",
        ),
    ];
    for (path, message) in expected {
        assert!(
            found.iter().any(|(p, m)| p == path && m == message),
            "missing {path}: {message} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");

    let missing = messages(pipeline(r#"    - {name: a, module: Module/absent@1}"#), &request());
    assert_eq!(
        missing,
        [(
            "/spec/steps/0/module".to_owned(),
            "module `Module/absent@1` was not found".to_owned()
        )]
    );
}

#[test]
fn pipeline_inputs_must_be_given_and_known() {
    let request = Request {
        params: BTreeMap::new(),
        inputs: BTreeSet::from(["row".parse().unwrap()]),
    };
    let found = messages(pipeline(GOOD), &request);
    assert!(
        found.contains(&("/spec/inputs/0".into(), "pipeline input `raw` is not given".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "/spec/inputs".into(),
            "--input row: the pipeline has no input `row`".into()
        )),
        "{found:?}"
    );
}

#[test]
fn the_definition_digest_ignores_what_a_store_adds() {
    let module = modules().remove(0);
    let mut stored = module.document.clone();
    stored.metadata.id = Some(mlspec_spec::ObjectId::generate());
    stored.metadata.status = mlspec_spec::Status::Deprecated;
    assert_eq!(definition_digest(&stored), module.digest);
    let Some(mlspec_spec::Spec::Module(spec)) = Some(&mut stored.spec) else {
        unreachable!()
    };
    spec.implementation.command.push("--more".into());
    assert_ne!(definition_digest(&stored), module.digest);
}

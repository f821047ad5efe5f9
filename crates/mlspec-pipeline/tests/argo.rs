//! Pipelines compiled to Argo: the exact structure, what Argo's own rules and tools say of it
//! (its JSON Schema in strict mode, the DAG rules of `argo lint`, Hera — Argo's Python SDK —
//! loading it), and the pipelines that have no Argo form, refused naming the step.
//!
//! The checks run Python from the venv named by MLSPEC_INTEROP_PYTHON (scripts/interop-setup
//! installs hera, pyyaml and jsonschema in it); the schema is vendor/schemas/argo/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mlspec_pipeline::argo::{ArgoError, ArgoOptions, PodStore, STEP_PORT, compile};
use mlspec_pipeline::{ModuleVersion, Plan, Request};
use mlspec_spec::Document;
use serde_json::{Value, json};

fn document(yaml: &str) -> Document {
    serde_saphyr::from_str(yaml).unwrap()
}

const PREPARE: &str = r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: prepare}
spec:
  version: "1"
  inputs: [{name: raw, type: dataset}]
  outputs: [{name: features, type: dataset}]
  parameters: [{name: seed, type: integer, default: 1}]
  implementation:
    image: ghcr.io/example/prepare:1
    command: [prep, "{inputs.raw}", "--out={outputs.features}", "--seed={params.seed}"]
"#;

const TRAIN: &str = r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: train}
spec:
  version: "2"
  inputs: [{name: train, type: dataset}, {name: init, type: model, optional: true}]
  outputs: [{name: model, type: model}]
  parameters: [{name: C, type: float}]
  implementation:
    command: [train, "{inputs.train}", "{inputs.init}", "{outputs.model}", --C, "{params.C}"]
    env: {OMP_NUM_THREADS: "4"}
"#;

const COMPARE: &str = r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: compare}
spec:
  version: "1"
  inputs: [{name: left, type: model}, {name: right, type: model}, {name: baseline, type: model, optional: true}]
  outputs: [{name: report, type: artifact}, {name: plots, type: directory, optional: true}]
  parameters: [{name: label, type: string}]
  implementation:
    image: ghcr.io/example/compare:1
    command: [compare, "{inputs.left}", "{inputs.right}", "{inputs.baseline}", "{outputs.report}", "{outputs.plots}", "{params.label}"]
"#;

/// Fan-out (two trainings of one prepared set) and fan-in (their comparison): a pipeline
/// input, pipeline parameters used whole and inside text, a constant, compute, an optional
/// input left unbound.
const STEPS: &str = r#"
    - {name: prep, module: Module/prepare@1, inputs: {raw: inputs.raw}, params: {seed: 7}}
    - {name: train_a, module: Module/train@2, inputs: {train: steps.prep.outputs.features}, params: {C: "{params.c}"}, compute: "cpu=2,memory=4Gi,gpu=1"}
    - {name: train-b, module: Module/train@2, inputs: {train: steps.prep.outputs.features}, params: {C: 1}, compute: cpu=500m}
    - {name: compare, module: Module/compare@1, inputs: {left: steps.train_a.outputs.model, right: steps.train-b.outputs.model}, params: {label: "run-{params.tag}"}}
"#;

fn pipeline(steps: &str) -> Document {
    document(&format!(
        r#"
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: iris_train}}
spec:
  inputs: [{{name: raw, type: dataset}}]
  params: {{c: 0.5, tag: nightly}}
  steps:
{steps}"#
    ))
}

fn plan(steps: &str) -> Plan {
    let modules: Vec<ModuleVersion> = [PREPARE, TRAIN, COMPARE]
        .iter()
        .map(|t| ModuleVersion::new(document(t)).unwrap())
        .collect();
    let request = Request {
        params: BTreeMap::new(),
        inputs: BTreeSet::from(["raw".parse().unwrap()]),
    };
    Plan::new(pipeline(steps), &modules, &request).unwrap()
}

fn options() -> ArgoOptions {
    ArgoOptions {
        image: Some("ghcr.io/example/ml:3".into()),
        store: Some("secret:mlspec-store/url".parse().unwrap()),
        inputs: BTreeMap::from([("raw".parse().unwrap(), "datasets/iris/raw.csv".into())]),
        template: false,
    }
}

fn template<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    workflow["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

fn task<'a>(workflow: &'a Value, name: &str) -> &'a Value {
    template(workflow, "pipeline")["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

#[test]
fn a_fan_out_fan_in_pipeline_becomes_one_task_per_step_with_artifacts_between_them() {
    let workflow = compile(&plan(STEPS), &options()).unwrap();
    assert_eq!(workflow["kind"], "Workflow");
    assert_eq!(workflow["metadata"]["generateName"], "iris-train-");
    assert_eq!(workflow["metadata"]["annotations"]["mlspec.io/pipeline"], "iris_train");
    assert_eq!(workflow["spec"]["entrypoint"], "pipeline");
    assert_eq!(
        workflow["spec"]["arguments"],
        json!({
            "parameters": [{"name": "c", "value": "0.5"}, {"name": "tag", "value": "nightly"}],
            "artifacts": [{"name": "raw", "s3": {"key": "datasets/iris/raw.csv"}}],
        })
    );
    assert_eq!(
        template(&workflow, "pipeline")["inputs"],
        json!({"artifacts": [{"name": "raw"}]})
    );

    // The DAG: dependencies from `after`, artifacts from the producing task or the workflow.
    let names: Vec<&str> = template(&workflow, "pipeline")["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prep", "train-a", "train-b", "compare"]);
    assert_eq!(
        task(&workflow, "prep"),
        &json!({"name": "prep", "template": "prep",
                "arguments": {"artifacts": [{"name": "raw", "from": "{{inputs.artifacts.raw}}"}]}})
    );
    assert_eq!(task(&workflow, "train-a")["dependencies"], json!(["prep"]));
    assert_eq!(
        task(&workflow, "train-a")["arguments"]["artifacts"],
        json!([{"name": "train", "from": "{{tasks.prep.outputs.artifacts.features}}"}])
    );
    assert_eq!(
        task(&workflow, "compare")["dependencies"],
        json!(["train-a", "train-b"])
    );
    assert_eq!(
        task(&workflow, "compare")["arguments"]["artifacts"],
        json!([
            {"name": "left", "from": "{{tasks.train-a.outputs.artifacts.model}}"},
            {"name": "right", "from": "{{tasks.train-b.outputs.artifacts.model}}"},
        ])
    );

    // A step's container: its command run by `mlspec step run`, parameters overridable at
    // submit time, the unbound optional input left out, probes on the step's endpoints.
    let train_a = template(&workflow, "train-a");
    let container = &train_a["container"];
    assert_eq!(container["image"], "ghcr.io/example/ml:3");
    let listen = format!("0.0.0.0:{STEP_PORT}");
    assert_eq!(
        container["command"],
        json!([
            "mlspec",
            "step",
            "run",
            "--name",
            "train_a",
            "--module",
            "Module/train@2",
            "--listen",
            listen,
            "--param",
            "C={{workflow.parameters.c}}",
            "--output",
            "/mlspec/outputs/model",
            "--",
            "train",
            "/mlspec/inputs/train/features",
            "/mlspec/outputs/model",
            "--C",
            "{{workflow.parameters.c}}",
        ])
    );
    for (probe, path) in [("readinessProbe", "/ok"), ("livenessProbe", "/healthz")] {
        assert_eq!(
            container[probe]["httpGet"],
            json!({"path": path, "port": STEP_PORT}),
            "{probe}"
        );
    }
    assert_eq!(
        container["ports"],
        json!([{"name": "mlspec", "containerPort": STEP_PORT}])
    );
    assert_eq!(
        container["env"],
        json!([
            {"name": "OMP_NUM_THREADS", "value": "4"},
            {"name": "MLSPEC_STORE", "valueFrom": {"secretKeyRef": {"name": "mlspec-store", "key": "url"}}},
        ])
    );
    let amounts = json!({"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"});
    assert_eq!(container["resources"], json!({"requests": amounts, "limits": amounts}));
    assert_eq!(
        train_a["inputs"],
        json!({"artifacts": [{"name": "train", "path": "/mlspec/inputs/train/features"}]})
    );
    assert_eq!(
        train_a["outputs"],
        json!({"artifacts": [{"name": "model", "path": "/mlspec/outputs/model"}]})
    );
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "mlspec-outputs", "mountPath": "/mlspec/outputs"}])
    );
    assert_eq!(train_a["metadata"]["annotations"]["prometheus.io/path"], "/metrics");
    assert_eq!(train_a["metadata"]["annotations"]["mlspec.io/step"], "train_a");

    // A constant and a module's own image; parameters inside text; optional output.
    assert_eq!(template(&workflow, "train-b")["container"]["command"][10], "C=1");
    let compare = template(&workflow, "compare");
    assert_eq!(compare["container"]["image"], "ghcr.io/example/compare:1");
    let command: Vec<&str> = compare["container"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let tail = &command[command.iter().position(|a| *a == "--").unwrap() + 1..];
    assert_eq!(
        tail,
        [
            "compare",
            "/mlspec/inputs/left/model",
            "/mlspec/inputs/right/model",
            "/mlspec/outputs/report",
            "/mlspec/outputs/plots",
            "run-{{workflow.parameters.tag}}"
        ]
    );
    assert_eq!(compare["outputs"]["artifacts"][1]["optional"], true);
    assert!(compare["container"].get("resources").is_none());
}

#[test]
fn a_workflow_template_is_named_after_the_pipeline() {
    let mut options = options();
    options.template = true;
    let workflow = compile(&plan(STEPS), &options).unwrap();
    assert_eq!(workflow["kind"], "WorkflowTemplate");
    assert_eq!(workflow["metadata"]["name"], "iris-train");
    assert!(workflow["metadata"].get("generateName").is_none());
}

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes a venv with hera, pyyaml and jsonschema"
        )
    })
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs one of the Python checks on `file`: whether it passed, and what it printed.
fn check(script: &str, args: &[&Path]) -> (bool, String) {
    let out = Command::new(python())
        .arg(tests_dir().join(script))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vendor/schemas/argo/schema.json")
}

fn validate(file: &Path) -> (bool, String) {
    check("argo_validate.py", &[&schema(), Path::new("--strict"), file])
}

fn write_yaml(dir: &Path, name: &str, workflow: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_saphyr::to_string(workflow).unwrap()).unwrap();
    path
}

#[test]
fn argo_schema_dag_rules_and_hera_accept_the_workflow_and_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options();
    options.store = Some("postgres://mlspec@db.example:5432/mlspec".parse().unwrap());
    let workflow = compile(&plan(STEPS), &options).unwrap();
    options.template = true;
    let template = compile(&plan(STEPS), &options).unwrap();
    for (name, document) in [("workflow.yaml", &workflow), ("template.yaml", &template)] {
        let file = write_yaml(dir.path(), name, document);
        let (ok, output) = validate(&file);
        assert!(ok, "Argo's schema and DAG rules on {name}:\n{output}");
        let (ok, output) = check("argo_check_hera.py", &[&file]);
        assert!(ok, "Hera on {name}:\n{output}");
    }
}

/// A change that makes a valid workflow invalid.
type Breaking = fn(&mut Value);

#[test]
fn the_validator_rejects_broken_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = compile(&plan(STEPS), &options()).unwrap();
    let broken: [(&str, Breaking, &str); 4] = [
        (
            "unknown-field",
            |w| w["spec"]["templates"][1]["container"]["comand"] = json!(["x"]),
            "'comand' was unexpected",
        ),
        (
            "unknown-dependency",
            |w| w["spec"]["templates"][0]["dag"]["tasks"][1]["dependencies"] = json!(["nope"]),
            "unknown dependency 'nope'",
        ),
        (
            "artifact-from-a-non-ancestor",
            |w| w["spec"]["templates"][0]["dag"]["tasks"][3]["dependencies"] = json!(["train-a"]),
            "not an ancestor",
        ),
        (
            "argument-without-location",
            |w| w["spec"]["arguments"]["artifacts"][0] = json!({"name": "raw"}),
            "artifact location, or key is required",
        ),
    ];
    for (name, breaking, expected) in broken {
        let mut copy = workflow.clone();
        breaking(&mut copy);
        let file = write_yaml(dir.path(), &format!("{name}.yaml"), &copy);
        let (ok, output) = validate(&file);
        assert!(!ok, "{name} passed:\n{output}");
        assert!(output.contains(expected), "{name}:\n{output}");
    }
}

fn error(steps: &str, options: &ArgoOptions) -> ArgoError {
    compile(&plan(steps), options).unwrap_err()
}

#[test]
fn what_argo_cannot_express_is_refused_naming_the_step() {
    let reference = r#"
    - {name: train_ref, module: Module/train@2, inputs: {train: Dataset/iris@3}, params: {C: 1}}
"#;
    let found = error(reference, &options());
    assert_eq!(found.step.as_deref(), Some("train_ref"));
    assert!(
        found
            .message
            .contains("input `train` is bound to the stored document `Dataset/iris@3`"),
        "{found}"
    );
    assert!(found.to_string().starts_with("step `train_ref`: "));

    let mut no_image = options();
    no_image.image = None;
    let found = error(STEPS, &no_image);
    assert_eq!(found.step.as_deref(), Some("train_a"));
    assert!(found.message.contains("module `train` names no image"), "{found}");
    assert!(found.hint.contains("--image"));

    let named_target = STEPS.replace("cpu=500m", "big-gpu-pool");
    let found = error(&named_target, &options());
    assert_eq!(found.step.as_deref(), Some("train-b"));
    assert!(found.message.contains("named compute target"), "{found}");
    for (compute, expected) in [
        ("cpu=2,disk=1Gi", "`disk`, which is not cpu, memory or gpu"),
        ("cpu=two", "`cpu=two` in compute is not an amount of cpu"),
        ("gpu=0.5", "not an amount of gpu"),
        ("cpu=1,cpu=2", "compute gives cpu twice"),
    ] {
        let found = error(&STEPS.replace("cpu=500m", &format!("\"{compute}\"")), &options());
        assert!(found.message.contains(expected), "{compute}: {found}");
    }

    let mut no_input = options();
    no_input.inputs.clear();
    let found = error(STEPS, &no_input);
    assert_eq!(found.step.as_deref(), Some("prep"));
    assert!(found.hint.contains("--input raw=KEY"), "{}", found.hint);

    let mut empty_key = options();
    empty_key.inputs.insert("raw".parse().unwrap(), " ".into());
    let found = error(STEPS, &empty_key);
    assert!(found.message.contains("`raw` is given an empty key"), "{found}");

    let clash = r#"
    - {name: prep, module: Module/prepare@1, inputs: {raw: inputs.raw}}
    - {name: Prep, module: Module/prepare@1, inputs: {raw: inputs.raw}}
"#;
    let found = error(clash, &options());
    assert_eq!(found.step.as_deref(), Some("Prep"));
    assert!(
        found.message.contains("step `prep` has the same Argo name `prep`"),
        "{found}"
    );

    let digit = r#"
    - {name: 1prep, module: Module/prepare@1, inputs: {raw: inputs.raw}}
    - {name: train, module: Module/train@2, inputs: {train: steps.1prep.outputs.features}, params: {C: 1}}
"#;
    assert_eq!(error(digit, &options()).step.as_deref(), Some("1prep"));

    let expression = STEPS.replace("run-{params.tag}", "{{workflow.name}}");
    let found = error(&expression, &options());
    assert_eq!(found.step.as_deref(), Some("compare"));
    assert!(found.message.contains("parameter `label` contains `{{`"), "{found}");
}

#[test]
fn the_store_reaches_the_pods_without_a_password() {
    let refused = "postgres://mlspec:hunter2@db:5432/mlspec"
        .parse::<PodStore>()
        .unwrap_err();
    assert!(refused.message.contains("a password"), "{refused}");
    assert!(!refused.to_string().contains("hunter2"));
    assert!(refused.hint.contains("secret:"), "{}", refused.hint);
    let sqlite = "sqlite:.mlspec/store.db".parse::<PodStore>().unwrap_err();
    assert!(
        sqlite.hint.contains("SQLite file would be inside each pod"),
        "{}",
        sqlite.hint
    );
    for bad in ["secret:mlspec-store", "secret:Mlspec_Store/url", "secret:mlspec/"] {
        assert!(bad.parse::<PodStore>().is_err(), "{bad}");
    }

    let mut options = options();
    options.store = Some("postgres://mlspec@db:5432/mlspec".parse().unwrap());
    let workflow = compile(&plan(STEPS), &options).unwrap();
    assert_eq!(
        template(&workflow, "prep")["container"]["env"],
        json!([{"name": "MLSPEC_STORE", "value": "postgres://mlspec@db:5432/mlspec"}])
    );
}

#[test]
fn a_command_naming_a_stored_artifact_is_refused_naming_the_step() {
    let prepare = PREPARE.replace(
        r#""--seed={params.seed}"]"#,
        r#""--seed={params.seed}", "--ref={artifacts.raw}"]"#,
    );
    let modules: Vec<ModuleVersion> = [prepare.as_str(), TRAIN, COMPARE]
        .iter()
        .map(|t| ModuleVersion::new(document(t)).unwrap())
        .collect();
    let request = Request {
        params: BTreeMap::new(),
        inputs: BTreeSet::from(["raw".parse().unwrap()]),
    };
    let plan = Plan::new(pipeline(STEPS), &modules, &request).unwrap();
    let found = compile(&plan, &options()).unwrap_err();
    assert!(found.step.is_some(), "{found}");
    assert!(found.message.contains("{artifacts.raw}"), "{found}");
    assert!(found.hint.contains("{inputs.NAME}"), "{found}");
}

//! `mlspec pipeline run`, `recreate` and `pipeline compile` end to end: real steps in a fresh
//! project, the cache, failures, signals, and the records they leave.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

use super::store::{Out, mlspec, test_stores};

/// Modules every test draws on: `cat` joins its inputs, `upper` upper-cases, `fail` exits 3,
/// `stamp` writes the time (not deterministic), `lazy` declares an output it never writes,
/// `link` writes its output as a symbolic link, `wait` waits for a file to appear.
const MODULES: &str = r#"
apiVersion: mlspec/v1
kind: Module
metadata: {name: cat}
spec:
  version: "1"
  inputs: [{name: a, type: artifact}, {name: b, type: artifact, optional: true}]
  outputs: [{name: out, type: artifact}]
  implementation: {command: [sh, -c, "cat {inputs.a} {inputs.b} > {outputs.out}"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: upper}
spec:
  version: "1"
  inputs: [{name: text, type: artifact}]
  outputs: [{name: out, type: artifact}]
  parameters: [{name: suffix, type: string, default: ""}]
  implementation: {command: [sh, -c, "tr a-z A-Z < {inputs.text} > {outputs.out}; printf '{params.suffix}' >> {outputs.out}"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: fail}
spec:
  version: "1"
  inputs: [{name: text, type: artifact, optional: true}]
  outputs: [{name: out, type: artifact}]
  implementation: {command: [sh, -c, "echo about to fail >&2; exit 3"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: stamp}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}]
  implementation: {command: [sh, -c, "date +%s%N > {outputs.out}"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: lazy}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}, {name: extra, type: artifact, optional: true}]
  implementation: {command: ["true"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: link}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}]
  implementation: {command: [ln, -s, /etc/hostname, "{outputs.out}"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: wait}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}]
  parameters: [{name: flag, type: string}]
  implementation: {command: [sh, -c, "while [ ! -f {params.flag} ]; do sleep 0.05; done; echo waited > {outputs.out}"]}
"#;

/// A project with the modules, two input files and a pipeline.
pub(super) struct Project {
    dir: tempfile::TempDir,
    store: Option<String>,
}

impl Project {
    pub(super) fn new(pipeline: &str) -> Project {
        Project::on(None, pipeline)
    }

    fn on(store: Option<String>, pipeline: &str) -> Project {
        let project = Project {
            dir: tempfile::tempdir().unwrap(),
            store,
        };
        let init = project.mlspec(&["init"]);
        assert_eq!(init.code, 0, "{}", init.stderr);
        project.write("modules.yaml", MODULES);
        project.write("x.txt", "left\n");
        project.write("y.txt", "right\n");
        project.write(
            "pipeline.yaml",
            &format!("apiVersion: mlspec/v1\nkind: Pipeline\nmetadata: {{name: p}}\nspec:\n{pipeline}"),
        );
        project
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }

    fn mlspec(&self, args: &[&str]) -> Out {
        let mut all: Vec<&str> = Vec::new();
        if let Some(store) = &self.store {
            all.extend(["--store", store.as_str()]);
        }
        all.extend(args);
        mlspec(self.path(), &all)
    }

    /// `pipeline run pipeline.yaml -f modules.yaml --input x=x.txt --input y=y.txt ARGS`, and
    /// the record it wrote.
    fn run(&self, args: &[&str]) -> (Out, Value) {
        let record = self.path().join("record.json");
        let _ = std::fs::remove_file(&record);
        let mut all = vec![
            "pipeline",
            "run",
            "pipeline.yaml",
            "-f",
            "modules.yaml",
            "--input",
            "x=x.txt",
            "--input",
            "y=y.txt",
            "--out",
            "record.json",
        ];
        all.extend(args);
        let out = self.mlspec(&all);
        let record = std::fs::read_to_string(&record)
            .map(|text| serde_json::from_str(&text).unwrap())
            .unwrap_or(Value::Null);
        (out, record)
    }

    fn get(&self, reference: &str) -> Value {
        let out = self.mlspec(&["get", reference, "-o", "json"]);
        assert_eq!(out.code, 0, "{reference}: {}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    }
}

pub(super) const INPUTS: &str = "  inputs: [{name: x, type: artifact}, {name: y, type: artifact}]\n";

/// (step, status) of every step of a record.
fn statuses(record: &Value) -> Vec<(String, String)> {
    record["spec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn step<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["spec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {record}"))
}

/// The absolute path of a step's output, from the record.
fn output_path(project: &Project, record: &Value, name: &str) -> PathBuf {
    let output = &step(record, name)["outputs"][0];
    let path = output["path"]["path"].as_str().unwrap();
    // Inside the project with a project store; elsewhere (the user's state directory) without.
    match output["path"]["datastore"].as_str().unwrap() {
        "local" => project.path().join(path),
        "file" => Path::new("/").join(path),
        other => panic!("datastore {other}: {output}"),
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

const FAN_IN: &str = r#"    - {name: shout-x, module: Module/upper@1, inputs: {text: inputs.x}}
    - {name: shout-y, module: Module/upper, inputs: {text: inputs.y}, params: {suffix: "!"}}
    - {name: join, module: Module/cat@1, inputs: {a: steps.shout-x.outputs.out, b: steps.shout-y.outputs.out}}
"#;

#[test]
fn a_pipeline_runs_in_dependency_order_and_leaves_a_valid_record_on_every_store() {
    for store in test_stores("pipeline_run") {
        let project = Project::on(store, &format!("{INPUTS}  steps:\n{FAN_IN}"));
        let (out, record) = project.run(&[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            statuses(&record),
            pairs(&[("shout-x", "Finished"), ("shout-y", "Finished"), ("join", "Finished")])
        );
        let joined = std::fs::read_to_string(output_path(&project, &record, "join")).unwrap();
        assert_eq!(joined, "LEFT\nRIGHT\n!");

        // The record validates and is the one in the store.
        let check = project.mlspec(&["validate", "record.json"]);
        assert_eq!(check.code, 0, "{}", check.stderr);
        let stored = project.get(&format!(
            "WorkflowRecord/{}",
            record["metadata"]["name"].as_str().unwrap()
        ));
        assert_eq!(stored["spec"], record["spec"]);
        assert_eq!(record["spec"]["inputs"][0]["digest"], sha256(b"left\n"));

        // Each step's Run is a child of the pipeline's, with the cache key and its outputs.
        let pipeline_run = record["spec"]["run"].as_str().unwrap();
        let run = project.get(step(&record, "join")["run"].as_str().unwrap());
        assert_eq!(run["spec"]["parent"], pipeline_run);
        assert_eq!(run["spec"]["status"], "Finished");
        assert_eq!(run["spec"]["cacheKey"], step(&record, "join")["cacheKey"]);
        assert_eq!(run["spec"]["inputs"].as_array().unwrap().len(), 2);
        let parent = project.get(pipeline_run);
        assert_eq!(parent["spec"]["status"], "Finished");
        assert!(
            parent["spec"]["pipeline"]
                .as_str()
                .unwrap()
                .starts_with("Pipeline/p#sha256:")
        );

        // Lineage: the pipeline's input file leads through the steps to the joined output.
        let input = record["spec"]["inputs"][0]["source"].as_str().unwrap();
        let lineage = project.mlspec(&["lineage", input, "--downstream", "--depth", "10", "--format", "json"]);
        assert_eq!(lineage.code, 0, "{}", lineage.stderr);
        for id in [
            step(&record, "shout-x")["run"].as_str().unwrap(),
            run["metadata"]["id"].as_str().unwrap(),
        ] {
            assert!(
                lineage.stdout.contains(id),
                "{id} not downstream of the input: {}",
                lineage.stdout
            );
        }
    }
}

/// Steps run inside the runner, but each is still a step of its own: it serves its endpoints
/// (asked here from the command itself with `mlspec step status`), its metrics reach its own
/// Run, and its CPU time is its own even while another step burns CPU beside it.
#[test]
fn each_step_serves_its_endpoints_and_is_charged_its_own_resources() {
    let project = Project::new(
        r#"  steps:
    - {name: busy, module: Module/burn@1}
    - {name: idle, module: Module/probe@1}
"#,
    );
    project.write(
        "probe.yaml",
        r#"apiVersion: mlspec/v1
kind: Module
metadata: {name: burn}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}]
  implementation: {command: [sh, -c, "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i > {outputs.out}; echo burnt >&2"]}
---
apiVersion: mlspec/v1
kind: Module
metadata: {name: probe}
spec:
  version: "1"
  outputs: [{name: out, type: artifact}]
  implementation:
    command: [sh, -c, "mlspec step status $MLSPEC_STEP_URL > {outputs.out} && echo '{\"key\":\"loss\",\"value\":0.25}' >> $MLSPEC_METRICS_FILE"]
"#,
    );
    let out = project.mlspec(&[
        "pipeline",
        "run",
        "pipeline.yaml",
        "-f",
        "probe.yaml",
        "--out",
        "record.json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(project.path().join("record.json")).unwrap()).unwrap();
    let probed = std::fs::read_to_string(output_path(&project, &record, "idle")).unwrap();
    let idle_run = step(&record, "idle")["run"].as_str().unwrap();
    assert!(probed.starts_with("idle (127.0.0.1:"), "{probed}");
    assert!(
        probed.contains(": running, up ") && probed.contains(idle_run),
        "{probed}"
    );

    let run = |name: &str| project.get(step(&record, name)["run"].as_str().unwrap());
    let (busy, idle) = (run("busy"), run("idle"));
    assert_eq!(idle["spec"]["metrics"][0]["key"], "loss");
    assert_eq!(idle["spec"]["metrics"][0]["value"], 0.25);
    let cpu = |run: &Value| run["spec"]["resources"]["cpuSeconds"].as_f64().unwrap();
    assert!(cpu(&busy) > 0.1, "busy: {}", cpu(&busy));
    assert!(
        cpu(&idle) < cpu(&busy) / 2.0,
        "idle {} against busy {}",
        cpu(&idle),
        cpu(&busy)
    );
    assert!(busy["spec"]["resources"]["peakMemoryBytes"].as_u64().unwrap() > 0);
    // Only the stream it wrote to has a log.
    let logs = busy["spec"]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{busy}");
    assert!(logs[0]["path"].as_str().unwrap().ends_with("/stderr.log"), "{busy}");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn a_rerun_is_cached_and_an_input_edited_in_place_reruns_exactly_what_reads_it() {
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    let (first, before) = project.run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    let (again, cached) = project.run(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        statuses(&cached),
        pairs(&[("shout-x", "Cached"), ("shout-y", "Cached"), ("join", "Cached")])
    );
    assert_eq!(step(&cached, "join")["cachedFrom"], step(&before, "join")["run"]);
    let cached_run = project.get(step(&cached, "join")["run"].as_str().unwrap());
    assert_eq!(cached_run["spec"]["cachedFrom"], step(&before, "join")["run"]);
    // The lookup the runner makes is an index probe, not a scan of the runs.
    let key = step(&cached, "join")["cacheKey"].as_str().unwrap();
    let lookup = format!("spec.cacheKey = \"{key}\" and spec.status = \"Finished\"");
    let plan = project.mlspec(&["list", "run", "--where", &lookup, "--explain"]);
    assert!(
        plan.stdout.contains("USING COVERING INDEX fields_by_text"),
        "{}",
        plan.stdout
    );

    // Same path, new content: only shout-y and join run again.
    project.write("y.txt", "changed\n");
    let (edited, after) = project.run(&[]);
    assert_eq!(edited.code, 0, "{}", edited.stderr);
    assert_eq!(
        statuses(&after),
        pairs(&[("shout-x", "Cached"), ("shout-y", "Finished"), ("join", "Finished")])
    );
    let joined = std::fs::read_to_string(output_path(&project, &after, "join")).unwrap();
    assert_eq!(joined, "LEFT\nCHANGED\n!");

    // Content that upper-cases to the same output: shout-y runs, and join is cached again.
    project.write("y.txt", "CHANGED\n");
    let (_, same_output) = project.run(&[]);
    assert_eq!(
        statuses(&same_output),
        pairs(&[("shout-x", "Cached"), ("shout-y", "Finished"), ("join", "Cached")])
    );

    let (_, forced) = project.run(&["--no-cache"]);
    assert_eq!(
        statuses(&forced),
        pairs(&[("shout-x", "Finished"), ("shout-y", "Finished"), ("join", "Finished")])
    );
}

#[test]
fn a_cached_output_that_was_edited_or_deleted_is_a_miss_that_says_why() {
    let project = Project::new(&format!(
        "{INPUTS}  steps:\n    - {{name: shout, module: Module/upper@1, inputs: {{text: inputs.x}}}}\n"
    ));
    let (_, first) = project.run(&[]);
    let output = output_path(&project, &first, "shout");
    std::fs::write(&output, "tampered").unwrap();
    let (edited, record) = project.run(&[]);
    assert_eq!(edited.code, 0, "{}", edited.stderr);
    assert!(edited.stderr.contains("was modified"), "{}", edited.stderr);
    assert_eq!(statuses(&record), pairs(&[("shout", "Finished")]));
    // The tampered file was not reused: the new output is right.
    assert_eq!(
        std::fs::read_to_string(output_path(&project, &record, "shout")).unwrap(),
        "LEFT\n"
    );

    for run in [&first, &record] {
        let _ = std::fs::remove_file(output_path(&project, run, "shout"));
    }
    let (deleted, record) = project.run(&[]);
    assert!(deleted.stderr.contains("is gone"), "{}", deleted.stderr);
    assert_eq!(statuses(&record), pairs(&[("shout", "Finished")]));
}

#[test]
fn a_failed_step_skips_only_its_dependents_and_fail_fast_stops_the_rest() {
    let steps = r#"  steps:
    - {name: broken, module: Module/fail@1}
    - {name: after-broken, module: Module/upper@1, inputs: {text: steps.broken.outputs.out}}
    - {name: independent, module: Module/upper@1, inputs: {text: inputs.x}}
"#;
    let project = Project::new(&format!("{INPUTS}{steps}"));
    let (out, record) = project.run(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        statuses(&record),
        pairs(&[
            ("broken", "Failed"),
            ("after-broken", "Skipped"),
            ("independent", "Finished")
        ])
    );
    let reason = step(&record, "broken")["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited with code 3") && reason.contains("about to fail"),
        "{reason}"
    );
    assert_eq!(step(&record, "after-broken")["reason"], "step `broken` did not finish");
    let broken_run = project.get(step(&record, "broken")["run"].as_str().unwrap());
    assert_eq!(broken_run["spec"]["exitCode"], 3);
    let parent = project.get(record["spec"]["run"].as_str().unwrap());
    assert_eq!(parent["spec"]["status"], "Failed");

    // --fail-fast: the slow independent step is stopped when the broken one fails.
    let steps = r#"  steps:
    - {name: broken, module: Module/fail@1, dependsOn: [warm]}
    - {name: warm, module: Module/upper@1, inputs: {text: inputs.x}}
    - {name: slow, module: Module/wait@1, params: {flag: never-there}}
"#;
    let project = Project::new(&format!("{INPUTS}{steps}"));
    let started = Instant::now();
    let (out, record) = project.run(&["--fail-fast", "--jobs", "2"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(step(&record, "broken")["status"], "Failed");
    assert_eq!(step(&record, "slow")["status"], "Killed", "{record}");
}

#[test]
fn an_output_not_written_or_not_a_plain_file_fails_the_step_naming_it() {
    let steps = r#"  steps:
    - {name: idle, module: Module/lazy@1}
    - {name: linked, module: Module/link@1}
"#;
    let project = Project::new(&format!("{INPUTS}{steps}"));
    let (out, record) = project.run(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(statuses(&record), pairs(&[("idle", "Failed"), ("linked", "Failed")]));
    let idle = step(&record, "idle")["reason"].as_str().unwrap();
    assert!(idle.starts_with("output `out` was not written (expected at "), "{idle}");
    let linked = step(&record, "linked")["reason"].as_str().unwrap();
    assert!(
        linked.contains("output `out`") && linked.contains("symbolic link"),
        "{linked}"
    );
    let run = project.get(step(&record, "idle")["run"].as_str().unwrap());
    assert_eq!(run["spec"]["status"], "Failed");
    assert_eq!(run["spec"]["tags"]["mlspec.failure"], idle);
}

#[test]
fn a_pipeline_that_cannot_run_is_refused_at_its_place_before_anything_runs() {
    let cases = [
        (
            "    - {name: a, module: Module/upper@1}\n",
            "input `text` of module `upper` is not bound",
            "pipeline.yaml:7:",
        ),
        (
            "    - {name: a, module: Module/upper@1, inputs: {text: inputs.x}, params: {suffix: 3}}\n",
            "parameter `suffix` takes text, not the number 3",
            "pipeline.yaml:7:",
        ),
        (
            "    - {name: a, module: Module/nope@1, inputs: {text: inputs.x}}\n",
            "module `Module/nope@1` was not found",
            "pipeline.yaml:7:",
        ),
        (
            "    - {name: a, module: Module/cat@1, inputs: {a: steps.b.outputs.out}}\n    - {name: b, module: Module/cat@1, inputs: {a: steps.a.outputs.out}}\n",
            "depends on itself through a cycle",
            "pipeline.yaml:",
        ),
    ];
    for (steps, message, location) in cases {
        let project = Project::new(&format!("{INPUTS}  steps:\n{steps}"));
        let (out, _) = project.run(&[]);
        assert_eq!(out.code, 2, "{steps}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{steps}: {}", out.stderr);
        assert!(out.stderr.contains(location), "{steps}: {}", out.stderr);
        let runs = project.mlspec(&["list", "run", "--format", "json"]);
        assert_eq!(runs.stdout.trim(), "[]", "{steps}: something ran");
    }
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    let out = project.mlspec(&[
        "pipeline",
        "run",
        "pipeline.yaml",
        "-f",
        "modules.yaml",
        "--input",
        "x=x.txt",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("pipeline input `y` is not given"), "{}", out.stderr);
    let out = project.mlspec(&[
        "pipeline",
        "run",
        "pipeline.yaml",
        "-f",
        "modules.yaml",
        "--input",
        "x=x.txt",
        "--input",
        "y=missing.txt",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--input y=missing.txt"), "{}", out.stderr);
}

#[test]
fn a_module_file_that_differs_from_its_stored_version_is_refused() {
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    assert_eq!(project.run(&[]).0.code, 0);
    project.write("modules.yaml", &MODULES.replace("tr a-z A-Z", "tr a-z A-Z | rev"));
    let (out, _) = project.run(&[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("Module/upper@1 in the files differs from the stored version"),
        "{}",
        out.stderr
    );
}

#[test]
fn two_runs_of_one_pipeline_at_once_both_succeed() {
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    let spawn = || {
        runner(&project)
            .arg("--no-cache")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let records = project.mlspec(&["list", "WorkflowRecord", "--format", "json"]);
    let records: Value = serde_json::from_str(&records.stdout).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 2);
}

/// `mlspec pipeline run` of the project's pipeline and inputs, as a command to spawn.
fn runner(project: &Project) -> Command {
    let mut command = Command::new(cargo_bin("mlspec"));
    command.current_dir(project.path()).env_remove("MLSPEC_STORE").args([
        "pipeline",
        "run",
        "pipeline.yaml",
        "-f",
        "modules.yaml",
        "--input",
        "x=x.txt",
        "--input",
        "y=y.txt",
    ]);
    command
}

/// A runner started in its own process group (so that the steps it leaves behind can be
/// killed with it), its standard error collected in a file.
pub(super) fn spawn_runner(project: &Project, flag: &Path) -> (std::process::Child, PathBuf) {
    use std::os::unix::process::CommandExt as _;
    let log = project.path().join("runner.log");
    let child = runner(project)
        .arg("--param")
        .arg(format!("flag={}", flag.display()))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

pub(super) fn wait_for_line(log: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(log).unwrap_or_default().contains(text) {
        assert!(
            Instant::now() < deadline,
            "`{text}` never appeared in {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(super) const WAITING: &str = r#"  params: {flag: none}
  steps:
    - {name: quick, module: Module/upper@1, inputs: {text: inputs.x}}
    - {name: waiting, module: Module/wait@1, params: {flag: "{params.flag}"}, dependsOn: [quick]}
"#;

#[test]
fn sigint_stops_the_steps_and_records_the_run_killed() {
    let project = Project::new(&format!("{INPUTS}{WAITING}"));
    let flag = project.path().join("flag");
    let (child, log) = spawn_runner(&project, &flag);
    wait_for_line(&log, "waiting: started");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(130), "{}", std::fs::read_to_string(&log).unwrap());
    let records = project.mlspec(&["list", "WorkflowRecord", "--format", "json"]);
    let records: Value = serde_json::from_str(&records.stdout).unwrap();
    let record = project.get(records[0]["id"].as_str().unwrap());
    assert_eq!(
        statuses(&record),
        pairs(&[("quick", "Finished"), ("waiting", "Killed")])
    );
    let parent = project.get(record["spec"]["run"].as_str().unwrap());
    assert_eq!(parent["spec"]["status"], "Killed");
    assert_eq!(parent["spec"]["signal"], "SIGINT");
}

#[test]
fn after_sigkill_a_rerun_resumes_from_the_finished_steps() {
    let project = Project::new(&format!("{INPUTS}{WAITING}"));
    let flag = project.path().join("flag");
    let (mut child, log) = spawn_runner(&project, &flag);
    wait_for_line(&log, "waiting: started");
    // The runner and every step it started, at once.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    std::fs::write(&flag, "").unwrap();
    let (out, record) = project.run(&["--param", &format!("flag={}", flag.display())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        statuses(&record),
        pairs(&[("quick", "Cached"), ("waiting", "Finished")])
    );
}

#[test]
fn recreate_compares_every_output_and_refuses_what_changed() {
    let steps = r#"  steps:
    - {name: shout, module: Module/upper@1, inputs: {text: inputs.x}}
    - {name: clock, module: Module/stamp@1}
"#;
    let project = Project::new(&format!("{INPUTS}{steps}"));
    let (out, _) = project.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = project.mlspec(&["recreate", "record.json", "--check"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("shout/out: same sha256:"), "{}", out.stdout);
    assert!(
        lines[1].starts_with("clock/out: differs (recorded sha256:"),
        "{}",
        out.stdout
    );
    assert_eq!(lines[2], "1 of 2 output(s) the same (checked; nothing kept)");

    // The input's content changed: refused, naming it.
    project.write("x.txt", "other\n");
    let out = project.mlspec(&["recreate", "record.json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("refused: record.json cannot be recreated as recorded:"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("input `x`"), "{}", out.stderr);
    project.write("x.txt", "left\n");

    // The module's stored definition changed under the same version: refused, naming it.
    let changed = MODULES.replace("tr a-z A-Z", "tr a-z A-Z | rev");
    project.write("changed.yaml", &changed);
    let applied = project.mlspec(&["apply", "changed.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let out = project.mlspec(&["recreate", "record.json"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("module Module/upper@1 changed: recorded sha256:"),
        "{}",
        out.stderr
    );

    // A record edited by hand into something invalid is refused as such.
    let text = std::fs::read_to_string(project.path().join("record.json")).unwrap();
    project.write(
        "edited.json",
        &text.replace("\"status\": \"Finished\"", "\"status\": \"Done\""),
    );
    let out = project.mlspec(&["recreate", "edited.json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("edited.json is not a valid document"),
        "{}",
        out.stderr
    );
}

#[test]
fn recreate_keeps_a_new_record_when_not_checking() {
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    assert_eq!(project.run(&[]).0.code, 0);
    let out = project.mlspec(&["recreate", "record.json", "--jobs", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("3 of 3 output(s) the same (recorded as WorkflowRecord/p-"),
        "{}",
        out.stdout
    );
    let records = project.mlspec(&["list", "WorkflowRecord", "--format", "json"]);
    let records: Value = serde_json::from_str(&records.stdout).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 2);
}

#[test]
fn openlineage_events_of_a_run_validate_against_the_official_schemas() {
    let python = std::env::var("MLSPEC_INTEROP_PYTHON")
        .expect("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which makes the venv");
    let project = Project::new(&format!(
        "{INPUTS}  steps:\n{FAN_IN}    - {{name: broken, module: Module/fail@1}}\n"
    ));
    let events = project.path().join("events.ndjson");
    let (out, _) = project.run(&["--openlineage", events.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let text = std::fs::read_to_string(&events).unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            let event: Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                event["job"]["name"].as_str().unwrap(),
                event["eventType"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "p START",
        "p.shout-x START",
        "p.shout-x COMPLETE",
        "p.join COMPLETE",
        "p.broken FAIL",
        "p FAIL",
    ] {
        assert!(kinds.iter().any(|k| k == expected), "{expected} missing from {kinds:?}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let checked = Command::new(python)
        .arg(root.join("crates/mlspec/tests/it/openlineage_validate.py"))
        .arg(root.join("vendor/schemas/openlineage"))
        .arg("--facets")
        .arg(root.join("schemas/openlineage/1-0-0"))
        .arg(&events)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        report.lines().filter(|l| l.starts_with("OK")).count(),
        kinds.len(),
        "{report}"
    );
}

#[test]
fn compile_writes_an_argo_workflow_or_names_the_step_it_cannot_express() {
    let project = Project::new(&format!("{INPUTS}  steps:\n{FAN_IN}"));
    let out = project.mlspec(&[
        "pipeline",
        "compile",
        "pipeline.yaml",
        "--target",
        "argo",
        "-f",
        "modules.yaml",
        "--image",
        "ghcr.io/example/tools:1",
        "--input",
        "x=data/x.txt",
        "--input",
        "y=data/y.txt",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let workflow: Value = serde_saphyr::from_str(&out.stdout).unwrap();
    assert_eq!(workflow["kind"], "Workflow");
    let tasks = &workflow["spec"]["templates"][0]["dag"]["tasks"];
    assert_eq!(tasks[2]["name"], "join");
    assert_eq!(tasks[2]["dependencies"], serde_json::json!(["shout-x", "shout-y"]));

    let out = project.mlspec(&[
        "pipeline",
        "compile",
        "pipeline.yaml",
        "--target",
        "argo",
        "-f",
        "modules.yaml",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("step `shout-x`"), "{}", out.stderr);
}

#[test]
fn a_module_tool_version_is_recorded_and_a_new_version_reruns_its_steps() {
    let project = Project::new(&format!(
        "{INPUTS}  steps:\n    - {{name: shout, module: Module/tooled@1, inputs: {{text: inputs.x}}}}\n"
    ));
    let version_file = project.path().join("tool-version.txt");
    std::fs::write(&version_file, "faketool 1.0\nbuilt yesterday\n").unwrap();
    project.write(
        "modules.yaml",
        &format!(
            "{MODULES}---\napiVersion: mlspec/v1\nkind: Module\nmetadata: {{name: tooled}}\nspec:\n  version: \"1\"\n  inputs: [{{name: text, type: artifact}}]\n  outputs: [{{name: out, type: artifact}}]\n  implementation:\n    command: [cp, \"{{inputs.text}}\", \"{{outputs.out}}\"]\n    tools: [{{name: faketool, versionCommand: [cat, \"{}\"]}}]\n",
            version_file.display()
        ),
    );
    let (out, record) = project.run(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        record["spec"]["environment"]["packages"],
        serde_json::json!([{"name": "faketool", "version": "faketool 1.0"}])
    );
    assert_eq!(statuses(&project.run(&[]).1), pairs(&[("shout", "Cached")]));
    std::fs::write(&version_file, "faketool 1.1\n").unwrap();
    assert_eq!(statuses(&project.run(&[]).1), pairs(&[("shout", "Finished")]));
    std::fs::remove_file(&version_file).unwrap();
    let (out, _) = project.run(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("the version of tool `faketool`"), "{}", out.stderr);
}

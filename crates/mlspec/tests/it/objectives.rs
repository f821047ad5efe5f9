//! `mlspec objectives check`: the table, JSON and JUnit outputs (snapshots), exit codes, the
//! located diagnostics of bad expressions, the verdict recorded in the store with pinned
//! inputs, and the JUnit XML read back by a real consumer (Python's junitparser).

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::store::{Out, mlspec, quickstart, regex_escape};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/objectives")
        .join(name)
        .display()
        .to_string()
}

fn check(dir: &Path, args: &[&str]) -> Out {
    let mut all = vec!["objectives", "check"];
    all.extend(args);
    mlspec(dir, &all)
}

#[test]
fn a_failing_check_reports_every_criterion_in_each_format() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (objectives, eval) = (fixture("strict.yaml"), fixture("weak-eval.yaml"));
    let out = check(dir, &[&objectives, "--metrics", &eval]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Evaluation/churn-eval has no slice [gender=X]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .ends_with("note: no store here, so the verdict was not recorded (`mlspec init` makes one)\n"),
        "{}",
        out.stderr
    );
    snapshot!(dir, "objectives_check_table", out.stdout);

    let out = check(dir, &[&objectives, "--metrics", &eval, "--format", "json"]);
    assert_eq!(out.code, 1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let statuses: Vec<(&str, &str, bool)> = report["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["met"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("accurate", "met", true),
            ("fair", "notMet", false),
            ("recall-nonbinary", "unknown", false),
            ("calibrated", "error", false),
            ("small", "notMet", false),
        ]
    );
    assert_eq!(report["result"], "failed");
    assert_eq!(
        report["criteria"][2]["reason"],
        "metric `recall[gender=X]` was not recorded"
    );
    assert_eq!(report["criteria"][3]["reason"], "division by zero: 0.04 / 0");
    snapshot!(dir, "objectives_check_json", out.stdout);

    let out = check(dir, &[&objectives, "--metrics", &eval, "--format", "junit"]);
    assert_eq!(out.code, 1);
    snapshot!(dir, "objectives_check_junit", out.stdout);
}

#[test]
fn bad_expressions_and_inputs_exit_2_with_located_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let eval = fixture("weak-eval.yaml");
    let out = check(dir, &[&fixture("broken.yaml"), "--metrics", &eval]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    let fixtures = regex_escape(&Path::new(&eval).parent().unwrap().display().to_string());
    insta::with_settings!({filters => vec![(fixtures.as_str(), "[FIXTURES]")]}, {
        insta::assert_snapshot!("objectives_check_broken", out.stderr);
    });

    // Names that were not recorded are warnings with a suggestion; the criterion is not met.
    let out = check(dir, &[&fixture("typo.yaml"), "--metrics", &eval]);
    assert_eq!(out.code, 1);
    insta::with_settings!({filters => vec![(fixtures.as_str(), "[FIXTURES]")]}, {
        insta::assert_snapshot!("objectives_check_typo", out.stderr);
    });

    let out = check(dir, &[&eval, "--metrics", &eval]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is Evaluation churn-eval; expected Objectives"),
        "{}",
        out.stderr
    );
    let out = check(dir, &[&fixture("strict.yaml"), "--metrics", "no/such/file.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("neither a file nor a stored object"),
        "{}",
        out.stderr
    );
    let out = check(dir, &[&fixture("strict.yaml"), "--metrics", "Evaluation/churn-eval"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no mlspec store"), "{}", out.stderr);
}

fn sha256_of_stored(dir: &Path, reference: &str) -> String {
    let out = mlspec(dir, &["get", reference, "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let compact = serde_json::to_string(&value).unwrap();
    format!("sha256:{}", hex::encode(Sha256::digest(compact.as_bytes())))
}

#[test]
fn the_verdict_is_recorded_with_pinned_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    let out = mlspec(dir, &["apply", &quickstart()]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let args = [
        "Objectives/penguin-species",
        "--metrics",
        "Evaluation/penguins-logreg-eval",
        "--baseline",
        "Evaluation/penguins-baseline-eval",
    ];
    let out = check(dir, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot!(dir, "objectives_check_passed", out.stdout);
    assert!(
        out.stderr
            .starts_with("recorded ObjectivesCheck/penguin-species--penguins-logreg-eval ("),
        "{}",
        out.stderr
    );

    let out = mlspec(
        dir,
        &[
            "get",
            "ObjectivesCheck/penguin-species--penguins-logreg-eval",
            "-o",
            "json",
        ],
    );
    let recorded: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let objectives_digest = sha256_of_stored(dir, "Objectives/penguin-species");
    let subject_digest = sha256_of_stored(dir, "Evaluation/penguins-logreg-eval");
    let pinned = |field: &str| {
        recorded["spec"][field]
            .as_str()
            .unwrap()
            .split_once('#')
            .unwrap()
            .1
            .to_owned()
    };
    assert_eq!(pinned("objectives"), objectives_digest);
    assert_eq!(pinned("subject"), subject_digest);
    assert_eq!(recorded["spec"]["result"], "passed");

    // Without the baseline the regression criterion cannot be met: a new verdict, recorded as a
    // new version of the same check.
    let out = check(dir, &args[..3]);
    assert_eq!(out.code, 1);
    let out = mlspec(
        dir,
        &["history", "ObjectivesCheck", "penguin-species--penguins-logreg-eval"],
    );
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with('#')).count(),
        2,
        "{}",
        out.stdout
    );

    let out = mlspec(
        dir,
        &[
            "lineage",
            "ObjectivesCheck/penguin-species--penguins-logreg-eval",
            "--upstream",
            "--depth",
            "1",
        ],
    );
    assert!(
        out.stdout
            .contains("Objectives/penguin-species --uses--> ObjectivesCheck/"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Evaluation/penguins-logreg-eval --input--> ObjectivesCheck/"),
        "{}",
        out.stdout
    );

    // --no-record leaves the store alone.
    let out = check(
        dir,
        &[
            "Objectives/penguin-species",
            "--metrics",
            "Evaluation/penguins-baseline-eval",
            "--no-record",
        ],
    );
    assert_eq!(out.code, 1);
    assert_eq!(mlspec(dir, &["list", "ObjectivesCheck"]).stdout.lines().count(), 2);
    assert_eq!(mlspec(dir, &["store", "verify"]).code, 0);
}

#[test]
fn junit_output_is_read_by_junitparser() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = check(
        dir,
        &[
            &fixture("strict.yaml"),
            "--metrics",
            &fixture("weak-eval.yaml"),
            "--format",
            "junit",
        ],
    );
    let path = dir.join("report.xml");
    std::fs::write(&path, &out.stdout).unwrap();
    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
cases = []
for suite in xml:
    for case in suite:
        kinds = [type(r).__name__ for r in case.result]
        cases.append([case.name, kinds, [r.message for r in case.result]])
    print(json.dumps({"suite": suite.name, "tests": suite.tests, "failures": suite.failures, "errors": suite.errors, "cases": cases}))
"#;
    let python = std::env::var("MLSPEC_INTEROP_PYTHON")
        .expect("MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs junitparser");
    let read = std::process::Command::new(python)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(parsed["suite"], "Evaluation/churn-eval against Objectives/churn");
    assert_eq!(
        (
            parsed["tests"].as_u64(),
            parsed["failures"].as_u64(),
            parsed["errors"].as_u64()
        ),
        (Some(5), Some(2), Some(1))
    );
    let expected = serde_json::json!([
        ["accurate", [], []],
        ["fair", ["Failure"], ["`gap(recall, by=gender) < 0.05` is false"]],
        [
            "recall-nonbinary",
            ["Failure"],
            ["metric `recall[gender=X]` was not recorded"]
        ],
        ["calibrated", ["Error"], ["division by zero: 0.04 / 0"]],
        ["small", [], []],
    ]);
    assert_eq!(parsed["cases"], expected);
}

//! `mlspec test`: the final step on holdback data. It runs on the holdback part of a Split
//! recorded without leakage, counts every read in the store and stops at the Objectives'
//! budget; it refuses the evaluation's own data, another part of a split, data that shares rows
//! with --against files, and a holdback part whose split leaked.

use std::fmt::Write as _;
use std::path::Path;

use super::store::mlspec;

const SETUP: &str = "apiVersion: mlspec/v1
kind: Run
metadata:
  name: train-1
spec:
  status: Finished
  startTime: 2026-11-30T10:00:00Z
  endTime: 2026-11-30T10:04:12Z
---
apiVersion: mlspec/v1
kind: Artifact
metadata:
  name: model
spec:
  run: Run/train-1
  type: model
  path: {datastore: local, path: model.bin}
  digest: sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
  size: 48213
  mediaType: application/octet-stream
---
apiVersion: mlspec/v1
kind: Dataset
metadata:
  name: people
spec:
  versions:
    - version: \"1\"
      definition: {datastore: local, path: people.csv}
---
apiVersion: mlspec/v1
kind: Objectives
metadata:
  name: churn
spec:
  outputs: []
  holdbackReadBudget: 2
  criteria:
  - name: accurate
    expression: accuracy >= 0.1
    severity: block
";

/// 600 rows of 150 users, with a label; `dupes` appends copies of the first rows (new ids).
fn people(dupes: usize) -> String {
    let mut csv = String::from("id,user,x,label\n");
    for i in 0..600 {
        writeln!(csv, "{i},u{},{}.5,{}", i % 150, i * 7 % 90, i % 3 % 2).unwrap();
    }
    for i in 0..dupes {
        writeln!(csv, "{},u{},{}.5,{}", 600 + i, i % 150, i * 7 % 90, i % 3 % 2).unwrap();
    }
    csv
}

/// Predictions for a data file: its label, a prediction and a score.
fn predictions(dir: &Path, data: &str, out: &str) {
    let text = std::fs::read_to_string(dir.join(data)).unwrap();
    let mut csv = String::from("label,prediction,score\n");
    for (i, line) in text.lines().skip(1).enumerate() {
        let label = line.rsplit(',').next().unwrap();
        let prediction = if i % 4 == 0 {
            1 - label.parse::<i32>().unwrap()
        } else {
            label.parse().unwrap()
        };
        writeln!(csv, "{label},{prediction},0.{}", 1 + i % 9).unwrap();
    }
    std::fs::write(dir.join(out), csv).unwrap();
}

fn setup(dir: &Path, dupes: usize, split: &[&str]) {
    assert_eq!(mlspec(dir, &["init"]).code, 0);
    std::fs::write(dir.join("setup.yaml"), SETUP).unwrap();
    let applied = mlspec(dir, &["apply", "setup.yaml"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    std::fs::write(dir.join("people.csv"), people(dupes)).unwrap();
    let mut args = vec![
        "data",
        "split",
        "people.csv",
        "--holdback",
        "0.2",
        "--ignore",
        "id",
        "--out-dir",
        "parts",
        "--dataset",
        "Dataset/people",
        "--out",
        "split.yaml",
        "--quiet",
    ];
    args.extend(split);
    let out = mlspec(dir, &args);
    assert!(out.code <= 1, "{}", out.stderr);
    // The parts are recorded as Dataset versions, referenced by the Split.
    let split = std::fs::read_to_string(dir.join("split.yaml")).unwrap();
    assert!(split.contains("output: Dataset/people-holdback@1"), "{split}");
    predictions(dir, "parts/people-test.csv", "test-pred.csv");
    predictions(dir, "parts/people-holdback.csv", "holdback-pred.csv");
    let eval = mlspec(
        dir,
        &[
            "eval",
            "test-pred.csv",
            "--score",
            "score",
            "--model",
            "Artifact/model",
            "--dataset",
            "Dataset/people-test",
            "--name",
            "churn-eval",
            "--resamples",
            "50",
            "--quiet",
            "--out",
            "eval.yaml",
        ],
    );
    assert_eq!(eval.code, 0, "{}", eval.stderr);
}

fn test(dir: &Path, predictions: &str, holdback: &str, dataset: &str, extra: &[&str]) -> super::store::Out {
    let mut args = vec![
        "test",
        predictions,
        "--holdback",
        holdback,
        "--dataset",
        dataset,
        "--evaluation",
        "Evaluation/churn-eval",
        "--objectives",
        "Objectives/churn",
        "--ignore",
        "id",
        "--resamples",
        "20",
        "--quiet",
        "--format",
        "json",
    ];
    args.extend(extra);
    mlspec(dir, &args)
}

#[test]
fn the_holdback_part_is_tested_and_every_read_counted_up_to_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, 0, &["--by", "user"]);
    for read in 1..=2 {
        let out = test(
            dir,
            "holdback-pred.csv",
            "parts/people-holdback.csv",
            "Dataset/people-holdback",
            &[],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["kind"], "TestReport");
        assert_eq!(report["spec"]["holdbackReads"], read);
        assert_eq!(report["spec"]["holdbackReadBudget"], 2);
        assert_eq!(report["spec"]["evaluationDataset"], "Dataset/people-test");
        assert!(
            out.stderr.contains(&format!("holdback reads: {read} of 2")),
            "{}",
            out.stderr
        );
    }
    // The budget is spent; archiving the reports does not give the reads back.
    let out = test(
        dir,
        "holdback-pred.csv",
        "parts/people-holdback.csv",
        "Dataset/people-holdback",
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("the holdback read budget is spent"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("read 2 times, and the Objectives allow 2"),
        "{}",
        out.stderr
    );
    assert_eq!(
        mlspec(dir, &["archive", "TestReport", "holdback-pred-test-read-2"]).code,
        0
    );
    let again = test(
        dir,
        "holdback-pred.csv",
        "parts/people-holdback.csv",
        "Dataset/people-holdback",
        &[],
    );
    assert_eq!(again.code, 1, "{}", again.stderr);
}

#[test]
fn the_evaluation_data_and_other_parts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, 0, &["--by", "user"]);
    let same = test(
        dir,
        "test-pred.csv",
        "parts/people-test.csv",
        "Dataset/people-test",
        &[],
    );
    assert_eq!(same.code, 1);
    assert!(
        same.stderr.contains("is the data the evaluation was made on"),
        "{}",
        same.stderr
    );
    let part = test(
        dir,
        "test-pred.csv",
        "parts/people-test.csv",
        "Dataset/people-holdback",
        &[],
    );
    assert_eq!(part.code, 1);
    assert!(
        part.stderr.contains("are the `test` part of Split/people-split"),
        "{}",
        part.stderr
    );
    // Rows no recorded split knows are refused unless checked against the data directly.
    std::fs::write(dir.join("other.csv"), "id,user,x,label\n9000,zz,1.5,0\n9001,zy,2.5,1\n").unwrap();
    std::fs::write(dir.join("other-pred.csv"), "label,prediction,score\n0,0,0.2\n1,1,0.8\n").unwrap();
    let unknown = test(dir, "other-pred.csv", "other.csv", "Dataset/people-holdback", &[]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("nothing shows that these rows were held back"),
        "{}",
        unknown.stderr
    );
    let checked = test(
        dir,
        "other-pred.csv",
        "other.csv",
        "Dataset/people-holdback",
        &["--against", "parts/people-train.csv", "parts/people-test.csv"],
    );
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    // Rows of the test part mixed with unknown ones: found by the direct check.
    let test_rows = std::fs::read_to_string(dir.join("parts/people-test.csv")).unwrap();
    let first = test_rows.lines().nth(1).unwrap();
    std::fs::write(
        dir.join("mixed.csv"),
        format!("id,user,x,label\n9000,zz,1.5,0\n{first}\n"),
    )
    .unwrap();
    let overlapping = test(
        dir,
        "other-pred.csv",
        "mixed.csv",
        "Dataset/people-holdback",
        &["--against", "parts/people-train.csv", "parts/people-test.csv"],
    );
    assert_eq!(overlapping.code, 1);
    assert!(overlapping.stderr.contains("shares"), "{}", overlapping.stderr);
}

#[test]
fn a_holdback_part_of_a_leaking_split_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Duplicated rows, split at random: copies land in different parts.
    setup(dir, 300, &["--seed", "4"]);
    let out = test(
        dir,
        "holdback-pred.csv",
        "parts/people-holdback.csv",
        "Dataset/people-holdback",
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("shared between its parts"), "{}", out.stderr);
}

#[test]
fn the_test_stage_needs_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.csv"), "label,prediction\n1,1\n").unwrap();
    std::fs::write(
        dir.join("eval.yaml"),
        "apiVersion: mlspec/v1\nkind: Evaluation\nmetadata:\n  name: e\nspec:\n  model: Artifact/m\n  dataset: Dataset/d\n  metrics: []\n",
    )
    .unwrap();
    let out = mlspec(
        dir,
        &["test", "p.csv", "--holdback", "p.csv", "--evaluation", "eval.yaml"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("counts every read of the holdback data in a store"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_holdback_can_be_named_as_a_dataset_and_the_evaluation_found_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, 0, &["--by", "user"]);
    let out = mlspec(
        dir,
        &[
            "test",
            "holdback-pred.csv",
            "--holdback",
            "Dataset/people-holdback@1",
            "--ignore",
            "id",
            "--resamples",
            "10",
            "--quiet",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["spec"]["dataset"], "Dataset/people-holdback@1");
    assert_eq!(report["spec"]["evaluation"], "Evaluation/churn-eval");
    assert_eq!(report["spec"]["holdbackReads"], 1);
    // The test part, named as a Dataset, is refused like its file.
    let part = mlspec(
        dir,
        &[
            "test",
            "test-pred.csv",
            "--holdback",
            "Dataset/people-test@1",
            "--ignore",
            "id",
        ],
    );
    assert_eq!(part.code, 1, "{}", part.stderr);
}

//! `mlspec eval`: every metric, overall and per slice, agrees with scikit-learn and fairlearn
//! (tests/it/eval_reference.py) to 1e-9 — with tied scores, a single-class slice, a one-row
//! slice, a predicted class that never occurs; undefined metrics are reported as such; bad
//! input exits 2; the objectives' verdict and baseline deltas are recorded.

use std::fmt::Write as _;
use std::path::Path;

use super::store::mlspec;

/// A deterministic number in [0, 1).
fn unit(i: u64, stream: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Binary predictions with tied scores (two decimals); the slice `region=north` has only
/// negative labels and `region=island` one row.
fn binary(rows: u64) -> String {
    let mut csv = String::from("label,prediction,score,gender,region\n");
    for i in 0..rows {
        let region = match i {
            0 => "island",
            _ if i % 10 == 0 => "north",
            _ if i % 2 == 0 => "south",
            _ => "east",
        };
        let label = u8::from(region != "north" && unit(i, 1) < 0.4);
        let score = ((f64::from(label) * 0.35 + unit(i, 2) * 0.65) * 100.0).round() / 100.0;
        let prediction = u8::from(score > 0.5);
        let gender = if unit(i, 3) < 0.5 { "F" } else { "M" };
        writeln!(csv, "{label},{prediction},{score},{gender},{region}").unwrap();
    }
    csv
}

/// Three classes in the labels, a fourth (`d`) only in the predictions.
fn multiclass(rows: u64) -> String {
    let mut csv = String::from("label,prediction,group\n");
    for i in 0..rows {
        let label = ["a", "b", "c"][(unit(i, 4) * 3.0) as usize % 3];
        let prediction = if unit(i, 5) < 0.7 {
            label
        } else {
            ["a", "b", "c", "d"][(unit(i, 6) * 4.0) as usize % 4]
        };
        writeln!(csv, "{label},{prediction},g{}", i % 3).unwrap();
    }
    csv
}

/// Regression; the slice `kind=flat` has constant labels, `kind=zero` a zero label.
fn regression(rows: u64) -> String {
    let mut csv = String::from("label,prediction,kind\n");
    for i in 0..rows {
        let (kind, label) = match i % 5 {
            0 => ("flat", 3.0),
            1 if i == 1 => ("zero", 0.0),
            1 => ("zero", 1.0 + unit(i, 7) * 10.0),
            _ => ("wide", 1.0 + unit(i, 7) * 100.0),
        };
        let prediction = label + (unit(i, 8) - 0.5) * 4.0;
        writeln!(csv, "{label},{prediction},{kind}").unwrap();
    }
    csv
}

fn python() -> String {
    std::env::var("MLSPEC_INTEROP_PYTHON").expect(
        "MLSPEC_INTEROP_PYTHON is not set: run the suite with scripts/test, which installs scikit-learn and fairlearn",
    )
}

/// Runs the reference on a predictions file and its Evaluation.
fn reference(dir: &Path, predictions: &str, evaluation: &str, extra: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/eval_reference.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(dir.join(predictions))
        .arg(dir.join(evaluation))
        .args(extra)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn evaluate(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["eval"];
    all.extend(args);
    all.extend([
        "--format",
        "json",
        "--out",
        "eval.json",
        "--resamples",
        "200",
        "--quiet",
    ]);
    let out = mlspec(dir, &all);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap()
}

fn undefined(spec: &serde_json::Value, slice: Option<&str>, key: &str) -> Option<String> {
    let list = match slice {
        None => &spec["undefined"],
        Some(name) => {
            let slices = spec["slices"].as_array().unwrap();
            &slices.iter().find(|s| s["name"] == name).unwrap()["undefined"]
        }
    };
    list.as_array()?
        .iter()
        .find(|u| u["key"] == key)
        .map(|u| u["reason"].as_str().unwrap().to_owned())
}

#[test]
fn binary_metrics_agree_with_scikit_learn_and_fairlearn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.csv"), binary(3000)).unwrap();
    let document = evaluate(dir, &["p.csv", "--score", "score", "--slice", "gender,region"]);
    let spec = &document["spec"];
    let (agreed, said) = reference(dir, "p.csv", "eval.json", &["--score", "score"]);
    assert!(agreed, "{said}");
    assert!(said.contains("agree"), "{said}");
    assert_eq!(
        undefined(spec, Some("region=north"), "roc_auc").as_deref(),
        Some("only one class occurs in the labels")
    );
    assert_eq!(
        undefined(spec, Some("region=north"), "recall/1").as_deref(),
        Some("the class never occurs in the labels")
    );
    let island = spec["slices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "region=island")
        .unwrap();
    assert_eq!(island["rows"], 1);
    // Intervals bracket their metric.
    let metric = |key: &str| {
        spec["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == key)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    for key in ["accuracy", "roc_auc", "log_loss"] {
        let (low, value, high) = (
            metric(&format!("{key}_ci_low")),
            metric(key),
            metric(&format!("{key}_ci_high")),
        );
        assert!(low < value && value < high, "{key}: {low} {value} {high}");
    }
    assert_eq!(spec["fairness"].as_array().unwrap().len(), 2);

    // A tampered Evaluation does not pass the reference.
    let mut tampered = document.clone();
    tampered["spec"]["metrics"][0]["value"] = serde_json::json!(0.5);
    std::fs::write(dir.join("t.json"), tampered.to_string()).unwrap();
    let (agreed, said) = reference(dir, "p.csv", "t.json", &["--score", "score"]);
    assert!(!agreed && said.contains("(whole) accuracy: mlspec 0.5"), "{said}");
}

#[test]
fn multiclass_metrics_agree_and_undefined_ones_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("m.csv"), multiclass(2000)).unwrap();
    let document = evaluate(dir, &["m.csv", "--slice", "group"]);
    let (agreed, said) = reference(dir, "m.csv", "eval.json", &[]);
    assert!(agreed, "{said}");
    // `d` is predicted, never a label: its recall is undefined (not 0) and left out of the
    // macro average.
    assert_eq!(
        undefined(&document["spec"], None, "recall/d").as_deref(),
        Some("the class never occurs in the labels")
    );
    assert!(document["spec"]["fairness"].as_array().is_none_or(Vec::is_empty));
}

#[test]
fn regression_metrics_agree_with_scikit_learn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("r.csv"), regression(1500)).unwrap();
    let document = evaluate(dir, &["r.csv", "--slice", "kind"]);
    let (agreed, said) = reference(dir, "r.csv", "eval.json", &["--regression"]);
    assert!(agreed, "{said}");
    let spec = &document["spec"];
    assert_eq!(spec["task"], "regression");
    assert_eq!(
        undefined(spec, Some("kind=flat"), "r2").as_deref(),
        Some("the labels are constant")
    );
    assert_eq!(
        undefined(spec, Some("kind=zero"), "mape").as_deref(),
        Some("a label is 0")
    );
    assert_eq!(undefined(spec, None, "mape").as_deref(), Some("a label is 0"));
}

#[test]
fn the_summary_shows_intervals_the_worst_slice_and_the_largest_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.csv"), binary(400)).unwrap();
    let out = mlspec(
        dir,
        &[
            "eval",
            "p.csv",
            "--score",
            "score",
            "--slice",
            "region",
            "--resamples",
            "100",
            "--out",
            "e.yaml",
            "--quiet",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("eval_summary", out.stderr);
}

#[test]
fn the_bootstrap_is_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.csv"), binary(500)).unwrap();
    let run = |seed: &str| {
        let out = mlspec(
            dir,
            &[
                "eval",
                "p.csv",
                "--score",
                "score",
                "--resamples",
                "100",
                "--seed",
                seed,
                "--format",
                "json",
                "--quiet",
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    assert_eq!(run("1"), run("1"));
    assert_ne!(run("1"), run("2"));
}

#[test]
fn objectives_and_a_baseline_add_a_verdict_and_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.csv"), binary(1000)).unwrap();
    std::fs::write(
        dir.join("objectives.yaml"),
        "apiVersion: mlspec/v1\nkind: Objectives\nmetadata:\n  name: churn\nspec:\n  outputs: []\n  criteria:\n  - name: accurate\n    expression: accuracy >= 0.99\n    severity: block\n  - name: fair\n    expression: gap(accuracy, by=gender) < 0.5\n    severity: warn\n",
    )
    .unwrap();
    let base = mlspec(
        dir,
        &[
            "eval",
            "p.csv",
            "--score",
            "score",
            "--resamples",
            "0",
            "--out",
            "base.yaml",
            "--quiet",
        ],
    );
    assert_eq!(base.code, 0, "{}", base.stderr);
    let out = mlspec(
        dir,
        &[
            "eval",
            "p.csv",
            "--score",
            "score",
            "--slice",
            "gender",
            "--resamples",
            "50",
            "--objectives",
            "objectives.yaml",
            "--baseline",
            "base.yaml",
            "--format",
            "json",
            "--quiet",
        ],
    );
    assert_eq!(out.code, 1, "a block criterion is not met: {}", out.stderr);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let spec = &document["spec"];
    assert_eq!(spec["verdict"]["result"], "failed");
    assert_eq!(spec["deltas"]["accuracy"], 0.0);
    assert!(out.stderr.contains("not met: accurate"), "{}", out.stderr);
}

#[test]
fn bad_input_exits_2_with_the_place() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("nan.csv"), "label,prediction,score\n1,1,0.9\n0,0,NaN\n").unwrap();
    let nan = mlspec(dir, &["eval", "nan.csv", "--score", "score"]);
    assert_eq!(nan.code, 2);
    assert!(
        nan.stderr.contains("row 1") && nan.stderr.contains("NaN"),
        "{}",
        nan.stderr
    );
    std::fs::write(dir.join("p.csv"), "label,prediction\n1,1\n,0\n").unwrap();
    let missing = mlspec(dir, &["eval", "p.csv"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("`label` is missing") && missing.stderr.contains("row 1"),
        "{}",
        missing.stderr
    );
    let column = mlspec(dir, &["eval", "p.csv", "--label", "y"]);
    assert_eq!(column.code, 2);
    assert!(column.stderr.contains("there is no column `y`"), "{}", column.stderr);
    std::fs::write(dir.join("s.csv"), "label,prediction\nx,1.5\n").unwrap();
    let wrong = mlspec(dir, &["eval", "s.csv", "--task", "regression"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("not a number"), "{}", wrong.stderr);
    std::fs::write(dir.join("e.csv"), "label,prediction\n").unwrap();
    let empty = mlspec(dir, &["eval", "e.csv"]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("no rows"), "{}", empty.stderr);
    std::fs::write(dir.join("m.csv"), multiclass(30)).unwrap();
    let score = mlspec(dir, &["eval", "m.csv", "--score", "label"]);
    assert_eq!(score.code, 2);
}

/// NaN and infinite labels, predictions and scores are refused with the place, as
/// scikit-learn refuses them; finite values whose metrics overflow get those metrics undefined,
/// and the Evaluation stays a valid document.
#[test]
fn non_finite_inputs_are_refused_and_overflowing_metrics_are_undefined() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cases = [
        (
            "label,prediction,score\n1,1,0.9\n0,0,inf\n",
            &["--score", "score"][..],
            "`score` is infinite",
        ),
        (
            "label,prediction,score\n0,0,0.1\n1,1,-inf\n",
            &["--score", "score"][..],
            "`score` is infinite",
        ),
        ("label,prediction\n1.5,1.0\ninf,2.0\n", &[][..], "`label` is infinite"),
        (
            "label,prediction\n2.5,2.0\n1.5,-inf\n",
            &[][..],
            "`prediction` is infinite",
        ),
        ("label,prediction\n1.5,1.0\n2.5,NaN\n", &[][..], "`prediction` is NaN"),
    ];
    for (csv, extra, said) in cases {
        std::fs::write(dir.join("p.csv"), csv).unwrap();
        let mut args = vec!["eval", "p.csv"];
        args.extend(extra);
        let out = mlspec(dir, &args);
        assert_eq!(out.code, 2, "{csv}: {}", out.stderr);
        assert!(
            out.stderr.contains(said) && out.stderr.contains("row 1"),
            "{csv}: {}",
            out.stderr
        );
    }
    std::fs::write(
        dir.join("big.csv"),
        "label,prediction\n1e300,-1e300\n-1e300,1e300\n1,2\n",
    )
    .unwrap();
    let spec = &evaluate(dir, &["big.csv"])["spec"];
    assert_eq!(undefined(spec, None, "rmse").as_deref(), Some("not finite"));
    assert_eq!(mlspec(dir, &["validate", "eval.json"]).code, 0);
}

/// At most 500 classes, and slices × classes within what a document holds: refused before the
/// work with what to do; at the limit, the Evaluation is a document mlspec reads back.
#[test]
fn classes_and_slices_are_bounded_by_the_document_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let classes = |n: u64, rows: u64| {
        let mut csv = String::from("label,prediction,group\n");
        for i in 0..rows {
            writeln!(csv, "c{},c{},g{}", i % n, (i + u64::from(i % 3 == 0)) % n, i % 100).unwrap();
        }
        csv
    };
    std::fs::write(dir.join("many.csv"), classes(501, 1002)).unwrap();
    let out = mlspec(dir, &["eval", "many.csv"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("more than 500 classes"), "{}", out.stderr);

    std::fs::write(dir.join("limit.csv"), classes(500, 1000)).unwrap();
    let out = mlspec(
        dir,
        &["eval", "limit.csv", "--resamples", "0", "--quiet", "--out", "e.yaml"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let check = mlspec(dir, &["validate", "e.yaml"]);
    assert_eq!(check.code, 0, "{}", check.stderr);

    std::fs::write(dir.join("sliced.csv"), classes(100, 1000)).unwrap();
    let out = mlspec(dir, &["eval", "sliced.csv", "--slice", "group", "--quiet"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("100 slices of 100 classes") && out.stderr.contains("at most 31 slices"),
        "{}",
        out.stderr
    );
}

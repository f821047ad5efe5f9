//! Evaluation: what a document could not hold is refused before the work, with the kind
//! `LimitExceeded` and the predictions file named.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mlspec_data::eval::{EvalOptions, Evaluation, evaluate, load};
use mlspec_data::{ErrorKind, ReadOptions};
use mlspec_spec::kinds::Task;

/// `rows` predictions of `classes` classes in `groups` groups.
fn predictions(dir: &Path, classes: u64, groups: u64, rows: u64) -> PathBuf {
    let mut csv = String::from("label,prediction,group\n");
    for i in 0..rows {
        writeln!(csv, "c{},c{},g{}", i % classes, (i + 1) % classes, i % groups).unwrap();
    }
    let path = dir.join("predictions.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn sliced_by_group() -> EvalOptions {
    EvalOptions {
        slices: vec![vec!["group".into()]],
        resamples: 0,
        ..EvalOptions::default()
    }
}

fn evaluated(path: &Path, options: &EvalOptions) -> Evaluation {
    let data = load(path, &ReadOptions::default(), options).unwrap();
    evaluate(&data, options, |_| {}).unwrap()
}

#[test]
fn too_many_slices_or_metrics_are_refused_with_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let options = sliced_by_group();
    let slices = predictions(dir.path(), 2, 1001, 1001);
    let data = load(&slices, &ReadOptions::default(), &options).unwrap();
    let error = evaluate(&data, &options, |_| {}).unwrap_err();
    assert_eq!(error.kind, ErrorKind::LimitExceeded, "{error}");
    assert_eq!(error.file, slices.display().to_string());

    let metrics = predictions(dir.path(), 100, 100, 1000);
    let data = load(&metrics, &ReadOptions::default(), &options).unwrap();
    let error = evaluate(&data, &options, |_| {}).unwrap_err();
    assert_eq!(error.kind, ErrorKind::LimitExceeded, "{error}");
    assert!(error.message.contains("100 slices of 100 classes"), "{error}");
}

#[test]
fn the_spec_parts_hold_metrics_intervals_the_matrix_and_slices() {
    let dir = tempfile::tempdir().unwrap();
    let path = predictions(dir.path(), 2, 2, 40);
    let options = EvalOptions {
        resamples: 50,
        ..sliced_by_group()
    };
    let outcome = evaluated(&path, &options);
    let parts = outcome.spec_parts().unwrap();
    let keys: Vec<&str> = parts.metrics.iter().map(|m| m.key.as_str()).collect();
    for key in [
        "accuracy",
        "accuracy_ci_low",
        "accuracy_ci_high",
        "confusion_matrix",
        "f1/c0",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let slices: Vec<(&str, u64)> = parts.slices.iter().map(|s| (s.name.as_str(), s.rows)).collect();
    assert_eq!(slices, [("group=g0", 20), ("group=g1", 20)]);
    let filter: Vec<(&str, &str)> = parts.slices[0]
        .filter
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(filter, [("group", "g0")]);
    // Binary classes named c0/c1 have no positive class: no fairness summary.
    assert!(parts.fairness.is_empty());
}

#[test]
fn a_slice_the_spec_cannot_name_is_an_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tab.csv");
    std::fs::write(&path, "label,prediction,group\na,a,\"x\ty\"\nb,a,z\n").unwrap();
    let options = sliced_by_group();
    let outcome = evaluated(&path, &options);
    let error = outcome.spec_parts().unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument, "{error}");
    assert_eq!(error.file, path.display().to_string());
}

#[test]
fn the_tasks_are_the_specs_and_ranking_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = predictions(dir.path(), 2, 1, 10);
    let ranking = EvalOptions {
        task: Some(Task::Ranking),
        ..EvalOptions::default()
    };
    let error = load(&path, &ReadOptions::default(), &ranking).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument, "{error}");
    assert_eq!(evaluated(&path, &EvalOptions::default()).task, Task::Classification);
}

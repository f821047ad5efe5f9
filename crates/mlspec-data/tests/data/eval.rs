//! Evaluation: what a document could not hold is refused before the work, with the kind
//! `LimitExceeded` and the predictions file named.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mlspec_data::eval::{EvalOptions, evaluate, load};
use mlspec_data::{ErrorKind, ReadOptions};

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

//! Distinct counts: exact up to `EXACT_LIMIT` values, in one thread, in several and merged
//! through documents; beyond it an estimate that never exceeds the values counted. And a profile
//! whose exact value counts would not fit a document leaves them out (its distinct counts stay
//! exact) instead of writing what no reader accepts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mlspec_data::profile::budget;
use mlspec_data::profile::strings::EXACT_LIMIT;
use mlspec_data::profile::{OutlierRules, ProfileOptions, Profiler, profile};
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::{DataProfileSpec, StringStats};
use mlspec_spec::validate::{Format, Limits, validate_text};
use mlspec_spec::{ApiVersion, Document, Metadata, Name, Spec};

/// `rows` rows, one in 50 with `v` missing; the others' `v` takes `distinct` values (`v0`,
/// `v1`, …, in turn) and their `half` is `a` or `b` in turn.
fn data(dir: &Path, rows: usize, distinct: usize) -> PathBuf {
    let mut csv = String::from("v,half\n");
    let mut present = 0;
    for i in 0..rows {
        if i % 50 == 49 {
            writeln!(csv, ",a").unwrap();
            continue;
        }
        writeln!(csv, "v{},{}", present % distinct, ["a", "b"][present % 2]).unwrap();
        present += 1;
    }
    let path = dir.join(format!("d{rows}-{distinct}.csv"));
    std::fs::write(&path, csv).unwrap();
    path
}

/// The values of `v` pandas' `nunique` counts: those of the present rows.
fn present_distinct(rows: usize, distinct: usize) -> u64 {
    (rows - rows / 50).min(distinct) as u64
}

fn run(path: &Path, threads: usize, slices: &[&str]) -> DataProfileSpec {
    profile(
        open(path, &ReadOptions::default()).unwrap(),
        &ProfileOptions {
            threads,
            slices: slices.iter().map(|s| vec![(*s).to_owned()]).collect(),
            ..ProfileOptions::default()
        },
        |_| {},
    )
    .unwrap()
    .spec(OutlierRules::default())
}

fn strings(spec: &DataProfileSpec) -> (&StringStats, u64) {
    let v = &spec.features[0];
    (v.string.as_ref().unwrap(), v.count)
}

fn readable(spec: &DataProfileSpec) -> bool {
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new("p").unwrap()),
        spec: Spec::DataProfile(spec.clone()),
    };
    let yaml = serde_saphyr::to_string(&document).unwrap();
    !validate_text(&yaml, Format::Yaml, &Limits::default()).has_errors()
}

#[test]
fn distinct_counts_are_exact_up_to_the_limit_and_never_above_the_count() {
    assert_eq!(EXACT_LIMIT, 100_000);
    let dir = tempfile::tempdir().unwrap();
    for (rows, distinct) in [(3_000, 1_000), (102_050, 100_000), (153_100, 150_000)] {
        let path = data(dir.path(), rows, distinct);
        let expected = present_distinct(rows, distinct);
        for threads in [1, 2] {
            let spec = run(&path, threads, &[]);
            let (stats, count) = strings(&spec);
            assert!(stats.distinct <= count, "{} distinct of {count}", stats.distinct);
            if expected <= EXACT_LIMIT as u64 {
                assert_eq!((stats.distinct, stats.distinct_estimated), (expected, false));
            } else {
                assert!(stats.distinct_estimated);
                // HyperLogLog at lg k = 12: within 5% (three standard errors), and at least
                // the values counted exactly before the sketch took over.
                let error = stats.distinct.abs_diff(expected) as f64 / expected as f64;
                assert!(error < 0.05, "{} for {expected}", stats.distinct);
                assert!(stats.distinct > EXACT_LIMIT as u64);
            }
            assert!(readable(&spec));
        }
    }
}

#[test]
fn exact_sets_merge_and_a_merge_past_the_limit_estimates() {
    let dir = tempfile::tempdir().unwrap();
    // Two shards of 60,000 distinct values each: exact alone, 120,000 together.
    let first = data(dir.path(), 61_250, 60_000);
    let mut text = String::from("v,half\n");
    for i in 0..60_000 {
        writeln!(text, "w{i},a").unwrap();
    }
    let second = dir.path().join("second.csv");
    std::fs::write(&second, text).unwrap();
    let (a, b) = (run(&first, 1, &[]), run(&second, 1, &[]));
    assert_eq!(strings(&a).0.distinct, 60_000);
    let mut merged = Profiler::restore(&a, "a.yaml").unwrap();
    merged
        .append(Profiler::restore(&a, "a.yaml").unwrap(), "a.yaml")
        .unwrap();
    let same = merged.spec(OutlierRules::default());
    assert_eq!(
        (strings(&same).0.distinct, strings(&same).0.distinct_estimated),
        (60_000, false)
    );
    let mut merged = Profiler::restore(&a, "a.yaml").unwrap();
    merged
        .append(Profiler::restore(&b, "b.yaml").unwrap(), "b.yaml")
        .unwrap();
    let both = merged.spec(OutlierRules::default());
    let (stats, count) = strings(&both);
    assert!(stats.distinct_estimated && stats.distinct <= count);
    assert!(stats.distinct >= 120_000 * 95 / 100, "{}", stats.distinct);
}

#[test]
fn no_top_values_are_listed_when_every_value_is_unique() {
    let dir = tempfile::tempdir().unwrap();
    let spec = run(&data(dir.path(), 500, 1_000), 1, &[]);
    let (stats, count) = strings(&spec);
    assert_eq!((stats.distinct, count), (490, 490));
    assert!(stats.top_values.is_empty(), "{:?}", stats.top_values);
    let spec = run(&data(dir.path(), 500, 100), 1, &[]);
    assert_eq!(strings(&spec).0.top_values.len(), 10);
}

#[test]
fn a_profile_too_large_for_a_document_leaves_out_mergeable_state_first() {
    let dir = tempfile::tempdir().unwrap();
    // 100,000 distinct values, sliced in two: 200,000 exact value counts (about 1.2 million
    // YAML nodes) would not fit a document.
    let path = data(dir.path(), 102_050, 100_000);
    let spec = run(&path, 2, &["half"]);
    assert!(readable(&spec));
    assert!(budget::Size::of(&spec).fits());
    let whole = spec.features[0].sketch.as_ref().unwrap();
    assert_eq!(whole.values.as_ref().map(Vec::len), Some(100_000));
    for slice in &spec.slices {
        let v = &slice.features[0];
        let stats = v.string.as_ref().unwrap();
        assert!(v.sketch.as_ref().unwrap().values.is_none(), "{}", slice.name);
        assert_eq!((stats.distinct, stats.distinct_estimated), (50_000, false));
    }
    // Restored, the slices still know their exact distinct count as the estimate's floor.
    let mut merged = Profiler::restore(&spec, "spec.yaml").unwrap();
    merged
        .append(Profiler::restore(&spec, "spec.yaml").unwrap(), "spec.yaml")
        .unwrap();
    let twice = merged.spec(OutlierRules::default());
    assert!(readable(&twice));
    for slice in &twice.slices {
        let stats = slice.features[0].string.as_ref().unwrap();
        assert!(stats.distinct >= 50_000 && stats.distinct <= slice.features[0].count);
    }
}

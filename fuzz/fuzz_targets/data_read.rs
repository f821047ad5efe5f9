//! Any bytes as a CSV, a JSON Lines, a gzip'd CSV and a Parquet file, read and profiled (with the
//! exact outlier pass when the profile needs one) under options the first byte picks: null
//! tokens replaced or added, no header, `;` fields, tight column and record limits. The engine
//! must never panic; every error must name the file; every profile must keep its own rules
//! (`count + missing = rows`, NaN within missing, infinities within count, no count above the
//! values it counts) and be written by the one writer, which re-reads what it wrote — unless a
//! data value looks like a credential, which the writer refuses (see docs/limits.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_data::profile::{OutlierRules, ProfileOptions, Profiler, profile};
use mlspec_data::{CsvOptions, Limits, ReadOptions, open};
use mlspec_spec::kinds::{DataProfileSpec, FeatureStats};
use mlspec_spec::validate::{Encoding, encode};
use mlspec_spec::{ApiVersion, Document, Metadata, Spec};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&switches, content)) = data.split_first() else { return };
    let Ok(dir) = tempfile::tempdir() else { return };
    let options = read_options(switches);
    for name in ["f.csv", "f.jsonl", "f.csv.gz", "f.parquet"] {
        let path = dir.path().join(name);
        if std::fs::write(&path, content).is_err() {
            return;
        }
        match profile_file(&path, &options, switches & 0x40 != 0) {
            Ok(profiler) => check_profile(profiler.spec(OutlierRules::default()), profiler.rows()),
            Err(error) => assert!(error.file.ends_with(name), "{error}"),
        }
    }
});

/// The reading options bits 0–5 of `switches` choose.
fn read_options(switches: u8) -> ReadOptions {
    let mut csv = CsvOptions::default();
    if switches & 0x01 != 0 {
        csv.null_values = vec!["-".into(), "?".into()];
    }
    if switches & 0x02 != 0 {
        csv.null_values.extend(["None".into(), "0".into(), "nan".into()]);
    }
    csv.header = switches & 0x04 == 0;
    if switches & 0x08 != 0 {
        csv.delimiter = Some(b';');
    }
    let limits = Limits {
        max_columns: if switches & 0x10 != 0 { 3 } else { 64 },
        max_record_bytes: if switches & 0x20 != 0 { 24 } else { 1 << 16 },
    };
    ReadOptions { batch_size: 64, csv, limits, ..ReadOptions::default() }
}

/// Profiles the file as `mlspec data profile` does: one pass, then the exact outlier count
/// when the sketches cannot give it.
fn profile_file(path: &Path, read: &ReadOptions, two_threads: bool) -> Result<Profiler, mlspec_data::DataError> {
    let threads = if two_threads { 2 } else { 1 };
    let options = ProfileOptions { threads, slices: Vec::new(), ..ProfileOptions::default() };
    let mut profiler = profile(open(path, read)?, &options, |_| {})?;
    if profiler.needs_outlier_pass(options.outliers) {
        let only = ReadOptions { only_columns: Some(profiler.outlier_pass_columns(options.outliers)), ..read.clone() };
        profiler.count_outliers(open(path, &only)?, options.outliers, threads, |_| {})?;
    }
    Ok(profiler)
}

fn check_profile(spec: DataProfileSpec, rows: u64) {
    assert_eq!(spec.rows, rows);
    for feature in &spec.features {
        check_counts(feature);
    }
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named("fuzz".parse().expect("a valid name")),
        spec: Spec::DataProfile(spec),
    };
    let findings = document.check();
    // Data values that look like credentials are refused by the writer, never written; every
    // other rule must hold.
    let broken: Vec<_> = findings.items.iter().filter(|f| !is_credential(&f.message)).collect();
    assert!(broken.is_empty(), "the profile breaks its rules: {broken:?}");
    if findings.items.is_empty()
        && let Err(diagnostic) = encode(&document, Encoding::Json)
    {
        panic!("a profile could not be written: {diagnostic:?}");
    }
}

/// A finding of the rule against inline credentials.
fn is_credential(message: &str) -> bool {
    message.ends_with("is given inline")
}

/// No count exceeds the values it counts.
fn check_counts(feature: &FeatureStats) {
    let finite = feature.count
        - feature.positive_infinity_count.unwrap_or(0)
        - feature.negative_infinity_count.unwrap_or(0);
    if let Some(numeric) = &feature.numeric {
        assert!(numeric.zeros <= finite, "{feature:?}");
        assert!(numeric.histogram.iter().map(|b| b.count).sum::<u64>() <= finite, "{feature:?}");
        for outliers in &numeric.outliers {
            assert!(outliers.count <= finite, "{feature:?}");
        }
    }
    if let Some(string) = &feature.string {
        assert!(string.distinct <= feature.count, "{feature:?}");
        assert!(string.top_values.iter().map(|v| v.count).sum::<u64>() <= feature.count, "{feature:?}");
    }
    assert!(feature.true_count.unwrap_or(0) <= feature.count, "{feature:?}");
}

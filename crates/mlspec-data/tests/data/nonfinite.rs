//! NaN and ±Infinity in the data: counted apart (NaN is missing, infinities present), every
//! statistic over the finite values and finite itself — in CSV, JSON Lines and Parquet — so the
//! profile is a document `mlspec validate` accepts, merges, and validation and drift see them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use mlspec_data::drift::{Thresholds, compare};
use mlspec_data::profile::{OutlierRules, ProfileOptions, Profiler, profile};
use mlspec_data::validate::Validator;
use mlspec_data::{CsvOptions, ReadOptions, open};
use mlspec_spec::kinds::{AnomalyKind, DataProfileSpec, DataSchemaSpec, FeatureStats};
use mlspec_spec::validate::{Format, Limits, validate_text};
use mlspec_spec::{ApiVersion, Document, Metadata, Name, Spec};

/// `x`: 1, 2, 3, 4 with one NaN, two +inf and one -inf; `nan`: NaN only; `inf`: +inf only.
const CSV: &str = "x,nan,inf,s\n1.0,NaN,inf,a\ninf,NaN,inf,b\n2.0,NaN,inf,c\n-inf,NaN,inf,d\n3.0,NaN,inf,e\nNaN,NaN,inf,f\n4.0,NaN,inf,g\ninf,NaN,inf,h\n";

fn floats() -> ReadOptions {
    ReadOptions {
        csv: CsvOptions {
            types: ["x", "nan", "inf"]
                .iter()
                .map(|c| ((*c).to_owned(), DataType::Float64))
                .collect(),
            ..CsvOptions::default()
        },
        ..ReadOptions::default()
    }
}

fn profile_of(path: &Path, read: &ReadOptions) -> Profiler {
    profile(
        open(path, read).unwrap(),
        &ProfileOptions {
            threads: 2,
            ..ProfileOptions::default()
        },
        |_| {},
    )
    .unwrap()
}

fn feature<'a>(spec: &'a DataProfileSpec, name: &str) -> &'a FeatureStats {
    spec.features.iter().find(|f| f.name.as_str() == name).unwrap()
}

/// The profile as a document, read back as `mlspec validate` reads it (YAML and JSON).
fn assert_readable(spec: &DataProfileSpec) {
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new("p").unwrap()),
        spec: Spec::DataProfile(spec.clone()),
    };
    let yaml = serde_saphyr::to_string(&document).unwrap();
    let outcome = validate_text(&yaml, Format::Yaml, &Limits::default());
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    let json = serde_json::to_string(&document).unwrap();
    assert!(!validate_text(&json, Format::Json, &Limits::default()).has_errors());
}

fn assert_counted(spec: &DataProfileSpec) {
    assert_eq!(spec.rows, 8);
    let x = feature(spec, "x");
    assert_eq!((x.count, x.missing), (7, 1));
    assert_eq!(
        (x.nan_count, x.positive_infinity_count, x.negative_infinity_count),
        (Some(1), Some(2), Some(1))
    );
    let numeric = x.numeric.as_ref().unwrap();
    assert_eq!((numeric.mean, numeric.min, numeric.max), (2.5, 1.0, 4.0));
    assert_eq!(numeric.std_dev, 1.25f64.sqrt());
    assert_eq!(numeric.histogram.iter().map(|b| b.count).sum::<u64>(), 4);
    assert!(numeric.quantiles.iter().all(|q| q.value.is_finite()));
    assert!(numeric.outliers.iter().all(|o| o.count == 0), "{:?}", numeric.outliers);
    let nan = feature(spec, "nan");
    assert_eq!((nan.count, nan.missing, nan.nan_count), (0, 8, Some(8)));
    assert!(nan.numeric.is_none());
    let inf = feature(spec, "inf");
    assert_eq!((inf.count, inf.missing, inf.positive_infinity_count), (8, 0, Some(8)));
    assert!(inf.numeric.is_none());
    assert_readable(spec);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn csv_json_lines_and_parquet_count_nan_and_infinities_apart() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "nf.csv", CSV);
    let from_csv = profile_of(&csv, &floats()).spec(OutlierRules::default());
    assert_counted(&from_csv);

    // JSON has no NaN or infinity: JSON Lines carries them as strings of a float column.
    let mut jsonl = String::new();
    for line in CSV.lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        jsonl.push_str(&format!(
            "{{\"x\": \"{}\", \"nan\": \"{}\", \"inf\": \"{}\", \"s\": \"{}\"}}\n",
            v[0], v[1], v[2], v[3]
        ));
    }
    let jsonl = write(dir.path(), "nf.jsonl", &jsonl);
    assert_counted(&profile_of(&jsonl, &floats()).spec(OutlierRules::default()));

    let parse = |text: &str| text.parse::<f64>().unwrap();
    let column = |i: usize| -> ArrayRef {
        Arc::new(Float64Array::from(
            CSV.lines()
                .skip(1)
                .map(|l| parse(l.split(',').nth(i).unwrap()))
                .collect::<Vec<f64>>(),
        ))
    };
    let strings: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f", "g", "h"]));
    let batch =
        RecordBatch::try_from_iter([("x", column(0)), ("nan", column(1)), ("inf", column(2)), ("s", strings)]).unwrap();
    let parquet = dir.path().join("nf.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&parquet).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let from_parquet = profile_of(&parquet, &ReadOptions::default());
    assert_counted(&from_parquet.spec(OutlierRules::default()));

    // The counts survive a document and merge: two halves restored and appended.
    let restored = Profiler::restore(&from_csv, "from_csv.yaml").unwrap();
    let mut twice = Profiler::restore(&from_csv, "from_csv.yaml").unwrap();
    twice.append(restored, "from_csv.yaml").unwrap();
    let merged = twice.spec(OutlierRules::default());
    let x = feature(&merged, "x");
    assert_eq!(
        (x.count, x.missing, x.nan_count, x.positive_infinity_count),
        (14, 2, Some(2), Some(4))
    );
    assert_eq!(feature(&merged, "nan").nan_count, Some(16));
    assert_readable(&merged);
}

#[test]
fn statistics_of_the_largest_floats_stay_finite() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x\n");
    for i in 0..600 {
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        csv.push_str(&format!("{:e}\n", sign * f64::MAX / f64::from(1 + i % 3)));
    }
    let path = write(dir.path(), "big.csv", &csv);
    let spec = profile_of(&path, &ReadOptions::default()).spec(OutlierRules::default());
    let numeric = feature(&spec, "x").numeric.clone().unwrap();
    let all = [numeric.mean, numeric.std_dev, numeric.min, numeric.max]
        .into_iter()
        .chain(numeric.histogram.iter().flat_map(|b| [b.low, b.high]))
        .chain(numeric.quantiles.iter().map(|q| q.value));
    for value in all {
        assert!(value.is_finite(), "{numeric:?}");
    }
    assert_eq!((numeric.min, numeric.max), (-f64::MAX, f64::MAX));
    // The true mean is 0; rounding at this scale is about 1.8e308 × 2.2e-16.
    assert!(numeric.mean.abs() < 1e294, "{}", numeric.mean);
    assert_readable(&spec);
    // Merged, through documents, too.
    let mut merged = Profiler::restore(&spec, "spec.yaml").unwrap();
    merged
        .append(Profiler::restore(&spec, "spec.yaml").unwrap(), "spec.yaml")
        .unwrap();
    assert_readable(&merged.spec(OutlierRules::default()));
}

#[test]
fn validation_counts_nan_as_missing_and_domains_can_refuse_them() {
    let schema: DataSchemaSpec = serde_saphyr::from_str(
        r#"
version: "1"
allowUnknownFeatures: true
features:
  - {name: x, type: float, presence: {minFraction: 0.9}, domain: {max: 3.5, disallowNan: true}}
  - {name: inf, type: float, domain: {disallowInfinity: true}}
"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "nf.csv", CSV);
    let batches = open(&path, &floats()).unwrap();
    let mut validator = Validator::new(&batches.schema(), &schema);
    for batch in batches {
        validator.add(&batch.unwrap()).unwrap();
    }
    let anomalies = validator.anomalies();
    let of = |feature: &str, needle: &str| {
        anomalies
            .iter()
            .find(|a| a.feature.as_ref().unwrap().as_str() == feature && a.description.as_str().contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` for {feature}: {anomalies:#?}"))
    };
    // 7 of 8 present: the NaN is missing.
    let missing = of("x", "present in");
    assert_eq!(
        (missing.kind, missing.count, missing.value),
        (AnomalyKind::TooManyMissing, Some(1), Some(0.875))
    );
    // Above 3.5: 4.0 and the two +inf.
    let outside = of("x", "lie outside");
    assert_eq!(outside.count, Some(3));
    assert_eq!(outside.examples, ["inf", "4", "inf"]);
    assert_eq!(of("x", "are NaN").count, Some(1));
    assert_eq!(of("inf", "are infinite").count, Some(8));
    assert_eq!(anomalies.len(), 4, "{anomalies:#?}");
}

#[test]
fn drift_sees_infinities_appear() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = String::from("x\n");
    let mut after = String::from("x\n");
    for i in 0..1000 {
        before.push_str(&format!("{}.5\n", i % 100));
        let value = if i % 10 == 0 {
            "inf".to_owned()
        } else {
            format!("{}.5", i % 100)
        };
        after.push_str(&format!("{value}\n"));
    }
    let base = profile_of(&write(dir.path(), "a.csv", &before), &ReadOptions::default());
    let current = profile_of(&write(dir.path(), "b.csv", &after), &ReadOptions::default());
    let drift = compare(&base, &current, Thresholds::default(), |_| None);
    let x = &drift[0];
    assert!(x.drifted, "{x:?}");
    assert!(x.reasons.iter().any(|r| r == "infinite values 0.0% → 10.0%"), "{x:?}");
    assert!(x.distance.is_finite() && x.psi.unwrap().is_finite() && x.ks.unwrap().is_finite());
}

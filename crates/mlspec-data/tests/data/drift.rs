//! Drift: a shifted mean, a new category, more missing values and a moved time range are each
//! flagged; the same data is not.

use std::fmt::Write as _;
use std::path::Path;

use mlspec_data::drift::{Shift, Thresholds, compare, schema_anomalies};
use mlspec_data::profile::{ProfileOptions, Profiler, profile};
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::{AnomalyKind, DataSchemaSpec, IssueSeverity};

fn unit(i: u64, stream: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// 20,000 rows; `drifted` shifts age by 6, adds a category, raises income's missing share from
/// 5% to 15% and moves the dates a year on. One extreme outlier sits in both.
fn data(drifted: bool, seed: u64) -> String {
    let mut out = String::from("age,country,income,day,stable\n");
    for i in 0..20_000u64 {
        let shift = if drifted { 6 } else { 0 };
        let age = 18 + (unit(i, seed) * 60.0) as i64 + shift;
        let age = if i == 7 { 10_000 } else { age };
        let country = if drifted && unit(i, seed + 1) < 0.05 {
            "ZZ"
        } else {
            ["US", "DE", "IN"][(unit(i, seed + 2) * 3.0) as usize % 3]
        };
        let missing = if drifted { 0.15 } else { 0.05 };
        let income = if unit(i, seed + 3) < missing {
            String::new()
        } else {
            format!("{:.2}", unit(i, seed + 4) * 1e5)
        };
        let year = if drifted { 2025 } else { 2024 };
        let stable = (unit(i, seed + 5) * 100.0) as i64;
        writeln!(
            out,
            "{age},{country},{income},{year}-05-{:02}T00:00:00,{stable}",
            1 + i % 28
        )
        .unwrap();
    }
    out
}

fn profile_of(dir: &Path, name: &str, text: &str) -> Profiler {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    profile(
        open(&path, &ReadOptions::default()).unwrap(),
        &ProfileOptions::default(),
        |_| {},
    )
    .unwrap()
}

#[test]
fn planted_changes_are_flagged_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let base = profile_of(dir.path(), "base.csv", &data(false, 1));
    let twin = profile_of(dir.path(), "twin.csv", &data(false, 101));
    let drifted = profile_of(dir.path(), "drifted.csv", &data(true, 201));

    let same = compare(&base, &base, Thresholds::default(), |_| None);
    assert!(same.iter().all(|d| !d.drifted && d.distance == 0.0), "{same:#?}");
    // Another sample of the same distributions does not drift either.
    let resampled = compare(&base, &twin, Thresholds::default(), |_| None);
    assert!(resampled.iter().all(|d| !d.drifted), "{resampled:#?}");

    let found = compare(&base, &drifted, Thresholds::default(), |_| None);
    let by_name = |name: &str| found.iter().find(|d| d.feature == name).unwrap();
    // The +6 shift stays visible despite the outlier, which would have stretched equal-width bins.
    assert!(
        by_name("age").drifted && by_name("age").distance > 0.01,
        "{:?}",
        by_name("age")
    );
    assert!(by_name("age").ks.unwrap() > 0.05);
    assert!(by_name("country").drifted);
    assert_eq!(by_name("country").new_categories, ["ZZ"]);
    let income = by_name("income");
    assert!(
        income.drifted && income.reasons.iter().any(|r| r.starts_with("missing values")),
        "{income:?}"
    );
    assert!(by_name("day").drifted);
    assert!(!by_name("stable").drifted, "{:?}", by_name("stable"));
}

#[test]
fn drifted_features_are_anomalies_under_the_schemas_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let base = profile_of(dir.path(), "base.csv", &data(false, 1));
    let drifted = profile_of(dir.path(), "drifted.csv", &data(true, 201));
    // A generous drift threshold for age hides its shift; its skew threshold does not.
    let schema: DataSchemaSpec = serde_saphyr::from_str(
        r#"
version: "1"
allowUnknownFeatures: true
features:
  - {name: age, type: integer, driftThreshold: 0.9, skewThreshold: 0.001}
"#,
    )
    .unwrap();
    let drift = schema_anomalies(&base, &drifted, &schema, Shift::Drift);
    let features = |anomalies: &[mlspec_spec::kinds::Anomaly]| -> Vec<String> {
        anomalies
            .iter()
            .map(|a| a.feature.as_ref().unwrap().to_string())
            .collect()
    };
    assert!(!features(&drift).contains(&"age".to_owned()), "{drift:#?}");
    assert!(features(&drift).contains(&"country".to_owned()), "{drift:#?}");
    assert!(
        drift
            .iter()
            .all(|a| a.kind == AnomalyKind::Drift && a.severity == IssueSeverity::Error)
    );
    let country = drift
        .iter()
        .find(|a| a.feature.as_ref().unwrap().as_str() == "country")
        .unwrap();
    assert_eq!(country.examples, ["ZZ"]);
    assert!(country.description.as_str().starts_with("drift: "), "{country:?}");

    let skew = schema_anomalies(&base, &drifted, &schema, Shift::Skew);
    let age = skew
        .iter()
        .find(|a| a.feature.as_ref().unwrap().as_str() == "age")
        .unwrap();
    assert_eq!((age.kind, age.threshold), (AnomalyKind::Skew, Some(0.001)));
    assert!(age.description.as_str().starts_with("skew: "), "{age:?}");
    assert!(schema_anomalies(&base, &base, &schema, Shift::Drift).is_empty());
}

//! Validation: every anomaly kind the validator reports, with exact counts and examples.

use mlspec_data::validate::Validator;
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::{Anomaly, AnomalyKind, DataSchemaSpec, IssueSeverity};

const SCHEMA: &str = r#"
version: "1"
allowUnknownFeatures: false
features:
  - {name: age, type: integer, presence: {required: true, minFraction: 0.9}, domain: {min: 18, max: 90}}
  - {name: country, type: string, domain: {values: [US, DE]}}
  - {name: score, type: float}
  - {name: id, type: integer}
  - {name: legacy, type: string, deprecated: true}
  - {name: gone, type: string, deprecated: true}
  - {name: needed, type: float}
"#;

const CSV: &str = "age,country,score,id,legacy,extra\n\
30,US,1.5,x1,a,1\n\
,DE,2,x2,b,2\n\
95,FR,3,x3,c,3\n\
12,FR,4,x4,d,4\n\
40,ZZ,5,x5,e,5\n";

fn anomalies() -> Vec<Anomaly> {
    let schema: DataSchemaSpec = serde_saphyr::from_str(SCHEMA).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.csv");
    std::fs::write(&path, CSV).unwrap();
    let batches = open(&path, &ReadOptions::default()).unwrap();
    let mut validator = Validator::new(&batches.schema(), &schema);
    for batch in batches {
        validator.add(&batch.unwrap()).unwrap();
    }
    assert_eq!(validator.rows(), 5);
    validator.anomalies()
}

fn find(all: &[Anomaly], feature: &str, kind: AnomalyKind) -> Anomaly {
    all.iter()
        .find(|a| a.kind == kind && a.feature.as_ref().map(|f| f.as_str()) == Some(feature))
        .unwrap_or_else(|| panic!("no {kind:?} for {feature}: {all:#?}"))
        .clone()
}

#[test]
fn every_anomaly_kind_is_found_with_counts_and_examples() {
    let all = anomalies();
    let missing = find(&all, "needed", AnomalyKind::MissingColumn);
    assert_eq!(missing.severity, IssueSeverity::Error);
    let deprecated_missing = find(&all, "gone", AnomalyKind::MissingColumn);
    assert_eq!(deprecated_missing.severity, IssueSeverity::Warning);
    assert_eq!(
        find(&all, "legacy", AnomalyKind::DeprecatedData).severity,
        IssueSeverity::Warning
    );
    assert_eq!(
        find(&all, "extra", AnomalyKind::UnexpectedColumn).severity,
        IssueSeverity::Error
    );
    let id = find(&all, "id", AnomalyKind::TypeMismatch);
    assert!(id.description.as_str().contains("string"), "{id:?}");
    let age_missing = find(&all, "age", AnomalyKind::TooManyMissing);
    assert_eq!(
        (age_missing.count, age_missing.value, age_missing.threshold),
        (Some(1), Some(0.8), Some(0.9))
    );
    let age_range = find(&all, "age", AnomalyKind::OutOfDomain);
    assert_eq!(age_range.count, Some(2));
    assert_eq!(age_range.examples, ["95", "12"]);
    let country = find(&all, "country", AnomalyKind::NewCategory);
    assert_eq!(country.count, Some(3));
    assert_eq!(country.examples, ["FR", "ZZ"]);
    // Integers are acceptable floats: `score` has none.
    assert!(
        !all.iter()
            .any(|a| a.feature.as_ref().map(|f| f.as_str()) == Some("score"))
    );
    assert_eq!(all.len(), 8, "{all:#?}");
}

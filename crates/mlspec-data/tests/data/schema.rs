//! Schema inference from a sample: types, presence, domains and thresholds, from the first
//! `limit` rows only.

use mlspec_data::schema::{DEFAULT_THRESHOLD, infer_from};
use mlspec_data::{ReadOptions, open};
use mlspec_spec::kinds::FeatureType;
use mlspec_spec::newtypes::Version;

#[test]
fn a_sample_gives_types_presence_domains_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    let mut csv = String::from("age,country,member,id\n");
    for i in 0..40 {
        let age = if i % 4 == 0 {
            String::new()
        } else {
            (20 + i).to_string()
        };
        let country = ["US", "DE"][i % 2];
        csv.push_str(&format!("{age},{country},{},{}\n", i % 3 == 0, 1000 + i));
    }
    // Rows past the limit would widen the range and add a country.
    csv.push_str("99,ZZ,true,5000\n");
    std::fs::write(&path, csv).unwrap();
    let schema = infer_from(
        open(&path, &ReadOptions::default()).unwrap(),
        40,
        Version::new("3").unwrap(),
    )
    .unwrap();
    assert_eq!(schema.version.as_str(), "3");
    assert!(!schema.allow_unknown_features);
    let types: Vec<FeatureType> = schema.features.iter().map(|f| f.feature_type).collect();
    assert_eq!(
        types,
        [
            FeatureType::Integer,
            FeatureType::String,
            FeatureType::Boolean,
            FeatureType::Integer
        ]
    );
    let age = &schema.features[0];
    assert_eq!(age.presence.as_ref().unwrap().min_fraction, Some(0.75));
    let domain = age.domain.as_ref().unwrap();
    assert_eq!((domain.min, domain.max), (Some(21.0), Some(59.0)));
    assert_eq!(schema.features[1].domain.as_ref().unwrap().values, ["DE", "US"]);
    assert!(schema.features[2].domain.is_none());
    assert!(
        schema
            .features
            .iter()
            .all(|f| f.drift_threshold == Some(DEFAULT_THRESHOLD) && f.presence.as_ref().unwrap().required)
    );
}

//! Schema inference from a sample: types, presence, domains and thresholds, from the first
//! `limit` rows only — with statistical slack, so that the rest of the data passes too.

use mlspec_data::schema::{DEFAULT_THRESHOLD, Inference, infer_from, min_fraction};
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
    let infer = |inference| {
        infer_from(
            open(&path, &ReadOptions::default()).unwrap(),
            40,
            Version::new("3").unwrap(),
            inference,
        )
        .unwrap()
    };
    let schema = infer(Inference::default());
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
    // 30 of 40 present: the lower 99.9% Wilson bound, not the sample's 0.75.
    assert_eq!(age.presence.as_ref().unwrap().min_fraction, Some(0.505));
    // No numeric range unless asked for.
    assert!(age.domain.is_none());
    let with_ranges = infer(Inference { numeric_domains: true });
    let domain = with_ranges.features[0].domain.as_ref().unwrap();
    assert_eq!((domain.min, domain.max), (Some(21.0), Some(59.0)));
    // Each country seen 20 times: a closed vocabulary.
    assert_eq!(schema.features[1].domain.as_ref().unwrap().values, ["DE", "US"]);
    assert!(schema.features[2].domain.is_none());
    assert!(
        schema
            .features
            .iter()
            .all(|f| f.drift_threshold == Some(DEFAULT_THRESHOLD) && f.presence.as_ref().unwrap().required)
    );
}

#[test]
fn presence_bounds_leave_room_for_sampling() {
    // Checked against the Wilson score interval computed independently (Python, z = 3.09).
    assert_eq!(min_fraction(950, 1000), 0.924);
    assert_eq!(min_fraction(1000, 1000), 0.99);
    assert_eq!(min_fraction(9700, 10_000), 0.964);
    assert_eq!(min_fraction(0, 10), 0.0);
    assert_eq!(min_fraction(0, 0), 0.0);
}

#[test]
fn a_vocabulary_with_rare_values_gets_no_domain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.csv");
    // `rare` has a value seen 3 times: others, unseen, may well exist; `common` has each of its
    // values 50 times or more.
    let mut csv = String::from("rare,common\n");
    for i in 0..200 {
        let rare = if i < 3 { "z" } else { ["a", "b"][i % 2] };
        csv.push_str(&format!("{rare},{}\n", ["x", "y", "w"][i % 3]));
    }
    std::fs::write(&path, csv).unwrap();
    let schema = infer_from(
        open(&path, &ReadOptions::default()).unwrap(),
        1000,
        Version::new("1").unwrap(),
        Inference::default(),
    )
    .unwrap();
    assert!(schema.features[0].domain.is_none());
    assert_eq!(schema.features[1].domain.as_ref().unwrap().values, ["w", "x", "y"]);
}

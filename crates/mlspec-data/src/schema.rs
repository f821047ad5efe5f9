//! Schema inference: the first version of a DataSchema from a profile of a sample — the spec's
//! "select * from foo limit 30" — for the user to edit. A schema inferred from a sample must
//! accept the data the sample came from, so it states only what the sample supports
//! statistically, as TFDV does:
//!
//! - every column's type;
//! - presence: required, with `minFraction` the lower bound of the Wilson score interval (at
//!   [`PRESENCE_Z`] standard errors, about 99.9% one-sided) of the fraction present in the
//!   sample, rounded down to a thousandth — not the sample's fraction itself, which the rest of
//!   the data misses half the time;
//! - a value-set domain for a string column only when its vocabulary looks closed: at most
//!   [`MAX_DOMAIN_VALUES`] distinct values, each seen at least [`MIN_VALUE_COUNT`] times (a value
//!   seen only a few times says that others, unseen, are about as likely: the Good–Turing
//!   estimate of the unseen values' share is the share of values seen once);
//! - a numeric range only when asked ([`Inference::numeric_domains`]): a sample rarely holds the
//!   extremes;
//! - drift and skew thresholds at [`DEFAULT_THRESHOLD`].

use mlspec_spec::kinds::{DataProfileSpec, DataSchemaSpec, Domain, FeatureSchema, FeatureStats, FeatureType, Presence};
use mlspec_spec::newtypes::Version;

use crate::error::DataError;
use crate::profile::{OutlierRules, Profiler};
use crate::read::Batches;

/// What to infer besides types, presence and string domains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inference {
    /// Give numeric features the sample's range as a domain (a hard bound the rest of the data
    /// may well break).
    pub numeric_domains: bool,
}

/// The schema, of this version, that the first `limit` rows imply.
pub fn infer_from(
    batches: Batches,
    limit: u64,
    version: Version,
    inference: Inference,
) -> Result<DataSchemaSpec, DataError> {
    let mut profiler = Profiler::new(&batches.schema(), &[])?;
    for batch in batches.limit(limit) {
        let first_row = profiler.rows();
        profiler.add(&batch?, first_row)?;
    }
    Ok(infer(&profiler.spec(OutlierRules::default()), version, inference))
}

/// String columns with at most this many distinct values may get a value-set domain.
pub const MAX_DOMAIN_VALUES: u64 = 20;

/// A string domain needs every value of the sample seen at least this often.
pub const MIN_VALUE_COUNT: u64 = 10;

/// Standard errors below the sample's present fraction for `presence.minFraction`: 3.09 is
/// the one-sided 99.9% quantile of the normal distribution.
pub const PRESENCE_Z: f64 = 3.09;

/// The default drift and skew threshold: an L-infinity distance (categorical) or a
/// Jensen–Shannon divergence over the baseline's deciles (numeric) of 0.01 — on the generated
/// benchmark data, a +6-year age shift scores 0.037 and a +0.4σ score shift 0.032.
pub const DEFAULT_THRESHOLD: f64 = 0.01;

/// The schema, of this version, that a profile implies.
pub fn infer(profile: &DataProfileSpec, version: Version, inference: Inference) -> DataSchemaSpec {
    DataSchemaSpec {
        version,
        dataset: profile.dataset.clone(),
        allow_unknown_features: false,
        features: profile
            .features
            .iter()
            .map(|f| feature(f, profile.rows, inference))
            .collect(),
    }
}

fn feature(stats: &FeatureStats, rows: u64, inference: Inference) -> FeatureSchema {
    FeatureSchema {
        name: stats.name.clone(),
        feature_type: stats.feature_type,
        presence: Some(Presence {
            required: true,
            min_fraction: Some(min_fraction(stats.count, rows)),
        }),
        domain: domain(stats, inference),
        drift_threshold: Some(DEFAULT_THRESHOLD),
        skew_threshold: Some(DEFAULT_THRESHOLD),
        deprecated: false,
    }
}

/// The least fraction present the data is expected to have, given `present` of `rows` in the
/// sample: the lower Wilson score bound at [`PRESENCE_Z`], rounded down to a thousandth.
pub fn min_fraction(present: u64, rows: u64) -> f64 {
    if rows == 0 {
        return 0.0;
    }
    let n = rows as f64;
    let p = present as f64 / n;
    let z2 = PRESENCE_Z * PRESENCE_Z;
    let centre = p + z2 / (2.0 * n);
    let spread = PRESENCE_Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let lower = ((centre - spread) / (1.0 + z2 / n)).clamp(0.0, 1.0);
    (lower * 1000.0).floor() / 1000.0
}

fn domain(stats: &FeatureStats, inference: Inference) -> Option<Domain> {
    match stats.feature_type {
        FeatureType::Integer | FeatureType::Float if inference.numeric_domains => {
            stats.numeric.as_ref().map(|n| Domain {
                values: Vec::new(),
                min: Some(n.min),
                max: Some(n.max),
                disallow_nan: false,
                disallow_infinity: false,
            })
        }
        FeatureType::String => {
            let strings = stats.string.as_ref()?;
            let all = stats.sketch.as_ref().and_then(|s| s.values.as_ref())?;
            let closed = !strings.distinct_estimated
                && strings.distinct <= MAX_DOMAIN_VALUES
                && all.iter().all(|v| v.count >= MIN_VALUE_COUNT);
            if !closed {
                return None;
            }
            let mut values: Vec<String> = all.iter().map(|v| v.value.clone()).collect();
            values.sort();
            Some(Domain {
                values,
                min: None,
                max: None,
                disallow_nan: false,
                disallow_infinity: false,
            })
        }
        _ => None,
    }
}

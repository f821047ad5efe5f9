//! Drift between a baseline profile and a current one, per feature.
//!
//! - **Numeric** features are binned by the **baseline's deciles** (from its KLL sketch), not by
//!   equal-width buckets: one outlier cannot stretch the bins until a shift hides inside one.
//!   Reported: the Jensen–Shannon divergence of the binned distributions (base 2, in [0, 1]; the
//!   drift statistic, as in TFDV), the population stability index over the same bins, and the
//!   Kolmogorov–Smirnov statistic (the largest gap between the two CDFs, read from the sketches
//!   at both sides' percentiles).
//! - **Categorical** features (strings, booleans): the L-infinity distance between the value
//!   shares (as in TFDV), and the categories that appeared or vanished.
//! - **Timestamps**: drift when the current range does not overlap the baseline's.
//! - **Every feature**: the change in the share of missing values (NaN is missing); numeric
//!   features also the change in the share of infinite values, which the binned statistics
//!   (over finite values) leave out.
//!
//! A feature drifts when its statistic exceeds its threshold (default 0.01), its missing (or
//! infinite) share moves by more than the missing threshold (default 2 points), or
//! (categorical) new categories hold more than the threshold's share of the current values.
//!
//! Validated against a DataSchema, the features that moved past the schema's thresholds
//! (`driftThreshold`, or `skewThreshold` when training data is compared with serving data)
//! become the ValidationReport's Anomalies ([`schema_anomalies`]).

use mlspec_spec::kinds::{Anomaly, AnomalyKind, DataSchemaSpec, IssueSeverity};
use mlspec_spec::newtypes::{Key, Text};
use serde::Serialize;

use crate::profile::Profiler;
use crate::profile::column::ColumnAcc;
use crate::profile::numeric::NumericAcc;

/// Decile bins.
const BINS: usize = 10;

/// Shares below this are raised to it in PSI, whose logarithm would otherwise diverge.
const PSI_FLOOR: f64 = 1e-4;

/// Thresholds of drift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Jensen–Shannon divergence (numeric) or L-infinity distance (categorical).
    pub distance: f64,
    /// Absolute change in the share of missing values.
    pub missing: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            distance: 0.01,
            missing: 0.02,
        }
    }
}

/// How one feature moved.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureDrift {
    /// The feature.
    pub feature: String,
    /// `jensenShannon`, `lInfinity` or `range`.
    pub statistic: &'static str,
    /// Its value.
    pub distance: f64,
    /// The threshold it was compared with.
    pub threshold: f64,
    /// The population stability index (numeric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// The Kolmogorov–Smirnov statistic (numeric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks: Option<f64>,
    /// The baseline's share of missing values.
    pub missing_before: f64,
    /// The current share.
    pub missing_after: f64,
    /// Categories the baseline did not have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_categories: Vec<String>,
    /// Categories the current data no longer has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vanished_categories: Vec<String>,
    /// Whether it drifted, and why.
    pub drifted: bool,
    /// The reasons, for people.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// Compares every feature the two profiles share; `threshold_of` gives a feature's distance
/// threshold (from a schema) or `None` for the default.
pub fn compare(
    baseline: &Profiler,
    current: &Profiler,
    defaults: Thresholds,
    threshold_of: impl Fn(&str) -> Option<f64>,
) -> Vec<FeatureDrift> {
    let mut result = Vec::new();
    for before in baseline.whole().columns() {
        let (name, feature_type) = before.signature();
        let Some(after) = current
            .whole()
            .columns()
            .iter()
            .find(|c| c.signature() == (name, feature_type))
        else {
            continue;
        };
        let threshold = threshold_of(name).unwrap_or(defaults.distance);
        let mut drift = measure(before, after, threshold);
        drift.feature = name.to_owned();
        let moved = (drift.missing_after - drift.missing_before).abs();
        if moved > defaults.missing {
            drift.reasons.push(format!(
                "missing values {:.1}% → {:.1}%",
                drift.missing_before * 100.0,
                drift.missing_after * 100.0
            ));
        }
        let (infinite_before, infinite_after) = (before.infinite_share(), after.infinite_share());
        if (infinite_after - infinite_before).abs() > defaults.missing {
            drift.reasons.push(format!(
                "infinite values {:.1}% → {:.1}%",
                infinite_before * 100.0,
                infinite_after * 100.0
            ));
        }
        if drift.distance > threshold {
            drift
                .reasons
                .push(format!("{} {:.4} > {threshold}", drift.statistic, drift.distance));
        }
        drift.drifted = !drift.reasons.is_empty();
        result.push(drift);
    }
    result
}

/// What a baseline is compared for: drift (an earlier profile of the same source) or skew
/// (training data against serving data). Each reads its own threshold from a DataSchema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Against an earlier profile: `driftThreshold`.
    Drift,
    /// Training against serving data: `skewThreshold`.
    Skew,
}

impl Shift {
    /// The schema's threshold of `feature` for this shift, when it sets one.
    pub fn threshold(self, schema: &DataSchemaSpec, feature: &str) -> Option<f64> {
        let feature = schema.features.iter().find(|f| f.name.as_str() == feature)?;
        match self {
            Shift::Drift => feature.drift_threshold,
            Shift::Skew => feature.skew_threshold,
        }
    }

    fn anomaly_kind(self) -> AnomalyKind {
        match self {
            Shift::Drift => AnomalyKind::Drift,
            Shift::Skew => AnomalyKind::Skew,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Shift::Drift => "drift",
            Shift::Skew => "skew",
        }
    }
}

/// The Anomalies (errors) of the features that moved past the schema's thresholds of `shift`
/// (the default thresholds where it sets none).
pub fn schema_anomalies(
    baseline: &Profiler,
    current: &Profiler,
    schema: &DataSchemaSpec,
    shift: Shift,
) -> Vec<Anomaly> {
    compare(baseline, current, Thresholds::default(), |name| {
        shift.threshold(schema, name)
    })
    .iter()
    .filter_map(|drift| drift.anomaly(shift))
    .collect()
}

impl FeatureDrift {
    /// The feature's Anomaly of `shift` when it drifted: its statistic against the threshold,
    /// the reasons, and up to five new categories as examples.
    pub fn anomaly(&self, shift: Shift) -> Option<Anomaly> {
        if !self.drifted {
            return None;
        }
        Some(Anomaly {
            feature: Key::new(self.feature.as_str()).ok(),
            kind: shift.anomaly_kind(),
            severity: IssueSeverity::Error,
            description: Text::new(format!("{}: {}", shift.word(), self.reasons.join("; "))).ok()?,
            count: None,
            value: Some(self.distance),
            threshold: Some(self.threshold),
            examples: self.new_categories.iter().take(5).cloned().collect(),
        })
    }
}

fn empty(statistic: &'static str, before: &ColumnAcc, after: &ColumnAcc, threshold: f64) -> FeatureDrift {
    FeatureDrift {
        feature: String::new(),
        statistic,
        distance: 0.0,
        threshold,
        psi: None,
        ks: None,
        missing_before: before.missing_share(),
        missing_after: after.missing_share(),
        new_categories: Vec::new(),
        vanished_categories: Vec::new(),
        drifted: false,
        reasons: Vec::new(),
    }
}

fn measure(before: &ColumnAcc, after: &ColumnAcc, threshold: f64) -> FeatureDrift {
    if let (Some(b), Some(a)) = (before.numeric(), after.numeric()) {
        let mut drift = empty("jensenShannon", before, after, threshold);
        if b.count() > 0 && a.count() > 0 {
            let (p, q) = binned(b, a);
            drift.distance = jensen_shannon(&p, &q);
            drift.psi = Some(psi(&p, &q));
            drift.ks = Some(kolmogorov_smirnov(b, a));
        }
        return drift;
    }
    if let (Some(b), Some(a)) = (before.strings(), after.strings()) {
        let mut drift = empty("lInfinity", before, after, threshold);
        let (p, _) = b.shares();
        let (q, exact) = a.shares();
        drift.distance = l_infinity(&p, &q);
        if exact {
            drift.new_categories = q
                .iter()
                .filter(|(v, _)| !p.iter().any(|(w, _)| w == v))
                .map(|(v, _)| v.clone())
                .collect();
            drift.vanished_categories = p
                .iter()
                .filter(|(v, _)| !q.iter().any(|(w, _)| w == v))
                .map(|(v, _)| v.clone())
                .collect();
            drift.new_categories.sort();
            drift.vanished_categories.sort();
            let new_share: f64 = q
                .iter()
                .filter(|(v, _)| drift.new_categories.contains(v))
                .map(|(_, s)| s)
                .sum();
            if new_share > threshold {
                drift
                    .reasons
                    .push(format!("new categories hold {:.1}% of the values", new_share * 100.0));
            }
        }
        return drift;
    }
    if let (Some(b), Some(a)) = (before.true_share(), after.true_share()) {
        let mut drift = empty("lInfinity", before, after, threshold);
        drift.distance = (a - b).abs();
        return drift;
    }
    let mut drift = empty("range", before, after, threshold);
    if let (Some((b0, b1)), Some((a0, a1))) = (before.time_range(), after.time_range())
        && (a0 > b1 || a1 < b0)
    {
        drift.distance = 1.0;
    }
    drift
}

/// The two distributions over the baseline's decile bins `(-inf, e1], (e1, e2], …, (e9, inf)`.
fn binned(before: &NumericAcc, after: &NumericAcc) -> (Vec<f64>, Vec<f64>) {
    let mut edges: Vec<f64> = (1..BINS)
        .filter_map(|i| before.quantile(i as f64 / BINS as f64))
        .collect();
    edges.dedup();
    let shares = |acc: &NumericAcc| {
        let mut cumulative: Vec<f64> = edges.iter().map(|&e| acc.cdf(e)).collect();
        cumulative.push(1.0);
        let mut previous = 0.0;
        cumulative
            .into_iter()
            .map(|c| {
                let share = (c - previous).max(0.0);
                previous = c;
                share
            })
            .collect::<Vec<f64>>()
    };
    (shares(before), shares(after))
}

/// Jensen–Shannon divergence, base 2.
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).log2())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    (0.5 * kl(p, &m) + 0.5 * kl(q, &m)).clamp(0.0, 1.0)
}

/// Population stability index: Σ (q − p)·ln(q / p), shares floored at [`PSI_FLOOR`].
fn psi(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(a, b)| {
            let (a, b) = (a.max(PSI_FLOOR), b.max(PSI_FLOOR));
            (b - a) * (b / a).ln()
        })
        .sum()
}

/// The largest gap between the two CDFs, at both sides' percentiles.
fn kolmogorov_smirnov(before: &NumericAcc, after: &NumericAcc) -> f64 {
    (0..=100)
        .flat_map(|i| {
            let rank = f64::from(i) / 100.0;
            [before.quantile(rank), after.quantile(rank)]
        })
        .flatten()
        .map(|x| (before.cdf(x) - after.cdf(x)).abs())
        .fold(0.0, f64::max)
}

/// The largest difference in any category's share.
fn l_infinity(p: &[(String, f64)], q: &[(String, f64)]) -> f64 {
    let share = |list: &[(String, f64)], value: &str| list.iter().find(|(v, _)| v == value).map_or(0.0, |(_, s)| *s);
    p.iter()
        .chain(q)
        .map(|(v, _)| (share(p, v) - share(q, v)).abs())
        .fold(0.0, f64::max)
}

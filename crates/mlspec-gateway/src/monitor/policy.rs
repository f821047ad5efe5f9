//! A MonitoringPolicy compiled into the checks the gateway can compute, or refused with every
//! problem located by the JSON pointer of the policy field at fault.

use std::fmt;

use mlspec_spec::kinds::{
    DataProfileSpec, FeatureType, MonitoringPolicySpec, Signal, SignalRoute, SignalType, Threshold,
};
use mlspec_spec::newtypes::Name;

/// Why a policy cannot be watched: where (a JSON pointer into the policy document) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// A latency statistic over the window's requests, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Latency {
    /// The nearest-rank quantile.
    Quantile(f64),
    Mean,
    Max,
}

/// Which failures an error rate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failures {
    /// Status 500–599.
    Server,
    /// Status 400–498.
    Client,
}

/// A distance between two distributions of one feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Distance {
    Jsd,
    Linf,
    Psi,
    Ks,
    Missing,
}

impl Distance {
    /// Whether the distance is defined for a feature that is numeric (`true`) or categorical.
    pub(super) fn fits(self, numeric: bool) -> bool {
        match self {
            Distance::Jsd | Distance::Psi | Distance::Ks => numeric,
            Distance::Linf => !numeric,
            Distance::Missing => true,
        }
    }

    /// The name a policy gives it.
    pub(super) fn name(self) -> &'static str {
        DISTANCES.iter().find(|(_, d)| *d == self).map_or("?", |(name, _)| name)
    }

    /// The distance a policy that names none means: JSD for numbers, L∞ for categories.
    pub(super) fn default_for(numeric: bool) -> Distance {
        if numeric { Distance::Jsd } else { Distance::Linf }
    }
}

/// A model-quality metric over labelled predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quality {
    Accuracy,
    Precision,
    Recall,
    F1,
    Mae,
    Rmse,
}

/// Where a distribution signal reads its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    /// A request feature (drift, skew).
    Input,
    /// A model output (prediction drift).
    Output,
}

/// What a check computes.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Measure {
    Liveness,
    Latency(Latency),
    Errors(Failures),
    /// A feature's distribution against the baseline's (`baseline` is its type there), or, for an
    /// output the baseline lacks, against the route's reference window.
    Distribution {
        feature: String,
        side: Side,
        baseline: Option<FeatureType>,
        metric: Option<Distance>,
    },
    /// Labelled predictions of `output` (the answer's first column when `None`).
    Performance {
        output: Option<String>,
        metric: Quality,
    },
}

/// One signal of the policy, as the gateway computes it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Check {
    pub name: Name,
    pub measure: Measure,
    pub threshold: Threshold,
    pub window_ms: i64,
    pub interval_ms: i64,
    /// 0 when the policy sets no minimum.
    pub min_requests: u64,
    pub route: Option<SignalRoute>,
}

const LATENCIES: [(&str, Latency); 7] = [
    ("p99_latency_ms", Latency::Quantile(0.99)),
    ("p50_latency_ms", Latency::Quantile(0.50)),
    ("p90_latency_ms", Latency::Quantile(0.90)),
    ("p95_latency_ms", Latency::Quantile(0.95)),
    ("p999_latency_ms", Latency::Quantile(0.999)),
    ("mean_latency_ms", Latency::Mean),
    ("max_latency_ms", Latency::Max),
];
const FAILURES: [(&str, Failures); 2] = [
    ("error_rate", Failures::Server),
    ("client_error_rate", Failures::Client),
];
const LIVENESS: [(&str, ()); 1] = [("up", ())];
const DISTANCES: [(&str, Distance); 5] = [
    ("jsd", Distance::Jsd),
    ("linf", Distance::Linf),
    ("psi", Distance::Psi),
    ("ks", Distance::Ks),
    ("missing", Distance::Missing),
];
const QUALITIES: [(&str, Quality); 6] = [
    ("accuracy", Quality::Accuracy),
    ("precision", Quality::Precision),
    ("recall", Quality::Recall),
    ("f1", Quality::F1),
    ("mae", Quality::Mae),
    ("rmse", Quality::Rmse),
];

/// Problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            pointer: pointer.into(),
            message: message.into(),
        });
    }
}

/// Every signal of `policy` as a check, or every problem.
pub(super) fn compile(
    policy: &MonitoringPolicySpec,
    baseline: Option<&DataProfileSpec>,
) -> Result<Vec<Check>, Vec<Problem>> {
    let mut problems = Problems::default();
    let checks: Vec<Check> = policy
        .signals
        .iter()
        .enumerate()
        .filter_map(|(i, signal)| compile_signal(signal, baseline, &format!("/spec/signals/{i}"), &mut problems))
        .collect();
    check_trigger(policy, &mut problems);
    if problems.0.is_empty() {
        Ok(checks)
    } else {
        Err(problems.0)
    }
}

fn compile_signal(
    signal: &Signal,
    baseline: Option<&DataProfileSpec>,
    at: &str,
    problems: &mut Problems,
) -> Option<Check> {
    let timing = timing(signal, at, problems);
    let measure = measure(signal, baseline, at, problems);
    let (window_ms, interval_ms) = timing?;
    Some(Check {
        name: signal.name.clone(),
        measure: measure?,
        threshold: signal.threshold.clone(),
        window_ms,
        interval_ms,
        min_requests: signal.min_requests.unwrap_or(0),
        route: signal.route,
    })
}

/// The window and interval in milliseconds, if usable.
fn timing(signal: &Signal, at: &str, problems: &mut Problems) -> Option<(i64, i64)> {
    let window = i64::try_from(signal.window.as_millis()).unwrap_or(i64::MAX);
    let interval = signal
        .interval
        .as_ref()
        .map_or(window, |i| i64::try_from(i.as_millis()).unwrap_or(i64::MAX));
    if window == 0 {
        problems.add(
            format!("{at}/window"),
            "the window is empty; give it a length such as `1m`",
        );
        return None;
    }
    if interval == 0 {
        problems.add(
            format!("{at}/interval"),
            "the interval is empty; give it a length such as `1m`, or leave it out to evaluate once per window",
        );
        return None;
    }
    if interval > window {
        let (every, over) = (
            signal.interval.as_ref().map_or("", |i| i.as_str()),
            signal.window.as_str(),
        );
        problems.add(
            format!("{at}/interval"),
            format!("evaluating every {every} over a window of {over} would never see the requests between windows; make the interval at most the window"),
        );
        return None;
    }
    Some((window, interval))
}

fn measure(signal: &Signal, baseline: Option<&DataProfileSpec>, at: &str, problems: &mut Problems) -> Option<Measure> {
    match signal.signal_type {
        SignalType::Liveness => metric(&LIVENESS, signal, "liveness", at, problems).map(|()| Measure::Liveness),
        SignalType::Latency => metric(&LATENCIES, signal, "latency", at, problems).map(Measure::Latency),
        SignalType::ErrorRate => metric(&FAILURES, signal, "errorRate", at, problems).map(Measure::Errors),
        SignalType::Performance => {
            metric(&QUALITIES, signal, "performance", at, problems).map(|metric| Measure::Performance {
                output: signal.feature.as_ref().map(|f| f.as_str().to_owned()),
                metric,
            })
        }
        SignalType::Drift | SignalType::Skew => input_distribution(signal, baseline, at, problems),
        SignalType::PredictionDrift => output_distribution(signal, baseline, at, problems),
        SignalType::Custom => {
            problems.add(
                format!("{at}/type"),
                "the gateway cannot compute a `custom` signal; compute it elsewhere and write its MonitoringReport, or remove the signal from this policy",
            );
            None
        }
    }
}

/// The metric the signal names (the first known one when it names none).
fn metric<T: Copy>(known: &[(&str, T)], signal: &Signal, kind: &str, at: &str, problems: &mut Problems) -> Option<T> {
    let Some(name) = &signal.metric else {
        return known.first().map(|(_, m)| *m);
    };
    let found = known.iter().find(|(k, _)| *k == name.as_str()).map(|(_, m)| *m);
    if found.is_none() {
        let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
        problems.add(
            format!("{at}/metric"),
            format!("`{name}` is not a {kind} metric; known: {}", names.join(", ")),
        );
    }
    found
}

fn input_distribution(
    signal: &Signal,
    baseline: Option<&DataProfileSpec>,
    at: &str,
    problems: &mut Problems,
) -> Option<Measure> {
    let metric = distance(signal, at, problems);
    let feature = named_feature(signal, at, problems)?;
    let Some(baseline) = baseline else {
        problems.add(
            at,
            "a drift or skew signal compares with the training DataProfile, and none was given; set `baseline` in the policy (or pass one) so the gateway has a profile to compare with",
        );
        return None;
    };
    let Some(stats) = baseline.features.iter().find(|f| f.name.as_str() == feature) else {
        let names: Vec<&str> = baseline.features.iter().map(|f| f.name.as_str()).collect();
        problems.add(
            format!("{at}/feature"),
            format!("the baseline has no feature `{feature}`; it has: {}", names.join(", ")),
        );
        return None;
    };
    let baseline_type = comparable(stats.feature_type, &feature, &format!("{at}/feature"), problems)?;
    let metric = fitting(metric?, baseline_type, &feature, &format!("{at}/metric"), problems)?;
    Some(Measure::Distribution {
        feature,
        side: Side::Input,
        baseline: Some(baseline_type),
        metric,
    })
}

fn output_distribution(
    signal: &Signal,
    baseline: Option<&DataProfileSpec>,
    at: &str,
    problems: &mut Problems,
) -> Option<Measure> {
    let metric = distance(signal, at, problems);
    let feature = named_feature(signal, at, problems)?;
    let baseline_type = baseline
        .and_then(|b| b.features.iter().find(|f| f.name.as_str() == feature))
        .map(|stats| stats.feature_type);
    let (baseline_type, metric) = match baseline_type {
        Some(t) => {
            let t = comparable(t, &feature, &format!("{at}/feature"), problems)?;
            (
                Some(t),
                fitting(metric?, t, &feature, &format!("{at}/metric"), problems)?,
            )
        }
        None => (None, metric?),
    };
    Some(Measure::Distribution {
        feature,
        side: Side::Output,
        baseline: baseline_type,
        metric,
    })
}

/// The distance the signal names: `Some(None)` when it names none (chosen by the feature's type).
fn distance(signal: &Signal, at: &str, problems: &mut Problems) -> Option<Option<Distance>> {
    match &signal.metric {
        None => Some(None),
        Some(_) => metric(&DISTANCES, signal, "drift", at, problems).map(Some),
    }
}

fn named_feature(signal: &Signal, at: &str, problems: &mut Problems) -> Option<String> {
    let feature = signal.feature.as_ref().map(|f| f.as_str().to_owned());
    if feature.is_none() {
        problems.add(
            format!("{at}/feature"),
            "a drift, skew or prediction-drift signal names its `feature`",
        );
    }
    feature
}

/// The baseline type, if the gateway can compare values of it.
fn comparable(feature_type: FeatureType, feature: &str, at: &str, problems: &mut Problems) -> Option<FeatureType> {
    match feature_type {
        FeatureType::Integer | FeatureType::Float | FeatureType::String | FeatureType::Boolean => Some(feature_type),
        FeatureType::Timestamp | FeatureType::Bytes => {
            problems.add(
                at,
                format!("the baseline's `{feature}` is a {feature_type:?} feature; the gateway compares numbers, strings and booleans only"),
            );
            None
        }
    }
}

/// The metric, if defined for a feature of this type.
fn fitting(
    metric: Option<Distance>,
    feature_type: FeatureType,
    feature: &str,
    at: &str,
    problems: &mut Problems,
) -> Option<Option<Distance>> {
    let numeric = is_numeric(feature_type);
    match metric {
        Some(m) if !m.fits(numeric) => {
            let (kind, fit) = if numeric {
                ("numeric", "jsd, psi, ks or missing")
            } else {
                ("categorical", "linf or missing")
            };
            problems.add(
                at,
                format!(
                    "`{}` does not apply to `{feature}`, a {kind} feature; use {fit}",
                    m.name()
                ),
            );
            None
        }
        _ => Some(metric),
    }
}

/// Whether values of this type are compared as numbers (else as categories).
pub(super) fn is_numeric(feature_type: FeatureType) -> bool {
    matches!(feature_type, FeatureType::Integer | FeatureType::Float)
}

/// The trigger is judged on the primary route: its signals must be evaluated there.
fn check_trigger(policy: &MonitoringPolicySpec, problems: &mut Problems) {
    let Some(rollback) = &policy.rollback else {
        return;
    };
    for (i, name) in rollback.trigger.signals.iter().enumerate() {
        let at = format!("/spec/rollback/trigger/signals/{i}");
        match policy.signals.iter().find(|s| &s.name == name) {
            None => problems.add(at, format!("no signal is named `{name}`")),
            Some(signal) if matches!(signal.route, Some(SignalRoute::Canary | SignalRoute::All)) => problems.add(
                at,
                format!("signal `{name}` does not watch the primary route alone, and the rollback trigger is judged on the primary route's windows; leave its `route` out or set it to `primary`"),
            ),
            Some(_) => {}
        }
    }
    if rollback.trigger.consecutive == 0 {
        problems.add("/spec/rollback/trigger/consecutive", "at least 1");
    }
}

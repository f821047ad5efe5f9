//! The traffic and quality signals over one window: liveness, latency, error rates and the
//! performance of labelled predictions.

use mlspec_spec::kinds::MAX_OBSERVATION_EXAMPLES;

use crate::protocol::Scalar;

use super::policy::{Failures, Latency, Quality};
use super::store::{Labelled, Record};

/// Slowest requests named as latency evidence.
const SLOWEST: usize = 5;

/// A signal's result over a window.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Outcome {
    Observed {
        value: f64,
        /// How many values it was computed from.
        samples: u64,
        examples: Vec<String>,
    },
    Skipped(String),
}

impl Outcome {
    fn observed(value: f64, samples: usize, examples: Vec<String>) -> Outcome {
        Outcome::Observed {
            value,
            samples: samples as u64,
            examples,
        }
    }
}

/// The share of health checks that found the upstream up.
pub(super) fn liveness(checks: &[bool]) -> Outcome {
    if checks.is_empty() {
        return Outcome::Skipped("no health checks in the window".into());
    }
    let up = checks.iter().filter(|up| **up).count();
    let down = checks.len() - up;
    let examples = if down > 0 {
        vec![format!("{down} of {} checks found the upstream down", checks.len())]
    } else {
        Vec::new()
    };
    Outcome::observed(up as f64 / checks.len() as f64, checks.len(), examples)
}

/// A latency statistic over the requests (quantiles by nearest rank: the smallest latency with at
/// least a share `q` of the requests at or below it). Requests whose latency is not a finite,
/// non-negative number are left out.
pub(super) fn latency(records: &[&Record], statistic: Latency) -> Outcome {
    let mut timed: Vec<&Record> = records
        .iter()
        .copied()
        .filter(|r| r.latency_ms.is_finite() && r.latency_ms >= 0.0)
        .collect();
    if timed.is_empty() {
        return Outcome::Skipped("no request in the window has a latency".into());
    }
    timed.sort_by(|a, b| a.latency_ms.total_cmp(&b.latency_ms));
    let n = timed.len();
    let value = match statistic {
        Latency::Quantile(q) => timed[nearest_rank(q, n) - 1].latency_ms,
        Latency::Mean => timed.iter().map(|r| r.latency_ms).sum::<f64>() / n as f64,
        Latency::Max => timed[n - 1].latency_ms,
    };
    let examples = timed
        .iter()
        .rev()
        .take(SLOWEST)
        .map(|r| format!("{} ({} ms)", r.request_id, r.latency_ms))
        .collect();
    Outcome::observed(value, n, examples)
}

/// The 1-based nearest rank of quantile `q` among `n` sorted values.
fn nearest_rank(q: f64, n: usize) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n)
}

/// The share of failed requests. 499 (the client left before the answer) is neither a server
/// nor a client error.
pub(super) fn errors(records: &[&Record], failures: Failures) -> Outcome {
    let failed = |status: u16| match failures {
        Failures::Server => status >= 500,
        Failures::Client => (400..499).contains(&status),
    };
    let failed: Vec<&Record> = records.iter().copied().filter(|r| failed(r.status)).collect();
    let examples = failed
        .iter()
        .take(MAX_OBSERVATION_EXAMPLES)
        .map(|r| format!("{} ({})", r.request_id, r.status))
        .collect();
    Outcome::observed(failed.len() as f64 / records.len() as f64, records.len(), examples)
}

/// A quality metric over labelled predictions.
pub(super) fn performance(labelled: &[&Labelled], output: Option<&str>, metric: Quality) -> Outcome {
    let pairs: Vec<(&Scalar, &Scalar)> = labelled
        .iter()
        .filter_map(|l| Some((l.predicted(output)?, &l.label)))
        .collect();
    if pairs.is_empty() {
        return Outcome::Skipped(match output {
            Some(name) if !labelled.is_empty() => format!("no labelled prediction has the output `{name}`"),
            _ => "no labels yet".into(),
        });
    }
    match metric {
        Quality::Accuracy => accuracy(&pairs),
        Quality::Precision | Quality::Recall | Quality::F1 => binary(&pairs, metric),
        Quality::Mae | Quality::Rmse => regression(&pairs, metric),
    }
}

/// A class as text: numbers without a needless fraction (`1.0` is `1`), booleans and the texts
/// `true`/`false` as `1`/`0`.
fn class(value: &Scalar) -> Option<String> {
    match value {
        Scalar::Number(n) => Some(format!("{n}")),
        Scalar::Bool(b) => Some(u8::from(*b).to_string()),
        Scalar::Text(t) => Some(match t.trim() {
            t if t.eq_ignore_ascii_case("true") => "1".to_owned(),
            t if t.eq_ignore_ascii_case("false") => "0".to_owned(),
            t => t.parse::<f64>().map_or_else(|_| t.to_owned(), |n| format!("{n}")),
        }),
        Scalar::Missing => None,
    }
}

fn accuracy(pairs: &[(&Scalar, &Scalar)]) -> Outcome {
    let classes: Vec<(String, String)> = pairs.iter().filter_map(|(p, l)| Some((class(p)?, class(l)?))).collect();
    if classes.is_empty() {
        return Outcome::Skipped("no labelled prediction has both a prediction and a label".into());
    }
    let wrong: Vec<String> = classes
        .iter()
        .filter(|(p, l)| p != l)
        .take(MAX_OBSERVATION_EXAMPLES)
        .map(|(p, l)| format!("predicted {p}, labelled {l}"))
        .collect();
    let right = classes.iter().filter(|(p, l)| p == l).count();
    Outcome::observed(right as f64 / classes.len() as f64, classes.len(), wrong)
}

/// Precision, recall or F1 of the positive class (`1`, `true`, `"1"`).
fn binary(pairs: &[(&Scalar, &Scalar)], metric: Quality) -> Outcome {
    let classes: Vec<(bool, bool)> = pairs
        .iter()
        .filter_map(|(p, l)| Some((class(p)? == "1", class(l)? == "1")))
        .collect();
    let count = |predicted: bool, actual: bool| classes.iter().filter(|c| **c == (predicted, actual)).count() as f64;
    let (tp, fp, fn_) = (count(true, true), count(true, false), count(false, true));
    let (value, undefined) = match metric {
        Quality::Precision => (tp / (tp + fp), "no positive predictions"),
        Quality::Recall => (tp / (tp + fn_), "no positive labels"),
        _ => (2.0 * tp / (2.0 * tp + fp + fn_), "no positive predictions or labels"),
    };
    if value.is_nan() {
        return Outcome::Skipped(format!("{undefined} among {} labelled predictions", classes.len()));
    }
    let examples = vec![format!("tp {tp}, fp {fp}, fn {fn_}")];
    Outcome::observed(value, classes.len(), examples)
}

/// A value as a number: numbers, booleans as 0/1, texts that parse.
fn number(value: &Scalar) -> Option<f64> {
    match value {
        Scalar::Number(n) => Some(*n),
        Scalar::Bool(b) => Some(f64::from(u8::from(*b))),
        Scalar::Text(t) => t.trim().parse().ok(),
        Scalar::Missing => None,
    }
    .filter(|n: &f64| n.is_finite())
}

fn regression(pairs: &[(&Scalar, &Scalar)], metric: Quality) -> Outcome {
    let errors: Vec<f64> = pairs
        .iter()
        .filter_map(|(p, l)| Some(number(p)? - number(l)?))
        .collect();
    if errors.is_empty() {
        return Outcome::Skipped("no labelled prediction has a numeric prediction and label".into());
    }
    let n = errors.len() as f64;
    let value = if metric == Quality::Mae {
        errors.iter().map(|e| e.abs()).sum::<f64>() / n
    } else {
        (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt()
    };
    let worst = errors.iter().map(|e| e.abs()).fold(0.0, f64::max);
    Outcome::observed(value, errors.len(), vec![format!("largest error {worst}")])
}

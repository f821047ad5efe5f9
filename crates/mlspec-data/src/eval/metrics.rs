//! The metrics themselves, from counts and weighted rows: what scikit-learn computes, with
//! undefined values reported as such (`None` with a reason) instead of a silent 0.

/// A metric's value, or why it has none.
pub type Value = Result<f64, &'static str>;

/// A confusion matrix: `cells[actual][predicted]`, classes in sorted order.
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    /// Counts (or Poisson-bootstrap weights), actual class by predicted class.
    pub cells: Vec<Vec<f64>>,
}

impl Confusion {
    /// An empty matrix for `k` classes.
    pub fn new(k: usize) -> Confusion {
        Confusion {
            cells: vec![vec![0.0; k]; k],
        }
    }

    /// Counts one row.
    pub fn add(&mut self, actual: usize, predicted: usize) {
        if let Some(cell) = self.cells.get_mut(actual).and_then(|row| row.get_mut(predicted)) {
            *cell += 1.0;
        }
    }

    fn total(&self) -> f64 {
        self.cells.iter().flatten().sum()
    }

    fn true_positives(&self, k: usize) -> f64 {
        self.cells.get(k).and_then(|row| row.get(k)).copied().unwrap_or(0.0)
    }

    /// Rows whose actual class is `k`.
    pub fn support(&self, k: usize) -> f64 {
        self.cells.get(k).map_or(0.0, |row| row.iter().sum())
    }

    /// Rows predicted as `k`.
    pub fn predicted(&self, k: usize) -> f64 {
        self.cells.iter().filter_map(|row| row.get(k)).sum()
    }

    /// The fraction predicted right.
    pub fn accuracy(&self) -> Value {
        let n = self.total();
        if n == 0.0 {
            return Err("no rows");
        }
        Ok((0..self.cells.len()).map(|k| self.true_positives(k)).sum::<f64>() / n)
    }

    /// Of the rows predicted `k`, the fraction that are `k`.
    pub fn precision(&self, k: usize) -> Value {
        ratio(
            self.true_positives(k),
            self.predicted(k),
            "the class is never predicted",
        )
    }

    /// Of the rows that are `k`, the fraction predicted `k`.
    pub fn recall(&self, k: usize) -> Value {
        ratio(
            self.true_positives(k),
            self.support(k),
            "the class never occurs in the labels",
        )
    }

    /// 2·TP / (2·TP + FP + FN), as scikit-learn computes it.
    pub fn f1(&self, k: usize) -> Value {
        ratio(
            2.0 * self.true_positives(k),
            self.support(k) + self.predicted(k),
            "the class neither occurs nor is predicted",
        )
    }

    /// The unweighted mean of a per-class metric over the classes where it is defined.
    pub fn macro_average(&self, metric: impl Fn(&Confusion, usize) -> Value) -> Value {
        self.weighted_average(metric, |_, _| 1.0)
    }

    /// The mean of a per-class metric weighted by the classes' support (classes where it is
    /// undefined left out).
    pub fn support_weighted(&self, metric: impl Fn(&Confusion, usize) -> Value) -> Value {
        self.weighted_average(metric, Confusion::support)
    }

    fn weighted_average(
        &self,
        metric: impl Fn(&Confusion, usize) -> Value,
        weight: impl Fn(&Confusion, usize) -> f64,
    ) -> Value {
        let (mut sum, mut weights) = (0.0, 0.0);
        for k in 0..self.cells.len() {
            if let Ok(value) = metric(self, k) {
                let w = weight(self, k);
                sum += w * value;
                weights += w;
            }
        }
        ratio(sum, weights, "no class defines it")
    }

    /// The mean recall over the classes that occur in the labels (scikit-learn's balanced
    /// accuracy).
    pub fn balanced_accuracy(&self) -> Value {
        self.macro_average(Confusion::recall)
    }
}

fn ratio(part: f64, whole: f64, undefined: &'static str) -> Value {
    if whole == 0.0 { Err(undefined) } else { Ok(part / whole) }
}

/// Rows of a binary problem grouped by score (descending), for the score-based metrics: each
/// distinct score with its positive and negative rows.
#[derive(Clone, Debug)]
pub struct Scored {
    /// By descending score.
    groups: Vec<ScoreGroup>,
    /// Whether every score is in [0, 1] (log loss and calibration need probabilities).
    probabilities: bool,
}

/// The rows of one score, with what the metrics need of the score computed once.
#[derive(Clone, Debug)]
struct ScoreGroup {
    score: f64,
    positives: f64,
    negatives: f64,
    /// ln p and ln(1 − p), p clipped to [ε, 1 − ε].
    ln_p: f64,
    ln_q: f64,
    /// The calibration bin: min(⌊10·p⌋, 9).
    bin: usize,
}

impl ScoreGroup {
    fn new(score: f64) -> ScoreGroup {
        let p = score.clamp(f64::EPSILON, 1.0 - f64::EPSILON);
        ScoreGroup {
            score,
            positives: 0.0,
            negatives: 0.0,
            ln_p: p.ln(),
            ln_q: (1.0 - p).ln(),
            bin: ((score * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1),
        }
    }
}

/// Bins of the expected calibration error.
pub const CALIBRATION_BINS: usize = 10;

/// Score-based metrics of one (weighted) sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreMetrics {
    /// Area under the ROC curve (ties count one half).
    pub roc_auc: Value,
    /// Average precision: Σ (Rₙ − Rₙ₋₁)·Pₙ over the distinct score thresholds.
    pub average_precision: Value,
    /// Mean negative log-likelihood of the scores as probabilities of the positive class.
    pub log_loss: Value,
    /// Expected calibration error over ten equal-width bins of [0, 1].
    pub calibration_error: Value,
}

impl Scored {
    /// The (score, is positive) rows, grouped by score.
    pub fn new(mut rows: Vec<(f64, bool)>) -> Scored {
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        let probabilities = rows.iter().all(|(s, _)| (0.0..=1.0).contains(s));
        let mut groups: Vec<ScoreGroup> = Vec::new();
        for (score, positive) in rows {
            if groups.last().is_none_or(|last| last.score != score) {
                groups.push(ScoreGroup::new(score));
            }
            if let Some(group) = groups.last_mut() {
                if positive {
                    group.positives += 1.0;
                } else {
                    group.negatives += 1.0;
                }
            }
        }
        Scored { groups, probabilities }
    }

    /// The metrics with each group of `count` rows (of one score and one class) weighted by
    /// `weight(count)`: the count itself for the sample, the sum of `count` Poisson(1) row
    /// weights — a Poisson(count) draw — in a bootstrap resample.
    pub fn metrics(&self, mut weight: impl FnMut(f64) -> f64) -> ScoreMetrics {
        let probabilities = self.probabilities;
        let (mut positives, mut negatives) = (0.0, 0.0);
        let (mut area, mut precision_sum) = (0.0, 0.0);
        let mut loss = 0.0;
        let mut bins = [(0.0f64, 0.0f64, 0.0f64); CALIBRATION_BINS]; // weight, positives, scores
        for group in &self.groups {
            let group_positive = if group.positives > 0.0 {
                weight(group.positives)
            } else {
                0.0
            };
            let group_negative = if group.negatives > 0.0 {
                weight(group.negatives)
            } else {
                0.0
            };
            // Negatives in this group rank below the positives seen before it, and tie with
            // this group's positives (one half).
            area += group_negative * (positives + 0.5 * group_positive);
            positives += group_positive;
            negatives += group_negative;
            if group_positive > 0.0 {
                precision_sum += group_positive * positives / (positives + negatives);
            }
            if probabilities {
                loss -= group_positive * group.ln_p + group_negative * group.ln_q;
                if let Some(b) = bins.get_mut(group.bin) {
                    let w = group_positive + group_negative;
                    b.0 += w;
                    b.1 += group_positive;
                    b.2 += w * group.score;
                }
            }
        }
        let total = positives + negatives;
        let both = if positives == 0.0 || negatives == 0.0 {
            Err("only one class occurs in the labels")
        } else {
            Ok(())
        };
        let not_probabilities = "the scores are not probabilities in [0, 1]";
        ScoreMetrics {
            roc_auc: both.map(|()| area / (positives * negatives)),
            average_precision: ratio(precision_sum, positives, "no positive label occurs"),
            log_loss: if !probabilities {
                Err(not_probabilities)
            } else {
                ratio(loss, total, "no rows")
            },
            calibration_error: if !probabilities {
                Err(not_probabilities)
            } else if total == 0.0 {
                Err("no rows")
            } else {
                Ok(bins
                    .iter()
                    .filter(|b| b.0 > 0.0)
                    .map(|(w, pos, scores)| (w / total) * (pos / w - scores / w).abs())
                    .sum())
            },
        }
    }
}

/// Regression metrics of one (weighted) sample.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: Value,
    /// Root mean squared error.
    pub rmse: Value,
    /// Coefficient of determination, 1 − SS_res / SS_tot.
    pub r2: Value,
    /// Mean absolute percentage error, |y − ŷ| / |y| (a fraction, not ×100).
    pub mape: Value,
}

/// Regression metrics of (label, prediction) pairs, each weighted by `weight(i)`.
pub fn regression(pairs: &[(f64, f64)], weight: impl FnMut(usize) -> f64) -> RegressionMetrics {
    let weights: Vec<f64> = (0..pairs.len()).map(weight).collect();
    let n: f64 = weights.iter().sum();
    if n == 0.0 {
        let none = Err("no rows");
        return RegressionMetrics {
            mae: none,
            rmse: none,
            r2: none,
            mape: none,
        };
    }
    let mean = pairs.iter().zip(&weights).map(|((y, _), w)| w * y).sum::<f64>() / n;
    let (mut abs, mut sq, mut total, mut ape) = (0.0, 0.0, 0.0, 0.0);
    let mut zero_label = false;
    for (&(y, p), &w) in pairs.iter().zip(&weights) {
        let e = y - p;
        abs += w * e.abs();
        sq += w * e * e;
        total += w * (y - mean) * (y - mean);
        if y == 0.0 {
            zero_label |= w > 0.0;
        } else {
            ape += w * (e / y).abs();
        }
    }
    RegressionMetrics {
        mae: Ok(abs / n),
        rmse: Ok((sq / n).sqrt()),
        r2: if total == 0.0 {
            Err("the labels are constant")
        } else {
            Ok(1.0 - sq / total)
        },
        mape: if zero_label { Err("a label is 0") } else { Ok(ape / n) },
    }
}

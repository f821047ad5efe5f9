//! The median stopping rule (Golovin et al., 2017; Optuna's `MedianPruner`): a running trial is
//! stopped when its best value of the objective so far, at the latest step it reported, is
//! worse than the median of what the completed trials had reported at that same step. It
//! applies once [`MEDIAN_STARTUP_TRIALS`] trials have completed, and only to intermediate
//! values (metrics reported with a `step`).

use std::collections::BTreeMap;

use mlspec_spec::kinds::Goal;

/// Completed trials needed before any trial is pruned (Optuna's `n_startup_trials=5`).
pub const MEDIAN_STARTUP_TRIALS: usize = 5;

/// The objective's intermediate values of one trial, by step.
pub type Curve = BTreeMap<u64, f64>;

/// The curves of the completed trials.
#[derive(Debug, Default)]
pub struct MedianRule {
    completed: Vec<Curve>,
}

impl MedianRule {
    /// Learns a completed trial's curve.
    pub fn completed(&mut self, curve: Curve) {
        self.completed.push(curve);
    }

    /// Whether the running trial with `curve` should stop, and why.
    pub fn verdict(&self, curve: &Curve, goal: Goal) -> Option<String> {
        if self.completed.len() < MEDIAN_STARTUP_TRIALS {
            return None;
        }
        let (&step, _) = curve.last_key_value()?;
        let best = curve.values().copied().reduce(|a, b| better(goal, a, b))?;
        let mut peers: Vec<f64> = self.completed.iter().filter_map(|c| c.get(&step).copied()).collect();
        if peers.is_empty() {
            return None;
        }
        peers.sort_by(f64::total_cmp);
        let middle = peers.len() / 2;
        let median = if peers.len() % 2 == 1 {
            peers[middle]
        } else {
            (peers[middle - 1] + peers[middle]) / 2.0
        };
        let worse = match goal {
            Goal::Maximize => best < median,
            Goal::Minimize => best > median,
        };
        worse.then(|| {
            format!(
                "pruned at step {step}: its best value so far, {best}, is worse than the median {median} of {} completed trials at that step",
                peers.len()
            )
        })
    }
}

fn better(goal: Goal, a: f64, b: f64) -> f64 {
    match goal {
        Goal::Maximize => a.max(b),
        Goal::Minimize => a.min(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(u64, f64)]) -> Curve {
        points.iter().copied().collect()
    }

    #[test]
    fn prunes_below_the_median_of_completed_trials_at_that_step() {
        let mut rule = MedianRule::default();
        for top in [0.5, 0.6, 0.7, 0.8] {
            rule.completed(curve(&[(1, top - 0.1), (2, top)]));
        }
        // Four completed trials: not yet.
        assert_eq!(rule.verdict(&curve(&[(1, 0.0)]), Goal::Maximize), None);
        rule.completed(curve(&[(1, 0.8), (2, 0.9)]));
        // Median at step 1 of 0.4, 0.5, 0.6, 0.7, 0.8 is 0.6.
        assert!(rule.verdict(&curve(&[(1, 0.59)]), Goal::Maximize).is_some());
        assert_eq!(rule.verdict(&curve(&[(1, 0.6)]), Goal::Maximize), None);
        // Its best so far counts, not its latest.
        assert_eq!(rule.verdict(&curve(&[(1, 0.75), (2, 0.1)]), Goal::Maximize), None);
        assert!(rule.verdict(&curve(&[(1, 0.65), (2, 0.1)]), Goal::Maximize).is_some());
        // A step no completed trial reported: no verdict.
        assert_eq!(rule.verdict(&curve(&[(9, 0.0)]), Goal::Maximize), None);
        // Minimising: above the median is worse.
        assert!(rule.verdict(&curve(&[(1, 0.61)]), Goal::Minimize).is_some());
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let mut rule = MedianRule::default();
        for value in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] {
            rule.completed(curve(&[(0, value)]));
        }
        assert!(rule.verdict(&curve(&[(0, 3.49)]), Goal::Maximize).is_some());
        assert_eq!(rule.verdict(&curve(&[(0, 3.5)]), Goal::Maximize), None);
    }
}

//! Evaluating predictions against labels, as `eval` and `test` both do: what to compute
//! (`EvalArgs`, shared flags), the run with its progress bar, and the readable summary (the
//! outcome's spec form is the data engine's, `Evaluation::spec_parts`).

use std::collections::BTreeMap;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use mlspec_data::eval::{EvalOptions, Evaluation, TASKS, evaluate, load};
use mlspec_spec::kinds::{Outcome, Task, Verdict};

use crate::args::CsvArgs;
use crate::progress::Progress;

/// What to compute (the flags of `mlspec eval` and `mlspec test`).
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The label column.
    #[arg(long, default_value = "label")]
    label: String,
    /// The prediction column.
    #[arg(long, default_value = "prediction")]
    prediction: String,
    /// The score column: the positive class's probability (or score), binary tasks.
    #[arg(long)]
    score: Option<String>,
    /// The positive class (default: `1` or `true` when the classes are 0/1 or false/true).
    #[arg(long)]
    positive: Option<String>,
    /// The task (default: regression for float labels, else classification).
    #[arg(long, value_parser = task_parser())]
    task: Option<Task>,
    /// Slice by these columns and their crossings (repeatable), e.g. `--slice gender,country`.
    #[arg(long, value_name = "COL[,COL]")]
    slice: Vec<String>,
    /// Sensitive attributes for fairness summaries (default: the slice columns).
    #[arg(long, value_name = "COL", value_delimiter = ',')]
    sensitive: Vec<String>,
    /// Bootstrap resamples for the confidence intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// The bootstrap's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The intervals' confidence level.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    #[command(flatten)]
    csv: CsvArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// The value parser of `--task`: the tasks the data engine evaluates, as documents name them.
fn task_parser() -> impl TypedValueParser<Value = Task> {
    PossibleValuesParser::new(TASKS.map(Task::as_str)).map(|given: String| {
        TASKS
            .into_iter()
            .find(|task| task.as_str() == given)
            .unwrap_or(Task::Classification)
    })
}

impl EvalArgs {
    fn options(&self) -> anyhow::Result<EvalOptions> {
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            anyhow::bail!("--confidence is {}; it is in (0, 1)", self.confidence);
        }
        Ok(EvalOptions {
            label: self.label.clone(),
            prediction: self.prediction.clone(),
            score: self.score.clone(),
            positive: self.positive.clone(),
            task: self.task,
            slices: self
                .slice
                .iter()
                .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect())
                .collect(),
            sensitive: self.sensitive.clone(),
            resamples: self.resamples,
            seed: self.seed,
            confidence: self.confidence,
        })
    }

    /// How to read the files.
    pub fn read_options(&self) -> mlspec_data::ReadOptions {
        self.csv.read_options()
    }

    /// Reads and evaluates the predictions, with a progress bar for the bootstrap.
    pub fn run(&self, predictions: &std::path::Path) -> anyhow::Result<Evaluation> {
        let options = self.options()?;
        let data = load(predictions, &self.csv.read_options(), &options)?;
        let progress = std::sync::Mutex::new(Progress::new(1000, self.quiet));
        let outcome = evaluate(&data, &options, |done| {
            if let Ok(mut p) = progress.lock() {
                p.update((done * 1000.0) as u64);
            }
        })?;
        if let Ok(p) = progress.into_inner() {
            p.finish();
        }
        Ok(outcome)
    }
}

/// The readable summary: the headline metrics with intervals, then the slices (the worst one
/// and the largest gap marked), fairness and the verdict.
pub fn summary(outcome: &Evaluation, verdict: Option<&Verdict>) -> String {
    let headline: &[&str] = if outcome.task == Task::Classification {
        &["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]
    } else {
        &["mae", "rmse", "r2", "mape"]
    };
    let main = headline[0];
    let mut out = format!("{} rows\n", outcome.rows);
    for key in headline {
        if let Some(value) = outcome.overall.get(key) {
            let interval = outcome
                .overall
                .intervals
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, lo, hi)| format!("  [{lo:.4}, {hi:.4}]"))
                .unwrap_or_default();
            out.push_str(&format!("{key:<20} {value:.4}{interval}\n"));
        }
    }
    for (key, reason) in &outcome.overall.undefined {
        if headline.contains(&key.as_str()) {
            out.push_str(&format!("{key:<20} undefined: {reason}\n"));
        }
    }
    if !outcome.slices.is_empty() {
        let higher_is_better = !matches!(main, "mae" | "rmse" | "mape");
        let values: Vec<(usize, f64)> = outcome
            .slices
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.metrics.get(main)?)))
            .collect();
        let worst = values
            .iter()
            .min_by(|a, b| {
                if higher_is_better {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            })
            .map(|(i, _)| *i);
        out.push_str(&format!(
            "\n{:<32} {:>8} {:>10}\n",
            "SLICE",
            "ROWS",
            main.to_uppercase()
        ));
        for (i, slice) in outcome.slices.iter().enumerate() {
            let value = slice
                .metrics
                .get(main)
                .map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}"));
            let mark = if Some(i) == worst { "  ← worst" } else { "" };
            out.push_str(&format!("{:<32} {:>8} {:>10}{mark}\n", slice.name, slice.rows, value));
        }
        if let Some((column, gap)) = largest_gap(outcome, main) {
            out.push_str(&format!(
                "largest gap in {main}: {gap:.4} across the values of {column}\n"
            ));
        }
    }
    for f in &outcome.fairness {
        let show = |v: &Result<f64, &str>| v.map_or_else(|e| format!("undefined ({e})"), |v| format!("{v:.4}"));
        out.push_str(&format!(
            "fairness by {}: demographic parity difference {}, ratio {}, equalized odds difference {}\n",
            f.attribute,
            show(&f.demographic_parity_difference),
            show(&f.demographic_parity_ratio),
            show(&f.equalized_odds_difference)
        ));
    }
    if let Some(v) = verdict {
        let met = v.criteria.iter().filter(|c| c.met).count();
        out.push_str(&format!(
            "objectives: {} ({met} of {} criteria met)\n",
            if v.result == Outcome::Passed {
                "passed"
            } else {
                "failed"
            },
            v.criteria.len()
        ));
        for c in v.criteria.iter().filter(|c| !c.met) {
            let reason = c.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default();
            out.push_str(&format!("  not met: {}{reason}\n", c.name));
        }
    }
    out
}

/// The single-column slicing with the largest spread of `metric`, and that spread.
fn largest_gap(outcome: &Evaluation, metric: &str) -> Option<(String, f64)> {
    let mut by_column: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for slice in outcome.slices.iter().filter(|s| s.filter.len() == 1) {
        if let (Some((column, _)), Some(value)) = (slice.filter.first(), slice.metrics.get(metric)) {
            by_column.entry(column.as_str()).or_default().push(value);
        }
    }
    by_column
        .into_iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(column, values)| {
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            (column.to_owned(), max - min)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use mlspec_spec::kinds::Task;

    use super::task_parser;

    #[test]
    fn the_task_flag_takes_the_tasks_evaluated() {
        let command = clap::Command::new("eval").arg(clap::Arg::new("task").long("task").value_parser(task_parser()));
        let parse = |args: &[&str]| {
            command
                .clone()
                .try_get_matches_from(args)
                .map(|m| m.get_one::<Task>("task").copied())
        };
        assert_eq!(
            parse(&["eval", "--task", "regression"]).unwrap(),
            Some(Task::Regression)
        );
        assert_eq!(
            parse(&["eval", "--task", "classification"]).unwrap(),
            Some(Task::Classification)
        );
        let refused = parse(&["eval", "--task", "ranking"]).unwrap_err().to_string();
        assert!(
            refused.contains("[possible values: classification, regression]"),
            "{refused}"
        );
    }
}

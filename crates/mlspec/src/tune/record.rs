//! What a search records: its own Run (the parent of every trial's Run), and the Training
//! document — the search space, sampler, objective, every ended trial with its parameters,
//! final metrics, status and Run, and the best trial — a new version of it as trials end, so
//! that an interrupted search can be continued from the store alone.

use mlspec_spec::kinds::{Goal, RunSpec, RunStatus, Search, TrainingSpec, Trial, TrialStatus};
use mlspec_spec::newtypes::{Key, ShortText};
use mlspec_spec::values::Metric;
use mlspec_spec::{ApiVersion, Document, Metadata, Name, ObjectId, Ref, Spec};

use super::trial::{Objective, Stop, TrialOutcome, final_metrics, scalar};
use crate::step::record::run_document;

/// Tags a trial's Run carries.
const SEARCH_TAG: &str = "mlspec.search";
const TRIAL_TAG: &str = "mlspec.trial";
const FAILURE_TAG: &str = "mlspec.failure";
const PRUNED_TAG: &str = "mlspec.pruned";

/// The Training document of search `name`.
pub fn training_document(name: &Name, training: &TrainingSpec) -> Document {
    Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name.clone()),
        spec: Spec::Training(training.clone()),
    }
}

/// The search's Run, as it starts or ends.
pub fn search_run(
    name: &Name,
    id: &ObjectId,
    command: &[String],
    status: RunStatus,
    started: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Document> {
    let ended = (status != RunStatus::Running).then(chrono::Utc::now);
    let mut run = RunSpec {
        start_time: Some(started),
        end_time: ended,
        command: command.to_vec(),
        ..RunSpec::with_status(status)
    };
    run.tags.0.insert(Key::new(SEARCH_TAG)?, name.to_string());
    run_document(&format!("{name}-search"), id, run)
}

/// The ended trial as the Training document lists it, and its documents (the Run tagged with
/// the search, the trial and why it did not complete). None for a trial the search's
/// interruption stopped: it is run again when the search continues.
pub fn ended_trial(
    outcome: TrialOutcome,
    objective: &Objective,
    search: &Name,
) -> anyhow::Result<(Option<Trial>, Vec<Document>)> {
    let TrialOutcome {
        job,
        mut documents,
        stop,
        stderr_tail,
        ran,
    } = outcome;
    let Some(run_at) = documents.iter().position(|d| matches!(d.spec, Spec::Run(_))) else {
        anyhow::bail!("trial {} recorded no Run", job.id);
    };
    let run_id = documents[run_at].metadata.id.clone();
    let Spec::Run(run) = &mut documents[run_at].spec else {
        anyhow::bail!("trial {} recorded no Run", job.id);
    };
    let metrics = final_metrics(&run.metrics);
    let (status, reason) = match judge(run, &metrics, stop, objective, ran, &stderr_tail) {
        Judged::Ended(status, reason) => (status, reason),
        Judged::Interrupted => return Ok((None, documents)),
    };
    run.tags.0.insert(Key::new(SEARCH_TAG)?, search.to_string());
    run.tags.0.insert(Key::new(TRIAL_TAG)?, job.id.to_string());
    if let Some(reason) = &reason {
        let tag = if status == TrialStatus::Pruned {
            PRUNED_TAG
        } else {
            FAILURE_TAG
        };
        run.tags.0.insert(Key::new(tag)?, reason.clone());
    }
    let trial = Trial {
        id: job.id,
        params: job.params,
        metrics,
        status,
        reason: reason.map(|r| ShortText::new(truncated(&r))).transpose()?,
        run: run_id.map(Ref::from),
    };
    Ok((Some(trial), documents))
}

enum Judged {
    Ended(TrialStatus, Option<String>),
    Interrupted,
}

/// How a trial ended, from the search's point of view.
fn judge(
    run: &RunSpec,
    metrics: &[Metric],
    stop: Option<Stop>,
    objective: &Objective,
    ran: bool,
    stderr_tail: &str,
) -> Judged {
    let failed = |reason: String| Judged::Ended(TrialStatus::Failed, Some(reason));
    match stop {
        Some(Stop::Interrupted(_)) => return Judged::Interrupted,
        Some(Stop::Pruned(reason)) => return Judged::Ended(TrialStatus::Pruned, Some(reason)),
        Some(Stop::TimedOut(limit)) => {
            return failed(format!(
                "ran longer than --trial-timeout ({} s) and was stopped",
                limit.as_secs_f64()
            ));
        }
        None => {}
    }
    match run.status {
        RunStatus::Finished => match objective_value(metrics, objective) {
            Ok(_) => Judged::Ended(TrialStatus::Completed, None),
            Err(reason) => failed(reason),
        },
        _ if !ran => failed(last_line(stderr_tail).unwrap_or_else(|| "the command could not be started".to_owned())),
        RunStatus::Killed => failed(format!(
            "killed by {}",
            run.signal.as_ref().map_or("a signal", |s| s.as_str())
        )),
        _ => failed(format!(
            "the command exited with code {}{}",
            run.exit_code.unwrap_or(1),
            last_line(stderr_tail).map(|l| format!(": {l}")).unwrap_or_default()
        )),
    }
}

/// The objective's final value among a trial's final metrics, or why there is none.
pub fn objective_value(metrics: &[Metric], objective: &Objective) -> Result<f64, String> {
    let metric = metrics.iter().find(|m| m.key == objective.key).ok_or_else(|| {
        format!(
            "the trial never reported {}, the objective (report it by POSTing to $MLSPEC_STEP_URL/api/v1/metrics or appending a JSON line to $MLSPEC_METRICS_FILE)",
            objective.metric()
        )
    })?;
    scalar(&metric.value).ok_or_else(|| format!("{} is not a single number", objective.metric()))
}

/// The best completed trial: the best objective value, the earliest on a tie.
pub fn best_trial<'a>(trials: &'a [Trial], objective: &Objective) -> Option<&'a Trial> {
    let mut best: Option<(&Trial, f64)> = None;
    for trial in trials.iter().filter(|t| t.status == TrialStatus::Completed) {
        let Ok(value) = objective_value(&trial.metrics, objective) else {
            continue;
        };
        let better = best.is_none_or(|(_, kept)| match objective.goal {
            Goal::Maximize => value > kept,
            Goal::Minimize => value < kept,
        });
        if better {
            best = Some((trial, value));
        }
    }
    best.map(|(trial, _)| trial)
}

/// The Training document's summary fields from its trials: the best trial, its parameters and
/// metrics.
pub fn summarise(training: &mut TrainingSpec, objective: &Objective) {
    let best = best_trial(&training.trials, objective).cloned();
    training.best_trial = best.as_ref().map(|t| t.id.clone());
    training.params = best.as_ref().map(|t| t.params.clone()).unwrap_or_default();
    training.metrics = best.map(|t| t.metrics).unwrap_or_default();
}

/// Whether a stored search is the one asked for now (everything but the trial budget; the seed
/// only when one was given).
pub fn same_definition(stored: &Search, wanted: &Search, seed_given: bool) -> bool {
    stored.algorithm == wanted.algorithm
        && stored.space == wanted.space
        && stored.metric == wanted.metric
        && stored.goal == wanted.goal
        && stored.sampler == wanted.sampler
        && stored.pruner == wanted.pruner
        && (!seed_given || stored.seed == wanted.seed)
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
}

/// A reason as a ShortText holds it: control characters as spaces, cut to 240 characters.
fn truncated(reason: &str) -> String {
    const MOST: usize = 240;
    let clean: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= MOST {
        return clean;
    }
    let cut: String = clean.chars().take(MOST - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlspec_spec::values::{MetricValue, Params};

    fn trial(id: &str, status: TrialStatus, value: Option<f64>) -> Trial {
        Trial {
            id: Key::new(id).unwrap(),
            params: Params::default(),
            metrics: value
                .map(|v| Metric {
                    key: Key::new("auc").unwrap(),
                    value: MetricValue::Scalar(v),
                    step: None,
                    timestamp: None,
                })
                .into_iter()
                .collect(),
            status,
            reason: None,
            run: None,
        }
    }

    #[test]
    fn the_best_trial_is_the_best_completed_one_earliest_on_a_tie() {
        let trials = [
            trial("t0", TrialStatus::Completed, Some(0.7)),
            trial("t1", TrialStatus::Pruned, Some(0.99)),
            trial("t2", TrialStatus::Completed, Some(0.9)),
            trial("t3", TrialStatus::Completed, Some(0.9)),
            trial("t4", TrialStatus::Failed, None),
        ];
        let maximize = Objective::parse("maximize metrics.auc").unwrap();
        assert_eq!(best_trial(&trials, &maximize).unwrap().id.as_str(), "t2");
        let minimize = Objective::parse("minimize metrics.auc").unwrap();
        assert_eq!(best_trial(&trials, &minimize).unwrap().id.as_str(), "t0");
        assert!(best_trial(&trials[4..], &maximize).is_none());
    }

    #[test]
    fn long_reasons_are_cut() {
        let reason = "x\ty".repeat(1_000);
        let cut = truncated(&reason);
        assert_eq!(cut.chars().count(), 240);
        assert!(ShortText::new(cut).is_ok());
    }
}

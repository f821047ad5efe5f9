//! One trial: the command run as a step through the step runtime (its own `/ok /varz /metrics`,
//! CPU and memory, logs in `.mlspec/logs/<run id>/`, a Run recorded as the search Run's child),
//! with its parameters in the environment and the command line, watched while it runs: stopped
//! when the pruning rule says so, when it outlives `--trial-timeout`, or when the search itself
//! is interrupted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlspec_spec::kinds::Goal;
use mlspec_spec::newtypes::Key;
use mlspec_spec::values::{Metric, MetricValue, ParamValue, Params};
use mlspec_spec::{Document, ObjectId, Ref};
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::time::Instant;

use super::prune::{Curve, MedianRule};
use crate::step;

/// How long a trial that was asked to stop (SIGTERM) has before it is killed (SIGKILL).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often a running trial's intermediate values are checked against the pruning rule.
const PRUNE_CHECK_EVERY: Duration = Duration::from_millis(100);

/// The metric a search optimises, and in which direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub key: Key,
    pub goal: Goal,
}

impl Objective {
    /// Parses `maximize metrics.val_auc` (or `minimize …`; the `metrics.` prefix optional).
    pub fn parse(text: &str) -> Result<Objective, String> {
        let hint = "write it as `maximize metrics.KEY` or `minimize metrics.KEY`";
        let (direction, metric) = text
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("`{text}` is not a direction and a metric: {hint}"))?;
        let goal = match direction.to_ascii_lowercase().as_str() {
            "maximize" | "maximise" | "max" => Goal::Maximize,
            "minimize" | "minimise" | "min" => Goal::Minimize,
            other => return Err(format!("`{other}` is not maximize or minimize: {hint}")),
        };
        let metric = metric.trim();
        let key = metric.strip_prefix("metrics.").unwrap_or(metric);
        let key = Key::new(key).map_err(|e| format!("`{metric}` is not a metric key ({e}): {hint}"))?;
        Ok(Objective { key, goal })
    }

    /// `metrics.KEY`, as messages name it.
    pub fn metric(&self) -> String {
        format!("metrics.{}", self.key)
    }

    /// The value to minimise.
    pub fn loss(&self, value: f64) -> f64 {
        match self.goal {
            Goal::Minimize => value,
            Goal::Maximize => -value,
        }
    }

    /// The objective's intermediate values (those reported with a step).
    pub fn curve(&self, metrics: &[Metric]) -> Curve {
        metrics
            .iter()
            .filter(|m| m.key == self.key)
            .filter_map(|m| Some((m.step?, scalar(&m.value)?)))
            .collect()
    }
}

/// The final value of each key a trial reported: the one without a step if there is one, else
/// the one at the highest step.
pub fn final_metrics(metrics: &[Metric]) -> Vec<Metric> {
    let mut last: BTreeMap<&Key, &Metric> = BTreeMap::new();
    for metric in metrics {
        let replaces = last.get(&metric.key).is_none_or(|kept| match (kept.step, metric.step) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b >= a,
        });
        if replaces {
            last.insert(&metric.key, metric);
        }
    }
    last.into_values().cloned().collect()
}

/// A metric's value when it is a single number.
pub fn scalar(value: &MetricValue) -> Option<f64> {
    match value {
        MetricValue::Scalar(n) => Some(*n),
        _ => None,
    }
}

/// What to run for one trial.
pub struct TrialJob {
    pub id: Key,
    pub params: Params,
    /// Where the sampler placed it (see `space`).
    pub coordinates: Vec<f64>,
    /// The command, `{params.X}` filled.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The search's Run.
    pub parent: ObjectId,
    /// The step's name: the search's, with `-trial`.
    pub step: String,
    pub timeout: Option<Duration>,
    pub dir: PathBuf,
}

/// Why the search stopped a trial.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    Pruned(String),
    TimedOut(Duration),
    Interrupted(Signal),
}

/// A trial that ended.
pub struct TrialOutcome {
    pub job: TrialJob,
    /// Its Run and an Artifact per output, as the step runtime made them.
    pub documents: Vec<Document>,
    pub stop: Option<Stop>,
    pub stderr_tail: String,
    /// False when the command could not be started.
    pub ran: bool,
}

/// What a running trial is watched with.
#[derive(Clone)]
pub struct Watchers {
    /// SIGINT/SIGTERM sent to the search.
    pub signals: watch::Receiver<Option<Signal>>,
    /// The pruning rule, when pruning is on.
    pub pruning: Option<Arc<Mutex<MedianRule>>>,
    pub objective: Objective,
}

/// Runs the trial to its end.
pub async fn run(job: TrialJob, mut watchers: Watchers) -> anyhow::Result<TrialOutcome> {
    let plan = step::Plan {
        name: job.step.clone(),
        module: None,
        params: job.params.clone(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        run_id: None,
        parent: Some(Ref::from(job.parent.clone())),
        cache_key: None,
        record_to: None,
        listen: "127.0.0.1:0".to_owned(),
        addr_file: None,
        log_limit: step::DEFAULT_LOG_LIMIT,
        command: job.command.clone(),
    };
    let setting = step::Setting {
        dir: job.dir.clone(),
        env: job.env.clone(),
        state_dir: step::spool::state_dir_for(&job.dir),
        pass_through: false,
    };
    let serving = step::Serving::bind(&plan, &setting).await?;
    let state = serving.state();
    let (to_command, signals) = watch::channel(None);
    let executing = serving.execute(&plan, &setting, signals);
    tokio::pin!(executing);

    let deadline = job.timeout.map(|t| Instant::now() + t);
    let mut kill_at: Option<Instant> = None;
    let mut stop = None;
    let mut check = tokio::time::interval(PRUNE_CHECK_EVERY);
    let mut listening = true;
    let executed = loop {
        tokio::select! {
            executed = &mut executing => break executed?,
            () = sleep_until(deadline), if stop.is_none() => {
                stop = job.timeout.map(Stop::TimedOut);
                let _ = to_command.send(Some(Signal::SIGTERM));
                kill_at = Some(Instant::now() + STOP_GRACE);
            }
            () = sleep_until(kill_at) => {
                let _ = to_command.send(Some(Signal::SIGKILL));
                kill_at = None;
            }
            changed = watchers.signals.changed(), if listening => {
                let received = *watchers.signals.borrow_and_update();
                match (changed, received) {
                    (Ok(()), Some(signal)) => {
                        stop = Some(Stop::Interrupted(signal));
                        let _ = to_command.send(Some(signal));
                    }
                    (Ok(()), None) => {}
                    (Err(_), _) => listening = false,
                }
            }
            _ = check.tick(), if stop.is_none() && watchers.pruning.is_some() => {
                if let Some(reason) = prune_verdict(&watchers, &state.history()) {
                    stop = Some(Stop::Pruned(reason));
                    let _ = to_command.send(Some(Signal::SIGTERM));
                    kill_at = Some(Instant::now() + STOP_GRACE);
                }
            }
        }
    };
    Ok(TrialOutcome {
        job,
        documents: executed.documents,
        stop,
        stderr_tail: executed.stderr_tail,
        ran: executed.ran,
    })
}

/// Sleeps until `at`, or for ever when there is no such time.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn prune_verdict(watchers: &Watchers, history: &[Metric]) -> Option<String> {
    let curve = watchers.objective.curve(history);
    let rule = watchers.pruning.as_ref()?.lock().ok()?;
    rule.verdict(&curve, watchers.objective.goal)
}

/// The environment a trial's command gets besides the search's own: each parameter as
/// `MLSPEC_PARAM_<KEY>` (upper case, other characters as `_`), all of them as JSON in
/// `MLSPEC_PARAMS`, the trial's id in `MLSPEC_TRIAL`.
pub fn parameter_environment(id: &Key, params: &Params) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (key, value) in params.0.iter() {
        env.insert(
            crate::env::param_variable(key.as_str()),
            mlspec_pipeline::param_text(value),
        );
    }
    let json: serde_json::Map<String, serde_json::Value> = params
        .0
        .iter()
        .map(|(key, value)| {
            let value = match value {
                ParamValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => serde_json::json!(*n as i64),
                ParamValue::Number(n) => serde_json::json!(n),
                ParamValue::String(s) => serde_json::json!(s),
            };
            (key.as_str().to_owned(), value)
        })
        .collect();
    env.insert("MLSPEC_PARAMS".to_owned(), serde_json::Value::Object(json).to_string());
    env.insert("MLSPEC_TRIAL".to_owned(), id.as_str().to_owned());
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(key: &str, value: f64, step: Option<u64>) -> Metric {
        Metric {
            key: Key::new(key).unwrap(),
            value: MetricValue::Scalar(value),
            step,
            timestamp: None,
        }
    }

    #[test]
    fn parses_objectives() {
        let objective = Objective::parse("maximize metrics.val_auc").unwrap();
        assert_eq!((objective.key.as_str(), objective.goal), ("val_auc", Goal::Maximize));
        assert_eq!(Objective::parse("minimize loss").unwrap().goal, Goal::Minimize);
        assert!(
            Objective::parse("maximize")
                .unwrap_err()
                .contains("not a direction and a metric")
        );
        assert!(
            Objective::parse("improve metrics.x")
                .unwrap_err()
                .contains("`improve` is not maximize")
        );
        assert!(
            Objective::parse("maximize metrics.")
                .unwrap_err()
                .contains("not a metric key")
        );
    }

    #[test]
    fn the_final_value_is_the_unstepped_one_else_the_last_step() {
        let finals = final_metrics(&[
            metric("a", 1.0, Some(1)),
            metric("a", 3.0, Some(3)),
            metric("a", 2.0, Some(2)),
            metric("b", 5.0, None),
            metric("b", 6.0, Some(9)),
        ]);
        let values: Vec<(String, f64)> = finals
            .iter()
            .map(|m| (m.key.to_string(), scalar(&m.value).unwrap()))
            .collect();
        assert_eq!(values, [("a".to_owned(), 3.0), ("b".to_owned(), 5.0)]);
    }

    #[test]
    fn parameters_reach_the_environment() {
        let params = Params::from_iter([
            (Key::new("learning-rate").unwrap(), ParamValue::Number(0.1)),
            (Key::new("depth").unwrap(), ParamValue::Number(3.0)),
            (Key::new("solver").unwrap(), ParamValue::String("saga".into())),
        ]);
        let env = parameter_environment(&Key::new("trial-0001").unwrap(), &params);
        assert_eq!(env["MLSPEC_PARAM_LEARNING_RATE"], "0.1");
        assert_eq!(env["MLSPEC_PARAM_DEPTH"], "3");
        assert_eq!(
            env["MLSPEC_PARAMS"],
            r#"{"depth":3,"learning-rate":0.1,"solver":"saga"}"#
        );
        assert_eq!(env["MLSPEC_TRIAL"], "trial-0001");
    }
}

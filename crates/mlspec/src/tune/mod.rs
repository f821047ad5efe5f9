//! Hyperparameter search (stage 7): a command run as many trials, each with parameters drawn
//! from a search space, the best by an objective metric kept.
//!
//! Each **trial** is a step ([`trial`]): the command runs through the step runtime with its
//! parameters in the environment (`MLSPEC_PARAM_<KEY>`, `MLSPEC_PARAMS`) and in `{params.X}`
//! placeholders of its arguments, reports metrics the usual ways, and is recorded as a Run whose
//! parent is the search's Run. `--jobs` trials run at once. A **sampler** ([`sampler`]) proposes
//! each trial's parameters — random, grid or TPE — and learns from each completed one; the
//! **median rule** ([`prune`]) stops a trial whose intermediate values fall behind.
//!
//! The **Training document** ([`record`]) is the search's record and its checkpoint: it is
//! written again as trials end (at most once a second) and when the search ends, so the same
//! command run after an interruption (Ctrl-C, a crash, a lost machine) finds it and continues — replaying the recorded trials into the
//! sampler and the pruning rule and running only the trials still missing.

pub mod prune;
pub mod record;
pub mod sampler;
pub mod space;
pub mod trial;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use mlspec_spec::kinds::{RunStatus, Search, TrainingSpec, Trial, TrialStatus};
use mlspec_spec::newtypes::{Key, ShortText};
use mlspec_spec::template::{Slot, fill_command};
use mlspec_spec::values::Params;
use mlspec_spec::{Document, Kind, Name, ObjectId, Ref, Spec};
use mlspec_store::{ErrorKind, Selector, Store};
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::prune::{MEDIAN_STARTUP_TRIALS, MedianRule};
use self::sampler::{Sampler, SamplerKind};
use self::space::Space;
use self::trial::{Objective, TrialJob, TrialOutcome, Watchers};
use crate::store::actor;

/// A search to run.
pub struct Request {
    /// The Training document's name.
    pub name: Name,
    pub space: Space,
    /// The trial budget (None: the whole grid).
    pub trials: Option<u64>,
    pub jobs: usize,
    pub sampler: SamplerKind,
    pub seed: Option<u64>,
    pub objective: Objective,
    pub prune: bool,
    pub trial_timeout: Option<Duration>,
    pub datasets: Vec<Ref>,
    pub model: Option<Ref>,
    /// Start over even when a search of this name can be continued.
    pub fresh: bool,
    pub command: Vec<String>,
    pub dir: PathBuf,
    /// The store's URL for the trials' own mlspec commands, when one was chosen.
    pub store_url: Option<String>,
}

/// How the search ended.
pub struct Outcome {
    pub training: TrainingSpec,
    /// Trials recorded before this run of the command.
    pub resumed: usize,
    /// The signal that interrupted the search.
    pub interrupted: Option<Signal>,
}

/// Runs (or continues) the search, recording it in `store`.
pub async fn search(
    request: Request,
    store: &dyn Store,
    signals: watch::Receiver<Option<Signal>>,
) -> anyhow::Result<Outcome> {
    let budget = budget(&request)?;
    let seed = request.seed.unwrap_or_else(rand::random);
    let mut sampler = Sampler::new(request.sampler, &request.space, seed)?;
    let definition = definition(&request, &sampler, seed, budget)?;
    let mut book = Book::open(&request, store, definition).await?;
    let resumed = book.training.trials.len();
    let rule = request.prune.then(|| Arc::new(Mutex::new(MedianRule::default())));
    replay(&book.training, &request, &mut sampler, rule.as_deref(), store).await?;
    if resumed as u64 >= budget {
        errln!(
            "mlspec tune: Training/{} is complete ({resumed} of {budget} trials recorded); nothing to run\n  hint: pass a larger --trials to continue it, or --fresh to search again",
            request.name
        );
        return Ok(Outcome {
            training: book.training,
            resumed,
            interrupted: None,
        });
    }
    if resumed > 0 {
        errln!(
            "mlspec tune: continuing Training/{} — {resumed} of {budget} trials recorded",
            request.name
        );
    }
    book.start(store).await?;

    let watchers = Watchers {
        signals: signals.clone(),
        pruning: rule.clone(),
        objective: request.objective.clone(),
    };
    let mut running = JoinSet::new();
    let mut next = 0u64;
    let done: BTreeSet<u64> = book.training.trials.iter().filter_map(|t| index_of(&t.id)).collect();
    let mut ended = book.training.trials.len() as u64;
    let mut interrupted = None;
    loop {
        interrupted = interrupted.or(*signals.borrow());
        while interrupted.is_none() && running.len() < request.jobs && ended + (running.len() as u64) < budget {
            while done.contains(&next) {
                next += 1;
            }
            let job = trial_job(&request, &mut sampler, next, &book.run_id)?;
            errln!("{}  started   {}", job.id, show_params(&job.params));
            running.spawn(trial::run(job, watchers.clone()));
            next += 1;
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let outcome = joined.context("a trial's task failed")??;
        if let Some(trial) = book.record(outcome, &mut sampler, rule.as_deref(), store).await? {
            ended += 1;
            errln!("{}", trial_line(&trial, &request.objective));
        }
    }
    book.finish(store, interrupted).await?;
    Ok(Outcome {
        training: book.training,
        resumed,
        interrupted,
    })
}

/// The number of trials to run in all.
fn budget(request: &Request) -> anyhow::Result<u64> {
    match (request.sampler, request.trials) {
        (SamplerKind::Grid, trials) => {
            let size = request.space.grid_size()?;
            Ok(trials.map_or(size, |t| t.min(size)))
        }
        (_, Some(trials)) => Ok(trials),
        (_, None) => bail!("--trials is needed with --sampler random or tpe (only a grid has a natural end)"),
    }
}

/// The search as the Training document records it.
fn definition(request: &Request, sampler: &Sampler, seed: u64, budget: u64) -> anyhow::Result<Search> {
    Ok(Search {
        algorithm: sampler.algorithm(),
        space: request.space.recorded(),
        metric: request.objective.key.clone(),
        goal: request.objective.goal,
        max_trials: Some(u32::try_from(budget).context("--trials is too large")?),
        seed: Some(seed),
        sampler: Some(ShortText::new(sampler.describe())?),
        pruner: request
            .prune
            .then(|| ShortText::new(format!("median (after {MEDIAN_STARTUP_TRIALS} completed trials)")))
            .transpose()?,
    })
}

/// Teaches the sampler and the pruning rule what the recorded trials found.
async fn replay(
    training: &TrainingSpec,
    request: &Request,
    sampler: &mut Sampler,
    rule: Option<&Mutex<MedianRule>>,
    store: &dyn Store,
) -> anyhow::Result<()> {
    for trial in training.trials.iter().filter(|t| t.status == TrialStatus::Completed) {
        let Ok(value) = record::objective_value(&trial.metrics, &request.objective) else {
            continue;
        };
        let coordinates: Option<Vec<f64>> = request
            .space
            .params
            .iter()
            .map(|(key, domain)| domain.coordinate(trial.params.0.get(key)?))
            .collect();
        if let Some(coordinates) = coordinates {
            sampler.observe(&coordinates, request.objective.loss(value));
        }
        if let (Some(rule), Some(run)) = (rule, &trial.run) {
            let stored = store.get(&Selector::from(run)).await?;
            if let (Spec::Run(run), Ok(mut rule)) = (stored.document.spec, rule.lock()) {
                rule.completed(request.objective.curve(&run.metrics));
            }
        }
    }
    Ok(())
}

/// Trial number `index`: its parameters from the sampler, its command and environment.
fn trial_job(request: &Request, sampler: &mut Sampler, index: u64, parent: &ObjectId) -> anyhow::Result<TrialJob> {
    let coordinates = sampler.propose(index, &request.space);
    let params: Params = request
        .space
        .params
        .iter()
        .zip(&coordinates)
        .map(|((key, domain), &c)| (key.clone(), domain.value(c)))
        .collect();
    let command = fill_command(&request.command, |slot, name| match slot {
        Slot::Param => params
            .0
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| mlspec_pipeline::param_text(v)),
        _ => None,
    });
    let id = Key::new(format!("trial-{index:04}"))?;
    let mut env = trial::parameter_environment(&id, &params);
    if let Some(path) = crate::step::path_with_this_mlspec()? {
        env.insert("PATH".to_owned(), path);
    }
    if let Some(url) = &request.store_url {
        env.insert(crate::env::STORE.to_owned(), url.clone());
    }
    Ok(TrialJob {
        id,
        params,
        coordinates,
        command,
        env,
        parent: parent.clone(),
        step: format!("{}-trial", request.name),
        timeout: request.trial_timeout,
        dir: request.dir.clone(),
    })
}

/// The trial number in an id `trial-NNNN`.
fn index_of(id: &Key) -> Option<u64> {
    id.as_str().strip_prefix("trial-")?.parse().ok()
}

/// The least time between two checkpoints of the Training document while trials end.
///
/// Each checkpoint rewrites the whole document (every trial so far), so writing one per trial
/// made a search of short trials quadratic: 22 ms a trial on average over 1,000 no-op trials,
/// against 11 ms over 200. Trials that take longer than this are each checkpointed as they end;
/// of a burst of short ones, a crash loses at most this much work (their Runs stay recorded).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The search's record: its Training document and Run, written as trials end.
struct Book<'a> {
    request: &'a Request,
    training: TrainingSpec,
    run_id: ObjectId,
    started: chrono::DateTime<chrono::Utc>,
    /// When the Training document was last written.
    checkpointed: std::time::Instant,
}

impl<'a> Book<'a> {
    /// The stored search to continue, or a new one.
    async fn open(request: &'a Request, store: &dyn Store, definition: Search) -> anyhow::Result<Book<'a>> {
        let mut book = Book {
            request,
            training: TrainingSpec {
                run: None,
                datasets: request.datasets.clone(),
                model: request.model.clone(),
                framework: None,
                params: Params::default(),
                metrics: Vec::new(),
                search: Some(definition.clone()),
                trials: Vec::new(),
                best_trial: None,
                distribution: None,
                conversions: Vec::new(),
                compression: Vec::new(),
            },
            run_id: ObjectId::generate(),
            started: chrono::Utc::now(),
            checkpointed: std::time::Instant::now(),
        };
        if request.fresh {
            return Ok(book);
        }
        let Some(stored) = stored_search(store, &request.name).await? else {
            return Ok(book);
        };
        let Some(search) = &stored.search else {
            bail!(
                "Training/{} exists and records no search\n  hint: choose another --name",
                request.name
            );
        };
        if !record::same_definition(search, &definition, request.seed.is_some()) {
            bail!(
                "Training/{} records a different search (its space, objective, sampler, pruning or seed differ)\n  hint: pass --fresh to start a new search under this name (the old one stays in its history), or choose another --name",
                request.name
            );
        }
        if let Some(run) = &stored.run
            && let Ok(stored_run) = store.get(&Selector::from(run)).await
            && let Ok(id) = ObjectId::new(stored_run.summary.id)
        {
            book.run_id = id;
        }
        book.training.search = Some(Search {
            seed: search.seed,
            ..definition
        });
        if request.datasets.is_empty() {
            book.training.datasets = stored.datasets;
        }
        book.training.model = request.model.clone().or(stored.model);
        book.training.trials = stored.trials;
        Ok(book)
    }

    /// Records the search's Run as running, and the Training document as it stands.
    async fn start(&mut self, store: &dyn Store) -> anyhow::Result<()> {
        self.training.run = Some(Ref::from(self.run_id.clone()));
        let run = record::search_run(
            &self.request.name,
            &self.run_id,
            &self.request.command,
            RunStatus::Running,
            self.started,
        )?;
        let training = record::training_document(&self.request.name, &self.training);
        apply(store, &[run, training]).await?;
        self.checkpointed = std::time::Instant::now();
        Ok(())
    }

    /// Records an ended trial: its Run, and the Training document with it when the last
    /// checkpoint is [`CHECKPOINT_EVERY`] old. Returns the trial, None for one the search's
    /// interruption stopped.
    async fn record(
        &mut self,
        outcome: TrialOutcome,
        sampler: &mut Sampler,
        rule: Option<&Mutex<MedianRule>>,
        store: &dyn Store,
    ) -> anyhow::Result<Option<Trial>> {
        let objective = &self.request.objective;
        let coordinates = outcome.job.coordinates.clone();
        let curve = objective.curve(run_metrics(&outcome.documents));
        let (trial, mut documents) = record::ended_trial(outcome, objective, &self.request.name)?;
        let Some(trial) = trial else {
            apply(store, &documents).await?;
            return Ok(None);
        };
        if trial.status == TrialStatus::Completed {
            if let Ok(value) = record::objective_value(&trial.metrics, objective) {
                sampler.observe(&coordinates, objective.loss(value));
            }
            if let Some(Ok(mut rule)) = rule.map(Mutex::lock) {
                rule.completed(curve);
            }
        }
        self.training.trials.push(trial.clone());
        self.training.trials.sort_by_key(|t| index_of(&t.id));
        record::summarise(&mut self.training, objective);
        let checkpoint = self.checkpointed.elapsed() >= CHECKPOINT_EVERY;
        if checkpoint {
            documents.push(record::training_document(&self.request.name, &self.training));
        }
        apply(store, &documents).await?;
        if checkpoint {
            self.checkpointed = std::time::Instant::now();
        }
        Ok(Some(trial))
    }

    /// Records the search's Run as ended, and the Training document as it ends.
    async fn finish(&self, store: &dyn Store, interrupted: Option<Signal>) -> anyhow::Result<()> {
        let status = if interrupted.is_some() {
            RunStatus::Killed
        } else {
            RunStatus::Finished
        };
        let mut run = record::search_run(
            &self.request.name,
            &self.run_id,
            &self.request.command,
            status,
            self.started,
        )?;
        if let (Some(signal), Spec::Run(spec)) = (interrupted, &mut run.spec) {
            spec.signal = Some(ShortText::new(signal.as_str())?);
        }
        apply(
            store,
            &[run, record::training_document(&self.request.name, &self.training)],
        )
        .await
    }
}

/// The Training document named `name`, when there is one.
async fn stored_search(store: &dyn Store, name: &Name) -> anyhow::Result<Option<TrainingSpec>> {
    let selector = Selector::Name {
        kind: Kind::Training,
        name: name.clone(),
        version: None,
    };
    match store.get(&selector).await {
        Ok(stored) => match stored.document.spec {
            Spec::Training(training) => Ok(Some(training)),
            _ => Ok(None),
        },
        Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn run_metrics(documents: &[Document]) -> &[mlspec_spec::values::Metric] {
    documents
        .iter()
        .find_map(|d| match &d.spec {
            Spec::Run(run) => Some(&run.metrics[..]),
            _ => None,
        })
        .unwrap_or_default()
}

async fn apply(store: &dyn Store, documents: &[Document]) -> anyhow::Result<()> {
    store
        .apply(documents, &actor())
        .await
        .with_context(|| format!("cannot record the search in the store at {}", store.location()))?;
    Ok(())
}

/// `KEY=VALUE …`, for progress lines.
pub fn show_params(params: &Params) -> String {
    params
        .0
        .iter()
        .map(|(k, v)| format!("{k}={}", mlspec_pipeline::param_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A progress line for an ended trial.
pub fn trial_line(trial: &Trial, objective: &Objective) -> String {
    let value = record::objective_value(&trial.metrics, objective)
        .map(|v| format!("{}={v}", objective.key))
        .unwrap_or_default();
    let status = match trial.status {
        TrialStatus::Completed => "completed",
        TrialStatus::Pruned => "pruned",
        TrialStatus::Failed => "failed",
    };
    let reason = trial.reason.as_ref().map(|r| format!("  ({r})")).unwrap_or_default();
    format!(
        "{}  {status:<9} {value}  {}{reason}",
        trial.id,
        show_params(&trial.params)
    )
}

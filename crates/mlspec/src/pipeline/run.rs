//! The scheduler: runs a [`Plan`]'s ready steps in parallel up to `--jobs`, answers each from
//! the cache when it can, keeps going on independent branches when a step fails (its dependents
//! are skipped), passes SIGINT/SIGTERM on to running steps, and records every step's Run as it
//! ends — so that a runner killed mid-pipeline leaves every finished step reusable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use mlspec_pipeline::{CacheInputs, Plan, Source, cache_key};
use mlspec_spec::kinds::{PortType, RunSpec, RunStatus, StepStatus};
use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::template::Slot;
use mlspec_spec::values::Tags;
use mlspec_spec::{Document, ObjectId, Ref, Spec};
use mlspec_store::Store;
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::cache::{self, Lookup};
use super::execute::{self, Job, OutputSlot, Ran, WrittenOutput};
use super::lineage::{Lineage, StepEvent};
use super::live::Live;
use super::progress::Progress;
use crate::openlineage::EventType;
use crate::step::record::run_document;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Steps at once.
    pub jobs: usize,
    /// Answer steps from the cache.
    pub use_cache: bool,
    /// Stop everything at the first failure.
    pub fail_fast: bool,
    /// Where step directories go.
    pub workdir: PathBuf,
    /// Environment variables passed to steps that enter the cache key and the record.
    pub env: BTreeMap<String, String>,
    /// Keep the steps' outputs: their Runs then answer later lookups of their cache keys. A
    /// check (`recreate --check`) keeps neither.
    pub keep_outputs: bool,
    /// Artifacts already recorded for some contents: an output with one of these digests is
    /// that Artifact to the steps that read it (`{artifacts.X}`). Recreating a run gives its
    /// recorded outputs, so that a step naming an identical input's Artifact writes what it
    /// wrote then.
    pub known_artifacts: BTreeMap<Digest, ObjectId>,
    /// Where OpenLineage events go (`--openlineage`): a URL or an NDJSON file.
    pub openlineage: Option<String>,
    /// The store the steps' own mlspec commands use (MLSPEC_STORE), the runner's.
    pub store: Option<String>,
}

/// A bound pipeline input (or a stored document a step binds).
#[derive(Clone, Debug)]
pub struct BoundInput {
    pub path: PathBuf,
    pub digest: Digest,
    /// The stored document it is, when there is one (an Artifact).
    pub document: Option<Ref>,
}

/// What a step came to.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub status: StepStatus,
    pub reason: Option<String>,
    pub run: Option<ObjectId>,
    pub cached_from: Option<ObjectId>,
    pub cache_key: Option<Digest>,
    pub command: Vec<String>,
    pub outputs: Vec<WrittenOutput>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
}

impl StepResult {
    fn skipped(reason: String) -> StepResult {
        StepResult {
            status: StepStatus::Skipped,
            reason: Some(reason),
            run: None,
            cached_from: None,
            cache_key: None,
            command: Vec::new(),
            outputs: Vec::new(),
            started: None,
            finished: None,
        }
    }

    fn succeeded(&self) -> bool {
        matches!(self.status, StepStatus::Finished | StepStatus::Cached)
    }
}

/// A whole run's result.
pub struct Outcome {
    pub run_id: ObjectId,
    pub status: RunStatus,
    pub signal: Option<Signal>,
    pub ended: DateTime<Utc>,
    pub steps: Vec<StepResult>,
    /// The Runs of the steps answered from the cache, to be recorded with the pipeline Run's
    /// end (one transaction; if the runner dies first, the next run answers them from the
    /// cache again).
    pub cached_runs: Vec<Document>,
}

/// The inputs of the run: pipeline inputs by name, stored documents by reference.
pub struct Inputs {
    pub pipeline: BTreeMap<Key, BoundInput>,
    pub references: BTreeMap<Ref, BoundInput>,
    /// Each module's tool versions, by module index.
    pub tools: Vec<BTreeMap<String, String>>,
}

/// Everything the scheduler keeps while it runs.
struct Scheduler<'a> {
    plan: &'a Plan,
    inputs: &'a Inputs,
    store: &'a dyn Store,
    options: &'a Options,
    run_id: ObjectId,
    root: PathBuf,
    results: Vec<Option<StepResult>>,
    running: JoinSet<(usize, Job, DateTime<Utc>, anyhow::Result<Ran>)>,
    stopped: Option<String>,
    signals: watch::Sender<Option<Signal>>,
    progress: Progress,
    lineage: Option<&'a mut Lineage>,
    /// Runs answered from the cache (see [`Outcome::cached_runs`]).
    cached_runs: Vec<Document>,
    /// The pipeline Run, told where each begun step can be watched.
    live: Live,
}

/// Runs `plan` as the pipeline Run `run_id`, already recorded as `started` (Running); each time
/// steps begin, a new version of it says where they can be watched.
pub async fn run(
    plan: &Plan,
    inputs: &Inputs,
    store: &dyn Store,
    options: &Options,
    (run_id, started): (ObjectId, Document),
    lineage: Option<&mut Lineage>,
) -> anyhow::Result<Outcome> {
    let mut scheduler = Scheduler {
        plan,
        inputs,
        store,
        options,
        run_id,
        root: super::files::project_root()?,
        results: vec![None; plan.steps.len()],
        running: JoinSet::new(),
        stopped: None,
        signals: watch::channel(None).0,
        progress: Progress::new(plan.steps.len()),
        lineage,
        cached_runs: Vec::new(),
        live: Live::new(started),
    };
    let signal = scheduler.drive().await?;
    scheduler.progress.finish();
    let steps: Vec<StepResult> = scheduler
        .results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| StepResult::skipped("the pipeline stopped first".to_owned())))
        .collect();
    let status = match signal {
        Some(_) => RunStatus::Killed,
        None if steps.iter().all(StepResult::succeeded) => RunStatus::Finished,
        None => RunStatus::Failed,
    };
    Ok(Outcome {
        run_id: scheduler.run_id,
        status,
        signal,
        ended: Utc::now(),
        steps,
        cached_runs: scheduler.cached_runs,
    })
}

impl Scheduler<'_> {
    /// Starts ready steps and collects finished ones until none is left; the signal that
    /// stopped the run, if one did.
    async fn drive(&mut self) -> anyhow::Result<Option<Signal>> {
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut received = None;
        loop {
            self.skip_blocked();
            if self.stopped.is_none() {
                self.start_ready().await?;
            }
            if self.running.is_empty() {
                break;
            }
            if self.live.due().is_some_and(|due| due <= Instant::now()) {
                self.write_live().await;
            }
            let due = self.live.due();
            tokio::select! {
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => self.write_live().await,
                joined = self.running.join_next() => {
                    if let Some(joined) = joined {
                        let (step, job, started, ran) = joined.context("a step's task failed")?;
                        self.conclude(step, job, started, ran).await?;
                    }
                }
                _ = interrupt.recv() => received = Some(self.stop(Signal::SIGINT)),
                _ = terminate.recv() => received = Some(self.stop(Signal::SIGTERM)),
            }
        }
        Ok(received)
    }

    /// Records the pipeline Run with where its begun steps can be watched.
    async fn write_live(&mut self) {
        if let Some(warning) = self.live.write(self.store).await {
            self.progress.line(&warning);
        }
    }

    fn stop(&mut self, signal: Signal) -> Signal {
        self.progress.line(&format!(
            "received {signal}: passing it to the running steps, starting no more"
        ));
        self.stopped = Some(format!("the pipeline was stopped by {signal}"));
        let _ = self.signals.send(Some(signal));
        signal
    }

    /// Marks every step that can no longer run — one it depends on did not succeed, or the run
    /// is stopping — as skipped.
    fn skip_blocked(&mut self) {
        for &step in &self.plan.order {
            if self.results[step].is_some() || self.is_running(step) {
                continue;
            }
            let blocker = self.plan.steps[step]
                .after
                .iter()
                .find(|&&dep| self.results[dep].as_ref().is_some_and(|r| !r.succeeded()));
            let reason = match (blocker, &self.stopped) {
                (Some(&dep), _) => Some(format!("step `{}` did not finish", self.plan.steps[dep].name)),
                (None, Some(stopped)) => Some(stopped.clone()),
                (None, None) => None,
            };
            if let Some(reason) = reason {
                self.progress
                    .step(self.plan.steps[step].name.as_str(), &format!("skipped: {reason}"));
                self.progress.done();
                self.results[step] = Some(StepResult::skipped(reason));
            }
        }
    }

    fn is_running(&self, step: usize) -> bool {
        self.progress.is_running(step)
    }

    async fn start_ready(&mut self) -> anyhow::Result<()> {
        for position in 0..self.plan.order.len() {
            if self.running.len() >= self.options.jobs.max(1) || self.stopped.is_some() {
                break;
            }
            let step = self.plan.order[position];
            let ready = self.results[step].is_none()
                && !self.is_running(step)
                && self.plan.steps[step]
                    .after
                    .iter()
                    .all(|&dep| self.results[dep].as_ref().is_some_and(StepResult::succeeded));
            if ready {
                self.start(step).await?;
            }
        }
        Ok(())
    }

    /// Answers `step` from the cache, or starts it.
    async fn start(&mut self, step: usize) -> anyhow::Result<()> {
        let job = self.job(step)?;
        if self.options.use_cache {
            match cache::lookup(self.store, &job.cache_key, &job.outputs).await? {
                Lookup::Hit(hit) => return self.reuse(step, &job, hit).await,
                Lookup::Miss(Some(why)) => {
                    self.progress
                        .step(job.step.as_str(), &format!("cache entry not reused ({why})"));
                }
                Lookup::Miss(None) => {}
            }
        }
        std::fs::create_dir_all(job.dir.join("outputs"))
            .with_context(|| format!("cannot create {}", job.dir.display()))?;
        self.progress.started(step, job.step.as_str());
        self.tell(step, &job, EventType::Start, &[], None).await;
        let signals = self.signals.subscribe();
        let started = Utc::now();
        match execute::bind(job.clone()).await {
            Ok(bound) => {
                let endpoint = bound.endpoint();
                self.live.began(
                    &job.step,
                    mlspec_pipeline::live::Progress::Started {
                        run: job.run_id.clone(),
                        endpoint,
                    },
                );
                self.running
                    .spawn(async move { (step, job, started, bound.execute(signals).await) });
            }
            Err(error) => {
                self.running.spawn(async move { (step, job, started, Err(error)) });
            }
        }
        Ok(())
    }

    /// The job for `step`: its inputs' paths and digests, its outputs' paths, its command and
    /// its cache key.
    fn job(&self, step: usize) -> anyhow::Result<Job> {
        let planned = &self.plan.steps[step];
        let module = self.plan.module_of(step);
        let dir = super::files::step_dir(&self.options.workdir, &self.run_id, &planned.name);
        let outputs: Vec<OutputSlot> = module
            .spec()
            .outputs
            .iter()
            .map(|port| OutputSlot {
                name: port.name.clone(),
                path: dir.join("outputs").join(port.file_name()),
                directory: port.port_type == PortType::Directory,
                optional: port.optional,
            })
            .collect();
        let mut input_digests = BTreeMap::new();
        for (port, source) in &planned.inputs {
            input_digests.insert(port.clone(), self.input(source)?.digest);
        }
        let env = self.environment(step);
        let cache_command = self.plan.command(
            step,
            // An input's content, never its path or the id of the Artifact that records it.
            |source, _| self.input(source).map(|i| i.digest.to_string()).unwrap_or_default(),
            |name| format!("{{outputs.{name}}}"),
        );
        let mut key_environment = env.clone();
        for (tool, version) in self.inputs.tools.get(planned.module).into_iter().flatten() {
            key_environment.insert(format!("tool:{tool}"), version.clone());
        }
        let key = cache_key(&CacheInputs {
            module: &module.digest,
            command: &cache_command,
            params: &planned.params,
            environment: &key_environment,
            inputs: &input_digests,
        });
        let command = self.plan.command(
            step,
            |source, slot| match (self.input(source), slot) {
                (Ok(input), Slot::Artifact) => input.document.map(|r| r.to_string()).unwrap_or_default(),
                (Ok(input), _) => input.path.display().to_string(),
                (Err(_), _) => String::new(),
            },
            |name| {
                outputs
                    .iter()
                    .find(|o| o.name.as_str() == name)
                    .map(|o| o.path.display().to_string())
                    .unwrap_or_default()
            },
        );
        Ok(Job {
            step: planned.name.clone(),
            run_id: ObjectId::generate(),
            module: module.reference(),
            parent: self.run_id.clone(),
            cache_key: key,
            cache_entry: self.options.keep_outputs,
            params: planned.params.clone(),
            outputs,
            command,
            env,
            store: self.options.store.clone(),
            dir,
            root: self.root.clone(),
        })
    }

    /// The module's own variables and the allow-listed ones from this environment.
    fn environment(&self, step: usize) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = self
            .plan
            .module_of(step)
            .spec()
            .implementation
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for (name, value) in &self.options.env {
            env.entry(name.clone()).or_insert_with(|| value.clone());
        }
        env
    }

    /// Where an input's content is and its digest.
    fn input(&self, source: &Source) -> anyhow::Result<BoundInput> {
        match source {
            Source::PipelineInput(name) => self.inputs.pipeline.get(name).cloned(),
            Source::Reference(reference) => self.inputs.references.get(reference).cloned(),
            Source::StepOutput(step, port) => self.results[*step].as_ref().and_then(|result| {
                result.outputs.iter().find(|o| o.name == *port).map(|o| BoundInput {
                    path: o.path.clone(),
                    digest: o.digest.clone(),
                    document: self
                        .options
                        .known_artifacts
                        .get(&o.digest)
                        .cloned()
                        .or_else(|| o.artifact.clone())
                        .map(Ref::from),
                })
            }),
        }
        .with_context(|| format!("input {source:?} is not available"))
    }

    /// Records a run answered from the cache.
    async fn reuse(&mut self, step: usize, job: &Job, hit: cache::Hit) -> anyhow::Result<()> {
        let now = Utc::now();
        let run_id = ObjectId::generate();
        let mut tags = Tags::default();
        cache::tag_outputs(&mut tags, &hit.outputs)?;
        let run = RunSpec {
            parent: Some(Ref::from(self.run_id.clone())),
            module: Some(job.module.clone()),
            status: RunStatus::Finished,
            start_time: Some(now),
            end_time: Some(now),
            params: job.params.clone().into_iter().collect(),
            inputs: self.input_documents(step),
            outputs: hit.artifacts.clone(),
            tags,
            cache_key: Some(job.cache_key.clone()),
            cached_from: Some(Ref::from(hit.original.clone())),
            ..RunSpec::with_status(RunStatus::Finished)
        };
        self.cached_runs.push(run_document(job.step.as_str(), &run_id, run)?);
        self.live.began(
            &job.step,
            mlspec_pipeline::live::Progress::Cached { run: run_id.clone() },
        );
        self.progress
            .step(job.step.as_str(), &format!("cached (outputs of run {})", hit.original));
        let cached_job = Job {
            run_id: run_id.clone(),
            ..job.clone()
        };
        self.tell(step, &cached_job, EventType::Start, &[], None).await;
        self.tell(step, &cached_job, EventType::Complete, &hit.outputs, None)
            .await;
        self.progress.done();
        self.results[step] = Some(StepResult {
            status: StepStatus::Cached,
            reason: None,
            run: Some(run_id),
            cached_from: Some(hit.original),
            cache_key: Some(job.cache_key.clone()),
            command: job.command.clone(),
            outputs: hit.outputs,
            started: Some(now),
            finished: Some(now),
        });
        Ok(())
    }

    /// The stored documents a step reads: its inputs' Artifacts.
    fn input_documents(&self, step: usize) -> Vec<Ref> {
        self.plan.steps[step]
            .inputs
            .values()
            .filter_map(|source| self.input(source).ok()?.document)
            .collect()
    }

    /// Tells the OpenLineage consumer, when there is one, that `step` reached `kind`.
    async fn tell(&mut self, step: usize, job: &Job, kind: EventType, written: &[WrittenOutput], error: Option<&str>) {
        if self.lineage.is_none() {
            return;
        }
        let inputs: Vec<(PathBuf, Digest)> = self.plan.steps[step]
            .inputs
            .values()
            .filter_map(|source| self.input(source).ok())
            .map(|input| (input.path, input.digest))
            .collect();
        let outputs: Vec<(PathBuf, Option<Digest>)> = job
            .outputs
            .iter()
            .map(|slot| {
                let digest = written.iter().find(|w| w.name == slot.name).map(|w| w.digest.clone());
                (slot.path.clone(), digest)
            })
            .collect();
        let module_digest = self.plan.module_of(step).digest.clone();
        let event = StepEvent {
            step: job.step.as_str(),
            run_id: &job.run_id,
            inputs: &inputs,
            outputs: &outputs,
            cache_key: Some(&job.cache_key),
            module_digest: Some(&module_digest),
            error,
        };
        if let Some(lineage) = self.lineage.as_deref_mut() {
            lineage.step(kind, &event).await;
        }
    }

    /// Records a step that ended, and what it came to.
    async fn conclude(
        &mut self,
        step: usize,
        job: Job,
        started: DateTime<Utc>,
        ran: anyhow::Result<Ran>,
    ) -> anyhow::Result<()> {
        self.progress.stopped(step);
        let finished = Utc::now();
        let mut ran = ran.unwrap_or_else(|error| Ran {
            status: StepStatus::Failed,
            reason: Some(format!("{error:#}")),
            documents: Vec::new(),
            outputs: Vec::new(),
        });
        let inputs = self.input_documents(step);
        let run_id = ran.documents.iter_mut().find_map(|d| match &mut d.spec {
            Spec::Run(run) => {
                run.inputs = inputs.clone();
                d.metadata.id.clone()
            }
            _ => None,
        });
        // Recorded before anything that depends on it starts: a runner killed from here on
        // leaves the step answered from the cache next time.
        if !ran.documents.is_empty() {
            self.store
                .apply(&ran.documents, &crate::store::actor())
                .await
                .with_context(|| format!("step `{}`: its Run could not be recorded", job.step))?;
        }
        let seconds = (finished - started).num_milliseconds() as f64 / 1000.0;
        let line = match (&ran.status, &ran.reason) {
            (StepStatus::Finished, _) => format!("finished in {seconds:.2} s"),
            (status, Some(reason)) => format!("{} after {seconds:.2} s: {reason}", status_word(*status)),
            (status, None) => status_word(*status).to_owned(),
        };
        self.progress.step(job.step.as_str(), &line);
        self.progress.done();
        let kind = match ran.status {
            StepStatus::Finished | StepStatus::Cached => EventType::Complete,
            StepStatus::Killed | StepStatus::Skipped => EventType::Abort,
            StepStatus::Failed => EventType::Fail,
        };
        self.tell(step, &job, kind, &ran.outputs, ran.reason.as_deref()).await;
        let failed = !matches!(ran.status, StepStatus::Finished);
        self.results[step] = Some(StepResult {
            status: ran.status,
            reason: ran.reason,
            run: run_id,
            cached_from: None,
            cache_key: Some(job.cache_key),
            command: job.command,
            outputs: ran.outputs,
            started: Some(started),
            finished: Some(finished),
        });
        if failed && self.options.fail_fast && self.stopped.is_none() {
            self.progress.line("--fail-fast: stopping the running steps");
            self.stopped = Some(format!("step `{}` failed and --fail-fast is on", job.step));
            let _ = self.signals.send(Some(Signal::SIGTERM));
        }
        Ok(())
    }
}

fn status_word(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Finished => "finished",
        StepStatus::Cached => "cached",
        StepStatus::Failed => "failed",
        StepStatus::Killed => "killed",
        StepStatus::Skipped => "skipped",
    }
}

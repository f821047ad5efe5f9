//! One step of a pipeline, run through the step runtime inside the runner: like `mlspec step
//! run`, each step serves its own `/ok /varz /metrics`, its command's CPU and memory are its own
//! (`wait4`), a signal reaches its command alone, and its logs and metrics go to
//! `.mlspec/logs/<run id>/`. The runtime makes the step's Run and output Artifacts; this module
//! checks the outputs the module declared against them.
//!
//! In the runner rather than in a process of its own per step: starting the 75 MB `mlspec`
//! binary and its runtime cost about 4.8 ms per step, most of what a chain of short steps spent
//! outside its commands (docs/benchmarks.md, "Pipelines").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlspec_spec::kinds::{RunStatus, StepStatus};
use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::values::ParamValue;
use mlspec_spec::{Document, Name, ObjectId, Ref, Spec};
use nix::sys::signal::Signal;
use tokio::sync::watch;

use crate::step;

/// A declared output and where the step must write it.
#[derive(Clone, Debug)]
pub struct OutputSlot {
    pub name: Key,
    pub path: PathBuf,
    pub directory: bool,
    pub optional: bool,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Job {
    pub step: Name,
    /// The id the step's Run is recorded under.
    pub run_id: ObjectId,
    pub module: Ref,
    pub parent: ObjectId,
    pub cache_key: Digest,
    /// Record the cache key on the Run, so that it answers later lookups.
    pub cache_entry: bool,
    pub params: BTreeMap<Key, ParamValue>,
    pub outputs: Vec<OutputSlot>,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The store for the step's own mlspec commands, when not in `env` already.
    pub store: Option<String>,
    /// The step's own directory: its working directory.
    pub dir: PathBuf,
    /// The project root, against which paths in documents are written.
    pub root: PathBuf,
}

/// A written output with its digest.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenOutput {
    pub name: Key,
    pub path: PathBuf,
    pub digest: Digest,
    /// The Artifact that records it.
    pub artifact: Option<ObjectId>,
}

/// How the step ended.
#[derive(Debug)]
pub struct Ran {
    pub status: StepStatus,
    pub reason: Option<String>,
    /// The Run and its Artifacts, as the runtime recorded them (the Run amended when an output
    /// is missing).
    pub documents: Vec<Document>,
    pub outputs: Vec<WrittenOutput>,
}

/// A step whose endpoints listen: where to watch it is known before its command starts.
pub struct Bound {
    job: Job,
    plan: step::Plan,
    setting: step::Setting,
    serving: step::Serving,
}

/// Binds `job`'s endpoints (a loopback address the system picks).
pub async fn bind(job: Job) -> anyhow::Result<Bound> {
    let plan = step_plan(&job);
    let setting = step::Setting {
        dir: job.dir.clone(),
        env: step_environment(&job)?,
        state_dir: step::spool::state_dir_for(&job.dir),
        pass_through: false,
    };
    let serving = step::Serving::bind(&plan, &setting).await?;
    Ok(Bound {
        job,
        plan,
        setting,
        serving,
    })
}

impl Bound {
    /// The step's endpoints, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.serving.addr)
    }

    /// Runs the step, passing on any signal sent through `signals` to its command.
    pub async fn execute(self, signals: watch::Receiver<Option<Signal>>) -> anyhow::Result<Ran> {
        let executed = self.serving.execute(&self.plan, &self.setting, signals).await?;
        Ok(conclude(&self.job, executed.documents, &executed.stderr_tail))
    }
}

/// The step as the runtime runs it: its Run's id, module, parent and cache key given, its
/// output files declared (directories are hashed here, after it ends).
fn step_plan(job: &Job) -> step::Plan {
    step::Plan {
        name: job.step.as_str().to_owned(),
        module: Some(job.module.clone()),
        params: job.params.clone().into_iter().collect(),
        inputs: Vec::new(),
        outputs: job
            .outputs
            .iter()
            .filter(|o| !o.directory)
            .map(|o| o.path.clone())
            .collect(),
        run_id: Some(job.run_id.clone()),
        parent: Some(Ref::from(job.parent.clone())),
        cache_key: job.cache_entry.then(|| job.cache_key.clone()),
        record_to: None,
        listen: "127.0.0.1:0".to_owned(),
        addr_file: None,
        log_limit: step::DEFAULT_LOG_LIMIT,
        command: job.command.clone(),
    }
}

/// The command's variables besides the runner's: the module's and allow-listed ones, the store
/// for its own mlspec commands, and PATH with the running mlspec's directory first.
fn step_environment(job: &Job) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = job.env.clone();
    if let Some(store) = &job.store {
        env.entry(crate::env::STORE.to_owned()).or_insert_with(|| store.clone());
    }
    if let Some(path) = step::path_with_this_mlspec()? {
        env.insert("PATH".to_owned(), path);
    }
    Ok(env)
}

/// The last lines of the step's standard error, for a message.
fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n    {}", tail.join("\n    "))
    }
}

/// The step's status from its Run, with the declared outputs checked: one missing, or not what
/// its port declares, fails the step (and its Run says why).
fn conclude(job: &Job, mut documents: Vec<Document>, stderr: &str) -> Ran {
    let run_status = documents.iter().find_map(|d| match &d.spec {
        Spec::Run(run) => Some((run.status, run.exit_code, run.signal.clone())),
        _ => None,
    });
    let (mut status, mut reason) = match run_status {
        Some((RunStatus::Finished, ..)) => (StepStatus::Finished, None),
        Some((RunStatus::Killed, _, signal)) => (
            StepStatus::Killed,
            Some(format!(
                "killed by {}",
                signal.map_or_else(|| "a signal".into(), |s| s.to_string())
            )),
        ),
        Some((_, code, _)) => (
            StepStatus::Failed,
            Some(format!(
                "the command exited with code {}{}",
                code.unwrap_or(1),
                last_lines(stderr)
            )),
        ),
        None => (StepStatus::Failed, Some("the step recorded no Run".to_owned())),
    };
    let mut outputs = Vec::new();
    if status == StepStatus::Finished {
        match check_outputs(job, &mut documents) {
            Ok(written) => outputs = written,
            Err(problem) => {
                status = StepStatus::Failed;
                mark_failed(&mut documents, &problem);
                reason = Some(problem);
            }
        }
    }
    Ran {
        status,
        reason,
        documents,
        outputs,
    }
}

/// Every declared output that was written, with its digest; an error naming the first
/// non-optional one that was not, or that is not a plain file (or directory) in its place.
fn check_outputs(job: &Job, documents: &mut Vec<Document>) -> Result<Vec<WrittenOutput>, String> {
    let mut written = Vec::new();
    for output in &job.outputs {
        let meta = match std::fs::symlink_metadata(&output.path) {
            Ok(meta) => meta,
            Err(_) if output.optional => continue,
            Err(_) => {
                return Err(format!(
                    "output `{}` was not written (expected at {})",
                    output.name,
                    output.path.display()
                ));
            }
        };
        let wanted = if output.directory {
            meta.is_dir()
        } else {
            meta.is_file()
        };
        if meta.file_type().is_symlink() || !wanted {
            return Err(format!(
                "output `{}` at {} is not a {} written in the step's directory (a symbolic link, or the wrong type)",
                output.name,
                output.path.display(),
                if output.directory { "directory" } else { "regular file" }
            ));
        }
        // The runtime hashed each output file as the step ended; only directories are hashed here.
        let hashed = runtime_artifact(job, documents, &output.path).and_then(|i| match &documents[i].spec {
            Spec::Artifact(artifact) if !output.directory => Some(artifact.digest.clone()),
            _ => None,
        });
        let digest = match hashed {
            Some(digest) => digest,
            None => {
                super::files::content_digest(&output.path).map_err(|e| format!("output `{}`: {e:#}", output.name))?
            }
        };
        written.push(WrittenOutput {
            name: output.name.clone(),
            path: output.path.clone(),
            digest,
            artifact: None,
        });
    }
    record_outputs(job, documents, &mut written)?;
    Ok(written)
}

/// Makes the documents say what was checked here: each output file's Artifact (the runtime's)
/// gets its path in the project's terms and the digest checked here, a directory output gets
/// an Artifact of its own, and the Run lists them all.
fn record_outputs(job: &Job, documents: &mut Vec<Document>, written: &mut [WrittenOutput]) -> Result<(), String> {
    let run_id = documents.iter().find_map(|d| match &d.spec {
        Spec::Run(_) => d.metadata.id.clone(),
        _ => None,
    });
    let Some(run_id) = run_id else {
        return Err("the step recorded no Run".to_owned());
    };
    let mut listed = Vec::new();
    for output in written.iter_mut() {
        let existing = runtime_artifact(job, documents, &output.path).map(|i| &mut documents[i]);
        let path = super::files::data_path(&output.path, &job.root).map_err(|e| format!("{e:#}"))?;
        match existing {
            Some(document) => {
                if let Spec::Artifact(artifact) = &mut document.spec {
                    artifact.path = path;
                    artifact.digest = output.digest.clone();
                }
                output.artifact = document.metadata.id.clone();
                listed.extend(document.metadata.id.clone());
            }
            None => {
                let name = crate::step::record::name_part(output.name.as_str());
                let document = super::record::local_artifact(
                    &name,
                    &ObjectId::generate(),
                    &run_id,
                    &output.path,
                    path,
                    &output.digest,
                )
                .map_err(|e| format!("{e:#}"))?;
                output.artifact = document.metadata.id.clone();
                listed.extend(document.metadata.id.clone());
                documents.push(document);
            }
        }
    }
    documents.retain(|d| match &d.spec {
        Spec::Artifact(_) => d.metadata.id.as_ref().is_some_and(|id| listed.contains(id)),
        _ => true,
    });
    for document in documents.iter_mut() {
        if let Spec::Run(run) = &mut document.spec {
            run.outputs = listed.iter().cloned().map(Ref::from).collect();
            super::cache::tag_outputs(&mut run.tags, written).map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(())
}

/// The Artifact the step runtime recorded for the output file at `path` (it writes the path
/// relative to the step's directory), by index.
fn runtime_artifact(job: &Job, documents: &[Document], path: &Path) -> Option<usize> {
    documents.iter().position(|d| match &d.spec {
        Spec::Artifact(artifact) => artifact
            .path
            .path
            .as_ref()
            .is_some_and(|p| job.dir.join(p.as_str()) == path),
        _ => false,
    })
}

fn mark_failed(documents: &mut [Document], problem: &str) {
    for document in documents.iter_mut() {
        if let Spec::Run(run) = &mut document.spec {
            run.status = RunStatus::Failed;
            if let Ok(key) = Key::new("mlspec.failure") {
                run.tags.0.insert(key, problem.to_owned());
            }
        }
    }
}

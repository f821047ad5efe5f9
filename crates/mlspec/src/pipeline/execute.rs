//! One step of a pipeline, run through the step runtime: `mlspec step run` in a process of its
//! own, so that each step serves its own `/ok /varz /metrics`, its CPU and memory are its own,
//! and a signal reaches it (and its command) alone. The runtime writes the step's Run and output
//! Artifacts to a file; this module reads them back and checks the outputs the module declared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use mlspec_pipeline::param_text;
use mlspec_spec::kinds::{RunStatus, StepStatus};
use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::values::ParamValue;
use mlspec_spec::{Document, Name, ObjectId, Ref, Spec};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

/// The most bytes of a step's standard error kept for its failure message.
const STDERR_TAIL: usize = 2048;

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

/// Runs `job`, passing on any signal sent through `signals` to the step.
pub async fn execute(job: Job, mut signals: watch::Receiver<Option<Signal>>) -> anyhow::Result<Ran> {
    let record = job.dir.join("run.json");
    let exe = std::env::current_exe().context("cannot find the mlspec executable")?;
    let mut command = tokio::process::Command::new(&exe);
    if let Some(store) = job.store.as_ref().filter(|_| !job.env.contains_key(crate::env::STORE)) {
        command.env(crate::env::STORE, store);
    }
    let mut child = command
        .args(step_arguments(&job, &record))
        .envs(&job.env)
        .env("PATH", path_with(&exe))
        .current_dir(&job.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `mlspec step run`")?;
    let mut stderr = child.stderr.take();
    let tail = tokio::spawn(async move {
        match stderr.as_mut() {
            Some(stream) => read_tail(stream).await,
            None => String::new(),
        }
    });
    let mut forwarded = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.context("lost the step's process")?,
            changed = signals.changed() => {
                let signal = *signals.borrow_and_update();
                match (changed, signal, child.id()) {
                    (Ok(()), Some(signal), Some(pid)) => {
                        forwarded = Some(signal);
                        if let Ok(pid) = i32::try_from(pid) {
                            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
                        }
                    }
                    (Err(_), ..) => break child.wait().await.context("lost the step's process")?,
                    _ => {}
                }
            }
        }
    };
    let stderr = tail.await.unwrap_or_default();
    if let (Some(signal), false) = (forwarded, record.exists()) {
        // Stopped before the step runtime could record anything: nothing ran to record.
        return Ok(Ran {
            status: StepStatus::Killed,
            reason: Some(format!("stopped by {signal} as it started")),
            documents: Vec::new(),
            outputs: Vec::new(),
        });
    }
    let documents = read_record(&record).with_context(|| {
        format!(
            "step `{}` left no record (exit status {status}){}",
            job.step,
            last_lines(&stderr)
        )
    })?;
    Ok(conclude(&job, documents, &stderr))
}

/// PATH with the running mlspec's directory first: the steps of a pipeline that call `mlspec`
/// call the same one.
fn path_with(exe: &Path) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = exe.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

fn step_arguments(job: &Job, record: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "step",
        "run",
        "--name",
        job.step.as_str(),
        "--listen",
        "127.0.0.1:0",
        "--record-to",
    ]
    .map(String::from)
    .to_vec();
    args.push(record.display().to_string());
    for (flag, value) in [
        ("--run-id", job.run_id.to_string()),
        ("--module", job.module.to_string()),
        ("--parent", job.parent.to_string()),
    ] {
        args.push(flag.to_owned());
        args.push(value);
    }
    if job.cache_entry {
        args.extend(["--cache-key".to_owned(), job.cache_key.to_string()]);
    }
    for (key, value) in &job.params {
        args.push("--param".to_owned());
        args.push(format!("{key}={}", param_text(value)));
    }
    for output in job.outputs.iter().filter(|o| !o.directory) {
        args.push("--output".to_owned());
        args.push(output.path.display().to_string());
    }
    args.push("--".to_owned());
    args.extend(job.command.iter().cloned());
    args
}

async fn read_tail(stream: &mut tokio::process::ChildStderr) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..n]);
        if kept.len() > STDERR_TAIL * 2 {
            kept.drain(..kept.len() - STDERR_TAIL);
        }
    }
    let start = kept.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&kept[start..]).into_owned()
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

fn read_record(path: &Path) -> anyhow::Result<Vec<Document>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a list of documents", path.display()))
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

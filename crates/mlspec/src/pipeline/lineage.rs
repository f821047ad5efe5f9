//! A pipeline run told to an OpenLineage consumer as it happens (`--openlineage`): the
//! pipeline's run and each step's run as jobs `<pipeline>` and `<pipeline>.<step>` in the
//! project's namespace, each step's run a child of the pipeline's.

use std::path::{Path, PathBuf};

use chrono::Utc;
use mlspec_spec::ObjectId;
use mlspec_spec::newtypes::Digest;

use crate::openlineage::{Dataset, EventType, JobRun, JobType, ParentRun, Sink, dataset, run_event};

/// Where events go, and the pipeline run they belong to.
pub struct Lineage {
    sink: Sink,
    namespace: String,
    pipeline: String,
    run_id: ObjectId,
}

/// What an event says about a step.
pub struct StepEvent<'a> {
    pub step: &'a str,
    pub run_id: &'a ObjectId,
    pub inputs: &'a [(PathBuf, Digest)],
    pub outputs: &'a [(PathBuf, Option<Digest>)],
    pub cache_key: Option<&'a Digest>,
    pub module_digest: Option<&'a Digest>,
    pub error: Option<&'a str>,
}

impl Lineage {
    /// Opens `target` (a URL or an NDJSON file) for the run `run_id` of `pipeline`; events a
    /// server did not take are kept in the state directory's `openlineage-undelivered.ndjson`.
    pub fn open(target: &str, pipeline: &str, run_id: &ObjectId, root: &Path) -> anyhow::Result<Lineage> {
        let undelivered = crate::step::spool::state_dir().join("openlineage-undelivered.ndjson");
        Ok(Lineage {
            sink: Sink::open(target, Some(&undelivered))?,
            namespace: root
                .file_name()
                .map_or_else(|| "mlspec".to_owned(), |n| n.to_string_lossy().into_owned()),
            pipeline: pipeline.to_owned(),
            run_id: run_id.clone(),
        })
    }

    /// The pipeline run's START, or its end (`error` for FAIL and ABORT).
    pub async fn pipeline(&mut self, kind: EventType, error: Option<&str>) {
        let run = JobRun {
            run_id: &self.run_id,
            job_namespace: &self.namespace,
            job_name: &self.pipeline,
            job_type: JobType::Pipeline,
            parent: None,
            inputs: &[],
            outputs: &[],
            cache_key: None,
            module_digest: None,
            error,
        };
        let event = run_event(&run, kind, Utc::now());
        self.sink.emit(&event).await;
    }

    /// A step's START, COMPLETE, FAIL or ABORT.
    pub async fn step(&mut self, kind: EventType, step: &StepEvent<'_>) {
        let job = format!("{}.{}", self.pipeline, step.step);
        let inputs: Vec<Dataset> = step
            .inputs
            .iter()
            .map(|(path, digest)| dataset("", &path.to_string_lossy(), Some(digest.clone())))
            .collect();
        let outputs: Vec<Dataset> = step
            .outputs
            .iter()
            .map(|(path, digest)| dataset("", &path.to_string_lossy(), digest.clone()))
            .collect();
        let run = JobRun {
            run_id: step.run_id,
            job_namespace: &self.namespace,
            job_name: &job,
            job_type: JobType::Step,
            parent: Some(ParentRun {
                run_id: &self.run_id,
                job_name: &self.pipeline,
            }),
            inputs: &inputs,
            outputs: &outputs,
            cache_key: step.cache_key,
            module_digest: step.module_digest,
            error: step.error,
        };
        let event = run_event(&run, kind, Utc::now());
        self.sink.emit(&event).await;
    }

    /// Closes the sink, which warns about events it could not deliver.
    pub fn finish(self) {
        self.sink.finish();
    }
}

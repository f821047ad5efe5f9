//! The metadata file of a pipeline run — a WorkflowRecord: the pipeline pinned by digest, each
//! module's version and definition digest, the parameters, every input with its content digest,
//! the environment, and what each step did (its Run, command, cache key, outputs with digests,
//! times). Also the documents that register a run in the store: the pipeline's Run and an
//! Artifact for each input given as a path.

use std::collections::BTreeMap;
use std::path::Path;

use mlspec_pipeline::Plan;
use mlspec_spec::kinds::{
    ArtifactSpec, ArtifactType, Environment, OutputDigest, PackageVersion, PinnedInput, ResolvedModule, RunSpec,
    RunStatus, StepRecord, WorkflowRecordSpec,
};
use mlspec_spec::newtypes::{Key, MediaType, ShortText, Text};
use mlspec_spec::values::UniqueMap;
use mlspec_spec::{ApiVersion, Document, Metadata, Name, ObjectId, Ref, Spec};

use super::files::data_path;
use super::run::{BoundInput, Outcome};
use crate::step::record::run_document;

/// The pipeline Run as it starts.
pub fn pipeline_run(plan: &Plan, run_id: &ObjectId, pipeline: &Ref, inputs: &[Ref]) -> anyhow::Result<Document> {
    let run = RunSpec {
        pipeline: Some(pipeline.clone()),
        start_time: Some(chrono::Utc::now()),
        params: plan.params.clone(),
        inputs: inputs.to_vec(),
        ..RunSpec::with_status(RunStatus::Running)
    };
    run_document(plan.pipeline.metadata.name.as_str(), run_id, run)
}

/// The pipeline Run as it ended (its steps' Runs name it as their `parent`).
pub fn ended_run(mut started: Document, outcome: &Outcome) -> Document {
    if let Spec::Run(run) = &mut started.spec {
        run.status = outcome.status;
        run.end_time = Some(outcome.ended);
        run.signal = outcome.signal.and_then(|s| ShortText::new(s.as_str()).ok());
    }
    started
}

/// An Artifact for an input given as a path, produced (as far as the store knows) by the
/// pipeline run that read it.
pub fn input_artifact(
    name: &Key,
    input: &BoundInput,
    id: &ObjectId,
    run_id: &ObjectId,
    root: &Path,
) -> anyhow::Result<Document> {
    let name = format!("input-{}", crate::step::record::name_part(name.as_str()));
    local_artifact(
        &name,
        id,
        run_id,
        &input.path,
        data_path(&input.path, root)?,
        &input.digest,
    )
}

/// An Artifact of `run_id` for the file or directory at `path` (written as `data_path`), with
/// its digest and size.
pub fn local_artifact(
    name: &str,
    id: &ObjectId,
    run_id: &ObjectId,
    path: &Path,
    data_path: mlspec_spec::values::DataPath,
    digest: &mlspec_spec::newtypes::Digest,
) -> anyhow::Result<Document> {
    let mut metadata = Metadata::named(Name::new(name)?);
    metadata.id = Some(id.clone());
    let (size, media_type) = if path.is_dir() {
        (directory_size(path), "inode/directory")
    } else {
        (
            std::fs::metadata(path).map_or(0, |m| m.len()),
            "application/octet-stream",
        )
    };
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::Artifact(ArtifactSpec {
            run: Ref::from(run_id.clone()),
            artifact_type: ArtifactType::Data,
            path: data_path,
            digest: digest.clone(),
            size,
            media_type: MediaType::new(media_type)?,
        }),
    })
}

/// The bytes of the files below `dir` (0 when it cannot be read; its digest was taken already).
fn directory_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// What the record says about where it ran.
pub fn environment(
    variables: &BTreeMap<String, String>,
    tools: &[BTreeMap<String, String>],
) -> anyhow::Result<Environment> {
    let mut recorded = UniqueMap::default();
    for (name, value) in variables {
        recorded
            .0
            .insert(Key::new(name.as_str())?, mlspec_spec::redact::redact_env(name, value));
    }
    Ok(Environment {
        os: ShortText::new(std::env::consts::OS)?,
        arch: ShortText::new(std::env::consts::ARCH)?,
        mlspec_version: ShortText::new(env!("CARGO_PKG_VERSION"))?,
        image: None,
        packages: packages(tools)?,
        variables: recorded,
    })
}

/// The tool versions of all modules, each (name, version) once.
fn packages(tools: &[BTreeMap<String, String>]) -> anyhow::Result<Vec<PackageVersion>> {
    let mut seen = std::collections::BTreeSet::new();
    for versions in tools {
        seen.extend(versions.iter());
    }
    seen.into_iter()
        .map(|(name, version)| {
            Ok(PackageVersion {
                name: ShortText::new(name.as_str())?,
                version: ShortText::new(version.as_str())?,
            })
        })
        .collect()
}

/// The WorkflowRecord of a run.
pub fn workflow_record(
    plan: &Plan,
    pipeline: Ref,
    inputs: &BTreeMap<Key, (Ref, BoundInput)>,
    outcome: &Outcome,
    environment: Environment,
    root: &Path,
) -> anyhow::Result<Document> {
    let modules = plan
        .modules
        .iter()
        .map(|m| ResolvedModule {
            module: m.reference(),
            version: m.spec().version.clone(),
            digest: m.digest.clone(),
        })
        .collect();
    let pinned = inputs
        .iter()
        .map(|(name, (source, input))| PinnedInput {
            name: name.clone(),
            source: source.clone(),
            digest: input.digest.clone(),
        })
        .collect();
    let mut steps = Vec::with_capacity(plan.steps.len());
    for (i, result) in outcome.steps.iter().enumerate() {
        let outputs = result
            .outputs
            .iter()
            .map(|o| {
                Ok(OutputDigest {
                    name: o.name.clone(),
                    digest: o.digest.clone(),
                    path: Some(data_path(&o.path, root)?),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        steps.push(StepRecord {
            name: plan.steps[i].name.clone(),
            status: result.status,
            reason: result.reason.as_deref().map(reason_text).transpose()?,
            run: result.run.clone().map(Ref::from),
            module: plan.module_of(i).reference(),
            command: mlspec_spec::redact::redact_args(&result.command),
            cache_key: result.cache_key.clone(),
            cached_from: result.cached_from.clone().map(Ref::from),
            outputs,
            started_at: result.started,
            finished_at: result.finished,
        });
    }
    let spec = WorkflowRecordSpec {
        pipeline,
        run: Some(Ref::from(outcome.run_id.clone())),
        modules,
        params: plan.params.clone(),
        inputs: pinned,
        environment,
        steps,
    };
    let name = crate::step::record::run_name(plan.pipeline.metadata.name.as_str(), &outcome.run_id)?;
    let mut metadata = Metadata::named(name);
    metadata.id = Some(ObjectId::generate());
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::WorkflowRecord(spec),
    })
}

/// A reason as the record's text type allows (long stderr tails are cut).
fn reason_text(reason: &str) -> anyhow::Result<Text> {
    let cut: String = reason.chars().take(2000).collect();
    Ok(Text::new(cut)?)
}

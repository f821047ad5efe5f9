//! Running pipelines on one machine: a Pipeline and its Modules loaded and checked into a plan
//! ([`load`]), its steps run in parallel through the step runtime ([`execute`], [`run`]),
//! answered from a content-addressed cache when the store holds a reusable run ([`cache`]), and
//! the whole written down as a WorkflowRecord ([`record`]) from which `mlspec recreate` runs it
//! again and compares every output's digest.

mod cache;
mod execute;
pub mod files;
mod lineage;
mod live;
pub mod load;
mod progress;
pub mod record;
pub mod recreate;
pub mod run;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mlspec_pipeline::{ModuleVersion, Plan, Request, Source, definition_digest};
use mlspec_spec::newtypes::Key;
use mlspec_spec::{Document, Kind, ObjectId, Ref, Spec};
use mlspec_store::{Selector, Store};

use self::run::{BoundInput, Inputs, Options, Outcome};
use crate::openlineage::EventType;

/// One `pipeline run` as asked for.
pub struct RunRequest {
    pub pipeline: String,
    pub files: Vec<String>,
    pub params: BTreeMap<Key, String>,
    /// `--input NAME=PATH|REF`.
    pub inputs: BTreeMap<Key, String>,
    pub options: Options,
}

/// A run that ended, with its record.
pub struct Finished {
    pub outcome: Outcome,
    pub record: Document,
}

/// Loads, checks, registers and runs a pipeline, and records the result.
pub async fn run_pipeline(request: &RunRequest, store: &dyn Store) -> anyhow::Result<Finished> {
    let definitions = load::definitions(&request.pipeline, &request.files, Some(store)).await?;
    let modules = load::resolve_modules(&definitions.pipeline, &definitions.modules, Some(store)).await?;
    let root = files::project_root()?;
    let mut given = BTreeMap::new();
    for (name, text) in &request.inputs {
        let bound = bind(text, store, &root)
            .await
            .with_context(|| format!("--input {name}={text}"))?;
        given.insert(name.clone(), bound);
    }
    let plan_request = Request {
        params: request.params.clone(),
        inputs: given.keys().cloned().collect(),
    };
    let plan = load::plan(&definitions, &modules, &plan_request)?;
    let pipeline_ref = register_definitions(&definitions, &modules, store).await?;
    execute(&plan, given, pipeline_ref, &request.options, store).await
}

/// Runs a checked plan with its inputs bound: records the pipeline's Run (and an Artifact for
/// each input given as a path), runs the steps, and records the Run's end and the
/// WorkflowRecord.
pub async fn execute(
    plan: &Plan,
    given: BTreeMap<Key, (Option<Ref>, BoundInput)>,
    pipeline_ref: Ref,
    options: &Options,
    store: &dyn Store,
) -> anyhow::Result<Finished> {
    let root = files::project_root()?;
    let references = bind_references(plan, store, &root).await?;
    let tool_versions = tools::versions(plan).await?;
    let run_id = ObjectId::generate();
    let mut pinned = BTreeMap::new();
    let mut registered = Vec::new();
    for (name, (source, mut input)) in given {
        let source = match source {
            Some(reference) => reference,
            None => {
                let id = ObjectId::generate();
                registered.push(record::input_artifact(&name, &input, &id, &run_id, &root)?);
                let reference = Ref::from(id);
                input.document = Some(reference.clone());
                reference
            }
        };
        pinned.insert(name, (source, input));
    }
    let input_refs: Vec<Ref> = pinned
        .values()
        .filter_map(|(_, input)| input.document.clone())
        .collect();
    let started = record::pipeline_run(plan, &run_id, &pipeline_ref, &input_refs)?;
    let mut documents = vec![started.clone()];
    documents.extend(registered);
    store
        .apply(&documents, &crate::store::actor())
        .await
        .context("the pipeline's Run could not be recorded; nothing was run")?;
    let inputs = Inputs {
        pipeline: pinned.iter().map(|(k, (_, i))| (k.clone(), i.clone())).collect(),
        references,
        tools: tool_versions,
    };
    let mut lineage = match &options.openlineage {
        Some(target) => Some(lineage::Lineage::open(
            target,
            plan.pipeline.metadata.name.as_str(),
            &run_id,
            &root,
        )?),
        None => None,
    };
    if let Some(lineage) = lineage.as_mut() {
        lineage.pipeline(EventType::Start, None).await;
    }
    let mut outcome = run::run(
        plan,
        &inputs,
        store,
        options,
        (run_id, started.clone()),
        lineage.as_mut(),
    )
    .await?;
    if let Some(mut lineage) = lineage {
        let (kind, error) = match outcome.status {
            mlspec_spec::kinds::RunStatus::Finished => (EventType::Complete, None),
            mlspec_spec::kinds::RunStatus::Killed => (EventType::Abort, Some("the pipeline was stopped by a signal")),
            _ => (EventType::Fail, Some("a step did not finish")),
        };
        lineage.pipeline(kind, error).await;
        lineage.finish();
    }
    let environment = record::environment(&options.env, &inputs.tools)?;
    let workflow = record::workflow_record(plan, pipeline_ref, &pinned, &outcome, environment, &root)?;
    let mut ending = std::mem::take(&mut outcome.cached_runs);
    ending.extend([record::ended_run(started, &outcome), workflow.clone()]);
    store
        .apply(&ending, &crate::store::actor())
        .await
        .context("the pipeline's Run, its cached steps' Runs and its WorkflowRecord could not be recorded")?;
    Ok(Finished {
        outcome,
        record: workflow,
    })
}

/// A pipeline input: a path (file or directory) as it is now, or a stored Artifact whose file
/// still has its recorded digest. The reference is returned when it was one.
async fn bind(text: &str, store: &dyn Store, root: &Path) -> anyhow::Result<(Option<Ref>, BoundInput)> {
    let path = Path::new(text);
    if path.exists() {
        let path = files::absolute(path)?;
        let digest = files::content_digest(&path)?;
        return Ok((
            None,
            BoundInput {
                path,
                digest,
                document: None,
            },
        ));
    }
    let reference: Ref = text.parse().map_err(|e| {
        anyhow::anyhow!("no such file, and not a reference to a stored Artifact or Dataset version: {e}")
    })?;
    let input = stored_input(&reference, store, root).await?;
    Ok((Some(reference), input))
}

/// The file of a stored Artifact or Dataset version, checked against its recorded digest; the
/// reference a step's Run records for it (a Dataset's with its version).
pub async fn stored_input(reference: &Ref, store: &dyn Store, root: &Path) -> anyhow::Result<BoundInput> {
    let stored = store.get(&Selector::from(reference)).await?;
    let (data_path, recorded, recorded_as) = match &stored.document.spec {
        Spec::Artifact(artifact) => (
            &artifact.path,
            Some(&artifact.digest),
            stored.document.metadata.id.clone().map(Ref::from),
        ),
        Spec::Dataset(dataset) => {
            let wanted = stored.version.as_ref().map(|v| &v.version);
            let Some(version) = dataset
                .versions
                .iter()
                .rev()
                .find(|v| wanted.is_none_or(|w| *w == v.version))
            else {
                bail!("{reference} has no version to read");
            };
            let named = Ref {
                target: mlspec_spec::RefTarget::Named {
                    kind: Kind::Dataset,
                    name: stored.document.metadata.name.clone(),
                    version: Some(version.version.clone()),
                },
                digest: None,
            };
            (&version.definition, version.digest.as_ref(), Some(named))
        }
        _ => bail!(
            "{reference} is a {}; a step reads a stored Artifact or Dataset version (a file with its digest)",
            stored.document.kind()
        ),
    };
    let path = files::resolve(data_path, root)?;
    let digest = files::content_digest(&path)?;
    match recorded {
        Some(recorded) if *recorded != digest => bail!(
            "the file of {reference} at {} has changed: recorded {recorded}, now {digest}",
            path.display()
        ),
        _ => Ok(BoundInput {
            path,
            digest,
            document: recorded_as,
        }),
    }
}

/// The stored documents steps bind directly.
async fn bind_references(plan: &Plan, store: &dyn Store, root: &Path) -> anyhow::Result<BTreeMap<Ref, BoundInput>> {
    let mut bound = BTreeMap::new();
    for step in &plan.steps {
        for source in step.inputs.values() {
            if let Source::Reference(reference) = source
                && !bound.contains_key(reference)
            {
                let input = stored_input(reference, store, root)
                    .await
                    .with_context(|| format!("step `{}`: input {reference}", step.name))?;
                bound.insert(reference.clone(), input);
            }
        }
    }
    Ok(bound)
}

/// Records the pipeline (when it came from a file) and the modules given as files; a module
/// version already stored with another definition is refused — a version names one definition.
/// The pipeline's reference, pinned to the stored document's digest.
async fn register_definitions(
    definitions: &load::Definitions,
    modules: &[ModuleVersion],
    store: &dyn Store,
) -> anyhow::Result<Ref> {
    let mut documents = Vec::new();
    for module in modules.iter().filter(|m| m.document.metadata.id.is_none()) {
        match store.get(&Selector::from(&module.reference())).await {
            Ok(stored) if definition_digest(&stored.document) != module.digest => bail!(
                "{} in the files differs from the stored version of that name; give the changed module a new version",
                module.reference()
            ),
            Ok(_) => {}
            Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => documents.push(module.document.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    if definitions.file.is_some() {
        documents.push(definitions.pipeline.clone());
    }
    if !documents.is_empty() {
        store
            .apply(&documents, &crate::store::actor())
            .await
            .context("the pipeline and its modules could not be recorded; nothing was run")?;
    }
    let name = &definitions.pipeline.metadata.name;
    let stored = store
        .get(&Selector::Name {
            kind: Kind::Pipeline,
            name: name.clone(),
            version: None,
        })
        .await?;
    Ok(Ref {
        digest: Some(mlspec_store::content_digest(&stored.document)?),
        ..Ref::named(Kind::Pipeline, name.clone())
    })
}

/// `--workdir`, or the project's default.
pub fn workdir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    files::absolute(&given.unwrap_or_else(files::default_workdir))
}

/// The runtime pipelines run on: two workers keep the scheduler and the steps' output readers
/// responsive.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The store as the steps' own mlspec commands should open it: the URL given, or the project's
/// SQLite file found from here (a step runs in a directory of its own, where it might find
/// none).
pub fn store_for_steps(choice: &crate::store::StoreChoice) -> Option<String> {
    match choice.location() {
        Ok(mlspec_store::Location::Sqlite(path)) => Some(format!("sqlite:{}", path.display())),
        _ => choice.url.clone(),
    }
}

/// The number of cores, the default for `--jobs`.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

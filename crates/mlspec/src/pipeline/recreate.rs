//! Recreating a workflow from its metadata file: the pipeline found by its pinned digest, each
//! module by version with its definition digest unchanged, each input's content unchanged —
//! every departure named and refused — then every step run again, ignoring the cache, and each
//! output's digest compared with the recorded one.

use std::collections::BTreeMap;

use mlspec_pipeline::{ModuleVersion, Request, definition_digest, param_text};
use mlspec_spec::kinds::{StepStatus, WorkflowRecordSpec};
use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::{Document, Kind, Name, Ref, RefTarget};
use mlspec_store::{Selector, Store};

use super::run::Options;
use super::{Finished, files, load, stored_input};

/// An output of the record, compared.
pub struct Comparison {
    pub step: Name,
    pub output: Key,
    pub recorded: Digest,
    /// The digest the new run wrote; `None` when the step did not write it.
    pub now: Option<Digest>,
}

impl Comparison {
    pub fn same(&self) -> bool {
        self.now.as_ref() == Some(&self.recorded)
    }
}

/// What recreating came to.
pub enum Recreation {
    /// The record cannot be recreated as it stands: each reason.
    Refused(Vec<String>),
    /// The run, and each recorded output compared.
    Ran(Box<Finished>, Vec<Comparison>),
}

/// Recreates `record` (a WorkflowRecord).
pub async fn recreate(record: &Document, options: &Options, store: &dyn Store) -> anyhow::Result<Recreation> {
    let mlspec_spec::Spec::WorkflowRecord(spec) = &record.spec else {
        anyhow::bail!("{} is a {}, not a WorkflowRecord", record.metadata.name, record.kind());
    };
    let root = files::project_root()?;
    let mut refused = Vec::new();
    let pipeline = pinned_pipeline(&spec.pipeline, store)
        .await
        .map_err(|e| refused.push(e))
        .ok();
    let modules = recorded_modules(spec, store, &mut refused).await;
    let mut given = BTreeMap::new();
    for input in &spec.inputs {
        match stored_input(&input.source, store, &root).await {
            Ok(bound) if bound.digest == input.digest => {
                given.insert(input.name.clone(), (Some(input.source.clone()), bound));
            }
            Ok(bound) => refused.push(format!(
                "input `{}` ({}): recorded {}, now {}",
                input.name, input.source, input.digest, bound.digest
            )),
            Err(error) => refused.push(format!("input `{}`: {error:#}", input.name)),
        }
    }
    let Some(pipeline) = pipeline.filter(|_| refused.is_empty()) else {
        return Ok(Recreation::Refused(refused));
    };
    let request = Request {
        params: spec.params.iter().map(|(k, v)| (k.clone(), param_text(v))).collect(),
        inputs: given.keys().cloned().collect(),
    };
    let definitions = load::Definitions {
        pipeline,
        file: None,
        modules: Vec::new(),
    };
    let plan = load::plan(&definitions, &modules, &request)?;
    let options = Options {
        known_artifacts: recorded_artifacts(spec, store).await?,
        ..options.clone()
    };
    let finished = super::execute(&plan, given, spec.pipeline.clone(), &options, store).await?;
    let comparisons = compare(spec, &plan, &finished);
    Ok(Recreation::Ran(Box::new(finished), comparisons))
}

/// The stored pipeline whose digest is the pinned one: the current version, or an earlier one
/// from its history.
async fn pinned_pipeline(pinned: &Ref, store: &dyn Store) -> Result<Document, String> {
    let (RefTarget::Named { name, .. }, Some(digest)) = (&pinned.target, &pinned.digest) else {
        return Err(format!(
            "the record's pipeline {pinned} is not pinned by name and digest"
        ));
    };
    let selector = Selector::Name {
        kind: Kind::Pipeline,
        name: name.clone(),
        version: None,
    };
    let current = store
        .get(&selector)
        .await
        .map_err(|e| format!("pipeline {pinned}: {e}"))?;
    if mlspec_store::content_digest(&current.document).ok().as_ref() == Some(digest) {
        return Ok(current.document);
    }
    let history = store
        .history(&Selector::Id(current.summary.id.parse().map_err(|_| {
            format!("pipeline {pinned}: the store returned a malformed id")
        })?))
        .await
        .map_err(|e| format!("pipeline {pinned}: {e}"))?;
    history
        .into_iter()
        .filter_map(|event| serde_json::from_value::<Document>(event.document).ok())
        .find(|document| mlspec_store::content_digest(document).ok().as_ref() == Some(digest))
        .ok_or_else(|| format!("pipeline {pinned}: no version of Pipeline/{name} in the store has that digest"))
}

/// Each recorded module version as stored, refused when its definition changed.
async fn recorded_modules(
    spec: &WorkflowRecordSpec,
    store: &dyn Store,
    refused: &mut Vec<String>,
) -> Vec<ModuleVersion> {
    let mut modules = Vec::new();
    for recorded in &spec.modules {
        match store.get(&Selector::from(&recorded.module)).await {
            Ok(stored) if definition_digest(&stored.document) == recorded.digest => {
                match ModuleVersion::new(stored.document) {
                    Ok(module) => modules.push(module),
                    Err(error) => refused.push(format!("module {}: {error}", recorded.module)),
                }
            }
            Ok(stored) => refused.push(format!(
                "module {} changed: recorded {}, now {}",
                recorded.module,
                recorded.digest,
                definition_digest(&stored.document)
            )),
            Err(error) => refused.push(format!("module {}: {error}", recorded.module)),
        }
    }
    modules
}

/// The Artifacts that recorded each output of the record's steps, by digest (from the step
/// Runs' output tags).
async fn recorded_artifacts(
    spec: &WorkflowRecordSpec,
    store: &dyn Store,
) -> anyhow::Result<BTreeMap<Digest, mlspec_spec::ObjectId>> {
    let mut known = BTreeMap::new();
    for step in &spec.steps {
        let Some(run) = &step.run else { continue };
        let Ok(stored) = store.get(&Selector::from(run)).await else {
            continue;
        };
        let mlspec_spec::Spec::Run(run) = &stored.document.spec else {
            continue;
        };
        for output in &step.outputs {
            let tag = format!("mlspec.output.{}.artifact", output.name);
            if let Some(id) = run
                .tags
                .iter()
                .find(|(k, _)| k.as_str() == tag)
                .and_then(|(_, v)| v.parse().ok())
            {
                known.insert(output.digest.clone(), id);
            }
        }
    }
    Ok(known)
}

fn compare(spec: &WorkflowRecordSpec, plan: &mlspec_pipeline::Plan, finished: &Finished) -> Vec<Comparison> {
    let mut comparisons = Vec::new();
    for recorded in &spec.steps {
        let result = plan
            .steps
            .iter()
            .position(|s| s.name == recorded.name)
            .and_then(|i| finished.outcome.steps.get(i))
            .filter(|r| r.status == StepStatus::Finished);
        for output in &recorded.outputs {
            let now = result
                .and_then(|r| r.outputs.iter().find(|o| o.name == output.name))
                .map(|o| o.digest.clone());
            comparisons.push(Comparison {
                step: recorded.name.clone(),
                output: output.name.clone(),
                recorded: output.digest.clone(),
                now,
            });
        }
    }
    comparisons
}

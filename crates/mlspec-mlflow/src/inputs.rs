//! A run's inputs and outputs: `log_input` datasets become Dataset versions the Run reads, and
//! `log_outputs` logged models become the Run's outputs — both lineage edges.
//!
//! An MLflow dataset is identified by its name and digest. Its Dataset document is named from
//! the name ([`crate::naming`]); each digest is a version of it. A version's `definition` is
//! the source as MLflow describes it: datastore `mlflow-<source type>` and the source JSON as
//! its query; the schema and profile JSON are kept in the version's `notes`. The run keeps the
//! inputs exactly as MLflow sent them (with their context tags) in its reserved tag
//! `mlspec.inputs`, which answers `runs/get` without reading the datasets.

use axum::Json;
use axum::extract::State;
use mlspec_spec::kinds::{DatasetSpec, DatasetVersion, RunSpec};
use mlspec_spec::newtypes::Text;
use mlspec_spec::reference::RefTarget;
use mlspec_spec::values::DataPath;
use mlspec_spec::{Document, Kind, Metadata, Name, Ref, Spec, Version};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{MlflowError, Result};
use crate::naming::{candidate_names, hashed_name, object_id};
use crate::runs::{INPUTS_TAG, OUTPUTS_TAG, Run, reserved_list, set_reserved, update};
use crate::state::MlflowState;
use crate::wire::{Body, Int64, KeyValue, run_id_of};
use crate::{AppState, limits};

/// An MLflow dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MlflowDataset {
    name: String,
    digest: String,
    #[serde(default)]
    source_type: String,
    #[serde(default)]
    source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
}

/// A dataset with the tags of its use (`mlflow.data.context`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInput {
    #[serde(default)]
    tags: Vec<KeyValue>,
    dataset: MlflowDataset,
}

#[derive(Deserialize)]
pub(crate) struct LogInputsRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(default)]
    datasets: Vec<DatasetInput>,
}

fn check(dataset: &MlflowDataset) -> Result<()> {
    limits::text(&dataset.name, limits::DATASET_NAME, "Dataset name")?;
    limits::text(&dataset.digest, limits::DATASET_DIGEST, "Dataset digest")?;
    limits::text(&dataset.source, limits::DATASET_SOURCE, "Dataset source")?;
    for text in [&dataset.schema, &dataset.profile].into_iter().flatten() {
        limits::text(text, limits::DATASET_SOURCE, "Dataset schema or profile")?;
    }
    if dataset.name.is_empty() || dataset.digest.is_empty() {
        return Err(MlflowError::invalid("a dataset needs a `name` and a `digest`"));
    }
    Ok(())
}

fn version_of(digest: &str) -> Result<Version> {
    Version::new(digest)
        .ok()
        .or_else(|| hashed_name(digest).and_then(|n| Version::new(n.as_str()).ok()))
        .ok_or_else(|| MlflowError::invalid(format!("dataset digest `{digest}` cannot be a version")))
}

fn dataset_name(dataset: &MlflowDataset) -> Result<Name> {
    candidate_names(&dataset.name)
        .into_iter()
        .next()
        .ok_or_else(|| MlflowError::invalid(format!("dataset name `{}` cannot be a name", dataset.name)))
}

fn text(value: &str) -> Result<Text> {
    Text::new(value).map_err(|e| MlflowError::invalid(e.to_string()))
}

fn new_version(dataset: &MlflowDataset) -> Result<DatasetVersion> {
    let source_type = Name::sanitized_text(&dataset.source_type, 40);
    let datastore = Name::new(format!(
        "mlflow-{}",
        if source_type.is_empty() { "source" } else { &source_type }
    ))
    .map_err(|e| MlflowError::invalid(e.to_string()))?;
    let notes = json!({"schema": dataset.schema, "profile": dataset.profile}).to_string();
    Ok(DatasetVersion {
        version: version_of(&dataset.digest)?,
        status: Default::default(),
        definition: DataPath {
            datastore,
            path: None,
            table: None,
            query: Some(text(if dataset.source.is_empty() {
                "{}"
            } else {
                &dataset.source
            })?),
        },
        digest: None,
        rows: None,
        bytes: None,
        profile: None,
        schema: None,
        produced_by: None,
        checkpoints: Vec::new(),
        views: Vec::new(),
        created_at: Some(chrono::Utc::now()),
        created_by: None,
        notes: Some(text(&notes)?),
    })
}

/// The Dataset document holding `dataset`'s version: `None` when it is stored already.
async fn dataset_document(state: &MlflowState, dataset: &MlflowDataset) -> Result<Option<Document>> {
    let name = dataset_name(dataset)?;
    let version = new_version(dataset)?;
    let Some(stored) = state.named(Kind::Dataset, &name).await? else {
        return Ok(Some(Document {
            api_version: Default::default(),
            metadata: Metadata::named(name),
            spec: Spec::Dataset(DatasetSpec {
                versions: vec![version],
                current: None,
            }),
        }));
    };
    let mut document = stored.document;
    let Spec::Dataset(spec) = &mut document.spec else {
        return Err(MlflowError::internal("a Dataset's document has another kind's spec"));
    };
    if spec.versions.iter().any(|v| v.version == version.version) {
        return Ok(None);
    }
    spec.versions.push(version);
    Ok(Some(document))
}

/// Adds the inputs to the run: a reference to each dataset version, and the MLflow form.
fn add_inputs(spec: &mut RunSpec, inputs: &[DatasetInput]) -> Result<()> {
    let mut recorded: Vec<DatasetInput> = reserved_list(spec, INPUTS_TAG);
    for input in inputs {
        let reference = Ref {
            target: RefTarget::Named {
                kind: Kind::Dataset,
                name: dataset_name(&input.dataset)?,
                version: Some(version_of(&input.dataset.digest)?),
            },
            digest: None,
        };
        if !spec.inputs.contains(&reference) {
            spec.inputs.push(reference);
        }
        let same = |r: &DatasetInput| r.dataset.name == input.dataset.name && r.dataset.digest == input.dataset.digest;
        recorded.retain(|r| !same(r));
        recorded.push(input.clone());
    }
    let json = serde_json::to_string(&recorded).map_err(|e| MlflowError::internal(e.to_string()))?;
    set_reserved(spec, INPUTS_TAG, json)
}

pub(crate) async fn log_inputs(State(state): AppState, Body(r): Body<LogInputsRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    for input in &r.datasets {
        check(&input.dataset)?;
        for tag in &input.tags {
            limits::key(&tag.key, "tag")?;
            limits::tag_value(&tag.value)?;
        }
    }
    Run::load(&state, &id).await?;
    let _catalog = state.lock_catalog().await;
    let mut datasets: Vec<Document> = Vec::new();
    for input in &r.datasets {
        let name = dataset_name(&input.dataset)?;
        let pending = datasets.iter_mut().find(|d| d.metadata.name == name);
        match pending {
            Some(Document {
                spec: Spec::Dataset(spec),
                ..
            }) => {
                let version = new_version(&input.dataset)?;
                if spec.versions.iter().all(|v| v.version != version.version) {
                    spec.versions.push(version);
                }
            }
            _ => datasets.extend(dataset_document(&state, &input.dataset).await?),
        }
    }
    update(&state, &id, |spec| {
        add_inputs(spec, &r.datasets)?;
        Ok(datasets)
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ModelOutput {
    model_id: String,
    #[serde(default)]
    step: Int64,
}

#[derive(Deserialize)]
pub(crate) struct LogOutputsRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(default)]
    models: Vec<ModelOutput>,
}

pub(crate) async fn log_outputs(State(state): AppState, Body(r): Body<LogOutputsRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    for model in &r.models {
        state.object(Kind::Artifact, &model.model_id, "Logged model").await?;
    }
    update(&state, &id, |spec| {
        let mut recorded: Vec<ModelOutput> = reserved_list(spec, OUTPUTS_TAG);
        for model in &r.models {
            let reference = Ref::from(object_id(&model.model_id, "Logged model")?);
            if !spec.outputs.contains(&reference) {
                spec.outputs.push(reference);
            }
            recorded.retain(|m| m.model_id != model.model_id);
            recorded.push(model.clone());
        }
        let json = serde_json::to_string(&recorded).map_err(|e| MlflowError::internal(e.to_string()))?;
        set_reserved(spec, OUTPUTS_TAG, json)?;
        Ok(Vec::new())
    })
    .await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(name: &str, digest: &str) -> MlflowDataset {
        MlflowDataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: r#"{"uri": "file:///data/train.csv"}"#.into(),
            schema: Some("{}".into()),
            profile: None,
        }
    }

    #[test]
    fn a_digest_is_a_version_and_the_source_its_definition() {
        let version = new_version(&dataset("train", "b064d295")).unwrap();
        assert_eq!(version.version.as_str(), "b064d295");
        assert_eq!(version.definition.datastore.as_str(), "mlflow-local");
        assert!(version.definition.query.unwrap().as_str().contains("train.csv"));
        assert!(version_of("sha:!!").is_ok());
    }

    #[test]
    fn inputs_are_referenced_once() {
        let mut spec = RunSpec::with_status(mlspec_spec::kinds::RunStatus::Running);
        let input = DatasetInput {
            tags: vec![],
            dataset: dataset("train", "b064d295"),
        };
        add_inputs(&mut spec, std::slice::from_ref(&input)).unwrap();
        add_inputs(&mut spec, &[input]).unwrap();
        assert_eq!(spec.inputs.len(), 1);
        assert_eq!(spec.inputs[0].to_string(), "Dataset/train@b064d295");
    }

    #[test]
    fn oversized_datasets_are_400s() {
        let mut big = dataset("train", "d");
        big.digest = "d".repeat(37);
        assert!(check(&big).is_err());
    }
}

//! MLflow 3's logged models as Artifact documents of type model.
//!
//! `mlflow.<flavor>.log_model` creates a logged model (`m-` and 32 hex digits), uploads its
//! files under `<experiment>/models/<id>/artifacts/`, then marks it READY. Here the model is
//! an Artifact of its source run, named and identified by its id, whose path is that directory;
//! when it becomes READY its `digest` is the SHA-256 of its file manifest (each file's path and
//! digest, in path order) and its `size` the files' total — so the document pins exactly what
//! was uploaded. Labels `mlflow.org/experiment-id`, `mlflow.org/type: logged-model` and
//! `mlflow.org/model-status` make it searchable; what the spec has no field for (the model's
//! MLflow name, type, params and tags) is kept as JSON in `metadata.description`.
//!
//! A logged model needs a source run (MLSpec artifacts are produced by runs): creating one
//! without `source_run_id` is a 400.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use mlspec_spec::kinds::{ArtifactSpec, ArtifactType};
use mlspec_spec::newtypes::{Description, Digest};
use mlspec_spec::{Document, Kind, Name, ObjectId, Spec, Status};
use mlspec_store::{ListQuery, StoredObject};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::artifacts::{Written, artifact_document, digest_file};
use crate::error::{MlflowError, Result};
use crate::filter::{Entity, OrderBy, Subject, Value as FilterValue, page, paged, parse_filter};
use crate::naming::{millis, millis_of_text, new_model_id};
use crate::runs::{EXPERIMENT_LABEL, Run, label_key, label_value};
use crate::state::MlflowState;
use crate::wire::{Body, Int64, KeyValue};
use crate::{AppState, limits};

const TYPE_LABEL: &str = "mlflow.org/type";
const TYPE_VALUE: &str = "logged-model";
const STATUS_LABEL: &str = "mlflow.org/model-status";
const PENDING: &str = "LOGGED_MODEL_PENDING";
const READY: &str = "LOGGED_MODEL_READY";
const FAILED: &str = "LOGGED_MODEL_UPLOAD_FAILED";

/// What the Artifact spec has no field for, kept in `metadata.description`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Extras {
    name: String,
    #[serde(default)]
    model_type: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// A logged model as stored.
pub struct LoggedModel {
    stored: StoredObject,
    extras: Extras,
}

impl LoggedModel {
    /// The logged model with `id`, or a 404.
    pub async fn load(state: &MlflowState, id: &str) -> Result<LoggedModel> {
        let stored = state.object(Kind::Artifact, id, "Logged model").await?;
        Self::from_stored(stored)
    }

    fn from_stored(stored: StoredObject) -> Result<LoggedModel> {
        let extras = stored
            .document
            .metadata
            .description
            .as_ref()
            .and_then(|d| serde_json::from_str(d.as_str()).ok())
            .ok_or_else(|| MlflowError::not_found(format!("Logged model with id={} not found", stored.summary.id)))?;
        Ok(LoggedModel { stored, extras })
    }

    fn label(&self, key: &str) -> &str {
        crate::naming::label(&self.stored.document.metadata.labels, key).unwrap_or("")
    }

    fn spec(&self) -> Option<&ArtifactSpec> {
        match &self.stored.document.spec {
            Spec::Artifact(spec) => Some(spec),
            _ => None,
        }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.stored.summary.id
    }

    /// Its directory under the artifact root.
    pub fn directory(&self) -> String {
        self.spec()
            .and_then(|s| s.path.path.as_ref())
            .map_or_else(String::new, |p| p.as_str().to_owned())
    }

    /// Where its files are, as the client sees it.
    pub fn artifact_uri(&self) -> String {
        format!("mlflow-artifacts:/{}", self.directory())
    }

    /// The run that produced it.
    pub fn source_run_id(&self) -> String {
        self.spec().map_or_else(String::new, |s| s.run.to_string())
    }

    fn to_json(&self) -> Value {
        let tags: Vec<Value> = self
            .extras
            .tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let params: Vec<Value> = self
            .extras
            .params
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        json!({
            "info": {
                "model_id": self.id(),
                "experiment_id": self.label(EXPERIMENT_LABEL),
                "name": self.extras.name,
                "creation_timestamp_ms": self.stored.document.metadata.created_at.as_ref().map_or(0, millis),
                "last_updated_timestamp_ms": millis_of_text(&self.stored.summary.updated_at),
                "artifact_uri": self.artifact_uri(),
                "status": self.label(STATUS_LABEL),
                "model_type": self.extras.model_type,
                "source_run_id": self.source_run_id(),
                "tags": tags,
            },
            "data": {"params": params},
        })
    }
}

impl Subject for LoggedModel {
    fn values(&self, entity: Entity, key: &str) -> Vec<FilterValue> {
        let value = match (entity, key) {
            (Entity::Attribute, "name") => Some(FilterValue::text(&self.extras.name)),
            (Entity::Attribute, "model_id") => Some(FilterValue::text(self.id())),
            (Entity::Attribute, "status") => Some(FilterValue::text(self.label(STATUS_LABEL))),
            (Entity::Attribute, "model_type") => Some(FilterValue::text(&self.extras.model_type)),
            (Entity::Attribute, "source_run_id") => Some(FilterValue::Text(self.source_run_id())),
            (Entity::Attribute, "creation_timestamp" | "creation_time") => Some(FilterValue::Num(
                self.stored.document.metadata.created_at.as_ref().map_or(0, millis) as f64,
            )),
            (Entity::Tag, key) => self.extras.tags.get(key).map(|v| FilterValue::text(v)),
            (Entity::Param, key) => self.extras.params.get(key).map(|v| FilterValue::text(v)),
            _ => None,
        };
        value.into_iter().collect()
    }
}

fn description(extras: &Extras) -> Result<Description> {
    let json = serde_json::to_string(extras).map_err(|e| MlflowError::internal(e.to_string()))?;
    Description::new(json)
        .map_err(|_| MlflowError::invalid("the logged model's name, params and tags exceed 32768 characters together"))
}

fn set_label(document: &mut Document, key: &str, value: &str) -> Result<()> {
    document.metadata.labels.0.insert(label_key(key)?, label_value(value)?);
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    experiment_id: Option<String>,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

fn pairs(items: &[KeyValue], what: &str, max: usize) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| {
            limits::key(&kv.key, what)?;
            limits::text(&kv.value, max, what)?;
            Ok((kv.key.clone(), kv.value.clone()))
        })
        .collect()
}

pub(crate) async fn create(State(state): AppState, Body(r): Body<CreateRequest>) -> Result<Json<Value>> {
    let run_id = r.source_run_id.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| {
        MlflowError::invalid("a logged model needs `source_run_id`: MLSpec records a model as an artifact of the run that produced it; log it inside a run")
    })?;
    let run = Run::load(&state, run_id).await?;
    let experiment_id = r
        .experiment_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| run.experiment_id().to_owned());
    crate::experiments::get(&state, &experiment_id).await?;
    let id = new_model_id();
    let extras = Extras {
        name: r
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "model".to_owned()),
        model_type: r.model_type.clone().unwrap_or_default(),
        params: pairs(&r.params, "param", limits::PARAM_VALUE)?,
        tags: pairs(&r.tags, "tag", limits::TAG_VALUE)?,
    };
    let directory = format!("{experiment_id}/models/{id}/artifacts");
    let nothing = Written {
        digest: manifest_digest(&[]),
        size: 0,
    };
    let name = Name::new(id.as_str()).map_err(|e| MlflowError::internal(e.to_string()))?;
    let mut document = artifact_document(
        name,
        run.id(),
        &directory,
        &nothing,
        "application/x-mlflow-model",
        ArtifactType::Model,
    )?;
    document.metadata.id = Some(ObjectId::new(id.as_str()).map_err(|e| MlflowError::internal(e.to_string()))?);
    document.metadata.description = Some(description(&extras)?);
    set_label(&mut document, EXPERIMENT_LABEL, &experiment_id)?;
    set_label(&mut document, TYPE_LABEL, TYPE_VALUE)?;
    set_label(&mut document, STATUS_LABEL, PENDING)?;
    crate::artifacts::ensure_datastore(&state).await?;
    state.save(&[document]).await?;
    let model = LoggedModel::load(&state, &id).await?;
    Ok(Json(json!({"model": model.to_json()})))
}

pub(crate) async fn get(State(state): AppState, UrlPath(id): UrlPath<String>) -> Result<Json<Value>> {
    let model = LoggedModel::load(&state, &id).await?;
    Ok(Json(json!({"model": model.to_json()})))
}

/// The digest of a file manifest: SHA-256 over `path\0digest\n` for each file in path order.
fn manifest_digest(files: &[(String, Digest)]) -> Digest {
    let mut hasher = Sha256::new();
    for (path, digest) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(digest.as_str().as_bytes());
        hasher.update(b"\n");
    }
    Digest::sha256_finish(hasher)
}

/// Every file under `directory` of the artifact root, with its digest and size.
pub async fn files_of(state: &MlflowState, directory: &str) -> Result<Vec<(String, Written)>> {
    let mut files = Vec::new();
    let directory = state.artifacts.resolve(directory)?;
    for (path, absolute) in state.artifacts.files_under(directory) {
        files.push((path, digest_file(&absolute).await?));
    }
    Ok(files)
}

#[derive(Deserialize)]
pub(crate) struct FinalizeRequest {
    status: Option<String>,
}

/// Reads a logged model, changes it with `change`, and stores it, under its lock.
async fn change_model<F>(state: &MlflowState, id: &str, change: F) -> Result<LoggedModel>
where
    F: AsyncFnOnce(&LoggedModel, &mut Document, &mut Extras) -> Result<()>,
{
    let _lock = state.lock(id).await;
    let model = LoggedModel::load(state, id).await?;
    let mut document = model.stored.document.clone();
    let mut extras = model.extras.clone();
    change(&model, &mut document, &mut extras).await?;
    document.metadata.description = Some(description(&extras)?);
    state.save(&[document]).await?;
    LoggedModel::load(state, id).await
}

pub(crate) async fn finalize(
    State(state): AppState,
    UrlPath(id): UrlPath<String>,
    Body(r): Body<FinalizeRequest>,
) -> Result<Json<Value>> {
    let status = r.status.unwrap_or_else(|| READY.to_owned());
    if ![PENDING, READY, FAILED].contains(&status.as_str()) {
        return Err(MlflowError::invalid(format!("Invalid logged model status '{status}'")));
    }
    let model = change_model(&state, &id, async |model, document, _| {
        if status == READY {
            let files = files_of(&state, &model.directory()).await?;
            let manifest: Vec<(String, Digest)> = files.iter().map(|(p, w)| (p.clone(), w.digest.clone())).collect();
            if let Spec::Artifact(spec) = &mut document.spec {
                spec.digest = manifest_digest(&manifest);
                spec.size = files.iter().map(|(_, w)| w.size).sum();
            }
        }
        set_label(document, STATUS_LABEL, &status)
    })
    .await?;
    Ok(Json(json!({"model": model.to_json()})))
}

#[derive(Deserialize)]
pub(crate) struct TagsRequest {
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(crate) async fn set_tags(
    State(state): AppState,
    UrlPath(id): UrlPath<String>,
    Body(r): Body<TagsRequest>,
) -> Result<Json<Value>> {
    let tags = pairs(&r.tags, "tag", limits::TAG_VALUE)?;
    change_model(&state, &id, async |_, _, extras| {
        extras.tags.extend(tags);
        Ok(())
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OrderField {
    field_name: String,
    #[serde(default = "ascending")]
    ascending: bool,
}

fn ascending() -> bool {
    true
}

#[derive(Deserialize)]
pub(crate) struct SearchRequest {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default)]
    order_by: Vec<OrderField>,
    max_results: Option<Int64>,
    page_token: Option<String>,
}

pub(crate) async fn search(State(state): AppState, Body(r): Body<SearchRequest>) -> Result<Json<Value>> {
    use mlspec_spec::expr::ast::BinOp;
    use mlspec_spec::expr::query::{Field, Filter, Literal};
    let comparisons = parse_filter(r.filter.as_deref().unwrap_or(""))?;
    let max = limits::max_results(r.max_results, 100, 50_000)?;
    let label = |key: &str, value: &str| Filter::Compare {
        field: Field::Label(key.to_owned()),
        op: BinOp::Eq,
        value: Literal::Text(value.to_owned()),
    };
    let experiments = r.experiment_ids.iter().map(|id| label(EXPERIMENT_LABEL, id)).collect();
    let mut query = ListQuery::new(Kind::Artifact);
    query.statuses = vec![Status::Active, Status::Deprecated];
    query.filter = Some(Filter::All(vec![
        Filter::Any(experiments),
        label(TYPE_LABEL, TYPE_VALUE),
    ]));
    let models = state.listed(&query, "Logged model").await?;
    let models = models
        .into_iter()
        .map(LoggedModel::from_stored)
        .collect::<Result<Vec<_>>>()?;
    let mut models = crate::filter::matching(models, &comparisons);
    let order: Vec<OrderBy> = r
        .order_by
        .iter()
        .map(|o| OrderBy {
            entity: Entity::Attribute,
            key: o.field_name.clone(),
            descending: !o.ascending,
        })
        .collect();
    crate::filter::sort(&mut models, &order, |m: &LoggedModel| {
        FilterValue::Num(m.stored.document.metadata.created_at.as_ref().map_or(0, millis) as f64)
    });
    let (models, next) = page(models, r.page_token.as_deref(), max)?;
    let models = models.iter().map(LoggedModel::to_json).collect();
    Ok(Json(paged("models", models, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_digest_depends_on_paths_and_contents() {
        let a = Digest::sha256_of("a");
        let b = Digest::sha256_of("b");
        let one = manifest_digest(&[("x".into(), a.clone())]);
        assert_ne!(one, manifest_digest(&[("y".into(), a.clone())]));
        assert_ne!(one, manifest_digest(&[("x".into(), b)]));
        assert_eq!(one, manifest_digest(&[("x".into(), a)]));
    }
}

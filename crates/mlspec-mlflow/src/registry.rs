//! MLflow's model registry: registered models, their versions and aliases.
//!
//! Each **version** is a ModelPackage document named `<model>-v<N>` (the model's name mapped as
//! in [`crate::naming`]): its `version` is N, its `files` are the files of the version's source
//! under the artifact root, each pinned by SHA-256, its `model` the logged model's Artifact and
//! its `training` the source run — so lineage runs from the datasets through the run to the
//! package. A version is READY as soon as it is created: the files are already stored.
//!
//! The **registered model** itself (its name, description, tags, aliases and version list) has
//! no MLSpec kind; it is kept in a JSON file per model under `.mlspec/registry/` in the
//! artifact root (out of the artifact API's reach), written whole to a temporary file and
//! renamed, under the catalog lock. The version's document is stored first: a crash between
//! the two leaves a package without its registry entry, and the next version skips its number.
//!
//! A version's source must resolve to files under the artifact root: `models:/m-…` (a logged
//! model), `runs:/<run>/<path>` or `mlflow-artifacts:/<path>`; other sources are a 400.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use mlspec_spec::kinds::{ModelPackageSpec, PackageFile};
use mlspec_spec::newtypes::{RelativePath, ShortText};
use mlspec_spec::{Document, Metadata, Name, ObjectId, Ref, Spec, Version};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::{MlflowError, Result};
use crate::filter::{Entity, Subject, Value as FilterValue, page, paged, parse_filter};
use crate::models::{LoggedModel, files_of};
use crate::naming::{candidate_names, now_millis, object_id};
use crate::runs::Run;
use crate::state::MlflowState;
use crate::wire::{Body, Int64, KeyValue, Query, required};
use crate::{AppState, limits};

const REGISTRY_DIR: &str = "registry";

/// One version of a registered model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ModelVersion {
    version: u64,
    source: String,
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    model_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    run_link: String,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    /// The ModelPackage document's id.
    package_id: String,
}

/// A registered model, as its registry file holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RegisteredModel {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    aliases: BTreeMap<String, u64>,
    creation_timestamp: i64,
    last_updated_timestamp: i64,
    #[serde(default)]
    versions: Vec<ModelVersion>,
}

impl RegisteredModel {
    fn version(&self, version: &str) -> Result<&ModelVersion> {
        version
            .parse::<u64>()
            .ok()
            .and_then(|n| self.versions.iter().find(|v| v.version == n))
            .ok_or_else(|| {
                MlflowError::not_found(format!(
                    "Model Version (name={}, version={version}) not found",
                    self.name
                ))
            })
    }

    fn version_json(&self, v: &ModelVersion) -> Value {
        let aliases: Vec<&String> = self
            .aliases
            .iter()
            .filter(|(_, n)| **n == v.version)
            .map(|(a, _)| a)
            .collect();
        let tags: Vec<Value> = v.tags.iter().map(|(k, val)| json!({"key": k, "value": val})).collect();
        let mut json = json!({
            "name": self.name,
            "version": v.version.to_string(),
            "creation_timestamp": v.creation_timestamp,
            "last_updated_timestamp": v.last_updated_timestamp,
            "current_stage": "None",
            "description": v.description,
            "source": v.source,
            "run_id": v.run_id,
            "status": "READY",
            "run_link": v.run_link,
            "tags": tags,
            "aliases": aliases,
        });
        if !v.model_id.is_empty() {
            json["model_id"] = json!(v.model_id);
        }
        json
    }

    fn to_json(&self) -> Value {
        let aliases: Vec<Value> = self
            .aliases
            .iter()
            .map(|(alias, version)| json!({"alias": alias, "version": version.to_string()}))
            .collect();
        let tags: Vec<Value> = self.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let latest: Vec<Value> = self.versions.last().map(|v| self.version_json(v)).into_iter().collect();
        json!({
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description,
            "tags": tags,
            "aliases": aliases,
            "latest_versions": latest,
        })
    }
}

/// The tag MLflow's client uses to tell prompts from models: it adds
/// `` tag.`mlflow.prompt.is_prompt` != 'true' `` to every registry search, and models lack the
/// tag, so (as MLflow's server does) an absent tag reads as `false`.
const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

/// A tag's value for a filter, the prompt tag defaulting to `false`.
fn tag_value(tags: &BTreeMap<String, String>, key: &str) -> Option<FilterValue> {
    match tags.get(key) {
        Some(value) => Some(FilterValue::text(value)),
        None if key == PROMPT_TAG => Some(FilterValue::text("false")),
        None => None,
    }
}

impl Subject for RegisteredModel {
    fn values(&self, entity: Entity, key: &str) -> Vec<FilterValue> {
        let value = match (entity, key) {
            (Entity::Attribute, "name") => Some(FilterValue::text(&self.name)),
            (Entity::Tag, key) => tag_value(&self.tags, key),
            _ => None,
        };
        value.into_iter().collect()
    }
}

/// The registry file of the model named `name`.
fn registry_file(state: &MlflowState, name: &str) -> Result<PathBuf> {
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    state.artifacts.internal(&format!("{REGISTRY_DIR}/{hash}.json"))
}

async fn load(state: &MlflowState, name: &str) -> Result<RegisteredModel> {
    let path = registry_file(state, name)?;
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|_| MlflowError::not_found(format!("Registered Model with name={name} not found")))?;
    serde_json::from_str(&text)
        .map_err(|e| MlflowError::internal(format!("the registry file of `{name}` cannot be read: {e}")))
}

async fn save(state: &MlflowState, model: &RegisteredModel) -> Result<()> {
    let path = registry_file(state, &model.name)?;
    let io =
        |e: std::io::Error| MlflowError::internal(format!("cannot write the registry file of `{}`: {e}", model.name));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let text = serde_json::to_string(model).map_err(|e| MlflowError::internal(e.to_string()))?;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple()));
    tokio::fs::write(&temporary, text).await.map_err(io)?;
    tokio::fs::rename(&temporary, &path).await.map_err(io)
}

async fn all_models(state: &MlflowState) -> Result<Vec<RegisteredModel>> {
    let mut models = Vec::new();
    for (_, path) in state.artifacts.files_under(state.artifacts.internal(REGISTRY_DIR)?) {
        if path.extension().is_some_and(|e| e == "json")
            && let Ok(text) = tokio::fs::read_to_string(&path).await
            && let Ok(model) = serde_json::from_str::<RegisteredModel>(&text)
        {
            models.push(model);
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

fn tag_map(tags: &[KeyValue]) -> Result<BTreeMap<String, String>> {
    tags.iter()
        .map(|t| {
            limits::key(&t.key, "tag")?;
            Ok((t.key.clone(), limits::tag_value(&t.value)?))
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct CreateModelRequest {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(crate) async fn create_model(State(state): AppState, Body(r): Body<CreateModelRequest>) -> Result<Json<Value>> {
    let name = required(&r.name, "name")?;
    limits::text(name, limits::EXPERIMENT_NAME, "registered model name")?;
    let _catalog = state.lock_catalog().await;
    if load(&state, name).await.is_ok() {
        return Err(MlflowError::exists(format!(
            "Registered Model (name={name}) already exists."
        )));
    }
    let now = now_millis();
    let model = RegisteredModel {
        name: name.to_owned(),
        description: r.description.unwrap_or_default(),
        tags: tag_map(&r.tags)?,
        aliases: BTreeMap::new(),
        creation_timestamp: now,
        last_updated_timestamp: now,
        versions: Vec::new(),
    };
    save(&state, &model).await?;
    Ok(Json(json!({"registered_model": model.to_json()})))
}

#[derive(Deserialize)]
pub(crate) struct NameQuery {
    name: Option<String>,
}

pub(crate) async fn get_model(State(state): AppState, Query(q): Query<NameQuery>) -> Result<Json<Value>> {
    let model = load(&state, required(&q.name, "name")?).await?;
    Ok(Json(json!({"registered_model": model.to_json()})))
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    filter: Option<String>,
    max_results: Option<Int64>,
    page_token: Option<String>,
}

pub(crate) async fn search_models(State(state): AppState, Query(q): Query<SearchQuery>) -> Result<Json<Value>> {
    let comparisons = parse_filter(q.filter.as_deref().unwrap_or(""))?;
    let max = limits::max_results(q.max_results, 100, 1000)?;
    let models: Vec<RegisteredModel> = all_models(&state)
        .await?
        .into_iter()
        .filter(|m| comparisons.iter().all(|c| c.matches(m)))
        .collect();
    let (models, next) = page(models, q.page_token.as_deref(), max)?;
    let models = models.iter().map(RegisteredModel::to_json).collect();
    Ok(Json(paged("registered_models", models, next)))
}

#[derive(Deserialize)]
pub(crate) struct RenameRequest {
    name: Option<String>,
    new_name: Option<String>,
}

pub(crate) async fn rename_model(State(state): AppState, Body(r): Body<RenameRequest>) -> Result<Json<Value>> {
    let name = required(&r.name, "name")?;
    let new_name = required(&r.new_name, "new_name")?;
    limits::text(new_name, limits::EXPERIMENT_NAME, "registered model name")?;
    let _catalog = state.lock_catalog().await;
    let mut model = load(&state, name).await?;
    if load(&state, new_name).await.is_ok() {
        return Err(MlflowError::exists(format!(
            "Registered Model (name={new_name}) already exists."
        )));
    }
    model.name = new_name.to_owned();
    model.last_updated_timestamp = now_millis();
    save(&state, &model).await?;
    let _ = tokio::fs::remove_file(registry_file(&state, name)?).await;
    Ok(Json(json!({"registered_model": model.to_json()})))
}

#[derive(Deserialize)]
pub(crate) struct AliasRequest {
    name: Option<String>,
    alias: Option<String>,
    version: Option<String>,
}

pub(crate) async fn set_alias(State(state): AppState, Body(r): Body<AliasRequest>) -> Result<Json<Value>> {
    let name = required(&r.name, "name")?;
    let alias = required(&r.alias, "alias")?;
    limits::key(alias, "alias")?;
    let version = required(&r.version, "version")?;
    let _catalog = state.lock_catalog().await;
    let mut model = load(&state, name).await?;
    let number = model.version(version)?.version;
    model.aliases.insert(alias.to_owned(), number);
    model.last_updated_timestamp = now_millis();
    save(&state, &model).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct AliasQuery {
    name: Option<String>,
    alias: Option<String>,
}

pub(crate) async fn delete_alias(State(state): AppState, Query(q): Query<AliasQuery>) -> Result<Json<Value>> {
    let name = required(&q.name, "name")?;
    let alias = required(&q.alias, "alias")?;
    let _catalog = state.lock_catalog().await;
    let mut model = load(&state, name).await?;
    model.aliases.remove(alias);
    save(&state, &model).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn get_by_alias(State(state): AppState, Query(q): Query<AliasQuery>) -> Result<Json<Value>> {
    let name = required(&q.name, "name")?;
    let alias = required(&q.alias, "alias")?;
    let model = load(&state, name).await?;
    let version = model
        .aliases
        .get(alias)
        .ok_or_else(|| MlflowError::not_found(format!("Registered model alias {alias} not found.")))?;
    let version = model.version(&version.to_string())?;
    Ok(Json(json!({"model_version": model.version_json(version)})))
}

#[derive(Deserialize)]
pub(crate) struct CreateVersionRequest {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    model_id: Option<String>,
    description: Option<String>,
    run_link: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

/// Where a version's files are: a directory under the artifact root, the logged model (if
/// any) and the run (if any) it came from.
struct Source {
    directory: String,
    model: Option<LoggedModel>,
    run_id: Option<String>,
}

async fn resolve_source(state: &MlflowState, source: &str) -> Result<Source> {
    if let Some(id) = source.strip_prefix("models:/") {
        let model = LoggedModel::load(state, id.trim_end_matches('/')).await?;
        return Ok(Source {
            directory: model.directory(),
            run_id: Some(model.source_run_id()),
            model: Some(model),
        });
    }
    if let Some(rest) = source.strip_prefix("runs:/") {
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        let run = Run::load(state, run_id).await?;
        return Ok(Source {
            directory: format!(
                "{}/{}/artifacts/{}",
                run.experiment_id(),
                run.id(),
                path.trim_matches('/')
            ),
            model: None,
            run_id: Some(run.id().to_owned()),
        });
    }
    if let Some(path) = source.strip_prefix("mlflow-artifacts:/") {
        return Ok(Source {
            directory: path.trim_matches('/').to_owned(),
            model: None,
            run_id: None,
        });
    }
    Err(MlflowError::invalid(format!(
        "model version source `{}`: only models:/, runs:/ and mlflow-artifacts:/ sources are supported",
        limits::shorten(source)
    )))
}

/// The version number and package name of a new version: number `from` named `<model>-v<N>`
/// after the model's plain name, else after its hashed name (another model's name may differ
/// only in case); when both are taken (a package left by a crash before its registry entry was
/// written), the next number.
async fn free_package_name(state: &MlflowState, model: &str, from: u64) -> Result<(u64, Name)> {
    let stems = candidate_names(model);
    if stems.is_empty() {
        return Err(MlflowError::invalid(format!(
            "registered model name `{model}` cannot be mapped"
        )));
    }
    let mut number = from;
    loop {
        for stem in &stems {
            let name = Name::new(format!("{stem}-v{number}")).map_err(|e| MlflowError::invalid(e.to_string()))?;
            if state.named(mlspec_spec::Kind::ModelPackage, &name).await?.is_none() {
                return Ok((number, name));
            }
        }
        number += 1;
    }
}

/// The ModelPackage document `name`, version `number`, of the files `source` names.
async fn package_document(state: &MlflowState, name: Name, number: u64, source: &Source) -> Result<Document> {
    let mut files = Vec::new();
    for (path, written) in files_of(state, &source.directory).await? {
        files.push(PackageFile {
            path: RelativePath::new(path).map_err(|e| MlflowError::invalid(e.to_string()))?,
            digest: written.digest,
            size: written.size,
        });
    }
    if files.is_empty() {
        return Err(MlflowError::invalid(format!(
            "the model version's source has no files under the artifact root (`{}`)",
            source.directory
        )));
    }
    let mut metadata = Metadata::named(name);
    metadata.id = Some(ObjectId::generate());
    let reference = |id: &str| object_id(id, "object").map(Ref::from);
    Ok(Document {
        api_version: Default::default(),
        metadata,
        spec: Spec::ModelPackage(ModelPackageSpec {
            version: Version::new(number.to_string()).map_err(|e| MlflowError::internal(e.to_string()))?,
            model: source.model.as_ref().map(|m| reference(m.id())).transpose()?,
            format: ShortText::new("mlflow-model").map_err(|e| MlflowError::internal(e.to_string()))?,
            files,
            signature: None,
            resources: None,
            security: None,
            monitoring_agents: Vec::new(),
            training: source.run_id.as_deref().map(reference).transpose()?,
            datasets: Vec::new(),
            verdict: None,
            test_report: None,
            signatures: Vec::new(),
        }),
    })
}

pub(crate) async fn create_version(State(state): AppState, Body(r): Body<CreateVersionRequest>) -> Result<Json<Value>> {
    let name = required(&r.name, "name")?;
    let source_text = required(&r.source, "source")?;
    let tags = tag_map(&r.tags)?;
    let source = resolve_source(&state, source_text).await?;
    let _catalog = state.lock_catalog().await;
    let mut model = load(&state, name).await?;
    let next = model.versions.last().map_or(1, |v| v.version + 1);
    let (number, package_name) = free_package_name(&state, name, next).await?;
    let document = package_document(&state, package_name, number, &source).await?;
    let package_id = document
        .metadata
        .id
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .unwrap_or_default();
    state.save(&[document]).await?;
    let now = now_millis();
    let version = ModelVersion {
        version: number,
        source: source_text.to_owned(),
        run_id: r.run_id.or(source.run_id).unwrap_or_default(),
        model_id: r
            .model_id
            .or_else(|| source.model.as_ref().map(|m| m.id().to_owned()))
            .unwrap_or_default(),
        description: r.description.unwrap_or_default(),
        tags,
        run_link: r.run_link.unwrap_or_default(),
        creation_timestamp: now,
        last_updated_timestamp: now,
        package_id,
    };
    model.versions.push(version);
    model.last_updated_timestamp = now;
    save(&state, &model).await?;
    let json = model.versions.last().map(|v| model.version_json(v)).unwrap_or_default();
    Ok(Json(json!({"model_version": json})))
}

#[derive(Deserialize)]
pub(crate) struct LatestRequest {
    name: Option<String>,
}

/// `registered-models/get-latest-versions`: the newest version (stages are not kept, so one
/// answers for every stage asked).
pub(crate) async fn latest_versions(State(state): AppState, Body(r): Body<LatestRequest>) -> Result<Json<Value>> {
    let model = load(&state, required(&r.name, "name")?).await?;
    let latest: Vec<Value> = model
        .versions
        .last()
        .map(|v| model.version_json(v))
        .into_iter()
        .collect();
    Ok(Json(json!({"model_versions": latest})))
}

#[derive(Deserialize)]
pub(crate) struct VersionQuery {
    name: Option<String>,
    version: Option<String>,
}

pub(crate) async fn get_version(State(state): AppState, Query(q): Query<VersionQuery>) -> Result<Json<Value>> {
    let model = load(&state, required(&q.name, "name")?).await?;
    let version = model.version(required(&q.version, "version")?)?;
    Ok(Json(json!({"model_version": model.version_json(version)})))
}

pub(crate) async fn download_uri(State(state): AppState, Query(q): Query<VersionQuery>) -> Result<Json<Value>> {
    let model = load(&state, required(&q.name, "name")?).await?;
    let version = model.version(required(&q.version, "version")?)?;
    let source = resolve_source(&state, &version.source).await?;
    Ok(Json(
        json!({"artifact_uri": format!("mlflow-artifacts:/{}", source.directory)}),
    ))
}

struct VersionView<'a> {
    model: &'a RegisteredModel,
    version: &'a ModelVersion,
}

impl Subject for VersionView<'_> {
    fn values(&self, entity: Entity, key: &str) -> Vec<FilterValue> {
        let value = match (entity, key) {
            (Entity::Attribute, "name") => Some(FilterValue::text(&self.model.name)),
            (Entity::Attribute, "version" | "version_number") => {
                Some(FilterValue::Text(self.version.version.to_string()))
            }
            (Entity::Attribute, "run_id") => Some(FilterValue::text(&self.version.run_id)),
            (Entity::Attribute, "source" | "source_path") => Some(FilterValue::text(&self.version.source)),
            (Entity::Attribute, "model_id") => Some(FilterValue::text(&self.version.model_id)),
            (Entity::Tag, key) => tag_value(&self.version.tags, key),
            _ => None,
        };
        value.into_iter().collect()
    }
}

pub(crate) async fn search_versions(State(state): AppState, Query(q): Query<SearchQuery>) -> Result<Json<Value>> {
    let comparisons = parse_filter(q.filter.as_deref().unwrap_or(""))?;
    let max = limits::max_results(q.max_results, 10_000, 200_000)?;
    let models = all_models(&state).await?;
    let mut found = Vec::new();
    for model in &models {
        for version in model.versions.iter().rev() {
            let view = VersionView { model, version };
            if comparisons.iter().all(|c| c.matches(&view)) {
                found.push(model.version_json(version));
            }
        }
    }
    let (versions, next) = page(found, q.page_token.as_deref(), max)?;
    Ok(Json(paged("model_versions", versions, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tags: &[(&str, &str)]) -> RegisteredModel {
        RegisteredModel {
            name: "m".into(),
            description: String::new(),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            aliases: BTreeMap::new(),
            creation_timestamp: 0,
            last_updated_timestamp: 0,
            versions: Vec::new(),
        }
    }

    #[test]
    fn the_clients_prompt_filter_keeps_models_and_drops_prompts() {
        let filter = parse_filter("name = 'm' AND tag.`mlflow.prompt.is_prompt` != 'true'").unwrap();
        assert!(filter.iter().all(|c| c.matches(&model(&[]))));
        assert!(!filter.iter().all(|c| c.matches(&model(&[(PROMPT_TAG, "true")]))));
    }
}

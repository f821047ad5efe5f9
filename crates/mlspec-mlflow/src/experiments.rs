//! MLflow experiments as MLSpec Experiment documents.
//!
//! The experiment id is the document's `metadata.id`; the document name is derived from the
//! MLflow name ([`crate::naming`]) and the exact name is kept in the reserved tag
//! `mlspec.name`. MLflow's tags are the spec's `tags` (reserved `mlspec.*` keys hidden).
//! "Deleted" is the Archived status; "active" is Active. The Default experiment (id `0`) is
//! created on first use, as MLflow's server creates it at start. Artifacts are always proxied
//! under the server's artifact root (`mlflow-artifacts:/<id>`): an `artifact_location` given at
//! creation is ignored.

use axum::Json;
use axum::extract::{RawQuery, State};
use mlspec_spec::kinds::ExperimentSpec;
use mlspec_spec::newtypes::Key;
use mlspec_spec::values::Tags;
use mlspec_spec::{Document, Kind, Metadata, Name, ObjectId, Spec, Status};
use mlspec_store::{ListQuery, Selector, StoredObject};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{MlflowError, Result};
use crate::filter::{Entity, Subject, Value as FilterValue, ViewType, page, paged, parse_filter, parse_order_by};
use crate::naming::{candidate_names, millis, millis_of_text, new_experiment_id};
use crate::state::MlflowState;
use crate::wire::{Body, KeyValue, Query, key_values, required};
use crate::{AppState, limits};

/// The id of MLflow's Default experiment.
pub const DEFAULT_ID: &str = "0";
const DEFAULT_NAME: &str = "Default";
/// The reserved tag that keeps an experiment's exact MLflow name.
const NAME_TAG: &str = "mlspec.name";
/// Tag keys with this prefix are MLSpec's own and hidden from MLflow.
pub const RESERVED_PREFIX: &str = "mlspec.";

/// An experiment as stored.
pub struct Experiment {
    stored: StoredObject,
}

impl Experiment {
    fn spec(&self) -> Option<&ExperimentSpec> {
        match &self.stored.document.spec {
            Spec::Experiment(spec) => Some(spec),
            _ => None,
        }
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.spec().and_then(|s| crate::naming::tag(&s.tags, key))
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.stored.summary.id
    }

    /// Its exact MLflow name.
    pub fn name(&self) -> &str {
        self.tag(NAME_TAG).unwrap_or(&self.stored.summary.name)
    }

    /// Whether it is active (not deleted).
    pub fn active(&self) -> bool {
        self.stored.summary.status != Status::Archived
    }

    /// Where its runs' artifacts go.
    pub fn artifact_location(&self) -> String {
        format!("mlflow-artifacts:/{}", self.id())
    }

    fn created_ms(&self) -> i64 {
        self.stored.document.metadata.created_at.as_ref().map_or(0, millis)
    }

    fn to_json(&self) -> Value {
        let tags = self.spec().map(|s| visible_tags(&s.tags)).unwrap_or_default();
        let created = self.created_ms();
        json!({
            "experiment_id": self.id(),
            "name": self.name(),
            "artifact_location": self.artifact_location(),
            "lifecycle_stage": lifecycle_stage(self.active()),
            "creation_time": created,
            "last_update_time": millis_of_text(&self.stored.summary.updated_at),
            "tags": tags,
        })
    }
}

impl Subject for Experiment {
    fn values(&self, entity: Entity, key: &str) -> Vec<FilterValue> {
        let value = match (entity, key) {
            (Entity::Tag, key) if !key.starts_with(RESERVED_PREFIX) => self.tag(key).map(FilterValue::text),
            (Entity::Attribute, "name") => Some(FilterValue::text(self.name())),
            (Entity::Attribute, "experiment_id") => Some(FilterValue::text(self.id())),
            (Entity::Attribute, "creation_time") => Some(FilterValue::Num(self.created_ms() as f64)),
            (Entity::Attribute, "last_update_time") => {
                Some(FilterValue::Num(millis_of_text(&self.stored.summary.updated_at) as f64))
            }
            _ => None,
        };
        value.into_iter().collect()
    }
}

/// MLflow's lifecycle stage for an object that is (not) archived.
pub fn lifecycle_stage(active: bool) -> &'static str {
    if active { "active" } else { "deleted" }
}

/// Tags for MLflow: every tag but the reserved ones.
pub fn visible_tags(tags: &Tags) -> Vec<KeyValue> {
    key_values(
        tags.iter()
            .filter(|(k, _)| !k.as_str().starts_with(RESERVED_PREFIX))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// A tag key MLflow may set: valid as an MLSpec key and not reserved.
pub fn tag_key(key: &str) -> Result<Key> {
    if key.starts_with(RESERVED_PREFIX) {
        return Err(MlflowError::invalid(format!(
            "tag key `{key}`: keys starting with `{RESERVED_PREFIX}` are reserved for MLSpec"
        )));
    }
    limits::key(key, "tag")
}

/// The experiment with `id` (the Default one is created on first use).
pub async fn get(state: &MlflowState, id: &str) -> Result<Experiment> {
    if id == DEFAULT_ID {
        ensure_default(state).await?;
    }
    let stored = state.object(Kind::Experiment, id, "Experiment").await?;
    Ok(Experiment { stored })
}

/// The live experiment with the exact MLflow name `name`, if any (the Default one is created
/// on first use).
pub async fn by_name(state: &MlflowState, name: &str) -> Result<Option<Experiment>> {
    if name == DEFAULT_NAME {
        ensure_default(state).await?;
    }
    find_by_name(state, name).await
}

/// The live experiment with the exact MLflow name `name`, if any; creates nothing (safe under
/// the catalog lock).
async fn find_by_name(state: &MlflowState, name: &str) -> Result<Option<Experiment>> {
    for candidate in candidate_names(name) {
        if let Some(stored) = state.named(Kind::Experiment, &candidate).await? {
            let experiment = Experiment { stored };
            if experiment.name() == name {
                return Ok(Some(experiment));
            }
        }
    }
    Ok(None)
}

/// Creates the Default experiment unless it exists (cheap once it does: one flag read).
async fn ensure_default(state: &MlflowState) -> Result<()> {
    if state.default_experiment.is_made() {
        return Ok(());
    }
    let _catalog = state.lock_catalog().await;
    match state.object(Kind::Experiment, DEFAULT_ID, "Experiment").await {
        Ok(_) => {}
        Err(e) if e.kind == crate::error::ErrorKind::ResourceDoesNotExist => {
            create(state, DEFAULT_ID.to_owned(), DEFAULT_NAME, &[]).await?;
        }
        Err(e) => return Err(e),
    }
    state.default_experiment.mark();
    Ok(())
}

/// A new experiment id no object has (the caller holds the catalog lock, so no other creation
/// can take it meanwhile).
async fn unused_id(state: &MlflowState) -> Result<String> {
    loop {
        let id = new_experiment_id();
        let selector = mlspec_store::Selector::Id(crate::naming::object_id(&id, "Experiment")?);
        match state.store.get(&selector).await {
            Err(e) if e.kind == mlspec_store::ErrorKind::NotFound => return Ok(id),
            Err(e) => return Err(e.into()),
            Ok(_) => tokio::task::yield_now().await,
        }
    }
}

/// Creates an experiment (the caller holds the catalog lock).
async fn create(state: &MlflowState, id: String, name: &str, tags: &[KeyValue]) -> Result<()> {
    limits::text(name, limits::EXPERIMENT_NAME, "experiment name")?;
    if find_by_name(state, name).await?.is_some() {
        return Err(MlflowError::exists(format!("Experiment(name={name}) already exists")));
    }
    let document_name = free_name(state, name).await?;
    let mut spec_tags = Tags::default();
    for tag in tags {
        spec_tags.0.insert(tag_key(&tag.key)?, limits::tag_value(&tag.value)?);
    }
    spec_tags.0.insert(limits::key(NAME_TAG, "tag")?, name.to_owned());
    let mut metadata = Metadata::named(document_name);
    metadata.id = Some(ObjectId::new(id).map_err(|e| MlflowError::invalid(e.to_string()))?);
    let document = Document {
        api_version: Default::default(),
        metadata,
        spec: Spec::Experiment(ExperimentSpec {
            goal: None,
            objectives: None,
            owner: None,
            artifact_location: None,
            tags: spec_tags,
        }),
    };
    state.save(&[document]).await
}

#[derive(Deserialize)]
pub(crate) struct ByNameQuery {
    experiment_name: Option<String>,
}

pub(crate) async fn get_by_name(State(state): AppState, Query(q): Query<ByNameQuery>) -> Result<Json<Value>> {
    let name = required(&q.experiment_name, "experiment_name")?;
    match by_name(&state, name).await? {
        Some(experiment) => Ok(Json(json!({"experiment": experiment.to_json()}))),
        None => Err(MlflowError::not_found(format!(
            "Could not find experiment with name '{name}'"
        ))),
    }
}

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(crate) async fn create_handler(State(state): AppState, Body(r): Body<CreateRequest>) -> Result<Json<Value>> {
    let name = required(&r.name, "name")?;
    ensure_default(&state).await?;
    let _catalog = state.lock_catalog().await;
    let id = unused_id(&state).await?;
    create(&state, id.clone(), name, &r.tags).await?;
    Ok(Json(json!({"experiment_id": id})))
}

#[derive(Deserialize)]
pub(crate) struct IdQuery {
    experiment_id: Option<String>,
}

pub(crate) async fn get_handler(State(state): AppState, Query(q): Query<IdQuery>) -> Result<Json<Value>> {
    let id = required(&q.experiment_id, "experiment_id")?;
    let experiment = get(&state, id).await?;
    Ok(Json(json!({"experiment": experiment.to_json()})))
}

#[derive(Deserialize)]
pub(crate) struct UpdateRequest {
    experiment_id: Option<String>,
    new_name: Option<String>,
}

pub(crate) async fn update(State(state): AppState, Body(r): Body<UpdateRequest>) -> Result<Json<Value>> {
    let id = required(&r.experiment_id, "experiment_id")?;
    let new_name = required(&r.new_name, "new_name")?;
    limits::text(new_name, limits::EXPERIMENT_NAME, "experiment name")?;
    // Before the catalog lock: a 404 early, and the Default experiment made if it is the one.
    get(&state, id).await?;
    let _catalog = state.lock_catalog().await;
    let _lock = state.lock(id).await;
    let experiment = get(&state, id).await?;
    if experiment.name() == new_name {
        return Ok(Json(json!({})));
    }
    if find_by_name(&state, new_name).await?.is_some() {
        return Err(MlflowError::exists(format!(
            "Experiment(name={new_name}) already exists"
        )));
    }
    let mut document = experiment.stored.document;
    document.metadata.name = free_name(&state, new_name).await?;
    if let Spec::Experiment(spec) = &mut document.spec {
        spec.tags.0.insert(limits::key(NAME_TAG, "tag")?, new_name.to_owned());
    }
    state.save(&[document]).await?;
    Ok(Json(json!({})))
}

/// The first of `name`'s candidate document names that no live experiment has.
async fn free_name(state: &MlflowState, name: &str) -> Result<Name> {
    for candidate in candidate_names(name) {
        if state.named(Kind::Experiment, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(MlflowError::exists(format!("Experiment(name={name}) already exists")))
}

#[derive(Deserialize)]
pub(crate) struct TagRequest {
    experiment_id: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

pub(crate) async fn set_tag(State(state): AppState, Body(r): Body<TagRequest>) -> Result<Json<Value>> {
    let id = required(&r.experiment_id, "experiment_id")?;
    let key = tag_key(required(&r.key, "key")?)?;
    let value = limits::tag_value(r.value.as_deref().unwrap_or(""))?;
    let _lock = state.lock(id).await;
    let mut document = get(&state, id).await?.stored.document;
    if let Spec::Experiment(spec) = &mut document.spec {
        spec.tags.0.insert(key, value);
    }
    state.save(&[document]).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct IdRequest {
    experiment_id: Option<String>,
}

pub(crate) async fn delete(State(state): AppState, Body(r): Body<IdRequest>) -> Result<Json<Value>> {
    set_status(&state, &r, Status::Archived).await
}

pub(crate) async fn restore(State(state): AppState, Body(r): Body<IdRequest>) -> Result<Json<Value>> {
    set_status(&state, &r, Status::Active).await
}

async fn set_status(state: &MlflowState, r: &IdRequest, status: Status) -> Result<Json<Value>> {
    let id = required(&r.experiment_id, "experiment_id")?;
    if id == DEFAULT_ID && status == Status::Archived {
        return Err(MlflowError::invalid("Cannot delete the default experiment '0'."));
    }
    get(state, id).await?;
    let selector = Selector::Id(crate::naming::object_id(id, "Experiment")?);
    state
        .store
        .set_status(&selector, status, &crate::state::actor())
        .await?;
    Ok(Json(json!({})))
}

#[derive(Default, Deserialize)]
pub(crate) struct SearchRequest {
    max_results: Option<crate::wire::Int64>,
    page_token: Option<String>,
    filter: Option<String>,
    #[serde(default)]
    order_by: Vec<String>,
    view_type: Option<String>,
}

impl SearchRequest {
    /// The request of `GET experiments/search`: the same fields in the query string, `order_by`
    /// repeated once per key.
    fn from_query(query: &str) -> Result<SearchRequest> {
        let mut request = SearchRequest::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "max_results" => {
                    let n = value.trim().parse().map_err(|_| {
                        MlflowError::invalid(format!("Invalid value {value:?} for parameter 'max_results'"))
                    })?;
                    request.max_results = Some(crate::wire::Int64(n));
                }
                "page_token" => request.page_token = Some(value),
                "filter" => request.filter = Some(value),
                "order_by" => request.order_by.push(value),
                "view_type" => request.view_type = Some(value),
                _ => {}
            }
        }
        Ok(request)
    }
}

/// `GET experiments/search`, as MLflow's server also takes it.
pub(crate) async fn search_by_get(State(state): AppState, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let request = SearchRequest::from_query(query.as_deref().unwrap_or(""))?;
    search(State(state), Body(request)).await
}

pub(crate) async fn search(State(state): AppState, Body(r): Body<SearchRequest>) -> Result<Json<Value>> {
    let comparisons = parse_filter(r.filter.as_deref().unwrap_or(""))?;
    let order = parse_order_by(&r.order_by)?;
    let view = ViewType::parse(r.view_type.as_deref())?;
    ensure_default(&state).await?;
    let mut query = ListQuery::new(Kind::Experiment);
    query.statuses = view.statuses();
    let experiments = state.listed(&query, "Experiment").await?;
    let experiments = experiments.into_iter().map(|stored| Experiment { stored }).collect();
    let mut found = crate::filter::matching(experiments, &comparisons);
    crate::filter::sort(&mut found, &order, |e: &Experiment| {
        FilterValue::Num(e.created_ms() as f64)
    });
    let max = limits::max_results(r.max_results, 1000, 50_000)?;
    let (items, next) = page(found, r.page_token.as_deref(), max)?;
    let experiments = items.iter().map(Experiment::to_json).collect();
    Ok(Json(paged("experiments", experiments, next)))
}

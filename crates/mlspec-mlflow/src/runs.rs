//! MLflow runs as MLSpec Run documents.
//!
//! | MLflow                         | the Run document                                         |
//! |--------------------------------|----------------------------------------------------------|
//! | `run_id` (32 hex)              | `metadata.id`                                            |
//! | `run_name` (tag `mlflow.runName`) | `metadata.name`: the run name sanitized, then the id's last 8 hex digits (run names repeat) |
//! | `experiment_id`                | `spec.experiment` (by id) and label `mlflow.org/experiment-id` |
//! | `status`, `start_time`, `end_time` | `spec.status`, `spec.startTime`, `spec.endTime`      |
//! | `user_id`                      | `metadata.createdBy`                                     |
//! | params                         | `spec.params` (text; immutable)                          |
//! | metrics (every step)           | `spec.metrics`: one point per key and step               |
//! | tags (`mlflow.runName`, …)     | `spec.tags`                                              |
//! | tag `mlflow.parentRunId`       | also `spec.parent`, a lineage edge                       |
//! | tags `mlflow.source.*`         | also `spec.source`: repository, commit, entry point      |
//! | `log_input` datasets           | `spec.inputs` → Dataset versions; the inputs as MLflow sent them in tag `mlspec.inputs` |
//! | `log_outputs` logged models    | `spec.outputs` → the logged model's Artifact; steps in tag `mlspec.outputs` |
//! | lifecycle `deleted`            | status Archived                                          |
//!
//! Metric values: JSON has no NaN or infinity, so ±Infinity is stored as ±1.7976931348623157e308
//! (what MLflow's own SQL store does) and NaN as an empty array (a value with no number, which
//! `--where metrics.…` never matches); both read back as MLflow sent them. A second value at the
//! same key and step replaces the first when it is not older (MLflow keeps both; its "latest"
//! is the same one). Negative steps are refused.
//!
//! Every change is a read-modify-write of the document under the run's lock
//! ([`crate::state`]), so concurrent clients lose nothing.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use mlspec_spec::expr::query::{OrderBy, OrderKey};
use mlspec_spec::kinds::{RunSpec, RunStatus, SourceCode};
use mlspec_spec::newtypes::{LabelKey, LabelValue, ShortText};
use mlspec_spec::values::{Metric, MetricValue, ParamValue};
use mlspec_spec::{Document, Kind, Metadata, Name, ObjectId, Ref, Spec, Status};
use mlspec_store::{ListQuery, Selector, StoredObject};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{MlflowError, Result};
use crate::experiments::{self, RESERVED_PREFIX, lifecycle_stage, tag_key, visible_tags};
use crate::filter::{self, Entity, Subject, Value as FilterValue, ViewType, page, paged, parse_filter, parse_order_by};
use crate::naming::{label, millis, new_run_id, now_millis, object_id, tag, time_of};
use crate::state::MlflowState;
use crate::wire::{Body, Double, Int64, KeyValue, Query, key_values, required, run_id_of};
use crate::{AppState, limits};

/// The label that holds a run's (or logged model's) experiment id.
pub const EXPERIMENT_LABEL: &str = "mlflow.org/experiment-id";
/// The reserved tag holding the dataset inputs as MLflow sent them.
pub const INPUTS_TAG: &str = "mlspec.inputs";
/// The reserved tag holding the model outputs as MLflow sent them.
pub const OUTPUTS_TAG: &str = "mlspec.outputs";
const RUN_NAME_TAG: &str = "mlflow.runName";
const PARENT_TAG: &str = "mlflow.parentRunId";
const USER_TAG: &str = "mlflow.user";

/// One metric point as MLflow sends and receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Double,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: Int64,
    /// The step.
    #[serde(default)]
    pub step: Int64,
}

/// A run as stored, with what MLflow's answers need.
pub struct Run {
    stored: StoredObject,
}

impl Run {
    /// The run with `id`, or a 404.
    pub async fn load(state: &MlflowState, id: &str) -> Result<Run> {
        let stored = state.object(Kind::Run, id, "Run").await?;
        Ok(Run { stored })
    }

    fn spec(&self) -> Option<&RunSpec> {
        match &self.stored.document.spec {
            Spec::Run(spec) => Some(spec),
            _ => None,
        }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.stored.summary.id
    }

    /// Its experiment's id.
    pub fn experiment_id(&self) -> &str {
        label(&self.stored.document.metadata.labels, EXPERIMENT_LABEL).unwrap_or(experiments::DEFAULT_ID)
    }

    fn tag(&self, key: &str) -> Option<&str> {
        self.spec().and_then(|s| tag(&s.tags, key))
    }

    /// Where its artifacts are, as the client sees it.
    pub fn artifact_uri(&self) -> String {
        format!("mlflow-artifacts:/{}/{}/artifacts", self.experiment_id(), self.id())
    }

    fn active(&self) -> bool {
        self.stored.summary.status != Status::Archived
    }

    fn status(&self) -> &'static str {
        self.spec().map_or("FINISHED", |s| status_text(s.status))
    }

    fn start_ms(&self) -> Option<i64> {
        self.spec().and_then(|s| s.start_time.as_ref()).map(millis)
    }

    fn end_ms(&self) -> Option<i64> {
        self.spec().and_then(|s| s.end_time.as_ref()).map(millis)
    }

    fn user(&self) -> String {
        self.stored.document.metadata.created_by.as_ref().map_or_else(
            || self.tag(USER_TAG).unwrap_or("").to_owned(),
            |u| u.as_str().to_owned(),
        )
    }

    /// Every point of `key`, by step.
    fn history(&self, key: &str) -> Vec<MetricPoint> {
        let mut points: Vec<MetricPoint> = self
            .spec()
            .map(|s| {
                s.metrics
                    .iter()
                    .filter(|m| m.key.as_str() == key)
                    .map(point_of)
                    .collect()
            })
            .unwrap_or_default();
        points.sort_by_key(|p| (p.step.0, p.timestamp.0));
        points
    }

    /// The latest point of each key (largest step, then latest time).
    fn latest(&self) -> BTreeMap<String, MetricPoint> {
        let mut latest: BTreeMap<String, MetricPoint> = BTreeMap::new();
        for metric in self.spec().map(|s| s.metrics.as_slice()).unwrap_or_default() {
            let point = point_of(metric);
            let newer = latest
                .get(&point.key)
                .is_none_or(|p| (point.step.0, point.timestamp.0) >= (p.step.0, p.timestamp.0));
            if newer {
                latest.insert(point.key.clone(), point);
            }
        }
        latest
    }

    fn reserved_json(&self, key: &str) -> Vec<Value> {
        self.spec().map(|s| reserved_list(s, key)).unwrap_or_default()
    }

    /// The run's `info` message.
    pub fn info_json(&self) -> Value {
        let mut info = json!({
            "run_id": self.id(),
            "run_uuid": self.id(),
            "experiment_id": self.experiment_id(),
            "run_name": self.tag(RUN_NAME_TAG).unwrap_or(""),
            "user_id": self.user(),
            "status": self.status(),
            "start_time": self.start_ms().unwrap_or(0),
            "artifact_uri": self.artifact_uri(),
            "lifecycle_stage": lifecycle_stage(self.active()),
        });
        if let Some(end) = self.end_ms() {
            info["end_time"] = json!(end);
        }
        info
    }

    /// The whole run as MLflow's `Run` message.
    pub fn to_json(&self) -> Value {
        let metrics: Vec<MetricPoint> = self.latest().into_values().collect();
        let (params, tags) = match self.spec() {
            Some(spec) => (
                key_values(spec.params.iter().map(|(k, v)| (k.as_str(), param_text(v)))),
                visible_tags(&spec.tags),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let inputs = self.reserved_json(INPUTS_TAG);
        let outputs = self.reserved_json(OUTPUTS_TAG);
        json!({
            "info": self.info_json(),
            "data": {"metrics": metrics, "params": params, "tags": tags},
            "inputs": if inputs.is_empty() { json!({}) } else { json!({"dataset_inputs": inputs}) },
            "outputs": if outputs.is_empty() { json!({}) } else { json!({"model_outputs": outputs}) },
        })
    }
}

impl Subject for Run {
    fn values(&self, entity: Entity, key: &str) -> Vec<FilterValue> {
        let text = |t: &str| vec![FilterValue::text(t)];
        match entity {
            Entity::Metric => self
                .latest()
                .get(key)
                .filter(|p| !p.value.0.is_nan())
                .map(|p| FilterValue::Num(p.value.0))
                .into_iter()
                .collect(),
            Entity::Param => self
                .spec()
                .and_then(|s| s.params.iter().find(|(k, _)| k.as_str() == key))
                .map(|(_, v)| FilterValue::text(param_text(v)))
                .into_iter()
                .collect(),
            Entity::Tag if key.starts_with(RESERVED_PREFIX) => Vec::new(),
            Entity::Tag => self.tag(key).map(FilterValue::text).into_iter().collect(),
            Entity::Dataset => self.dataset_values(key),
            Entity::Attribute => match key {
                "run_id" | "run_uuid" | "id" => text(self.id()),
                "run_name" | "name" => text(self.tag(RUN_NAME_TAG).unwrap_or("")),
                "status" => text(self.status()),
                "user_id" => text(&self.user()),
                "artifact_uri" => text(&self.artifact_uri()),
                "experiment_id" => text(self.experiment_id()),
                "lifecycle_stage" => text(lifecycle_stage(self.active())),
                "start_time" | "created" => self
                    .start_ms()
                    .map(|t| FilterValue::Num(t as f64))
                    .into_iter()
                    .collect(),
                "end_time" => self.end_ms().map(|t| FilterValue::Num(t as f64)).into_iter().collect(),
                _ => Vec::new(),
            },
        }
    }
}

impl Run {
    fn dataset_values(&self, key: &str) -> Vec<FilterValue> {
        self.reserved_json(INPUTS_TAG)
            .iter()
            .filter_map(|input| match key {
                "context" => input["tags"].as_array().and_then(|tags| {
                    tags.iter()
                        .find(|t| t["key"] == "mlflow.data.context")
                        .and_then(|t| t["value"].as_str())
                        .map(FilterValue::text)
                }),
                field => input["dataset"][field].as_str().map(FilterValue::text),
            })
            .collect()
    }
}

fn point_of(metric: &Metric) -> MetricPoint {
    let value = match &metric.value {
        MetricValue::Scalar(v) if *v == f64::MAX => f64::INFINITY,
        MetricValue::Scalar(v) if *v == f64::MIN => f64::NEG_INFINITY,
        MetricValue::Scalar(v) => *v,
        _ => f64::NAN,
    };
    MetricPoint {
        key: metric.key.as_str().to_owned(),
        value: Double(value),
        timestamp: Int64(metric.timestamp.as_ref().map_or(0, millis)),
        step: Int64(metric.step.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX))),
    }
}

fn param_text(value: &ParamValue) -> &str {
    match value {
        ParamValue::String(s) => s,
        ParamValue::Number(_) => "",
    }
}

fn status_text(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Scheduled => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Finished | RunStatus::Unknown => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

fn parse_status(text: &str) -> Result<RunStatus> {
    Ok(match text {
        "RUNNING" | "1" => RunStatus::Running,
        "SCHEDULED" | "2" => RunStatus::Scheduled,
        "FINISHED" | "3" => RunStatus::Finished,
        "FAILED" | "4" => RunStatus::Failed,
        "KILLED" | "5" => RunStatus::Killed,
        other => {
            return Err(MlflowError::invalid(format!(
                "Invalid run status '{other}': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )));
        }
    })
}

/// A metric point as the spec keeps it (see the module docs for NaN and infinities).
fn metric_of(point: &MetricPoint) -> Result<Metric> {
    let key = limits::key(&point.key, "metric")?;
    let step = u64::try_from(point.step.0).map_err(|_| {
        MlflowError::invalid(format!(
            "metric `{}`: step {} is negative; MLSpec records steps from 0",
            point.key, point.step.0
        ))
    })?;
    let value = match point.value.0 {
        v if v.is_nan() => MetricValue::Array(Vec::new()),
        v if v == f64::INFINITY => MetricValue::Scalar(f64::MAX),
        v if v == f64::NEG_INFINITY => MetricValue::Scalar(f64::MIN),
        v => MetricValue::Scalar(v),
    };
    let timestamp = if point.timestamp.0 == 0 {
        now_millis()
    } else {
        point.timestamp.0
    };
    Ok(Metric {
        key,
        value,
        step: Some(step),
        timestamp: Some(time_of(timestamp, "timestamp")?),
    })
}

/// Records a point: a new step is added; at a known step the newer value wins.
fn add_metric(spec: &mut RunSpec, metric: Metric) {
    match spec
        .metrics
        .iter_mut()
        .find(|m| m.key == metric.key && m.step == metric.step)
    {
        Some(existing) if existing.timestamp <= metric.timestamp => *existing = metric,
        Some(_) => {}
        None => spec.metrics.push(metric),
    }
}

/// Records a param; an existing key keeps its value, and a different one is a 400.
fn add_param(spec: &mut RunSpec, run_id: &str, param: &KeyValue) -> Result<()> {
    let key = limits::key(&param.key, "param")?;
    limits::text(&param.value, limits::PARAM_VALUE, "Param value")?;
    match spec.params.get(&key) {
        Some(existing) if param_text(existing) == param.value => Ok(()),
        Some(existing) => Err(MlflowError::invalid(format!(
            "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' \
             for run ID='{run_id}'. Attempted logging new value '{}'.",
            param.key,
            param_text(existing),
            param.value
        ))),
        None => {
            spec.params.0.insert(key, ParamValue::String(param.value.clone()));
            Ok(())
        }
    }
}

fn add_tag(spec: &mut RunSpec, tag: &KeyValue) -> Result<()> {
    let key = tag_key(&tag.key)?;
    spec.tags.0.insert(key, limits::tag_value(&tag.value)?);
    Ok(())
}

/// The list a reserved tag holds as JSON (empty when absent).
pub fn reserved_list<T: serde::de::DeserializeOwned>(spec: &RunSpec, key: &str) -> Vec<T> {
    tag(&spec.tags, key)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Sets a reserved tag (MLSpec's own bookkeeping).
pub fn set_reserved(spec: &mut RunSpec, key: &str, value: String) -> Result<()> {
    spec.tags.0.insert(limits::key(key, "tag")?, value);
    Ok(())
}

/// Reads a run, changes it with `change`, checks and stores it — all under the run's lock —
/// and returns it as changed. The documents `change` returns (a new Dataset version) are
/// applied in the same transaction.
pub async fn update<F>(state: &MlflowState, run_id: &str, change: F) -> Result<Run>
where
    F: FnOnce(&mut RunSpec) -> Result<Vec<Document>>,
{
    let _lock = state.lock(run_id).await;
    let run = Run::load(state, run_id).await?;
    if !run.active() {
        return Err(MlflowError::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is deleted."
        )));
    }
    let mut stored = run.stored;
    let Spec::Run(spec) = &mut stored.document.spec else {
        return Err(MlflowError::not_found(format!("Run with id={run_id} not found")));
    };
    let mut documents = change(spec)?;
    let names = match tag(&spec.tags, RUN_NAME_TAG) {
        Some(run_name) => document_names(run_name, run_id)?,
        None => Vec::new(),
    };
    spec.source = source_of(spec).or(spec.source.take());
    documents.push(stored.document.clone());
    if names.contains(&stored.document.metadata.name) {
        state.save(&documents).await?;
    } else {
        // The run name changed: the document follows it.
        stored.document = save_named(state, documents, names).await?;
    }
    Ok(Run { stored })
}

/// Saves `documents` — the run's last — with the run under the first of `names` no other live
/// run has; returns the run's document as saved.
async fn save_named(state: &MlflowState, mut documents: Vec<Document>, names: Vec<Name>) -> Result<Document> {
    let last = names.len().saturating_sub(1);
    for (i, name) in names.into_iter().enumerate() {
        if let Some(run) = documents.last_mut() {
            run.metadata.name = name;
        }
        match state.save(&documents).await {
            Err(e) if e.kind == crate::error::ErrorKind::ResourceAlreadyExists && i < last => {}
            other => {
                return other.and_then(|()| documents.pop().ok_or_else(|| MlflowError::internal("no run to save")));
            }
        }
    }
    Err(MlflowError::internal("a run has no document name"))
}

#[derive(Deserialize)]
pub(crate) struct CreateRequest {
    experiment_id: Option<String>,
    user_id: Option<String>,
    run_name: Option<String>,
    start_time: Option<Int64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub(crate) async fn create(State(state): AppState, Body(r): Body<CreateRequest>) -> Result<Json<Value>> {
    let experiment_id = r.experiment_id.as_deref().filter(|id| !id.is_empty());
    let experiment = experiments::get(&state, experiment_id.unwrap_or(experiments::DEFAULT_ID)).await?;
    if !experiment.active() {
        return Err(MlflowError::invalid(format!(
            "The experiment {} must be in the 'active' state. Current state is deleted.",
            experiment.id()
        )));
    }
    let id = new_run_id();
    let spec = new_run_spec(&state, &r, experiment.id(), &id).await?;
    let names = document_names(tag(&spec.tags, RUN_NAME_TAG).unwrap_or_default(), &id)?;
    let first = names
        .first()
        .cloned()
        .ok_or_else(|| MlflowError::internal("a run has no document name"))?;
    let mut metadata = Metadata::named(first);
    metadata.id = Some(ObjectId::new(id.as_str()).map_err(|e| MlflowError::internal(e.to_string()))?);
    metadata.created_by = r.user_id.as_deref().and_then(|u| ShortText::new(u).ok());
    let labels = &mut metadata.labels.0;
    labels.insert(label_key(EXPERIMENT_LABEL)?, label_value(experiment.id())?);
    let document = Document {
        api_version: Default::default(),
        metadata,
        spec: Spec::Run(spec),
    };
    save_named(&state, vec![document], names).await?;
    let run = Run::load(&state, &id).await?;
    Ok(Json(json!({"run": run.to_json()})))
}

/// The spec of a new run: Running since `start_time`, its tags (the run name among them), and
/// its experiment, parent and source.
async fn new_run_spec(state: &MlflowState, r: &CreateRequest, experiment_id: &str, id: &str) -> Result<RunSpec> {
    let mut spec = RunSpec::with_status(RunStatus::Running);
    spec.experiment = Some(Ref::from(object_id(experiment_id, "Experiment")?));
    let start = r.start_time.map_or_else(now_millis, |t| t.0);
    spec.start_time = Some(time_of(start, "start_time")?);
    for tag in &r.tags {
        add_tag(&mut spec, tag)?;
    }
    let run_name = r
        .run_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| tag(&spec.tags, RUN_NAME_TAG).map(str::to_owned))
        .unwrap_or_else(|| format!("run-{}", &id[24..]));
    add_tag(
        &mut spec,
        &KeyValue {
            key: RUN_NAME_TAG.into(),
            value: run_name,
        },
    )?;
    spec.parent = parent_of(state, &spec).await?;
    spec.source = source_of(&spec);
    Ok(spec)
}

/// The code a run ran, from MLflow's source tags: the repository (`mlflow.source.git.repoURL`,
/// else the source name), the commit and the entry point (`mlflow.source.name`).
fn source_of(spec: &RunSpec) -> Option<SourceCode> {
    let text = |key: &str| tag(&spec.tags, key).and_then(|v| ShortText::new(v).ok());
    let entry_point = text("mlflow.source.name");
    let uri = text("mlflow.source.git.repoURL").or_else(|| entry_point.clone())?;
    Some(SourceCode {
        uri,
        revision: text("mlflow.source.git.commit"),
        entry_point,
        digest: None,
    })
}

/// The document names a run may have: its MLflow name sanitized, then the last 8 hex digits of
/// its id (the random ones) — or, should another run of that name have them too, the whole id.
/// Names stay unique while MLflow's repeat, and a rename follows the run name.
fn document_names(run_name: &str, run_id: &str) -> Result<Vec<Name>> {
    let stem = Name::sanitized_text(run_name, 200);
    let stem = stem.trim_end_matches(['-', '_']);
    let stem = if stem.is_empty() { "run" } else { stem };
    let short = run_id.get(run_id.len().saturating_sub(8)..).unwrap_or(run_id);
    let mut names = Vec::with_capacity(2);
    for suffix in [short, run_id] {
        let name = if stem.ends_with(suffix) {
            stem.to_owned()
        } else {
            format!("{stem}-{suffix}")
        };
        let name = Name::new(name)
            .or_else(|_| Name::new(run_id))
            .map_err(|e| MlflowError::internal(e.to_string()))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// The parent run named by the `mlflow.parentRunId` tag, when it is a stored run.
async fn parent_of(state: &MlflowState, spec: &RunSpec) -> Result<Option<Ref>> {
    let Some(parent) = tag(&spec.tags, PARENT_TAG) else {
        return Ok(None);
    };
    match Run::load(state, parent).await {
        Ok(run) => Ok(Some(Ref::from(object_id(run.id(), "Run")?))),
        Err(e) if e.kind == crate::error::ErrorKind::ResourceDoesNotExist => Ok(None),
        Err(e) => Err(e),
    }
}

/// A label key the code spells, as the spec's type.
pub fn label_key(key: &str) -> Result<LabelKey> {
    LabelKey::new(key).map_err(|e| MlflowError::internal(e.to_string()))
}

/// A label value, or a 400 naming it.
pub fn label_value(value: &str) -> Result<LabelValue> {
    LabelValue::new(value).map_err(|e| MlflowError::invalid(e.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct RunQuery {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

pub(crate) async fn get(State(state): AppState, Query(q): Query<RunQuery>) -> Result<Json<Value>> {
    let id = run_id_of(&q.run_id, &q.run_uuid)?;
    let run = Run::load(&state, &id).await?;
    Ok(Json(json!({"run": run.to_json()})))
}

/// The end time a run's status calls for: none while it runs; for an ended run the time given,
/// else the one it has, else now — never before its start (the rules refuse that).
fn set_end_time(spec: &mut RunSpec, given: Option<Int64>) -> Result<()> {
    if matches!(spec.status, RunStatus::Running | RunStatus::Scheduled) {
        spec.end_time = None;
        return Ok(());
    }
    let end = match (given, spec.end_time) {
        (Some(Int64(ms)), _) => time_of(ms, "end_time")?,
        (None, Some(end)) => end,
        (None, None) => time_of(now_millis(), "end_time")?,
    };
    spec.end_time = Some(end.max(spec.start_time.unwrap_or_default()));
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct UpdateRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    status: Option<String>,
    end_time: Option<Int64>,
    run_name: Option<String>,
}

pub(crate) async fn update_handler(State(state): AppState, Body(r): Body<UpdateRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let status = r.status.as_deref().map(parse_status).transpose()?;
    let run = update(&state, &id, |spec| {
        if let Some(status) = status {
            spec.status = status;
        }
        set_end_time(spec, r.end_time)?;
        if let Some(name) = r.run_name.as_deref().filter(|n| !n.is_empty()) {
            add_tag(
                spec,
                &KeyValue {
                    key: RUN_NAME_TAG.into(),
                    value: name.into(),
                },
            )?;
        }
        Ok(Vec::new())
    })
    .await?;
    Ok(Json(json!({"run_info": run.info_json()})))
}

#[derive(Deserialize)]
pub(crate) struct KeyValueRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

impl KeyValueRequest {
    fn pair(&self) -> Result<KeyValue> {
        Ok(KeyValue {
            key: required(&self.key, "key")?.to_owned(),
            value: self.value.clone().unwrap_or_default(),
        })
    }
}

pub(crate) async fn log_param(State(state): AppState, Body(r): Body<KeyValueRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let param = r.pair()?;
    update(&state, &id, |spec| add_param(spec, &id, &param).map(|()| Vec::new())).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn set_tag(State(state): AppState, Body(r): Body<KeyValueRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let tag = r.pair()?;
    update(&state, &id, |spec| add_tag(spec, &tag).map(|()| Vec::new())).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_tag(State(state): AppState, Body(r): Body<KeyValueRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let key = tag_key(required(&r.key, "key")?)?;
    update(&state, &id, |spec| match spec.tags.0.remove(&key) {
        Some(_) => Ok(Vec::new()),
        None => Err(MlflowError::not_found(format!(
            "No tag with name: {key} in run with id {id}"
        ))),
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct LogMetricRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(flatten)]
    point: MetricPoint,
}

pub(crate) async fn log_metric(State(state): AppState, Body(r): Body<LogMetricRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let metric = metric_of(&r.point)?;
    update(&state, &id, |spec| {
        add_metric(spec, metric);
        Ok(Vec::new())
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct LogBatchRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricPoint>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

fn check_batch(r: &LogBatchRequest) -> Result<()> {
    let counts = [
        (r.metrics.len(), limits::BATCH_METRICS, "metrics"),
        (r.params.len(), limits::BATCH_PARAMS, "params"),
        (r.tags.len(), limits::BATCH_TAGS, "tags"),
        (
            r.metrics.len() + r.params.len() + r.tags.len(),
            limits::BATCH_TOTAL,
            "total entities",
        ),
    ];
    for (count, max, what) in counts {
        if count > max {
            return Err(MlflowError::invalid(format!(
                "A batch logging request can contain at most {max} {what}. Got {count} {what}. \
                 Please split up the batch into smaller batches."
            )));
        }
    }
    Ok(())
}

pub(crate) async fn log_batch(State(state): AppState, Body(r): Body<LogBatchRequest>) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    check_batch(&r)?;
    let metrics = r.metrics.iter().map(metric_of).collect::<Result<Vec<_>>>()?;
    update(&state, &id, |spec| {
        for param in &r.params {
            add_param(spec, &id, param)?;
        }
        for tag in &r.tags {
            add_tag(spec, tag)?;
        }
        for metric in metrics {
            add_metric(spec, metric);
        }
        Ok(Vec::new())
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct DeleteRequest {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

pub(crate) async fn delete(State(state): AppState, Body(r): Body<DeleteRequest>) -> Result<Json<Value>> {
    set_status(&state, &r, Status::Archived).await
}

pub(crate) async fn restore(State(state): AppState, Body(r): Body<DeleteRequest>) -> Result<Json<Value>> {
    set_status(&state, &r, Status::Active).await
}

async fn set_status(state: &MlflowState, r: &DeleteRequest, status: Status) -> Result<Json<Value>> {
    let id = run_id_of(&r.run_id, &r.run_uuid)?;
    let _lock = state.lock(&id).await;
    Run::load(state, &id).await?;
    let selector = Selector::Id(object_id(&id, "Run")?);
    state
        .store
        .set_status(&selector, status, &crate::state::actor())
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    run_id: Option<String>,
    run_uuid: Option<String>,
    metric_key: Option<String>,
    max_results: Option<Int64>,
    page_token: Option<String>,
}

pub(crate) async fn metric_history(State(state): AppState, Query(q): Query<HistoryQuery>) -> Result<Json<Value>> {
    let id = run_id_of(&q.run_id, &q.run_uuid)?;
    let key = required(&q.metric_key, "metric_key")?;
    let max = limits::max_results(q.max_results, 25_000, 25_000)?;
    let run = Run::load(&state, &id).await?;
    let (points, next) = page(run.history(key), q.page_token.as_deref(), max)?;
    let points = points.iter().map(|p| json!(p)).collect();
    Ok(Json(paged("metrics", points, next)))
}

#[derive(Deserialize)]
pub(crate) struct SearchRequest {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    run_view_type: Option<String>,
    max_results: Option<Int64>,
    #[serde(default)]
    order_by: Vec<String>,
    page_token: Option<String>,
}

pub(crate) async fn search(State(state): AppState, Body(r): Body<SearchRequest>) -> Result<Json<Value>> {
    let comparisons = parse_filter(r.filter.as_deref().unwrap_or(""))?;
    let order = parse_order_by(&r.order_by)?;
    let view = ViewType::parse(r.run_view_type.as_deref())?;
    let max = limits::max_results(r.max_results, 1000, 50_000)?;
    let mut query = ListQuery::new(Kind::Run);
    query.statuses = view.statuses();
    query.filter = Some(store_filter(&r.experiment_ids, &comparisons));
    let (runs, next) = if order.is_empty() && comparisons.iter().all(filter::is_indexed) {
        search_in_store(&state, query, &comparisons, r.page_token.as_deref(), max).await?
    } else {
        search_documents(&state, &query, &comparisons, &order, r.page_token.as_deref(), max).await?
    };
    let runs = runs.iter().map(Run::to_json).collect();
    Ok(Json(paged("runs", runs, next)))
}

/// A search the store answers whole — its index decides every comparison and it orders by
/// creation, newest first — so only one page of runs is read. The comparisons are checked
/// again on those runs (a NaN at the latest step is not in the index).
async fn search_in_store(
    state: &MlflowState,
    mut query: ListQuery,
    comparisons: &[filter::Comparison],
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<Run>, Option<String>)> {
    let offset = filter::offset_of(token)?;
    query.order = Some(OrderBy {
        key: OrderKey::Created,
        descending: true,
    });
    query.offset = u32::try_from(offset).map_err(|_| MlflowError::invalid("Invalid page token: offset too large"))?;
    query.limit = Some(u32::try_from(max + 1).unwrap_or(u32::MAX));
    let summaries = state.store.list(&query).await?;
    let more = summaries.len() > max;
    let ids: Vec<String> = summaries.into_iter().take(max).map(|s| s.id).collect();
    let runs = state.objects(Kind::Run, &ids, "Run").await?;
    let runs = filter::matching(runs.into_iter().map(|stored| Run { stored }).collect(), comparisons);
    Ok((runs, more.then(|| filter::encode_token(offset + max))))
}

/// A search that reads every run the index lets through, then filters, sorts and pages them:
/// for comparisons the index cannot decide (tags, attributes, LIKE, IN) and for `order_by`.
/// Ties, and runs without an `order_by` key, come newest first, as in the store's order.
async fn search_documents(
    state: &MlflowState,
    query: &ListQuery,
    comparisons: &[filter::Comparison],
    order: &[filter::OrderBy],
    token: Option<&str>,
    max: usize,
) -> Result<(Vec<Run>, Option<String>)> {
    let runs = state.listed(query, "Run").await?;
    let mut runs = filter::matching(runs.into_iter().map(|stored| Run { stored }).collect(), comparisons);
    filter::sort(&mut runs, order, |run: &Run| {
        FilterValue::Num(run.stored.summary.created_seq as f64)
    });
    page(runs, token, max)
}

/// The store's indexed filter: the experiments (by label) and the indexable comparisons.
fn store_filter(experiment_ids: &[String], comparisons: &[filter::Comparison]) -> mlspec_spec::expr::query::Filter {
    use mlspec_spec::expr::ast::BinOp;
    use mlspec_spec::expr::query::{Field, Filter, Literal};
    let experiments = experiment_ids
        .iter()
        .map(|id| Filter::Compare {
            field: Field::Label(EXPERIMENT_LABEL.to_owned()),
            op: BinOp::Eq,
            value: Literal::Text(id.clone()),
        })
        .collect();
    let mut parts = vec![Filter::Any(experiments)];
    parts.extend(filter::indexed(comparisons));
    Filter::All(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: f64, step: i64, timestamp: i64) -> MetricPoint {
        MetricPoint {
            key: "loss".into(),
            value: Double(value),
            timestamp: Int64(timestamp),
            step: Int64(step),
        }
    }

    #[test]
    fn non_finite_values_round_trip() {
        for value in [f64::INFINITY, f64::NEG_INFINITY, 1.5] {
            let back = point_of(&metric_of(&point(value, 1, 5)).unwrap());
            assert_eq!(back.value.0, value);
        }
        assert!(point_of(&metric_of(&point(f64::NAN, 1, 5)).unwrap()).value.0.is_nan());
        assert!(metric_of(&point(1.0, -1, 5)).is_err());
    }

    #[test]
    fn one_point_per_step_the_newer_wins() {
        let mut spec = RunSpec::with_status(RunStatus::Running);
        add_metric(&mut spec, metric_of(&point(1.0, 0, 10)).unwrap());
        add_metric(&mut spec, metric_of(&point(2.0, 0, 5)).unwrap());
        add_metric(&mut spec, metric_of(&point(3.0, 1, 5)).unwrap());
        assert_eq!(spec.metrics.len(), 2);
        assert_eq!(spec.metrics[0].value, MetricValue::Scalar(1.0));
        add_metric(&mut spec, metric_of(&point(4.0, 0, 20)).unwrap());
        assert_eq!(spec.metrics[0].value, MetricValue::Scalar(4.0));
    }

    #[test]
    fn params_are_immutable() {
        let mut spec = RunSpec::with_status(RunStatus::Running);
        let lr = |v: &str| KeyValue {
            key: "lr".into(),
            value: v.into(),
        };
        add_param(&mut spec, "r", &lr("0.1")).unwrap();
        add_param(&mut spec, "r", &lr("0.1")).unwrap();
        let error = add_param(&mut spec, "r", &lr("0.2")).unwrap_err();
        assert!(error.message.contains("Changing param values is not allowed"));
        assert!(
            add_param(
                &mut spec,
                "r",
                &KeyValue {
                    key: "big".into(),
                    value: "x".repeat(6001)
                }
            )
            .is_err()
        );
    }

    #[test]
    fn document_names_follow_run_names_and_stay_unique() {
        let id = "0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6";
        let first = |run_name: &str| document_names(run_name, id).unwrap()[0].to_string();
        assert_eq!(first("bright-cat-42"), "bright-cat-42-d3e4f5a6");
        assert_eq!(first("my run / 2"), "my-run---2-d3e4f5a6");
        assert_eq!(first(""), "run-d3e4f5a6");
        assert_eq!(first("ü"), "run-d3e4f5a6");
        assert_eq!(first("run-d3e4f5a6"), "run-d3e4f5a6");
        let names = document_names("train", id).unwrap();
        assert_eq!(names[1].as_str(), format!("train-{id}"));
    }

    #[test]
    fn source_tags_become_the_source() {
        let mut spec = RunSpec::with_status(RunStatus::Running);
        assert_eq!(source_of(&spec), None);
        for (key, value) in [
            ("mlflow.source.name", "train.py"),
            ("mlflow.source.git.commit", "abc123"),
        ] {
            add_tag(
                &mut spec,
                &KeyValue {
                    key: key.into(),
                    value: value.into(),
                },
            )
            .unwrap();
        }
        let source = source_of(&spec).unwrap();
        assert_eq!(source.uri.as_str(), "train.py");
        assert_eq!(source.revision.unwrap().as_str(), "abc123");
        assert_eq!(source.entry_point.unwrap().as_str(), "train.py");
    }

    #[test]
    fn end_times_follow_the_status() {
        let mut spec = RunSpec::with_status(RunStatus::Finished);
        spec.start_time = Some(time_of(1000, "t").unwrap());
        set_end_time(&mut spec, Some(Int64(5000))).unwrap();
        assert_eq!(spec.end_time.map(|t| millis(&t)), Some(5000));
        set_end_time(&mut spec, None).unwrap();
        assert_eq!(
            spec.end_time.map(|t| millis(&t)),
            Some(5000),
            "a rename keeps the end time"
        );
        set_end_time(&mut spec, Some(Int64(10))).unwrap();
        assert_eq!(spec.end_time.map(|t| millis(&t)), Some(1000), "never before the start");
        spec.status = RunStatus::Running;
        set_end_time(&mut spec, Some(Int64(5000))).unwrap();
        assert_eq!(spec.end_time, None);
    }

    #[test]
    fn reserved_tags_are_refused() {
        let mut spec = RunSpec::with_status(RunStatus::Running);
        assert!(
            add_tag(
                &mut spec,
                &KeyValue {
                    key: "mlspec.inputs".into(),
                    value: "[]".into()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn batch_limits() {
        let request = LogBatchRequest {
            run_id: None,
            run_uuid: None,
            metrics: vec![point(1.0, 0, 0); 1001],
            params: Vec::new(),
            tags: Vec::new(),
        };
        assert!(
            check_batch(&request)
                .unwrap_err()
                .message
                .contains("at most 1000 metrics")
        );
    }
}

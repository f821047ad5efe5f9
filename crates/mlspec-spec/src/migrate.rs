//! `mlspec migrate`: conversion of documents in the original MLSpec formats into v1.
//!
//! Two original formats exist: the MLSpec repository's examples (`mlSpecVersion: 0.0.1`,
//! `specVersion`, and untagged sketches such as `pipelines/pipeline.yml`), and mlspec-lib's
//! `schema_version`/`schema_type` documents (versions 0.0.1 and 0.1.0). Every mlspec-lib document
//! records one step of a run (`run_id`, `step_id`, `run_date`), so each becomes a v1 `Run` whose
//! parameters are the document's settings; documents with a closer v1 kind become that kind
//! (datasets, pipelines, components as Modules, experiment runs, data stores, record templates
//! as DataSchemas). What has no v1 home is listed in the notes, never silently dropped.
//!
//! **Credentials are never copied.** A setting that looks like a credential is replaced by a
//! `secretRef` to an environment variable, with a note saying which variable to set; a secret
//! inside any other value (a URL's password, `Password=` in a connection string, a signed URL's
//! signature; see [`crate::redact`]) is replaced by `***`, with a warning naming the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::document::{ApiVersion, Document, Kind, Metadata, Spec};
use crate::kinds::{
    ConnectionValue, DataSchemaSpec, DatasetSpec, DatasetVersion, DatastoreSpec, DatastoreType, FeatureSchema,
    FeatureType, Implementation, ModuleSpec, PipelineSpec, Port, PortType, RunSpec, RunStatus, SecretReference, Step,
};
use crate::newtypes::{Key, Name, ObjectId, RelativePath, SecretRef, ShortText, Version};
use crate::redact;
use crate::reference::{Ref, RefTarget};
use crate::rules::{Findings, Rules};
use crate::values::{DataPath, Metric, MetricValue, ParamValue, Params, Timestamp, UniqueMap};

/// The result of migrating one input.
#[derive(Debug, Default)]
pub struct Migration {
    /// The v1 documents.
    pub documents: Vec<Document>,
    /// What could not be mapped, and what was moved out (credentials).
    pub notes: Vec<String>,
}

/// Why an input could not be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The input is not valid YAML.
    #[error("invalid YAML{}: {message}", .line.map(|l| format!(" at line {l}, column {}", .column.unwrap_or(0))).unwrap_or_default())]
    Syntax {
        /// What the parser said.
        message: String,
        /// Line, when known.
        line: Option<u64>,
        /// Column, when known.
        column: Option<u64>,
    },
    /// The input is not in a format this converter knows.
    #[error("not a document in an original MLSpec format: {0}")]
    Unrecognized(String),
}

/// Converts text in an original MLSpec format into v1 documents.
pub fn migrate(text: &str) -> Result<Migration, MigrateError> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| {
        let location = e.location().filter(|l| l.line() > 0);
        MigrateError::Syntax {
            message: crate::validate::yaml_message(&e),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
        }
    })?;
    let Value::Object(object) = value else {
        return Err(MigrateError::Unrecognized("expected a mapping at the top level".into()));
    };
    if object.contains_key("apiVersion") {
        return Err(MigrateError::Unrecognized(
            "it already has an apiVersion; validate it with `mlspec validate`".into(),
        ));
    }
    let mut m = Migrator::default();
    if let Some(schema_type) = object.get("schema_type").and_then(Value::as_str) {
        m.mlspec_lib(schema_type, object.clone());
    } else {
        m.mlspec_repo(object)?;
    }
    let mut notes = m.notes;
    let documents = m
        .documents
        .into_iter()
        .filter_map(|d| without_secrets(d, &mut notes))
        .collect();
    Ok(Migration { documents, notes })
}

/// The document with every secret inside its strings replaced by `***`, each noted with the
/// field it was in; `None` (noted) in the unlikely case the redacted document no longer reads.
fn without_secrets(document: Document, notes: &mut Vec<String>) -> Option<Document> {
    let mut value = serde_json::to_value(&document).ok()?;
    let mut found = Vec::new();
    redact_strings(&mut value, &mut String::new(), &mut found);
    if found.is_empty() {
        return Some(document);
    }
    let shown = format!("{}/{}", document.kind(), document.metadata.name);
    for (pointer, what) in found {
        notes.push(format!(
            "warning: {shown} at {pointer} held {what}; it was NOT copied (replaced by ***): keep it where the code reads secrets (an environment variable, a secret store)"
        ));
    }
    match serde_json::from_value(value) {
        Ok(redacted) => Some(redacted),
        Err(e) => {
            notes.push(format!(
                "{shown} could not be kept without its secrets ({e}); it was left out"
            ));
            None
        }
    }
}

/// Redacts every string under `value`, recording (JSON Pointer, what) for each secret.
fn redact_strings(value: &mut Value, pointer: &mut String, found: &mut Vec<(String, String)>) {
    let at = pointer.len();
    match value {
        Value::String(text) => {
            let secrets = redact::find(text);
            if !secrets.is_empty() {
                found.extend(secrets.into_iter().map(|s| (pointer.clone(), s.what)));
                *text = redact::redact(text).into_owned();
            }
        }
        Value::Array(items) => {
            let mut previous: Option<String> = None;
            for (i, item) in items.iter_mut().enumerate() {
                pointer.push_str(&format!("/{i}"));
                // A list of strings may be a command line: `--password VALUE`.
                if let (Some(flag), Value::String(text)) = (previous.take(), &mut *item)
                    && let Some(secret) = redact::secret_argument(&flag, text)
                {
                    found.push((pointer.clone(), secret.what));
                    *text = redact::MASK.to_owned();
                }
                previous = item.as_str().map(str::to_owned);
                redact_strings(item, pointer, found);
                pointer.truncate(at);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                // A value under a credential-like key is a credential, as `validate` reads it.
                let literal = match &*item {
                    Value::String(text) => !redact::is_reference(text),
                    Value::Number(_) => true,
                    _ => false,
                };
                if literal && redact::is_secret_variable(key) {
                    found.push((
                        pointer.clone(),
                        format!("a value under the credential-like key `{key}`"),
                    ));
                    *item = Value::String(redact::MASK.to_owned());
                } else {
                    redact_strings(item, pointer, found);
                }
                pointer.truncate(at);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[derive(Default)]
struct Migrator {
    documents: Vec<Document>,
    notes: Vec<String>,
}

fn document(name: Name, spec: Spec) -> Document {
    Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(name),
        spec,
    }
}

/// A valid name made from arbitrary text: invalid characters become `-`.
fn name_from(text: &str, fallback: &str) -> Name {
    let trimmed = Name::sanitized_text(text, 255);
    Name::new(trimmed)
        .or_else(|_| Name::new(fallback))
        .unwrap_or_else(|_| literal_name("migrated"))
}

/// A name written in this file, valid by inspection.
fn literal_name(text: &'static str) -> Name {
    Name::new(text).unwrap_or_else(|e| unreachable!("{e}"))
}

fn key_from(text: &str) -> Option<Key> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-./: ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(250)
        .collect();
    Key::new(cleaned).ok()
}

fn short(text: &str) -> Option<ShortText> {
    ShortText::new(text.chars().filter(|c| !c.is_control()).take(1024).collect::<String>()).ok()
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Legacy `1970-01-01 00:00:00.00000` or RFC 3339.
fn legacy_time(value: Option<&Value>) -> Option<Timestamp> {
    let text = value?.as_str()?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d"]
        .iter()
        .find_map(|f| {
            chrono::NaiveDateTime::parse_from_str(text, f).ok().or_else(|| {
                chrono::NaiveDate::parse_from_str(text, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
        })
        .map(|t| t.and_utc())
}

fn run_ref(id: Option<&Value>) -> Option<Ref> {
    let id = ObjectId::new(id?.as_str()?).ok()?;
    Some(Ref {
        target: RefTarget::Id(id),
        digest: None,
    })
}

impl Migrator {
    /// Flattens settings into parameters (`a.b.c: value`), moving credentials out.
    fn flatten(&mut self, prefix: &str, value: &Value, params: &mut BTreeMap<Key, ParamValue>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if redact::is_secret_name(k) && !matches!(v, Value::Object(_) | Value::Array(_)) {
                        self.credential(&path, v);
                        continue;
                    }
                    self.flatten(&path, v, params);
                }
            }
            Value::Array(items) if items.iter().all(|i| scalar_text(i).is_some()) => {
                let joined: Vec<String> = items.iter().filter_map(scalar_text).collect();
                self.param(prefix, ParamValue::String(joined.join(", ")), params);
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.flatten(&format!("{prefix}.{i}"), item, params);
                }
            }
            Value::Number(n) => {
                let value = n
                    .as_f64()
                    .map_or_else(|| ParamValue::String(n.to_string()), ParamValue::Number);
                self.param(prefix, value, params);
            }
            Value::String(s) => self.param(prefix, ParamValue::String(s.clone()), params),
            Value::Bool(b) => self.param(prefix, ParamValue::String(b.to_string()), params),
            Value::Null => {}
        }
    }

    fn param(&mut self, path: &str, value: ParamValue, params: &mut BTreeMap<Key, ParamValue>) {
        match key_from(path) {
            Some(key) => {
                params.insert(key, value);
            }
            None => self.notes.push(format!("`{path}`: no valid parameter key; not mapped")),
        }
    }

    /// Notes a credential that was not copied; returns the secret reference that replaces it.
    fn credential(&mut self, path: &str, value: &Value) -> Option<SecretRef> {
        let empty = scalar_text(value).is_none_or(|s| s.is_empty());
        if empty {
            self.notes.push(format!("`{path}`: empty credential dropped"));
            return None;
        }
        let key = path.rsplit('.').next().unwrap_or(path);
        let variable = format!("MLSPEC_{}", crate::redact::variable_part(key));
        self.notes.push(format!(
            "warning: `{path}` held an inline credential; it was NOT copied. Set the environment variable {variable} to its value (the v1 document refers to env:{variable})"
        ));
        SecretRef::new(format!("env:{variable}")).ok()
    }

    fn push(&mut self, name: Name, spec: Spec, labels: &[(&str, Option<&Value>)], created: Option<Timestamp>) {
        let mut doc = document(name, spec);
        let entries = labels.iter().filter_map(|(k, v)| {
            let value = crate::newtypes::LabelValue::new(scalar_text((*v)?)?).ok()?;
            Some((
                crate::newtypes::LabelKey::new(format!("mlspec.org/legacy-{k}")).ok()?,
                value,
            ))
        });
        doc.metadata.labels = entries.collect();
        doc.metadata.created_at = created;
        self.documents.push(doc);
    }

    fn mlspec_lib(&mut self, schema_type: &str, mut object: Map<String, Value>) {
        let version = object.remove("schema_version");
        let run_id = object.remove("run_id");
        let step_id = object.remove("step_id");
        let run_date = legacy_time(object.remove("run_date").as_ref());
        object.remove("schema_type");
        let labels = [
            ("schema-type", Some(&Value::String(schema_type.into()))),
            ("schema-version", version.as_ref()),
        ];
        let step_name = step_id.as_ref().and_then(Value::as_str).unwrap_or(schema_type);
        self.stores_from(&mut object);
        match schema_type {
            "component" => {
                if let Some(module) = self.component(&object) {
                    self.push(module.0, Spec::Module(module.1), &labels, run_date);
                    return;
                }
            }
            "workflow" => {
                if let Some(pipeline) = self.workflow(&object) {
                    let name = name_from(&format!("workflow-{step_name}"), "workflow");
                    self.push(name, Spec::Pipeline(pipeline), &labels, run_date);
                    return;
                }
            }
            _ => {}
        }
        let mut run = empty_run(run_date);
        run.parent = run_ref(run_id.as_ref());
        if schema_type == "train_results" {
            self.metrics_from(&mut object, &mut run);
        }
        let mut params = BTreeMap::new();
        self.flatten("", &Value::Object(object), &mut params);
        run.params = UniqueMap(params);
        let name = name_from(&format!("{schema_type}-{step_name}"), schema_type);
        let mut labels = labels.to_vec();
        labels.push(("step-id", step_id.as_ref()));
        self.push(name, Spec::Run(run), &labels, run_date);
        if let Some(id) = step_id
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|s| ObjectId::new(s).ok())
            && let Some(last) = self.documents.last_mut()
        {
            last.metadata.id = Some(id);
        }
    }

    /// `accuracy`, `loss`… at the top level become metrics, at `global_step` when given.
    fn metrics_from(&mut self, object: &mut Map<String, Value>, run: &mut RunSpec) {
        let step = object.remove("global_step").and_then(|v| v.as_u64());
        let numeric: Vec<String> = object
            .iter()
            .filter(|(_, v)| v.is_f64())
            .map(|(k, _)| k.clone())
            .collect();
        for key in numeric {
            if let (Some(value), Some(k)) = (object.remove(&key).and_then(|v| v.as_f64()), key_from(&key)) {
                run.metrics.push(Metric {
                    key: k,
                    value: MetricValue::Scalar(value),
                    step,
                    timestamp: None,
                });
            }
        }
        if let Some(id) = object.remove("training_execution_id") {
            run.parent = run_ref(Some(&id)).or(run.parent.take());
        }
    }

    /// Data stores and container stores described inline become Datastore documents.
    fn stores_from(&mut self, object: &mut Map<String, Value>) {
        let is_store = matches!(object.get("connection"), Some(Value::Object(_)));
        let mut stores: Vec<Value> = match object.remove("data_stores") {
            Some(Value::Array(items)) => items,
            Some(single @ Value::Object(_)) => vec![single],
            _ => Vec::new(),
        };
        if let Some(Value::Array(items)) = object.remove("container_stores") {
            stores.extend(items);
        }
        if is_store {
            let connection = object.remove("connection");
            let mut own = Map::new();
            for key in ["name", "data_store", "storage_connection_type", "datastore_type"] {
                if let Some(v) = object.get(key) {
                    own.insert(key.into(), v.clone());
                }
            }
            if let Some(c) = connection {
                own.insert("connection".into(), c);
            }
            // A conversion document's top-level connection belongs to its data store.
            match stores.first_mut() {
                Some(Value::Object(first)) if !own.contains_key("name") && !own.contains_key("data_store") => {
                    first.extend(own);
                }
                _ => stores.push(Value::Object(own)),
            }
        }
        for store in stores {
            if let Value::Object(store) = store {
                self.datastore(&store);
            }
        }
    }

    fn datastore(&mut self, store: &Map<String, Value>) {
        let name_text = ["name", "data_store"]
            .iter()
            .find_map(|k| store.get(*k).and_then(Value::as_str))
            .unwrap_or("datastore");
        let name = name_from(name_text, "datastore");
        let kind_text = ["type", "storage_connection_type", "datastore_type"]
            .iter()
            .find_map(|k| store.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let empty = Map::new();
        let connection = store.get("connection").and_then(Value::as_object).unwrap_or(&empty);
        let registry = connection.contains_key("container_registry");
        let store_type = match kind_text.as_str() {
            _ if registry => DatastoreType::ContainerRegistry,
            "s3" | "aws_blob" => DatastoreType::S3,
            _ => DatastoreType::Other,
        };
        let uri = ["endpoint", "container_registry"]
            .iter()
            .find_map(|k| connection.get(*k).and_then(Value::as_str))
            .unwrap_or("unknown");
        let mut settings = BTreeMap::new();
        for (k, v) in connection {
            let (Some(key), Some(text)) = (key_from(k), scalar_text(v)) else {
                continue;
            };
            if redact::is_secret_name(k) {
                if let Some(secret_ref) = self.credential(&format!("{name}.connection.{k}"), v) {
                    settings.insert(key, ConnectionValue::Secret(SecretReference { secret_ref }));
                }
            } else if !["endpoint", "container_registry"].contains(&k.as_str()) {
                settings.insert(key, ConnectionValue::Plain(text));
            }
        }
        let Some(uri) = short(uri) else { return };
        if self
            .documents
            .iter()
            .any(|d| d.kind() == Kind::Datastore && d.metadata.name == name)
        {
            return;
        }
        let spec = DatastoreSpec {
            store_type,
            uri,
            connection: UniqueMap(settings),
            read_only: false,
        };
        self.documents.push(document(name, Spec::Datastore(spec)));
    }

    fn component(&mut self, object: &Map<String, Value>) -> Option<(Name, ModuleSpec)> {
        let name = name_from(object.get("name")?.as_str()?, "component");
        let ports = |list: Option<&Value>| -> Vec<Port> {
            list.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|entry| entry.iter())
                .filter_map(|(port, spec)| {
                    let legacy = spec.get("type").and_then(Value::as_str).unwrap_or("");
                    let port_type = match legacy {
                        "Integer" => PortType::Integer,
                        "Dataset" => PortType::Dataset,
                        "LocalPath" => PortType::Directory,
                        _ => PortType::String,
                    };
                    let default = spec.get("default").and_then(|d| match d {
                        Value::Number(n) => n.as_f64().map(ParamValue::Number),
                        other => scalar_text(other).map(ParamValue::String),
                    });
                    Some(Port {
                        name: key_from(port)?,
                        port_type,
                        optional: false,
                        default,
                        description: None,
                        file: None,
                    })
                })
                .collect()
        };
        let command: Vec<String> = object
            .get("command")
            .and_then(Value::as_str)
            .map(|c| c.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        if command.is_empty() {
            return None;
        }
        let mut unmapped = BTreeMap::new();
        for key in ["communicator", "compute", "snapshotDirectory", "metadata"] {
            if let Some(v) = object.get(key) {
                self.flatten(key, v, &mut unmapped);
            }
        }
        for (k, v) in &unmapped {
            self.notes
                .push(format!("`{k}` = {v:?}: no v1 Module field; not mapped"));
        }
        let inputs = self.unique_ports("input", ports(object.get("inputs")));
        let outputs = self.unique_ports("output", ports(object.get("outputs")));
        Some((name, migrated_module(command, inputs, outputs)))
    }

    /// Keeps the first port of each name (a v1 Module's port names are unique), noting the rest.
    fn unique_ports(&mut self, what: &str, ports: Vec<Port>) -> Vec<Port> {
        let mut seen = foldhash::HashSet::default();
        let mut kept = Vec::new();
        for port in ports {
            if seen.insert(port.name.clone()) {
                kept.push(port);
            } else {
                self.notes
                    .push(format!("{what} `{}` is declared twice; kept the first", port.name));
            }
        }
        kept
    }

    fn workflow(&mut self, object: &Map<String, Value>) -> Option<PipelineSpec> {
        let steps = object.get("steps")?.as_object()?;
        let mut out = Vec::new();
        for (name, step) in steps {
            let module_name = step
                .pointer("/execution/schema_type")
                .and_then(Value::as_str)
                .unwrap_or(name);
            let depends_on = step
                .get("previous")
                .and_then(Value::as_str)
                .map(|p| name_from(p, "step"))
                .into_iter()
                .collect();
            out.push(Step {
                name: name_from(name, "step"),
                module: Ref::named(Kind::Module, name_from(module_name, "module")),
                inputs: UniqueMap::default(),
                params: Params::default(),
                depends_on,
                compute: None,
            });
        }
        self.notes.push("workflow steps' input/output schema types have no v1 equivalent; each step refers to a Module named after its execution schema type".into());
        Some(self.pipeline_spec(out))
    }

    /// Makes migrated steps a valid v1 pipeline: unique step names, dependencies only on other
    /// steps that exist, and no cycle (the original formats check none of these). Every change
    /// is noted.
    fn pipeline_spec(&mut self, mut steps: Vec<Step>) -> PipelineSpec {
        let mut seen = foldhash::HashSet::default();
        for step in &mut steps {
            let original = step.name.clone();
            let stem: String = original.as_str().chars().take(200).collect();
            let mut suffix = 2;
            while !seen.insert(step.name.as_str().to_ascii_lowercase()) {
                step.name = name_from(&format!("{stem}-{suffix}"), "step");
                suffix += 1;
            }
            if step.name != original {
                self.notes.push(format!(
                    "step `{original}` renamed `{}`: step names must be unique",
                    step.name
                ));
            }
        }
        let names: foldhash::HashSet<Name> = steps.iter().map(|s| s.name.clone()).collect();
        for step in &mut steps {
            let (kept, dropped): (Vec<Name>, Vec<Name>) = step
                .depends_on
                .drain(..)
                .partition(|d| *d != step.name && names.contains(d));
            step.depends_on = kept;
            for missing in dropped {
                self.notes.push(format!(
                    "step `{}`: dependency on `{missing}` dropped: no such other step",
                    step.name
                ));
            }
        }
        let mut spec = PipelineSpec {
            inputs: Vec::new(),
            params: Params::default(),
            steps,
        };
        let mut findings = Findings::default();
        spec.check(&mut findings);
        if findings.has_errors() {
            spec.steps.iter_mut().for_each(|s| s.depends_on.clear());
            self.notes
                .push("the original step order contains a cycle; step dependencies dropped".into());
        }
        spec
    }

    fn mlspec_repo(&mut self, object: Map<String, Value>) -> Result<(), MigrateError> {
        if object.contains_key("experiment_id") {
            self.experiment_run(&object);
        } else if object.contains_key("versionedBy") || object.contains_key("location") {
            self.dataset(&object);
        } else if object.contains_key("pipeline") && object.contains_key("steps") {
            self.pipeline(&object);
        } else if object.contains_key("applicationInfo") {
            self.record_template(&object);
        } else if object.contains_key("model_identifier") || object.contains_key("specVersion") {
            let mut object = object;
            self.stores_from(&mut object);
            let name = name_from(
                object
                    .get("model_identifier")
                    .and_then(Value::as_str)
                    .unwrap_or("model-packaging"),
                "model-packaging",
            );
            let mut run = empty_run(legacy_time(object.get("time_created")));
            let mut params = BTreeMap::new();
            self.flatten("", &Value::Object(object), &mut params);
            run.params = UniqueMap(params);
            self.notes.push("model packaging metadata has no file digests, so no v1 ModelPackage can be claimed; its settings are kept as the parameters of a Run".into());
            self.push(name, Spec::Run(run), &[], None);
        } else {
            return Err(MigrateError::Unrecognized(
                "no schema_type, mlSpecVersion, specVersion or known section was found".into(),
            ));
        }
        Ok(())
    }

    fn experiment_run(&mut self, object: &Map<String, Value>) {
        let mut run = empty_run(None);
        let pairs = |section: &str| -> Vec<(String, Value)> {
            match object.get(section) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| Some((i.get("key")?.as_str()?.to_owned(), i.get("value")?.clone())))
                    .collect(),
                Some(Value::Object(single)) => single
                    .get("key")
                    .and_then(Value::as_str)
                    .map(|k| (k.to_owned(), single.get("value").cloned().unwrap_or(Value::Null)))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut params = BTreeMap::new();
        for (k, v) in pairs("hyperparameters") {
            let value = v.as_str().and_then(|s| s.parse::<f64>().ok()).map_or_else(
                || ParamValue::String(scalar_text(&v).unwrap_or_default()),
                ParamValue::Number,
            );
            self.param(&k, value, &mut params);
        }
        run.params = UniqueMap(params);
        for (k, v) in pairs("metrics") {
            let number = v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
            if let (Some(key), Some(number)) = (key_from(&k), number) {
                run.metrics.push(Metric {
                    key,
                    value: MetricValue::Scalar(number),
                    step: None,
                    timestamp: None,
                });
            }
        }
        let mut tags = BTreeMap::new();
        for section in ["tags", "properties"] {
            for (k, v) in pairs(section) {
                if let (Some(key), Some(text)) = (key_from(&k), scalar_text(&v)) {
                    tags.insert(key, text);
                }
            }
        }
        run.tags = UniqueMap(tags);
        for section in ["artifacts", "datasets"] {
            for (k, v) in pairs(section) {
                let path = object
                    .get(section)
                    .and_then(|s| s.get("path"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.notes.push(format!("{section} `{k}` at `{path}` ({v}): no datastore or digest is recorded, so no v1 Artifact is claimed; not mapped"));
            }
        }
        run.start_time = legacy_time(object.get("submittedDate"));
        let name = name_from(
            object.get("name").and_then(Value::as_str).unwrap_or("experiment-run"),
            "experiment-run",
        );
        let labels = [
            ("experiment-id", object.get("experiment_id")),
            ("project-id", object.get("project_id")),
            ("submitter", object.get("submitterId")),
        ];
        self.push(name, Spec::Run(run), &labels, None);
        if let Some(id) = object
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| ObjectId::new(s).ok())
            && let Some(last) = self.documents.last_mut()
        {
            last.metadata.id = Some(id);
        }
    }

    fn dataset(&mut self, object: &Map<String, Value>) {
        let location = object.get("location").and_then(Value::as_str).unwrap_or("");
        let (origin, path) = match location
            .split_once("://")
            .map(|(scheme, rest)| (scheme, rest.split_once('/')))
        {
            Some((scheme, Some((host, path)))) => (format!("{scheme}://{host}"), path.to_owned()),
            _ => (location.to_owned(), "data".to_owned()),
        };
        let store_name = name_from(origin.split("://").nth(1).unwrap_or("legacy-store"), "legacy-store");
        if let Some(uri) = short(&origin) {
            let store_type = if origin.starts_with("http") {
                DatastoreType::Http
            } else {
                DatastoreType::Other
            };
            let spec = DatastoreSpec {
                store_type,
                uri,
                connection: UniqueMap::default(),
                read_only: true,
            };
            self.documents.push(document(store_name.clone(), Spec::Datastore(spec)));
        }
        let version_text = object
            .get("version")
            .and_then(scalar_text)
            .unwrap_or_else(|| "1".into());
        let deprecated = object.get("isDeprecated").and_then(Value::as_bool).unwrap_or(false);
        let Ok(version) = Version::new(version_text) else {
            return;
        };
        let Ok(path) = RelativePath::new(path) else { return };
        let dataset_version = DatasetVersion {
            version,
            status: if deprecated {
                crate::Status::Deprecated
            } else {
                crate::Status::Active
            },
            definition: DataPath {
                datastore: store_name,
                path: Some(path),
                table: None,
                query: None,
            },
            digest: None,
            rows: None,
            bytes: None,
            profile: None,
            schema: None,
            produced_by: None,
            checkpoints: Vec::new(),
            views: Vec::new(),
            created_at: legacy_time(object.get("versionedOn")),
            created_by: object.get("versionedBy").and_then(Value::as_str).and_then(short),
            notes: object
                .get("versionNotes")
                .and_then(Value::as_str)
                .and_then(|s| crate::newtypes::Text::new(s).ok()),
        };
        for key in [
            "preview",
            "profile",
            "isReadOnly",
            "isVisible",
            "state",
            "tags",
            "dateGenerated",
        ] {
            if let Some(v) = object.get(key) {
                self.notes
                    .push(format!("`{key}` = {v}: no v1 Dataset field; not mapped"));
            }
        }
        let name = name_from(
            object.get("name").and_then(Value::as_str).unwrap_or("dataset"),
            "dataset",
        );
        let mut doc = document(
            name,
            Spec::Dataset(DatasetSpec {
                versions: vec![dataset_version],
                current: None,
            }),
        );
        doc.metadata.description = object
            .get("description")
            .and_then(Value::as_str)
            .and_then(|s| crate::newtypes::Description::new(s).ok());
        doc.metadata.id = object
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| ObjectId::new(s).ok());
        self.documents.push(doc);
    }

    fn pipeline(&mut self, object: &Map<String, Value>) {
        let Some(steps) = object.get("steps").and_then(Value::as_object) else {
            return;
        };
        let order: Vec<&str> = object
            .get("pipeline")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        let mut modules = BTreeMap::new();
        for (name, step) in steps {
            let module_name = name_from(step.get("moduleName").and_then(Value::as_str).unwrap_or(name), "module");
            let command: Vec<String> = step
                .get("cmd")
                .and_then(Value::as_str)
                .map(|c| c.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            let mut params = BTreeMap::new();
            if let Some(p) = step.get("parameters") {
                self.flatten("", p, &mut params);
            }
            let previous = order
                .iter()
                .position(|s| s == name)
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| order.get(i));
            out.push(Step {
                name: name_from(name, "step"),
                module: Ref::named(Kind::Module, module_name.clone()),
                inputs: UniqueMap::default(),
                params: UniqueMap(params),
                depends_on: previous.map(|p| name_from(p, "step")).into_iter().collect(),
                compute: step.get("computeName").and_then(Value::as_str).and_then(short),
            });
            for key in ["deps", "outs"] {
                if let Some(v) = step.get(key) {
                    self.notes.push(format!(
                        "step `{name}` `{key}` = {v}: file dependencies have no v1 Step field; not mapped"
                    ));
                }
            }
            if !command.is_empty() {
                modules.entry(module_name).or_insert(command);
            }
        }
        for (name, command) in modules {
            let spec = migrated_module(command, Vec::new(), Vec::new());
            self.documents.push(document(name, Spec::Module(spec)));
        }
        if let Some(data) = object.get("data") {
            self.notes
                .push(format!("pipeline `data` = {data}: no datastore or digest; not mapped"));
        }
        let name = name_from(
            object.get("name").and_then(Value::as_str).unwrap_or("pipeline"),
            "pipeline",
        );
        let spec = self.pipeline_spec(out);
        self.documents.push(document(name, Spec::Pipeline(spec)));
    }

    /// The inference request/log sketches list the fields of a record; they become a DataSchema
    /// of those fields, with types guessed from the names.
    fn record_template(&mut self, object: &Map<String, Value>) {
        let mut features = Vec::new();
        for (section, fields) in object {
            let names: Vec<String> = match fields {
                Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
                Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            };
            for field in names {
                let lower = field.to_ascii_lowercase();
                let feature_type = if lower.contains("timestamp") {
                    FeatureType::Timestamp
                } else if lower.contains("latency") || lower.contains("bytes") || lower.contains("code") {
                    FeatureType::Float
                } else {
                    FeatureType::String
                };
                let Some(name) = key_from(&format!("{section}.{field}")) else {
                    continue;
                };
                if features.iter().any(|f: &FeatureSchema| f.name == name) {
                    self.notes.push(format!("field `{name}` is listed twice; kept once"));
                    continue;
                }
                features.push(FeatureSchema {
                    name,
                    feature_type,
                    presence: None,
                    domain: None,
                    drift_threshold: None,
                    skew_threshold: None,
                    deprecated: false,
                });
            }
        }
        self.notes.push("this is a sketch of the inference-log record's fields, not a record: it becomes a DataSchema of those fields (types guessed from the names); v1 records are InferenceLogRecord documents".into());
        let name = if object.contains_key("prediction") {
            "inference-request"
        } else {
            "inference-log"
        };
        let spec = DataSchemaSpec {
            version: literal_version("0"),
            dataset: None,
            allow_unknown_features: false,
            features,
        };
        self.documents
            .push(document(name_from(name, "record"), Spec::DataSchema(spec)));
    }
}

/// A Module for a legacy component or step; legacy modules have no version, so `0.1.0`.
fn migrated_module(command: Vec<String>, inputs: Vec<Port>, outputs: Vec<Port>) -> ModuleSpec {
    ModuleSpec {
        version: literal_version("0.1.0"),
        inputs,
        outputs,
        parameters: Vec::new(),
        implementation: Implementation {
            image: None,
            command,
            env: UniqueMap::default(),
            tools: Vec::new(),
        },
        source: None,
    }
}

/// A version written in this file, valid by inspection.
fn literal_version(text: &'static str) -> Version {
    Version::new(text).unwrap_or_else(|e| unreachable!("{e}"))
}

fn empty_run(start: Option<Timestamp>) -> RunSpec {
    RunSpec {
        start_time: start,
        ..RunSpec::with_status(RunStatus::Unknown)
    }
}

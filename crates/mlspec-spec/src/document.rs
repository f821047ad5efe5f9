//! The document envelope shared by every kind:
//!
//! ```yaml
//! apiVersion: mlspec/v1
//! kind: Dataset
//! metadata: {name: penguins-raw}
//! spec: {…}
//! ```

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::kinds::*;
use crate::newtypes::{Description, LabelKey, LabelValue, Name, ObjectId, ShortText};
use crate::rules::{Findings, Rules};
use crate::values::{Timestamp, UniqueMap};

/// The versions of the document format this build reads.
pub const SUPPORTED_API_VERSIONS: &[&str] = &["mlspec/v1"];

/// The document format version. Only `mlspec/v1` exists; older MLSpec formats are converted with
/// `mlspec migrate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// `mlspec/v1`.
    #[default]
    V1,
}

impl ApiVersion {
    /// The version as written in documents.
    pub fn as_str(self) -> &'static str {
        "mlspec/v1"
    }
}

impl Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "mlspec/v1" => Ok(ApiVersion::V1),
            other => Err(de::Error::custom(unsupported_api_version(other))),
        }
    }
}

/// The message for an `apiVersion` this build does not read.
pub fn unsupported_api_version(found: &str) -> String {
    format!(
        "unsupported apiVersion `{found}`; supported: {}",
        SUPPORTED_API_VERSIONS.join(", ")
    )
}

impl JsonSchema for ApiVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApiVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"const": "mlspec/v1", "description": "The document format version."})
    }
}

/// The lifecycle status of an object. Archived objects free their name and stay readable by id;
/// nothing is ever hard-deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Status {
    /// In use.
    #[default]
    Active,
    /// Still usable, with a warning; new work should not depend on it.
    Deprecated,
    /// Retired: using it is an error; its name may be reused.
    Archived,
}

/// The labels of an object: at most 64 entries.
pub type Labels = UniqueMap<LabelKey, LabelValue>;

/// The most labels one object may carry.
pub const MAX_LABELS: usize = 64;

/// What every object has, whatever its kind (the spec's common object rules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// The system id; generated (a UUIDv7) when the document is stored without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// The name, unique case-insensitively among the non-archived objects of the kind.
    pub name: Name,
    /// The lifecycle status (default Active).
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: Status,
    /// What the object is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// Key/value labels for selection and grouping (at most 64).
    #[serde(default, skip_serializing_if = "UniqueMap::is_empty")]
    pub labels: Labels,
    /// When the object was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<ShortText>,
}

fn is_active(status: &Status) -> bool {
    *status == Status::Active
}

impl Metadata {
    /// Metadata with just a name.
    pub fn named(name: Name) -> Self {
        Metadata {
            id: None,
            name,
            status: Status::Active,
            description: None,
            labels: Labels::default(),
            created_at: None,
            created_by: None,
        }
    }
}

impl Rules for Metadata {
    fn check(&self, findings: &mut Findings) {
        if self.labels.len() > MAX_LABELS {
            findings.error(
                "/metadata/labels",
                format!("{} labels; at most {MAX_LABELS} are allowed", self.labels.len()),
            );
        }
    }
}

/// Declares every kind once: the `Kind` enum, the `Spec` enum that holds a kind's typed body,
/// and the per-kind dispatch for parsing, checking and schema generation.
macro_rules! kinds {
    ($( $kind:ident($spec:ty) $slug:literal stage $stage:literal: $summary:literal; )*) => {
        /// The kind of a document.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $(#[doc = $summary] $kind,)* }

        impl Kind {
            /// Every kind, in lifecycle order.
            pub const ALL: &'static [Kind] = &[$(Kind::$kind,)*];

            /// The kind as written in documents.
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$kind => stringify!($kind),)* }
            }

            /// The kind's file name stem in `schemas/v1/` and `docs/spec/`.
            pub fn slug(self) -> &'static str {
                match self { $(Kind::$kind => $slug,)* }
            }

            /// One line saying what a document of this kind records.
            pub fn summary(self) -> &'static str {
                match self { $(Kind::$kind => $summary,)* }
            }

            /// The lifecycle stage of PRODUCT.md that emits it (0: common to all stages).
            pub fn stage(self) -> u8 {
                match self { $(Kind::$kind => $stage,)* }
            }

            /// The JSON Schema of this kind's `spec`.
            pub(crate) fn spec_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $(Kind::$kind => generator.subschema_for::<$spec>(),)* }
            }

            fn deserialize_spec<'de, D: Deserializer<'de>>(self, d: D) -> Result<Spec, D::Error> {
                match self { $(Kind::$kind => <$spec>::deserialize(d).map(Spec::$kind),)* }
            }
        }

        /// The typed body of a document; the variant is the document's kind.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant)]
        pub enum Spec { $(#[doc = $summary] $kind($spec),)* }

        impl Spec {
            /// The kind of this spec.
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$kind(_) => Kind::$kind,)* }
            }
        }

        impl Rules for Spec {
            fn check(&self, findings: &mut Findings) {
                match self { $(Spec::$kind(spec) => spec.check(findings),)* }
            }
        }
    };
}

kinds! {
    Datastore(DatastoreSpec) "datastore" stage 2: "A place that holds data: a file system, an object store or a database, with credentials only by reference.";
    Dataset(DatasetSpec) "dataset" stage 2: "A named, versioned collection of data; each version has its own status, definition, digest, profile, schema, checkpoints and views.";
    Artifact(ArtifactSpec) "artifact" stage 0: "Data produced by a run (a model, a file, a table), with its location, digest, size and media type; promotable to a Dataset.";
    Experiment(ExperimentSpec) "experiment" stage 0: "A group of runs that pursue one question.";
    Run(RunSpec) "run" stage 0: "One execution: its status, times, parameters, metrics, inputs, outputs and logs; runs nest (pipeline run, step runs).";
    Module(ModuleSpec) "module" stage 0: "A reusable, versioned computation with typed inputs, outputs and parameters.";
    Pipeline(PipelineSpec) "pipeline" stage 0: "A DAG of steps, each running a module with bound inputs and parameters.";
    Objectives(ObjectivesSpec) "objectives" stage 1: "The model's outputs, its possible errors and the criteria it must meet to launch, written before training.";
    ObjectivesCheck(ObjectivesCheckSpec) "objectives-check" stage 1: "The recorded verdict of checking a document's results against Objectives: both pinned by digest, each criterion's values and result.";
    Ingestion(IngestionSpec) "ingestion" stage 2: "How data was brought in: the source, the connector, the content-addressed snapshot and its shards, labelling and synthetic generation.";
    DataProfile(DataProfileSpec) "data-profile" stage 3: "Per-feature statistics of a dataset, overall and per slice, with outliers.";
    Transformation(TransformationSpec) "transformation" stage 4: "Feature mappings and outlier-removal rules applied to data, with their counts, as lineage from inputs to outputs.";
    DataSchema(DataSchemaSpec) "data-schema" stage 5: "The expected shape of data: features, types, presence, domains and drift/skew thresholds.";
    ValidationReport(ValidationReportSpec) "validation-report" stage 5: "The anomalies found when data was validated against a schema, and the verdict.";
    Split(SplitSpec) "split" stage 6: "How a dataset was split (train, validation, test, holdback, debug), with per-split counts and digests and the leakage check.";
    Training(TrainingSpec) "training" stage 7: "How a model was trained: the search space, trials and results, distribution strategy, conversions and compression.";
    Evaluation(EvaluationSpec) "evaluation" stage 8: "Metrics of a model on a dataset, overall and on slices, fairness across groups, the baseline comparison and the verdict against the objectives.";
    TestReport(TestReportSpec) "test-report" stage 9: "The final check of a model on holdback data, separate from evaluation, with the holdback read count.";
    ModelPackage(ModelPackageSpec) "model-package" stage 10: "A deployable model: its files with digests, IO signature, infrastructure needs, security constraints, monitoring agents and signatures.";
    Rollout(RolloutSpec) "rollout" stage 11: "How a model package was rolled out: the steps, their traffic share, duration and result, and the model it replaced.";
    MonitoringPolicy(MonitoringPolicySpec) "monitoring-policy" stage 12: "The signals watched on a served model, their thresholds and windows, and the rollback target and trigger.";
    MonitoringReport(MonitoringReportSpec) "monitoring-report" stage 12: "The observed values of a policy's signals over a window, the breaches and the actions taken.";
    InferenceLogRecord(InferenceLogRecordSpec) "inference-log-record" stage 13: "One inference request: who asked, when, the answer's status and latency, and the digests that bind it to the signed model and its training data.";
    WorkflowRecord(WorkflowRecordSpec) "workflow-record" stage 0: "The metadata file of a workflow run: pipeline, resolved modules, parameters, input digests, environment and per-step output digests, enough to recreate and check it.";
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name this build does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown kind `{found}`{}", did_you_mean(.found))]
pub struct UnknownKind {
    /// The name that was given.
    pub found: String,
}

fn did_you_mean(found: &str) -> String {
    let names = Kind::ALL.iter().map(|k| k.as_str());
    match crate::suggest::closest(found, names) {
        Some(best) => format!("; did you mean `{best}`?"),
        None => format!(
            "; known kinds: {}",
            Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind { found: s.to_owned() })
    }
}

impl Kind {
    /// Finds a kind by its name, its slug (`data-profile`) or either in any case.
    pub fn lookup(text: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(text) || k.slug().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownKind { found: text.to_owned() })
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A complete MLSpec document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The format version.
    pub api_version: ApiVersion,
    /// The object's identity and status.
    pub metadata: Metadata,
    /// The kind-specific body; its variant is the document's kind.
    pub spec: Spec,
}

impl Document {
    /// The document's kind.
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// Runs every semantic rule of the document; paths are JSON Pointers into it. The rules on
    /// every value come first; when a number is not finite, the kind's rules (which compute
    /// with numbers) are not run.
    pub fn check(&self) -> Findings {
        let mut findings = Findings::default();
        if crate::values_check::check_values(self, &mut findings) {
            return findings;
        }
        self.metadata.check(&mut findings);
        self.spec.check(&mut findings);
        findings
    }
}

impl Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut doc = s.serialize_struct("Document", 4)?;
        doc.serialize_field("apiVersion", &self.api_version)?;
        doc.serialize_field("kind", &self.kind())?;
        doc.serialize_field("metadata", &self.metadata)?;
        doc.serialize_field("spec", &self.spec)?;
        doc.end()
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    ApiVersion,
    Kind,
    Metadata,
    Spec,
}

const FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

struct SpecSeed(Kind);

impl<'de> DeserializeSeed<'de> for SpecSeed {
    type Value = Spec;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Spec, D::Error> {
        self.0.deserialize_spec(d)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("Document", FIELDS, DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MLSpec document: a map with apiVersion, kind, metadata and spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut api_version = None;
        let mut kind: Option<Kind> = None;
        let mut metadata = None;
        let mut spec = None;
        // A spec that precedes its kind is buffered and typed once the kind is known.
        let mut early_spec: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<Field>()? {
            let duplicate = match field {
                Field::ApiVersion => api_version.replace(map.next_value::<ApiVersion>()?).is_some(),
                Field::Kind => kind.replace(map.next_value::<Kind>()?).is_some(),
                Field::Metadata => metadata.replace(map.next_value::<Metadata>()?).is_some(),
                Field::Spec => match kind {
                    Some(kind) => spec.replace(map.next_value_seed(SpecSeed(kind))?).is_some(),
                    None => early_spec.replace(map.next_value()?).is_some(),
                },
            };
            if duplicate {
                return Err(de::Error::custom("duplicate field in document"));
            }
        }
        let api_version = api_version.ok_or_else(|| de::Error::missing_field("apiVersion"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let metadata = metadata.ok_or_else(|| de::Error::missing_field("metadata"))?;
        let spec = match (spec, early_spec) {
            (Some(spec), _) => spec,
            (None, Some(value)) => kind.deserialize_spec(value).map_err(de::Error::custom)?,
            (None, None) => return Err(de::Error::missing_field("spec")),
        };
        Ok(Document {
            api_version,
            metadata,
            spec,
        })
    }
}

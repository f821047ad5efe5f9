//! What kind a document is: the one list of the kinds, with each kind's name, slug,
//! lifecycle stage and summary, and the `Kind` enum made from it.
//!
//! The list names each kind's spec type too, for [`crate::document`] to make the `Spec` enum
//! from the same list; this module itself needs nothing but the names, so that references and
//! rules can name kinds without depending on the documents that hold them.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// Every kind, once: `Kind(SpecType) "slug" stage N: "summary";`, handed to the macro `$make`.
macro_rules! every_kind {
    ($make:ident) => {
        $make! {
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
    };
}
pub(crate) use every_kind;

/// Makes the `Kind` enum and its per-kind facts from the list.
macro_rules! kind_enum {
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
        }
    };
}

every_kind!(kind_enum);

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

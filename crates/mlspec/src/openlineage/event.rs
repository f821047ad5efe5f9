//! The RunEvent of OpenLineage 2-0-2 and the facets mlspec attaches to it, as typed structs
//! that serialize to exactly the JSON the official schemas describe.
//!
//! Every facet carries `_producer` (who wrote it) and `_schemaURL` (the JSON Schema that
//! describes it, with the version in its path); [`Facet`] adds both, and each facet's type names
//! its schema once, through [`FacetSchema`].

use chrono::{DateTime, SecondsFormat, Utc};
use mlspec_spec::ObjectId;
use mlspec_spec::newtypes::Digest;
use serde::Serialize;

use super::naming::Dataset;

/// The version of the OpenLineage event schema the events follow.
pub const RUN_EVENT_SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// Who produced the events and facets: this release of mlspec, as a URI (OpenLineage asks for
/// a source URL with a tag or commit).
pub const PRODUCER: &str = concat!("https://github.com/mlspec/mlspec/tree/v", env!("CARGO_PKG_VERSION"));

/// The transition of a run an event reports. A run has one `Start` and then one of
/// `Complete`, `Fail` or `Abort` (cancelled, e.g. by Ctrl-C or a failed sibling step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Start,
    Complete,
    Fail,
    Abort,
}

/// What a job is in mlspec's terms, shown in the `jobType` facet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobType {
    /// A whole pipeline run: the parent of its steps' runs.
    Pipeline,
    /// One step of a pipeline (or a step run on its own).
    Step,
}

/// The run a step's run belongs to: the pipeline run, in the same job namespace.
#[derive(Clone, Copy, Debug)]
pub struct ParentRun<'a> {
    /// The pipeline run's id (a UUID).
    pub run_id: &'a ObjectId,
    /// The pipeline's job name.
    pub job_name: &'a str,
}

/// Everything an event says about one run of a job; the same value describes its START and its
/// COMPLETE/FAIL/ABORT (inputs, outputs and digests as known at that moment).
#[derive(Clone, Copy, Debug)]
pub struct JobRun<'a> {
    /// The run's id: a UUID (mlspec's generated ids are UUIDv7). Any other id is mapped to a
    /// UUID derived from it, the same every time.
    pub run_id: &'a ObjectId,
    /// The job namespace: where the jobs are scheduled (for mlspec, the project).
    pub job_namespace: &'a str,
    /// The job name: the pipeline's name, or `<pipeline>.<step>` for a step.
    pub job_name: &'a str,
    pub job_type: JobType,
    /// For a step of a pipeline: the pipeline run.
    pub parent: Option<ParentRun<'a>>,
    pub inputs: &'a [Dataset],
    pub outputs: &'a [Dataset],
    /// The step's cache key (what a cached result is looked up by).
    pub cache_key: Option<&'a Digest>,
    /// The digest of the module (the code) the step ran.
    pub module_digest: Option<&'a Digest>,
    /// Why the run failed, for a FAIL or ABORT event.
    pub error: Option<&'a str>,
}

/// One OpenLineage RunEvent, ready to serialize.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    event_type: EventType,
    event_time: String,
    producer: &'static str,
    #[serde(rename = "schemaURL")]
    schema_url: &'static str,
    run: Run,
    job: Job,
    inputs: Vec<EventDataset>,
    outputs: Vec<EventDataset>,
}

/// The event for the transition `kind` of `run`, at time `at`.
pub fn run_event(run: &JobRun, kind: EventType, at: DateTime<Utc>) -> RunEvent {
    RunEvent {
        event_type: kind,
        event_time: at.to_rfc3339_opts(SecondsFormat::Millis, true),
        producer: PRODUCER,
        schema_url: RUN_EVENT_SCHEMA_URL,
        run: Run {
            run_id: run_uuid(run.run_id),
            facets: run_facets(run, kind),
        },
        job: Job {
            namespace: run.job_namespace.to_owned(),
            name: run.job_name.to_owned(),
            facets: JobFacets {
                job_type: Facet::new(JobTypeFacet {
                    processing_type: "BATCH",
                    integration: "MLSPEC",
                    job_type: run.job_type,
                }),
            },
        },
        inputs: run.inputs.iter().map(EventDataset::from).collect(),
        outputs: run.outputs.iter().map(EventDataset::from).collect(),
    }
}

/// The run id as the UUID OpenLineage requires: the id itself when it is one, else a version-8
/// UUID made of the first 128 bits of its SHA-256 (so START and COMPLETE still agree).
fn run_uuid(id: &ObjectId) -> String {
    let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap_or_else(|_| {
        let hash = Digest::sha256_of(id.as_str());
        let first_half = hash.hex().get(..32).unwrap_or_default();
        let bits = u128::from_str_radix(first_half, 16).unwrap_or_default();
        uuid::Builder::from_custom_bytes(bits.to_be_bytes()).into_uuid()
    });
    uuid.hyphenated().to_string()
}

fn run_facets(run: &JobRun, kind: EventType) -> RunFacets {
    let failed = matches!(kind, EventType::Fail | EventType::Abort);
    RunFacets {
        parent: run.parent.map(|parent| {
            let parent = RunAndJob {
                run: RunRef {
                    run_id: run_uuid(parent.run_id),
                },
                job: JobRef {
                    namespace: run.job_namespace.to_owned(),
                    name: parent.job_name.to_owned(),
                },
            };
            // A pipeline run has no parent of its own, so it is also the root of the hierarchy.
            Facet::new(ParentRunFacet {
                root: parent.clone(),
                parent,
            })
        }),
        processing_engine: Facet::new(ProcessingEngineFacet {
            name: "mlspec",
            version: env!("CARGO_PKG_VERSION"),
        }),
        error_message: run.error.filter(|_| failed).map(|message| {
            Facet::new(ErrorMessageFacet {
                message: message.to_owned(),
                programming_language: "RUST",
            })
        }),
        mlspec_digests: digests_facet(run).map(Facet::new),
    }
}

/// mlspec's digests of the run, or `None` when it knows none yet.
fn digests_facet(run: &JobRun) -> Option<DigestsFacet> {
    let digests = |datasets: &[Dataset]| -> Vec<DatasetDigest> {
        datasets
            .iter()
            .filter_map(|d| {
                d.digest.clone().map(|digest| DatasetDigest {
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    digest,
                })
            })
            .collect()
    };
    let facet = DigestsFacet {
        cache_key: run.cache_key.cloned(),
        module_digest: run.module_digest.cloned(),
        inputs: digests(run.inputs),
        outputs: digests(run.outputs),
    };
    let empty = facet.cache_key.is_none()
        && facet.module_digest.is_none()
        && facet.inputs.is_empty()
        && facet.outputs.is_empty();
    (!empty).then_some(facet)
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    run_id: String,
    facets: RunFacets,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunFacets {
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<Facet<ParentRunFacet>>,
    #[serde(rename = "processing_engine")]
    processing_engine: Facet<ProcessingEngineFacet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<Facet<ErrorMessageFacet>>,
    #[serde(rename = "mlspec_digests", skip_serializing_if = "Option::is_none")]
    mlspec_digests: Option<Facet<DigestsFacet>>,
}

#[derive(Clone, Debug, Serialize)]
struct Job {
    namespace: String,
    name: String,
    facets: JobFacets,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobFacets {
    job_type: Facet<JobTypeFacet>,
}

/// An input or output as the event lists it.
#[derive(Clone, Debug, Serialize)]
struct EventDataset {
    namespace: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    facets: Option<DatasetFacets>,
}

impl From<&Dataset> for EventDataset {
    fn from(dataset: &Dataset) -> Self {
        EventDataset {
            namespace: dataset.namespace.clone(),
            name: dataset.name.clone(),
            facets: dataset.digest.clone().map(|digest| DatasetFacets {
                version: Facet::new(DatasetVersionFacet {
                    dataset_version: digest,
                }),
            }),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
struct DatasetFacets {
    version: Facet<DatasetVersionFacet>,
}

/// A facet: `_producer` and `_schemaURL`, then the facet's own fields.
#[derive(Clone, Debug, Serialize)]
struct Facet<T> {
    #[serde(rename = "_producer")]
    producer: &'static str,
    #[serde(rename = "_schemaURL")]
    schema_url: &'static str,
    #[serde(flatten)]
    fields: T,
}

impl<T: FacetSchema> Facet<T> {
    fn new(fields: T) -> Self {
        Facet {
            producer: PRODUCER,
            schema_url: T::SCHEMA_URL,
            fields,
        }
    }
}

/// The schema a facet's `_schemaURL` names: its versioned file and the definition in it.
pub(super) trait FacetSchema {
    const SCHEMA_URL: &'static str;
}

macro_rules! facet_schema {
    ($($type:ty => $url:literal),* $(,)?) => {
        $(impl FacetSchema for $type {
            const SCHEMA_URL: &'static str = $url;
        })*
        /// Every facet schema URL, for the test that holds them to the vendored schemas.
        #[cfg(test)]
        pub(super) const FACET_SCHEMA_URLS: &[&str] = &[$($url),*];
    };
}

facet_schema! {
    ParentRunFacet => "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    ProcessingEngineFacet =>
        "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
    ErrorMessageFacet => "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    JobTypeFacet => "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    DatasetVersionFacet =>
        "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    DigestsFacet =>
        "https://mlspec.org/schemas/openlineage/1-0-0/MlspecDigestsRunFacet.json#/$defs/MlspecDigestsRunFacet",
}

/// `parent`: the run that started this one, and the root of the hierarchy.
#[derive(Clone, Debug, Serialize)]
struct ParentRunFacet {
    #[serde(flatten)]
    parent: RunAndJob,
    root: RunAndJob,
}

#[derive(Clone, Debug, Serialize)]
struct RunAndJob {
    run: RunRef,
    job: JobRef,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunRef {
    run_id: String,
}

#[derive(Clone, Debug, Serialize)]
struct JobRef {
    namespace: String,
    name: String,
}

/// `processing_engine`: what ran the job.
#[derive(Clone, Debug, Serialize)]
struct ProcessingEngineFacet {
    name: &'static str,
    version: &'static str,
}

/// `errorMessage`: mlspec's description of why the run failed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorMessageFacet {
    message: String,
    programming_language: &'static str,
}

/// `jobType`: a finite (BATCH) job of the MLSPEC integration, a pipeline or a step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobTypeFacet {
    processing_type: &'static str,
    integration: &'static str,
    job_type: JobType,
}

/// `version` on a dataset: its content digest, so a lineage server versions data by content.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DatasetVersionFacet {
    dataset_version: Digest,
}

/// `mlspec_digests`: everything mlspec identifies the run's work by, in one place — what a
/// consumer needs to tell whether two runs did the same work on the same data.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestsFacet {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_key: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    module_digest: Option<Digest>,
    inputs: Vec<DatasetDigest>,
    outputs: Vec<DatasetDigest>,
}

#[derive(Clone, Debug, Serialize)]
struct DatasetDigest {
    namespace: String,
    name: String,
    digest: Digest,
}

//! OpenLineage events for pipeline runs (`mlspec pipeline run --openlineage URL|FILE`).
//!
//! [OpenLineage](https://openlineage.io) is the open standard lineage servers (Marquez, DataHub,
//! OpenMetadata, cloud catalogs) read: a producer sends a **RunEvent** when a **run** of a
//! **job** changes state — one `START`, then one of `COMPLETE`, `FAIL` or `ABORT` — naming the
//! **datasets** the run read (`inputs`) and wrote (`outputs`). Anything more is a **facet**, a
//! small JSON object with its own published schema, attached to the run, the job or a dataset.
//!
//! mlspec maps a pipeline run onto that model:
//!
//! - the pipeline run is a run of the job `<pipeline>`, each step's run a run of the job
//!   `<pipeline>.<step>`, both in one job namespace; a step's run carries the standard `parent`
//!   facet pointing at the pipeline run (which is also the `root` of the hierarchy);
//! - inputs and outputs are named by OpenLineage's naming rules from their datastore and path
//!   ([`dataset`]); a dataset whose content digest mlspec knows carries it as the standard
//!   `version` facet, so a lineage server versions data by content;
//! - the run facet `mlspec_digests`, mlspec's own, gathers what mlspec identifies the work by —
//!   the cache key, the module digest and every input's and output's digest — with its schema
//!   published at <https://mlspec.org/schemas/openlineage/1-0-0/MlspecDigestsRunFacet.json>
//!   (committed under `schemas/openlineage/`);
//! - `jobType` (BATCH, integration `MLSPEC`, `PIPELINE` or `STEP`), `processing_engine` (mlspec
//!   and its version) and, on FAIL/ABORT, `errorMessage`.
//!
//! Events follow the OpenLineage 2-0-2 schema and the facet versions vendored under
//! `vendor/schemas/openlineage/`; the tests validate them against those schemas with the
//! official JSON Schema validator for Python. Where they go is a [`Sink`]: a file (NDJSON) or
//! an HTTP endpoint; emitting never fails the run.
//!
//! The runner calls it like this:
//!
//! ```ignore
//! let mut sink = openlineage::Sink::open(target, Some(&store_dir.join("openlineage-undelivered.ndjson")))?;
//! let step = openlineage::JobRun { run_id: &step_run_id, job_name: "iris.train", parent: Some(pipeline), .. };
//! sink.emit(&openlineage::run_event(&step, EventType::Start, Utc::now())).await;
//! // … the step runs …
//! sink.emit(&openlineage::run_event(&step, EventType::Complete, Utc::now())).await;
//! sink.finish();
//! ```

mod event;
mod naming;
mod sink;

#[cfg(test)]
mod tests;

pub use event::{EventType, JobRun, JobType, ParentRun, run_event};
pub use naming::{Dataset, dataset};
pub use sink::Sink;
